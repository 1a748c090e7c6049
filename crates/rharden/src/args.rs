//! Clap structures only: no logic here (see `commands` for what each one does).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rharden: find what leaks in container images, squash it away, and run containers hardened.
#[derive(Debug, Parser)]
#[command(name = "rharden", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarise an image and its layers (format, config, sizes, what each layer changed).
    Inspect(InspectArgs),
}

/// Which image in an archive or layout, when it holds several.
#[derive(Debug, Args)]
pub struct ImageSelection {
    /// Pick the image with this reference name (`busybox:latest`, or just the tag).
    #[arg(long = "ref", value_name = "NAME")]
    pub reference: Option<String>,
    /// Pick the image for this platform (`linux/amd64`, `linux/arm64/v8`); default: the only one, or the host's.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A docker-archive or OCI archive (plain, or gzip/zstd-compressed as a whole), or an OCI layout directory.
    pub image: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Also list every entry of every layer with its fate in the final filesystem.
    #[arg(long)]
    pub files: bool,
    #[command(flatten)]
    pub selection: ImageSelection,
}
