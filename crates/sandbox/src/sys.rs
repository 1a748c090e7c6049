//! Every raw system call the sandbox makes, behind one errno adaptor ([`cvt`]) and one trait
//! ([`Syscalls`]).
//!
//! This is the only module of the workspace allowed to use `unsafe`; each block names the
//! invariant that makes it sound in a `// SAFETY:` comment. The hardening sequence
//! (`harden.rs`) only calls the [`Syscalls`] trait, so a recording implementation
//! (`record.rs`, tests only) can check the order of the steps without root.
//!
//! Paths cross this boundary as bytes ([`CStr`]), never through UTF-8.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A failed system call: which one, and the errno it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{call}: {}", std::io::Error::from_raw_os_error(*errno))]
pub struct SysError {
    /// The system call (or libc function) that failed.
    pub call: &'static str,
    /// The raw errno.
    pub errno: i32,
}

impl SysError {
    /// Builds an error for `call` with an explicit errno.
    pub fn new(call: &'static str, errno: i32) -> Self {
        Self { call, errno }
    }
}

/// Result of a raw call.
pub type SysResult<T> = Result<T, SysError>;

/// Return values that signal failure with `-1` and errno.
pub trait MinusOne: Copy + PartialEq {
    /// The failure sentinel.
    const MINUS_ONE: Self;
}
impl MinusOne for i32 {
    const MINUS_ONE: Self = -1;
}
impl MinusOne for i64 {
    const MINUS_ONE: Self = -1;
}
impl MinusOne for isize {
    const MINUS_ONE: Self = -1;
}

