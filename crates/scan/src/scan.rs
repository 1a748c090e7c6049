//! `scan`: one walk of the image through the secrets sink, the config and history scanned as
//! text, hits merged into findings (one per rule and secret) with their fates, and the policy
//! applied.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use regex::bytes::Regex;
use rharden_image::{EntryKind, Fate, Image, ImageError, Walk};
use serde::Serialize;

use crate::analysis::Context;
use crate::bloat::{ContentHashSink, SeenFiles};
use crate::elf::ElfSink;
use crate::finding::{fingerprint, redact, Finding, Location, Severity, Source, Status};
use crate::image_sink::ImageSink;
use crate::policy::{Analyzer, ElfProtection, Policy};
use crate::privilege::AccountsSink;
use crate::secrets::rules::RuleSet;
use crate::secrets::sink::SecretSink;

/// What to scan with.
#[derive(Debug)]
pub struct ScanOptions<'a> {
    pub rules: &'a RuleSet,
    pub policy: &'a Policy,
    /// Overrides the policy's threshold.
    pub fail_on: Option<Severity>,
    /// Fingerprints accepted earlier (`--baseline`): not reported; the ones no longer seen are stale.
    pub baseline: Option<&'a Baseline>,
    /// Show secret values in full (evidence and build commands); redacted by default.
    pub show_secrets: bool,
}

/// Fingerprints recorded by `--write-baseline`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    pub fingerprints: Vec<BaselineEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    pub fingerprint: String,
    pub rule_id: String,
}

impl Baseline {
    /// The baseline of a report: every finding's fingerprint.
    pub fn of(report: &ScanReport) -> Self {
        let mut fingerprints: Vec<BaselineEntry> = report
            .findings
            .iter()
            .map(|f| BaselineEntry {
                fingerprint: f.fingerprint.clone(),
                rule_id: f.rule_id.clone(),
            })
            .chain(report.summary.baselined.iter().cloned())
            .collect();
        fingerprints.sort();
        fingerprints.dedup();
        Self {
            version: 1,
            fingerprints,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("failed to read the image")]
    Image(#[from] ImageError),
    #[error("the image has no layers: there is nothing to scan")]
    NoLayers,
}

/// Counts and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub by_severity: BTreeMap<&'static str, usize>,
    /// Findings the policy allowed (by rule or fingerprint).
    pub suppressed: usize,
    /// Findings in the baseline, not reported.
    pub baselined: Vec<BaselineEntry>,
    /// Baseline entries not seen any more.
    pub stale_baseline: Vec<BaselineEntry>,
    pub fail_on: Severity,
    /// Whether any finding is at or above `fail_on`: the exit code is 1.
    pub failed: bool,
    pub layers: usize,
    pub rules: usize,
    /// Findings per category (`secret`, `setuid`, `elf`, `bloat`, `hygiene`, …).
    pub by_category: BTreeMap<&'static str, usize>,
    /// dive's efficiency score (bloat analyzer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<f64>,
    /// Bytes stored in layers that are not in the final filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasted_bytes: Option<u64>,
    /// dive's count, which includes every version of a path written more than once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dive_wasted_bytes: Option<u64>,
    /// All file bytes stored in all layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

/// One layer, for the per-layer table of the reports.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    pub index: usize,
    pub digest: String,
    /// The build step, redacted of every secret found.
    pub created_by: Option<String>,
    /// The blob as stored.
    pub size: u64,
    pub uncompressed_size: u64,
    /// Bytes this layer stores that the final filesystem does not have (bloat analyzer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasted_bytes: Option<u64>,
}

/// The result of a scan.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// The JSON schema's version (README, "scan JSON").
    pub schema_version: u32,
    pub image: String,
    pub format: &'static str,
    pub reference: Option<String>,
    pub config_digest: String,
    pub policy: String,
    /// The policy's rules in words.
    pub policy_rules: Vec<String>,
    /// The analyzers that ran.
    pub analyzers: Vec<&'static str>,
    pub findings: Vec<Finding>,
    pub layers: Vec<LayerRow>,
    /// The bloat analyzer's full figures (biggest files, leftovers, duplicates, toolchains).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bloat: Option<crate::bloat::BloatSummary>,
    pub summary: Summary,
    pub warnings: Vec<String>,
}

struct RawHit {
    rule: usize,
    secret: Vec<u8>,
    location: Location,
}

use crate::analysis::status_of;

