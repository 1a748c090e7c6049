//! The sandbox's promises, checked from the inside by a static probe running in a busybox
//! rootfs, and the same probe under bubblewrap as an oracle that validates the probe.
//!
//! Needs root (the launcher clones mount trees and writes id maps and cgroups), /bin/busybox
//! (busybox-static) and, for the oracle, bwrap (bubblewrap). A test whose requirement is
//! missing prints that it was skipped.
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

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

/// The host-side launcher: the probe binary cargo built for this test run.
fn launcher() -> &'static str {
    env!("CARGO_BIN_EXE_rharden-sandbox-probe")
}

/// The same probe, statically linked so it runs in a rootfs without libc. Built once, with
/// `+crt-static`, into its own target directory (so it never waits on this build's lock).
fn static_probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static-probe");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "rharden-sandbox",
                "--bin",
                "rharden-sandbox-probe",
                "--target",
                &triple,
            ])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .status()
            .expect("run cargo to build the static probe");
        assert!(status.success(), "building the static probe failed");
        target_dir
            .join(triple)
            .join("debug")
            .join("rharden-sandbox-probe")
    })
}

/// A busybox rootfs in a temporary directory, with the static probe at /probe.
struct Rootfs {
    dir: tempfile::TempDir,
}

impl Rootfs {
    fn busybox() -> Option<Self> {
        let busybox = Path::new("/bin/busybox");
        if !busybox.exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "bin", "etc", "proc", "dev", "sys", "tmp", "run", "data", "work",
        ] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "true", "false", "echo", "cat", "ls", "id", "sleep", "kill",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::copy(static_probe(), root.join("probe")).unwrap();
        Some(Rootfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn launch(&self, opts: &[&str], cmd: &[&str]) -> Command {
        let mut c = Command::new(launcher());
        c.arg("launch")
            .arg("--rootfs")
            .arg(self.path())
            .args(opts)
            .arg("--")
            .args(cmd);
        c
    }
}

/// Common preconditions; `None` (with a SKIPPED line) when the test cannot run here.
fn setup(test: &str) -> Option<Rootfs> {
    if !is_root() {
        skip(
            test,
            "needs root (clones mount trees, writes id maps and cgroups)",
        );
        return None;
    }
    let rootfs = Rootfs::busybox();
    if rootfs.is_none() {
        skip(test, "needs /bin/busybox (apt-get install busybox-static)");
    }
    rootfs
}

fn run(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every check the probe knows, by name.
const CHECKS: &[&str] = &[
    "ids",
    "caps",
    "no-new-privs",
    "seccomp-mode",
    "rootfs-read-only",
    "rootfs-nosuid-nodev",
    "tmp-noexec",
    "proc-sys-read-only",
    "sys-read-only",
    "masked-paths",
    "mount-denied",
    "unshare-denied",
    "clone-newuser-denied",
    "clone3-enosys",
    "setns-denied",
    "ptrace-denied",
    "bpf-denied",
    "keyctl-denied",
    "add-key-denied",
    "io-uring-denied",
    "perf-event-denied",
    "userfaultfd-denied",
    "init-module-denied",
    "pivot-root-denied",
    "x32-killed",
    "exec-tmp-denied",
    "landlock-fs",
    "landlock-tcp",
    "network-lo-only",
    "no-extra-fds",
    "cwd",
    "pid-namespace",
    "hostname",
    "dev-minimal",
    "rlimit-core-0",
];

fn results(stdout: &str) -> Vec<(bool, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (status, rest) = l.split_once(' ')?;
            let name = rest.split(':').next()?.to_owned();
            Some((status == "ok", name))
        })
        .collect()
}

#[test]
fn every_promise_holds_from_the_inside() {
    let Some(rootfs) = setup("every_promise_holds_from_the_inside") else {
        return;
    };
    let (code, stdout, stderr) = run(rootfs.launch(&["--report"], &["/probe", "check"]));
    assert_eq!(code, 0, "probe failed:\n{stdout}\n{stderr}");
    let results = results(&stdout);
    for check in CHECKS {
        assert!(
            results.iter().any(|(ok, name)| *ok && name == check),
            "{check} missing or failed:\n{stdout}"
        );
    }
    // The launcher's report says every mechanism is fully enforced on this host.
    for mechanism in [
        "user-namespace",
        "namespaces",
        "rootfs",
        "masked-paths",
        "cgroups",
        "capabilities",
        "identity",
        "no-new-privs",
        "landlock",
        "seccomp",
    ] {
        assert!(
            stderr.contains(&format!("report {mechanism} fully")),
            "{mechanism} not fully enforced:\n{stderr}"
        );
    }
}

