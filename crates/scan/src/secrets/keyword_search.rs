//! Every keyword occurrence in a buffer, in order of its end, exactly as an overlapping
//! Aho-Corasick search reports them, but with several walks of the DFA ([`KeywordDfa`])
//! interleaved. One walk is a chain of table lookups, each waiting for the one before; four walks
//! over four stretches of the buffer let the CPU overlap them (measured with the aho-corasick
//! crate's DFA: a Debian image's secrets scan 428 → 305 ms, a 1 GiB one 3.41 → 2.75 s).
//!
//! A buffer that is mostly bytes in no keyword (an executable) is walked only where a keyword
//! can be, its spans ([`SpanFinder`]): Debian's executables 1.5x faster, its scan 6 % less CPU.

use std::cell::RefCell;

use crate::secrets::keyword_dfa::{KeywordDfa, KeywordError};
use crate::secrets::keyword_spans::{ByteSet, SpanFinder};

/// Walks interleaved.
const LANES: usize = 4;
/// Bytes a walk covers per block: its reports of one block wait in a small buffer.
const LANE_BYTES: usize = 16 * 1024;
/// Below this, one walk: a lane's warm-up (the longest keyword) would cost more than it saves.
const MIN_LANE_BYTES: usize = 256;
/// Buffers shorter than this are searched whole: finding their spans would not pay.
const MIN_FILTERED: usize = 1024;
/// The first bytes of a buffer, whose spans decide how it is searched.
const SAMPLE: usize = 4096;
/// Spans pay only where they leave out most of the buffer: testing the bytes and gathering
/// short spans cost more than the walk they save in text and in random bytes (both about half
/// spans or more), not in executables (a quarter).
const MAX_SPANS_PER_MILLE: usize = 400;
/// Spans at least this long are searched where they are; shorter ones are copied together
/// (a byte in no keyword between them), up to `GATHERED` bytes, and searched as one buffer.
const IN_PLACE: usize = 8 * 1024;
const GATHERED: usize = 64 * 1024;

/// Short spans gathered into one buffer, a separator after each.
#[derive(Default)]
struct Gathered {
    bytes: Vec<u8>,
    /// Per span: (its offset in `bytes`, its offset in the buffer searched).
    origins: Vec<(usize, usize)>,
}

thread_local! {
    static GATHERED_SPANS: RefCell<Gathered> = RefCell::new(Gathered::default());
}

/// A keyword occurrence: `haystack[start..end]` is keyword `pattern`, matched ASCII
/// case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordHit {
    pub pattern: usize,
    pub start: usize,
    pub end: usize,
}

/// The keywords of every rule, compiled to one DFA.
#[derive(Debug, Clone)]
pub struct KeywordSearcher {
    dfa: KeywordDfa,
    /// Bytes a walk must see before its state is the true state: the longest keyword, less one.
    warm_up: usize,
    /// The spans that can hold a keyword, and a byte in no keyword to put between them; `None`
    /// where every byte is in some keyword.
    spans: Option<(SpanFinder, u8)>,
    /// Whether to search by spans: only where the bytes are tested with SIMD (a table lookup
    /// per byte costs about what a step of the walk does).
    use_spans: bool,
}

impl KeywordSearcher {
    /// Compiles `patterns` (matched ASCII case-insensitively).
    pub fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Result<Self, KeywordError> {
        let dfa = KeywordDfa::new(patterns)?;
        let warm_up = dfa.longest().saturating_sub(1);
        let mut member = [false; 256];
        for &byte in patterns.iter().flat_map(|p| p.as_ref()) {
            member[usize::from(byte.to_ascii_lowercase())] = true;
            member[usize::from(byte.to_ascii_uppercase())] = true;
        }
        let shortest = patterns.iter().map(|p| p.as_ref().len()).min().unwrap_or(1);
        let set = ByteSet::new(member);
        let use_spans = set.has_simd();
        let spans = (0..=255u8)
            .find(|&b| !set.contains(b))
            .map(|separator| (SpanFinder::new(set, shortest), separator));
        Ok(Self {
            dfa,
            warm_up,
            spans,
            use_spans,
        })
    }