/// Scans `image` (opened from `path`) for secrets.
pub fn scan(
    image: &Image,
    path: &Path,
    options: &ScanOptions<'_>,
) -> Result<ScanReport, ScanError> {
    if image.layers.is_empty() {
        return Err(ScanError::NoLayers);
    }
    let on = |a: Analyzer| options.policy.analyzers.contains(&a);
    let skip = skip_paths(options.policy);
    // The analyzers read most of the content: each layer's sink runs beside its reader, on a
    // thread of its own. The content hashes (bloat's duplicates) are taken on the reading
    // thread, which has the lighter load: the analysis thread of a big layer is the longest.
    let seen_files = SeenFiles::new();
    let walk = image.walk_pipelined_beside(|_| {
        (
            on(Analyzer::Bloat).then(|| ContentHashSink::new(&seen_files)),
            ImageSink::new(
                on(Analyzer::Secrets).then(|| SecretSink::new(options.rules, &skip)),
                on(Analyzer::Privilege).then(AccountsSink::new),
                on(Analyzer::Elf).then(ElfSink::new),
                None,
            ),
        )
    })?;
    let walk = walk.map_sinks(|(hashes, mut sink)| {
        sink.hashes = hashes;
        sink
    });
    let ctx = Context {
        image,
        layers: &walk.layers,
        files: &walk.files,
    };
    // The analyzers of the whole image run side by side: after the walk, one core would idle.
    let ((privilege, elf), (bloat, hygiene)) = rayon::join(
        || {
            rayon::join(
                || {
                    on(Analyzer::Privilege).then(|| {
                        let sinks: Vec<&AccountsSink> = walk
                            .sinks
                            .iter()
                            .filter_map(|s| s.accounts.as_ref())
                            .collect();
                        crate::privilege::findings(&ctx, &sinks)
                    })
                },
                || {
                    on(Analyzer::Elf).then(|| {
                        let sinks: Vec<&ElfSink> =
                            walk.sinks.iter().filter_map(|s| s.elf.as_ref()).collect();
                        crate::elf::findings(&ctx, &sinks)
                    })
                },
            )
        },
        || {
            rayon::join(
                || {
                    on(Analyzer::Bloat).then(|| {
                        let sinks: Vec<&ContentHashSink<'_>> = walk
                            .sinks
                            .iter()
                            .filter_map(|s| s.hashes.as_ref())
                            .collect();
                        crate::bloat::analyze(&ctx, &sinks)
                    })
                },
                || on(Analyzer::Hygiene).then(|| crate::hygiene::findings(&ctx)),
            )
        },
    );
    let mut analyzed = Analyzed::default();
    if let Some(findings) = privilege {
        analyzed.findings.extend(findings);
        analyzed.names.push(Analyzer::Privilege.name());
    }
    if let Some(findings) = elf {
        analyzed.findings.extend(findings);
        analyzed.names.push(Analyzer::Elf.name());
    }
    if let Some((findings, summary)) = bloat {
        analyzed.findings.extend(findings);
        analyzed.bloat = Some(summary);
        analyzed.names.push(Analyzer::Bloat.name());
    }
    if let Some(findings) = hygiene {
        analyzed.findings.extend(findings);
        analyzed.names.push(Analyzer::Hygiene.name());
    }
    let secret_sinks: Option<Vec<&SecretSink<'_>>> = on(Analyzer::Secrets).then(|| {
        walk.sinks
            .iter()
            .filter_map(|s| s.secrets.as_ref())
            .collect()
    });
    let walked = Walked {
        layers: &walk.layers,
        files: &walk.files,
        warnings: &walk.warnings,
    };
    Ok(build(
        image,
        path,
        &walked,
        secret_sinks.as_deref(),
        analyzed,
        options,
    ))
}

/// The files a policy allows: the secrets sink does not read them.
pub fn skip_paths(policy: &Policy) -> Vec<Regex> {
    policy
        .allowed_paths
        .iter()
        .map(|(r, _)| r.clone())
        .collect()
}

