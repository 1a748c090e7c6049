//! `rharden inspect`: the image summary and a row per layer; `--files` adds every entry's fate.
//! The JSON shape is a contract (README, "inspect JSON").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rharden_image::{FileRecord, Image, ImageConfig, LayerReport, Walk};
use serde::Serialize;

use crate::args::{InspectArgs, OutputFormat};
use crate::error::CliError;
use crate::exit::Status;
use crate::printer::{ellipsize, emit, human_bytes};

pub fn execute(args: InspectArgs) -> Result<Status, CliError> {
    let what = || format!("inspect {}", args.image.display());
    let mut image = Image::open(&args.image, &super::open_options(&args.selection))
        .map_err(|e| CliError::new(what(), e))?;
    crate::progress::attach(&mut image, "reading");
    let walk = image.walk(|_| ()).map_err(|e| CliError::new(what(), e))?;
    let report = Report::new(&args, &image, &walk);
    let text = match args.format {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::new("write JSON", e))?;
            s.push('\n');
            s
        }
        OutputFormat::Table => table(&report),
    };
    emit(&text).map_err(|e| CliError::new("write to stdout", e))?;
    Ok(Status::Success)
}

#[derive(Serialize)]
struct Report<'a> {
    image: String,
    format: &'static str,
    compression: &'static str,
    reference: Option<&'a str>,
    manifest_digest: Option<String>,
    config_digest: String,
    platform: String,
    config: ConfigSummary<'a>,
    size: u64,
    uncompressed_size: u64,
    layers: Vec<LayerRow<'a>>,
    history: Vec<HistoryRow<'a>>,
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<FileRow>>,
}

/// The config, without Env values: they often hold secrets, and inspect is not the place to print them.
#[derive(Serialize)]
struct ConfigSummary<'a> {
    user: Option<&'a str>,
    entrypoint: Option<&'a [String]>,
    cmd: Option<&'a [String]>,
    env_names: Vec<&'a str>,
    working_dir: Option<&'a str>,
    labels: Option<&'a BTreeMap<String, String>>,
    exposed_ports: Vec<&'a str>,
    volumes: Vec<&'a str>,
    healthcheck: Option<&'a [String]>,
    stop_signal: Option<&'a str>,
    created: Option<&'a str>,
}

#[derive(Serialize)]
struct LayerRow<'a> {
    #[serde(flatten)]
    read: &'a LayerReport,
    media_type: Option<&'a str>,
    created_by: Option<&'a str>,
    history_index: Option<usize>,
}

#[derive(Serialize)]
struct HistoryRow<'a> {
    index: usize,
    created_by: Option<&'a str>,
    empty_layer: bool,
    layer: Option<usize>,
}

#[derive(Serialize)]
struct FileRow {
    layer: usize,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: String,
    uid: u64,
    gid: u64,
    size: u64,
    link_target: Option<String>,
    fate: &'static str,
    by_layer: Option<usize>,
}

/// Paths are bytes: JSON gets them as text, with a hex copy when they are not UTF-8.
fn path_text(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (format!("/{s}"), None),
        Err(_) => {
            let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
            (format!("/{}", String::from_utf8_lossy(bytes)), Some(hex))
        }
    }
}

fn config_summary(config: &ImageConfig) -> ConfigSummary<'_> {
    let c = &config.config;
    ConfigSummary {
        user: c.user.as_deref().filter(|u| !u.is_empty()),
        entrypoint: c.entrypoint.as_deref(),
        cmd: c.cmd.as_deref(),
        env_names: c.env_pairs().map(|(k, _)| k).collect(),
        working_dir: c.working_dir.as_deref().filter(|w| !w.is_empty()),
        labels: c.labels.as_ref().filter(|l| !l.is_empty()),
        exposed_ports: c
            .exposed_ports
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect(),
        volumes: c
            .volumes
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect(),
        healthcheck: c.healthcheck.as_ref().and_then(|h| h.test.as_deref()),
        stop_signal: c.stop_signal.as_deref(),
        created: config.created.as_deref(),
    }
}

