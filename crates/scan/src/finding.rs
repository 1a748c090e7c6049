//! What analyzers report: findings with redacted evidence, a stable fingerprint, and every
//! place the same secret was seen.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// Every severity, most severe first (the column order of the reports' count tables).
pub const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// Findings counted per category, one count per severity in [`SEVERITIES`] order.
pub fn counts_by_category(
    findings: &[Finding],
) -> std::collections::BTreeMap<&'static str, [usize; 5]> {
    let mut counts = std::collections::BTreeMap::new();
    for f in findings {
        let row: &mut [usize; 5] = counts.entry(f.category).or_default();
        if let Some(i) = SEVERITIES.iter().position(|&s| s == f.severity) {
            row[i] += 1;
        }
    }
    counts
}

/// Where a location is: a file in a layer, the image config, or a build step's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Layer,
    Config,
    History,
}

/// Whether the file is still in the final filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Present,
    Deleted,
    Overwritten,
    Hidden,
}

/// One place a finding was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub source: Source,
    pub layer_index: Option<usize>,
    pub layer_digest: Option<String>,
    /// The build step that wrote it.
    pub created_by: Option<String>,
    /// The file (`/root/.aws/credentials`) or config key (`Env/GITHUB_TOKEN`, `history/5`).
    pub path: String,
    pub line: Option<u64>,
    pub status: Status,
    /// The layer that deleted, overwrote or hid it, and that step's command.
    pub removed_in_layer: Option<usize>,
    pub removed_by: Option<String>,
}

/// A finding: one secret (one rule, one value), wherever it was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub category: &'static str,
    pub severity: Severity,
    pub title: String,
    /// Stable across rebuilds: a hash of (rule id, secret value), never of line or layer.
    pub fingerprint: String,
    /// The secret, redacted: a few leading characters, then `***`.
    pub evidence: String,
    pub locations: Vec<Location>,
    /// Fingerprints of findings that belong with this one (an AWS key id and its secret key
    /// in the same file): together they are a usable credential.
    pub related: Vec<String>,
    /// Category-specific facts (`mode`, `uid`, `capabilities`, `pie`, `wasted_bytes`, …).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// How to fix it (and, for bloat, what that saves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A finding of a non-secret analyzer: `key` (usually the path) makes the fingerprint, so
    /// the same problem at the same place keeps its fingerprint across rebuilds.
    pub fn new(
        rule_id: &str,
        category: &'static str,
        severity: Severity,
        title: impl Into<String>,
        key: &[u8],
    ) -> Self {
        Self {
            rule_id: rule_id.to_owned(),
            category,
            severity,
            title: title.into(),
            fingerprint: fingerprint(rule_id, key),
            evidence: String::new(),
            locations: Vec::new(),
            related: Vec::new(),
            details: serde_json::Map::new(),
            fix: None,
        }
    }

    /// Adds one `details` entry.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// The fingerprint of a secret under a rule.
pub fn fingerprint(rule_id: &str, secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(secret);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    h.finalize()[..16]
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// A few leading characters, then `***`: enough to recognise a token's kind, never enough to use it.
pub fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let chars: Vec<char> = text.chars().collect();
    let shown = (chars.len() / 5).clamp(0, 4);
    let mut out: String = chars[..shown].iter().collect();
    out.push_str("***");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_never_shows_most_of_a_secret() {
        assert_eq!(
            redact(b"ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "ghp_***"
        );
        assert_eq!(redact(b"hunter2"), "h***");
        assert_eq!(redact(b"abc"), "***");
    }

    #[test]
    fn fingerprints_depend_on_rule_and_value_only() {
        assert_eq!(fingerprint("r", b"v"), fingerprint("r", b"v"));
        assert_ne!(fingerprint("r", b"v"), fingerprint("s", b"v"));
        assert_eq!(fingerprint("r", b"v").len(), 32);
    }
}
