//! `rharden flatten`: squash layers into one and report what was dropped.

use std::fmt::Write as _;

use rharden_flatten::{Codec, FlattenOptions, FlattenReport, OutputFormat};
use std::collections::HashSet;

use rharden_image::{Image, OpenOptions, Walk};
use rharden_scan::finding::fingerprint;
use rharden_scan::secrets::presence::PresenceSink;
use rharden_scan::secrets::rules::RuleSet;
use rharden_scan::secrets::sink::SecretSink;
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
    // The secrets proof rides on flatten's own two passes: the first reads every input layer
    // (every stored file, deleted ones too) with every rule; the second looks for the exact
    // values the first found in every byte written to the output.
    let rules =
        RuleSet::builtin().map_err(|e| CliError::new("load the built-in secret rules", e))?;
    let policy = Policy::default();
    let skip = rharden_scan::skip_paths(&policy);
    let (report, walk, written) = rharden_flatten::flatten_observed(
        &image,
        &args.image,
        &args.output,
        &options,
        |_| SecretSink::new(&rules, &skip),
        |walk| {
            PresenceSink::new(&skip, walk.sinks.iter().flat_map(|s| &s.hits))
                .map_err(rharden_image::SinkError::from)
        },
    )
    .map_err(|e| CliError::new(what(), e))?;
    let proof = secrets_proof(
        &image,
        &args,
        &rules,
        &policy,
        &walk,
        &written,
        report.layers_kept,
    )?;
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

/// The input's findings (from flatten's first pass), split by whether the output still holds
/// each secret: its value anywhere in the squashed layer's files as written (or, for a
/// sensitive file name, a file at that path), in a kept lower layer (copied byte for byte), or
/// in the output's config and history (read back from the output, scanned with every rule).
fn secrets_proof(
    input: &Image,
    args: &FlattenArgs,
    rules: &RuleSet,
    policy: &Policy,
    walk: &Walk<SecretSink<'_>>,
    written: &PresenceSink<'_>,
    layers_kept: usize,
) -> Result<SecretsProof, CliError> {
    let options = ScanOptions {
        rules,
        policy,
        fail_on: None,
        baseline: None,
        show_secrets: false,
    };
    let before = rharden_scan::report_from_walk(input, &args.image, walk, &options);
    let output = Image::open(&args.output, &OpenOptions::default())
        .map_err(|e| CliError::new("read back the output's config", e))?;
    let mut values: HashSet<Vec<u8>> = rharden_scan::config_secrets(rules, &output)
        .into_iter()
        .collect();
    values.extend(written.present().map(<[u8]>::to_vec));
    for sink in &walk.sinks[..layers_kept] {
        values.extend(sink.hits.iter().map(|h| h.secret.clone()));
    }
    // A finding's fingerprint is (rule, value); the output may match a value under another
    // rule (less context around it), so every rule's fingerprint of every value counts.
    let still: HashSet<String> = values
        .iter()
        .flat_map(|v| rules.rules.iter().map(move |r| fingerprint(&r.id, v)))
        .collect();
    let entry = |f: &rharden_scan::Finding| ProofEntry {
        rule_id: f.rule_id.clone(),
        severity: f.severity.name(),
        title: f.title.clone(),
        fingerprint: f.fingerprint.clone(),
        evidence: f.evidence.clone(),
    };
    let (remaining, removed): (Vec<_>, Vec<_>) = before
        .findings
        .iter()
        .partition(|f| still.contains(&f.fingerprint));
    Ok(SecretsProof {
        before: before.findings.len(),
        after: remaining.len(),
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
