//! Generated images (every form, every codec) flattened and unpacked: the output's filesystem is
//! the input's final view, bytes are reproducible, bad input leaves nothing behind.

use std::fs;
use std::path::{Path, PathBuf};

use rharden_flatten::{flatten, unpack, Codec, FlattenError, FlattenOptions, OutputFormat};
use rharden_image::{Image, OpenOptions};
use rharden_testkit::*;

use crate::tree;

fn open(path: &Path) -> Image {
    Image::open(path, &OpenOptions::default()).expect("open")
}

fn flatten_to(
    input: &Path,
    out: &Path,
    options: &FlattenOptions,
) -> Result<rharden_flatten::FlattenReport, FlattenError> {
    flatten(&open(input), input, out, options)
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// Links to files whose first name is gone, links to links, across layers.
fn hardlink_image() -> ImageSpec {
    ImageSpec::new(vec![
        vec![
            dir("a"),
            file("a/orig", b"original content"),
            file("a/other", b"x"),
            hardlink("a/l0", "a/other"),
        ],
        vec![hardlink("a/l1", "a/orig"), hardlink("a/l2", "a/l1")],
        vec![
            file("a/orig", b"replaced"),
            dir("a"),
            file("a/.wh.other", b""),
        ],
    ])
}

#[test]
fn flattened_filesystem_is_the_final_view_in_every_form_and_codec() {
    for spec in [sample_image(), hardlink_image()] {
        for form in ALL_FORMS {
            for (format, codec) in [
                (OutputFormat::Oci, Codec::Gzip),
                (OutputFormat::OciDir, Codec::Zstd),
                (OutputFormat::DockerArchive, Codec::None),
            ] {
                let dir = tempfile::tempdir().expect("tempdir");
                let input = spec.write(dir.path(), form);
                let out = dir.path().join("flat");
                let options = FlattenOptions {
                    format: Some(format),
                    compression: Some(codec),
                    ..Default::default()
                };
                let report = flatten_to(&input, &out, &options)
                    .unwrap_or_else(|e| panic!("{form:?} {format:?}: {e:?}"));
                assert_eq!(report.layers_squashed, spec.layers.len());
                let flat = open(&out);
                assert_eq!(flat.layers.len(), 1);
                tree::assert_same(
                    &tree::of_image(&input),
                    &tree::of_image(&out),
                    &format!("{form:?} -> {format:?}"),
                );
                // Nothing but the output is left beside it.
                let names: Vec<_> = listing(dir.path())
                    .into_iter()
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect();
                assert!(names.is_empty(), "temporary files left: {names:?}");
            }
        }
    }
}

#[test]
fn hardlinks_keep_their_content_when_the_first_name_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = hardlink_image().write(dir.path(), Form::OciTar);
    let view = tree::of_image(&input);
    assert_eq!(view["a/l1"].sha256, view["a/l2"].sha256);
    assert_ne!(
        view["a/l1"].sha256, view["a/orig"].sha256,
        "a/orig was replaced; the links keep the old content"
    );
    assert!(
        view.contains_key("a/l0"),
        "a/other was deleted; its link survives"
    );
    let out = dir.path().join("unpacked");
    let report = unpack(&open(&input), &out).expect("unpack");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    tree::assert_same(&view, &tree::of_dir(&out), "unpack");
    let meta = |p: &str| fs::metadata(out.join(p)).expect("stat");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        meta("a/l1").ino(),
        meta("a/l2").ino(),
        "l1 and l2 are one file"
    );
    assert_eq!(
        fs::read(out.join("a/l1")).expect("read"),
        b"original content"
    );
}

#[test]
fn same_input_gives_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample_image().write(dir.path(), Form::OciTar);
    for (format, codec) in [
        (OutputFormat::Oci, Codec::Gzip),
        (OutputFormat::DockerArchive, Codec::Zstd),
    ] {
        let options = FlattenOptions {
            format: Some(format),
            compression: Some(codec),
            ..Default::default()
        };
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        flatten_to(&input, &a, &options).expect("first");
        flatten_to(&input, &b, &options).expect("second");
        assert_eq!(
            fs::read(&a).expect("a"),
            fs::read(&b).expect("b"),
            "{format:?}"
        );
        fs::remove_file(a).expect("rm");
        fs::remove_file(b).expect("rm");
    }
}

