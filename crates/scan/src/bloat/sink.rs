//! The bloat analyzer's [`LayerSink`]: a content id of every regular file of a layer that is at
//! least [`MIN_HASHED_SIZE`] bytes, so identical content at several paths can be found after
//! the walk, and the sha256 that names such content in the report. Only hashes and the entry's
//! position in the layer are kept: neither content nor a copy of the path (an image can hold
//! hundreds of thousands of files).
//!
//! Why two hashes: sha256 runs at ~1.4 GB/s even with SHA-NI, and taken of every file it was a
//! third of a scan's CPU on a real Debian image. The content id (seeded xxh3-128) is taken of
//! every file at memory speed; the sha256 only of a file whose size an earlier file of the
//! image already had ([`SeenSizes`]): one in ten bytes on that image. Two copies of the same
//! content have the same size, so in every group of copies all but at most the first have a
//! sha256, which names the group (and is the finding's fingerprint, as before).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};
use sha2::{Digest as _, Sha256};
use xxhash_rust::xxh3::Xxh3;

/// Files smaller than this are not hashed: duplicates below 1 KiB save too little to report,
/// and skipping them keeps the hashing cost to the bytes that matter.
pub const MIN_HASHED_SIZE: u64 = 1024;

/// The sizes of the files hashed so far, in every layer of one walk (layers are read in
/// parallel: the set is shared). Also the seed of the content ids, random per walk, so that no
/// one can prepare two different files with the same id.
#[derive(Debug)]
pub struct SeenSizes {
    sizes: Mutex<HashSet<u64>>,
    seed: u64,
}

impl Default for SeenSizes {
    fn default() -> Self {
        Self::new()
    }
}

impl SeenSizes {
    pub fn new() -> Self {
        use std::hash::{BuildHasher as _, Hasher as _};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            sizes: Mutex::new(HashSet::new()),
            seed,
        }
    }

    /// Records `size`; whether a file of that size was recorded before. Sizes are recorded
    /// under one lock, so of the files with one size exactly one gets `false`.
    fn repeated(&self, size: u64) -> bool {
        !self
            .sizes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(size)
    }
}

struct Hashing {
    position: u32,
    sha256: Option<Sha256>,
}

/// Content ids (and, for repeated sizes, sha256) of one layer's regular files
/// (≥ [`MIN_HASHED_SIZE`] bytes), by the entry's position in the layer
/// ([`FileRecord::position`](rharden_image::FileRecord::position)). Hardlinks, symlinks and
/// whiteouts carry no content and are not hashed.
pub struct ContentHashSink<'a> {
    seen: &'a SeenSizes,
    /// (position, content id), in position order.
    ids: Vec<(u32, u128)>,
    /// (position, sha256) of the files whose size was seen before, in position order.
    sha256: Vec<(u32, [u8; 32])>,
    /// The position of the next entry.
    next: u32,
    current: Option<Hashing>,
    /// The content id's state, reset for each file (it holds a 0.5 KiB buffer).
    id: Box<Xxh3>,
}

impl std::fmt::Debug for ContentHashSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentHashSink")
            .field("hashed_files", &self.ids.len())
            .field("sha256", &self.sha256.len())
            .finish()
    }
}

fn at<T>(list: &[(u32, T)], position: usize) -> Option<&T> {
    let position = u32::try_from(position).ok()?;
    let i = list.binary_search_by_key(&position, |(p, _)| *p).ok()?;
    Some(&list[i].1)
}

impl<'a> ContentHashSink<'a> {
    /// Every layer of one walk shares `seen`.
    pub fn new(seen: &'a SeenSizes) -> Self {
        Self {
            seen,
            ids: Vec::new(),
            sha256: Vec::new(),
            next: 0,
            current: None,
            id: Box::new(Xxh3::with_seed(seen.seed)),
        }
    }

    /// The content id of the entry at `position` in the layer, if it was hashed.
    pub fn content_id(&self, position: usize) -> Option<u128> {
        at(&self.ids, position).copied()
    }

    /// The sha256 of the entry at `position`, if it was taken (its size was seen before).
    pub fn sha256_of(&self, position: usize) -> Option<&[u8; 32]> {
        at(&self.sha256, position)
    }

    /// How many files of the layer were hashed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl LayerSink for ContentHashSink<'_> {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        let position = self.next;
        self.next = self.next.saturating_add(1);
        if entry.kind != EntryKind::File || entry.size < MIN_HASHED_SIZE {
            return Ok(Want::Skip);
        }
        self.id.reset();
        self.current = Some(Hashing {
            position,
            sha256: self.seen.repeated(entry.size).then(Sha256::new),
        });
        Ok(Want::Content)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some(h) = &mut self.current {
            self.id.update(chunk);
            if let Some(sha) = &mut h.sha256 {
                sha.update(chunk);
            }
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        // Positions only grow, so both lists stay in position order.
        if let Some(h) = self.current.take() {
            self.ids.push((h.position, self.id.digest128()));
            if let Some(sha) = h.sha256 {
                self.sha256.push((h.position, sha.finalize().into()));
            }
        }
        Ok(())
    }

    /// The hashes are kept until the walk ends: give back the growth slack.
    fn finish(&mut self) {
        self.ids.shrink_to_fit();
        self.sha256.shrink_to_fit();
    }
}
