//! Policies decide the exit code: a severity threshold, and what is allowed (rules, paths,
//! fingerprints), each with a reason. Parsed strictly: an unknown field is an error naming the
//! file and the JSON pointer.

use std::path::{Path, PathBuf};

use regex::bytes::Regex;
use serde::Deserialize;

use crate::finding::Severity;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    version: u32,
    #[serde(default)]
    description: Option<String>,
    fail_on: Severity,
    /// Analyzers to run (default: all).
    #[serde(default)]
    analyzers: Option<Vec<Analyzer>>,
    #[serde(default)]
    allow: AllowDoc,
    /// Severity per rule id, replacing the analyzer's.
    #[serde(default)]
    severity: std::collections::BTreeMap<String, Severity>,
    #[serde(default)]
    require: Option<RequireDoc>,
    #[serde(default)]
    bloat: Option<BloatDoc>,
    /// What `rharden run IMAGE --policy` takes from the policy besides its verdict.
    #[serde(default)]
    run: Option<RunDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunDoc {
    /// Start the container only with every runtime mechanism fully enforced (`--require-all`).
    #[serde(default)]
    require_all: bool,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequireDoc {
    /// The image must not run as root: the hygiene finding for it gets `severity`.
    #[serde(default)]
    non_root_user: bool,
    /// ELF protections every binary must have (`pie`, `relro`, `nx`, `canary`, `fortify`,
    /// `cet`): the findings for a missing one get `severity`.
    #[serde(default)]
    elf: Vec<ElfProtection>,
    severity: Severity,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BloatDoc {
    /// dive's efficiency score must be at least this (0..=1).
    #[serde(default)]
    min_efficiency: Option<f64>,
    #[serde(default)]
    max_wasted_bytes: Option<u64>,
    /// Wasted bytes as a percentage of all bytes stored in the layers.
    #[serde(default)]
    max_wasted_percent: Option<f64>,
    severity: Severity,
    reason: String,
}
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowDoc {
    #[serde(default)]
    rules: Vec<AllowRule>,
    #[serde(default)]
    paths: Vec<AllowPath>,
    #[serde(default)]
    fingerprints: Vec<AllowFingerprint>,
    /// Setuid/setgid files and file capabilities that are expected (`usr/bin/passwd`).
    #[serde(default)]
    setuid: Vec<AllowPath>,
    /// Any finding of one rule at matching paths.
    #[serde(default)]
    findings: Vec<AllowFinding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFinding {
    rule: String,
    /// A regex over the location's path (no leading `/` for files).
    path: String,
    reason: String,
}

/// The analyzers `scan` can run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Analyzer {
    Secrets,
    Privilege,
    Elf,
    Bloat,
    Hygiene,
}

impl Analyzer {
    pub const ALL: [Analyzer; 5] = [
        Self::Secrets,
        Self::Privilege,
        Self::Elf,
        Self::Bloat,
        Self::Hygiene,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Secrets => "secrets",
            Self::Privilege => "privilege",
            Self::Elf => "elf",
            Self::Bloat => "bloat",
            Self::Hygiene => "hygiene",
        }
    }
}

/// ELF protections a policy can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ElfProtection {
    Pie,
    Relro,
    Nx,
    Canary,
    Fortify,
    Cet,
}

impl ElfProtection {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pie => "pie",
            Self::Relro => "relro",
            Self::Nx => "nx",
            Self::Canary => "canary",
            Self::Fortify => "fortify",
            Self::Cet => "cet",
        }
    }
}

/// What a policy requires beyond the threshold, with the severity a breach gets.
#[derive(Debug, Clone)]
pub struct Requirements {
    pub non_root_user: bool,
    pub elf: Vec<ElfProtection>,
    pub severity: Severity,
    pub reason: String,
}

/// What a policy asks of `rharden run` (the runtime), beyond refusing an image that fails it.
#[derive(Debug, Clone)]
pub struct RunRequirements {
    /// Every mechanism fully enforced or the container does not start, as `--require-all`.
    pub require_all: bool,
    pub reason: String,
}

