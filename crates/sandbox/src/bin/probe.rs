//! `rharden-sandbox-probe`: checks the sandbox's promises from the inside.
//!
//! Built statically by the integration tests and copied into a busybox rootfs, it runs as the
//! workload (`check`, `forkbomb`, `wait-signal`, `orphan`); the same checks run under bwrap as
//! an oracle that validates the probe. `launch` is a minimal host-side front end to the library
//! for the tests (the CLI lives in the `rharden` crate).
//!
//! Output of `check`: one line per check, `ok NAME: detail` or `FAIL NAME: detail`; exit 0 when
//! none failed, 1 otherwise.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::ffi::{CString, OsString};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rharden_sandbox::probe;

type Check = Result<String, String>;
type CheckFn = Box<dyn Fn() -> Check>;

fn status_field(name: &str) -> Result<String, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| format!("no {name} in /proc/self/status"))
}

fn errno_name(e: i32) -> String {
    match e {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::ENOSYS => "ENOSYS".into(),
        libc::EROFS => "EROFS".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ENOENT => "ENOENT".into(),
        other => format!("errno {other}"),
    }
}

fn expect_denied(what: &str, result: Result<(), i32>, wanted: &[i32]) -> Check {
    match result {
        Ok(()) => Err(format!("{what} was allowed")),
        Err(e) if wanted.contains(&e) => Ok(format!("{what} -> {}", errno_name(e))),
        Err(e) => Err(format!(
            "{what} -> {} (expected {})",
            errno_name(e),
            wanted
                .iter()
                .map(|w| errno_name(*w))
                .collect::<Vec<_>>()
                .join("/")
        )),
    }
}

fn check_ids() -> Check {
    let uid = status_field("Uid")?;
    let gid = status_field("Gid")?;
    let zero = |s: &str| s.split_whitespace().any(|f| f == "0");
    if zero(&uid) || zero(&gid) {
        return Err(format!("Uid {uid} / Gid {gid}"));
    }
    let groups = status_field("Groups")?;
    Ok(format!("Uid {uid}, Gid {gid}, Groups [{groups}]"))
}

fn check_caps() -> Check {
    let mut out = Vec::new();
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let v = status_field(set)?;
        if u64::from_str_radix(&v, 16).map_err(|e| e.to_string())? != 0 {
            return Err(format!("{set} = {v}"));
        }
        out.push(format!("{set}=0"));
    }
    Ok(out.join(" "))
}

fn check_field(name: &str, want: &str) -> Check {
    let v = status_field(name)?;
    if v == want {
        Ok(format!("{name}: {v}"))
    } else {
        Err(format!("{name}: {v} (expected {want})"))
    }
}

fn check_rootfs_read_only() -> Check {
    match std::fs::File::create("/rharden-probe-write") {
        Ok(_) => {
            let _ = std::fs::remove_file("/rharden-probe-write");
            Err("created /rharden-probe-write".into())
        }
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => Ok("write to / -> EROFS".into()),
        Err(e) => Err(format!("write to / -> {e} (expected EROFS)")),
    }
}

fn mount_options(path: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(path))
        .and_then(|l| l.split_whitespace().nth(5).map(str::to_owned))
}

fn check_mount_flags(path: &str, flags: &[&str]) -> Check {
    let opts = mount_options(path).ok_or_else(|| format!("{path} is not a mount point"))?;
    let have: Vec<&str> = opts.split(',').collect();
    for f in flags {
        if !have.contains(f) {
            return Err(format!("{path} mounted {opts}, missing {f}"));
        }
    }
    Ok(format!("{path}: {opts}"))
}

fn check_masked() -> Check {
    let mut seen = Vec::new();
    for file in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        let Ok(mut f) = std::fs::File::open(file) else {
            continue;
        };
        let mut buf = [0u8; 64];
        let n = f.read(&mut buf).map_err(|e| format!("read {file}: {e}"))?;
        if n != 0 {
            return Err(format!("{file} is readable ({n} bytes)"));
        }
        seen.push(file);
    }
    for dir in ["/proc/acpi", "/proc/scsi", "/sys/firmware"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            if rd.count() != 0 {
                return Err(format!("{dir} is not empty"));
            }
            seen.push(dir);
        }
    }
    if seen.is_empty() {
        return Err("no masked path found".into());
    }
    Ok(format!("empty: {}", seen.join(" ")))
}

