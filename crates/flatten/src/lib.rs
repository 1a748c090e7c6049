//! Squash an image's layers into one, exactly as the OCI image spec merges them, and unpack its
//! root filesystem without ever writing outside the target.
//!
//! [`flatten`] walks the image twice: the first pass (metadata only) decides which entry of
//! which layer wins at every path ([`Plan`]); the second copies the winners into one new layer,
//! compressed on every core, with no file content ever held in memory. The output keeps the
//! runtime config, drops the squashed history's commands (they can hold secrets) and is written
//! under a temporary name beside the target, renamed into place only when complete.

mod cache;
mod compress;
mod config;
mod error;
mod layer;
mod output;
mod plan;
mod tar;
mod unpack;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rharden_image::{Digest, Image, ImageFormat, LayerInfo, LayerSink, SinkError, Walk};
use serde::Serialize;

pub use cache::{CachedRootfs, RootfsCache, COMPLETE};
pub use compress::Codec;
pub use error::FlattenError;
pub use output::OutputFormat;
pub use plan::Plan;
pub use unpack::{unpack, unpack_with, IdShift, UnpackNote, UnpackOptions, UnpackReport};

use output::{Blob, BlobSource, Layout};

/// What to write.
#[derive(Debug, Clone, Default)]
pub struct FlattenOptions {
    /// Output layout; by default the input's kind.
    pub format: Option<OutputFormat>,
    /// The new layer's compression; by default none for docker-archive, gzip for OCI.
    pub compression: Option<Codec>,
    /// Keep layers below this one as they are and squash the rest (0: squash everything).
    pub from_layer: usize,
    /// Reference name for the output; by default the input's.
    pub tag: Option<String>,
    /// Keep the squashed steps' history entries (marked `empty_layer`).
    pub keep_history: bool,
    /// Replace an existing output.
    pub force: bool,
}

/// What flatten did: the proof that what was deleted is gone.
#[derive(Debug, Clone, Serialize)]
pub struct FlattenReport {
    pub output: PathBuf,
    pub format: OutputFormat,
    pub compression: Codec,
    pub layers_in: usize,
    pub layers_kept: usize,
    pub layers_squashed: usize,
    pub layer_digest: Digest,
    pub diff_id: Digest,
    pub layer_size: u64,
    pub uncompressed_size: u64,
    /// Entries in the new layer.
    pub entries: u64,
    /// Entries of the squashed layers (not directories) that are not in the output: deleted,
    /// overwritten or hidden files whose bytes no longer ship.
    pub dropped_entries: u64,
    pub dropped_bytes: u64,
    /// History commands (`created_by`) removed from the config.
    pub history_commands_dropped: usize,
    pub config_digest: Digest,
    /// For OCI outputs.
    pub manifest_digest: Option<Digest>,
}