/// Limits on waste; crossing one is a finding of `severity`.
#[derive(Debug, Clone)]
pub struct BloatLimits {
    pub min_efficiency: Option<f64>,
    pub max_wasted_bytes: Option<u64>,
    pub max_wasted_percent: Option<f64>,
    pub severity: Severity,
    pub reason: String,
}
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowRule {
    id: String,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowPath {
    /// A regex over the normalised path (no leading `/`).
    path: String,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFingerprint {
    fingerprint: String,
    reason: String,
}

/// A policy that cannot be used: the file, the JSON pointer, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}{pointer}: {problem}", file.display())]
pub struct PolicyError {
    pub file: PathBuf,
    pub pointer: String,
    pub problem: String,
}

/// A compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub description: Option<String>,
    pub fail_on: Severity,
    pub analyzers: Vec<Analyzer>,
    pub allowed_rules: Vec<(String, String)>,
    pub allowed_paths: Vec<(Regex, String)>,
    pub allowed_fingerprints: Vec<(String, String)>,
    pub allowed_setuid: Vec<(Regex, String)>,
    /// (rule id, path regex, reason).
    pub allowed_findings: Vec<(String, Regex, String)>,
    pub severity: std::collections::BTreeMap<String, Severity>,
    pub require: Option<Requirements>,
    pub bloat: Option<BloatLimits>,
    pub run: Option<RunRequirements>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            name: "built-in default".into(),
            description: None,
            fail_on: Severity::High,
            analyzers: Analyzer::ALL.to_vec(),
            allowed_rules: Vec::new(),
            allowed_paths: Vec::new(),
            allowed_fingerprints: Vec::new(),
            allowed_setuid: Vec::new(),
            allowed_findings: Vec::new(),
            severity: std::collections::BTreeMap::new(),
            require: None,
            bloat: None,
            run: None,
        }
    }
}

/// `policies/default.json`, compiled into the binary so `scan` works from any directory.
pub const DEFAULT_POLICY: &str = include_str!("../../../policies/default.json");

impl Policy {
    /// The built-in default policy.
    pub fn builtin() -> Result<Self, PolicyError> {
        let mut p = Self::parse(
            Path::new("policies/default.json"),
            DEFAULT_POLICY.as_bytes(),
        )?;
        p.name = "default".into();
        Ok(p)
    }

    pub fn load(file: &Path) -> Result<Self, PolicyError> {
        let bytes = std::fs::read(file).map_err(|e| PolicyError {
            file: file.to_owned(),
            pointer: String::new(),
            problem: format!("cannot read it: {e}"),
        })?;
        Self::parse(file, &bytes)
    }

