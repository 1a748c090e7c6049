//! The bloat analyzer, end to end through the walk: the bloat recipe (a real image with known
//! waste, built by podman and by the Docker engine) in every form, and generated images for the
//! edge cases (opaque whiteouts, hardlinks, a whiteout of a directory tree, dive's own test case,
//! an empty image).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rharden_image::{EntryKind, Image, OpenOptions};
use rharden_scan::analysis::Context;
use rharden_scan::bloat::{self, BloatSummary, ContentHashSink, SeenFiles};
use rharden_scan::{Finding, Severity};
use rharden_testkit::{dir, file, fixtures_dir, hardlink, symlink, typed, Form, ImageSpec};
use serde_json::Value;

/// Walks the image once with the bloat sink, then analyzes. Also returns the bytes of layer 0's
/// regular files (the busybox rootfs, whose size depends on the host's busybox).
fn run(path: &Path) -> (Vec<Finding>, BloatSummary, u64) {
    let image = Image::open(path, &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let seen = SeenFiles::new();
    let walk = image
        .walk(|_| ContentHashSink::new(&seen))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ctx = Context {
        image: &image,
        layers: &walk.layers,
        files: &walk.files,
    };
    let sinks: Vec<&ContentHashSink<'_>> = walk.sinks.iter().collect();
    let (findings, summary) = bloat::analyze(&ctx, &sinks);
    let layer0 = walk
        .files
        .layers
        .first()
        .map(|l| {
            l.iter()
                .filter(|r| r.kind == EntryKind::File)
                .map(|r| r.size)
                .sum()
        })
        .unwrap_or(0);
    (findings, summary, layer0)
}

fn generated(spec: &ImageSpec) -> (Vec<Finding>, BloatSummary) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = spec.write(tmp.path(), Form::OciDir);
    let (findings, summary, _) = run(&path);
    (findings, summary)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn detail(f: &Finding, key: &str) -> u64 {
    f.details
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{}: no {key} in {:?}", f.rule_id, f.details))
}

fn rule<'a>(findings: &'a [Finding], id: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.rule_id == id).collect()
}

