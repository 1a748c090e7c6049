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
    #[serde(default)]
    allow: AllowDoc,
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
    pub fail_on: Severity,
    pub allowed_rules: Vec<(String, String)>,
    pub allowed_paths: Vec<(Regex, String)>,
    pub allowed_fingerprints: Vec<(String, String)>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            name: "built-in default".into(),
            fail_on: Severity::High,
            allowed_rules: Vec::new(),
            allowed_paths: Vec::new(),
            allowed_fingerprints: Vec::new(),
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
        let _ = doc.description;
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
        let mut allowed_paths = Vec::new();
        for (i, p) in doc.allow.paths.iter().enumerate() {
            need_reason(&p.reason, format!("/allow/paths/{i}/reason"))?;
            let re = Regex::new(&p.path).map_err(|e| {
                err(
                    format!("/allow/paths/{i}/path"),
                    format!("invalid regex: {e}"),
                )
            })?;
            allowed_paths.push((re, p.reason.clone()));
        }
        Ok(Self {
            name: file.display().to_string(),
            fail_on: doc.fail_on,
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
        })
    }

    pub fn allows_rule(&self, id: &str) -> bool {
        self.allowed_rules.iter().any(|(r, _)| r == id)
    }

    pub fn allows_fingerprint(&self, fp: &str) -> bool {
        self.allowed_fingerprints.iter().any(|(f, _)| f == fp)
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
}
