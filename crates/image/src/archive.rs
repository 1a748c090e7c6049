//! Where an image's blobs live: a plain tar (seekable, layers read in parallel), a tar
//! compressed as a whole (read as a stream), or a directory (an OCI image layout).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::compression::{looks_like_tar, Compression};
use crate::error::ImageError;
use crate::limits::{CappedReader, Limits};
use crate::path::{self, PathError};

/// How many link hops are followed between archive members before calling it a loop.
const MAX_LINK_HOPS: usize = 16;
/// The most small JSON-looking members kept in memory while scanning a compressed archive.
const MAX_KEPT_BYTES: u64 = 64 << 20;

/// A blob found in the source, by its resolved member name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Blob {
    pub name: String,
    pub size: u64,
}

/// Members by normalised name.
type MemberMap = HashMap<String, Member>;

#[derive(Debug)]
pub(crate) enum Member {
    File {
        offset: u64,
        size: u64,
    },
    /// A link to another member, as a normalised member name (not yet checked to exist).
    Link(String),
}

#[derive(Debug)]
pub(crate) enum Source {
    /// A plain tar: every member is at a known offset.
    Tar {
        path: PathBuf,
        members: HashMap<String, Member>,
    },
    /// A tar compressed as a whole: blobs can only be streamed, in archive order.
    Compressed {
        path: PathBuf,
        compression: Compression,
        members: HashMap<String, Member>,
        kept: HashMap<String, Vec<u8>>,
    },
    /// A directory (OCI image layout).
    Dir { root: PathBuf },
}

