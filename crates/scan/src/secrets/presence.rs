//! Which of some known secret values a stream still holds. Proving that a flatten removed a
//! secret needs no rules: the input's findings name the exact values, so one small
//! Aho-Corasick automaton over those values, run on every byte of the output, says which are
//! still there. With no values to look for, no content is read at all.

use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;
use rharden_image::{Entry, EntryKind, LayerInfo, LayerSink, SinkError, Want};

use crate::secrets::sink::Hit;

/// Finds which of the given secret values the files it is shown still hold: a value found in a
/// file's content (anywhere, with or without the context its rule needed) or, for a path
/// rule's finding, a file at that path.
pub struct PresenceSink<'a> {
    skip_paths: &'a [Regex],
    /// Path rules' values: the path of a sensitive file.
    paths: HashSet<Vec<u8>>,
    /// Content rules' values, in the automaton's pattern order.
    values: Vec<Vec<u8>>,
    searcher: Option<AhoCorasick>,
    /// The last `longest - 1` bytes of the current file, so a value across two chunks is found.
    tail: Vec<u8>,
    keep: usize,
    reading: bool,
    found: Vec<bool>,
    left: usize,
    found_paths: Vec<Vec<u8>>,
}

impl std::fmt::Debug for PresenceSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceSink")
            .field("values", &self.values.len())
            .field("paths", &self.paths.len())
            .field("left", &self.left)
            .finish()
    }
}

/// The automaton could not be built (a limit of the aho-corasick crate was hit).
#[derive(Debug, thiserror::Error)]
#[error("failed to build the search for {values} known secret values")]
pub struct PresenceError {
    values: usize,
    #[source]
    source: aho_corasick::BuildError,
}

impl<'a> PresenceSink<'a> {
    /// Looks for the values of `hits` (as the secrets sink reported them). `skip_paths`: files
    /// the policy allows, not read, as the secrets sink does not read them.
    pub fn new<'h>(
        skip_paths: &'a [Regex],
        hits: impl IntoIterator<Item = &'h Hit>,
    ) -> Result<Self, PresenceError> {
        let mut paths = HashSet::new();
        let mut values = HashSet::new();
        for hit in hits {
            if hit.line.is_none() {
                paths.insert(hit.secret.clone());
            } else if !hit.secret.is_empty() {
                values.insert(hit.secret.clone());
            }
        }
        // Sorted: the automaton, and so the order of work, does not depend on hashing.
        let mut values: Vec<Vec<u8>> = values.into_iter().collect();
        values.sort_unstable();
        let searcher = if values.is_empty() {
            None
        } else {
            // Standard semantics with overlapping search: every value is reported, even one
            // inside or overlapping another.
            let built = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(&values)
                .map_err(|source| PresenceError {
                    values: values.len(),
                    source,
                })?;
            Some(built)
        };
        let keep = values.iter().map(Vec::len).max().unwrap_or(1) - 1;
        Ok(Self {
            skip_paths,
            paths,
            found: vec![false; values.len()],
            left: values.len(),
            values,
            searcher,
            tail: Vec::with_capacity(keep * 2),
            keep,
            reading: false,
            found_paths: Vec::new(),
        })
    }

    /// The values found so far: content values, then paths.
    pub fn present(&self) -> impl Iterator<Item = &[u8]> {
        self.values
            .iter()
            .zip(&self.found)
            .filter(|(_, &f)| f)
            .map(|(v, _)| v.as_slice())
            .chain(self.found_paths.iter().map(Vec::as_slice))
    }

    fn search(&mut self, haystack: &[u8]) {
        let Some(searcher) = &self.searcher else {
            return;
        };
        for m in searcher.find_overlapping_iter(haystack) {
            let seen = &mut self.found[m.pattern().as_usize()];
            if !*seen {
                *seen = true;
                self.left -= 1;
            }
        }
    }

    /// An entry begins (the layer does not matter: only what is written counts).
    fn open(&mut self, entry: &Entry<'_>) -> Want {
        self.reading = false;
        if entry.kind != EntryKind::File || self.skip_paths.iter().any(|p| p.is_match(entry.path)) {
            return Want::Skip;
        }
        if self.paths.remove(entry.path) {
            self.found_paths.push(entry.path.to_vec());
        }
        if self.left == 0 || entry.size == 0 {
            return Want::Skip;
        }
        self.tail.clear();
        self.reading = true;
        Want::Content
    }
}

