//! The `LayerSink` trait: how analyzers and the flattener receive a layer, entry by entry.

use crate::entry::Entry;
use crate::image::LayerInfo;

/// An error raised by a sink; the walker wraps it with the layer and entry it happened on.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether a sink wants an entry's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    /// Only the metadata.
    Skip,
    /// Every byte, through [`LayerSink::content`].
    Content,
}

/// Receives one layer. The walker makes a sink per layer (layers run in parallel), calls
/// [`entry`](Self::entry) for every entry in archive order, streams content in chunks to
/// sinks that asked for it, and hands the sinks back in layer order to be merged.
pub trait LayerSink {
    /// One entry's metadata. Whiteouts come as entries of kind `Whiteout`/`OpaqueWhiteout`.
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError>;

    /// The next chunk of the current entry's content (regular files only), when wanted.
    fn content(&mut self, _chunk: &[u8]) -> Result<(), SinkError> {
        Ok(())
    }

    /// Room to read the next chunk of content into, for a sink that keeps the bytes anyway (the
    /// pipeline): the walker reads straight into it, then calls
    /// [`content_read`](Self::content_read), and the bytes are not copied once more. `left`:
    /// the entry's bytes not read yet. `None` (the default): the walker reads into a buffer of
    /// its own and calls [`content`](Self::content).
    fn content_room(&mut self, _left: u64) -> Result<Option<&mut [u8]>, SinkError> {
        Ok(None)
    }

    /// The first `n` bytes of the room [`content_room`](Self::content_room) gave hold the next
    /// chunk of content; returns them.
    fn content_read(&mut self, _n: usize) -> Result<&[u8], SinkError> {
        Err("content read without room".into())
    }

    /// The current entry's content is complete.
    fn end_entry(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// The layer is complete (also after an error). Every layer's sink is kept until the walk
    /// ends, so this is where a sink gives back what it held only for the next entry.
    fn finish(&mut self) {}
}

/// A borrowed sink is a sink (so a caller can lend one to a thread and keep it).
impl<T: LayerSink + ?Sized> LayerSink for &mut T {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        (**self).entry(layer, entry)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        (**self).content(chunk)
    }

    fn content_room(&mut self, left: u64) -> Result<Option<&mut [u8]>, SinkError> {
        (**self).content_room(left)
    }

    fn content_read(&mut self, n: usize) -> Result<&[u8], SinkError> {
        (**self).content_read(n)
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        (**self).end_entry()
    }

    fn finish(&mut self) {
        (**self).finish();
    }
}

/// A sink that takes nothing: a walk for metadata, digests and fates only.
impl LayerSink for () {
    fn entry(&mut self, _: &LayerInfo, _: &Entry<'_>) -> Result<Want, SinkError> {
        Ok(Want::Skip)
    }
}

/// An optional sink: none takes nothing.
impl<S: LayerSink> LayerSink for Option<S> {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        match self {
            Some(sink) => sink.entry(layer, entry),
            None => Ok(Want::Skip),
        }
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        self.as_mut().map_or(Ok(()), |s| s.content(chunk))
    }

    fn content_room(&mut self, left: u64) -> Result<Option<&mut [u8]>, SinkError> {
        self.as_mut().map_or(Ok(None), |s| s.content_room(left))
    }

    fn content_read(&mut self, n: usize) -> Result<&[u8], SinkError> {
        match self {
            Some(sink) => sink.content_read(n),
            None => Err("content read without room".into()),
        }
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.as_mut().map_or(Ok(()), |s| s.end_entry())
    }

    fn finish(&mut self) {
        if let Some(sink) = self {
            sink.finish();
        }
    }
}

/// Two sinks fed by one pass; content goes to those that asked for it.
#[derive(Debug, Default)]
pub struct Pair<A, B> {
    pub first: A,
    pub second: B,
    wants: (bool, bool),
}

impl<A, B> Pair<A, B> {
    pub fn new(first: A, second: B) -> Self {
        Self {
            first,
            second,
            wants: (false, false),
        }
    }
}

impl<A: LayerSink, B: LayerSink> LayerSink for Pair<A, B> {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        let a = self.first.entry(layer, entry)?;
        let b = self.second.entry(layer, entry)?;
        self.wants = (a == Want::Content, b == Want::Content);
        Ok(a.max(b))
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if self.wants.0 {
            self.first.content(chunk)?;
        }
        if self.wants.1 {
            self.second.content(chunk)?;
        }
        Ok(())
    }

    /// The second sink's room, when it wants the content: the first gets the bytes from there.
    fn content_room(&mut self, left: u64) -> Result<Option<&mut [u8]>, SinkError> {
        if self.wants.1 {
            self.second.content_room(left)
        } else {
            Ok(None)
        }
    }

    fn content_read(&mut self, n: usize) -> Result<&[u8], SinkError> {
        let bytes = self.second.content_read(n)?;
        if self.wants.0 {
            self.first.content(bytes)?;
        }
        Ok(bytes)
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        if self.wants.0 {
            self.first.end_entry()?;
        }
        if self.wants.1 {
            self.second.end_entry()?;
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.first.finish();
        self.second.finish();
    }
}
