//! `rharden inspect`: the JSON contract, the table, and exit code 2 with one line on bad input.

use std::fs;

use rharden_testkit::*;

use crate::{rharden, stderr, stdout};

fn json_of(path: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect", "--format", "json"];
    args.extend_from_slice(extra);
    let p = path.to_str().expect("utf8 path");
    args.push(p);
    let out = rharden(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn json_contract_in_every_form() {
    for form in ALL_FORMS {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = sample_image().write(dir.path(), form);
        let v = json_of(&path, &[]);
        let expected_format = match form {
            Form::DockerArchive | Form::DockerArchiveGz => "docker-archive",
            Form::OciTar | Form::OciTarZst => "oci-archive",
            Form::OciDir => "oci-dir",
            Form::DockerArchiveOci => "docker-archive-oci",
        };
        assert_eq!(v["format"], expected_format);
        assert_eq!(v["config"]["user"], "1000");
        assert_eq!(
            v["config"]["env_names"],
            serde_json::json!(["PATH", "TOKEN"])
        );
        // Env values can be secrets: inspect never prints them.
        assert!(!stdout(&rharden(&[
            "inspect",
            "--format",
            "json",
            path.to_str().expect("utf8")
        ]))
        .contains("TOKEN=x"));
        let layers = v["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 4);
        for (i, layer) in layers.iter().enumerate() {
            for key in [
                "index",
                "digest",
                "diff_id",
                "compression",
                "size",
                "uncompressed_size",
                "created_by",
                "entries",
                "added",
                "modified",
                "deleted",
            ] {
                assert!(layer.get(key).is_some(), "{form:?}: layer {i} lacks {key}");
            }
            assert_eq!(layer["index"], i);
            assert_eq!(layer["created_by"], format!("RUN step {i}"));
        }
        assert_eq!(layers[2]["deleted"], 1);
        assert!(v.get("files").is_none());
    }
}

#[test]
fn files_lists_every_entry_with_its_fate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sample_image().write(dir.path(), Form::OciTar);
    let v = json_of(&path, &["--files"]);
    let files = v["files"].as_array().expect("files");
    let find = |layer: u64, p: &str| {
        files
            .iter()
            .find(|f| f["layer"] == layer && f["path"] == p && f["type"] != "whiteout")
            .unwrap_or_else(|| panic!("{p} in layer {layer}"))
            .clone()
    };
    let secret = find(1, "/tmp/secret_key");
    assert_eq!(secret["fate"], "deleted");
    assert_eq!(secret["by_layer"], 2);
    assert_eq!(find(0, "/data/a")["fate"], "hidden");
    assert_eq!(find(0, "/usr/bin/tool")["mode"], "4755");
    let odd = files
        .iter()
        .find(|f| f.get("path_hex").is_some())
        .expect("non-UTF-8 name has path_hex");
    assert_eq!(odd["path_hex"], "62696eff");
    let table = stdout(&rharden(&[
        "inspect",
        "--files",
        path.to_str().expect("utf8"),
    ]));
    assert!(
        table.contains("deleted by 2") && table.contains("/tmp/secret_key"),
        "{table}"
    );
}

#[test]
fn table_has_a_row_per_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sample_image().write(dir.path(), Form::DockerArchive);
    let out = rharden(&["inspect", path.to_str().expect("utf8")]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("format      docker-archive"), "{text}");
    for i in 0..4 {
        assert!(text.contains(&format!("RUN step {i}")), "{text}");
    }
}

/// Bad input: exit 2, nothing on stdout, one line on stderr that starts with `error: failed to`.
fn assert_clean_failure(path: &std::path::Path, needle: &str) {
    let out = rharden(&["inspect", path.to_str().expect("utf8")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: failed to inspect "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in {err}");
}

#[test]
fn hostile_images_exit_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: Vec<(&str, ImageSpec, &str)> = vec![
        (
            "traversal",
            ImageSpec::new(vec![vec![file("../../etc/passwd", b"x")]]),
            "climbs out",
        ),
        (
            "symlink",
            ImageSpec::new(vec![vec![symlink("a/l", "../../../x")]]),
            "outside the image root",
        ),
        (
            "newline-name",
            ImageSpec::new(vec![vec![file("a\nb/../../..", b"x")]]),
            "climbs out",
        ),
        (
            "diff-id",
            {
                let mut s = ImageSpec::new(vec![vec![file("a", b"a")]]);
                s.diff_ids = Some(vec![sha256(b"other")]);
                s
            },
            "digest mismatch",
        ),
    ];
    for (name, spec, needle) in cases {
        let sub = dir.path().join(name);
        fs::create_dir(&sub).expect("mkdir");
        let path = spec.write(&sub, Form::OciTar);
        let before: Vec<_> = fs::read_dir(&sub)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_clean_failure(&path, needle);
        let after: Vec<_> = fs::read_dir(&sub)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(before, after, "{name}: inspect wrote something");
    }
    let text = dir.path().join("not-an-image");
    fs::write(&text, "hello").expect("write");
    assert_clean_failure(&text, "not a container image");
    assert_clean_failure(&dir.path().join("missing.tar"), "No such file");
}

#[test]
fn usage_errors_exit_2() {
    let out = rharden(&["inspect", "--format", "yaml", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = rharden(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
