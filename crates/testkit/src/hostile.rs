//! The hostile-input corpus: every image a reader of untrusted archives must survive, as data.
//!
//! One list, [`corpus`], used by the image crate's reader test, by the CLI test that runs each
//! case through `inspect`, `scan`, `flatten` and `unpack`, and by `gen-hostile` (which writes the
//! corpus to a directory to seed fuzzing). Each case says what a correct tool does with it:
//! refuse it with a message naming the problem ([`Expect::Rejected`]), read it but refuse to
//! merge it ([`Expect::Unmergeable`]), or accept it and produce the right tree ([`Expect::Legal`]).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

use crate::{
    device, dir, file, gzip, hardlink, raw_file, sha256, symlink, tar, typed, Form, ImageSpec,
    LayerCodec, TarEntry,
};

/// Where a case is written, and the directory that stands for "outside the target" (symlinks in
/// some images point at it, so an extractor that follows them would write there).
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// An empty directory to write the image into.
    pub dir: &'a Path,
    /// An absolute directory outside any target; nothing may ever be written in it.
    pub outside: &'a Path,
}

/// Writes a case's image under `place.dir` and returns the path to open.
pub type Writer = Box<dyn Fn(Place<'_>) -> PathBuf + Send + Sync>;

/// Checks an unpacked root filesystem of a legal case; panics with what is wrong.
pub type TreeCheck = fn(&Path);

/// What a correct tool does with a case.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The reader refuses it: every command fails (exit 2) with a message holding each string.
    Rejected {
        message_contains: &'static [&'static str],
    },
    /// Legal to read (inspect and scan succeed), but it has no merged filesystem every applier
    /// agrees on: flatten and unpack fail (exit 2) with a message holding each string.
    Unmergeable {
        message_contains: &'static [&'static str],
    },
    /// Legal: every command succeeds, and the unpacked tree passes `check`.
    Legal { check: TreeCheck },
}

/// One hostile image.
pub struct HostileCase {
    /// A file-name-safe identifier (`symlink-dir-then-file-through-it`).
    pub name: &'static str,
    /// Which item of the list it covers, in words.
    pub about: &'static str,
    pub write: Writer,
    pub expect: Expect,
    /// Costly to build or to read (100 k files, a 1 GiB bomb): tests build these once.
    pub heavy: bool,
}

impl std::fmt::Debug for HostileCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileCase")
            .field("name", &self.name)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

fn case(
    name: &'static str,
    about: &'static str,
    expect: Expect,
    write: impl Fn(Place<'_>) -> PathBuf + Send + Sync + 'static,
) -> HostileCase {
    HostileCase {
        name,
        about,
        write: Box::new(write),
        expect,
        heavy: false,
    }
}

/// A case that is an [`ImageSpec`] written in one form.
fn spec_case(
    name: &'static str,
    about: &'static str,
    form: Form,
    expect: Expect,
    spec: impl Fn(Place<'_>) -> ImageSpec + Send + Sync + 'static,
) -> HostileCase {
    case(name, about, expect, move |place| {
        spec(place).write(place.dir, form)
    })
}

const fn rejected(message_contains: &'static [&'static str]) -> Expect {
    Expect::Rejected { message_contains }
}

const fn unmergeable(message_contains: &'static [&'static str]) -> Expect {
    Expect::Unmergeable { message_contains }
}

fn one_layer(entries: Vec<TarEntry>) -> ImageSpec {
    ImageSpec::new(vec![entries])
}

fn outside_text(place: Place<'_>) -> String {
    place.outside.to_str().expect("utf8 outside dir").to_owned()
}

/// A one-layer docker-archive whose manifest is `manifest(config member name)`, with `extra`
/// members added.
fn docker_archive_with(
    dir: &Path,
    manifest: impl Fn(&str) -> Vec<u8>,
    extra: Vec<TarEntry>,
) -> PathBuf {
    let spec = one_layer(vec![file("a", b"a")]);
    let mut entries = spec.docker_entries();
    let config_name = String::from_utf8(entries[1].name.clone()).expect("utf8");
    let last = entries.len() - 1;
    entries[last] = file("manifest.json", &manifest(&config_name));
    entries.extend(extra);
    let path = dir.join("image.docker.tar");
    fs::write(&path, tar(&entries)).expect("write");
    path
}

/// A docker-archive whose manifest lists `layers` as the layer members.
fn docker_archive_naming(dir: &Path, layers: &[&str], extra: Vec<TarEntry>) -> PathBuf {
    docker_archive_with(
        dir,
        |config| {
            serde_json::to_vec(&serde_json::json!([{"Config": config, "Layers": layers}]))
                .expect("json")
        },
        extra,
    )
}

/// An OCI archive whose `index.json` is `index`, with `extra` members added.
fn oci_with_index(dir: &Path, index: &[u8], extra: Vec<TarEntry>) -> PathBuf {
    let spec = one_layer(vec![file("a", b"a")]);
    let mut entries = spec.oci_entries(LayerCodec::Gzip);
    entries[1] = file("index.json", index);
    entries.extend(extra);
    let path = dir.join("image.oci.tar");
    fs::write(&path, tar(&entries)).expect("write");
    path
}

/// A layer of 200 KB whose stored blob is cut in half.
fn truncated(codec: LayerCodec) -> ImageSpec {
    let mut spec = one_layer(vec![file("data", &vec![7u8; 200_000])]);
    spec.codec = codec;
    let full = codec.encode(&spec.layers[0]);
    spec.tamper_blob = Some((0, full[..full.len() / 2].to_vec()));
    spec
}