#[test]
fn the_working_directory_is_inside_the_rootfs() {
    let Some(rootfs) = setup("the_working_directory_is_inside_the_rootfs") else {
        return;
    };
    let (code, stdout, _) =
        run(rootfs.launch(&["--cwd", "/work"], &["/probe", "check", "--cwd", "/work"]));
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = run(rootfs.launch(&["--cwd", "/missing"], &["/bin/true"]));
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("enter the working directory"), "{stderr}");
}

/// The oracle: bwrap provides namespaces, a read-only root and no capabilities, but no
/// seccomp, Landlock, masked paths or noexec /tmp. The probe must see exactly that, which shows
/// its checks can fail.
#[test]
fn the_probe_agrees_with_bubblewrap_as_an_oracle() {
    let Some(rootfs) = setup("the_probe_agrees_with_bubblewrap_as_an_oracle") else {
        return;
    };
    if Command::new("bwrap").arg("--version").output().is_err() {
        skip(
            "the_probe_agrees_with_bubblewrap_as_an_oracle",
            "needs bwrap (apt-get install bubblewrap)",
        );
        return;
    }
    let mut bwrap = Command::new("bwrap");
    bwrap
        .args([
            "--unshare-all",
            "--unshare-user",
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--hostname",
            "rharden",
        ])
        .arg("--ro-bind")
        .arg(rootfs.path())
        .args([
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--new-session",
            "--die-with-parent",
        ])
        .args(["--cap-drop", "ALL", "/probe", "check"]);
    let (code, stdout, stderr) = run(bwrap);
    assert_eq!(
        code, 1,
        "some checks must fail under bwrap:\n{stdout}\n{stderr}"
    );
    let results = results(&stdout);
    let status = |check: &str| results.iter().find(|(_, n)| n == check).map(|(ok, _)| *ok);
    for provided in [
        "ids",
        "caps",
        "no-new-privs",
        "rootfs-read-only",
        "mount-denied",
        "network-lo-only",
        "cwd",
        "pid-namespace",
        "hostname",
    ] {
        assert_eq!(
            status(provided),
            Some(true),
            "bwrap provides {provided}:\n{stdout}"
        );
    }
    for missing in [
        "seccomp-mode",
        "tmp-noexec",
        "masked-paths",
        "io-uring-denied",
        "keyctl-denied",
        "clone3-enosys",
        "exec-tmp-denied",
        "landlock-fs",
        "landlock-tcp",
        "rlimit-core-0",
    ] {
        assert_eq!(
            status(missing),
            Some(false),
            "bwrap lacks {missing}, the probe must say so:\n{stdout}"
        );
    }
}

