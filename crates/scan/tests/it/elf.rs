//! The ELF analyzer: binaries compiled here with gcc under varied flags (exact verdicts each),
//! the same binaries through a walked image (findings only for present files), the `elf`
//! recipe in every form (where checksec 2.6.0 is wrong), the Debian fixture against
//! checksec's reference values, and hostile ELF files that must never stop a scan.

use std::path::{Path, PathBuf};
use std::process::Command;

use rharden_image::{Image, OpenOptions};
use rharden_scan::analysis::Context;
use rharden_scan::elf::{self, Cet, ElfOutcome, ElfReport, ElfSink, Pie, Relro, Verdict};
use rharden_scan::{Finding, Severity};
use rharden_testkit::{file, hardlink, Form, ImageSpec, ALL_FORMS};

const HELLO: &str = r#"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char buf[64];
    strncpy(buf, argc > 1 ? argv[1] : "rharden", sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    printf("hello %s (%d args)\n", buf, argc);
    return 0;
}
"#;

const LIBRARY: &str = r#"
#include <stdio.h>
#include <string.h>
int greet(const char *who) {
    char buf[64];
    strncpy(buf, who, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    return printf("hello %s\n", buf);
}
"#;

/// Compiles `source` with `flags`; `None` (said on stderr) when gcc is missing.
fn gcc(dir: &Path, name: &str, source: &str, flags: &[&str]) -> Option<Vec<u8>> {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write source");
    let out = dir.join(name);
    let status = match Command::new("gcc")
        .args(flags)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
    {
        Ok(status) => status,
        Err(e) => {
            eprintln!("skipped: gcc is not available ({e})");
            return None;
        }
    };
    assert!(status.success(), "gcc {flags:?} failed");
    Some(std::fs::read(&out).expect("read binary"))
}

/// Every variant the tests compile: (name in the image, source, flags).
fn variants() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        (
            "static-pie",
            HELLO,
            vec![
                "-O2",
                "-fPIE",
                "-static-pie",
                "-fstack-protector-strong",
                "-D_FORTIFY_SOURCE=2",
                "-Wl,-z,relro,-z,now",
            ],
        ),
        (
            "static-weak",
            HELLO,
            vec![
                "-O2",
                "-U_FORTIFY_SOURCE",
                "-fno-pie",
                "-no-pie",
                "-static",
                "-fno-stack-protector",
            ],
        ),
        (
            "no-pie",
            HELLO,
            vec![
                "-O2",
                "-U_FORTIFY_SOURCE",
                "-fno-pie",
                "-no-pie",
                "-fno-stack-protector",
                "-z",
                "execstack",
                "-z",
                "norelro",
                "-fcf-protection=none",
            ],
        ),
        (
            "pie-full",
            HELLO,
            vec![
                "-O2",
                "-fPIE",
                "-pie",
                "-fstack-protector-strong",
                "-D_FORTIFY_SOURCE=2",
                "-Wl,-z,relro,-z,now",
                "-fcf-protection=none",
            ],
        ),
        (
            "pie-partial",
            HELLO,
            vec![
                "-O2",
                "-fPIE",
                "-pie",
                "-fstack-protector-strong",
                "-Wl,-z,relro,-z,lazy",
            ],
        ),
        (
            "rpath-origin",
            HELLO,
            vec!["-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib"],
        ),
        (
            "rpath-tmp",
            HELLO,
            vec!["-Wl,--disable-new-dtags", "-Wl,-rpath,/tmp/lib:/usr/lib"],
        ),
        (
            "runpath-tmp",
            HELLO,
            vec!["-Wl,--enable-new-dtags", "-Wl,-rpath,/tmp/lib"],
        ),
        // Debian's crt files are not CET-marked: -z ibt,-z shstk marks the output regardless.
        (
            "cet",
            HELLO,
            vec!["-O2", "-fcf-protection=full", "-Wl,-z,ibt,-z,shstk"],
        ),
        (
            "libgreet.so",
            LIBRARY,
            vec![
                "-O2",
                "-shared",
                "-fPIC",
                "-fstack-protector-strong",
                "-D_FORTIFY_SOURCE=2",
                "-Wl,-z,relro,-z,now",
                "-Wl,-soname,libgreet.so",
            ],
        ),
    ]
}

