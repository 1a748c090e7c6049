//! One sink per layer that feeds every analyzer switched on, so turning them all on still
//! reads each layer once: entries go to all of them, content only to those that asked.

use rharden_image::{Entry, LayerInfo, LayerSink, SinkError, Want};

use crate::bloat::ContentHashSink;
use crate::elf::ElfSink;
use crate::privilege::AccountsSink;
use crate::secrets::sink::SecretSink;

const SINKS: usize = 4;

/// The analyzers' sinks for one layer; `None` for an analyzer that is off.
#[derive(Debug, Default)]
pub struct ImageSink<'a> {
    pub secrets: Option<SecretSink<'a>>,
    pub accounts: Option<AccountsSink>,
    pub elf: Option<ElfSink>,
    pub hashes: Option<ContentHashSink<'a>>,
    /// Which sinks want the current entry's content, in field order.
    wants: [bool; SINKS],
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
        }
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
        Ok(if wants.iter().any(|&w| w) {
            Want::Content
        } else {
            Want::Skip
        })
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        let wants = self.wants;
        for (i, sink) in self.sinks().into_iter().enumerate() {
            if let (true, Some(sink)) = (wants[i], sink) {
                sink.content(chunk)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) {
        for sink in self.sinks().into_iter().flatten() {
            sink.finish();
        }
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        let wants = std::mem::take(&mut self.wants);
        for (i, sink) in self.sinks().into_iter().enumerate() {
            if let (true, Some(sink)) = (wants[i], sink) {
                sink.end_entry()?;
            }
        }
        Ok(())
    }
}
