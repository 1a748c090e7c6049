//! What happens to every entry in the final filesystem, by applying the layers bottom-up
//! the way the OCI image spec merges them: a layer's whiteouts apply to the layers below it,
//! then its entries are added on top.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::entry::{EntryKind, Xattr};
use crate::layer::Record;

/// The fate of one layer's entry in the final filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// In the final filesystem as this layer wrote it.
    Present,
    /// Removed by a whiteout in layer `by` (of the path or a parent), or a parent turned into a non-directory.
    Deleted { by: usize },
    /// Replaced by an entry at the same path in layer `by`.
    Overwritten { by: usize },
    /// Hidden by an opaque whiteout on a parent directory in layer `by`.
    Hidden { by: usize },
}

impl Fate {
    pub fn name(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::Deleted { .. } => "deleted",
            Self::Overwritten { .. } => "overwritten",
            Self::Hidden { .. } => "hidden",
        }
    }

    /// The layer that removed the entry, if any.
    pub fn by_layer(self) -> Option<usize> {
        match self {
            Self::Present => None,
            Self::Deleted { by } | Self::Overwritten { by } | Self::Hidden { by } => Some(by),
        }
    }
}

/// One entry of one layer with its fate. Whiteouts are listed too (their fate is `Present`:
/// they have done their work); their path is the path they delete.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub layer: usize,
    pub path: Box<[u8]>,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    pub link_target: Option<Box<[u8]>>,
    pub device: Option<(u32, u32)>,
    /// Extended attributes (`security.capability` among them); usually empty.
    pub xattrs: Vec<Xattr>,
    pub fate: Fate,
    /// For a hardlink: the (layer, position) of the record whose content it shares, resolved
    /// through chains of links when the link was made. `None` when the target did not exist.
    pub link_root: Option<(usize, usize)>,
}

/// What a layer changed, counted against the merged view of the layers below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LayerChanges {
    /// Entries at paths the lower layers did not have.
    pub added: u64,
    /// Entries replacing a path the lower layers had.
    pub modified: u64,
    /// Whiteouts and opaque whiteouts.
    pub deleted: u64,
}

/// Something odd but legal the merge noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeNote {
    /// A whiteout of a path no lower layer has.
    WhiteoutOfMissing { layer: usize, path: Box<[u8]> },
    /// A hardlink whose target is not in the filesystem when the link is made.
    HardlinkTargetMissing {
        layer: usize,
        path: Box<[u8]>,
        target: Box<[u8]>,
    },
    /// An entry placed below a path that a lower layer made a symlink: appliers disagree
    /// on whether to follow it; rharden replaces the symlink with a directory.
    ThroughSymlink {
        layer: usize,
        path: Box<[u8]>,
        symlink: Box<[u8]>,
    },
    /// An opaque whiteout on the root directory: everything below is hidden.
    OpaqueRoot { layer: usize },
    /// A hardlink to a directory, which no filesystem can hold.
    HardlinkToDirectory {
        layer: usize,
        path: Box<[u8]>,
        target: Box<[u8]>,
    },
}

/// Every entry of every layer, with fates, and the final filesystem view.
#[derive(Debug, Default)]
pub struct FileIndex {
    /// Entries per layer, in archive order.
    pub layers: Vec<Vec<FileRecord>>,
    /// Per-layer change counts.
    pub changes: Vec<LayerChanges>,
    pub notes: Vec<MergeNote>,
}

impl FileIndex {
    /// Every entry present in the final filesystem, in path order.
    pub fn final_view(&self) -> Vec<&FileRecord> {
        let mut present: Vec<&FileRecord> = self
            .layers
            .iter()
            .flatten()
            .filter(|r| r.fate == Fate::Present && !r.kind.is_whiteout())
            .collect();
        present.sort_by(|a, b| a.path.cmp(&b.path));
        present
    }

    /// The entries written at `path`, bottom layer first.
    pub fn history_of(&self, path: &[u8]) -> Vec<&FileRecord> {
        self.layers
            .iter()
            .flatten()
            .filter(|r| &*r.path == path && !r.kind.is_whiteout())
            .collect()
    }
}

