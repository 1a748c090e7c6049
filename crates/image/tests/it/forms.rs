//! One generated image, written in every form and layer codec, must read the same everywhere.

use std::collections::BTreeMap;

use rharden_image::{
    Entry, EntryKind, Fate, Image, LayerInfo, LayerSink, OpenOptions, Pair, SinkError, Want,
};

use rharden_testkit::*;

/// Collects every file's content and the xattrs seen, per layer.
#[derive(Default, Debug)]
struct Contents {
    files: BTreeMap<Vec<u8>, Vec<u8>>,
    current: Option<Vec<u8>>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl LayerSink for Contents {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        for x in entry.xattrs {
            self.xattrs.push((entry.path.to_vec(), x.name.clone()));
        }
        if entry.kind == EntryKind::File {
            self.current = Some(entry.path.to_vec());
            self.files.insert(entry.path.to_vec(), Vec::new());
            return Ok(Want::Content);
        }
        Ok(Want::Skip)
    }
    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        let path = self.current.as_ref().ok_or("content without entry")?;
        self.files
            .get_mut(path)
            .ok_or("unknown file")?
            .extend_from_slice(chunk);
        Ok(())
    }
}

#[derive(Default, Debug)]
struct Count(u64);
impl LayerSink for Count {
    fn entry(&mut self, _: &LayerInfo, _: &Entry<'_>) -> Result<Want, SinkError> {
        self.0 += 1;
        Ok(Want::Skip)
    }
}

fn fate_of(walk: &rharden_image::Walk<Pair<Contents, Count>>, layer: usize, path: &str) -> Fate {
    walk.files.layers[layer]
        .iter()
        .find(|r| &*r.path == path.as_bytes() && !r.kind.is_whiteout())
        .unwrap_or_else(|| panic!("no {path} in layer {layer}"))
        .fate
}

#[test]
fn every_form_and_codec_reads_the_same() {
    let mut baseline: Option<Vec<(String, String, Option<usize>)>> = None;
    for codec in [LayerCodec::Plain, LayerCodec::Gzip, LayerCodec::Zstd] {
        for form in ALL_FORMS {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut spec = sample_image();
            spec.codec = codec;
            let path = spec.write(dir.path(), form);
            let image = Image::open(&path, &OpenOptions::default())
                .unwrap_or_else(|e| panic!("{form:?} {codec:?}: {e}"));
            assert_eq!(image.layers.len(), 4, "{form:?}");
            assert_eq!(image.layers[1].created_by(), Some("RUN step 1"));
            let walk = image
                .walk(|_| Pair::new(Contents::default(), Count::default()))
                .unwrap_or_else(|e| panic!("{form:?} {codec:?}: {e:?}"));
            // Content streamed to the sink is the content written.
            assert_eq!(
                walk.sinks[1].first.files[&b"tmp/secret_key".to_vec()],
                b"My Big Secret\n"
            );
            assert_eq!(
                walk.sinks[0].first.xattrs,
                vec![(b"usr/bin/ping".to_vec(), b"security.capability".to_vec())]
            );
            assert_eq!(walk.sinks[0].second.0, 17);
            assert_eq!(fate_of(&walk, 1, "tmp/secret_key"), Fate::Deleted { by: 2 });
            assert_eq!(fate_of(&walk, 0, "srv/v"), Fate::Overwritten { by: 1 });
            assert_eq!(fate_of(&walk, 1, "srv/v"), Fate::Overwritten { by: 2 });
            assert_eq!(fate_of(&walk, 2, "srv/v"), Fate::Present);
            assert_eq!(fate_of(&walk, 0, "data/a"), Fate::Hidden { by: 3 });
            assert_eq!(fate_of(&walk, 0, "srv/d/inner"), Fate::Deleted { by: 3 });
            assert_eq!(fate_of(&walk, 0, "usr/bin/tool"), Fate::Present);
            let tool = walk.files.layers[0]
                .iter()
                .find(|r| &*r.path == b"usr/bin/tool")
                .expect("tool");
            assert_eq!(tool.mode, 0o4755);
            let link = walk.files.layers[0]
                .iter()
                .find(|r| &*r.path == b"usr/bin/tool2")
                .expect("hardlink");
            assert_eq!(link.link_target(), Some(&b"usr/bin/tool"[..]));
            assert!(walk.files.layers[3].iter().any(|r| &*r.path == b"bin\xff"));
            assert!(walk.files.layers[0].iter().any(|r| r.path.len() > 120));
            assert_eq!(walk.layers[2].changes.deleted, 1);
            assert_eq!(walk.layers[3].changes.deleted, 1);
            for (report, layer) in walk.layers.iter().zip(&image.layers) {
                assert_eq!(report.diff_id, layer.diff_id);
            }
            let summary: Vec<_> = walk
                .files
                .layers
                .iter()
                .flatten()
                .map(|r| {
                    (
                        String::from_utf8_lossy(&r.path).into_owned(),
                        r.fate.name().to_owned(),
                        r.fate.by_layer(),
                    )
                })
                .collect();
            match &baseline {
                None => baseline = Some(summary),
                Some(b) => assert_eq!(b, &summary, "{form:?} {codec:?} differs"),
            }
        }
    }
}