fn check_setns() -> Check {
    let f = std::fs::File::open("/proc/self/ns/net")
        .map_err(|e| format!("open /proc/self/ns/net: {e}"))?;
    expect_denied("setns", probe::setns(f.as_fd()), &[libc::EPERM])
}

fn check_exec_tmp() -> Check {
    let me = std::fs::read("/proc/self/exe").map_err(|e| format!("read /proc/self/exe: {e}"))?;
    let path = "/tmp/rharden-probe-exec";
    std::fs::write(path, me).map_err(|e| format!("write {path}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {path}: {e}"))?;
    let c = CString::new(path).map_err(|e| e.to_string())?;
    // In a child: if the exec works, the copy runs `true` and exits 0.
    let status =
        rharden_sandbox::probe::fork_and(|| probe::exec(&c, &[c.clone(), CString::from(c"true")]))
            .map_err(|e| format!("fork: {e}"))?;
    let _ = std::fs::remove_file(path);
    match status {
        libc::EACCES => Ok("execve(/tmp/…) -> EACCES".into()),
        0 => Err("execve(/tmp/…) worked".into()),
        errno => Err(format!("execve(/tmp/…) -> {}", errno_name(errno))),
    }
}

fn check_landlock_fs() -> Check {
    // /proc/self/comm is writable by its owner on a read-write mount: only Landlock (read-only
    // rights on /proc) stops the write.
    match std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/comm")
    {
        Ok(_) => Err("opened /proc/self/comm for writing".into()),
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            Ok("write /proc/self/comm -> EACCES".into())
        }
        Err(e) => Err(format!("write /proc/self/comm -> {e}")),
    }
}

fn check_tcp() -> Check {
    expect_denied("bind 127.0.0.1:0", probe::tcp_bind(0), &[libc::EACCES])
}

fn check_network() -> Check {
    let dev =
        std::fs::read_to_string("/proc/net/dev").map_err(|e| format!("read /proc/net/dev: {e}"))?;
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    if ifaces == ["lo"] {
        Ok("interfaces: lo".into())
    } else {
        Err(format!("interfaces: {ifaces:?}"))
    }
}

fn check_fds() -> Check {
    let mut extra = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let n: i32 = name.parse().unwrap_or(-1);
        if n <= 2 {
            continue;
        }
        let target = std::fs::read_link(entry.path())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        // The directory being listed is the only other descriptor allowed.
        if target.starts_with("/proc/") && target.ends_with("/fd") {
            continue;
        }
        extra.push(format!("{n} -> {target}"));
    }
    if extra.is_empty() {
        Ok("only 0, 1, 2".into())
    } else {
        Err(format!("extra descriptors: {}", extra.join(", ")))
    }
}

fn check_cwd(expected: &str) -> Check {
    let cwd = std::env::current_dir().map_err(|e| format!("getcwd: {e}"))?;
    let link = std::fs::read_link("/proc/self/cwd").map_err(|e| e.to_string())?;
    if cwd != Path::new(expected) || link.to_string_lossy().contains("unreachable") {
        return Err(format!(
            "cwd {} (/proc/self/cwd {})",
            cwd.display(),
            link.display()
        ));
    }
    Ok(format!("cwd {}", cwd.display()))
}

fn check_pid1() -> Check {
    let ppid = std::os::unix::process::parent_id();
    let me = std::process::id();
    if ppid == 1 && me < 10 {
        Ok(format!("pid {me}, parent is pid 1 (the init)"))
    } else {
        Err(format!("pid {me}, ppid {ppid}"))
    }
}

fn check_x32() -> Check {
    match rharden_sandbox::probe::fork_and(|| probe::x32_getpid().map_or(2, |()| 0)) {
        Ok(status) if status == 128 + libc::SIGSYS => Ok("x32 getpid -> killed by SIGSYS".into()),
        Ok(status) => Err(format!("x32 getpid child ended with {status}")),
        Err(e) => Err(format!("fork: {e}")),
    }
}

fn check_dev() -> Check {
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("open /dev/null: {e}"))?;
    null.write_all(b"x")
        .map_err(|e| format!("write /dev/null: {e}"))?;
    let mut zero = [1u8; 4];
    std::fs::File::open("/dev/zero")
        .and_then(|mut f| f.read_exact(&mut zero))
        .map_err(|e| format!("read /dev/zero: {e}"))?;
    match std::fs::File::create("/dev/planted") {
        Ok(_) => Err("created /dev/planted".into()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::EACCES)) => {
            let mut names: Vec<String> = std::fs::read_dir("/dev")
                .map_err(|e| e.to_string())?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            Ok(format!(
                "/dev/null, /dev/zero work; /dev read-only: {}",
                names.join(" ")
            ))
        }
        Err(e) => Err(format!("create in /dev -> {e}")),
    }
}

