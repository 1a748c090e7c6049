//! The launcher's side of the limits: a cgroup (v2, or v1 as on hybrid hosts) with `pids.max`
//! and, when asked, a memory limit and a CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` /
//! `cpu.cfs_period_us`). The container's side (rlimits) is a step of `harden`.
//!
//! The cgroups are created and limited before the container's PID 1 is cloned, and it is in
//! them before it forks anything, so every process of the container is counted from its first
//! fork, and the cgroup namespace the container then enters is rooted at its own cgroup.
//!
//! Joining is the slow part: moving a process with `cgroup.procs` takes the global thread-group
//! lock for writing, which waits for an RCU grace period (milliseconds, more on a busy host). In
//! a v1 hierarchy a single-threaded process can move *itself* by writing `0` to `tasks`, which
//! needs no such lock (`cgroup_procs_write_start`): the launcher opens `tasks` (the open file's
//! credentials are what the kernel checks) and the container's PID 1 writes `0` to it first
//! thing. In the v2 hierarchy the launcher moves it through `cgroup.procs` while it builds its
//! mounts.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::enforcement::Level;
use crate::spec::Limits;

/// The CFS period (cgroup default): 100 ms.
const CPU_PERIOD_US: u64 = 100_000;

/// A quota in microseconds per [`CPU_PERIOD_US`] for `millis` thousandths of a CPU (at least
/// the kernel's minimum of 1 ms).
fn cpu_quota(millis: u64) -> u64 {
    (millis.saturating_mul(CPU_PERIOD_US) / 1000).max(1000)
}

/// When the process `pid` started, in clock ticks after boot (`/proc/PID/stat`, field 22), or
/// `None` when there is no such process.
fn start_time(pid: &str) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: the command may hold spaces and parentheses, so the fields
    // are counted from the last ')'; the start time is the 20th after it.
    stat.get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// This process's start time (see [`start_time`]); 0 if `/proc` cannot tell.
pub fn start_time_of_self() -> u64 {
    start_time("self").unwrap_or(0)
}

/// Whether a cgroup named `name` belongs to a launcher that is gone. Names are
/// `rharden-<launcher pid>-<its start time>-<run>`: with only the pid, a cgroup left by a killed
/// launcher whose pid now belongs to another process (pids wrap at 32768 on many hosts) would
/// be kept until that process ends. Names of older versions, `rharden-<pid>-<run>`, are judged
/// by the pid alone.
fn launcher_gone(name: &str) -> Option<bool> {
    let fields: Vec<&str> = name.strip_prefix("rharden-")?.split('-').collect();
    if fields.iter().any(|f| f.parse::<u64>().is_err()) {
        return None;
    }
    match fields.as_slice() {
        [pid, started, _] => Some(start_time(pid) != started.parse().ok()),
        [pid, _] => Some(!Path::new(&format!("/proc/{pid}")).exists()),
        _ => None,
    }
}

/// Removes the cgroups that launchers killed without cleaning up left behind, in every
/// controller this runtime uses (not only the ones a run asks for). Housekeeping: a launcher
/// calls it once its container is released, while the container sets itself up.
pub fn remove_stale_cgroups() {
    let mut swept: Vec<PathBuf> = Vec::new();
    for controller in ["pids", "memory", "cpu"] {
        if let Some(ControllerMount::V1(root) | ControllerMount::V2(root)) =
            find_controller(controller)
        {
            let parent = root.join("rharden");
            if !swept.contains(&parent) {
                remove_stale(&parent);
                swept.push(parent);
            }
        }
    }
}

/// Removes the cgroups of launchers that died without cleaning up (killed with SIGKILL: their
/// container died with them through the parent-death signal, so the cgroup is empty). One whose
/// launcher still runs is never touched, and `rmdir` refuses a cgroup that still has processes.
fn remove_stale(parent: &Path) {
    let Ok(list) = fs::read_dir(parent) else {
        return;
    };
    for item in list.flatten() {
        if item.file_name().to_str().and_then(launcher_gone) == Some(true) {
            let _ = fs::remove_dir(item.path());
        }
    }
}

/// Where a controller lives on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerMount {
    /// In the unified (v2) hierarchy at this path.
    V2(PathBuf),
    /// In its own v1 hierarchy at this path.
    V1(PathBuf),
}

impl ControllerMount {
    /// "v2 at …" / "v1 at …".
    pub fn describe(&self) -> String {
        match self {
            ControllerMount::V2(p) => format!("cgroup v2 at {}", p.display()),
            ControllerMount::V1(p) => format!("cgroup v1 at {}", p.display()),
        }
    }
}

