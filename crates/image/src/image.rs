//! An opened image: its format, config and layer list, ready to be walked.

use std::path::Path;

use crate::archive::{Blob, Source};
use crate::compression::Compression;
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::limits::Limits;
use crate::manifest::{self, ImageFormat, Selector};

/// How to open an image.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub selector: Selector,
    pub limits: Limits,
}

/// The build step that made a layer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryStep {
    /// Position in the config's `history` (empty-layer steps included).
    pub index: usize,
    pub created_by: Option<String>,
    pub created: Option<String>,
    pub comment: Option<String>,
}

/// A layer as the manifest and config describe it, before it is read.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    /// Position in the manifest, bottom layer 0.
    pub index: usize,
    /// The blob's name in the archive or layout (`blobs/sha256/…`, `<id>/layer.tar`).
    pub member: String,
    /// The blob digest the manifest states, when it states one.
    pub digest: Option<Digest>,
    /// The uncompressed digest from the config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    pub media_type: Option<String>,
    /// Blob size in bytes, as stored.
    pub size: u64,
    /// The history step that made this layer, when the history says.
    pub history: Option<HistoryStep>,
    pub(crate) blob: Blob,
}

impl LayerInfo {
    /// The build step's command, if the history has one.
    pub fn created_by(&self) -> Option<&str> {
        self.history.as_ref().and_then(|h| h.created_by.as_deref())
    }

    /// A name for messages: the stated digest, else the member name.
    pub fn name(&self) -> String {
        match &self.digest {
            Some(d) => d.to_string(),
            None => self.member.clone(),
        }
    }
}

/// A warning about something legal but suspect in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The history's non-empty steps do not line up with the layers.
    HistoryMismatch { steps: usize, layers: usize },
    /// A layer's media type names another compression than its bytes have.
    MediaTypeMismatch {
        layer: usize,
        media_type: String,
        actual: Compression,
    },
    /// A whiteout of a path that no lower layer has.
    WhiteoutOfMissing { layer: usize, path: String },
    /// A hardlink to a path absent when the link is made.
    HardlinkTargetMissing {
        layer: usize,
        path: String,
        target: String,
    },
    /// A hardlink to a directory.
    HardlinkToDirectory {
        layer: usize,
        path: String,
        target: String,
    },
    /// Reserved `.wh..wh.*` entries that were skipped.
    ReservedWhiteouts { layer: usize, count: u64 },
    /// An entry placed below a lower layer's symlink (appliers disagree on following it).
    ThroughSymlink {
        layer: usize,
        path: String,
        symlink: String,
    },
    /// An opaque whiteout on the root: every lower layer is hidden.
    OpaqueRoot { layer: usize },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HistoryMismatch { steps, layers } => {
                write!(f, "the history has {steps} layer steps for {layers} layers; steps are matched bottom-up")
            }
            Self::MediaTypeMismatch {
                layer,
                media_type,
                actual,
            } => {
                write!(
                    f,
                    "layer {layer}: media type {media_type} but the blob is {}",
                    actual.name()
                )
            }
            Self::WhiteoutOfMissing { layer, path } => {
                write!(
                    f,
                    "layer {layer}: whiteout of {path:?}, which no lower layer has"
                )
            }
            Self::HardlinkTargetMissing {
                layer,
                path,
                target,
            } => {
                write!(
                    f,
                    "layer {layer}: hardlink {path:?} to {target:?}, which does not exist there"
                )
            }
            Self::HardlinkToDirectory {
                layer,
                path,
                target,
            } => {
                write!(
                    f,
                    "layer {layer}: hardlink {path:?} to {target:?}, which is a directory"
                )
            }
            Self::ReservedWhiteouts { layer, count } => {
                write!(
                    f,
                    "layer {layer}: skipped {count} reserved .wh..wh.* entries"
                )
            }
            Self::ThroughSymlink {
                layer,
                path,
                symlink,
            } => {
                write!(f, "layer {layer}: {path:?} is placed below {symlink:?}, which a lower layer made a symlink")
            }
            Self::OpaqueRoot { layer } => write!(
                f,
                "layer {layer}: an opaque whiteout on / hides every lower layer"
            ),
        }
    }
}

/// An image, opened: the manifest and config are read and checked; the layers are not yet.
#[derive(Debug)]
pub struct Image {
    pub(crate) source: Source,
    pub(crate) limits: Limits,
    pub format: ImageFormat,
    /// Compression of the archive as a whole (`docker save | gzip`).
    pub compression: Compression,
    pub reference: Option<String>,
    pub manifest_digest: Option<Digest>,
    pub config_digest: Digest,
    pub config: ImageConfig,
    /// The raw config document, as stored.
    pub config_bytes: Vec<u8>,
    pub layers: Vec<LayerInfo>,
    pub warnings: Vec<Warning>,
    pub(crate) progress: Option<std::sync::Arc<dyn crate::progress::Progress>>,
}

