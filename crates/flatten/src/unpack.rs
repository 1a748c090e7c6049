//! `unpack`: the merged root filesystem written into a directory, never outside it.
//!
//! Every path is resolved below the tree's root with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, so no symlink in the image (or planted during the run) can redirect a
//! write; final components are created with `O_EXCL | O_NOFOLLOW`, `symlinkat`, `mknodat`,
//! `linkat` without following. The tree is built in a temporary directory beside the target and
//! renamed into place when complete; on error it is removed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rharden_image::{
    Entry, EntryKind, FileIndex, FileRecord, Image, LayerInfo, LayerSink, SinkError, Want,
};
use rustix::fs::{
    self as rfs, AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use serde::Serialize;

use crate::error::FlattenError;
use crate::output::temp_dir_for;
use crate::plan::{Cursor, Plan};

/// Something that could not be restored, counted by kind.
#[derive(Debug, Clone, Serialize)]
pub struct UnpackNote {
    /// `ownership`, `device`, `xattr`.
    pub what: &'static str,
    pub count: u64,
    /// One path it happened to.
    pub example: String,
    pub reason: String,
}

/// What unpack wrote.
#[derive(Debug, Clone, Serialize)]
pub struct UnpackReport {
    pub dir: PathBuf,
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    /// What could not be restored (ownership when not root, device nodes without CAP_MKNOD…).
    pub notes: Vec<UnpackNote>,
}

fn show(path: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(path))
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&path[..0], path),
    }
}

/// Bytes as a path argument for rustix (which takes any `Arg`, including `&[u8]` via OsStr).
fn arg(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(if bytes.is_empty() { b"." } else { bytes })
}

/// How to unpack.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// Shift every owner by `base` (ids `0..count` become `base..base+count`), so that a user
    /// namespace mapping container ids `0..count` to host ids `base..` sees the image's owners.
    /// Ids outside `0..count` are left to the caller (root) and noted. Only applies as root.
    pub id_shift: Option<IdShift>,
}

/// A user-namespace id range: container ids `0..count` are host ids `base..base+count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdShift {
    /// First host id.
    pub base: u32,
    /// Number of ids.
    pub count: u32,
}

struct Tree {
    root: OwnedFd,
    is_root: bool,
    shift: Option<IdShift>,
    notes: BTreeMap<&'static str, UnpackNote>,
    entries: u64,
    files: u64,
    bytes: u64,
}

impl Tree {
    fn note(&mut self, what: &'static str, path: &[u8], reason: String) {
        let n = self.notes.entry(what).or_insert_with(|| UnpackNote {
            what,
            count: 0,
            example: show(path),
            reason,
        });
        n.count += 1;
    }

    /// Opens the directory `dir` (relative to the root) without following any symlink and
    /// without leaving the root; creates missing parents (0755) as `tar` does.
    fn open_dir(&self, dir: &[u8]) -> Result<OwnedFd, FlattenError> {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
        match rfs::openat2(&self.root, arg(dir), flags, Mode::empty(), how) {
            Ok(fd) => Ok(fd),
            Err(rustix::io::Errno::NOENT) if !dir.is_empty() => {
                let (parent, name) = split(dir);
                let parent_fd = self.open_dir(parent)?;
                match rfs::mkdirat(&parent_fd, arg(name), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(create_err(dir, e)),
                }
                rfs::openat2(&self.root, arg(dir), flags, Mode::empty(), how)
                    .map_err(|e| create_err(dir, e))
            }
            Err(e) => Err(create_err(dir, e)),
        }
    }

    /// Ownership (when root), then mode (after chown, which clears setuid), xattrs, times.
    fn finish_fd(
        &mut self,
        fd: impl AsFd,
        r: &FileRecord,
        path: &[u8],
    ) -> Result<(), FlattenError> {
        self.chown(fd.as_fd(), r, path)?;
        rfs::fchmod(&fd, Mode::from_raw_mode(r.mode & 0o7777)).map_err(|e| create_err(path, e))?;
        for x in r.xattrs() {
            if let Err(e) = rfs::fsetxattr(&fd, arg(&x.name), &x.value, XattrFlags::empty()) {
                self.note(
                    "xattr",
                    path,
                    format!("{}: {e}", String::from_utf8_lossy(&x.name)),
                );
            }
        }
        let t = Timespec {
            tv_sec: r.mtime as i64,
            tv_nsec: 0,
        };
        rfs::futimens(
            &fd,
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
        )
        .map_err(|e| create_err(path, e))
    }

