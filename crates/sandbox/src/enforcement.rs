//! What the kernel actually enforced, mechanism by mechanism ("degrade loudly": nothing is
//! skipped silently; the report says fully, partially or not, and why).

use serde::{Deserialize, Serialize};

/// How much of a mechanism is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Everything asked for.
    Fully,
    /// Some of it (the detail says what is missing).
    Partially,
    /// None of it.
    Not,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Fully => "fully",
            Level::Partially => "partially",
            Level::Not => "not",
        })
    }
}

/// The mechanisms, in the order the sandbox applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// No inherited descriptors, a clean environment.
    Sanitize,
    /// The user namespace and its id mapping.
    UserNamespace,
    /// Mount, PID, IPC, UTS, network and cgroup namespaces.
    Namespaces,
    /// Read-only root, nosuid/nodev, tmpfs, /proc, /sys, /dev.
    Rootfs,
    /// Docker's masked and read-only paths.
    MaskedPaths,
    /// pivot_root with the old root detached.
    PivotRoot,
    /// cgroup pids (and memory) limits.
    Cgroups,
    /// rlimits.
    Rlimits,
    /// Capabilities dropped from every set.
    Capabilities,
    /// A non-root user.
    Identity,
    /// `no_new_privs`.
    NoNewPrivs,
    /// Landlock filesystem (and TCP) rules.
    Landlock,
    /// The seccomp filter.
    Seccomp,
}

impl Mechanism {
    /// Stable name (JSON and text report).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sanitize => "sanitize",
            Mechanism::UserNamespace => "user-namespace",
            Mechanism::Namespaces => "namespaces",
            Mechanism::Rootfs => "rootfs",
            Mechanism::MaskedPaths => "masked-paths",
            Mechanism::PivotRoot => "pivot-root",
            Mechanism::Cgroups => "cgroups",
            Mechanism::Rlimits => "rlimits",
            Mechanism::Capabilities => "capabilities",
            Mechanism::Identity => "identity",
            Mechanism::NoNewPrivs => "no-new-privs",
            Mechanism::Landlock => "landlock",
            Mechanism::Seccomp => "seccomp",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enforcement {
    /// Which mechanism.
    pub mechanism: Mechanism,
    /// How much of it holds.
    pub level: Level,
    /// What exactly (and, below `Fully`, what is missing and why).
    pub detail: String,
}

/// Everything the sandbox enforced for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// One entry per mechanism, in application order.
    pub entries: Vec<Enforcement>,
}

impl Report {
    /// Records a mechanism (replacing an earlier entry for it).
    pub fn record(&mut self, mechanism: Mechanism, level: Level, detail: impl Into<String>) {
        self.entries.retain(|e| e.mechanism != mechanism);
        self.entries.push(Enforcement {
            mechanism,
            level,
            detail: detail.into(),
        });
        self.entries.sort_by_key(|e| e.mechanism);
    }

    /// Merges `other`'s entries into this one.
    pub fn merge(&mut self, other: Report) {
        for e in other.entries {
            self.record(e.mechanism, e.level, e.detail);
        }
    }

    /// The entries that are not fully enforced.
    pub fn shortfalls(&self) -> impl Iterator<Item = &Enforcement> {
        self.entries.iter().filter(|e| e.level != Level::Fully)
    }

    /// The entry for `mechanism`.
    pub fn get(&self, mechanism: Mechanism) -> Option<&Enforcement> {
        self.entries.iter().find(|e| e.mechanism == mechanism)
    }
}
