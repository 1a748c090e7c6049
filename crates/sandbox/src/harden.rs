//! The hardening sequence: one straight-line function, [`harden`], run by the container's
//! PID 1 between the launcher's `clone` and the workload's `execve`. Each step says *why* it
//! sits where it does. The order is checked by a unit test through the recording syscall layer.
//!
//! What happens before it, in the launcher (`run.rs`), and why there:
//! - the launcher's own inherited descriptors are closed (`O_CLOEXEC` everywhere else);
//! - the rootfs and volume mount trees are cloned with `open_tree(OPEN_TREE_CLONE)`, because
//!   only the launcher, in the host's mount namespace, can reach host paths;
//! - `clone(CLONE_NEWUSER | NEWNS | NEWPID | NEWIPC | NEWUTS)` creates the namespaces, all owned
//!   by the new user namespace, with this process as PID 1 and no extra fork;
//! - the network namespace, also owned by it and with `lo` up, is made by a short-lived helper
//!   of the launcher while this process builds its mounts, and sent here (`sys::send_new_netns`:
//!   the slowest namespace to create, it no longer delays the start); without a user namespace
//!   it comes with the clone (`CLONE_NEWNET`) instead;
//! - the id maps are written and the process is put into its cgroup, then released ("go").

use std::ffi::{CStr, CString, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::enforcement::{Level, Mechanism, Report};
use crate::landlock::{LandlockError, LandlockPlan};
use crate::sys::{attr, SysError, Syscalls};

/// Docker's masked paths (moby `oci/defaults.go`): hidden behind `/dev/null` (files) or an
/// empty read-only tmpfs (directories).
pub const MASKED_PATHS: &[&str] = &[
    "proc/asound",
    "proc/acpi",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// Device nodes bind-mounted from the host into the fresh `/dev`.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The links of a minimal `/dev`.
const DEV_LINKS: &[(&CStr, &CStr)] = &[
    (c"pts/ptmx", c"ptmx"),
    (c"/proc/self/fd", c"fd"),
    (c"/proc/self/fd/0", c"stdin"),
    (c"/proc/self/fd/1", c"stdout"),
    (c"/proc/self/fd/2", c"stderr"),
];

/// A step of the sequence (the "where" of an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Setting the parent-death signal.
    ParentDeath,
    /// Joining the cgroups.
    Cgroup,
    /// Closing inherited descriptors.
    CloseFds,
    /// Resetting signal handlers and mask.
    ResetSignals,
    /// Starting a new session.
    Setsid,
    /// Waiting for the launcher.
    WaitForLauncher,
    /// Becoming root of the user namespace.
    BecomeNamespaceRoot,
    /// Entering the cgroup namespace.
    CgroupNamespace,
    /// Setting the hostname.
    Hostname,
    /// Bringing `lo` up.
    Loopback,
    /// Entering the network namespace the launcher made.
    NetworkNamespace,
    /// Making mounts private.
    PrivateMounts,
    /// Attaching the rootfs.
    AttachRootfs,
    /// Making the rootfs read-only, nosuid, nodev.
    RootfsFlags,
    /// A tmpfs mount.
    Tmpfs,
    /// Mounting /proc.
    Proc,
    /// Mounting /sys.
    Sys,
    /// Building /dev.
    Dev,
    /// A volume.
    Volume,
    /// Masking a path.
    Mask,
    /// Making a path read-only.
    ReadOnlyPath,
    /// pivot_root.
    PivotRoot,
    /// Entering the working directory.
    Workdir,
    /// rlimits.
    Rlimits,
    /// Dropping the bounding set.
    BoundingSet,
    /// setgroups/setgid/setuid.
    Identity,
    /// Clearing capability sets.
    ClearCaps,
    /// no_new_privs.
    NoNewPrivs,
    /// Landlock.
    Landlock,
    /// seccomp.
    Seccomp,
    /// Starting the workload.
    Spawn,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::ParentDeath => "set the parent-death signal",
            Step::Cgroup => "join the container's cgroup",
            Step::CloseFds => "close inherited file descriptors",
            Step::ResetSignals => "reset signal handlers",
            Step::Setsid => "start a new session",
            Step::WaitForLauncher => "wait for the launcher to map ids and set limits",
            Step::BecomeNamespaceRoot => "become root of the user namespace",
            Step::CgroupNamespace => "enter a cgroup namespace",
            Step::Hostname => "set the hostname",
            Step::Loopback => "bring the loopback interface up",
            Step::NetworkNamespace => "enter the network namespace the launcher made",
            Step::PrivateMounts => "make every mount private",
            Step::AttachRootfs => "attach the root filesystem",
            Step::RootfsFlags => "make the root filesystem read-only, nosuid, nodev",
            Step::Tmpfs => "mount a tmpfs",
            Step::Proc => "mount /proc",
            Step::Sys => "mount /sys read-only",
            Step::Dev => "build a minimal /dev",
            Step::Volume => "bind-mount a volume",
            Step::Mask => "mask a path",
            Step::ReadOnlyPath => "make a path read-only",
            Step::PivotRoot => "pivot_root into the root filesystem",
            Step::Workdir => "enter the working directory",
            Step::Rlimits => "set rlimits",
            Step::BoundingSet => "drop the capability bounding set",
            Step::Identity => "switch to the workload's uid and gid",
            Step::ClearCaps => "clear the capability sets",
            Step::NoNewPrivs => "set no_new_privs",
            Step::Landlock => "apply Landlock",
            Step::Seccomp => "install the seccomp filter",
            Step::Spawn => "start the workload",
        })
    }
}

