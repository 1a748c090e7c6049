//! Every case of the hostile-input corpus (`rharden_testkit::hostile`) through `inspect`, `scan`,
//! `flatten` and `unpack`: exit 2 with a one-line message naming the problem (or success and the
//! right tree, for legal input), no panic, nothing written outside the target, no partial
//! output, under a memory limit and a timeout.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rharden_testkit::hostile::{corpus, Expect, HostileCase, Place};

/// Address-space limit for every run: far above what any case needs (the reader's memory is
/// bounded by metadata), far below what a bomb or a huge declared size would take.
const MEMORY_LIMIT: u64 = 1 << 30;
/// A run that takes longer hangs.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One command of the four, with the target it writes (relative to `out/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Inspect,
    Scan,
    Flatten,
    Unpack,
}

impl Cmd {
    const ALL: [Cmd; 4] = [Cmd::Inspect, Cmd::Scan, Cmd::Flatten, Cmd::Unpack];

    fn args(self, image: &Path, out: &Path) -> Vec<String> {
        let image = path_text(image).to_owned();
        let target = path_text(&out.join(self.target())).to_owned();
        match self {
            // The table with every entry, where odd names are printed.
            Cmd::Inspect => vec!["inspect".into(), "--files".into(), image],
            // The HTML report, written to a file: no partial report on error.
            Cmd::Scan => vec![
                "scan".into(),
                image,
                "--format".into(),
                "html".into(),
                "--output".into(),
                target,
            ],
            Cmd::Flatten => vec!["flatten".into(), image, "-o".into(), target],
            Cmd::Unpack => vec!["unpack".into(), image, target],
        }
    }

    fn target(self) -> &'static str {
        match self {
            Cmd::Inspect => "inspect-writes-nothing",
            Cmd::Scan => "report.html",
            Cmd::Flatten => "flat.oci.tar",
            Cmd::Unpack => "rootfs",
        }
    }

    fn merges(self) -> bool {
        matches!(self, Cmd::Flatten | Cmd::Unpack)
    }
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Runs rharden under an address-space limit (`prlimit`, util-linux) and a timeout.
fn run_bounded(args: &[String]) -> Result<Output, String> {
    let mut child = Command::new("prlimit")
        .arg(format!("--as={MEMORY_LIMIT}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_rharden"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run prlimit (util-linux): {e}"))?;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Output {
        status,
        stdout: out.join().expect("stdout thread"),
        stderr: err.join().expect("stderr thread"),
    })
}

