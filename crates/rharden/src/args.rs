//! Clap structures only: no logic here (see `commands` for what each one does).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};

/// rharden: find what leaks in container images, squash it away, and run containers hardened.
#[derive(Debug, Parser)]
#[command(name = "rharden", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find secrets in every layer (deleted files too), the config and the build history; a CI gate.
    Scan(ScanArgs),
    /// Summarise an image and its layers (format, config, sizes, what each layer changed).
    Inspect(InspectArgs),
    /// Squash an image's layers into one, exactly, so deleted files are really gone.
    Flatten(FlattenArgs),
    /// Write an image's merged root filesystem into a directory, never outside it.
    Unpack(UnpackArgs),
    // Its help text is a constant: `parse` builds this subcommand on its own too.
    #[command(about = RUN_ABOUT)]
    Run(Box<crate::commands::run::RunArgs>),
    /// Show what this kernel supports and what `run` will enforce here.
    Doctor(crate::commands::doctor::DoctorArgs),
}

const RUN_ABOUT: &str = "Run a root filesystem or OCI bundle hardened: namespaces, read-only root, seccomp, Landlock, non-root";

/// The command line, as [`Cli::parse`] reads it. `rharden run`, whose whole start is measured
/// in milliseconds, builds only its own subcommand's arguments: building every subcommand's
/// (most of them `scan`'s) was a twentieth of a container start. The help, usage, errors and
/// exit codes are the same (`run_parses_like_the_whole_command_line` checks).
pub fn parse() -> Command {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "run") {
        let mut cli = run_only();
        match parse_run(&mut cli, argv) {
            Ok(run) => Command::Run(Box::new(run)),
            Err(e) => e.format(&mut cli).exit(),
        }
    } else {
        Cli::parse().command
    }
}

/// The `run` subcommand's arguments from a whole command line, through `cli`.
fn parse_run(
    cli: &mut clap::Command,
    argv: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<crate::commands::run::RunArgs, clap::Error> {
    let mut matches = cli.try_get_matches_from_mut(argv)?;
    let (_, mut run) = matches
        .remove_subcommand()
        .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingSubcommand))?;
    crate::commands::run::RunArgs::from_arg_matches_mut(&mut run)
}

/// [`Cli::command`] with the `run` subcommand alone.
fn run_only() -> clap::Command {
    // The top-level settings of `Cli` that reach a subcommand's help and errors.
    clap::Command::new("rharden")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommand_required(true)
        .subcommand(
            crate::commands::run::RunArgs::augment_args(clap::Command::new("run"))
                .about(RUN_ABOUT)
                .long_about(None),
        )
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageLayoutArg {
    DockerArchive,
    Oci,
    OciDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
    None,
}

#[derive(Debug, Args)]
pub struct FlattenArgs {
    /// The image to flatten (any form `inspect` reads).
    pub image: PathBuf,
    /// Where to write the flattened image (a file, or a directory for oci-dir).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Output layout [default: the input's kind].
    #[arg(long, value_enum)]
    pub format: Option<ImageLayoutArg>,
    /// Compression of the new layer [default: none for docker-archive, gzip for OCI].
    #[arg(long, value_enum)]
    pub compression: Option<CompressionArg>,
    /// Keep layers below N as they are and squash N..top into one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub from_layer: usize,
    /// Reference name of the output [default: the input's].
    #[arg(long, value_name = "NAME")]
    pub tag: Option<String>,
    /// Keep the squashed steps in the history (their commands can hold secrets).
    #[arg(long)]
    pub keep_history: bool,
    /// Replace OUT if it exists (never the input).
    #[arg(long)]
    pub force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub selection: ImageSelection,
}

#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The image to unpack (any form `inspect` reads).
    pub image: PathBuf,
    /// The directory to write the root filesystem into: new, or empty.
    pub dir: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub selection: ImageSelection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    Table,
    Json,
    Sarif,
    /// One self-contained HTML file: the audit report.
    Html,
    /// For a pull-request comment (at most 65,000 characters).
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzerArg {
    Secrets,
    Privilege,
    Elf,
    Bloat,
    Hygiene,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum SeverityArg {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The image to scan (any form `inspect` reads).
    pub image: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Policy file [default: policies/default.json, built in].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Fail on findings at or above this severity (overrides the policy).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,
    /// Secret rules file [default: policies/secrets/rules.json, built in].
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Suppress the fingerprints recorded in FILE; report its stale entries.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record the current findings' fingerprints in FILE.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Show secret values in full (redacted by default, everywhere).
    #[arg(long)]
    pub show_secrets: bool,
    /// Run only these analyzers [default: the policy's, which is all of them].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    pub analyzers: Option<Vec<AnalyzerArg>>,
    #[command(flatten)]
    pub selection: ImageSelection,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// What a command line parses to, or the error clap prints for it (help and version
    /// included), through the whole `Cli` or through `run_only`.
    fn outcome(whole: bool, argv: &[&str]) -> String {
        let mut cmd = if whole { Cli::command() } else { run_only() };
        match parse_run(&mut cmd, argv) {
            Ok(run) => format!("{run:?}"),
            Err(e) => format!("{:?} {}", e.kind(), e.format(&mut cmd).render()),
        }
    }

    #[test]
    fn run_parses_like_the_whole_command_line() {
        let lines: &[&[&str]] = &[
            &["rharden", "run", "--help"],
            &["rharden", "run", "-h"],
            &["rharden", "run", "--version"],
            &["rharden", "run"],
            &["rharden", "run", "--bogus"],
            &["rharden", "run", "--rootfs"],
            &["rharden", "run", "--network", "bad", "--rootfs", "r"],
            &[
                "rharden", "run", "--rootfs", "r", "--bundle", "b", "--", "x",
            ],
            &[
                "rharden", "run", "--policy", "p", "--rootfs", "r", "--", "x",
            ],
            &["rharden", "run", "--report=xml", "--rootfs", "r"],
            &["rharden", "run", "--pids-limit", "x", "--rootfs", "r"],
            &[
                "rharden",
                "run",
                "--rootfs",
                "r",
                "--network",
                "host",
                "--cap-add",
                "NET_RAW",
                "-v",
                "/a:/b:ro",
                "--tmpfs",
                "/t:1m",
                "-e",
                "A=1",
                "--report",
                "--",
                "x",
                "-y",
            ],
            &[
                "rharden",
                "run",
                "image.tar",
                "--ref",
                "busybox",
                "--platform",
                "linux/amd64",
            ],
        ];
        for argv in lines {
            let whole = outcome(true, argv);
            assert_eq!(outcome(false, argv), whole, "{argv:?}");
        }
        // The comparison compares something: a valid line parses, a bad one is an error.
        assert!(outcome(false, lines[11]).starts_with("RunArgs"));
        assert!(outcome(false, lines[4]).starts_with("UnknownArgument"));
        assert!(outcome(false, lines[0]).contains("--rootfs <DIR>"));
    }
}
