//! The audit report: one self-contained HTML file (no scripts, no external assets) that an
//! auditor opens offline — the verdict, findings by category and severity, a per-layer table
//! with an inline SVG chart of sizes and waste, and the policy used.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::bloat::human;
use crate::finding::{counts_by_category, Finding, Location, Severity, Source, Status, SEVERITIES};
use crate::scan::ScanReport;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 8px}
.meta{color:#5b6475;font-size:13px;word-break:break-all}
.verdict{border-radius:8px;padding:14px 18px;margin:16px 0;font-size:16px;font-weight:600}
.fail{background:#fde8e8;border:1px solid #e5a3a3;color:#8a1c1c}.pass{background:#e6f5ea;border:1px solid #9fd3ac;color:#1c6b32}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 12px}
th,td{border:1px solid #dde1e7;padding:5px 8px;text-align:left;vertical-align:top}th{background:#eef0f4;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef0f4;padding:1px 4px;border-radius:3px;word-break:break-all}
.sev{display:inline-block;min-width:62px;text-align:center;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}
.critical{background:#7b1fa2}.high{background:#c62828}.medium{background:#ef6c00}.low{background:#f9a825;color:#1d2330}.info{background:#78909c}
details.finding{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:6px 0;padding:6px 10px}
details.finding summary{cursor:pointer}
.fix{background:#eef6ff;border-left:3px solid #4a90d9;padding:4px 8px;margin:6px 0}
.status-present{color:#8a1c1c;font-weight:600}.status-gone{color:#5b6475}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 14px;min-width:150px}
.card b{display:block;font-size:20px}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}
"#;

fn severity_badge(s: Severity) -> String {
    format!("<span class=\"sev {0}\">{0}</span>", s.name())
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Present => "present",
        Status::Deleted => "deleted",
        Status::Overwritten => "overwritten",
        Status::Hidden => "hidden",
    }
}

fn location_html(l: &Location) -> String {
    let mut out = String::new();
    let source = match l.source {
        Source::Layer => "layer",
        Source::Config => "config",
        Source::History => "history",
    };
    let class = if l.status == Status::Present {
        "status-present"
    } else {
        "status-gone"
    };
    let _ = write!(
        out,
        "<tr><td><code>{}</code>{}</td><td>{source}{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
        escape(&l.path),
        l.line.map(|n| format!(" line {n}")).unwrap_or_default(),
        l.layer_index.map(|i| format!(" {i}")).unwrap_or_default(),
        status_word(l.status),
        l.created_by
            .as_deref()
            .map(|c| format!("<code>{}</code>", escape(c)))
            .unwrap_or_default(),
        match (l.removed_in_layer, &l.removed_by) {
            (Some(i), Some(c)) => format!("layer {i} <code>{}</code>", escape(c)),
            (Some(i), None) => format!("layer {i}"),
            _ => String::new(),
        },
    );
    out
}

fn detail_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(detail_value)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn finding_html(f: &Finding) -> String {
    let mut out = String::new();
    let first_path = f.locations.first().map(|l| l.path.as_str()).unwrap_or("");
    let _ = write!(
        out,
        "<details class=\"finding\"><summary>{} <b>{}</b> <code>{}</code> <span class=\"meta\">{} · {} location{}</span></summary>",
        severity_badge(f.severity),
        escape(&f.title),
        escape(first_path),
        escape(&f.rule_id),
        f.locations.len(),
        if f.locations.len() == 1 { "" } else { "s" },
    );
    if !f.evidence.is_empty() {
        let _ = write!(out, "<p>Evidence: <code>{}</code></p>", escape(&f.evidence));
    }
    if !f.details.is_empty() {
        out.push_str("<p>");
        for (k, v) in &f.details {
            let _ = write!(
                out,
                "<code>{}</code>: {} &nbsp; ",
                escape(k),
                escape(&detail_value(v))
            );
        }
        out.push_str("</p>");
    }
    if let Some(fix) = &f.fix {
        let _ = write!(out, "<div class=\"fix\">Fix: {}</div>", escape(fix));
    }
    if !f.locations.is_empty() {
        out.push_str(
            "<table><tr><th>where</th><th>source</th><th>status</th><th>written by</th><th>removed by</th></tr>",
        );
        for l in &f.locations {
            out.push_str(&location_html(l));
        }
        out.push_str("</table>");
    }
    let _ = write!(
        out,
        "<p class=\"meta\">fingerprint <code>{}</code></p></details>",
        escape(&f.fingerprint)
    );
    out
}

/// An SVG bar chart: one bar per layer (uncompressed size), its wasted part drawn over it.
fn layer_chart(report: &ScanReport) -> String {
    let rows = &report.layers;
    if rows.is_empty() {
        return String::new();
    }
    let max = rows
        .iter()
        .map(|r| r.uncompressed_size)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let bar = 18.0_f64;
    let gap = 6.0_f64;
    let left = 70.0_f64;
    let width = 640.0_f64;
    let height = rows.len() as f64 * (bar + gap) + 30.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"layer sizes and waste\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        left + width + 260.0,
        left + width + 260.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64 * (bar + gap) + 4.0;
        let w = (r.uncompressed_size as f64 / max * width).max(1.0);
        let wasted = r.wasted_bytes.unwrap_or(0);
        let ww = (wasted as f64 / max * width).min(w);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\">layer {idx}</text><rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar}\" fill=\"#7aa5d8\"><title>layer {idx}: {size}</title></rect>",
            ty = y + 13.0,
            idx = r.index,
            size = human(r.uncompressed_size),
        );
        if ww > 0.0 {
            let _ = write!(
                svg,
                "<rect x=\"{left}\" y=\"{y}\" width=\"{ww:.1}\" height=\"{bar}\" fill=\"#d9534f\"><title>layer {}: {} wasted</title></rect>",
                r.index,
                human(wasted)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\">{}{}</text>",
            left + w + 6.0,
            y + 13.0,
            human(r.uncompressed_size),
            if wasted > 0 {
                format!(" ({} wasted)", human(wasted))
            } else {
                String::new()
            }
        );
    }
    let ly = height - 10.0;
    let _ = write!(
        svg,
        "<rect x=\"{left}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"#7aa5d8\"/><text x=\"{}\" y=\"{ly}\">uncompressed size</text><rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"#d9534f\"/><text x=\"{}\" y=\"{ly}\">wasted (not in the final filesystem)</text></svg>",
        ly - 9.0,
        left + 16.0,
        left + 150.0,
        ly - 9.0,
        left + 166.0
    );
    svg
}

/// Where the bytes go: biggest files, package-manager leftovers, duplicates, toolchains.
fn bloat_html(b: &crate::bloat::BloatSummary) -> String {
    let mut out = String::from("<h2>Bloat</h2>");
    let _ = write!(
        out,
        "<p>{} of file bytes stored in all layers, {} in the final filesystem: <b>{} wasted</b> (stored, then deleted, overwritten or hidden). dive's efficiency score is {:.2} % and dive counts {} as wasted, because it also counts the kept version of every path written more than once.</p>",
        human(b.total_bytes),
        human(b.final_bytes),
        human(b.wasted_bytes),
        b.efficiency * 100.0,
        human(b.dive_wasted_bytes)
    );
    if !b.biggest_files.is_empty() {
        out.push_str("<h3>Biggest files</h3><table><tr><th>path</th><th class=\"num\">layer</th><th class=\"num\">size</th><th>status</th></tr>");
        for f in &b.biggest_files {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&f.path),
                f.layer,
                human(f.size),
                status_word(f.status)
            );
        }
        out.push_str("</table>");
    }
    if !b.leftovers.is_empty() {
        out.push_str("<h3>Package-manager leftovers</h3><table><tr><th>kind</th><th class=\"num\">files</th><th class=\"num\">size</th><th>layers</th></tr>");
        for l in &b.leftovers {
            let _ =
                write!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(l.kind),
                l.files,
                human(l.bytes),
                l.layers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        out.push_str("</table>");
    }
    if !b.toolchains.is_empty() {
        out.push_str("<h3>Build toolchains</h3><table><tr><th>toolchain</th><th class=\"num\">files</th><th class=\"num\">size</th></tr>");
        for t in &b.toolchains {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(t.name),
                t.files,
                human(t.bytes)
            );
        }
        out.push_str("</table>");
    }
    if !b.duplicates.is_empty() {
        let _ = write!(
            out,
            "<h3>Duplicated content ({} in all)</h3><table><tr><th>paths</th><th class=\"num\">size</th><th class=\"num\">wasted</th></tr>",
            human(b.duplicate_wasted_bytes)
        );
        for d in b.duplicates.iter().take(50) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                d.paths
                    .iter()
                    .map(|p| format!("<code>{}</code>", escape(p)))
                    .collect::<Vec<_>>()
                    .join(" "),
                human(d.size),
                human(d.wasted_bytes)
            );
        }
        out.push_str("</table>");
    }
    out
}