    fn chown(
        &mut self,
        fd: std::os::fd::BorrowedFd<'_>,
        r: &FileRecord,
        path: &[u8],
    ) -> Result<(), FlattenError> {
        if !self.is_root {
            if r.uid != u64::from(rustix::process::geteuid().as_raw())
                || r.gid != u64::from(rustix::process::getegid().as_raw())
            {
                self.note(
                    "ownership",
                    path,
                    "not running as root: files belong to the caller".into(),
                );
            }
            return Ok(());
        }
        let (Ok(uid), Ok(gid)) = (u32::try_from(r.uid), u32::try_from(r.gid)) else {
            self.note(
                "ownership",
                path,
                "uid or gid does not fit in 32 bits".into(),
            );
            return Ok(());
        };
        // An id of -1 means "leave unchanged" to chown(2): not an owner to restore.
        if uid == u32::MAX || gid == u32::MAX {
            self.note("ownership", path, "uid or gid is -1".into());
            return Ok(());
        }
        let (uid, gid) = match self.shift {
            None => (uid, gid),
            Some(s) if uid < s.count && gid < s.count => (s.base + uid, s.base + gid),
            Some(s) => {
                self.note(
                    "ownership",
                    path,
                    format!(
                        "uid or gid outside the container's id range 0..{}: left to root",
                        s.count
                    ),
                );
                return Ok(());
            }
        };
        let (uid, gid) = (
            rustix::fs::Uid::from_raw(uid),
            rustix::fs::Gid::from_raw(gid),
        );
        rfs::fchown(fd, Some(uid), Some(gid)).map_err(|e| create_err(path, e))
    }

    /// Creates a non-directory, non-file entry (symlink, fifo, device) at `path`.
    fn special(&mut self, r: &FileRecord, path: &[u8]) -> Result<(), FlattenError> {
        let (dir, name) = split(path);
        let parent = self.open_dir(dir)?;
        let at_flags = AtFlags::SYMLINK_NOFOLLOW;
        match r.kind {
            EntryKind::Symlink => {
                let target = r.link_target().unwrap_or_default();
                rfs::symlinkat(arg(target), &parent, arg(name)).map_err(|e| create_err(path, e))?;
            }
            EntryKind::Fifo | EntryKind::CharDevice | EntryKind::BlockDevice => {
                let (file_type, dev) = match r.kind {
                    EntryKind::Fifo => (rfs::FileType::Fifo, 0),
                    EntryKind::CharDevice => (rfs::FileType::CharacterDevice, dev(r)),
                    _ => (rfs::FileType::BlockDevice, dev(r)),
                };
                match rfs::mknodat(
                    &parent,
                    arg(name),
                    file_type,
                    Mode::from_raw_mode(r.mode & 0o777),
                    dev,
                ) {
                    Ok(()) => {}
                    Err(e)
                        if r.kind != EntryKind::Fifo
                            && (e == rustix::io::Errno::PERM || e == rustix::io::Errno::ACCESS) =>
                    {
                        self.note("device", path, format!("mknod: {e} (needs CAP_MKNOD)"));
                        return Ok(());
                    }
                    Err(e) => return Err(create_err(path, e)),
                }
                // The node was just made by us in a private tree: chmod by name is safe here.
                rfs::chmodat(
                    &parent,
                    arg(name),
                    Mode::from_raw_mode(r.mode & 0o7777),
                    AtFlags::empty(),
                )
                .map_err(|e| create_err(path, e))?;
            }
            _ => return Ok(()),
        }
        if self.is_root {
            if let (Ok(uid), Ok(gid)) = (u32::try_from(r.uid), u32::try_from(r.gid)) {
                rfs::chownat(
                    &parent,
                    arg(name),
                    Some(rfs::Uid::from_raw(uid)),
                    Some(rfs::Gid::from_raw(gid)),
                    at_flags,
                )
                .map_err(|e| create_err(path, e))?;
            }
        }
        let t = Timespec {
            tv_sec: r.mtime as i64,
            tv_nsec: 0,
        };
        rfs::utimensat(
            &parent,
            arg(name),
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
            at_flags,
        )
        .map_err(|e| create_err(path, e))?;
        self.entries += 1;
        Ok(())
    }
}

fn dev(r: &FileRecord) -> rfs::Dev {
    let (major, minor) = r.device().unwrap_or((0, 0));
    rfs::makedev(major, minor)
}

fn create_err(path: &[u8], e: rustix::io::Errno) -> FlattenError {
    FlattenError::Create {
        path: show(path),
        source: io::Error::from(e),
    }
}

/// The file being written: its handle, its record, and the path it is written at.
type OpenFile<'a> = (File, &'a FileRecord, Box<[u8]>);

struct UnpackSink<'a> {
    tree: &'a mut Tree,
    plan: &'a Plan,
    files: &'a FileIndex,
    cursor: Cursor,
    current: Option<OpenFile<'a>>,
}

