//! The merged filesystem, decided from metadata before any content is copied: which entry of
//! which layer is written, where hardlinks get their content, and which whiteouts must stay
//! (with `--from-layer`, deletions of what the kept layers hold).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rharden_image::{EntryKind, Fate, FileIndex, FileRecord, MergeNote};

use crate::error::FlattenError;

/// What to do with one record of the input when its layer streams by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write it at its own path (non-directories; directories are written up front).
    Write,
    /// Write its content at another path: a hardlink group whose first file is gone but whose
    /// links survive. `path` is the link that now carries the content.
    Carry { path: Box<[u8]> },
}

/// A hardlink written after every file, so its target is always earlier in the stream.
#[derive(Debug, Clone)]
pub struct Link {
    /// Layer and position of the link record (its metadata).
    pub record: (usize, usize),
    pub target: Box<[u8]>,
}

/// The whole plan.
#[derive(Debug, Default)]
pub struct Plan {
    /// Layers below this one are kept as they are; the rest are squashed.
    pub from_layer: usize,
    /// Directories to write first, in path order: (layer, position).
    pub dirs: Vec<(usize, usize)>,
    /// With kept layers below: paths of theirs the squashed layer deletes (as `.wh.` entries).
    pub whiteouts: Vec<Box<[u8]>>,
    /// What to do per record, by (layer, position); records not listed are dropped.
    pub actions: HashMap<(usize, usize), Action>,
    /// Hardlinks written last, in path order.
    pub links: Vec<Link>,
    /// Non-directory entries of the squashed layers not in the output, and their bytes.
    pub dropped_entries: u64,
    pub dropped_bytes: u64,
}

impl Plan {
    /// Decides the squashed layer for `layers from_layer..` of a walked image.
    pub fn new(index: &FileIndex, from_layer: usize) -> Result<Self, FlattenError> {
        let layers = index.layers.len();
        if from_layer >= layers {
            return Err(FlattenError::FromLayer {
                from: from_layer,
                layers,
            });
        }
        // What the reader only warns about, an exact flatten must refuse: it cannot be merged
        // in one way every applier agrees on. A whiteout of a path no lower layer has is the
        // exception: it deletes nothing, for every applier (image-spec layer.md, "Whiteouts").
        let disputed = index
            .notes
            .iter()
            .find(|n| !matches!(n, MergeNote::WhiteoutOfMissing { .. }));
        if let Some(note) = disputed {
            return Err(FlattenError::Unflattenable {
                problem: describe(note),
            });
        }
        let mut plan = Plan {
            from_layer,
            ..Plan::default()
        };
        let record = |(l, p): (usize, usize)| -> &FileRecord { &index.layers[l][p] };
        let mut dirs: Vec<(usize, usize)> = Vec::new();
        // Hardlink groups: root record -> present links.
        let mut groups: BTreeMap<(usize, usize), Vec<(usize, usize)>> = BTreeMap::new();
        // Kept-layer paths that are not in the final filesystem.
        let mut removed_below: BTreeSet<Box<[u8]>> = BTreeSet::new();
        for (l, records) in index.layers.iter().enumerate() {
            for (p, r) in records.iter().enumerate() {
                if l < from_layer {
                    if !r.kind.is_whiteout() && r.fate != Fate::Present {
                        removed_below.insert(r.path.clone());
                    }
                    continue;
                }
                if r.kind.is_whiteout() {
                    continue;
                }
                if r.fate != Fate::Present {
                    if r.kind != EntryKind::Dir {
                        plan.dropped_entries += 1;
                        plan.dropped_bytes += r.size;
                    }
                    continue;
                }
                match r.kind {
                    EntryKind::Dir => dirs.push((l, p)),
                    EntryKind::Hardlink => {
                        let root = r.link_root().ok_or_else(|| FlattenError::Unflattenable {
                            problem: format!("hardlink {:?} has no target", show(&r.path)),
                        })?;
                        groups.entry(root).or_default().push((l, p));
                    }
                    _ => {
                        plan.actions.insert((l, p), Action::Write);
                    }
                }
            }
        }
        dirs.sort_by(|a, b| record(*a).path.cmp(&record(*b).path));
        plan.dirs = dirs;
        for (root, mut links) in groups {
            links.sort_by(|a, b| record(*a).path.cmp(&record(*b).path));
            let root_record = record(root);
            let target: Box<[u8]> = if root_record.fate == Fate::Present {
                root_record.path.clone()
            } else {
                // The file the links share is gone from its own path: the first link carries it.
                let carrier = links.remove(0);
                plan.actions.insert(
                    root,
                    Action::Carry {
                        path: record(carrier).path.clone(),
                    },
                );
                record(carrier).path.clone()
            };
            plan.links.extend(links.into_iter().map(|l| Link {
                record: l,
                target: target.clone(),
            }));
        }
        plan.links
            .sort_by(|a, b| record(a.record).path.cmp(&record(b.record).path));
        // With kept layers below, the squashed layer must delete what they have and the final
        // filesystem lacks: one whiteout at the top of each removed subtree. A path the squashed
        // layer writes again needs none (the new entry replaces it, a whole tree if it is not a
        // directory), nor does anything under a path whited out or replaced by a non-directory.
        if from_layer > 0 {
            let mut final_kinds: HashMap<&[u8], EntryKind> = HashMap::new();
            for r in index.layers.iter().flatten() {
                if r.fate == Fate::Present && !r.kind.is_whiteout() {
                    final_kinds.insert(&r.path, r.kind);
                }
            }
            let mut emitted: BTreeSet<&[u8]> = BTreeSet::new();
            for path in &removed_below {
                if final_kinds.contains_key(&path[..]) {
                    continue;
                }
                let covered = ancestors(path).any(|a| {
                    emitted.contains(a) || final_kinds.get(a).is_some_and(|k| *k != EntryKind::Dir)
                });
                if !covered {
                    emitted.insert(path);
                    plan.whiteouts.push(path.clone());
                }
            }
        }
        Ok(plan)
    }
}