/// Whether writing `out` would change `input`: the same file (through any link), or a path
/// inside `input` when it is a directory (an OCI layout).
pub fn writes_into(input: &Path, out: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let same = match (fs::metadata(input), fs::metadata(out)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    same || (input.is_dir()
        && match (input.canonicalize(), parent.canonicalize()) {
            (Ok(input), Ok(parent)) => parent.starts_with(input),
            _ => false,
        })
}

fn check_target(input: &Path, out: &Path, force: bool) -> Result<(), FlattenError> {
    if writes_into(input, out) {
        return Err(FlattenError::OutputIsInput {
            path: out.to_owned(),
        });
    }
    let Ok(existing) = out.symlink_metadata() else {
        return Ok(());
    };
    // A device, FIFO or socket (`-o /dev/null`) is never removed and replaced by the output:
    // as root, --force would otherwise delete the host's /dev/null.
    if let Some(kind) = special_kind(&existing.file_type()) {
        return Err(FlattenError::OutputSpecial {
            path: out.to_owned(),
            kind,
        });
    }
    if !force {
        return Err(FlattenError::OutputExists {
            path: out.to_owned(),
        });
    }
    Ok(())
}

/// What a file type is when it is none of file, directory and symlink.
fn special_kind(kind: &fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_char_device() {
        Some("character device")
    } else if kind.is_block_device() {
        Some("block device")
    } else if kind.is_fifo() {
        Some("FIFO")
    } else if kind.is_socket() {
        Some("socket")
    } else {
        None
    }
}

fn digest_of(sha: [u8; 32]) -> Digest {
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    Digest::from_hex(&hex).unwrap_or_else(|| Digest::of(b""))
}

/// Flattens `image` (read from `input`) into `out`.
pub fn flatten(
    image: &Image,
    input: &Path,
    out: &Path,
    options: &FlattenOptions,
) -> Result<FlattenReport, FlattenError> {
    flatten_with(image, input, out, options, |_| (), |_| Ok(()), false)
        .map(|(report, _, ())| report)
}

/// [`flatten`], with analyzers riding along at no extra read: `make_sink` gives a sink per
/// input layer for the first pass (which reads every layer anyway, so they run beside the
/// reader), and `make_output`, given that pass's walk, gives the sink that sees every entry
/// of the squashed layer, content included, as it is written. Returns the first pass's walk
/// with its sinks, and the output's sink.
pub fn flatten_observed<S, F, O, G>(
    image: &Image,
    input: &Path,
    out: &Path,
    options: &FlattenOptions,
    make_sink: F,
    make_output: G,
) -> Result<(FlattenReport, Walk<S>, O), FlattenError>
where
    S: LayerSink + Send,
    F: Fn(&LayerInfo) -> S + Sync,
    O: LayerSink,
    G: FnOnce(&Walk<S>) -> Result<O, SinkError>,
{
    flatten_with(image, input, out, options, make_sink, make_output, true)
}

fn flatten_with<S, F, O, G>(
    image: &Image,
    input: &Path,
    out: &Path,
    options: &FlattenOptions,
    make_sink: F,
    make_output: G,
    pipelined: bool,
) -> Result<(FlattenReport, Walk<S>, O), FlattenError>
where
    S: LayerSink + Send,
    F: Fn(&LayerInfo) -> S + Sync,
    O: LayerSink,
    G: FnOnce(&Walk<S>) -> Result<O, SinkError>,
{
    check_target(input, out, options.force)?;
    let format = options.format.unwrap_or(match image.format {
        ImageFormat::DockerArchive | ImageFormat::DockerArchiveOci => OutputFormat::DockerArchive,
        ImageFormat::OciArchive => OutputFormat::Oci,
        ImageFormat::OciDir => OutputFormat::OciDir,
    });
    let codec = options
        .compression
        .unwrap_or(if format == OutputFormat::DockerArchive {
            Codec::None
        } else {
            Codec::Gzip
        });
    let from = options.from_layer;

    // Pass 1: every layer in parallel: who wins where (and whatever the sinks collect).
    let walk = if pipelined {
        image.walk_pipelined(make_sink)?
    } else {
        image.walk(make_sink)?
    };
    let plan = Plan::new(&walk.files, from)?;

    // Pass 2: the winners, streamed into one layer in a temporary file beside the target.
    let tmp = output::temp_dir_for(out)?;
    let layer_path = tmp.path().join("layer");
    let write_err = |source| FlattenError::Write {
        path: layer_path.clone(),
        source,
    };
    let file = File::create(&layer_path).map_err(write_err)?;
    let encoder = compress::ParallelEncoder::new(BufWriter::with_capacity(1 << 20, file), codec);
    let mut tar = tar::TarWriter::new(encoder);
    // The output's observer runs inline: it is meant to be cheap (it looks for what the first
    // pass found), and a pipeline would copy every byte to its thread whether it reads or not.
    let mut output = make_output(&walk).map_err(|source| FlattenError::ObserverSetup { source })?;
    layer::write_layer(image, &walk.files, &plan, &mut tar, &mut output)?;
    let entries = tar.entries();
    let (encoder, diff_sha, uncompressed_size) = tar
        .finish()
        .map_err(|source| FlattenError::Compress { source })?;
    let (mut buffered, blob_sha, layer_size) = encoder
        .finish()
        .map_err(|source| FlattenError::Compress { source })?;
    buffered.flush().map_err(write_err)?;
    drop(buffered);
    let diff_id = digest_of(diff_sha);
    let layer_digest = digest_of(blob_sha.unwrap_or(diff_sha));

    let (config_bytes, history_commands_dropped) =
        config::rewrite(image, from, &diff_id, options.keep_history)?;
    let config_digest = Digest::of(&config_bytes);
    let mut layers: Vec<Blob<'_>> = walk.layers[..from]
        .iter()
        .map(|report| Blob {
            digest: report.digest.clone(),
            size: report.size,
            media_type: output::kept_media_type(image, report),
            source: BlobSource::InputLayer(report.index),
            docker_name: format!("{}.tar", report.diff_id.hex()),
        })
        .collect();
    layers.push(Blob {
        digest: layer_digest.clone(),
        size: layer_size,
        media_type: codec.oci_media_type().into(),
        source: BlobSource::File(&layer_path),
        docker_name: format!("{}.tar", diff_id.hex()),
    });
    let layout = Layout {
        layers,
        config: Blob {
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            media_type: output::OCI_CONFIG.into(),
            docker_name: format!("{}.json", config_digest.hex()),
            source: BlobSource::Bytes(config_bytes),
        },
        tag: options.tag.clone().or_else(|| image.reference.clone()),
    };
    let manifest_digest = (format != OutputFormat::DockerArchive).then(|| layout.manifest_digest());
    let built = tmp.path().join("image");
    match format {
        OutputFormat::OciDir => output::write_oci_dir(image, &layout, &built)?,
        _ => {
            let file = File::create(&built).map_err(|source| FlattenError::Write {
                path: built.clone(),
                source,
            })?;
            output::write_archive(image, &layout, format, file, &built)?;
        }
    }
    // Only now, complete, does the output take the target's place.
    let place_err = |source| FlattenError::Write {
        path: out.to_owned(),
        source,
    };
    if options.force {
        match out.symlink_metadata() {
            Ok(m) if m.is_dir() => fs::remove_dir_all(out).map_err(place_err)?,
            Ok(_) => fs::remove_file(out).map_err(place_err)?,
            Err(_) => {}
        }
    }
    fs::rename(&built, out).map_err(place_err)?;
    let report = FlattenReport {
        output: out.to_owned(),
        format,
        compression: codec,
        layers_in: image.layers.len(),
        layers_kept: from,
        layers_squashed: image.layers.len() - from,
        layer_digest,
        diff_id,
        layer_size,
        uncompressed_size,
        entries,
        dropped_entries: plan.dropped_entries,
        dropped_bytes: plan.dropped_bytes,
        history_commands_dropped,
        config_digest,
        manifest_digest,
    };
    Ok((report, walk, output))
}
