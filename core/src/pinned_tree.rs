//! A persistent B+tree of pinned ranges, keyed by start address: an update returns a
//! new root and shares every node it did not touch, so it copies O(log n) nodes, and a
//! reader holding an old root keeps a whole, consistent tree. `PinnedRegistry` publishes
//! roots atomically; this module knows nothing of threads.
//!
//! Inner nodes hold `(smallest start below, child)` pairs; leaves hold entries sorted by
//! start. Nodes hold at most [`CAP`] items; a node emptied by a removal disappears, and a
//! leaf left small is merged into its neighbour when both fit in one.
//!
//! Reads are the hot path (a random lookup among 100 000 ranges descends four levels, and
//! each level's node is usually out of the core's caches), so a node keeps its items in
//! fixed arrays inside itself: one allocation, its keys in four contiguous cache lines,
//! searched without branches. The first version kept them in a `Vec` beside the node: a
//! second pointer to follow at every level, and a branching binary search through eight
//! lines of pairs.

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
        Entry { start: range.start, end: range.end, meta: generation << 2 | range.origin.bits() }
    }

    pub fn generation(&self) -> u64 {
        self.meta >> 2
    }

    pub fn range(&self) -> PinnedRange {
        PinnedRange { start: self.start, end: self.end, origin: PinOrigin::from_bits(self.meta) }
    }
}

/// A node. The root of an empty tree is an empty leaf.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "the items are inline on purpose (one allocation a node); inner nodes are about one in 30"
)]
pub enum Node {
    Leaf(Leaf),
    Inner(Inner),
}

/// Up to [`CAP`] entries sorted by start, field by field (the search reads `starts` only;
/// its places past `len` hold `usize::MAX`).
#[derive(Clone, Debug)]
pub struct Leaf {
    len: usize,
    starts: [usize; CAP],
    ends: [usize; CAP],
    metas: [u64; CAP],
}

/// Up to [`CAP`] children, each with the smallest start in it (`keys`; its places past
/// `len` hold `usize::MAX`).
#[derive(Clone, Debug)]
pub struct Inner {
    len: usize,
    keys: [usize; CAP],
    children: [Option<Arc<Node>>; CAP],
}

impl Leaf {
    fn of(entries: &[Entry]) -> Leaf {
        let mut l = Leaf { len: entries.len(), starts: [usize::MAX; CAP], ends: [0; CAP], metas: [0; CAP] };
        for (i, e) in entries.iter().enumerate() {
            (l.starts[i], l.ends[i], l.metas[i]) = (e.start, e.end, e.meta);
        }
        l
    }

    fn entry(&self, i: usize) -> Entry {
        Entry { start: self.starts[i], end: self.ends[i], meta: self.metas[i] }
    }

    /// Puts `e` at place `i`, after moving the later entries up; the leaf must not be full.
    fn insert_at(&mut self, i: usize, e: Entry) {
        self.starts.copy_within(i..self.len, i + 1);
        self.ends.copy_within(i..self.len, i + 1);
        self.metas.copy_within(i..self.len, i + 1);
        (self.starts[i], self.ends[i], self.metas[i]) = (e.start, e.end, e.meta);
        self.len += 1;
    }

    /// Takes out the entry at place `i`, moving the later ones down.
    fn remove_at(&mut self, i: usize) {
        self.starts.copy_within(i + 1..self.len, i);
        self.ends.copy_within(i + 1..self.len, i);
        self.metas.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.starts[self.len] = usize::MAX;
    }
}

impl Inner {
    /// An inner node of `children` (at most [`CAP`] of them, in key order), each with
    /// the smallest start in it.
    fn of(children: impl ExactSizeIterator<Item = (usize, Option<Arc<Node>>)>) -> Inner {
        let mut n = Inner { len: children.len(), keys: [usize::MAX; CAP], children: [const { None }; CAP] };
        for (i, (key, child)) in children.enumerate() {
            (n.keys[i], n.children[i]) = (key, child);
        }
        n
    }

    /// Puts `child` at place `i`, after moving the later ones up; the node must not be full.
    fn insert_child(&mut self, i: usize, key: usize, child: Arc<Node>) {
        for j in (i..self.len).rev() {
            self.keys[j + 1] = self.keys[j];
            self.children[j + 1] = self.children[j].take();
        }
        (self.keys[i], self.children[i]) = (key, Some(child));
        self.len += 1;
    }
    fn child(&self, i: usize) -> &Arc<Node> {
        self.children[i].as_ref().expect("an inner node's first `len` children are set")
    }
}

