//! Runs a layer's sink on its own thread, fed through a bounded channel, so reading a layer
//! (decompressing, hashing, decoding the tar) and analysing it overlap. An image whose bytes
//! sit in one big layer otherwise keeps one core busy and the other idle.

use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::entry::{Entry, EntryKind, Xattr};
use crate::image::LayerInfo;
use crate::sink::{LayerSink, SinkError, Want};

/// Content is sent in batches of this many bytes.
const BATCH: usize = 128 * 1024;
/// A file up to this size is read in one piece: when the batch has less room left for it, the
/// batch goes first. The sinks take such a file where it is (a file in pieces is copied into a
/// buffer first), and the content hashes of the reading thread take a cheaper hash.
const ONE_PIECE: u64 = 64 * 1024;
/// At most this many entries travel in one batch: an image of many small files then costs one
/// hand-over per batch, not three per file (the hand-overs' wake-ups were a tenth of a scan).
const BATCH_EVENTS: usize = 256;
/// Batches in flight: bounds the memory to about `DEPTH × BATCH` (and as much again in spare
/// buffers, plus the entries' names), for each layer being read; batches are only made while
/// the reader is ahead. Half a MiB in flight left each thread of a Debian scan waiting on the
/// other for about a sixth of the walk (a layer's files cost the two sides unlike amounts);
/// 2 MiB: the scan 157 -> 149 ms, peak RSS of the 4 GiB image's scan 60.4 -> 61.0 MiB.
const DEPTH: usize = 16;

/// A batch's buffer of names is kept for its next use up to this capacity (256 entries of long
/// names: a layer of long symlink targets does not keep megabytes per batch).
const NAMES_KEPT: usize = 64 * 1024;

/// An entry's metadata, owned so it can cross to the sink's thread; its names are in the
/// batch's `names` (a buffer reused with the batch: an entry costs no allocation, where a box
/// and a vector per name, freed on the other thread, were three or four per entry).
struct OwnedEntry {
    path: Range<u32>,
    raw_path: Range<u32>,
    kind: EntryKind,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link_target: Option<Range<u32>>,
    device: Option<(u32, u32)>,
    /// Rare: a vector only when there are some.
    xattrs: Vec<Xattr>,
}

impl OwnedEntry {
    /// `e`, its names appended to `names`; `None` if they would make `names` longer than a
    /// `u32` can index (the batch is handed over first).
    fn of(e: &Entry<'_>, names: &mut Vec<u8>) -> Option<Self> {
        let link = e.link_target.map_or(0, <[u8]>::len);
        let needed = e.path.len() + e.raw_path.len() + link;
        u32::try_from(names.len() + needed).ok()?;
        let mut put = |bytes: &[u8]| {
            let start = names.len() as u32;
            names.extend_from_slice(bytes);
            start..names.len() as u32
        };
        Some(Self {
            path: put(e.path),
            raw_path: put(e.raw_path),
            kind: e.kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            mtime: e.mtime,
            link_target: e.link_target.map(&mut put),
            device: e.device,
            xattrs: e.xattrs.to_vec(),
        })
    }

    fn view<'a>(&'a self, names: &'a [u8]) -> Entry<'a> {
        let name = |r: &Range<u32>| &names[r.start as usize..r.end as usize];
        Entry {
            path: name(&self.path),
            raw_path: name(&self.raw_path),
            kind: self.kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            mtime: self.mtime,
            link_target: self.link_target.as_ref().map(name),
            device: self.device,
            xattrs: &self.xattrs,
        }
    }
}

/// What the reader saw, in order; content bytes are in the batch's buffer.
enum Event {
    /// An entry of the layer with this index.
    Entry(usize, OwnedEntry),
    /// The next this many bytes of the batch's buffer are the current entry's content.
    Content(usize),
    End,
}

/// Events and the content they refer to, handed over together.
struct Batch {
    events: Vec<Event>,
    /// The names of the entries in `events`.
    names: Vec<u8>,
    /// Always `BATCH` bytes long (zeroed once, when the batch is made: batches are reused), so
    /// the reader can read into it; the first `filled` hold content.
    bytes: Vec<u8>,
    filled: usize,
}

impl Batch {
    fn new() -> Self {
        Self {
            events: Vec::with_capacity(BATCH_EVENTS),
            names: Vec::new(),
            bytes: vec![0; BATCH],
            filled: 0,
        }
    }
}

/// The sink's first error, with the raw name of the entry it happened on.
pub type Failure = (Vec<u8>, SinkError);

/// The reading side: forwards everything to the sink's thread in batches. It asks for the
/// content of every regular file, since the real sink decides on the other thread. Dropping it
/// hands over what is left.
#[derive(Debug)]
pub struct Forwarder {
    to_sink: SyncSender<Batch>,
    spare: Receiver<Batch>,
    batch: Batch,
    closed: bool,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("events", &self.events.len())
            .field("bytes", &self.filled)
            .finish()
    }
}