/// The compiled variants, or `None` without gcc.
fn compiled(dir: &Path) -> Option<Vec<(&'static str, Vec<u8>)>> {
    variants()
        .into_iter()
        .map(|(name, source, flags)| Some((name, gcc(dir, name, source, &flags)?)))
        .collect()
}

fn analyzed(bytes: &[u8]) -> ElfReport {
    elf::analyze(bytes).expect("analyze")
}

#[test]
fn compiled_binaries_get_exact_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(binaries) = compiled(dir.path()) else {
        return;
    };
    let get = |name: &str| {
        analyzed(
            &binaries
                .iter()
                .find(|(n, _)| *n == name)
                .expect("variant")
                .1,
        )
    };

    let r = get("static-pie");
    assert_eq!(
        (r.pie, r.relro, r.nx, r.is_static, r.stripped),
        (Pie::Yes, Relro::Full, Verdict::Yes, true, false),
        "{r:?}"
    );
    // Proven by main reading %fs:0x28, not by the embedded __stack_chk_fail.
    assert_eq!(r.canary, Verdict::Yes, "{r:?}");
    assert!(r.reasons.iter().any(|w| w.contains("%fs:0x28")), "{r:?}");
    assert_eq!(r.fortify, Verdict::Yes, "{r:?}");
    assert_eq!(r.fortified, ["__printf_chk"], "{r:?}");

    let r = get("static-weak");
    assert_eq!((r.pie, r.is_static), (Pie::No, true), "{r:?}");
    // checksec says "Canary found" here: libc's __stack_chk_fail is linked into every static binary.
    assert_eq!(r.canary, Verdict::Unknown, "{r:?}");
    assert!(
        r.reasons.iter().any(|w| w.contains("__stack_chk_fail")),
        "{r:?}"
    );
    assert_eq!(r.fortify, Verdict::No, "{r:?}");

    let r = get("no-pie");
    assert_eq!(
        (
            r.pie,
            r.relro,
            r.nx,
            r.canary,
            r.fortify,
            r.cet,
            r.is_static
        ),
        (
            Pie::No,
            Relro::None,
            Verdict::No,
            Verdict::No,
            Verdict::No,
            Cet::No,
            false
        ),
        "{r:?}"
    );

    let r = get("pie-full");
    assert_eq!(
        (
            r.pie,
            r.relro,
            r.nx,
            r.canary,
            r.fortify,
            r.cet,
            r.is_static
        ),
        (
            Pie::Yes,
            Relro::Full,
            Verdict::Yes,
            Verdict::Yes,
            Verdict::Yes,
            Cet::No,
            false
        ),
        "{r:?}"
    );
    assert_eq!(r.fortified, ["__printf_chk"]);
    assert!(r.interpreter.is_some());

    let r = get("pie-partial");
    assert_eq!((r.pie, r.relro), (Pie::Yes, Relro::Partial), "{r:?}");

    let r = get("rpath-origin");
    assert_eq!(r.rpath, ["$ORIGIN/../lib"]);
    assert!(r.runpath.is_empty());
    let r = get("rpath-tmp");
    assert_eq!(r.rpath, ["/tmp/lib", "/usr/lib"]);
    let r = get("runpath-tmp");
    assert_eq!(
        (r.rpath.len(), &r.runpath[..]),
        (0, &["/tmp/lib".to_owned()][..])
    );

    let r = get("cet");
    assert_eq!(r.cet, Cet::Yes, "{r:?}");

    let r = get("libgreet.so");
    assert_eq!(
        (r.pie, r.relro, r.canary, r.fortify),
        (Pie::Dso, Relro::Full, Verdict::Yes, Verdict::Yes),
        "{r:?}"
    );
}