/// Checks one form of the bloat image against `truth` (expected.json's `bloat` object).
fn check(path: &Path, truth: &Value) {
    let name = path.display().to_string();
    let (findings, s, l0) = run(path);

    // Every finding is a bloat finding with what it wastes and how to fix it.
    for f in &findings {
        assert_eq!(f.category, "bloat", "{name}: {f:?}");
        assert!(f.details.contains_key("wasted_bytes"), "{name}: {f:?}");
        assert!(
            f.fix.as_deref().is_some_and(|x| !x.is_empty()),
            "{name}: {f:?}"
        );
    }

    // The truth: bytes stored in layers that the final filesystem does not have:
    // /big.bin 20971520 (deleted), /app/config.dat v1 4096 and v2 8192 (overwritten),
    // /data/cache/a 3000 and b 5000 (hidden by the opaque whiteout) = 20991808.
    assert_eq!(s.wasted_bytes, u(&truth["wasted_bytes"]), "{name}: wasted");
    assert_eq!(s.wasted_bytes, 20_971_520 + 4096 + 8192 + 3000 + 5000);
    assert_eq!(
        s.total_bytes,
        l0 + u(&truth["total_bytes_without_layer0"]),
        "{name}: total"
    );
    assert_eq!(
        s.final_bytes,
        l0 + u(&truth["final_bytes_without_layer0"]),
        "{name}: final"
    );
    assert_eq!(s.total_bytes - s.wasted_bytes, s.final_bytes);

    // dive's numbers, by hand. Per path, dive sums the size of every layer's version (a
    // whiteout of a file weighs 0; no whiteout of a directory here) and keeps the smallest:
    //   big.bin            20971520 + 0 (whiteout)  min 0       2 visits
    //   app/config.dat     4096 + 8192 + 16384     min 4096    3 visits
    //   data/cache/a       3000 + 6000             min 3000    2 visits (dive ignores opaque whiteouts)
    //   data/cache/b       5000                    min 5000
    //   3 × 65536 duplicates, apt 52000, pip 50000, layer 10's 130000: once each
    //   layer 0 (L0): once each
    // discovered = L0 + 21442800, minimum = L0 + 440704,
    // wasted = the paths seen twice or more = 20971520 + 28672 + 9000 = 21009192.
    let discovered = l0
        + 20_971_520
        + (4096 + 8192 + 16384)
        + (3000 + 6000)
        + 5000
        + 3 * 65_536
        + 52_000
        + 50_000
        + 130_000;
    let minimum = l0 + 4096 + 3000 + 5000 + 3 * 65_536 + 52_000 + 50_000 + 130_000;
    assert_eq!(
        discovered,
        l0 + u(&truth["dive_discovered_bytes_without_layer0"])
    );
    assert_eq!(minimum, l0 + u(&truth["dive_minimum_bytes_without_layer0"]));
    assert_eq!(
        s.efficiency,
        minimum as f64 / discovered as f64,
        "{name}: dive efficiency"
    );
    assert_eq!(
        s.dive_wasted_bytes,
        u(&truth["dive_wasted_bytes"]),
        "{name}"
    );
    assert_eq!(s.dive_wasted_bytes, 20_971_520 + 28_672 + 9000);

    // Per layer: what it stores that a later layer removes, and what it removes.
    assert_eq!(s.layers.len(), 11, "{name}");
    for l in &s.layers {
        let key = l.index.to_string();
        assert_eq!(
            l.wasted_bytes,
            truth["layer_wasted_bytes"][&key].as_u64().unwrap_or(0),
            "{name}: layer {key} wasted"
        );
        assert_eq!(
            l.removed_bytes,
            truth["layer_removed_bytes"][&key].as_u64().unwrap_or(0),
            "{name}: layer {key} removed"
        );
        assert!(l.created_by.is_some(), "{name}: layer {key} has no step");
    }
    assert_eq!(s.layers.iter().map(|l| l.size).sum::<u64>(), s.total_bytes);
    assert_eq!(
        s.biggest_layers[0], 1,
        "{name}: the 20 MiB layer is the biggest"
    );

    // Per writing step and removing step: one finding, with both steps.
    let waste = rule(&findings, "bloat.removed-in-later-layer");
    let want = truth["waste"].as_array().expect("waste");
    assert_eq!(waste.len(), want.len(), "{name}: {waste:#?}");
    for w in want {
        let f = waste
            .iter()
            .find(|f| {
                detail(f, "layer") == u(&w["layer"])
                    && detail(f, "removed_in_layer") == u(&w["removed_in_layer"])
            })
            .unwrap_or_else(|| panic!("{name}: no waste finding for {w}"));
        assert_eq!(
            detail(f, "wasted_bytes"),
            u(&w["wasted_bytes"]),
            "{name}: {w}"
        );
        assert_eq!(f.severity.name(), w["severity"], "{name}: {w}");
        let paths: BTreeSet<&str> = f.locations.iter().map(|l| l.path.as_str()).collect();
        let want_paths: BTreeSet<&str> = w["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(paths, want_paths, "{name}: {w}");
        for l in &f.locations {
            assert_eq!(
                l.layer_index,
                Some(w["layer"].as_u64().expect("layer") as usize)
            );
            let removed_by = l.removed_by.as_deref().unwrap_or_default();
            assert!(
                removed_by.contains(w["removed_by"].as_str().expect("removed_by")),
                "{name}: {l:?}"
            );
        }
        assert!(
            f.fix.as_deref().is_some_and(|x| x.contains("saves")),
            "{f:?}"
        );
    }

    // The same 64 KiB at three paths: one group, one finding, two copies too many.
    assert_eq!(s.duplicates.len(), 1, "{name}: {:#?}", s.duplicates);
    let d = &truth["duplicates"][0];
    let want_paths: Vec<&str> = d["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(s.duplicates[0].paths, want_paths, "{name}");
    assert_eq!(s.duplicates[0].size, u(&d["size"]));
    assert_eq!(s.duplicates[0].wasted_bytes, u(&d["wasted_bytes"]));
    assert_eq!(s.duplicate_wasted_bytes, u(&d["wasted_bytes"]));
    let dup = rule(&findings, "bloat.duplicate-content");
    assert_eq!(dup.len(), 1, "{name}");
    assert_eq!(dup[0].severity, Severity::Low);
    assert_eq!(detail(dup[0], "wasted_bytes"), u(&d["wasted_bytes"]));

    // Package-manager leftovers: one finding per kind, its bytes and the layer that left it.
    let want = truth["leftovers"].as_object().expect("leftovers");
    assert_eq!(s.leftovers.len(), want.len(), "{name}: {:#?}", s.leftovers);
    for (kind, w) in want {
        let got = s
            .leftovers
            .iter()
            .find(|l| l.kind == kind)
            .unwrap_or_else(|| panic!("{name}: no {kind} in {:#?}", s.leftovers));
        assert_eq!(got.bytes, u(&w["bytes"]), "{name}: {kind}");
        assert_eq!(got.files, u(&w["files"]), "{name}: {kind}");
        let layers: Vec<u64> = got.layers.iter().map(|l| *l as u64).collect();
        let want_layers: Vec<u64> = w["layers"].as_array().expect("l").iter().map(u).collect();
        assert_eq!(layers, want_layers, "{name}: {kind}");
        let f = rule(&findings, &format!("bloat.leftover.{kind}"));
        assert_eq!(f.len(), 1, "{name}: {kind}");
        assert_eq!(detail(f[0], "wasted_bytes"), u(&w["bytes"]));
        assert_eq!(f[0].severity, Severity::Low, "{name}: {kind} is small");
        assert!(f[0]
            .locations
            .iter()
            .all(|l| l.layer_index == Some(want_layers[0] as usize) && l.created_by.is_some()));
    }

    // The fake gcc and its header.
    let want = truth["toolchains"].as_object().expect("toolchains");
    assert_eq!(
        s.toolchains.len(),
        want.len(),
        "{name}: {:#?}",
        s.toolchains
    );
    for (tool, w) in want {
        let got = s
            .toolchains
            .iter()
            .find(|t| t.name == tool)
            .unwrap_or_else(|| panic!("{name}: no {tool}"));
        assert_eq!(got.bytes, u(&w["bytes"]), "{name}: {tool}");
        assert_eq!(got.files, u(&w["files"]), "{name}: {tool}");
        let f = rule(&findings, &format!("bloat.toolchain.{tool}"));
        assert_eq!(f.len(), 1);
        let sev = if tool == "gcc" {
            Severity::Medium
        } else {
            Severity::Low
        };
        assert_eq!(f[0].severity, sev, "{name}: {tool}");
    }
    assert!(rule(&findings, "bloat.large-file").is_empty());

    // Top lists: biggest first, present files only; wasted files led by /big.bin.
    assert!(s.biggest_files.windows(2).all(|w| w[0].size >= w[1].size));
    assert!(s.biggest_files.len() <= 10);
    assert_eq!(s.wasted_files[0].path, "/big.bin");
    assert_eq!(s.wasted_files[0].removed_in_layer, Some(2));
}

#[test]
fn bloat_recipe_in_every_form() {
    let Some(real) = rharden_testkit::real_fixtures() else {
        eprintln!("skipped: no real images");
        return;
    };
    let recipe = fixtures_dir().join("recipes/bloat");
    let mut forms: Vec<PathBuf> = std::fs::read_dir(&real)
        .expect("real")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("bloat."))
        })
        .collect();
    forms.sort();
    assert!(
        forms.len() >= 6,
        "only {} forms of the bloat image",
        forms.len()
    );
    for form in &forms {
        // The Docker engine's layers have the same indexes and sizes here (every RUN changes
        // something), so both truths carry the same `bloat` object.
        let truth_file = if form.to_string_lossy().ends_with(".dockerd.tar") {
            "expected.dockerd.json"
        } else {
            "expected.json"
        };
        let truth: Value =
            serde_json::from_slice(&std::fs::read(recipe.join(truth_file)).expect("truth"))
                .expect("json");
        check(form, &truth["bloat"]);
    }
    eprintln!("checked {} forms of the bloat image", forms.len());
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

