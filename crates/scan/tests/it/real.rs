//! The secrets recipe (a token in ENV and history, AWS credentials, an SSH key and a secret
//! file, each deleted by a later layer) in every form: every planted secret is found with the
//! layer that wrote it, its status, and the layer that removed it.

use std::path::{Path, PathBuf};

use rharden_image::{Image, OpenOptions};
use rharden_scan::policy::Analyzer;
use rharden_scan::secrets::rules::RuleSet;
use rharden_scan::{scan, Finding, Policy, ScanOptions, ScanReport, Source, Status};
use serde_json::Value;

use rharden_testkit::fixtures_dir as fixtures;

/// The secrets analyzer alone (these tests are about secrets).
fn run(path: &Path) -> ScanReport {
    run_with(path, &[Analyzer::Secrets])
}

fn run_with(path: &Path, analyzers: &[Analyzer]) -> ScanReport {
    let rules = RuleSet::builtin().expect("rules");
    let mut policy = Policy::builtin().expect("policy");
    policy.analyzers = analyzers.to_vec();
    let image = Image::open(path, &OpenOptions::default()).expect("open");
    let options = ScanOptions {
        rules: &rules,
        policy: &policy,
        fail_on: None,
        baseline: None,
        show_secrets: true,
    };
    scan(&image, path, &options).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

fn finding_with<'a>(report: &'a ScanReport, secret: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.evidence.contains(secret) || secret.contains(&f.evidence))
        .unwrap_or_else(|| panic!("{}: no finding for {secret:.8}…", report.image))
}

/// Checks the planted secrets of `truth` against a scan of `path` (layer indexes from `truth`).
fn check(path: &Path, truth: &Value) {
    let report = run(path);
    let name = path.display().to_string();
    let secrets = &truth["secrets"];
    let files = truth["files"].as_array().expect("files");
    let file = |p: &str| {
        files
            .iter()
            .find(|f| f["path"] == p)
            .unwrap_or_else(|| panic!("{p} in expected.json"))
    };

    // The GitHub token: in ENV and in the build history.
    let gh = finding_with(&report, secrets["github_token"].as_str().expect("token"));
    assert!(
        gh.locations
            .iter()
            .any(|l| l.source == Source::Config && l.path == "Env/GITHUB_TOKEN"),
        "{name}: {gh:?}"
    );
    assert!(
        gh.locations.iter().any(|l| l.source == Source::History),
        "{name}: token in history"
    );

    // AWS keys: in the credentials file, written by one layer, deleted by the next, and in history.
    for key in ["aws_access_key_id", "aws_secret_access_key"] {
        let f = finding_with(&report, secrets[key].as_str().expect(key));
        let want = file("root/.aws/credentials");
        let loc = f
            .locations
            .iter()
            .find(|l| l.source == Source::Layer && l.path == "/root/.aws/credentials")
            .unwrap_or_else(|| panic!("{name}: {key} not found in the credentials file: {f:?}"));
        assert_eq!(
            loc.layer_index,
            want["layer"].as_u64().map(|v| v as usize),
            "{name}: {key} layer"
        );
        assert_eq!(loc.status, Status::Deleted, "{name}: {key}");
        assert_eq!(
            loc.removed_in_layer,
            want["by_layer"].as_u64().map(|v| v as usize),
            "{name}: {key} removed in"
        );
        assert!(
            loc.removed_by
                .as_deref()
                .is_some_and(|c| c.contains("rm -rf /root/.aws")),
            "{name}: {loc:?}"
        );
        assert!(loc.line.is_some());
    }

    // The two halves of the AWS credential are linked.
    let id = finding_with(&report, secrets["aws_access_key_id"].as_str().expect("id"));
    let key = finding_with(
        &report,
        secrets["aws_secret_access_key"].as_str().expect("key"),
    );
    assert_eq!(
        id.related,
        vec![key.fingerprint.clone()],
        "{name}: AWS key id not paired"
    );
    assert_eq!(
        key.related,
        vec![id.fingerprint.clone()],
        "{name}: AWS secret not paired"
    );

    // The SSH key copied in and then deleted.
    let ssh = report
        .findings
        .iter()
        .find(|f| {
            f.rule_id.contains("openssh")
                && f.locations
                    .iter()
                    .any(|l| l.path == "/root/.ssh/id_ed25519")
        })
        .unwrap_or_else(|| panic!("{name}: no OpenSSH private key finding"));
    let want = file("root/.ssh/id_ed25519");
    let loc = ssh
        .locations
        .iter()
        .find(|l| l.path == "/root/.ssh/id_ed25519")
        .expect("location");
    assert_eq!(loc.status, Status::Deleted);
    assert_eq!(
        loc.removed_in_layer,
        want["by_layer"].as_u64().map(|v| v as usize)
    );

    // The secret file, deleted: found by its name.
    let secret_file = report
        .findings
        .iter()
        .flat_map(|f| f.locations.iter())
        .find(|l| l.path == "/tmp/secret_key")
        .unwrap_or_else(|| panic!("{name}: /tmp/secret_key not reported"));
    assert_eq!(secret_file.status, Status::Deleted);
    assert!(
        report.summary.failed,
        "{name}: the default policy must fail this image"
    );
}