fn v2_roots() -> Vec<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(PathBuf::from)
        .collect()
}

/// Finds `controller` (`pids`, `memory`): in a v2 hierarchy where it is available, else in its
/// v1 hierarchy.
pub fn find_controller(controller: &str) -> Option<ControllerMount> {
    for root in v2_roots() {
        if let Ok(list) = fs::read_to_string(root.join("cgroup.controllers")) {
            if list.split_whitespace().any(|c| c == controller) {
                return Some(ControllerMount::V2(root));
            }
        }
    }
    let v1 = Path::new("/sys/fs/cgroup").join(controller);
    let probe = match controller {
        "pids" => "pids.current",
        "cpu" => "cpu.cfs_quota_us",
        _ => "memory.limit_in_bytes",
    };
    // The root of a v1 hierarchy has cgroup.procs; the probe file exists in children only,
    // so look for the hierarchy's own marker instead.
    if v1.join("cgroup.procs").exists() && (v1.join(probe).exists() || v1.join("tasks").exists()) {
        return Some(ControllerMount::V1(v1));
    }
    None
}

/// The cgroups created for one container (removed by [`Cgroups::remove`], or when dropped).
#[derive(Debug, Default)]
pub struct Cgroups {
    dirs: Vec<PathBuf>,
    /// v1 `tasks` files the container's PID 1 writes `0` to.
    self_join: Vec<std::os::fd::OwnedFd>,
    /// The v1 `tasks` files of their parents (`rharden/`), for PID 1 to leave by (see
    /// [`Cgroups::take_self_leave`]).
    self_leave: Vec<std::os::fd::OwnedFd>,
    /// v2 cgroups the launcher moves the container into.
    pending: Vec<PathBuf>,
}

/// What was set, for the report.
#[derive(Debug, Clone)]
pub struct CgroupOutcome {
    /// Fully, partially or not.
    pub level: Level,
    /// What.
    pub detail: String,
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    fs::write(path, value)
}