/// The errno adaptor: turns `-1` into a [`SysError`] carrying the current errno.
pub fn cvt<T: MinusOne>(call: &'static str, ret: T) -> SysResult<T> {
    if ret == T::MINUS_ONE {
        Err(SysError::new(call, errno()))
    } else {
        Ok(ret)
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn fd_from(call: &'static str, ret: i64) -> SysResult<OwnedFd> {
    let fd = cvt(call, ret)?;
    let fd = RawFd::try_from(fd).map_err(|_| SysError::new(call, libc::EBADF))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---- Kernel ABI constants not (uniformly) exported by the libc crate. -------------------------
// From include/uapi/linux/mount.h, openat2.h, capability.h, landlock.h.
pub(crate) const OPEN_TREE_CLONE: u32 = 1;
pub(crate) const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
pub(crate) const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
pub(crate) const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
const FSOPEN_CLOEXEC: u32 = 1;
const FSMOUNT_CLOEXEC: u32 = 1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;
/// `MOUNT_ATTR_*` flags for `fsmount(2)` and `mount_setattr(2)`.
pub mod attr {
    /// Read-only.
    pub const RDONLY: u64 = 0x1;
    /// Ignore set-user-ID and file capabilities.
    pub const NOSUID: u64 = 0x2;
    /// No device access.
    pub const NODEV: u64 = 0x4;
    /// No execution.
    pub const NOEXEC: u64 = 0x8;
}
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// What `fork` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// We are the new process.
    Child,
    /// We are the caller; this is the child's pid.
    Parent(i32),
}

/// How a waited-for process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// It called `exit(code)`.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl WaitStatus {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            WaitStatus::Exited(code) => code,
            WaitStatus::Signaled(sig) => 128 + sig,
        }
    }

    fn from_raw(status: i32) -> Option<Self> {
        if libc::WIFEXITED(status) {
            Some(WaitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(WaitStatus::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }
}

/// One Landlock rule set, in the terms `landlock.rs` resolves it to.
pub use crate::landlock::LandlockPlan;

/// The raw operations the hardening sequence performs, in the terms of the kernel.
///
/// [`Linux`] performs them; the test-only recorder writes them down. Only the hardening
/// sequence and the init use this trait; the launcher's host-side work (`run.rs`, `limits.rs`)
/// uses the free functions of this module.
pub trait Syscalls {
    /// `close_range(2)` every descriptor above 2 except those in `keep`.
    fn close_fds_except(&self, keep: &[RawFd]) -> SysResult<()>;
    /// Unblocks every signal and resets every handler to its default.
    fn reset_signals(&self) -> SysResult<()>;
    /// Sends one message (one `SOCK_SEQPACKET` packet) on the launcher channel.
    fn send(&self, chan: BorrowedFd<'_>, msg: &[u8]) -> SysResult<()>;
    /// Receives one message from the launcher channel (0 bytes: the launcher went away).
    fn recv(&self, chan: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize>;
    /// `unshare(2)`.
    fn unshare(&self, flags: i32) -> SysResult<()>;
    /// `setresuid(2)` with all three ids equal.
    fn setresuid(&self, uid: u32) -> SysResult<()>;
    /// `setresgid(2)` with all three ids equal.
    fn setresgid(&self, gid: u32) -> SysResult<()>;
    /// `setgroups(2)`.
    fn setgroups(&self, gids: &[u32]) -> SysResult<()>;
    /// `sethostname(2)`.
    fn sethostname(&self, name: &[u8]) -> SysResult<()>;
    /// Brings the loopback interface up (`SIOCSIFFLAGS`).
    fn loopback_up(&self) -> SysResult<()>;
    /// Receives the network namespace the launcher made for this container ("ns" and its
    /// descriptor, see [`send_new_netns`]) on `chan` and `setns(2)`s into it.
    fn enter_launcher_netns(&self, chan: BorrowedFd<'_>) -> SysResult<()>;
    /// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE)`: nothing propagates back to the host.
    fn make_rprivate(&self) -> SysResult<()>;
    /// `open_tree(2)` with `OPEN_TREE_CLONE`: a detached copy of the mount at `dir`/`path`.
    fn clone_tree(
        &self,
        dir: Option<BorrowedFd<'_>>,
        path: &CStr,
        recursive: bool,
    ) -> SysResult<OwnedFd>;
    /// `mount_setattr(2)` on the mount `fd` (and below it when `recursive`).
    fn mount_setattr(&self, fd: BorrowedFd<'_>, recursive: bool, set: u64) -> SysResult<()>;
    /// `move_mount(2)` of the mount `from` onto `to` (a descriptor or, without one, a path).
    fn move_mount(
        &self,
        from: BorrowedFd<'_>,
        to: Option<BorrowedFd<'_>>,
        to_path: &CStr,
    ) -> SysResult<()>;
    /// `fsopen` + `fsconfig` + `fsmount`: a new, detached filesystem instance.
    fn new_fs(
        &self,
        fstype: &CStr,
        options: &[(&CStr, Option<&CStr>)],
        attrs: u64,
    ) -> SysResult<OwnedFd>;
    /// Opens `path` below `root` without ever leaving it: `openat2(2)` with `RESOLVE_IN_ROOT |
    /// RESOLVE_NO_MAGICLINKS`, or a walk that refuses every symlink where `openat2` is missing.
    fn open_in_root(
        &self,
        root: BorrowedFd<'_>,
        path: &CStr,
        directory: bool,
    ) -> SysResult<OwnedFd>;
    /// `mkdirat(2)`.
    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> SysResult<()>;
    /// Creates an empty regular file (a bind-mount target), failing if anything exists.
    fn create_file(&self, dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> SysResult<()>;
    /// `symlinkat(2)`.
    fn symlinkat(&self, target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> SysResult<()>;
    /// `fchdir(new_root)`, `pivot_root(".", ".")`, `umount2(".", MNT_DETACH)`, `chdir("/")`.
    fn pivot_root(&self, new_root: BorrowedFd<'_>) -> SysResult<()>;
    /// `chdir(2)`.
    fn chdir(&self, path: &CStr) -> SysResult<()>;
    /// `getcwd(3)`, as bytes.
    fn getcwd(&self) -> SysResult<Vec<u8>>;
    /// `setrlimit(2)`.
    fn setrlimit(&self, resource: u32, soft: u64, hard: u64) -> SysResult<()>;
    /// `prctl(PR_CAPBSET_DROP, cap)`.
    fn capbset_drop(&self, cap: u32) -> SysResult<()>;
    /// `prctl(PR_SET_KEEPCAPS, on)`.
    fn set_keepcaps(&self, on: bool) -> SysResult<()>;
    /// `capset(2)` of the effective, permitted and inheritable sets (bit masks).
    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> SysResult<()>;
    /// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
    fn ambient_clear(&self) -> SysResult<()>;
    /// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)`.
    fn ambient_raise(&self, cap: u32) -> SysResult<()>;
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    fn set_no_new_privs(&self) -> SysResult<()>;
    /// `prctl(PR_SET_DUMPABLE, 0)`: /proc/1 of the init stays closed to the workload.
    fn set_undumpable(&self) -> SysResult<()>;
    /// Applies a Landlock ruleset to this process (through the `landlock` crate).
    fn landlock(
        &self,
        plan: &LandlockPlan,
    ) -> Result<crate::landlock::LandlockOutcome, crate::landlock::LandlockError>;
    /// Installs one seccomp BPF program.
    fn seccomp(&self, program: &[seccompiler::sock_filter]) -> SysResult<()>;
    /// `setsid(2)`.
    fn setsid(&self) -> SysResult<()>;
    /// `prctl(PR_SET_PDEATHSIG, sig)`: `sig` when the parent (the launcher) dies.
    fn set_pdeathsig(&self, sig: i32) -> SysResult<()>;
    /// Writes `0` to an open cgroup v1 `tasks` file: moves this thread into that cgroup.
    fn join_cgroup(&self, tasks: BorrowedFd<'_>) -> SysResult<()>;
    /// Whether the other end of `chan` is still open (no hang-up pending).
    fn peer_alive(&self, chan: BorrowedFd<'_>) -> SysResult<bool>;
    /// Starts `path` as a child with `argv` and `envp` and every signal unblocked. The child
    /// shares this process's memory until its `execve` (`clone(CLONE_VM | CLONE_VFORK)`: no
    /// copy of the page tables of this large process, as a `fork` makes) and reports that
    /// `execve`'s error, which is returned here (the failed child already reaped).
    fn spawn(&self, path: &CStr, argv: &[CString], envp: &[CString]) -> SysResult<i32>;
}

/// The real system calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

fn opt_fd(fd: Option<BorrowedFd<'_>>) -> RawFd {
    fd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd())
}

impl Syscalls for Linux {
    fn close_fds_except(&self, keep: &[RawFd]) -> SysResult<()> {
        let mut keep: Vec<u32> = keep
            .iter()
            .filter_map(|fd| u32::try_from(*fd).ok())
            .filter(|fd| *fd > 2)
            .collect();
        keep.sort_unstable();
        let mut first = 3u32;
        for fd in keep {
            if fd > first {
                close_range(first, fd - 1)?;
            }
            first = first.max(fd + 1);
        }
        close_range(first, u32::MAX)
    }

    fn reset_signals(&self) -> SysResult<()> {
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            // SAFETY: SIG_DFL is always a valid disposition; errors (EINVAL for the signals
            // glibc reserves) are ignored on purpose.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
        set_sigmask(&[], libc::SIG_SETMASK)
    }

    fn send(&self, chan: BorrowedFd<'_>, msg: &[u8]) -> SysResult<()> {
        // SAFETY: `msg` is a valid buffer of `msg.len()` bytes for the duration of the call.
        let n = unsafe {
            libc::send(
                chan.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        cvt("send", n).map(|_| ())
    }

    fn recv(&self, chan: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
        loop {
            // SAFETY: `buf` is a valid, writable buffer of `buf.len()` bytes.
            let n = unsafe { libc::recv(chan.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            match cvt("recv", n) {
                Err(e) if e.errno == libc::EINTR => continue,
                other => return other.map(|n| n.unsigned_abs()),
            }
        }
    }

    fn unshare(&self, flags: i32) -> SysResult<()> {
        // SAFETY: unshare takes no pointers.
        cvt("unshare", unsafe { libc::unshare(flags) }).map(|_| ())
    }

    fn setresuid(&self, uid: u32) -> SysResult<()> {
        // SAFETY: raw syscall with integer arguments only; the raw syscall (not the glibc
        // wrapper) changes only this thread, which is the only one.
        cvt("setresuid", unsafe {
            libc::syscall(libc::SYS_setresuid, uid, uid, uid)
        })
        .map(|_| ())
    }

    fn setresgid(&self, gid: u32) -> SysResult<()> {
        // SAFETY: as for setresuid.
        cvt("setresgid", unsafe {
            libc::syscall(libc::SYS_setresgid, gid, gid, gid)
        })
        .map(|_| ())
    }

    fn setgroups(&self, gids: &[u32]) -> SysResult<()> {
        // SAFETY: `gids` points to `gids.len()` valid gid_t values.
        cvt("setgroups", unsafe {
            libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr())
        })
        .map(|_| ())
    }

    fn sethostname(&self, name: &[u8]) -> SysResult<()> {
        // SAFETY: `name` is valid for `name.len()` bytes.
        cvt("sethostname", unsafe {
            libc::sethostname(name.as_ptr().cast(), name.len())
        })
        .map(|_| ())
    }

    fn loopback_up(&self) -> SysResult<()> {
        loopback_up()
    }

    fn enter_launcher_netns(&self, chan: BorrowedFd<'_>) -> SysResult<()> {
        let ns = loop {
            match recv_fd(chan) {
                Err(e) if e.errno == libc::EINTR => continue,
                Err(e) => return Err(e),
                Ok((payload, Some(fd))) if payload == b"ns" => break fd,
                // EOF (the launcher is gone), or anything else: not what this step waits for.
                Ok(_) => return Err(SysError::new("recvmsg(network namespace)", libc::EPROTO)),
            }
        };
        // SAFETY: setns takes a descriptor this process owns and an integer.
        cvt("setns(CLONE_NEWNET)", unsafe {
            libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET)
        })
        .map(|_| ())
    }

    fn make_rprivate(&self) -> SysResult<()> {
        // SAFETY: every pointer is either NULL or a NUL-terminated literal.
        cvt("mount(MS_REC|MS_PRIVATE)", unsafe {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        })
        .map(|_| ())
    }

    fn clone_tree(
        &self,
        dir: Option<BorrowedFd<'_>>,
        path: &CStr,
        recursive: bool,
    ) -> SysResult<OwnedFd> {
        clone_tree(dir, path, recursive)
    }

    fn mount_setattr(&self, fd: BorrowedFd<'_>, recursive: bool, set: u64) -> SysResult<()> {
        mount_setattr(fd, recursive, set)
    }

    fn move_mount(
        &self,
        from: BorrowedFd<'_>,
        to: Option<BorrowedFd<'_>>,
        to_path: &CStr,
    ) -> SysResult<()> {
        let mut flags = MOVE_MOUNT_F_EMPTY_PATH;
        if to.is_some() && to_path.is_empty() {
            flags |= MOVE_MOUNT_T_EMPTY_PATH;
        }
        // SAFETY: both paths are NUL-terminated; the descriptors are open for the call.
        cvt("move_mount", unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                from.as_raw_fd(),
                c"".as_ptr(),
                opt_fd(to),
                to_path.as_ptr(),
                flags,
            )
        })
        .map(|_| ())
    }

    fn new_fs(
        &self,
        fstype: &CStr,
        options: &[(&CStr, Option<&CStr>)],
        attrs: u64,
    ) -> SysResult<OwnedFd> {
        // SAFETY: `fstype` is NUL-terminated.
        let fs = fd_from("fsopen", unsafe {
            libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC)
        })?;
        for (key, value) in options {
            let (cmd, value_ptr) = match value {
                Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
                None => (FSCONFIG_SET_FLAG, std::ptr::null()),
            };
            // SAFETY: key and value are NUL-terminated (or NULL for a flag).
            cvt("fsconfig", unsafe {
                libc::syscall(
                    libc::SYS_fsconfig,
                    fs.as_raw_fd(),
                    cmd,
                    key.as_ptr(),
                    value_ptr,
                    0,
                )
            })?;
        }
        // SAFETY: no pointers besides NULL.
        cvt("fsconfig(FSCONFIG_CMD_CREATE)", unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        })?;
        // SAFETY: integer arguments only.
        fd_from("fsmount", unsafe {
            libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
        })
    }

    fn open_in_root(
        &self,
        root: BorrowedFd<'_>,
        path: &CStr,
        directory: bool,
    ) -> SysResult<OwnedFd> {
        open_in_root(root, path, directory)
    }

    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> SysResult<()> {
        // SAFETY: `name` is NUL-terminated.
        cvt("mkdirat", unsafe {
            libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode)
        })
        .map(|_| ())
    }

    fn create_file(&self, dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> SysResult<()> {
        // SAFETY: `name` is NUL-terminated; O_EXCL|O_NOFOLLOW never follows a planted link.
        let fd = fd_from(
            "openat(O_CREAT)",
            i64::from(unsafe {
                libc::openat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC,
                    mode,
                )
            }),
        )?;
        drop(fd);
        Ok(())
    }

    fn symlinkat(&self, target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
        // SAFETY: both strings are NUL-terminated.
        cvt("symlinkat", unsafe {
            libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr())
        })
        .map(|_| ())
    }

    fn pivot_root(&self, new_root: BorrowedFd<'_>) -> SysResult<()> {
        // SAFETY: fchdir takes a descriptor only.
        cvt("fchdir", unsafe { libc::fchdir(new_root.as_raw_fd()) })?;
        // pivot_root(".", ".") stacks the old root on top of the new one; detaching it then
        // leaves only the new root, without needing a directory to park the old one in.
        // SAFETY: both paths are NUL-terminated literals.
        cvt("pivot_root", unsafe {
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr())
        })?;
        // SAFETY: NUL-terminated literal.
        cvt("umount2(MNT_DETACH)", unsafe {
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH)
        })?;
        self.chdir(c"/")
    }

    fn chdir(&self, path: &CStr) -> SysResult<()> {
        // SAFETY: `path` is NUL-terminated.
        cvt("chdir", unsafe { libc::chdir(path.as_ptr()) }).map(|_| ())
    }

    fn getcwd(&self) -> SysResult<Vec<u8>> {
        // Not zeroed: only the pages the kernel writes are touched (a page fault is ~2 µs on
        // the benchmark host, and this runs at every start).
        let mut buf: Vec<u8> = Vec::with_capacity(libc::PATH_MAX as usize + 1);
        // SAFETY: the spare capacity is writable for `buf.capacity()` bytes; the raw syscall
        // returns the length including the NUL, or "(unreachable)" style paths checked later.
        let n = cvt("getcwd", unsafe {
            libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.capacity())
        })?;
        let len = usize::try_from(n).unwrap_or(0).min(buf.capacity());
        // SAFETY: the kernel initialized the first `len` bytes (the path and its NUL).
        unsafe { buf.set_len(len) };
        buf.truncate(len.saturating_sub(1));
        Ok(buf)
    }

    fn setrlimit(&self, resource: u32, soft: u64, hard: u64) -> SysResult<()> {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: `lim` is a valid rlimit.
        cvt("setrlimit", unsafe { libc::setrlimit(resource as _, &lim) }).map(|_| ())
    }

    fn capbset_drop(&self, cap: u32) -> SysResult<()> {
        prctl(
            "prctl(PR_CAPBSET_DROP)",
            libc::PR_CAPBSET_DROP,
            u64::from(cap),
        )
    }

    fn set_keepcaps(&self, on: bool) -> SysResult<()> {
        prctl(
            "prctl(PR_SET_KEEPCAPS)",
            libc::PR_SET_KEEPCAPS,
            u64::from(on),
        )
    }

    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let lo = |m: u64| (m & 0xffff_ffff) as u32;
        let hi = |m: u64| (m >> 32) as u32;
        let data = [
            CapData {
                effective: lo(effective),
                permitted: lo(permitted),
                inheritable: lo(inheritable),
            },
            CapData {
                effective: hi(effective),
                permitted: hi(permitted),
                inheritable: hi(inheritable),
            },
        ];
        // SAFETY: version 3 takes a header and an array of two CapData, both valid here.
        cvt("capset", unsafe {
            libc::syscall(libc::SYS_capset, &mut header, data.as_ptr())
        })
        .map(|_| ())
    }

    fn ambient_clear(&self) -> SysResult<()> {
        // SAFETY: integer arguments only.
        cvt("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        })
        .map(|_| ())
    }

    fn ambient_raise(&self, cap: u32) -> SysResult<()> {
        // SAFETY: integer arguments only.
        cvt("prctl(PR_CAP_AMBIENT_RAISE)", unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                u64::from(cap),
                0,
                0,
            )
        })
        .map(|_| ())
    }

    fn set_no_new_privs(&self) -> SysResult<()> {
        prctl("prctl(PR_SET_NO_NEW_PRIVS)", libc::PR_SET_NO_NEW_PRIVS, 1)
    }

    fn set_pdeathsig(&self, sig: i32) -> SysResult<()> {
        let sig = u64::try_from(sig).map_err(|_| SysError::new("prctl", libc::EINVAL))?;
        prctl("prctl(PR_SET_PDEATHSIG)", libc::PR_SET_PDEATHSIG, sig)
    }

    fn join_cgroup(&self, tasks: BorrowedFd<'_>) -> SysResult<()> {
        // SAFETY: writes one byte from a static buffer to a descriptor this process holds.
        cvt("write(tasks)", unsafe {
            libc::write(tasks.as_raw_fd(), b"0".as_ptr().cast(), 1)
        })
        .map(|_| ())
    }

    fn peer_alive(&self, chan: BorrowedFd<'_>) -> SysResult<bool> {
        let mut pfd = libc::pollfd {
            fd: chan.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid pollfd; a zero timeout only samples the state.
        cvt("poll", unsafe { libc::poll(&mut pfd, 1, 0) })?;
        Ok(pfd.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) == 0)
    }

    fn set_undumpable(&self) -> SysResult<()> {
        prctl("prctl(PR_SET_DUMPABLE)", libc::PR_SET_DUMPABLE, 0)
    }

    fn landlock(
        &self,
        plan: &LandlockPlan,
    ) -> Result<crate::landlock::LandlockOutcome, crate::landlock::LandlockError> {
        crate::landlock::apply(plan)
    }

    fn seccomp(&self, program: &[seccompiler::sock_filter]) -> SysResult<()> {
        seccompiler::apply_filter(program).map_err(|err| match err {
            seccompiler::Error::Seccomp(e) | seccompiler::Error::Prctl(e) => {
                SysError::new("seccomp", e.raw_os_error().unwrap_or(libc::EINVAL))
            }
            _ => SysError::new("seccomp", libc::EINVAL),
        })
    }

    fn setsid(&self) -> SysResult<()> {
        // SAFETY: setsid takes no arguments.
        cvt("setsid", unsafe { libc::setsid() }).map(|_| ())
    }

    fn spawn(&self, path: &CStr, argv: &[CString], envp: &[CString]) -> SysResult<i32> {
        let argv_ptrs = null_terminated(argv);
        let envp_ptrs = null_terminated(envp);
        let failed = std::sync::atomic::AtomicI32::new(0);
        let job = SpawnJob {
            path: path.as_ptr(),
            argv: argv_ptrs.as_ptr(),
            envp: envp_ptrs.as_ptr(),
            failed: &failed,
        };
        // SAFETY: `spawn_child` touches nothing of this process but `job`, its stack and errno
        // (raw system calls only: no allocation, no lock); `job` and the pointer arrays it
        // points to outlive the call.
        let pid = unsafe {
            vfork_call(
                spawn_child,
                std::ptr::from_ref(&job).cast_mut().cast(),
                SPAWN_STACK,
            )
        }?;
        match failed.load(std::sync::atomic::Ordering::SeqCst) {
            0 => Ok(pid),
            err => {
                // The child exited right after its execve failed: reap it.
                let _ = waitpid(pid, false);
                Err(SysError::new("execve", err))
            }
        }
    }
}

/// Brings the loopback interface of the calling process up (`SIOCSIFFLAGS`).
fn loopback_up() -> SysResult<()> {
    // SAFETY: socket takes no pointers.
    let sock = fd_from(
        "socket",
        i64::from(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }),
    )?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq for SIOCGIFFLAGS, which fills ifru_flags.
    cvt("ioctl(SIOCGIFFLAGS)", unsafe {
        libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req)
    })?;
    // SAFETY: the union member ifru_flags was just written by the kernel.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: `req` is a valid ifreq for SIOCSIFFLAGS.
    cvt("ioctl(SIOCSIFFLAGS)", unsafe {
        libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req)
    })
    .map(|_| ())
}

