//! Reads one layer blob as a stream: sniffs its compression, decompresses, hashes the blob and
//! the uncompressed tar while reading, decodes every entry and feeds it to the sink.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, BufReader, Read, Seek};

use crate::archive::read_up_to;
use crate::compression::{looks_like_tar, Compression};
use crate::digest::{Digest, HashingReader};
use crate::entry::{Entry, EntryKind, Xattr};
use crate::error::{show, LayerError};
use crate::fate::{Fate, FileRecord, Rare};
use crate::image::LayerInfo;
use crate::limits::{CappedReader, FailureFlag, Limits};
use crate::path;
use crate::sink::{LayerSink, Want};
use crate::whiteout::{self, Name};

/// Content is handed to sinks in chunks of this size.
const CHUNK: usize = 64 * 1024;

/// What reading a layer measured.
#[derive(Debug)]
pub(crate) struct LayerRead {
    pub digest: Digest,
    pub diff_id: Digest,
    pub compression: Compression,
    pub size: u64,
    pub uncompressed_size: u64,
    pub records: Vec<FileRecord>,
    /// `.wh..wh.*` metadata entries skipped (aufs leftovers).
    pub reserved_skipped: u64,
}

/// Reads a layer blob of `declared` bytes from `raw` into `sink`.
pub(crate) fn read_layer<S: LayerSink>(
    raw: &mut dyn Read,
    declared: u64,
    layer: &LayerInfo,
    limits: &Limits,
    sink: &mut S,
) -> Result<LayerRead, LayerError> {
    let mut blob = HashingReader::new(raw);
    let mut prefix = [0u8; 512];
    let n = read_up_to(&mut blob, &mut prefix).map_err(|source| LayerError::Read { source })?;
    let prefix = &prefix[..n];
    let compression = Compression::sniff(prefix);
    if let Some(name) = Compression::unsupported(prefix) {
        return Err(LayerError::Read {
            source: io::Error::other(format!("{name}-compressed layers are not supported")),
        });
    }
    // An empty blob is an empty layer only in name: a tar has at least its end blocks.
    if compression == Compression::None
        && !prefix.is_empty()
        && !looks_like_tar(prefix)
        && prefix.iter().any(|&b| b != 0)
    {
        return Err(LayerError::NotTar {
            compression: compression.name(),
        });
    }
    let tripped = Cell::new(false);
    let decode_failed = Cell::new(false);
    let cap = limits.decompressed_cap(declared);
    let (diff_id, uncompressed_size, records, reserved_skipped) = {
        let chained = prefix.chain(&mut blob);
        let buffered = BufReader::with_capacity(128 * 1024, chained);
        let decoder: Box<dyn Read + '_> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered)
                    .map_err(|source| LayerError::Read { source })?,
            ),
            Compression::None => Box::new(buffered),
        };
        let flagged = FailureFlag::new(decoder, &decode_failed);
        let capped = CappedReader::new(flagged, cap, &tripped);
        // An uncompressed blob is its own tar: its digest is the diff_id.
        let mut diff = if compression == Compression::None {
            HashingReader::counting(capped)
        } else {
            HashingReader::new(capped)
        };
        let fail = |source: io::Error, after: &str| {
            if tripped.get() {
                LayerError::Bomb {
                    limit: cap,
                    compressed: declared,
                }
            } else if decode_failed.get() && compression != Compression::None {
                LayerError::Corrupt {
                    compression: compression.name(),
                    source,
                }
            } else {
                LayerError::Tar {
                    after: after.to_owned(),
                    source,
                }
            }
        };
        let (records, reserved_skipped) = {
            let mut archive = tar::Archive::new(&mut diff);
            let bound = ContentBound {
                cap,
                compressed: declared,
            };
            read_entries(&mut archive, layer, limits, bound, sink).map_err(|e| match e {
                EntryFailure::Io(source, after) => fail(source, &after),
                EntryFailure::Layer(e) => e,
            })?
        };
        // The uncompressed digest covers everything after the tar's end blocks too.
        let (diff_id, uncompressed_size) = diff
            .finish()
            .map_err(|source| fail(source, "the end of the archive"))?;
        if decode_failed.get() {
            return Err(LayerError::Corrupt {
                compression: compression.name(),
                source: io::Error::other("the decoder reported an error"),
            });
        }
        (diff_id, uncompressed_size, records, reserved_skipped)
    };
    let (digest, size) = blob
        .finish()
        .map_err(|source| LayerError::Read { source })?;
    let digest = digest.expect("the blob reader hashes");
    if size < declared {
        return Err(LayerError::ShortBlob { declared });
    }
    Ok(LayerRead {
        // Only counted when uncompressed: then the tar is the blob.
        diff_id: diff_id.unwrap_or_else(|| digest.clone()),
        digest,
        compression,
        size,
        uncompressed_size,
        records,
        reserved_skipped,
    })
}