impl std::fmt::Debug for dyn crate::progress::Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Image {
    /// Reports the progress of every later walk to `progress`.
    pub fn set_progress(&mut self, progress: std::sync::Arc<dyn crate::progress::Progress>) {
        self.progress = Some(progress);
    }

    /// Opens an image file or directory, recognising its format from its content.
    ///
    /// ```no_run
    /// let image = rharden_image::Image::open("busybox.oci.tar".as_ref(), &Default::default())?;
    /// let walk = image.walk(|_layer| ())?;
    /// for layer in &walk.layers {
    ///     println!("{} {} entries", layer.digest, layer.entries);
    /// }
    /// # Ok::<(), rharden_image::ImageError>(())
    /// ```
    pub fn open(path: &Path, options: &OpenOptions) -> Result<Self, ImageError> {
        let limits = options.limits.clone();
        let source = Source::open(path, &limits)?;
        let resolved = manifest::resolve(&source, &options.selector, &limits)?;
        let json_err = |source| ImageError::Json {
            member: resolved.config_name.clone(),
            source,
        };
        // Flatten rewrites the config as a generic JSON value, which refuses nesting past
        // serde_json's 128 levels; the typed parse below skips unknown fields at any depth.
        // Checked here, so every command refuses such a config alike.
        serde_json::from_slice::<serde_json::Value>(&resolved.config_bytes).map_err(json_err)?;
        let config: ImageConfig =
            serde_json::from_slice(&resolved.config_bytes).map_err(json_err)?;
        if let Some(wanted) = &options.selector.platform {
            let have = config.platform();
            if have != *wanted && !have.starts_with(&format!("{wanted}/")) {
                return Err(ImageError::NoMatchingImage {
                    wanted: format!("platform {wanted}"),
                    available: have,
                });
            }
        }
        if resolved.layers.len() != config.rootfs.diff_ids.len() {
            return Err(ImageError::LayerCountMismatch {
                layers: resolved.layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            });
        }
        let mut warnings = Vec::new();
        let steps: Vec<(usize, &crate::config::HistoryEntry)> = config
            .history
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.empty_layer)
            .collect();
        if !config.history.is_empty() && steps.len() != resolved.layers.len() {
            warnings.push(Warning::HistoryMismatch {
                steps: steps.len(),
                layers: resolved.layers.len(),
            });
        }
        let layers = resolved
            .layers
            .into_iter()
            .enumerate()
            .map(|(index, desc)| {
                let diff_id = Digest::parse(&config.rootfs.diff_ids[index]).ok_or_else(|| {
                    ImageError::BadDigest {
                        member: resolved.config_name.clone(),
                        value: config.rootfs.diff_ids[index].clone(),
                    }
                })?;
                let history = steps.get(index).map(|(i, h)| HistoryStep {
                    index: *i,
                    created_by: h.created_by.clone(),
                    created: h.created.clone(),
                    comment: h.comment.clone(),
                });
                Ok(LayerInfo {
                    index,
                    member: desc.blob.name.clone(),
                    digest: desc.digest,
                    diff_id,
                    media_type: desc.media_type,
                    size: desc.blob.size,
                    history,
                    blob: desc.blob,
                })
            })
            .collect::<Result<Vec<_>, ImageError>>()?;
        Ok(Self {
            compression: source.compression(),
            source,
            limits,
            format: resolved.format,
            reference: resolved.reference,
            manifest_digest: resolved.manifest_digest,
            config_digest: resolved.config_digest,
            config,
            config_bytes: resolved.config_bytes,
            layers,
            warnings,
            progress: None,
        })
    }

    /// Copies layer `index`'s blob as stored to `out` (for writers that keep a layer unchanged)
    /// and returns the sha256 of what was copied.
    pub fn copy_layer_blob(
        &self,
        index: usize,
        out: &mut dyn std::io::Write,
    ) -> Result<Digest, ImageError> {
        let layer = &self.layers[index];
        let mut copy = |reader: &mut dyn std::io::Read| -> Result<Digest, ImageError> {
            let mut hashing = crate::digest::HashingReader::new(reader);
            std::io::copy(&mut hashing, out)
                .map_err(|e| ImageError::member(layer.member.clone(), e))?;
            let (digest, _) = hashing
                .finish()
                .map_err(|e| ImageError::member(layer.member.clone(), e))?;
            Ok(digest.expect("a hashing reader has a digest"))
        };
        if self.source.is_seekable() {
            let mut reader = self.source.open_blob(&layer.blob)?;
            return copy(&mut reader);
        }
        let wanted = std::iter::once(layer.blob.name.clone()).collect();
        let mut digest = None;
        self.source
            .stream_members(&wanted, &self.limits, |_, _, reader| {
                if digest.is_none() {
                    digest = Some(copy(reader)?);
                }
                Ok(())
            })?;
        digest.ok_or_else(|| ImageError::MissingBlob {
            referrer: "the manifest".into(),
            member: layer.member.clone(),
        })
    }

    /// Total stored size of the layer blobs.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}
