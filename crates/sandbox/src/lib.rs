//! A hardened container sandbox: every mechanism on by default, each reporting what the kernel
//! actually enforced.
//!
//! A run creates user, mount, PID, IPC, UTS, network (loopback only) and cgroup namespaces;
//! `pivot_root`s into a read-only, nosuid, nodev root with size-limited tmpfs on `/tmp` and
//! `/run`, a fresh `/proc` with Docker's masked and read-only paths, a read-only `/sys` and a
//! minimal `/dev`; limits pids through the cgroup pids controller; drops every capability and
//! switches to a non-root user; sets `no_new_privs`; applies Landlock and, last, a deny-by-default
//! seccomp filter; then a tiny PID 1 forks and `execve`s the workload and supervises it.
//!
//! The order of these steps is one straight-line function (`harden.rs`); every raw system call
//! goes through one module (`sys.rs`), the only one with `unsafe`.
//!
//! ```no_run
//! use rharden_sandbox::{Quiet, Sandbox, SandboxSpec};
//!
//! let spec = SandboxSpec::builder("/srv/rootfs", vec!["/bin/true".into()]).build()?;
//! let outcome = Sandbox::new(spec)?.run(&mut Quiet)?;
//! for e in &outcome.report.entries {
//!     println!("{:<16} {:<9} {}", e.mechanism.name(), e.level, e.detail);
//! }
//! std::process::exit(outcome.code);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bundle;
mod caps;
mod enforcement;
mod harden;
mod host;
mod init;
mod landlock;
mod limits;
mod profile;
#[cfg(test)]
mod record;
mod run;
mod seccomp;
mod spec;
mod sys;
mod syscall_table;

pub use bundle::{load as load_bundle, parse_size, BundleError, FromBundle};
pub use caps::Capability;
pub use enforcement::{Enforcement, Level, Mechanism, Report};
pub use harden::{HardenError, Step, MASKED_PATHS, READONLY_PATHS};
pub use host::{detect as detect_host, Feature, HostSupport};
pub use init::FORWARDED as FORWARDED_SIGNALS;
pub use landlock::LandlockError;
pub use profile::{Action, ProfileContext, ProfileError, SeccompProfile, DEFAULT_PROFILE_JSON};
pub use run::{block_run_signals, Outcome, Quiet, RunError, RunObserver, Sandbox};
pub use seccomp::{compile as compile_seccomp, CompiledFilter, SeccompError};
pub use spec::{
    IdMapping, Limits, Network, SandboxSpec, SandboxSpecBuilder, Seccomp, SpecError, Tmpfs, User,
    Volume, DEFAULT_PATH,
};
pub use sys::{SysError, WaitStatus};

/// Sets glibc's malloc up for a job that streams a lot of data through a few threads and keeps
/// a large, long-lived index (`rharden scan`): buffers of 1 MiB and more are mapped and given
/// back to the kernel when freed (glibc otherwise raises that threshold as they come and go, and
/// keeps them resident in its heaps). With `one_arena`, every thread shares one heap, so what
/// the reading threads freed is reused by the analysis instead of staying resident in their own
/// arenas: with both, the peak RSS of a scan of a 4 GiB, 218k-entry image went from 70 MiB to
/// about 60 MiB. One heap means one lock, though: on a 2 MB image, where memory is no concern,
/// the threads compiling regexes wait for it (per-thread arenas: 18 % faster), so the caller
/// asks for it only on big images. A threshold of 128 KiB saved as much but mapped (and faulted
/// in) every mid-sized buffer again: 1 MiB is 6 % faster on a 2 MB image.
/// Lives here because it is a raw libc call; it changes nothing but memory use and speed. Call
/// it before any thread starts. Returns whether the C library took it (only glibc does).
pub fn tune_malloc(one_arena: bool) -> bool {
    sys::tune_malloc(1024 * 1024, one_arena.then_some(1))
}

/// Raw probes for the in-container test binary (not a stable API).
#[doc(hidden)]
pub mod probe {
    pub use crate::sys::probe::*;
}
