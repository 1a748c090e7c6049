//! What happens to every entry in the final filesystem, by applying the layers bottom-up
//! the way the OCI image spec merges them: a layer's whiteouts apply to the layers below it,
//! then its entries are added on top.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use serde::Serialize;

use crate::entry::{EntryKind, Xattr};

/// The fate of one layer's entry in the final filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// In the final filesystem as this layer wrote it.
    Present,
    /// Removed by a whiteout in layer `by` (of the path or a parent), or a parent turned into a non-directory.
    Deleted { by: u32 },
    /// Replaced by an entry at the same path in layer `by`.
    Overwritten { by: u32 },
    /// Hidden by an opaque whiteout on a parent directory in layer `by`.
    Hidden { by: u32 },
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
            Self::Deleted { by } | Self::Overwritten { by } | Self::Hidden { by } => {
                Some(by as usize)
            }
        }
    }
}

/// A layer index or a position in a layer, stored in 32 bits to keep [`FileRecord`] small.
/// More than 2³² entries could not be held in memory anyway (a record alone is 80 bytes).
fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The fields most entries do not have, kept out of line so a [`FileRecord`] stays small:
/// an image can hold hundreds of thousands of entries and all of them are kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rare {
    pub link_target: Option<Box<[u8]>>,
    pub device: Option<(u32, u32)>,
    pub xattrs: Vec<Xattr>,
    pub link_root: Option<(u32, u32)>,
}

impl Rare {
    /// `None` when the entry has none of the rare fields.
    pub(crate) fn of(
        link_target: Option<Box<[u8]>>,
        device: Option<(u32, u32)>,
        xattrs: Vec<Xattr>,
    ) -> Option<Box<Self>> {
        if link_target.is_none() && device.is_none() && xattrs.is_empty() {
            return None;
        }
        Some(Box::new(Self {
            link_target,
            device,
            xattrs,
            link_root: None,
        }))
    }
}

/// One entry of one layer with its fate. Whiteouts are listed too (their fate is `Present`:
/// they have done their work); their path is the path they delete.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub path: Box<[u8]>,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    pub(crate) rare: Option<Box<Rare>>,
    pub fate: Fate,
    pub(crate) layer: u32,
    pub(crate) position: u32,
    pub mode: u32,
    pub kind: EntryKind,
}

impl FileRecord {
    /// The index of the layer holding this entry.
    pub fn layer(&self) -> usize {
        self.layer as usize
    }

    /// The entry's index in its layer: the `n`th entry a [`LayerSink`](crate::LayerSink) was
    /// given for that layer (counting from 0) is the record at position `n`, so a sink can key
    /// what it keeps by position instead of copying paths.
    pub fn position(&self) -> usize {
        self.position as usize
    }

    /// Symlink target as stored (raw bytes), or hardlink target normalised to an image path.
    pub fn link_target(&self) -> Option<&[u8]> {
        self.rare.as_ref()?.link_target.as_deref()
    }

    /// Device numbers for character and block devices.
    pub fn device(&self) -> Option<(u32, u32)> {
        self.rare.as_ref()?.device
    }

    /// Extended attributes (`security.capability` among them); usually empty.
    pub fn xattrs(&self) -> &[Xattr] {
        self.rare.as_ref().map_or(&[], |r| &r.xattrs)
    }

    /// For a hardlink: the (layer, position) of the record whose content it shares, resolved
    /// through chains of links when the link was made. `None` when the target did not exist.
    pub fn link_root(&self) -> Option<(usize, usize)> {
        let (l, p) = self.rare.as_ref()?.link_root?;
        Some((l as usize, p as usize))
    }

    fn set_link_root(&mut self, root: Option<(u32, u32)>) {
        if root.is_none() && self.rare.is_none() {
            return;
        }
        self.rare.get_or_insert_with(Box::default).link_root = root;
    }
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
    /// Every entry present in the final filesystem, in layer and archive order.
    pub fn present(&self) -> impl Iterator<Item = &FileRecord> {
        self.layers
            .iter()
            .flatten()
            .filter(|r| r.fate == Fate::Present && !r.kind.is_whiteout())
    }

    /// Every entry present in the final filesystem, in path order.
    pub fn final_view(&self) -> Vec<&FileRecord> {
        // Sized exactly and sorted in place: this runs on every entry of the image.
        let mut present: Vec<&FileRecord> = Vec::with_capacity(self.present().count());
        present.extend(self.present());
        present.sort_unstable_by(|a, b| {
            (&a.path, a.layer, a.position).cmp(&(&b.path, b.layer, b.position))
        });
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

/// An entry present in the filesystem while merging, ordered by its path. The map's keys are the
/// records themselves (8 bytes each), not a copy of the path with a (layer, position) value.
#[derive(Debug, Clone, Copy)]
struct Present<'a>(&'a FileRecord);

impl<'a> Present<'a> {
    fn path(self) -> &'a [u8] {
        &self.0.path
    }

    fn at(self) -> (u32, u32) {
        (self.0.layer, self.0.position)
    }
}

impl PartialEq for Present<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.path == other.0.path
    }
}

