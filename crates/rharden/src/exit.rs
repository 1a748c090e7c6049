//! Exit codes are a contract (README "Exit codes"): 0 pass, 1 policy failed, 2 error or bad input.

use std::io::Write;
use std::process::ExitCode;

use crate::error::CliError;

/// What the process returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything ran and nothing failed the policy.
    Success,
    /// The command ran, and the policy failed.
    #[allow(dead_code)] // used by `scan` (issue 4)
    PolicyFailed,
    /// Bad input or an error: nothing was decided.
    Error,
    /// A raw code, for `run`, which returns the workload's status.
    #[allow(dead_code)]
    Code(u8),
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        match status {
            Status::Success => ExitCode::SUCCESS,
            Status::PolicyFailed => ExitCode::from(1),
            Status::Error => ExitCode::from(2),
            Status::Code(code) => ExitCode::from(code),
        }
    }
}

/// Prints `error: failed to <what>: <why>` as one line on stderr, the causes joined by `: `.
pub fn report_error(err: &CliError) {
    let mut line = format!("error: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    // Newlines inside an error (from a hostile file name) must not break the one-line contract.
    let line = line.replace(['\n', '\r'], " ");
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
