//! dive's efficiency score and "wasted bytes", computed the way dive computes them
//! (wagoodman/dive, `dive/filetree/efficiency.go` `Efficiency` and `dive/image/analysis.go`
//! `Analyze`), so the numbers compare with what users already know:
//!
//! - Each layer is a tree of its tar entries; only its **leaves** are visited (a directory with
//!   entries below it in the same layer is not), in depth-first, child-first, byte-sorted order.
//! - Every visit adds a size to the path's tally: the entry's tar size, or for a whiteout
//!   (`.wh.<name>`), when the path is a directory in the layers below stacked together, the sum of
//!   the sizes of that directory's whole subtree there; a whiteout of a file weighs 0.
//! - `efficiency = Σ min(size seen at path) / Σ Σ sizes at path` over all paths (1 when nothing
//!   has a size); `wasted = Σ Σ sizes at path` over the paths visited more than once, so the kept
//!   version counts too.
//! - dive's stacked tree applies `.wh.` whiteouts but ignores opaque whiteouts (`.wh..wh..opq`
//!   names are never added), and a directory entry created only as a parent of another entry
//!   carries no metadata (not a directory, size 0), also when stacked over a real one.
//! - A whiteout of a path the stacked layers do not have is an error in dive's visitor, which
//!   stops visiting the rest of that layer; this is reproduced. For layer 0 the "stacked" tree is
//!   layer 0's own tree (`StackTreeRange(trees, 0, -1)` stacks nothing onto its copy).
//!
//! Facts taken from dive's code; the code here is our own.
//!
//! Memory: an image can hold hundreds of thousands of entries, so nothing here keeps a map of
//! every path. Each layer's leaves come from its records sorted by path; the only stacked state
//! kept across layers is the part under some whiteout's path (all a whiteout's weight reads);
//! every visit is 16 bytes, and visits are summed per path by sorting them at the end.

use std::collections::{BTreeMap, BTreeSet};

use std::ops::Bound;
use xxhash_rust::xxh3::xxh3_64;

use rharden_image::{EntryKind, FileIndex, FileRecord};

/// dive's numbers for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiveScore {
    pub efficiency: f64,
    pub wasted_bytes: u64,
    /// Σ of every visited size (dive's denominator).
    pub discovered_bytes: u64,
    /// Σ of the smallest size seen per path (dive's numerator).
    pub minimum_bytes: u64,
}

/// One node of a layer's tree as dive builds it.
#[derive(Debug, Clone, Copy)]
struct Node {
    is_dir: bool,
    size: u64,
}

/// The proper ancestors of a layer path (`a/b/c` → `a/b`, `a`).
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .rev()
        .filter(|(_, &b)| b == b'/')
        .map(move |(i, _)| &path[..i])
        .filter(|p| !p.is_empty())
}

const IMPLICIT: Node = Node {
    is_dir: false,
    size: 0,
};

/// The key that sorts leaves in dive's visiting order: path components compared byte-wise
/// (NUL sorts below every name byte), a whiteout under its `.wh.` name. Produced lazily, so
/// sorting a layer's leaves copies no path.
fn visit_key(path: &[u8], whiteout: bool) -> impl Iterator<Item = u8> + '_ {
    let (cut, marker): (usize, &[u8]) = if whiteout {
        let cut = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        (cut, b".wh.")
    } else {
        (path.len(), b"")
    };
    path[..cut]
        .iter()
        .chain(marker)
        .chain(&path[cut..])
        .map(|&b| if b == b'/' { 0 } else { b })
}

/// The entries strictly below `dir` in a path-ordered map.
fn below<'m, 'a>(
    map: &'m BTreeMap<&'a [u8], Node>,
    dir: &[u8],
) -> std::collections::btree_map::Range<'m, &'a [u8], Node> {
    let mut lo = dir.to_vec();
    lo.push(b'/');
    let mut hi = dir.to_vec();
    hi.push(b'/' + 1);
    map.range::<[u8], _>((Bound::Included(&lo[..]), Bound::Excluded(&hi[..])))
}

/// dive's weight of a whiteout of `path` over the stacked tree: the subtree's sizes when the
/// path is a directory there, 0 when it is anything else, `None` when it is missing.
fn whiteout_weight(stacked: &BTreeMap<&[u8], Node>, path: &[u8]) -> Option<u64> {
    let node = stacked.get(path)?;
    if !node.is_dir {
        return Some(0);
    }
    Some(
        below(stacked, path)
            .map(|(_, n)| n.size)
            .fold(node.size, u64::saturating_add),
    )
}