/// An opaque whiteout hides what the layers below had in the directory: waste for rharden,
/// nothing for dive (whose stacked tree ignores opaque whiteouts).
#[test]
fn opaque_whiteout_hides_lower_files() {
    let spec = ImageSpec::new(vec![
        vec![
            dir("d"),
            file("d/a", &data(2000, 1)),
            file("d/b", &data(3000, 2)),
        ],
        vec![
            dir("d"),
            file("d/.wh..wh..opq", b""),
            file("d/c", &data(1500, 3)),
        ],
    ]);
    let (findings, s) = generated(&spec);
    assert_eq!(s.wasted_bytes, 5000);
    assert_eq!(s.dive_wasted_bytes, 0);
    assert_eq!(s.efficiency, 1.0);
    assert_eq!(s.layers[0].wasted_bytes, 5000);
    assert_eq!(s.layers[1].removed_bytes, 5000);
    let f = rule(&findings, "bloat.removed-in-later-layer");
    assert_eq!(f.len(), 1);
    assert!(f[0].title.contains("hides"), "{}", f[0].title);
    assert_eq!(detail(f[0], "wasted_bytes"), 5000);
}

/// Hardlinks share content: not duplicates, and a deleted name whose content a present link
/// still reaches is not waste. Symlinks are not files.
#[test]
fn hardlinks_are_neither_duplicates_nor_waste() {
    let x = data(4096, 7);
    let spec = ImageSpec::new(vec![
        vec![
            dir("a"),
            file("a/f", &x),
            hardlink("a/g", "a/f"),
            file("a/h", &x),
            symlink("a/s", "f"),
            dir("b"),
            file("b/f", &data(5000, 9)),
            hardlink("b/g", "b/f"),
        ],
        vec![dir("b"), file("b/.wh.f", b"")],
    ]);
    let (findings, s) = generated(&spec);
    assert_eq!(s.duplicates.len(), 1, "{:#?}", s.duplicates);
    assert_eq!(s.duplicates[0].paths, ["/a/f", "/a/h"]);
    assert_eq!(s.duplicates[0].wasted_bytes, 4096);
    assert_eq!(s.wasted_bytes, 0, "b/f's content lives on as b/g");
    assert!(rule(&findings, "bloat.removed-in-later-layer").is_empty());
    // dive sees b/f stored and then whited out (a whiteout of a file weighs 0).
    assert_eq!(s.dive_wasted_bytes, 5000);
}

