//! The container's PID 1 once the workload runs: forwards signals to it, reaps every zombie
//! (orphans are re-parented to PID 1), and exits with the workload's status (128 + signal
//! when a signal killed it). When PID 1 exits the kernel kills the rest of the namespace.

use crate::sys::{self, WaitStatus};

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
/// blocked (they are, since before the fork, so none is lost). Returns the exit code.
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