/// Two layer tars stored as one blob of two compressed streams back to back (legal for both
/// gzip, RFC 1952 §2.2, and zstd frames); the diff_id covers both tars.
fn concatenated(codec: LayerCodec) -> ImageSpec {
    let first = tar(&[file("first", b"in the first stream")]);
    let second = tar(&[file("second", b"after the end of the archive")]);
    let mut spec = ImageSpec::new(vec![vec![]]);
    spec.codec = codec;
    spec.layers[0] = [first.clone(), second.clone()].concat();
    spec.stored_blob = Some((0, [codec.encode(&first), codec.encode(&second)].concat()));
    spec
}

/// A zstd layer holding one file of `size` zeros, compressed as it streams (never in memory).
pub fn zstd_zero_layer(name: &str, size: u64) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd");
    let mut header = tar(&[file(name, b"").declared(size)]);
    header.truncate(512);
    encoder.write_all(&header).expect("zstd");
    let zeros = vec![0u8; 1 << 20];
    let mut left = size.div_ceil(512) * 512 + 1024;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        encoder.write_all(&zeros[..n]).expect("zstd");
        left -= n as u64;
    }
    encoder.finish().expect("zstd")
}

/// A layer tar whose one entry is a GNU sparse file (type `S`) of `real_size` bytes that stores
/// none: one hole, which readers fill with zeros. A bomb without compression.
pub fn gnu_sparse_layer(name: &str, real_size: u64) -> Vec<u8> {
    let mut bytes = tar(&[file(name, b"")]);
    let h = &mut bytes[..512];
    h[156] = b'S';
    // The old GNU format: magic "ustar " and version " \0", then the sparse map at 386.
    h[257..265].copy_from_slice(b"ustar  \0");
    let base256 = |field: &mut [u8], value: u64| {
        field.fill(0);
        field[0] = 0x80;
        let n = field.len();
        field[n - 8..].copy_from_slice(&value.to_be_bytes());
    };
    // sparse[0]: the data (none) starts at `real_size`; everything before it is a hole.
    base256(&mut h[386..398], real_size);
    h[398..410].copy_from_slice(b"00000000000\0");
    base256(&mut h[483..495], real_size);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    bytes
}

/// A tar of 100 000 one-byte files in 100 directories.
fn tiny_files() -> Vec<TarEntry> {
    let mut entries = Vec::with_capacity(100_100);
    for d in 0..100 {
        entries.push(dir(&format!("d{d:02}")));
        for f in 0..1000 {
            entries.push(file(&format!("d{d:02}/f{f:03}"), b"x"));
        }
    }
    entries
}

/// `"a/a/…/a"`, `depth` components.
fn deep_path(depth: usize) -> String {
    vec!["a"; depth].join("/")
}

fn kind_of(path: &Path) -> fs::FileType {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", path.display()))
        .file_type()
}

fn assert_file(root: &Path, name: &str, content: &[u8]) {
    let path = root.join(name);
    assert!(kind_of(&path).is_file(), "{} is not a file", path.display());
    assert_eq!(
        fs::read(&path).expect("read"),
        content,
        "{}",
        path.display()
    );
}

fn assert_missing(root: &Path, name: &str) {
    let path = root.join(name);
    assert!(
        fs::symlink_metadata(&path).is_err(),
        "{} should not exist",
        path.display()
    );
}

fn assert_symlink(root: &Path, name: &str, target: &str) {
    let path = root.join(name);
    assert!(
        kind_of(&path).is_symlink(),
        "{} is not a symlink",
        path.display()
    );
    assert_eq!(
        fs::read_link(&path).expect("readlink"),
        Path::new(target),
        "{}",
        path.display()
    );
}