impl LayerSink for PresenceSink<'_> {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        Ok(self.open(entry))
    }

    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if !self.reading || self.left == 0 {
            return Ok(());
        }
        // A value across the previous chunk's end: search the junction, the kept tail plus
        // this chunk's first `keep` bytes. (Values wholly inside either side are found there.)
        let had_tail = !self.tail.is_empty();
        if had_tail {
            let k = chunk.len().min(self.keep);
            let mut junction = std::mem::take(&mut self.tail);
            junction.extend_from_slice(&chunk[..k]);
            self.search(&junction);
            self.tail = junction;
        }
        self.search(chunk);
        if chunk.len() >= self.keep {
            self.tail.clear();
            self.tail
                .extend_from_slice(&chunk[chunk.len() - self.keep..]);
        } else {
            if !had_tail {
                self.tail.extend_from_slice(chunk);
            }
            // The tail now ends with this whole chunk: keep its last `keep` bytes.
            let extra = self.tail.len().saturating_sub(self.keep);
            self.tail.drain(..extra);
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.reading = false;
        self.tail.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(secret: &[u8], line: Option<u64>) -> Hit {
        Hit {
            rule: 0,
            path: b"x".to_vec().into(),
            line,
            secret: secret.to_vec(),
        }
    }

    fn file(path: &[u8], size: u64) -> Entry<'_> {
        Entry {
            path,
            raw_path: path,
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
            mtime: 0,
            link_target: None,
            device: None,
            xattrs: &[],
        }
    }

    /// Feeds `content` as one file, cut into `chunk`-byte pieces.
    fn feed(sink: &mut PresenceSink<'_>, path: &[u8], content: &[u8], chunk: usize) {
        let want = sink.open(&file(path, content.len() as u64));
        if want == Want::Content {
            for piece in content.chunks(chunk) {
                sink.content(piece).unwrap();
            }
        }
        sink.end_entry().unwrap();
    }

    fn present(sink: &PresenceSink<'_>) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = sink.present().map(<[u8]>::to_vec).collect();
        v.sort();
        v
    }

    #[test]
    fn finds_values_across_every_chunk_boundary() {
        let secret = b"AKIAABCDEFGHIJKLMNOP";
        let mut text = vec![b'x'; 100];
        text.extend_from_slice(secret);
        text.extend_from_slice(&[b'y'; 50]);
        for chunk in 1..=text.len() {
            let hits = [hit(secret, Some(1)), hit(b"not-there-at-all", Some(1))];
            let mut sink = PresenceSink::new(&[], &hits).unwrap();
            feed(&mut sink, b"etc/a", &text, chunk);
            assert_eq!(present(&sink), vec![secret.to_vec()], "chunk {chunk}");
        }
    }

    #[test]
    fn a_value_inside_another_is_found_too() {
        let hits = [hit(b"abcdef", Some(1)), hit(b"cd", Some(1))];
        let mut sink = PresenceSink::new(&[], &hits).unwrap();
        feed(&mut sink, b"a", b"..abcdef..", 3);
        assert_eq!(present(&sink), vec![b"abcdef".to_vec(), b"cd".to_vec()]);
    }

    #[test]
    fn does_not_join_two_files() {
        let hits = [hit(b"secretvalue", Some(1))];
        let mut sink = PresenceSink::new(&[], &hits).unwrap();
        feed(&mut sink, b"a", b"xxsecret", 4);
        feed(&mut sink, b"b", b"valuexx", 4);
        assert!(present(&sink).is_empty());
    }

    #[test]
    fn path_values_match_paths_only_and_skipped_files_are_not_read() {
        let hits = [hit(b"root/.ssh/id_rsa", None), hit(b"tok3n", Some(2))];
        let skip = [Regex::new("^vendor/").unwrap()];
        let mut sink = PresenceSink::new(&skip, &hits).unwrap();
        feed(&mut sink, b"etc/script", b"cat root/.ssh/id_rsa", 64);
        feed(&mut sink, b"vendor/x", b"tok3n", 64);
        assert!(present(&sink).is_empty());
        feed(&mut sink, b"root/.ssh/id_rsa", b"", 64);
        assert_eq!(present(&sink), vec![b"root/.ssh/id_rsa".to_vec()]);
    }

    #[test]
    fn reads_nothing_when_there_is_nothing_to_find() {
        let mut sink = PresenceSink::new(&[], &[]).unwrap();
        let want = sink.open(&file(b"a", 10));
        assert_eq!(want, Want::Skip);
    }
}