/// Duplicates are named by the sha256 of their content, though only files whose size an earlier
/// file had are sha256-hashed: copies in one layer and across layers (read in parallel), files
/// of one size with different content (never grouped), a copy deleted by a later layer (not a
/// duplicate any more), and the first file of a size being a copy or not.
#[test]
fn duplicates_are_named_by_the_sha256_of_their_content() {
    use sha2::{Digest as _, Sha256};
    let hex = |b: &[u8]| -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let (a, b, c, d) = (data(3000, 1), data(3000, 2), data(3000, 3), data(8192, 4));
    let spec = ImageSpec::new(vec![
        vec![
            dir("l0"),
            file("l0/a1", &a),
            file("l0/b1", &b),
            file("l0/d1", &d),
        ],
        vec![
            dir("l1"),
            file("l1/c1", &c),
            file("l1/a2", &a),
            file("l1/d2", &d),
        ],
        vec![
            dir("l2"),
            file("l2/a3", &a),
            file("l2/c2", &c),
            file("l2/x", &data(3000, 5)),
        ],
        vec![dir("l0"), file("l0/.wh.d1", b"")],
    ]);
    let (findings, s) = generated(&spec);
    let mut groups: Vec<(String, Vec<String>)> = s
        .duplicates
        .iter()
        .map(|g| (g.sha256.clone(), g.paths.clone()))
        .collect();
    groups.sort();
    let mut want = vec![
        (
            hex(&a),
            vec!["/l0/a1".to_string(), "/l1/a2".into(), "/l2/a3".into()],
        ),
        (hex(&c), vec!["/l1/c1".to_string(), "/l2/c2".into()]),
    ];
    want.sort();
    assert_eq!(groups, want);
    let dup = rule(&findings, "bloat.duplicate-content");
    assert_eq!(dup.len(), 2);
    for f in dup {
        let sha = f.details["sha256"].as_str().unwrap_or_default();
        assert!(want.iter().any(|(h, _)| h == sha), "{sha}");
    }
}

