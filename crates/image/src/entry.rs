//! One entry of a layer, as analyzers and the flattener see it.

use serde::Serialize;

/// What an entry is. Whiteouts are decoded from their `.wh.` names (see [`crate::whiteout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
    /// `.wh.<name>`: deletes `<name>` (the entry's path) from the layers below.
    Whiteout,
    /// `.wh..wh..opq`: hides everything the layers below have under this directory (the entry's path).
    OpaqueWhiteout,
}

impl EntryKind {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Dir => "dir",
            Self::Symlink => "symlink",
            Self::Hardlink => "hardlink",
            Self::CharDevice => "char_device",
            Self::BlockDevice => "block_device",
            Self::Fifo => "fifo",
            Self::Whiteout => "whiteout",
            Self::OpaqueWhiteout => "opaque_whiteout",
        }
    }

    /// Whether this entry is a whiteout of either kind.
    pub fn is_whiteout(self) -> bool {
        matches!(self, Self::Whiteout | Self::OpaqueWhiteout)
    }
}

/// An extended attribute from a PAX header (`SCHILY.xattr.<name>`), `security.capability` among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xattr {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// One entry of a layer, borrowed for the length of a sink call.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Normalised path (see [`crate::path`]). For a whiteout, the path it deletes; for an
    /// opaque whiteout, the directory it makes opaque.
    pub path: &'a [u8],
    /// The name as stored in the layer, before normalisation (`./usr/.wh.x`).
    pub raw_path: &'a [u8],
    pub kind: EntryKind,
    /// Permission bits with setuid, setgid and sticky (`mode & 0o7777`): file-type bits are dropped.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Content size in bytes (0 for anything but regular files).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// Symlink target as stored (raw bytes), or hardlink target normalised to an image path.
    pub link_target: Option<&'a [u8]>,
    /// Device numbers for character and block devices.
    pub device: Option<(u32, u32)>,
    pub xattrs: &'a [Xattr],
}

impl Entry<'_> {
    /// The xattr with this name, if the entry has it.
    pub fn xattr(&self, name: &[u8]) -> Option<&[u8]> {
        self.xattrs
            .iter()
            .find(|x| x.name == name)
            .map(|x| x.value.as_slice())
    }
}
