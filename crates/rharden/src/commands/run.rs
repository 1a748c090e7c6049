//! `rharden run`: runs a root filesystem or an OCI bundle in the hardened sandbox.
//!
//! Exit codes (the container convention, not the scanner's): the workload's own code, 128 +
//! signal when a signal killed it, 125 when rharden fails before the command starts, 126 when
//! the command cannot be executed, 127 when it is not found.
//! An IMAGE is unpacked once into a digest-keyed cache (`run_image.rs`) and run with its config.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use rharden_sandbox::{
    Capability, Limits, Network, ProfileContext, Report, RunObserver, Sandbox, SandboxSpec,
    SandboxSpecBuilder, Seccomp, SeccompProfile, Tmpfs, User, Volume,
};

use super::run_image::{self, ImageSummary};
use crate::error::CliError;
use crate::exit::{report_error, Status};

/// Exit code when rharden fails before the command starts.
const SETUP_FAILED: u8 = 125;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkArg {
    /// A new network namespace with only loopback.
    None,
    /// The host's network (no network namespace, no Landlock TCP rules).
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["image", "rootfs", "bundle"])))]
pub struct RunArgs {
    /// Run this image (any form `inspect` reads): its rootfs, unpacked once into a cache keyed
    /// by its config digest, and its config (User, Env, WorkingDir, Entrypoint, Cmd).
    #[arg(value_name = "IMAGE")]
    pub image: Option<PathBuf>,
    /// Run this directory tree as the root filesystem (with CMD).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Run an OCI runtime bundle (DIR/config.json: root, process, mounts, rlimits).
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Mount the root filesystem read-write.
    #[arg(long)]
    pub read_write: bool,
    /// Bind-mount a host path (DST must exist in the rootfs).
    #[arg(long = "volume", short = 'v', value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// Mount a size-limited tmpfs (nosuid, nodev, noexec) at DST [default size 64m].
    #[arg(long = "tmpfs", value_name = "DST[:SIZE]")]
    pub tmpfs: Vec<String>,
    /// Network: a private loopback-only namespace, or the host's.
    #[arg(long, value_enum, default_value_t = NetworkArg::None)]
    pub network: NetworkArg,
    /// Set an environment variable (KEY alone copies it from rharden's environment).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<OsString>,
    /// Working directory inside the container.
    #[arg(long, short = 'w', value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Container hostname.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Maximum number of processes (cgroup pids.max); 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub pids_limit: u64,
    /// Memory limit (bytes, or with k/m/g).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Run as UID[:GID] (numbers, or names from the rootfs's /etc/passwd) [default: the
    /// bundle's user, or 65534:65534 instead of root].
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Keep a capability (all are dropped otherwise).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Seccomp profile (rharden's format or Docker's JSON) [default: policies/seccomp/default.json].
    #[arg(long, value_name = "FILE")]
    pub seccomp: Option<PathBuf>,
    /// Replace the image's ENTRYPOINT (and drop its CMD, as docker does); '' clears it.
    #[arg(long, value_name = "PROGRAM", requires = "image")]
    pub entrypoint: Option<String>,
    /// Scan the image first and refuse to start it (exit 125) when this policy fails; the
    /// verdict is cached by config digest and policy hash.
    #[arg(long, value_name = "FILE", requires = "image")]
    pub policy: Option<PathBuf>,
    /// CPU limit in CPUs, e.g. 0.5 or 2 (cgroup cpu.max, or cpu.cfs_quota_us on cgroup v1).
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,
    #[command(flatten)]
    pub selection: crate::args::ImageSelection,
    /// Fail (exit 125) when any mechanism cannot be fully enforced.
    #[arg(long)]
    pub require_all: bool,
    /// Print what was enforced, mechanism by mechanism, on stderr once the command started.
    #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "text")]
    pub report: Option<ReportFormat>,
    /// The command and its arguments [default: the bundle's].
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Bad `run` input.
#[derive(Debug, thiserror::Error)]
enum InputError {
    #[error("{0:?} is not SRC:DST[:ro]")]
    Volume(String),
    #[error("{0:?} is not DST[:SIZE]")]
    Tmpfs(String),
    #[error("{0:?} is not a size (bytes, or with k/m/g)")]
    Size(String),
    #[error(
        "{0:?} is not UID[:GID] (numbers or names in the rootfs's /etc/passwd and /etc/group)"
    )]
    User(String),
    #[error("unknown capability {0:?}")]
    Capability(String),
    #[error("--rootfs needs a command after --")]
    NoCommand,
    #[error("the image has no ENTRYPOINT or CMD: give a command after --")]
    NoImageCommand,
    #[error("the image's USER {0:?} is not in its /etc/passwd or /etc/group")]
    ImageUser(String),
    #[error("--read-write would modify the shared cached rootfs of the image (use --tmpfs or --volume, or `rharden unpack` and --rootfs)")]
    ReadWriteImage,
    #[error("{0:?} is not a number of CPUs (0.01 or more)")]
    Cpus(String),
}