/// Creates the container's network namespace, owned by its user namespace and with `lo` up,
/// and sends it to PID 1 on `chan` ("ns" and the descriptor, read by
/// [`Syscalls::enter_launcher_netns`]). `pid` is PID 1 as the launcher sees it: its child, not
/// yet reaped, so the number cannot name another process (if PID 1 already died, what the
/// helper makes is never entered, and the run fails with PID 1's own error).
///
/// Why not `CLONE_NEWNET` in PID 1's clone: the kernel takes ~0.3 ms to set up a network
/// namespace (its loopback device, every per-namespace sysctl), the slowest of them all. Made
/// here, by a helper sharing the launcher's memory (`CLONE_VM | CLONE_VFORK`: no copy of its
/// page tables) on the launcher's CPU, it overlaps PID 1's mounts on the other one. The helper
/// joins PID 1's user namespace (so the new namespace is the container's own, as with the
/// clone flag), makes the namespace, sends it and exits; it runs nothing else.
pub fn send_new_netns(pid: i32, chan: BorrowedFd<'_>) -> SysResult<()> {
    let userns = CString::new(format!("/proc/{pid}/ns/user"))
        .map_err(|_| SysError::new("open(/proc/PID/ns/user)", libc::EINVAL))?;
    let failed_step = std::sync::atomic::AtomicUsize::new(usize::MAX);
    let failed_errno = std::sync::atomic::AtomicI32::new(0);
    let job = NetnsJob {
        userns: userns.as_ptr(),
        chan: chan.as_raw_fd(),
        failed_step: &failed_step,
        failed_errno: &failed_errno,
    };
    // SAFETY: the helper allocates nothing, takes no lock and touches nothing of this process
    // but `job` (which outlives the call), its stack and errno. Its descriptor table is its own
    // copy (no CLONE_FILES), so what it opens is closed when it exits.
    let helper = unsafe {
        vfork_call(
            netns_helper,
            std::ptr::from_ref(&job).cast_mut().cast(),
            NETNS_STACK,
        )
    }?;
    let _ = waitpid(helper, false);
    match failed_step.load(std::sync::atomic::Ordering::SeqCst) {
        usize::MAX => Ok(()),
        step => Err(SysError::new(
            NETNS_STEPS
                .get(step)
                .copied()
                .unwrap_or("network namespace"),
            failed_errno.load(std::sync::atomic::Ordering::SeqCst),
        )),
    }
}