#[test]
fn a_fork_bomb_is_stopped_by_the_pids_limit() {
    let Some(rootfs) = setup("a_fork_bomb_is_stopped_by_the_pids_limit") else {
        return;
    };
    let (code, stdout, stderr) =
        run(rootfs.launch(&["--pids", "16"], &["/probe", "forkbomb", "4096"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let n: usize = stdout
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    // 16 = the init + the probe + its children.
    assert!(n <= 14, "{stdout}");
}

/// The library's long-lived use: many runs in one process leave it holding what it held
/// before (descriptors, children, blocked and pending signals).
#[test]
fn many_runs_in_one_process_leak_no_descriptor_child_or_signal() {
    let Some(rootfs) = setup("many_runs_in_one_process_leak_no_descriptor_child_or_signal") else {
        return;
    };
    let (code, stdout, stderr) = run(rootfs.launch(&["--repeat", "100"], &["/bin/true"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "leaks: none after 100 runs", "{stderr}");
}

#[test]
fn exit_codes_follow_the_shell_convention() {
    let Some(rootfs) = setup("exit_codes_follow_the_shell_convention") else {
        return;
    };
    let code = |cmd: &[&str]| run(rootfs.launch(&[], cmd)).0;
    assert_eq!(code(&["/bin/true"]), 0);
    assert_eq!(code(&["sh", "-c", "exit 3"]), 3);
    assert_eq!(code(&["no-such-command"]), 127);
    assert_eq!(code(&["/etc/passwd"]), 126);
    assert_eq!(code(&["sh", "-c", "kill -9 $$"]), 128 + 9);
    let mut missing = Command::new(launcher());
    missing.args([
        "launch",
        "--rootfs",
        "/nonexistent/rootfs",
        "--",
        "/bin/true",
    ]);
    assert_eq!(run(missing).0, 125);
}

#[test]
fn signals_are_forwarded_to_the_workload() {
    let Some(rootfs) = setup("signals_are_forwarded_to_the_workload") else {
        return;
    };
    let mut child = rootfs
        .launch(&[], &["/probe", "wait-signal"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let pid = i32::try_from(child.id()).unwrap();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42), "the workload exits 42 on SIGTERM");
}

#[test]
fn orphans_are_reaped_by_the_init() {
    let Some(rootfs) = setup("orphans_are_reaped_by_the_init") else {
        return;
    };
    let (code, stdout, _) = run(rootfs.launch(&[], &["/probe", "orphan"]));
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn volumes_are_writable_only_when_asked() {
    let Some(rootfs) = setup("volumes_are_writable_only_when_asked") else {
        return;
    };
    let vol = tempfile::tempdir().unwrap();
    // Container uid 65534 is host uid 100000 + 65534 with the default mapping.
    Command::new("chown")
        .args(["165534:165534"])
        .arg(vol.path())
        .status()
        .unwrap();
    let spec = format!("{}:/data", vol.path().display());
    let (code, _, stderr) =
        run(rootfs.launch(&["--volume", &spec], &["sh", "-c", "echo hi > /data/f"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(vol.path().join("f")).unwrap(),
        "hi\n"
    );
    let spec_ro = format!("{}:/data:ro", vol.path().display());
    let (code, _, _) =
        run(rootfs.launch(&["--volume", &spec_ro], &["sh", "-c", "echo hi > /data/g"]));
    assert_ne!(code, 0);
    assert!(!vol.path().join("g").exists());
    std::thread::sleep(Duration::from_millis(1));
}

/// Without user namespaces (denied to the launcher here), the network namespace comes with
/// PID 1's clone instead of from the launcher's helper: still only `lo`, and up.
#[test]
fn without_user_namespaces_the_network_is_still_loopback_only() {
    let Some(rootfs) = setup("without_user_namespaces_the_network_is_still_loopback_only") else {
        return;
    };
    let (code, stdout, stderr) = run(rootfs.launch(
        &["--report", "--deny-user-namespaces"],
        &[
            "/bin/sh",
            "-c",
            "cat /sys/class/net/lo/flags; ls /sys/class/net",
        ],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("report user-namespace not"), "{stderr}");
    assert!(
        stderr.contains("report namespaces fully new mount, pid, ipc, uts, net"),
        "{stderr}"
    );
    // IFF_UP | IFF_LOOPBACK, and no other interface.
    assert_eq!(stdout, "0x9\nlo\n", "{stderr}");
}

/// When the launcher's helper cannot make the network namespace (`unshare(CLONE_NEWNET)`
/// denied here), the start fails with exit 125 and an error that names the call, the command
/// never runs, and the launcher leaves none of its cgroups (`rharden-<pid>-…`) behind.
#[test]
fn a_network_namespace_that_cannot_be_made_fails_the_start_cleanly() {
    let Some(rootfs) = setup("a_network_namespace_that_cannot_be_made_fails_the_start_cleanly")
    else {
        return;
    };
    let mut cmd = rootfs.launch(
        &["--deny-network-namespaces"],
        &["/bin/sh", "-c", "echo started"],
    );
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let launcher = child.id();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(125), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("create the container's network namespace")
            && stderr.contains("unshare(CLONE_NEWNET)")
            && stderr.contains("Operation not permitted"),
        "{stderr}"
    );
    assert!(!stdout.contains("started"), "{stdout}");
    let prefix = format!("rharden-{launcher}-");
    let left: Vec<String> = ["/sys/fs/cgroup/pids/rharden", "/sys/fs/cgroup/rharden"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}
