//! `rharden doctor`: what this kernel supports, and what `rharden run` will enforce here.

use std::io::Write;

use rharden_sandbox::{detect_host, Level};

use crate::error::CliError;
use crate::exit::Status;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `run` does with each host feature.
fn consequence(name: &str, level: Level) -> &'static str {
    match (name, level) {
        ("user namespaces", Level::Fully) => "run maps container root to an unprivileged host id",
        ("user namespaces", _) => {
            "run falls back to real root dropping to the workload's ids (reported as not enforced)"
        }
        ("landlock", Level::Fully) => "run applies filesystem, TCP and scope rules",
        ("landlock", Level::Partially) => {
            "run applies what this ABI has (reported as partially enforced)"
        }
        ("landlock", Level::Not) => "run cannot apply Landlock (reported as not enforced)",
        ("seccomp", Level::Fully) => "run installs the deny-by-default filter",
        ("seccomp", _) => "run cannot filter system calls",
        ("cgroup pids", Level::Fully) => "run enforces --pids-limit (default 1024)",
        ("cgroup pids", _) => "run cannot enforce --pids-limit (reported)",
        ("cgroup memory", Level::Fully) => "run enforces --memory",
        ("cgroup memory", _) => "run cannot enforce --memory (reported)",
        ("cgroup cpu", Level::Fully) => "run enforces --cpus",
        ("cgroup cpu", _) => "run cannot enforce --cpus (a warning; fatal with --require-all)",
        ("new mount API", Level::Fully) => "run builds the rootfs with descriptors only",
        ("new mount API", _) => "run cannot start containers on this kernel",
        ("openat2", Level::Fully) => "mount targets are resolved with RESOLVE_IN_ROOT",
        ("openat2", _) => "mount targets are resolved with a no-follow walk",
        ("overlay", _) => "not needed by run (used by image tooling)",
        _ => "",
    }
}

pub fn execute(args: DoctorArgs) -> Result<Status, CliError> {
    let host = detect_host();
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| CliError::new("write the report", e);
    if args.json {
        let json = serde_json::to_string_pretty(&host)
            .map_err(|e| CliError::new("render the report", e))?;
        writeln!(out, "{json}").map_err(io)?;
        return Ok(Status::Success);
    }
    writeln!(
        out,
        "kernel {} ({})",
        host.kernel,
        if host.root {
            "running as root"
        } else {
            "not root"
        }
    )
    .map_err(io)?;
    for f in &host.features {
        writeln!(
            out,
            "{:<16} {:<10} {}",
            f.name,
            f.level.to_string(),
            f.detail
        )
        .map_err(io)?;
        let c = consequence(f.name, f.level);
        if !c.is_empty() {
            writeln!(out, "{:<16} {:<10} -> {c}", "", "").map_err(io)?;
        }
    }
    Ok(Status::Success)
}
