//! `rharden flatten`: squash layers into one and report what was dropped.

use std::fmt::Write as _;

use rharden_flatten::{Codec, FlattenOptions, FlattenReport, OutputFormat};
use rharden_image::{Image, OpenOptions};
use rharden_scan::secrets::rules::RuleSet;
use rharden_scan::{Policy, ScanOptions};
use serde::Serialize;

use crate::args::{CompressionArg, FlattenArgs, ImageLayoutArg};
use crate::error::CliError;
use crate::exit::Status;
use crate::printer::{emit, human_bytes};

pub fn execute(args: FlattenArgs) -> Result<Status, CliError> {
    let what = || format!("flatten {}", args.image.display());
    let mut image = Image::open(&args.image, &super::open_options(&args.selection))
        .map_err(|e| CliError::new(what(), e))?;
    crate::progress::attach(&mut image, "flattening");
    let options = FlattenOptions {
        format: args.format.map(|f| match f {
            ImageLayoutArg::DockerArchive => OutputFormat::DockerArchive,
            ImageLayoutArg::Oci => OutputFormat::Oci,
            ImageLayoutArg::OciDir => OutputFormat::OciDir,
        }),
        compression: args.compression.map(|c| match c {
            CompressionArg::Gzip => Codec::Gzip,
            CompressionArg::Zstd => Codec::Zstd,
            CompressionArg::None => Codec::None,
        }),
        from_layer: args.from_layer,
        tag: args.tag.clone(),
        keep_history: args.keep_history,
        force: args.force,
    };
    let report = rharden_flatten::flatten(&image, &args.image, &args.output, &options)
        .map_err(|e| CliError::new(what(), e))?;
    let proof = secrets_proof(&image, &args)?;
    let text = if args.json {
        let doc = Proofed {
            report: &report,
            secrets: &proof,
        };
        let mut s =
            serde_json::to_string_pretty(&doc).map_err(|e| CliError::new("write JSON", e))?;
        s.push('\n');
        s
    } else {
        let mut t = table(&report);
        let _ = writeln!(
            t,
            "secrets   {} findings before, {} after: {} removed",
            proof.before,
            proof.after,
            proof.removed.len()
        );
        for f in &proof.removed {
            let _ = writeln!(
                t,
                "          removed  {:<8} {} {} [{}]",
                f.severity, f.title, f.evidence, f.rule_id
            );
        }
        for f in &proof.remaining {
            let _ = writeln!(
                t,
                "          REMAINS  {:<8} {} {} [{}] (in the config or the final filesystem)",
                f.severity, f.title, f.evidence, f.rule_id
            );
        }
        t
    };
    emit(&text).map_err(|e| CliError::new("write to stdout", e))?;
    Ok(Status::Success)
}

#[derive(Serialize)]
struct Proofed<'a> {
    #[serde(flatten)]
    report: &'a FlattenReport,
    secrets: &'a SecretsProof,
}

/// The secret findings of the input, split by whether the output still has them.
#[derive(Serialize)]
struct SecretsProof {
    before: usize,
    after: usize,
    removed: Vec<ProofEntry>,
    remaining: Vec<ProofEntry>,
}

#[derive(Serialize)]
struct ProofEntry {
    rule_id: String,
    severity: &'static str,
    title: String,
    fingerprint: String,
    evidence: String,
}

/// Scans input and output with the built-in rules: the proof that deleted secrets are gone.
fn secrets_proof(input: &Image, args: &FlattenArgs) -> Result<SecretsProof, CliError> {
    let rules =
        RuleSet::builtin().map_err(|e| CliError::new("load the built-in secret rules", e))?;
    let policy = Policy::default();
    let options = ScanOptions {
        rules: &rules,
        policy: &policy,
        fail_on: None,
        baseline: None,
        show_secrets: false,
    };
    let before = rharden_scan::scan(input, &args.image, &options)
        .map_err(|e| CliError::new("scan the input for the proof", e))?;
    let output = Image::open(&args.output, &OpenOptions::default())
        .map_err(|e| CliError::new("read back the output", e))?;
    let after = rharden_scan::scan(&output, &args.output, &options)
        .map_err(|e| CliError::new("scan the output for the proof", e))?;
    let entry = |f: &rharden_scan::Finding| ProofEntry {
        rule_id: f.rule_id.clone(),
        severity: f.severity.name(),
        title: f.title.clone(),
        fingerprint: f.fingerprint.clone(),
        evidence: f.evidence.clone(),
    };
    let still: std::collections::HashSet<&str> = after
        .findings
        .iter()
        .map(|f| f.fingerprint.as_str())
        .collect();
    let (remaining, removed): (Vec<_>, Vec<_>) = before
        .findings
        .iter()
        .partition(|f| still.contains(f.fingerprint.as_str()));
    Ok(SecretsProof {
        before: before.findings.len(),
        after: after.findings.len(),
        removed: removed.into_iter().map(entry).collect(),
        remaining: remaining.into_iter().map(entry).collect(),
    })
}

fn table(r: &FlattenReport) -> String {
    let mut out = String::new();
    let format = serde_json::to_value(r.format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "wrote     {} ({format}, layer {})",
        r.output.display(),
        r.compression.name()
    );
    let _ = writeln!(
        out,
        "layers    {} in: {} kept, {} squashed into {}",
        r.layers_in,
        r.layers_kept,
        r.layers_squashed,
        r.layer_digest.short()
    );
    let _ = writeln!(
        out,
        "layer     {} entries, {} stored, {} uncompressed",
        r.entries,
        human_bytes(r.layer_size),
        human_bytes(r.uncompressed_size)
    );
    let _ = writeln!(
        out,
        "dropped   {} deleted/overwritten/hidden entries ({}) and {} history commands",
        r.dropped_entries,
        human_bytes(r.dropped_bytes),
        r.history_commands_dropped
    );
    out
}
