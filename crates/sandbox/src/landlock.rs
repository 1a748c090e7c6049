//! Landlock: read + execute on the root filesystem, read-write (never execute) on the tmpfs
//! mounts and declared volumes, and — with ABI ≥ 4 — no TCP bind/connect unless allowed.
//!
//! Landlock rights are inherited down the tree, so a rule on `/` would also grant execute on
//! `/tmp`. Instead the root itself only gets `read_dir`, and each of its entries gets
//! read + execute, except the writable mount points, which get read-write without execute: a
//! W^X split that holds even if a mount flag is lost.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::enforcement::Level;

/// The newest Landlock ABI rharden is tested with (Linux 6.15: ABI 7). Asking for it on an
/// older kernel gives "partially enforced", which the report shows.
const TARGET_ABI: ABI = ABI::V7;

/// The rules, in paths of the container (applied after `pivot_root`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandlockPlan {
    /// Read + execute (and read_dir) below these.
    pub read_exec: Vec<PathBuf>,
    /// Read only.
    pub read_only: Vec<PathBuf>,
    /// Read-write, never execute.
    pub read_write: Vec<PathBuf>,
    /// Device access: read, write, ioctl on device files.
    pub devices: Vec<PathBuf>,
    /// Whether TCP is restricted (not with `--network host`).
    pub restrict_tcp: bool,
    /// TCP ports that may be bound.
    pub tcp_bind: Vec<u16>,
    /// TCP ports that may be connected to.
    pub tcp_connect: Vec<u16>,
    /// Fail instead of degrading when the kernel lacks a feature.
    pub require_all: bool,
}

/// What Landlock enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandlockOutcome {
    /// Fully, partially or not.
    pub level: Level,
    /// What, for the report.
    pub detail: String,
}

/// Why Landlock could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The ruleset could not be built or applied.
    #[error("failed to apply the Landlock ruleset")]
    Ruleset(#[source] landlock::RulesetError),
    /// A rule's path could not be opened.
    #[error("failed to open Landlock rule path {}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: landlock::PathFdError,
    },
}

impl LandlockPlan {
    /// The default plan: `rx` on each entry of `/` except the writable mount points, `rw`
    /// on those (`writable`), devices on `/dev`, read on `/proc` and `/sys`.
    pub fn for_root(
        writable: &[PathBuf],
        root_entries: &[OsString],
        restrict_tcp: bool,
        require_all: bool,
    ) -> Self {
        let special = ["dev", "proc", "sys"];
        let mut read_exec = Vec::new();
        for name in root_entries {
            let path = PathBuf::from("/").join(name);
            let bytes = name.clone().into_vec();
            if special.iter().any(|s| s.as_bytes() == bytes.as_slice()) || writable.contains(&path)
            {
                continue;
            }
            read_exec.push(path);
        }
        LandlockPlan {
            read_exec,
            read_only: vec![PathBuf::from("/proc"), PathBuf::from("/sys")],
            read_write: writable.to_vec(),
            devices: vec![PathBuf::from("/dev")],
            restrict_tcp,
            tcp_bind: Vec::new(),
            tcp_connect: Vec::new(),
            require_all,
        }
    }
}

fn rule(
    path: &PathBuf,
    access: BitFlags<AccessFs>,
) -> Result<Option<PathBeneath<PathFd>>, LandlockError> {
    let fd = match PathFd::new(path) {
        Ok(fd) => fd,
        // An entry that vanished or a dangling symlink: nothing to grant.
        Err(_) if !path.exists() => return Ok(None),
        Err(source) => {
            return Err(LandlockError::Path {
                path: path.clone(),
                source,
            })
        }
    };
    let access = if path.is_dir() {
        access
    } else {
        access & AccessFs::from_file(TARGET_ABI)
    };
    Ok(Some(PathBeneath::new(fd, access)))
}

/// Builds and applies the ruleset to the calling process (and its future children).
pub fn apply(plan: &LandlockPlan) -> Result<LandlockOutcome, LandlockError> {
    let abi = TARGET_ABI;
    let level = if plan.require_all {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let read_exec = read | AccessFs::Execute;
    let read_write = AccessFs::from_all(abi) & !AccessFs::Execute;
    let devices = read | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
    let err = LandlockError::Ruleset;

    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?;
    if plan.restrict_tcp {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(err)?;
    }
    ruleset = ruleset.scope(Scope::from_all(abi)).map_err(err)?;
    let mut created = ruleset.create().map_err(err)?;
    created = created
        .add_rule(PathBeneath::new(
            PathFd::new("/").map_err(|source| LandlockError::Path {
                path: "/".into(),
                source,
            })?,
            AccessFs::ReadDir,
        ))
        .map_err(err)?;
    for (paths, access) in [
        (&plan.read_exec, read_exec),
        (&plan.read_only, read),
        (&plan.read_write, read_write),
        (&plan.devices, devices),
    ] {
        for path in paths {
            if let Some(r) = rule(path, access)? {
                created = created.add_rule(r).map_err(err)?;
            }
        }
    }
    if plan.restrict_tcp {
        for port in &plan.tcp_bind {
            created = created
                .add_rule(NetPort::new(*port, AccessNet::BindTcp))
                .map_err(err)?;
        }
        for port in &plan.tcp_connect {
            created = created
                .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
                .map_err(err)?;
        }
    }
    let status = created.restrict_self().map_err(err)?;
    let kernel_abi = crate::sys::landlock_abi();
    let level = match status.ruleset {
        RulesetStatus::FullyEnforced => Level::Fully,
        RulesetStatus::PartiallyEnforced => Level::Partially,
        RulesetStatus::NotEnforced => Level::Not,
    };
    let detail = format!(
        "kernel ABI {}, ruleset for ABI {}: rx on {} root entries, rw (no exec) on {}, devices on /dev, read on /proc /sys{}",
        kernel_abi.map_or_else(|| "none".to_owned(), |v| v.to_string()),
        abi as i32,
        plan.read_exec.len(),
        plan.read_write.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "),
        if plan.restrict_tcp { "; TCP bind/connect denied" } else { "; TCP not restricted (--network host)" },
    );
    Ok(LandlockOutcome { level, detail })
}