    /// The same searcher, searching by spans tested without SIMD (`true`) or every byte.
    #[cfg(test)]
    fn with_spans(mut self, on: bool) -> Self {
        self.use_spans = on;
        if let Some((finder, _)) = &mut self.spans {
            *finder = SpanFinder::new(finder.set().clone().without_simd(), finder.run());
        }
        self
    }

    /// Calls `hit` for every occurrence of every keyword in `haystack`, overlapping ones
    /// included, in order of end (occurrences ending together: in the automaton's order).
    pub fn for_each_hit(&self, haystack: &[u8], mut hit: impl FnMut(KeywordHit)) {
        match &self.spans {
            Some((finder, separator))
                if self.use_spans && haystack.len() >= MIN_FILTERED && sparse(finder, haystack) =>
            {
                self.search_spans(finder, *separator, haystack, &mut hit)
            }
            _ => self.search(haystack, &mut hit),
        }
    }

    /// Searches only the spans of `haystack` that can hold a keyword: the long ones where they
    /// are, the short ones gathered into one buffer.
    fn search_spans(
        &self,
        finder: &SpanFinder,
        separator: u8,
        haystack: &[u8],
        hit: &mut impl FnMut(KeywordHit),
    ) {
        GATHERED_SPANS.with_borrow_mut(|gathered| {
            gathered.bytes.clear();
            gathered.origins.clear();
            finder.for_each_span(haystack, |start, end| {
                if end - start >= IN_PLACE {
                    self.search_gathered(gathered, hit);
                    self.search(&haystack[start..end], &mut |h: KeywordHit| {
                        hit(KeywordHit {
                            start: h.start + start,
                            end: h.end + start,
                            ..h
                        })
                    });
                    return;
                }
                if gathered.bytes.len() + (end - start) > GATHERED {
                    self.search_gathered(gathered, hit);
                }
                gathered.origins.push((gathered.bytes.len(), start));
                gathered.bytes.extend_from_slice(&haystack[start..end]);
                gathered.bytes.push(separator);
            });
            self.search_gathered(gathered, hit);
        });
    }

    /// Searches the gathered spans, reporting each hit at its place in the buffer, and empties
    /// them. No keyword crosses a separator, so each hit is inside one span; hits come in order
    /// of end, so their spans come in order.
    fn search_gathered(&self, gathered: &mut Gathered, hit: &mut impl FnMut(KeywordHit)) {
        if gathered.bytes.is_empty() {
            return;
        }
        let origins = &gathered.origins;
        let mut span = 0;
        self.search(&gathered.bytes, &mut |h: KeywordHit| {
            while origins.get(span + 1).is_some_and(|&(at, _)| at <= h.start) {
                span += 1;
            }
            let (at, origin) = origins[span];
            hit(KeywordHit {
                start: h.start - at + origin,
                end: h.end - at + origin,
                ..h
            })
        });
        gathered.bytes.clear();
        gathered.origins.clear();
    }

    /// Every hit in `haystack`, every byte walked.
    fn search(&self, haystack: &[u8], mut hit: impl FnMut(KeywordHit)) {
        let mut pending: [Vec<KeywordHit>; LANES] = Default::default();
        let mut base = 0;
        loop {
            // Whole blocks of full lanes, then one of shorter lanes for what is left.
            let lane = ((haystack.len() - base) / LANES).min(LANE_BYTES);
            if lane < MIN_LANE_BYTES.max(self.warm_up) {
                break;
            }
            self.block(haystack, base, lane, &mut pending);
            for hits in &mut pending {
                hits.drain(..).for_each(&mut hit);
            }
            base += LANES * lane;
        }
        self.walk(haystack, base.saturating_sub(self.warm_up), base, &mut hit);
    }

