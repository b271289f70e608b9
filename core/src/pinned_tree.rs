//! A persistent B+tree of pinned ranges, keyed by start address: an update returns a
//! new root and shares every node it did not touch, so it copies O(log n) nodes, and a
//! reader holding an old root keeps a whole, consistent tree. `PinnedRegistry` publishes
//! roots atomically; this module knows nothing of threads.
//!
//! Inner nodes hold `(smallest start below, child)` pairs; leaves hold entries sorted by
//! start. Nodes hold at most [`CAP`] items; a node emptied by a removal disappears, and a
//! leaf left small is merged into its neighbour when both fit in one.

use std::sync::Arc;

use crate::pinned_range::{PinOrigin, PinnedRange};

/// Items per node: 32 (4 in unit tests, so that small tests build deep trees).
pub const CAP: usize = if cfg!(test) { 4 } else { 32 };

/// One pinned range with its generation, in 24 bytes: the origin rides in the low bits of
/// the generation word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub start: usize,
    pub end: usize,
    meta: u64,
}

impl Entry {
    pub fn new(range: PinnedRange, generation: u64) -> Entry {
        let origin = match range.origin {
            PinOrigin::MallocHost => 0,
            PinOrigin::HostAlloc => 1,
            PinOrigin::Registered => 2,
        };
        Entry { start: range.start, end: range.end, meta: generation << 2 | origin }
    }

    pub fn generation(&self) -> u64 {
        self.meta >> 2
    }

    pub fn range(&self) -> PinnedRange {
        let origin = match self.meta & 3 {
            0 => PinOrigin::MallocHost,
            1 => PinOrigin::HostAlloc,
            _ => PinOrigin::Registered,
        };
        PinnedRange { start: self.start, end: self.end, origin }
    }
}

/// A node. The root of an empty tree is an empty leaf.
#[derive(Debug)]
pub enum Node {
    Leaf(Vec<Entry>),
    Inner(Vec<(usize, Arc<Node>)>),
}

impl Node {
    pub fn empty() -> Arc<Node> {
        Arc::new(Node::Leaf(Vec::new()))
    }

    fn min_key(&self) -> usize {
        match self {
            Node::Leaf(v) => v.first().map(|e| e.start).unwrap_or(0),
            Node::Inner(c) => c.first().map(|(k, _)| *k).unwrap_or(0),
        }
    }

    fn first_entry(&self) -> Option<Entry> {
        match self {
            Node::Leaf(v) => v.first().copied(),
            Node::Inner(c) => c.first().and_then(|(_, n)| n.first_entry()),
        }
    }
}

/// The child of an inner node whose keys cover `k` (the first child for a `k` below all).
fn child_for(c: &[(usize, Arc<Node>)], k: usize) -> usize {
    c.partition_point(|(key, _)| *key <= k).saturating_sub(1)
}

/// The entry with the greatest start `<= k`.
pub fn floor(node: &Node, k: usize) -> Option<Entry> {
    match node {
        Node::Leaf(v) => {
            let i = v.partition_point(|e| e.start <= k);
            (i > 0).then(|| v[i - 1])
        }
        Node::Inner(c) => {
            let i = c.partition_point(|(key, _)| *key <= k);
            if i == 0 { None } else { floor(&c[i - 1].1, k) }
        }
    }
}

/// The entry with the greatest start `<= k`, and the smallest start `> k` (`usize::MAX`
/// if none), in one descent: at each inner level the next child's key (the smallest start
/// in it) bounds what follows, and the leaf tightens it.
pub fn floor_and_next(node: &Node, k: usize) -> (Option<Entry>, usize) {
    let mut node = node;
    let mut next = usize::MAX;
    loop {
        match node {
            Node::Leaf(v) => {
                let i = v.partition_point(|e| e.start <= k);
                if let Some(e) = v.get(i) {
                    next = e.start;
                }
                return ((i > 0).then(|| v[i - 1]), next);
            }
            Node::Inner(c) => {
                let i = c.partition_point(|(key, _)| *key <= k);
                if let Some((key, _)) = c.get(i) {
                    next = *key;
                }
                if i == 0 {
                    return (None, next);
                }
                node = &c[i - 1].1;
            }
        }
    }
}