/// Whether the process may create device nodes (unpack notes, and skips, those it cannot).
fn is_root() -> bool {
    // The effective uid, read from /proc so the testkit needs no libc.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Every hostile image, at least one per item of issue 8's list.
pub fn corpus() -> Vec<HostileCase> {
    let mut cases = names();
    cases.extend(links());
    cases.extend(merges());
    cases.extend(streams());
    cases.extend(archives());
    cases.extend(json());
    cases.extend(sizes());
    cases
}

/// Traversal, absolute names, NUL, newline, non-UTF-8, long names, malformed PAX, odd types.
fn names() -> Vec<HostileCase> {
    vec![
        spec_case(
            "traversal-name",
            "traversal",
            Form::DockerArchive,
            rejected(&["../../outside/pwned", "unsafe name", "climbs out"]),
            |_| one_layer(vec![file("../../outside/pwned", b"x")]),
        ),
        spec_case(
            "traversal-inside-name",
            "traversal",
            Form::OciTar,
            rejected(&["unsafe name", "climbs out"]),
            |_| one_layer(vec![dir("a"), file("a/../../outside/pwned", b"x")]),
        ),
        spec_case(
            "absolute-name",
            "absolute names",
            Form::OciTar,
            rejected(&["unsafe name", "absolute"]),
            |place| one_layer(vec![file(&format!("{}/pwned", outside_text(place)), b"x")]),
        ),
        spec_case(
            "nul-in-pax-path",
            "names with NUL",
            Form::OciTar,
            rejected(&["NUL"]),
            |_| one_layer(vec![file("x", b"x").pax("path", b"a\0b")]),
        ),
        spec_case(
            "newline-in-hostile-name",
            "names with newline (in an error)",
            Form::OciTar,
            rejected(&["climbs out"]),
            |_| one_layer(vec![file("../line\nbreak", b"x")]),
        ),
        spec_case(
            "newline-in-name",
            "names with newline",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert_file(root, "line\nbreak", b"newline"),
            },
            |_| one_layer(vec![file("line\nbreak", b"newline")]),
        ),
        spec_case(
            "non-utf8-name",
            "names with non-UTF-8 bytes",
            Form::DockerArchive,
            Expect::Legal {
                check: |root| {
                    use std::os::unix::ffi::OsStrExt as _;
                    let name = std::ffi::OsStr::from_bytes(b"bin\xff\xfe");
                    assert_eq!(fs::read(root.join(name)).expect("read"), b"latin");
                },
            },
            |_| one_layer(vec![raw_file(b"bin\xff\xfe", b"latin")]),
        ),
        spec_case(
            "name-of-10k-characters",
            "names of 10 k characters",
            Form::OciTar,
            rejected(&["nnnn… (10000 bytes)", "longer than 4096 bytes"]),
            |_| one_layer(vec![file(&"n".repeat(10_000), b"x")]),
        ),
        spec_case(
            "component-of-300-bytes",
            "names of 10 k characters (one long component)",
            Form::OciTar,
            rejected(&["longer than 255 bytes"]),
            |_| one_layer(vec![file(&format!("d/{}", "\u{e9}".repeat(150)), b"x")]),
        ),
        spec_case(
            "long-legal-name",
            "long names within PATH_MAX",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert_file(
                        root,
                        &format!("{}/{}", "l".repeat(255), "m".repeat(255)),
                        b"long",
                    )
                },
            },
            |_| {
                one_layer(vec![file(
                    &format!("{}/{}", "l".repeat(255), "m".repeat(255)),
                    b"long",
                )])
            },
        ),
        spec_case(
            "pax-uid-not-a-number",
            "malformed PAX headers",
            Form::OciTar,
            rejected(&["malformed PAX header", "uid"]),
            |_| one_layer(vec![file("x", b"x").pax("uid", b"-1x")]),
        ),
        spec_case(
            "pax-record-length-past-the-end",
            "malformed PAX headers",
            Form::OciTar,
            rejected(&["layer 0", "malformed pax extension"]),
            |_| one_layer(vec![file("x", b"x").raw_pax(b"999 path=y\n")]),
        ),
        spec_case(
            "pax-record-without-length",
            "malformed PAX headers",
            Form::OciTar,
            rejected(&["layer 0", "malformed pax extension"]),
            |_| one_layer(vec![file("x", b"x").raw_pax(b"path=y\n")]),
        ),
        spec_case(
            "pax-size-huge",
            "malformed PAX headers, huge declared sizes",
            Form::OciTar,
            rejected(&["layer 0", "size overflow"]),
            |_| one_layer(vec![file("x", b"x").pax("size", b"18446744073709551615")]),
        ),
        spec_case(
            "unsupported-entry-type",
            "odd entry types",
            Form::OciTar,
            rejected(&["unsupported tar type"]),
            |_| one_layer(vec![typed("vol", b'V')]),
        ),
    ]
}