/// Renders the whole report as one HTML document.
pub fn to_html(report: &ScanReport, tool_version: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>rharden audit: {}</title><style>{STYLE}</style></head><body><main>",
        escape(&report.image)
    );
    let _ = write!(
        out,
        "<h1>rharden audit report</h1><div class=\"meta\">image <code>{}</code> · {} · config <code>{}</code>{} · rharden {} · analyzers: {}</div>",
        escape(&report.image),
        escape(report.format),
        escape(&report.config_digest),
        report
            .reference
            .as_deref()
            .map(|r| format!(" · reference <code>{}</code>", escape(r)))
            .unwrap_or_default(),
        escape(tool_version),
        escape(&report.analyzers.join(", ")),
    );
    let s = &report.summary;
    let at_or_above = report
        .findings
        .iter()
        .filter(|f| f.severity >= s.fail_on)
        .count();
    if s.failed {
        let _ = write!(
            out,
            "<div class=\"verdict fail\">FAIL — {at_or_above} finding{} at or above {} (policy: {})</div>",
            if at_or_above == 1 { "" } else { "s" },
            s.fail_on.name(),
            escape(&report.policy)
        );
    } else {
        let _ = write!(
            out,
            "<div class=\"verdict pass\">PASS — no finding at or above {} (policy: {}); {} finding{} below it</div>",
            s.fail_on.name(),
            escape(&report.policy),
            s.findings,
            if s.findings == 1 { "" } else { "s" }
        );
    }

    // Counts: category × severity.
    out.push_str("<h2>Findings by category and severity</h2>");
    let counts = counts_by_category(&report.findings);
    out.push_str("<table><tr><th>category</th>");
    for sev in SEVERITIES {
        let _ = write!(out, "<th class=\"num\">{}</th>", severity_badge(sev));
    }
    out.push_str("<th class=\"num\">total</th></tr>");
    for (cat, row) in &counts {
        let _ = write!(out, "<tr><td>{}</td>", escape(cat));
        for n in row {
            let _ = write!(out, "<td class=\"num\">{n}</td>");
        }
        let _ = write!(
            out,
            "<td class=\"num\">{}</td></tr>",
            row.iter().sum::<usize>()
        );
    }
    if counts.is_empty() {
        out.push_str("<tr><td colspan=\"7\">no findings</td></tr>");
    }
    out.push_str("</table>");
    let _ = write!(
        out,
        "<p class=\"meta\">{} suppressed by the policy, {} in the baseline, {} stale baseline entries.</p>",
        s.suppressed,
        s.baselined.len(),
        s.stale_baseline.len()
    );

    // Layers.
    out.push_str("<h2>Layers</h2><div class=\"cards\">");
    let total_blob: u64 = report.layers.iter().map(|l| l.size).sum();
    let total_raw: u64 = report.layers.iter().map(|l| l.uncompressed_size).sum();
    let _ = write!(
        out,
        "<div class=\"card\">layers<b>{}</b></div><div class=\"card\">stored<b>{}</b></div><div class=\"card\">uncompressed<b>{}</b></div>",
        report.layers.len(),
        human(total_blob),
        human(total_raw)
    );
    if let Some(e) = s.efficiency {
        let _ = write!(
            out,
            "<div class=\"card\">efficiency (dive)<b>{:.2} %</b></div>",
            e * 100.0
        );
    }
    if let Some(w) = s.wasted_bytes {
        let _ = write!(out, "<div class=\"card\">wasted<b>{}</b></div>", human(w));
    }
    if let Some(w) = s.dive_wasted_bytes {
        let _ = write!(
            out,
            "<div class=\"card\">dive's wasted count<b>{}</b></div>",
            human(w)
        );
    }
    out.push_str("</div>");
    out.push_str(&layer_chart(report));
    out.push_str("<table><tr><th class=\"num\">#</th><th>step</th><th class=\"num\">stored</th><th class=\"num\">uncompressed</th><th class=\"num\">wasted</th><th>digest</th></tr>");
    for l in &report.layers {
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code title=\"{}\">{}…</code></td></tr>",
            l.index,
            escape(l.created_by.as_deref().unwrap_or("(unknown step)")),
            human(l.size),
            human(l.uncompressed_size),
            l.wasted_bytes.map(human).unwrap_or_else(|| "—".into()),
            escape(&l.digest),
            escape(l.digest.get(..19).unwrap_or(&l.digest)),
        );
    }
    out.push_str("</table>");

    if let Some(b) = &report.bloat {
        out.push_str(&bloat_html(b));
    }

    // Findings, by category, most severe first.
    out.push_str("<h2>Findings</h2>");
    let mut by_cat: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        by_cat.entry(f.category).or_default().push(f);
    }
    if by_cat.is_empty() {
        out.push_str("<p>No findings.</p>");
    }
    for (cat, mut list) in by_cat {
        list.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let _ = write!(out, "<h3>{} ({})</h3>", escape(cat), list.len());
        for f in list {
            out.push_str(&finding_html(f));
        }
    }

    // The policy and anything odd.
    let _ = write!(out, "<h2>Policy: {}</h2><ul>", escape(&report.policy));
    for line in &report.policy_rules {
        let _ = write!(out, "<li>{}</li>", escape(line));
    }
    out.push_str("</ul>");
    if !report.warnings.is_empty() {
        out.push_str("<h2>Warnings</h2><ul>");
        for w in &report.warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul>");
    }
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_controls() {
        assert_eq!(
            escape("<script>\"x\" & 'y'\u{1b}</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;\u{fffd}&lt;/script&gt;"
        );
    }
}