fn bad(what: &str, err: InputError) -> CliError {
    CliError::new(what.to_owned(), err)
}

/// Looks `name` up in the rootfs's `/etc/passwd` or `/etc/group` (field 3), never following a
/// symlink out of the rootfs.
fn lookup(rootfs: &Path, file: &str, name: &str) -> Option<u32> {
    let etc = rootfs.join("etc");
    let path = etc.join(file);
    let regular = |p: &Path| {
        p.symlink_metadata()
            .map(|m| !m.file_type().is_symlink())
            .unwrap_or(false)
    };
    if !regular(&etc) || !regular(&path) {
        return None;
    }
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}

/// The primary gid (field 4) of the first `/etc/passwd` entry with this uid.
fn primary_gid(rootfs: &Path, uid: u32) -> Option<u32> {
    let etc = rootfs.join("etc");
    let path = etc.join("passwd");
    let regular = |p: &Path| {
        p.symlink_metadata()
            .map(|m| !m.file_type().is_symlink())
            .unwrap_or(false)
    };
    if !regular(&etc) || !regular(&path) {
        return None;
    }
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2)?.parse::<u32>().ok()? == uid).then(|| f.get(3)?.parse().ok())?
    })
}

fn parse_user(rootfs: &Path, spec: &str) -> Result<User, InputError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let id = |s: &str, file| s.parse().ok().or_else(|| lookup(rootfs, file, s));
    let uid = id(u, "passwd").ok_or_else(|| InputError::User(spec.into()))?;
    let gid = match g {
        Some(g) => id(g, "group").ok_or_else(|| InputError::User(spec.into()))?,
        // As docker: the user's primary group from /etc/passwd, else the uid.
        None => primary_gid(rootfs, uid).unwrap_or(uid),
    };
    Ok(User { uid, gid })
}

fn parse_size(s: &str) -> Result<u64, InputError> {
    rharden_sandbox::parse_size(s).ok_or_else(|| InputError::Size(s.into()))
}