/// What the helper of [`send_new_netns`] needs, prepared by its parent.
struct NetnsJob<'a> {
    /// `/proc/<pid>/ns/user` of PID 1.
    userns: *const libc::c_char,
    /// The launcher's end of the container channel.
    chan: RawFd,
    /// The index in [`NETNS_STEPS`] of the step that failed.
    failed_step: &'a std::sync::atomic::AtomicUsize,
    /// Its errno.
    failed_errno: &'a std::sync::atomic::AtomicI32,
}

/// The helper's steps, in order (the names of its errors).
const NETNS_STEPS: &[&str] = &[
    "open(/proc/PID/ns/user)",
    "setns(CLONE_NEWUSER)",
    "unshare(CLONE_NEWNET)",
    "bring lo up",
    "open(/proc/self/ns/net)",
    "sendmsg(network namespace)",
];

/// Stack of the helper of [`send_new_netns`]: a handful of system calls, one `ifreq`.
const NETNS_STACK: usize = 16 * 1024;

/// The helper of [`send_new_netns`], sharing the launcher's memory: the steps of
/// [`NETNS_STEPS`], then exit (0, or 1 with the failed step recorded in the job).
extern "C" fn netns_helper(job: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `job` is the parent's `NetnsJob`, alive while the parent is suspended.
    let job = unsafe { &*job.cast::<NetnsJob<'_>>() };
    let code = match netns_helper_steps(job) {
        Ok(()) => 0,
        Err((step, errno)) => {
            job.failed_errno
                .store(errno, std::sync::atomic::Ordering::SeqCst);
            job.failed_step
                .store(step, std::sync::atomic::Ordering::SeqCst);
            1
        }
    };
    // SAFETY: ends this helper only.
    unsafe { libc::syscall(libc::SYS_exit, code) };
    code
}

fn netns_helper_steps(job: &NetnsJob<'_>) -> Result<(), (usize, i32)> {
    let at = |step: usize| move |e: SysError| (step, e.errno);
    // SAFETY: `job.userns` is NUL-terminated and outlives the helper.
    let userns = fd_from(
        "open",
        i64::from(unsafe { libc::open(job.userns, libc::O_RDONLY | libc::O_CLOEXEC) }),
    )
    .map_err(at(0))?;
    // SAFETY: setns takes a descriptor and an integer.
    cvt("setns", unsafe {
        libc::setns(userns.as_raw_fd(), libc::CLONE_NEWUSER)
    })
    .map_err(at(1))?;
    // SAFETY: unshare takes an integer.
    cvt("unshare", unsafe { libc::unshare(libc::CLONE_NEWNET) }).map_err(at(2))?;
    loopback_up().map_err(at(3))?;
    // SAFETY: NUL-terminated literal.
    let ns = fd_from(
        "open",
        i64::from(unsafe {
            libc::open(
                c"/proc/self/ns/net".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        }),
    )
    .map_err(at(4))?;
    send_fd(job.chan, b"ns", ns.as_raw_fd()).map_err(at(5))
}

/// Room for one `SCM_RIGHTS` control message carrying one descriptor (`CMSG_SPACE(4)` is 24
/// bytes on 64-bit Linux), 8-byte aligned as `cmsghdr` requires.
type FdControl = [u64; 4];

/// Sends `payload` with descriptor `fd` attached (`SCM_RIGHTS`). Allocates nothing.
fn send_fd(chan: RawFd, payload: &[u8], fd: RawFd) -> SysResult<()> {
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    let mut control: FdControl = [0; 4];
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as usize;
    // SAFETY: `msg` has a control buffer of `msg_controllen` bytes (24, within `control`'s 32),
    // so the first header and its 4 data bytes lie inside `control`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    // SAFETY: `msg` and everything it points to are valid for the call.
    cvt("sendmsg", unsafe {
        libc::sendmsg(chan, &msg, libc::MSG_NOSIGNAL)
    })
    .map(|_| ())
}

/// Receives one message of at most 16 bytes and the descriptor attached to it, if any (made
/// close-on-exec). No bytes and no descriptor: the peer is gone.
fn recv_fd(chan: BorrowedFd<'_>) -> SysResult<(Vec<u8>, Option<OwnedFd>)> {
    let mut payload = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    let mut control: FdControl = [0; 4];
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of::<FdControl>();
    // SAFETY: `msg` and the buffers it points to are valid for the call.
    let n = cvt("recvmsg", unsafe {
        libc::recvmsg(chan.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC)
    })?;
    let mut fd = None;
    // SAFETY: the kernel wrote `msg_controllen` bytes of `control`; the CMSG macros walk only
    // within them, and a descriptor received with SCM_RIGHTS is this process's to own.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let n = n.unsigned_abs().min(payload.len());
    Ok((payload[..n].to_vec(), fd))
}

/// Runs `child(arg)` in a child process that shares this one's memory, on a stack of its own of
/// `stack_bytes` (`clone(CLONE_VM | CLONE_VFORK)`: no copy of the page tables), and returns its
/// pid once it has called `execve` or exited; this thread is suspended until then. The stack is
/// reserved, not zeroed: only the pages the child reaches are touched.
///
/// # Safety
///
/// `child` must touch nothing of this process but `arg`, its own stack and errno (this thread's,
/// which is suspended): no allocation, no lock, no other thread-local state. `arg` must stay
/// valid until this returns.
unsafe fn vfork_call(
    child: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
    stack_bytes: usize,
) -> SysResult<i32> {
    let mut stack: Vec<u128> = Vec::with_capacity(stack_bytes / 16);
    // SAFETY: one past the end of the reservation, 16-byte aligned (stacks grow down).
    let top = unsafe { stack.as_mut_ptr().add(stack.capacity()) }.cast::<libc::c_void>();
    // SAFETY: `child` runs on `stack`, which outlives it: with CLONE_VFORK this thread is
    // suspended until the child has called execve or exited; the rest is the caller's promise.
    let pid = unsafe {
        libc::clone(
            child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            arg,
        )
    };
    let result = if pid < 0 {
        Err(SysError::new("clone(CLONE_VM|CLONE_VFORK)", errno()))
    } else {
        Ok(pid)
    };
    drop(stack);
    result
}

/// What the child of [`Syscalls::spawn`] needs, prepared by its parent.
struct SpawnJob<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// The execve's errno when it fails.
    failed: &'a std::sync::atomic::AtomicI32,
}

/// Stack of the child of [`Syscalls::spawn`]: it only makes three system calls.
const SPAWN_STACK: usize = 16 * 1024;

/// The child of [`Syscalls::spawn`], sharing its parent's memory: unblocks every signal and
/// executes the workload, or records why it could not and exits.
extern "C" fn spawn_child(job: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `job` is the parent's `SpawnJob`, alive while the parent is suspended.
    let job = unsafe { &*job.cast::<SpawnJob<'_>>() };
    let empty = [0u64; 1];
    // SAFETY: raw system calls on data that outlives them (see `SpawnJob`); a sigset of the
    // kernel's size (8 bytes) is passed with that size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            empty.as_ptr(),
            std::ptr::null::<u64>(),
            8usize,
        );
        libc::syscall(libc::SYS_execve, job.path, job.argv, job.envp);
    }
    job.failed
        .store(errno().max(1), std::sync::atomic::Ordering::SeqCst);
    // SAFETY: ends this child only (not the parent's other threads: there are none).
    unsafe { libc::syscall(libc::SYS_exit, 127) };
    127
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn prctl(call: &'static str, option: i32, arg: u64) -> SysResult<()> {
    // SAFETY: the options used here take integer arguments only.
    cvt(call, unsafe { libc::prctl(option, arg, 0u64, 0u64, 0u64) }).map(|_| ())
}

// ---- Free functions: host-side (launcher, doctor, init, probe) raw calls. ----------------------

/// Receives one message from a `SOCK_SEQPACKET` channel into `buf`, which is cleared first and
/// holds at most its capacity (the rest of a longer message is cut off, as with `recv`).
/// Unlike a zeroed buffer, only the pages the message fills are touched.
pub fn recv_message(chan: BorrowedFd<'_>, buf: &mut Vec<u8>) -> SysResult<usize> {
    buf.clear();
    loop {
        // SAFETY: the spare capacity is writable for `buf.capacity()` bytes.
        let n = unsafe { libc::recv(chan.as_raw_fd(), buf.as_mut_ptr().cast(), buf.capacity(), 0) };
        match cvt("recv", n) {
            Err(e) if e.errno == libc::EINTR => continue,
            Err(e) => return Err(e),
            Ok(n) => {
                let n = n.unsigned_abs().min(buf.capacity());
                // SAFETY: the kernel initialized the first `n` bytes.
                unsafe { buf.set_len(n) };
                return Ok(n);
            }
        }
    }
}

/// `close_range(first, last, 0)`.
pub fn close_range(first: u32, last: u32) -> SysResult<()> {
    if first > last {
        return Ok(());
    }
    // SAFETY: integer arguments only.
    cvt("close_range", unsafe {
        libc::syscall(libc::SYS_close_range, first, last, 0)
    })
    .map(|_| ())
}

/// Gives the open, unnamed file `fd` (`O_TMPFILE`) the name `path`: `linkat` through
/// `/proc/self/fd/N` with `AT_SYMLINK_FOLLOW` (which needs no capability, unlike
/// `AT_EMPTY_PATH`). Fails with `EEXIST` when `path` exists.
pub fn link_unnamed(fd: BorrowedFd<'_>, path: &CStr) -> SysResult<()> {
    let source = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| SysError::new("linkat", libc::EINVAL))?;
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    cvt("linkat", unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            source.as_ptr(),
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(|_| ())
}

/// A detached recursive copy of the mount tree at `path` (`open_tree` with `OPEN_TREE_CLONE`),
/// made private (`mount_setattr` with `MS_PRIVATE`, recursively): a clone of a shared mount
/// starts in its source's peer group, and a shared tree cannot be moved into the container's
/// namespace. The caller's mount namespace is not touched (copying it, then tearing it down
/// at exit, cost every start a copy of all the host's mounts).
pub fn clone_tree_private(path: &CStr) -> SysResult<OwnedFd> {
    let tree = clone_tree(None, path, true)?;
    let attr = MountAttr {
        attr_set: 0,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr of the size passed; `tree` is open for the call.
    cvt("mount_setattr(MS_PRIVATE)", unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as u32 | libc::AT_RECURSIVE as u32,
            &attr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(tree)
}

/// `open_tree(dir, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`.
pub fn clone_tree(dir: Option<BorrowedFd<'_>>, path: &CStr, recursive: bool) -> SysResult<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    // SAFETY: `path` is NUL-terminated; the descriptor (if any) is open for the call.
    fd_from("open_tree", unsafe {
        libc::syscall(libc::SYS_open_tree, opt_fd(dir), path.as_ptr(), flags)
    })
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set: set})`.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, set: u64) -> SysResult<()> {
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `attr` is a valid mount_attr of the size passed.
    cvt("mount_setattr", unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(|_| ())
}

/// Opens `path` inside `root` (see [`Syscalls::open_in_root`]).
pub fn open_in_root(root: BorrowedFd<'_>, path: &CStr, directory: bool) -> SysResult<OwnedFd> {
    let mut flags = libc::O_PATH | libc::O_CLOEXEC;
    if directory {
        flags |= libc::O_DIRECTORY;
    }
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `path` is NUL-terminated and `how` is a valid open_how of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how,
            std::mem::size_of::<OpenHow>(),
        )
    };
    match fd_from("openat2", ret) {
        Err(e) if e.errno == libc::ENOSYS => walk_no_follow(root, path, flags),
        other => other,
    }
}

/// The fallback for kernels without `openat2`: one component at a time, `O_NOFOLLOW`, and any
/// symlink or `..` is an error (stricter than `RESOLVE_IN_ROOT`, never weaker).
fn walk_no_follow(root: BorrowedFd<'_>, path: &CStr, last_flags: i32) -> SysResult<OwnedFd> {
    let parts: Vec<&[u8]> = path
        .to_bytes()
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    // SAFETY: dup of a valid descriptor.
    let mut cur = fd_from(
        "fcntl(F_DUPFD_CLOEXEC)",
        i64::from(unsafe { libc::fcntl(root.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) }),
    )?;
    for (i, part) in parts.iter().enumerate() {
        if *part == b".." {
            return Err(SysError::new("open (no-follow walk)", libc::EXDEV));
        }
        let name = CString::new(*part)
            .map_err(|_| SysError::new("open (no-follow walk)", libc::EINVAL))?;
        let flags = if i + 1 == parts.len() {
            last_flags
        } else {
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC
        };
        // SAFETY: `name` is NUL-terminated; O_NOFOLLOW makes a symlink fail (ELOOP/ENOTDIR).
        let next = fd_from(
            "openat(O_NOFOLLOW)",
            i64::from(unsafe {
                libc::openat(cur.as_raw_fd(), name.as_ptr(), flags | libc::O_NOFOLLOW)
            }),
        )?;
        let st = fstat(next.as_fd_borrowed())?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(SysError::new("open (no-follow walk)", libc::ELOOP));
        }
        cur = next;
    }
    Ok(cur)
}

trait AsFdBorrowed {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
}
impl AsFdBorrowed for OwnedFd {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

/// `fstat(2)`.
pub fn fstat(fd: BorrowedFd<'_>) -> SysResult<libc::stat> {
    // SAFETY: stat is plain old data; all-zero is valid and the kernel overwrites it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    cvt("fstat", unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `fork(2)` through glibc (which resets its own locks in the child).
pub fn fork() -> SysResult<Fork> {
    // SAFETY: the callers are single-threaded (the CLI and the container init), so the child
    // inherits no lock held by another thread.
    match cvt("fork", unsafe { libc::fork() })? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// `clone(flags | SIGCHLD)` with fork semantics (no new stack): the child starts in the new
/// namespaces named by `flags`.
pub fn clone_namespaces(flags: i32) -> SysResult<Fork> {
    // SAFETY: a NULL stack gives fork semantics (the child runs on a copy of this stack); the
    // caller is single-threaded, so no lock can be held by a thread that does not exist in the
    // child. The remaining pointer arguments are NULL.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            i64::from(flags) | i64::from(libc::SIGCHLD),
            std::ptr::null::<libc::c_void>(),
            std::ptr::null::<libc::c_int>(),
            std::ptr::null::<libc::c_int>(),
            0u64,
        )
    };
    match cvt("clone", ret)? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(i32::try_from(pid).unwrap_or(i32::MAX))),
    }
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`.
pub fn seqpacket_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    cvt("socketpair", unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: the kernel just returned two new descriptors that nobody else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `waitpid(pid, WNOHANG?)`; `Ok(None)` when nothing changed (or only a stop).
pub fn waitpid(pid: i32, nohang: bool) -> SysResult<Option<(i32, WaitStatus)>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int.
        let ret =
            unsafe { libc::waitpid(pid, &mut status, if nohang { libc::WNOHANG } else { 0 }) };
        match cvt("waitpid", ret) {
            Err(e) if e.errno == libc::EINTR => continue,
            Err(e) => return Err(e),
            Ok(0) => return Ok(None),
            Ok(got) => return Ok(WaitStatus::from_raw(status).map(|s| (got, s))),
        }
    }
}

/// `kill(2)`.
pub fn kill(pid: i32, sig: i32) -> SysResult<()> {
    // SAFETY: integer arguments only.
    cvt("kill", unsafe { libc::kill(pid, sig) }).map(|_| ())
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain old data, initialised by sigemptyset right away.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &sig in signals {
        // SAFETY: `set` is a valid sigset_t; an invalid signal number only returns EINVAL.
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    set
}

/// `sigprocmask(how, signals)`.
pub fn set_sigmask(signals: &[i32], how: i32) -> SysResult<()> {
    let set = sigset(signals);
    // SAFETY: `set` is valid; the old mask is not requested.
    cvt("sigprocmask", unsafe {
        libc::sigprocmask(how, &set, std::ptr::null_mut())
    })
    .map(|_| ())
}

/// `sigwaitinfo(2)` on `signals` (which must be blocked); returns the signal number.
pub fn sigwait(signals: &[i32]) -> SysResult<i32> {
    let set = sigset(signals);
    loop {
        // SAFETY: `set` is valid; the siginfo is not requested.
        let ret = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        match cvt("sigwaitinfo", ret) {
            Err(e) if e.errno == libc::EINTR => continue,
            other => return other,
        }
    }
}

/// A pending signal among `signals` (which must be blocked), without waiting.
pub fn take_pending(signals: &[i32]) -> Option<i32> {
    let set = sigset(signals);
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` and `zero` are valid; the siginfo is not requested.
    let ret = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
    (ret > 0).then_some(ret)
}

/// `poll(2)` for input on one descriptor; `Ok(true)` when readable (or hung up).
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> SysResult<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd.
    match cvt("poll", unsafe { libc::poll(&mut pfd, 1, timeout_ms) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.errno == libc::EINTR => Ok(false),
        Err(e) => Err(e),
    }
}

/// `signalfd(2)` for `signals` (which must stay blocked), close-on-exec and non-blocking: they
/// become readable as data, so one `poll` waits for them and for a descriptor, and a read
/// after a wake-up whose signal another thread took returns `EAGAIN` instead of waiting.
pub fn signal_fd(signals: &[i32]) -> SysResult<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: `set` is valid; -1 asks for a new descriptor.
    let fd = cvt("signalfd", unsafe {
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    })?;
    // SAFETY: the kernel just returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The number of the next signal queued on a [`signal_fd`] (`EAGAIN` if there is none).
pub fn read_signal(fd: BorrowedFd<'_>) -> SysResult<i32> {
    // SAFETY: signalfd_siginfo is plain old data.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: `info` has room for the `size` bytes read into it.
        let ret = unsafe { libc::read(fd.as_raw_fd(), (&raw mut info).cast(), size) };
        match cvt("read(signalfd)", ret) {
            Err(e) if e.errno == libc::EINTR => continue,
            Err(e) => return Err(e),
            Ok(n) if usize::try_from(n).ok() == Some(size) => {
                return i32::try_from(info.ssi_signo)
                    .map_err(|_| SysError::new("read(signalfd)", libc::EINVAL));
            }
            Ok(_) => return Err(SysError::new("read(signalfd)", libc::EIO)),
        }
    }
}

/// `poll(2)` for input on each of `fds`, for at most `timeout_ms` (-1: no limit); which of
/// them are readable (or hung up). An interruption or the time limit returns none.
pub fn poll_each(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> SysResult<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let count = libc::nfds_t::try_from(pfds.len()).unwrap_or(0);
    // SAFETY: `pfds` holds `count` valid pollfds.
    match cvt("poll", unsafe {
        libc::poll(pfds.as_mut_ptr(), count, timeout_ms)
    }) {
        Ok(_) => Ok(pfds.iter().map(|p| p.revents != 0).collect()),
        Err(e) if e.errno == libc::EINTR => Ok(vec![false; pfds.len()]),
        Err(e) => Err(e),
    }
}

/// `_exit(2)`: leaves without running destructors or atexit handlers (the forked copies of the
/// launcher must not flush or free what belongs to the launcher).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of this process.
    unsafe { libc::_exit(code) }
}

/// `geteuid(2)`.
pub fn geteuid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// `getegid(2)`.
pub fn getegid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getegid() }
}

/// `getpid(2)`.
pub fn getpid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getpid() }
}

/// The Landlock ABI version of the running kernel (`None`: not supported or disabled).
pub fn landlock_abi() -> Option<i32> {
    // SAFETY: with a NULL attr, size 0 and the VERSION flag the call only returns a number.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(ret).ok().filter(|v| *v > 0)
}

/// Does this kernel support seccomp filters (`SECCOMP_GET_ACTION_AVAIL` of `SECCOMP_RET_ERRNO`)?
pub fn seccomp_filter_supported() -> bool {
    let action: u32 = libc::SECCOMP_RET_ERRNO;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads a u32 from a valid pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            2u32, /* SECCOMP_GET_ACTION_AVAIL */
            0u32,
            &action,
        )
    };
    ret == 0
}

/// Does the kernel know `openat2(2)`? (`ENOSYS` means no.)
pub fn openat2_supported() -> bool {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT,
    };
    // SAFETY: NUL-terminated literal path and a valid open_how.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            &how,
            std::mem::size_of::<OpenHow>(),
        )
    };
    match fd_from("openat2", ret) {
        Ok(_) => true,
        Err(e) => e.errno != libc::ENOSYS,
    }
}

/// Does the kernel know the new mount API (`mount_setattr(2)`, Linux 5.12)? Probed with an
/// invalid descriptor and no attributes: anything but `ENOSYS` means the call exists.
pub fn mount_api_supported() -> bool {
    let attr = MountAttr {
        attr_set: 0,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: an invalid descriptor and a valid mount_attr: the kernel fails with EBADF.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    ret == 0 || errno() != libc::ENOSYS
}

/// Raw probes the in-container test binary uses to check, from the inside, that a call is
/// refused. Each returns the errno (`Ok(())` means the call was allowed).
pub mod probe {
    use super::*;

    fn errno_of(ret: i64) -> Result<i64, i32> {
        if ret == -1 {
            Err(errno())
        } else {
            Ok(ret)
        }
    }

    fn close_if_fd(ret: Result<i64, i32>) -> Result<(), i32> {
        ret.map(|fd| {
            if let Ok(fd) = RawFd::try_from(fd) {
                // SAFETY: the call returned a new descriptor that we own and close here.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        })
    }

    /// `mount("none", target, "tmpfs", 0, NULL)`.
    pub fn mount_tmpfs(target: &CStr) -> Result<(), i32> {
        // SAFETY: NUL-terminated strings and a NULL data pointer.
        let ret = unsafe {
            libc::mount(
                c"none".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        errno_of(i64::from(ret)).map(|_| ())
    }

    /// `unshare(flags)`.
    pub fn unshare(flags: i32) -> Result<(), i32> {
        // SAFETY: integer argument only.
        errno_of(i64::from(unsafe { libc::unshare(flags) })).map(|_| ())
    }

    /// `setns(fd, 0)` on `/proc/self/ns/<ns>` opened by the caller.
    pub fn setns(fd: BorrowedFd<'_>) -> Result<(), i32> {
        // SAFETY: integer arguments only.
        errno_of(i64::from(unsafe { libc::setns(fd.as_raw_fd(), 0) })).map(|_| ())
    }

    /// `ptrace(PTRACE_PEEKDATA, getpid())`: harmless either way (a process cannot trace
    /// itself: ESRCH when ptrace is allowed, EPERM from a filter).
    pub fn ptrace_peek_self() -> Result<(), i32> {
        // SAFETY: PEEKDATA of an untraced process fails before reading the address.
        errno_of(unsafe { libc::syscall(libc::SYS_ptrace, libc::PTRACE_PEEKDATA, getpid(), 0, 0) })
            .map(|_| ())
    }

    /// `bpf(BPF_MAP_CREATE)` of a tiny array map.
    pub fn bpf_map_create() -> Result<(), i32> {
        // union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries.
        let mut attr = [0u32; 32];
        attr[0] = 2; // BPF_MAP_TYPE_ARRAY
        attr[1] = 4;
        attr[2] = 4;
        attr[3] = 1;
        // SAFETY: `attr` is a zeroed bpf_attr-sized buffer of the length passed.
        close_if_fd(errno_of(unsafe {
            libc::syscall(
                libc::SYS_bpf,
                0,
                attr.as_ptr(),
                std::mem::size_of_val(&attr),
            )
        }))
    }

    /// `keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)`.
    pub fn keyctl() -> Result<(), i32> {
        // SAFETY: integer arguments only.
        errno_of(unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) }).map(|_| ())
    }

    /// `add_key("user", "rharden-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING)`.
    pub fn add_key() -> Result<(), i32> {
        // SAFETY: NUL-terminated strings and a 1-byte payload.
        errno_of(unsafe {
            libc::syscall(
                libc::SYS_add_key,
                c"user".as_ptr(),
                c"rharden-probe".as_ptr(),
                c"x".as_ptr(),
                1usize,
                -2,
            )
        })
        .map(|_| ())
    }

    /// `io_uring_setup(1, &params)`.
    pub fn io_uring_setup() -> Result<(), i32> {
        let mut params = [0u8; 120];
        // SAFETY: `params` is a zeroed io_uring_params-sized buffer the kernel may write.
        close_if_fd(errno_of(unsafe {
            libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr())
        }))
    }

    /// `perf_event_open` of a software clock counter on this process.
    pub fn perf_event_open() -> Result<(), i32> {
        let mut attr = [0u8; 128];
        attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
        attr[4..8].copy_from_slice(&128u32.to_ne_bytes()); // size
                                                           // SAFETY: `attr` is a zeroed perf_event_attr of the size it declares.
        close_if_fd(errno_of(unsafe {
            libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0)
        }))
    }

    /// `userfaultfd(O_CLOEXEC)`.
    pub fn userfaultfd() -> Result<(), i32> {
        // SAFETY: integer argument only.
        close_if_fd(errno_of(unsafe {
            libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC)
        }))
    }

    /// `clone3` with an empty clone_args (fails before creating anything if it is allowed,
    /// since the size is too small: EINVAL; a filter gives ENOSYS).
    pub fn clone3() -> Result<(), i32> {
        // SAFETY: size 0 makes the kernel reject the call before reading the pointer.
        errno_of(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) })
            .map(|_| ())
    }

    /// `clone(CLONE_NEWUSER | SIGCHLD)`; a child that does get created exits at once.
    pub fn clone_newuser() -> Result<(), i32> {
        match clone_namespaces(libc::CLONE_NEWUSER) {
            Ok(Fork::Child) => exit_now(0),
            Ok(Fork::Parent(pid)) => {
                let _ = waitpid(pid, false);
                Ok(())
            }
            Err(e) => Err(e.errno),
        }
    }

    /// `pivot_root(".", ".")`.
    pub fn pivot_root() -> Result<(), i32> {
        // SAFETY: NUL-terminated literals.
        errno_of(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) })
            .map(|_| ())
    }

    /// `init_module(NULL, 0, "")`.
    pub fn init_module() -> Result<(), i32> {
        // SAFETY: a NULL image of length 0 is rejected before being read.
        errno_of(unsafe {
            libc::syscall(
                libc::SYS_init_module,
                std::ptr::null::<u8>(),
                0usize,
                c"".as_ptr(),
            )
        })
        .map(|_| ())
    }

    /// The x32 ABI's `getpid` (syscall number with `__X32_SYSCALL_BIT`). If the filter kills
    /// x32 calls, this never returns: call it in a child.
    pub fn x32_getpid() -> Result<(), i32> {
        // SAFETY: getpid takes no arguments.
        errno_of(unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) }).map(|_| ())
    }

    /// `prctl(PR_GET_NO_NEW_PRIVS)`.
    pub fn no_new_privs() -> i32 {
        // SAFETY: integer arguments only.
        unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) }
    }

    /// `execve(path, argv, [])`: returns only on failure, with the errno.
    pub fn exec(path: &CStr, argv: &[CString]) -> i32 {
        let argv_ptrs = null_terminated(argv);
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        // SAFETY: `path` is NUL-terminated; both pointer arrays are NULL-terminated and point
        // into `argv` (or nothing), which outlives the call.
        unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp.as_ptr()) };
        errno()
    }

    /// `socket(AF_INET, SOCK_STREAM)` then `bind` to 127.0.0.1:`port` (0: any port).
    pub fn tcp_bind(port: u16) -> Result<(), i32> {
        // SAFETY: integer arguments only.
        let fd = errno_of(i64::from(unsafe {
            libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
        }))?;
        let fd = RawFd::try_from(fd).map_err(|_| libc::EBADF)?;
        // SAFETY: the socket call returned a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: `addr` is a valid sockaddr_in of the length passed.
        let ret = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of_val(&addr) as u32,
            )
        };
        errno_of(i64::from(ret)).map(|_| ())
    }

    /// Forks; the child runs `f` and exits with its return value. Returns the child's exit
    /// code (128 + signal if killed).
    pub fn fork_and(f: impl FnOnce() -> i32) -> Result<i32, SysError> {
        match fork()? {
            Fork::Child => exit_now(f()),
            Fork::Parent(pid) => match waitpid(pid, false)? {
                Some((_, status)) => Ok(status.code()),
                None => Err(SysError::new("waitpid", libc::ECHILD)),
            },
        }
    }

    /// Forks a child that only waits to be killed; returns its pid, or the fork's errno.
    pub fn fork_paused() -> Result<i32, i32> {
        match fork() {
            Ok(Fork::Child) => loop {
                // SAFETY: pause takes no arguments.
                unsafe { libc::pause() };
            },
            Ok(Fork::Parent(pid)) => Ok(pid),
            Err(e) => Err(e.errno),
        }
    }

    /// SIGKILL and reap.
    pub fn kill_and_reap(pid: i32) {
        let _ = kill(pid, libc::SIGKILL);
        let _ = waitpid(pid, false);
    }

    /// Blocks SIGTERM, calls `ready`, and waits for SIGTERM.
    pub fn wait_for_sigterm(ready: impl FnOnce()) -> Result<(), SysError> {
        set_sigmask(&[libc::SIGTERM], libc::SIG_BLOCK)?;
        ready();
        sigwait(&[libc::SIGTERM]).map(|_| ())
    }

    /// Forks a child that forks a grandchild and exits at once, leaving the grandchild (which
    /// exits after `delay`) to the init. Returns the grandchild's pid.
    pub fn spawn_orphan(delay: std::time::Duration) -> Result<i32, String> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        cvt("pipe2", unsafe {
            libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC)
        })
        .map_err(|e| e.to_string())?;
        // SAFETY: pipe2 just returned two new descriptors we own.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        match fork().map_err(|e| e.to_string())? {
            Fork::Child => {
                let code = match fork() {
                    Ok(Fork::Child) => {
                        std::thread::sleep(delay);
                        exit_now(0)
                    }
                    Ok(Fork::Parent(grandchild)) => {
                        let bytes = grandchild.to_ne_bytes();
                        // SAFETY: `bytes` is valid for its length.
                        let n = unsafe {
                            libc::write(wr.as_raw_fd(), bytes.as_ptr().cast(), bytes.len())
                        };
                        i32::from(n != 4)
                    }
                    Err(_) => 1,
                };
                exit_now(code)
            }
            Fork::Parent(child) => {
                drop(wr);
                let mut bytes = [0u8; 4];
                // SAFETY: `bytes` is writable for its length.
                let n =
                    unsafe { libc::read(rd.as_raw_fd(), bytes.as_mut_ptr().cast(), bytes.len()) };
                let _ = waitpid(child, false);
                if n == 4 {
                    Ok(i32::from_ne_bytes(bytes))
                } else {
                    Err("the child did not report its child".into())
                }
            }
        }
    }
}

/// glibc's malloc settings for a long streaming job with a few threads (see [`crate::tune_malloc`]).
/// Returns whether glibc took both.
#[cfg(target_env = "gnu")]
pub fn tune_malloc(mmap_threshold: i32, arena_max: Option<i32>) -> bool {
    // SAFETY: mallopt only sets allocator parameters; it takes no pointers and is safe to call
    // at any time (glibc takes the arena lock). Called before the scan's threads start.
    let mmap = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold) };
    let arenas = match arena_max {
        // SAFETY: as above.
        Some(max) => unsafe { libc::mallopt(libc::M_ARENA_MAX, max) },
        None => 1,
    };
    mmap == 1 && arenas == 1
}

/// Other C libraries keep their own policy.
#[cfg(not(target_env = "gnu"))]
pub fn tune_malloc(_mmap_threshold: i32, _arena_max: Option<i32>) -> bool {
    false
}