/// The entry with the smallest start `> k`.
pub fn higher(node: &Node, k: usize) -> Option<Entry> {
    match node {
        Node::Leaf(v) => v.get(v.partition_point(|e| e.start <= k)).copied(),
        Node::Inner(c) => {
            let i = c.partition_point(|(key, _)| *key <= k);
            if i > 0
                && let Some(e) = higher(&c[i - 1].1, k)
            {
                return Some(e);
            }
            c.get(i).and_then(|(_, n)| n.first_entry())
        }
    }
}

/// The entry that starts exactly at `k`.
pub fn get(node: &Node, k: usize) -> Option<Entry> {
    floor(node, k).filter(|e| e.start == k)
}

/// Calls `f` on every entry, in order.
pub fn for_each(node: &Node, f: &mut impl FnMut(Entry)) {
    match node {
        Node::Leaf(v) => v.iter().for_each(|e| f(*e)),
        Node::Inner(c) => c.iter().for_each(|(_, n)| for_each(n, f)),
    }
}

/// Splits a full node's items in two halves: `(left, right)`.
fn halves<T: Clone>(mut items: Vec<T>) -> (Vec<T>, Vec<T>) {
    let right = items.split_off(items.len() / 2);
    (items, right)
}

fn insert_into(node: &Node, e: Entry) -> (Arc<Node>, Option<(usize, Arc<Node>)>) {
    match node {
        Node::Leaf(v) => {
            let mut v2 = Vec::with_capacity(v.len() + 1);
            let i = v.partition_point(|x| x.start < e.start);
            v2.extend_from_slice(&v[..i]);
            v2.push(e);
            v2.extend_from_slice(&v[i..]);
            if v2.len() <= CAP {
                return (Arc::new(Node::Leaf(v2)), None);
            }
            let (l, r) = halves(v2);
            let key = r[0].start;
            (Arc::new(Node::Leaf(l)), Some((key, Arc::new(Node::Leaf(r)))))
        }
        Node::Inner(c) => {
            let i = child_for(c, e.start);
            let (child, split) = insert_into(&c[i].1, e);
            let mut c2 = Vec::with_capacity(c.len() + 1);
            c2.extend_from_slice(&c[..i]);
            c2.push((c[i].0.min(e.start), child));
            c2.extend(split);
            c2.extend_from_slice(&c[i + 1..]);
            if c2.len() <= CAP {
                return (Arc::new(Node::Inner(c2)), None);
            }
            let (l, r) = halves(c2);
            let key = r[0].0;
            (Arc::new(Node::Inner(l)), Some((key, Arc::new(Node::Inner(r)))))
        }
    }
}

/// A new root with `e` added. No entry may start where `e` does.
pub fn insert(root: &Arc<Node>, e: Entry) -> Arc<Node> {
    let (node, split) = insert_into(root, e);
    match split {
        None => node,
        Some(right) => Arc::new(Node::Inner(vec![(node.min_key(), node), right])),
    }
}

/// `None`: `k` is not there. `Some((None, e))`: the node is now empty.
fn remove_from(node: &Node, k: usize) -> Option<(Option<Arc<Node>>, Entry)> {
    match node {
        Node::Leaf(v) => {
            let i = v.binary_search_by_key(&k, |e| e.start).ok()?;
            let e = v[i];
            if v.len() == 1 {
                return Some((None, e));
            }
            let mut v2 = Vec::with_capacity(v.len() - 1);
            v2.extend_from_slice(&v[..i]);
            v2.extend_from_slice(&v[i + 1..]);
            Some((Some(Arc::new(Node::Leaf(v2))), e))
        }
        Node::Inner(c) => {
            if c.first().is_none_or(|(key, _)| k < *key) {
                return None;
            }
            let i = child_for(c, k);
            let (child, e) = remove_from(&c[i].1, k)?;
            let mut c2: Vec<(usize, Arc<Node>)> = Vec::with_capacity(c.len());
            c2.extend_from_slice(&c[..i]);
            if let Some(n) = child {
                c2.push((n.min_key(), n));
            }
            c2.extend_from_slice(&c[i + 1..]);
            merge_small_leaf(&mut c2, i);
            if c2.is_empty() { Some((None, e)) } else { Some((Some(Arc::new(Node::Inner(c2))), e)) }
        }
    }
}

