//! `rharden run IMAGE`: the image's config from the inside, the rootfs cache, the policy gate,
//! the parent-death signal and `--cpus`. Needs root (the sandbox clones mount trees and writes
//! id maps and cgroups); without it each test says it was skipped.

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{repo_root, stderr, stdout};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// `None` (with a SKIPPED line) when not root.
pub(super) fn root_or_skip(test: &str) -> Option<()> {
    if is_root() {
        Some(())
    } else {
        eprintln!("SKIPPED {test}: needs root (clones mount trees, writes id maps and cgroups)");
        None
    }
}

/// The busybox `base` fixture (USER 65534:65534, ENV PATH=/bin, CMD /bin/sh).
pub(super) fn base_image() -> Option<PathBuf> {
    rharden_testkit::real_fixtures().map(|r| r.join("base.oci.tar"))
}

fn leaky() -> PathBuf {
    repo_root().join("tests/fixtures/example/leaky.oci.tar")
}

/// `rharden run` with its own cache directory.
fn run_in(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rharden"))
        .arg("run")
        .args(args)
        .env("RHARDEN_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .output()
        .expect("run rharden")
}

pub(super) fn entry_of(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.join("rootfs"))
        .expect("the rootfs cache exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[test]
fn run_image_uses_its_user_env_workdir_and_cmd_and_caches_the_rootfs() {
    let Some(()) = root_or_skip("run_image_uses_its_user_env_workdir_and_cmd") else {
        return;
    };
    let Some(image) = base_image() else { return };
    let image = image.to_str().expect("utf-8 path");
    let cache = tempfile::tempdir().expect("tempdir");
    let out = run_in(
        cache.path(),
        &[
            image,
            "--report",
            "-e",
            "EXTRA=1",
            "--",
            "/bin/sh",
            "-c",
            "id -u; id -g; pwd; env",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // USER 65534:65534, no WorkingDir (so /), ENV PATH=/bin merged with --env.
    assert_eq!(&lines[..3], ["65534", "65534", "/"], "{text}");
    assert!(lines.contains(&"PATH=/bin"), "{text}");
    assert!(lines.contains(&"EXTRA=1"), "{text}");
    assert!(
        stderr(&out).contains("image           unpacked"),
        "{}",
        stderr(&out)
    );
    let entry = entry_of(cache.path());
    let marker = entry.join(".complete");
    let first = std::fs::metadata(&marker)
        .expect(".complete")
        .modified()
        .ok();

    // The image's CMD (/bin/sh) with stdin closed exits 0; the second run reuses the cache.
    let out = run_in(cache.path(), &[image, "--report"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("image           reused"),
        "{}",
        stderr(&out)
    );
    let second = std::fs::metadata(&marker)
        .expect(".complete")
        .modified()
        .ok();
    assert_eq!(first, second, "the entry was rebuilt");
    assert_eq!(entry_of(cache.path()), entry);

    // --user, --workdir and --entrypoint override the image, as with docker.
    let out = run_in(
        cache.path(),
        &[
            image,
            "--user",
            "1000:1000",
            "--workdir",
            "/etc",
            "--entrypoint",
            "/bin/sh",
            "--",
            "-c",
            "id -u; pwd",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1000\n/etc\n");

    // A name is resolved through the image's /etc/passwd; a uid alone takes its primary group.
    for user in ["app", "1000"] {
        let out = run_in(
            cache.path(),
            &[image, "--user", user, "--", "/bin/sh", "-c", "id -u; id -g"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), "1000\n1000\n", "--user {user}");
    }

    // A working directory missing from the image is refused before the command starts.
    let out = run_in(
        cache.path(),
        &[image, "--workdir", "/nowhere", "--", "true"],
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("working directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_image_that_runs_as_root_runs_as_nobody_with_its_env() {
    let Some(()) = root_or_skip("an_image_that_runs_as_root_runs_as_nobody") else {
        return;
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let leaky = leaky();
    let out = run_in(
        cache.path(),
        &[
            leaky.to_str().expect("utf-8"),
            "--",
            "/bin/sh",
            "-c",
            "id -u; id -g; echo $PATH",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "65534\n65534\n/bin\n");
    assert!(
        stderr(&out).contains("the image runs as root"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_killed_unpack_is_ignored_and_cleaned() {
    let Some(()) = root_or_skip("a_killed_unpack_is_ignored_and_cleaned") else {
        return;
    };
    let Some(image) = base_image() else { return };
    let cache = tempfile::tempdir().expect("tempdir");
    // What a run killed mid-unpack leaves: a temporary directory with half a tree, no lock.
    let key = "a".repeat(64);
    let leftover = cache.path().join(format!("rootfs/.{key}.tmp-killed"));
    std::fs::create_dir_all(leftover.join("rootfs/bin")).expect("mkdir");
    std::fs::write(leftover.join("rootfs/bin/half"), b"x").expect("write");
    let out = run_in(
        cache.path(),
        &[image.to_str().expect("utf-8"), "--", "/bin/true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!leftover.exists(), "the leftover is still there");
    assert!(
        stderr(&out).contains("left by a killed unpack"),
        "{}",
        stderr(&out)
    );
    assert!(entry_of(cache.path()).join(".complete").is_file());
}

#[test]
fn the_policy_refuses_a_leaky_image_and_lets_a_clean_one_run() {
    let Some(()) = root_or_skip("the_policy_refuses_a_leaky_image") else {
        return;
    };
    let Some(image) = base_image() else { return };
    let cache = tempfile::tempdir().expect("tempdir");
    let policy = repo_root().join("policies/default.json");
    let policy = policy.to_str().expect("utf-8");
    let leaky = leaky();
    for attempt in ["scanned", "cached verdict"] {
        let out = run_in(
            cache.path(),
            &[
                leaky.to_str().expect("utf-8"),
                "--policy",
                policy,
                "--",
                "/bin/true",
            ],
        );
        assert_eq!(out.status.code(), Some(125), "{attempt}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("findings at or above high") && err.contains("policies/default.json"),
            "{attempt}: {err}"
        );
        // Refused before anything was unpacked.
        assert!(!cache.path().join("rootfs").exists(), "{attempt}");
    }
    let out = run_in(
        cache.path(),
        &[
            image.to_str().expect("utf-8"),
            "--policy",
            policy,
            "--report",
            "--",
            "/bin/true",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("policy          passed"),
        "{}",
        stderr(&out)
    );
    let out = run_in(
        cache.path(),
        &[
            image.to_str().expect("utf-8"),
            "--policy",
            policy,
            "--report",
            "--",
            "/bin/true",
        ],
    );
    assert!(stderr(&out).contains("cached verdict"), "{}", stderr(&out));
}

fn processes_named(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|a| a == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// The cgroups of the launcher with pid `launcher` (`rharden/rharden-<pid>-…`), in the v1
/// hierarchies rharden uses and in the v2 one.
fn launcher_cgroups(launcher: u32) -> Vec<PathBuf> {
    let prefix = format!("rharden-{launcher}-");
    ["pids", "cpu", "memory"]
        .iter()
        .filter_map(|c| std::fs::read_dir(format!("/sys/fs/cgroup/{c}/rharden")).ok())
        .chain(std::fs::read_dir("/sys/fs/cgroup/rharden").ok())
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// The CLI's run ends when PID 1 reports the workload's end, before PID 1 has finished
/// exiting: by then everything else in the container must be dead and the cgroups removed.
#[test]
fn when_the_run_ends_nothing_of_the_container_runs_and_its_cgroups_are_gone() {
    let Some(()) = root_or_skip("when_the_run_ends_nothing_of_the_container_runs") else {
        return;
    };
    let Some(image) = base_image() else { return };
    let cache = tempfile::tempdir().expect("tempdir");
    // A duration no other test uses, to find this container's sleeps.
    let marker = "4321.5";
    let script = format!("sleep {marker} & (sleep {marker} &) ; exit 3");
    let child = Command::new(env!("CARGO_BIN_EXE_rharden"))
        .args(["run", image.to_str().expect("utf-8"), "--"])
        .args(["/bin/sh", "-c", &script])
        .env("RHARDEN_CACHE_DIR", cache.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rharden");
    let launcher = child.id();
    let out = child.wait_with_output().expect("wait for rharden");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // Checked at once, not after a grace period: PID 1 killed and reaped the background
    // sleeps (one of them an orphan) before reporting.
    assert!(
        processes_named(marker).is_empty(),
        "still running: {:?}",
        processes_named(marker)
    );
    let left = launcher_cgroups(launcher);
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

#[test]
fn killing_rharden_kills_the_container_and_leaves_nothing() {
    let Some(()) = root_or_skip("killing_rharden_kills_the_container") else {
        return;
    };
    let Some(image) = base_image() else { return };
    let cache = tempfile::tempdir().expect("tempdir");
    // A duration no other test uses, to find this container's sleep.
    let marker = "1234.5";
    let mut child = Command::new(env!("CARGO_BIN_EXE_rharden"))
        .args(["run", image.to_str().expect("utf-8"), "--cpus", "0.5"])
        .args(["--", "/bin/sleep", marker])
        .env("RHARDEN_CACHE_DIR", cache.path())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn rharden");
    let launcher = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    let sleeps = loop {
        let s: Vec<u32> = processes_named(marker)
            .into_iter()
            .filter(|p| *p != launcher)
            .collect();
        if s.len() >= 2 || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!sleeps.is_empty(), "the container never started");
    let cgroup_dirs = || launcher_cgroups(launcher);
    let created = cgroup_dirs();
    child.kill().expect("SIGKILL rharden");
    let _ = child.wait();
    let killed_at = Instant::now();
    while !processes_named(marker).is_empty() && killed_at.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        processes_named(marker).is_empty(),
        "the container outlived rharden by a second: {:?}",
        processes_named(marker)
    );
    // The launcher's mount trees were detached clones: none is left on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(cache.path().to_str().expect("utf-8")),
        "{mounts}"
    );
    // The next run removes the cgroups the killed one left.
    let out = run_in(
        cache.path(),
        &[image.to_str().expect("utf-8"), "--", "/bin/true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for dir in created {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    assert!(cgroup_dirs().is_empty(), "{:?}", cgroup_dirs());
}

/// The kernel hands a signal sent to the process to any thread that does not block it. The
/// image is unpacked on a thread pool before the run: if those threads did not block SIGCHLD,
/// one of them could take PID 1's (ignored, so lost) and the run would wait forever (seen in
/// CI as a hang of `run_image_as_an_unprivileged_user`); if they did not block SIGTERM, it
/// would kill the launcher instead of reaching the workload.
#[test]
fn every_thread_of_the_launcher_blocks_the_signals_the_run_waits_for() {
    let Some(()) = root_or_skip("every_thread_of_the_launcher_blocks_the_signals") else {
        return;
    };
    let Some(image) = base_image() else { return };
    // A fresh cache: the image is unpacked in this run, on the thread pool.
    let cache = tempfile::tempdir().expect("tempdir");
    let marker = "2345.6";
    let child = Command::new(env!("CARGO_BIN_EXE_rharden"))
        .args(["run", image.to_str().expect("utf-8"), "--"])
        .args(["/bin/sleep", marker])
        .env("RHARDEN_CACHE_DIR", cache.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rharden");
    let launcher = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_named(marker).iter().all(|&p| p == launcher) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let masks: Vec<(String, u64)> = std::fs::read_dir(format!("/proc/{launcher}/task"))
        .expect("the launcher's threads")
        .flatten()
        .map(|task| {
            let status = std::fs::read_to_string(task.path().join("status")).expect("status");
            let blocked = status
                .lines()
                .find_map(|l| l.strip_prefix("SigBlk:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .expect("SigBlk");
            (task.file_name().to_string_lossy().into_owned(), blocked)
        })
        .collect();
    // Stop it the way an operator would: SIGTERM to rharden, forwarded to the workload.
    let _ = Command::new("kill")
        .args(["-TERM", &launcher.to_string()])
        .status();
    let out = child.wait_with_output().expect("wait for rharden");
    assert!(
        masks.len() >= 2,
        "the unpack left no thread to check: {masks:?}"
    );
    let bit = |signal: i32| 1u64 << (signal - 1);
    for (tid, blocked) in &masks {
        // SIGCHLD, SIGTERM, SIGINT (Linux numbers).
        for signal in [17, 15, 2] {
            assert!(
                blocked & bit(signal) != 0,
                "thread {tid} of the launcher does not block signal {signal}: SigBlk {blocked:016x}"
            );
        }
    }
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
}

#[test]
fn cpus_is_a_cfs_quota_in_the_report() {
    let Some(()) = root_or_skip("cpus_is_a_cfs_quota_in_the_report") else {
        return;
    };
    let Some(image) = base_image() else { return };
    let cache = tempfile::tempdir().expect("tempdir");
    let out = run_in(
        cache.path(),
        &[
            image.to_str().expect("utf-8"),
            "--cpus",
            "1.5",
            "--report",
            "--",
            "/bin/true",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("cgroups"))
        .unwrap_or_default();
    assert!(
        line.contains("1.500 CPUs")
            && (line.contains("cpu.cfs_quota_us=150000") || line.contains("cpu.max=150000 100000")),
        "{err}"
    );
    let out = run_in(
        cache.path(),
        &[
            image.to_str().expect("utf-8"),
            "--cpus",
            "0",
            "--",
            "/bin/true",
        ],
    );
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}

/// A container that fails before reading the launcher's last message resets the channel; its
/// own error must still be the one reported (it was lost about half the time under load).
#[test]
fn a_setup_failure_is_reported_even_when_many_fail_at_once() {
    let Some(()) = root_or_skip("a_setup_failure_is_reported_even_when_many_fail_at_once") else {
        return;
    };
    let Some(image) = base_image() else { return };
    let cache = tempfile::tempdir().expect("tempdir");
    let image = image.to_str().expect("utf-8").to_owned();
    // Warm the cache first, so the parallel runs only race in the sandbox.
    let out = run_in(cache.path(), &[&image, "--", "/bin/true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs: Vec<_> = (0..16)
        .map(|_| {
            let (cache, image) = (cache.path().to_owned(), image.clone());
            std::thread::spawn(move || {
                run_in(&cache, &[&image, "--workdir", "/nowhere", "--", "true"])
            })
        })
        .collect();
    for run in runs {
        let out = run.join().expect("thread");
        assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("failed to enter the working directory"),
            "{}",
            stderr(&out)
        );
    }
}

/// `rharden run IMAGE` by an unprivileged user: the user namespace maps the caller, every
/// mechanism but the cgroup is enforced, the pids limit that could not be applied is said
/// loudly, and `--require-all` makes that fatal (125). The binary and the image are copied
/// where `nobody` can reach them, whatever the checkout's permissions.
#[test]
fn run_image_as_an_unprivileged_user() {
    use std::os::unix::process::CommandExt as _;
    let Some(()) = root_or_skip("run_image_as_an_unprivileged_user") else {
        return;
    };
    let Some(image) = base_image() else { return };
    const NOBODY: u32 = 65534;
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = dir.path().join("rharden");
    std::fs::copy(env!("CARGO_BIN_EXE_rharden"), &binary).expect("copy the binary");
    std::fs::copy(&image, dir.path().join("base.oci.tar")).expect("copy the image");
    for path in [dir.path(), &binary, &dir.path().join("base.oci.tar")] {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let run = |args: &[&str]| {
        Command::new(&binary)
            .arg("run")
            .args(args)
            .current_dir(dir.path())
            .env("RHARDEN_CACHE_DIR", dir.path().join("cache"))
            .env("HOME", dir.path())
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(Stdio::null())
            .output()
            .expect("run rharden as nobody")
    };
    let out = run(&[
        "--report=text",
        "base.oci.tar",
        "--",
        "/bin/cat",
        "/proc/self/status",
    ]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{err}");
    for want in [
        "Uid:\t65534",
        "CapEff:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    for (mechanism, level) in [
        ("user-namespace", "fully"),
        ("pivot-root", "fully"),
        ("landlock", "fully"),
        ("seccomp", "fully"),
        ("cgroups", "not"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(mechanism) && l.split_whitespace().nth(1) == Some(level)),
            "{mechanism} is not `{level}` in the report:\n{err}"
        );
    }
    assert!(err.contains("warning: cgroups not enforced"), "{err}");
    assert!(err.contains("ownership not restored"), "{err}");

    let out = run(&["--require-all", "base.oci.tar", "--", "/bin/true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("--require-all"), "{}", stderr(&out));

    // A policy with `run.require_all` (as policies/ci-strict.json has) is the flag: the image
    // passes the policy, and the missing cgroup still stops the start.
    let policy = dir.path().join("strict-run.json");
    std::fs::write(
        &policy,
        br#"{"version":1,"fail_on":"critical","analyzers":["hygiene"],
            "run":{"require_all":true,"reason":"production starts fully hardened"}}"#,
    )
    .expect("write the policy");
    std::os::unix::fs::chown(&policy, Some(NOBODY), Some(NOBODY)).expect("chown");
    let out = run(&[
        "--policy",
        "strict-run.json",
        "base.oci.tar",
        "--",
        "/bin/true",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("run.require_all") && err.contains("production starts fully hardened"),
        "{err}"
    );
    assert!(
        err.contains("failed to enforce cgroups fully (--require-all)"),
        "{err}"
    );
}
