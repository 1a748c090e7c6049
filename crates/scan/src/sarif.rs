//! SARIF 2.1.0 output (OASIS, <https://docs.oasis-open.org/sarif/sarif/v2.1.0/>): one run, the
//! rules that fired, one result per finding with every location; files as physical locations
//! (`layer/<n>/<path>`), config keys and build steps as logical ones.

use serde_json::{json, Value};

use crate::finding::{Finding, Severity, Source};
use crate::scan::ScanReport;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning reads this property to rank security results (0.0 to 10.0).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// Percent-encodes a path for a SARIF `uri` (an RFC 3986 URI reference).
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.trim_start_matches('/').as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn message(f: &Finding) -> String {
    let mut where_ = Vec::new();
    for l in &f.locations {
        let mut s = match l.source {
            Source::Layer => format!("{} in layer {}", l.path, l.layer_index.unwrap_or(0)),
            Source::Config => format!("config {}", l.path),
            Source::History => format!("build step {}", l.path.trim_start_matches("history/")),
        };
        if let Some(by) = l.removed_in_layer {
            s.push_str(
                &format!(
                    " ({:?} by layer {by}, still in the image's layers)",
                    l.status
                )
                .to_lowercase(),
            );
        }
        where_.push(s);
    }
    let evidence = if f.evidence.is_empty() {
        String::new()
    } else {
        format!(" ({})", f.evidence)
    };
    let fix = f
        .fix
        .as_deref()
        .map(|x| format!(" Fix: {x}"))
        .unwrap_or_default();
    format!("{}{evidence} found: {}.{fix}", f.title, where_.join("; "))
}

/// The SARIF log of a scan.
pub fn to_sarif(report: &ScanReport, version: &str) -> Value {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            let f = report.findings.iter().find(|f| f.rule_id == *id).map(|f| (f.title.as_str(), f.severity, f.category));
            let (title, severity, category) = f.unwrap_or(("", Severity::Info, "secret"));
            json!({
                "id": id,
                "shortDescription": {"text": title},
                "defaultConfiguration": {"level": level(severity)},
                "properties": {"security-severity": security_severity(severity), "tags": ["security", category]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let locations: Vec<Value> = f
                .locations
                .iter()
                .map(|l| match l.source {
                    Source::Layer => {
                        let mut physical = json!({
                            "artifactLocation": {"uri": format!("layer/{}/{}", l.layer_index.unwrap_or(0), uri_path(&l.path))},
                        });
                        if let Some(line) = l.line {
                            physical["region"] = json!({"startLine": line});
                        }
                        json!({"physicalLocation": physical})
                    }
                    Source::Config | Source::History => json!({
                        "logicalLocations": [{"name": l.path, "fullyQualifiedName": format!("image/{}", l.path), "kind": "object"}],
                    }),
                })
                .collect();
            json!({
                "ruleId": f.rule_id,
                "ruleIndex": rule_ids.iter().position(|id| *id == f.rule_id).unwrap_or(0),
                "level": level(f.severity),
                "message": {"text": message(f)},
                "locations": locations,
                "partialFingerprints": {"rharden/v1": f.fingerprint},
                "properties": {"category": f.category, "severity": f.severity.name(), "details": f.details},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "rharden", "version": version, "rules": rules}},
            "results": results,
            "properties": {"image": report.image, "format": report.format},
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri_path("/root/.aws/credentials"), "root/.aws/credentials");
        assert_eq!(uri_path("/a b/ü"), "a%20b/%C3%BC");
    }
}
