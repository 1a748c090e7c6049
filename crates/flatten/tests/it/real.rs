//! Real images (tests/fixtures/build-images.sh), every form: flattened output loads in skopeo
//! (inspect, copy to an OCI dir and to containers-storage), its filesystem equals `umoci
//! unpack` of the original, runnable ones run in podman, the secret image's deleted files and
//! history are gone, and flattening twice gives the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use rharden_flatten::{flatten, unpack, Codec, FlattenOptions, OutputFormat};
use rharden_image::{Image, OpenOptions};

use crate::tree;

use rharden_testkit::fixtures_dir as fixtures;

/// The real images, or `None` when they are not built and RHARDEN_SKIP_REAL_IMAGES says skip.
fn real_images() -> Option<Vec<PathBuf>> {
    let real = rharden_testkit::real_fixtures()?;
    let mut v: Vec<PathBuf> = std::fs::read_dir(&real)
        .expect("real")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // The Debian base (130 MB) in two forms is enough here: umoci and podman on all six
            // would take minutes; the reader's tests read every form.
            let big = n.starts_with("debian.") && n != "debian.oci.tar" && n != "debian.docker.tar";
            (n.contains(".docker") || n.contains(".oci")) && !big
        })
        .collect();
    v.sort();
    Some(v)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn recipe_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .expect("name")
        .to_owned()
}

/// Which build made the image: podman/buildah and skopeo/umoci forms share one filesystem; the
/// Docker engine's (`.dockerd.tar`) differs (no buildah-injected /etc files).
fn builder_of(path: &Path) -> &'static str {
    if path.to_string_lossy().contains(".dockerd.") {
        "dockerd"
    } else {
        "podman"
    }
}

/// `umoci unpack` of the recipe as `builder` made it: the reference tree.
fn umoci_tree(recipe: &str, builder: &str, work: &Path) -> tree::Tree {
    let oci = work.join(format!("{recipe}-{builder}-oci"));
    let real = fixtures().join("real");
    let src = match builder {
        "dockerd" => format!(
            "docker-archive:{}",
            real.join(format!("{recipe}.dockerd.tar")).display()
        ),
        _ => format!(
            "oci-archive:{}",
            real.join(format!("{recipe}.oci.tar")).display()
        ),
    };
    run(Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(src)
        .arg(format!("oci:{}:img", oci.display())));
    let bundle = work.join(format!("{recipe}-{builder}-bundle"));
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:img", oci.display()))
        .arg(&bundle));
    tree::of_dir(&bundle.join("rootfs"))
}

