//! The runtime soak (issue 8): 1,000 sequential and 50 concurrent `rharden run`s of the busybox
//! fixture, a fork bomb under `--pids-limit 64`, SIGTERM and SIGKILL to rharden; after each, the
//! host is as it was: the same mounts (`/proc/self/mountinfo` and PID 1's), no cgroup, process,
//! zombie, descriptor or temporary file left.
//!
//! The soak runs in a process of its own: this test binary again, with only the ignored
//! [`soak_in_its_own_process`] selected, so no other test opens descriptors, spawns children or
//! creates cgroups beside it. Every rharden it starts carries a token in its environment, and
//! passes it to the workload with `--env`: whatever process is left over, launcher, the
//! container's init or the workload's children, is found by that token.
//! `bench/runtime/soak.sh` is the longer version for manual use.

#![allow(clippy::print_stderr)]

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::run::{base_image, entry_of, root_or_skip};
use super::stderr;

/// Set in the soak's own process.
const CHILD: &str = "RHARDEN_SOAK_CHILD";
/// The environment variable every rharden (and, through `--env`, every workload) carries.
const TOKEN: &str = "RHARDEN_SOAK_TOKEN";
const SEQUENTIAL: usize = 1000;
/// One run in this many of the sequential ones runs the IMAGE (the rest its cached rootfs).
const IMAGE_EVERY: usize = 10;
const CONCURRENT: usize = 50;
const PIDS_LIMIT: u64 = 64;

#[test]
fn the_runtime_soak_leaves_the_host_as_it_found_it() {
    let Some(()) = root_or_skip("the_runtime_soak_leaves_the_host_as_it_found_it") else {
        return;
    };
    if base_image().is_none() {
        return;
    }
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "soak::soak_in_its_own_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the soak");
    // Its figures and, on failure, the diff of the host state.
    eprint!("{}", stderr(&out));
    assert!(
        out.status.success(),
        "the soak failed after {:?}: {}",
        started.elapsed(),
        super::stdout(&out)
    );
}

#[test]
#[ignore = "run by the_runtime_soak_leaves_the_host_as_it_found_it, in a process of its own"]
fn soak_in_its_own_process() {
    if std::env::var_os(CHILD).is_none() {
        eprintln!("SKIPPED soak_in_its_own_process: run through the_runtime_soak_leaves_the_host_as_it_found_it");
        return;
    }
    let Some(image) = base_image() else { return };
    let mut soak = Soak::new(image);
    soak.sequential();
    soak.concurrent();
    soak.fork_bomb();
    soak.sigterm();
    soak.sigkill();
}

/// What a run could leave behind on the host.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    /// `/proc/self/mountinfo`, as a set of lines.
    mounts: BTreeSet<String>,
    /// `/proc/1/mountinfo`.
    init_mounts: BTreeSet<String>,
    /// This process's descriptors and what they point to.
    fds: BTreeSet<(String, String)>,
    /// Everything in the cache directory but the unpacked rootfs's own tree.
    cache: BTreeSet<PathBuf>,
    /// Everything in the `TMPDIR` rharden gets.
    tmp: BTreeSet<PathBuf>,
}

fn lines(path: &str) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn fds() -> BTreeSet<(String, String)> {
    // The listing's own descriptor is in both snapshots alike.
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), target)
        })
        .collect()
}

/// Every path under `dir`, not descending into a directory named `rootfs` (the image's tree).
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != "rootfs" {
                todo.push(path.clone());
            }
            out.insert(path);
        }
    }
    out
}

/// The cgroup directories rharden creates: `rharden/rharden-<launcher pid>-<n>` in the hierarchy
/// of every controller it uses (v1 here; v2 elsewhere), with the launcher's pid.
fn rharden_cgroups() -> Vec<(u32, PathBuf)> {
    let parents = [
        "/sys/fs/cgroup/pids/rharden",
        "/sys/fs/cgroup/memory/rharden",
        "/sys/fs/cgroup/cpu/rharden",
        "/sys/fs/cgroup/rharden",
        "/sys/fs/cgroup/unified/rharden",
    ];
    parents
        .iter()
        .flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("rharden-")?
                .split('-')
                .next()?
                .parse()
                .ok()?;
            Some((pid, e.path()))
        })
        .collect()
}

