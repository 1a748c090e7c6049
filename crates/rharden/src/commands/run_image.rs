//! `rharden run IMAGE`: the image's root filesystem from the digest-keyed cache (unpacked once,
//! atomically), its runtime config (User, Env, WorkingDir, Entrypoint, Cmd), and, with
//! `--policy`, the scanner's verdict first (cached by config digest and policy hash).

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rharden_flatten::{IdShift, RootfsCache, UnpackOptions};
use rharden_image::{Digest, Image, RuntimeConfig};
use rharden_sandbox::IdMapping;
use rharden_scan::secrets::rules::RuleSet;
use rharden_scan::{Policy, RunRequirements, ScanOptions};
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// Where the caches live: `$RHARDEN_CACHE_DIR`, else `/var/cache/rharden` as root, else
/// `$XDG_CACHE_HOME/rharden` (or `~/.cache/rharden`).
pub fn cache_root() -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os("RHARDEN_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if rustix::process::geteuid().is_root() {
        return Ok(PathBuf::from("/var/cache/rharden"));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("rharden"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache/rharden")),
        None => Err(CliError::new(
            "find a cache directory",
            InputError("set RHARDEN_CACHE_DIR, XDG_CACHE_HOME or HOME".into()),
        )),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InputError(String);

/// The image, ready to run.
pub struct Prepared {
    /// Its root filesystem (in the cache).
    pub rootfs: PathBuf,
    /// Its runtime config.
    pub config: RuntimeConfig,
    /// One line for the report: digest, cache entry, reused or unpacked.
    pub summary: ImageSummary,
    /// Notes to print before the run.
    pub notes: Vec<String>,
    /// The policy's `run.require_all`, with its reason: every mechanism fully enforced or no start.
    pub require_all: Option<String>,
}

/// What `--report` says about the image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    pub config_digest: String,
    pub rootfs: PathBuf,
    /// `reused` (cache hit) or `unpacked`.
    pub cache: &'static str,
    /// The policy verdict, when `--policy` was given.
    pub policy: Option<Verdict>,
}

/// A policy verdict, as cached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub policy: String,
    pub policy_sha256: String,
    pub fail_on: String,
    /// Findings at or above `fail_on`.
    pub failing: usize,
    pub findings: usize,
    pub failed: bool,
    /// Read from the verdict cache (no scan this time).
    #[serde(default)]
    pub cached: bool,
}

/// Opens the image, checks it against `policy` (when given), and returns its cached rootfs.
pub fn prepare(
    path: &Path,
    selection: &crate::args::ImageSelection,
    policy: Option<&Path>,
) -> Result<Prepared, CliError> {
    // The image is read on rayon's pool, whose threads outlive this and share the process with
    // the run. Each blocks the signals the run waits for from its start, so none takes a
    // SIGCHLD (lost: the run would wait forever) or a SIGTERM (which would kill rharden instead
    // of reaching the workload). This thread keeps them until the run: a SIGTERM while
    // unpacking still ends rharden. (Fails only if the pool exists already; nothing before
    // this builds it.)
    let _ = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| {
            // Only fails for an invalid signal set, which this one is not.
            let _ = rharden_sandbox::block_run_signals();
        })
        .build_global();
    let what = || format!("open the image {}", path.display());
    let image =
        Image::open(path, &super::open_options(selection)).map_err(|e| CliError::new(what(), e))?;
    let root = cache_root()?;
    let mut notes = Vec::new();
    let (verdict, run) = match policy {
        Some(file) => {
            let (verdict, run) = gate(&image, path, file, &root)?;
            (Some(verdict), run)
        }
        None => (None, None),
    };
    let require_all = run.filter(|r| r.require_all).map(|r| r.reason);
    let is_root = rustix::process::geteuid().is_root();
    // As root, the sandbox maps container ids 0..count to host ids host_base..: the cached tree
    // is owned accordingly, so the container sees the image's owners.
    let mapping = IdMapping::default();
    let options = UnpackOptions {
        id_shift: is_root.then_some(IdShift {
            base: mapping.host_base,
            count: mapping.count,
        }),
    };
    let cache = RootfsCache::new(root.join("rootfs"));
    let mut image = image;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        crate::progress::attach(&mut image, "unpacking");
    }
    let cached = cache.get_or_unpack(&image, &options).map_err(|e| {
        CliError::new(
            format!(
                "unpack {} into the cache {}",
                path.display(),
                cache.dir().display()
            ),
            e,
        )
    })?;
    for c in &cached.cleaned {
        notes.push(format!("removed {} (left by a killed unpack)", c.display()));
    }
    if !cached.created_mount_points.is_empty() {
        notes.push(format!(
            "the image has no {}: created as empty mount points in the cached rootfs",
            cached.created_mount_points.join(" ")
        ));
    }
    if let Some(report) = &cached.unpacked {
        for n in &report.notes {
            notes.push(format!(
                "unpack: {} not restored on {} entries (e.g. {}): {}",
                n.what, n.count, n.example, n.reason
            ));
        }
    }
    Ok(Prepared {
        rootfs: cached.rootfs.clone(),
        config: image.config.config.clone(),
        summary: ImageSummary {
            config_digest: image.config_digest.to_string(),
            rootfs: cached.rootfs,
            cache: if cached.reused { "reused" } else { "unpacked" },
            policy: verdict,
        },
        notes,
        require_all,
    })
}

