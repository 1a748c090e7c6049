//! The ELF analyzer as a [`LayerSink`]: it looks at the first four bytes of every regular
//! file and buffers only ELF files (up to a cap), judges each when its content ends, and keeps
//! only the small result, keyed by path. Fates are known after the walk: [`crate::elf::findings`]
//! keeps the files still present.

use std::collections::BTreeMap;

use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};
use serde::Serialize;

use crate::elf::report::{analyze, ElfReport, ELF_MAGIC};

/// ELF files bigger than this are not read (64 MiB: well above any distribution binary).
pub const DEFAULT_CAP: u64 = 64 << 20;

/// What became of one ELF file of the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ElfOutcome {
    Analyzed(ElfReport),
    NotAnalyzed(NotAnalyzed),
}

/// Why an ELF file has no verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NotAnalyzed {
    /// Bigger than the sink's cap: not buffered.
    TooBig { size: u64, cap: u64 },
    /// Starts with the ELF magic, but its headers or tables do not parse.
    Unparseable { error: String },
}

impl NotAnalyzed {
    /// One sentence for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::TooBig { size, cap } => {
                format!("not analyzed: {size} bytes, above the ELF analyzer's cap of {cap} bytes")
            }
            Self::Unparseable { error } => format!("not a parseable ELF: {error}"),
        }
    }
}

enum State {
    /// Collecting the first four bytes.
    Sniffing(Vec<u8>),
    Buffering(Vec<u8>),
    /// The whole file came as one piece and was judged where it was.
    Judged(ElfOutcome),
    TooBig,
    NotElf,
}

struct OpenFile {
    path: Box<[u8]>,
    size: u64,
    state: State,
}

/// The last ELF file's buffer is kept for the next one up to this capacity (most shared
/// libraries fit): a fresh buffer per file was a fresh mapping, page-faulted in again each
/// time. Bigger ones go back to the allocator at once, so two layers read side by side do not
/// each hold their biggest binary's worth.
const SPARE: usize = 8 << 20;

/// Judges every ELF file of one layer.
pub struct ElfSink {
    cap: u64,
    current: Option<OpenFile>,
    /// The last buffer, reused; given back when the layer ends.
    spare: Vec<u8>,
    results: BTreeMap<Box<[u8]>, ElfOutcome>,
}

impl std::fmt::Debug for ElfSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElfSink")
            .field("cap", &self.cap)
            .field("files", &self.results.len())
            .finish()
    }
}

impl Default for ElfSink {
    fn default() -> Self {
        Self::new()
    }
}

impl ElfSink {
    /// A sink that reads ELF files up to [`DEFAULT_CAP`] bytes.
    pub fn new() -> Self {
        Self::with_cap(DEFAULT_CAP)
    }

    /// A sink that reads ELF files up to `cap` bytes; bigger ones are reported not analyzed.
    pub fn with_cap(cap: u64) -> Self {
        Self {
            cap,
            current: None,
            spare: Vec::new(),
            results: BTreeMap::new(),
        }
    }

    /// The biggest ELF file it reads.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// The outcome for the ELF file at `path` (a layer path: no leading `/`), if it was one.
    pub fn get(&self, path: &[u8]) -> Option<&ElfOutcome> {
        self.results.get(path)
    }

    /// Every ELF file of the layer, in path order.
    pub fn outcomes(&self) -> impl Iterator<Item = (&[u8], &ElfOutcome)> {
        self.results.iter().map(|(p, o)| (&**p, o))
    }

    fn buffering(&mut self, size: u64, head: Vec<u8>) -> State {
        if size > self.cap {
            return State::TooBig;
        }
        // The declared size bounds the first allocation; `content` enforces the cap. A spare
        // too small is dropped rather than grown: growing would copy it.
        let size = usize::try_from(size).unwrap_or(0);
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        if buf.capacity() < size {
            buf = Vec::with_capacity(size);
        }
        buf.extend_from_slice(&head);
        State::Buffering(buf)
    }
}

impl LayerSink for ElfSink {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        self.current = None;
        if entry.kind != EntryKind::File || entry.size < ELF_MAGIC.len() as u64 {
            return Ok(Want::Skip);
        }
        self.current = Some(OpenFile {
            path: entry.path.into(),
            size: entry.size,
            state: State::Sniffing(Vec::with_capacity(ELF_MAGIC.len())),
        });
        Ok(Want::Content)
    }

    fn content(&mut self, mut chunk: &[u8]) -> Result<(), SinkError> {
        let Some(mut file) = self.current.take() else {
            return Ok(());
        };
        if let State::Sniffing(head) = &mut file.state {
            if head.is_empty() && chunk.len() as u64 == file.size && chunk.starts_with(ELF_MAGIC) {
                // The whole file in one piece: judged where it is, not copied first.
                file.state = if file.size > self.cap {
                    State::TooBig
                } else {
                    State::Judged(judge(chunk))
                };
                self.current = Some(file);
                return Ok(());
            }
            let take = (ELF_MAGIC.len() - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if head.len() == ELF_MAGIC.len() {
                file.state = if head[..] == ELF_MAGIC[..] {
                    self.buffering(file.size, std::mem::take(head))
                } else {
                    State::NotElf
                };
            }
        }
        if let State::Buffering(buf) = &mut file.state {
            if (buf.len() + chunk.len()) as u64 > self.cap {
                file.state = State::TooBig;
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        self.current = Some(file);
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        let Some(file) = self.current.take() else {
            return Ok(());
        };
        let outcome = match file.state {
            State::Sniffing(_) | State::NotElf => return Ok(()),
            State::Judged(outcome) => outcome,
            State::TooBig => ElfOutcome::NotAnalyzed(NotAnalyzed::TooBig {
                size: file.size,
                cap: self.cap,
            }),
            State::Buffering(buf) => {
                let outcome = judge(&buf);
                if buf.capacity() <= SPARE {
                    self.spare = buf;
                }
                outcome
            }
        };
        self.results.insert(file.path, outcome);
        Ok(())
    }

    /// No next file: the spare buffer would stay with the sink until the walk ends.
    fn finish(&mut self) {
        self.spare = Vec::new();
    }
}

/// The verdict on one whole ELF file.
fn judge(bytes: &[u8]) -> ElfOutcome {
    match analyze(bytes) {
        Ok(report) => ElfOutcome::Analyzed(report),
        Err(e) => ElfOutcome::NotAnalyzed(NotAnalyzed::Unparseable {
            error: error_chain(&e),
        }),
    }
}

/// An error and its causes, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