/// Why hardening stopped (the container does not start: exit 125).
#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    /// A system call failed.
    #[error("failed to {step} ({detail})")]
    Sys {
        /// Where.
        step: Step,
        /// What it was about (a path, a capability…).
        detail: String,
        /// The call and errno.
        #[source]
        source: SysError,
    },
    /// Landlock could not be applied.
    #[error("failed to {}", Step::Landlock)]
    Landlock(#[source] LandlockError),
    /// A check failed.
    #[error("failed to {step}: {detail}")]
    Check {
        /// Where.
        step: Step,
        /// What is wrong.
        detail: String,
    },
    /// `--require-all` and a mechanism was not fully enforced.
    #[error("failed to enforce {} fully (--require-all): {detail}", mechanism.name())]
    Required {
        /// Which mechanism.
        mechanism: Mechanism,
        /// What is missing.
        detail: String,
    },
}

trait Context<T> {
    fn at(self, step: Step, detail: impl std::fmt::Display) -> Result<T, HardenError>;
}

impl<T> Context<T> for Result<T, SysError> {
    fn at(self, step: Step, detail: impl std::fmt::Display) -> Result<T, HardenError> {
        self.map_err(|source| HardenError::Sys {
            step,
            detail: detail.to_string(),
            source,
        })
    }
}

/// Where the root filesystem comes from.
#[derive(Debug)]
pub enum RootfsSource {
    /// A detached mount tree the launcher cloned.
    Tree(OwnedFd),
    /// A path the container process can reach itself (unprivileged launcher).
    Path(CString),
}

/// A tmpfs to mount.
#[derive(Debug)]
pub struct TmpfsMount {
    /// Path in the rootfs.
    pub target: CString,
    /// `size=` option.
    pub size: CString,
}

/// A volume to mount.
#[derive(Debug)]
pub struct VolumeMount {
    /// The detached tree the launcher cloned.
    pub tree: OwnedFd,
    /// Path in the rootfs.
    pub target: CString,
    /// The source is a directory.
    pub directory: bool,
    /// Read-only.
    pub read_only: bool,
}

/// Everything [`harden`] needs, resolved by the launcher before `clone`, so the container side
/// does no parsing and no host path lookups.
#[derive(Debug)]
pub struct Plan {
    /// The launcher channel.
    pub chan: OwnedFd,
    /// cgroup v1 `tasks` files (opened by the launcher) to join by writing `0`.
    pub cgroup_join: Vec<OwnedFd>,
    /// The v1 `tasks` files of their parents, for PID 1 to leave its cgroups by at the end
    /// (`init::leave`); `None` when it cannot (v2), and the launcher waits for its exit.
    pub cgroup_leave: Option<Vec<OwnedFd>>,
    /// PID 1's end of the exit channel, where it reports the workload's status.
    pub exit_chan: OwnedFd,
    /// Root filesystem.
    pub rootfs: RootfsSource,
    /// Where to attach it in the new mount namespace before pivoting into it.
    pub attach_point: CString,
    /// Mount it read-only.
    pub read_only: bool,
    /// Become uid/gid 0 of the user namespace first (launcher is root; host root unmapped).
    pub become_root: bool,
    /// Enter a cgroup namespace.
    pub cgroup_namespace: bool,
    /// A network namespace exists: bring `lo` up, mount a fresh sysfs.
    pub network_namespace: bool,
    /// The launcher makes it and sends it on `chan` after "go" (`sys::send_new_netns`); else it
    /// came with the clone and `lo` is brought up here.
    pub netns_from_launcher: bool,
    /// `setgroups(2)` is permitted in this user namespace.
    pub setgroups_allowed: bool,
    /// Hostname.
    pub hostname: Vec<u8>,
    /// tmpfs mounts.
    pub tmpfs: Vec<TmpfsMount>,
    /// Volumes.
    pub volumes: Vec<VolumeMount>,
    /// Working directory.
    pub cwd: CString,
    /// rlimits: (resource, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// Highest capability number of the kernel.
    pub last_cap: u32,
    /// Capabilities kept.
    pub keep_caps: Vec<u32>,
    /// Workload uid and gid.
    pub uid: u32,
    /// Workload gid.
    pub gid: u32,
    /// Writable paths (Landlock rw), in container paths.
    pub writable: Vec<PathBuf>,
    /// Restrict TCP with Landlock.
    pub restrict_tcp: bool,
    /// Seccomp programs, in installation order.
    pub seccomp: Vec<seccompiler::BpfProgram>,
    /// One line about the filter.
    pub seccomp_summary: String,
    /// The command.
    pub argv: Vec<CString>,
    /// The environment.
    pub envp: Vec<CString>,
    /// Fail on any shortfall.
    pub require_all: bool,
}

fn cstr_display(s: &CStr) -> String {
    String::from_utf8_lossy(s.to_bytes()).into_owned()
}

/// Opens a mount target inside `root`, telling "absent" (a shortfall) from real errors.
fn target<S: Syscalls>(
    sys: &S,
    root: BorrowedFd<'_>,
    path: &CStr,
    dir: bool,
    step: Step,
) -> Result<Option<OwnedFd>, HardenError> {
    match sys.open_in_root(root, path, dir) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.errno == libc::ENOENT => Ok(None),
        Err(e) => Err(e).at(step, cstr_display(path)),
    }
}