/// Walks `path` with ELF sinks and returns the findings and the binaries' outcomes by path.
fn scan(path: &Path) -> (Vec<Finding>, Vec<(String, ElfOutcome)>) {
    let image = Image::open(path, &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let walk = image
        .walk(|_| ElfSink::new())
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let ctx = Context {
        image: &image,
        layers: &walk.layers,
        files: &walk.files,
    };
    let sinks: Vec<&ElfSink> = walk.sinks.iter().collect();
    let findings = elf::findings(&ctx, &sinks);
    let binaries = elf::binaries(&ctx, &sinks)
        .into_iter()
        .map(|b| (b.path, b.outcome.clone()))
        .collect();
    (findings, binaries)
}

fn rules_for<'a>(findings: &'a [Finding], path: &str) -> Vec<&'a str> {
    let mut rules: Vec<&str> = findings
        .iter()
        .filter(|f| f.locations.iter().any(|l| l.path == path))
        .map(|f| f.rule_id.as_str())
        .collect();
    rules.sort_unstable();
    rules
}

#[test]
fn a_walked_image_reports_present_binaries_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(binaries) = compiled(dir.path()) else {
        return;
    };
    let bin = |name: &str| {
        binaries
            .iter()
            .find(|(n, _)| *n == name)
            .expect("variant")
            .1
            .clone()
    };
    let mut first: Vec<_> = binaries
        .iter()
        .map(|(name, bytes)| file(&format!("opt/app/bin/{name}"), bytes).mode(0o755))
        .collect();
    // Deleted by the next layer: never reported.
    first.push(file("opt/gone", &bin("no-pie")).mode(0o755));
    // Overwritten by the next layer with a hardened binary.
    first.push(file("usr/bin/tool", &bin("no-pie")).mode(0o755));
    // A hardlink to a present binary is reported once, at the binary's path; a hardlink whose
    // target is deleted is the binary now.
    first.push(file("opt/orig", &bin("no-pie")).mode(0o755));
    first.push(hardlink("opt/link", "opt/orig"));
    first.push(hardlink("usr/bin/alias", "opt/app/bin/pie-full"));
    let second = vec![
        file("opt/.wh.orig", b""),
        file("opt/.wh.gone", b""),
        file("usr/bin/tool", &bin("pie-full")).mode(0o755),
        file("usr/bin/script", b"#!/bin/sh\necho not ELF\n").mode(0o755),
    ];
    let spec = ImageSpec::new(vec![first, second]);
    let path = spec.write(dir.path(), Form::OciTar);
    let (findings, outcomes) = scan(&path);

    assert!(rules_for(&findings, "/opt/gone").is_empty());
    assert!(rules_for(&findings, "/opt/orig").is_empty());
    assert!(rules_for(&findings, "/opt/link").contains(&"elf-no-pie"));
    assert!(outcomes.iter().all(|(p, _)| p != "/usr/bin/alias"));
    // The hardened binary of the upper layer is what is judged (built without CET).
    assert_eq!(rules_for(&findings, "/usr/bin/tool"), ["elf-no-cet"]);
    assert!(outcomes.iter().all(|(p, _)| p != "/usr/bin/script"));
    assert_eq!(
        rules_for(&findings, "/opt/app/bin/no-pie"),
        [
            "elf-exec-stack",
            "elf-no-canary",
            "elf-no-cet",
            "elf-no-fortify",
            "elf-no-pie",
            "elf-no-relro"
        ]
    );
    assert_eq!(
        rules_for(&findings, "/opt/app/bin/static-weak"),
        [
            "elf-no-cet",
            "elf-no-fortify",
            "elf-no-pie",
            "elf-partial-relro"
        ],
        "canary is unknown: no finding"
    );
    assert_eq!(
        rules_for(&findings, "/opt/app/bin/rpath-tmp")
            .into_iter()
            .filter(|r| r.contains("path"))
            .collect::<Vec<_>>(),
        ["elf-rpath"]
    );
    assert_eq!(
        rules_for(&findings, "/opt/app/bin/runpath-tmp")
            .into_iter()
            .filter(|r| r.contains("path"))
            .collect::<Vec<_>>(),
        ["elf-runpath"]
    );
    assert!(!rules_for(&findings, "/opt/app/bin/rpath-origin").contains(&"elf-rpath"));
    assert!(!rules_for(&findings, "/opt/app/bin/cet").contains(&"elf-no-cet"));

    let exec_stack = findings
        .iter()
        .find(|f| f.rule_id == "elf-exec-stack")
        .expect("exec stack");
    assert_eq!(exec_stack.severity, Severity::High);
    assert_eq!(exec_stack.category, "elf");
    assert!(exec_stack.fix.is_some());
    for key in [
        "pie", "relro", "nx", "canary", "fortify", "rpath", "runpath", "cet", "static", "stripped",
        "type",
    ] {
        assert!(exec_stack.details.contains_key(key), "details lack {key}");
    }
    assert_eq!(exec_stack.details["nx"], "no");
    assert_eq!(exec_stack.details["pie"], "no");
    let rpath = findings
        .iter()
        .find(|f| f.rule_id == "elf-rpath")
        .expect("rpath");
    assert_eq!(rpath.severity, Severity::High);
    assert_eq!(
        rpath.details["rpath"],
        serde_json::json!(["/tmp/lib", "/usr/lib"])
    );
    assert_eq!(rpath.details["insecure_entries"][0]["entry"], "/tmp/lib");
    // Every unknown verdict comes with its reasons.
    for f in &findings {
        let unknown = f.details.values().any(|v| v == "unknown");
        assert!(
            !unknown || f.details.contains_key("reasons"),
            "{}: unknown without reasons",
            f.rule_id
        );
    }
}

