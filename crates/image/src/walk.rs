//! Drives every layer once into per-layer sinks: in parallel when the source can be read at
//! random, as one stream when the archive is compressed as a whole. Then checks every digest
//! and merges the layers' metadata into fates.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::compression::Compression;
use crate::digest::Digest;
use crate::entry::Entry;
use crate::error::{ImageError, LayerError};
use crate::fate::FileRecord;
use crate::fate::{self, FileIndex, LayerChanges, MergeNote};
use crate::image::{Image, LayerInfo, Warning};
use crate::layer::{read_layer, LayerRead};
use crate::sink::{LayerSink, Pair, SinkError, Want};

/// What reading one layer measured, with what it changed.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub index: usize,
    /// sha256 of the blob as stored (verified against the manifest when it states one).
    pub digest: Digest,
    /// sha256 of the uncompressed tar (verified against the config's diff_ids).
    pub diff_id: Digest,
    pub compression: Compression,
    pub size: u64,
    pub uncompressed_size: u64,
    /// Entries in the layer, whiteouts included.
    pub entries: u64,
    #[serde(flatten)]
    pub changes: LayerChanges,
}

/// The result of a walk: per-layer reports, the sinks in layer order, and every entry's fate.
#[derive(Debug)]
pub struct Walk<S> {
    pub layers: Vec<LayerReport>,
    pub sinks: Vec<S>,
    pub files: FileIndex,
    pub warnings: Vec<Warning>,
}

impl<S> Walk<S> {
    /// The same walk with each sink replaced by `f` of it.
    pub fn map_sinks<T>(self, f: impl FnMut(S) -> T) -> Walk<T> {
        Walk {
            layers: self.layers,
            sinks: self.sinks.into_iter().map(f).collect(),
            files: self.files,
            warnings: self.warnings,
        }
    }
}

impl Image {
    /// Reads every layer exactly once, feeding a fresh sink from `make_sink` per layer.
    pub fn walk<S, F>(&self, make_sink: F) -> Result<Walk<S>, ImageError>
    where
        S: LayerSink + Send,
        F: Fn(&LayerInfo) -> S + Sync,
    {
        self.progress_start();
        let results: Vec<(LayerRead, S)> = if self.source.is_seekable() {
            self.layers
                .par_iter()
                .map(|layer| {
                    let mut sink = make_sink(layer);
                    let mut raw = self.tracked(self.source.open_blob(&layer.blob)?);
                    let read = read_layer(&mut raw, layer.size, layer, &self.limits, &mut sink)
                        .map_err(|source| layer_error(layer, source))?;
                    Ok((read, sink))
                })
                .collect::<Result<_, ImageError>>()?
        } else {
            self.walk_stream(make_sink)?
        };
        self.finish(results)
    }

    /// [`walk`](Self::walk), with each layer's sink on a thread of its own fed through a
    /// bounded channel, so reading a layer and analysing it use two cores even when the image
    /// is one big layer. For sinks that read most content (the scanner); a metadata-only walk
    /// gains nothing from it. A whole-compressed archive is walked as [`walk`](Self::walk) does.
    pub fn walk_pipelined<S, F>(&self, make_sink: F) -> Result<Walk<S>, ImageError>
    where
        S: LayerSink + Send,
        F: Fn(&LayerInfo) -> S + Sync,
    {
        let walk = self.walk_pipelined_beside(|layer| ((), make_sink(layer)))?;
        Ok(walk.map_sinks(|((), sink)| sink))
    }