#[test]
fn committed_example_image() {
    let truth: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("example/expected.json")).expect("expected"),
    )
    .expect("json");
    check(&fixtures().join("example/leaky.oci.tar"), &truth);
}

#[test]
fn secrets_recipe_in_every_form() {
    let Some(real) = rharden_testkit::real_fixtures() else {
        return;
    };
    let truth: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("recipes/secrets/expected.json")).expect("expected"),
    )
    .expect("json");
    let mut forms: Vec<PathBuf> = std::fs::read_dir(&real)
        .expect("real")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("secrets.") && !n.contains("dockerd"))
        })
        .collect();
    forms.sort();
    assert!(forms.len() >= 6, "only {} forms", forms.len());
    for form in &forms {
        check(form, &truth);
    }
    eprintln!("checked {} forms of the secrets image", forms.len());
}

#[test]
fn images_without_secrets_pass() {
    let real = fixtures().join("real");
    if !real.exists() {
        return;
    }
    for name in [
        "base.oci.tar",
        "elf.oci.tar",
        "caps.oci.tar",
        "fates.docker.tar",
    ] {
        let report = run(&real.join(name));
        assert!(!report.summary.failed, "{name}: {:#?}", report.findings);
    }
}

/// Precision: a plain Debian base image ships documentation, test keys in libraries (GnuTLS)
/// and example configs; none of it may be reported above low severity.
#[test]
fn plain_debian_base_has_no_finding_above_low() {
    let real = fixtures().join("real");
    if !real.exists() {
        return;
    }
    for name in ["debian.docker.tar", "debian.oci.tar"] {
        let path = real.join(name);
        assert!(
            path.exists(),
            "{name} is missing: tests/fixtures/build-images.sh builds it (needs the Debian mirror)"
        );
        let report = run(&path);
        let loud: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity > rharden_scan::Severity::Low)
            .collect();
        assert!(loud.is_empty(), "{name}: {loud:#?}");
        eprintln!(
            "{name}: {} findings in all (none above low)",
            report.findings.len()
        );
    }
}

