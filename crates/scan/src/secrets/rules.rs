//! Secret rules are data (`policies/secrets/rules.json`): parsed strictly (unknown fields are
//! errors naming the file and JSON pointer), then compiled into one Aho-Corasick prefilter over
//! every rule's keywords and a regex per rule.

use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

/// Lazy-DFA cache per compiled regex and thread.
const REGEX_CACHE_BYTES: usize = 256 * 1024;
use serde::Deserialize;

use crate::finding::Severity;

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
    tests: RuleTests,
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
    pattern: String,
    compiled: OnceLock<Option<Regex>>,
    pub entropy: Option<f64>,
    pub checksum: Option<Checksum>,
    pub allow: Vec<Regex>,
    pub tests: RuleTests,
}

fn build(pattern: &str) -> Result<Regex, regex::Error> {
    // Secrets are ASCII: ASCII classes (`\w`, `\s`, case folding) keep each compiled regex
    // small (Unicode ones made the rule set take tens of MiB); a small lazy-DFA cache per regex
    // and thread keeps hundreds of them bounded.
    RegexBuilder::new(pattern)
        .unicode(false)
        .dfa_size_limit(REGEX_CACHE_BYTES)
        .build()
}

impl Rule {
    /// The compiled regex, built on first use. Every pattern was parsed when the rules were
    /// loaded; one that still fails to compile (over a size limit) matches nothing.
    pub fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| build(&self.pattern).ok())
            .as_ref()
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
    pub placeholders: Vec<Regex>,
    /// Keyword automaton over every content rule's keywords (ASCII case-insensitive).
    pub(crate) keywords: AhoCorasick,
    /// For each keyword pattern, the content rules that use it.
    pub(crate) keyword_rules: Vec<Vec<usize>>,
    pub(crate) path_rules: Vec<usize>,
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
    /// The built-in rules.
    pub fn builtin() -> Result<Self, RulesError> {
        Self::parse(
            Path::new("policies/secrets/rules.json (built in)"),
            BUILTIN_RULES.as_bytes(),
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
        let err = |pointer: String, problem: String| RulesError {
            file: file.to_owned(),
            pointer,
            problem,
        };
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let doc: RulesDoc = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            err(json_pointer(&path), e.into_inner().to_string())
        })?;
        if doc.version != 1 {
            return Err(err(
                "/version".into(),
                format!("unsupported version {}", doc.version),
            ));
        }
        // Hundreds of regexes, each with a lazy DFA per thread: a small cache each keeps the
        // scan's memory bounded (the default 2 MiB per regex and thread reached 60 MiB).
        let compile = |pointer: String, pattern: &str| {
            build(pattern).map_err(|e| err(pointer, format!("invalid regex: {e}")))
        };
        let placeholders = doc
            .placeholders
            .iter()
            .enumerate()
            .map(|(i, p)| compile(format!("/placeholders/{i}"), p))
            .collect::<Result<Vec<_>, _>>()?;
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
            // Parsed now (a cheap syntax check, so a bad rule is an error at load); compiled
            // only once a keyword needs it.
            regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .build()
                .parse(&r.regex)
                .map_err(|e| err(at("regex"), format!("invalid regex: {e}")))?;
            let allow = r
                .allow
                .iter()
                .enumerate()
                .map(|(j, a)| compile(format!("/rules/{i}/allow/{j}"), a))
                .collect::<Result<Vec<_>, _>>()?;
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
                pattern: r.regex,
                compiled: OnceLock::new(),
                entropy: r.entropy,
                checksum: r.checksum,
                allow,
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
        // A full DFA: overlapping search cannot use the prefilters that speed up leftmost
        // search, so the per-byte step must be a single table lookup (measured: the
        // default contiguous NFA spent half the scan time here).
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .map_err(|e| err("/rules".into(), format!("keywords: {e}")))?;
        Ok(Self {
            rules,
            placeholders,
            keywords,
            keyword_rules,
            path_rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