/// The range of keys strictly below `dir` in a path-ordered map.
fn subtree_keys(merged: &BTreeMap<Box<[u8]>, (usize, usize)>, dir: &[u8]) -> Vec<Box<[u8]>> {
    if dir.is_empty() {
        return merged.keys().filter(|k| !k.is_empty()).cloned().collect();
    }
    let mut lo = dir.to_vec();
    lo.push(b'/');
    let mut hi = dir.to_vec();
    hi.push(b'/' + 1);
    merged
        .range::<[u8], _>((
            std::ops::Bound::Included(&lo[..]),
            std::ops::Bound::Excluded(&hi[..]),
        ))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Merges the layers bottom-up, giving every record its fate.
pub(crate) fn merge(layers: Vec<Vec<Record>>) -> FileIndex {
    let mut index = FileIndex {
        layers: layers
            .into_iter()
            .enumerate()
            .map(|(layer, records)| {
                records
                    .into_iter()
                    .map(|r| FileRecord {
                        layer,
                        path: r.path,
                        kind: r.kind,
                        mode: r.mode,
                        uid: r.uid,
                        gid: r.gid,
                        size: r.size,
                        mtime: r.mtime,
                        link_target: r.link_target,
                        device: r.device,
                        xattrs: r.xattrs,
                        fate: Fate::Present,
                        link_root: None,
                    })
                    .collect()
            })
            .collect(),
        ..FileIndex::default()
    };
    // path -> (layer, position) of the entry that is present there now.
    let mut merged: BTreeMap<Box<[u8]>, (usize, usize)> = BTreeMap::new();
    for j in 0..index.layers.len() {
        let mut changes = LayerChanges::default();
        // 1. Whiteouts first: they apply to the layers below, never to their own layer.
        for i in 0..index.layers[j].len() {
            let (kind, path) = {
                let r = &index.layers[j][i];
                (r.kind, r.path.clone())
            };
            match kind {
                EntryKind::Whiteout => {
                    changes.deleted += 1;
                    let mut gone = subtree_keys(&merged, &path);
                    if merged.contains_key(&path) {
                        gone.push(path.clone());
                    } else {
                        index.notes.push(MergeNote::WhiteoutOfMissing {
                            layer: j,
                            path: path.clone(),
                        });
                    }
                    remove(
                        &mut merged,
                        &mut index.layers,
                        &gone,
                        Fate::Deleted { by: j },
                    );
                }
                EntryKind::OpaqueWhiteout => {
                    changes.deleted += 1;
                    if path.is_empty() {
                        index.notes.push(MergeNote::OpaqueRoot { layer: j });
                    }
                    let gone = subtree_keys(&merged, &path);
                    remove(
                        &mut merged,
                        &mut index.layers,
                        &gone,
                        Fate::Hidden { by: j },
                    );
                }
                _ => {}
            }
        }
        // 2. Then the layer's own entries, in archive order.
        for i in 0..index.layers[j].len() {
            let (kind, path, target) = {
                let r = &index.layers[j][i];
                (r.kind, r.path.clone(), r.link_target.clone())
            };
            if kind.is_whiteout() {
                continue;
            }
            // A parent that is not a directory any more is replaced by the implied directory.
            let mut ancestor: &[u8] = &path;
            while !ancestor.is_empty() {
                ancestor = crate::path::parent(ancestor);
                if let Some(&(l, p)) = merged.get(ancestor) {
                    if index.layers[l][p].kind != EntryKind::Dir && l != j {
                        if index.layers[l][p].kind == EntryKind::Symlink {
                            index.notes.push(MergeNote::ThroughSymlink {
                                layer: j,
                                path: path.clone(),
                                symlink: ancestor.into(),
                            });
                        }
                        let key: Box<[u8]> = ancestor.into();
                        remove(
                            &mut merged,
                            &mut index.layers,
                            &[key],
                            Fate::Overwritten { by: j },
                        );
                    }
                }
            }
            if kind == EntryKind::Hardlink {
                if let Some(target) = &target {
                    match merged.get(target).copied() {
                        Some((l, p)) if index.layers[l][p].kind == EntryKind::Dir => {
                            index.notes.push(MergeNote::HardlinkToDirectory {
                                layer: j,
                                path: path.clone(),
                                target: target.clone(),
                            });
                        }
                        // A link to a link shares the first one's content.
                        Some((l, p)) => {
                            let linked = &index.layers[l][p];
                            index.layers[j][i].link_root = if linked.kind == EntryKind::Hardlink {
                                linked.link_root
                            } else {
                                Some((l, p))
                            };
                        }
                        None => index.notes.push(MergeNote::HardlinkTargetMissing {
                            layer: j,
                            path: path.clone(),
                            target: target.clone(),
                        }),
                    }
                }
            }
            // A non-directory replaces the directory at its path, and with it everything
            // below, also when that directory was only implied by its children (`a/b`, then
            // a file `a`, in this layer or across layers).
            if kind != EntryKind::Dir {
                let gone = subtree_keys(&merged, &path);
                remove(
                    &mut merged,
                    &mut index.layers,
                    &gone,
                    Fate::Deleted { by: j },
                );
            }
            match merged.get(&path).copied() {
                Some((l, p)) => {
                    changes.modified += 1;
                    index.layers[l][p].fate = Fate::Overwritten { by: j };
                }
                None => changes.added += 1,
            }
            merged.insert(path, (j, i));
        }
        index.changes.push(changes);
    }
    index
}

fn remove(
    merged: &mut BTreeMap<Box<[u8]>, (usize, usize)>,
    layers: &mut [Vec<FileRecord>],
    keys: &[Box<[u8]>],
    fate: Fate,
) {
    for key in keys {
        if let Some((l, p)) = merged.remove(key) {
            layers[l][p].fate = fate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, kind: EntryKind) -> Record {
        Record {
            path: path.as_bytes().into(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            link_target: None,
            device: None,
            xattrs: Vec::new(),
        }
    }

    fn fate(index: &FileIndex, layer: usize, path: &str) -> Fate {
        index.layers[layer]
            .iter()
            .find(|r| &*r.path == path.as_bytes() && !r.kind.is_whiteout())
            .map(|r| r.fate)
            .expect("record exists")
    }

    use EntryKind::{Dir, File, OpaqueWhiteout, Whiteout};

    #[test]
    fn whiteouts_delete_lower_entries_and_subtrees() {
        let index = merge(vec![
            vec![
                rec("tmp", Dir),
                rec("tmp/secret", File),
                rec("root/.aws", Dir),
                rec("root/.aws/credentials", File),
            ],
            vec![
                rec("tmp", Dir),
                rec("tmp/secret", Whiteout),
                rec("root/.aws", Whiteout),
            ],
        ]);
        assert_eq!(fate(&index, 0, "tmp/secret"), Fate::Deleted { by: 1 });
        assert_eq!(
            fate(&index, 0, "root/.aws/credentials"),
            Fate::Deleted { by: 1 }
        );
        assert_eq!(fate(&index, 0, "tmp"), Fate::Overwritten { by: 1 });
        assert_eq!(
            index.changes[1],
            LayerChanges {
                added: 0,
                modified: 1,
                deleted: 2
            }
        );
    }

    #[test]
    fn opaque_whiteout_hides_lower_children_only() {
        let index = merge(vec![
            vec![rec("data", Dir), rec("data/a", File), rec("data/b", File)],
            vec![
                rec("data", Dir),
                rec("data", OpaqueWhiteout),
                rec("data/c", File),
                rec("data/a", File),
            ],
        ]);
        assert_eq!(fate(&index, 0, "data/b"), Fate::Hidden { by: 1 });
        assert_eq!(fate(&index, 0, "data/a"), Fate::Hidden { by: 1 });
        assert_eq!(fate(&index, 1, "data/c"), Fate::Present);
        assert_eq!(fate(&index, 1, "data/a"), Fate::Present);
        assert_eq!(index.changes[1].added, 2);
    }

    #[test]
    fn whiteout_in_same_layer_does_not_delete_its_own_entry() {
        let index = merge(vec![
            vec![rec("x", File)],
            vec![rec("x", Whiteout), rec("x", File)],
        ]);
        assert_eq!(fate(&index, 0, "x"), Fate::Deleted { by: 1 });
        assert_eq!(fate(&index, 1, "x"), Fate::Present);
    }

    #[test]
    fn overwrites_and_type_changes() {
        let index = merge(vec![
            vec![
                rec("srv", Dir),
                rec("srv/v", File),
                rec("srv/d", Dir),
                rec("srv/d/f", File),
                rec("srv/f", File),
            ],
            vec![
                rec("srv/v", File),
                rec("srv/d", File),
                rec("srv/f/inner", File),
            ],
            vec![rec("srv/v", File)],
        ]);
        assert_eq!(fate(&index, 0, "srv/v"), Fate::Overwritten { by: 1 });
        assert_eq!(fate(&index, 1, "srv/v"), Fate::Overwritten { by: 2 });
        assert_eq!(fate(&index, 2, "srv/v"), Fate::Present);
        assert_eq!(fate(&index, 0, "srv/d/f"), Fate::Deleted { by: 1 });
        assert_eq!(fate(&index, 0, "srv/d"), Fate::Overwritten { by: 1 });
        assert_eq!(fate(&index, 0, "srv/f"), Fate::Overwritten { by: 1 });
        let present: Vec<_> = index
            .final_view()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.path).into_owned())
            .collect();
        assert_eq!(present, ["srv", "srv/d", "srv/f/inner", "srv/v"]);
    }

    #[test]
    fn opaque_at_root_hides_everything_below() {
        let index = merge(vec![
            vec![rec("a", File), rec("b", Dir), rec("b/c", File)],
            vec![rec("", OpaqueWhiteout), rec("d", File)],
        ]);
        assert_eq!(fate(&index, 0, "a"), Fate::Hidden { by: 1 });
        assert_eq!(fate(&index, 0, "b/c"), Fate::Hidden { by: 1 });
        assert_eq!(index.final_view().len(), 1);
    }

    #[test]
    fn notes_whiteouts_of_missing_paths() {
        let index = merge(vec![vec![rec("a", File)], vec![rec("nope", Whiteout)]]);
        assert_eq!(index.notes.len(), 1);
    }
}