    pub fn parse(file: &Path, bytes: &[u8]) -> Result<Self, PolicyError> {
        let err = |pointer: String, problem: String| PolicyError {
            file: file.to_owned(),
            pointer,
            problem,
        };
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let doc: PolicyDoc = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            err(
                crate::secrets::rules::json_pointer(&path),
                e.into_inner().to_string(),
            )
        })?;
        if doc.version != 1 {
            return Err(err(
                "/version".into(),
                format!("unsupported version {}", doc.version),
            ));
        }
        let need_reason = |reason: &str, at: String| {
            if reason.trim().is_empty() {
                Err(err(at, "every exception needs a reason".into()))
            } else {
                Ok(())
            }
        };
        for (i, r) in doc.allow.rules.iter().enumerate() {
            need_reason(&r.reason, format!("/allow/rules/{i}/reason"))?;
        }
        for (i, f) in doc.allow.fingerprints.iter().enumerate() {
            need_reason(&f.reason, format!("/allow/fingerprints/{i}/reason"))?;
        }
        let regex = |pattern: &str, at: String| {
            Regex::new(pattern).map_err(|e| err(at, format!("invalid regex: {e}")))
        };
        let mut allowed_paths = Vec::new();
        for (i, p) in doc.allow.paths.iter().enumerate() {
            need_reason(&p.reason, format!("/allow/paths/{i}/reason"))?;
            allowed_paths.push((
                regex(&p.path, format!("/allow/paths/{i}/path"))?,
                p.reason.clone(),
            ));
        }
        let mut allowed_setuid = Vec::new();
        for (i, p) in doc.allow.setuid.iter().enumerate() {
            need_reason(&p.reason, format!("/allow/setuid/{i}/reason"))?;
            allowed_setuid.push((
                regex(&p.path, format!("/allow/setuid/{i}/path"))?,
                p.reason.clone(),
            ));
        }
        let mut allowed_findings = Vec::new();
        for (i, f) in doc.allow.findings.iter().enumerate() {
            need_reason(&f.reason, format!("/allow/findings/{i}/reason"))?;
            allowed_findings.push((
                f.rule.clone(),
                regex(&f.path, format!("/allow/findings/{i}/path"))?,
                f.reason.clone(),
            ));
        }
        let require = match doc.require {
            Some(r) => {
                need_reason(&r.reason, "/require/reason".into())?;
                Some(Requirements {
                    non_root_user: r.non_root_user,
                    elf: r.elf,
                    severity: r.severity,
                    reason: r.reason,
                })
            }
            None => None,
        };
        let run = match doc.run {
            Some(r) => {
                need_reason(&r.reason, "/run/reason".into())?;
                Some(RunRequirements {
                    require_all: r.require_all,
                    reason: r.reason,
                })
            }
            None => None,
        };
        let bloat = match doc.bloat {
            Some(b) => {
                need_reason(&b.reason, "/bloat/reason".into())?;
                if let Some(e) = b.min_efficiency {
                    if !(0.0..=1.0).contains(&e) {
                        return Err(err(
                            "/bloat/min_efficiency".into(),
                            format!("{e} is not between 0 and 1"),
                        ));
                    }
                }
                if let Some(p) = b.max_wasted_percent {
                    if !(0.0..=100.0).contains(&p) {
                        return Err(err(
                            "/bloat/max_wasted_percent".into(),
                            format!("{p} is not between 0 and 100"),
                        ));
                    }
                }
                Some(BloatLimits {
                    min_efficiency: b.min_efficiency,
                    max_wasted_bytes: b.max_wasted_bytes,
                    max_wasted_percent: b.max_wasted_percent,
                    severity: b.severity,
                    reason: b.reason,
                })
            }
            None => None,
        };
        let mut analyzers = doc.analyzers.unwrap_or_else(|| Analyzer::ALL.to_vec());
        if analyzers.is_empty() {
            return Err(err("/analyzers".into(), "no analyzer left to run".into()));
        }
        analyzers.sort();
        analyzers.dedup();
        Ok(Self {
            name: file.display().to_string(),
            description: doc.description,
            fail_on: doc.fail_on,
            analyzers,
            allowed_rules: doc
                .allow
                .rules
                .into_iter()
                .map(|r| (r.id, r.reason))
                .collect(),
            allowed_paths,
            allowed_fingerprints: doc
                .allow
                .fingerprints
                .into_iter()
                .map(|f| (f.fingerprint, f.reason))
                .collect(),
            allowed_setuid,
            allowed_findings,
            severity: doc.severity,
            require,
            bloat,
            run,
        })
    }

    pub fn allows_rule(&self, id: &str) -> bool {
        self.allowed_rules.iter().any(|(r, _)| r == id)
    }

    pub fn allows_fingerprint(&self, fp: &str) -> bool {
        self.allowed_fingerprints.iter().any(|(f, _)| f == fp)
    }

    /// The reason a finding of `rule_id` (category `category`) at `path` (relative, no
    /// leading `/`) is allowed, if it is.
    pub fn allows_at(&self, rule_id: &str, category: &str, path: &[u8]) -> Option<&str> {
        if matches!(category, "setuid" | "setgid" | "capability") {
            if let Some((_, why)) = self.allowed_setuid.iter().find(|(re, _)| re.is_match(path)) {
                return Some(why);
            }
        }
        self.allowed_findings
            .iter()
            .find(|(rule, re, _)| rule == rule_id && re.is_match(path))
            .map(|(_, _, why)| why.as_str())
    }

    /// What the policy says, one line per rule, for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("fail on {} and above", self.fail_on.name())];
        lines.push(format!(
            "analyzers: {}",
            self.analyzers
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (id, why) in &self.allowed_rules {
            lines.push(format!("allow rule {id}: {why}"));
        }
        for (re, why) in &self.allowed_paths {
            lines.push(format!("do not read files matching {}: {why}", re.as_str()));
        }
        for (fp, why) in &self.allowed_fingerprints {
            lines.push(format!("allow fingerprint {fp}: {why}"));
        }
        for (re, why) in &self.allowed_setuid {
            lines.push(format!(
                "allow setuid/setgid/capabilities at {}: {why}",
                re.as_str()
            ));
        }
        for (rule, re, why) in &self.allowed_findings {
            lines.push(format!("allow {rule} at {}: {why}", re.as_str()));
        }
        for (rule, sev) in &self.severity {
            lines.push(format!("{rule} is {}", sev.name()));
        }
        if let Some(r) = &self.require {
            if r.non_root_user {
                lines.push(format!(
                    "require a non-root user ({}): {}",
                    r.severity.name(),
                    r.reason
                ));
            }
            if !r.elf.is_empty() {
                lines.push(format!(
                    "require ELF protections {} ({}): {}",
                    r.elf
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    r.severity.name(),
                    r.reason
                ));
            }
        }
        if let Some(b) = &self.bloat {
            let mut limits = Vec::new();
            if let Some(e) = b.min_efficiency {
                limits.push(format!("efficiency ≥ {e}"));
            }
            if let Some(w) = b.max_wasted_bytes {
                limits.push(format!("wasted ≤ {w} bytes"));
            }
            if let Some(p) = b.max_wasted_percent {
                limits.push(format!("wasted ≤ {p}%"));
            }
            lines.push(format!(
                "bloat limits {} ({}): {}",
                limits.join(", "),
                b.severity.name(),
                b.reason
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_names_the_place() {
        let p = Policy::parse(Path::new("p.json"), br#"{"version":1,"fail_on":"medium","allow":{"paths":[{"path":"^usr/share/doc/","reason":"docs"}]}}"#)
            .expect("valid");
        assert_eq!(p.fail_on, Severity::Medium);
        let e = Policy::parse(
            Path::new("p.json"),
            br#"{"version":1,"fail_on":"high","allow":{"rulez":[]}}"#,
        )
        .expect_err("unknown");
        assert_eq!(e.pointer, "/allow/rulez", "{e}");
        let e = Policy::parse(
            Path::new("p.json"),
            br#"{"version":1,"fail_on":"high","allow":{"rules":[{"id":"x","reason":" "}]}}"#,
        )
        .expect_err("no reason");
        assert_eq!(e.pointer, "/allow/rules/0/reason");
        let e = Policy::parse(Path::new("p.json"), br#"{"version":1,"fail_on":"severe"}"#)
            .expect_err("bad severity");
        assert_eq!(e.pointer, "/fail_on");
    }

    #[test]
    fn analyzer_sections_parse_and_name_their_errors() {
        let p = Policy::parse(
            Path::new("p.json"),
            br#"{"version":1,"fail_on":"high","analyzers":["elf","secrets","elf"],
                "allow":{"setuid":[{"path":"^usr/bin/passwd$","reason":"users change passwords"}],
                         "findings":[{"rule":"hygiene-no-healthcheck","path":".*","reason":"batch job"}]},
                "severity":{"hygiene-root-user":"critical"},
                "require":{"non_root_user":true,"elf":["pie","nx"],"severity":"high","reason":"prod"},
                "bloat":{"min_efficiency":0.9,"max_wasted_percent":10,"severity":"medium","reason":"size"},
                "run":{"require_all":true,"reason":"production"}}"#,
        )
        .expect("valid");
        assert_eq!(p.analyzers, vec![Analyzer::Secrets, Analyzer::Elf]);
        assert_eq!(
            p.allows_at("setuid-file", "setuid", b"usr/bin/passwd"),
            Some("users change passwords")
        );
        assert_eq!(p.allows_at("setuid-file", "setuid", b"usr/bin/su"), None);
        assert_eq!(
            p.allows_at("hygiene-no-healthcheck", "hygiene", b"Healthcheck"),
            Some("batch job")
        );
        assert_eq!(p.severity["hygiene-root-user"], Severity::Critical);
        let r = p.require.as_ref().expect("require");
        assert!(r.non_root_user);
        assert_eq!(r.elf, vec![ElfProtection::Pie, ElfProtection::Nx]);
        assert_eq!(p.bloat.as_ref().and_then(|b| b.min_efficiency), Some(0.9));
        assert!(p.describe().iter().any(|l| l.contains("efficiency ≥ 0.9")));
        let run = p.run.as_ref().expect("run");
        assert!(run.require_all);
        assert_eq!(run.reason, "production");

        for (doc, pointer) in [
            (&br#"{"version":1,"fail_on":"high","analyzers":["secretz"]}"#[..], "/analyzers/0"),
            (br#"{"version":1,"fail_on":"high","analyzers":[]}"#, "/analyzers"),
            (br#"{"version":1,"fail_on":"high","allow":{"setuid":[{"path":"(","reason":"x"}]}}"#, "/allow/setuid/0/path"),
            (br#"{"version":1,"fail_on":"high","allow":{"findings":[{"rule":"r","path":"x","reason":""}]}}"#, "/allow/findings/0/reason"),
            (br#"{"version":1,"fail_on":"high","require":{"elf":["aslr"],"severity":"high","reason":"x"}}"#, "/require/elf/0"),
            (br#"{"version":1,"fail_on":"high","bloat":{"min_efficiency":1.5,"severity":"low","reason":"x"}}"#, "/bloat/min_efficiency"),
            (br#"{"version":1,"fail_on":"high","bloat":{"max_wasted_bytes":-1,"severity":"low","reason":"x"}}"#, "/bloat/max_wasted_bytes"),
            (br#"{"version":1,"fail_on":"high","severity":{"x":"severe"}}"#, "/severity/x"),
            (br#"{"version":1,"fail_on":"high","run":{"require_all":true,"reason":" "}}"#, "/run/reason"),
            (br#"{"version":1,"fail_on":"high","run":{"require_al":true,"reason":"x"}}"#, "/run/require_al"),
        ] {
            let e = Policy::parse(Path::new("p.json"), doc).expect_err("invalid");
            assert_eq!(e.pointer, pointer, "{e}");
        }
    }
}