/// The config's and history's texts that can hold secrets: (source, key, text, layer).
fn config_texts(image: &Image) -> Vec<(Source, String, String, Option<usize>)> {
    let config = &image.config.config;
    let mut texts: Vec<(Source, String, String, Option<usize>)> = Vec::new();
    for kv in config.env.iter().flatten() {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        texts.push((Source::Config, format!("Env/{key}"), kv.clone(), None));
    }
    for (k, v) in config.labels.iter().flatten() {
        texts.push((
            Source::Config,
            format!("Labels/{k}"),
            format!("{k}={v}"),
            None,
        ));
    }
    for (name, args) in [("Entrypoint", &config.entrypoint), ("Cmd", &config.cmd)] {
        if let Some(args) = args {
            texts.push((Source::Config, name.to_owned(), args.join(" "), None));
        }
    }
    if let Some(test) = config.healthcheck.as_ref().and_then(|h| h.test.as_ref()) {
        texts.push((
            Source::Config,
            "Healthcheck".to_owned(),
            test.join(" "),
            None,
        ));
    }
    let layer_of_step: HashMap<usize, usize> = image
        .layers
        .iter()
        .filter_map(|l| l.history.as_ref().map(|h| (h.index, l.index)))
        .collect();
    for (i, h) in image.config.history.iter().enumerate() {
        if let Some(cmd) = &h.created_by {
            texts.push((
                Source::History,
                format!("history/{i}"),
                cmd.clone(),
                layer_of_step.get(&i).copied(),
            ));
        }
    }
    texts
}

/// Every secret value the rules find in the image's config and history (no layer is read).
pub fn config_secrets(rules: &RuleSet, image: &Image) -> Vec<Vec<u8>> {
    config_texts(image)
        .into_iter()
        .flat_map(|(_, _, text, _)| rules.scan(text.as_bytes()).into_iter().map(|m| m.secret))
        .collect()
}

/// The report of a walk already made with a [`SecretSink`] per layer (by [`scan`], or by a
/// command that reads the layers for its own purpose, like flatten).
pub fn report_from_walk(
    image: &Image,
    path: &Path,
    walk: &Walk<SecretSink<'_>>,
    options: &ScanOptions<'_>,
) -> ScanReport {
    let sinks: Vec<&SecretSink<'_>> = walk.sinks.iter().collect();
    let walked = Walked {
        layers: &walk.layers,
        files: &walk.files,
        warnings: &walk.warnings,
    };
    build(
        image,
        path,
        &walked,
        Some(&sinks),
        Analyzed::default(),
        options,
    )
}

/// What the walk left, whatever the sinks were.
struct Walked<'w> {
    layers: &'w [rharden_image::LayerReport],
    files: &'w rharden_image::FileIndex,
    warnings: &'w [rharden_image::Warning],
}

/// The other analyzers' results, before the policy.
#[derive(Debug, Default)]
struct Analyzed {
    names: Vec<&'static str>,
    findings: Vec<Finding>,
    bloat: Option<crate::bloat::BloatSummary>,
}