    /// One walk from `from` (in the start state) to the end, reporting occurrences that end
    /// after `report_from`.
    fn walk(
        &self,
        haystack: &[u8],
        from: usize,
        report_from: usize,
        hit: &mut impl FnMut(KeywordHit),
    ) {
        let mut sid = self.dfa.start();
        for (at, &byte) in haystack.iter().enumerate().skip(from) {
            sid = self.dfa.next(sid, byte);
            if at >= report_from {
                self.report(sid, at + 1, hit);
            }
        }
    }

    /// `LANES` walks in step over `haystack[base..base + LANES * lane]`, lane `k` reporting
    /// the occurrences that end in its own stretch. Each walk starts `warm_up` bytes before its
    /// stretch: a DFA state depends only on that many bytes before it, so each walk's state is
    /// the one a single walk from the start would have.
    fn block(
        &self,
        haystack: &[u8],
        base: usize,
        lane: usize,
        pending: &mut [Vec<KeywordHit>; LANES],
    ) {
        let mut sids = [self.dfa.start(); LANES];
        let stretch = |k: usize| base + k * lane;
        for (k, sid) in sids.iter_mut().enumerate() {
            for &byte in &haystack[stretch(k).saturating_sub(self.warm_up)..stretch(k)] {
                *sid = self.dfa.next(*sid, byte);
            }
        }
        let [l0, l1, l2, l3] = std::array::from_fn(|k| &haystack[stretch(k)..stretch(k) + lane]);
        let [mut s0, mut s1, mut s2, mut s3] = sids;
        for (i, (((&b0, &b1), &b2), &b3)) in l0.iter().zip(l1).zip(l2).zip(l3).enumerate() {
            s0 = self.dfa.next(s0, b0);
            s1 = self.dfa.next(s1, b1);
            s2 = self.dfa.next(s2, b2);
            s3 = self.dfa.next(s3, b3);
            // One branch for the four: the loop keeps its states in registers.
            let matched = self.dfa.is_match(s0)
                | self.dfa.is_match(s1)
                | self.dfa.is_match(s2)
                | self.dfa.is_match(s3);
            if matched {
                self.report_lanes([s0, s1, s2, s3], base + i + 1, lane, pending);
            }
        }
    }

    #[inline(never)]
    fn report_lanes(
        &self,
        sids: [u32; LANES],
        end: usize,
        lane: usize,
        pending: &mut [Vec<KeywordHit>; LANES],
    ) {
        for (k, (sid, hits)) in sids.into_iter().zip(pending).enumerate() {
            self.report(sid, end + k * lane, &mut |h| hits.push(h));
        }
    }

    #[inline(always)]
    fn report(&self, state: u32, end: usize, hit: &mut impl FnMut(KeywordHit)) {
        if !self.dfa.is_match(state) {
            return;
        }
        for &pattern in self.dfa.matches(state) {
            hit(KeywordHit {
                pattern: pattern as usize,
                start: end - self.dfa.pattern_len(pattern),
                end,
            });
        }
    }
}

/// Whether the spans of the buffer's first bytes are few enough for spans to pay.
fn sparse(finder: &SpanFinder, haystack: &[u8]) -> bool {
    let sample = &haystack[..haystack.len().min(SAMPLE)];
    let mut in_spans = 0;
    finder.for_each_span(sample, |start, end| in_spans += end - start);
    in_spans * 1000 <= sample.len() * MAX_SPANS_PER_MILLE
}

#[cfg(test)]
mod tests {
    use aho_corasick::{AhoCorasick, MatchKind};

    use super::*;

