//! Secret rules are data (`policies/secrets/rules.json`): parsed strictly (unknown fields are
//! errors naming the file and JSON pointer), then compiled into one Aho-Corasick prefilter over
//! every rule's keywords and a regex per rule.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use serde::Deserialize;

use crate::finding::Severity;
use crate::secrets::keyword_search::KeywordSearcher;
use crate::secrets::window_regex::{WindowMatch, WindowRegex};

/// Lazy-DFA cache per meta regex and thread.
const REGEX_CACHE_BYTES: usize = 256 * 1024;

/// The rules shipped with rharden, compiled into the binary.
pub const BUILTIN_RULES: &str = include_str!("../../../../policies/secrets/rules.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// Matched in file content, config values and build commands.
    Content,
    /// Matched against a file's path.
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checksum {
    /// GitHub tokens: the last 6 characters are the base62 CRC32 of the 30 before them.
    GithubCrc32,
    /// npm tokens use the same scheme.
    NpmCrc32,
    /// The Luhn digit (card numbers).
    Luhn,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTests {
    #[serde(default)]
    pub tp: Vec<String>,
    #[serde(default)]
    pub fp: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: String,
    title: String,
    severity: Severity,
    kind: RuleKind,
    #[serde(default)]
    keywords: Vec<String>,
    regex: String,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    checksum: Option<Checksum>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    after_keyword: Option<AfterKeyword>,
    #[serde(default)]
    tests: RuleTests,
}

/// A byte that every match has shortly after the keyword it contains (an assignment's `=` or
/// `:`): a keyword hit without one opens no window for the rule. On text where the keyword is
/// common and assignments are not, the regex then has nothing to search.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterKeyword {
    /// Any of these ASCII bytes.
    pub bytes: String,
    /// Within this many bytes after the keyword's end (1–64).
    pub within: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesDoc {
    version: u32,
    #[serde(default)]
    placeholders: Vec<String>,
    rules: Vec<RuleDoc>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub kind: RuleKind,
    pub keywords: Vec<String>,
    /// The pattern, compiled on first use: most rules never fire on a given image, and
    /// compiling all of them up front cost time and tens of MiB.
    pattern: LazyRegex,
    pub entropy: Option<f64>,
    pub checksum: Option<Checksum>,
    /// The rule's allow list as one alternation: a match is not this secret.
    pub(crate) allow: Option<LazyRegex>,
    /// A keyword hit opens a window for this rule only if one of these bytes follows it closely.
    pub after_keyword: Option<AfterKeyword>,
    /// `after_keyword` as a byte table, tested for every keyword hit.
    pub(crate) after_gate: Option<AfterGate>,
    pub tests: RuleTests,
}

/// [`AfterKeyword`] as a table: a test per byte, not a search of the bytes for each (the
/// search was 40 % of the work per keyword hit on text where the keyword is common).
#[derive(Debug, Clone)]
pub(crate) struct AfterGate {
    wanted: [bool; 256],
    within: usize,
}

impl AfterGate {
    fn of(after: &AfterKeyword) -> Self {
        let mut wanted = [false; 256];
        for b in after.bytes.bytes() {
            wanted[usize::from(b)] = true;
        }
        Self {
            wanted,
            within: after.within,
        }
    }

    /// Whether a hit ending at `end` of `buf` may open a window: one of the bytes follows within
    /// reach, or the buffer ends before the reach does (the byte may still come).
    pub(crate) fn admits(&self, buf: &[u8], end: usize) -> bool {
        buf.get(end..end + self.within)
            .is_none_or(|room| room.iter().any(|&b| self.wanted[usize::from(b)]))
    }
}

/// A regex compiled on first use. Compiling is a large part of a small scan's CPU (perf on the
/// 2 MB fixture), and most patterns (rules, allow lists, placeholders) are never needed on a
/// given image.
///
/// A pattern first gets the regex that is cheapest to compile ([`WindowRegex::new`]); one that
/// has searched [`UPGRADE_AFTER_BYTES`] (a big or keyword-dense image) also gets one with a
/// literal prefilter ([`WindowRegex::prefiltered`]), which costs half again as much to compile
/// but skips to candidates. Both find the same leftmost-first matches with the same groups.
#[derive(Debug)]
pub(crate) struct LazyRegex {
    pattern: String,
    cheap: OnceLock<Option<WindowRegex>>,
    fast: OnceLock<Option<WindowRegex>>,
    searched: AtomicUsize,
}

/// Bytes a pattern searches with its cheap regex before it gets the fast one. Measured: the
/// cheap one alone made the Debian image's scan 17 % slower; a prefilter for every pattern
/// compiled made the 2 MB fixture's 12 % slower.
const UPGRADE_AFTER_BYTES: usize = 64 * 1024;

impl LazyRegex {
    fn new(pattern: String) -> Self {
        Self {
            pattern,
            cheap: OnceLock::new(),
            fast: OnceLock::new(),
            searched: AtomicUsize::new(0),
        }
    }

    /// One regex matching wherever any of `patterns` matches (flags stay inside each group).
    fn any_of(patterns: &[String]) -> Option<Self> {
        if patterns.is_empty() {
            return None;
        }
        let alternation: Vec<String> = patterns.iter().map(|p| format!("(?:{p})")).collect();
        Some(Self::new(alternation.join("|")))
    }

    /// The cheap regex; `None` for a pattern that parsed but is over the size limits, which
    /// then matches nothing.
    pub(crate) fn get(&self) -> Option<&WindowRegex> {
        self.cheap
            .get_or_init(|| WindowRegex::new(&self.pattern).ok())
            .as_ref()
    }

    pub(crate) fn is_match(&self, haystack: &[u8]) -> bool {
        self.get().is_some_and(|r| r.is_match(haystack))
    }

    /// Calls `found` with every match in `haystack`, in order, with the span of the group
    /// called `group` if it took part. A pattern over the size limits matches nothing.
    pub(crate) fn for_each_match(
        &self,
        haystack: &[u8],
        group: &str,
        found: impl FnMut(WindowMatch),
    ) {
        let before = self.searched.fetch_add(haystack.len(), Ordering::Relaxed);
        let regex = if before >= UPGRADE_AFTER_BYTES {
            self.fast
                .get_or_init(|| self.get()?.prefiltered(&self.pattern).ok())
                .as_ref()
        } else {
            self.get()
        };
        if let Some(regex) = regex {
            regex.for_each_match(haystack, regex.group_index(group), found);
        }
    }
}

/// The configuration of the path rules' meta regex, read per [`syntax_config`], with a small
/// lazy-DFA cache: only the lazy DFA (with its literal prefilter) and the PikeVM are built.
fn builder(config: meta::Config) -> meta::Builder {
    let mut builder = meta::Builder::new();
    builder
        .configure(
            config
                .onepass(false)
                .backtrack(false)
                .utf8_empty(false)
                .hybrid_cache_capacity(REGEX_CACHE_BYTES),
        )
        .syntax(syntax_config());
    builder
}

/// How every secret pattern is read. Secrets are ASCII: ASCII classes (`\w`, `\s`, case
/// folding) keep each compiled regex small (Unicode ones made the rule set take tens of MiB).
pub(crate) fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// `patterns` as one regex reporting every pattern that matches (`MatchKind::All`, for
/// `which_overlapping_matches`).
pub(crate) fn build_set(patterns: &[&str]) -> Result<Regex, Box<meta::BuildError>> {
    builder(meta::Config::new().match_kind(regex_automata::MatchKind::All))
        .build_many(patterns)
        .map_err(Box::new)
}

impl Rule {
    /// The compiled regex, built on first use. Every pattern was checked when the rules were
    /// loaded; one that still fails to compile (over a size limit) matches nothing.
    pub(crate) fn regex(&self) -> Option<&WindowRegex> {
        self.pattern.get()
    }

    /// See [`LazyRegex::for_each_match`].
    pub(crate) fn for_each_match(
        &self,
        haystack: &[u8],
        group: &str,
        found: impl FnMut(WindowMatch),
    ) {
        self.pattern.for_each_match(haystack, group, found);
    }

    /// The regex text.
    pub(crate) fn pattern(&self) -> &str {
        &self.pattern.pattern
    }
}

/// A rules file that cannot be used, with the file and the JSON pointer of the problem.
#[derive(Debug, thiserror::Error)]
#[error("{}{pointer}: {problem}", file.display())]
pub struct RulesError {
    pub file: PathBuf,
    /// JSON pointer (`/rules/12/regex`), or empty for the whole document.
    pub pointer: String,
    pub problem: String,
}

/// Every rule, compiled, with the keyword prefilter.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Every placeholder as one alternation: a secret it matches is a documented example.
    pub(crate) placeholders: Option<LazyRegex>,
    /// Keyword automaton over every content rule's keywords (ASCII case-insensitive).
    pub(crate) keywords: KeywordSearcher,
    /// For each keyword pattern, the content rules that use it.
    pub(crate) keyword_rules: Vec<Vec<usize>>,
    pub(crate) path_rules: Vec<usize>,
    /// Every path rule's regex as one multi-pattern regex (pattern `n` = `path_rules[n]`),
    /// built on first use: one compile and one search per path instead of one per rule.
    pub(crate) path_set: OnceLock<Option<Regex>>,
}

/// `rules[12].regex` (serde_path_to_error) as a JSON pointer: `/rules/12/regex`.
pub(crate) fn json_pointer(path: &str) -> String {
    if path == "." || path.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            out.push('/');
            out.push_str(name);
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx.trim_end_matches(']'));
        }
    }
    out
}

