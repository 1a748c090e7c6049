//! The report as Markdown for a pull-request comment: the verdict, counts, bloat figures and
//! the findings most severe first, cut to fit a comment (GitHub allows 65,536 characters) with
//! a note saying how many were left out.

use std::fmt::Write as _;

use crate::bloat::human;
use crate::finding::{counts_by_category, Finding, Status};
use crate::scan::ScanReport;

/// The longest comment produced, in characters.
pub const MAX_CHARS: usize = 65_000;

/// Makes text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '`' => out.push('\''),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn status(f: &Finding) -> String {
    let present = f.locations.iter().any(|l| l.status == Status::Present);
    let gone = f.locations.iter().any(|l| l.status != Status::Present);
    match (present, gone) {
        (true, true) => "present (and in removed files)".into(),
        (true, false) => "present".into(),
        (false, true) => "removed by a later layer, still stored".into(),
        (false, false) => String::new(),
    }
}

fn row(f: &Finding) -> String {
    let place = f
        .locations
        .first()
        .map(|l| {
            let layer = l
                .layer_index
                .map(|i| format!(" (layer {i})"))
                .unwrap_or_default();
            format!("`{}`{layer}", cell(&shorten(&l.path, 80)))
        })
        .unwrap_or_default();
    let more = if f.locations.len() > 1 {
        format!(" +{}", f.locations.len() - 1)
    } else {
        String::new()
    };
    format!(
        "| {} | {} | {} | {}{} | {} | {} |\n",
        f.severity.name(),
        f.category,
        cell(&shorten(&f.title, 90)),
        place,
        more,
        status(f),
        cell(&shorten(f.fix.as_deref().unwrap_or(""), 120)),
    )
}

/// Renders the report as Markdown of at most [`MAX_CHARS`] characters.
pub fn to_markdown(report: &ScanReport) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let verdict = if s.failed {
        "❌ **FAIL**"
    } else {
        "✅ **PASS**"
    };
    let _ = writeln!(
        out,
        "### rharden scan: {verdict} — `{}`\n",
        cell(&report.image)
    );
    let _ = writeln!(
        out,
        "Policy `{}` fails on **{}** and above. {} finding{}; {} suppressed by the policy, {} baselined.\n",
        cell(&report.policy),
        s.fail_on.name(),
        s.findings,
        if s.findings == 1 { "" } else { "s" },
        s.suppressed,
        s.baselined.len()
    );
    let counts = counts_by_category(&report.findings);
    if !counts.is_empty() {
        out.push_str("| category | critical | high | medium | low | info |\n|---|---:|---:|---:|---:|---:|\n");
        for (cat, n) in &counts {
            let _ = writeln!(
                out,
                "| {cat} | {} | {} | {} | {} | {} |",
                n[0], n[1], n[2], n[3], n[4]
            );
        }
        out.push('\n');
    }
    if let (Some(e), Some(w), Some(d), Some(t)) = (
        s.efficiency,
        s.wasted_bytes,
        s.dive_wasted_bytes,
        s.total_bytes,
    ) {
        let _ = writeln!(
            out,
            "Bloat: efficiency {:.2} % (dive's score), {} wasted of {} stored (dive counts {}).\n",
            e * 100.0,
            human(w),
            human(t),
            human(d)
        );
    }
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    if findings.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    out.push_str(
        "| severity | category | finding | where | status | fix |\n|---|---|---|---|---|---|\n",
    );
    // Room for the closing note.
    let budget = MAX_CHARS - 200;
    let mut shown = 0;
    let mut length = out.chars().count();
    for f in &findings {
        let line = row(f);
        let n = line.chars().count();
        if length + n > budget {
            break;
        }
        out.push_str(&line);
        length += n;
        shown += 1;
    }
    if shown < findings.len() {
        let _ = writeln!(
            out,
            "\n_Cut to fit a comment: {} of {} findings shown, most severe first. The JSON, SARIF or HTML report has them all._",
            shown,
            findings.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b`c\nd<e>"), "a\\|b'c d&lt;e&gt;");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}

#[cfg(test)]
mod cut_tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::finding::Severity;
    use crate::finding::{Location, Source};
    use crate::scan::Summary;

    #[test]
    fn a_huge_report_is_cut_with_a_note() {
        let location = Location {
            source: Source::Layer,
            layer_index: Some(1),
            layer_digest: None,
            created_by: Some("RUN x".into()),
            path: "/a/very/long/path/".repeat(10),
            line: None,
            status: Status::Deleted,
            removed_in_layer: Some(2),
            removed_by: None,
        };
        let findings: Vec<Finding> = (0..5000)
            .map(|i| {
                let mut f = Finding::new(
                    "bloat-test",
                    "bloat",
                    Severity::Low,
                    format!("finding {i} with a title long enough to take room"),
                    i.to_string().as_bytes(),
                );
                f.locations.push(location.clone());
                f.fix = Some("do something about it ".repeat(4));
                f
            })
            .collect();
        let report = ScanReport {
            schema_version: 1,
            image: "img".into(),
            format: "oci-archive",
            reference: None,
            config_digest: "sha256:0".into(),
            policy: "default".into(),
            policy_rules: Vec::new(),
            analyzers: vec!["bloat"],
            summary: Summary {
                findings: findings.len(),
                by_severity: BTreeMap::new(),
                suppressed: 0,
                baselined: Vec::new(),
                stale_baseline: Vec::new(),
                fail_on: Severity::High,
                failed: false,
                layers: 3,
                rules: 0,
                by_category: BTreeMap::new(),
                efficiency: Some(0.5),
                wasted_bytes: Some(1),
                dive_wasted_bytes: Some(2),
                total_bytes: Some(3),
            },
            findings,
            layers: Vec::new(),
            bloat: None,
            warnings: Vec::new(),
        };
        let md = to_markdown(&report);
        assert!(md.chars().count() <= MAX_CHARS, "{}", md.chars().count());
        assert!(
            md.contains("of 5000 findings shown"),
            "{}",
            &md[md.len() - 300..]
        );
        assert!(md.contains("Bloat: efficiency 50.00 %"));
    }
}