impl Source {
    /// Opens `path`, recognising what it is from its content.
    pub(crate) fn open(path: &Path, limits: &Limits) -> Result<Self, ImageError> {
        let open_err = |source| ImageError::Open {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if meta.is_dir() {
            let root = path.canonicalize().map_err(open_err)?;
            return Ok(Self::Dir { root });
        }
        let mut file = File::open(path).map_err(open_err)?;
        let mut head = [0u8; 512];
        let n = read_up_to(&mut file, &mut head).map_err(open_err)?;
        let head = &head[..n];
        if let Some(name) = Compression::unsupported(head) {
            return Err(ImageError::UnknownFormat {
                path: path.to_owned(),
                reason: if name == "xz" {
                    "it is xz-compressed, which rharden does not read (decompress it, or use gzip or zstd)"
                } else {
                    "it is bzip2-compressed, which rharden does not read (decompress it, or use gzip or zstd)"
                },
            });
        }
        match Compression::sniff(head) {
            Compression::None => {
                if !looks_like_tar(head) {
                    return Err(ImageError::UnknownFormat {
                        path: path.to_owned(),
                        reason: "it is not a tar archive, a gzip/zstd-compressed tar, or an OCI layout directory",
                    });
                }
                let members = scan_tar(path, limits)?;
                Ok(Self::Tar {
                    path: path.to_owned(),
                    members,
                })
            }
            compression => {
                let (members, kept) = scan_compressed(path, compression, meta.len(), limits)?;
                Ok(Self::Compressed {
                    path: path.to_owned(),
                    compression,
                    members,
                    kept,
                })
            }
        }
    }

    /// Whole-archive compression.
    pub(crate) fn compression(&self) -> Compression {
        match self {
            Self::Compressed { compression, .. } => *compression,
            _ => Compression::None,
        }
    }

    /// Whether blobs can be opened at random (layers read in parallel).
    pub(crate) fn is_seekable(&self) -> bool {
        !matches!(self, Self::Compressed { .. })
    }

    pub(crate) fn is_dir(&self) -> bool {
        matches!(self, Self::Dir { .. })
    }

    /// Whether a member with this (clean) name exists.
    pub(crate) fn has(&self, name: &str) -> bool {
        match self {
            Self::Tar { members, .. } | Self::Compressed { members, .. } => {
                members.contains_key(name)
            }
            Self::Dir { root } => root.join(name).symlink_metadata().is_ok(),
        }
    }

    /// Finds the blob `name` refers to, following links inside the source; `referrer` names
    /// the document that mentioned it, for errors.
    pub(crate) fn resolve(&self, referrer: &str, name: &str) -> Result<Blob, ImageError> {
        let outside = || ImageError::BlobOutside {
            referrer: referrer.to_owned(),
            member: name.to_owned(),
        };
        let clean = match path::normalize(name.as_bytes()) {
            Ok(p) if !p.is_empty() => String::from_utf8(p).map_err(|_| outside())?,
            Ok(_) | Err(PathError::Absolute | PathError::Traversal) => return Err(outside()),
            Err(source) => {
                return Err(ImageError::MemberName {
                    member: name.to_owned(),
                    source,
                })
            }
        };
        let missing = || ImageError::MissingBlob {
            referrer: referrer.to_owned(),
            member: clean.clone(),
        };
        match self {
            Self::Tar { members, .. } | Self::Compressed { members, .. } => {
                let mut current = clean.clone();
                for _ in 0..MAX_LINK_HOPS {
                    match members.get(&current) {
                        None => return Err(missing()),
                        Some(Member::File { size, .. }) => {
                            return Ok(Blob {
                                name: current,
                                size: *size,
                            })
                        }
                        Some(Member::Link(target)) => current = target.clone(),
                    }
                }
                Err(ImageError::MemberLinkEscape { member: clean })
            }
            Self::Dir { root } => {
                let full = root.join(&clean);
                full.symlink_metadata().map_err(|_| missing())?;
                // A link is fine while it stays inside the layout; one leaving it is hostile,
                // be it the blob or a directory above it (`blobs/sha256` -> elsewhere).
                let real = full.canonicalize().map_err(|_| missing())?;
                if !real.starts_with(root) {
                    return Err(ImageError::MemberLinkEscape { member: clean });
                }
                let meta = real
                    .metadata()
                    .map_err(|e| ImageError::member(clean.clone(), e))?;
                if !meta.is_file() {
                    return Err(ImageError::Invalid {
                        member: clean,
                        problem: "not a regular file".into(),
                    });
                }
                let name = real
                    .strip_prefix(root)
                    .ok()
                    .and_then(|p| p.to_str())
                    .map(str::to_owned)
                    .ok_or_else(outside)?;
                Ok(Blob {
                    name,
                    size: meta.len(),
                })
            }
        }
    }

    /// Reads a small member (a JSON document) whole, refusing ones over the limit.
    pub(crate) fn read_small(&self, blob: &Blob, limit: u64) -> Result<Vec<u8>, ImageError> {
        if blob.size > limit {
            return Err(ImageError::JsonTooLarge {
                member: blob.name.clone(),
                size: blob.size,
                limit,
            });
        }
        if let Self::Compressed { kept, .. } = self {
            return kept
                .get(&blob.name)
                .cloned()
                .ok_or_else(|| ImageError::Invalid {
                    member: blob.name.clone(),
                    problem: "expected a JSON document".into(),
                });
        }
        let mut reader = self.open_blob(blob)?;
        let mut out = Vec::with_capacity(blob.size as usize);
        reader
            .read_to_end(&mut out)
            .map_err(|e| ImageError::member(blob.name.clone(), e))?;
        Ok(out)
    }

    /// Opens a blob of a seekable source, limited to its size.
    pub(crate) fn open_blob(&self, blob: &Blob) -> Result<Box<dyn Read + Send>, ImageError> {
        let err = |e| ImageError::member(blob.name.clone(), e);
        match self {
            Self::Tar { path, members } => {
                let Some(Member::File { offset, size }) = members.get(&blob.name) else {
                    return Err(ImageError::MissingBlob {
                        referrer: "the archive".into(),
                        member: blob.name.clone(),
                    });
                };
                let mut file = File::open(path).map_err(err)?;
                file.seek(SeekFrom::Start(*offset)).map_err(err)?;
                Ok(Box::new(file.take(*size)))
            }
            Self::Dir { root } => {
                let file = File::open(root.join(&blob.name)).map_err(err)?;
                Ok(Box::new(file.take(blob.size)))
            }
            Self::Compressed { .. } => Err(ImageError::Invalid {
                member: blob.name.clone(),
                problem: "cannot seek in a compressed archive".into(),
            }),
        }
    }

    /// Streams a compressed archive once, handing each member in `wanted` to `visit`.
    pub(crate) fn stream_members(
        &self,
        wanted: &HashSet<String>,
        limits: &Limits,
        mut visit: impl FnMut(&str, u64, &mut dyn Read) -> Result<(), ImageError>,
    ) -> Result<(), ImageError> {
        let Self::Compressed {
            path, compression, ..
        } = self
        else {
            return Ok(());
        };
        let file = File::open(path).map_err(|source| ImageError::Open {
            path: path.clone(),
            source,
        })?;
        let compressed = file.metadata().map(|m| m.len()).unwrap_or(0);
        let tripped = Cell::new(false);
        let decoder = decoder(
            *compression,
            file,
            limits.decompressed_cap(compressed),
            &tripped,
        )?;
        let mut archive = tar::Archive::new(decoder);
        let entries = archive
            .entries()
            .map_err(|source| ImageError::Archive { source })?;
        for entry in entries {
            let mut entry = entry.map_err(|source| archive_err(source, &tripped, limits))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let Ok(name) = path::normalize(&entry.path_bytes()) else {
                continue;
            };
            let Ok(name) = String::from_utf8(name) else {
                continue;
            };
            if wanted.contains(&name) {
                let size = entry.size();
                visit(&name, size, &mut entry)?;
            }
        }
        if tripped.get() {
            return Err(bomb(limits));
        }
        Ok(())
    }
}

fn bomb(limits: &Limits) -> ImageError {
    ImageError::Invalid {
        member: "the archive".into(),
        problem: format!(
            "it decompresses past the limit ({}x its size, at least {} bytes): a decompression bomb?",
            limits.max_ratio, limits.ratio_floor
        ),
    }
}

fn archive_err(source: io::Error, tripped: &Cell<bool>, limits: &Limits) -> ImageError {
    if tripped.get() {
        bomb(limits)
    } else {
        ImageError::Archive { source }
    }
}

fn decoder<'a>(
    compression: Compression,
    file: File,
    cap: u64,
    tripped: &'a Cell<bool>,
) -> Result<CappedReader<'a, Box<dyn Read + 'a>>, ImageError> {
    let buffered = BufReader::with_capacity(256 * 1024, file);
    let inner: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|source| ImageError::Archive { source })?,
        ),
        Compression::None => Box::new(buffered),
    };
    Ok(CappedReader::new(inner, cap, tripped))
}