/// A whiteout of a directory removes its whole tree; dive weighs the whiteout with the sizes
/// of everything it deletes (the subtree in the stacked lower layers).
#[test]
fn whiteout_of_a_directory_tree() {
    let spec = ImageSpec::new(vec![
        vec![
            dir("t"),
            file("t/x", &data(1000, 1)),
            dir("t/sub"),
            file("t/sub/y", &data(2000, 2)),
            file("keep", &data(500, 3)),
        ],
        vec![file(".wh.t", b"")],
        vec![dir("t"), file("t/x", &data(700, 4))],
    ]);
    let (findings, s) = generated(&spec);
    assert_eq!(s.wasted_bytes, 3000);
    assert_eq!(s.total_bytes, 4200);
    assert_eq!(s.final_bytes, 1200);
    // dive: t/x 1000 + 700 (min 700, 2 visits), t/sub/y 2000, keep 500, and the whiteout of
    // t weighs 1000 + 2000 (its subtree below, in layers 0..0): discovered 7200, minimum 6200.
    assert_eq!(s.efficiency, 6200.0 / 7200.0);
    assert_eq!(s.dive_wasted_bytes, 1700);
    let f = rule(&findings, "bloat.removed-in-later-layer");
    assert_eq!(f.len(), 1);
    assert_eq!(detail(f[0], "files"), 2);
    assert_eq!(f[0].severity, Severity::Low);
}

/// dive's own test (`dive/filetree/efficiency_test.go`, `TestEfficiency`): paths added without
/// directory entries, so `/etc/nginx` is no directory to dive and its whiteout weighs 0 → 0.75.
/// With real directory entries (in every layer, as build tools write them: dive's stacking
/// gives a directory that a layer has only as a parent no metadata, so it stops being one),
/// the whiteout weighs the 8000 bytes it deletes: (15000 + 8000) / (20000 + 8000).
#[test]
fn dives_own_test_case() {
    let layers = |dirs: bool| {
        let mut l0 = vec![
            file("etc/nginx/nginx.conf", &data(2000, 1)),
            file("etc/nginx/public", &data(3000, 2)),
        ];
        if dirs {
            l0.insert(0, dir("etc"));
            l0.insert(1, dir("etc/nginx"));
        }
        let mut l1 = vec![
            file("etc/nginx/nginx.conf", &data(5000, 3)),
            file("etc/athing", &data(10_000, 4)),
        ];
        if dirs {
            l1.insert(0, dir("etc"));
            l1.insert(1, dir("etc/nginx"));
        }
        vec![l0, l1, vec![file("etc/.wh.nginx", b"")]]
    };
    let (_, s) = generated(&ImageSpec::new(layers(false)));
    assert_eq!(s.efficiency, 0.75);
    assert_eq!(s.dive_wasted_bytes, 7000);
    assert_eq!(s.wasted_bytes, 2000 + 5000 + 3000);
    let (_, s) = generated(&ImageSpec::new(layers(true)));
    assert_eq!(s.efficiency, 23_000.0 / 28_000.0);
    assert_eq!(s.dive_wasted_bytes, 7000);
    // Without the directory entries in layer 1, its implicit etc/nginx resets the stacked one.
    let mut only_lower = layers(true);
    only_lower[1].retain(|e| e.kind != b'5');
    let (_, s) = generated(&ImageSpec::new(only_lower));
    assert_eq!(s.efficiency, 0.75);
}

/// A whiteout of a path no lower layer has makes dive's visitor fail, and dive skips the rest
/// of that layer (here the second version of `a`, so dive sees no waste).
#[test]
fn dive_stops_a_layer_at_a_whiteout_of_nothing() {
    let spec = ImageSpec::new(vec![
        vec![file("a", &data(1000, 1))],
        vec![file(".wh.c", b""), file("a", &data(500, 2))],
    ]);
    let (_, s) = generated(&spec);
    assert_eq!(s.wasted_bytes, 1000);
    assert_eq!(s.dive_wasted_bytes, 0);
    assert_eq!(s.efficiency, 1.0);
}

#[test]
fn empty_image() {
    let (findings, s) = generated(&ImageSpec::new(vec![vec![]]));
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(s.efficiency, 1.0);
    assert_eq!(
        (s.wasted_bytes, s.dive_wasted_bytes, s.total_bytes),
        (0, 0, 0)
    );
    assert_eq!(s.layers.len(), 1);
}

