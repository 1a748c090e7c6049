//! The launcher: prepares everything on the host side, clones the container's PID 1 into new
//! namespaces, maps its ids, limits it, releases it, and waits for it while forwarding signals.
//!
//! The host `rharden` binary is never re-executed inside the container (CVE-2019-5736): the
//! container's PID 1 is a *fork* of the launcher that hardens itself and then spawns and
//! `execve`s the workload from the container's own filesystem.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::caps;
use crate::enforcement::{Level, Mechanism, Report};
use crate::harden::{self, HardenError, Plan, RootfsSource, TmpfsMount, VolumeMount};
use crate::init;
use crate::limits::{self, CgroupOutcome, Cgroups};
use crate::profile::{ProfileError, SeccompProfile};
use crate::seccomp::{self, CompiledFilter, SeccompError};
use crate::spec::{Network, SandboxSpec, Seccomp};
use crate::sys::{self, Fork, Linux, SysError, Syscalls, WaitStatus};

/// What the container's PID 1 tells the launcher, one JSON message per packet.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Message {
    /// Hardening is complete; this is what was enforced.
    Report { report: Report },
    /// Hardening failed (the message is the error chain).
    Failed { error: String },
    /// The workload could not be executed.
    ExecFailed { error: String, code: i32 },
    /// The workload ended with this exit code (sent on the exit channel); `left_cgroups`: no
    /// process of the container is in its cgroups any more (`init::leave`).
    Exited { code: i32, left_cgroups: bool },
}

/// How long the wait for the container sleeps before it checks for PID 1's exit without a
/// SIGCHLD (the signal is the fast path; this only bounds a lost one).
const REAP_CHECK_MS: i32 = 500;

/// Blocks, in the calling thread, the signals a run waits for (SIGCHLD and the forwarded
/// ones); threads started afterwards inherit the mask. The kernel hands a signal sent to the
/// process to any thread that does not block it: a SIGCHLD taken by another thread (default:
/// ignored) is lost to the run's wait, and a SIGTERM kills the launcher instead of reaching the
/// workload. A caller that starts threads before [`Sandbox::run`] (the CLI unpacks an image on
/// a thread pool) calls this first.
pub fn block_run_signals() -> Result<(), SysError> {
    sys::set_sigmask(&init::waited_signals(), libc::SIG_BLOCK)
}

