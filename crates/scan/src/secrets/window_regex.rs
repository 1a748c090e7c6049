//! The regex a rule runs in the windows around its keywords' hits: a forward lazy DFA says
//! whether and where a match ends, and the PikeVM resolves its start and groups only then, in
//! the span up to that end. Compiling it is one NFA; a meta regex also compiles a reverse NFA
//! and extracts literal prefilters, 2.5 times the work (measured over the built-in rules), which
//! dominated small images' scans: a rule is compiled to search a few kilobytes around its hits.
//! A rule that searches more gets a second one whose lazy DFA skips to the pattern's literal
//! prefixes, as a meta regex's does ([`WindowRegex::prefiltered`]).

use std::sync::Mutex;

use regex_automata::hybrid::dfa::{self as lazy, DFA};
use regex_automata::nfa::thompson::{self, pikevm::PikeVM, NFA};
use regex_automata::util::captures::Captures;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::{Input, MatchKind, PatternID, Span};
use regex_syntax::hir::Hir;

use crate::secrets::rules::syntax_config;

fn parse(pattern: &str) -> Result<Hir, String> {
    regex_automata::util::syntax::parse_with(pattern, &syntax_config()).map_err(|e| e.to_string())
}

/// Lazy-DFA cache per regex and thread: small, since hundreds of regexes may be compiled.
const LAZY_DFA_CACHE_BYTES: usize = 256 * 1024;
/// Bigger patterns are refused (they would then match nothing).
const NFA_SIZE_LIMIT: usize = 10 << 20;

/// A compiled pattern; see the module documentation.
pub(crate) struct WindowRegex {
    dfa: DFA,
    pikevm: PikeVM,
    /// Search state, one per thread searching at once.
    caches: Mutex<Vec<Caches>>,
}

struct Caches {
    dfa: lazy::Cache,
    pikevm: thompson::pikevm::Cache,
    captures: Captures,
}

impl std::fmt::Debug for WindowRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowRegex").finish_non_exhaustive()
    }
}

/// A match: the whole span, and the named group's if it took part.
pub(crate) struct WindowMatch {
    pub whole: Span,
    pub group: Option<Span>,
}