/// Runs the sequence, recording what each mechanism enforced into `report`. On success the
/// process is PID 1 of the container, unprivileged, Landlocked and filtered, ready to fork the
/// workload.
pub fn harden<S: Syscalls>(sys: &S, plan: &Plan, report: &mut Report) -> Result<(), HardenError> {
    // 1. Sanitize. Close every descriptor but the channel and the launcher's mount trees, before
    //    anything else, so no later step (nor the workload) can act on one it did not open: a
    //    leaked directory fd is how CVE-2024-21626 escaped runc. Signals are reset because the
    //    launcher blocked some; the environment of the workload is exactly `plan.envp`.
    // The launcher's death must kill the container: PID 1 gets SIGKILL when its parent dies,
    // and the kernel then kills everything in its PID namespace. Set first, so no window is
    // left (a launcher gone before this is seen below as EOF on the channel, whose only other
    // copy in this process is closed right after).
    sys.set_pdeathsig(libc::SIGKILL)
        .at(Step::ParentDeath, "SIGKILL")?;
    // Join our v1 cgroups before anything else, certainly before any fork: a thread moving
    // itself needs no thread-group lock, so no RCU grace period (limits.rs). The launcher opened
    // the files; its credentials are the ones checked.
    for fd in &plan.cgroup_join {
        sys.join_cgroup(fd.as_fd()).at(Step::Cgroup, "tasks")?;
    }
    let mut keep: Vec<RawFd> = vec![fd_of(&plan.chan), fd_of(&plan.exit_chan)];
    keep.extend(plan.cgroup_leave.iter().flatten().map(fd_of));
    if let RootfsSource::Tree(fd) = &plan.rootfs {
        keep.push(fd_of(fd));
    }
    keep.extend(plan.volumes.iter().map(|v| fd_of(&v.tree)));
    sys.close_fds_except(&keep).at(Step::CloseFds, "fds > 2")?;
    sys.reset_signals().at(Step::ResetSignals, "all")?;
    // A new session: terminal signals reach the workload once, through the launcher and init.
    sys.setsid().at(Step::Setsid, "pid 1")?;
    report.record(
        Mechanism::Sanitize,
        Level::Fully,
        "descriptors above 2 closed, environment replaced, new session, SIGKILL on the launcher's death",
    );

    // 2. Namespaces. They exist since the clone; wait until the launcher has written the id
    //    maps, then become root *of the namespace* (an unprivileged id on the host) so the
    //    mounts below are owned by it. The launcher joins us to our cgroup meanwhile (step 5).
    expect(sys, plan, b"go")?;
    if plan.become_root {
        sys.setresgid(0).at(Step::BecomeNamespaceRoot, "gid 0")?;
        sys.setresuid(0).at(Step::BecomeNamespaceRoot, "uid 0")?;
    }
    let mut namespaces = vec!["mount", "pid", "ipc", "uts"];
    if plan.network_namespace {
        namespaces.push("net");
    }
    sys.sethostname(&plan.hostname)
        .at(Step::Hostname, String::from_utf8_lossy(&plan.hostname))?;
    if plan.network_namespace && !plan.netns_from_launcher {
        sys.loopback_up().at(Step::Loopback, "lo")?;
    }

    // 3. Mounts, all through descriptors (new mount API) and targets opened with
    //    RESOLVE_IN_ROOT, so no symlink planted in the rootfs can redirect a mount to the host
    //    (the CVE-2025-31133 class). First stop propagation back to the host.
    sys.make_rprivate().at(Step::PrivateMounts, "/")?;
    let cloned_here;
    let root: BorrowedFd<'_> = match &plan.rootfs {
        RootfsSource::Tree(tree) => tree.as_fd(),
        RootfsSource::Path(path) => {
            cloned_here = sys
                .clone_tree(None, path, true)
                .at(Step::AttachRootfs, cstr_display(path))?;
            cloned_here.as_fd()
        }
    };
    // Once attached, the tree's descriptor names the root of the new mount.
    sys.move_mount(root, None, &plan.attach_point)
        .at(Step::AttachRootfs, cstr_display(&plan.attach_point))?;
    // Read-only before anything is mounted on top, so the flag covers exactly the image (and
    // its own submounts, hence recursive) and not the tmpfs/proc/dev that follow.
    let mut flags = attr::NOSUID | attr::NODEV;
    if plan.read_only {
        flags |= attr::RDONLY;
    }
    sys.mount_setattr(root, true, flags)
        .at(Step::RootfsFlags, "/")?;
    let mut missing: Vec<String> = Vec::new();
    for t in &plan.tmpfs {
        let Some(tgt) = target(sys, root, &t.target, true, Step::Tmpfs)? else {
            missing.push(cstr_display(&t.target));
            continue;
        };
        let fs = sys
            .new_fs(
                c"tmpfs",
                &[(c"size", Some(&t.size)), (c"mode", Some(c"1777"))],
                attr::NOSUID | attr::NODEV | attr::NOEXEC,
            )
            .at(Step::Tmpfs, cstr_display(&t.target))?;
        sys.move_mount(fs.as_fd(), Some(tgt.as_fd()), c"")
            .at(Step::Tmpfs, cstr_display(&t.target))?;
    }
    // /proc of the new PID namespace.
    let proc_mounted = match target(sys, root, c"proc", true, Step::Proc)? {
        Some(tgt) => {
            let fs = sys
                .new_fs(c"proc", &[], attr::NOSUID | attr::NODEV | attr::NOEXEC)
                .at(Step::Proc, "proc")?;
            sys.move_mount(fs.as_fd(), Some(tgt.as_fd()), c"")
                .at(Step::Proc, "/proc")?;
            true
        }
        None => {
            missing.push("proc".into());
            false
        }
    };
    // A minimal /dev on a fresh tmpfs: the device nodes are bind mounts of the host's (a user
    // namespace cannot mknod), created in a directory nobody else could have planted links in.
    match target(sys, root, c"dev", true, Step::Dev)? {
        Some(tgt) => {
            let dev = sys
                .new_fs(
                    c"tmpfs",
                    &[(c"size", Some(c"64k")), (c"mode", Some(c"755"))],
                    attr::NOSUID | attr::NODEV | attr::NOEXEC,
                )
                .at(Step::Dev, "tmpfs")?;
            for name in DEVICES {
                let cname = CString::new(*name).unwrap_or_default();
                let host = CString::new(format!("/dev/{name}")).unwrap_or_default();
                sys.create_file(dev.as_fd(), &cname, 0o666)
                    .at(Step::Dev, cstr_display(&host))?;
                let node = sys
                    .clone_tree(None, &host, false)
                    .at(Step::Dev, cstr_display(&host))?;
                let at = sys
                    .open_in_root(dev.as_fd(), &cname, false)
                    .at(Step::Dev, cstr_display(&host))?;
                sys.move_mount(node.as_fd(), Some(at.as_fd()), c"")
                    .at(Step::Dev, cstr_display(&host))?;
            }
            sys.mkdirat(dev.as_fd(), c"pts", 0o755)
                .at(Step::Dev, "/dev/pts")?;
            let pts = sys
                .new_fs(
                    c"devpts",
                    &[
                        (c"newinstance", None),
                        (c"ptmxmode", Some(c"0666")),
                        (c"mode", Some(c"0620")),
                    ],
                    attr::NOSUID | attr::NOEXEC,
                )
                .at(Step::Dev, "devpts")?;
            let at = sys
                .open_in_root(dev.as_fd(), c"pts", true)
                .at(Step::Dev, "/dev/pts")?;
            sys.move_mount(pts.as_fd(), Some(at.as_fd()), c"")
                .at(Step::Dev, "/dev/pts")?;
            sys.mkdirat(dev.as_fd(), c"shm", 0o1777)
                .at(Step::Dev, "/dev/shm")?;
            let shm = sys
                .new_fs(
                    c"tmpfs",
                    &[(c"size", Some(c"64m")), (c"mode", Some(c"1777"))],
                    attr::NOSUID | attr::NODEV | attr::NOEXEC,
                )
                .at(Step::Dev, "/dev/shm")?;
            let at = sys
                .open_in_root(dev.as_fd(), c"shm", true)
                .at(Step::Dev, "/dev/shm")?;
            sys.move_mount(shm.as_fd(), Some(at.as_fd()), c"")
                .at(Step::Dev, "/dev/shm")?;
            for (to, name) in DEV_LINKS {
                sys.symlinkat(to, dev.as_fd(), name)
                    .at(Step::Dev, cstr_display(name))?;
            }
            sys.move_mount(dev.as_fd(), Some(tgt.as_fd()), c"")
                .at(Step::Dev, "/dev")?;
            // Nothing may be added to /dev afterwards (the device and shm mounts stay usable).
            sys.mount_setattr(dev.as_fd(), false, attr::RDONLY)
                .at(Step::Dev, "/dev read-only")?;
        }
        None => missing.push("dev".into()),
    }
    // Masks and read-only paths on the fresh /proc now (those under /sys once it is mounted).
    let mut masked = 0;
    let mut readonly = 0;
    // One empty read-only tmpfs masks every directory: the first is mounted, the others are
    // clones of that mount (no new superblock each; the read-only flag is cloned with it).
    let mut empty: Option<OwnedFd> = None;
    if proc_mounted {
        masked += mask(sys, root, "proc/", &mut empty)?;
        readonly += make_read_only(sys, root, READONLY_PATHS)?;
    }
    // The network namespace the launcher's helper made meanwhile (the /proc masks above overlap
    // it too). Entered before /sys, because a sysfs shows the network namespace of whoever
    // mounts it, and long before anything runs.
    if plan.network_namespace && plan.netns_from_launcher {
        sys.enter_launcher_netns(plan.chan.as_fd())
            .at(Step::NetworkNamespace, "sent by the launcher")?;
    }
    // /sys read-only: a fresh sysfs needs the network namespace; otherwise a read-only copy.
    let sys_mounted = match target(sys, root, c"sys", true, Step::Sys)? {
        Some(tgt) => {
            let ro = attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC;
            let fs = if plan.network_namespace {
                sys.new_fs(c"sysfs", &[], ro).at(Step::Sys, "sysfs")?
            } else {
                let fs = sys.clone_tree(None, c"/sys", true).at(Step::Sys, "/sys")?;
                sys.mount_setattr(fs.as_fd(), true, ro)
                    .at(Step::Sys, "/sys")?;
                fs
            };
            sys.move_mount(fs.as_fd(), Some(tgt.as_fd()), c"")
                .at(Step::Sys, "/sys")?;
            true
        }
        None => {
            missing.push("sys".into());
            false
        }
    };
    for v in &plan.volumes {
        let Some(tgt) = target(sys, root, &v.target, v.directory, Step::Volume)? else {
            return Err(HardenError::Check {
                step: Step::Volume,
                detail: format!("{} does not exist in the rootfs", cstr_display(&v.target)),
            });
        };
        sys.move_mount(v.tree.as_fd(), Some(tgt.as_fd()), c"")
            .at(Step::Volume, cstr_display(&v.target))?;
        let mut flags = attr::NOSUID | attr::NODEV;
        if v.read_only {
            flags |= attr::RDONLY;
        }
        sys.mount_setattr(v.tree.as_fd(), true, flags)
            .at(Step::Volume, cstr_display(&v.target))?;
    }
    if sys_mounted {
        masked += mask(sys, root, "sys/", &mut empty)?;
    }

    // 4. pivot_root, not chroot: the old root is detached, so no `..` or fd trick can reach it.
    //    Not earlier: the kernel mounts a new sysfs (or proc) in a user namespace only while a
    //    full one is visible in the mount namespace, the host's, which the pivot detaches.
    sys.pivot_root(root).at(Step::PivotRoot, "/")?;
    let rootfs_detail = format!(
        "{}, nosuid, nodev; tmpfs {} (nosuid, nodev, noexec); /proc, /sys ro, minimal /dev{}",
        if plan.read_only {
            "read-only"
        } else {
            "read-write (--read-write)"
        },
        plan.tmpfs
            .iter()
            .map(|t| cstr_display(&t.target))
            .collect::<Vec<_>>()
            .join(" "),
        if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; missing mount points in the rootfs, not mounted: {}",
                missing.join(" ")
            )
        },
    );
    let rootfs_level = if missing.is_empty() && plan.read_only {
        Level::Fully
    } else {
        Level::Partially
    };
    report.record(Mechanism::Rootfs, rootfs_level, rootfs_detail);
    report.record(
        Mechanism::MaskedPaths,
        if proc_mounted {
            Level::Fully
        } else {
            Level::Not
        },
        format!("{masked} masked, {readonly} read-only (of those present on this kernel)"),
    );
    report.record(
        Mechanism::PivotRoot,
        Level::Fully,
        "pivot_root into the rootfs, old root detached",
    );
    // The working directory is resolved inside the new root only, once every mount is in place
    // (a volume may be the working directory), and verified (CVE-2024-21626).
    sys.chdir(&plan.cwd)
        .at(Step::Workdir, cstr_display(&plan.cwd))?;
    let cwd = sys.getcwd().at(Step::Workdir, cstr_display(&plan.cwd))?;
    if cwd.first() != Some(&b'/') {
        return Err(HardenError::Check {
            step: Step::Workdir,
            detail: format!(
                "cwd {:?} is outside the root",
                String::from_utf8_lossy(&cwd)
            ),
        });
    }

    // 5. Limits. The launcher moves us into our cgroup while the mounts above are built (a
    //    cgroup v1 migration waits for an RCU grace period: milliseconds). Wait for it before
    //    anything forks, and only then enter a cgroup namespace, so that cgroup is its root and
    //    the host's hierarchy stays invisible.
    expect(sys, plan, b"cg")?;
    if plan.cgroup_namespace {
        sys.unshare(libc::CLONE_NEWCGROUP)
            .at(Step::CgroupNamespace, "CLONE_NEWCGROUP")?;
        namespaces.push("cgroup");
    }
    let ns_level = if plan.network_namespace && plan.cgroup_namespace {
        Level::Fully
    } else {
        Level::Partially
    };
    let mut ns_detail = format!("new {} namespaces", namespaces.join(", "));
    if !plan.network_namespace {
        ns_detail.push_str("; host network (--network host)");
    }
    report.record(Mechanism::Namespaces, ns_level, ns_detail);
    // rlimits while still privileged in the namespace (raising a hard limit needs
    // CAP_SYS_RESOURCE).
    for (resource, soft, hard) in &plan.rlimits {
        sys.setrlimit(*resource, *soft, *hard)
            .at(Step::Rlimits, resource)?;
    }
    report.record(
        Mechanism::Rlimits,
        Level::Fully,
        plan.rlimits
            .iter()
            .map(|(r, s, h)| format!("{}={s}:{h}", rlimit_name(*r)))
            .collect::<Vec<_>>()
            .join(" "),
    );

    // 6. Drop the bounding set while CAP_SETPCAP is still held; after it, nothing (not even a
    //    setuid-root binary, not even root in the namespace) can regain a dropped capability.
    for cap in 0..=plan.last_cap {
        if !plan.keep_caps.contains(&cap) {
            sys.capbset_drop(cap)
                .at(Step::BoundingSet, format!("capability {cap}"))?;
        }
    }

    // 7. Identity: groups first (needs CAP_SETGID), then gid, then uid (after which the
    //    capabilities are gone unless explicitly kept for --cap-add).
    sys.set_keepcaps(!plan.keep_caps.is_empty())
        .at(Step::Identity, "keepcaps")?;
    if plan.setgroups_allowed {
        sys.setgroups(&[])
            .at(Step::Identity, "no supplementary groups")?;
    }
    sys.setresgid(plan.gid)
        .at(Step::Identity, format!("gid {}", plan.gid))?;
    sys.setresuid(plan.uid)
        .at(Step::Identity, format!("uid {}", plan.uid))?;
    // Changing the effective ids clears the parent-death signal (prctl(2)): set it again, then
    // close the race with a launcher that died meanwhile. getppid() cannot tell (the parent is
    // outside this PID namespace: it reads 0), the channel can: its other end is the launcher's.
    sys.set_pdeathsig(libc::SIGKILL)
        .at(Step::ParentDeath, "SIGKILL")?;
    if !sys
        .peer_alive(plan.chan.as_fd())
        .at(Step::ParentDeath, "channel")?
    {
        return Err(HardenError::Check {
            step: Step::ParentDeath,
            detail: "the launcher is gone".into(),
        });
    }
    let identity_level = if plan.uid == 0 {
        Level::Partially
    } else {
        Level::Fully
    };
    report.record(
        Mechanism::Identity,
        identity_level,
        format!(
            "uid {} gid {}, no supplementary groups{}",
            plan.uid,
            plan.gid,
            if plan.uid == 0 {
                " (root of the user namespace, by request)"
            } else {
                ""
            }
        ),
    );

    // 8. Clear every capability set explicitly (effective, permitted, inheritable, ambient);
    //    the kept ones are raised into the ambient set so they survive execve as non-root.
    let keep_mask = plan.keep_caps.iter().fold(0u64, |m, c| m | (1u64 << c));
    sys.capset(keep_mask, keep_mask, keep_mask)
        .at(Step::ClearCaps, format!("mask {keep_mask:#x}"))?;
    sys.ambient_clear().at(Step::ClearCaps, "ambient")?;
    for cap in &plan.keep_caps {
        sys.ambient_raise(*cap)
            .at(Step::ClearCaps, format!("ambient {cap}"))?;
    }
    let caps_level = if plan.keep_caps.is_empty() {
        Level::Fully
    } else {
        Level::Partially
    };
    report.record(
        Mechanism::Capabilities,
        caps_level,
        if plan.keep_caps.is_empty() {
            "none in any set (bounding, effective, permitted, inheritable, ambient)".to_owned()
        } else {
            format!(
                "only {} kept (--cap-add), all others dropped from every set",
                plan.keep_caps
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        },
    );

    // 9. no_new_privs: execve can never grant privileges again (setuid bits, file caps). It is
    //    also what lets an unprivileged process install Landlock and seccomp below.
    sys.set_no_new_privs()
        .at(Step::NoNewPrivs, "PR_SET_NO_NEW_PRIVS")?;
    // The init keeps no secrets, but /proc/1 must not be a way in: undumpable.
    sys.set_undumpable()
        .at(Step::NoNewPrivs, "PR_SET_DUMPABLE")?;
    report.record(Mechanism::NoNewPrivs, Level::Fully, "set");

    // 10. Landlock, before seccomp (whose filter may deny the landlock_* calls themselves).
    let entries = root_entries();
    let landlock_plan = LandlockPlan::for_root(
        &plan.writable,
        &entries,
        plan.restrict_tcp,
        plan.require_all,
    );
    let outcome = sys
        .landlock(&landlock_plan)
        .map_err(HardenError::Landlock)?;
    report.record(Mechanism::Landlock, outcome.level, outcome.detail);

    // 11. seccomp last: every call above is done, so the filter can deny all of them; from here
    //     on only the init's wait/kill/fork and the workload's execve run.
    for program in &plan.seccomp {
        sys.seccomp(program)
            .at(Step::Seccomp, &plan.seccomp_summary)?;
    }
    report.record(
        Mechanism::Seccomp,
        Level::Fully,
        plan.seccomp_summary.clone(),
    );

    if plan.require_all {
        // Explicit opt-outs (--cap-add, --user 0, --network host, --read-write) are choices,
        // not shortfalls; anything else the kernel could not do is fatal.
        let opted_out = |m: Mechanism| match m {
            Mechanism::Identity | Mechanism::Capabilities => true,
            Mechanism::Namespaces => !plan.network_namespace,
            Mechanism::Rootfs => !plan.read_only && missing.is_empty(),
            _ => false,
        };
        if let Some(short) = report.shortfalls().find(|e| !opted_out(e.mechanism)) {
            return Err(HardenError::Required {
                mechanism: short.mechanism,
                detail: short.detail.clone(),
            });
        }
    }
    Ok(())
}