/// Every path below `root` (not following symlinks) with its type, size and content mtime,
/// except the subtree `skip`.
fn listing(root: &Path, skip: &Path) -> BTreeMap<PathBuf, (u32, u64, i64)> {
    let mut map = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path == skip {
                continue;
            }
            let meta = fs::symlink_metadata(&path).expect("lstat");
            map.insert(
                path.clone(),
                (meta.mode() & 0o170000, meta.len(), meta.mtime()),
            );
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    map
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A shared layout: `root/{input/<case>/, outside/canary, out/}`. `out/` is emptied after
/// every run; everything else must stay as it is.
struct Layout {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    out: PathBuf,
}

impl Layout {
    fn new() -> Self {
        // In memory when the host has /dev/shm: unpacking 100 k files costs a third there.
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let root = tmp.path().to_path_buf();
        let outside = root.join("outside");
        let out = root.join("out");
        fs::create_dir_all(&outside).expect("mkdir");
        fs::write(outside.join("canary"), b"untouched").expect("write");
        fs::create_dir_all(root.join("input")).expect("mkdir");
        fs::create_dir_all(&out).expect("mkdir");
        Self {
            _tmp: tmp,
            root,
            outside,
            out,
        }
    }

    fn write(&self, case: &HostileCase) -> PathBuf {
        let dir = self.root.join("input").join(case.name);
        fs::create_dir_all(&dir).expect("mkdir");
        (case.write)(Place {
            dir: &dir,
            outside: &self.outside,
        })
    }

    fn clear_out(&self) {
        fs::remove_dir_all(&self.out).expect("clear out/");
        fs::create_dir(&self.out).expect("mkdir out/");
    }
}

/// Runs one command on one case and returns what is wrong, if anything.
fn check(layout: &Layout, case: &HostileCase, image: &Path, cmd: Cmd) -> Vec<String> {
    let mut problems = Vec::new();
    let before = listing(&layout.root, &layout.out);
    let output = match run_bounded(&cmd.args(image, &layout.out)) {
        Ok(o) => o,
        Err(e) => return vec![e],
    };
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push(format!("panicked: {stderr}"));
    }
    if listing(&layout.root, &layout.out) != before {
        problems.push("something outside the target changed".into());
    }
    if fs::read(layout.outside.join("canary")).ok().as_deref() != Some(&b"untouched"[..]) {
        problems.push("the canary outside was changed".into());
    }
    let refusal = match case.expect {
        Expect::Rejected { message_contains } => Some(message_contains),
        Expect::Unmergeable { message_contains } if cmd.merges() => Some(message_contains),
        _ => None,
    };
    let code = output.status.code();
    match refusal {
        Some(fragments) => {
            if code != Some(2) {
                problems.push(format!("exit {code:?}, not 2; stderr: {stderr}"));
            }
            let line = stderr.trim_end();
            if line.lines().count() != 1 || !line.starts_with("error: failed to ") {
                problems.push(format!("not one `error: failed to …` line: {stderr:?}"));
            }
            for fragment in fragments {
                if !line.contains(fragment) {
                    problems.push(format!("message lacks {fragment:?}: {line}"));
                }
            }
            let left = names_in(&layout.out);
            if !left.is_empty() {
                problems.push(format!("partial output left behind: {left:?}"));
            }
        }
        None => {
            let ok = match cmd {
                // 1: the policy failed, a verdict on a legal image.
                Cmd::Scan => matches!(code, Some(0 | 1)),
                _ => code == Some(0),
            };
            if !ok {
                problems.push(format!("exit {code:?}; stderr: {stderr}"));
            } else if cmd != Cmd::Inspect {
                let left = names_in(&layout.out);
                if left != [cmd.target()] {
                    problems.push(format!("out/ holds {left:?}, not the target"));
                }
            }
            if let (Expect::Legal { check: tree }, true) = (case.expect, ok) {
                problems.extend(check_tree(layout, case, cmd, tree));
            }
        }
    }
    problems
}

/// The legal case's tree: the unpacked one, or the flattened image unpacked again.
fn check_tree(layout: &Layout, case: &HostileCase, cmd: Cmd, tree: fn(&Path)) -> Option<String> {
    let root = match cmd {
        Cmd::Unpack => layout.out.join("rootfs"),
        // The 100 k-file tree is checked once, through unpack.
        Cmd::Flatten if !case.heavy => {
            let again = layout.out.join("flat-rootfs");
            let flat = layout.out.join(cmd.target());
            let args = ["unpack", path_text(&flat), path_text(&again)].map(String::from);
            match run_bounded(&args) {
                Ok(o) if o.status.success() => again,
                Ok(o) => {
                    return Some(format!(
                        "unpack of the flattened image failed: {}",
                        String::from_utf8_lossy(&o.stderr)
                    ))
                }
                Err(e) => return Some(e),
            }
        }
        _ => return None,
    };
    std::panic::catch_unwind(|| tree(&root)).err().map(|e| {
        let text = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("wrong tree: {text}")
    })
}

#[test]
fn every_hostile_image_through_every_command() {
    let layout = Layout::new();
    let mut failures = Vec::new();
    for case in corpus() {
        let image = layout.write(&case);
        for cmd in Cmd::ALL {
            for problem in check(&layout, &case, &image, cmd) {
                failures.push(format!("{} / {cmd:?}: {problem}", case.name));
            }
            layout.clear_out();
        }
        fs::remove_dir_all(image.parent().expect("case dir")).expect("rm case");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
