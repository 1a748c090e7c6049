//! The container's PID 1 once the workload runs: forwards signals to it, reaps every zombie
//! (orphans are re-parented to PID 1), and exits with the workload's status (128 + signal
//! when a signal killed it). When PID 1 exits the kernel kills the rest of the namespace.

use std::os::fd::{AsFd, OwnedFd};

use crate::sys::{self, Linux, Syscalls, WaitStatus};

/// Signals forwarded to the workload.
pub const FORWARDED: &[i32] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// The signals the init waits for: the forwarded ones and SIGCHLD.
pub fn waited_signals() -> Vec<i32> {
    let mut set = FORWARDED.to_vec();
    set.push(libc::SIGCHLD);
    set
}

/// Waits for `workload`, forwarding and reaping. The signals in [`waited_signals`] must be
/// blocked (they are, since before the spawn, so none is lost). Returns the exit code.
pub fn supervise(workload: i32) -> i32 {
    let signals = waited_signals();
    loop {
        // Reap first: the SIGCHLD may have been merged with an earlier one.
        loop {
            match sys::waitpid(-1, true) {
                Ok(Some((pid, status))) if pid == workload => return status.code(),
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return WaitStatus::Exited(125).code(),
            }
        }
        match sys::sigwait(&signals) {
            Ok(libc::SIGCHLD) => continue,
            Ok(sig) => {
                let _ = sys::kill(workload, sig);
            }
            Err(_) => return 125,
        }
    }
}

/// PID 1's last step once [`supervise`] returned: kills and reaps whatever else still runs in
/// the namespace (the kernel would, at PID 1's exit, but the cgroups must be empty now), then
/// leaves its v1 cgroups by writing `0` to their parents' `tasks` files (`leave_files`, opened
/// by the launcher). Returns whether the cgroups now hold no process of the container, so the
/// launcher may remove them without waiting for PID 1's exit; `false` when `leave_files` is
/// `None` (cgroups PID 1 cannot leave) or a step failed.
pub fn leave(leave_files: Option<&[OwnedFd]>) -> bool {
    let Some(files) = leave_files else {
        return false;
    };
    // An orphan is re-parented to PID 1 before its parent becomes a zombie, so once PID 1 has
    // no child left, no other process of the namespace exists. With none left already (the
    // usual case), the kill is skipped: kill(-1) walks every process of the host.
    match sys::waitpid(-1, true) {
        Err(e) if e.errno == libc::ECHILD => {}
        // kill(-1) from PID 1 reaches every other process of its PID namespace.
        _ => {
            let _ = sys::kill(-1, libc::SIGKILL);
        }
    }
    loop {
        match sys::waitpid(-1, false) {
            Ok(_) => continue,
            Err(e) if e.errno == libc::ECHILD => break,
            Err(_) => return false,
        }
    }
    files.iter().all(|f| Linux.join_cgroup(f.as_fd()).is_ok())
}