fn checks(args: &[String]) -> Vec<(&'static str, Check)> {
    let expect_cwd = value_of(args, "--cwd").unwrap_or_else(|| "/".into());
    let skip = value_of(args, "--skip").unwrap_or_default();
    let all: Vec<(&'static str, CheckFn)> = vec![
        ("ids", Box::new(check_ids)),
        ("caps", Box::new(check_caps)),
        ("no-new-privs", Box::new(|| check_field("NoNewPrivs", "1"))),
        ("seccomp-mode", Box::new(|| check_field("Seccomp", "2"))),
        ("rootfs-read-only", Box::new(check_rootfs_read_only)),
        (
            "rootfs-nosuid-nodev",
            Box::new(|| check_mount_flags("/", &["nosuid", "nodev"])),
        ),
        (
            "tmp-noexec",
            Box::new(|| check_mount_flags("/tmp", &["rw", "nosuid", "nodev", "noexec"])),
        ),
        (
            "proc-sys-read-only",
            Box::new(|| check_mount_flags("/proc/sys", &["ro"])),
        ),
        (
            "sys-read-only",
            Box::new(|| check_mount_flags("/sys", &["ro"])),
        ),
        ("masked-paths", Box::new(check_masked)),
        (
            "mount-denied",
            Box::new(|| expect_denied("mount tmpfs", probe::mount_tmpfs(c"/tmp"), &[libc::EPERM])),
        ),
        (
            "unshare-denied",
            Box::new(|| {
                expect_denied(
                    "unshare(CLONE_NEWUSER)",
                    probe::unshare(libc::CLONE_NEWUSER),
                    &[libc::EPERM],
                )
            }),
        ),
        (
            "clone-newuser-denied",
            Box::new(|| {
                expect_denied(
                    "clone(CLONE_NEWUSER)",
                    probe::clone_newuser(),
                    &[libc::EPERM],
                )
            }),
        ),
        (
            "clone3-enosys",
            Box::new(|| expect_denied("clone3", probe::clone3(), &[libc::ENOSYS])),
        ),
        ("setns-denied", Box::new(check_setns)),
        (
            "ptrace-denied",
            Box::new(|| {
                expect_denied(
                    "ptrace(PTRACE_PEEKDATA, self)",
                    probe::ptrace_peek_self(),
                    &[libc::EPERM],
                )
            }),
        ),
        (
            "bpf-denied",
            Box::new(|| {
                expect_denied(
                    "bpf(BPF_MAP_CREATE)",
                    probe::bpf_map_create(),
                    &[libc::EPERM],
                )
            }),
        ),
        (
            "keyctl-denied",
            Box::new(|| expect_denied("keyctl", probe::keyctl(), &[libc::EPERM])),
        ),
        (
            "add-key-denied",
            Box::new(|| expect_denied("add_key", probe::add_key(), &[libc::EPERM])),
        ),
        (
            "io-uring-denied",
            Box::new(|| expect_denied("io_uring_setup", probe::io_uring_setup(), &[libc::EPERM])),
        ),
        (
            "perf-event-denied",
            Box::new(|| expect_denied("perf_event_open", probe::perf_event_open(), &[libc::EPERM])),
        ),
        (
            "userfaultfd-denied",
            Box::new(|| expect_denied("userfaultfd", probe::userfaultfd(), &[libc::EPERM])),
        ),
        (
            "init-module-denied",
            Box::new(|| expect_denied("init_module", probe::init_module(), &[libc::EPERM])),
        ),
        (
            "pivot-root-denied",
            Box::new(|| expect_denied("pivot_root", probe::pivot_root(), &[libc::EPERM])),
        ),
        ("x32-killed", Box::new(check_x32)),
        ("exec-tmp-denied", Box::new(check_exec_tmp)),
        ("landlock-fs", Box::new(check_landlock_fs)),
        ("landlock-tcp", Box::new(check_tcp)),
        ("network-lo-only", Box::new(check_network)),
        ("no-extra-fds", Box::new(check_fds)),
        ("cwd", Box::new(move || check_cwd(&expect_cwd))),
        ("pid-namespace", Box::new(check_pid1)),
        (
            "hostname",
            Box::new(|| {
                let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map_err(|e| e.to_string())?;
                if h.trim() == "rharden" {
                    Ok("rharden".into())
                } else {
                    Err(format!("hostname {h:?}"))
                }
            }),
        ),
        ("dev-minimal", Box::new(check_dev)),
        (
            "rlimit-core-0",
            Box::new(|| {
                let limits =
                    std::fs::read_to_string("/proc/self/limits").map_err(|e| e.to_string())?;
                let line = limits
                    .lines()
                    .find(|l| l.starts_with("Max core file size"))
                    .unwrap_or_default()
                    .to_owned();
                if line.split_whitespace().skip(4).take(2).all(|v| v == "0") {
                    Ok(line)
                } else {
                    Err(line)
                }
            }),
        ),
    ];
    all.into_iter()
        .filter(|(name, _)| !skip.split(',').any(|s| s == *name))
        .map(|(name, f)| (name, f()))
        .collect()
}

