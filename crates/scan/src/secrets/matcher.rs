//! Finds secrets in a buffer: one Aho-Corasick pass finds keywords; each hit's rules run their
//! regex only in a window around it (windows of one rule merge, so a file full of keywords is
//! still one linear pass); candidates then pass placeholders, entropy and checksums.

use crate::secrets::rules::{self, Checksum, RuleSet};

/// Bytes searched on each side of a keyword hit.
pub const WINDOW: usize = 1024;

/// A secret found in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub rule: usize,
    /// Byte range of the whole regex match in the buffer.
    pub start: usize,
    pub end: usize,
    /// The secret value (the `secret` group, else the whole match).
    pub secret: Vec<u8>,
}

/// Shannon entropy of `data`, in bits per byte.
pub fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[usize::from(b)] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| f64::from(c) / len)
        .map(|p| -p * p.log2())
        .sum()
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// GitHub's (and npm's) token checksum: `<prefix>_<30 chars><6 base62 digits of their CRC32>`.
fn prefixed_crc32_ok(token: &[u8]) -> bool {
    let Some(us) = token.iter().rposition(|&b| b == b'_') else {
        return false;
    };
    let body = &token[us + 1..];
    if body.len() != 36 {
        return false;
    }
    let (payload, check) = body.split_at(30);
    let mut n = crc32fast::hash(payload);
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits == check
}

