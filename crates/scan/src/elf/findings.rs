//! From per-layer results to findings: only files present in the final filesystem, one
//! finding per binary per missing protection, each carrying every verdict in `details`.

use std::collections::HashSet;

use rharden_image::{EntryKind, Fate, FileRecord};
use serde_json::{json, Value};

use crate::analysis::{display_path, Context};
use crate::elf::report::{Cet, ElfReport, Pie, Relro, Verdict};
use crate::elf::rpath::{insecure_entries, Insecure};
use crate::elf::sink::{ElfOutcome, ElfSink, NotAnalyzed};
use crate::finding::{Finding, Location, Severity};

const CATEGORY: &str = "elf";

/// One ELF file of the final filesystem and what it proved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Binary<'a> {
    /// Absolute path (`/usr/bin/su`).
    pub path: String,
    pub location: Location,
    pub outcome: &'a ElfOutcome,
}

/// Every ELF file still present in the final filesystem, in path order: regular files, and
/// hardlinks whose target path is gone. `sinks` are the walk's sinks, in layer order.
pub fn binaries<'a>(ctx: &Context<'_>, sinks: &[&'a ElfSink]) -> Vec<Binary<'a>> {
    let mut found: Vec<(&FileRecord, &'a ElfOutcome)> = ctx
        .files
        .layers
        .iter()
        .flatten()
        .filter(|r| r.fate == Fate::Present)
        .filter_map(|r| {
            let content = content_of(ctx, r)?;
            let outcome = sinks.get(content.layer())?.get(&content.path)?;
            Some((r, outcome))
        })
        .collect();
    found.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    found
        .into_iter()
        .map(|(record, outcome)| Binary {
            path: display_path(&record.path),
            location: ctx.location(record),
            outcome,
        })
        .collect()
}

/// The record holding the bytes of the present entry `record`: itself for a regular file;
/// for a hardlink, its target when that is no longer present at its own path (a present
/// target is reported there, once).
fn content_of<'f>(ctx: &Context<'f>, record: &'f FileRecord) -> Option<&'f FileRecord> {
    match record.kind {
        EntryKind::File => Some(record),
        EntryKind::Hardlink => {
            let (layer, position) = record.link_root()?;
            let root = ctx.files.layers.get(layer)?.get(position)?;
            (root.kind == EntryKind::File && root.fate != Fate::Present).then_some(root)
        }
        _ => None,
    }
}

/// The `elf` findings: per present binary, one per protection it lacks, and one (info) per
/// ELF file that could not be judged.
///
/// CET is judged per binary only when some binary of the image is CET-marked (the toolchain
/// could, so an unmarked one is an inconsistent build). When none is (Debian and most
/// distributions do not build with `-fcf-protection`), one finding lists them all: per binary
/// it would be one line per file of the image, and the fix is the distribution's.
pub fn findings(ctx: &Context<'_>, sinks: &[&ElfSink]) -> Vec<Finding> {
    let writable = world_writable_dirs(ctx);
    let is_writable = |dir: &str| writable.contains(dir);
    let binaries = binaries(ctx, sinks);
    let analyzed = || {
        binaries.iter().filter_map(|b| match b.outcome {
            ElfOutcome::Analyzed(report) if report.object_type.is_loadable() => Some((b, report)),
            _ => None,
        })
    };
    let cet_per_binary = analyzed().any(|(_, r)| r.cet == Cet::Yes);
    let mut out = Vec::new();
    for binary in &binaries {
        match binary.outcome {
            ElfOutcome::Analyzed(report) => {
                for gap in gaps(&binary.path, report, &is_writable, cet_per_binary) {
                    let mut finding = Finding::new(
                        gap.rule,
                        CATEGORY,
                        gap.severity,
                        gap.title,
                        binary.path.as_bytes(),
                    );
                    finding.details = details(report);
                    if !gap.insecure.is_empty() {
                        finding = finding.detail(
                            "insecure_entries",
                            gap.insecure
                                .iter()
                                .map(|i| json!({"entry": i.entry, "why": i.why}))
                                .collect::<Vec<_>>(),
                        );
                    }
                    finding.fix = Some(gap.fix.to_owned());
                    finding.locations.push(binary.location.clone());
                    out.push(finding);
                }
            }
            ElfOutcome::NotAnalyzed(why) => out.push(not_analyzed(binary, why)),
        }
    }
    if !cet_per_binary {
        let unmarked: Vec<&Binary<'_>> = analyzed()
            .filter(|(_, r)| lacks_cet(r))
            .map(|(b, _)| b)
            .collect();
        if !unmarked.is_empty() {
            let mut finding = Finding::new(
                "elf-no-cet",
                CATEGORY,
                Severity::Info,
                "no binary in the image is marked for Intel CET (IBT and shadow stack)",
                b"image",
            )
            .detail("cet", "no")
            .detail("binaries", unmarked.len());
            finding.fix = Some(CET_FIX.to_owned());
            finding.locations = unmarked.iter().map(|b| b.location.clone()).collect();
            out.push(finding);
        }
    }
    out
}

const CET_FIX: &str = "compile and link every object with -fcf-protection=full (the C library included: the loader enables CET only when every loaded object is marked)";

/// The info finding for an ELF file without verdicts.
fn not_analyzed(binary: &Binary<'_>, why: &NotAnalyzed) -> Finding {
    let mut finding = Finding::new(
        "elf-not-analyzed",
        CATEGORY,
        Severity::Info,
        "ELF file not analyzed",
        binary.path.as_bytes(),
    )
    .detail("reasons", vec![why.describe()]);
    for key in [
        "type", "pie", "relro", "nx", "canary", "fortify", "rpath", "runpath", "cet", "static",
        "stripped",
    ] {
        finding = finding.detail(key, "unknown");
    }
    if let NotAnalyzed::TooBig { size, cap } = why {
        finding = finding.detail("size", *size).detail("cap", *cap);
    }
    finding.fix = Some(
        "check it by hand (checksec --file, readelf -lW -d); a file that only looks like ELF is harmless".to_owned(),
    );
    finding.locations.push(binary.location.clone());
    finding
}

/// An x86 file not marked for both CET features.
fn lacks_cet(report: &ElfReport) -> bool {
    matches!(report.cet, Cet::No | Cet::Ibt | Cet::Shstk)
}

/// One missing protection.
struct Gap {
    rule: &'static str,
    severity: Severity,
    title: &'static str,
    fix: &'static str,
    insecure: Vec<Insecure>,
}

impl Gap {
    fn new(rule: &'static str, severity: Severity, title: &'static str, fix: &'static str) -> Self {
        Self {
            rule,
            severity,
            title,
            fix,
            insecure: Vec::new(),
        }
    }
}

/// What `report` lacks, most severe first. Only what the file proves absent counts:
/// `unknown` verdicts make no finding (their reasons are in every finding's details).
fn gaps(
    path: &str,
    report: &ElfReport,
    writable: &dyn Fn(&str) -> bool,
    cet_per_binary: bool,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    if !report.object_type.is_loadable() {
        return gaps;
    }
    let rpath = insecure_entries(path, &report.rpath, writable);
    if !rpath.is_empty() {
        gaps.push(Gap {
            insecure: rpath,
            ..Gap::new(
                "elf-rpath",
                Severity::High,
                "RPATH lets others choose the libraries it loads",
                "remove the unsafe RPATH entries (patchelf --set-rpath / --remove-rpath): keep absolute root-owned directories or $ORIGIN-relative ones inside the image",
            )
        });
    }
    let runpath = insecure_entries(path, &report.runpath, writable);
    if !runpath.is_empty() {
        gaps.push(Gap {
            insecure: runpath,
            ..Gap::new(
                "elf-runpath",
                Severity::High,
                "RUNPATH lets others choose the libraries it loads",
                "remove the unsafe RUNPATH entries (patchelf --set-rpath / --remove-rpath): keep absolute root-owned directories or $ORIGIN-relative ones inside the image",
            )
        });
    }
    if report.nx == Verdict::No {
        gaps.push(Gap::new(
            "elf-exec-stack",
            Severity::High,
            "executable stack",
            "link with -Wl,-z,noexecstack and find the object that asks for an executable stack (assembly without a .note.GNU-stack section, nested C functions)",
        ));
    }
    if report.pie == Pie::No {
        gaps.push(Gap::new(
            "elf-no-pie",
            Severity::Medium,
            "not position-independent (no ASLR for its code)",
            "compile with -fPIE and link with -pie",
        ));
    }
    match report.relro {
        Relro::None => gaps.push(Gap::new(
            "elf-no-relro",
            Severity::Medium,
            "no RELRO",
            "link with -Wl,-z,relro,-z,now",
        )),
        Relro::Partial => gaps.push(Gap::new(
            "elf-partial-relro",
            Severity::Low,
            "partial RELRO (the PLT's GOT stays writable)",
            "link with -Wl,-z,now as well as -Wl,-z,relro",
        )),
        Relro::Full => {}
    }
    if report.canary == Verdict::No {
        gaps.push(Gap::new(
            "elf-no-canary",
            Severity::Low,
            "no stack canary",
            "compile with -fstack-protector-strong",
        ));
    }
    if report.fortify == Verdict::No {
        gaps.push(Gap::new(
            "elf-no-fortify",
            Severity::Info,
            "no FORTIFY_SOURCE calls",
            "compile with -O2 -D_FORTIFY_SOURCE=2 (or 3)",
        ));
    }
    if cet_per_binary && lacks_cet(report) {
        gaps.push(Gap::new(
            "elf-no-cet",
            Severity::Info,
            "not marked for Intel CET (IBT and shadow stack), unlike other binaries of the image",
            CET_FIX,
        ));
    }
    gaps
}

/// Every verdict of `report`, as the `details` of each of its findings.
fn details(report: &ElfReport) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_owned(), value);
    };
    put("type", report.object_type.name().into());
    put("machine", report.machine.into());
    put("pie", report.pie.name().into());
    put("relro", report.relro.name().into());
    put("nx", report.nx.name().into());
    put("canary", report.canary.name().into());
    put("fortify", report.fortify.name().into());
    put("fortified", report.fortified.len().into());
    put("fortified_functions", report.fortified.clone().into());
    put("rpath", report.rpath.clone().into());
    put("runpath", report.runpath.clone().into());
    put("cet", report.cet.name().into());
    put("static", yes_no(report.is_static).into());
    put("stripped", yes_no(report.stripped).into());
    if !report.reasons.is_empty() {
        put("reasons", report.reasons.clone().into());
    }
    map
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// Directories of the final filesystem that anyone may write to (`o+w`), as absolute paths.
fn world_writable_dirs(ctx: &Context<'_>) -> HashSet<String> {
    ctx.files
        .present()
        .filter(|r| r.kind == EntryKind::Dir && r.mode & 0o002 != 0)
        .map(|r| display_path(&r.path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::report::ObjectType;

    fn report() -> ElfReport {
        ElfReport {
            object_type: ObjectType::Dyn,
            machine: "X86_64",
            bits: 64,
            pie: Pie::Dso,
            relro: Relro::Full,
            nx: Verdict::Yes,
            canary: Verdict::Unknown,
            fortify: Verdict::No,
            fortified: Vec::new(),
            rpath: Vec::new(),
            runpath: Vec::new(),
            cet: Cet::No,
            is_static: false,
            stripped: true,
            interpreter: None,
            reasons: vec!["canary: defines __stack_chk_fail itself".to_owned()],
        }
    }

    fn rules(report: &ElfReport, cet_per_binary: bool) -> Vec<&'static str> {
        gaps("/usr/lib/libx.so", report, &|_| false, cet_per_binary)
            .iter()
            .map(|g| g.rule)
            .collect()
    }

    #[test]
    fn unknown_verdicts_and_libraries_without_pie_make_no_finding() {
        assert_eq!(rules(&report(), false), ["elf-no-fortify"]);
        assert_eq!(rules(&report(), true), ["elf-no-fortify", "elf-no-cet"]);
    }

    #[test]
    fn object_files_are_not_judged() {
        let object = ElfReport {
            object_type: ObjectType::Rel,
            pie: Pie::NotApplicable,
            relro: Relro::None,
            nx: Verdict::No,
            ..report()
        };
        assert!(rules(&object, true).is_empty());
    }

    #[test]
    fn unsafe_search_paths_name_each_entry() {
        let exec = ElfReport {
            rpath: vec!["".to_owned(), "/usr/lib".to_owned(), "/tmp/x".to_owned()],
            pie: Pie::No,
            ..report()
        };
        let gaps = gaps("/bin/x", &exec, &|_| false, false);
        assert_eq!(gaps[0].rule, "elf-rpath");
        assert_eq!(gaps[0].severity, Severity::High);
        let entries: Vec<&str> = gaps[0].insecure.iter().map(|i| i.entry.as_str()).collect();
        assert_eq!(entries, ["", "/tmp/x"]);
        assert!(gaps.iter().any(|g| g.rule == "elf-no-pie"));
    }
}