fn mkdir(path: &Path) -> std::io::Result<()> {
    match fs::create_dir(path) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

impl Cgroups {
    /// Creates `rharden/<name>` for each requested limit and writes the limits; the container
    /// joins them through [`Cgroups::take_self_join`] and [`Cgroups::join`].
    pub fn create(name: &str, limits: &Limits) -> (Self, CgroupOutcome) {
        let mut cg = Cgroups::default();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let requests: Vec<(&str, u64)> = [
            ("pids", limits.pids),
            ("memory", limits.memory),
            ("cpu", limits.cpu_millis),
        ]
        .into_iter()
        .filter_map(|(c, v)| v.map(|v| (c, v)))
        .collect();
        for (controller, value) in &requests {
            // Only the requested controllers are looked up (reads of cgroupfs files).
            match cg.apply(name, controller, find_controller(controller), *value) {
                Ok(detail) => done.push(detail),
                Err(why) => failed.push(format!("{controller} limit {value} not applied: {why}")),
            }
        }
        let level = if failed.is_empty() {
            Level::Fully
        } else if done.is_empty() {
            Level::Not
        } else {
            Level::Partially
        };
        let mut detail = done.join("; ");
        if requests.is_empty() {
            detail = "no cgroup limits requested".into();
        }
        if !failed.is_empty() {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(&failed.join("; "));
        }
        (cg, CgroupOutcome { level, detail })
    }

    /// The v1 `tasks` files for the container's PID 1 to write `0` to (see the module doc).
    pub fn take_self_join(&mut self) -> Vec<std::os::fd::OwnedFd> {
        std::mem::take(&mut self.self_join)
    }

    /// The v1 `tasks` files of the cgroups' parents: once the rest of the container is gone,
    /// PID 1 writes `0` to them to leave its cgroups, which the launcher can then remove
    /// without waiting for PID 1's own exit (tearing down its namespaces takes most of a
    /// millisecond). `None` when a cgroup is v2, which PID 1 cannot leave by itself without
    /// the thread-group lock (see the module doc).
    pub fn take_self_leave(&mut self) -> Option<Vec<std::os::fd::OwnedFd>> {
        self.pending
            .is_empty()
            .then(|| std::mem::take(&mut self.self_leave))
    }

    /// Moves `pid` into the v2 cgroups (the v1 ones it joins itself).
    pub fn join(&mut self, pid: i32) -> Result<(), String> {
        for dir in std::mem::take(&mut self.pending) {
            write(&dir.join("cgroup.procs"), &pid.to_string())
                .map_err(|e| format!("failed to join {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    fn apply(
        &mut self,
        name: &str,
        controller: &str,
        mount: Option<ControllerMount>,
        value: u64,
    ) -> Result<String, String> {
        let mount = mount.ok_or_else(|| format!("no {controller} controller on this host"))?;
        let (root, v2) = match &mount {
            ControllerMount::V2(p) => (p.clone(), true),
            ControllerMount::V1(p) => (p.clone(), false),
        };
        let parent = root.join("rharden");
        let dir = parent.join(name);
        let err = |what: &str, e: std::io::Error| format!("failed to {what}: {e}");
        if v2 {
            // Controllers must be enabled top-down in the parents' subtree_control.
            let _ = write(
                &root.join("cgroup.subtree_control"),
                &format!("+{controller}"),
            );
            mkdir(&parent).map_err(|e| err(&format!("create {}", parent.display()), e))?;
            write(
                &parent.join("cgroup.subtree_control"),
                &format!("+{controller}"),
            )
            .map_err(|e| err(&format!("enable {controller} in {}", parent.display()), e))?;
        } else {
            mkdir(&parent).map_err(|e| err(&format!("create {}", parent.display()), e))?;
        }
        mkdir(&dir).map_err(|e| err(&format!("create {}", dir.display()), e))?;
        if !self.dirs.contains(&dir) {
            self.dirs.push(dir.clone());
        }
        let requested = value;
        let (file, value) = match (controller, v2) {
            ("pids", _) => ("pids.max", value.to_string()),
            ("memory", true) => ("memory.max", value.to_string()),
            ("cpu", true) => ("cpu.max", format!("{} {CPU_PERIOD_US}", cpu_quota(value))),
            ("cpu", false) => {
                let period = dir.join("cpu.cfs_period_us");
                write(&period, &CPU_PERIOD_US.to_string())
                    .map_err(|e| err(&format!("write {}", period.display()), e))?;
                ("cpu.cfs_quota_us", cpu_quota(value).to_string())
            }
            _ => ("memory.limit_in_bytes", value.to_string()),
        };
        write(&dir.join(file), &value)
            .map_err(|e| err(&format!("write {}", dir.join(file).display()), e))?;
        if controller == "memory" && v2 {
            let _ = write(&dir.join("memory.swap.max"), "0");
        }
        if v2 {
            if !self.pending.contains(&dir) {
                self.pending.push(dir.clone());
            }
        } else {
            let open = |tasks: PathBuf| {
                fs::OpenOptions::new()
                    .write(true)
                    .open(&tasks)
                    .map_err(|e| err(&format!("open {}", tasks.display()), e))
            };
            // Both or neither: PID 1 leaves exactly the cgroups it joined.
            let join = open(dir.join("tasks"))?;
            let leave = open(parent.join("tasks"))?;
            self.self_join.push(join.into());
            self.self_leave.push(leave.into());
        }
        let what = if controller == "cpu" {
            format!(
                "cpu {file}={value} ({}.{:03} CPUs)",
                requested / 1000,
                requested % 1000
            )
        } else {
            format!("{controller} {file}={value}")
        };
        Ok(format!("{what} ({})", mount.describe()))
    }

    /// Removes the cgroups (after the container's processes are gone; retried briefly while
    /// the kernel finishes tearing them down). Dropping them does the same.
    pub fn remove(&mut self) {
        for dir in self.dirs.drain(..) {
            for attempt in 0..50 {
                match fs::remove_dir(&dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 49 => {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    _ => break,
                }
            }
        }
    }
}

impl Drop for Cgroups {
    /// Every way out of a run, early errors included, removes what it created.
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_is_stale_when_its_launcher_is_gone_or_its_pid_was_reused() {
        let me = std::process::id();
        let started = start_time_of_self();
        assert!(started > 0);
        // This process is a live launcher.
        assert_eq!(
            launcher_gone(&format!("rharden-{me}-{started}-0")),
            Some(false)
        );
        // Same pid, another start time: the launcher died and its pid went to this process.
        assert_eq!(
            launcher_gone(&format!("rharden-{me}-{}-0", started + 1)),
            Some(true)
        );
        // No such process (above any pid_max).
        assert_eq!(launcher_gone("rharden-99999999-1-0"), Some(true));
        // The older names, by pid alone.
        assert_eq!(launcher_gone(&format!("rharden-{me}-3")), Some(false));
        assert_eq!(launcher_gone("rharden-99999999-3"), Some(true));
        // Not ours: never touched.
        for name in ["rharden", "rharden-x-1-2", "other-1-2-3", "rharden-1-2-3-4"] {
            assert_eq!(launcher_gone(name), None, "{name}");
        }
    }
}