/// Keys per segment of a node's key array: the search first places `k` among the
/// segments' first keys, then counts within one segment.
const SEGMENT: usize = CAP / 4;

/// How many of the sorted `a[..len]` are `<= k`; the places past `len` hold `usize::MAX`.
/// Two rounds of comparisons that do not depend on each other within a round (the three
/// segment boundaries, then the keys of one segment), so a node costs about two load
/// latencies; a binary search chains five loads and comparisons, each waiting for the
/// last, and one that branches is mispredicted half the time on a random path.
#[inline(always)]
fn rank(a: &[usize; CAP], len: usize, k: usize) -> usize {
    if k == usize::MAX {
        return len; // the padding compares equal to it
    }
    let segment = usize::from(a[SEGMENT] <= k) + usize::from(a[2 * SEGMENT] <= k) + usize::from(a[3 * SEGMENT] <= k);
    let keys = &a[segment * SEGMENT..segment * SEGMENT + SEGMENT];
    // The keys are sorted, so those <= k are the mask's low bits: count them with one
    // bit scan (a sum of the comparisons is vectorised into a slow chain of inserts).
    let mut below = 0u32;
    for (j, &x) in keys.iter().enumerate() {
        below |= u32::from(x <= k) << j;
    }
    segment * SEGMENT + below.trailing_ones() as usize
}

impl Node {
    pub fn empty() -> Arc<Node> {
        Arc::new(Node::Leaf(Leaf::of(&[])))
    }

    fn min_key(&self) -> usize {
        match self {
            Node::Leaf(l) => {
                if l.len > 0 {
                    l.starts[0]
                } else {
                    0
                }
            }
            Node::Inner(n) => {
                if n.len > 0 {
                    n.keys[0]
                } else {
                    0
                }
            }
        }
    }

    fn first_entry(&self) -> Option<Entry> {
        match self {
            Node::Leaf(l) => (l.len > 0).then(|| l.entry(0)),
            Node::Inner(n) => (n.len > 0).then(|| n.child(0).first_entry()).flatten(),
        }
    }
}

/// Asks for every cache line of `node` at once, before the search reads any of them: the
/// lines then arrive together, in about the time of one miss, where the search alone
/// would wait for each of them in turn.
#[inline(always)]
fn prefetch(node: &Node) {
    #[cfg(target_arch = "x86_64")]
    {
        let at = (node as *const Node).cast::<i8>();
        for line in (0..size_of::<Node>()).step_by(64) {
            // SAFETY: SSE is part of x86-64 itself; a prefetch is a hint that reads no
            // value and never faults, whatever the address.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.wrapping_add(line)) };
        }
    }
}

/// A private copy of a node, to edit before it is published: `Arc::make_mut` clones a
/// shared node straight into a new allocation (the tree holds every node it is given, so
/// this always copies; an inner node's copy takes a new reference to each child).
fn copy_of(node: &Arc<Node>) -> Arc<Node> {
    let mut copy = node.clone();
    Arc::make_mut(&mut copy);
    copy
}

/// `node`'s leaf, in a copy made by [`copy_of`].
fn leaf_mut(node: &mut Arc<Node>) -> &mut Leaf {
    match Arc::get_mut(node) {
        Some(Node::Leaf(l)) => l,
        _ => unreachable!("a fresh copy of a leaf"),
    }
}

/// `node`'s inner node, in a copy made by [`copy_of`].
fn inner_mut(node: &mut Arc<Node>) -> &mut Inner {
    match Arc::get_mut(node) {
        Some(Node::Inner(n)) => n,
        _ => unreachable!("a fresh copy of an inner node"),
    }
}

/// The child of an inner node whose keys cover `k` (the first child for a `k` below all).
fn child_for(n: &Inner, k: usize) -> usize {
    rank(&n.keys, n.len, k).saturating_sub(1)
}

/// The entry with the greatest start `<= k`.
pub fn floor(node: &Node, k: usize) -> Option<Entry> {
    floor_and_next(node, k).0
}

/// The entry with the greatest start `<= k`, and the smallest start `> k` (`usize::MAX`
/// if none), in one descent: at each inner level the next child's key (the smallest start
/// in it) bounds what follows, and the leaf tightens it.
pub fn floor_and_next(node: &Node, k: usize) -> (Option<Entry>, usize) {
    let mut node = node;
    let mut next = usize::MAX;
    loop {
        match node {
            Node::Leaf(l) => {
                let i = rank(&l.starts, l.len, k);
                if i < l.len {
                    next = l.starts[i];
                }
                return ((i > 0).then(|| l.entry(i - 1)), next);
            }
            Node::Inner(n) => {
                let i = rank(&n.keys, n.len, k);
                if i < n.len {
                    next = n.keys[i];
                }
                if i == 0 {
                    return (None, next);
                }
                node = n.child(i - 1);
                prefetch(node);
            }
        }
    }
}