/// Masks the [`MASKED_PATHS`] under `prefix` that exist: a directory behind the shared empty
/// read-only tmpfs `empty` (mounted the first time), a file behind `/dev/null`. Returns how
/// many were masked.
fn mask<S: Syscalls>(
    sys: &S,
    root: BorrowedFd<'_>,
    prefix: &str,
    empty: &mut Option<OwnedFd>,
) -> Result<usize, HardenError> {
    let mut masked = 0;
    for path in MASKED_PATHS.iter().filter(|p| p.starts_with(prefix)) {
        let cpath = CString::new(*path).unwrap_or_default();
        match sys.open_in_root(root, &cpath, true) {
            Ok(tgt) => {
                let fs = match empty.as_ref() {
                    Some(first) => sys
                        .clone_tree(Some(first.as_fd()), c"", false)
                        .at(Step::Mask, path)?,
                    None => sys
                        .new_fs(
                            c"tmpfs",
                            &[(c"size", Some(c"0"))],
                            attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
                        )
                        .at(Step::Mask, path)?,
                };
                sys.move_mount(fs.as_fd(), Some(tgt.as_fd()), c"")
                    .at(Step::Mask, path)?;
                if empty.is_none() {
                    *empty = Some(fs);
                }
            }
            Err(e) if e.errno == libc::ENOTDIR => {
                let tgt = sys.open_in_root(root, &cpath, false).at(Step::Mask, path)?;
                let null = sys
                    .clone_tree(None, c"/dev/null", false)
                    .at(Step::Mask, "/dev/null")?;
                sys.move_mount(null.as_fd(), Some(tgt.as_fd()), c"")
                    .at(Step::Mask, path)?;
            }
            Err(e) if e.errno == libc::ENOENT => continue,
            Err(e) => return Err(e).at(Step::Mask, path),
        }
        masked += 1;
    }
    Ok(masked)
}

