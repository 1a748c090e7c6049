//! Analyzers that judge an image. Each is a [`rharden_image::LayerSink`] fed by the one walk of
//! the image; findings carry where they were seen and whether a later layer removed them.
//!
//! The secrets analyzer ([`secrets`]) looks at every file of every layer as stored (deleted,
//! overwritten and hidden files included), the config (Env, Labels, Cmd, Entrypoint) and every
//! build step's command.
//!
//! The bloat analyzer ([`bloat`]) measures what the image stores that its final filesystem does
//! not need (deleted, overwritten and hidden bytes, caches, duplicates, toolchains), with dive's
//! efficiency score next to it.

pub mod analysis;
pub mod bloat;
pub mod finding;
pub mod policy;
pub mod sarif;
mod scan;
pub mod secrets;

pub use finding::{Finding, Location, Severity, Source, Status};
pub use policy::{Policy, PolicyError};
pub use scan::{scan, Baseline, BaselineEntry, ScanError, ScanOptions, ScanReport, Summary};