#[test]
fn config_is_kept_and_history_commands_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample_image().write(dir.path(), Form::DockerArchive);
    let out = dir.path().join("flat.tar");
    let report = flatten_to(&input, &out, &FlattenOptions::default()).expect("flatten");
    assert_eq!(report.history_commands_dropped, 4);
    assert_eq!(
        report.dropped_entries, 6,
        "secret, 2 old srv/v, hidden data/a and data/b, srv/d/inner"
    );
    let flat = open(&out);
    assert_eq!(flat.config.config.user.as_deref(), Some("1000"));
    assert_eq!(
        flat.config.config.cmd.as_deref(),
        Some(&["sh".to_owned()][..])
    );
    assert_eq!(flat.config.history.len(), 1);
    let text = String::from_utf8_lossy(&flat.config_bytes).into_owned();
    assert!(
        !text.contains("RUN step"),
        "old history commands must be gone: {text}"
    );
    let bytes = fs::read(&out).expect("read");
    assert!(
        !bytes.windows(13).any(|w| w == b"My Big Secret"),
        "the deleted secret's bytes are gone"
    );

    let kept = dir.path().join("kept.tar");
    let options = FlattenOptions {
        keep_history: true,
        ..Default::default()
    };
    flatten_to(&input, &kept, &options).expect("flatten");
    let flat = open(&kept);
    assert_eq!(flat.config.history.len(), 5);
    assert_eq!(
        flat.config
            .history
            .iter()
            .filter(|h| !h.empty_layer)
            .count(),
        1
    );
}

#[test]
fn from_layer_keeps_the_lower_layers_and_their_deletions_hold() {
    for form in [Form::OciTar, Form::DockerArchive, Form::OciTarZst] {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = sample_image().write(dir.path(), form);
        let before = open(&input).walk(|_| ()).expect("walk");
        for from in 1..4 {
            let out = dir.path().join(format!("from{from}"));
            let options = FlattenOptions {
                from_layer: from,
                format: Some(OutputFormat::Oci),
                ..Default::default()
            };
            let report = flatten_to(&input, &out, &options)
                .unwrap_or_else(|e| panic!("{form:?} from {from}: {e:?}"));
            assert_eq!(report.layers_kept, from);
            let flat = open(&out);
            assert_eq!(flat.layers.len(), from + 1);
            let after = flat.walk(|_| ()).expect("walk");
            for i in 0..from {
                assert_eq!(
                    after.layers[i].diff_id, before.layers[i].diff_id,
                    "layer {i} kept as it was"
                );
            }
            tree::assert_same(
                &tree::of_image(&input),
                &tree::of_image(&out),
                &format!("{form:?} from {from}"),
            );
            assert_eq!(
                flat.config
                    .history
                    .iter()
                    .filter(|h| !h.empty_layer)
                    .count(),
                from + 1
            );
        }
    }
}

#[test]
fn refuses_to_overwrite_without_force_and_never_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample_image().write(dir.path(), Form::OciTar);
    let out = dir.path().join("exists");
    fs::write(&out, b"keep me").expect("write");
    let e = flatten_to(&input, &out, &FlattenOptions::default()).expect_err("overwrote");
    assert!(matches!(e, FlattenError::OutputExists { .. }), "{e:?}");
    assert_eq!(fs::read(&out).expect("read"), b"keep me");
    let e = flatten_to(
        &input,
        &input,
        &FlattenOptions {
            force: true,
            ..Default::default()
        },
    )
    .expect_err("overwrote input");
    assert!(matches!(e, FlattenError::OutputIsInput { .. }), "{e:?}");
    flatten_to(
        &input,
        &out,
        &FlattenOptions {
            force: true,
            ..Default::default()
        },
    )
    .expect("force");
    assert_eq!(open(&out).layers.len(), 1);
    // Inside an input OCI directory is the input too.
    let oci = sample_image().write(dir.path(), Form::OciDir);
    let e = flatten_to(&oci, &oci.join("flat"), &FlattenOptions::default())
        .expect_err("wrote into input");
    assert!(matches!(e, FlattenError::OutputIsInput { .. }), "{e:?}");
}

