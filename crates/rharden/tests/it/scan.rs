//! `rharden scan` as CI uses it: exit codes, formats, --output, policies, baselines, redaction.

use std::fs;
use std::path::Path;

use rharden_testkit::*;

use crate::{repo_root, rharden, stderr, stdout};

const TOKEN: &str = "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";

fn example() -> String {
    repo_root()
        .join("tests/fixtures/example/leaky.oci.tar")
        .display()
        .to_string()
}

/// An image with a checksum-valid GitHub token in a file that a later layer deletes.
fn token_image(out: &Path) -> String {
    let spec = ImageSpec::new(vec![
        vec![
            dir("app"),
            file("app/.env", format!("GITHUB_TOKEN={TOKEN}\n").as_bytes()),
        ],
        vec![file("app/.wh..env", b"")],
    ]);
    spec.write(out, Form::OciTar).display().to_string()
}

fn clean_image(out: &Path) -> String {
    ImageSpec::new(vec![vec![dir("app"), file("app/main.sh", b"echo hello\n")]])
        .write(out, Form::OciTar)
        .display()
        .to_string()
}

#[test]
fn exit_codes_follow_the_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaky = token_image(dir.path());
    let o = rharden(&["scan", &leaky]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("FAILED"));
    let clean_dir = dir.path().join("clean");
    fs::create_dir(&clean_dir).expect("mkdir");
    let clean = clean_image(&clean_dir);
    let o = rharden(&["scan", &clean]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // --fail-on above every finding passes; a missing image is an error, never a pass.
    let o = rharden(&["scan", &leaky, "--fail-on", "critical"]);
    let json_o = rharden(&["scan", &leaky, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json_o.stdout).expect("json");
    let worst = v["findings"][0]["severity"]
        .as_str()
        .expect("severity")
        .to_owned();
    assert_eq!(
        o.status.code(),
        Some(if worst == "critical" { 1 } else { 0 })
    );
    let o = rharden(&[
        "scan",
        dir.path().join("missing.tar").to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn secrets_are_redacted_everywhere_unless_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaky = token_image(dir.path());
    for format in ["table", "json", "sarif"] {
        let o = rharden(&["scan", &leaky, "--format", format]);
        let out = stdout(&o);
        assert!(!out.contains(TOKEN), "{format} leaks the token");
        assert!(out.contains("ghp_***"), "{format}: {out}");
    }
    let o = rharden(&["scan", &example(), "--format", "json"]);
    let out = stdout(&o);
    let truth: serde_json::Value = serde_json::from_slice(
        &fs::read(repo_root().join("tests/fixtures/example/expected.json")).expect("truth"),
    )
    .expect("json");
    for (name, value) in truth["secrets"].as_object().expect("secrets") {
        let value = value.as_str().expect("str");
        if value.len() >= 8 {
            assert!(
                !out.contains(value),
                "{name} leaks in JSON (history lines included)"
            );
        }
    }
    let o = rharden(&["scan", &leaky, "--format", "json", "--show-secrets"]);
    assert!(stdout(&o).contains(TOKEN));
}

#[test]
fn json_contract_and_deleted_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaky = token_image(dir.path());
    let o = rharden(&["scan", &leaky, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["schema_version"], 1);
    for key in ["image", "findings", "summary"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    let f = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["evidence"] == "ghp_***")
        .expect("token finding")
        .clone();
    for key in [
        "rule_id",
        "category",
        "severity",
        "title",
        "fingerprint",
        "evidence",
        "locations",
    ] {
        assert!(f.get(key).is_some(), "finding lacks {key}");
    }
    assert_eq!(f["category"], "secret");
    let loc = &f["locations"][0];
    assert_eq!(loc["source"], "layer");
    assert_eq!(loc["path"], "/app/.env");
    assert_eq!(loc["line"], 1);
    assert_eq!(loc["status"], "deleted");
    assert_eq!(loc["removed_in_layer"], 1);
    assert_eq!(v["summary"]["failed"], true);
}

#[test]
fn output_file_sarif_and_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaky = token_image(dir.path());
    let sarif = dir.path().join("out.sarif");
    let o = rharden(&[
        "scan",
        &leaky,
        "--format",
        "sarif",
        "--output",
        sarif.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "with --output, nothing on stdout");
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(&sarif).expect("sarif")).expect("json");
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    assert!(results[0]["partialFingerprints"]["rharden/v1"].is_string());
    let baseline = dir.path().join("baseline.json");
    let o = rharden(&[
        "scan",
        &leaky,
        "--write-baseline",
        baseline.to_str().expect("utf8"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "writing a baseline does not change the verdict"
    );
    let o = rharden(&[
        "scan",
        &leaky,
        "--baseline",
        baseline.to_str().expect("utf8"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "everything is in the baseline: {}",
        stdout(&o)
    );
    let clean_dir = dir.path().join("clean");
    fs::create_dir(&clean_dir).expect("mkdir");
    let o = rharden(&[
        "scan",
        &clean_image(&clean_dir),
        "--baseline",
        baseline.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("stale baseline entry"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_policies_exit_2_naming_file_and_pointer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaky = token_image(dir.path());
    let policy = dir.path().join("policy.json");
    fs::write(
        &policy,
        br#"{"version":1,"fail_on":"high","allow":{"paths":[{"path":"^app/","reson":"typo"}]}}"#,
    )
    .expect("write");
    let o = rharden(&["scan", &leaky, "--policy", policy.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("policy.json/allow/paths/0"), "{err}");
    // A valid policy that allows the path lets the image pass.
    fs::write(&policy, br#"{"version":1,"fail_on":"high","allow":{"paths":[{"path":"^app/","reason":"test data"}]}}"#).expect("write");
    let o = rharden(&["scan", &leaky, "--policy", policy.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let strict = repo_root().join("policies/ci-strict.json");
    let o = rharden(&["scan", &leaky, "--policy", strict.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
}

/// SARIF validated against the official SARIF 2.1.0 schema (as Microsoft's SARIF SDK ships it):
/// `.ci/run` installs it and sets RHARDEN_SARIF_SCHEMA; tests/tools/validate_sarif.py checks.
#[test]
fn sarif_is_valid_against_the_official_schema() {
    let Some(schema) = std::env::var_os("RHARDEN_SARIF_SCHEMA") else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: RHARDEN_SARIF_SCHEMA is not set (see .ci/run)");
        }
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (name, image) in [("example", example()), ("token", token_image(dir.path()))] {
        let sarif = dir.path().join(format!("{name}.sarif"));
        rharden(&[
            "scan",
            &image,
            "--format",
            "sarif",
            "--output",
            sarif.to_str().expect("utf8"),
        ]);
        files.push(sarif);
    }
    // The validator must be able to fail: a broken copy is rejected.
    let broken = dir.path().join("broken.sarif");
    let mut v: serde_json::Value =
        serde_json::from_slice(&fs::read(&files[0]).expect("sarif")).expect("json");
    v["runs"][0]["results"][0]["level"] = "severe".into();
    fs::write(&broken, serde_json::to_vec(&v).expect("json")).expect("write");
    let validate = |paths: &[&Path]| {
        std::process::Command::new("python3")
            .arg(repo_root().join("tests/tools/validate_sarif.py"))
            .arg(&schema)
            .args(paths)
            .output()
            .expect("run python3")
    };
    let out = validate(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "invalid SARIF:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = validate(&[broken.as_path()]);
    assert!(
        !out.status.success(),
        "the validator accepted a broken SARIF file"
    );
}

/// The audit report is one file with nothing fetched from anywhere, no script, no secret in
/// clear; when Chromium is installed it must render it (the DOM it builds has the verdict and
/// the chart).
#[test]
fn html_report_is_self_contained_and_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report.html");
    let o = rharden(&[
        "scan",
        &example(),
        "--format",
        "html",
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let html = fs::read_to_string(&out).expect("report");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("FAIL"), "verdict");
    assert!(html.contains("<svg"), "layer chart");
    assert!(html.contains("Policy: default"), "policy section");
    for forbidden in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(forbidden), "{forbidden} in the report");
    }
    assert!(
        !html.contains("t+LRgqp+3NmxWDDPCWRGROJa0JX0FjWKFXMGZQaF"),
        "redacted"
    );
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        eprintln!("skipped rendering: no chromium (apt-get install chromium)");
        return;
    };
    let dom = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", out.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("rharden audit report"), "{dom:.300}");
    assert!(dom.contains("<svg"), "chart rendered into the DOM");
    assert!(dom.contains("verdict fail"), "verdict in the DOM");
}

#[test]
fn markdown_report_fits_a_comment() {
    let o = rharden(&["scan", &example(), "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.starts_with("### rharden scan: ❌ **FAIL**"), "{md:.200}");
    assert!(
        md.contains("| critical | secret | AWS secret access key |"),
        "{md}"
    );
    assert!(md.chars().count() <= 65_000);
}

/// The bloat fixture wastes 20 MiB of its ~21 MiB: over the default policy's limit (50 %),
/// so the gate fails on the bloat finding alone; with the bloat analyzer off it passes.
#[test]
fn default_policy_fails_an_image_that_is_mostly_waste() {
    let Some(real) = real_fixtures() else {
        eprintln!("skipped: no real fixtures");
        return;
    };
    let image = real.join("bloat.oci.tar");
    let image = image.to_str().expect("utf8");
    let o = rharden(&["scan", image, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let limit = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule_id"] == "bloat-policy-limit")
        .expect("the limit finding");
    assert_eq!(limit["severity"], "high");
    assert_eq!(v["summary"]["wasted_bytes"], 20_991_808);
    assert!(v["bloat"]["layers"].is_array());
    let o = rharden(&[
        "scan",
        image,
        "--analyzers",
        "secrets,hygiene,privilege,elf",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = rharden(&["scan", image, "--analyzers", "secretz"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `--output` to a device, a FIFO or a symlink writes through them: the path stays what it was
/// (renaming the report over `/dev/null` as root would replace the host's /dev/null).
#[test]
fn output_to_a_device_fifo_or_symlink_writes_through() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let leaky = token_image(dir.path());
    let path_of = |name: &str| dir.path().join(name).display().to_string();
    let scan_to = |out: &str| rharden(&["scan", &leaky, "--format", "json", "--output", out]);

    // A FIFO: a reader gets the whole report, and the FIFO stays a FIFO.
    let fifo = path_of("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).expect("read the FIFO"))
        };
        let o = scan_to(&fifo);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        // Had the report not gone through the FIFO, the reader would wait for a writer forever:
        // one that writes nothing ends its wait, and the check below fails instead of hanging.
        let waited = std::time::Instant::now();
        while !reader.is_finished() && waited.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if !reader.is_finished() {
            drop(fs::OpenOptions::new().write(true).open(&fifo));
        }
        let report: serde_json::Value =
            serde_json::from_slice(&reader.join().expect("reader")).expect("a JSON report");
        assert_eq!(report["schema_version"], 1);
        let kind = fs::symlink_metadata(&fifo).expect("fifo").file_type();
        assert!(kind.is_fifo(), "{kind:?}");
    } else {
        eprintln!("SKIPPED the FIFO case: mkfifo failed");
    }

    // A character device (root only): /dev/null's own numbers, in the temporary directory.
    let null = path_of("null");
    let made = std::process::Command::new("mknod")
        .args(["-m", "666", &null, "c", "1", "3"])
        .status();
    if made.is_ok_and(|s| s.success()) {
        let o = scan_to(&null);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let kind = fs::symlink_metadata(&null).expect("null").file_type();
        assert!(kind.is_char_device(), "{kind:?}");
    } else {
        eprintln!("SKIPPED the character device case: mknod needs root");
    }

    // A symlink to a file stays a symlink; its target gets the report.
    let real = path_of("real.json");
    fs::write(&real, b"old").expect("write");
    let link = path_of("link.json");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let o = scan_to(&link);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(&real).expect("read")).expect("a JSON report");
    assert_eq!(report["schema_version"], 1);

    // A directory is an error naming it.
    let o = scan_to(&dir.path().display().to_string());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
}

/// `--output` or `--write-baseline` naming an input (the image, a file inside an OCI layout,
/// the policy) is bad input: exit 2, the input untouched.
#[test]
fn output_onto_an_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = token_image(dir.path());
    let layout = sample_image().write(dir.path(), Form::OciDir);
    let layout = layout.to_str().expect("utf8").to_owned();
    let index = format!("{layout}/index.json");
    let policy = dir.path().join("policy.json");
    fs::copy(repo_root().join("policies/default.json"), &policy).expect("copy the policy");
    let policy = policy.to_str().expect("utf8").to_owned();
    let cases: [(&str, Vec<&str>, &str); 4] = [
        (&tar, vec!["scan", &tar, "--output", &tar], "image"),
        (&tar, vec!["scan", &tar, "--write-baseline", &tar], "image"),
        (&index, vec!["scan", &layout, "--output", &index], "layout"),
        (
            &policy,
            vec!["scan", &tar, "--policy", &policy, "-o", &policy],
            "policy",
        ),
    ];
    for (input, args, what) in cases {
        let before = fs::read(input).expect("read the input");
        let o = rharden(&args);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("the report would replace it"),
            "{what}: {}",
            stderr(&o)
        );
        assert_eq!(
            fs::read(input).expect("read the input"),
            before,
            "{what} changed"
        );
    }
}