/// Makes each of `paths` that exists a read-only (nosuid, nodev, noexec) copy of itself.
/// Returns how many.
fn make_read_only<S: Syscalls>(
    sys: &S,
    root: BorrowedFd<'_>,
    paths: &[&str],
) -> Result<usize, HardenError> {
    let mut done = 0;
    for path in paths {
        let cpath = CString::new(*path).unwrap_or_default();
        let Some(tgt) = target(sys, root, &cpath, false, Step::ReadOnlyPath)? else {
            continue;
        };
        let copy = sys
            .clone_tree(Some(tgt.as_fd()), c"", true)
            .at(Step::ReadOnlyPath, path)?;
        sys.mount_setattr(
            copy.as_fd(),
            true,
            attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
        )
        .at(Step::ReadOnlyPath, path)?;
        sys.move_mount(copy.as_fd(), Some(tgt.as_fd()), c"")
            .at(Step::ReadOnlyPath, path)?;
        done += 1;
    }
    Ok(done)
}

/// Waits for the launcher's next message, which must be `want`.
fn expect<S: Syscalls>(sys: &S, plan: &Plan, want: &[u8]) -> Result<(), HardenError> {
    let mut buf = [0u8; 16];
    let n = sys
        .recv(plan.chan.as_fd(), &mut buf)
        .at(Step::WaitForLauncher, "channel")?;
    if &buf[..n] == want {
        Ok(())
    } else {
        Err(HardenError::Check {
            step: Step::WaitForLauncher,
            detail: "the launcher went away".into(),
        })
    }
}