pub(crate) fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Adds one outer-tar header to the member map; `None` for entries that are not members.
fn member_of<R: Read>(
    entry: &tar::Entry<'_, R>,
    offset: u64,
) -> Result<Option<(String, Member)>, ImageError> {
    let raw = entry.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let name = path::normalize(&raw).map_err(|source| ImageError::MemberName {
        member: shown.clone(),
        source,
    })?;
    let Ok(name) = String::from_utf8(name) else {
        // Blob names are ASCII; a non-UTF-8 member cannot be referenced, so it is ignored.
        return Ok(None);
    };
    let kind = entry.header().entry_type();
    let member = if kind.is_file() || kind == tar::EntryType::Continuous {
        Member::File {
            offset,
            size: entry.size(),
        }
    } else if kind.is_symlink() || kind.is_hard_link() {
        let target = entry.link_name_bytes().unwrap_or_default();
        // Symlinks resolve against the link's directory; hardlinks name an archive member.
        let dir = if kind.is_symlink() {
            path::parent(name.as_bytes())
        } else {
            b""
        };
        let resolved = path::resolve_link(dir, &target)
            .and_then(|t| String::from_utf8(t).ok())
            .ok_or_else(|| ImageError::MemberLinkEscape {
                member: shown.clone(),
            })?;
        Member::Link(resolved)
    } else {
        return Ok(None);
    };
    Ok(Some((name, member)))
}