impl LayerSink for UnpackSink<'_> {
    fn entry(&mut self, layer: &LayerInfo, _: &Entry<'_>) -> Result<Want, SinkError> {
        let Some((r, path)) = self.cursor.next(layer.index, self.plan, self.files) else {
            return Ok(Want::Skip);
        };
        let path: Box<[u8]> = path.into();
        if r.kind != EntryKind::File {
            self.tree.special(r, &path)?;
            return Ok(Want::Skip);
        }
        let (dir, name) = split(&path);
        let parent = self.tree.open_dir(dir)?;
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&parent, arg(name), flags, Mode::from_raw_mode(0o600))
            .map_err(|e| create_err(&path, e))?;
        self.current = Some((File::from(fd), r, path));
        Ok(Want::Content)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some((file, _, path)) = &mut self.current {
            file.write_all(chunk)
                .map_err(|source| FlattenError::Create {
                    path: show(path),
                    source,
                })?;
            self.tree.bytes += chunk.len() as u64;
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        if let Some((file, r, path)) = self.current.take() {
            self.tree.finish_fd(&file, r, &path)?;
            self.tree.entries += 1;
            self.tree.files += 1;
        }
        Ok(())
    }
}

/// Writes the merged root filesystem of `image` into `dir`, which must be new or empty.
pub fn unpack(image: &Image, dir: &Path) -> Result<UnpackReport, FlattenError> {
    unpack_with(image, dir, &UnpackOptions::default())
}

/// [`unpack`] with options (an id shift for a user namespace).
pub fn unpack_with(
    image: &Image,
    dir: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport, FlattenError> {
    match dir.symlink_metadata() {
        Ok(m) if !m.is_dir() => {
            return Err(FlattenError::OutputExists {
                path: dir.to_owned(),
            })
        }
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(|source| FlattenError::Write {
                path: dir.to_owned(),
                source,
            })?;
            if entries.next().is_some() {
                return Err(FlattenError::NotEmpty {
                    path: dir.to_owned(),
                });
            }
        }
        Err(_) => {}
    }
    let walk = image.walk(|_| ())?;
    let plan = Plan::new(&walk.files, 0)?;
    let tmp = temp_dir_for(dir)?;
    let root = rfs::open(
        tmp.path(),
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::empty(),
    )
    .map_err(|e| FlattenError::Write {
        path: tmp.path().to_owned(),
        source: e.into(),
    })?;
    let mut tree = Tree {
        root,
        is_root: rustix::process::geteuid().is_root(),
        shift: options.id_shift,
        notes: BTreeMap::new(),
        entries: 0,
        files: 0,
        bytes: 0,
    };
    // Directories first (parents sort before children), private until their metadata is set last.
    for &(l, p) in &plan.dirs {
        let r = &walk.files.layers[l][p];
        if r.path.is_empty() {
            continue;
        }
        let (parent, name) = split(&r.path);
        let parent_fd = tree.open_dir(parent)?;
        match rfs::mkdirat(&parent_fd, arg(name), Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(create_err(&r.path, e)),
        }
        tree.entries += 1;
    }
    let mut sink = UnpackSink {
        tree: &mut tree,
        plan: &plan,
        files: &walk.files,
        cursor: Cursor::default(),
        current: None,
    };
    image.walk_each(&mut sink)?;
    for link in &plan.links {
        let r = &walk.files.layers[link.record.0][link.record.1];
        let (old_dir, old_name) = split(&link.target);
        let (new_dir, new_name) = split(&r.path);
        let old_parent = tree.open_dir(old_dir)?;
        let new_parent = tree.open_dir(new_dir)?;
        rfs::linkat(
            &old_parent,
            arg(old_name),
            &new_parent,
            arg(new_name),
            AtFlags::empty(),
        )
        .map_err(|e| create_err(&r.path, e))?;
        tree.entries += 1;
    }
    // Directory metadata last, deepest first, so later writes neither fail nor touch mtimes.
    let mut root_done = false;
    for &(l, p) in plan.dirs.iter().rev() {
        let r = &walk.files.layers[l][p];
        let fd = tree.open_dir(&r.path)?;
        root_done |= r.path.is_empty();
        tree.finish_fd(&fd, r, &r.path)?;
    }
    if !root_done {
        rfs::fchmod(&tree.root, Mode::from_raw_mode(0o755)).map_err(|e| create_err(b"", e))?;
    }
    drop(tree.root);
    let place = |source| FlattenError::Write {
        path: dir.to_owned(),
        source,
    };
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(place)?;
    }
    let kept = tmp.keep();
    if let Err(e) = std::fs::rename(&kept, dir) {
        let _ = std::fs::remove_dir_all(&kept);
        return Err(place(e));
    }
    Ok(UnpackReport {
        dir: dir.to_owned(),
        entries: tree.entries,
        files: tree.files,
        bytes: tree.bytes,
        notes: tree.notes.into_values().collect(),
    })
}
