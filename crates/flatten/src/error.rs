//! Typed errors of the flattener and of unpack.

use std::io;
use std::path::PathBuf;

use rharden_image::ImageError;

/// Why flatten or unpack failed. Nothing is left behind when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    #[error("failed to read the image")]
    Image(#[from] ImageError),
    #[error("failed to set up the analysis of the output")]
    ObserverSetup {
        #[source]
        source: rharden_image::SinkError,
    },
    #[error("the image cannot be flattened exactly: {problem}")]
    Unflattenable { problem: String },
    #[error("--from-layer {from} is out of range: the image has {layers} layers")]
    FromLayer { from: usize, layers: usize },
    #[error("{} exists (pass --force to replace it)", path.display())]
    OutputExists { path: PathBuf },
    #[error(
        "{} is a {kind}, not a file or directory; flatten never replaces one, --force or not",
        path.display()
    )]
    OutputSpecial { path: PathBuf, kind: &'static str },
    #[error("{} is the input image; flatten never overwrites its input", path.display())]
    OutputIsInput { path: PathBuf },
    #[error("{} is not empty", path.display())]
    NotEmpty { path: PathBuf },
    #[error("failed to write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to compress the layer")]
    Compress {
        #[source]
        source: io::Error,
    },
    #[error("failed to create {path:?} in the unpacked tree")]
    Create {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the layer's entry {path:?} streamed {got} bytes; its header said {want}")]
    SizeMismatch { path: String, got: u64, want: u64 },
    #[error("failed to write the config")]
    Config {
        #[source]
        source: serde_json::Error,
    },
}