/// The paths of every whiteout: a whiteout's weight reads the stacked tree at its path and
/// below, so only that part of the tree is kept.
struct Regions<'a>(BTreeSet<&'a [u8]>);

impl<'a> Regions<'a> {
    fn of(files: &'a FileIndex) -> Self {
        Self(
            files
                .layers
                .iter()
                .flatten()
                .filter(|r| r.kind == EntryKind::Whiteout && !r.path.is_empty())
                .map(|r| &*r.path)
                .collect(),
        )
    }

    /// Whether `path` is a whiteout's path or below one.
    fn contain(&self, path: &[u8]) -> bool {
        !self.0.is_empty() && (self.0.contains(path) || ancestors(path).any(|a| self.0.contains(a)))
    }
}

/// The part of a layer's tree (as dive builds it) inside `regions`: explicit entries (the last
/// at a path gives its metadata, as dive's AddPath overwrites), then the implicit parents dive
/// creates, which carry no metadata.
fn layer_nodes<'a>(records: &'a [FileRecord], regions: &Regions<'_>) -> BTreeMap<&'a [u8], Node> {
    let mut nodes: BTreeMap<&[u8], Node> = BTreeMap::new();
    if regions.0.is_empty() {
        return nodes;
    }
    let records = || records.iter().filter(|r| !r.path.is_empty());
    for r in records() {
        if !r.kind.is_whiteout() && regions.contain(&r.path) {
            let node = Node {
                is_dir: r.kind == EntryKind::Dir,
                size: r.size,
            };
            nodes.insert(&r.path, node);
        }
    }
    for r in records() {
        // dive never adds a `.wh..wh..opq` node, only the directories above it.
        if r.kind == EntryKind::OpaqueWhiteout && regions.contain(&r.path) {
            nodes.entry(&r.path).or_insert(IMPLICIT);
        }
        for a in ancestors(&r.path).filter(|a| regions.contain(a)) {
            nodes.entry(a).or_insert(IMPLICIT);
        }
    }
    nodes
}

/// Stacks one layer's nodes onto `stacked` the way dive's `FileTree.Stack` does: whiteouts
/// remove the path and its subtree, every other node (implicit parents too) is set.
fn stack<'a>(
    stacked: &mut BTreeMap<&'a [u8], Node>,
    records: &'a [FileRecord],
    nodes: BTreeMap<&'a [u8], Node>,
) {
    for r in records {
        if r.kind == EntryKind::Whiteout && !r.path.is_empty() {
            let gone: Vec<&[u8]> = below(stacked, &r.path).map(|(k, _)| *k).collect();
            for k in gone {
                stacked.remove(k);
            }
            stacked.remove(&*r.path);
        }
    }
    stacked.extend(nodes);
}

/// One leaf of a layer's tree: the record at its path (the last explicit one, or the opaque
/// whiteout that implies it, or the whiteout), and its size (`None` for a whiteout: weighed
/// against the stacked tree when visited).
struct Leaf {
    position: u32,
    size: Option<u64>,
}

/// The leaves of a layer's tree, in dive's visiting order. A node is a leaf when no entry of
/// the layer lies below it; implicit parents always have one, so the leaves are the explicit
/// entries, the directories made opaque, and the whiteouts.
fn leaves(records: &[FileRecord]) -> Vec<Leaf> {
    let mut sorted: Vec<u32> = (0..records.len() as u32)
        .filter(|&i| !records[i as usize].path.is_empty())
        .collect();
    sorted.sort_by(|&a, &b| {
        records[a as usize]
            .path
            .cmp(&records[b as usize].path)
            .then(a.cmp(&b))
    });
    let path = |i: u32| -> &[u8] { &records[i as usize].path };
    // Whether some entry lies strictly below `dir`: the first path from `dir/` on starts with
    // it. Such paths sort after `dir`'s own, at `from` on. (`below` is reused: one allocation.)
    let mut below = Vec::new();
    let mut has_child = |dir: &[u8], from: usize| {
        below.clear();
        below.extend_from_slice(dir);
        below.push(b'/');
        let rest = &sorted[from..];
        let at = rest.partition_point(|&i| path(i) < &below[..]);
        rest.get(at).is_some_and(|&i| path(i).starts_with(&below))
    };
    let mut leaves = Vec::new();
    let mut k = 0;
    while k < sorted.len() {
        // The records at one path, in archive order.
        let start = k;
        while k < sorted.len() && path(sorted[k]) == path(sorted[start]) {
            k += 1;
        }
        let same = &sorted[start..k];
        for &i in same {
            if records[i as usize].kind == EntryKind::Whiteout {
                leaves.push(Leaf {
                    position: i,
                    size: None,
                });
            }
        }
        let explicit = same
            .iter()
            .rev()
            .find(|&&i| !records[i as usize].kind.is_whiteout())
            .map(|&i| (i, records[i as usize].size));
        let opaque = same
            .iter()
            .find(|&&i| records[i as usize].kind == EntryKind::OpaqueWhiteout)
            .map(|&i| (i, IMPLICIT.size));
        if let Some((position, size)) = explicit.or(opaque) {
            if !has_child(path(position), k) {
                leaves.push(Leaf {
                    position,
                    size: Some(size),
                });
            }
        }
    }
    // The order matters only where a whiteout can end the visit (see `score`).
    if leaves.iter().any(|l| l.size.is_none()) {
        leaves.sort_by(|a, b| {
            let (pa, pb) = (path(a.position), path(b.position));
            visit_key(pa, a.size.is_none())
                .cmp(visit_key(pb, b.size.is_none()))
                .then_with(|| (pa, a.size).cmp(&(pb, b.size)))
        });
    }
    leaves
}

