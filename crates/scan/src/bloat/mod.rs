//! The bloat analyzer (category `bloat`): what an image stores that its final filesystem does
//! not need.
//!
//! - **Waste**: bytes stored in a layer that are not in the final filesystem (deleted,
//!   overwritten or hidden by a later layer), per file and per layer, with the step that wrote
//!   them and the step that removed them. This is [`BloatSummary::wasted_bytes`].
//! - **dive's numbers**, computed the way dive does (the rules are in [`dive_score`]'s module,
//!   `bloat/dive.rs`): [`BloatSummary::efficiency`] and [`BloatSummary::dive_wasted_bytes`],
//!   which counts every version of a path stored more than once, the kept one too.
//! - **Package-manager leftovers** in the final filesystem (apt lists and archives, pip, npm,
//!   yarn, go, cargo, maven and apk caches, `/tmp` and `/var/tmp`), one finding per kind.
//! - **Duplicates**: the same content (sha256) at several paths of the final filesystem. Only
//!   regular files of at least [`MIN_HASHED_SIZE`] bytes are hashed (by [`ContentHashSink`]
//!   during the walk); hardlinks share content and are not duplicates, symlinks are not files.
//! - **Build toolchains** left in the image (gcc, clang, rust, go, a JDK: medium; C headers:
//!   low; pip and npm: info), with the bytes of their files.
//! - **The biggest layers and files** (top 10 in the summary; files of at least 50 MiB also
//!   as info findings).
//!
//! Every finding has `wasted_bytes` in its details and a `fix` that says what it saves.

mod dive;
mod kinds;
mod sink;

use std::collections::{BTreeMap, HashMap, HashSet};

use rharden_image::{EntryKind, Fate, FileRecord};
use serde::Serialize;

use crate::analysis::{display_path, status_of, Context};
use crate::finding::{Finding, Severity, Status};

pub use dive::{score as dive_score, DiveScore};
pub use kinds::{Leftover, Toolchain};
pub use sink::{ContentHashSink, MIN_HASHED_SIZE};

/// The category of every finding of this analyzer.
pub const CATEGORY: &str = "bloat";
/// Waste (and caches, headers) from this size up is `medium`, below it `low`.
pub const MEDIUM_BYTES: u64 = 10 << 20;
/// Files of the final filesystem from this size up get an `info` finding.
pub const LARGE_FILE_BYTES: u64 = 50 << 20;
/// Groups of removed bytes (one writing step, one removing step) below this are not reported
/// as findings (they still count in the summary).
pub const MIN_REPORTED_WASTE: u64 = 1024;
/// At most this many duplicate groups become findings (the biggest); the summary counts all.
pub const MAX_DUPLICATE_FINDINGS: usize = 100;
/// Entries in the summary's top lists.
pub const TOP: usize = 10;
/// Locations listed per finding (the biggest files first).
const MAX_LOCATIONS: usize = 10;

/// The image's bloat in numbers, for reports (the HTML per-layer table and chart).
#[derive(Debug, Clone, Serialize)]
pub struct BloatSummary {
    /// dive's efficiency score: Σ over paths of the smallest size stored at the path, divided by
    /// Σ of every size stored at every path (whiteouts of directories weigh what they delete);
    /// 1 for an image with no bytes.
    pub efficiency: f64,
    /// Bytes of regular files stored in layers that are not in the final filesystem.
    pub wasted_bytes: u64,
    /// dive's "wasted bytes": every version of every path stored more than once, kept one included.
    pub dive_wasted_bytes: u64,
    /// Sum of the sizes of the regular files of all layers.
    pub total_bytes: u64,
    /// Sum of the sizes of the regular files of the final filesystem.
    pub final_bytes: u64,
    pub layers: Vec<LayerBloat>,
    /// Indexes into `layers` of the biggest layers (by file bytes), biggest first.
    pub biggest_layers: Vec<usize>,
    /// The biggest files of the final filesystem.
    pub biggest_files: Vec<FileBloat>,
    /// The biggest files stored but not in the final filesystem.
    pub wasted_files: Vec<FileBloat>,
    pub leftovers: Vec<LeftoverBloat>,
    /// Groups of identical content at several paths, most wasted bytes first.
    pub duplicates: Vec<DuplicateGroup>,
    /// Bytes that one copy per group would save.
    pub duplicate_wasted_bytes: u64,
    pub toolchains: Vec<ToolchainBloat>,
    /// Files smaller than this were not hashed for duplicates.
    pub min_hashed_size: u64,
}

