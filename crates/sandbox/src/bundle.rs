//! OCI runtime bundles (`config.json`, runtime-spec 1.x, parsed by the `oci-spec` crate):
//! root, process args/env/cwd/user, hostname, bind and tmpfs mounts, rlimits, pids and memory.
//!
//! rharden's defaults still apply: the rootfs stays read-only unless the caller asks for
//! `--read-write`, a root user becomes 65534:65534, and the bundle's proc/sysfs/devpts/mqueue/
//! cgroup mounts are replaced by rharden's own (with masked paths). Each such decision is
//! returned as a note for the caller to show.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{PosixRlimitType, Spec};

use crate::spec::{Limits, SandboxSpec, SandboxSpecBuilder, Tmpfs, User, Volume};

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// config.json could not be read or parsed.
    #[error("failed to load {}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// A required field is missing.
    #[error("failed to use {}: {field} is missing", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// JSON pointer of the field.
        field: &'static str,
    },
}

/// A builder from the bundle, plus what was adapted.
#[derive(Debug)]
pub struct FromBundle {
    /// The spec builder, with the bundle's values.
    pub builder: SandboxSpecBuilder,
    /// Whether the bundle named a user other than root.
    pub user_from_bundle: bool,
    /// What rharden did differently from the bundle, and why.
    pub notes: Vec<String>,
}

/// Reads `dir/config.json`. `args` (when not empty) replaces the bundle's process args.
pub fn load(dir: &Path, args: Vec<OsString>) -> Result<FromBundle, BundleError> {
    let path = dir.join("config.json");
    let spec = Spec::load(&path).map_err(|source| BundleError::Load {
        path: path.clone(),
        source,
    })?;
    let root = spec.root().as_ref().ok_or(BundleError::Missing {
        path: path.clone(),
        field: "/root",
    })?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    let mut notes = Vec::new();
    if root.readonly() == Some(false) {
        notes.push("config.json has root.readonly=false; rharden keeps the rootfs read-only unless --read-write".into());
    }
    let process = spec.process().as_ref().ok_or(BundleError::Missing {
        path: path.clone(),
        field: "/process",
    })?;
    let args = if args.is_empty() {
        process
            .args()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(OsString::from)
            .collect()
    } else {
        args
    };
    let mut builder = SandboxSpec::builder(rootfs, args)
        .env(
            process
                .env()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(OsString::from)
                .collect(),
        )
        .cwd(process.cwd().clone());
    let user = process.user();
    let user_from_bundle = user.uid() != 0;
    if user_from_bundle {
        builder = builder.user(User {
            uid: user.uid(),
            gid: user.gid(),
        });
    } else {
        notes.push("config.json runs as uid 0; rharden runs it as 65534:65534 unless --user says otherwise".into());
    }
    if let Some(hostname) = spec.hostname() {
        builder = builder.hostname(hostname.clone());
    }
    let mut limits = Limits::default();
    for rl in process.rlimits().iter().flatten() {
        match rl.typ() {
            PosixRlimitType::RlimitNofile => limits.nofile = (rl.soft(), rl.hard()),
            PosixRlimitType::RlimitNproc => limits.nproc = (rl.soft(), rl.hard()),
            PosixRlimitType::RlimitCore => limits.core = rl.hard().min(rl.soft()),
            other => notes.push(format!("rlimit {other:?} from config.json is not applied")),
        }
    }
    if let Some(resources) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        if let Some(pids) = resources.pids() {
            limits.pids = u64::try_from(pids.limit()).ok().filter(|l| *l > 0);
        }
        if let Some(limit) = resources.memory().and_then(|m| m.limit()) {
            limits.memory = u64::try_from(limit).ok().filter(|l| *l > 0);
        }
    }
    builder = builder.limits(limits);
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination();
        let options = m.options().clone().unwrap_or_default();
        let typ = m.typ().clone().unwrap_or_default();
        if typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind") {
            if let Some(source) = m.source() {
                builder = builder.volume(Volume {
                    source: source.clone(),
                    target: dest.clone(),
                    read_only: options.iter().any(|o| o == "ro"),
                });
            }
        } else if typ == "tmpfs" && !dest.starts_with("/dev") {
            let size = options
                .iter()
                .find_map(|o| o.strip_prefix("size="))
                .and_then(parse_size)
                .unwrap_or(64 << 20);
            builder = builder.tmpfs(Tmpfs {
                target: dest.clone(),
                size,
            });
        } else {
            notes.push(format!(
                "mount {} ({typ}) from config.json replaced by rharden's own",
                dest.display()
            ));
        }
    }
    Ok(FromBundle {
        builder,
        user_from_bundle,
        notes,
    })
}

/// `64m`, `1g`, `512k`, `1048576`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, mult) = match s.chars().last()?.to_ascii_lowercase() {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}
