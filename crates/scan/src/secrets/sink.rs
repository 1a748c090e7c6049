//! The secrets analyzer as a [`LayerSink`]: every regular file of the layer is streamed through
//! the matcher in buffers that overlap, so a secret across a chunk boundary is found once.

use std::collections::HashSet;

use regex::bytes::Regex;
use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};

use crate::secrets::rules::RuleSet;

/// Scan in buffers of this size; the last `OVERLAP` bytes are scanned again with the next.
const BUFFER: usize = 1 << 20;
const OVERLAP: usize = 8 * 1024;
/// One file cannot report more than this many matches (a dump of keys is one finding's worth).
const MAX_MATCHES_PER_FILE: usize = 1000;
/// The buffer of a file read in pieces: never fuller than this (a piece that would overfill it
/// is split), so it is allocated once, at the layer's first such file, and kept for the next
/// ones until the layer ends ([`LayerSink::finish`]). A buffer sized to each file, grown when a
/// piece overfilled it, was a fresh mapping for most big files, page-faulted in each time (4 %
/// of the analysis thread of a Debian image's scan).
const SPARE: usize = BUFFER + OVERLAP;

/// A secret seen in a file of this layer.
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: usize,
    pub path: Box<[u8]>,
    /// 1-based line of the match; `None` for path rules.
    pub line: Option<u64>,
    pub secret: Vec<u8>,
}

struct OpenFile {
    path: Box<[u8]>,
    size: u64,
    /// Scanned already, in place: its whole content came as one chunk.
    scanned: bool,
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]` in the file, and newlines before it.
    offset: u64,
    lines_before: u64,
    seen: HashSet<(usize, u64, u64)>,
}

/// Finds secrets in one layer's files.
pub struct SecretSink<'a> {
    rules: &'a RuleSet,
    skip_paths: &'a [Regex],
    current: Option<OpenFile>,
    /// The last small file's buffer, reused so small files do not each allocate one.
    spare: Vec<u8>,
    pub hits: Vec<Hit>,
}

impl std::fmt::Debug for SecretSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSink")
            .field("hits", &self.hits.len())
            .finish()
    }
}

impl<'a> SecretSink<'a> {
    /// `skip_paths`: files the policy allows, not read at all.
    pub fn new(rules: &'a RuleSet, skip_paths: &'a [Regex]) -> Self {
        Self {
            rules,
            skip_paths,
            current: None,
            spare: Vec::new(),
            hits: Vec::new(),
        }
    }

    fn scan(&mut self, eof: bool) {
        let Some(file) = &mut self.current else {
            return;
        };
        let buf = std::mem::take(&mut file.buf);
        scan_bytes(self.rules, file, &buf, eof, &mut self.hits);
        file.buf = buf;
        if !eof && file.buf.len() > OVERLAP {
            let drop = file.buf.len() - OVERLAP;
            file.lines_before += newlines(&file.buf[..drop]);
            file.offset += drop as u64;
            file.buf.drain(..drop);
        }
    }
}

/// Counted in pieces of 255 bytes into a byte per lane, which the compiler vectorizes 16 bytes
/// a step; a 64-bit count per byte went 4 a step (6 % of a scan of the generated 1 GiB image).
fn newlines(bytes: &[u8]) -> u64 {
    bytes
        .chunks(255)
        .map(|piece| u64::from(piece.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

/// Scans `bytes`, the part of `file` from `file.offset` on (`eof`: to its end), into `hits`.
fn scan_bytes(rules: &RuleSet, file: &mut OpenFile, bytes: &[u8], eof: bool, hits: &mut Vec<Hit>) {
    // Matches come in order of start: lines are counted from the previous one, not from
    // the buffer's start each time (a file of a thousand secrets is not a thousand passes).
    let (mut counted_to, mut lines) = (0usize, file.lines_before);
    for m in rules.scan(bytes) {
        // Cut by the buffer's end: the next buffer (which repeats the tail) sees it whole.
        if !eof && m.end == bytes.len() {
            continue;
        }
        let key = (
            m.rule,
            file.offset + m.start as u64,
            file.offset + m.end as u64,
        );
        if file.seen.len() >= MAX_MATCHES_PER_FILE || !file.seen.insert(key) {
            continue;
        }
        lines += newlines(&bytes[counted_to..m.start]);
        counted_to = m.start;
        let line = lines + 1;
        hits.push(Hit {
            rule: m.rule,
            path: file.path.clone(),
            line: Some(line),
            secret: m.secret,
        });
    }
}

impl LayerSink for SecretSink<'_> {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        if entry.kind != EntryKind::File || self.skip_paths.iter().any(|p| p.is_match(entry.path)) {
            return Ok(Want::Skip);
        }
        for rule in self.rules.match_path(entry.path) {
            self.hits.push(Hit {
                rule,
                path: entry.path.into(),
                line: None,
                secret: entry.path.to_vec(),
            });
        }
        if entry.size == 0 {
            return Ok(Want::Skip);
        }
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        self.current = Some(OpenFile {
            path: entry.path.into(),
            size: entry.size,
            scanned: false,
            buf,
            offset: 0,
            lines_before: 0,
            seen: HashSet::new(),
        });
        Ok(Want::Content)
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some(file) = &mut self.current {
            if file.offset == 0 && file.buf.is_empty() && chunk.len() as u64 == file.size {
                // The whole file in one piece (most small files): scanned where it is, not
                // copied first.
                scan_bytes(self.rules, file, chunk, true, &mut self.hits);
                file.scanned = true;
                return Ok(());
            }
            if file.buf.capacity() < SPARE {
                file.buf.reserve_exact(SPARE - file.buf.len());
            }
            let mut rest = chunk;
            while !rest.is_empty() {
                let Some(file) = self.current.as_mut() else {
                    break;
                };
                let (now, later) = rest.split_at(rest.len().min(SPARE - file.buf.len()));
                file.buf.extend_from_slice(now);
                rest = later;
                if file.buf.len() == SPARE {
                    self.scan(false);
                }
            }
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        if !self.current.as_ref().is_some_and(|f| f.scanned) {
            self.scan(true);
        }
        if let Some(file) = self.current.take() {
            self.spare = file.buf;
        }
        Ok(())
    }

    /// No next file: the spare buffer would stay with the sink until the walk ends.
    fn finish(&mut self) {
        self.spare = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::newlines;

    #[test]
    fn newlines_are_counted_past_a_byte_per_piece() {
        // Pieces of 255 bytes that are all newlines: the most a byte count can hold.
        for len in [0, 1, 254, 255, 256, 510, 511, 100_000] {
            assert_eq!(newlines(&vec![b'\n'; len]), len as u64, "len {len}");
            let text: Vec<u8> = (0..len)
                .map(|i| if i % 3 == 0 { b'\n' } else { b'x' })
                .collect();
            assert_eq!(newlines(&text), len.div_ceil(3) as u64, "len {len}");
        }
    }
}
