//! Hostile input is normal input: each generated archive must give a typed error that says
//! where, and never a panic. The corpus (`rharden_testkit::hostile`) is shared with the CLI test,
//! which runs it through every command; the cases here need options the CLI does not expose.

use std::fs;
use std::path::Path;

use rharden_image::{Image, ImageError, LayerError, Limits, OpenOptions, Selector};

use rharden_testkit::*;

fn open_and_walk(path: &Path, options: &OpenOptions) -> Result<(), ImageError> {
    let image = Image::open(path, options)?;
    image.walk(|_| ())?;
    Ok(())
}

fn layer_error(e: ImageError) -> LayerError {
    match e {
        ImageError::Layer { source, .. } => source,
        other => panic!("expected a layer error, got {other:?}"),
    }
}

/// The full message chain, as the CLI prints it.
fn message(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn one_layer(entries: Vec<TarEntry>) -> ImageSpec {
    ImageSpec::new(vec![entries])
}

/// The reader's part of the corpus: a rejected case is an error whose message names the
/// problem; the others read (merging them is flatten's and unpack's business).
#[test]
fn the_hostile_corpus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).expect("mkdir");
    let mut failures = Vec::new();
    for case in hostile::corpus() {
        let case_dir = dir.path().join(case.name);
        fs::create_dir(&case_dir).expect("mkdir");
        let path = (case.write)(hostile::Place {
            dir: &case_dir,
            outside: &outside,
        });
        let result = open_and_walk(&path, &OpenOptions::default());
        match (case.expect, result) {
            (hostile::Expect::Rejected { message_contains }, Err(e)) => {
                let text = message(&e);
                for fragment in message_contains {
                    if !text.contains(fragment) {
                        failures.push(format!("{}: {text:?} lacks {fragment:?}", case.name));
                    }
                }
            }
            (hostile::Expect::Rejected { .. }, Ok(())) => {
                failures.push(format!("{}: accepted", case.name));
            }
            (_, Err(e)) => failures.push(format!("{}: refused: {}", case.name, message(&e))),
            (_, Ok(())) => {}
        }
        fs::remove_dir_all(&case_dir).expect("rm");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn decompression_bomb_in_a_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = one_layer(vec![file("zeros", &vec![0u8; 8 << 20])]);
    spec.codec = LayerCodec::Zstd;
    let path = spec.write(dir.path(), Form::OciTar);
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let e = open_and_walk(
        &path,
        &OpenOptions {
            limits,
            ..OpenOptions::default()
        },
    )
    .expect_err("accepted");
    assert!(matches!(layer_error(e), LayerError::Bomb { .. }));
}

#[test]
fn decompression_bomb_as_a_whole_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = one_layer(vec![file("zeros", &vec![0u8; 8 << 20])]);
    let path = spec.write(dir.path(), Form::OciTarZst);
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let e = open_and_walk(
        &path,
        &OpenOptions {
            limits,
            ..OpenOptions::default()
        },
    )
    .expect_err("accepted");
    assert!(
        message(&e).contains("decompression bomb"),
        "{}",
        message(&e)
    );
}

#[test]
fn oversized_json_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = one_layer(vec![file("a", b"a")]);
    let path = spec.write(dir.path(), Form::OciTar);
    let limits = Limits {
        max_json_bytes: 64,
        ..Limits::default()
    };
    let e = open_and_walk(
        &path,
        &OpenOptions {
            limits,
            ..OpenOptions::default()
        },
    )
    .expect_err("accepted");
    assert!(matches!(e, ImageError::JsonTooLarge { .. }), "{e:?}");
}

#[test]
fn several_images_need_a_choice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = one_layer(vec![file("a", b"a")]);
    let mut entries = spec.oci_entries(LayerCodec::Gzip);
    let index: serde_json::Value = serde_json::from_slice(&entries[1].data).expect("index");
    // A second, different manifest (same layers, one more annotation) under another name.
    let first_digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let manifest_name = format!("blobs/sha256/{}", &first_digest[7..]);
    let manifest = entries
        .iter()
        .find(|e| e.name == manifest_name.as_bytes())
        .expect("manifest blob");
    let mut other: serde_json::Value = serde_json::from_slice(&manifest.data).expect("manifest");
    other["annotations"] = serde_json::json!({"variant": "two"});
    let other = serde_json::to_vec(&other).expect("json");
    let other_digest = sha256(&other);
    entries.push(file(
        &format!("blobs/sha256/{}", &other_digest[7..]),
        &other,
    ));
    let mut second = index["manifests"][0].clone();
    second["digest"] = other_digest.into();
    second["size"] = other.len().into();
    second["annotations"]["org.opencontainers.image.ref.name"] = "other:1".into();
    let mut both = index.clone();
    both["manifests"]
        .as_array_mut()
        .expect("array")
        .push(second);
    entries[1] = file("index.json", &serde_json::to_vec(&both).expect("json"));
    let path = dir.path().join("two.oci.tar");
    fs::write(&path, tar(&entries)).expect("write");
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::AmbiguousImage { .. }), "{e:?}");
    let pick = |r: &str| OpenOptions {
        selector: Selector {
            reference: Some(r.into()),
            platform: None,
        },
        ..Default::default()
    };
    assert!(open_and_walk(&path, &pick("other:1")).is_ok());
    assert!(open_and_walk(&path, &pick("test:latest")).is_ok());
    let e = open_and_walk(&path, &pick("missing")).expect_err("accepted");
    assert!(matches!(e, ImageError::NoMatchingImage { .. }), "{e:?}");
}

#[test]
fn platform_that_the_image_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = one_layer(vec![file("a", b"a")]).write(dir.path(), Form::OciTar);
    let options = OpenOptions {
        selector: Selector {
            reference: None,
            platform: Some("linux/s390x".into()),
        },
        ..Default::default()
    };
    let e = open_and_walk(&path, &options).expect_err("accepted");
    assert!(matches!(e, ImageError::NoMatchingImage { .. }), "{e:?}");
}

#[test]
fn files_that_are_not_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, Vec<u8>); 3] = [
        ("text", b"hello, this is not a tar".to_vec()),
        ("xz", vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0]),
        ("tar-without-manifest", tar(&[file("hello", b"x")])),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        fs::write(&path, bytes).expect("write");
        let e = open_and_walk(&path, &OpenOptions::default()).expect_err(name);
        assert!(
            matches!(
                e,
                ImageError::UnknownFormat { .. } | ImageError::Invalid { .. }
            ),
            "{name}: {e:?}"
        );
    }
    let e =
        open_and_walk(&dir.path().join("missing"), &OpenOptions::default()).expect_err("missing");
    assert!(matches!(e, ImageError::Open { .. }));
}

#[test]
fn too_many_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries: Vec<_> = (0..50).map(|i| file(&format!("f{i}"), b"")).collect();
    let path = one_layer(entries).write(dir.path(), Form::OciTar);
    let limits = Limits {
        max_layer_entries: 10,
        ..Limits::default()
    };
    let e = open_and_walk(
        &path,
        &OpenOptions {
            limits,
            ..OpenOptions::default()
        },
    )
    .expect_err("accepted");
    assert!(matches!(
        layer_error(e),
        LayerError::TooManyEntries { limit: 10 }
    ));
}