/// Raw args → a spec builder (args → settings → library options).
fn resolve(
    args: &RunArgs,
) -> Result<(SandboxSpecBuilder, Vec<String>, Option<ImageSummary>), CliError> {
    let mut notes = Vec::new();
    let mut summary = None;
    let mut policy_requires_all = false;
    let mut builder = match (&args.rootfs, &args.bundle) {
        _ if args.image.is_some() => {
            let path = args.image.as_deref().unwrap_or(Path::new(""));
            if args.read_write {
                return Err(bad("read --read-write", InputError::ReadWriteImage));
            }
            let prepared = run_image::prepare(path, &args.selection, args.policy.as_deref())?;
            notes.extend(prepared.notes);
            if let (Some(reason), Some(file)) = (&prepared.require_all, &args.policy) {
                if !args.require_all {
                    notes.push(format!(
                        "the policy {} requires every mechanism fully enforced (run.require_all, as --require-all): {reason}",
                        file.display()
                    ));
                }
                policy_requires_all = true;
            }
            let config = &prepared.config;
            let argv = run_image::command(config, args.entrypoint.as_deref(), &args.command);
            if argv.is_empty() {
                return Err(bad("read the command", InputError::NoImageCommand));
            }
            let mut b = SandboxSpec::builder(prepared.rootfs.clone(), argv)
                .env(config.env.iter().flatten().map(OsString::from).collect());
            if let Some(dir) = config.working_dir.as_deref().filter(|d| !d.is_empty()) {
                // Docker resolves a relative WorkingDir from /; harden verifies it inside the root.
                b = b.cwd(Path::new("/").join(dir));
            }
            if args.user.is_none() {
                let user = config.user.as_deref().unwrap_or("").trim();
                if config.runs_as_root() {
                    notes.push(format!(
                        "the image runs as root{}: running as {}:{} (--user 0 keeps root of the user namespace)",
                        if user.is_empty() { String::new() } else { format!(" ({user})") },
                        User::NOBODY.uid,
                        User::NOBODY.gid
                    ));
                    b = b.user(User::NOBODY);
                } else {
                    let resolved = parse_user(&prepared.rootfs, user).map_err(|_| {
                        bad(
                            "read the image's config",
                            InputError::ImageUser(user.into()),
                        )
                    })?;
                    b = b.user(resolved);
                }
            }
            summary = Some(prepared.summary);
            b
        }
        (Some(rootfs), _) => {
            if args.command.is_empty() {
                return Err(bad("read the command", InputError::NoCommand));
            }
            SandboxSpec::builder(rootfs.clone(), args.command.clone())
        }
        (None, Some(bundle)) => {
            let loaded = rharden_sandbox::load_bundle(bundle, args.command.clone())
                .map_err(|e| CliError::new(format!("read the bundle {}", bundle.display()), e))?;
            notes.extend(loaded.notes);
            loaded.builder
        }
        (None, None) => return Err(bad("read the command", InputError::NoCommand)),
    };
    let rootfs = builder.peek().rootfs.clone();
    if args.read_write {
        builder = builder.read_write(true);
    }
    for v in &args.volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (source, target, read_only) = match parts.as_slice() {
            [s, d] => (s, d, false),
            [s, d, "ro"] => (s, d, true),
            [s, d, "rw"] => (s, d, false),
            _ => return Err(bad("read --volume", InputError::Volume(v.clone()))),
        };
        builder = builder.volume(Volume {
            source: PathBuf::from(source),
            target: PathBuf::from(target),
            read_only,
        });
    }
    for t in &args.tmpfs {
        let (target, size) = match t.split_once(':') {
            Some((d, s)) => (d, parse_size(s).map_err(|e| bad("read --tmpfs", e))?),
            None => (t.as_str(), 64 << 20),
        };
        if target.is_empty() {
            return Err(bad("read --tmpfs", InputError::Tmpfs(t.clone())));
        }
        builder = builder.tmpfs(Tmpfs {
            target: PathBuf::from(target),
            size,
        });
    }
    if args.network == NetworkArg::Host {
        builder = builder.network(Network::Host);
    }
    if !args.env.is_empty() {
        // --env adds to (and overrides) the bundle's environment.
        let mut env: Vec<OsString> = builder_env(&builder);
        for e in &args.env {
            let entry = if e.as_encoded_bytes().contains(&b'=') {
                e.clone()
            } else {
                let mut kv = e.clone();
                kv.push("=");
                kv.push(std::env::var_os(e).unwrap_or_default());
                kv
            };
            let key_len = entry
                .as_encoded_bytes()
                .iter()
                .position(|b| *b == b'=')
                .unwrap_or(0)
                + 1;
            env.retain(|old| {
                old.as_encoded_bytes().get(..key_len) != entry.as_encoded_bytes().get(..key_len)
            });
            env.push(entry);
        }
        builder = builder.env(env);
    }
    if let Some(dir) = &args.workdir {
        builder = builder.cwd(dir.clone());
    }
    if let Some(name) = &args.hostname {
        builder = builder.hostname(name.clone());
    }
    let mut limits = builder_limits(&builder);
    limits.pids = (args.pids_limit > 0).then_some(args.pids_limit);
    if let Some(m) = &args.memory {
        limits.memory = Some(parse_size(m).map_err(|e| bad("read --memory", e))?);
    }
    if let Some(c) = &args.cpus {
        let cpus: f64 = c
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.01 && *n <= 1e6)
            .ok_or_else(|| bad("read --cpus", InputError::Cpus(c.clone())))?;
        // In thousandths: within 0.01..=1e6, so the rounded value fits.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let millis = (cpus * 1000.0).round() as u64;
        limits.cpu_millis = Some(millis);
    }
    builder = builder.limits(limits);
    if let Some(user) = &args.user {
        builder = builder.user(parse_user(&rootfs, user).map_err(|e| bad("read --user", e))?);
    }
    let caps = args
        .cap_add
        .iter()
        .map(|c| {
            Capability::from_name(c)
                .ok_or_else(|| bad("read --cap-add", InputError::Capability(c.clone())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(file) = &args.seccomp {
        let profile = SeccompProfile::from_path(file, &ProfileContext::current(&caps))
            .map_err(|e| CliError::new("load the seccomp profile", e))?;
        if !profile.unknown_syscalls.is_empty() {
            notes.push(format!(
                "seccomp profile names {} system calls this architecture lacks (skipped): {}",
                profile.unknown_syscalls.len(),
                profile.unknown_syscalls.join(" ")
            ));
        }
        builder = builder.seccomp(Seccomp::Profile(Box::new(profile)));
    }
    builder = builder
        .caps(caps)
        .require_all(args.require_all || policy_requires_all);
    Ok((builder, notes, summary))
}

fn builder_env(builder: &SandboxSpecBuilder) -> Vec<OsString> {
    builder.peek().env.clone()
}

fn builder_limits(builder: &SandboxSpecBuilder) -> Limits {
    builder.peek().limits.clone()
}

/// Prints the shortfalls (always) and the report (when asked) once the command started.
struct Printer {
    format: Option<ReportFormat>,
    image: Option<ImageSummary>,
}

impl RunObserver for Printer {
    fn started(&mut self, report: &Report) {
        let mut err = std::io::stderr().lock();
        for e in report.shortfalls() {
            let _ = writeln!(
                err,
                "warning: {} {} enforced: {}",
                e.mechanism.name(),
                e.level,
                e.detail
            );
        }
        match self.format {
            Some(ReportFormat::Text) => {
                if let Some(image) = &self.image {
                    let _ = writeln!(
                        err,
                        "{:<15} {:<10} {} rootfs {}",
                        "image",
                        image.cache,
                        image.config_digest,
                        image.rootfs.display()
                    );
                    if let Some(v) = &image.policy {
                        let _ = writeln!(
                            err,
                            "{:<15} {:<10} {} ({} findings, none at or above {}{})",
                            "policy",
                            "passed",
                            v.policy,
                            v.findings,
                            v.fail_on,
                            if v.cached { "; cached verdict" } else { "" }
                        );
                    }
                }
                for e in &report.entries {
                    let _ = writeln!(
                        err,
                        "{:<15} {:<10} {}",
                        e.mechanism.name(),
                        e.level.to_string(),
                        e.detail
                    );
                }
            }
            Some(ReportFormat::Json) => {
                let mut value = serde_json::to_value(report).unwrap_or_default();
                if let (Some(image), Some(map)) = (&self.image, value.as_object_mut()) {
                    map.insert(
                        "image".into(),
                        serde_json::to_value(image).unwrap_or_default(),
                    );
                }
                if let Ok(json) = serde_json::to_string_pretty(&value) {
                    let _ = writeln!(err, "{json}");
                }
            }
            None => {}
        }
    }
}

pub fn execute(args: RunArgs) -> Result<Status, CliError> {
    let started = (|| {
        let (builder, notes, summary) = resolve(&args)?;
        let mut err = std::io::stderr().lock();
        for note in notes {
            let _ = writeln!(err, "note: {note}");
        }
        drop(err);
        let spec = builder
            .build()
            .map_err(|e| CliError::new("prepare the container", e))?;
        // The compiled built-in seccomp filter is cached beside the rootfs cache.
        let filter_cache = run_image::cache_root().ok().map(|r| r.join("seccomp"));
        // The CLI exits right after the run: PID 1 may finish exiting on its own.
        Sandbox::with_filter_cache(spec, filter_cache.as_deref())
            .map(|s| (s.exiting_after_run(), summary))
            .map_err(|e| CliError::new("prepare the container", e))
    })();
    let (sandbox, image) = match started {
        Ok(s) => s,
        Err(e) => {
            report_error(&e);
            return Ok(Status::Code(SETUP_FAILED));
        }
    };
    let mut printer = Printer {
        format: args.report,
        image,
    };
    match sandbox.run(&mut printer) {
        Ok(outcome) => {
            if let Some(error) = &outcome.exec_error {
                let _ = writeln!(std::io::stderr().lock(), "error: {error}");
            }
            Ok(Status::Code(
                u8::try_from(outcome.code).unwrap_or(SETUP_FAILED),
            ))
        }
        Err(e) => {
            report_error(&CliError::new("run the container", e));
            Ok(Status::Code(SETUP_FAILED))
        }
    }
}