fn value_of(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn cmd_check(args: &[String]) -> i32 {
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for (name, result) in checks(args) {
        let _ = match result {
            Ok(detail) => writeln!(out, "ok {name}: {detail}"),
            Err(detail) => {
                failed += 1;
                writeln!(out, "FAIL {name}: {detail}")
            }
        };
    }
    let _ = out.flush();
    i32::from(failed != 0)
}

/// Forks until the pids limit stops it; prints how many children it got.
fn cmd_forkbomb(limit: usize) -> i32 {
    let mut children = Vec::new();
    let mut stopped = None;
    for _ in 0..limit {
        match rharden_sandbox::probe::fork_paused() {
            Ok(pid) => children.push(pid),
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    for pid in &children {
        rharden_sandbox::probe::kill_and_reap(*pid);
    }
    match stopped {
        Some(e) => {
            println!(
                "forkbomb stopped after {} children: {}",
                children.len(),
                errno_name(e)
            );
            0
        }
        None => {
            println!("forkbomb was not stopped: {} children", children.len());
            1
        }
    }
}

fn cmd_wait_signal() -> i32 {
    match rharden_sandbox::probe::wait_for_sigterm(|| {
        println!("ready");
        let _ = std::io::stdout().flush();
    }) {
        Ok(()) => 42,
        Err(e) => {
            eprintln!("wait-signal: {e}");
            1
        }
    }
}

fn cmd_orphan() -> i32 {
    let grandchild =
        match rharden_sandbox::probe::spawn_orphan(std::time::Duration::from_millis(100)) {
            Ok(pid) => pid,
            Err(e) => {
                println!("FAIL orphan: {e}");
                return 1;
            }
        };
    std::thread::sleep(std::time::Duration::from_millis(600));
    let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("-")
        .to_owned();
    if stat.is_empty() {
        println!("ok orphan: pid {grandchild} exited and was reaped by the init");
        0
    } else {
        println!("FAIL orphan: pid {grandchild} still present in state {state}");
        1
    }
}

fn cmd_launch(args: &[String]) -> i32 {
    use rharden_sandbox::{Limits, Network, Quiet, Sandbox, SandboxSpec, User, Volume};
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (opts, cmd) = (&args[..split], args.get(split + 1..).unwrap_or(&[]));
    let Some(rootfs) = value_of(opts, "--rootfs") else {
        eprintln!("launch: --rootfs is required");
        return 2;
    };
    let mut builder = SandboxSpec::builder(rootfs, cmd.iter().map(OsString::from).collect());
    if let Some(pids) = value_of(opts, "--pids") {
        builder = builder.limits(Limits {
            pids: pids.parse().ok(),
            ..Limits::default()
        });
    }
    if opts.iter().any(|a| a == "--network-host") {
        builder = builder.network(Network::Host);
    }
    if opts.iter().any(|a| a == "--read-write") {
        builder = builder.read_write(true);
    }
    if opts.iter().any(|a| a == "--require-all") {
        builder = builder.require_all(true);
    }
    if let Some(cwd) = value_of(opts, "--cwd") {
        builder = builder.cwd(cwd);
    }
    if let Some(user) = value_of(opts, "--user") {
        let mut it = user.split(':').map(|v| v.parse().unwrap_or(65534));
        let uid = it.next().unwrap_or(65534);
        builder = builder.user(User {
            uid,
            gid: it.next().unwrap_or(uid),
        });
    }
    if let Some(v) = value_of(opts, "--volume") {
        let parts: Vec<&str> = v.split(':').collect();
        builder = builder.volume(Volume {
            source: parts[0].into(),
            target: parts.get(1).copied().unwrap_or("/data").into(),
            read_only: parts.get(2) == Some(&"ro"),
        });
    }
    // --deny-user-namespaces: this launcher cannot create user namespaces (as on a host where
    // they are disabled), so the runtime takes its no-user-namespace path.
    // --deny-network-namespaces: `unshare(CLONE_NEWNET)` fails (EPERM), in the launcher's
    // helper as anywhere.
    for (flag, syscall, namespace) in [
        (
            "--deny-user-namespaces",
            libc::SYS_clone,
            libc::CLONE_NEWUSER,
        ),
        (
            "--deny-network-namespaces",
            libc::SYS_unshare,
            libc::CLONE_NEWNET,
        ),
    ] {
        if opts.iter().any(|a| a == flag) {
            if let Err(e) = deny_namespace(syscall, namespace) {
                eprintln!("launch: cannot apply {flag}: {e}");
                return 2;
            }
        }
    }
    let run = |sb: &Sandbox| {
        sb.run(&mut Quiet).map_err(|e| {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(c) = src {
                s.push_str(&format!(": {c}"));
                src = c.source();
            }
            s
        })
    };
    let sandbox = builder
        .build()
        .map_err(|e| e.to_string())
        .and_then(|spec| Sandbox::new(spec).map_err(|e| e.to_string()));
    // --repeat N: N runs in this one process, the library's long-lived use; what the process
    // holds before the first and after the last is printed as `leaks: …` (nothing when equal).
    let repeat: usize = value_of(opts, "--repeat")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let held = || (descriptors(), children(), signal_mask());
    let before = held();
    let mut result = sandbox.as_ref().map_err(Clone::clone).and_then(run);
    let mut runs = 1;
    while runs < repeat && matches!(&result, Ok(o) if o.code == 0) {
        result = sandbox.as_ref().map_err(Clone::clone).and_then(run);
        runs += 1;
    }
    if repeat > 1 {
        let after = held();
        if before == after {
            println!("leaks: none after {runs} runs");
        } else {
            println!("leaks: before {before:?} after {after:?}");
        }
    }
    match result {
        Ok(outcome) => {
            if opts.iter().any(|a| a == "--report") {
                for e in &outcome.report.entries {
                    eprintln!("report {} {} {}", e.mechanism.name(), e.level, e.detail);
                }
            }
            if let Some(err) = outcome.exec_error {
                eprintln!("launch: {err}");
            }
            outcome.code
        }
        Err(e) => {
            eprintln!("launch: error: {e}");
            125
        }
    }
}

/// Installs a seccomp filter on this process that fails `syscall` (EPERM) when its first
/// argument has the `namespace` flag (`clone` or `unshare`).
fn deny_namespace(syscall: libc::c_long, namespace: libc::c_int) -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    let flag = namespace as u64;
    let rule = SeccompRule::new(vec![SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(flag),
        flag,
    )
    .map_err(|e| e.to_string())?])
    .map_err(|e| e.to_string())?;
    let filter = SeccompFilter::new(
        [(syscall, vec![rule])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        std::env::consts::ARCH
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}

/// This process's descriptors and what they point to.
fn descriptors() -> Vec<(String, String)> {
    let mut fds: Vec<(String, String)> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            (
                e.file_name().to_string_lossy().into_owned(),
                target.display().to_string(),
            )
        })
        .collect();
    fds.sort();
    fds
}

/// Pids whose parent is this process (zombies included).
fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut kids: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest = stat.get(stat.rfind(')')? + 2..)?;
            let ppid = rest.split_whitespace().nth(1)?;
            (ppid == me).then(|| stat.trim_end().to_owned())
        })
        .collect();
    kids.sort();
    kids
}

/// The blocked and pending signals (`SigBlk`, `SigPnd`, `ShdPnd` of /proc/self/status).
fn signal_mask() -> Vec<String> {
    ["SigBlk", "SigPnd", "ShdPnd"]
        .iter()
        .map(|f| status_field(f).unwrap_or_default())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("check") => cmd_check(&args[1..]),
        Some("true") => 0,
        Some("forkbomb") => cmd_forkbomb(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(4096)),
        Some("wait-signal") => cmd_wait_signal(),
        Some("orphan") => cmd_orphan(),
        Some("launch") => cmd_launch(&args[1..]),
        _ => {
            eprintln!("usage: rharden-sandbox-probe check [--cwd DIR] [--skip a,b] | forkbomb [N] | wait-signal | orphan | launch [--rootfs DIR ...] [--repeat N] -- CMD...");
            2
        }
    };
    std::process::exit(code);
}