fn insert(
    members: &mut HashMap<String, Member>,
    name: String,
    member: Member,
    limits: &Limits,
) -> Result<(), ImageError> {
    if members.len() as u64 >= limits.max_members {
        return Err(ImageError::Invalid {
            member: "the archive".into(),
            problem: format!("it has more than {} members", limits.max_members),
        });
    }
    if members.insert(name.clone(), member).is_some() {
        return Err(ImageError::DuplicateMember { member: name });
    }
    Ok(())
}

/// Indexes a plain tar by reading only its headers (member data is skipped by seeking).
fn scan_tar(path: &Path, limits: &Limits) -> Result<HashMap<String, Member>, ImageError> {
    let file = File::open(path).map_err(|source| ImageError::Open {
        path: path.to_owned(),
        source,
    })?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut members = HashMap::new();
    let entries = archive
        .entries_with_seek()
        .map_err(|source| ImageError::Archive { source })?;
    for entry in entries {
        let entry = entry.map_err(|source| ImageError::Archive { source })?;
        let offset = entry.raw_file_position();
        if offset.saturating_add(entry.size()) > file_len {
            return Err(ImageError::Invalid {
                member: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                problem: format!(
                    "it declares {} bytes, past the end of the archive",
                    entry.size()
                ),
            });
        }
        if let Some((name, member)) = member_of(&entry, offset)? {
            insert(&mut members, name, member, limits)?;
        }
    }
    Ok(members)
}

/// Streams a compressed tar once to list its members and keep its small JSON documents.
fn scan_compressed(
    path: &Path,
    compression: Compression,
    compressed: u64,
    limits: &Limits,
) -> Result<(MemberMap, HashMap<String, Vec<u8>>), ImageError> {
    let file = File::open(path).map_err(|source| ImageError::Open {
        path: path.to_owned(),
        source,
    })?;
    let tripped = Cell::new(false);
    let decoder = decoder(
        compression,
        file,
        limits.decompressed_cap(compressed),
        &tripped,
    )?;
    let mut archive = tar::Archive::new(decoder);
    let mut members = HashMap::new();
    let mut kept = HashMap::new();
    let mut kept_bytes = 0u64;
    let entries = archive
        .entries()
        .map_err(|source| ImageError::Archive { source })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| archive_err(source, &tripped, limits))?;
        let Some((name, member)) = member_of(&entry, 0)? else {
            continue;
        };
        if let Member::File { size, .. } = member {
            if size <= limits.max_json_bytes {
                let mut first = [0u8; 1];
                let n = read_up_to(&mut entry, &mut first)
                    .map_err(|source| archive_err(source, &tripped, limits))?;
                if n == 1 && (first[0] == b'{' || first[0] == b'[') {
                    kept_bytes += size;
                    if kept_bytes > MAX_KEPT_BYTES {
                        return Err(ImageError::Invalid {
                            member: name,
                            problem: format!(
                                "the archive holds more than {MAX_KEPT_BYTES} bytes of JSON"
                            ),
                        });
                    }
                    let mut doc = Vec::with_capacity(size as usize);
                    doc.push(first[0]);
                    entry
                        .read_to_end(&mut doc)
                        .map_err(|source| archive_err(source, &tripped, limits))?;
                    kept.insert(name.clone(), doc);
                }
            }
        }
        insert(&mut members, name, member, limits)?;
    }
    if tripped.get() {
        return Err(bomb(limits));
    }
    Ok((members, kept))
}