/// The report: secret hits merged into findings, every finding put through the policy and
/// the baseline, every build command shown redacted.
fn build(
    image: &Image,
    path: &Path,
    walk: &Walked<'_>,
    secret_sinks: Option<&[&SecretSink<'_>]>,
    analyzed: Analyzed,
    options: &ScanOptions<'_>,
) -> ScanReport {
    let rules = options.rules;
    let mut hits: Vec<RawHit> = Vec::new();

    for (l, sink) in secret_sinks.unwrap_or_default().iter().enumerate() {
        if sink.hits.is_empty() {
            continue;
        }
        // Fates of this layer's files, for the paths that had hits.
        let fates: HashMap<&[u8], Fate> = walk.files.layers[l]
            .iter()
            .filter(|r| r.kind == EntryKind::File)
            .map(|r| (&r.path[..], r.fate))
            .collect();
        for hit in &sink.hits {
            let fate = fates.get(&hit.path[..]).copied().unwrap_or(Fate::Present);
            let by = fate.by_layer();
            hits.push(RawHit {
                rule: hit.rule,
                secret: hit.secret.clone(),
                location: Location {
                    source: Source::Layer,
                    layer_index: Some(l),
                    layer_digest: Some(walk.layers[l].digest.to_string()),
                    created_by: image.layers[l].created_by().map(str::to_owned),
                    path: format!("/{}", String::from_utf8_lossy(&hit.path)),
                    line: hit.line,
                    status: status_of(fate),
                    removed_in_layer: by,
                    removed_by: by
                        .and_then(|b| image.layers[b].created_by())
                        .map(str::to_owned),
                },
            });
        }
    }

    // The config and the build commands, as text.
    let texts = if secret_sinks.is_some() {
        config_texts(image)
    } else {
        Vec::new()
    };
    for (source, key, text, layer) in texts {
        for m in rules.scan(text.as_bytes()) {
            let line = text.as_bytes()[..m.start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64
                + 1;
            hits.push(RawHit {
                rule: m.rule,
                secret: m.secret,
                location: Location {
                    source,
                    layer_index: layer,
                    layer_digest: layer.map(|l| walk.layers[l].digest.to_string()),
                    created_by: if source == Source::History {
                        Some(text.clone())
                    } else {
                        None
                    },
                    path: key.clone(),
                    line: Some(line),
                    status: Status::Present,
                    removed_in_layer: None,
                    removed_by: None,
                },
            });
        }
    }

    // One secret matched by several rules is reported once, under the most severe (then the
    // first) rule: a GitHub token in `TOKEN=…` is a GitHub token, not a generic assignment.
    let mut best: HashMap<&[u8], usize> = HashMap::new();
    for h in &hits {
        let e = best.entry(&h.secret[..]).or_insert(h.rule);
        let (cur, new) = (&rules.rules[*e], &rules.rules[h.rule]);
        if new.severity > cur.severity || (new.severity == cur.severity && h.rule < *e) {
            *e = h.rule;
        }
    }
    let mut grouped: BTreeMap<(usize, Vec<u8>), Vec<Location>> = BTreeMap::new();
    for h in &hits {
        if best.get(&h.secret[..]) == Some(&h.rule) {
            grouped
                .entry((h.rule, h.secret.clone()))
                .or_default()
                .push(h.location.clone());
        }
    }
    // Secrets also sit inside build commands (`RUN printf 'aws_secret_access_key = …'`): every
    // command shown is redacted of every secret found, unless asked to show them.
    let mut secrets: Vec<&[u8]> = hits
        .iter()
        .filter(|h| rules.rules[h.rule].kind == crate::secrets::rules::RuleKind::Content)
        .map(|h| &h.secret[..])
        .filter(|s| s.len() >= 4)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let scrub_text = |t: &mut String| {
        for s in &secrets {
            let needle = String::from_utf8_lossy(s);
            if t.contains(needle.as_ref()) {
                *t = t.replace(needle.as_ref(), &redact(s));
            }
        }
    };
    let scrub = |text: &mut Option<String>| {
        if let Some(t) = text {
            scrub_text(t);
        }
    };
    let mut findings = Vec::new();
    let mut suppressed = 0;
    let mut baselined = Vec::new();
    let mut seen_fingerprints = std::collections::HashSet::new();
    for ((rule, secret), mut locations) in grouped {
        let r = &rules.rules[rule];
        let fp = fingerprint(&r.id, &secret);
        seen_fingerprints.insert(fp.clone());
        if options.policy.allows_rule(&r.id) || options.policy.allows_fingerprint(&fp) {
            suppressed += 1;
            continue;
        }
        if options
            .baseline
            .is_some_and(|b| b.fingerprints.iter().any(|e| e.fingerprint == fp))
        {
            baselined.push(BaselineEntry {
                fingerprint: fp,
                rule_id: r.id.clone(),
            });
            continue;
        }
        if !options.show_secrets {
            for l in &mut locations {
                scrub(&mut l.created_by);
                scrub(&mut l.removed_by);
            }
        }
        locations.sort();
        locations.dedup();
        findings.push(Finding {
            rule_id: r.id.clone(),
            category: "secret",
            severity: options
                .policy
                .severity
                .get(&r.id)
                .copied()
                .unwrap_or(r.severity),
            title: r.title.clone(),
            fingerprint: fp,
            // A path rule's "secret" is the file's path: nothing to hide.
            evidence: if options.show_secrets || r.kind == crate::secrets::rules::RuleKind::Path {
                String::from_utf8_lossy(&secret).into_owned()
            } else {
                redact(&secret)
            },
            fix: Some(secret_fix(&locations)),
            locations,
            related: Vec::new(),
            details: serde_json::Map::new(),
        });
    }
    pair_up(&mut findings);
    let mut analyzed = analyzed;
    if let (Some(limits), Some(b)) = (&options.policy.bloat, &analyzed.bloat) {
        analyzed.findings.extend(bloat_limit_finding(limits, b));
    }
    if !options.show_secrets {
        // Other analyzers quote build steps (in locations, fixes and details): no secret the
        // secrets analyzer found may show through them.
        for f in &mut analyzed.findings {
            scrub_text(&mut f.title);
            scrub_text(&mut f.evidence);
            scrub(&mut f.fix);
            for v in f.details.values_mut() {
                scrub_json(v, &scrub_text);
            }
        }
        if let Some(b) = &mut analyzed.bloat {
            for l in &mut b.layers {
                scrub(&mut l.created_by);
            }
        }
    }
    for mut f in analyzed.findings {
        seen_fingerprints.insert(f.fingerprint.clone());
        let at = f
            .locations
            .first()
            .map(|l| l.path.trim_start_matches('/').as_bytes().to_vec())
            .unwrap_or_default();
        if options.policy.allows_rule(&f.rule_id)
            || options.policy.allows_fingerprint(&f.fingerprint)
            || options
                .policy
                .allows_at(&f.rule_id, f.category, &at)
                .is_some()
        {
            suppressed += 1;
            continue;
        }
        if options.baseline.is_some_and(|b| {
            b.fingerprints
                .iter()
                .any(|e| e.fingerprint == f.fingerprint)
        }) {
            baselined.push(BaselineEntry {
                fingerprint: f.fingerprint,
                rule_id: f.rule_id,
            });
            continue;
        }
        if let Some(sev) = required_severity(options.policy, &f) {
            f.severity = f.severity.max(sev);
        }
        if let Some(&sev) = options.policy.severity.get(&f.rule_id) {
            f.severity = sev;
        }
        if !options.show_secrets {
            for l in &mut f.locations {
                scrub(&mut l.created_by);
                scrub(&mut l.removed_by);
            }
        }
        findings.push(f);
    }
    let stale_baseline: Vec<BaselineEntry> = options
        .baseline
        .map(|b| {
            b.fingerprints
                .iter()
                .filter(|e| !seen_fingerprints.contains(&e.fingerprint))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    let fail_on = options.fail_on.unwrap_or(options.policy.fail_on);
    let mut by_severity = BTreeMap::new();
    for f in &findings {
        *by_severity.entry(f.severity.name()).or_insert(0) += 1;
    }
    let mut by_category = BTreeMap::new();
    for f in &findings {
        *by_category.entry(f.category).or_insert(0) += 1;
    }
    let layers = walk
        .layers
        .iter()
        .map(|l| {
            let mut created_by = image.layers[l.index].created_by().map(str::to_owned);
            if !options.show_secrets {
                scrub(&mut created_by);
            }
            LayerRow {
                index: l.index,
                digest: l.digest.to_string(),
                created_by,
                size: l.size,
                uncompressed_size: l.uncompressed_size,
                wasted_bytes: analyzed.bloat.as_ref().map(|b| {
                    b.layers
                        .iter()
                        .find(|x| x.index == l.index)
                        .map_or(0, |x| x.wasted_bytes)
                }),
            }
        })
        .collect();
    let bloat = analyzed.bloat.as_ref();
    let (efficiency, wasted_bytes, dive_wasted_bytes, total_bytes) = (
        bloat.map(|b| b.efficiency),
        bloat.map(|b| b.wasted_bytes),
        bloat.map(|b| b.dive_wasted_bytes),
        bloat.map(|b| b.total_bytes),
    );
    ScanReport {
        schema_version: 1,
        image: path.display().to_string(),
        format: image.format.name(),
        reference: image.reference.clone(),
        config_digest: image.config_digest.to_string(),
        policy: options.policy.name.clone(),
        policy_rules: options.policy.describe(),
        bloat: analyzed.bloat,
        analyzers: secret_sinks
            .map(|_| "secrets")
            .into_iter()
            .chain(analyzed.names.iter().copied())
            .collect(),
        layers,
        summary: Summary {
            by_category,
            efficiency,
            wasted_bytes,
            dive_wasted_bytes,
            total_bytes,
            findings: findings.len(),
            by_severity,
            suppressed,
            baselined,
            stale_baseline,
            fail_on,
            failed: findings.iter().any(|f| f.severity >= fail_on),
            layers: image.layers.len(),
            rules: rules.rules.len(),
        },
        findings,
        warnings: walk.warnings.iter().map(ToString::to_string).collect(),
    }
}

/// Applies `scrub` to every string inside a JSON value.
fn scrub_json(value: &mut serde_json::Value, scrub: &dyn Fn(&mut String)) {
    match value {
        serde_json::Value::String(s) => scrub(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, scrub)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, scrub)),
        _ => {}
    }
}

/// Percentage and efficiency limits apply only above this much waste: a 54-byte image that
/// deletes its one file is 100 % waste and harmless.
pub const BLOAT_LIMIT_FLOOR: u64 = 1 << 20;

/// The severity a policy requirement gives this finding, if one covers it.
fn required_severity(policy: &Policy, f: &Finding) -> Option<Severity> {
    let req = policy.require.as_ref()?;
    if req.non_root_user && f.rule_id == crate::hygiene::ROOT_USER.id {
        return Some(req.severity);
    }
    let protection = match f.rule_id.as_str() {
        "elf-no-pie" => ElfProtection::Pie,
        "elf-no-relro" | "elf-partial-relro" => ElfProtection::Relro,
        "elf-exec-stack" => ElfProtection::Nx,
        "elf-no-canary" => ElfProtection::Canary,
        "elf-no-fortify" => ElfProtection::Fortify,
        "elf-no-cet" => ElfProtection::Cet,
        _ => return None,
    };
    req.elf.contains(&protection).then_some(req.severity)
}

/// A finding when the image crosses one of the policy's bloat limits.
fn bloat_limit_finding(
    limits: &crate::policy::BloatLimits,
    b: &crate::bloat::BloatSummary,
) -> Option<Finding> {
    let mut crossed = Vec::new();
    let relative = b.wasted_bytes >= BLOAT_LIMIT_FLOOR;
    if let Some(min) = limits.min_efficiency.filter(|_| relative) {
        if b.efficiency < min {
            crossed.push(format!("efficiency {:.4} is below {min}", b.efficiency));
        }
    }
    if let Some(max) = limits.max_wasted_bytes {
        if b.wasted_bytes > max {
            crossed.push(format!("{} wasted bytes exceed {max}", b.wasted_bytes));
        }
    }
    let percent = if b.total_bytes == 0 {
        0.0
    } else {
        b.wasted_bytes as f64 * 100.0 / b.total_bytes as f64
    };
    if let Some(max) = limits.max_wasted_percent.filter(|_| relative) {
        if percent > max {
            crossed.push(format!("{percent:.2}% wasted exceeds {max}%"));
        }
    }
    if crossed.is_empty() {
        return None;
    }
    let mut f = Finding::new(
        "bloat-policy-limit",
        "bloat",
        limits.severity,
        format!(
            "Image crosses the policy's bloat limits: {}",
            crossed.join("; ")
        ),
        b"policy",
    )
    .detail("efficiency", b.efficiency)
    .detail("wasted_bytes", b.wasted_bytes)
    .detail("wasted_percent", percent)
    .detail("reason", limits.reason.clone());
    f.fix = Some(
        "Remove files in the same RUN that created them, or use a multi-stage build; see the other bloat findings for what each fix saves."
            .into(),
    );
    Some(f)
}

/// What to do about a secret, by where it was seen.
fn secret_fix(locations: &[Location]) -> String {
    let mut steps = vec!["Rotate the credential: anyone with the image can read it.".to_owned()];
    if locations
        .iter()
        .any(|l| l.source == Source::Layer && l.status != Status::Present)
    {
        steps.push(
            "A later layer deleted it but the layer that wrote it still stores it: pass it with a build secret (RUN --mount=type=secret) or use a multi-stage build, or `rharden flatten` the image."
                .into(),
        );
    }
    if locations
        .iter()
        .any(|l| l.source == Source::Layer && l.status == Status::Present)
    {
        steps.push("Remove the file from the image; mount it at run time instead.".into());
    }
    if locations.iter().any(|l| l.source == Source::Config) {
        steps.push("Do not bake it into ENV or labels: pass it when the container starts.".into());
    }
    if locations.iter().any(|l| l.source == Source::History) {
        steps.push(
            "It is in a build command (`docker history` shows it): use a build secret, or flatten without --keep-history."
                .into(),
        );
    }
    steps.join(" ")
}

/// Rules whose findings make one credential when seen in the same place.
const PAIRS: &[(&str, &str)] = &[("aws-access-key-id", "aws-secret-access-key")];

/// Links the two halves of a credential found in the same file, config key or build step.
fn pair_up(findings: &mut [Finding]) {
    let place = |l: &Location| (l.source, l.layer_index, l.path.clone());
    let mut links: Vec<(usize, String)> = Vec::new();
    for (a, b) in PAIRS {
        for (i, x) in findings.iter().enumerate().filter(|(_, f)| f.rule_id == *a) {
            for (j, y) in findings.iter().enumerate().filter(|(_, f)| f.rule_id == *b) {
                if x.locations
                    .iter()
                    .any(|l| y.locations.iter().any(|m| place(l) == place(m)))
                {
                    links.push((i, y.fingerprint.clone()));
                    links.push((j, x.fingerprint.clone()));
                }
            }
        }
    }
    for (i, fp) in links {
        if !findings[i].related.contains(&fp) {
            findings[i].related.push(fp);
        }
    }
}
