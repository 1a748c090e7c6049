//! Typed errors: every variant says what failed and where (member, layer, entry path).

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::path::PathError;

/// Bytes shown in a message: lossy UTF-8, with control characters escaped so one error stays one line.
/// A name past `SHOWN_BYTES` is cut, so a 10 000-character name does not make a 10 KB message.
pub(crate) fn show(bytes: &[u8]) -> String {
    if bytes.len() <= SHOWN_BYTES {
        return String::from_utf8_lossy(bytes).escape_debug().to_string();
    }
    let head = String::from_utf8_lossy(&bytes[..SHOWN_BYTES]);
    format!("{}… ({} bytes)", head.escape_debug(), bytes.len())
}

/// How much of a name an error message shows.
const SHOWN_BYTES: usize = 200;

/// An error from opening or walking an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("failed to open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a container image: {reason}", path.display())]
    UnknownFormat { path: PathBuf, reason: &'static str },
    #[error("failed to read the archive")]
    Archive {
        #[source]
        source: io::Error,
    },
    #[error("failed to read archive member {member}")]
    Member {
        member: String,
        #[source]
        source: io::Error,
    },
    #[error("archive member {member:?} has an unsafe name")]
    MemberName {
        member: String,
        #[source]
        source: PathError,
    },
    #[error("archive member {member} appears twice")]
    DuplicateMember { member: String },
    #[error("archive member {member} is a link that leaves the archive or loops")]
    MemberLinkEscape { member: String },
    #[error("{member} is {size} bytes, over the {limit}-byte limit for JSON documents")]
    JsonTooLarge {
        member: String,
        size: u64,
        limit: u64,
    },
    #[error("failed to parse {member}")]
    Json {
        member: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{member}: {problem}")]
    Invalid { member: String, problem: String },
    #[error("{referrer} names {member}, which is not in the image")]
    MissingBlob { referrer: String, member: String },
    #[error("{referrer} names {member:?}, which is outside the image")]
    BlobOutside { referrer: String, member: String },
    #[error("invalid digest {value:?} in {member}")]
    BadDigest { member: String, value: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("no image matches {wanted}; the archive has: {available}")]
    NoMatchingImage { wanted: String, available: String },
    #[error("the archive holds several images ({available}); choose one with --ref or --platform")]
    AmbiguousImage { available: String },
    #[error("image indexes nest deeper than {limit} levels")]
    IndexTooDeep { limit: usize },
    #[error("the manifest lists {layers} layers but the config lists {diff_ids} diff_ids")]
    LayerCountMismatch { layers: usize, diff_ids: usize },
    #[error("the image has no layers")]
    NoLayers,
    #[error("layer {index} ({name})")]
    Layer {
        index: usize,
        name: String,
        #[source]
        source: LayerError,
    },
}

/// An error inside one layer's stream. Wrapped in [`ImageError::Layer`], which names the layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("failed to read the layer stream")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("the {compression} stream is truncated or corrupt")]
    Corrupt {
        compression: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("failed to read the tar stream after entry {after:?}")]
    Tar {
        after: String,
        #[source]
        source: io::Error,
    },
    #[error("the blob ends before its {declared} declared bytes")]
    ShortBlob { declared: u64 },
    #[error("entry {path:?} has an unsafe name")]
    UnsafePath {
        path: String,
        #[source]
        source: PathError,
    },
    #[error("entry {path:?} is a symlink with an empty target")]
    EmptyLinkTarget { path: String },
    #[error("entry {path:?} links to {target:?}, outside the image root")]
    LinkEscape { path: String, target: String },
    #[error("entry {path:?} is below {parent:?}, which the same layer made a {kind}")]
    BelowNonDirectory {
        path: String,
        parent: String,
        kind: &'static str,
    },
    #[error("entry {path:?} appears twice in the layer")]
    DuplicateEntry { path: String },
    #[error("entry {path:?} has unsupported tar type {kind:?}")]
    UnsupportedType { path: String, kind: char },
    #[error("entry {path:?}: malformed PAX header {key:?}")]
    BadPax { path: String, key: String },
    #[error("the layer decompresses past {limit} bytes (compressed {compressed} bytes): a decompression bomb?")]
    Bomb { limit: u64, compressed: u64 },
    #[error("entry {path:?} is a sparse file of {size} bytes, taking the layer past {limit} bytes (compressed {compressed} bytes): a decompression bomb?")]
    SparseBomb {
        path: String,
        size: u64,
        limit: u64,
        compressed: u64,
    },
    #[error("the layer has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("the layer holds no tar stream (compression: {compression})")]
    NotTar { compression: &'static str },
    #[error("{member} is a link, not a blob")]
    LinkedBlob { member: String },
    #[error("an analyzer failed on entry {path:?}")]
    Sink {
        path: String,
        #[source]
        source: crate::sink::SinkError,
    },
    #[error("an analyzer's thread panicked")]
    SinkPanicked,
}

impl ImageError {
    pub(crate) fn member(member: impl Into<String>, source: io::Error) -> Self {
        Self::Member {
            member: member.into(),
            source,
        }
    }
}