/// Symlink and hardlink escapes, chained ones included.
fn links() -> Vec<HostileCase> {
    vec![
        spec_case(
            "symlink-climbing-out",
            "symlink escapes",
            Form::OciTar,
            rejected(&["outside the image root"]),
            |_| one_layer(vec![symlink("a/link", "../../../outside")]),
        ),
        spec_case(
            "symlink-to-absolute-outside",
            "symlink escapes (absolute: inside the root, legal)",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert!(kind_of(&root.join("escape")).is_symlink()),
            },
            |place| one_layer(vec![symlink("escape", &outside_text(place))]),
        ),
        spec_case(
            "symlink-dir-then-file-through-it",
            "chained: a symlinked directory, then a file through it",
            Form::OciTar,
            unmergeable(&["escape/pwned", "symlink"]),
            |place| {
                ImageSpec::new(vec![
                    vec![symlink("escape", &outside_text(place))],
                    vec![file("escape/pwned", b"x")],
                ])
            },
        ),
        spec_case(
            "implied-dir-replaced-by-a-file-in-one-layer",
            "file-vs-directory conflicts (found by the merge_layers fuzz target)",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert_file(root, "a", b"file"),
            },
            |_| one_layer(vec![dir("a/a"), file("a", b"file")]),
        ),
        spec_case(
            "implied-dir-replaced-by-a-file-in-a-later-layer",
            "file-vs-directory conflicts across layers, the directory only implied",
            Form::DockerArchive,
            Expect::Legal {
                check: |root| {
                    assert_file(root, "d", b"file");
                    assert_missing(root, "d/x");
                },
            },
            |_| ImageSpec::new(vec![vec![file("d/x", b"below")], vec![file("d", b"file")]]),
        ),
        spec_case(
            "symlink-dir-then-file-in-one-layer",
            "chained, within one layer",
            Form::DockerArchive,
            rejected(&["escape/pwned", "below", "symlink"]),
            |place| {
                one_layer(vec![
                    symlink("escape", &outside_text(place)),
                    file("escape/pwned", b"x"),
                ])
            },
        ),
        spec_case(
            "dir-then-its-parent-a-file-then-below-it-in-one-layer",
            "file-vs-directory conflicts within one layer (found by the merge_layers fuzz target)",
            Form::OciTar,
            rejected(&["b/a/c", "below", "b"]),
            |_| one_layer(vec![dir("b/a"), file("b", b"file"), dir("b/a/c")]),
        ),
        spec_case(
            "file-then-child-in-one-layer",
            "file-vs-directory conflicts within one layer",
            Form::OciTar,
            rejected(&["f/x", "below", "file"]),
            |_| one_layer(vec![file("f", b"f"), file("f/x", b"x")]),
        ),
        spec_case(
            "symlink-chain-then-file",
            "chained: a symlink to a symlinked directory",
            Form::OciTar,
            unmergeable(&["b/pwned", "symlink"]),
            |place| {
                ImageSpec::new(vec![
                    vec![symlink("a", &outside_text(place)), symlink("b", "a")],
                    vec![file("b/pwned", b"x")],
                ])
            },
        ),
        spec_case(
            "hardlink-climbing-out",
            "hardlink escapes",
            Form::OciTar,
            rejected(&["outside the image root"]),
            |_| one_layer(vec![hardlink("x", "../outside/canary")]),
        ),
        spec_case(
            "hardlink-absolute",
            "hardlink escapes (absolute)",
            Form::OciTar,
            rejected(&["outside the image root"]),
            |place| {
                one_layer(vec![hardlink(
                    "x",
                    &format!("{}/canary", outside_text(place)),
                )])
            },
        ),
        spec_case(
            "hardlink-through-symlink-dir",
            "chained: a hardlink through a symlinked directory",
            Form::OciTar,
            unmergeable(&["hardlinks"]),
            |place| {
                ImageSpec::new(vec![
                    vec![symlink("escape", &outside_text(place))],
                    vec![hardlink("x", "escape/canary")],
                ])
            },
        ),
        spec_case(
            "whiteout-through-symlink-dir",
            "chained: a symlinked directory, then a whiteout through it (deletes nothing)",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert!(kind_of(&root.join("escape")).is_symlink()),
            },
            |place| {
                ImageSpec::new(vec![
                    vec![symlink("escape", &outside_text(place))],
                    vec![file("escape/.wh.canary", b"")],
                ])
            },
        ),
        spec_case(
            "opaque-whiteout-in-symlink-dir",
            "opaque whiteouts in odd places: a symlinked directory",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert!(kind_of(&root.join("escape")).is_symlink()),
            },
            |place| {
                ImageSpec::new(vec![
                    vec![symlink("escape", &outside_text(place))],
                    vec![file("escape/.wh..wh..opq", b"")],
                ])
            },
        ),
        spec_case(
            "symlink-replaced-by-dir",
            "a symlinked directory replaced by a real one in a later layer",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert!(kind_of(&root.join("escape")).is_dir());
                    assert_file(root, "escape/canary", b"inside");
                },
            },
            |place| {
                ImageSpec::new(vec![
                    vec![symlink("escape", &outside_text(place))],
                    vec![dir("escape"), file("escape/canary", b"inside")],
                ])
            },
        ),
        spec_case(
            "hardlink-to-a-directory",
            "a hardlink to a directory (no filesystem has one)",
            Form::OciTar,
            unmergeable(&["hardlinks \"/h\" to \"/d\"", "which is a directory"]),
            |_| one_layer(vec![dir("d"), hardlink("h", "d")]),
        ),
        spec_case(
            "symlink-with-empty-target",
            "a symlink to nothing (Linux refuses to create one)",
            Form::OciTar,
            rejected(&["entry \"s\"", "symlink with an empty target"]),
            |_| one_layer(vec![symlink("s", "")]),
        ),
        spec_case(
            "hardlink-to-a-symlink",
            "a hardlink to a symlink (legal: links the symlink itself)",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert_symlink(root, "h", "/etc/passwd"),
            },
            |_| one_layer(vec![symlink("s", "/etc/passwd"), hardlink("h", "s")]),
        ),
        spec_case(
            "hardlink-to-deleted-file",
            "a hardlink to a whiteout-deleted file",
            Form::OciTar,
            unmergeable(&["hardlinks", "does not exist"]),
            |_| {
                ImageSpec::new(vec![
                    vec![file("a", b"a")],
                    vec![file(".wh.a", b"")],
                    vec![hardlink("b", "a")],
                ])
            },
        ),
        spec_case(
            "hardlink-before-its-target",
            "a hardlink to a later entry",
            Form::OciTar,
            unmergeable(&["hardlinks", "does not exist"]),
            |_| one_layer(vec![hardlink("b", "a"), file("a", b"a")]),
        ),
    ]
}