/// The v1 pids cgroup (or v2 cgroup) of a running launcher.
fn pids_cgroup_of(launcher: u32) -> Option<PathBuf> {
    rharden_cgroups()
        .into_iter()
        .find(|(pid, dir)| *pid == launcher && dir.join("pids.current").exists())
        .map(|(_, dir)| dir)
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// Processes carrying `TOKEN=token` in their environment, with their command line.
fn token_processes(token: &str) -> Vec<(u32, String)> {
    let needle = format!("{TOKEN}={token}");
    let me = std::process::id();
    pids()
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
                .unwrap_or(false)
        })
        .map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid, String::from_utf8_lossy(&cmd).replace('\0', " "))
        })
        .collect()
}

/// Children of this process (a zombie among them is one nobody waited for).
fn children() -> Vec<String> {
    let me = std::process::id();
    pids()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut f = rest.split_whitespace();
            let state = f.next()?;
            let ppid: u32 = f.next()?.parse().ok()?;
            (ppid == me).then(|| format!("{pid} state {state}: {}", stat.trim_end()))
        })
        .collect()
}

fn diff<T: Ord + std::fmt::Debug>(what: &str, before: &BTreeSet<T>, after: &BTreeSet<T>) -> String {
    if before == after {
        return String::new();
    }
    format!(
        "\n{what}: added {:#?}\nremoved {:#?}",
        after.difference(before).collect::<Vec<_>>(),
        before.difference(after).collect::<Vec<_>>()
    )
}