/// One layer's share.
#[derive(Debug, Clone, Serialize)]
pub struct LayerBloat {
    pub index: usize,
    pub digest: Option<String>,
    /// The build step that made the layer.
    pub created_by: Option<String>,
    /// Sum of the sizes of the layer's regular files (uncompressed file bytes).
    pub size: u64,
    /// The blob as stored, and the uncompressed tar.
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Regular files in the layer.
    pub files: u64,
    /// Bytes this layer stores that a later layer removes.
    pub wasted_bytes: u64,
    /// Bytes of lower layers that this layer's step deletes, overwrites or hides.
    pub removed_bytes: u64,
}

/// One file, where it is and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct FileBloat {
    pub path: String,
    pub layer: usize,
    pub size: u64,
    pub status: Status,
    pub removed_in_layer: Option<usize>,
}

/// A package manager's leftovers in the final filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct LeftoverBloat {
    pub kind: &'static str,
    pub bytes: u64,
    pub files: u64,
    /// The layers that left them, most bytes first.
    pub layers: Vec<usize>,
}

/// The same content at several paths.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateGroup {
    pub sha256: String,
    /// Size of one copy.
    pub size: u64,
    pub paths: Vec<String>,
    /// `size × (copies − 1)`.
    pub wasted_bytes: u64,
}

/// A toolchain (or package manager) in the final filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct ToolchainBloat {
    pub name: &'static str,
    pub bytes: u64,
    pub files: u64,
    pub layers: Vec<usize>,
}

/// `1536` → `1.5 KiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn severity_by_size(bytes: u64) -> Severity {
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
            let short: String = step.chars().take(80).collect();
            let more = if short.len() < step.len() { "…" } else { "" };
            format!("layer {layer} (`{short}{more}`)")
        }
        None => format!("layer {layer}"),
    }
}

/// Analyzes the walk's results. `sinks` are the [`ContentHashSink`]s of the walk, in layer order.
pub fn analyze(ctx: &Context<'_>, sinks: &[&ContentHashSink]) -> (Vec<Finding>, BloatSummary) {
    let files = ctx.files;
    let dive = dive::score(files);

    // Content that a present hardlink still reaches is not wasted, whatever its own name's fate.
    let alive: HashSet<(usize, usize)> = files
        .layers
        .iter()
        .flatten()
        .filter(|r| r.kind == EntryKind::Hardlink && r.fate == Fate::Present)
        .filter_map(|r| r.link_root)
        .collect();

    let mut layers: Vec<LayerBloat> = files
        .layers
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let report = ctx.layers.get(i);
            LayerBloat {
                index: i,
                digest: report.map(|l| l.digest.to_string()),
                created_by: ctx.step(i).map(str::to_owned),
                size: 0,
                compressed_size: report.map_or(0, |l| l.size),
                uncompressed_size: report.map_or(0, |l| l.uncompressed_size),
                files: 0,
                wasted_bytes: 0,
                removed_bytes: 0,
            }
        })
        .collect();
    // (writing layer, removing layer) -> removed records
    let mut groups: BTreeMap<(usize, usize), Vec<&FileRecord>> = BTreeMap::new();
    let (mut total, mut wasted, mut final_bytes) = (0u64, 0u64, 0u64);
    for (i, records) in files.layers.iter().enumerate() {
        for (pos, r) in records.iter().enumerate() {
            if r.kind != EntryKind::File {
                continue;
            }
            total = total.saturating_add(r.size);
            layers[i].size = layers[i].size.saturating_add(r.size);
            layers[i].files += 1;
            match r.fate.by_layer() {
                None => final_bytes = final_bytes.saturating_add(r.size),
                Some(_) if alive.contains(&(i, pos)) => {}
                Some(by) => {
                    wasted = wasted.saturating_add(r.size);
                    layers[i].wasted_bytes = layers[i].wasted_bytes.saturating_add(r.size);
                    if let Some(l) = layers.get_mut(by) {
                        l.removed_bytes = l.removed_bytes.saturating_add(r.size);
                    }
                    if r.size > 0 {
                        groups.entry((i, by)).or_default().push(r);
                    }
                }
            }
        }
    }

    let mut findings = Vec::new();
    let mut wasted_files: Vec<&FileRecord> = groups.values().flatten().copied().collect();
    by_size(&mut wasted_files);
    for ((layer, by), mut records) in groups {
        by_size(&mut records);
        let bytes: u64 = records.iter().map(|r| r.size).sum();
        if bytes < MIN_REPORTED_WASTE {
            continue;
        }
        findings.push(waste_finding(ctx, layer, by, &records, bytes));
    }

    let present = files.final_view();
    let present_files: Vec<&FileRecord> = present
        .iter()
        .copied()
        .filter(|r| r.kind == EntryKind::File)
        .collect();

    let leftovers = leftover_findings(ctx, &present_files, &mut findings);
    let (duplicates, duplicate_wasted) =
        duplicate_findings(ctx, &present_files, sinks, &mut findings);
    let toolchains = toolchain_findings(ctx, &present_files, &mut findings);

    let mut biggest: Vec<&FileRecord> = present_files.clone();
    by_size(&mut biggest);
    for r in biggest.iter().take_while(|r| r.size >= LARGE_FILE_BYTES) {
        let path = display_path(&r.path);
        findings.push(
            Finding::new(
                "bloat.large-file",
                CATEGORY,
                Severity::Info,
                format!("Large file {path} ({})", human(r.size)),
                &r.path,
            )
            .detail("size", r.size)
            .detail("wasted_bytes", 0)
            .with_location(ctx.location(r))
            .with_fix(format!(
                "check that {path} is needed at run time, or fetch it when needed: it is {} of the image",
                human(r.size)
            )),
        );
    }

    let mut biggest_layers: Vec<usize> = (0..layers.len()).collect();
    biggest_layers.sort_by(|a, b| layers[*b].size.cmp(&layers[*a].size).then(a.cmp(b)));
    biggest_layers.truncate(TOP);

    let summary = BloatSummary {
        efficiency: dive.efficiency,
        wasted_bytes: wasted,
        dive_wasted_bytes: dive.wasted_bytes,
        total_bytes: total,
        final_bytes,
        layers,
        biggest_layers,
        biggest_files: biggest.iter().take(TOP).map(|r| file_bloat(r)).collect(),
        wasted_files: wasted_files
            .iter()
            .take(TOP)
            .map(|r| file_bloat(r))
            .collect(),
        leftovers,
        duplicates,
        duplicate_wasted_bytes: duplicate_wasted,
        toolchains,
        min_hashed_size: MIN_HASHED_SIZE,
    };
    (findings, summary)
}