    /// What an overlapping search of the aho-corasick crate reports.
    fn reference(patterns: &[&str], haystack: &[u8]) -> Vec<KeywordHit> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .expect("automaton");
        ac.find_overlapping_iter(haystack)
            .map(|m| KeywordHit {
                pattern: m.pattern().as_usize(),
                start: m.start(),
                end: m.end(),
            })
            .collect()
    }

    fn hits(searcher: &KeywordSearcher, haystack: &[u8]) -> Vec<KeywordHit> {
        let mut out = Vec::new();
        searcher.for_each_hit(haystack, |h| out.push(h));
        out
    }

    /// A deterministic haystack: keywords (some overlapping, some across every lane and block
    /// boundary a size can have), text and random bytes.
    fn haystack(len: usize, seed: u64, keywords: &[&str]) -> Vec<u8> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::with_capacity(len + 64);
        while out.len() < len {
            match next() % 4 {
                0 => {
                    // In either case, letter by letter.
                    let keyword = keywords[(next() % keywords.len() as u64) as usize];
                    for byte in keyword.bytes() {
                        let flip = next() % 2 == 0 && byte.is_ascii_alphabetic();
                        out.push(if flip { byte ^ 0x20 } else { byte });
                    }
                }
                1 => out.extend_from_slice(b" lorem IPSUM "),
                _ => (0..next() % 40).for_each(|_| out.push(next() as u8)),
            }
        }
        out.truncate(len);
        out
    }

    #[test]
    fn reports_what_an_overlapping_search_reports_at_every_size() {
        let keywords = [
            "secret",
            "SECRET_KEY",
            "key",
            "ghp_",
            "-----BEGIN",
            "begin rsa private key",
            "password",
            "pass",
            "sk_live_",
            "xox",
            "api_key",
            "apikey",
            "token",
        ];
        let searcher = KeywordSearcher::new(&keywords).expect("searcher");
        // Sizes around one lane, one block, several blocks, and a tail after them.
        let sizes = [
            0,
            1,
            5,
            100,
            2047,
            2048,
            2049,
            4 * MIN_LANE_BYTES,
            4 * MIN_LANE_BYTES + 3,
            LANES * LANE_BYTES - 1,
            LANES * LANE_BYTES,
            LANES * LANE_BYTES + 1,
            3 * LANES * LANE_BYTES + 777,
            1 << 20,
        ];
        for (i, &size) in sizes.iter().enumerate() {
            let text = haystack(size, 0x9e37_79b9 + i as u64, &keywords);
            let expected = reference(&keywords, &text);
            assert_eq!(hits(&searcher, &text), expected, "size {size}");
        }
    }

    /// Every built-in rule's keywords, each once.
    fn builtin_keywords(rules: &crate::secrets::rules::RuleSet) -> Vec<&str> {
        let mut keywords: Vec<&str> = Vec::new();
        for k in rules.rules.iter().flat_map(|r| &r.keywords) {
            if !keywords.contains(&k.as_str()) {
                keywords.push(k);
            }
        }
        keywords
    }

    #[test]
    fn the_built_in_keywords_are_found_as_the_aho_corasick_crate_finds_them() {
        let rules = crate::secrets::rules::RuleSet::builtin().expect("built-in rules");
        let keywords = builtin_keywords(&rules);
        assert!(keywords.len() > 300, "{}", keywords.len());
        let searcher = KeywordSearcher::new(&keywords).expect("searcher");
        for (seed, size) in [(1, 3000), (2, 70_000), (3, 1 << 20)] {
            let text = haystack(size, seed, &keywords);
            let found = hits(&searcher, &text);
            assert!(found.len() > size / 200, "{}", found.len());
            assert_eq!(found, reference(&keywords, &text), "size {size}");
        }
    }

    #[test]
    fn a_keyword_across_a_lane_boundary_is_found_once() {
        let keywords = ["begin rsa private key", "rsa"];
        let searcher = KeywordSearcher::new(&keywords).expect("searcher");
        let lane = LANE_BYTES;
        let mut text = vec![b'.'; LANES * lane];
        // Straddling lanes 1|2, ending exactly at lane 2's start, starting exactly at lane 3's.
        let put = |text: &mut Vec<u8>, at: usize| {
            text[at..at + keywords[0].len()].copy_from_slice(keywords[0].as_bytes())
        };
        put(&mut text, 2 * lane - 7);
        put(&mut text, 2 * lane - keywords[0].len() + 40);
        put(&mut text, 3 * lane);
        let found = hits(&searcher, &text);
        assert_eq!(found, reference(&keywords, &text));
        assert_eq!(found.iter().filter(|h| h.pattern == 0).count(), 3);
    }

    /// Mostly bytes in no keyword (as in an executable), with keywords, short runs of keyword
    /// bytes, and stretches of text from a few bytes to past `IN_PLACE`.
    fn binary_haystack(len: usize, seed: u64, keywords: &[&str]) -> Vec<u8> {
        let mut text = haystack(len, seed, keywords);
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut at = SAMPLE;
        while at < len {
            // Keep a stretch of text, then blank out a gap (zeros or bytes >= 0x80).
            let keep = match next() % 8 {
                0 => IN_PLACE + (next() % 4096) as usize,
                1..=3 => (next() % 300) as usize,
                _ => (next() % 40) as usize,
            };
            // Gaps of whole blocks, often: the text either side ends and starts at a block's
            // edge, where only the separator keeps gathered spans apart.
            let gap = 64 + (next() % 400) as usize;
            let from = (at + keep).min(len);
            let (from, gap) = if next() % 2 == 0 {
                (from.next_multiple_of(32).min(len), gap / 32 * 32)
            } else {
                (from, gap)
            };
            let to = (from + gap).min(len);
            let fill = if next() % 2 == 0 {
                0
            } else {
                0x80 | next() as u8
            };
            text[from..to].fill(fill);
            // A keyword's halves on either side of the gap: gathered with nothing between the
            // spans, they would make a keyword that is not there.
            let keyword = keywords[(next() % keywords.len() as u64) as usize].as_bytes();
            let cut = 1 + (next() as usize) % (keyword.len() - 1);
            if from >= cut && to + keyword.len() - cut <= len && to - from >= 64 {
                text[from - cut..from].copy_from_slice(&keyword[..cut]);
                text[to..to + keyword.len() - cut].copy_from_slice(&keyword[cut..]);
            }
            at = to;
        }
        // Most of the first page is blank but for one keyword: the buffer is searched by its
        // spans.
        let head = SAMPLE.min(len) * 7 / 10;
        text[..head].fill(0);
        if head > 100 {
            text[50..50 + keywords[0].len()].copy_from_slice(keywords[0].as_bytes());
        }
        text
    }

    #[test]
    fn spans_find_what_a_walk_of_every_byte_finds() {
        let rules = crate::secrets::rules::RuleSet::builtin().expect("built-in rules");
        let keywords = builtin_keywords(&rules);
        let as_built = KeywordSearcher::new(&keywords).expect("searcher");
        let without_simd = as_built.clone().with_spans(true);
        let whole = as_built.clone().with_spans(false);
        // Past the gathered limit several times, and sizes around the sample and the minimum.
        let sizes = [MIN_FILTERED, SAMPLE - 1, SAMPLE + 33, 100_000, 1 << 20];
        for (i, &size) in sizes.iter().enumerate() {
            let text = binary_haystack(size, 11 + i as u64, &keywords);
            let expected = reference(&keywords, &text);
            assert!(
                expected.len() > size / 2000,
                "{} hits in {size}",
                expected.len()
            );
            let (finder, _) = without_simd.spans.as_ref().expect("a separator");
            assert!(sparse(finder, &text), "size {size}: searched by spans");
            assert_eq!(hits(&without_simd, &text), expected, "size {size}, table");
            assert_eq!(hits(&as_built, &text), expected, "size {size}, as built");
            assert_eq!(hits(&whole, &text), expected, "size {size}, every byte");
        }
    }

    #[test]
    fn no_keywords_in_random_bytes_means_no_hits() {
        let searcher = KeywordSearcher::new(&["zzzzzzzz"]).expect("searcher");
        let text = haystack(300_000, 7, &["abc"]);
        assert!(hits(&searcher, &text).is_empty());
    }
}
