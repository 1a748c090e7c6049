//! The keywords as one Aho-Corasick DFA, matched ASCII case-insensitively, with the same
//! matches in the same order as the aho-corasick crate's overlapping search. Built here, not by
//! that crate, because its DFA builder follows failure links through the sparse NFA for every
//! missing transition: 2.2 ms of each scan's start, serial, for the built-in keywords. Filling
//! the table in breadth-first order, each state's missing transitions copied from its failure
//! state's finished row, takes 0.35 ms (both measured by perf over 40 scans of the 2 MB fixture).

use std::collections::VecDeque;

/// Transitions the table may hold (4 bytes each): far above the built-in rules' ~100,000.
const MAX_TRANSITIONS: usize = 1 << 26;
/// A transition not in the trie (only while building).
const NONE: u32 = u32::MAX;

#[derive(Debug, thiserror::Error)]
pub enum KeywordError {
    #[error("keyword {index} is empty")]
    Empty { index: usize },
    #[error(
        "the keywords make an automaton of {states} states over {classes} byte classes, \
         more than the {MAX_TRANSITIONS} transitions allowed"
    )]
    TooLarge { states: usize, classes: usize },
}

/// An Aho-Corasick DFA over byte classes. State IDs are premultiplied (a row's offset in the
/// table) and the states with matches come first, so the search loop's step is one lookup and
/// its match check one comparison.
#[derive(Debug, Clone)]
pub struct KeywordDfa {
    /// Byte → class; a letter's two cases share one class, bytes in no keyword share class 0.
    classes: [u8; 256],
    /// Classes per row.
    stride: usize,
    trans: Vec<u32>,
    start: u32,
    /// States below this ID have matches.
    match_limit: u32,
    /// Per match state (in ID order): its range of `match_patterns`.
    match_ranges: Vec<(u32, u32)>,
    match_patterns: Vec<u32>,
    pattern_lens: Vec<usize>,
}

impl KeywordDfa {
    pub fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Result<Self, KeywordError> {
        let classes = byte_classes(patterns);
        let stride = usize::from(classes.iter().copied().max().unwrap_or(0)) + 1;
        let trie = Trie::new(patterns, &classes, stride)?;
        Ok(trie.into_dfa(classes, stride, patterns))
    }

    pub fn start(&self) -> u32 {
        self.start
    }

    #[inline(always)]
    pub fn next(&self, state: u32, byte: u8) -> u32 {
        self.trans[state as usize + usize::from(self.classes[usize::from(byte)])]
    }

    #[inline(always)]
    pub fn is_match(&self, state: u32) -> bool {
        state < self.match_limit
    }

    /// The patterns that end in `state` (a match state): the longest first.
    pub fn matches(&self, state: u32) -> &[u32] {
        let (from, to) = self.match_ranges[state as usize / self.stride];
        &self.match_patterns[from as usize..to as usize]
    }

    pub fn pattern_len(&self, pattern: u32) -> usize {
        self.pattern_lens[pattern as usize]
    }

    /// The longest keyword's length.
    pub fn longest(&self) -> usize {
        self.pattern_lens.iter().copied().max().unwrap_or(0)
    }
}

/// One class per distinct (lowercased) byte of the patterns, upper case mapped with lower.
fn byte_classes<P: AsRef<[u8]>>(patterns: &[P]) -> [u8; 256] {
    let mut classes = [0u8; 256];
    let mut next = 1u8;
    for pattern in patterns {
        for &byte in pattern.as_ref() {
            let lower = usize::from(byte.to_ascii_lowercase());
            if classes[lower] == 0 {
                // At most 230 distinct bytes once letters are folded: fits in a u8.
                classes[lower] = next;
                next += 1;
            }
        }
    }
    for upper in b'A'..=b'Z' {
        classes[usize::from(upper)] = classes[usize::from(upper.to_ascii_lowercase())];
    }
    classes
}

/// The keywords' trie, then the automaton's transitions and outputs (in place).
struct Trie {
    stride: usize,
    /// Row per state, `NONE` where the trie has no edge.
    trans: Vec<u32>,
    /// Patterns ending at each state: its own, then its failure state's.
    outputs: Vec<Vec<u32>>,
}

