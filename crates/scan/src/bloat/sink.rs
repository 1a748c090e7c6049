//! The bloat analyzer's [`LayerSink`]: a content id of every regular file of a layer that is at
//! least [`MIN_HASHED_SIZE`] bytes, so identical content at several paths can be found after
//! the walk, and the sha256 that names such content in the report. Only hashes and the entry's
//! position in the layer are kept: neither content nor a copy of the path (an image can hold
//! hundreds of thousands of files).
//!
//! Why two hashes: sha256 runs at ~1.4 GB/s even with SHA-NI, and taken of every file it was a
//! third of a scan's CPU on a real Debian image. The content id (seeded xxh3-128) is taken of
//! every file at memory speed; the sha256 only of a file that may repeat an earlier one
//! ([`SeenFiles`]):
//! - a file whose content comes in one piece (most files up to the reader's 64 KiB chunk): its
//!   id is known before its sha256 is needed, so it gets one only if an earlier file of the
//!   image had the same size and id, or a file of its size is still being read;
//! - a file that comes in pieces: if an earlier file of the image had its size.
//!
//! So in every group of copies all but at most the first (to be decided) have a sha256, which
//! names the group (and is the finding's fingerprint, as before).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};
use sha2::{Digest as _, Sha256};
use xxhash_rust::xxh3::{xxh3_128_with_seed, Xxh3};

/// Files smaller than this are not hashed: duplicates below 1 KiB save too little to report,
/// and skipping them keeps the hashing cost to the bytes that matter.
pub const MIN_HASHED_SIZE: u64 = 1024;

/// What the files hashed so far, in every layer of one walk, were (layers are read in
/// parallel: this is shared, under one lock). Also the seed of the content ids, random per
/// walk, so that no one can prepare two different files with the same id.
#[derive(Debug)]
pub struct SeenFiles {
    seen: Mutex<Seen>,
    seed: u64,
}

#[derive(Debug, Default)]
struct Seen {
    sizes: HashSet<u64>,
    /// A 64-bit key of (size, content id) of every file hashed to its end ([`content_key`]):
    /// a third of the memory of the pair, on an image of 100,000 files a few MiB. Two
    /// contents with one key only cost a sha256 that was not needed.
    contents: HashSet<u64>,
    /// Files read in pieces and not finished yet, by size (sizes with none are removed).
    unfinished: HashMap<u64, usize>,
}

impl Default for SeenFiles {
    fn default() -> Self {
        Self::new()
    }
}

