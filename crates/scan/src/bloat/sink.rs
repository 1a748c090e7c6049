//! The bloat analyzer's [`LayerSink`]: the sha256 of every regular file of a layer that is at
//! least [`MIN_HASHED_SIZE`] bytes, so identical content at several paths can be found after
//! the walk. Only the 32-byte hash and the entry's position in the layer are kept: neither
//! content nor a copy of the path (an image can hold hundreds of thousands of files).

use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};
use sha2::{Digest as _, Sha256};

/// Files smaller than this are not hashed: duplicates below 1 KiB save too little to report,
/// and skipping them keeps the hashing cost to the bytes that matter.
pub const MIN_HASHED_SIZE: u64 = 1024;

/// sha256 of the content of one layer's regular files (≥ [`MIN_HASHED_SIZE`] bytes), by the
/// entry's position in the layer ([`FileRecord::position`](rharden_image::FileRecord::position)).
/// Hardlinks, symlinks and whiteouts carry no content and are not hashed.
#[derive(Default)]
pub struct ContentHashSink {
    /// (position, hash), in position order.
    hashes: Vec<(u32, [u8; 32])>,
    /// The position of the next entry.
    next: u32,
    /// The entry being hashed, with its position.
    current: Option<(u32, Sha256)>,
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

    /// The sha256 of the entry at `position` in the layer, if it was hashed.
    pub fn hash_of(&self, position: usize) -> Option<&[u8; 32]> {
        let position = u32::try_from(position).ok()?;
        let i = self
            .hashes
            .binary_search_by_key(&position, |(p, _)| *p)
            .ok()?;
        Some(&self.hashes[i].1)
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
        let position = self.next;
        self.next = self.next.saturating_add(1);
        if entry.kind != EntryKind::File || entry.size < MIN_HASHED_SIZE {
            return Ok(Want::Skip);
        }
        self.current = Some((position, Sha256::new()));
        Ok(Want::Content)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some((_, hasher)) = &mut self.current {
            hasher.update(chunk);
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        // Positions only grow, so `hashes` stays in position order.
        if let Some((position, hasher)) = self.current.take() {
            self.hashes.push((position, hasher.finalize().into()));
        }
        Ok(())
    }

    /// The hashes are kept until the walk ends: give back the growth slack.
    fn finish(&mut self) {
        self.hashes.shrink_to_fit();
    }
}
