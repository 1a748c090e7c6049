//! A [`Syscalls`] implementation that only writes down what it was asked to do, so tests can
//! check the order of the hardening steps without root.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use crate::enforcement::Level;
use crate::landlock::{LandlockError, LandlockOutcome, LandlockPlan};
use crate::sys::{SysError, SysResult, Syscalls};

/// Records each call as `name(args)`.
#[derive(Debug, Default)]
pub struct Recorder {
    /// The calls, in order.
    pub calls: RefCell<Vec<String>>,
}

impl Recorder {
    fn log(&self, call: String) {
        self.calls.borrow_mut().push(call);
    }

    fn fd(&self) -> SysResult<OwnedFd> {
        std::fs::File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|_| SysError::new("open", libc::EIO))
    }

    /// The index of the first call starting with `prefix`.
    pub fn position(&self, prefix: &str) -> Option<usize> {
        self.calls
            .borrow()
            .iter()
            .position(|c| c.starts_with(prefix))
    }
}

fn s(c: &CStr) -> String {
    String::from_utf8_lossy(c.to_bytes()).into_owned()
}

impl Syscalls for Recorder {
    fn close_fds_except(&self, keep: &[RawFd]) -> SysResult<()> {
        self.log(format!("close_fds_except({})", keep.len()));
        Ok(())
    }
    fn reset_signals(&self) -> SysResult<()> {
        self.log("reset_signals".into());
        Ok(())
    }
    fn send(&self, _chan: BorrowedFd<'_>, msg: &[u8]) -> SysResult<()> {
        self.log(format!("send({})", String::from_utf8_lossy(msg)));
        Ok(())
    }
    fn recv(&self, _chan: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
        let first = !self.calls.borrow().iter().any(|c| c.starts_with("recv"));
        let msg: &[u8; 2] = if first { b"go" } else { b"cg" };
        self.log(format!("recv({})", String::from_utf8_lossy(msg)));
        buf[..2].copy_from_slice(msg);
        Ok(2)
    }
    fn unshare(&self, flags: i32) -> SysResult<()> {
        self.log(format!("unshare({flags:#x})"));
        Ok(())
    }
    fn setresuid(&self, uid: u32) -> SysResult<()> {
        self.log(format!("setresuid({uid})"));
        Ok(())
    }
    fn setresgid(&self, gid: u32) -> SysResult<()> {
        self.log(format!("setresgid({gid})"));
        Ok(())
    }
    fn setgroups(&self, gids: &[u32]) -> SysResult<()> {
        self.log(format!("setgroups({gids:?})"));
        Ok(())
    }
    fn sethostname(&self, name: &[u8]) -> SysResult<()> {
        self.log(format!("sethostname({})", String::from_utf8_lossy(name)));
        Ok(())
    }
    fn loopback_up(&self) -> SysResult<()> {
        self.log("loopback_up".into());
        Ok(())
    }
    fn enter_launcher_netns(&self, _chan: BorrowedFd<'_>) -> SysResult<()> {
        self.log("enter_launcher_netns".into());
        Ok(())
    }
    fn make_rprivate(&self) -> SysResult<()> {
        self.log("make_rprivate".into());
        Ok(())
    }
    fn clone_tree(
        &self,
        _dir: Option<BorrowedFd<'_>>,
        path: &CStr,
        recursive: bool,
    ) -> SysResult<OwnedFd> {
        self.log(format!("clone_tree({}, {recursive})", s(path)));
        self.fd()
    }
    fn mount_setattr(&self, _fd: BorrowedFd<'_>, recursive: bool, set: u64) -> SysResult<()> {
        self.log(format!("mount_setattr({set:#x}, {recursive})"));
        Ok(())
    }
    fn move_mount(
        &self,
        _from: BorrowedFd<'_>,
        _to: Option<BorrowedFd<'_>>,
        to_path: &CStr,
    ) -> SysResult<()> {
        self.log(format!("move_mount({})", s(to_path)));
        Ok(())
    }
    fn new_fs(
        &self,
        fstype: &CStr,
        _options: &[(&CStr, Option<&CStr>)],
        attrs: u64,
    ) -> SysResult<OwnedFd> {
        self.log(format!("new_fs({}, {attrs:#x})", s(fstype)));
        self.fd()
    }
    fn open_in_root(
        &self,
        _root: BorrowedFd<'_>,
        path: &CStr,
        directory: bool,
    ) -> SysResult<OwnedFd> {
        self.log(format!("open_in_root({}, {directory})", s(path)));
        // Masked paths: pretend proc entries are files, to cover the /dev/null branch.
        if directory && s(path).starts_with("proc/k") {
            return Err(SysError::new("openat2", libc::ENOTDIR));
        }
        self.fd()
    }
    fn mkdirat(&self, _dir: BorrowedFd<'_>, name: &CStr, _mode: u32) -> SysResult<()> {
        self.log(format!("mkdirat({})", s(name)));
        Ok(())
    }
    fn create_file(&self, _dir: BorrowedFd<'_>, name: &CStr, _mode: u32) -> SysResult<()> {
        self.log(format!("create_file({})", s(name)));
        Ok(())
    }
    fn symlinkat(&self, target: &CStr, _dir: BorrowedFd<'_>, name: &CStr) -> SysResult<()> {
        self.log(format!("symlinkat({} -> {})", s(name), s(target)));
        Ok(())
    }
    fn pivot_root(&self, _new_root: BorrowedFd<'_>) -> SysResult<()> {
        self.log("pivot_root".into());
        Ok(())
    }
    fn chdir(&self, path: &CStr) -> SysResult<()> {
        self.log(format!("chdir({})", s(path)));
        Ok(())
    }
    fn getcwd(&self) -> SysResult<Vec<u8>> {
        self.log("getcwd".into());
        Ok(b"/".to_vec())
    }
    fn setrlimit(&self, resource: u32, soft: u64, hard: u64) -> SysResult<()> {
        self.log(format!("setrlimit({resource}, {soft}, {hard})"));
        Ok(())
    }
    fn capbset_drop(&self, cap: u32) -> SysResult<()> {
        self.log(format!("capbset_drop({cap})"));
        Ok(())
    }
    fn set_keepcaps(&self, on: bool) -> SysResult<()> {
        self.log(format!("set_keepcaps({on})"));
        Ok(())
    }
    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
        self.log(format!(
            "capset({effective:#x}, {permitted:#x}, {inheritable:#x})"
        ));
        Ok(())
    }
    fn ambient_clear(&self) -> SysResult<()> {
        self.log("ambient_clear".into());
        Ok(())
    }
    fn ambient_raise(&self, cap: u32) -> SysResult<()> {
        self.log(format!("ambient_raise({cap})"));
        Ok(())
    }
    fn set_no_new_privs(&self) -> SysResult<()> {
        self.log("set_no_new_privs".into());
        Ok(())
    }
    fn set_undumpable(&self) -> SysResult<()> {
        self.log("set_undumpable".into());
        Ok(())
    }
    fn landlock(&self, plan: &LandlockPlan) -> Result<LandlockOutcome, LandlockError> {
        self.log(format!("landlock(rw={:?})", plan.read_write));
        Ok(LandlockOutcome {
            level: Level::Fully,
            detail: "recorded".into(),
        })
    }
    fn seccomp(&self, program: &[seccompiler::sock_filter]) -> SysResult<()> {
        self.log(format!("seccomp({})", program.len()));
        Ok(())
    }
    fn setsid(&self) -> SysResult<()> {
        self.log("setsid".into());
        Ok(())
    }
    fn set_pdeathsig(&self, sig: i32) -> SysResult<()> {
        self.log(format!("set_pdeathsig({sig})"));
        Ok(())
    }
    fn join_cgroup(&self, _tasks: BorrowedFd<'_>) -> SysResult<()> {
        self.log("join_cgroup".into());
        Ok(())
    }
    fn peer_alive(&self, _chan: BorrowedFd<'_>) -> SysResult<bool> {
        self.log("peer_alive".into());
        Ok(true)
    }
    fn spawn(&self, path: &CStr, _argv: &[CString], _envp: &[CString]) -> SysResult<i32> {
        self.log(format!("spawn({})", s(path)));
        Err(SysError::new("execve", libc::ENOENT))
    }
}