impl Trie {
    fn new<P: AsRef<[u8]>>(
        patterns: &[P],
        classes: &[u8; 256],
        stride: usize,
    ) -> Result<Self, KeywordError> {
        let mut trie = Self {
            stride,
            trans: vec![NONE; stride],
            outputs: vec![Vec::new()],
        };
        for (index, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            if pattern.is_empty() {
                return Err(KeywordError::Empty { index });
            }
            let mut state = 0usize;
            for &byte in pattern {
                let slot = state * stride + usize::from(classes[usize::from(byte)]);
                state = match trie.trans[slot] {
                    NONE => {
                        let new = trie.outputs.len();
                        if (new + 1) * stride > MAX_TRANSITIONS {
                            return Err(KeywordError::TooLarge {
                                states: new + 1,
                                classes: stride,
                            });
                        }
                        trie.trans.resize((new + 1) * stride, NONE);
                        trie.outputs.push(Vec::new());
                        trie.trans[slot] = new as u32;
                        new
                    }
                    next => next as usize,
                };
            }
            trie.outputs[state].push(index as u32);
        }
        trie.fill();
        Ok(trie)
    }

    /// Breadth-first: a state's failure state is shallower, so its row is complete and its
    /// outputs final when the state is reached.
    fn fill(&mut self) {
        let stride = self.stride;
        let mut fail = vec![0u32; self.outputs.len()];
        let mut queue = VecDeque::new();
        for class in 0..stride {
            match self.trans[class] {
                NONE => self.trans[class] = 0,
                child => queue.push_back(child),
            }
        }
        while let Some(state) = queue.pop_front() {
            let state = state as usize;
            let failure = fail[state] as usize;
            for class in 0..stride {
                let via_failure = self.trans[failure * stride + class];
                let slot = state * stride + class;
                match self.trans[slot] {
                    NONE => self.trans[slot] = via_failure,
                    child => {
                        fail[child as usize] = via_failure;
                        let inherited = self.outputs[via_failure as usize].clone();
                        self.outputs[child as usize].extend(inherited);
                        queue.push_back(child);
                    }
                }
            }
        }
    }

    /// Renumbers the states, those with matches first, and premultiplies their IDs.
    fn into_dfa<P: AsRef<[u8]>>(
        self,
        classes: [u8; 256],
        stride: usize,
        patterns: &[P],
    ) -> KeywordDfa {
        let states = self.outputs.len();
        let (matching, other): (Vec<usize>, Vec<usize>) =
            (0..states).partition(|&s| !self.outputs[s].is_empty());
        let order: Vec<usize> = matching.iter().chain(&other).copied().collect();
        let mut new_id = vec![0u32; states];
        for (new, &old) in order.iter().enumerate() {
            new_id[old] = (new * stride) as u32;
        }
        let mut trans = Vec::with_capacity(states * stride);
        let mut match_ranges = Vec::with_capacity(matching.len());
        let mut match_patterns = Vec::new();
        for &old in &order {
            let row = &self.trans[old * stride..(old + 1) * stride];
            trans.extend(row.iter().map(|&next| new_id[next as usize]));
            if !self.outputs[old].is_empty() {
                let from = match_patterns.len() as u32;
                match_patterns.extend_from_slice(&self.outputs[old]);
                match_ranges.push((from, match_patterns.len() as u32));
            }
        }
        KeywordDfa {
            classes,
            stride,
            trans,
            start: new_id[0],
            match_limit: (matching.len() * stride) as u32,
            match_ranges,
            match_patterns,
            pattern_lens: patterns.iter().map(|p| p.as_ref().len()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_keywords() {
        let err = KeywordDfa::new(&["abc", ""]).expect_err("empty keyword");
        assert_eq!(err.to_string(), "keyword 1 is empty");
    }

    #[test]
    fn no_keywords_match_nothing() {
        let dfa = KeywordDfa::new::<&str>(&[]).expect("dfa");
        let mut state = dfa.start();
        for &byte in b"anything at all" {
            state = dfa.next(state, byte);
            assert!(!dfa.is_match(state));
        }
    }

    #[test]
    fn outputs_list_the_longest_first_then_the_suffixes() {
        let dfa = KeywordDfa::new(&["key", "private key", "e key"]).expect("dfa");
        let mut state = dfa.start();
        for &byte in b"PRIVATE KEY" {
            state = dfa.next(state, byte);
        }
        assert!(dfa.is_match(state));
        assert_eq!(dfa.matches(state), &[1, 2, 0]);
        assert_eq!(dfa.longest(), 11);
    }
}
