//! Packages the flattened image as an OCI layout (directory or tar) or a docker-archive, written
//! beside the target under a temporary name and renamed into place only when complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rharden_image::{Compression, Digest, Image, LayerReport};
use serde::Serialize;
use serde_json::json;

use crate::compress::Codec;
use crate::error::FlattenError;
use crate::tar::{Header, TarWriter};

/// The image layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    DockerArchive,
    Oci,
    OciDir,
}

/// A blob of the output: where its bytes come from.
pub enum BlobSource<'a> {
    Bytes(Vec<u8>),
    /// A temporary file holding the new layer.
    File(&'a Path),
    /// A kept layer of the input, copied as stored.
    InputLayer(usize),
}

pub struct Blob<'a> {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub source: BlobSource<'a>,
    /// Name in a docker-archive (`<hex>.tar`, `<hex>.json`).
    pub docker_name: String,
}

/// Everything the output holds.
pub struct Layout<'a> {
    pub layers: Vec<Blob<'a>>,
    pub config: Blob<'a>,
    pub tag: Option<String>,
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The media type for a kept layer: the input's when it is an OCI one, else from its bytes.
pub fn kept_media_type(image: &Image, report: &LayerReport) -> String {
    let index = report.index;
    match &image.layers[index].media_type {
        Some(m) if m.starts_with("application/vnd.oci.image.layer") => m.clone(),
        _ => match report.compression {
            Compression::None => Codec::None.oci_media_type().into(),
            Compression::Gzip => Codec::Gzip.oci_media_type().into(),
            Compression::Zstd => Codec::Zstd.oci_media_type().into(),
        },
    }
}

fn write_err(path: &Path) -> impl Fn(io::Error) -> FlattenError + '_ {
    move |source| FlattenError::Write {
        path: path.to_owned(),
        source,
    }
}

impl Layout<'_> {
    fn manifest(&self) -> Vec<u8> {
        let layers: Vec<_> = self
            .layers
            .iter()
            .map(|b| json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size}))
            .collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.config.digest.to_string(), "size": self.config.size},
            "layers": layers,
        }))
        .unwrap_or_default()
    }

    fn index(&self, manifest: &[u8]) -> Vec<u8> {
        let mut desc = json!({"mediaType": OCI_MANIFEST, "digest": Digest::of(manifest).to_string(), "size": manifest.len()});
        if let Some(tag) = &self.tag {
            desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        }
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap_or_default()
    }

    fn docker_manifest(&self) -> Vec<u8> {
        let tags: Option<Vec<String>> = self.tag.as_ref().map(|t| {
            // Docker wants name:tag; a bare name means :latest.
            let has_tag = t.rsplit('/').next().is_some_and(|last| last.contains(':'));
            vec![if has_tag {
                t.clone()
            } else {
                format!("{t}:latest")
            }]
        });
        let layers: Vec<&str> = self.layers.iter().map(|b| b.docker_name.as_str()).collect();
        serde_json::to_vec(
            &json!([{"Config": self.config.docker_name, "RepoTags": tags, "Layers": layers}]),
        )
        .unwrap_or_default()
    }

    /// The manifest's digest for OCI outputs.
    pub fn manifest_digest(&self) -> Digest {
        Digest::of(&self.manifest())
    }
}

fn copy_blob(
    image: &Image,
    blob: &Blob<'_>,
    out: &mut dyn Write,
    path: &Path,
) -> Result<(), FlattenError> {
    match &blob.source {
        BlobSource::Bytes(b) => out.write_all(b).map_err(write_err(path)),
        BlobSource::File(p) => {
            let mut f = File::open(p).map_err(write_err(p))?;
            io::copy(&mut f, out).map_err(write_err(path)).map(|_| ())
        }
        BlobSource::InputLayer(i) => {
            let digest = image.copy_layer_blob(*i, out)?;
            if digest != blob.digest {
                return Err(FlattenError::Unflattenable {
                    problem: format!("layer {i} changed while it was being copied"),
                });
            }
            Ok(())
        }
    }
}