#[test]
fn files_above_the_cap_are_reported_not_analyzed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = b"\x7fELF".to_vec();
    big.resize(4096, 0);
    let spec = ImageSpec::new(vec![vec![
        file("bin/big", &big).mode(0o755),
        file("bin/small", b"\x7fELF\x02\x01\x01").mode(0o755),
        file("bin/text", b"hello").mode(0o644),
    ]]);
    let path = spec.write(dir.path(), Form::DockerArchive);
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let walk = image.walk(|_| ElfSink::with_cap(1024)).expect("walk");
    let ctx = Context {
        image: &image,
        layers: &walk.layers,
        files: &walk.files,
    };
    let sinks: Vec<&ElfSink> = walk.sinks.iter().collect();
    let findings = elf::findings(&ctx, &sinks);
    let big = findings
        .iter()
        .find(|f| f.locations[0].path == "/bin/big")
        .expect("big");
    assert_eq!(
        (big.rule_id.as_str(), big.severity),
        ("elf-not-analyzed", Severity::Info)
    );
    assert_eq!(big.details["size"], 4096);
    assert!(big.details["reasons"][0]
        .as_str()
        .is_some_and(|r| r.contains("cap")));
    let small = findings
        .iter()
        .find(|f| f.locations[0].path == "/bin/small")
        .expect("small");
    assert!(small.details["reasons"][0]
        .as_str()
        .is_some_and(|r| r.contains("not a parseable ELF")));
    assert_eq!(findings.len(), 2, "{findings:?}");
}

/// A minimal ELF64 little-endian header for x86-64 (`e_type` 2): the base hostile files edit.
fn header64() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // ELFCLASS64
    h[5] = 1; // little endian
    h[6] = 1; // EV_CURRENT
    h[16..18].copy_from_slice(&2u16.to_le_bytes());
    h[18..20].copy_from_slice(&62u16.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    h
}