/// The last entry's name for an error message.
fn shown_last(last: &[u8]) -> String {
    if last.is_empty() {
        "<start of layer>".to_owned()
    } else {
        show(last)
    }
}

/// What this layer wrote at one path: an entry, a whiteout, and whether the entry is a
/// non-directory (nothing of the same layer may sit below one: a symlink then a file through
/// it is the classic tar-slip; extractors disagree on what it means).
#[derive(Default)]
struct Written {
    entry: bool,
    whiteout: bool,
    non_directory: Option<EntryKind>,
}

/// The nearest ancestor of `path` that this layer made a non-directory, if any: one lookup per
/// ancestor, and none while the layer has no non-directory.
fn non_directory_above<'p>(
    path: &'p [u8],
    written: &HashMap<Box<[u8]>, Written>,
    non_directories: usize,
) -> Option<(&'p [u8], EntryKind)> {
    if non_directories == 0 {
        return None;
    }
    let mut ancestor = path;
    while !ancestor.is_empty() {
        ancestor = path::parent(ancestor);
        // Every ancestor: a directory this layer wrote earlier may itself have been replaced
        // by a file since (`b/a/`, then `b`, then `b/a/c`; found by the merge_layers fuzz target).
        if let Some(kind) = written.get(ancestor).and_then(|w| w.non_directory) {
            return Some((ancestor, kind));
        }
    }
    None
}

enum EntryFailure {
    /// An I/O error from the stream, with the last entry read before it.
    Io(io::Error, String),
    Layer(LayerError),
}

impl From<LayerError> for EntryFailure {
    fn from(e: LayerError) -> Self {
        Self::Layer(e)
    }
}

/// The most file content a layer may hand out: the decompressed-size cap. Stored content never
/// exceeds it (the stream is capped); a GNU sparse file's holes are zeros the tar reader makes
/// up, so a 1.5 KB layer could declare a 1 TiB file that scan would read and unpack write.
#[derive(Debug, Clone, Copy)]
struct ContentBound {
    cap: u64,
    compressed: u64,
}

fn read_entries<R: Read + Seek, S: LayerSink>(
    archive: &mut tar::Archive<R>,
    layer: &LayerInfo,
    limits: &Limits,
    bound: ContentBound,
    sink: &mut S,
) -> Result<(Vec<FileRecord>, u64), EntryFailure> {
    let read = read_each_entry(archive, layer, limits, bound, sink);
    sink.finish();
    read
}

