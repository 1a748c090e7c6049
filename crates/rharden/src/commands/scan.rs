//! `rharden scan`: the CI gate. Exit 0 when nothing reaches the threshold, 1 when the policy
//! fails, 2 on any error (reading nothing is an error, never a silent pass).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rharden_image::Image;
use rharden_scan::policy::Analyzer;
use rharden_scan::secrets::rules::RuleSet;
use rharden_scan::{
    Baseline, Finding, Policy, ScanOptions, ScanReport, Severity, Source, Status as FindingStatus,
};

use crate::args::{AnalyzerArg, ScanArgs, ScanFormat, SeverityArg};
use crate::error::CliError;
use crate::exit::Status;
use crate::printer::{ellipsize, emit, human_bytes};

fn severity(s: SeverityArg) -> Severity {
    match s {
        SeverityArg::Info => Severity::Info,
        SeverityArg::Low => Severity::Low,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::High => Severity::High,
        SeverityArg::Critical => Severity::Critical,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, renamed at the end.
/// A path that is (or links to) a device, FIFO or socket (`/dev/null`, `/dev/stdout`, a shell's
/// `>(…)`) is written to as it is: renaming over it would replace, not feed, it. A symlink to a
/// file keeps linking: its target is what gets replaced.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let what = || format!("write {}", path.display());
    let target = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(CliError::new(
                what(),
                std::io::Error::from(std::io::ErrorKind::IsADirectory),
            ))
        }
        Ok(meta) if !meta.is_file() => {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| CliError::new(what(), e))?;
            return out.write_all(bytes).map_err(|e| CliError::new(what(), e));
        }
        Ok(_) => std::fs::canonicalize(path).map_err(|e| CliError::new(what(), e))?,
        Err(_) => path.to_owned(),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| CliError::new(what(), e))?;
    tmp.write_all(bytes).map_err(|e| CliError::new(what(), e))?;
    tmp.persist(&target)
        .map_err(|e| CliError::new(what(), e.error))?;
    Ok(())
}

/// Refuses an output that is one of the inputs, or inside an input directory (an OCI layout):
/// the report would replace what it reports on (`scan img.tar -o img.tar`).
fn check_output(out: &Path, inputs: &[&Path]) -> Result<(), CliError> {
    match inputs
        .iter()
        .find(|input| rharden_flatten::writes_into(input, out))
    {
        Some(input) => Err(CliError::new(
            format!("write {}", out.display()),
            std::io::Error::other(format!(
                "it is (or is inside) the input {}: the report would replace it",
                input.display()
            )),
        )),
        None => Ok(()),
    }
}

/// Images whose layers take more than this (as stored) are scanned with one malloc heap shared
/// by every thread: their peak memory is what matters (see `rharden_sandbox::tune_malloc`).
const ONE_HEAP_FROM_BYTES: u64 = 256 << 20;

pub fn execute(args: ScanArgs) -> Result<Status, CliError> {
    let mut policy = match &args.policy {
        Some(p) => Policy::load(p).map_err(|e| CliError::new("load the policy", e))?,
        None => Policy::builtin().map_err(|e| CliError::new("load the built-in policy", e))?,
    };
    if let Some(list) = &args.analyzers {
        let mut analyzers: Vec<Analyzer> = list
            .iter()
            .map(|a| match a {
                AnalyzerArg::Secrets => Analyzer::Secrets,
                AnalyzerArg::Privilege => Analyzer::Privilege,
                AnalyzerArg::Elf => Analyzer::Elf,
                AnalyzerArg::Bloat => Analyzer::Bloat,
                AnalyzerArg::Hygiene => Analyzer::Hygiene,
            })
            .collect();
        analyzers.sort();
        analyzers.dedup();
        policy.analyzers = analyzers;
    }
    let rules = match &args.rules {
        Some(p) => RuleSet::load(p).map_err(|e| CliError::new("load the secret rules", e))?,
        None => {
            RuleSet::builtin().map_err(|e| CliError::new("load the built-in secret rules", e))?
        }
    };
    let baseline: Option<Baseline> = match &args.baseline {
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| CliError::new(format!("read the baseline {}", p.display()), e))?;
            Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| CliError::new(format!("parse the baseline {}", p.display()), e))?,
            )
        }
        None => None,
    };
    let mut inputs = vec![args.image.as_path()];
    inputs.extend(
        [&args.policy, &args.rules, &args.baseline]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path),
    );
    for out in [&args.output, &args.write_baseline].into_iter().flatten() {
        check_output(out, &inputs)?;
    }
    let what = || format!("scan {}", args.image.display());
    let mut image = Image::open(&args.image, &super::open_options(&args.selection))
        .map_err(|e| CliError::new(what(), e))?;
    // Before any thread starts. Memory and speed only: on another C library the scan runs the
    // same with its allocator's defaults.
    let stored: u64 = image.layers.iter().map(|l| l.size).sum();
    let _ = rharden_sandbox::tune_malloc(stored > ONE_HEAP_FROM_BYTES);
    crate::progress::attach(&mut image, "scanning");
    let options = ScanOptions {
        rules: &rules,
        policy: &policy,
        fail_on: args.fail_on.map(severity),
        baseline: baseline.as_ref(),
        show_secrets: args.show_secrets,
    };
    let report =
        rharden_scan::scan(&image, &args.image, &options).map_err(|e| CliError::new(what(), e))?;
    if let Some(path) = &args.write_baseline {
        let mut doc = serde_json::to_vec_pretty(&Baseline::of(&report))
            .map_err(|e| CliError::new("write the baseline", e))?;
        doc.push(b'\n');
        write_atomically(path, &doc)?;
    }
    let text = match args.format {
        ScanFormat::Json => json(&report)?,
        ScanFormat::Sarif => {
            let mut s = serde_json::to_string_pretty(&rharden_scan::sarif::to_sarif(
                &report,
                env!("CARGO_PKG_VERSION"),
            ))
            .map_err(|e| CliError::new("write SARIF", e))?;
            s.push('\n');
            s
        }
        ScanFormat::Table => table(&report),
        ScanFormat::Html => rharden_scan::html::to_html(&report, env!("CARGO_PKG_VERSION")),
        ScanFormat::Markdown => rharden_scan::markdown::to_markdown(&report),
    };
    match &args.output {
        Some(path) => write_atomically(path, text.as_bytes())?,
        None => emit(&text).map_err(|e| CliError::new("write to stdout", e))?,
    }
    let status = if report.summary.failed {
        Status::PolicyFailed
    } else {
        Status::Success
    };
    // The process ends next: freeing the report, the compiled rules and the image's indexes
    // would be work for nothing (3.5 of the 5.5 ms a Debian scan took after its output).
    std::mem::forget((report, rules, image, text));
    Ok(status)
}

