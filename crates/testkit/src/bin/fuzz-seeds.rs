//! Writes the seed corpora of the fuzz targets (fuzz/README.md) under `DIR/<target>/`: small
//! images in every form, their layer tars and JSON documents, the shipped policies, the
//! seccomp profile and the secret rules' own test cases.

#![allow(clippy::print_stderr, clippy::exit)]

use std::fs;
use std::path::Path;

use rharden_testkit::{sample_image, sha256, Form, ALL_FORMS};

fn write(dir: &Path, target: &str, data: &[u8]) {
    let dir = dir.join(target);
    fs::create_dir_all(&dir).expect("create seed dir");
    // Named by content, as libFuzzer names its own corpus entries.
    fs::write(dir.join(&sha256(data)[7..]), data).expect("write seed");
}

fn with_prefix(prefix: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(data);
    out
}

fn main() {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: fuzz-seeds DIR (the repository root is the current directory)");
        std::process::exit(2);
    };
    let out = Path::new(&out);
    let scratch = out.join(".scratch");
    fs::create_dir_all(&scratch).expect("scratch");

    let sample = sample_image();
    for form in ALL_FORMS.into_iter().filter(|f| *f != Form::OciDir) {
        let path = sample.write(&scratch, form);
        write(out, "image_archive", &fs::read(&path).expect("read image"));
    }
    // The target's first byte picks the codec (plain, gzip, zstd) and encodes the tar itself.
    for (i, layer) in sample.layers.iter().enumerate() {
        write(out, "layer_tar", &with_prefix((i % 3) as u8, layer));
    }
    let docs = [
        (
            0u8,
            "config",
            find(
                &sample.oci_entries(sample.codec),
                |n| n.starts_with("blobs/"),
                true,
            ),
        ),
        (
            1,
            "index.json",
            find(
                &sample.oci_entries(sample.codec),
                |n| n == "index.json",
                false,
            ),
        ),
        (
            2,
            "manifest",
            find(
                &sample.oci_entries(sample.codec),
                |n| n.starts_with("blobs/"),
                false,
            ),
        ),
        (
            3,
            "manifest.json",
            find(&sample.docker_entries(), |n| n == "manifest.json", false),
        ),
    ];
    for (slot, _, doc) in docs {
        write(out, "image_json", &with_prefix(slot, &doc));
    }
    for policy in ["policies/default.json", "policies/ci-strict.json"] {
        write(
            out,
            "policy",
            &fs::read(policy).expect("run from the repository root"),
        );
    }
    write(
        out,
        "seccomp_profile",
        &fs::read("policies/seccomp/default.json").expect("seccomp profile"),
    );
    let rules: serde_json::Value =
        serde_json::from_slice(&fs::read("policies/secrets/rules.json").expect("rules"))
            .expect("rules.json");
    for rule in rules["rules"].as_array().into_iter().flatten() {
        for case in ["tp", "fp"]
            .iter()
            .flat_map(|k| rule["tests"][k].as_array().into_iter().flatten())
        {
            if let Some(text) = case.as_str() {
                write(out, "secret_matcher", text.as_bytes());
            }
        }
    }
    fs::remove_dir_all(&scratch).expect("remove scratch");
}

/// The JSON blob of an OCI layout: the config (`config`: the one with `rootfs`) or the manifest
/// (the one with `layers`), or the named file.
fn find(
    entries: &[rharden_testkit::TarEntry],
    pick: impl Fn(&str) -> bool,
    config: bool,
) -> Vec<u8> {
    entries
        .iter()
        .filter(|e| pick(&String::from_utf8_lossy(&e.name)))
        .map(|e| e.data.clone())
        .find(|d| match serde_json::from_slice::<serde_json::Value>(d) {
            Ok(v) if v.get("rootfs").is_some() => config,
            Ok(v) if v.get("layers").is_some() => !config,
            Ok(_) => true,
            Err(_) => false,
        })
        .expect("document in the sample image")
}