impl Eq for Present<'_> {}

impl PartialOrd for Present<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Present<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.path.cmp(&other.0.path)
    }
}

impl Borrow<[u8]> for Present<'_> {
    fn borrow(&self) -> &[u8] {
        &self.0.path
    }
}

/// The path-ordered view of the filesystem while merging: the entry present at each path now.
type Merged<'a> = BTreeSet<Present<'a>>;

/// The merge in progress. It reads the records and writes its results to the side (fates,
/// link roots), so the map's keys can borrow the records' paths; they are applied at the end.
struct Merger<'a> {
    /// Whether an entry in the directory the previous entry was in skips its ancestor check.
    skip_siblings: bool,
    layers: &'a [Vec<FileRecord>],
    merged: Merged<'a>,
    fates: Vec<Vec<Fate>>,
    /// Link roots of hardlinks whose target existed, by (layer, position) of the link.
    roots: HashMap<(u32, u32), Option<(u32, u32)>>,
    notes: Vec<MergeNote>,
    /// The start of a subtree's range (`dir/`), reused: an entry costs no allocation.
    bounds: Vec<u8>,
}

/// Merges the layers bottom-up, giving every record its fate.
pub(crate) fn merge(layers: Vec<Vec<FileRecord>>) -> FileIndex {
    merge_with(layers, true)
}

/// [`merge`]; `skip_siblings` off checks every entry's ancestors (the tests compare the two).
fn merge_with(mut layers: Vec<Vec<FileRecord>>, skip_siblings: bool) -> FileIndex {
    for (j, records) in layers.iter_mut().enumerate() {
        for (i, r) in records.iter_mut().enumerate() {
            r.layer = narrow(j);
            r.position = narrow(i);
        }
    }
    let (fates, roots, changes, notes) = {
        let mut m = Merger {
            layers: &layers,
            merged: BTreeSet::new(),
            fates: layers
                .iter()
                .map(|records| vec![Fate::Present; records.len()])
                .collect(),
            roots: HashMap::new(),
            notes: Vec::new(),
            bounds: Vec::new(),
            skip_siblings,
        };
        let changes: Vec<LayerChanges> = (0..layers.len()).map(|j| m.layer(j)).collect();
        (m.fates, m.roots, changes, m.notes)
    };
    for (records, fates) in layers.iter_mut().zip(fates) {
        for (r, fate) in records.iter_mut().zip(fates) {
            r.fate = fate;
        }
    }
    for ((l, p), root) in roots {
        layers[l as usize][p as usize].set_link_root(root);
    }
    FileIndex {
        layers,
        changes,
        notes,
    }
}

impl<'a> Merger<'a> {
    fn kind(&self, (l, p): (u32, u32)) -> EntryKind {
        self.layers[l as usize][p as usize].kind
    }

    /// The entry present at `path`, as (layer, position).
    fn get(&self, path: &[u8]) -> Option<(u32, u32)> {
        self.merged.get(path).map(|k| k.at())
    }

