//! The binary as CI users script it: exit codes, stdout/stderr shape, the JSON contract.

mod flatten;
mod hostile;
mod inspect;
mod run;
mod scan;
mod soak;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `rharden ARGS` and returns its output.
pub fn rharden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rharden"))
        .args(args)
        .output()
        .expect("run rharden")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The repository root (for committed fixtures).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("repo root")
}