/// Writes the OCI layout into a new directory `dir`.
pub fn write_oci_dir(image: &Image, layout: &Layout<'_>, dir: &Path) -> Result<(), FlattenError> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(write_err(&blobs))?;
    let manifest = layout.manifest();
    let index = layout.index(&manifest);
    let put =
        |digest: &Digest,
         write: &mut dyn FnMut(&mut dyn Write, &Path) -> Result<(), FlattenError>| {
            let path = blobs.join(digest.hex());
            if path.exists() {
                return Ok(());
            }
            let mut f = BufWriter::new(File::create(&path).map_err(write_err(&path))?);
            write(&mut f, &path)?;
            f.flush().map_err(write_err(&path))
        };
    for b in layout.layers.iter().chain(std::iter::once(&layout.config)) {
        if let BlobSource::File(p) = &b.source {
            // The new layer is already a file beside us: move it, don't copy it.
            let target = blobs.join(b.digest.hex());
            fs::rename(p, &target).map_err(write_err(&target))?;
            continue;
        }
        put(&b.digest, &mut |out, path| copy_blob(image, b, out, path))?;
    }
    put(&Digest::of(&manifest), &mut |out, path| {
        out.write_all(&manifest).map_err(write_err(path))
    })?;
    let w = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        fs::write(&p, bytes).map_err(write_err(&p))
    };
    w("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    w("index.json", &index)
}

fn file_header(path: &[u8], size: u64) -> Header<'_> {
    Header {
        path,
        kind: b'0',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size,
        mtime: 0,
        link: b"",
        device: (0, 0),
        xattrs: &[],
    }
}

fn tar_blob(
    tar: &mut TarWriter<BufWriter<File>>,
    image: &Image,
    name: &str,
    blob: &Blob<'_>,
    out_path: &Path,
) -> Result<(), FlattenError> {
    tar.entry(&file_header(name.as_bytes(), blob.size))
        .map_err(write_err(out_path))?;
    let mut sink = TarContent(tar);
    copy_blob(image, blob, &mut sink, out_path)?;
    tar.end_entry().map_err(write_err(out_path))
}

/// Adapts the tar writer's content calls to `Write`.
struct TarContent<'a>(&'a mut TarWriter<BufWriter<File>>);

impl Write for TarContent<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.content(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn dir_header(path: &[u8]) -> Header<'_> {
    Header {
        path,
        kind: b'5',
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 0,
        link: b"",
        device: (0, 0),
        xattrs: &[],
    }
}

/// Writes the image as one tar (OCI layout or docker-archive) into `file`.
pub fn write_archive(
    image: &Image,
    layout: &Layout<'_>,
    format: OutputFormat,
    file: File,
    path: &Path,
) -> Result<(), FlattenError> {
    let mut tar = TarWriter::new(BufWriter::with_capacity(1 << 20, file));
    let err = write_err(path);
    match format {
        OutputFormat::Oci | OutputFormat::OciDir => {
            let manifest = layout.manifest();
            let index = layout.index(&manifest);
            let layout_doc = br#"{"imageLayoutVersion":"1.0.0"}"#;
            tar.entry(&file_header(b"oci-layout", layout_doc.len() as u64))
                .map_err(&err)?;
            tar.content(layout_doc).map_err(&err)?;
            tar.end_entry().map_err(&err)?;
            tar.entry(&file_header(b"index.json", index.len() as u64))
                .map_err(&err)?;
            tar.content(&index).map_err(&err)?;
            tar.end_entry().map_err(&err)?;
            tar.entry(&dir_header(b"blobs")).map_err(&err)?;
            tar.entry(&dir_header(b"blobs/sha256")).map_err(&err)?;
            let mut seen = std::collections::BTreeSet::new();
            let manifest_blob = Blob {
                digest: Digest::of(&manifest),
                size: manifest.len() as u64,
                media_type: OCI_MANIFEST.into(),
                source: BlobSource::Bytes(manifest.clone()),
                docker_name: String::new(),
            };
            for b in layout.layers.iter().chain([&layout.config, &manifest_blob]) {
                if seen.insert(b.digest.clone()) {
                    tar_blob(&mut tar, image, &b.digest.blob_path(), b, path)?;
                }
            }
        }
        OutputFormat::DockerArchive => {
            let mut seen = std::collections::BTreeSet::new();
            for b in layout.layers.iter().chain([&layout.config]) {
                if seen.insert(b.docker_name.clone()) {
                    tar_blob(&mut tar, image, &b.docker_name, b, path)?;
                }
            }
            let manifest = layout.docker_manifest();
            tar.entry(&file_header(b"manifest.json", manifest.len() as u64))
                .map_err(&err)?;
            tar.content(&manifest).map_err(&err)?;
            tar.end_entry().map_err(&err)?;
        }
    }
    let (mut out, _, _) = tar.finish().map_err(&err)?;
    out.flush().map_err(&err)?;
    out.into_inner()
        .map_err(|e| err(e.into_error()))?
        .sync_all()
        .map_err(&err)
}

/// A temporary directory beside `target` (same filesystem, so the final rename is atomic);
/// removed with everything in it when dropped, so a failure leaves nothing behind.
pub fn temp_dir_for(target: &Path) -> Result<tempfile::TempDir, FlattenError> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.rharden-"))
        .tempdir_in(&parent)
        .map_err(write_err(&parent))?;
    Ok(dir)
}