impl SeenFiles {
    pub fn new() -> Self {
        use std::hash::{BuildHasher as _, Hasher as _};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            seen: Mutex::new(Seen::default()),
            seed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A file of `size` whose whole content has id `id`: records it; whether it needs a sha256.
    fn whole(&self, size: u64, id: u128) -> bool {
        let mut seen = self.lock();
        seen.sizes.insert(size);
        let unfinished = seen.unfinished.contains_key(&size);
        !seen.contents.insert(content_key(size, id)) || unfinished
    }

    /// A file of `size` that comes in pieces starts: records it; whether it needs a sha256.
    fn start_pieces(&self, size: u64) -> bool {
        let mut seen = self.lock();
        *seen.unfinished.entry(size).or_default() += 1;
        !seen.sizes.insert(size)
    }

    /// That file ended, with id `id`.
    fn end_pieces(&self, size: u64, id: u128) {
        let mut seen = self.lock();
        if let Some(n) = seen.unfinished.get_mut(&size) {
            *n -= 1;
            if *n == 0 {
                seen.unfinished.remove(&size);
            }
        }
        seen.contents.insert(content_key(size, id));
    }
}

/// The key of a content in [`Seen::contents`]: the id is random per walk (seeded), so its low
/// half is a well-spread hash already; the size is mixed in.
fn content_key(size: u64, id: u128) -> u64 {
    (id as u64) ^ size.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

struct Hashing {
    position: u32,
    size: u64,
    /// Set once a piece shorter than the file came: the file is hashed as it streams.
    pieces: Option<Option<Sha256>>,
}

/// Content ids (and, where a file may repeat another, sha256) of one layer's regular files
/// (≥ [`MIN_HASHED_SIZE`] bytes), by the entry's position in the layer
/// ([`FileRecord::position`](rharden_image::FileRecord::position)). Hardlinks, symlinks and
/// whiteouts carry no content and are not hashed.
pub struct ContentHashSink<'a> {
    seen: &'a SeenFiles,
    /// (position, content id), in position order.
    ids: Vec<(u32, u128)>,
    /// (position, sha256) of the files that may repeat another, in position order.
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
    pub fn new(seen: &'a SeenFiles) -> Self {
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

    /// The sha256 of the entry at `position`, if it was taken (it may repeat another file).
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

impl ContentHashSink<'_> {
    /// The next entry of the layer; whether its content is wanted.
    fn begin(&mut self, kind: EntryKind, size: u64) -> bool {
        let position = self.next;
        self.next = self.next.saturating_add(1);
        if kind != EntryKind::File || size < MIN_HASHED_SIZE {
            return false;
        }
        self.current = Some(Hashing {
            position,
            size,
            pieces: None,
        });
        true
    }

    fn piece(&mut self, chunk: &[u8]) {
        let Some(h) = &mut self.current else {
            return;
        };
        let pieces = match &mut h.pieces {
            None if chunk.len() as u64 == h.size => {
                // The whole file at once: its id decides whether it needs a sha256.
                let id = xxh3_128_with_seed(chunk, self.seen.seed);
                self.ids.push((h.position, id));
                if self.seen.whole(h.size, id) {
                    self.sha256.push((h.position, Sha256::digest(chunk).into()));
                }
                self.current = None;
                return;
            }
            None => {
                self.id.reset();
                h.pieces
                    .insert(self.seen.start_pieces(h.size).then(Sha256::new))
            }
            Some(pieces) => pieces,
        };
        self.id.update(chunk);
        if let Some(sha) = pieces {
            sha.update(chunk);
        }
    }

    fn end(&mut self) {
        // Positions only grow, so both lists stay in position order.
        let Some(h) = self.current.take() else {
            return;
        };
        let Some(sha) = h.pieces else {
            // No content came (only a truncated archive does that, and fails the walk).
            return;
        };
        let id = self.id.digest128();
        self.ids.push((h.position, id));
        if let Some(sha) = sha {
            self.sha256.push((h.position, sha.finalize().into()));
        }
        self.seen.end_pieces(h.size, id);
    }
}

impl LayerSink for ContentHashSink<'_> {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        Ok(if self.begin(entry.kind, entry.size) {
            Want::Content
        } else {
            Want::Skip
        })
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        self.piece(chunk);
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.end();
        Ok(())
    }

    /// The hashes are kept until the walk ends: give back the growth slack.
    fn finish(&mut self) {
        self.ids.shrink_to_fit();
        self.sha256.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Feeds one file to `sink`, in pieces of `piece` bytes (the whole file when `None`).
    fn feed(sink: &mut ContentHashSink<'_>, content: &[u8], piece: Option<usize>) {
        assert!(sink.begin(EntryKind::File, content.len() as u64));
        for chunk in content.chunks(piece.unwrap_or(content.len())) {
            sink.piece(chunk);
        }
        sink.end();
    }

    #[test]
    fn a_file_in_one_piece_gets_a_sha256_only_if_it_may_repeat_another() {
        let seen = SeenFiles::new();
        let mut sink = ContentHashSink::new(&seen);
        let (a, b) = (bytes(3000, 1), bytes(3000, 2));
        feed(&mut sink, &a, None); // 0: first of its size
        feed(&mut sink, &b, None); // 1: same size, other content: no sha256 (it was one before)
        feed(&mut sink, &a, None); // 2: a copy
        feed(&mut sink, &a, Some(1000)); // 3: a copy in pieces: its size was seen
        feed(&mut sink, &bytes(5000, 3), Some(4096)); // 4: in pieces, a new size
        assert!(!sink.begin(EntryKind::File, 100)); // 5: too small to hash
        let ids: Vec<u32> = sink.ids.iter().map(|(p, _)| *p).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
        let with_sha: Vec<u32> = sink.sha256.iter().map(|(p, _)| *p).collect();
        assert_eq!(with_sha, [2, 3]);
        let sha_a: [u8; 32] = Sha256::digest(&a).into();
        assert_eq!(sink.sha256_of(2), Some(&sha_a));
        assert_eq!(sink.sha256_of(3), Some(&sha_a));
        // One content, one id, whether it came whole or in pieces.
        assert_eq!(sink.content_id(0), sink.content_id(3));
        assert_ne!(sink.content_id(0), sink.content_id(1));
    }

    /// Layers are read in parallel: a file in pieces can still be unfinished when a copy of it
    /// comes whole in another layer. The copy then takes the sha256, or the pair would have none.
    #[test]
    fn a_copy_of_a_file_still_being_read_gets_a_sha256() {
        let seen = SeenFiles::new();
        let (mut lower, mut upper) = (ContentHashSink::new(&seen), ContentHashSink::new(&seen));
        let a = bytes(70_000, 7);
        assert!(lower.begin(EntryKind::File, a.len() as u64));
        lower.piece(&a[..65_536]);
        feed(&mut upper, &a, None);
        lower.piece(&a[65_536..]);
        lower.end();
        assert!(lower.sha256.is_empty(), "the first of its size");
        assert_eq!(upper.sha256.len(), 1);
        assert_eq!(lower.content_id(0), upper.content_id(0));
        // Once it is finished, a copy finds it by its id; another content of its size does not.
        let mut third = ContentHashSink::new(&seen);
        feed(&mut third, &a, None);
        feed(&mut third, &bytes(70_000, 8), None);
        assert_eq!(
            third.sha256.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            [0]
        );
    }
}
