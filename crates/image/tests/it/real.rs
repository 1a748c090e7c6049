//! Images built by real tools (tests/fixtures/build-images.sh: podman/buildah, skopeo, umoci),
//! in every form, checked against each recipe's expected.json: layer counts, config, every
//! file's fate, whiteouts, setuid/setgid, capabilities and links. `<recipe>.dockerd.tar` (a real
//! Docker engine's `docker save`, when the host has dockerd) is checked against
//! expected.dockerd.json instead: the classic builder makes no layer for a no-op RUN, so its
//! layer indexes differ. Its `history` key pins the `empty_layer` steps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rharden_image::{
    Entry, EntryKind, FileRecord, Image, LayerInfo, LayerSink, OpenOptions, SinkError, Want,
};
use serde_json::Value;

use rharden_testkit::fixtures_dir as fixtures;

/// Paths (and names) of files that carry a `security.capability` xattr.
#[derive(Default, Debug)]
struct Capabilities(BTreeSet<String>);

impl LayerSink for Capabilities {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        if entry.xattr(b"security.capability").is_some() {
            self.0
                .insert(String::from_utf8_lossy(entry.path).into_owned());
        }
        Ok(Want::Skip)
    }
}

fn text(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// The name a whiteout record had in its layer.
fn whiteout_name(r: &FileRecord) -> String {
    let path = text(&r.path);
    match r.kind {
        EntryKind::OpaqueWhiteout if path.is_empty() => ".wh..wh..opq".into(),
        EntryKind::OpaqueWhiteout => format!("{path}/.wh..wh..opq"),
        _ => match path.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/.wh.{name}"),
            None => format!(".wh.{path}"),
        },
    }
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// Checks one image file against its recipe's ground truth. Returns the image's form name.
fn check(image_path: &Path, expected: &Value) {
    let name = image_path.display().to_string();
    let image =
        Image::open(image_path, &OpenOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        image.layers.len() as u64,
        expected["layers"].as_u64().expect("layers"),
        "{name}: layer count"
    );
    let docker_form = image.format.name().starts_with("docker");

    // Build steps that made no layer (`empty_layer: true`), where the ground truth pins them.
    if let Some(h) = expected.get("history") {
        let history = &image.config.history;
        assert_eq!(
            history.len() as u64,
            h["entries"].as_u64().expect("history entries"),
            "{name}: history entries"
        );
        let empty: Vec<u64> = history
            .iter()
            .enumerate()
            .filter(|(_, step)| step.empty_layer)
            .map(|(i, _)| i as u64)
            .collect();
        let want_empty: Vec<u64> = h["empty_layer"]
            .as_array()
            .expect("empty_layer")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(empty, want_empty, "{name}: empty_layer history steps");
        assert_eq!(
            history.len() - empty.len(),
            image.layers.len(),
            "{name}: non-empty history steps vs layers"
        );
    }

    let cfg = &image.config.config;
    let want = &expected["config"];
    if let Some(user) = want.get("user") {
        assert_eq!(cfg.user.as_deref(), user.as_str(), "{name}: user");
    }
    if let Some(names) = want.get("env_names") {
        let have: Vec<&str> = cfg.env_pairs().map(|(k, _)| k).collect();
        let want: Vec<&str> = names
            .as_array()
            .expect("env")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(have, want, "{name}: env names");
    }
    if let Some(w) = want.get("workdir") {
        assert_eq!(cfg.working_dir.as_deref(), w.as_str(), "{name}: workdir");
    }
    for (key, have) in [("entrypoint", &cfg.entrypoint), ("cmd", &cfg.cmd)] {
        if let Some(w) = want.get(key) {
            let w: Vec<String> = w
                .as_array()
                .expect(key)
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
            assert_eq!(have.as_ref(), Some(&w), "{name}: {key}");
        }
    }
    // The OCI config has no Healthcheck field: only the docker forms keep it.
    if want.get("healthcheck").and_then(Value::as_bool) == Some(true) && docker_form {
        assert!(cfg.healthcheck.is_some(), "{name}: healthcheck");
    }
    if let Some(s) = want.get("stop_signal") {
        assert_eq!(
            cfg.stop_signal.as_deref(),
            s.as_str(),
            "{name}: stop signal"
        );
    }
    if let Some(p) = want.get("exposed_ports") {
        let have: BTreeSet<String> = cfg
            .exposed_ports
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(have, strings(p), "{name}: ports");
    }
    if let Some(v) = want.get("volumes") {
        let have: BTreeSet<String> = cfg
            .volumes
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(have, strings(v), "{name}: volumes");
    }
    if let Some(labels) = want.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            assert_eq!(
                cfg.labels
                    .as_ref()
                    .and_then(|l| l.get(k))
                    .map(String::as_str),
                v.as_str(),
                "{name}: label {k}"
            );
        }
    }

    let walk = image
        .walk(|_| Capabilities::default())
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    for (report, layer) in walk.layers.iter().zip(&image.layers) {
        assert_eq!(report.diff_id, layer.diff_id, "{name}: diff_id checked");
    }
    // skopeo 1.9 labels plain layers +gzip in this one: the bytes win, with a warning.
    let mislabelled = walk
        .warnings
        .iter()
        .any(|w| matches!(w, rharden_image::Warning::MediaTypeMismatch { .. }));
    assert_eq!(
        mislabelled,
        name.contains("plain-as-gzip"),
        "{name}: {:?}",
        walk.warnings
    );

    // Every non-directory entry of every layer, with its fate, exactly as expected.
    let mut have = BTreeMap::new();
    for r in walk.files.layers.iter().flatten() {
        if r.kind != EntryKind::Dir && !r.kind.is_whiteout() {
            have.insert(
                (r.layer() as u64, text(&r.path)),
                (
                    r.fate.name().to_owned(),
                    r.fate.by_layer().map(|b| b as u64),
                ),
            );
        }
    }
    let mut want_files = BTreeMap::new();
    for f in expected["files"].as_array().expect("files") {
        let key = (
            f["layer"].as_u64().expect("layer"),
            f["path"].as_str().expect("path").to_owned(),
        );
        let fate = (
            f["fate"].as_str().expect("fate").to_owned(),
            f.get("by_layer").and_then(Value::as_u64),
        );
        want_files.insert(key, fate);
    }
    assert_eq!(have, want_files, "{name}: files and fates");

    let whiteouts: BTreeSet<(u64, String)> = walk
        .files
        .layers
        .iter()
        .flatten()
        .filter(|r| r.kind.is_whiteout())
        .map(|r| (r.layer() as u64, whiteout_name(r)))
        .collect();
    let want_whiteouts: BTreeSet<(u64, String)> = expected["whiteouts"]
        .as_array()
        .expect("whiteouts")
        .iter()
        .map(|w| {
            (
                w["layer"].as_u64().expect("layer"),
                w["path"].as_str().expect("path").to_owned(),
            )
        })
        .collect();
    assert_eq!(whiteouts, want_whiteouts, "{name}: whiteouts");

    let final_view = walk.files.final_view();
    let with_bit = |bit: u32| -> BTreeSet<String> {
        final_view
            .iter()
            .filter(|r| r.kind == EntryKind::File && r.mode & bit != 0)
            .map(|r| text(&r.path))
            .collect()
    };
    assert_eq!(
        with_bit(0o4000),
        strings(&expected["setuid"]),
        "{name}: setuid"
    );
    assert_eq!(
        with_bit(0o2000),
        strings(&expected["setgid"]),
        "{name}: setgid"
    );
    let caps: BTreeSet<String> = walk
        .sinks
        .iter()
        .flat_map(|s| s.0.iter().cloned())
        .collect();
    let want_caps: BTreeSet<String> = expected["capabilities"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(caps, want_caps, "{name}: capabilities");
    let links = |kind: EntryKind| -> BTreeMap<String, String> {
        final_view
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| (text(&r.path), text(r.link_target().unwrap_or_default())))
            .collect()
    };
    let as_map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    };
    assert_eq!(
        links(EntryKind::Symlink),
        as_map(&expected["symlinks"]),
        "{name}: symlinks"
    );
    assert_eq!(
        links(EntryKind::Hardlink),
        as_map(&expected["hardlinks"]),
        "{name}: hardlinks"
    );
}