impl<'a> Report<'a> {
    fn new(args: &InspectArgs, image: &'a Image, walk: &'a Walk<()>) -> Self {
        let mut layer_of_step = BTreeMap::new();
        let layers = image
            .layers
            .iter()
            .zip(&walk.layers)
            .map(|(info, read)| {
                if let Some(h) = &info.history {
                    layer_of_step.insert(h.index, info.index);
                }
                LayerRow {
                    read,
                    media_type: info.media_type.as_deref(),
                    created_by: info.created_by(),
                    history_index: info.history.as_ref().map(|h| h.index),
                }
            })
            .collect();
        let history = image
            .config
            .history
            .iter()
            .enumerate()
            .map(|(index, h)| HistoryRow {
                index,
                created_by: h.created_by.as_deref(),
                empty_layer: h.empty_layer,
                layer: layer_of_step.get(&index).copied(),
            })
            .collect();
        let files = args
            .files
            .then(|| walk.files.layers.iter().flatten().map(file_row).collect());
        Self {
            image: args.image.display().to_string(),
            format: image.format.name(),
            compression: image.compression.name(),
            reference: image.reference.as_deref(),
            manifest_digest: image.manifest_digest.as_ref().map(ToString::to_string),
            config_digest: image.config_digest.to_string(),
            platform: image.config.platform(),
            config: config_summary(&image.config),
            size: walk.layers.iter().map(|l| l.size).sum(),
            uncompressed_size: walk.layers.iter().map(|l| l.uncompressed_size).sum(),
            layers,
            history,
            warnings: walk.warnings.iter().map(ToString::to_string).collect(),
            files,
        }
    }
}

fn file_row(r: &FileRecord) -> FileRow {
    let (path, path_hex) = path_text(&r.path);
    FileRow {
        layer: r.layer(),
        path,
        path_hex,
        kind: r.kind.name(),
        mode: format!("{:04o}", r.mode),
        uid: r.uid,
        gid: r.gid,
        size: r.size,
        link_target: r
            .link_target()
            .map(|t| String::from_utf8_lossy(t).into_owned()),
        fate: r.fate.name(),
        by_layer: r.fate.by_layer(),
    }
}

fn list(items: Option<&[String]>) -> String {
    match items {
        None => "-".into(),
        Some(items) => serde_json::to_string(items).unwrap_or_default(),
    }
}

fn table(r: &Report<'_>) -> String {
    let mut out = String::new();
    let c = &r.config;
    let compression = if r.compression == "none" {
        String::new()
    } else {
        format!(", {}-compressed as a whole", r.compression)
    };
    let _ = writeln!(out, "image       {}", r.image);
    let _ = writeln!(out, "format      {}{compression}", r.format);
    let _ = writeln!(out, "reference   {}", r.reference.unwrap_or("-"));
    let _ = writeln!(out, "platform    {}", r.platform);
    let _ = writeln!(out, "user        {}", c.user.unwrap_or("(root: no USER)"));
    let _ = writeln!(out, "entrypoint  {}", list(c.entrypoint));
    let _ = writeln!(out, "cmd         {}", list(c.cmd));
    let _ = writeln!(out, "workdir     {}", c.working_dir.unwrap_or("-"));
    let _ = writeln!(
        out,
        "env         {}",
        if c.env_names.is_empty() {
            "-".into()
        } else {
            c.env_names.join(", ")
        }
    );
    if let Some(h) = c.healthcheck {
        let _ = writeln!(out, "healthcheck {}", list(Some(h)));
    }
    let _ = writeln!(
        out,
        "size        {} stored, {} uncompressed, {} layers",
        human_bytes(r.size),
        human_bytes(r.uncompressed_size),
        r.layers.len()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>3}  {:<19}  {:<5}  {:>9}  {:>9}  {:>7}  {:>6}  {:>6}  {:>6}  CREATED BY",
        "#", "DIGEST", "COMP", "SIZE", "UNCOMP", "ENTRIES", "ADDED", "MODIF", "DELETE"
    );
    for l in &r.layers {
        let _ = writeln!(
            out,
            "{:>3}  {:<19}  {:<5}  {:>9}  {:>9}  {:>7}  {:>6}  {:>6}  {:>6}  {}",
            l.read.index,
            l.read.digest.short(),
            l.read.compression.name(),
            human_bytes(l.read.size),
            human_bytes(l.read.uncompressed_size),
            l.read.entries,
            l.read.changes.added,
            l.read.changes.modified,
            l.read.changes.deleted,
            ellipsize(l.created_by.unwrap_or("-"), 80)
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if let Some(files) = &r.files {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:>3}  {:<15}  {:<6}  {:>11}  {:>9}  {:<11}  PATH",
            "#", "TYPE", "MODE", "UID:GID", "SIZE", "FATE"
        );
        for f in files {
            let fate = match f.by_layer {
                Some(by) => format!("{} by {by}", f.fate),
                None => f.fate.to_owned(),
            };
            let link = f
                .link_target
                .as_deref()
                .map(|t| format!(" -> {t}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:>3}  {:<15}  {:<6}  {:>11}  {:>9}  {:<11}  {}{}",
                f.layer,
                f.kind,
                f.mode,
                format!("{}:{}", f.uid, f.gid),
                f.size,
                fate,
                ellipsize(&f.path, 200),
                ellipsize(&link, 120)
            );
        }
    }
    out
}
