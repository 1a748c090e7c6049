//! [`SandboxSpec`]: everything one run needs, typed and validated. Built with
//! [`SandboxSpecBuilder`] (from CLI settings) or from an OCI bundle (`bundle.rs`).
//!
//! Every hardening default is on; each is switched off only by an explicit field.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::caps::Capability;
use crate::profile::SeccompProfile;

/// The identity the workload runs as (ids inside the container).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
}

impl User {
    /// `nobody:nogroup`, the default when the image would run as root.
    pub const NOBODY: User = User {
        uid: 65534,
        gid: 65534,
    };
}

/// A bind mount of a host path into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Host path.
    pub source: PathBuf,
    /// Absolute path in the container (must exist in the rootfs).
    pub target: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

/// A size-limited tmpfs (nosuid, nodev, noexec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    /// Absolute path in the container (must exist in the rootfs).
    pub target: PathBuf,
    /// Size limit in bytes.
    pub size: u64,
}

/// The network the container sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// A new network namespace with only `lo` (up).
    #[default]
    Loopback,
    /// The host's network namespace (`--network host`).
    Host,
}

/// Resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// cgroup `pids.max`.
    pub pids: Option<u64>,
    /// cgroup memory limit in bytes.
    pub memory: Option<u64>,
    /// CPU limit in thousandths of a CPU (`--cpus 0.5` = 500): a CFS quota per 100 ms period.
    pub cpu_millis: Option<u64>,
    /// `RLIMIT_NOFILE` (soft, hard).
    pub nofile: (u64, u64),
    /// `RLIMIT_NPROC` (soft, hard); counted per user namespace since Linux 5.14.
    pub nproc: (u64, u64),
    /// `RLIMIT_CORE`: 0, no core dumps of secrets.
    pub core: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pids: Some(1024),
            memory: None,
            cpu_millis: None,
            nofile: (1024, 1024),
            nproc: (1024, 1024),
            core: 0,
        }
    }
}

/// Which seccomp filter the workload gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// `policies/seccomp/default.json`.
    Default,
    /// A profile loaded from a file (rharden's or Docker's format).
    Profile(Box<SeccompProfile>),
}

/// The user-namespace id mapping: container ids `0..count` are host ids `host_base..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapping {
    /// First host id.
    pub host_base: u32,
    /// Number of ids mapped.
    pub count: u32,
}

impl Default for IdMapping {
    /// 65536 ids from host id 100000 (the usual first `/etc/subuid` range). Host root is never
    /// mapped: files the host's root owns are `nobody` inside and root in the container is an
    /// unprivileged id on the host.
    fn default() -> Self {
        IdMapping {
            host_base: 100_000,
            count: 65_536,
        }
    }
}

/// Everything one sandboxed run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The root filesystem (host path).
    pub rootfs: PathBuf,
    /// Command and arguments (`args[0]` is looked up in `PATH` when it has no `/`).
    pub args: Vec<OsString>,
    /// Environment of the workload, `KEY=VALUE`, nothing inherited.
    pub env: Vec<OsString>,
    /// Working directory inside the container.
    pub cwd: PathBuf,
    /// Identity of the workload.
    pub user: User,
    /// Container hostname.
    pub hostname: OsString,
    /// Mount the root filesystem read-write (`--read-write`).
    pub read_write: bool,
    /// Bind mounts.
    pub volumes: Vec<Volume>,
    /// tmpfs mounts (default: `/tmp` and `/run`, 64 MiB each).
    pub tmpfs: Vec<Tmpfs>,
    /// Resource limits.
    pub limits: Limits,
    /// Network.
    pub network: Network,
    /// Capabilities kept (`--cap-add`); none by default.
    pub caps: Vec<Capability>,
    /// The seccomp filter.
    pub seccomp: Seccomp,
    /// Extra Landlock TCP ports that may be bound.
    pub tcp_bind: Vec<u16>,
    /// Extra Landlock TCP ports that may be connected to.
    pub tcp_connect: Vec<u16>,
    /// The user-namespace id mapping.
    pub id_mapping: IdMapping,
    /// Fail instead of degrading when a mechanism cannot be applied (`--require-all`).
    pub require_all: bool,
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// No command.
    #[error("failed to build the sandbox spec: no command to run")]
    NoCommand,
    /// A container path is not absolute or escapes with `..`.
    #[error("failed to build the sandbox spec: {what} {} must be absolute and without '..'", path.display())]
    BadContainerPath {
        /// Which field.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A uid/gid outside the mapped range.
    #[error("failed to build the sandbox spec: id {id} is outside the mapped range 0..{count}")]
    IdOutOfRange {
        /// The id.
        id: u32,
        /// The size of the mapping.
        count: u32,
    },
    /// The rootfs is not a directory.
    #[error("failed to build the sandbox spec: rootfs {} is not a directory", path.display())]
    Rootfs {
        /// The path.
        path: PathBuf,
    },
    /// A volume source does not exist.
    #[error("failed to build the sandbox spec: volume source {} does not exist", path.display())]
    VolumeSource {
        /// The path.
        path: PathBuf,
    },
    /// A hostname that is not a valid host name.
    #[error("failed to build the sandbox spec: invalid hostname {0:?}")]
    Hostname(OsString),
}

/// Builds a [`SandboxSpec`] with every default on.
#[derive(Debug, Clone)]
pub struct SandboxSpecBuilder {
    spec: SandboxSpec,
}