fn expected(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("expected.json"))
        .expect("expected.json parses")
}

#[test]
fn committed_example_image() {
    let dir = fixtures().join("example");
    check(
        &dir.join("leaky.oci.tar"),
        &expected(&dir.join("expected.json")),
    );
}

#[test]
fn real_images_in_every_form() {
    let Some(real) = rharden_testkit::real_fixtures() else {
        return;
    };
    let mut checked = 0;
    let mut recipes: Vec<PathBuf> = std::fs::read_dir(fixtures().join("recipes"))
        .expect("recipes")
        .map(|e| e.expect("entry").path())
        .collect();
    recipes.sort();
    for recipe in recipes {
        let name = recipe
            .file_name()
            .and_then(|n| n.to_str())
            .expect("recipe name")
            .to_owned();
        let truth = expected(&recipe.join("expected.json"));
        let dockerd_truth = recipe.join("expected.dockerd.json");
        let mut forms: Vec<PathBuf> = std::fs::read_dir(&real)
            .expect("real")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}.")))
            })
            .collect();
        forms.sort();
        assert!(forms.len() >= 6, "{name}: only {} forms built", forms.len());
        for form in forms {
            if form.to_string_lossy().ends_with(".dockerd.tar") {
                let truth = expected(&dockerd_truth);
                assert!(
                    truth.get("history").is_some(),
                    "{name}: expected.dockerd.json pins no history"
                );
                check(&form, &truth);
            } else {
                check(&form, &truth);
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} real images checked");
    eprintln!("checked {checked} real images");
}