#[test]
fn a_blob_used_by_two_layers_is_read_for_each() {
    // Builders keep identical empty layers; in a compressed archive that needs a second pass.
    for form in ALL_FORMS {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = ImageSpec::new(vec![
            vec![file("a", b"a")],
            vec![],
            vec![],
            vec![file("b", b"b")],
        ]);
        let path = spec.write(dir.path(), form);
        let image = Image::open(&path, &OpenOptions::default()).expect("open");
        let walk = image.walk(|l| LayerIndex(l.index)).expect("walk");
        let order: Vec<usize> = walk.sinks.iter().map(|s| s.0).collect();
        assert_eq!(order, vec![0, 1, 2, 3], "{form:?}");
        assert_eq!(walk.layers[1].digest, walk.layers[2].digest);
    }
}

#[derive(Debug)]
struct LayerIndex(usize);

impl LayerSink for LayerIndex {
    fn entry(&mut self, _: &LayerInfo, _: &Entry<'_>) -> Result<Want, SinkError> {
        Ok(Want::Skip)
    }
}

#[test]
fn a_media_type_that_disagrees_with_the_bytes_is_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = ImageSpec::new(vec![vec![file("a", b"a")]]);
    // Plain tar blobs, labelled +gzip (skopeo 1.9 writes such images).
    let mut entries = spec.oci_entries(LayerCodec::Plain);
    for e in &mut entries {
        if e.name.starts_with(b"blobs/") && e.data.starts_with(b"{") {
            let text = String::from_utf8(e.data.clone()).expect("utf8");
            e.data = text.replace("v1.tar\"", "v1.tar+gzip\"").into_bytes();
        }
    }
    // Re-hash the edited manifest: rebuild the index to point at it.
    let manifest = entries
        .iter()
        .find(|e| e.name.starts_with(b"blobs/") && e.data.windows(6).any(|w| w == b"layers"))
        .expect("manifest")
        .clone();
    let digest = sha256(&manifest.data);
    entries.push(file(
        &format!("blobs/sha256/{}", &digest[7..]),
        &manifest.data,
    ));
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": manifest.data.len()}]});
    entries[1] = file("index.json", &serde_json::to_vec(&index).expect("json"));
    let path = dir.path().join("mislabelled.oci.tar");
    std::fs::write(&path, tar(&entries)).expect("write");
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let walk = image.walk(|_| ()).expect("walk");
    assert!(
        walk.warnings.iter().any(|w| matches!(
            w,
            rharden_image::Warning::MediaTypeMismatch { layer: 0, .. }
        )),
        "{:?}",
        walk.warnings
    );
}