#[test]
fn hostile_elf_files_never_stop_a_scan() {
    let mut hostile: Vec<(&str, Vec<u8>)> = Vec::new();
    hostile.push(("truncated", b"\x7fELF\x02\x01".to_vec()));
    hostile.push(("garbage", {
        let mut g = b"\x7fELF".to_vec();
        g.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8));
        g
    }));
    hostile.push(("huge-sections", {
        let mut h = header64();
        h[40..48].copy_from_slice(&64u64.to_le_bytes()); // e_shoff
        h[60..62].copy_from_slice(&u16::MAX.to_le_bytes()); // e_shnum
        h[62..64].copy_from_slice(&(u16::MAX - 1).to_le_bytes()); // e_shstrndx
        h.resize(256, 0);
        h
    }));
    hostile.push(("section-count-in-sh_size", {
        // e_shnum 0: the count is in section 0's sh_size (here: 2^60).
        let mut h = header64();
        h[40..48].copy_from_slice(&64u64.to_le_bytes());
        h.resize(128, 0);
        h[64 + 32..64 + 40].copy_from_slice(&(1u64 << 60).to_le_bytes());
        h
    }));
    hostile.push(("huge-segments", {
        let mut h = header64();
        h[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        h[56..58].copy_from_slice(&u16::MAX.to_le_bytes()); // e_phnum
        h
    }));
    hostile.push(("phoff-past-end", {
        let mut h = header64();
        h[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        h[56..58].copy_from_slice(&1u16.to_le_bytes());
        h
    }));
    hostile.push(("header-only", header64()));
    if let Some(real) = real_hello() {
        // A real binary cut short: headers promise tables that are not there.
        for cut in [64usize, 1000, 4096, real.len() / 2] {
            hostile.push(("cut", real[..cut.min(real.len())].to_vec()));
        }
        // The same binary with bytes of its headers and tables overwritten, 500 ways.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let mut mutated = real.clone();
            for _ in 0..8 {
                // The headers are at the start, the section headers and symbols at the end.
                let len = mutated.len();
                let off = (next() % 4096.min(len as u64)) as usize;
                let at = if next() % 2 == 0 { off } else { len - 1 - off };
                mutated[at] = next() as u8;
            }
            mutated[..4].copy_from_slice(b"\x7fELF");
            let _ = elf::analyze(&mutated);
        }
    }
    for (_, bytes) in &hostile {
        // Analysis alone: an error or a verdict, never a panic.
        let _ = elf::analyze(bytes);
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let layer = hostile
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| file(&format!("bin/{i}-{name}"), bytes).mode(0o755))
        .collect();
    let path = ImageSpec::new(vec![layer]).write(dir.path(), Form::OciTar);
    let (findings, outcomes) = scan(&path);
    assert_eq!(outcomes.len(), hostile.len());
    for f in findings.iter().filter(|f| f.rule_id == "elf-not-analyzed") {
        assert_eq!(f.severity, Severity::Info);
        assert!(f.details["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("not a parseable ELF")));
    }
    for name in [
        "truncated",
        "huge-sections",
        "section-count-in-sh_size",
        "phoff-past-end",
    ] {
        let (_, outcome) = outcomes
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .expect(name);
        assert!(
            matches!(outcome, ElfOutcome::NotAnalyzed(_)),
            "{name}: {outcome:?}"
        );
    }
}

/// A real static binary, when gcc is here.
fn real_hello() -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    gcc(dir.path(), "hello", HELLO, &["-O2", "-static"])
}

/// The real fixtures named `<recipe>.*`, or `None` (said on stderr) when they are not built.
fn real_forms(recipe: &str) -> Option<Vec<PathBuf>> {
    let real = rharden_testkit::real_fixtures()?;
    let mut forms: Vec<PathBuf> = std::fs::read_dir(&real)
        .expect("read real fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{recipe}.")))
        })
        .collect();
    forms.sort();
    if forms.is_empty() {
        eprintln!("skipped: no {recipe}.* image under {}", real.display());
        return None;
    }
    Some(forms)
}

fn report_of<'a>(outcomes: &'a [(String, ElfOutcome)], path: &str, image: &str) -> &'a ElfReport {
    match outcomes.iter().find(|(p, _)| p == path) {
        Some((_, ElfOutcome::Analyzed(report))) => report,
        other => panic!("{image}: {path}: {other:?}"),
    }
}