    /// The paths strictly below `dir` in the merged view.
    fn subtree_keys(&mut self, dir: &[u8]) -> Vec<&'a [u8]> {
        if dir.is_empty() {
            return self
                .merged
                .iter()
                .map(|k| k.path())
                .filter(|k| !k.is_empty())
                .collect();
        }
        self.bounds.clear();
        self.bounds.extend_from_slice(dir);
        self.bounds.push(b'/');
        let below: &[u8] = &self.bounds;
        // Open-ended: a range with an upper bound searches the tree for it too, and the keys
        // below `dir/` are the ones right after it.
        self.merged
            .range::<[u8], _>((Bound::Included(below), Bound::Unbounded))
            .map(|k| k.path())
            .take_while(|k| k.starts_with(below))
            .collect()
    }

    /// Applies layer `j` on top of the merged view of the layers below it.
    fn layer(&mut self, j: usize) -> LayerChanges {
        let records: &'a [FileRecord] = &self.layers[j];
        let by = narrow(j);
        let mut changes = LayerChanges::default();
        // 1. Whiteouts first: they apply to the layers below, never to their own layer.
        for r in records {
            let path: &'a [u8] = &r.path;
            match r.kind {
                EntryKind::Whiteout => {
                    changes.deleted += 1;
                    let mut gone = self.subtree_keys(path);
                    if self.merged.contains(path) {
                        gone.push(path);
                    } else {
                        self.notes.push(MergeNote::WhiteoutOfMissing {
                            layer: j,
                            path: path.into(),
                        });
                    }
                    self.remove(&gone, Fate::Deleted { by });
                }
                EntryKind::OpaqueWhiteout => {
                    changes.deleted += 1;
                    if path.is_empty() {
                        self.notes.push(MergeNote::OpaqueRoot { layer: j });
                    }
                    let gone = self.subtree_keys(path);
                    self.remove(&gone, Fate::Hidden { by });
                }
                _ => {}
            }
        }
        // 2. Then the layer's own entries, in archive order.
        // The parent whose ancestors the last entry checked: after that check none of them is a
        // lower layer's non-directory, and a sibling cannot make one, so the next entry in the
        // same directory (the common case in a tar) has nothing to check.
        let mut checked_parent: Option<&'a [u8]> = None;
        for (i, r) in records.iter().enumerate() {
            let (kind, path): (EntryKind, &'a [u8]) = (r.kind, &r.path);
            if kind.is_whiteout() {
                continue;
            }
            // A parent that is not a directory any more is replaced by the implied directory.
            let parent = crate::path::parent(path);
            let mut ancestor: &'a [u8] = if self.skip_siblings && checked_parent == Some(parent) {
                b""
            } else {
                path
            };
            checked_parent = Some(parent);
            while !ancestor.is_empty() {
                ancestor = crate::path::parent(ancestor);
                if let Some(at) = self.get(ancestor) {
                    let above = self.kind(at);
                    if above != EntryKind::Dir && at.0 != by {
                        if above == EntryKind::Symlink {
                            self.notes.push(MergeNote::ThroughSymlink {
                                layer: j,
                                path: path.into(),
                                symlink: ancestor.into(),
                            });
                        }
                        self.remove(&[ancestor], Fate::Overwritten { by });
                    }
                }
            }
            if kind == EntryKind::Hardlink {
                if let Some(target) = r.link_target() {
                    match self.get(target) {
                        Some(at) if self.kind(at) == EntryKind::Dir => {
                            self.notes.push(MergeNote::HardlinkToDirectory {
                                layer: j,
                                path: path.into(),
                                target: target.into(),
                            });
                        }
                        // A link to a link shares the first one's content.
                        Some(at) => {
                            let root = if self.kind(at) == EntryKind::Hardlink {
                                self.roots.get(&at).copied().flatten()
                            } else {
                                Some(at)
                            };
                            self.roots.insert((by, narrow(i)), root);
                        }
                        None => self.notes.push(MergeNote::HardlinkTargetMissing {
                            layer: j,
                            path: path.into(),
                            target: target.into(),
                        }),
                    }
                }
            }
            // A non-directory replaces the directory at its path, and with it everything
            // below, also when that directory was only implied by its children (`a/b`, then
            // a file `a`, in this layer or across layers).
            if kind != EntryKind::Dir {
                let gone = self.subtree_keys(path);
                self.remove(&gone, Fate::Deleted { by });
            }
            // `replace`, not `insert`: the key is the record, and this layer's record is the new
            // one; the one it replaces is overwritten.
            match self.merged.replace(Present(r)).map(Present::at) {
                Some(at) => {
                    changes.modified += 1;
                    self.fates[at.0 as usize][at.1 as usize] = Fate::Overwritten { by };
                }
                None => changes.added += 1,
            }
        }
        changes
    }

    fn remove(&mut self, keys: &[&[u8]], fate: Fate) {
        for key in keys {
            if let Some((l, p)) = self.merged.take(*key).map(Present::at) {
                self.fates[l as usize][p as usize] = fate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The merge that skips the ancestor check of an entry in its predecessor's directory gives
    /// the same fates, link roots, changes and notes as checking every entry, on random layers
    /// of files, directories, symlinks, hardlinks and whiteouts over a few names.
    #[test]
    fn skipping_siblings_ancestor_checks_changes_nothing() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..20_000 {
            let mut layers = Vec::new();
            for _ in 0..=next(4) {
                let mut records = Vec::new();
                for _ in 0..=next(10) {
                    let depth = 1 + next(3);
                    let path: Vec<&str> = (0..depth)
                        .map(|_| ["a", "b", "c"][next(3) as usize])
                        .collect();
                    let path = path.join("/");
                    let kind = match next(8) {
                        0 | 1 => EntryKind::Dir,
                        2 => EntryKind::Symlink,
                        3 => EntryKind::Hardlink,
                        4 => EntryKind::Whiteout,
                        5 => EntryKind::OpaqueWhiteout,
                        _ => EntryKind::File,
                    };
                    let mut r = rec(&path, kind);
                    if kind == EntryKind::Hardlink {
                        let target = ["a", "a/b", "b/c", "c"][next(4) as usize];
                        r.rare = Some(Box::new(Rare {
                            link_target: Some(target.as_bytes().into()),
                            ..Rare::default()
                        }));
                    }
                    records.push(r);
                }
                layers.push(records);
            }
            let fast = merge_with(layers.clone(), true);
            let full = merge_with(layers, false);
            let view = |index: &FileIndex| {
                index
                    .layers
                    .iter()
                    .flatten()
                    .map(|r| (r.fate, r.link_root()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(view(&fast), view(&full));
            assert_eq!(fast.changes, full.changes);
            assert_eq!(fast.notes, full.notes);
        }
    }

    fn rec(path: &str, kind: EntryKind) -> FileRecord {
        FileRecord {
            path: path.as_bytes().into(),
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            rare: None,
            fate: Fate::Present,
            layer: 0,
            position: 0,
            mode: 0o644,
            kind,
        }
    }

    #[test]
    fn file_record_stays_small() {
        assert!(std::mem::size_of::<FileRecord>() <= 80);
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