fn fd_of(fd: &OwnedFd) -> RawFd {
    std::os::fd::AsRawFd::as_raw_fd(fd)
}

fn root_entries() -> Vec<OsString> {
    std::fs::read_dir("/")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

fn rlimit_name(resource: u32) -> &'static str {
    match resource {
        r if r == libc::RLIMIT_NOFILE => "nofile",
        r if r == libc::RLIMIT_NPROC => "nproc",
        r if r == libc::RLIMIT_CORE => "core",
        _ => "other",
    }
}

/// Starts the workload, resolving `argv[0]` like `execvp` in the container: tries each `PATH`
/// entry, and returns its pid, or the most telling error (ENOENT only if every candidate was
/// missing).
pub fn spawn_workload<S: Syscalls>(
    sys: &S,
    argv: &[CString],
    envp: &[CString],
) -> Result<i32, SysError> {
    let Some(program) = argv.first() else {
        return Err(SysError::new("execve", libc::ENOENT));
    };
    if program.as_bytes().contains(&b'/') {
        return sys.spawn(program, argv, envp);
    }
    let path = envp
        .iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut best = SysError::new("execve", libc::ENOENT);
    for dir in path.split(|&b| b == b':').filter(|d| !d.is_empty()) {
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(program.as_bytes());
        let Ok(candidate) = CString::new(candidate) else {
            continue;
        };
        match sys.spawn(&candidate, argv, envp) {
            Ok(pid) => return Ok(pid),
            Err(err) if matches!(err.errno, libc::ENOENT | libc::ENOTDIR) => {}
            Err(err) if err.errno == libc::EACCES => best = err,
            Err(err) => return Err(err),
        }
    }
    Err(best)
}