impl Forwarder {
    fn flush(&mut self) -> Result<(), SinkError> {
        if self.batch.events.is_empty() || self.closed {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Batch::new());
        let full = std::mem::replace(&mut self.batch, next);
        if self.to_sink.send(full).is_err() {
            // The sink's thread stopped on an error; that error is the one reported.
            self.closed = true;
            return Err("the analysis stopped".into());
        }
        Ok(())
    }

    fn push(&mut self, event: Event) -> Result<(), SinkError> {
        self.batch.events.push(event);
        if self.batch.events.len() >= BATCH_EVENTS {
            self.flush()?;
        }
        Ok(())
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        // A failed hand-over means the sink stopped on an error, which its thread reports.
        let _ = self.flush();
    }
}

impl LayerSink for Forwarder {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        if self.closed {
            return Err("the analysis stopped".into());
        }
        let owned = match OwnedEntry::of(entry, &mut self.batch.names) {
            Some(owned) => owned,
            None => {
                self.flush()?;
                OwnedEntry::of(entry, &mut self.batch.names)
                    .ok_or("an entry's names are longer than 4 GiB")?
            }
        };
        self.push(Event::Entry(layer.index, owned))?;
        Ok(if entry.kind == EntryKind::File {
            Want::Content
        } else {
            Want::Skip
        })
    }

    fn content(&mut self, mut chunk: &[u8]) -> Result<(), SinkError> {
        while !chunk.is_empty() {
            let room = self.content_room(chunk.len() as u64)?.unwrap_or_default();
            let n = room.len().min(chunk.len());
            room[..n].copy_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            self.content_read(n)?;
        }
        if self.closed {
            return Err("the analysis stopped".into());
        }
        Ok(())
    }

    /// The rest of the batch; a fresh batch when it is full, or too full for a small file.
    fn content_room(&mut self, left: u64) -> Result<Option<&mut [u8]>, SinkError> {
        if self.closed {
            return Err("the analysis stopped".into());
        }
        let room = (BATCH - self.batch.filled) as u64;
        if room == 0 || (room < left.min(ONE_PIECE) && self.batch.filled > 0) {
            self.flush()?;
        }
        Ok(Some(&mut self.batch.bytes[self.batch.filled..]))
    }

    fn content_read(&mut self, n: usize) -> Result<&[u8], SinkError> {
        let from = self.batch.filled;
        self.batch.filled += n;
        match self.batch.events.last_mut() {
            Some(Event::Content(len)) => *len += n,
            _ => self.batch.events.push(Event::Content(n)),
        }
        Ok(&self.batch.bytes[from..from + n])
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.push(Event::End)
    }
}

/// Starts `sink` on a thread of `scope`; returns the forwarder to read layers into (entries of
/// any of `layers`, by index) and the thread's handle, which gives the sink back (and its
/// first error, if any).
pub fn spawn<'scope, 'env, S>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    layers: &'env [LayerInfo],
    mut sink: S,
) -> (
    Forwarder,
    std::thread::ScopedJoinHandle<'scope, (S, Option<Failure>)>,
)
where
    S: LayerSink + Send + 'scope,
{
    let (to_sink, from_reader) = sync_channel::<Batch>(DEPTH);
    let (give_back, spare) = sync_channel::<Batch>(DEPTH);
    let handle = scope.spawn(move || {
        // The raw name of the entry being read, for an error (its batch may be gone by then).
        let mut current = Vec::new();
        let mut wanted = false;
        for mut batch in from_reader {
            let mut at = 0;
            for event in batch.events.drain(..) {
                let step = match event {
                    Event::Entry(index, entry) => {
                        let view = entry.view(&batch.names);
                        let r = match layers.iter().find(|l| l.index == index) {
                            Some(layer) => sink.entry(layer, &view),
                            None => Err(format!("no layer {index}").into()),
                        };
                        wanted = matches!(r, Ok(Want::Content)) && entry.kind == EntryKind::File;
                        current.clear();
                        current.extend_from_slice(view.raw_path);
                        r.map(|_| ())
                    }
                    Event::Content(len) => {
                        let bytes = &batch.bytes[at..at + len];
                        at += len;
                        if wanted {
                            sink.content(bytes)
                        } else {
                            Ok(())
                        }
                    }
                    Event::End => {
                        if std::mem::take(&mut wanted) {
                            sink.end_entry()
                        } else {
                            Ok(())
                        }
                    }
                };
                if let Err(e) = step {
                    let name = current;
                    // Dropping the receiver makes the reader stop at its next hand-over.
                    sink.finish();
                    return (sink, Some((name, e)));
                }
            }
            batch.filled = 0;
            batch.names.clear();
            if batch.names.capacity() > NAMES_KEPT {
                batch.names = Vec::new();
            }
            let _ = give_back.try_send(batch);
        }
        sink.finish();
        (sink, None)
    });
    let forwarder = Forwarder {
        to_sink,
        spare,
        batch: Batch::new(),
        closed: false,
    };
    (forwarder, handle)
}

impl Forwarder {
    /// Whether the sink's thread hung up (it failed).
    pub fn closed(&self) -> bool {
        self.closed
    }
}