#[test]
fn the_elf_recipe_where_checksec_is_wrong() {
    let Some(forms) = real_forms("elf") else {
        return;
    };
    for path in &forms {
        let name = path.display().to_string();
        let (findings, outcomes) = scan(path);
        assert_eq!(outcomes.len(), 2, "{name}");

        let hello = report_of(&outcomes, "/hello", &name);
        assert_eq!(
            (hello.pie, hello.relro, hello.nx, hello.is_static),
            (Pie::Yes, Relro::Full, Verdict::Yes, true),
            "{name}: {hello:?}"
        );
        assert_ne!(hello.canary, Verdict::No, "{name}: {hello:?}");
        // checksec 2.6.0 says no FORTIFY: it only reads the dynamic symbols.
        assert_eq!(hello.fortify, Verdict::Yes, "{name}: {hello:?}");
        assert!(hello.fortified.contains(&"__printf_chk".to_owned()));

        let weak = report_of(&outcomes, "/hello-insecure", &name);
        assert_eq!(
            (weak.pie, weak.relro, weak.nx, weak.is_static),
            (Pie::No, Relro::None, Verdict::No, true),
            "{name}: {weak:?}"
        );
        // checksec 2.6.0 says "Canary found": that is libc's handler, not the program's canary.
        assert_ne!(weak.canary, Verdict::Yes, "{name}: {weak:?}");
        assert_eq!(weak.fortify, Verdict::No, "{name}: {weak:?}");

        let rules = rules_for(&findings, "/hello-insecure");
        for rule in ["elf-exec-stack", "elf-no-pie", "elf-no-relro"] {
            assert!(rules.contains(&rule), "{name}: {rules:?}");
        }
        assert!(!rules.contains(&"elf-no-canary"), "{name}: not proven");
        let hello_rules = rules_for(&findings, "/hello");
        assert!(
            hello_rules.iter().all(|r| *r == "elf-no-cet"),
            "{name}: {hello_rules:?}"
        );
        let cet: Vec<_> = findings
            .iter()
            .filter(|f| f.rule_id == "elf-no-cet")
            .collect();
        assert_eq!(cet.len(), 1, "{name}: one image-wide CET finding");
        assert_eq!(cet[0].locations.len(), 2, "{name}");
        eprintln!("{name}: {} findings", findings.len());
    }
}

#[test]
fn debian_binaries_match_checksec() {
    let Some(forms) = real_forms("debian") else {
        return;
    };
    // checksec 2.6.0 on the same rootfs (../shared/fixtures/checksec-reference.txt):
    // path, relro, pie, canary, fortify. NX is enabled on all of them.
    let expected = [
        (
            "/usr/bin/su",
            Relro::Full,
            Pie::Yes,
            Verdict::Yes,
            Verdict::Yes,
        ),
        (
            "/usr/bin/passwd",
            Relro::Full,
            Pie::Yes,
            Verdict::Yes,
            Verdict::Yes,
        ),
        (
            "/usr/bin/ls",
            Relro::Partial,
            Pie::Yes,
            Verdict::Yes,
            Verdict::Yes,
        ),
        (
            "/usr/bin/mount",
            Relro::Full,
            Pie::Yes,
            Verdict::Yes,
            Verdict::Yes,
        ),
        (
            "/usr/bin/bash",
            Relro::Full,
            Pie::Yes,
            Verdict::Yes,
            Verdict::Yes,
        ),
        (
            "/usr/bin/whoami",
            Relro::Partial,
            Pie::Yes,
            Verdict::Yes,
            Verdict::Yes,
        ),
        (
            "/usr/sbin/unix_chkpwd",
            Relro::Full,
            Pie::Yes,
            Verdict::Yes,
            Verdict::Yes,
        ),
    ];
    // One of each kind of container: the others are checked for the same walk by the image tests.
    for path in forms.iter().filter(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".oci.tar") || n.ends_with(".docker.tar.gz"))
    }) {
        let name = path.display().to_string();
        let (findings, outcomes) = scan(path);
        for (binary, relro, pie, canary, fortify) in expected {
            let r = report_of(&outcomes, binary, &name);
            assert_eq!(
                (r.relro, r.pie, r.nx, r.canary, r.fortify, r.stripped),
                (relro, pie, Verdict::Yes, canary, fortify, true),
                "{name}: {binary}: {r:?}"
            );
        }
        let libc = report_of(&outcomes, "/usr/lib/x86_64-linux-gnu/libc.so.6", &name);
        assert_eq!(
            (libc.pie, libc.relro),
            (Pie::Dso, Relro::Partial),
            "{libc:?}"
        );
        assert_ne!(libc.canary, Verdict::No, "{libc:?}");

        // A Debian base image has no high findings, and nothing above low but exec stacks.
        let high: Vec<_> = findings
            .iter()
            .filter(|f| f.severity >= Severity::Medium)
            .map(|f| (f.rule_id.as_str(), f.locations[0].path.as_str()))
            .collect();
        assert!(high.is_empty(), "{name}: {high:?}");
        let mut by_rule = std::collections::BTreeMap::<&str, usize>::new();
        for f in &findings {
            *by_rule.entry(f.rule_id.as_str()).or_default() += 1;
        }
        // No Debian binary is CET-marked: one finding lists them all, not one per file.
        assert_eq!(by_rule.get("elf-no-cet"), Some(&1), "{name}: {by_rule:?}");
        eprintln!(
            "{name}: {} ELF files, {} findings {by_rule:?}",
            outcomes.len(),
            findings.len()
        );
    }
}

