//! `rharden flatten`: squash layers into one and report what was dropped.

use std::fmt::Write as _;

use rharden_flatten::{Codec, FlattenOptions, FlattenReport, OutputFormat};
use rharden_image::Image;

use crate::args::{CompressionArg, FlattenArgs, ImageLayoutArg};
use crate::error::CliError;
use crate::exit::Status;
use crate::printer::{emit, human_bytes};

pub fn execute(args: FlattenArgs) -> Result<Status, CliError> {
    let what = || format!("flatten {}", args.image.display());
    let image = Image::open(&args.image, &super::open_options(&args.selection))
        .map_err(|e| CliError::new(what(), e))?;
    let options = FlattenOptions {
        format: args.format.map(|f| match f {
            ImageLayoutArg::DockerArchive => OutputFormat::DockerArchive,
            ImageLayoutArg::Oci => OutputFormat::Oci,
            ImageLayoutArg::OciDir => OutputFormat::OciDir,
        }),
        compression: args.compression.map(|c| match c {
            CompressionArg::Gzip => Codec::Gzip,
            CompressionArg::Zstd => Codec::Zstd,
            CompressionArg::None => Codec::None,
        }),
        from_layer: args.from_layer,
        tag: args.tag.clone(),
        keep_history: args.keep_history,
        force: args.force,
    };
    let report = rharden_flatten::flatten(&image, &args.image, &args.output, &options)
        .map_err(|e| CliError::new(what(), e))?;
    let text = if args.json {
        let mut s =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::new("write JSON", e))?;
        s.push('\n');
        s
    } else {
        table(&report)
    };
    emit(&text).map_err(|e| CliError::new("write to stdout", e))?;
    Ok(Status::Success)
}

fn table(r: &FlattenReport) -> String {
    let mut out = String::new();
    let format = serde_json::to_value(r.format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "wrote     {} ({format}, layer {})",
        r.output.display(),
        r.compression.name()
    );
    let _ = writeln!(
        out,
        "layers    {} in: {} kept, {} squashed into {}",
        r.layers_in,
        r.layers_kept,
        r.layers_squashed,
        r.layer_digest.short()
    );
    let _ = writeln!(
        out,
        "layer     {} entries, {} stored, {} uncompressed",
        r.entries,
        human_bytes(r.layer_size),
        human_bytes(r.uncompressed_size)
    );
    let _ = writeln!(
        out,
        "dropped   {} deleted/overwritten/hidden entries ({}) and {} history commands",
        r.dropped_entries,
        human_bytes(r.dropped_bytes),
        r.history_commands_dropped
    );
    out
}