fn read_each_entry<R: Read + Seek, S: LayerSink>(
    archive: &mut tar::Archive<R>,
    layer: &LayerInfo,
    limits: &Limits,
    bound: ContentBound,
    sink: &mut S,
) -> Result<(Vec<FileRecord>, u64), EntryFailure> {
    let mut content = 0u64;
    let mut records = Vec::new();
    // Every path this layer wrote, once: one lookup per entry for duplicates and for
    // non-directories (two sets were two hashes and two copies of each path).
    let mut written: HashMap<Box<[u8]>, Written> = HashMap::new();
    let mut non_directories = 0usize;
    // The parent of the last entry, whose ancestors were checked: none was a non-directory,
    // and an entry in the same directory cannot have made one (it is a sibling), so the next
    // entry there (the common case in a tar) has nothing to check.
    let mut checked_parent: Vec<u8> = Vec::new();
    let mut checked_any = false;
    let mut reserved = 0u64;
    // The raw name of the entry read last, shown only if an error needs it.
    let mut last: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    // "With seek": the tar reader then skips by seeking the stream, which reads through
    // (see `HashingReader`'s `Seek`), rather than reading into a buffer it zeroes per entry.
    let entries = archive
        .entries_with_seek()
        .map_err(|e| EntryFailure::Io(e, shown_last(&last)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| EntryFailure::Io(e, shown_last(&last)))?;
        let raw_path = entry.path_bytes().into_owned();
        last.clear();
        last.extend_from_slice(&raw_path);
        let io_err = |e: io::Error| EntryFailure::Io(e, show(&raw_path));
        let entry_type = entry.header().entry_type();
        let kind = match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                EntryKind::File
            }
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            tar::EntryType::Char => EntryKind::CharDevice,
            tar::EntryType::Block => EntryKind::BlockDevice,
            tar::EntryType::Fifo => EntryKind::Fifo,
            // Extension headers the tar crate did not fold into an entry carry nothing of ours.
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => continue,
            other => {
                return Err(LayerError::UnsupportedType {
                    path: show(&raw_path),
                    kind: char::from(other.as_byte()),
                }
                .into())
            }
        };
        let normalized = path::normalize(&raw_path).map_err(|source| LayerError::UnsafePath {
            path: show(&raw_path),
            source,
        })?;
        let (kind, path) = match whiteout::classify(&normalized) {
            Name::Plain => (kind, normalized),
            Name::Whiteout(target) => (EntryKind::Whiteout, target),
            Name::Opaque(dir) => (EntryKind::OpaqueWhiteout, dir),
            Name::Reserved => {
                reserved += 1;
                continue;
            }
            Name::Invalid => {
                return Err(LayerError::UnsafePath {
                    path: show(&raw_path),
                    source: path::PathError::InvalidWhiteout,
                }
                .into());
            }
        };
        if kind == EntryKind::Dir && path.is_empty() {
            // The root directory entry (`./`) carries the root's metadata; keep it under the empty path.
        } else if path.is_empty() && !kind.is_whiteout() {
            return Err(LayerError::UnsafePath {
                path: show(&raw_path),
                source: path::PathError::Empty,
            }
            .into());
        }
        if records.len() as u64 >= limits.max_layer_entries {
            return Err(LayerError::TooManyEntries {
                limit: limits.max_layer_entries,
            }
            .into());
        }
        let this = written.entry(path.clone().into_boxed_slice()).or_default();
        let twice = if kind.is_whiteout() {
            std::mem::replace(&mut this.whiteout, true)
        } else {
            std::mem::replace(&mut this.entry, true)
        };
        if !matches!(kind, EntryKind::Dir) && !kind.is_whiteout() && !twice {
            // Only its ancestors are checked below: marking it first changes nothing.
            this.non_directory = Some(kind);
            non_directories += 1;
        }
        if twice {
            return Err(LayerError::DuplicateEntry {
                path: show(&raw_path),
            }
            .into());
        }
        let parent = path::parent(&path);
        if !(checked_any && checked_parent == parent) {
            if let Some((parent, parent_kind)) =
                non_directory_above(&path, &written, non_directories)
            {
                return Err(LayerError::BelowNonDirectory {
                    path: show(&raw_path),
                    parent: show(parent),
                    kind: parent_kind.name(),
                }
                .into());
            }
            checked_parent.clear();
            checked_parent.extend_from_slice(parent);
            checked_any = true;
        }
        let header = entry.header();
        let mode = header.mode().map_err(io_err)? & 0o7777;
        let mut uid = header.uid().map_err(io_err)?;
        let mut gid = header.gid().map_err(io_err)?;
        let mut mtime = header.mtime().map_err(io_err)?;
        let device = match kind {
            EntryKind::CharDevice | EntryKind::BlockDevice => Some((
                header.device_major().map_err(io_err)?.unwrap_or(0),
                header.device_minor().map_err(io_err)?.unwrap_or(0),
            )),
            _ => None,
        };
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().map_err(io_err)? {
            for ext in extensions {
                let ext = ext.map_err(io_err)?;
                let key = ext.key_bytes();
                let bad = || LayerError::BadPax {
                    path: show(&raw_path),
                    key: show(key),
                };
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push(Xattr {
                        name: name.to_vec(),
                        value: ext.value_bytes().to_vec(),
                    });
                } else if key == b"uid" || key == b"gid" {
                    let value = std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(bad)?;
                    if key == b"uid" {
                        uid = value;
                    } else {
                        gid = value;
                    }
                } else if key == b"mtime" {
                    // PAX times are decimal seconds with an optional fraction (`1700000000.5`).
                    let text = std::str::from_utf8(ext.value_bytes()).map_err(|_| bad())?;
                    let whole = text.split('.').next().unwrap_or("");
                    mtime = whole.parse::<i64>().map_err(|_| bad())?.max(0) as u64;
                }
            }
        }
        let link_target = match kind {
            EntryKind::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                // symlink(2) refuses an empty target; an extractor that maps it to `.` or skips
                // it makes a different tree than the image says.
                if target.is_empty() {
                    return Err(LayerError::EmptyLinkTarget {
                        path: show(&raw_path),
                    }
                    .into());
                }
                if target.contains(&0) || path::resolve_link(path::parent(&path), &target).is_none()
                {
                    return Err(LayerError::LinkEscape {
                        path: show(&raw_path),
                        target: show(&target),
                    }
                    .into());
                }
                Some(target)
            }
            EntryKind::Hardlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let normalized = path::normalize(&target)
                    .ok()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| LayerError::LinkEscape {
                        path: show(&raw_path),
                        target: show(&target),
                    })?;
                Some(normalized)
            }
            _ => None,
        };
        let size = if kind == EntryKind::File {
            entry.size()
        } else {
            0
        };
        content = content.saturating_add(size);
        // Only holes can take the content past the cap: a plain file's bytes are in the
        // (capped) stream, and a size it cannot hold fails when read, naming the entry.
        if entry_type == tar::EntryType::GNUSparse && content > bound.cap {
            return Err(LayerError::SparseBomb {
                path: show(&raw_path),
                size,
                limit: bound.cap,
                compressed: bound.compressed,
            }
            .into());
        }
        let view = Entry {
            path: &path,
            raw_path: &raw_path,
            kind,
            mode,
            uid,
            gid,
            size,
            mtime,
            link_target: link_target.as_deref(),
            device,
            xattrs: &xattrs,
        };
        let sink_err = |source| LayerError::Sink {
            path: show(&raw_path),
            source,
        };
        let want = sink.entry(layer, &view).map_err(sink_err)?;
        if want == Want::Content && kind == EntryKind::File {
            let mut left = size;
            loop {
                // Straight into the sink's own buffer where it has one.
                if let Some(room) = sink.content_room(left).map_err(sink_err)? {
                    if room.is_empty() {
                        // A read into no room reads nothing, which would end the file early.
                        return Err(sink_err("the sink gave no room for content".into()).into());
                    }
                    // Filled as far as it goes (a read returns what the buffer below holds, often less):
                    // a file that fits comes to the sinks in one piece.
                    let n = read_up_to(&mut entry, room).map_err(io_err)?;
                    if n == 0 {
                        break;
                    }
                    left = left.saturating_sub(n as u64);
                    sink.content_read(n).map_err(sink_err)?;
                    continue;
                }
                let n = read_up_to(&mut entry, &mut buf).map_err(io_err)?;
                if n == 0 {
                    break;
                }
                left = left.saturating_sub(n as u64);
                sink.content(&buf[..n]).map_err(sink_err)?;
            }
            sink.end_entry().map_err(sink_err)?;
        }
        records.push(FileRecord {
            path: path.into_boxed_slice(),
            uid,
            gid,
            size,
            mtime,
            rare: Rare::of(link_target.map(Vec::into_boxed_slice), device, xattrs),
            fate: Fate::Present,
            // Set by the merge, which knows the layer's index.
            layer: 0,
            position: 0,
            mode,
            kind,
        });
    }
    // The records are kept until the end of the walk: give back the growth slack.
    records.shrink_to_fit();
    Ok((records, reserved))
}