#[test]
fn every_form_gives_the_same_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(binaries) = compiled(dir.path()) else {
        return;
    };
    let layer: Vec<_> = binaries
        .iter()
        .map(|(name, bytes)| file(&format!("bin/{name}"), bytes).mode(0o755))
        .collect();
    let spec = ImageSpec::new(vec![layer]);
    let mut seen: Option<Vec<(String, String)>> = None;
    for form in ALL_FORMS {
        let sub = dir.path().join(format!("{form:?}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let (findings, _) = scan(&spec.write(&sub, form));
        let mut keys: Vec<(String, String)> = findings
            .iter()
            .map(|f| (f.rule_id.clone(), f.locations[0].path.clone()))
            .collect();
        keys.sort();
        match &seen {
            None => seen = Some(keys),
            Some(first) => assert_eq!(first, &keys, "{form:?}"),
        }
    }
}

/// Collects the content of chosen files of a layer (the oracle test hands them to checksec).
#[derive(Debug, Default)]
struct Collect {
    wanted: std::collections::HashSet<Vec<u8>>,
    current: Option<(Vec<u8>, Vec<u8>)>,
    files: Vec<(Vec<u8>, Vec<u8>)>,
}

impl rharden_image::LayerSink for Collect {
    fn entry(
        &mut self,
        _: &rharden_image::LayerInfo,
        entry: &rharden_image::Entry<'_>,
    ) -> Result<rharden_image::Want, rharden_image::SinkError> {
        if entry.kind == rharden_image::EntryKind::File && self.wanted.contains(entry.path) {
            self.current = Some((entry.path.to_vec(), Vec::new()));
            return Ok(rharden_image::Want::Content);
        }
        Ok(rharden_image::Want::Skip)
    }
    fn content(&mut self, chunk: &[u8]) -> Result<(), rharden_image::SinkError> {
        if let Some((_, bytes)) = &mut self.current {
            bytes.extend_from_slice(chunk);
        }
        Ok(())
    }
    fn end_entry(&mut self) -> Result<(), rharden_image::SinkError> {
        self.files.extend(self.current.take());
        Ok(())
    }
}

/// checksec's verdicts for one file: relro, canary, nx, pie, fortify, fortified count.
fn checksec(file: &Path) -> Option<[String; 6]> {
    let mut arg = std::ffi::OsString::from("--file=");
    arg.push(file);
    let out = Command::new("checksec")
        .arg("--output=csv")
        .arg(arg)
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .to_owned();
    let f: Vec<&str> = line.split(',').collect();
    let word = |v: &str, yes: &str| if v == yes { "yes" } else { "no" }.to_owned();
    let relro = match *f.first()? {
        "Full RELRO" => "full",
        "Partial RELRO" => "partial",
        _ => "none",
    };
    let pie = match *f.get(3)? {
        "PIE enabled" => "yes",
        "DSO" => "dso",
        _ => "no",
    };
    Some([
        relro.to_owned(),
        word(f.get(1)?, "Canary found"),
        word(f.get(2)?, "NX enabled"),
        pie.to_owned(),
        word(f.get(7)?, "Yes"),
        (*f.get(8)?).to_owned(),
    ])
}

/// The oracle: checksec 2.6.0 on a sample of the Debian fixture's ELF files (every 12th, and
/// those of the shared reference). Where checksec can know, we agree; where we say `unknown`,
/// the file does not prove checksec's answer (libc's own `__stack_chk_fail`, stripped static
/// binaries), and a reason says so.
#[test]
fn debian_agrees_with_checksec_where_it_can_know() {
    if Command::new("checksec").arg("--version").output().is_err() {
        eprintln!("skipped: checksec is not installed");
        return;
    }
    let Some(forms) = real_forms("debian") else {
        return;
    };
    let Some(path) = forms
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "debian.oci.tar"))
    else {
        eprintln!("skipped: no debian.oci.tar");
        return;
    };
    let (_, outcomes) = scan(path);
    let reference = [
        "/usr/bin/su",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/sbin/ldconfig",
    ];
    let sample: Vec<&(String, ElfOutcome)> = outcomes
        .iter()
        .enumerate()
        .filter(|(i, (p, _))| i % 12 == 0 || reference.contains(&p.as_str()))
        .map(|(_, o)| o)
        .collect();
    let wanted = sample
        .iter()
        .map(|(p, _)| p.trim_start_matches('/').as_bytes().to_vec())
        .collect();
    let image = Image::open(path, &OpenOptions::default()).expect("open");
    let walk = image
        .walk(|_| Collect {
            wanted: std::collections::HashSet::clone(&wanted),
            ..Collect::default()
        })
        .expect("walk");
    let files: std::collections::HashMap<Vec<u8>, Vec<u8>> =
        walk.sinks.into_iter().flat_map(|s| s.files).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut unknown = 0;
    for (i, (binary, outcome)) in sample.iter().enumerate() {
        let ElfOutcome::Analyzed(r) = outcome else {
            panic!("{binary}: {outcome:?}");
        };
        let bytes = &files[binary.trim_start_matches('/').as_bytes()];
        let copy = dir.path().join(i.to_string());
        std::fs::write(&copy, bytes).expect("write");
        let Some(theirs) = checksec(&copy) else {
            panic!("checksec failed on {binary}");
        };
        let ours = [
            r.relro.name().to_owned(),
            r.canary.name().to_owned(),
            r.nx.name().to_owned(),
            r.pie.name().to_owned(),
            r.fortify.name().to_owned(),
            r.fortified.len().to_string(),
        ];
        for (k, key) in ["relro", "canary", "nx", "pie", "fortify", "fortified"]
            .iter()
            .enumerate()
        {
            let known =
                ours[k] != "unknown" && !(*key == "fortified" && r.fortify == Verdict::Unknown);
            if known {
                assert_eq!(ours[k], theirs[k], "{binary}: {key}: {r:?}");
            } else {
                unknown += 1;
                assert!(
                    *key == "fortified"
                        || r.reasons.iter().any(|w| w.starts_with(&format!("{key}:"))),
                    "{binary}: {key} unknown without a reason: {r:?}"
                );
            }
        }
    }
    eprintln!(
        "checksec agrees on {} Debian ELF files ({unknown} verdicts unknown to us)",
        sample.len()
    );
}

