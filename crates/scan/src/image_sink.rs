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
    /// The most bytes gathered for one file: the ELF sink's cap (0 without one).
    gather_cap: u64,
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
        let gather_cap = elf.as_ref().map_or(0, ElfSink::cap);
        Self {
            secrets,
            accounts,
            elf,
            hashes,
            wants: [false; SINKS],
            size: 0,
            gather_cap,
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
            if (buf.len() + chunk.len()) as u64 <= self.gather_cap {
                buf.extend_from_slice(chunk);
                return Ok(());
            }
            // More content than the entry declared (a sparse file's holes): what was gathered
            // goes on in pieces, and the ELF sink finds the file above its cap.
            let buf = self.assembling.take().unwrap_or_default();
            self.forward(&buf)?;
        }
        if std::mem::take(&mut self.first)
            && self.wants[ELF]
            && (chunk.len() as u64) < self.size
            && self.size <= self.gather_cap
            && chunk.starts_with(ELF_MAGIC)
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

#[cfg(test)]
mod tests {
    use rharden_image::{Entry, EntryKind, Image, LayerInfo, OpenOptions};
    use rharden_testkit::{file, Form, ImageSpec};

    use super::*;
    use crate::elf::{ElfOutcome, NotAnalyzed};
    use crate::secrets::rules::RuleSet;

    /// An ELF file of `len` bytes (a header only: it does not parse, which is an outcome too)
    /// with an AWS key id 100 kB in, far past the first piece.
    fn elf_with_a_secret(len: usize) -> Vec<u8> {
        let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
        bytes.resize(100_000, b'.');
        bytes.extend_from_slice(b"\naws_access_key_id = AKIAL4HAOJWXL2IWEXVQ\n");
        bytes.resize(len, b'.');
        bytes
    }

    type Fed = (
        Option<ElfOutcome>,
        Vec<(usize, Option<u64>, Vec<u8>)>,
        Option<usize>,
    );

    /// Feeds `bytes` as one file declared `declared` bytes long, in chunks of `piece`, to a
    /// sink of the ELF (capped at `cap`) and secrets analyzers: the ELF outcome, the secrets,
    /// and how many bytes the sink was gathering when the content ended.
    fn feed(
        layer: &LayerInfo,
        rules: &RuleSet,
        bytes: &[u8],
        declared: usize,
        piece: usize,
        cap: u64,
    ) -> Fed {
        let mut sink = ImageSink::new(
            Some(SecretSink::new(rules, &[])),
            None,
            Some(ElfSink::with_cap(cap)),
            None,
        );
        let entry = Entry {
            path: b"bin/tool",
            raw_path: b"bin/tool",
            kind: EntryKind::File,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: declared as u64,
            mtime: 0,
            link_target: None,
            device: None,
            xattrs: &[],
        };
        assert_eq!(sink.entry(layer, &entry).expect("entry"), Want::Content);
        for chunk in bytes.chunks(piece) {
            sink.content(chunk).expect("content");
        }
        let gathered = sink.assembling.as_ref().map(Vec::len);
        sink.end_entry().expect("end");
        sink.finish();
        let elf = sink.elf.as_ref().and_then(|e| e.get(b"bin/tool").cloned());
        let hits = sink
            .secrets
            .map(|s| {
                s.hits
                    .into_iter()
                    .map(|h| (h.rule, h.line, h.secret))
                    .collect()
            })
            .unwrap_or_default();
        (elf, hits, gathered)
    }

    #[test]
    fn an_elf_file_in_pieces_reaches_every_analyzer_as_it_does_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = ImageSpec::new(vec![vec![file("x", b"x")]]).write(dir.path(), Form::OciDir);
        let image = Image::open(&path, &OpenOptions::default()).expect("open");
        let layer = &image.layers[0];
        let rules = RuleSet::builtin().expect("rules");
        let bytes = elf_with_a_secret(300_000);
        let whole = feed(layer, &rules, &bytes, bytes.len(), bytes.len(), 1 << 20);
        assert!(whole.0.is_some(), "the ELF sink judged it");
        assert_eq!(whole.1.len(), 1, "the key id: {:?}", whole.1);
        assert_eq!(whole.2, None, "one piece is not gathered");
        // Pieces of 3 bytes are too short to show the magic: they go on as they come.
        for (piece, gathered) in [
            (3, None),
            (4096, Some(bytes.len())),
            (131_072, Some(bytes.len())),
        ] {
            let pieces = feed(layer, &rules, &bytes, bytes.len(), piece, 1 << 20);
            assert_eq!(pieces.2, gathered, "pieces of {piece} bytes");
            assert_eq!(
                (&pieces.0, &pieces.1),
                (&whole.0, &whole.1),
                "pieces of {piece} bytes"
            );
        }
    }

    #[test]
    fn gathering_stops_at_the_elf_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = ImageSpec::new(vec![vec![file("x", b"x")]]).write(dir.path(), Form::OciDir);
        let image = Image::open(&path, &OpenOptions::default()).expect("open");
        let rules = RuleSet::builtin().expect("rules");
        let bytes = elf_with_a_secret(300_000);
        // More content than declared (a sparse file's holes): the gathered bytes go on in
        // pieces, the ELF sink finds the file above its cap, and the secret is still found.
        let declared = bytes.len() - 1000;
        let (elf, hits, gathered) = feed(
            &image.layers[0],
            &rules,
            &bytes,
            declared,
            65_536,
            declared as u64,
        );
        assert_eq!(gathered, None, "nothing is gathered past the cap");
        assert!(
            matches!(
                elf,
                Some(ElfOutcome::NotAnalyzed(NotAnalyzed::TooBig { .. }))
            ),
            "{elf:?}"
        );
        assert_eq!(hits.len(), 1, "{hits:?}");
    }
}
