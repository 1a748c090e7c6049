//! Analyzers that judge an image. Each is a [`rharden_image::LayerSink`] fed by the one walk of
//! the image; findings carry where they were seen and whether a later layer removed them.
//!
//! The secrets analyzer ([`secrets`]) looks at every file of every layer as stored (deleted,
//! overwritten and hidden files included), the config (Env, Labels, Cmd, Entrypoint) and every
//! build step's command.
//!
//! The privilege analyzer ([`privilege`]) reports setuid/setgid files, file capabilities,
//! world-writable entries and unknown owners, each with the layer that introduced it and
//! whether it is still in the final filesystem. The hygiene analyzer ([`hygiene`]) judges the
//! config and the build history (root user, no HEALTHCHECK, ADD, package caches, …).
//!
//! The ELF analyzer ([`elf`]) judges the hardening of every binary still present in the final
//! filesystem (PIE, RELRO, NX, canary, FORTIFY, CET, RPATH/RUNPATH), claiming only what each
//! file proves.

//!
//! The bloat analyzer ([`bloat`]) measures what the image stores that its final filesystem does
//! not need (deleted, overwritten and hidden bytes, caches, duplicates, toolchains), with dive's
//! efficiency score next to it.

pub mod analysis;
pub mod bloat;
pub mod elf;
pub mod finding;
pub mod html;
pub mod hygiene;
mod image_sink;
pub mod markdown;
pub mod policy;
pub mod privilege;
pub mod sarif;
mod scan;
pub mod secrets;

pub use finding::{Finding, Location, Severity, Source, Status};
pub use policy::{Policy, PolicyError, RunRequirements};
pub use scan::{
    config_secrets, report_from_walk, scan, skip_paths, Baseline, BaselineEntry, LayerRow,
    ScanError, ScanOptions, ScanReport, Summary,
};