fn luhn_ok(digits: &[u8]) -> bool {
    let ds: Vec<u32> = digits
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
        .collect();
    if ds.len() < 12 {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

impl Checksum {
    pub fn verify(self, secret: &[u8]) -> bool {
        match self {
            Self::GithubCrc32 | Self::NpmCrc32 => prefixed_crc32_ok(secret),
            Self::Luhn => luhn_ok(secret),
        }
    }
}

impl RuleSet {
    /// Whether `secret` passes rule `i`'s gates (placeholders, allow list, entropy, checksum).
    pub fn accepts(&self, i: usize, secret: &[u8]) -> bool {
        let rule = &self.rules[i];
        if secret.is_empty()
            || self
                .placeholders
                .iter()
                .chain(&rule.allow)
                .any(|p| p.is_match(secret))
        {
            return false;
        }
        if rule.entropy.is_some_and(|min| entropy(secret) < min) {
            return false;
        }
        rule.checksum.is_none_or(|c| c.verify(secret))
    }

    /// Every secret in `buf`, by rule, in order of position.
    pub fn scan(&self, buf: &[u8]) -> Vec<Match> {
        // Per rule, the merged windows around its keywords' hits. Hits come in order of their
        // end, so each rule's windows merge as they arrive: no list of every hit is kept.
        let mut open: Vec<Option<(usize, usize)>> = vec![None; self.rules.len()];
        let mut merged: Vec<(usize, usize, usize)> = Vec::new();
        self.keywords.for_each_hit(buf, |hit| {
            let start = hit.start.saturating_sub(WINDOW);
            let end = (hit.end + WINDOW).min(buf.len());
            for &rule in &self.keyword_rules[hit.pattern] {
                if let Some(gate) = &self.rules[rule].after_gate {
                    if !gate.admits(buf, hit.end) {
                        continue;
                    }
                }
                match &mut open[rule] {
                    // A longer keyword ending later can start earlier: the window grows
                    // both ways.
                    Some(w) if start <= w.1 => *w = (w.0.min(start), w.1.max(end)),
                    slot => {
                        if let Some((s, e)) = slot.replace((start, end)) {
                            merged.push((rule, s, e));
                        }
                    }
                }
            }
        });
        merged.extend(
            open.iter()
                .enumerate()
                .filter_map(|(rule, w)| w.map(|(s, e)| (rule, s, e))),
        );
        let mut out = Vec::new();
        for (rule, start, end) in merged {
            let window = &buf[start..end];
            self.rules[rule].for_each_match(window, "secret", |found| {
                let whole = found.whole;
                // A match cut by the window's edge (not the buffer's) may be a piece of a longer
                // token: it is not this secret.
                if (whole.start == 0 && start > 0) || (whole.end == window.len() && end < buf.len())
                {
                    return;
                }
                let secret = &window[found.group.unwrap_or(whole).range()];
                if self.accepts(rule, secret) {
                    out.push(Match {
                        rule,
                        start: start + whole.start,
                        end: start + whole.end,
                        secret: secret.to_vec(),
                    });
                }
            });
        }
        out.sort_by_key(|m| (m.start, m.rule));
        out.dedup();
        out
    }

    /// Path rules matching a normalised path.
    pub fn match_path<'a>(&'a self, path: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        let set = self
            .path_set
            .get_or_init(|| {
                let patterns: Vec<&str> = self
                    .path_rules
                    .iter()
                    .map(|&i| self.rules[i].pattern())
                    .collect();
                rules::build_set(&patterns).ok()
            })
            .as_ref();
        let matched: Vec<usize> = match set {
            Some(set) => {
                let mut found = regex_automata::PatternSet::new(set.pattern_len());
                set.which_overlapping_matches(&regex_automata::Input::new(path), &mut found);
                found
                    .iter()
                    .map(|p| self.path_rules[p.as_usize()])
                    .collect()
            }
            // Over a size limit together: each on its own.
            None => self
                .path_rules
                .iter()
                .copied()
                .filter(|&i| self.rules[i].regex().is_some_and(|r| r.is_match(path)))
                .collect(),
        };
        matched.into_iter().filter(move |&i| {
            !self.rules[i]
                .allow
                .as_ref()
                .is_some_and(|a| a.is_match(path))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn rules() -> RuleSet {
        RuleSet::parse(
            Path::new("test.json"),
            br#"{"version":1,"placeholders":["(?i)example","^x+$"],"rules":[
              {"id":"gh","title":"GitHub","severity":"critical","kind":"content","keywords":["ghp_"],
               "regex":"\\b(?P<secret>ghp_[0-9A-Za-z]{36})\\b","checksum":"github-crc32"},
              {"id":"pw","title":"Password","severity":"medium","kind":"content","keywords":["password"],
               "regex":"(?i)password\\s*[=:]\\s*(?P<secret>[^\\s'\"]{12,})","entropy":3.0},
              {"id":"awsfile","title":"AWS credentials file","severity":"high","kind":"path","keywords":[],
               "regex":"(^|/)\\.aws/credentials$"}]}"#,
        )
        .expect("rules")
    }

    fn github_token() -> String {
        rharden_testkit::github_token("hAoXguotyB57rvklcejTkgLHA21zpg")
    }

    /// A rule with `after_keyword` opens a window only for a hit followed closely by one of its
    /// bytes. The rule's regex here does not need the `=`, so the gate is what decides.
    #[test]
    fn after_keyword_gates_the_windows_of_a_hit() {
        let r = RuleSet::parse(
            Path::new("test.json"),
            br#"{"version":1,"rules":[
              {"id":"k","title":"K","severity":"high","kind":"content","keywords":["key"],
               "after_keyword":{"bytes":"=","within":3},
               "regex":"key\\W{0,3}(?P<secret>[0-9]{6})"}]}"#,
        )
        .expect("rules");
        let found = |text: &str| -> Vec<Vec<u8>> {
            r.scan(text.as_bytes())
                .into_iter()
                .map(|m| m.secret)
                .collect()
        };
        assert_eq!(found("a key = 123456 b"), vec![b"123456".to_vec()]);
        assert!(found("a key   123456 b").is_empty(), "no = within 3 bytes");
        assert!(found("a key ; 123456 b").is_empty());
        let bad = RuleSet::parse(
            Path::new("test.json"),
            br#"{"version":1,"rules":[
              {"id":"k","title":"K","severity":"high","kind":"content","keywords":["key"],
               "after_keyword":{"bytes":"=","within":0},"regex":"key"}]}"#,
        )
        .expect_err("within 0");
        assert_eq!(bad.pointer, "/rules/0/after_keyword");
    }

    #[test]
    fn finds_checksummed_tokens_and_refuses_bad_checksums() {
        let r = rules();
        let token = github_token();
        let text = format!("export GITHUB_TOKEN={token}\n");
        let m = r.scan(text.as_bytes());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].secret, token.as_bytes());
        let mut bad = token.clone().into_bytes();
        bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
        assert!(r.scan(&bad).is_empty());
    }

    #[test]
    fn entropy_and_placeholders_gate_generic_matches() {
        let r = rules();
        assert_eq!(r.scan(b"password = Zx9!qL2#vB7$kP4w").len(), 1);
        assert!(
            r.scan(b"password = aaaaaaaaaaaaaaaa").is_empty(),
            "low entropy"
        );
        assert!(
            r.scan(b"password = EXAMPLEpassword123").is_empty(),
            "placeholder"
        );
    }

    #[test]
    fn binary_content_and_keyword_floods() {
        let r = rules();
        let mut blob = vec![0u8; 100_000];
        let token = github_token();
        blob[50_000..50_000 + token.len()].copy_from_slice(token.as_bytes());
        assert_eq!(r.scan(&blob).len(), 1);
        // Every window overlaps the next: they merge into one, and the regex runs once.
        let flood = "password ".repeat(200_000);
        assert!(r.scan(flood.as_bytes()).is_empty());
    }

    /// "cret" ends before "secret_x" does but starts after it: the rule's window must reach
    /// back from the longer keyword's start, not the shorter one's.
    #[test]
    fn a_window_starts_before_its_earliest_keyword() {
        let set = RuleSet::parse(
            Path::new("test.json"),
            br#"{"version":1,"rules":[
              {"id":"far","title":"Far","severity":"high","kind":"content",
               "keywords":["cret","secret_x"],
               "regex":"Z\\.{1023}(?P<secret>secret_xy[a-z0-9]{10})"}]}"#,
        )
        .expect("rules");
        let text = format!("Z{}secret_xyq8w7e6r5t4", ".".repeat(1023));
        let found = set.scan(text.as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].secret, b"secret_xyq8w7e6r5t4");
    }

    #[test]
    fn path_rules() {
        let r = rules();
        assert_eq!(r.match_path(b"root/.aws/credentials").count(), 1);
        assert_eq!(r.match_path(b"root/.aws/credentials.bak").count(), 0);
    }

    /// The one regex of every path rule decides like each rule's own regex (and allow list),
    /// on every built-in path rule's true- and false-positive cases.
    #[test]
    fn the_combined_path_regex_matches_like_each_path_rule() {
        let set = RuleSet::builtin().expect("built-in rules");
        let cases: Vec<&String> = set
            .path_rules
            .iter()
            .flat_map(|&i| set.rules[i].tests.tp.iter().chain(&set.rules[i].tests.fp))
            .collect();
        assert!(cases.len() >= 2 * set.path_rules.len(), "{}", cases.len());
        for case in cases {
            let path = case.as_bytes();
            let one_by_one: Vec<usize> = set
                .path_rules
                .iter()
                .copied()
                .filter(|&i| {
                    set.rules[i].regex().is_some_and(|r| r.is_match(path))
                        && !set.rules[i]
                            .allow
                            .as_ref()
                            .is_some_and(|a| a.is_match(path))
                })
                .collect();
            let combined: Vec<usize> = set.match_path(path).collect();
            assert_eq!(combined, one_by_one, "{case}");
        }
    }

    #[test]
    fn entropy_values() {
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
    }
}