fn open(path: &Path) -> Image {
    Image::open(path, &OpenOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_real_image_flattens_exactly_and_loads_in_skopeo() {
    let Some(images) = real_images() else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let mut references: std::collections::BTreeMap<(String, &str), tree::Tree> = Default::default();
    let store = work.path().join("store");
    let storage = format!(
        "containers-storage:[vfs@{}/root+{}/runroot]",
        store.display(),
        store.display()
    );
    let mut checked = 0;
    for (i, input) in images.iter().enumerate() {
        let recipe = recipe_of(input);
        let name = input
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let builder = builder_of(input);
        let reference = references
            .entry((recipe.clone(), builder))
            .or_insert_with(|| umoci_tree(&recipe, builder, work.path()));
        let image = open(input);
        let oci = work.path().join(format!("{i}.oci.tar"));
        flatten(
            &image,
            input,
            &oci,
            &FlattenOptions {
                format: Some(OutputFormat::Oci),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        run(Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci-archive:{}", oci.display())));
        run(Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("oci-archive:{}", oci.display()))
            .arg(format!("oci:{}/copy-{i}:x", work.path().display())));
        run(Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("oci-archive:{}", oci.display()))
            .arg(format!("{storage}localhost/flat-{i}:latest")));
        let docker = work.path().join(format!("{i}.docker.tar"));
        flatten(
            &image,
            input,
            &docker,
            &FlattenOptions {
                format: Some(OutputFormat::DockerArchive),
                compression: Some(Codec::None),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        run(Command::new("skopeo")
            .arg("inspect")
            .arg(format!("docker-archive:{}", docker.display())));
        // The flattened filesystem is what umoci makes of the original.
        let rootfs = work.path().join(format!("{i}.rootfs"));
        unpack(&open(&oci), &rootfs).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        tree::assert_same(
            reference,
            &tree::of_dir(&rootfs),
            &format!("{name}: umoci unpack of the original vs the flattened image"),
        );
        // unpack of the original directly gives the same tree.
        let direct = work.path().join(format!("{i}.direct"));
        unpack(&image, &direct).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        tree::assert_same(
            reference,
            &tree::of_dir(&direct),
            &format!("{name}: umoci unpack vs rharden unpack"),
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} real images");
    eprintln!("flattened and compared {checked} real images");
}

#[test]
fn the_secret_image_loses_its_deleted_files_and_history_but_keeps_its_config() {
    let Some(_) = real_images() else { return };
    let truth: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("recipes/secrets/expected.json")).expect("expected"),
    )
    .expect("json");
    let secrets = &truth["secrets"];
    let work = tempfile::tempdir().expect("tempdir");
    for form in [
        "secrets.docker.tar",
        "secrets.oci.tar",
        "secrets.zstd.oci.tar",
        "secrets.oci-dir",
        "secrets.docker.tar.gz",
    ] {
        let input = fixtures().join("real").join(form);
        let before = std::fs::read_to_string(if input.is_dir() {
            input.join("index.json")
        } else {
            input.clone()
        })
        .ok();
        let _ = before;
        let out = work.path().join(format!("{form}.flat.tar"));
        let image = open(&input);
        flatten(
            &image,
            &input,
            &out,
            &FlattenOptions {
                format: Some(OutputFormat::DockerArchive),
                compression: Some(Codec::None),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{form}: {e:?}"));
        let bytes = std::fs::read(&out).expect("read");
        let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        for key in ["secret_file", "aws_secret_access_key", "aws_access_key_id"] {
            let value = secrets[key].as_str().expect(key);
            assert!(
                !contains(value),
                "{form}: {key} is still in the flattened image"
            );
        }
        assert!(
            !contains("OPENSSH PRIVATE KEY"),
            "{form}: the deleted SSH key is still there"
        );
        let flat = open(&out);
        let config = String::from_utf8_lossy(&flat.config_bytes).into_owned();
        assert!(
            !config.contains("rm -rf /root/.aws"),
            "{form}: history commands survived"
        );
        // The config stays: ENV is the image's runtime setting (the scanner flags the token there).
        assert!(
            flat.config
                .config
                .env_pairs()
                .any(|(k, _)| k == "GITHUB_TOKEN"),
            "{form}: Env lost"
        );
        assert_eq!(flat.config.config.cmd, image.config.config.cmd);
        let walk = flat.walk(|_| ()).expect("walk");
        assert!(walk.files.layers[0]
            .iter()
            .all(|r| !r.path.starts_with(b"root/.aws") && &*r.path != b"tmp/secret_key"));
    }
}

#[test]
fn real_images_flatten_to_the_same_bytes_twice() {
    let Some(_) = real_images() else { return };
    let work = tempfile::tempdir().expect("tempdir");
    for form in ["fates.docker.tar", "caps.oci-dir", "secrets.oci.tar.zst"] {
        let input = fixtures().join("real").join(form);
        let image = open(&input);
        let a = work.path().join(format!("{form}.a"));
        let b = work.path().join(format!("{form}.b"));
        let options = FlattenOptions {
            format: Some(OutputFormat::Oci),
            ..Default::default()
        };
        flatten(&image, &input, &a, &options).expect("a");
        flatten(&image, &input, &b, &options).expect("b");
        assert_eq!(
            std::fs::read(&a).expect("a"),
            std::fs::read(&b).expect("b"),
            "{form}"
        );
    }
}

#[test]
fn flattened_busybox_image_runs_in_podman() {
    let Some(_) = real_images() else { return };
    let work = tempfile::tempdir().expect("tempdir");
    let input = fixtures().join("real/fates.oci.tar");
    let out = work.path().join("fates.flat.tar");
    flatten(
        &open(&input),
        &input,
        &out,
        &FlattenOptions {
            format: Some(OutputFormat::DockerArchive),
            tag: Some("localhost/flat-fates:latest".into()),
            ..Default::default()
        },
    )
    .expect("flatten");
    let root = work.path().join("root");
    let runroot = work.path().join("runroot");
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ]);
        c.args(args);
        c
    };
    run(podman(&["load", "-q", "-i", out.to_str().expect("utf8")])
        .stdin(std::process::Stdio::null()));
    // Hybrid-cgroup hosts need runc and ulimits within the hard limits (tests/fixtures/README.md).
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--runtime",
        "runc",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--entrypoint",
        "/bin/sh",
        "localhost/flat-fates:latest",
        "-c",
        "id -u; cat /srv/v; test ! -e /data/tree && echo tree-gone",
    ])
    .output()
    .expect("podman run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "podman run failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tree-gone"), "{stdout}");
    let _ = podman(&["rmi", "-a", "-f"]).output();
}