/// Every analyzer on, the default policy: a stock Debian base image passes the default gate
/// (its distro setuid binaries, root user and partial RELRO are reported below high), and one
/// walk feeds every analyzer.
#[test]
fn debian_base_passes_the_default_gate_with_every_analyzer() {
    let real = fixtures().join("real");
    if !real.exists() {
        return;
    }
    let report = run_with(&real.join("debian.oci.tar"), &Analyzer::ALL);
    assert_eq!(
        report.analyzers,
        ["secrets", "privilege", "elf", "bloat", "hygiene"]
    );
    let high: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= rharden_scan::Severity::High)
        .collect();
    assert!(high.is_empty(), "{high:#?}");
    assert!(!report.summary.failed);
    for category in ["setuid", "setgid", "elf", "hygiene", "bloat"] {
        assert!(
            report.summary.by_category.contains_key(category),
            "{category}: {:?}",
            report.summary.by_category
        );
    }
    let efficiency = report.summary.efficiency.expect("bloat ran");
    assert!(efficiency > 0.99 && efficiency <= 1.0, "{efficiency}");
    assert_eq!(
        report.summary.wasted_bytes,
        Some(0),
        "one layer wastes nothing"
    );
}

/// A GitHub classic token with a valid checksum, its payload from `seed`.
fn github_token(seed: u32) -> String {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    let payload: String = (0..30)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(BASE62[(state % 62) as usize])
        })
        .collect();
    rharden_testkit::github_token(&payload)
}

/// Secrets on known lines of a 2.6 MB file, some where the 1 MiB buffers meet: each is found
/// once, on its own line.
#[test]
fn line_numbers_hold_across_buffers() {
    let lines = 90_000usize;
    let planted: Vec<usize> = vec![1, 2, 34_900, 34_950, 34_990, 35_000, 36_000, 70_000, lines];
    let mut text = String::new();
    for n in 1..=lines {
        match planted.iter().position(|&p| p == n) {
            Some(i) => text.push_str(&format!("export GH_TOKEN={}\n", github_token(i as u32))),
            None => text.push_str(&format!("filler line {n} lorem ipsum\n")),
        }
    }
    assert!(text.len() > 2 * (1 << 20) + (1 << 19), "{}", text.len());
    let work = tempfile::tempdir().expect("tempdir");
    let spec = rharden_testkit::ImageSpec::new(vec![vec![rharden_testkit::file(
        "app/tokens.env",
        text.as_bytes(),
    )]]);
    let path = spec.write(work.path(), rharden_testkit::Form::DockerArchive);
    let report = run(&path);
    for (i, &line) in planted.iter().enumerate() {
        let token = github_token(i as u32);
        let f = finding_with(&report, &token);
        let at: Vec<Option<u64>> = f.locations.iter().map(|l| l.line).collect();
        assert_eq!(at, vec![Some(line as u64)], "token {i}");
    }
}

/// Files that arrive in one piece are scanned where they are, the others through the sink's
/// buffer: secrets on known lines of files from 40 bytes to 300 KB (one piece, or split where
/// the reader's 128 KiB batches meet) are each found once, on their own line.
#[test]
fn line_numbers_hold_in_files_of_every_size() {
    let sizes = [1usize, 100, 3_000, 4_000, 9_000];
    let mut entries = Vec::new();
    let mut planted = Vec::new();
    for (i, &lines) in sizes.iter().enumerate() {
        let at = lines / 2 + 1;
        let token = github_token(100 + i as u32);
        let mut text = String::new();
        for n in 1..=lines {
            if n == at {
                text.push_str(&format!("export GH_TOKEN={token}\n"));
            } else {
                text.push_str(&format!("filler line {n} lorem ipsum\n"));
            }
        }
        entries.push(rharden_testkit::file(
            &format!("app/f{i}.env"),
            text.as_bytes(),
        ));
        planted.push((token, at, format!("/app/f{i}.env")));
    }
    let work = tempfile::tempdir().expect("tempdir");
    let spec = rharden_testkit::ImageSpec::new(vec![entries]);
    let path = spec.write(work.path(), rharden_testkit::Form::DockerArchive);
    let report = run(&path);
    for (token, line, file) in &planted {
        let f = finding_with(&report, token);
        let at: Vec<(Option<u64>, String)> = f
            .locations
            .iter()
            .map(|l| (l.line, l.path.clone()))
            .collect();
        assert_eq!(at, vec![(Some(*line as u64), file.clone())], "{file}");
    }
}