impl RuleSet {
    /// The built-in rules. Their patterns are not syntax-checked here: the test suite compiles
    /// every one of them (`builtin_patterns_all_compile`), so parsing all of them again at every
    /// start would only add to a small image's scan time.
    pub fn builtin() -> Result<Self, RulesError> {
        Self::compile(
            Path::new("policies/secrets/rules.json (built in)"),
            BUILTIN_RULES.as_bytes(),
            false,
        )
    }

    /// Reads and compiles a rules file.
    pub fn load(file: &Path) -> Result<Self, RulesError> {
        let bytes = std::fs::read(file).map_err(|e| RulesError {
            file: file.to_owned(),
            pointer: String::new(),
            problem: format!("cannot read it: {e}"),
        })?;
        Self::parse(file, &bytes)
    }

    /// Compiles a rules document; `file` names it in errors.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<Self, RulesError> {
        Self::compile(file, bytes, true)
    }

    /// Compiles a rules document; `check_patterns` parses every pattern now, so a bad one is an
    /// error at load naming its place rather than a rule that silently matches nothing.
    fn compile(file: &Path, bytes: &[u8], check_patterns: bool) -> Result<Self, RulesError> {
        let err = |pointer: String, problem: String| RulesError {
            file: file.to_owned(),
            pointer,
            problem,
        };
        // Parsed without tracking the path first (the 2 MB fixture's whole scan: 3 % faster);
        // a document that fails is parsed again, the same way, to name the place.
        let doc = RulesDoc::deserialize(&mut serde_json::Deserializer::from_slice(bytes));
        let doc: RulesDoc = match doc {
            Ok(doc) => doc,
            Err(_) => {
                let de = &mut serde_json::Deserializer::from_slice(bytes);
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = e.path().to_string();
                    err(json_pointer(&path), e.into_inner().to_string())
                })?
            }
        };
        if doc.version != 1 {
            return Err(err(
                "/version".into(),
                format!("unsupported version {}", doc.version),
            ));
        }
        // A cheap syntax check; compiling waits until a pattern is needed.
        let check = |pointer: String, pattern: &str| {
            if !check_patterns {
                return Ok(());
            }
            regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .build()
                .parse(pattern)
                .map(drop)
                .map_err(|e| err(pointer, format!("invalid regex: {e}")))
        };
        for (i, p) in doc.placeholders.iter().enumerate() {
            check(format!("/placeholders/{i}"), p)?;
        }
        let placeholders = LazyRegex::any_of(&doc.placeholders);
        let mut rules = Vec::with_capacity(doc.rules.len());
        let mut ids = std::collections::HashSet::new();
        for (i, r) in doc.rules.into_iter().enumerate() {
            let at = |field: &str| format!("/rules/{i}/{field}");
            if !ids.insert(r.id.clone()) {
                return Err(err(at("id"), format!("duplicate rule id {:?}", r.id)));
            }
            if r.kind == RuleKind::Content && r.keywords.is_empty() {
                return Err(err(
                    at("keywords"),
                    "a content rule needs at least one keyword".into(),
                ));
            }
            if let Some(k) = r.keywords.iter().find(|k| k.is_empty() || !k.is_ascii()) {
                return Err(err(
                    at("keywords"),
                    format!("keyword {k:?} must be non-empty ASCII"),
                ));
            }
            check(at("regex"), &r.regex)?;
            for (j, a) in r.allow.iter().enumerate() {
                check(format!("/rules/{i}/allow/{j}"), a)?;
            }
            if let Some(a) = &r.after_keyword {
                if a.bytes.is_empty() || !a.bytes.is_ascii() || !(1..=64).contains(&a.within) {
                    return Err(err(
                        at("after_keyword"),
                        "after_keyword needs non-empty ASCII bytes and within 1 to 64".into(),
                    ));
                }
            }
            if r.entropy.is_some_and(|e| !(0.0..=8.0).contains(&e)) {
                return Err(err(
                    at("entropy"),
                    "entropy is bits per character, 0 to 8".into(),
                ));
            }
            rules.push(Rule {
                id: r.id,
                title: r.title,
                severity: r.severity,
                kind: r.kind,
                keywords: r.keywords.iter().map(|k| k.to_ascii_lowercase()).collect(),
                pattern: LazyRegex::new(r.regex),
                entropy: r.entropy,
                checksum: r.checksum,
                allow: LazyRegex::any_of(&r.allow),
                after_gate: r.after_keyword.as_ref().map(AfterGate::of),
                after_keyword: r.after_keyword,
                tests: r.tests,
            });
        }
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut path_rules = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.kind == RuleKind::Path {
                path_rules.push(i);
                continue;
            }
            for k in &rule.keywords {
                match patterns.iter().position(|p| p == k) {
                    Some(j) => keyword_rules[j].push(i),
                    None => {
                        patterns.push(k.clone());
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let keywords = KeywordSearcher::new(&patterns)
            .map_err(|e| err("/rules".into(), format!("keywords: {e}")))?;
        Ok(Self {
            rules,
            placeholders,
            keywords,
            keyword_rules,
            path_rules,
            path_set: OnceLock::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use regex_automata::{PatternID, Span};

    use super::*;

    #[test]
    fn builtin_patterns_all_compile() {
        let rules = RuleSet::builtin().expect("built-in rules");
        for rule in &rules.rules {
            assert!(
                rule.regex().is_some(),
                "{}: regex does not compile",
                rule.id
            );
            if let Some(allow) = &rule.allow {
                assert!(
                    allow.get().is_some(),
                    "{}: allow list does not compile",
                    rule.id
                );
            }
        }
        let placeholders = rules.placeholders.as_ref().expect("placeholders");
        assert!(placeholders.get().is_some());
        // The same document through the checking path is accepted too.
        RuleSet::parse(Path::new("rules.json"), BUILTIN_RULES.as_bytes()).expect("checked");
    }

    /// Every match of a pattern, as (whole, secret group), by the cheap regex or the fast one.
    fn matches(pattern: &LazyRegex, text: &[u8], fast: bool) -> Vec<(Span, Option<Span>)> {
        pattern.searched.store(
            if fast { UPGRADE_AFTER_BYTES } else { 0 },
            Ordering::Relaxed,
        );
        let mut out = Vec::new();
        pattern.for_each_match(text, "secret", |m| out.push((m.whole, m.group)));
        out
    }

    /// What a meta regex of the same pattern finds.
    fn meta_matches(pattern: &str, text: &[u8]) -> Vec<(Span, Option<Span>)> {
        let regex = builder(meta::Config::new())
            .build(pattern)
            .expect("compiles");
        let group = regex.group_info().to_index(PatternID::ZERO, "secret");
        regex
            .captures_iter(text)
            .filter_map(|caps| {
                let whole = caps.get_match()?.span();
                Some((whole, group.and_then(|g| caps.get_group(g))))
            })
            .collect()
    }

    /// The cheap and the fast window regex against a meta regex: they are built by hand (a
    /// lazy DFA, with or without a literal prefilter, then the PikeVM), so they are held to
    /// the regex crate's.
    #[test]
    fn the_cheap_and_the_fast_regex_find_what_a_meta_regex_finds() {
        let rules = RuleSet::builtin().expect("built-in rules");
        let mut compared = 0;
        for rule in &rules.rules {
            for case in rule.tests.tp.iter().chain(&rule.tests.fp) {
                // Each case alone, and twice on one line, and inside a longer text.
                for text in [
                    case.clone(),
                    format!("{case} {case}"),
                    format!("x=1\n{case}\n# {case}x"),
                ] {
                    let meta = meta_matches(rule.pattern(), text.as_bytes());
                    let cheap = matches(&rule.pattern, text.as_bytes(), false);
                    let fast = matches(&rule.pattern, text.as_bytes(), true);
                    assert_eq!(cheap, meta, "{}: {text:?}", rule.id);
                    assert_eq!(fast, meta, "{}: {text:?} (prefiltered)", rule.id);
                    compared += cheap.len();
                }
            }
        }
        assert!(compared > 300, "only {compared} matches compared");
    }

    #[test]
    fn allow_lists_and_placeholders_keep_their_own_flags() {
        let doc = br#"{"version":1,"placeholders":["(?i)example","^x+$"],"rules":[
          {"id":"a","title":"t","severity":"high","kind":"content","keywords":["k"],"regex":"k","allow":["^AB$","(?i)cd"]}]}"#;
        let rules = RuleSet::parse(Path::new("r.json"), doc).expect("rules");
        let p = rules.placeholders.as_ref().expect("placeholders");
        assert!(p.is_match(b"an EXAMPLE key") && p.is_match(b"xxxx"));
        assert!(
            !p.is_match(b"axxx"),
            "the anchors belong to their own alternative"
        );
        let allow = rules.rules[0].allow.as_ref().expect("allow");
        assert!(allow.is_match(b"AB") && allow.is_match(b"xCDx"));
        assert!(
            !allow.is_match(b"ab"),
            "(?i) of the second pattern does not leak into the first"
        );
    }

    #[test]
    fn json_pointers() {
        assert_eq!(json_pointer("rules[12].regex"), "/rules/12/regex");
        assert_eq!(json_pointer("."), "");
        assert_eq!(json_pointer("version"), "/version");
    }

    #[test]
    fn bad_rules_files_name_the_place() {
        let e = RuleSet::parse(Path::new("r.json"), br#"{"version":1,"rules":[{"id":"a","title":"t","severity":"high","kind":"content","keywords":["x"],"regx":"x"}]}"#)
            .expect_err("unknown field");
        assert!(e.to_string().starts_with("r.json/rules/0"), "{e}");
        let e = RuleSet::parse(Path::new("r.json"), br#"{"version":1,"rules":[{"id":"a","title":"t","severity":"high","kind":"content","keywords":["x"],"regex":"("}]}"#)
            .expect_err("bad regex");
        assert_eq!(e.pointer, "/rules/0/regex");
        let e = RuleSet::parse(Path::new("r.json"), br#"{"version":1,"rules":[{"id":"a","title":"t","severity":"urgent","kind":"content","keywords":["x"],"regex":"x"}]}"#)
            .expect_err("bad severity");
        assert_eq!(e.pointer, "/rules/0/severity");
    }
}