/// Follows a sequential walk (entries in archive order, layer by layer) to find each entry's
/// record in the plan: the walk hands sinks entries, the plan speaks of (layer, position).
#[derive(Debug, Default)]
pub struct Cursor {
    layer: Option<usize>,
    position: usize,
}

impl Cursor {
    /// The record written for the next entry of `layer`, and the path to write it at; `None`
    /// when the entry is not written (dropped, a directory written up front, a later link).
    pub fn next<'a>(
        &mut self,
        layer: usize,
        plan: &'a Plan,
        files: &'a FileIndex,
    ) -> Option<(&'a FileRecord, &'a [u8])> {
        if self.layer != Some(layer) {
            self.layer = Some(layer);
            self.position = 0;
        }
        let key = (layer, self.position);
        self.position += 1;
        let record = &files.layers[key.0][key.1];
        match plan.actions.get(&key)? {
            Action::Write => Some((record, &record.path)),
            Action::Carry { path } => Some((record, path)),
        }
    }
}

/// The strict ancestors of a normalised path, nearest first (not the root).
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = path;
    std::iter::from_fn(move || {
        let i = rest.iter().rposition(|&b| b == b'/')?;
        rest = &rest[..i];
        Some(rest)
    })
}

fn show(path: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(path))
}

fn describe(note: &MergeNote) -> String {
    match note {
        MergeNote::WhiteoutOfMissing { layer, path } => {
            format!(
                "layer {layer} whites out {:?}, which no lower layer has",
                show(path)
            )
        }
        MergeNote::HardlinkTargetMissing {
            layer,
            path,
            target,
        } => {
            format!(
                "layer {layer} hardlinks {:?} to {:?}, which does not exist there",
                show(path),
                show(target)
            )
        }
        MergeNote::ThroughSymlink {
            layer,
            path,
            symlink,
        } => format!(
            "layer {layer} places {:?} below {:?}, which a lower layer made a symlink",
            show(path),
            show(symlink)
        ),
        MergeNote::HardlinkToDirectory {
            layer,
            path,
            target,
        } => format!(
            "layer {layer} hardlinks {:?} to {:?}, which is a directory",
            show(path),
            show(target)
        ),
        MergeNote::OpaqueRoot { layer } => {
            format!("layer {layer} has an opaque whiteout on the root directory")
        }
    }
}
