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
//! - **Duplicates**: the same content (named by its sha256) at several paths of the final
//!   filesystem. Only regular files of at least [`MIN_HASHED_SIZE`] bytes are hashed (by
//!   [`ContentHashSink`] during the walk: a content id of each, the sha256 of those whose size
//!   another file had first); hardlinks share content and are not duplicates, symlinks are not
//!   files.
//! - **Build toolchains** left in the image (gcc, clang, rust, go, a JDK: medium; C headers:
//!   low; pip and npm: info), with the bytes of their files.
//! - **The biggest layers and files** (top 10 in the summary; files of at least 50 MiB also
//!   as info findings).
//!
//! Every finding has `wasted_bytes` in its details and a `fix` that says what it saves.

mod dive;
mod findings;
mod kinds;
mod sink;
mod summary;

use std::collections::{BTreeMap, HashSet};

use rharden_image::{EntryKind, Fate, FileRecord};

use crate::analysis::{display_path, status_of, Context};
use crate::finding::{Finding, Severity};
use findings::{
    duplicate_findings, leftover_findings, toolchain_findings, waste_finding, FindingExt as _,
};

pub use dive::{score as dive_score, DiveScore};
pub use kinds::{Leftover, Toolchain};
pub use sink::{ContentHashSink, SeenFiles, MIN_HASHED_SIZE};
pub use summary::{
    BloatSummary, DuplicateGroup, FileBloat, LayerBloat, LeftoverBloat, ToolchainBloat,
};

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

/// Analyzes the walk's results. `sinks` are the [`ContentHashSink`]s of the walk, in layer order.
pub fn analyze(ctx: &Context<'_>, sinks: &[&ContentHashSink<'_>]) -> (Vec<Finding>, BloatSummary) {
    let files = ctx.files;
    let dive = dive::score(files);

    // Content that a present hardlink still reaches is not wasted, whatever its own name's fate.
    let alive: HashSet<(usize, usize)> = files
        .layers
        .iter()
        .flatten()
        .filter(|r| r.kind == EntryKind::Hardlink && r.fate == Fate::Present)
        .filter_map(|r| r.link_root())
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

    let mut present_files = files.final_view();
    present_files.retain(|r| r.kind == EntryKind::File);
    present_files.shrink_to_fit();

    let leftovers = leftover_findings(ctx, &present_files, &mut findings);
    let (duplicates, duplicate_wasted) =
        duplicate_findings(ctx, &present_files, sinks, &mut findings);
    let toolchains = toolchain_findings(ctx, &present_files, &mut findings);

    let large = present_files
        .iter()
        .filter(|r| r.size >= LARGE_FILE_BYTES)
        .count();
    let biggest = biggest_files(&present_files, large.max(TOP));
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
pub(crate) fn by_size(records: &mut [&FileRecord]) {
    records.sort_by(size_order);
}

fn size_order(a: &&FileRecord, b: &&FileRecord) -> std::cmp::Ordering {
    b.size
        .cmp(&a.size)
        .then(a.layer().cmp(&b.layer()))
        .then(a.path.cmp(&b.path))
}

/// The first `n` of `records` in [`by_size`] order, without sorting (or copying) them all.
fn biggest_files<'a>(records: &[&'a FileRecord], n: usize) -> Vec<&'a FileRecord> {
    let order = size_order;
    let mut top: Vec<&FileRecord> = Vec::with_capacity(n.min(records.len()));
    for r in records {
        if top.len() == n && top.last().is_none_or(|last| order(r, last).is_ge()) {
            continue;
        }
        let at = top.partition_point(|t| order(t, r).is_le());
        top.insert(at, r);
        top.truncate(n);
    }
    top
}

fn file_bloat(r: &FileRecord) -> FileBloat {
    FileBloat {
        path: display_path(&r.path),
        layer: r.layer(),
        size: r.size,
        status: status_of(r.fate),
        removed_in_layer: r.fate.by_layer(),
    }
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
