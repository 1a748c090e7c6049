//! Runs a layer's sink on its own thread, fed through a bounded channel, so reading a layer
//! (decompressing, hashing, decoding the tar) and analysing it overlap. An image whose bytes
//! sit in one big layer otherwise keeps one core busy and the other idle.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::entry::{Entry, EntryKind, Xattr};
use crate::image::LayerInfo;
use crate::sink::{LayerSink, SinkError, Want};

/// Content is sent in batches of about this many bytes.
const BATCH: usize = 128 * 1024;
/// Messages in flight: bounds the memory to about `DEPTH × BATCH` (and as much again in spare
/// buffers), for each layer being read. Half a MiB in flight is enough to keep both threads busy.
const DEPTH: usize = 4;

/// An entry's metadata, owned so it can cross to the sink's thread.
struct OwnedEntry {
    path: Vec<u8>,
    raw_path: Vec<u8>,
    kind: EntryKind,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link_target: Option<Vec<u8>>,
    device: Option<(u32, u32)>,
    xattrs: Vec<Xattr>,
}

impl OwnedEntry {
    fn of(e: &Entry<'_>) -> Self {
        Self {
            path: e.path.to_vec(),
            raw_path: e.raw_path.to_vec(),
            kind: e.kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            mtime: e.mtime,
            link_target: e.link_target.map(<[u8]>::to_vec),
            device: e.device,
            xattrs: e.xattrs.to_vec(),
        }
    }

    fn view(&self) -> Entry<'_> {
        Entry {
            path: &self.path,
            raw_path: &self.raw_path,
            kind: self.kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            mtime: self.mtime,
            link_target: self.link_target.as_deref(),
            device: self.device,
            xattrs: &self.xattrs,
        }
    }
}

enum Message {
    /// An entry of the layer with this index.
    Entry(usize, Box<OwnedEntry>),
    Content(Vec<u8>),
    End,
}

/// The sink's first error, with the raw name of the entry it happened on.
pub type Failure = (Vec<u8>, SinkError);

/// The reading side: forwards everything to the sink's thread. It asks for the content of
/// every regular file, since the real sink decides on the other thread.
#[derive(Debug)]
pub struct Forwarder {
    to_sink: SyncSender<Message>,
    spare: Receiver<Vec<u8>>,
    batch: Vec<u8>,
    closed: bool,
}

impl Forwarder {
    fn send(&mut self, message: Message) -> Result<(), SinkError> {
        if self.to_sink.send(message).is_err() {
            // The sink's thread stopped on an error; that error is the one reported.
            self.closed = true;
            return Err("the analysis stopped".into());
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        self.send(Message::Content(full))
    }
}

impl LayerSink for Forwarder {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        self.send(Message::Entry(layer.index, Box::new(OwnedEntry::of(entry))))?;
        Ok(if entry.kind == EntryKind::File {
            Want::Content
        } else {
            Want::Skip
        })
    }

    fn content(&mut self, mut chunk: &[u8]) -> Result<(), SinkError> {
        while !chunk.is_empty() {
            let room = BATCH - self.batch.len();
            let n = room.min(chunk.len());
            self.batch.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if self.batch.len() == BATCH {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        self.send(Message::End)
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
    let (to_sink, from_reader) = sync_channel::<Message>(DEPTH);
    let (give_back, spare) = sync_channel::<Vec<u8>>(DEPTH);
    let handle = scope.spawn(move || {
        let mut current: Option<Box<OwnedEntry>> = None;
        let mut wanted = false;
        for message in from_reader {
            let step = match message {
                Message::Entry(index, entry) => {
                    let r = match layers.iter().find(|l| l.index == index) {
                        Some(layer) => sink.entry(layer, &entry.view()),
                        None => Err(format!("no layer {index}").into()),
                    };
                    wanted = matches!(r, Ok(Want::Content)) && entry.kind == EntryKind::File;
                    current = Some(entry);
                    r.map(|_| ())
                }
                Message::Content(mut bytes) => {
                    let r = if wanted { sink.content(&bytes) } else { Ok(()) };
                    bytes.clear();
                    let _ = give_back.try_send(bytes);
                    r
                }
                Message::End => {
                    if std::mem::take(&mut wanted) {
                        sink.end_entry()
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(e) = step {
                let name = current.map(|c| c.raw_path).unwrap_or_default();
                // Dropping the receiver makes the reader stop at its next send.
                sink.finish();
                return (sink, Some((name, e)));
            }
        }
        sink.finish();
        (sink, None)
    });
    let forwarder = Forwarder {
        to_sink,
        spare,
        batch: Vec::with_capacity(BATCH),
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