    /// [`walk_pipelined`](Self::walk_pipelined) with a second sink per layer that runs on the
    /// reading thread itself, beside the forwarding: for work light enough not to slow the
    /// reading down, which then no longer waits its turn on the analysis thread (the scanner's
    /// content hashes). The sinks come back in pairs, (reader's, analysis thread's).
    pub fn walk_pipelined_beside<R, S, F>(&self, make_sinks: F) -> Result<Walk<(R, S)>, ImageError>
    where
        R: LayerSink + Send,
        S: LayerSink + Send,
        F: Fn(&LayerInfo) -> (R, S) + Sync,
    {
        if !self.source.is_seekable() {
            let walk = self.walk(|layer| {
                let (beside, sink) = make_sinks(layer);
                Pair::new(beside, sink)
            })?;
            return Ok(walk.map_sinks(|pair| (pair.first, pair.second)));
        }
        self.progress_start();
        let results: Vec<(LayerRead, (R, S))> = self
            .layers
            .par_iter()
            .map(|layer| {
                let (beside, sink) = make_sinks(layer);
                let mut raw = self.tracked(self.source.open_blob(&layer.blob)?);
                std::thread::scope(|scope| {
                    let (forwarder, handle) =
                        crate::pipeline::spawn(scope, std::slice::from_ref(layer), sink);
                    let mut both = Pair::new(beside, forwarder);
                    let read = read_layer(&mut raw, layer.size, layer, &self.limits, &mut both);
                    let Pair {
                        first: beside,
                        second: forwarder,
                        ..
                    } = both;
                    let closed = forwarder.closed();
                    drop(forwarder);
                    let (sink, failure) = handle
                        .join()
                        .map_err(|_| layer_error(layer, LayerError::SinkPanicked))?;
                    if let Some((name, source)) = failure {
                        return Err(layer_error(
                            layer,
                            LayerError::Sink {
                                path: String::from_utf8_lossy(&name).into_owned(),
                                source,
                            },
                        ));
                    }
                    debug_assert!(!closed || read.is_err());
                    let read = read.map_err(|source| layer_error(layer, source))?;
                    Ok((read, (beside, sink)))
                })
            })
            .collect::<Result<_, ImageError>>()?;
        self.finish(results)
    }

    /// Reads every layer once, one after the other, all into the same sink: in manifest order
    /// when the source can be read at random, in archive order when it is a compressed stream.
    /// For writers that need one ordered output (the flattener, unpack).
    pub fn walk_each<S: LayerSink>(&self, sink: &mut S) -> Result<Walk<()>, ImageError> {
        self.progress_start();
        let shared = RefCell::new(sink);
        let results: Vec<(LayerRead, Shared<'_, '_, S>)> = if self.source.is_seekable() {
            self.layers
                .iter()
                .map(|layer| {
                    let mut proxy = Shared(&shared);
                    let mut raw = self.tracked(self.source.open_blob(&layer.blob)?);
                    let read = read_layer(&mut raw, layer.size, layer, &self.limits, &mut proxy)
                        .map_err(|source| layer_error(layer, source))?;
                    Ok((read, proxy))
                })
                .collect::<Result<_, ImageError>>()?
        } else {
            self.walk_stream(|_| Shared(&shared))?
        };
        let walk = self.finish(results)?;
        Ok(Walk {
            layers: walk.layers,
            sinks: vec![(); self.layers.len()],
            files: walk.files,
            warnings: walk.warnings,
        })
    }

    fn progress_start(&self) {
        if let Some(p) = &self.progress {
            p.start(self.layers.iter().map(|l| l.size).sum());
        }
    }