/// Duplicates, file-vs-directory conflicts, whiteouts and opaque whiteouts, devices, deep trees.
fn merges() -> Vec<HostileCase> {
    vec![
        spec_case(
            "duplicate-entries",
            "duplicate entries",
            Form::OciTar,
            rejected(&["appears twice"]),
            |_| one_layer(vec![file("x", b"1"), file("./x", b"2")]),
        ),
        spec_case(
            "file-and-dir-in-one-layer",
            "duplicate entries of different types",
            Form::OciTar,
            rejected(&["appears twice"]),
            |_| one_layer(vec![file("x", b"1"), dir("x")]),
        ),
        spec_case(
            "file-then-dir-across-layers",
            "file-vs-directory conflicts across layers",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert!(kind_of(&root.join("x")).is_dir());
                    assert_file(root, "x/inner", b"2");
                },
            },
            |_| {
                ImageSpec::new(vec![
                    vec![file("x", b"1")],
                    vec![dir("x"), file("x/inner", b"2")],
                ])
            },
        ),
        spec_case(
            "dir-then-file-across-layers",
            "file-vs-directory conflicts across layers",
            Form::OciDir,
            Expect::Legal {
                check: |root| {
                    assert_file(root, "x", b"now a file");
                    assert_file(root, "y/kept", b"k");
                },
            },
            |_| {
                ImageSpec::new(vec![
                    vec![
                        dir("x"),
                        file("x/inner", b"1"),
                        dir("y"),
                        file("y/kept", b"k"),
                    ],
                    vec![file("x", b"now a file")],
                ])
            },
        ),
        spec_case(
            "file-under-a-file",
            "a file below a lower layer's file",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert_file(root, "f/inner", b"2"),
            },
            |_| ImageSpec::new(vec![vec![file("f", b"1")], vec![file("f/inner", b"2")]]),
        ),
        spec_case(
            "whiteout-of-dotdot",
            "whiteouts of ..",
            Form::OciTar,
            rejected(&[".wh..", "whiteout"]),
            |_| one_layer(vec![dir("a"), file("a/.wh...", b"")]),
        ),
        spec_case(
            "whiteout-of-dot",
            "whiteouts of the root (`.wh..` at the top)",
            Form::OciTar,
            rejected(&[".wh..", "whiteout"]),
            |_| ImageSpec::new(vec![vec![file("a", b"a")], vec![file(".wh..", b"")]]),
        ),
        spec_case(
            "whiteout-of-nothing",
            "whiteouts of the root (`.wh.` at the top)",
            Form::OciTar,
            rejected(&[".wh.", "whiteout"]),
            |_| ImageSpec::new(vec![vec![file("a", b"a")], vec![file(".wh.", b"")]]),
        ),
        spec_case(
            "whiteout-of-missing-path",
            "whiteouts of missing paths",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert_file(root, "a", b"a");
                    assert_missing(root, "never");
                },
            },
            |_| ImageSpec::new(vec![vec![file("a", b"a")], vec![file(".wh.never", b"")]]),
        ),
        spec_case(
            "opaque-whiteout-at-root",
            "opaque whiteouts in odd places: the root",
            Form::OciTar,
            unmergeable(&["opaque whiteout on the root"]),
            |_| {
                ImageSpec::new(vec![
                    vec![file("a", b"a")],
                    vec![file(".wh..wh..opq", b""), file("b", b"b")],
                ])
            },
        ),
        spec_case(
            "opaque-whiteout-after-new-files",
            "opaque whiteouts in odd places: after the layer's own files",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert_file(root, "data/new", b"n");
                    assert_missing(root, "data/old");
                },
            },
            |_| {
                ImageSpec::new(vec![
                    vec![dir("data"), file("data/old", b"o")],
                    vec![file("data/new", b"n"), file("data/.wh..wh..opq", b"")],
                ])
            },
        ),
        spec_case(
            "opaque-whiteout-of-missing-dir",
            "opaque whiteouts in odd places: a missing directory",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert_file(root, "a", b"a");
                    assert_missing(root, "nodir");
                },
            },
            |_| {
                ImageSpec::new(vec![
                    vec![file("a", b"a")],
                    vec![file("nodir/.wh..wh..opq", b"")],
                ])
            },
        ),
        spec_case(
            "opaque-whiteout-below-a-file",
            "opaque whiteouts in odd places: below a file",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert_file(root, "f", b"still a file"),
            },
            |_| {
                ImageSpec::new(vec![
                    vec![file("f", b"still a file")],
                    vec![file("f/.wh..wh..opq", b"")],
                ])
            },
        ),
        spec_case(
            "devices-and-fifos",
            "devices and fifos",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert!(kind_of(&root.join("dev/pipe")).is_fifo());
                    if is_root() {
                        assert!(kind_of(&root.join("dev/null")).is_char_device());
                        assert!(kind_of(&root.join("dev/sda")).is_block_device());
                    }
                },
            },
            |_| {
                one_layer(vec![
                    dir("dev"),
                    device("dev/null", b'3', 1, 3),
                    device("dev/sda", b'4', 8, 0),
                    typed("dev/pipe", b'6'),
                ])
            },
        ),
        spec_case(
            "deeply-nested-directories",
            "deeply nested directories",
            Form::OciTar,
            Expect::Legal {
                check: |root| assert_file(root, &format!("{}/leaf", deep_path(1000)), b"deep"),
            },
            |_| {
                let mut entries: Vec<TarEntry> = (1..=1000).map(|d| dir(&deep_path(d))).collect();
                entries.push(file(&format!("{}/leaf", deep_path(1000)), b"deep"));
                one_layer(entries)
            },
        ),
        spec_case(
            "nesting-past-path-max",
            "deeply nested directories, past PATH_MAX",
            Form::OciTar,
            rejected(&["longer than 4096 bytes"]),
            |_| one_layer(vec![file(&format!("{}/leaf", deep_path(2100)), b"x")]),
        ),
        HostileCase {
            heavy: true,
            ..spec_case(
                "100k-tiny-files",
                "100 k tiny files",
                Form::OciTar,
                Expect::Legal {
                    check: |root| {
                        let count: usize = (0..100)
                            .map(|d| {
                                fs::read_dir(root.join(format!("d{d:02}")))
                                    .expect("dir")
                                    .count()
                            })
                            .sum();
                        assert_eq!(count, 100_000);
                        assert_file(root, "d99/f999", b"x");
                    },
                },
                |_| one_layer(tiny_files()),
            )
        },
    ]
}

