//! Read container images once, as a stream.
//!
//! [`Image::open`] recognises a Docker `docker save` / podman docker-archive, a Docker 25+
//! archive, an OCI image layout (tar or directory), or any of those tars gzip- or
//! zstd-compressed as a whole, from their content; it reads and verifies the manifest and the
//! typed [`ImageConfig`]. [`Image::walk`] then reads every layer exactly once (in parallel when
//! the source allows), checks every blob and uncompressed digest, feeds each entry to a
//! [`LayerSink`] per layer, and gives every entry its [`Fate`] in the final filesystem.
//!
//! Hostile input is normal input: unsafe names, links out of the root, truncated or corrupt
//! streams, digest mismatches and decompression bombs are [`ImageError`]s that say where.

mod archive;
mod compression;
mod config;
mod digest;
mod entry;
mod error;
mod fate;
mod image;
mod layer;
mod limits;
mod manifest;
pub mod path;
pub mod pipeline;
mod progress;
mod sink;
mod walk;
pub mod whiteout;

pub use compression::Compression;
pub use config::{Healthcheck, HistoryEntry, ImageConfig, RootFs, RuntimeConfig};
pub use digest::Digest;
pub use entry::{Entry, EntryKind, Xattr};
pub use error::{ImageError, LayerError};
pub use fate::{Fate, FileIndex, FileRecord, LayerChanges, MergeNote};
pub use image::{HistoryStep, Image, LayerInfo, OpenOptions, Warning};
pub use limits::Limits;
pub use manifest::{ImageFormat, Selector};
pub use path::PathError;
pub use progress::Progress;
pub use sink::{LayerSink, Pair, SinkError, Want};
pub use walk::{LayerReport, Walk};