    /// Wraps a blob reader so the bytes read are reported.
    fn tracked<'r>(
        &self,
        raw: Box<dyn std::io::Read + Send + 'r>,
    ) -> crate::progress::ProgressReader<Box<dyn std::io::Read + Send + 'r>> {
        crate::progress::ProgressReader::new(raw, self.progress.clone())
    }

    fn finish<S>(&self, results: Vec<(LayerRead, S)>) -> Result<Walk<S>, ImageError> {
        if let Some(p) = &self.progress {
            p.finish();
        }
        let mut warnings = self.warnings.clone();
        let mut reports = Vec::with_capacity(results.len());
        let mut sinks = Vec::with_capacity(results.len());
        let mut records: Vec<Vec<FileRecord>> = Vec::with_capacity(results.len());
        for (layer, (read, sink)) in self.layers.iter().zip(results) {
            self.verify(layer, &read)?;
            if let Some(media_type) = &layer.media_type {
                if Compression::from_media_type(media_type).is_some_and(|c| c != read.compression) {
                    warnings.push(Warning::MediaTypeMismatch {
                        layer: layer.index,
                        media_type: media_type.clone(),
                        actual: read.compression,
                    });
                }
            }
            if read.reserved_skipped > 0 {
                warnings.push(Warning::ReservedWhiteouts {
                    layer: layer.index,
                    count: read.reserved_skipped,
                });
            }
            reports.push(LayerReport {
                index: layer.index,
                digest: read.digest,
                diff_id: read.diff_id,
                compression: read.compression,
                size: read.size,
                uncompressed_size: read.uncompressed_size,
                entries: read.records.len() as u64,
                changes: LayerChanges::default(),
            });
            records.push(read.records);
            sinks.push(sink);
        }
        let files = fate::merge(records);
        for (report, changes) in reports.iter_mut().zip(&files.changes) {
            report.changes = *changes;
        }
        warnings.extend(files.notes.iter().map(note_warning));
        Ok(Walk {
            layers: reports,
            sinks,
            files,
            warnings,
        })
    }

    /// A compressed archive can only be read front to back: each pass streams it once and reads
    /// every layer whose blob it meets. A blob used by several layers (identical empty layers)
    /// needs one more pass per extra use.
    fn walk_stream<S, F>(&self, mut make_sink: F) -> Result<Vec<(LayerRead, S)>, ImageError>
    where
        S: LayerSink,
        F: FnMut(&LayerInfo) -> S,
    {
        let mut done: Vec<Option<(LayerRead, S)>> = self.layers.iter().map(|_| None).collect();
        while done.iter().any(Option::is_none) {
            // For each blob, the first layer using it that is not read yet.
            let mut next: HashMap<String, usize> = HashMap::new();
            for (i, layer) in self.layers.iter().enumerate().rev() {
                if done[i].is_none() {
                    next.insert(layer.blob.name.clone(), i);
                }
            }
            let wanted: HashSet<String> = next.keys().cloned().collect();
            self.source
                .stream_members(&wanted, &self.limits, |name, size, reader| {
                    if let Some(&i) = next.get(name) {
                        let layer = &self.layers[i];
                        let mut sink = make_sink(layer);
                        let mut reader =
                            crate::progress::ProgressReader::new(reader, self.progress.clone());
                        let read = read_layer(&mut reader, size, layer, &self.limits, &mut sink)
                            .map_err(|source| layer_error(layer, source))?;
                        done[i] = Some((read, sink));
                    }
                    Ok(())
                })?;
            if let Some(i) = next.values().copied().find(|&i| done[i].is_none()) {
                return Err(ImageError::MissingBlob {
                    referrer: "the manifest".into(),
                    member: self.layers[i].blob.name.clone(),
                });
            }
        }
        Ok(done.into_iter().flatten().collect())
    }

    fn verify(&self, layer: &LayerInfo, read: &LayerRead) -> Result<(), ImageError> {
        if let Some(expected) = &layer.digest {
            if *expected != read.digest {
                return Err(ImageError::DigestMismatch {
                    what: format!("layer {} blob {}", layer.index, layer.member),
                    expected: expected.clone(),
                    actual: read.digest.clone(),
                });
            }
        }
        if layer.diff_id != read.diff_id {
            return Err(ImageError::DigestMismatch {
                what: format!(
                    "layer {} ({}) uncompressed content (diff_id)",
                    layer.index, layer.member
                ),
                expected: layer.diff_id.clone(),
                actual: read.diff_id.clone(),
            });
        }
        Ok(())
    }
}

fn layer_error(layer: &LayerInfo, source: LayerError) -> ImageError {
    ImageError::Layer {
        index: layer.index,
        name: layer.name(),
        source,
    }
}

fn note_warning(note: &MergeNote) -> Warning {
    use crate::error::show;
    match note {
        MergeNote::WhiteoutOfMissing { layer, path } => Warning::WhiteoutOfMissing {
            layer: *layer,
            path: show(path),
        },
        MergeNote::HardlinkTargetMissing {
            layer,
            path,
            target,
        } => Warning::HardlinkTargetMissing {
            layer: *layer,
            path: show(path),
            target: show(target),
        },
        MergeNote::ThroughSymlink {
            layer,
            path,
            symlink,
        } => Warning::ThroughSymlink {
            layer: *layer,
            path: show(path),
            symlink: show(symlink),
        },
        MergeNote::OpaqueRoot { layer } => Warning::OpaqueRoot { layer: *layer },
        MergeNote::HardlinkToDirectory {
            layer,
            path,
            target,
        } => Warning::HardlinkToDirectory {
            layer: *layer,
            path: show(path),
            target: show(target),
        },
    }
}

/// A handle on one sink shared by every layer of a sequential walk.
struct Shared<'a, 'b, S>(&'a RefCell<&'b mut S>);

impl<S: LayerSink> LayerSink for Shared<'_, '_, S> {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        self.0.borrow_mut().entry(layer, entry)
    }
    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        self.0.borrow_mut().content(chunk)
    }
    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.0.borrow_mut().end_entry()
    }
    fn finish(&mut self) {
        self.0.borrow_mut().finish();
    }
}
