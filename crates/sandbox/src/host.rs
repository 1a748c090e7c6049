//! `rharden doctor`: what this kernel supports, and what `run` will enforce here.

use std::path::Path;

use crate::enforcement::Level;
use crate::limits::{find_controller, ControllerMount};
use crate::sys;

/// One fact about the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Feature {
    /// What.
    pub name: &'static str,
    /// Whether `run` can use it (fully, partially, not).
    pub level: Level,
    /// The evidence.
    pub detail: String,
}

/// What the host supports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostSupport {
    /// Running kernel release.
    pub kernel: String,
    /// Whether the caller is root.
    pub root: bool,
    /// The facts.
    pub features: Vec<Feature>,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn user_namespaces() -> Feature {
    let max = read("/proc/sys/user/max_user_namespaces").and_then(|s| s.parse::<u64>().ok());
    let unpriv = read("/proc/sys/kernel/unprivileged_userns_clone");
    // Try it: a child in a new user namespace that exits at once.
    let works = matches!(sys::probe::clone_newuser(), Ok(()));
    let level = if works { Level::Fully } else { Level::Not };
    let mut detail = format!(
        "clone(CLONE_NEWUSER) {}",
        if works { "works" } else { "fails" }
    );
    if let Some(max) = max {
        detail.push_str(&format!("; max_user_namespaces={max}"));
    }
    if let Some(u) = unpriv {
        detail.push_str(&format!("; unprivileged_userns_clone={u}"));
    }
    Feature {
        name: "user namespaces",
        level,
        detail,
    }
}

/// Probes the running kernel.
pub fn detect() -> HostSupport {
    let root = sys::geteuid() == 0;
    let mut features = vec![user_namespaces()];
    let abi = sys::landlock_abi();
    features.push(Feature {
        name: "landlock",
        level: match abi {
            Some(v) if v >= 7 => Level::Fully,
            Some(_) => Level::Partially,
            None => Level::Not,
        },
        detail: match abi {
            Some(v) => format!(
                "ABI {v}{}",
                if v >= 4 {
                    " (filesystem + TCP rules)"
                } else {
                    " (filesystem rules only)"
                }
            ),
            None => "not available (not built in, or not in the lsm= boot list)".into(),
        },
    });
    let seccomp = sys::seccomp_filter_supported();
    features.push(Feature {
        name: "seccomp",
        level: if seccomp { Level::Fully } else { Level::Not },
        detail: if seccomp {
            "filter mode available".into()
        } else {
            "filter mode unavailable".into()
        },
    });
    let cgroup_kind = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2 (unified)"
    } else if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        "v1 + v2 hybrid"
    } else {
        "v1"
    };
    for controller in ["pids", "memory", "cpu"] {
        let found = find_controller(controller);
        features.push(Feature {
            name: match controller {
                "pids" => "cgroup pids",
                "memory" => "cgroup memory",
                _ => "cgroup cpu",
            },
            level: match (&found, root) {
                (Some(_), true) => Level::Fully,
                (Some(_), false) => Level::Partially,
                (None, _) => Level::Not,
            },
            detail: match &found {
                Some(m @ (ControllerMount::V1(_) | ControllerMount::V2(_))) => {
                    format!(
                        "{}; hierarchy: {cgroup_kind}{}",
                        m.describe(),
                        if root {
                            ""
                        } else {
                            " (needs root to create cgroups)"
                        }
                    )
                }
                None => format!("controller not found; hierarchy: {cgroup_kind}"),
            },
        });
    }
    let mount_api = sys::mount_api_supported();
    features.push(Feature {
        name: "new mount API",
        level: if mount_api { Level::Fully } else { Level::Not },
        detail: if mount_api {
            "open_tree/move_mount/fsopen/mount_setattr available".into()
        } else {
            "missing (Linux < 5.12): run cannot build the rootfs".into()
        },
    });
    let openat2 = sys::openat2_supported();
    features.push(Feature {
        name: "openat2",
        level: if openat2 {
            Level::Fully
        } else {
            Level::Partially
        },
        detail: if openat2 {
            "RESOLVE_IN_ROOT available".into()
        } else {
            "missing: mount targets are opened by a no-follow walk".into()
        },
    });
    let filesystems = read("/proc/filesystems").unwrap_or_default();
    let overlay = filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    features.push(Feature {
        name: "overlay",
        level: if overlay { Level::Fully } else { Level::Not },
        detail: if overlay {
            "overlay filesystem available".into()
        } else {
            "overlay not in /proc/filesystems (not used by run)".into()
        },
    });
    HostSupport {
        kernel: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
        root,
        features,
    }
}