/// The default `PATH` of the workload (Docker's).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl SandboxSpec {
    /// Starts a spec for `rootfs` running `args`.
    pub fn builder(rootfs: impl Into<PathBuf>, args: Vec<OsString>) -> SandboxSpecBuilder {
        SandboxSpecBuilder {
            spec: SandboxSpec {
                rootfs: rootfs.into(),
                args,
                env: Vec::new(),
                cwd: PathBuf::from("/"),
                user: User::NOBODY,
                hostname: OsString::from("rharden"),
                read_write: false,
                volumes: Vec::new(),
                tmpfs: vec![
                    Tmpfs {
                        target: PathBuf::from("/tmp"),
                        size: 64 << 20,
                    },
                    Tmpfs {
                        target: PathBuf::from("/run"),
                        size: 64 << 20,
                    },
                ],
                limits: Limits::default(),
                network: Network::Loopback,
                caps: Vec::new(),
                seccomp: Seccomp::Default,
                tcp_bind: Vec::new(),
                tcp_connect: Vec::new(),
                id_mapping: IdMapping::default(),
                require_all: false,
            },
        }
    }
}

fn check_container_path(what: &'static str, path: &Path) -> Result<(), SpecError> {
    let ok = path.is_absolute()
        && path
            .components()
            .all(|c| !matches!(c, Component::ParentDir));
    if ok {
        Ok(())
    } else {
        Err(SpecError::BadContainerPath {
            what,
            path: path.to_owned(),
        })
    }
}

impl SandboxSpecBuilder {
    /// Sets the environment (`KEY=VALUE` entries); `PATH` is added when missing.
    pub fn env(mut self, env: Vec<OsString>) -> Self {
        self.spec.env = env;
        self
    }
    /// Sets the working directory.
    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.spec.cwd = cwd.into();
        self
    }
    /// Sets the user.
    pub fn user(mut self, user: User) -> Self {
        self.spec.user = user;
        self
    }
    /// Sets the hostname.
    pub fn hostname(mut self, hostname: impl Into<OsString>) -> Self {
        self.spec.hostname = hostname.into();
        self
    }
    /// Mounts the rootfs read-write.
    pub fn read_write(mut self, yes: bool) -> Self {
        self.spec.read_write = yes;
        self
    }
    /// Adds a bind mount.
    pub fn volume(mut self, volume: Volume) -> Self {
        self.spec.volumes.push(volume);
        self
    }
    /// Adds a tmpfs (replacing a default one at the same place).
    pub fn tmpfs(mut self, tmpfs: Tmpfs) -> Self {
        self.spec.tmpfs.retain(|t| t.target != tmpfs.target);
        self.spec.tmpfs.push(tmpfs);
        self
    }
    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.spec.limits = limits;
        self
    }
    /// Sets the network.
    pub fn network(mut self, network: Network) -> Self {
        self.spec.network = network;
        self
    }
    /// Keeps these capabilities.
    pub fn caps(mut self, caps: Vec<Capability>) -> Self {
        self.spec.caps = caps;
        self
    }
    /// Sets the seccomp filter.
    pub fn seccomp(mut self, seccomp: Seccomp) -> Self {
        self.spec.seccomp = seccomp;
        self
    }
    /// Sets the id mapping.
    pub fn id_mapping(mut self, mapping: IdMapping) -> Self {
        self.spec.id_mapping = mapping;
        self
    }
    /// Makes every shortfall fatal.
    pub fn require_all(mut self, yes: bool) -> Self {
        self.spec.require_all = yes;
        self
    }

    /// The spec as built so far (not yet validated).
    pub fn peek(&self) -> &SandboxSpec {
        &self.spec
    }

    /// Validates and returns the spec.
    pub fn build(mut self) -> Result<SandboxSpec, SpecError> {
        let spec = &mut self.spec;
        if spec.args.is_empty() {
            return Err(SpecError::NoCommand);
        }
        if !spec.rootfs.is_dir() {
            return Err(SpecError::Rootfs {
                path: spec.rootfs.clone(),
            });
        }
        check_container_path("working directory", &spec.cwd)?;
        for v in &spec.volumes {
            check_container_path("volume target", &v.target)?;
            if v.source.symlink_metadata().is_err() {
                return Err(SpecError::VolumeSource {
                    path: v.source.clone(),
                });
            }
        }
        for t in &spec.tmpfs {
            check_container_path("tmpfs target", &t.target)?;
        }
        for id in [spec.user.uid, spec.user.gid] {
            if id >= spec.id_mapping.count {
                return Err(SpecError::IdOutOfRange {
                    id,
                    count: spec.id_mapping.count,
                });
            }
        }
        let host = spec.hostname.as_encoded_bytes();
        if host.is_empty()
            || host.len() > 64
            || !host
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
        {
            return Err(SpecError::Hostname(spec.hostname.clone()));
        }
        if !spec
            .env
            .iter()
            .any(|e| e.as_encoded_bytes().starts_with(b"PATH="))
        {
            spec.env.insert(0, OsString::from(DEFAULT_PATH));
        }
        if !spec
            .env
            .iter()
            .any(|e| e.as_encoded_bytes().starts_with(b"HOME="))
        {
            spec.env.push(OsString::from("HOME=/"));
        }
        Ok(self.spec)
    }
}