/// Compressed streams: truncated, concatenated, corrupt, bombs, wrong digests, not a tar.
fn streams() -> Vec<HostileCase> {
    vec![
        spec_case(
            "truncated-gzip-layer",
            "truncated gzip streams",
            Form::OciTar,
            rejected(&["layer 0", "truncated or corrupt"]),
            |_| truncated(LayerCodec::Gzip),
        ),
        spec_case(
            "truncated-zstd-layer",
            "truncated zstd streams",
            Form::OciDir,
            rejected(&["layer 0", "truncated or corrupt"]),
            |_| truncated(LayerCodec::Zstd),
        ),
        spec_case(
            "concatenated-gzip-layer",
            "concatenated gzip streams",
            Form::OciTar,
            Expect::Legal {
                check: |root| {
                    assert_file(root, "first", b"in the first stream");
                    assert_missing(root, "second");
                },
            },
            |_| concatenated(LayerCodec::Gzip),
        ),
        spec_case(
            "concatenated-zstd-layer",
            "concatenated zstd streams",
            Form::DockerArchive,
            Expect::Legal {
                check: |root| assert_file(root, "first", b"in the first stream"),
            },
            |_| concatenated(LayerCodec::Zstd),
        ),
        spec_case(
            "garbage-after-gzip",
            "concatenated streams: garbage after the gzip stream",
            Form::OciTar,
            rejected(&["layer 0", "gzip stream is truncated or corrupt"]),
            |_| {
                let mut spec = one_layer(vec![file("a", b"a")]);
                let mut bytes = gzip(&spec.layers[0]);
                bytes.extend_from_slice(b"GARBAGE!");
                spec.stored_blob = Some((0, bytes));
                spec
            },
        ),
        spec_case(
            "corrupt-gzip-layer",
            "corrupt gzip streams",
            Form::OciTar,
            rejected(&["layer 0", "gzip stream is truncated or corrupt"]),
            |_| {
                let mut spec = one_layer(vec![file("data", &vec![7u8; 50_000])]);
                let mut bytes = gzip(&spec.layers[0]);
                let mid = bytes.len() / 2;
                for b in &mut bytes[mid..mid + 8] {
                    *b ^= 0xff;
                }
                spec.stored_blob = Some((0, bytes));
                spec
            },
        ),
        spec_case(
            "truncated-whole-archive",
            "truncated gzip streams: the whole archive",
            Form::DockerArchive,
            rejected(&["failed to read the archive", "incomplete deflate stream"]),
            |_| one_layer(vec![file("a", &vec![1u8; 100_000])]),
        )
        .rewrite(|path| {
            let bytes = gzip(&fs::read(path).expect("read"));
            let cut = path.with_extension("tar.gz");
            fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
            fs::remove_file(path).expect("rm");
            cut
        }),
        spec_case(
            "truncated-whole-archive-zstd",
            "truncated zstd streams: the whole archive",
            Form::OciTar,
            rejected(&["failed to read the archive", "incomplete frame"]),
            |_| one_layer(vec![file("a", &vec![1u8; 100_000])]),
        )
        .rewrite(|path| {
            let bytes = crate::zstd(&fs::read(path).expect("read"));
            let cut = path.with_extension("tar.zst");
            fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
            fs::remove_file(path).expect("rm");
            cut
        }),
        HostileCase {
            heavy: true,
            ..spec_case(
                "zstd-bomb-layer",
                "decompression bombs",
                Form::OciTar,
                rejected(&["layer 0", "decompression bomb"]),
                |_| {
                    let mut spec = one_layer(vec![file("zeros", b"")]);
                    spec.codec = LayerCodec::Zstd;
                    spec.stored_blob = Some((0, zstd_zero_layer("zeros", (1 << 30) + (1 << 20))));
                    spec
                },
            )
        },
        spec_case(
            "gnu-sparse-bomb",
            "decompression bombs: a 1 TiB sparse file that stores nothing",
            Form::OciTar,
            rejected(&[
                "layer 0",
                "\"holes\" is a sparse file",
                "decompression bomb",
            ]),
            |_| {
                let mut spec = one_layer(vec![]);
                spec.layers[0] = gnu_sparse_layer("holes", 1 << 40);
                spec
            },
        ),
        spec_case(
            "blob-digest-mismatch",
            "wrong digests: a layer blob",
            Form::OciTar,
            rejected(&["digest mismatch", "layer 0"]),
            |_| {
                let mut spec = one_layer(vec![file("a", b"a")]);
                spec.codec = LayerCodec::Plain;
                spec.tamper_blob = Some((0, tar(&[file("a", b"b")])));
                spec
            },
        ),
        spec_case(
            "diff-id-mismatch",
            "wrong digests: a diff_id",
            Form::DockerArchive,
            rejected(&["digest mismatch", "diff_id"]),
            |_| {
                let mut spec = one_layer(vec![file("a", b"a")]);
                spec.diff_ids = Some(vec![sha256(b"something else")]);
                spec
            },
        ),
        spec_case(
            "layer-count-differs-from-diff-ids",
            "wrong digests: fewer diff_ids than layers",
            Form::OciTar,
            rejected(&["1 layers", "0 diff_ids"]),
            |_| {
                let mut spec = one_layer(vec![file("a", b"a")]);
                spec.diff_ids = Some(vec![]);
                spec
            },
        ),
        spec_case(
            "layer-not-a-tar",
            "a layer that is not a tar",
            Form::OciTar,
            rejected(&["layer 0", "no tar stream"]),
            |_| {
                let mut spec = one_layer(vec![file("a", b"a")]);
                spec.tamper_blob = Some((
                    0,
                    b"this is not a tar stream at all, but some text".to_vec(),
                ));
                spec
            },
        ),
    ]
}