/// Leftovers and toolchains come from the final filesystem only: a cache removed in a later
/// layer is waste, not a leftover. Small files are not hashed, so not duplicates.
#[test]
fn leftovers_only_in_the_final_filesystem() {
    let small = data(100, 5);
    let spec = ImageSpec::new(vec![
        vec![
            dir("root"),
            dir("root/.npm"),
            file("root/.npm/x", &data(3000, 1)),
            dir("var/cache/apk"),
            file("var/cache/apk/APKINDEX.tar.gz", &data(2500, 2)),
            file("s1", &small),
            file("s2", &small),
            dir("usr/local/go/bin"),
            file("usr/local/go/bin/go", &data(4000, 3)),
            typed("fifo", b'6'),
        ],
        vec![dir("root"), file("root/.wh..npm", b"")],
    ]);
    let (findings, s) = generated(&spec);
    let kinds: Vec<&str> = s.leftovers.iter().map(|l| l.kind).collect();
    assert_eq!(kinds, ["apk-cache"]);
    assert_eq!(s.wasted_bytes, 3000);
    assert!(s.duplicates.is_empty());
    assert_eq!(s.toolchains.len(), 1);
    assert_eq!(s.toolchains[0].name, "go");
    assert_eq!(
        rule(&findings, "bloat.toolchain.go")[0].severity,
        Severity::Medium
    );
    assert!(rule(&findings, "bloat.leftover.npm-cache").is_empty());
}

/// A plain Debian base image: no compiler, no leftovers worth more than `low`; its numbers are
/// printed for the record (and the duplicates it ships, such as identical license texts).
#[test]
fn plain_debian_base() {
    let Some(real) = rharden_testkit::real_fixtures() else {
        eprintln!("skipped: no real images");
        return;
    };
    let path = real.join("debian.oci.tar");
    assert!(
        path.exists(),
        "debian.oci.tar is missing: build-images.sh builds it"
    );
    // The cost of hashing, for the record (meaningful in a release build): a metadata-only walk
    // (decompress, digest checks, fates) against the walk with the bloat sink plus the analysis.
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let started = std::time::Instant::now();
    image.walk(|_| ()).expect("walk");
    let plain = started.elapsed();
    let started = std::time::Instant::now();
    let (findings, s, _) = run(&path);
    let hashed = started.elapsed();
    eprintln!(
        "debian.oci.tar: walk {plain:?}, walk + hashes + bloat analysis {hashed:?} ({:.2}×)",
        hashed.as_secs_f64() / plain.as_secs_f64()
    );
    let loud: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity > Severity::Low)
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
    assert!(rule(&findings, "bloat.removed-in-later-layer").is_empty());
    assert_eq!((s.wasted_bytes, s.dive_wasted_bytes), (0, 0));
    assert_eq!(s.efficiency, 1.0);
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
    rules.dedup();
    eprintln!(
        "debian.oci.tar: {} findings ({rules:?}), {} duplicate groups wasting {} bytes, {} total bytes",
        findings.len(),
        s.duplicates.len(),
        s.duplicate_wasted_bytes,
        s.total_bytes,
    );
    for d in s.duplicates.iter().take(8) {
        eprintln!("  {} × {} B: {:?}", d.paths.len(), d.size, d.paths);
    }
}

/// A file of 50 MiB or more in the final filesystem is an info finding; a removed one is waste.
#[test]
fn large_files_are_info() {
    let big = data(50 << 20, 1);
    let mut spec = ImageSpec::new(vec![
        vec![file("big", &big), file("gone", &big[..(50 << 20) - 1])],
        vec![file(".wh.gone", b"")],
    ]);
    spec.codec = rharden_testkit::LayerCodec::Plain;
    let (findings, s) = generated(&spec);
    let large = rule(&findings, "bloat.large-file");
    assert_eq!(large.len(), 1, "{large:#?}");
    assert_eq!(large[0].severity, Severity::Info);
    assert_eq!(large[0].locations[0].path, "/big");
    assert_eq!(detail(large[0], "size"), 50 << 20);
    assert_eq!(s.biggest_files[0].path, "/big");
    let waste = rule(&findings, "bloat.removed-in-later-layer");
    assert_eq!(waste.len(), 1);
    assert_eq!(waste[0].severity, Severity::Medium);
    assert_eq!(detail(waste[0], "wasted_bytes"), (50 << 20) - 1);
}