/// The entry with the smallest start `> k`.
pub fn higher(node: &Node, k: usize) -> Option<Entry> {
    match node {
        Node::Leaf(l) => {
            let i = rank(&l.starts, l.len, k);
            (i < l.len).then(|| l.entry(i))
        }
        Node::Inner(n) => {
            let i = rank(&n.keys, n.len, k);
            if i > 0
                && let Some(e) = higher(n.child(i - 1), k)
            {
                return Some(e);
            }
            (i < n.len).then(|| n.child(i).first_entry()).flatten()
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
        Node::Leaf(l) => (0..l.len).for_each(|i| f(l.entry(i))),
        Node::Inner(n) => (0..n.len).for_each(|i| for_each(n.child(i), f)),
    }
}

/// A leaf's entries on the stack, room for one more than a leaf holds: for the writes
/// that split or merge leaves (every other write edits a copy of the node in place, see
/// [`copy_of`]).
struct Entries {
    len: usize,
    items: [Entry; CAP + 1],
}

impl Entries {
    fn of_leaf(l: &Leaf) -> Entries {
        let mut v = Entries { len: l.len, items: [Entry { start: 0, end: 0, meta: 0 }; CAP + 1] };
        for i in 0..l.len {
            v.items[i] = l.entry(i);
        }
        v
    }

    fn insert(&mut self, i: usize, e: Entry) {
        self.items.copy_within(i..self.len, i + 1);
        self.items[i] = e;
        self.len += 1;
    }

    fn leaf(&self, range: std::ops::Range<usize>) -> Arc<Node> {
        Arc::new(Node::Leaf(Leaf::of(&self.items[range])))
    }

    /// This node, or (if over full) it and a right sibling with its key. `appended`: the
    /// new item went to the end (see [`split_at`]).
    fn into_nodes(self, appended: bool) -> (Arc<Node>, Option<(usize, Arc<Node>)>) {
        if self.len <= CAP {
            return (self.leaf(0..self.len), None);
        }
        let at = split_at(self.len, appended);
        (self.leaf(0..at), Some((self.items[at].start, self.leaf(at..self.len))))
    }
}

/// Where a node of `len` items splits: in halves, or, for an item appended at the end of
/// a leaf, all but the last on the left (ranges pinned in address order then fill their
/// leaves). Inner nodes always split in halves: a write copies its path, and copying an
/// inner node takes a reference to every child (and dropping the old one gives them
/// back), so full inner nodes would double that traffic.
fn split_at(len: usize, appended: bool) -> usize {
    if appended { len - 1 } else { len / 2 }
}

/// An inner node's children on the stack, for the writes that split inner nodes or
/// merge leaves (see [`Entries`]).
struct Children {
    len: usize,
    keys: [usize; CAP + 1],
    kids: [Option<Arc<Node>>; CAP + 1],
}

impl Children {
    /// The children of `n`, each with a new reference, but for `except` (left empty: the
    /// write replaces it).
    fn of_inner(n: &Inner, except: usize) -> Children {
        let mut c = Children { len: n.len, keys: [usize::MAX; CAP + 1], kids: [const { None }; CAP + 1] };
        for i in 0..n.len {
            c.keys[i] = n.keys[i];
            if i != except {
                c.kids[i] = n.children[i].clone();
            }
        }
        c
    }

    fn set(&mut self, i: usize, key: usize, child: Arc<Node>) {
        (self.keys[i], self.kids[i]) = (key, Some(child));
    }

    fn insert(&mut self, i: usize, key: usize, child: Arc<Node>) {
        for j in (i..self.len).rev() {
            self.keys[j + 1] = self.keys[j];
            self.kids[j + 1] = self.kids[j].take();
        }
        self.set(i, key, child);
        self.len += 1;
    }

    fn remove(&mut self, i: usize) {
        for j in i..self.len - 1 {
            self.keys[j] = self.keys[j + 1];
            self.kids[j] = self.kids[j + 1].take();
        }
        self.len -= 1;
        (self.keys[self.len], self.kids[self.len]) = (usize::MAX, None);
    }

    fn child(&self, i: usize) -> &Node {
        self.kids[i].as_deref().expect("the first `len` children are set")
    }

    fn inner(&mut self, range: std::ops::Range<usize>) -> Arc<Node> {
        Arc::new(Node::Inner(Inner::of(range.map(|i| (self.keys[i], self.kids[i].take())))))
    }

    fn into_nodes(mut self) -> (Arc<Node>, Option<(usize, Arc<Node>)>) {
        if self.len <= CAP {
            let len = self.len;
            return (self.inner(0..len), None);
        }
        let (at, len) = (split_at(self.len, false), self.len);
        let key = self.keys[at];
        let left = self.inner(0..at);
        (left, Some((key, self.inner(at..len))))
    }
}

fn insert_into(node: &Arc<Node>, e: Entry) -> (Arc<Node>, Option<(usize, Arc<Node>)>) {
    match &**node {
        Node::Leaf(l) => {
            let i = (0..l.len).position(|j| l.starts[j] >= e.start).unwrap_or(l.len);
            if l.len < CAP {
                let mut copy = copy_of(node);
                leaf_mut(&mut copy).insert_at(i, e);
                return (copy, None);
            }
            let mut v = Entries::of_leaf(l);
            v.insert(i, e);
            v.into_nodes(i == l.len)
        }
        Node::Inner(n) => {
            let i = child_for(n, e.start);
            let (child, split_off) = insert_into(n.child(i), e);
            let key = n.keys[i].min(e.start);
            if split_off.is_some() && n.len == CAP {
                let mut c = Children::of_inner(n, i);
                c.set(i, key, child);
                if let Some((right_key, right)) = split_off {
                    c.insert(i + 1, right_key, right);
                }
                return c.into_nodes();
            }
            let mut copy = copy_of(node);
            let m = inner_mut(&mut copy);
            (m.keys[i], m.children[i]) = (key, Some(child));
            if let Some((right_key, right)) = split_off {
                m.insert_child(i + 1, right_key, right);
            }
            (copy, None)
        }
    }
}

/// A tree holding `entries` (sorted by start, no two at one start), built in one pass:
/// full leaves in order, then each level above them. The nodes of a level are allocated
/// one after another, so they lie together in memory, where a tree grown by inserts has
/// them wherever the allocator had room at each write (the benchmarks measure what that
/// costs a random lookup); later writes work on it as on any other.
pub fn from_sorted(entries: &[Entry]) -> Arc<Node> {
    debug_assert!(entries.windows(2).all(|w| w[0].start < w[1].start), "sorted, distinct starts");
    if entries.is_empty() {
        return Node::empty();
    }
    let mut level: Vec<(usize, Arc<Node>)> =
        entries.chunks(CAP).map(|c| (c[0].start, Arc::new(Node::Leaf(Leaf::of(c))))).collect();
    while level.len() > 1 {
        level = level
            .chunks(CAP)
            .map(|c| {
                (c[0].0, Arc::new(Node::Inner(Inner::of(c.iter().map(|(key, child)| (*key, Some(child.clone())))))))
            })
            .collect();
    }
    level.pop().expect("one node is left").1
}

/// A new root with `e` added. No entry may start where `e` does.
pub fn insert(root: &Arc<Node>, e: Entry) -> Arc<Node> {
    let (node, split) = insert_into(root, e);
    match split {
        None => node,
        Some((key, right)) => {
            let mut c = Children { len: 2, keys: [usize::MAX; CAP + 1], kids: [const { None }; CAP + 1] };
            let min = node.min_key();
            c.set(0, min, node);
            c.set(1, key, right);
            c.into_nodes().0
        }
    }
}

/// `None`: `k` is not there. `Some((None, e))`: the node is now empty.
fn remove_from(node: &Arc<Node>, k: usize) -> Option<(Option<Arc<Node>>, Entry)> {
    match &**node {
        Node::Leaf(l) => {
            let i = (0..l.len).find(|&i| l.starts[i] == k)?;
            let e = l.entry(i);
            if l.len == 1 {
                return Some((None, e));
            }
            let mut copy = copy_of(node);
            leaf_mut(&mut copy).remove_at(i);
            Some((Some(copy), e))
        }
        Node::Inner(n) => {
            if n.len == 0 || k < n.keys[0] {
                return None;
            }
            let i = child_for(n, k);
            let (child, e) = remove_from(n.child(i), k)?;
            if let Some(new) = child.as_ref()
                && !is_small_leaf(new)
            {
                let key = new.min_key();
                let mut copy = copy_of(node);
                let m = inner_mut(&mut copy);
                (m.keys[i], m.children[i]) = (key, child);
                return Some((Some(copy), e));
            }
            let mut c = Children::of_inner(n, i);
            match child {
                Some(new) => c.set(i, new.min_key(), new),
                None => c.remove(i),
            }
            merge_small_leaf(&mut c, i);
            if c.len == 0 { Some((None, e)) } else { Some((Some(c.into_nodes().0), e)) }
        }
    }
}

/// A leaf below a quarter full, which a removal merges with a neighbour if they fit.
fn is_small_leaf(n: &Node) -> bool {
    matches!(n, Node::Leaf(l) if l.len < CAP / 4 + 1)
}

/// Keeps leaves from thinning out under removals: a leaf at `i` (or the one that took
/// its place) below a quarter full is merged with a neighbour when the two fit in one.
fn merge_small_leaf(c: &mut Children, i: usize) {
    let i = i.min(c.len.saturating_sub(1));
    if c.len < 2 || !is_small_leaf(c.child(i)) {
        return;
    }
    let (a, b) = if i + 1 < c.len { (i, i + 1) } else { (i - 1, i) };
    if let (Node::Leaf(x), Node::Leaf(y)) = (c.child(a), c.child(b))
        && x.len + y.len <= CAP
    {
        let mut v = Entries::of_leaf(x);
        for j in 0..y.len {
            v.items[x.len + j] = y.entry(j);
        }
        v.len = x.len + y.len;
        let merged = v.into_nodes(false).0;
        c.set(a, merged.min_key(), merged);
        c.remove(b);
    }
}

/// A new root without the entry that starts at `k`, and that entry; `None` if no
/// entry starts there.
pub fn remove(root: &Arc<Node>, k: usize) -> Option<(Arc<Node>, Entry)> {
    let (node, e) = remove_from(root, k)?;
    let mut node = node.unwrap_or_else(Node::empty);
    // An inner root with one child is that child.
    while let Node::Inner(n) = &*node
        && n.len == 1
    {
        let only = n.child(0).clone();
        node = only;
    }
    Some((node, e))
}

/// The tree's height and node count (for tests and memory figures).
pub fn shape(node: &Node) -> (usize, usize) {
    match node {
        Node::Leaf(_) => (1, 1),
        Node::Inner(n) => {
            let mut nodes = 1;
            let mut height = 0;
            for i in 0..n.len {
                let (h, k) = shape(n.child(i));
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

    /// The branch-free search counts what `partition_point` counts, for every length
    /// and every probe between, on and around the keys.
    #[test]
    fn rank_counts_the_keys_at_or_below() {
        for len in 0..=CAP {
            let mut a = [usize::MAX; CAP];
            for (i, slot) in a.iter_mut().take(len).enumerate() {
                *slot = 10 + 10 * i;
            }
            for k in 0..(20 + 10 * CAP) {
                assert_eq!(rank(&a, len, k), a[..len].partition_point(|&x| x <= k), "len {len} k {k}");
            }
            assert_eq!(rank(&a, len, usize::MAX), len);
        }
    }

    /// A tree built in one pass answers as one grown by inserts, and takes writes as it.
    #[test]
    fn a_tree_built_in_one_pass_answers_and_takes_writes_as_a_grown_one() {
        for n in [0usize, 1, CAP - 1, CAP, CAP + 1, CAP * CAP, CAP * CAP + 1, 200, 1000] {
            let entries: Vec<Entry> = (0..n).map(|i| e(i * 16)).collect();
            let built = from_sorted(&entries);
            let mut grown = Node::empty();
            for x in &entries {
                grown = insert(&grown, *x);
            }
            assert_eq!(starts(&built), starts(&grown), "n {n}");
            for k in (0..n * 16 + 40).step_by(5).chain([usize::MAX]) {
                assert_eq!(floor_and_next(&built, k), floor_and_next(&grown, k), "n {n} k {k}");
                assert_eq!(higher(&built, k), higher(&grown, k), "n {n} k {k}");
            }
            // Writes on it: remove every third, insert between, and compare again.
            let mut a = built;
            for i in (0..n).step_by(3) {
                a = remove(&a, i * 16).unwrap().0;
                grown = remove(&grown, i * 16).unwrap().0;
            }
            for i in (0..n).step_by(2) {
                a = insert(&a, e(i * 16 + 8));
                grown = insert(&grown, e(i * 16 + 8));
            }
            assert_eq!(starts(&a), starts(&grown), "n {n} after writes");
            for k in (0..n * 16 + 40).step_by(3) {
                assert_eq!(floor_and_next(&a, k), floor_and_next(&grown, k), "n {n} k {k} after writes");
            }
        }
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
        assert!(matches!(&*root, Node::Leaf(l) if l.len == 0));
        assert_eq!(floor(&root, 100), None);
        assert_eq!(higher(&root, 0), None);
    }
}