/// The exit code for an exec failure: 127 not found, 126 found but not executable.
pub fn exec_failure_code(err: SysError) -> i32 {
    if err.errno == libc::ENOENT || err.errno == libc::ENOTDIR {
        127
    } else {
        126
    }
}

/// `argv`/`envp` for `execve`.
pub fn to_cstrings(items: &[OsString]) -> Result<Vec<CString>, HardenError> {
    items
        .iter()
        .map(|s| {
            CString::new(s.clone().into_vec()).map_err(|_| HardenError::Check {
                step: Step::Spawn,
                detail: format!("{s:?} contains a NUL byte"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Recorder;

    fn plan() -> Plan {
        let devnull = || OwnedFd::from(std::fs::File::open("/dev/null").expect("/dev/null"));
        Plan {
            chan: devnull(),
            cgroup_join: vec![devnull()],
            cgroup_leave: Some(vec![devnull()]),
            exit_chan: devnull(),
            rootfs: RootfsSource::Tree(devnull()),
            attach_point: CString::from(c"/tmp"),
            read_only: true,
            become_root: true,
            cgroup_namespace: true,
            network_namespace: true,
            netns_from_launcher: true,
            setgroups_allowed: true,
            hostname: b"rharden".to_vec(),
            tmpfs: vec![TmpfsMount {
                target: CString::from(c"tmp"),
                size: CString::from(c"1024"),
            }],
            volumes: vec![VolumeMount {
                tree: devnull(),
                target: CString::from(c"data"),
                directory: true,
                read_only: true,
            }],
            cwd: CString::from(c"/"),
            rlimits: vec![(libc::RLIMIT_NOFILE, 64, 64)],
            last_cap: 40,
            keep_caps: vec![],
            uid: 65534,
            gid: 65534,
            writable: vec![PathBuf::from("/tmp")],
            restrict_tcp: true,
            seccomp: vec![vec![], vec![]],
            seccomp_summary: "test".into(),
            argv: vec![CString::from(c"/bin/true")],
            envp: vec![],
            require_all: false,
        }
    }

    /// The order of ../shared/STYLE.md principle 6, checked on what the code actually calls.
    #[test]
    fn hardening_steps_run_in_the_documented_order() {
        let sys = Recorder::default();
        let mut report = Report::default();
        harden(&sys, &plan(), &mut report).expect("recorded run succeeds");
        let order = [
            "set_pdeathsig(9)", // the launcher's death kills PID 1, from the start
            "join_cgroup",      // in its cgroups before anything forks
            "close_fds_except", // sanitize
            "reset_signals",
            "recv(go)",     // released by the launcher (ids mapped)
            "setresgid(0)", // root of the user namespace
            "sethostname",
            "make_rprivate",            // mounts
            "move_mount(/tmp)",         // attach the rootfs
            "mount_setattr(0x7, true)", // read-only, nosuid, nodev
            "new_fs(tmpfs",
            "new_fs(proc",
            "create_file(null)", // minimal /dev
            "new_fs(devpts",
            "open_in_root(proc/kcore", // masked paths under /proc
            "open_in_root(proc/sys",   // read-only paths
            "enter_launcher_netns",    // sent after "go", entered before a sysfs is mounted
            "new_fs(sysfs",
            "open_in_root(data",         // volumes
            "open_in_root(sys/firmware", // masked paths under /sys
            "pivot_root",
            "chdir(/)",
            "recv(cg)",           // the launcher joined us to our cgroup
            "unshare(0x2000000)", // cgroup namespace, rooted there
            "setrlimit",          // limits
            "capbset_drop(0)",    // bounding set
            "set_keepcaps(false)",
            "setgroups([])", // identity
            "setresgid(65534)",
            "setresuid(65534)",
            "peer_alive", // pdeathsig set again (setresuid cleared it), race closed
            "capset(0x0, 0x0, 0x0)", // clear caps
            "ambient_clear",
            "set_no_new_privs",
            "landlock",
            "seccomp", // last
        ];
        let positions: Vec<(usize, &str)> = order
            .iter()
            .map(|step| {
                (
                    sys.position(step).unwrap_or_else(|| {
                        panic!("{step} never called: {:#?}", sys.calls.borrow())
                    }),
                    *step,
                )
            })
            .collect();
        for pair in positions.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{} must come before {}: {:#?}",
                pair[0].1,
                pair[1].1,
                sys.calls.borrow()
            );
        }
        // Nothing after the seccomp filters.
        let calls = sys.calls.borrow();
        assert!(
            calls[calls.len() - 2..]
                .iter()
                .all(|c| c.starts_with("seccomp")),
            "{calls:#?}"
        );
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.starts_with("capbset_drop"))
                .count(),
            41
        );
        // The parent-death signal is set again after the last id change, before the check.
        let deaths: Vec<usize> = calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.starts_with("set_pdeathsig"))
            .map(|(i, _)| i)
            .collect();
        let uid = sys.position("setresuid(65534)").unwrap_or(usize::MAX);
        let alive = sys.position("peer_alive").unwrap_or(0);
        assert!(
            deaths.len() == 2 && deaths[1] > uid && deaths[1] < alive,
            "{calls:#?}"
        );
        // The masked file went behind /dev/null, the ro path was cloned read-only.
        assert!(calls.iter().any(|c| c == "clone_tree(/dev/null, false)"));
        assert!(calls.iter().any(|c| c == "mount_setattr(0xf, true)"));
        assert!(report.shortfalls().next().is_none(), "{report:#?}");
    }

    #[test]
    fn kept_capabilities_are_raised_into_the_ambient_set_after_the_uid_switch() {
        let sys = Recorder::default();
        let mut p = plan();
        p.keep_caps = vec![10];
        let mut report = Report::default();
        harden(&sys, &p, &mut report).expect("recorded run succeeds");
        assert!(sys.position("capbset_drop(10)").is_none());
        let keep = sys.position("set_keepcaps(true)").expect("keepcaps");
        let uid = sys.position("setresuid(65534)").expect("uid");
        let capset = sys.position("capset(0x400, 0x400, 0x400)").expect("capset");
        let raise = sys.position("ambient_raise(10)").expect("ambient");
        assert!(keep < uid && uid < capset && capset < raise);
        assert_eq!(
            report.get(Mechanism::Capabilities).map(|e| e.level),
            Some(Level::Partially)
        );
    }

    #[test]
    fn exec_lookup_follows_path_and_maps_errors_to_126_and_127() {
        let sys = Recorder::default();
        let argv = vec![CString::from(c"sh")];
        let envp = vec![CString::from(c"PATH=/usr/bin:/bin")];
        let err = spawn_workload(&sys, &argv, &envp).expect_err("nothing to run");
        assert_eq!(exec_failure_code(err), 127);
        assert_eq!(
            *sys.calls.borrow(),
            ["spawn(/usr/bin/sh)", "spawn(/bin/sh)"]
        );
        assert_eq!(
            exec_failure_code(SysError::new("execve", libc::EACCES)),
            126
        );
    }
}