/// The archive around the layers: manifests pointing outside, member links, indexes.
fn archives() -> Vec<HostileCase> {
    vec![
        case(
            "manifest-names-parent-path",
            "manifests pointing outside the archive",
            rejected(&["../../etc/passwd", "outside the image"]),
            |place| docker_archive_naming(place.dir, &["../../etc/passwd"], vec![]),
        ),
        case(
            "manifest-names-absolute-path",
            "manifests pointing outside the archive",
            rejected(&["outside the image"]),
            |place| docker_archive_naming(place.dir, &["/etc/passwd"], vec![]),
        ),
        case(
            "manifest-names-missing-blob",
            "manifests pointing at nothing",
            rejected(&["not in the image"]),
            |place| docker_archive_naming(place.dir, &["nope/layer.tar"], vec![]),
        ),
        case(
            "member-symlink-leaving-archive",
            "manifests pointing outside the archive, through a member symlink",
            rejected(&["leaves the archive or loops"]),
            |place| {
                docker_archive_naming(
                    place.dir,
                    &["evil/layer.tar"],
                    vec![symlink("evil/layer.tar", "../../../etc/passwd")],
                )
            },
        ),
        case(
            "member-symlink-loop",
            "member links that loop",
            rejected(&["leaves the archive or loops"]),
            |place| {
                docker_archive_naming(
                    place.dir,
                    &["l1"],
                    vec![symlink("l1", "l2"), symlink("l2", "l1")],
                )
            },
        ),
        case(
            "oci-dir-blob-symlinked-outside",
            "an OCI directory's blob symlinked outside it",
            rejected(&["leaves the archive"]),
            |place| {
                let root = one_layer(vec![file("a", b"a")]).write(place.dir, Form::OciDir);
                let layer = gzip_blob_in(&root);
                let moved = place.dir.join("outside-blob");
                fs::rename(&layer, &moved).expect("move");
                std::os::unix::fs::symlink(&moved, &layer).expect("symlink");
                root
            },
        ),
        case(
            "oci-dir-index-symlinked-outside",
            "an OCI directory whose index.json is a symlink leaving it",
            rejected(&["index.json"]),
            |place| {
                let root = one_layer(vec![file("a", b"a")]).write(place.dir, Form::OciDir);
                fs::remove_file(root.join("index.json")).expect("rm");
                std::os::unix::fs::symlink(place.outside.join("canary"), root.join("index.json"))
                    .expect("symlink");
                root
            },
        ),
        case(
            "oci-dir-blobs-dir-symlinked-outside",
            "an OCI directory whose blobs/sha256 is a symlink leaving it",
            rejected(&["leaves the archive"]),
            |place| {
                let root = one_layer(vec![file("a", b"a")]).write(place.dir, Form::OciDir);
                let moved = place.dir.join("outside-blobs");
                fs::rename(root.join("blobs/sha256"), &moved).expect("move");
                std::os::unix::fs::symlink(&moved, root.join("blobs/sha256")).expect("symlink");
                root
            },
        ),
        case(
            "duplicate-archive-member",
            "duplicate entries in the archive",
            rejected(&["appears twice"]),
            |place| {
                let mut entries = one_layer(vec![file("a", b"a")]).docker_entries();
                entries.push(file("manifest.json", b"[]"));
                let path = place.dir.join("image.docker.tar");
                fs::write(&path, tar(&entries)).expect("write");
                path
            },
        ),
        case(
            "index-with-traversal-digest",
            "manifests pointing outside the archive, through a digest",
            rejected(&["invalid digest"]),
            |place| {
                oci_with_index(place.dir, br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd","size":1}]}"#, vec![])
            },
        ),
        case(
            "indexes-nested-too-deep",
            "JSON nested too deep: indexes of indexes",
            rejected(&["nest deeper"]),
            |place| {
                let inner = |d: &str| {
                    serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":d}]})).expect("json")
                };
                let mut blobs = Vec::new();
                let mut digest = sha256(b"nothing");
                for _ in 0..20 {
                    let doc = inner(&digest);
                    digest = sha256(&doc);
                    blobs.push(file(&format!("blobs/sha256/{}", &digest[7..]), &doc));
                }
                oci_with_index(place.dir, &inner(&digest), blobs)
            },
        ),
        case(
            "not-an-image",
            "not an image at all",
            rejected(&["not a container image"]),
            |place| {
                let path = place.dir.join("empty.tar");
                fs::write(&path, b"").expect("write");
                path
            },
        ),
    ]
}

/// JSON documents that are huge, deeply nested or of the wrong type.
fn json() -> Vec<HostileCase> {
    let config_case = |name, about, expect, config: fn() -> Vec<u8>| {
        spec_case(name, about, Form::OciTar, expect, move |_| {
            let mut spec = one_layer(vec![file("a", b"a")]);
            spec.config = Some(config());
            spec
        })
    };
    vec![
        config_case(
            "config-over-16-mib",
            "JSON that is huge",
            rejected(&["over the", "limit for JSON"]),
            || {
                let mut doc = br#"{"architecture":"amd64","os":"linux","pad":""#.to_vec();
                doc.resize(doc.len() + (17 << 20), b'x');
                doc.extend_from_slice(br#""}"#);
                doc
            },
        ),
        case(
            "manifest-over-16-mib",
            "JSON that is huge: the docker manifest",
            rejected(&["manifest.json", "limit for JSON"]),
            |place| {
                docker_archive_with(
                    place.dir,
                    |config| {
                        let mut doc = serde_json::to_vec(
                            &serde_json::json!([{"Config": config, "Layers": []}]),
                        )
                        .expect("json");
                        doc.resize(doc.len() + (17 << 20), b' ');
                        doc
                    },
                    vec![],
                )
            },
        ),
        spec_case(
            "config-nested-100k-deep",
            "JSON that is deeply nested (in a field the config does not define)",
            Form::OciTar,
            rejected(&["failed to parse", "recursion limit"]),
            |_| {
                let mut spec = one_layer(vec![file("a", b"a")]);
                let mut doc = spec.config_json();
                doc.pop(); // the closing brace
                doc.extend_from_slice(br#","unknown":"#);
                doc.extend_from_slice(&b"[".repeat(100_000));
                doc.extend_from_slice(&b"]".repeat(100_000));
                doc.push(b'}');
                spec.config = Some(doc);
                spec
            },
        ),
        config_case(
            "config-not-json",
            "JSON that is not JSON",
            rejected(&["failed to parse"]),
            || b"{not json".to_vec(),
        ),
        config_case(
            "config-is-an-array",
            "JSON of the wrong type",
            rejected(&["failed to parse", "invalid type"]),
            || b"[1,2,3]".to_vec(),
        ),
        config_case(
            "config-diff-ids-a-string",
            "JSON of the wrong type, nested",
            rejected(&["failed to parse", "invalid type"]),
            || br#"{"rootfs":{"type":"layers","diff_ids":"nope"}}"#.to_vec(),
        ),
        case(
            "docker-manifest-an-object",
            "JSON of the wrong type: the docker manifest",
            rejected(&["manifest.json"]),
            |place| docker_archive_with(place.dir, |_| b"{\"Config\": 1}".to_vec(), vec![]),
        ),
        case(
            "index-manifests-a-number",
            "JSON of the wrong type: the OCI index",
            rejected(&["index.json"]),
            |place| oci_with_index(place.dir, br#"{"schemaVersion":2,"manifests":7}"#, vec![]),
        ),
    ]
}

/// Sizes declared past the end of the stream.
fn sizes() -> Vec<HostileCase> {
    vec![
        spec_case(
            "entry-declares-1-tib",
            "huge declared sizes: a layer entry",
            Form::OciTar,
            rejected(&["layer 0", "after entry \"big\"", "unexpected EOF"]),
            |_| one_layer(vec![file("big", b"small").declared(1 << 40)]),
        ),
        spec_case(
            "entry-declares-1-tib-zstd",
            "huge declared sizes: a zstd layer entry",
            Form::OciTarZst,
            rejected(&["layer 0", "after entry \"big\"", "unexpected EOF"]),
            |_| {
                let mut spec = one_layer(vec![file("big", b"small").declared(1 << 40)]);
                spec.codec = LayerCodec::Zstd;
                spec
            },
        ),
        case(
            "member-declares-1-pib",
            "huge declared sizes: an archive member",
            rejected(&["huge", "past the end of the archive"]),
            |place| {
                let mut entries = one_layer(vec![file("a", b"a")]).docker_entries();
                entries.push(file("huge", b"x").declared(1 << 50));
                let path = place.dir.join("image.docker.tar");
                fs::write(&path, tar(&entries)).expect("write");
                path
            },
        ),
    ]
}

/// The gzip layer blob of an OCI directory.
fn gzip_blob_in(root: &Path) -> PathBuf {
    fs::read_dir(root.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            fs::read(p)
                .map(|b| b.starts_with(&[0x1f, 0x8b]))
                .unwrap_or(false)
        })
        .expect("a gzip layer blob")
}

impl HostileCase {
    /// The same case, its written image then transformed by `f` (which returns the new path).
    fn rewrite(self, f: fn(&Path) -> PathBuf) -> Self {
        let write = self.write;
        Self {
            write: Box::new(move |place| f(&write(place))),
            ..self
        }
    }
}

/// Writes every case of the corpus to `dir/<name>/`, with `outside` as the outside directory;
/// returns (case name, image path) pairs.
pub fn write_all(dir: &Path, outside: &Path) -> Vec<(&'static str, PathBuf)> {
    corpus()
        .iter()
        .map(|c| {
            let case_dir = dir.join(c.name);
            fs::create_dir_all(&case_dir).expect("mkdir");
            let path = (c.write)(Place {
                dir: &case_dir,
                outside,
            });
            (c.name, path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_file_name_safe() {
        let cases = corpus();
        assert!(cases.len() >= 40, "{} cases", cases.len());
        let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "duplicate case names");
        for name in names {
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "{name}"
            );
        }
    }

    #[test]
    fn zero_layer_is_a_tar_of_the_declared_size() {
        let layer = zstd_zero_layer("z", 5000);
        let plain = zstd::decode_all(&layer[..]).expect("zstd");
        assert_eq!(plain.len(), 512 + 5120 + 1024);
        assert_eq!(&plain[..1], b"z");
    }
}