/// One visit of a path: the record that was visited (layer, position) and the size it added.
struct Visit {
    layer: u32,
    position: u32,
    size: u64,
    /// A hash of the visited path: visits sort by it, and by path only where two share it.
    key: u64,
}

/// dive's efficiency and wasted bytes for the layers of `files` (metadata only: no content).
pub fn score(files: &FileIndex) -> DiveScore {
    let regions = Regions::of(files);
    let mut visits: Vec<Visit> = Vec::with_capacity(files.layers.iter().map(Vec::len).sum());
    let mut stacked: BTreeMap<&[u8], Node> = BTreeMap::new();
    for (j, records) in files.layers.iter().enumerate() {
        let nodes = layer_nodes(records, &regions);
        // StackTreeRange(trees, 0, -1): layer 0's whiteouts are weighed on its own tree.
        let lookup = if j == 0 { &nodes } else { &stacked };
        for leaf in leaves(records) {
            let size = match leaf.size {
                Some(s) => s,
                None => match whiteout_weight(lookup, &records[leaf.position as usize].path) {
                    Some(w) => w,
                    // dive's visitor fails here and the rest of the layer is not visited.
                    None => break,
                },
            };
            visits.push(Visit {
                layer: j as u32,
                position: leaf.position,
                size,
                key: xxh3_64(&records[leaf.position as usize].path),
            });
        }
        stack(&mut stacked, records, nodes);
    }
    // The visits of one path side by side. Sorted by the paths' hashes, and by the paths only
    // where hashes tie: sorting by path compared long shared prefixes (half of this function's
    // time), and a hash map of the paths held 10 MiB more on a 40-layer image of 218 k files.
    let path = |v: &Visit| -> &[u8] { &files.layers[v.layer as usize][v.position as usize].path };
    visits.sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| path(a).cmp(path(b))));
    let (mut discovered, mut minimum, mut wasted) = (0u64, 0u64, 0u64);
    for same in visits.chunk_by(|a, b| a.key == b.key && path(a) == path(b)) {
        let sum = same.iter().map(|v| v.size).fold(0, u64::saturating_add);
        let min = same.iter().map(|v| v.size).min().unwrap_or(0);
        discovered = discovered.saturating_add(sum);
        minimum = minimum.saturating_add(min);
        if same.len() >= 2 {
            wasted = wasted.saturating_add(sum);
        }
    }
    let efficiency = if discovered == 0 {
        1.0
    } else {
        minimum as f64 / discovered as f64
    };
    DiveScore {
        efficiency,
        wasted_bytes: wasted,
        discovered_bytes: discovered,
        minimum_bytes: minimum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_sort_in_dives_visiting_order() {
        // Leaves only (a directory with children is never visited), byte-wise per component, a
        // whiteout under its `.wh.` name: `.wh.c` first, `a/b` before `a-c` (component `a` < `a-c`).
        let key = |p: &[u8], w| visit_key(p, w).collect::<Vec<u8>>();
        let mut keys = vec![
            key(b"a-c", false),
            key(b"a/b", false),
            key(b"c", true),
            key(b"b", false),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                b".wh.c".to_vec(),
                b"a\0b".to_vec(),
                b"a-c".to_vec(),
                b"b".to_vec()
            ]
        );
        assert_eq!(key(b"d/e", true), b"d\0.wh.e");
    }

    #[test]
    fn ancestors_of_a_path() {
        let got: Vec<&[u8]> = ancestors(b"a/b/c").collect();
        assert_eq!(got, [&b"a/b"[..], &b"a"[..]]);
        assert_eq!(ancestors(b"a").count(), 0);
    }
}
