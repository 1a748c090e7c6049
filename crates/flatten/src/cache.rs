//! A cache of unpacked root filesystems, one per image config digest (and id shift), for
//! `rharden run IMAGE`.
//!
//! An entry `<dir>/<key>/` holds `rootfs/` and a `.complete` marker. It is built in a temporary
//! directory `<dir>/.<key>.tmp-XXXXXX` beside it and renamed into place only once complete, so a
//! concurrent or killed run never sees half a tree: an entry either exists whole or not at all.
//! The builder holds an exclusive `flock` on its temporary directory while it works; the kernel
//! drops it when the builder dies, so a temporary directory nobody holds is a killed run's
//! leftover, and the next miss removes it.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rharden_image::{Digest, Image};
use rustix::fs::{self as rfs, FlockOperation, Mode, OFlags};

use crate::error::FlattenError;
use crate::unpack::{unpack_with, UnpackOptions, UnpackReport};

/// The marker written last, before the rename.
pub const COMPLETE: &str = ".complete";

/// Directories a container runtime mounts over; created (empty) in a cached rootfs that lacks
/// them, with their usual modes, because the rootfs is mounted read-only.
const MOUNT_POINTS: &[(&str, u32)] = &[
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("tmp", 0o1777),
    ("run", 0o755),
];

/// Unpacked root filesystems keyed by config digest.
#[derive(Debug, Clone)]
pub struct RootfsCache {
    dir: PathBuf,
}

/// A rootfs from the cache.
#[derive(Debug, Clone)]
pub struct CachedRootfs {
    /// The root filesystem.
    pub rootfs: PathBuf,
    /// The entry (`rootfs/` and `.complete`).
    pub entry: PathBuf,
    /// It was already there (no unpack).
    pub reused: bool,
    /// What unpack wrote, when it ran.
    pub unpacked: Option<UnpackReport>,
    /// Mount points created because the image lacks them.
    pub created_mount_points: Vec<String>,
    /// Leftovers of killed runs that were removed.
    pub cleaned: Vec<PathBuf>,
}

fn write_err(path: &Path) -> impl Fn(io::Error) -> FlattenError + '_ {
    move |source| FlattenError::Write {
        path: path.to_owned(),
        source,
    }
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::empty(),
    )?)
}

impl RootfsCache {
    /// A cache in `dir` (created 0700 when missing: images can hold secrets).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RootfsCache { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry's name: the config digest's hex, and the id shift when there is one (the
    /// owners on disk differ).
    pub fn key(digest: &Digest, options: &UnpackOptions) -> String {
        let hex = digest.to_string();
        let hex = hex.strip_prefix("sha256:").unwrap_or(&hex).to_owned();
        match options.id_shift {
            Some(s) => format!("{hex}-ids-{}-{}", s.base, s.count),
            None => hex,
        }
    }

    /// The rootfs of `image`: the cached one, or unpacked now (atomically) and cached.
    pub fn get_or_unpack(
        &self,
        image: &Image,
        options: &UnpackOptions,
    ) -> Result<CachedRootfs, FlattenError> {
        let key = Self::key(&image.config_digest, options);
        let entry = self.dir.join(&key);
        let rootfs = entry.join("rootfs");
        if is_complete(&entry) {
            return Ok(CachedRootfs {
                rootfs,
                entry,
                reused: true,
                unpacked: None,
                created_mount_points: Vec::new(),
                cleaned: Vec::new(),
            });
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(write_err(&self.dir))?;
        let cleaned = self.clean_stale();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{key}.tmp-"))
            .tempdir_in(&self.dir)
            .map_err(write_err(&self.dir))?;
        // Held until the rename: tells a later run this directory is not a leftover.
        let lock = open_dir(tmp.path()).map_err(write_err(tmp.path()))?;
        rfs::flock(&lock, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| write_err(tmp.path())(e.into()))?;
        let tmp_rootfs = tmp.path().join("rootfs");
        let report = unpack_with(image, &tmp_rootfs, options)?;
        let owner = options.id_shift.map(|s| s.base);
        let created_mount_points = add_mount_points(&tmp_rootfs, owner)?;
        let marker = tmp.path().join(COMPLETE);
        fs::write(&marker, format!("{}\n", image.config_digest)).map_err(write_err(&marker))?;
        let kept = tmp.keep();
        match fs::rename(&kept, &entry) {
            Ok(()) => {}
            // Another run finished the same entry first: use it.
            Err(e)
                if [rustix::io::Errno::NOTEMPTY, rustix::io::Errno::EXIST]
                    .iter()
                    .any(|n| e.raw_os_error() == Some(n.raw_os_error()))
                    && is_complete(&entry) =>
            {
                let _ = fs::remove_dir_all(&kept);
                return Ok(CachedRootfs {
                    rootfs,
                    entry,
                    reused: true,
                    unpacked: None,
                    created_mount_points: Vec::new(),
                    cleaned,
                });
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&kept);
                return Err(write_err(&entry)(e));
            }
        }
        drop(lock);
        Ok(CachedRootfs {
            rootfs,
            entry,
            reused: false,
            unpacked: Some(report),
            created_mount_points,
            cleaned,
        })
    }

    /// Removes the temporary directories of killed runs: those nobody holds a lock on.
    pub fn clean_stale(&self) -> Vec<PathBuf> {
        let mut cleaned = Vec::new();
        let Ok(list) = fs::read_dir(&self.dir) else {
            return cleaned;
        };
        for item in list.flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') && name.contains(".tmp-")) {
                continue;
            }
            let path = item.path();
            let Ok(fd) = open_dir(&path) else { continue };
            if rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok()
                && fs::remove_dir_all(&path).is_ok()
            {
                cleaned.push(path);
            }
        }
        cleaned
    }
}

fn is_complete(entry: &Path) -> bool {
    entry
        .join(COMPLETE)
        .symlink_metadata()
        .map(|m| m.is_file())
        .unwrap_or(false)
}

/// Creates the missing mount points, never following a symlink the image put there, owned by
/// the container's root (`owner`, when ids are shifted).
fn add_mount_points(rootfs: &Path, owner: Option<u32>) -> Result<Vec<String>, FlattenError> {
    let root = open_dir(rootfs).map_err(write_err(rootfs))?;
    let mut created = Vec::new();
    for (name, mode) in MOUNT_POINTS {
        match rfs::mkdirat(&root, *name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(write_err(&rootfs.join(name))(e.into())),
        }
        let path = rootfs.join(name);
        let dir = rfs::openat(
            &root,
            *name,
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        )
        .map_err(|e| write_err(&path)(e.into()))?;
        if let Some(id) = owner {
            rfs::fchown(
                &dir,
                Some(rfs::Uid::from_raw(id)),
                Some(rfs::Gid::from_raw(id)),
            )
            .map_err(|e| write_err(&path)(e.into()))?;
        }
        rfs::fchmod(&dir, Mode::from_raw_mode(*mode)).map_err(|e| write_err(&path)(e.into()))?;
        created.push(format!("/{name}"));
    }
    Ok(created)
}
