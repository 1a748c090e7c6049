//! One sink per layer that feeds every analyzer switched on, so turning them all on still
//! reads each layer once: entries go to all of them, content only to those that asked.

use rharden_image::{Entry, LayerInfo, LayerSink, SinkError, Want};

use crate::bloat::ContentHashSink;
use crate::elf::{ElfSink, ELF_MAGIC};
use crate::privilege::AccountsSink;
use crate::secrets::sink::SecretSink;

const SINKS: usize = 4;
/// The ELF sink's place in [`ImageSink::sinks`].
const ELF: usize = 2;
/// An assembled file's buffer is kept for the next one up to this capacity (most shared
/// libraries fit); a bigger one goes back to the allocator at once.
const KEPT: usize = 8 << 20;

/// The analyzers' sinks for one layer; `None` for an analyzer that is off.
#[derive(Debug, Default)]
pub struct ImageSink<'a> {
    pub secrets: Option<SecretSink<'a>>,
    pub accounts: Option<AccountsSink>,
    pub elf: Option<ElfSink>,
    pub hashes: Option<ContentHashSink<'a>>,
    /// Which sinks want the current entry's content, in field order.
    wants: [bool; SINKS],
    /// The current entry's size, and whether none of its content has come yet.
    size: u64,
    first: bool,
    /// An ELF file read in pieces, gathered whole: the ELF sink needs it whole and the secrets
    /// sink would copy it too, so every sink gets it as one piece, copied once.
    assembling: Option<Vec<u8>>,
    /// The last assembled file's buffer, reused.
    spare: Vec<u8>,
}

impl<'a> ImageSink<'a> {
    pub fn new(
        secrets: Option<SecretSink<'a>>,
        accounts: Option<AccountsSink>,
        elf: Option<ElfSink>,
        hashes: Option<ContentHashSink<'a>>,
    ) -> Self {
        Self {
            secrets,
            accounts,
            elf,
            hashes,
            wants: [false; SINKS],
            size: 0,
            first: false,
            assembling: None,
            spare: Vec::new(),
        }
    }

    fn forward(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        let wants = self.wants;
        for (i, sink) in self.sinks().into_iter().enumerate() {
            if let (true, Some(sink)) = (wants[i], sink) {
                sink.content(chunk)?;
            }
        }
        Ok(())
    }

    fn sinks(&mut self) -> [Option<&mut dyn LayerSink>; SINKS] {
        [
            self.secrets.as_mut().map(|s| s as &mut dyn LayerSink),
            self.accounts.as_mut().map(|s| s as &mut dyn LayerSink),
            self.elf.as_mut().map(|s| s as &mut dyn LayerSink),
            self.hashes.as_mut().map(|s| s as &mut dyn LayerSink),
        ]
    }
}

impl LayerSink for ImageSink<'_> {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        let mut wants = [false; SINKS];
        for (i, sink) in self.sinks().into_iter().enumerate() {
            if let Some(sink) = sink {
                wants[i] = sink.entry(layer, entry)? == Want::Content;
            }
        }
        self.wants = wants;
        self.size = entry.size;
        self.first = true;
        Ok(if wants.iter().any(|&w| w) {
            Want::Content
        } else {
            Want::Skip
        })
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some(buf) = &mut self.assembling {
            buf.extend_from_slice(chunk);
            return Ok(());
        }
        if std::mem::take(&mut self.first)
            && self.wants[ELF]
            && (chunk.len() as u64) < self.size
            && chunk.starts_with(ELF_MAGIC)
            && self.elf.as_ref().is_some_and(|e| self.size <= e.cap())
        {
            let mut buf = std::mem::take(&mut self.spare);
            buf.clear();
            buf.reserve(usize::try_from(self.size).unwrap_or(0));
            buf.extend_from_slice(chunk);
            self.assembling = Some(buf);
            return Ok(());
        }
        self.forward(chunk)
    }

    fn finish(&mut self) {
        self.assembling = None;
        self.spare = Vec::new();
        for sink in self.sinks().into_iter().flatten() {
            sink.finish();
        }
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        if let Some(buf) = self.assembling.take() {
            let forwarded = self.forward(&buf);
            if buf.capacity() <= KEPT {
                self.spare = buf;
            }
            forwarded?;
        }
        let wants = std::mem::take(&mut self.wants);
        for (i, sink) in self.sinks().into_iter().enumerate() {
            if let (true, Some(sink)) = (wants[i], sink) {
                sink.end_entry()?;
            }
        }
        Ok(())
    }
}