/// The policy's verdict on the image, from the verdict cache or a scan (an error when it
/// fails), and what the policy asks of the runtime.
fn gate(
    image: &Image,
    path: &Path,
    file: &Path,
    root: &Path,
) -> Result<(Verdict, Option<RunRequirements>), CliError> {
    let policy_what = || format!("load the policy {}", file.display());
    let bytes = std::fs::read(file).map_err(|e| CliError::new(policy_what(), e))?;
    let policy = Policy::load(file).map_err(|e| CliError::new(policy_what(), e))?;
    // The verdict depends on the policy and on the scanner (its rules): both are in the key.
    let mut keyed = bytes;
    keyed.extend_from_slice(concat!("\0rharden ", env!("CARGO_PKG_VERSION")).as_bytes());
    let policy_hash = hex(&Digest::of(&keyed));
    let config_hash = hex(&image.config_digest);
    let store = root.join("verdicts");
    let entry = store.join(format!("{config_hash}-{}.json", &policy_hash[..16]));
    let cached = std::fs::read(&entry)
        .ok()
        .and_then(|b| serde_json::from_slice::<Verdict>(&b).ok())
        .filter(|v| v.policy_sha256 == policy_hash);
    let verdict = match cached {
        Some(mut v) => {
            v.cached = true;
            v.policy = file.display().to_string();
            v
        }
        None => {
            let rules = RuleSet::builtin()
                .map_err(|e| CliError::new("load the built-in secret rules", e))?;
            let options = ScanOptions {
                rules: &rules,
                policy: &policy,
                fail_on: None,
                baseline: None,
                show_secrets: false,
            };
            let report = rharden_scan::scan(image, path, &options)
                .map_err(|e| CliError::new(format!("scan {}", path.display()), e))?;
            let fail_on = report.summary.fail_on;
            let v = Verdict {
                policy: file.display().to_string(),
                policy_sha256: policy_hash,
                fail_on: fail_on.name().to_owned(),
                failing: report
                    .findings
                    .iter()
                    .filter(|f| f.severity >= fail_on)
                    .count(),
                findings: report.summary.findings,
                failed: report.summary.failed,
                cached: false,
            };
            store_verdict(&store, &entry, &v);
            v
        }
    };
    if verdict.failed {
        return Err(CliError::new(
            format!("start {}", path.display()),
            InputError(format!(
                "the policy {} failed: {} findings at or above {} (of {}); `rharden scan {} --policy {}` lists them",
                verdict.policy,
                verdict.failing,
                verdict.fail_on,
                verdict.findings,
                path.display(),
                file.display()
            )),
        ));
    }
    Ok((verdict, policy.run))
}