impl WindowRegex {
    /// Compiles `pattern` read as every secret pattern is ([`syntax_config`]).
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .utf8(false)
                    .nfa_size_limit(Some(NFA_SIZE_LIMIT)),
            )
            .build_from_hir(&parse(pattern)?)
            .map_err(|e| e.to_string())?;
        Self::from_nfa(nfa, None)
    }

    /// This regex (of `pattern`) again, its lazy DFA skipping to where a match can start (a
    /// literal prefix), from the same NFA: the prefilter is half again the cost of compiling (an
    /// Aho-Corasick automaton for a case-insensitive alternation), and searching without it
    /// took the Debian image's scan 17 % longer.
    pub(crate) fn prefiltered(&self, pattern: &str) -> Result<Self, String> {
        let prefilter = Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, &parse(pattern)?);
        Self::from_nfa(self.pikevm.get_nfa().clone(), prefilter)
    }

    fn from_nfa(nfa: NFA, prefilter: Option<Prefilter>) -> Result<Self, String> {
        // A Unicode word boundary (a user's rule may ask for one) makes the lazy DFA give up on
        // a non-ASCII byte rather than refuse the pattern; the PikeVM then answers.
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .prefilter(prefilter)
                    .cache_capacity(LAZY_DFA_CACHE_BYTES)
                    .unicode_word_boundary(true),
            )
            .build_from_nfa(nfa.clone())
            .map_err(|e| e.to_string())?;
        let pikevm = PikeVM::new_from_nfa(nfa).map_err(|e| e.to_string())?;
        Ok(Self {
            dfa,
            pikevm,
            caches: Mutex::new(Vec::new()),
        })
    }

    /// The index of the group called `name`.
    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        self.pikevm
            .get_nfa()
            .group_info()
            .to_index(PatternID::ZERO, name)
    }

    fn with_caches<T>(&self, f: impl FnOnce(&mut Caches) -> T) -> T {
        let taken = self.caches.lock().ok().and_then(|mut c| c.pop());
        let mut caches = taken.unwrap_or_else(|| Caches {
            dfa: self.dfa.create_cache(),
            pikevm: self.pikevm.create_cache(),
            captures: self.pikevm.create_captures(),
        });
        let out = f(&mut caches);
        if let Ok(mut pool) = self.caches.lock() {
            pool.push(caches);
        }
        out
    }

    pub(crate) fn is_match(&self, haystack: &[u8]) -> bool {
        let input = Input::new(haystack).earliest(true);
        self.with_caches(|c| match self.dfa.try_search_fwd(&mut c.dfa, &input) {
            Ok(found) => found.is_some(),
            // The lazy DFA gave up (its cache thrashed): the PikeVM always answers.
            Err(_) => self.pikevm.is_match(&mut c.pikevm, input),
        })
    }

    /// Calls `found` with every leftmost-first match in `haystack`, in order, as an iterator
    /// over non-overlapping matches does (an empty match right after a match is skipped).
    pub(crate) fn for_each_match(
        &self,
        haystack: &[u8],
        group: Option<usize>,
        mut found: impl FnMut(WindowMatch),
    ) {
        self.with_caches(|c| {
            let mut at = 0;
            let mut last_end = None;
            while at <= haystack.len() {
                let input = Input::new(haystack).range(at..);
                let Some(whole) = self.find(c, &input) else {
                    break;
                };
                if whole.is_empty() && last_end == Some(whole.end) {
                    at = whole.end + 1;
                    continue;
                }
                found(WindowMatch {
                    whole,
                    group: group.and_then(|g| c.captures.get_group(g)),
                });
                last_end = Some(whole.end);
                at = if whole.is_empty() {
                    whole.end + 1
                } else {
                    whole.end
                };
            }
        });
    }

    /// The leftmost-first match in `input`, its groups left in `c.captures`.
    fn find(&self, c: &mut Caches, input: &Input<'_>) -> Option<Span> {
        // The DFA finds where the leftmost-first match ends; that match is also the
        // leftmost-first one of the span up to there, which the PikeVM then resolves.
        let span = match self.dfa.try_search_fwd(&mut c.dfa, input) {
            Ok(None) => return None,
            Ok(Some(end)) => input.clone().range(input.start()..end.offset()),
            Err(_) => input.clone(),
        };
        self.pikevm.search(&mut c.pikevm, &span, &mut c.captures);
        c.captures.get_match().map(|m| m.span())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(regex: &WindowRegex, haystack: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        regex.for_each_match(haystack, None, |m| out.push((m.whole.start, m.whole.end)));
        out
    }

    #[test]
    fn a_unicode_word_boundary_still_matches_through_the_pikevm() {
        let regex = WindowRegex::new(r"(?u:\b)key(?u:\b)").expect("compiles");
        assert_eq!(spans(&regex, b"a key here"), [(2, 5)]);
        // The non-ASCII bytes make the lazy DFA give up: the PikeVM decides, by Unicode rules.
        assert_eq!(spans(&regex, "é key éé key".as_bytes()), [(3, 6), (12, 15)]);
        assert!(spans(&regex, "ékey".as_bytes()).is_empty());
    }

    #[test]
    fn empty_matches_are_reported_as_a_meta_regex_iterates_them() {
        for (pattern, haystack) in [("a*", "baa"), ("x?", "xxbx"), ("(?:)", "ab"), ("a|", "bab")] {
            let regex = WindowRegex::new(pattern).expect("compiles");
            let meta = regex_automata::meta::Regex::builder()
                .configure(regex_automata::meta::Config::new().utf8_empty(false))
                .syntax(syntax_config())
                .build(pattern)
                .expect("compiles");
            let expected: Vec<(usize, usize)> = meta
                .find_iter(haystack.as_bytes())
                .map(|m| (m.start(), m.end()))
                .collect();
            assert_eq!(spans(&regex, haystack.as_bytes()), expected, "{pattern:?}");
        }
    }
}
