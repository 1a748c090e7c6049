//! Every keyword occurrence in a buffer, in order of its end, exactly as an overlapping
//! Aho-Corasick search reports them, but with several walks of the DFA ([`KeywordDfa`])
//! interleaved. One walk is a chain of table lookups, each waiting for the one before; four walks
//! over four stretches of the buffer let the CPU overlap them (measured with the aho-corasick
//! crate's DFA: a Debian image's secrets scan 428 → 305 ms, a 1 GiB one 3.41 → 2.75 s).

use crate::secrets::keyword_dfa::{KeywordDfa, KeywordError};

/// Walks interleaved.
const LANES: usize = 4;
/// Bytes a walk covers per block: its reports of one block wait in a small buffer.
const LANE_BYTES: usize = 16 * 1024;
/// Below this, one walk: a lane's warm-up (the longest keyword) would cost more than it saves.
const MIN_LANE_BYTES: usize = 256;

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
}

impl KeywordSearcher {
    /// Compiles `patterns` (matched ASCII case-insensitively).
    pub fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Result<Self, KeywordError> {
        let dfa = KeywordDfa::new(patterns)?;
        let warm_up = dfa.longest().saturating_sub(1);
        Ok(Self { dfa, warm_up })
    }

    /// Calls `hit` for every occurrence of every keyword in `haystack`, overlapping ones
    /// included, in order of end (occurrences ending together: in the automaton's order).
    pub fn for_each_hit(&self, haystack: &[u8], mut hit: impl FnMut(KeywordHit)) {
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

    #[test]
    fn the_built_in_keywords_are_found_as_the_aho_corasick_crate_finds_them() {
        let rules = crate::secrets::rules::RuleSet::builtin().expect("built-in rules");
        let mut keywords: Vec<&str> = Vec::new();
        for k in rules.rules.iter().flat_map(|r| &r.keywords) {
            if !keywords.contains(&k.as_str()) {
                keywords.push(k);
            }
        }
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

    #[test]
    fn no_keywords_in_random_bytes_means_no_hits() {
        let searcher = KeywordSearcher::new(&["zzzzzzzz"]).expect("searcher");
        let text = haystack(300_000, 7, &["abc"]);
        assert!(hits(&searcher, &text).is_empty());
    }
}