fn median_and_max(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    let n = times.len();
    (times[n / 2], times[(n * 99 / 100).min(n - 1)], times[n - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Soak {
    image: PathBuf,
    work: tempfile::TempDir,
    rootfs: PathBuf,
    token: String,
    /// Every launcher started so far.
    launchers: HashSet<u32>,
    baseline: HostState,
}

impl Soak {
    /// Unpacks the image into a fresh cache (and compiles the seccomp filter into it) with two
    /// warm-up runs, then takes the baseline.
    fn new(image: PathBuf) -> Self {
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(work.path().join("tmp")).expect("mkdir tmp");
        let token = format!("{}-{}", std::process::id(), work.path().display());
        let mut soak = Soak {
            image,
            rootfs: PathBuf::new(),
            token,
            launchers: HashSet::new(),
            baseline: HostState {
                mounts: BTreeSet::new(),
                init_mounts: BTreeSet::new(),
                fds: BTreeSet::new(),
                cache: BTreeSet::new(),
                tmp: BTreeSet::new(),
            },
            work,
        };
        let image = soak.image.to_str().expect("utf-8 path").to_owned();
        let out = soak.run(&[&image, "--", "/bin/true"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        soak.rootfs = entry_of(&soak.cache()).join("rootfs");
        let out = soak.run(&["--rootfs", &soak.rootfs_arg(), "--", "/bin/true"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        soak.baseline = soak.state();
        assert!(soak.baseline.tmp.is_empty(), "{:?}", soak.baseline.tmp);
        soak
    }

    fn cache(&self) -> PathBuf {
        self.work.path().join("cache")
    }

    fn rootfs_arg(&self) -> String {
        self.rootfs.to_str().expect("utf-8 path").to_owned()
    }

    fn state(&self) -> HostState {
        HostState {
            mounts: lines("/proc/self/mountinfo"),
            init_mounts: lines("/proc/1/mountinfo"),
            fds: fds(),
            cache: tree(&self.cache()),
            tmp: tree(&self.work.path().join("tmp")),
        }
    }

    /// `rharden run ARGS` with the token, the cache, a private TMPDIR and stdin closed.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rharden"));
        c.arg("run")
            .arg("--env")
            .arg(format!("{TOKEN}={}", self.token))
            .args(args)
            .env(TOKEN, &self.token)
            .env("RHARDEN_CACHE_DIR", self.cache())
            .env("TMPDIR", self.work.path().join("tmp"))
            .stdin(Stdio::null());
        c
    }

    fn spawn(&mut self, mut command: Command) -> Child {
        let child = command.spawn().expect("spawn rharden");
        self.launchers.insert(child.id());
        child
    }

    fn run(&mut self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn(c).wait_with_output().expect("wait for rharden")
    }

    /// The host is as the baseline: same mounts, descriptors, cache and TMPDIR; no cgroup of
    /// any launcher of ours, no process with our token, no child of this process.
    fn check(&self, after: &str) {
        // rharden returns once PID 1 has reported the workload's end (everything else of the
        // container killed and reaped, its cgroups left); PID 1 itself may still be on its way
        // out (its parent-death signal kills it too). It must be gone within the bound.
        let exiting = self.wait_for_no_token_process(Duration::from_secs(5));
        if exiting > Duration::from_millis(500) {
            eprintln!(
                "soak: after {after}, the last PID 1 took {} to exit",
                ms(exiting)
            );
        }
        let now = self.state();
        let mut problems = String::new();
        problems += &diff(
            "mounts (/proc/self/mountinfo)",
            &self.baseline.mounts,
            &now.mounts,
        );
        problems += &diff(
            "mounts (/proc/1/mountinfo)",
            &self.baseline.init_mounts,
            &now.init_mounts,
        );
        problems += &diff("descriptors", &self.baseline.fds, &now.fds);
        problems += &diff("cache directory", &self.baseline.cache, &now.cache);
        problems += &diff("TMPDIR", &self.baseline.tmp, &now.tmp);
        let cgroups: Vec<PathBuf> = rharden_cgroups()
            .into_iter()
            .filter(|(pid, _)| self.launchers.contains(pid))
            .map(|(_, dir)| dir)
            .collect();
        if !cgroups.is_empty() {
            problems += &format!("\ncgroups left: {cgroups:#?}");
        }
        let left = token_processes(&self.token);
        if !left.is_empty() {
            problems += &format!("\nprocesses left: {left:#?}");
        }
        let children = children();
        if !children.is_empty() {
            problems += &format!("\nchildren (zombies?) left: {children:#?}");
        }
        assert!(problems.is_empty(), "after {after}:{problems}");
    }

    /// Waits (up to `limit`) until no process carries the token.
    fn wait_for_no_token_process(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        while !token_processes(&self.token).is_empty() && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
        }
        start.elapsed()
    }

    fn sequential(&mut self) {
        let image = self.image.to_str().expect("utf-8 path").to_owned();
        let rootfs = self.rootfs_arg();
        let mut times = Vec::with_capacity(SEQUENTIAL);
        let start = Instant::now();
        for i in 0..SEQUENTIAL {
            let t = Instant::now();
            let out = if i % IMAGE_EVERY == 0 {
                self.run(&[&image, "--", "/bin/true"])
            } else {
                self.run(&["--rootfs", &rootfs, "--", "/bin/true"])
            };
            times.push(t.elapsed());
            assert_eq!(out.status.code(), Some(0), "run {i}: {}", stderr(&out));
        }
        let total = start.elapsed();
        let (median, p99, max) = median_and_max(times);
        eprintln!(
            "soak: {SEQUENTIAL} sequential runs (1 in {IMAGE_EVERY} of the IMAGE) in {:.2} s: median {}, p99 {}, max {}",
            total.as_secs_f64(),
            ms(median),
            ms(p99),
            ms(max)
        );
        self.check("the sequential runs");
    }

    fn concurrent(&mut self) {
        let rootfs = self.rootfs_arg();
        let start = Instant::now();
        let children: Vec<Child> = (0..CONCURRENT)
            .map(|_| {
                let mut c = self.command(&["--rootfs", &rootfs, "--", "/bin/true"]);
                c.stdout(Stdio::null()).stderr(Stdio::piped());
                self.spawn(c)
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait for rharden");
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        }
        eprintln!(
            "soak: {CONCURRENT} concurrent runs in {:.2} s",
            start.elapsed().as_secs_f64()
        );
        self.check("the concurrent runs");
    }

    /// A fork bomb (and loops of backgrounded sleeps, to keep the slots taken) under
    /// `--pids-limit 64`: the cgroup's count never passes the limit, forks are refused, the host
    /// keeps spawning quickly (another container starts meanwhile), and the workload still exits
    /// with its own code when told to.
    fn fork_bomb(&mut self) {
        let rootfs = self.rootfs_arg();
        // busybox sh exits (2) when a fork fails, so only subshells fork once the bomb runs:
        // the workload itself forks once, then waits on a builtin `read` for the test.
        let bomb = "b(){ b|b& }; \
                    ( while :; do sh -ic 'b(){ b|b& }; b; while :; do sleep 1000 & done'; done ) >/dev/null 2>&1 & \
                    echo started; read x; exit 7";
        let limit = PIDS_LIMIT.to_string();
        let mut c = self.command(&[
            "--pids-limit",
            &limit,
            "--rootfs",
            &rootfs,
            "--",
            "/bin/sh",
            "-c",
            bomb,
        ]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let host_before = pids().count();
        let mut child = self.spawn(c);
        let launcher = child.id();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the workload's stdout");
        assert_eq!(line.trim(), "started");
        let cgroup = pids_cgroup_of(launcher).expect("the container's pids cgroup");
        let read = |file: &str| std::fs::read_to_string(cgroup.join(file)).unwrap_or_default();
        // While the bomb goes off: sample the cgroup and the host, and time host commands.
        let mut most = 0u64;
        let mut host_most = 0usize;
        let mut spawn_times = Vec::new();
        let bomb_start = Instant::now();
        while bomb_start.elapsed() < Duration::from_millis(1500) {
            let current: u64 = read("pids.current").trim().parse().unwrap_or(0);
            most = most.max(current);
            host_most = host_most.max(pids().count());
            let t = Instant::now();
            let status = Command::new("/bin/true").status().expect("spawn /bin/true");
            spawn_times.push(t.elapsed());
            assert!(status.success());
        }
        // Another container starts and ends while this one is saturated.
        let t = Instant::now();
        let out = self.run(&["--rootfs", &rootfs, "--", "/bin/true"]);
        let other = t.elapsed();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let refused: u64 = read("pids.events")
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let peak: Option<u64> = read("pids.peak").trim().parse().ok();
        // Release the workload: `read` sees EOF, the shell exits 7, the init exits 7 and the
        // kernel kills the rest of the PID namespace.
        drop(child.stdin.take());
        let t = Instant::now();
        let out = child.wait_with_output().expect("wait for rharden");
        let teardown = t.elapsed();
        let (median, _, max) = median_and_max(spawn_times.clone());
        eprintln!(
            "soak: fork bomb under --pids-limit {PIDS_LIMIT}: at most {most} tasks sampled, peak {}, {refused} forks refused; \
             host: {} processes before, at most {host_most} during; /bin/true on the host {} median, {} max ({} spawns); \
             another container {}; rharden exited {:?} {} after release",
            peak.map_or("n/a".to_owned(), |p| p.to_string()),
            host_before,
            ms(median),
            ms(max),
            spawn_times.len(),
            ms(other),
            out.status.code(),
            ms(teardown)
        );
        assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
        assert!(most <= PIDS_LIMIT, "{most} tasks in the cgroup");
        if let Some(peak) = peak {
            assert!(peak <= PIDS_LIMIT, "pids.peak {peak}");
        }
        assert!(refused > 0, "the bomb never reached the limit");
        // Loose: other work shares this host; a bomb not held would add thousands.
        assert!(
            host_most <= host_before + 2 * PIDS_LIMIT as usize + 200,
            "{host_most} processes on the host (before: {host_before})"
        );
        assert!(max < Duration::from_secs(2), "/bin/true took {}", ms(max));
        assert!(
            other < Duration::from_secs(5),
            "another run took {}",
            ms(other)
        );
        self.check("the fork bomb");
    }

    /// SIGTERM to rharden reaches the workload: a shell that traps it exits with its own code;
    /// one that does not is killed by it (128 + 15). Nothing is left.
    fn sigterm(&mut self) {
        let rootfs = self.rootfs_arg();
        let cases: [(&[&str], i32, &str); 2] = [
            (
                &[
                    "/bin/sh",
                    "-c",
                    "trap 'echo got-term; exit 42' TERM; sleep 1000 & echo started; wait",
                ],
                42,
                "got-term",
            ),
            (
                &["/bin/sh", "-c", "echo started; exec sleep 1000"],
                128 + 15,
                "",
            ),
        ];
        for (cmd, code, said) in cases {
            let mut args = vec!["--rootfs", &rootfs, "--"];
            args.extend_from_slice(cmd);
            let mut c = self.command(&args);
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = self.spawn(c);
            let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read stdout");
            assert_eq!(line.trim(), "started");
            // The `exec`/`wait` follows the echo: give the shell a moment to get there.
            std::thread::sleep(Duration::from_millis(100));
            let t = Instant::now();
            signal(child.id(), rustix::process::Signal::TERM);
            let status = child.wait().expect("wait for rharden");
            let took = t.elapsed();
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read stdout");
            eprintln!(
                "soak: SIGTERM to rharden running {:?}: exit {:?} after {}",
                cmd.last().unwrap_or(&""),
                status.code(),
                ms(took)
            );
            assert_eq!(status.code(), Some(code), "{cmd:?}");
            assert_eq!(rest.trim(), said);
            // Our ends of its pipes go before the descriptors are compared.
            drop((child, stdout));
            self.check("SIGTERM");
        }
        // SIGTERM at every point of the start: the start is aborted (125), or the workload gets
        // it (143), or it came before rharden had created anything (killed by it); either
        // way nothing is left.
        let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
        for i in 0..40u64 {
            let mut c = self.command(&["--rootfs", &rootfs, "--", "/bin/sleep", "1000"]);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            let mut child = self.spawn(c);
            std::thread::sleep(Duration::from_micros(i * 250));
            signal(child.id(), rustix::process::Signal::TERM);
            let status = child.wait().expect("wait for rharden");
            let outcome = match (status.code(), status.signal()) {
                (Some(125), _) => "aborted the start (125)",
                (Some(143), _) => "reached the workload (143)",
                (None, Some(15)) => "killed rharden before it created anything",
                _ => panic!("SIGTERM during the start: {status:?}"),
            };
            *outcomes.entry(outcome.to_owned()).or_default() += 1;
        }
        eprintln!("soak: SIGTERM during the start, 40 times: {outcomes:?}");
        self.check("SIGTERM during the start");
    }

    /// SIGKILL to rharden, once with the workload running and 20 times during the start: the
    /// container dies with it (parent-death signal), and the next run removes the cgroups the
    /// killed ones left; then the host is as it was.
    fn sigkill(&mut self) {
        let rootfs = self.rootfs_arg();
        let workload = ["--rootfs", &rootfs, "--", "/bin/sleep", "1000"];
        let mut c = self.command(&workload);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = self.spawn(c);
        let launcher = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !token_processes(&self.token)
            .iter()
            .any(|(_, cmd)| cmd.starts_with("/bin/sleep"))
        {
            assert!(Instant::now() < deadline, "the workload never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("SIGKILL rharden");
        child.wait().expect("reap rharden");
        let gone = self.wait_for_no_token_process(Duration::from_secs(2));
        let left = token_processes(&self.token);
        assert!(left.is_empty(), "the container outlived rharden: {left:?}");
        let leftover = rharden_cgroups()
            .into_iter()
            .filter(|(pid, _)| *pid == launcher)
            .count();
        // Killed during the start, at every point of it.
        let mut killed = 0;
        for i in 0..20u64 {
            let mut c = self.command(&workload);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            let mut child = self.spawn(c);
            std::thread::sleep(Duration::from_micros(i * 500));
            if child.try_wait().expect("poll rharden").is_none() {
                killed += 1;
            }
            let _ = child.kill();
            child.wait().expect("reap rharden");
        }
        let start_gone = self.wait_for_no_token_process(Duration::from_secs(2));
        let left = token_processes(&self.token);
        assert!(left.is_empty(), "containers outlived rharden: {left:?}");
        let leftovers = rharden_cgroups()
            .into_iter()
            .filter(|(pid, _)| self.launchers.contains(pid))
            .count();
        // And one a killed launcher left whose pid now belongs to another process (PID 1 here:
        // pids wrap at 32768 on this host): its start time in the name tells them apart.
        let reused = rharden_cgroups()
            .first()
            .and_then(|(_, dir)| dir.parent().map(|p| p.join("rharden-1-999999999999-0")))
            .expect("the cgroups of the killed launchers");
        std::fs::create_dir(&reused).expect("create a stale cgroup");
        let out = self.run(&["--rootfs", &rootfs, "--", "/bin/true"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!reused.exists(), "{} is left", reused.display());
        eprintln!(
            "soak: SIGKILL to rharden: the workload gone {} later, {leftover} cgroup(s) left; \
             {killed} of 20 killed while starting, their containers gone {} later; {leftovers} cgroup(s) left \
             in all, removed by the next run",
            ms(gone),
            ms(start_gone)
        );
        self.check("SIGKILL and the next run");
    }
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .expect("a pid");
    rustix::process::kill_process(pid, sig).expect("kill");
}