#[test]
fn the_magic_is_seen_whatever_the_chunks() {
    use rharden_image::{Entry, EntryKind, LayerSink};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = ImageSpec::new(vec![vec![file("x", b"x")]]).write(dir.path(), Form::OciDir);
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let layer = &image.layers[0];
    let elf_bytes = real_hello().unwrap_or_else(header64);
    let mut sink = ElfSink::new();
    for (name, bytes) in [
        ("bin/elf", elf_bytes.clone()),
        ("bin/not", b"\x7fELX and more".to_vec()),
    ] {
        let entry = Entry {
            path: name.as_bytes(),
            raw_path: name.as_bytes(),
            kind: EntryKind::File,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: bytes.len() as u64,
            mtime: 0,
            link_target: None,
            device: None,
            xattrs: &[],
        };
        sink.entry(layer, &entry).expect("entry");
        // One byte at a time through the magic, then in odd sizes.
        let (head, tail) = bytes.split_at(6);
        for b in head {
            sink.content(std::slice::from_ref(b)).expect("content");
        }
        for chunk in tail.chunks(777) {
            sink.content(chunk).expect("content");
        }
        sink.end_entry().expect("end");
    }
    assert!(sink.get(b"bin/elf").is_some());
    assert!(sink.get(b"bin/not").is_none());
    if let Some(ElfOutcome::Analyzed(report)) = sink.get(b"bin/elf") {
        assert_eq!(report.pie, Pie::No);
    }
}
