//! `rharden`: the command-line front end. Only this crate prints and picks exit codes.

// Doc comments on clap structures are help texts (`UID[:GID]`), not rustdoc links.
#![allow(rustdoc::broken_intra_doc_links)]

mod args;
mod commands;
mod error;
mod exit;
mod printer;
mod progress;

use std::process::ExitCode;

fn main() -> ExitCode {
    let status = match commands::dispatch(args::parse()) {
        Ok(status) => status,
        Err(err) => {
            exit::report_error(&err);
            exit::Status::Error
        }
    };
    status.into()
}
