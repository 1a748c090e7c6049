//! The findings: one per (writing step, removing step), per kind of leftover, per group of
//! duplicates and per toolchain, each with `wasted_bytes` and a fix that says what it saves.

use std::collections::BTreeMap;

use rharden_image::{Fate, FileRecord};

use super::summary::{DuplicateGroup, LeftoverBloat, ToolchainBloat};
use super::{
    by_size, human, ContentHashSink, Leftover, Toolchain, CATEGORY, MAX_DUPLICATE_FINDINGS,
    MEDIUM_BYTES, MIN_HASHED_SIZE,
};
use crate::analysis::{display_path, Context};
use crate::finding::{Finding, Location, Severity};

/// Locations listed per finding (the biggest files first).
const MAX_LOCATIONS: usize = 10;

pub(super) fn severity_by_size(bytes: u64) -> Severity {
    if bytes >= MEDIUM_BYTES {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// A step as quoted in a fix: its command (shortened), or the layer number.
fn step_text(ctx: &Context<'_>, layer: usize) -> String {
    match ctx.step(layer) {
        Some(step) => {
            let step = step.trim();
            let step = step.strip_prefix("/bin/sh -c ").unwrap_or(step);
            let step = step.strip_prefix("#(nop) ").unwrap_or(step).trim();
            let short: String = step.chars().take(80).collect();
            let more = if short.len() < step.len() { "…" } else { "" };
            format!("layer {layer} (`{short}{more}`)")
        }
        None => format!("layer {layer}"),
    }
}

pub(super) trait FindingExt {
    fn with_location(self, location: Location) -> Self;
    fn with_fix(self, fix: String) -> Self;
}

impl FindingExt for Finding {
    fn with_location(mut self, location: Location) -> Self {
        self.locations.push(location);
        self
    }
    fn with_fix(mut self, fix: String) -> Self {
        self.fix = Some(fix);
        self
    }
}

fn paths(records: &[&FileRecord]) -> Vec<String> {
    records
        .iter()
        .take(MAX_LOCATIONS)
        .map(|r| display_path(&r.path))
        .collect()
}

/// `1 file`, `2 files`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Bytes one step wrote and a later step removed: `records` biggest first.
pub(super) fn waste_finding(
    ctx: &Context<'_>,
    layer: usize,
    by: usize,
    records: &[&FileRecord],
    bytes: u64,
) -> Finding {
    let overwritten = records
        .iter()
        .filter(|r| matches!(r.fate, Fate::Overwritten { .. }))
        .count();
    let how = if overwritten == records.len() {
        "overwrites"
    } else if overwritten == 0 {
        if records
            .iter()
            .all(|r| matches!(r.fate, Fate::Hidden { .. }))
        {
            "hides"
        } else {
            "deletes"
        }
    } else {
        "deletes or overwrites"
    };
    let count = records.len();
    let what = if count == 1 {
        display_path(&records[0].path)
    } else {
        plural(count, "file")
    };
    let it = if count == 1 { "it" } else { "them" };
    let fix = if how == "overwrites" {
        format!(
            "write the final version once: {} replaces what {} wrote; saves {}",
            step_text(ctx, by),
            step_text(ctx, layer),
            human(bytes)
        )
    } else {
        format!(
            "remove {what} in the same RUN that creates {it} ({}), or use a multi-stage build, instead of removing {it} in {}: saves {}",
            step_text(ctx, layer),
            step_text(ctx, by),
            human(bytes)
        )
    };
    let key = format!(
        "{}\0{}\0{}",
        ctx.step(layer).unwrap_or_default(),
        ctx.step(by).unwrap_or_default(),
        String::from_utf8_lossy(&records[0].path)
    );
    let mut f = Finding::new(
        "bloat.removed-in-later-layer",
        CATEGORY,
        severity_by_size(bytes),
        format!(
            "Layer {layer} stores {} ({what}) that layer {by} {how}",
            human(bytes)
        ),
        key.as_bytes(),
    )
    .detail("wasted_bytes", bytes)
    .detail("files", count as u64)
    .detail("layer", layer as u64)
    .detail("removed_in_layer", by as u64)
    .detail("paths", paths(records))
    .with_fix(fix);
    for r in records.iter().take(MAX_LOCATIONS) {
        f = f.with_location(ctx.location(r));
    }
    f
}

/// Per kind of leftover: its bytes, files and the layers that left them.
pub(super) fn leftover_findings(
    ctx: &Context<'_>,
    present: &[&FileRecord],
    findings: &mut Vec<Finding>,
) -> Vec<LeftoverBloat> {
    let mut by_kind: BTreeMap<Leftover, Vec<&FileRecord>> = BTreeMap::new();
    for r in present.iter().filter(|r| r.size > 0) {
        if let Some(kind) = Leftover::of(&r.path) {
            by_kind.entry(kind).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for (kind, mut records) in by_kind {
        by_size(&mut records);
        let bytes: u64 = records.iter().map(|r| r.size).sum();
        let layers = layers_by_bytes(&records);
        let left_by = layers
            .iter()
            .map(|l| step_text(ctx, *l))
            .collect::<Vec<_>>()
            .join(", ");
        let mut f = Finding::new(
            &format!("bloat.leftover.{}", kind.name()),
            CATEGORY,
            severity_by_size(bytes),
            format!(
                "{} left in the image: {} in {}",
                kind.label(),
                human(bytes),
                plural(records.len(), "file")
            ),
            kind.name().as_bytes(),
        )
        .detail("kind", kind.name())
        .detail("wasted_bytes", bytes)
        .detail("files", records.len() as u64)
        .detail(
            "layers",
            layers.iter().map(|l| *l as u64).collect::<Vec<_>>(),
        )
        .detail("paths", paths(&records))
        .with_fix(format!(
            "{} (left by {left_by}): saves {}",
            kind.remedy(),
            human(bytes)
        ));
        for r in records.iter().take(MAX_LOCATIONS) {
            f = f.with_location(ctx.location(r));
        }
        findings.push(f);
        out.push(LeftoverBloat {
            kind: kind.name(),
            bytes,
            files: records.len() as u64,
            layers,
        });
    }
    out
}

/// The layers of `records`, most bytes first.
fn layers_by_bytes(records: &[&FileRecord]) -> Vec<usize> {
    let mut per: BTreeMap<usize, u64> = BTreeMap::new();
    for r in records {
        *per.entry(r.layer()).or_default() += r.size;
    }
    let mut layers: Vec<(usize, u64)> = per.into_iter().collect();
    layers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    layers.into_iter().map(|(l, _)| l).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Files of one content id, as groups named by their sha256. Every file of the group but at most
/// one (the first of its size in the image) has one: the group is named by it, and the file
/// without joins it. Two different sha256 under one id would be an id collision: then each
/// sha256 is its own group, and the file without one is left out, as unproven.
fn named_by_sha256<'r>(
    files: impl Iterator<Item = &'r FileRecord>,
    sha256_of: &impl Fn(&FileRecord) -> Option<&'r [u8; 32]>,
) -> Vec<(&'r [u8; 32], Vec<&'r FileRecord>)> {
    let mut named: Vec<(&[u8; 32], &FileRecord)> = Vec::new();
    let mut unnamed = Vec::new();
    for r in files {
        match sha256_of(r) {
            Some(sha) => named.push((sha, r)),
            None => unnamed.push(r),
        }
    }
    named.sort_by(|a, b| a.0.cmp(b.0));
    let mut groups: Vec<(&[u8; 32], Vec<&FileRecord>)> = named
        .chunk_by(|a, b| a.0 == b.0)
        .map(|same| (same[0].0, same.iter().map(|(_, r)| *r).collect()))
        .collect();
    if let [(_, only)] = groups.as_mut_slice() {
        if unnamed.len() <= 1 {
            only.append(&mut unnamed);
        }
    }
    groups.retain(|(_, records)| records.len() > 1);
    groups
}

/// Identical content at several paths of the final filesystem.
pub(super) fn duplicate_findings(
    ctx: &Context<'_>,
    present: &[&FileRecord],
    sinks: &[&ContentHashSink<'_>],
    findings: &mut Vec<Finding>,
) -> (Vec<DuplicateGroup>, u64) {
    // (content id, file) pairs sorted by id, 32 bytes a file: a map of every id to a Vec of its
    // files costs several times that, and most files have no duplicate.
    let mut hashed: Vec<(u128, &FileRecord)> = present
        .iter()
        .filter(|r| r.size >= MIN_HASHED_SIZE)
        .filter_map(|r| Some((sinks.get(r.layer())?.content_id(r.position())?, *r)))
        .collect();
    hashed.sort_unstable_by_key(|(id, r)| (*id, r.size));
    let sha256_of = |r: &FileRecord| sinks.get(r.layer())?.sha256_of(r.position());
    let mut groups: Vec<(&[u8; 32], Vec<&FileRecord>)> = Vec::new();
    for same in hashed.chunk_by(|a, b| a.0 == b.0 && a.1.size == b.1.size) {
        if same.len() > 1 {
            groups.extend(named_by_sha256(same.iter().map(|(_, r)| *r), &sha256_of));
        }
    }
    drop(hashed);
    for (_, records) in &mut groups {
        records.sort_by(|a, b| a.path.cmp(&b.path));
    }
    let wasted_of = |records: &[&FileRecord]| {
        records[0]
            .size
            .saturating_mul(records.len().saturating_sub(1) as u64)
    };
    groups.sort_by(|a, b| {
        wasted_of(&b.1)
            .cmp(&wasted_of(&a.1))
            .then(a.1[0].path.cmp(&b.1[0].path))
    });
    let mut out = Vec::new();
    let mut total = 0u64;
    for (i, (hash, records)) in groups.iter().enumerate() {
        let wasted = wasted_of(records);
        total = total.saturating_add(wasted);
        let sha = hex(*hash);
        let all_paths: Vec<String> = records.iter().map(|r| display_path(&r.path)).collect();
        if i < MAX_DUPLICATE_FINDINGS {
            let mut f = Finding::new(
                "bloat.duplicate-content",
                CATEGORY,
                Severity::Low,
                format!(
                    "The same {} at {} paths ({})",
                    human(records[0].size),
                    records.len(),
                    all_paths[0]
                ),
                hash.as_slice(),
            )
            .detail("wasted_bytes", wasted)
            .detail("size", records[0].size)
            .detail("copies", records.len() as u64)
            .detail("sha256", sha.clone())
            .detail("paths", all_paths.iter().take(MAX_LOCATIONS).cloned().collect::<Vec<_>>())
            .with_fix(format!(
                "keep one copy and use a hardlink or symlink for the others (or copy it once): saves {}",
                human(wasted)
            ));
            for r in records.iter().take(MAX_LOCATIONS) {
                f = f.with_location(ctx.location(r));
            }
            findings.push(f);
        }
        out.push(DuplicateGroup {
            sha256: sha,
            size: records[0].size,
            paths: all_paths,
            wasted_bytes: wasted,
        });
    }
    (out, total)
}

/// Compilers, headers and package managers in the final filesystem.
pub(super) fn toolchain_findings(
    ctx: &Context<'_>,
    present: &[&FileRecord],
    findings: &mut Vec<Finding>,
) -> Vec<ToolchainBloat> {
    let mut by_tool: BTreeMap<Toolchain, Vec<&FileRecord>> = BTreeMap::new();
    for r in present {
        if let Some(tool) = Toolchain::of(&r.path) {
            by_tool.entry(tool).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for (tool, mut records) in by_tool {
        by_size(&mut records);
        let bytes: u64 = records.iter().map(|r| r.size).sum();
        let layers = layers_by_bytes(&records);
        let name = tool.name();
        let (severity, title, fix) = if tool.is_package_manager() {
            (
                Severity::Info,
                format!("Package manager {name} in the image ({})", human(bytes)),
                format!(
                    "if the image does not install packages at run time, leave {name} in the build stage of a multi-stage build: saves {}",
                    human(bytes)
                ),
            )
        } else if tool == Toolchain::Headers {
            (
                severity_by_size(bytes),
                format!("C headers in the image ({})", human(bytes)),
                format!(
                    "install -dev packages only in the build stage of a multi-stage build: the headers are {}",
                    human(bytes)
                ),
            )
        } else {
            (
                Severity::Medium,
                format!("Build toolchain {name} in the image ({})", human(bytes)),
                format!(
                    "use a multi-stage build: the {name} toolchain is {}",
                    human(bytes)
                ),
            )
        };
        let mut f = Finding::new(
            &format!("bloat.toolchain.{name}"),
            CATEGORY,
            severity,
            title,
            name.as_bytes(),
        )
        .detail("toolchain", name)
        .detail("wasted_bytes", bytes)
        .detail("files", records.len() as u64)
        .detail(
            "layers",
            layers.iter().map(|l| *l as u64).collect::<Vec<_>>(),
        )
        .detail("paths", paths(&records))
        .with_fix(fix);
        for r in records.iter().take(MAX_LOCATIONS) {
            f = f.with_location(ctx.location(r));
        }
        findings.push(f);
        out.push(ToolchainBloat {
            name,
            bytes,
            files: records.len() as u64,
            layers,
        });
    }
    out
}