/// Keeps leaves from thinning out under removals: a leaf at `i` (or the one that took
/// its place) below a quarter full is merged with a neighbour when the two fit in one.
fn merge_small_leaf(c: &mut Vec<(usize, Arc<Node>)>, i: usize) {
    let i = i.min(c.len().saturating_sub(1));
    let small = |n: &Node| matches!(n, Node::Leaf(v) if v.len() < CAP / 4 + 1);
    if c.len() < 2 || !small(&c[i].1) {
        return;
    }
    let (a, b) = if i + 1 < c.len() { (i, i + 1) } else { (i - 1, i) };
    if let (Node::Leaf(x), Node::Leaf(y)) = (&*c[a].1, &*c[b].1)
        && x.len() + y.len() <= CAP
    {
        let merged: Vec<Entry> = x.iter().chain(y.iter()).copied().collect();
        c[a] = (merged[0].start, Arc::new(Node::Leaf(merged)));
        c.remove(b);
    }
}

/// A new root without the entry that starts at `k`, and that entry; `None` if no
/// entry starts there.
pub fn remove(root: &Arc<Node>, k: usize) -> Option<(Arc<Node>, Entry)> {
    let (node, e) = remove_from(root, k)?;
    let mut node = node.unwrap_or_else(Node::empty);
    // An inner root with one child is that child.
    while let Node::Inner(c) = &*node
        && c.len() == 1
    {
        let only = c[0].1.clone();
        node = only;
    }
    Some((node, e))
}

/// The tree's height and node count (for tests and memory figures).
pub fn shape(node: &Node) -> (usize, usize) {
    match node {
        Node::Leaf(_) => (1, 1),
        Node::Inner(c) => {
            let mut nodes = 1;
            let mut height = 0;
            for (_, n) in c {
                let (h, k) = shape(n);
                height = height.max(h);
                nodes += k;
            }
            (height + 1, nodes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(start: usize) -> Entry {
        Entry::new(PinnedRange::new(start, 8, PinOrigin::Registered).unwrap(), start as u64)
    }

    fn starts(root: &Node) -> Vec<usize> {
        let mut v = Vec::new();
        for_each(root, &mut |x| v.push(x.start));
        v
    }

    #[test]
    fn entries_pack_range_origin_and_generation() {
        let r = PinnedRange::new(0x1000, 0x2000, PinOrigin::HostAlloc).unwrap();
        let x = Entry::new(r, 1 << 40);
        assert_eq!((x.range(), x.generation()), (r, 1 << 40));
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[test]
    fn a_deep_tree_answers_floor_and_higher_and_shares_untouched_nodes() {
        let mut root = Node::empty();
        for k in (0..200).map(|i| i * 16) {
            root = insert(&root, e(k));
        }
        let (height, _) = shape(&root);
        assert!(height >= 4, "height {height}");
        assert_eq!(starts(&root), (0..200).map(|i| i * 16).collect::<Vec<_>>());
        assert_eq!(floor(&root, 17).map(|x| x.start), Some(16));
        assert_eq!(floor(&root, 16).map(|x| x.start), Some(16));
        assert_eq!(higher(&root, 16).map(|x| x.start), Some(32));
        assert_eq!(higher(&root, 3184).map(|x| x.start), None);
        assert_eq!(floor(&root, 0).map(|x| x.start), Some(0));
        for k in [0, 5, 16, 17, 1599, 1600, 3184, 3185, usize::MAX] {
            let (f, n) = floor_and_next(&root, k);
            assert_eq!(f, floor(&root, k), "{k}");
            assert_eq!(n, higher(&root, k).map(|x| x.start).unwrap_or(usize::MAX), "{k}");
        }
        let old = root.clone();
        let (next, gone) = remove(&root, 1600).unwrap();
        assert_eq!(gone.start, 1600);
        assert!(get(&old, 1600).is_some(), "the old root is untouched");
        assert!(get(&next, 1600).is_none());
        assert!(remove(&next, 1601).is_none());
    }

    #[test]
    fn removing_everything_leaves_an_empty_leaf() {
        let mut root = Node::empty();
        for k in 0..50 {
            root = insert(&root, e(k * 8));
        }
        for k in 0..50 {
            root = remove(&root, k * 8).unwrap().0;
        }
        assert!(matches!(&*root, Node::Leaf(v) if v.is_empty()));
        assert_eq!(floor(&root, 100), None);
        assert_eq!(higher(&root, 0), None);
    }
}