/// Why a run failed before the workload started (exit 125).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The seccomp profile is invalid.
    #[error("failed to load the seccomp profile")]
    Profile(#[from] ProfileError),
    /// The seccomp profile does not compile.
    #[error("failed to compile the seccomp profile")]
    Seccomp(#[from] SeccompError),
    /// A host-side step failed.
    #[error("failed to {what}")]
    Prepare {
        /// Which step.
        what: String,
        /// The call that failed.
        #[source]
        source: SysError,
    },
    /// A host-side mechanism is unavailable and `--require-all` is set.
    #[error("failed to enforce {} fully (--require-all): {detail}", mechanism.name())]
    Required {
        /// Which mechanism.
        mechanism: Mechanism,
        /// What is missing.
        detail: String,
    },
    /// The container's hardening failed.
    #[error("failed to set up the container: {message}")]
    Setup {
        /// The error chain the container reported.
        message: String,
        /// What was enforced before the failure (launcher side).
        report: Report,
    },
    /// A spec value cannot be passed to the kernel.
    #[error("failed to prepare the container")]
    Plan(#[source] HardenError),
}

/// How the run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit code: the workload's, 128 + signal, or 126/127 when it could not be executed.
    pub code: i32,
    /// How PID 1 ended.
    pub status: WaitStatus,
    /// What was enforced.
    pub report: Report,
    /// Why the workload could not be executed, if it could not.
    pub exec_error: Option<String>,
}

/// Progress of a run, implemented by the CLI (the library never prints).
pub trait RunObserver {
    /// The workload was executed (or failed to be); `report` is what is enforced.
    fn started(&mut self, report: &Report) {
        let _ = report;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;
impl RunObserver for Quiet {}

/// The most a message from the container may hold (its report is ~1.5 KB). The buffer is
/// reserved, not zeroed: its untouched pages cost nothing.
const MESSAGE_CAPACITY: usize = 1 << 16;

/// Runs so far in this process: part of the cgroups' names.
static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A spec with its seccomp filter compiled, ready to run (possibly many times).
#[derive(Debug)]
pub struct Sandbox {
    spec: SandboxSpec,
    filter: CompiledFilter,
    /// See [`Sandbox::exiting_after_run`].
    release_pid1: bool,
}

fn prep(what: impl Into<String>) -> impl FnOnce(SysError) -> RunError {
    let what = what.into();
    move |source| RunError::Prepare { what, source }
}

fn cpath(p: &std::path::Path) -> Result<CString, RunError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| RunError::Prepare {
        what: format!("use path {}", p.display()),
        source: SysError::new("path", libc::EINVAL),
    })
}

/// A container path as a path relative to the container root (`/tmp` → `tmp`).
fn relative(p: &std::path::Path) -> Result<CString, RunError> {
    let bytes = p.as_os_str().as_bytes();
    let trimmed: &[u8] = {
        let mut b = bytes;
        while let [b'/', rest @ ..] = b {
            b = rest;
        }
        b
    };
    let trimmed = if trimmed.is_empty() {
        b"." as &[u8]
    } else {
        trimmed
    };
    CString::new(trimmed).map_err(|_| RunError::Prepare {
        what: format!("use path {}", p.display()),
        source: SysError::new("path", libc::EINVAL),
    })
}

impl Sandbox {
    /// Loads and compiles the seccomp profile of `spec`.
    pub fn new(spec: SandboxSpec) -> Result<Self, RunError> {
        Self::with_filter_cache(spec, None)
    }

    /// [`Sandbox::new`], keeping the compiled built-in filter in `cache` (a directory only its
    /// owner can write): parsing and compiling the profile is most of a start's user time. An
    /// entry is used only when it was compiled from the very same profile text, kernel version
    /// and rharden version (all stored in it and compared byte for byte); otherwise it is
    /// compiled again and replaced. Any cache error falls back to compiling.
    pub fn with_filter_cache(
        spec: SandboxSpec,
        cache: Option<&std::path::Path>,
    ) -> Result<Self, RunError> {
        let filter = match (&spec.seccomp, cache) {
            (Seccomp::Default, Some(dir)) => {
                let key = format!(
                    "rharden-sandbox {} seccomp {:?} compiler {}\nkernel {:?}\n{}",
                    env!("CARGO_PKG_VERSION"),
                    crate::seccomp::target_arch_name(),
                    crate::seccomp::COMPILER_REVISION,
                    crate::profile::kernel_version(),
                    crate::profile::DEFAULT_PROFILE_JSON
                );
                let file = dir.join("seccomp-default.bin");
                match std::fs::read(&file)
                    .ok()
                    .and_then(|b| CompiledFilter::from_bytes(&b, key.as_bytes()))
                {
                    Some(filter) => filter,
                    None => {
                        let filter = seccomp::compile(&SeccompProfile::builtin_default()?)?;
                        store(dir, &file, &filter.to_bytes(key.as_bytes()));
                        filter
                    }
                }
            }
            (Seccomp::Default, None) => seccomp::compile(&SeccompProfile::builtin_default()?)?,
            (Seccomp::Profile(p), _) => seccomp::compile(p)?,
        };
        Ok(Sandbox {
            spec,
            filter,
            release_pid1: false,
        })
    }

    /// For a caller that exits right after [`Sandbox::run`] (the CLI): a run then ends as
    /// soon as PID 1 reports the workload's end, having killed and reaped whatever else was
    /// left and moved itself out of the run's cgroups, which are removed at once. PID 1 is
    /// left to finish exiting (the kernel tearing down its namespaces takes most of a
    /// millisecond) and is reaped by the system once the caller exits, as bwrap leaves its
    /// own. Only with v1 cgroups, or none; otherwise the run waits for PID 1 as usual.
    pub fn exiting_after_run(mut self) -> Self {
        self.release_pid1 = true;
        self
    }

    /// The spec.
    pub fn spec(&self) -> &SandboxSpec {
        &self.spec
    }

    /// Runs the workload to completion. Must be called from a single-threaded process (it
    /// forks, and the child allocates), or one whose other threads were all started after
    /// [`block_run_signals`].
    ///
    /// Signals: SIGCHLD and the ones forwarded to the workload (SIGTERM, SIGINT, SIGHUP,
    /// SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) are blocked for the whole run, before anything is
    /// created on the host, and unblocked when it is over; a forwarded one still pending then
    /// was meant for the workload and is discarded. On return, whatever the outcome, no process
    /// of the container runs and the run's cgroups are removed; PID 1 has been reaped, unless
    /// [`Sandbox::exiting_after_run`] let it finish exiting on its own.
    pub fn run(&self, observer: &mut dyn RunObserver) -> Result<Outcome, RunError> {
        reap_released();
        let spec = &self.spec;
        let root = sys::geteuid() == 0;
        let mut report = Report::default();

        // Host side of the mounts: clone the trees while host paths are reachable, as private
        // detached trees (sys::clone_tree_private): nothing done to them can propagate to the
        // host, and the launcher's own mount namespace stays the host's.
        let rootfs_path = cpath(&spec.rootfs)?;
        let rootfs = if root {
            RootfsSource::Tree(sys::clone_tree_private(&rootfs_path).map_err(prep(format!(
                "clone the rootfs mount tree {}",
                spec.rootfs.display()
            )))?)
        } else {
            RootfsSource::Path(rootfs_path)
        };
        let mut volumes = Vec::new();
        for v in &spec.volumes {
            let src = cpath(&v.source)?;
            let tree = sys::clone_tree_private(&src)
                .map_err(prep(format!("clone the volume {}", v.source.display())))?;
            volumes.push(VolumeMount {
                tree,
                target: relative(&v.target)?,
                directory: v.source.is_dir(),
                read_only: v.read_only,
            });
        }
        let (chan_parent, chan_child) =
            sys::seqpacket_pair().map_err(prep("create the launcher channel"))?;
        let (exit_parent, exit_child) =
            sys::seqpacket_pair().map_err(prep("create the exit channel"))?;
        let mut writable: Vec<PathBuf> = spec.tmpfs.iter().map(|t| t.target.clone()).collect();
        writable.extend(
            spec.volumes
                .iter()
                .filter(|v| !v.read_only)
                .map(|v| v.target.clone()),
        );
        writable.push(PathBuf::from("/dev/shm"));
        if spec.read_write {
            writable.push(PathBuf::from("/"));
        }
        let rlimits = vec![
            (
                libc::RLIMIT_NOFILE,
                spec.limits.nofile.0,
                spec.limits.nofile.1,
            ),
            (libc::RLIMIT_NPROC, spec.limits.nproc.0, spec.limits.nproc.1),
            (libc::RLIMIT_CORE, spec.limits.core, spec.limits.core),
        ];
        let plan = Plan {
            chan: chan_child,
            cgroup_join: Vec::new(),
            cgroup_leave: None,
            exit_chan: exit_child,
            rootfs,
            attach_point: CString::from(c"/tmp"),
            read_only: !spec.read_write,
            become_root: root,
            cgroup_namespace: true,
            network_namespace: spec.network == Network::Loopback,
            netns_from_launcher: spec.network == Network::Loopback,
            setgroups_allowed: root,
            hostname: spec.hostname.as_bytes().to_vec(),
            tmpfs: spec
                .tmpfs
                .iter()
                .map(|t| {
                    Ok(TmpfsMount {
                        target: relative(&t.target)?,
                        size: CString::new(t.size.to_string()).unwrap_or_default(),
                    })
                })
                .collect::<Result<_, RunError>>()?,
            volumes,
            cwd: cpath(&spec.cwd)?,
            rlimits,
            last_cap: caps::last_cap(),
            keep_caps: spec.caps.iter().map(|c| c.number()).collect(),
            uid: spec.user.uid,
            gid: spec.user.gid,
            writable,
            restrict_tcp: spec.network == Network::Loopback,
            seccomp: self.filter.programs.clone(),
            seccomp_summary: self.filter.summary.clone(),
            argv: harden::to_cstrings(&spec.args).map_err(RunError::Plan)?,
            envp: harden::to_cstrings(&spec.env).map_err(RunError::Plan)?,
            require_all: spec.require_all,
        };

        // Block the signals the init will forward, so none is lost between clone and the
        // waiting loop (the container resets its own mask first thing). Blocked before the
        // cgroups exist: from here on a SIGTERM aborts the start or reaches the workload, and
        // never kills the launcher with its cgroups left behind.
        let signals = init::waited_signals();
        sys::set_sigmask(&signals, libc::SIG_BLOCK).map_err(prep("block signals"))?;
        let result =
            self.create_and_launch(plan, (chan_parent, exit_parent), &mut report, observer);
        // A forwarded signal still pending was meant for a workload that is gone (or a start
        // that was aborted and cleaned up): it must not kill the caller once unblocked, which
        // would lose the workload's status.
        while sys::take_pending(init::FORWARDED).is_some() {}
        let _ = sys::set_sigmask(&signals, libc::SIG_UNBLOCK);
        result
    }

    fn create_and_launch(
        &self,
        mut plan: Plan,
        chans: (OwnedFd, OwnedFd),
        report: &mut Report,
        observer: &mut dyn RunObserver,
    ) -> Result<Outcome, RunError> {
        let spec = &self.spec;
        // The cgroups exist, limited, before the clone: the container joins its v1 ones itself
        // (no RCU grace period, see limits.rs), and a missing one fails --require-all early.
        // The name carries the launcher's pid and start time, so a later run can tell the
        // cgroups of a killed launcher from those of a live one (limits.rs).
        let name = format!(
            "rharden-{}-{}-{}",
            sys::getpid(),
            limits::start_time_of_self(),
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let (mut cgroups, cg_outcome) = Cgroups::create(&name, &spec.limits);
        if spec.require_all && cg_outcome.level != Level::Fully {
            return Err(RunError::Required {
                mechanism: Mechanism::Cgroups,
                detail: cg_outcome.detail,
            });
        }
        plan.cgroup_join = cgroups.take_self_join();
        plan.cgroup_leave = cgroups.take_self_leave();
        self.launch(plan, chans, (cgroups, cg_outcome), report, observer)
    }

    fn launch(
        &self,
        mut plan: Plan,
        (chan, exit_chan): (OwnedFd, OwnedFd),
        (cgroups, cg_outcome): (Cgroups, CgroupOutcome),
        report: &mut Report,
        observer: &mut dyn RunObserver,
    ) -> Result<Outcome, RunError> {
        let spec = &self.spec;
        let root = sys::geteuid() == 0;
        let mut flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS;
        // With a user namespace, the launcher makes the network namespace after the clone
        // (send_new_netns, below); without one, the clone does.
        if plan.network_namespace && !plan.netns_from_launcher {
            flags |= libc::CLONE_NEWNET;
        }
        let mut userns = true;
        let cloned = match sys::clone_namespaces(flags) {
            Ok(f) => Ok(f),
            // No user namespaces (disabled by sysctl, or the limit reached): as root the rest
            // still works, with real root dropping to the workload's ids. Loudly.
            Err(e)
                if root
                    && !spec.require_all
                    && matches!(
                        e.errno,
                        libc::EPERM | libc::EINVAL | libc::ENOSPC | libc::EUSERS
                    ) =>
            {
                userns = false;
                plan.become_root = false;
                let mut flags = flags & !libc::CLONE_NEWUSER;
                if plan.network_namespace {
                    plan.netns_from_launcher = false;
                    flags |= libc::CLONE_NEWNET;
                }
                sys::clone_namespaces(flags)
            }
            Err(e) => Err(e),
        };
        // On failure `cgroups` is dropped here, which removes them.
        let fork = cloned.map_err(prep("clone the container process into new namespaces"))?;
        let pid = match fork {
            Fork::Child => container_main(&plan),
            Fork::Parent(pid) => pid,
        };
        // From here on every way out of this function, early returns included, goes through
        // this guard's drop: PID 1 killed and reaped, then the cgroups removed.
        let mut container = Container {
            pid,
            cgroups,
            reaped: false,
            released: false,
        };
        let mut exit_chan = Some(exit_chan);

        // Released first (PID 1 waits for it), tidied after.
        let released = (|| -> Result<(), RunError> {
            if userns {
                write_id_maps(pid, spec, root)?;
                let m = spec.id_mapping;
                report.record(
                    Mechanism::UserNamespace,
                    Level::Fully,
                    if root {
                        format!(
                            "container ids 0..{} = host ids {}..{} (host root unmapped)",
                            m.count,
                            m.host_base,
                            u64::from(m.host_base) + u64::from(m.count)
                        )
                    } else {
                        format!(
                            "container uid {} = host uid {} (unprivileged launcher)",
                            spec.user.uid,
                            sys::geteuid()
                        )
                    },
                );
            } else {
                report.record(
                    Mechanism::UserNamespace,
                    Level::Not,
                    "user namespaces unavailable: the container's root would be the host's root (capabilities are still dropped)",
                );
            }
            // Release the container to build its mounts while the (slow: a cgroup v1 migration
            // waits for an RCU grace period) cgroup join happens here; it waits for "cg" before
            // it forks or enters its cgroup namespace.
            Linux
                .send(chan.as_fd(), b"go")
                .map_err(prep("release the container process"))?;
            // Its network namespace, made here (on this CPU) while it builds its mounts.
            if plan.netns_from_launcher {
                sys::send_new_netns(pid, chan.as_fd())
                    .map_err(prep("create the container's network namespace"))?;
            }
            let mut outcome = cg_outcome;
            if let Err(why) = container.cgroups.join(pid) {
                outcome = CgroupOutcome {
                    level: Level::Not,
                    detail: why,
                };
            }
            if spec.require_all && outcome.level != Level::Fully {
                return Err(RunError::Required {
                    mechanism: Mechanism::Cgroups,
                    detail: outcome.detail,
                });
            }
            report.record(Mechanism::Cgroups, outcome.level, outcome.detail);
            Linux
                .send(chan.as_fd(), b"cg")
                .map_err(prep("tell the container its cgroup is ready"))
        })();
        // The container's copies of the channel end and mount trees are its own now; the
        // launcher's must go before anything reads the channel, or it never reports EOF.
        drop(plan);
        if let Err(err) = released {
            drop(container);
            // If the container failed first (the launcher's send then fails), its own error
            // is the one that matters; it is still queued on the channel.
            let mut buf = Vec::with_capacity(MESSAGE_CAPACITY);
            loop {
                let n = match sys::recv_message(chan.as_fd(), &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    // See below: a reset is reported once, before the queued messages.
                    Err(e) if e.errno == libc::ECONNRESET => continue,
                    Err(_) => break,
                };
                if let Ok(Message::Failed { error }) = serde_json::from_slice::<Message>(&buf[..n])
                {
                    return Err(RunError::Setup {
                        message: error,
                        report: report.clone(),
                    });
                }
            }
            return Err(err);
        }

        // Housekeeping while the container builds itself: the cgroups of killed launchers.
        limits::remove_stale_cgroups();

        // Read what the container reports until the channel closes (the workload's execve
        // closes it, being O_CLOEXEC) or PID 1 gives up.
        let mut failure = None;
        let mut exec_error = None;
        let mut reported = false;
        let mut buf = Vec::with_capacity(MESSAGE_CAPACITY);
        loop {
            // While the container is being built, a SIGTERM/SIGINT/SIGHUP/SIGQUIT to the
            // launcher cannot be forwarded (PID 1 has no handler yet): it aborts the start.
            if !sys::poll_readable(chan.as_fd(), 100).map_err(prep("wait for the container"))? {
                if let Some(sig) =
                    sys::take_pending(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT])
                {
                    drop(container);
                    return Err(RunError::Setup {
                        message: format!("interrupted by signal {sig} before the command started"),
                        report: report.clone(),
                    });
                }
                continue;
            }
            let n = match sys::recv_message(chan.as_fd(), &mut buf) {
                Ok(0) => break,
                // A container that exits with a launcher message still unread (it failed before
                // reading "cg") resets the channel: the kernel reports ECONNRESET once, *before*
                // the messages it queued (its failure among them), then delivers them.
                Err(e) if e.errno == libc::ECONNRESET => continue,
                Err(_) => break,
                Ok(n) => n,
            };
            match serde_json::from_slice::<Message>(&buf[..n]) {
                Ok(Message::Report { report: inner }) => {
                    reported = true;
                    report.merge(inner);
                }
                Ok(Message::Failed { error }) => failure = Some(error),
                Ok(Message::ExecFailed { error, .. }) => exec_error = Some(error),
                Ok(Message::Exited { .. }) => {
                    failure = Some("the container reported an exit on the launcher channel".into())
                }
                Err(e) => failure = Some(format!("unreadable message from the container: {e}")),
            }
        }
        drop(chan);
        if !reported && failure.is_none() {
            // PID 1 hardened itself but could not even send its report: its own seccomp
            // filter refused it (a custom profile too strict for the init).
            failure = Some(
                "the container's init stopped after installing the seccomp filter; the profile must allow \
                 sendto, rt_sigprocmask, rt_sigtimedwait, clone/fork, wait4, kill, execve and exit_group"
                    .to_owned(),
            );
        }
        if let Some(message) = failure {
            // PID 1 is on its way out by itself (exit 125): reaped, not killed.
            container.reaped = sys::waitpid(pid, false).is_ok();
            drop(container);
            return Err(RunError::Setup {
                message,
                report: report.clone(),
            });
        }
        observer.started(report);

        // Wait for the workload's end, forwarding signals to PID 1 (it forwards them on). The
        // end is PID 1's exit or, for a caller exiting right after (`exiting_after_run`), its
        // report on the exit channel once it has left the cgroups: the kernel may still be
        // tearing down its namespaces, but nothing of the container runs any more.
        let signals = init::waited_signals();
        let signal_fd = sys::signal_fd(&signals).map_err(prep("wait for the container"))?;
        let status = loop {
            let ready = match &exit_chan {
                Some(exit) => sys::poll_each(&[signal_fd.as_fd(), exit.as_fd()], REAP_CHECK_MS),
                None => sys::poll_each(&[signal_fd.as_fd()], REAP_CHECK_MS),
            }
            .map_err(prep("wait for the container"))?;
            // Past the time limit too: a SIGCHLD another thread of the caller took (one that
            // does not block it, see `block_run_signals`) never reaches the descriptor.
            let signalled = ready.first() == Some(&true);
            let timed_out = !ready.contains(&true);
            if signalled || timed_out {
                match sys::read_signal(signal_fd.as_fd()) {
                    Ok(libc::SIGCHLD) | Err(_) => match sys::waitpid(pid, true) {
                        Ok(Some((_, status))) => {
                            container.reaped = true;
                            break status;
                        }
                        Ok(None) => {}
                        Err(e) => return Err(prep("wait for the container")(e)),
                    },
                    Ok(sig) => {
                        let _ = sys::kill(pid, sig);
                    }
                }
            }
            if let (Some(exit), Some(&true)) = (&exit_chan, ready.get(1)) {
                match sys::recv_message(exit.as_fd(), &mut buf) {
                    Ok(n) if n > 0 => {
                        if let Ok(Message::Exited {
                            code,
                            left_cgroups: true,
                        }) = serde_json::from_slice::<Message>(&buf[..n])
                        {
                            if self.release_pid1 {
                                container.released = true;
                                break WaitStatus::Exited(code);
                            }
                        }
                    }
                    // Interrupted: poll again.
                    Err(e) if e.errno == libc::EINTR => continue,
                    _ => {}
                }
                // PID 1 could not leave its cgroups, or is gone without a word: its exit ends
                // the run.
                exit_chan = None;
            }
        };
        drop(container);
        Ok(Outcome {
            code: status.code(),
            status,
            report: report.clone(),
            exec_error,
        })
    }
}

/// The container's PID 1 and its cgroups, until the run is over.
struct Container {
    pid: i32,
    cgroups: Cgroups,
    /// PID 1 was waited for.
    reaped: bool,
    /// PID 1 reported the workload's end and left the cgroups: it is exiting by itself, and
    /// is reaped later (see [`reap_released`]).
    released: bool,
}

impl Drop for Container {
    /// Kills and reaps PID 1 unless it was reaped or released (the kernel kills the rest of
    /// its PID namespace with it); then the cgroups, now empty, go with `cgroups`.
    fn drop(&mut self) {
        if self.released {
            if let Ok(mut pids) = RELEASED.lock() {
                pids.push(self.pid);
            }
        } else if !self.reaped {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::waitpid(self.pid, false);
        }
    }
}

/// PIDs 1 released by earlier runs of this process and not reaped yet.
static RELEASED: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Reaps the PIDs 1 of earlier runs that have finished exiting (without waiting for the
/// others). Every run calls it first; a process that exits leaves them to the system, as
/// bwrap does.
fn reap_released() {
    if let Ok(mut pids) = RELEASED.lock() {
        pids.retain(|&pid| matches!(sys::waitpid(pid, true), Ok(None)));
    }
}

/// Best effort: writes `bytes` to `file` in `dir` (created 0700) so that a reader sees the old
/// entry, none, or the new one, never half of one; and so that a launcher killed at any point
/// leaves nothing behind. The content goes into an unnamed file (`O_TMPFILE`), which vanishes
/// with its descriptor, and gets its name only once complete; the old entry is unlinked just
/// before (a reader in between compiles the filter itself; of two writers, one name wins). A
/// named temporary file renamed into place would stay forever if the launcher were killed
/// before the rename.
fn store(dir: &std::path::Path, file: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .is_err()
    {
        return;
    }
    let Ok(mut unnamed) = std::fs::OpenOptions::new()
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    else {
        return;
    };
    if unnamed.write_all(bytes).is_err() {
        return;
    }
    let Ok(name) = CString::new(file.as_os_str().as_bytes()) else {
        return;
    };
    let _ = std::fs::remove_file(file);
    let _ = sys::link_unnamed(unnamed.as_fd(), &name);
}

/// Writes `/proc/<pid>/{uid,gid}_map`: as root, the configured range (host root unmapped);
/// unprivileged, the caller's own ids as the workload's (with setgroups denied, as required).
fn write_id_maps(pid: i32, spec: &SandboxSpec, root: bool) -> Result<(), RunError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |file: &str, content: String| {
        std::fs::write(proc.join(file), content).map_err(|e| RunError::Prepare {
            what: format!("write /proc/{pid}/{file}"),
            source: SysError::new("write", e.raw_os_error().unwrap_or(libc::EIO)),
        })
    };
    if root {
        let m = spec.id_mapping;
        write("uid_map", format!("0 {} {}\n", m.host_base, m.count))?;
        write("gid_map", format!("0 {} {}\n", m.host_base, m.count))?;
    } else {
        write("setgroups", "deny".into())?;
        write(
            "uid_map",
            format!("{} {} 1\n", spec.user.uid, sys::geteuid()),
        )?;
        write(
            "gid_map",
            format!("{} {} 1\n", spec.user.gid, sys::getegid()),
        )?;
    }
    Ok(())
}

fn send(plan: &Plan, message: &Message) {
    if let Ok(bytes) = serde_json::to_vec(message) {
        let _ = Linux.send(plan.chan.as_fd(), &bytes);
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The container's PID 1: harden, report, spawn the workload, supervise it. Never returns.
fn container_main(plan: &Plan) -> ! {
    let sys = Linux;
    let mut report = Report::default();
    if let Err(err) = harden::harden(&sys, plan, &mut report) {
        send(
            plan,
            &Message::Failed {
                error: error_chain(&err),
            },
        );
        sys::exit_now(125);
    }
    send(plan, &Message::Report { report });
    // Block before spawning, so no forwarded signal or SIGCHLD is lost before supervise().
    let signals = init::waited_signals();
    if let Err(err) = sys::set_sigmask(&signals, libc::SIG_BLOCK) {
        send(
            plan,
            &Message::Failed {
                error: format!("failed to block signals in the init: {err}"),
            },
        );
        sys::exit_now(125);
    }
    // Spawned, not forked: its child shares PID 1's memory until the execve (no copy of the
    // page tables of this large process), and the execve's error comes back here.
    let code = match harden::spawn_workload(&sys, &plan.argv, &plan.envp) {
        Ok(workload) => {
            // The channel closes when the workload's execve succeeds (O_CLOEXEC) and when this
            // copy is gone.
            let fd = std::os::fd::AsRawFd::as_raw_fd(&plan.chan);
            if let Ok(fd) = u32::try_from(fd) {
                // Never dropped: this process leaves through exit_now.
                let _ = sys::close_range(fd, fd);
            }
            init::supervise(workload)
        }
        Err(err) => {
            let code = harden::exec_failure_code(err);
            let program = plan
                .argv
                .first()
                .map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned())
                .unwrap_or_default();
            send(
                plan,
                &Message::ExecFailed {
                    error: format!("failed to execute {program}: {err}"),
                    code,
                },
            );
            code
        }
    };
    let left_cgroups = init::leave(plan.cgroup_leave.as_deref());
    if let Ok(bytes) = serde_json::to_vec(&Message::Exited { code, left_cgroups }) {
        let _ = Linux.send(plan.exit_chan.as_fd(), &bytes);
    }
    sys::exit_now(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_cache_entry_is_replaced_whole_and_nothing_else_is_written() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("seccomp");
        let file = dir.join("seccomp-default.bin");
        store(&dir, &file, b"first");
        assert_eq!(std::fs::read(&file).expect("stored"), b"first");
        store(&dir, &file, b"second");
        assert_eq!(std::fs::read(&file).expect("replaced"), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["seccomp-default.bin"]);
    }
}
