//! Snapshots of filesystem trees and of an image's final view, in one comparable shape:
//! path → (type, mode, uid, gid, size, content sha256, link target, xattrs). No mtimes.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rharden_image::{
    Entry, EntryKind, Fate, Image, LayerInfo, LayerSink, OpenOptions, SinkError, Want,
};
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub sha256: Option<String>,
    pub link: Option<String>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

pub type Tree = BTreeMap<String, Node>;

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A directory tree as it is on disk (lstat; symlinks not followed).
pub fn of_dir(root: &Path) -> Tree {
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Tree) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = String::from_utf8_lossy(
            path.strip_prefix(root)
                .expect("under root")
                .as_os_str()
                .as_bytes(),
        )
        .into_owned();
        let meta = std::fs::symlink_metadata(&path).expect("lstat");
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_char_device() {
            "char_device"
        } else if ft.is_block_device() {
            "block_device"
        } else {
            "file"
        };
        let sha256 = (kind == "file").then(|| {
            let mut f = std::fs::File::open(&path).expect("open");
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            hex(&h.finalize())
        });
        let link = ft.is_symlink().then(|| {
            String::from_utf8_lossy(
                std::fs::read_link(&path)
                    .expect("readlink")
                    .as_os_str()
                    .as_bytes(),
            )
            .into_owned()
        });
        let mut xattrs = BTreeMap::new();
        if !ft.is_symlink() {
            let mut names = vec![0u8; 4096];
            if let Ok(n) = rustix::fs::llistxattr(&path, &mut names) {
                for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
                    let mut value = vec![0u8; 4096];
                    let cname = std::ffi::OsStr::from_bytes(name);
                    if let Ok(len) = rustix::fs::lgetxattr(&path, cname, &mut value) {
                        xattrs.insert(
                            String::from_utf8_lossy(name).into_owned(),
                            value[..len].to_vec(),
                        );
                    }
                }
            }
        }
        out.insert(
            rel,
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: u64::from(meta.uid()),
                gid: u64::from(meta.gid()),
                size: if kind == "file" { meta.size() } else { 0 },
                sha256,
                link,
                xattrs,
            },
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// Content hashes of every file, per layer.
#[derive(Default)]
struct Hashes {
    current: Option<(Vec<u8>, Sha256)>,
    done: BTreeMap<Vec<u8>, String>,
}

impl LayerSink for Hashes {
    fn entry(&mut self, _: &LayerInfo, e: &Entry<'_>) -> Result<Want, SinkError> {
        if e.kind == EntryKind::File {
            self.current = Some((e.path.to_vec(), Sha256::new()));
            return Ok(Want::Content);
        }
        Ok(Want::Skip)
    }
    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some((_, h)) = &mut self.current {
            h.update(chunk);
        }
        Ok(())
    }
    fn end_entry(&mut self) -> Result<(), SinkError> {
        if let Some((p, h)) = self.current.take() {
            self.done.insert(p, hex(&h.finalize()));
        }
        Ok(())
    }
}

/// The final filesystem of an image, from the reader's fates. Hardlinks appear as the file
/// they share (as on disk).
pub fn of_image(path: &Path) -> Tree {
    let image = Image::open(path, &OpenOptions::default()).expect("open image");
    let walk = image.walk(|_| Hashes::default()).expect("walk image");
    let mut out = Tree::new();
    for (l, records) in walk.files.layers.iter().enumerate() {
        for r in records {
            if r.fate != Fate::Present || r.kind.is_whiteout() || r.path.is_empty() {
                continue;
            }
            let (kind, sha256, size, content) = match r.kind {
                EntryKind::File => (
                    "file",
                    walk.sinks[l].done.get(&r.path[..]).cloned(),
                    r.size,
                    None,
                ),
                EntryKind::Hardlink => {
                    let (rl, rp) = r.link_root().expect("link root");
                    let root = &walk.files.layers[rl][rp];
                    (
                        "file",
                        walk.sinks[rl].done.get(&root.path[..]).cloned(),
                        root.size,
                        Some(root),
                    )
                }
                EntryKind::Dir => ("dir", None, 0, None),
                EntryKind::Symlink => ("symlink", None, 0, None),
                EntryKind::Fifo => ("fifo", None, 0, None),
                EntryKind::CharDevice => ("char_device", None, 0, None),
                EntryKind::BlockDevice => ("block_device", None, 0, None),
                EntryKind::Whiteout | EntryKind::OpaqueWhiteout => continue,
            };
            let meta = content.unwrap_or(r);
            // Symlinks have no mode of their own on Linux: lstat always says 0777.
            let mode = if kind == "symlink" { 0o777 } else { meta.mode };
            out.insert(
                String::from_utf8_lossy(&r.path).into_owned(),
                Node {
                    kind,
                    mode,
                    uid: meta.uid,
                    gid: meta.gid,
                    size,
                    sha256,
                    link: (r.kind == EntryKind::Symlink).then(|| {
                        String::from_utf8_lossy(r.link_target().unwrap_or_default()).into_owned()
                    }),
                    xattrs: meta
                        .xattrs()
                        .iter()
                        .map(|x| {
                            (
                                String::from_utf8_lossy(&x.name).into_owned(),
                                x.value.clone(),
                            )
                        })
                        .collect(),
                },
            );
        }
    }
    // Parents an image never lists are made 0755 root:root by extractors (tar, umoci, unpack).
    let implied: Vec<String> = out
        .keys()
        .flat_map(|k| {
            let mut parents = Vec::new();
            let mut rest = k.as_str();
            while let Some((parent, _)) = rest.rsplit_once('/') {
                parents.push(parent.to_owned());
                rest = parent;
            }
            parents
        })
        .filter(|p| !out.contains_key(p))
        .collect();
    for p in implied {
        out.insert(
            p,
            Node {
                kind: "dir",
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                sha256: None,
                link: None,
                xattrs: BTreeMap::new(),
            },
        );
    }
    out
}

/// Asserts two trees are equal, printing only the differing paths.
pub fn assert_same(a: &Tree, b: &Tree, what: &str) {
    let mut diffs = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("only in first: {k} {v:?}")),
            Some(w) if w != v => diffs.push(format!("differs: {k}\n   {v:?}\n   {w:?}")),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        diffs.push(format!("only in second: {k} {:?}", b[k]));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