/// Biggest first, then by layer and path: a stable order.
fn by_size(records: &mut [&FileRecord]) {
    records.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then(a.layer.cmp(&b.layer))
            .then(a.path.cmp(&b.path))
    });
}

fn file_bloat(r: &FileRecord) -> FileBloat {
    FileBloat {
        path: display_path(&r.path),
        layer: r.layer,
        size: r.size,
        status: status_of(r.fate),
        removed_in_layer: r.fate.by_layer(),
    }
}

trait FindingExt {
    fn with_location(self, location: crate::finding::Location) -> Self;
    fn with_fix(self, fix: String) -> Self;
}

impl FindingExt for Finding {
    fn with_location(mut self, location: crate::finding::Location) -> Self {
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

/// Bytes one step wrote and a later step removed: `records` biggest first.
fn waste_finding(
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
        format!("{count} files")
    };
    let fix = if how == "overwrites" {
        format!(
            "write the final version once: {} replaces what {} wrote; saves {}",
            step_text(ctx, by),
            step_text(ctx, layer),
            human(bytes)
        )
    } else {
        format!(
            "remove the files in the same RUN that creates them ({}), or use a multi-stage build, instead of removing them in {}: saves {}",
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
fn leftover_findings(
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
                "{} left in the image: {} in {} files",
                kind.name(),
                human(bytes),
                records.len()
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
        *per.entry(r.layer).or_default() += r.size;
    }
    let mut layers: Vec<(usize, u64)> = per.into_iter().collect();
    layers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    layers.into_iter().map(|(l, _)| l).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Identical content at several paths of the final filesystem.
fn duplicate_findings(
    ctx: &Context<'_>,
    present: &[&FileRecord],
    sinks: &[&ContentHashSink],
    findings: &mut Vec<Finding>,
) -> (Vec<DuplicateGroup>, u64) {
    let mut by_hash: HashMap<&[u8; 32], Vec<&FileRecord>> = HashMap::new();
    for r in present.iter().filter(|r| r.size >= MIN_HASHED_SIZE) {
        if let Some(hash) = sinks.get(r.layer).and_then(|s| s.hash_of(&r.path)) {
            by_hash.entry(hash).or_default().push(r);
        }
    }
    let mut groups: Vec<(&[u8; 32], Vec<&FileRecord>)> = by_hash
        .into_iter()
        .filter(|(_, records)| records.len() > 1)
        .collect();
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
fn toolchain_findings(
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

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(20 << 20), "20.0 MiB");
    }
}
