//! Hostile input is normal input: each generated archive must give a typed error that says
//! where, and never a panic. (The CLI tests check exit code 2 and the one-line message.)

use std::fs;
use std::path::Path;

use rharden_image::{Image, ImageError, LayerError, Limits, OpenOptions, PathError, Selector};

use rharden_testkit::*;

fn open_and_walk(path: &Path, options: &OpenOptions) -> Result<(), ImageError> {
    let image = Image::open(path, options)?;
    image.walk(|_| ())?;
    Ok(())
}

/// Writes `spec` in `form` and returns the error reading it gives.
fn error_of(spec: &ImageSpec, form: Form) -> ImageError {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = spec.write(dir.path(), form);
    match open_and_walk(&path, &OpenOptions::default()) {
        Ok(()) => panic!("{form:?}: hostile image was accepted"),
        Err(e) => e,
    }
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

#[test]
fn traversal_in_an_entry_name() {
    for form in ALL_FORMS {
        let e = error_of(&one_layer(vec![file("../../etc/passwd", b"x")]), form);
        let text = message(&e);
        assert!(
            text.contains("layer 0") && text.contains("../../etc/passwd"),
            "{text}"
        );
        assert!(matches!(
            layer_error(e),
            LayerError::UnsafePath {
                source: PathError::Traversal,
                ..
            }
        ));
    }
}

#[test]
fn absolute_entry_name() {
    let e = layer_error(error_of(
        &one_layer(vec![file("/etc/passwd", b"x")]),
        Form::OciTar,
    ));
    assert!(matches!(
        e,
        LayerError::UnsafePath {
            source: PathError::Absolute,
            ..
        }
    ));
}

#[test]
fn nul_byte_in_a_pax_path() {
    let e = layer_error(error_of(
        &one_layer(vec![file("x", b"x").pax("path", b"a\0b")]),
        Form::OciTar,
    ));
    assert!(
        matches!(
            e,
            LayerError::UnsafePath {
                source: PathError::Nul,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn name_longer_than_path_max() {
    let name = "a/".repeat(2100);
    let e = layer_error(error_of(
        &one_layer(vec![file(&name, b"x")]),
        Form::DockerArchive,
    ));
    assert!(
        matches!(
            e,
            LayerError::UnsafePath {
                source: PathError::TooLong,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn symlink_climbing_out_of_the_root() {
    let e = layer_error(error_of(
        &one_layer(vec![symlink("a/link", "../../../etc/shadow")]),
        Form::OciTar,
    ));
    assert!(matches!(e, LayerError::LinkEscape { .. }), "{e:?}");
}

#[test]
fn hardlink_out_of_the_root() {
    for target in ["../outside", "/etc/passwd"] {
        let e = layer_error(error_of(
            &one_layer(vec![hardlink("x", target)]),
            Form::OciTar,
        ));
        assert!(
            matches!(e, LayerError::LinkEscape { .. }),
            "{target}: {e:?}"
        );
    }
}

#[test]
fn duplicate_entries_in_a_layer() {
    let e = layer_error(error_of(
        &one_layer(vec![file("x", b"1"), file("./x", b"2")]),
        Form::OciTar,
    ));
    assert!(matches!(e, LayerError::DuplicateEntry { .. }), "{e:?}");
}

#[test]
fn whiteout_of_dot_dot() {
    let e = layer_error(error_of(
        &one_layer(vec![file("a/.wh..", b"")]),
        Form::OciTar,
    ));
    assert!(matches!(e, LayerError::UnsafePath { .. }), "{e:?}");
}

#[test]
fn unsupported_entry_type() {
    let e = layer_error(error_of(&one_layer(vec![typed("vol", b'V')]), Form::OciTar));
    assert!(
        matches!(e, LayerError::UnsupportedType { kind: 'V', .. }),
        "{e:?}"
    );
}

#[test]
fn malformed_pax_uid() {
    let e = layer_error(error_of(
        &one_layer(vec![file("x", b"x").pax("uid", b"-1x")]),
        Form::OciTar,
    ));
    assert!(matches!(e, LayerError::BadPax { .. }), "{e:?}");
}

#[test]
fn entry_declaring_more_bytes_than_the_layer_has() {
    for form in [Form::OciTar, Form::DockerArchive, Form::OciTarZst] {
        let e = layer_error(error_of(
            &one_layer(vec![file("big", b"small").declared(1 << 40)]),
            form,
        ));
        assert!(
            matches!(e, LayerError::Tar { .. } | LayerError::Corrupt { .. }),
            "{form:?}: {e:?}"
        );
    }
}

fn truncated(codec: LayerCodec) -> ImageSpec {
    let mut spec = one_layer(vec![file("data", &vec![7u8; 200_000])]);
    spec.codec = codec;
    let full = codec.encode(&spec.layers[0]);
    spec.tamper_blob = Some((0, full[..full.len() / 2].to_vec()));
    spec
}

#[test]
fn truncated_gzip_layer() {
    let e = layer_error(error_of(&truncated(LayerCodec::Gzip), Form::OciTar));
    assert!(
        matches!(
            e,
            LayerError::Corrupt {
                compression: "gzip",
                ..
            } | LayerError::Tar { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn truncated_zstd_layer() {
    let e = layer_error(error_of(&truncated(LayerCodec::Zstd), Form::OciDir));
    assert!(
        matches!(
            e,
            LayerError::Corrupt {
                compression: "zstd",
                ..
            } | LayerError::Tar { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn corrupt_gzip_layer() {
    let mut spec = one_layer(vec![file("data", &vec![7u8; 50_000])]);
    let mut bytes = gzip(&spec.layers[0]);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8] {
        *b ^= 0xff;
    }
    spec.tamper_blob = Some((0, bytes));
    let e = error_of(&spec, Form::OciTar);
    // Either the inflater notices, or the digest check does: never silent success.
    assert!(
        matches!(
            e,
            ImageError::Layer { .. } | ImageError::DigestMismatch { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn blob_digest_mismatch() {
    let mut spec = one_layer(vec![file("a", b"a")]);
    let other = tar(&[file("a", b"b")]);
    spec.codec = LayerCodec::Plain;
    spec.tamper_blob = Some((0, other));
    let e = error_of(&spec, Form::OciTar);
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e:?}");
    assert!(message(&e).contains("layer 0"), "{}", message(&e));
}

#[test]
fn diff_id_mismatch_in_every_form() {
    for form in ALL_FORMS {
        let mut spec = one_layer(vec![file("a", b"a")]);
        spec.diff_ids = Some(vec![sha256(b"something else")]);
        let e = error_of(&spec, form);
        assert!(
            matches!(&e, ImageError::DigestMismatch { what, .. } if what.contains("diff_id")),
            "{form:?}: {e:?}"
        );
    }
}

#[test]
fn layer_count_differs_from_diff_ids() {
    let mut spec = one_layer(vec![file("a", b"a")]);
    spec.diff_ids = Some(vec![]);
    let e = error_of(&spec, Form::OciTar);
    assert!(
        matches!(
            e,
            ImageError::LayerCountMismatch {
                layers: 1,
                diff_ids: 0
            }
        ),
        "{e:?}"
    );
}

/// A one-layer docker-archive whose manifest lists `layers`, with `extra` members added.
fn docker_archive_with_manifest(
    dir: &Path,
    layers: &[&str],
    extra: Vec<TarEntry>,
) -> std::path::PathBuf {
    let spec = one_layer(vec![file("a", b"a")]);
    let mut entries = spec.docker_entries();
    let config_name = String::from_utf8(entries[1].name.clone()).expect("utf8");
    let manifest = serde_json::json!([{"Config": config_name, "Layers": layers}]);
    let last = entries.len() - 1;
    entries[last] = file(
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    entries.extend(extra);
    let path = dir.join("bad.tar");
    fs::write(&path, tar(&entries)).expect("write");
    path
}

#[test]
fn manifest_naming_a_blob_outside_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["../../etc/passwd", "/etc/passwd"] {
        let path = docker_archive_with_manifest(dir.path(), &[name], vec![]);
        let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
        assert!(matches!(e, ImageError::BlobOutside { .. }), "{name}: {e:?}");
    }
}

#[test]
fn manifest_naming_a_missing_blob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = docker_archive_with_manifest(dir.path(), &["nope/layer.tar"], vec![]);
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::MissingBlob { .. }), "{e:?}");
}

#[test]
fn member_symlink_leaving_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evil = vec![symlink("evil/layer.tar", "../../../etc/passwd")];
    let path = docker_archive_with_manifest(dir.path(), &["evil/layer.tar"], evil);
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::MemberLinkEscape { .. }), "{e:?}");
}

#[test]
fn member_symlink_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let links = vec![symlink("l1", "l2"), symlink("l2", "l1")];
    let path = docker_archive_with_manifest(dir.path(), &["l1"], links);
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::MemberLinkEscape { .. }), "{e:?}");
}

#[test]
fn oci_dir_blob_symlinked_outside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = one_layer(vec![file("a", b"a")]);
    let root = spec.write(dir.path(), Form::OciDir);
    let outside = dir.path().join("outside-blob");
    let blobs = root.join("blobs/sha256");
    let layer = fs::read_dir(&blobs)
        .expect("blobs")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            fs::read(p)
                .map(|b| b.starts_with(&[0x1f, 0x8b]))
                .unwrap_or(false)
        })
        .expect("a gzip layer blob");
    fs::rename(&layer, &outside).expect("move");
    std::os::unix::fs::symlink(&outside, &layer).expect("symlink");
    let e = open_and_walk(&root, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::MemberLinkEscape { .. }), "{e:?}");
}

#[test]
fn duplicate_member_in_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = one_layer(vec![file("a", b"a")]);
    let mut entries = spec.docker_entries();
    entries.push(file("manifest.json", b"[]"));
    let path = dir.path().join("dup.tar");
    fs::write(&path, tar(&entries)).expect("write");
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::DuplicateMember { .. }), "{e:?}");
}

#[test]
fn member_declaring_more_bytes_than_the_archive_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = one_layer(vec![file("a", b"a")]);
    let mut entries = spec.docker_entries();
    entries.push(file("huge", b"x").declared(1 << 50));
    let path = dir.path().join("huge.tar");
    fs::write(&path, tar(&entries)).expect("write");
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(
        matches!(e, ImageError::Invalid { .. } | ImageError::Archive { .. }),
        "{e:?}"
    );
}

#[test]
fn truncated_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = one_layer(vec![file("a", &vec![1u8; 100_000])]);
    let bytes = spec.docker_archive();
    let path = dir.path().join("cut.tar");
    fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    assert!(open_and_walk(&path, &OpenOptions::default()).is_err());
    let path = dir.path().join("cut.tar.gz");
    let gz = gzip(&bytes);
    fs::write(&path, &gz[..gz.len() / 2]).expect("write");
    assert!(open_and_walk(&path, &OpenOptions::default()).is_err());
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
fn config_that_is_not_json_or_of_the_wrong_type() {
    for config in [
        &b"{not json"[..],
        b"[1,2,3]",
        br#"{"rootfs":{"diff_ids":"nope"}}"#,
    ] {
        let mut spec = one_layer(vec![file("a", b"a")]);
        spec.config = Some(config.to_vec());
        let e = error_of(&spec, Form::OciTar);
        assert!(matches!(e, ImageError::Json { .. }), "{e:?}");
    }
}

#[test]
fn deeply_nested_json() {
    let mut spec = one_layer(vec![file("a", b"a")]);
    let mut doc = "[".repeat(100_000);
    doc.push_str(&"]".repeat(100_000));
    spec.config = Some(format!(r#"{{"history":{doc}}}"#).into_bytes());
    let e = error_of(&spec, Form::OciTar);
    assert!(matches!(e, ImageError::Json { .. }), "{e:?}");
}

fn oci_with_index(index: serde_json::Value, extra: Vec<TarEntry>) -> std::path::PathBuf {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let spec = one_layer(vec![file("a", b"a")]);
    let mut entries = spec.oci_entries(LayerCodec::Gzip);
    entries[1] = file("index.json", &serde_json::to_vec(&index).expect("json"));
    entries.extend(extra);
    let path = dir.join("image.oci.tar");
    fs::write(&path, tar(&entries)).expect("write");
    path
}

#[test]
fn index_with_a_bad_digest() {
    let path = oci_with_index(
        serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd","size":1}]}),
        vec![],
    );
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::BadDigest { .. }), "{e:?}");
}

#[test]
fn index_that_nests_itself() {
    // An index blob that lists itself: must stop at the depth limit, not recurse forever.
    let inner = |d: &str| serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":d}]});
    // A fixed point is impossible with real hashes, so chain 20 distinct nested indexes.
    let mut blobs = Vec::new();
    let mut digest = sha256(b"nothing");
    for _ in 0..20 {
        let doc = serde_json::to_vec(&inner(&digest)).expect("json");
        digest = sha256(&doc);
        blobs.push(file(&format!("blobs/sha256/{}", &digest[7..]), &doc));
    }
    let path = oci_with_index(inner(&digest), blobs);
    let e = open_and_walk(&path, &OpenOptions::default()).expect_err("accepted");
    assert!(matches!(e, ImageError::IndexTooDeep { .. }), "{e:?}");
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
    let cases: [(&str, Vec<u8>); 4] = [
        ("empty", vec![]),
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
fn garbage_after_the_gzip_stream() {
    let mut spec = one_layer(vec![file("a", b"a")]);
    let mut bytes = gzip(&spec.layers[0]);
    bytes.extend_from_slice(b"GARBAGE!");
    spec.tamper_blob = Some((0, bytes));
    let e = error_of(&spec, Form::OciTar);
    assert!(
        matches!(
            e,
            ImageError::Layer { .. } | ImageError::DigestMismatch { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn a_layer_that_is_not_a_tar() {
    let mut spec = one_layer(vec![file("a", b"a")]);
    spec.tamper_blob = Some((
        0,
        b"this is not a tar stream at all, but some text".to_vec(),
    ));
    let e = layer_error(error_of(&spec, Form::OciTar));
    assert!(matches!(e, LayerError::NotTar { .. }), "{e:?}");
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