// Images that cannot be flattened exactly (a file through a lower layer's symlink, a hardlink
// to a deleted file, an opaque root) are in the hostile corpus (rharden_testkit::hostile), run
// through `rharden flatten` and `unpack` by the CLI test: exit 2, nothing left behind.

#[test]
fn file_and_directory_at_one_path_across_layers_merge_as_appliers_do() {
    let spec = ImageSpec::new(vec![
        vec![dir("x"), file("x/inner", b"1"), file("y", b"file")],
        vec![file("x", b"now a file"), dir("y"), file("y/inner", b"2")],
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = spec.write(dir.path(), Form::OciTar);
    let view = tree::of_image(&input);
    assert_eq!(view["x"].kind, "file");
    assert!(!view.contains_key("x/inner"));
    assert_eq!(view["y"].kind, "dir");
    let out = dir.path().join("flat");
    flatten_to(&input, &out, &FlattenOptions::default()).expect("flatten");
    tree::assert_same(&view, &tree::of_image(&out), "flatten");
    let root = dir.path().join("root");
    unpack(&open(&input), &root).expect("unpack");
    tree::assert_same(&view, &tree::of_dir(&root), "unpack");
}

#[test]
fn unpack_wants_a_new_or_empty_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = sample_image().write(dir.path(), Form::OciTar);
    let target = dir.path().join("full");
    fs::create_dir(&target).expect("mkdir");
    fs::write(target.join("keep"), b"x").expect("write");
    let e = unpack(&open(&input), &target).expect_err("unpacked into a full dir");
    assert!(matches!(e, FlattenError::NotEmpty { .. }), "{e:?}");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    unpack(&open(&input), &empty).expect("empty dir is fine");
    tree::assert_same(
        &tree::of_image(&input),
        &tree::of_dir(&empty),
        "unpack sample",
    );
}

#[test]
fn devices_and_fifos_survive_flatten_and_unpack() {
    let spec = ImageSpec::new(vec![vec![
        dir("dev"),
        device("dev/null", b'3', 1, 3),
        device("dev/loop9", b'4', 7, 9),
        typed("dev/pipe", b'6').mode(0o600),
    ]]);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = spec.write(dir.path(), Form::OciTar);
    let out = dir.path().join("flat");
    flatten_to(
        &input,
        &out,
        &FlattenOptions {
            format: Some(OutputFormat::DockerArchive),
            ..Default::default()
        },
    )
    .expect("flatten");
    let walk = open(&out).walk(|_| ()).expect("walk");
    let dev = |p: &[u8]| {
        walk.files.layers[0]
            .iter()
            .find(|r| &*r.path == p)
            .map(|r| (r.kind, r.device()))
            .expect("entry")
    };
    assert_eq!(
        dev(b"dev/null"),
        (rharden_image::EntryKind::CharDevice, Some((1, 3)))
    );
    assert_eq!(
        dev(b"dev/loop9"),
        (rharden_image::EntryKind::BlockDevice, Some((7, 9)))
    );
    let root = dir.path().join("root");
    let report = unpack(&open(&input), &root).expect("unpack");
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let pipe = fs::symlink_metadata(root.join("dev/pipe")).expect("fifo");
    assert!(pipe.file_type().is_fifo());
    assert_eq!(pipe.mode() & 0o7777, 0o600);
    match fs::symlink_metadata(root.join("dev/null")) {
        Ok(m) => {
            assert!(m.file_type().is_char_device());
            assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
        }
        // Without CAP_MKNOD the node cannot be made: unpack must say so, not fail or stay silent.
        Err(_) => assert!(
            report.notes.iter().any(|n| n.what == "device"),
            "{:?}",
            report.notes
        ),
    }
}