/// Best effort: a verdict that cannot be stored is computed again next time. Written into an
/// unnamed file (`O_TMPFILE`) and linked under its name only when complete (the old entry
/// unlinked just before; of two writers one name wins): a rharden killed at any point leaves
/// no temporary file in the store, as a named one renamed into place would.
fn store_verdict(store: &Path, entry: &Path, verdict: &Verdict) {
    use rustix::fs::{AtFlags, Mode, OFlags, CWD};
    let write = || -> std::io::Result<()> {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(store)?;
        let fd = rustix::fs::open(
            store,
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut file = std::fs::File::from(fd);
        serde_json::to_writer(&mut file, verdict)?;
        file.write_all(b"\n")?;
        let unnamed = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        match std::fs::remove_file(entry) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        rustix::fs::linkat(CWD, unnamed.as_str(), CWD, entry, AtFlags::SYMLINK_FOLLOW)?;
        Ok(())
    };
    let _ = write();
}

fn hex(d: &Digest) -> String {
    let s = d.to_string();
    s.strip_prefix("sha256:").unwrap_or(&s).to_owned()
}

/// The command docker would run: ENTRYPOINT (or `--entrypoint`, which also drops CMD) followed
/// by the CMD after `--`, or the image's CMD.
pub fn command(
    config: &RuntimeConfig,
    entrypoint: Option<&str>,
    command: &[OsString],
) -> Vec<OsString> {
    let mut argv: Vec<OsString> = match entrypoint {
        Some("") => Vec::new(),
        Some(e) => vec![e.into()],
        None => config
            .entrypoint
            .iter()
            .flatten()
            .map(OsString::from)
            .collect(),
    };
    if !command.is_empty() {
        argv.extend(command.iter().cloned());
    } else if entrypoint.is_none() {
        argv.extend(config.cmd.iter().flatten().map(OsString::from));
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> RuntimeConfig {
        RuntimeConfig {
            entrypoint: entrypoint.map(|e| e.iter().map(|s| s.to_string()).collect()),
            cmd: cmd.map(|e| e.iter().map(|s| s.to_string()).collect()),
            ..RuntimeConfig::default()
        }
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_verdict_is_replaced_whole_and_nothing_else_is_written() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = tmp.path().join("verdicts");
        let entry = store.join("abc-0123.json");
        let mut verdict = Verdict {
            policy: "p.json".into(),
            policy_sha256: "00".into(),
            fail_on: "high".into(),
            failing: 0,
            findings: 1,
            failed: false,
            cached: false,
        };
        store_verdict(&store, &entry, &verdict);
        verdict.findings = 2;
        store_verdict(&store, &entry, &verdict);
        let read: Verdict =
            serde_json::from_slice(&std::fs::read(&entry).expect("stored")).expect("json");
        assert_eq!(read.findings, 2);
        let names: Vec<_> = std::fs::read_dir(&store)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["abc-0123.json"]);
    }

    #[test]
    fn command_is_entrypoint_then_cmd_as_docker_does() {
        let c = config(Some(&["/init", "-v"]), Some(&["serve"]));
        assert_eq!(command(&c, None, &[]), os(&["/init", "-v", "serve"]));
        // CMD after -- replaces the image's CMD, keeps the ENTRYPOINT.
        assert_eq!(command(&c, None, &os(&["x"])), os(&["/init", "-v", "x"]));
        // --entrypoint replaces the ENTRYPOINT and drops the image's CMD.
        assert_eq!(command(&c, Some("/bin/sh"), &[]), os(&["/bin/sh"]));
        assert_eq!(
            command(&c, Some("/bin/sh"), &os(&["-c", "id"])),
            os(&["/bin/sh", "-c", "id"])
        );
        // --entrypoint '' clears it.
        assert_eq!(command(&c, Some(""), &os(&["id"])), os(&["id"]));
        let only_cmd = config(None, Some(&["/bin/sh"]));
        assert_eq!(command(&only_cmd, None, &[]), os(&["/bin/sh"]));
        assert!(command(&config(None, None), None, &[]).is_empty());
    }
}
