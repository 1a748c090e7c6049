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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

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

/// A layer's tree as dive builds it: its entries, the implicit parents dive creates for them,
/// its whiteouts, and which nodes have children (are not leaves).
struct LayerTree<'a> {
    /// Non-whiteout nodes by path (explicit and implicit).
    nodes: BTreeMap<&'a [u8], Node>,
    /// Paths deleted by `.wh.` entries.
    whiteouts: Vec<&'a [u8]>,
    /// Paths that have a child node in this layer.
    parents: BTreeSet<&'a [u8]>,
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

fn layer_tree(records: &[FileRecord]) -> LayerTree<'_> {
    let mut nodes: BTreeMap<&[u8], Node> = BTreeMap::new();
    let mut whiteouts = Vec::new();
    let mut parents = BTreeSet::new();
    // Explicit entries: the last entry at a path gives its metadata (dive's AddPath overwrites).
    for r in records.iter().filter(|r| !r.path.is_empty()) {
        match r.kind {
            EntryKind::Whiteout => whiteouts.push(&*r.path),
            // dive never adds a `.wh..wh..opq` node, only the directories above it.
            EntryKind::OpaqueWhiteout => {}
            kind => {
                nodes.insert(
                    &*r.path,
                    Node {
                        is_dir: kind == EntryKind::Dir,
                        size: r.size,
                    },
                );
            }
        }
    }
    for r in records.iter().filter(|r| !r.path.is_empty()) {
        if r.kind == EntryKind::OpaqueWhiteout {
            nodes.entry(&r.path).or_insert(IMPLICIT);
        }
        for a in ancestors(&r.path) {
            parents.insert(a);
            nodes.entry(a).or_insert(IMPLICIT);
        }
    }
    LayerTree {
        nodes,
        whiteouts,
        parents,
    }
}

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

/// Stacks one layer's tree onto `stacked` the way dive's `FileTree.Stack` does: whiteouts
/// remove the path and its subtree, every other node (implicit parents too) is set.
fn stack<'a>(stacked: &mut BTreeMap<&'a [u8], Node>, tree: &LayerTree<'a>, whiteouts: bool) {
    if whiteouts {
        for path in &tree.whiteouts {
            let gone: Vec<&[u8]> = below(stacked, path).map(|(k, _)| *k).collect();
            for k in gone {
                stacked.remove(k);
            }
            stacked.remove(path);
        }
    }
    for (path, node) in &tree.nodes {
        stacked.insert(path, *node);
    }
}

/// dive's efficiency and wasted bytes for the layers of `files` (metadata only: no content).
pub fn score(files: &FileIndex) -> DiveScore {
    // path -> (Σ sizes, min size, visits)
    let mut tally: HashMap<&[u8], (u64, u64, u32)> = HashMap::new();
    let mut stacked: BTreeMap<&[u8], Node> = BTreeMap::new();
    for (j, records) in files.layers.iter().enumerate() {
        let tree = layer_tree(records);
        let own;
        let lookup = if j == 0 {
            // StackTreeRange(trees, 0, -1): layer 0's own tree, nothing stacked.
            let mut tree0 = BTreeMap::new();
            stack(&mut tree0, &tree, false);
            own = tree0;
            &own
        } else {
            &stacked
        };
        let mut leaves: Vec<(&[u8], Option<u64>)> = tree
            .nodes
            .iter()
            .filter(|(p, _)| !tree.parents.contains(*p))
            .map(|(p, n)| (*p, Some(n.size)))
            .chain(tree.whiteouts.iter().map(|p| (*p, None)))
            .collect();
        leaves.sort_by(|a, b| {
            visit_key(a.0, a.1.is_none())
                .cmp(visit_key(b.0, b.1.is_none()))
                .then_with(|| a.cmp(b))
        });
        for (path, size) in leaves {
            let size = match size {
                Some(s) => s,
                None => match whiteout_weight(lookup, path) {
                    Some(w) => w,
                    // dive's visitor fails here and the rest of the layer is not visited.
                    None => break,
                },
            };
            let t = tally.entry(path).or_insert((0, size, 0));
            t.0 = t.0.saturating_add(size);
            t.1 = t.1.min(size);
            t.2 += 1;
        }
        stack(&mut stacked, &tree, true);
    }
    let (mut discovered, mut minimum, mut wasted) = (0u64, 0u64, 0u64);
    for (sum, min, visits) in tally.values() {
        discovered = discovered.saturating_add(*sum);
        minimum = minimum.saturating_add(*min);
        if *visits >= 2 {
            wasted = wasted.saturating_add(*sum);
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
