//! The bloat analyzer's [`LayerSink`]: the sha256 of every regular file of a layer that is at
//! least [`MIN_HASHED_SIZE`] bytes, so identical content at several paths can be found after
//! the walk. Only the 32-byte hash and the path are kept, never content.

use std::collections::HashMap;

use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};
use sha2::{Digest as _, Sha256};

/// Files smaller than this are not hashed: duplicates below 1 KiB save too little to report,
/// and skipping them keeps the hashing cost to the bytes that matter.
pub const MIN_HASHED_SIZE: u64 = 1024;

/// sha256 of the content of one layer's regular files (≥ [`MIN_HASHED_SIZE`] bytes), by path.
/// Hardlinks, symlinks and whiteouts carry no content and are not hashed. A path written twice
/// in one layer keeps the hash of its last entry, the one the merge keeps.
#[derive(Default)]
pub struct ContentHashSink {
    hashes: HashMap<Box<[u8]>, [u8; 32]>,
    current: Option<(Box<[u8]>, Sha256)>,
}

impl std::fmt::Debug for ContentHashSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentHashSink")
            .field("hashed_files", &self.hashes.len())
            .finish()
    }
}

impl ContentHashSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The sha256 of the file at `path` (normalised layer path), if it was hashed.
    pub fn hash_of(&self, path: &[u8]) -> Option<&[u8; 32]> {
        self.hashes.get(path)
    }

    /// How many files of the layer were hashed.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl LayerSink for ContentHashSink {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        if entry.kind != EntryKind::File || entry.size < MIN_HASHED_SIZE {
            // A later small entry at the same path replaces a hashed one.
            self.hashes.remove(entry.path);
            return Ok(Want::Skip);
        }
        self.current = Some((entry.path.into(), Sha256::new()));
        Ok(Want::Content)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some((_, hasher)) = &mut self.current {
            hasher.update(chunk);
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        if let Some((path, hasher)) = self.current.take() {
            self.hashes.insert(path, hasher.finalize().into());
        }
        Ok(())
    }
}