fn json(report: &ScanReport) -> Result<String, CliError> {
    let mut s = serde_json::to_string_pretty(report).map_err(|e| CliError::new("write JSON", e))?;
    s.push('\n');
    Ok(s)
}

fn step(index: Option<usize>, command: Option<&str>) -> String {
    let layer = index
        .map(|i| format!("layer {i}"))
        .unwrap_or_else(|| "a layer".into());
    match command {
        Some(c) => format!(
            "{layer} `{}`",
            ellipsize(c.trim_start_matches("/bin/sh -c "), 70)
        ),
        None => layer,
    }
}

fn location_line(f: &Finding) -> Vec<String> {
    f.locations
        .iter()
        .map(|l| match l.source {
            Source::Layer => {
                let at = match l.line {
                    Some(n) => format!("{}:{n}", l.path),
                    None => l.path.clone(),
                };
                let mut s = format!(
                    "{at}  written in {}",
                    step(l.layer_index, l.created_by.as_deref())
                );
                if l.status != FindingStatus::Present {
                    let verb = match l.status {
                        FindingStatus::Deleted => "deleted",
                        FindingStatus::Overwritten => "overwritten",
                        FindingStatus::Hidden => "hidden",
                        FindingStatus::Present => "",
                    };
                    s.push_str(&format!(
                        ", {verb} in {} (still readable in the image's layers)",
                        step(l.removed_in_layer, l.removed_by.as_deref())
                    ));
                }
                s
            }
            Source::Config => format!("config {}", l.path),
            Source::History => format!(
                "build step {}: `{}`",
                l.path.trim_start_matches("history/"),
                ellipsize(
                    l.created_by
                        .as_deref()
                        .unwrap_or("")
                        .trim_start_matches("/bin/sh -c "),
                    90
                )
            ),
        })
        .collect()
}

fn table(r: &ScanReport) -> String {
    let mut out = String::new();
    let s = &r.summary;
    let _ = writeln!(
        out,
        "{} ({}, {} layers): analyzers {} ({} secret rules), policy {} (fail on {})",
        r.image,
        r.format,
        s.layers,
        r.analyzers.join(", "),
        s.rules,
        r.policy,
        s.fail_on.name()
    );
    if let (Some(e), Some(w), Some(d), Some(t)) = (
        s.efficiency,
        s.wasted_bytes,
        s.dive_wasted_bytes,
        s.total_bytes,
    ) {
        let _ = writeln!(
            out,
            "bloat: {} wasted of {} stored in layers; dive's efficiency {:.2} % (dive counts {} wasted)",
            human_bytes(w),
            human_bytes(t),
            e * 100.0,
            human_bytes(d)
        );
    }
    let _ = writeln!(out);
    for f in &r.findings {
        let _ = writeln!(
            out,
            "{:<8}  {}  {}  [{}]",
            f.severity.name().to_uppercase(),
            f.title,
            f.evidence,
            f.rule_id
        );
        for line in location_line(f) {
            let _ = writeln!(out, "          {line}");
        }
        if f.category != "secret" {
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "          fix: {}", ellipsize(fix, 160));
            }
        }
    }
    if !r.findings.is_empty() {
        let _ = writeln!(out);
    }
    let counts: Vec<String> = s
        .by_severity
        .iter()
        .rev()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let verdict = if s.failed { "FAILED" } else { "passed" };
    let _ = writeln!(
        out,
        "{} findings{}{}; {verdict} (fail on {})",
        s.findings,
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        },
        if s.suppressed + s.baselined.len() > 0 {
            format!(
                ", {} allowed by policy, {} in the baseline",
                s.suppressed,
                s.baselined.len()
            )
        } else {
            String::new()
        },
        s.fail_on.name()
    );
    for e in &s.stale_baseline {
        let _ = writeln!(
            out,
            "stale baseline entry: {} ({})",
            e.fingerprint, e.rule_id
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
