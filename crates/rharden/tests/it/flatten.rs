//! `rharden flatten` and `rharden unpack` as scripts use them: outputs, JSON, exit codes.

use std::fs;

use rharden_testkit::*;

use crate::{rharden, stderr, stdout};

fn listing(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    v.sort();
    v
}

#[test]
fn flatten_writes_one_layer_and_reports_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample_image().write(dir.path(), Form::OciTar);
    let out = dir.path().join("flat.oci.tar");
    let o = rharden(&[
        "flatten",
        input.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    for key in [
        "output",
        "format",
        "compression",
        "layers_in",
        "layers_kept",
        "layers_squashed",
        "layer_digest",
        "diff_id",
        "layer_size",
        "uncompressed_size",
        "entries",
        "dropped_entries",
        "dropped_bytes",
        "history_commands_dropped",
        "config_digest",
        "manifest_digest",
    ] {
        assert!(report.get(key).is_some(), "report lacks {key}");
    }
    assert_eq!(report["format"], "oci");
    assert_eq!(report["compression"], "gzip");
    assert_eq!(report["layers_in"], 4);
    let inspect = rharden(&["inspect", "--format", "json", out.to_str().expect("utf8")]);
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(v["layers"].as_array().expect("layers").len(), 1);
    assert_eq!(v["layers"][0]["digest"], report["layer_digest"]);
    // Exists now: a second run refuses, --force replaces.
    let again = rharden(&[
        "flatten",
        input.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    let forced = rharden(&[
        "flatten",
        input.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
        "--force",
        "--format",
        "docker-archive",
    ]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stdout(&forced).contains("docker-archive"));
}

#[test]
fn flatten_bad_input_exits_2_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = ImageSpec::new(vec![
        vec![symlink("etc", "/tmp")],
        vec![file("etc/passwd", b"x")],
    ]);
    let input = spec.write(dir.path(), Form::DockerArchive);
    let before = listing(dir.path());
    let out = dir.path().join("flat.tar");
    let o = rharden(&[
        "flatten",
        input.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: failed to flatten") && err.contains("symlink"),
        "{err}"
    );
    assert_eq!(listing(dir.path()), before, "flatten left something behind");
    let o = rharden(&[
        "unpack",
        input.to_str().expect("utf8"),
        dir.path().join("root").to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(listing(dir.path()), before, "unpack left something behind");
    // Out-of-range --from-layer is bad input too.
    let good = sample_image().write(dir.path(), Form::OciTar);
    let o = rharden(&[
        "flatten",
        good.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
        "--from-layer",
        "9",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--from-layer 9"), "{}", stderr(&o));
}

#[test]
fn unpack_writes_the_tree_and_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample_image().write(dir.path(), Form::OciDir);
    let root = dir.path().join("rootfs");
    let o = rharden(&[
        "unpack",
        input.to_str().expect("utf8"),
        root.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(report["files"].as_u64().expect("files") > 5);
    assert!(report["notes"].is_array());
    assert_eq!(fs::read(root.join("srv/v")).expect("srv/v"), b"v3");
    assert!(!root.join("tmp/secret_key").exists());
    assert!(
        !root.join("data/a").exists(),
        "hidden by the opaque whiteout"
    );
    let o = rharden(&[
        "unpack",
        input.to_str().expect("utf8"),
        root.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "unpack into a non-empty dir");
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
}

#[test]
fn flatten_proves_which_secrets_are_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = crate::repo_root().join("tests/fixtures/example/leaky.oci.tar");
    let out = dir.path().join("flat.tar");
    let o = rharden(&[
        "flatten",
        example.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let removed: Vec<&str> = v["secrets"]["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    let remaining: Vec<&str> = v["secrets"]["remaining"]
        .as_array()
        .expect("remaining")
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert!(removed.iter().any(|r| r.contains("aws")), "{removed:?}");
    assert!(removed.iter().any(|r| r.contains("openssh")), "{removed:?}");
    // The token in ENV is config, which flatten keeps on purpose: it must be reported as remaining.
    assert!(
        remaining.iter().any(|r| r.contains("github")),
        "{remaining:?}"
    );
    assert_eq!(v["secrets"]["after"].as_u64(), Some(remaining.len() as u64));
    let scan = rharden(&["scan", out.to_str().expect("utf8"), "--format", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&scan.stdout).expect("json");
    assert!(s["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .all(|f| f["locations"]
            .as_array()
            .expect("locs")
            .iter()
            .all(|l| l["status"] == "present")));
}

/// With `--from-layer`, the kept lower layers still store what the squashed ones deleted: the
/// proof must say so (the AWS credentials of layer 4 stay; the SSH key of layer 6 goes).
#[test]
fn flatten_proof_counts_what_kept_layers_still_hold() {
    let Some(real) = rharden_testkit::real_fixtures() else {
        eprintln!("skipped: no real fixtures (run tests/fixtures/build-images.sh)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let input = real.join("secrets.oci.tar");
    let out = dir.path().join("flat.tar");
    let o = rharden(&[
        "flatten",
        input.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
        "--from-layer",
        "6",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let rules = |key: &str| -> Vec<String> {
        v["secrets"][key]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|f| f["rule_id"].as_str().map(str::to_owned))
            .collect()
    };
    let (removed, remaining) = (rules("removed"), rules("remaining"));
    assert!(
        remaining.iter().any(|r| r.starts_with("aws-")),
        "{remaining:?}"
    );
    assert!(
        !removed.iter().any(|r| r.starts_with("aws-")),
        "{removed:?}"
    );
    assert!(removed.iter().any(|r| r.contains("openssh")), "{removed:?}");
    // And a scan of the output agrees with the proof.
    let scan = rharden(&["scan", out.to_str().expect("utf8"), "--format", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&scan.stdout).expect("json");
    let found: Vec<&str> = s["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["fingerprint"].as_str())
        .collect();
    for f in v["secrets"]["remaining"].as_array().expect("remaining") {
        let fp = f["fingerprint"].as_str().expect("fingerprint");
        assert!(found.contains(&fp), "remaining {f} not found by scan");
    }
    for f in v["secrets"]["removed"].as_array().expect("removed") {
        let fp = f["fingerprint"].as_str().expect("fingerprint");
        assert!(!found.contains(&fp), "removed {f} still found by scan");
    }
}

/// A device or FIFO as `-o` is refused, `--force` or not, and left as it was (as root,
/// `--force` used to remove it: `-o /dev/null --force` deleted the host's /dev/null).
#[test]
fn flatten_never_replaces_a_device_or_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample_image().write(dir.path(), Form::OciTar);
    let fifo = dir.path().join("fifo");
    let null = dir.path().join("null");
    let mut targets = Vec::new();
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        targets.push((fifo, "FIFO"));
    }
    if std::process::Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
    {
        targets.push((null, "character device"));
    } else {
        eprintln!("SKIPPED the character device case: mknod needs root");
    }
    assert!(!targets.is_empty(), "neither mkfifo nor mknod worked");
    for (target, kind) in &targets {
        for force in [false, true] {
            let mut args = vec![
                "flatten",
                input.to_str().expect("utf8"),
                "-o",
                target.to_str().expect("utf8"),
            ];
            if force {
                args.push("--force");
            }
            let o = rharden(&args);
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("is a {kind}")),
                "{}",
                stderr(&o)
            );
            let now = fs::symlink_metadata(target)
                .expect("still there")
                .file_type();
            assert!(now.is_fifo() || now.is_char_device(), "{now:?}");
        }
    }
}
