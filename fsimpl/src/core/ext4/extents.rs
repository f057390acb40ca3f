//! Extent trees (fs/ext4/ext4_extents.h, fs/ext4/extents.c): the on-disk structures and
//! [`ExtentTree`], an in-memory mirror of one inode's tree that is changed the way the
//! kernel changes it — insert with merging into a neighbour, split of a full node at the
//! insertion point (`ext4_ext_split`), growth in depth when the root is full
//! (`ext4_ext_grow_indepth`), removal that frees emptied nodes (`ext4_ext_rm_leaf`,
//! `ext4_ext_rm_idx`), index keys kept equal to the first key below them
//! (`ext4_ext_correct_indexes`), and collapse back into the inode (`ext4_ext_try_to_merge_up`).
//!
//! The tree only represents the mapping: which data blocks a file owns is the extent map's
//! business ([`crate::core::ExtentMap`], ext4's extent-status tree); after each change to a
//! range of the map, [`ExtentTree::set_range`] makes the tree's mapping of that range equal.
//! The tree reports the nodes it changed, so that only those are written to the journal.

use crate::core::extent::Extent;
use crate::core::ondisk::crc32c;
use crate::error::{FsError, Result};
use std::collections::{BTreeSet, HashMap};

/// `EXT4_EXT_MAGIC`.
pub const EXT4_EXT_MAGIC: u16 = 0xF30A;
/// `EXT_INIT_MAX_LEN`: longest written extent.
pub const EXT_INIT_MAX_LEN: u32 = 1 << 15;
/// `EXT_UNWRITTEN_MAX_LEN`: longest unwritten extent.
pub const EXT_UNWRITTEN_MAX_LEN: u32 = EXT_INIT_MAX_LEN - 1;
/// `EXT4_MAX_EXTENT_DEPTH`.
pub const EXT4_MAX_EXTENT_DEPTH: u16 = 5;
/// Entries of the root node, in `i_block` (`ext4_ext_space_root`).
pub const ROOT_MAX: usize = 4;

crate::ondisk! {
    /// `struct ext4_extent_header` (fs/ext4/ext4_extents.h): heads every node, in `i_block`
    /// or in a tree block.
    pub struct ext4_extent_header [12] le {
        /// `EXT4_EXT_MAGIC`.
        eh_magic @ 0: u16,
        /// Number of valid entries.
        eh_entries @ 2: u16,
        /// Capacity of the node.
        eh_max @ 4: u16,
        /// 0 for a leaf, else the levels below.
        eh_depth @ 6: u16,
        /// Generation of the tree.
        eh_generation @ 8: u32,
    }
}

crate::ondisk! {
    /// `struct ext4_extent` (fs/ext4/ext4_extents.h): a leaf entry.
    pub struct ext4_extent [12] le {
        /// First logical block.
        ee_block @ 0: u32,
        /// Number of blocks; above `EXT_INIT_MAX_LEN` an unwritten extent of `ee_len - 32768`.
        ee_len @ 4: u16,
        /// High 16 bits of the physical block.
        ee_start_hi @ 6: u16,
        /// Low 32 bits of the physical block.
        ee_start_lo @ 8: u32,
    }
}

crate::ondisk! {
    /// `struct ext4_extent_idx` (fs/ext4/ext4_extents.h): an index entry.
    pub struct ext4_extent_idx [12] le {
        /// First logical block the child covers.
        ei_block @ 0: u32,
        /// Low 32 bits of the child's physical block.
        ei_leaf_lo @ 4: u32,
        /// High 16 bits of the child's physical block.
        ei_leaf_hi @ 8: u16,
        /// Unused.
        ei_unused @ 10: u16,
    }
}

crate::ondisk! {
    /// `struct ext4_extent_tail` (fs/ext4/ext4_extents.h): the checksum after `eh_max`
    /// entries of a tree block.
    pub struct ext4_extent_tail [4] le {
        /// crc32c(inode seed, header and entries).
        et_checksum @ 0: u32,
    }
}

/// One leaf entry of the mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ext {
    /// First logical block.
    pub lblk: u32,
    /// Length, at most [`EXT_INIT_MAX_LEN`] (written) or [`EXT_UNWRITTEN_MAX_LEN`].
    pub len: u32,
    /// First physical block.
    pub pblk: u64,
    /// Unwritten (`EXT4_EXT_UNWRITTEN`).
    pub unwritten: bool,
}

impl Ext {
    fn end(&self) -> u64 {
        self.lblk as u64 + self.len as u64
    }
    fn max_len(unwritten: bool) -> u32 {
        if unwritten { EXT_UNWRITTEN_MAX_LEN } else { EXT_INIT_MAX_LEN }
    }
    /// `ext4_can_extents_be_merged`: `self` then `next`, contiguous, same kind, short enough.
    fn can_merge(&self, next: &Ext) -> bool {
        self.unwritten == next.unwritten
            && self.end() == next.lblk as u64
            && self.pblk + self.len as u64 == next.pblk
            && self.len + next.len <= Self::max_len(self.unwritten)
    }
}

/// One index entry of the mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Idx {
    /// First logical block below.
    pub lblk: u32,
    /// The child's physical block.
    pub child: u64,
}

/// A node of the mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Depth 0.
    Leaf(Vec<Ext>),
    /// Depth above 0.
    Index(Vec<Idx>),
}

impl Node {
    fn len(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Index(v) => v.len(),
        }
    }
    fn first_key(&self) -> Option<u32> {
        match self {
            Node::Leaf(v) => v.first().map(|e| e.lblk),
            Node::Index(v) => v.first().map(|i| i.lblk),
        }
    }
}

/// Where a node lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loc {
    /// In the inode's `i_block`.
    Root,
    /// In a tree block.
    Block(u64),
}

/// Blocks for the tree's own nodes.
pub trait TreeAlloc {
    /// Allocates one block for a tree node, near `goal` (`ext4_ext_new_meta_block`), or,
    /// without one, near the inode's own goal block (`ext4_inode_to_goal_block`).
    fn alloc_node(&mut self, goal: Option<u64>) -> Result<u64>;
    /// Frees a tree node's block (`ext4_free_blocks` with `EXT4_FREE_BLOCKS_METADATA |
    /// EXT4_FREE_BLOCKS_FORGET`: revoked in the journal).
    fn free_node(&mut self, pblk: u64);
}

/// The in-memory mirror of one inode's extent tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtentTree {
    depth: u16,
    root: Node,
    nodes: HashMap<u64, Node>,
    /// `eh_max` of a tree block (`ext4_ext_space_block`).
    block_max: usize,
    generation: u32,
    dirty: BTreeSet<Loc>,
}

impl ExtentTree {
    /// An empty tree (depth 0, no extents) for `block_size` blocks.
    pub fn new(block_size: u32) -> Self {
        ExtentTree {
            depth: 0,
            root: Node::Leaf(Vec::new()),
            nodes: HashMap::new(),
            block_max: (block_size as usize - ext4_extent_header::SIZE) / ext4_extent::SIZE,
            generation: 0,
            dirty: BTreeSet::new(),
        }
    }

    /// Depth of the tree (0: the extents are in the inode).
    pub fn depth(&self) -> u16 {
        self.depth
    }

    /// Number of tree blocks (they count in `i_blocks`).
    pub fn node_blocks(&self) -> u64 {
        self.nodes.len() as u64
    }

    /// The physical blocks of the tree's nodes.
    pub fn node_pblks(&self) -> impl Iterator<Item = u64> + '_ {
        self.nodes.keys().copied()
    }

    fn max(&self, loc: Loc) -> usize {
        match loc {
            Loc::Root => ROOT_MAX,
            Loc::Block(_) => self.block_max,
        }
    }

    fn node(&self, loc: Loc) -> &Node {
        match loc {
            Loc::Root => &self.root,
            Loc::Block(b) => &self.nodes[&b],
        }
    }

    fn node_mut(&mut self, loc: Loc) -> &mut Node {
        self.dirty.insert(loc);
        match loc {
            Loc::Root => &mut self.root,
            Loc::Block(b) => self.nodes.get_mut(&b).expect("tree node exists"),
        }
    }

    /// Takes the set of nodes changed since the last call: the root means the inode must be
    /// written, a block that tree block. Freed blocks are not in it.
    pub fn take_dirty(&mut self) -> BTreeSet<Loc> {
        let mut d = std::mem::take(&mut self.dirty);
        d.retain(|l| match l {
            Loc::Root => true,
            Loc::Block(b) => self.nodes.contains_key(b),
        });
        d
    }

    /// Every extent, in logical order.
    pub fn extents(&self) -> Vec<Ext> {
        let mut out = Vec::new();
        self.collect(Loc::Root, &mut out);
        out
    }

    fn collect(&self, loc: Loc, out: &mut Vec<Ext>) {
        match self.node(loc) {
            Node::Leaf(v) => out.extend_from_slice(v),
            Node::Index(v) => {
                for i in v {
                    self.collect(Loc::Block(i.child), out);
                }
            }
        }
    }

    /// Makes the tree map `[a, b)` exactly as `pieces` do (extents inside the range, in
    /// order): removes what the tree has there, then inserts the pieces, split at the longest
    /// extent ext4 allows and merged with their neighbours where ext4 would merge them.
    pub fn set_range(&mut self, a: u64, b: u64, pieces: &[Extent], al: &mut dyn TreeAlloc) -> Result<()> {
        self.remove(a, b, al)?;
        for p in pieces {
            debug_assert!(p.lblk >= a && p.end() <= b, "piece {p:?} outside [{a}, {b})");
            let max = Ext::max_len(p.unwritten) as u64;
            let mut done = 0;
            while done < p.len {
                let n = (p.len - done).min(max);
                let e =
                    Ext { lblk: (p.lblk + done) as u32, len: n as u32, pblk: p.pblk + done, unwritten: p.unwritten };
                self.insert(e, true, al)?;
                done += n;
            }
        }
        self.try_to_merge_up(al);
        Ok(())
    }

    /// The number of new tree blocks an insertion of `n` extents may need at most.
    pub fn worst_case_new_blocks(&self, n: u64) -> u64 {
        n * (self.depth as u64 + 2)
    }

    fn insert(&mut self, e: Ext, merge: bool, al: &mut dyn TreeAlloc) -> Result<()> {
        let sibling = self.insert_at(Loc::Root, e, merge, al)?;
        debug_assert!(sibling.is_none(), "the root grows in depth instead of splitting");
        Ok(())
    }

    /// Inserts `e` into the subtree at `loc` (merged into a neighbour when `merge` and ext4
    /// would merge them); returns the index entry of a new right sibling when the node split.
    fn insert_at(&mut self, loc: Loc, e: Ext, merge: bool, al: &mut dyn TreeAlloc) -> Result<Option<Idx>> {
        let pos = if let Node::Index(v) = self.node(loc) {
            let i = v.partition_point(|x| x.lblk <= e.lblk).saturating_sub(1);
            let child = Loc::Block(v[i].child);
            let sibling = self.insert_at(child, e, merge, al)?;
            let first = self.node(child).first_key().expect("child is not empty");
            let Node::Index(v) = self.node_mut(loc) else { unreachable!() };
            v[i].lblk = first;
            let Some(s) = sibling else { return Ok(None) };
            v.insert(i + 1, s);
            i + 1
        } else {
            let Node::Leaf(v) = self.node_mut(loc) else { unreachable!() };
            let p = v.partition_point(|x| x.lblk <= e.lblk);
            if merge && p > 0 && v[p - 1].can_merge(&e) {
                v[p - 1].len += e.len;
                if p < v.len() && v[p - 1].can_merge(&v[p]) {
                    v[p - 1].len += v[p].len;
                    v.remove(p);
                }
                return Ok(None);
            }
            if merge && p < v.len() && e.can_merge(&v[p]) {
                v[p] = Ext { lblk: e.lblk, len: e.len + v[p].len, pblk: e.pblk, unwritten: e.unwritten };
                return Ok(None);
            }
            v.insert(p, e);
            p
        };
        if self.node(loc).len() <= self.max(loc) {
            return Ok(None);
        }
        self.split(loc, pos, e.pblk, al)
    }

    /// A node holds one entry too many after an insertion at `pos`: the entries after `pos`
    /// move to a new node (only the new entry, if it went last), near `goal`, as
    /// `ext4_ext_split` does; a full root moves into a new block first
    /// (`ext4_ext_grow_indepth`), which goes just before the first index's block, or for a
    /// root of extents near the inode's goal — not next to the data, where it would stand
    /// in the way of the file's next allocation.
    fn split(&mut self, loc: Loc, pos: usize, goal: u64, al: &mut dyn TreeAlloc) -> Result<Option<Idx>> {
        let goal = match (&self.root, loc) {
            (Node::Index(v), Loc::Root) => v.first().map(|i| i.child - 1).filter(|&g| g > 0),
            (Node::Leaf(_), Loc::Root) => None,
            _ => Some(goal),
        };
        let new = al.alloc_node(goal)?;
        if loc == Loc::Root {
            if self.depth >= EXT4_MAX_EXTENT_DEPTH {
                al.free_node(new);
                return Err(FsError::NoSpace { what: "extent tree depth" });
            }
            let old = std::mem::replace(&mut self.root, Node::Index(Vec::new()));
            let first = old.first_key().expect("root is full");
            self.nodes.insert(new, old);
            self.root = Node::Index(vec![Idx { lblk: first, child: new }]);
            self.depth += 1;
            self.dirty.insert(Loc::Root);
            self.dirty.insert(Loc::Block(new));
            return Ok(None);
        }
        let at = if pos + 1 == self.node(loc).len() { pos } else { pos + 1 };
        let right = match self.node_mut(loc) {
            Node::Leaf(v) => Node::Leaf(v.split_off(at)),
            Node::Index(v) => Node::Index(v.split_off(at)),
        };
        let first = right.first_key().expect("split moves at least one entry");
        self.nodes.insert(new, right);
        self.dirty.insert(Loc::Block(new));
        Ok(Some(Idx { lblk: first, child: new }))
    }

    /// Removes the mapping of `[a, b)`; frees nodes left empty.
    fn remove(&mut self, a: u64, b: u64, al: &mut dyn TreeAlloc) -> Result<()> {
        let sibling = self.remove_in(Loc::Root, a, b, al)?;
        debug_assert!(sibling.is_none(), "the root grows in depth instead of splitting");
        if self.depth > 0 && self.root.len() == 0 {
            self.root = Node::Leaf(Vec::new());
            self.depth = 0;
            self.dirty.insert(Loc::Root);
        }
        Ok(())
    }

    /// Removes `[a, b)` below `loc`. A hole punched inside one extent adds an entry; a node
    /// that overflows because of it splits, and the new sibling is returned.
    fn remove_in(&mut self, loc: Loc, a: u64, b: u64, al: &mut dyn TreeAlloc) -> Result<Option<Idx>> {
        match self.node(loc) {
            Node::Leaf(v) => {
                if !v.iter().any(|e| e.end() > a && (e.lblk as u64) < b) {
                    return Ok(None);
                }
                let mut out = Vec::with_capacity(v.len() + 1);
                let mut tail_at = None;
                for e in v {
                    if e.end() <= a || e.lblk as u64 >= b {
                        out.push(*e);
                        continue;
                    }
                    if (e.lblk as u64) < a {
                        out.push(Ext { len: (a - e.lblk as u64) as u32, ..*e });
                    }
                    if e.end() > b {
                        let skip = b - e.lblk as u64;
                        tail_at = Some(out.len());
                        out.push(Ext {
                            lblk: b as u32,
                            len: (e.end() - b) as u32,
                            pblk: e.pblk + skip,
                            unwritten: e.unwritten,
                        });
                    }
                }
                let n = out.len();
                *self.node_mut(loc) = Node::Leaf(out);
                if n > self.max(loc) {
                    let pos = tail_at.expect("only a split extent grows a leaf");
                    let goal = match self.node(loc) {
                        Node::Leaf(v) => v[pos].pblk,
                        Node::Index(_) => unreachable!(),
                    };
                    return self.split(loc, pos, goal, al);
                }
                Ok(None)
            }
            Node::Index(v) => {
                let v = v.clone();
                let mut out: Vec<Idx> = Vec::with_capacity(v.len() + 1);
                let mut changed = false;
                let mut grew_at = None;
                for (i, idx) in v.iter().enumerate() {
                    let lo = if i == 0 { 0 } else { idx.lblk as u64 };
                    let hi = v.get(i + 1).map_or(u64::MAX, |n| n.lblk as u64);
                    if hi <= a || lo >= b {
                        out.push(*idx);
                        continue;
                    }
                    let child = Loc::Block(idx.child);
                    let sibling = self.remove_in(child, a, b, al)?;
                    match self.node(child).first_key() {
                        None => {
                            self.nodes.remove(&idx.child);
                            al.free_node(idx.child);
                            changed = true;
                        }
                        Some(first) => {
                            changed |= first != idx.lblk;
                            out.push(Idx { lblk: first, child: idx.child });
                        }
                    }
                    if let Some(s) = sibling {
                        grew_at = Some(out.len());
                        out.push(s);
                        changed = true;
                    }
                }
                if !changed {
                    return Ok(None);
                }
                let n = out.len();
                *self.node_mut(loc) = Node::Index(out);
                if n > self.max(loc) {
                    let pos = grew_at.expect("only a split child grows an index");
                    return self.split(loc, pos, 0, al);
                }
                Ok(None)
            }
        }
    }

    /// `ext4_ext_try_to_merge_up`: a depth-1 tree whose only leaf fits in the inode moves
    /// back into it.
    fn try_to_merge_up(&mut self, al: &mut dyn TreeAlloc) {
        if self.depth != 1 {
            return;
        }
        let Node::Index(v) = &self.root else { return };
        if v.len() != 1 {
            return;
        }
        let child = v[0].child;
        if self.nodes[&child].len() > ROOT_MAX {
            return;
        }
        self.root = self.nodes.remove(&child).expect("child exists");
        self.depth = 0;
        self.dirty.insert(Loc::Root);
        al.free_node(child);
    }

    /// Moves every extent at or after logical block `from` by `delta` blocks
    /// (`ext4_ext_shift_extents`: collapse range shifts left, insert range right). An extent
    /// straddling `from` is split there first (`ext4_split_extent_at`); the caller has
    /// emptied the range a left shift moves into.
    pub fn shift(&mut self, from: u64, delta: i64, al: &mut dyn TreeAlloc) -> Result<()> {
        // Splitting: re-set the straddling extent's range as two pieces.
        let straddler = self.extents().into_iter().find(|e| (e.lblk as u64) < from && e.end() > from);
        if let Some(e) = straddler {
            let head = Extent { lblk: e.lblk as u64, len: from - e.lblk as u64, pblk: e.pblk, unwritten: e.unwritten };
            let tail = Extent {
                lblk: from,
                len: e.end() - from,
                pblk: e.pblk + (from - e.lblk as u64),
                unwritten: e.unwritten,
            };
            self.remove(e.lblk as u64, e.end(), al)?;
            for p in [head, tail] {
                let x = Ext { lblk: p.lblk as u32, len: p.len as u32, pblk: p.pblk, unwritten: p.unwritten };
                self.insert(x, false, al)?;
            }
        }
        self.shift_in(Loc::Root, from, delta);
        Ok(())
    }

    fn shift_in(&mut self, loc: Loc, from: u64, delta: i64) -> bool {
        let mv = |k: u32| (k as u64).checked_add_signed(delta).expect("shift stays in range") as u32;
        match self.node(loc).clone() {
            Node::Leaf(v) => {
                if !v.iter().any(|e| e.lblk as u64 >= from) {
                    return false;
                }
                let moved =
                    v.into_iter().map(|e| if e.lblk as u64 >= from { Ext { lblk: mv(e.lblk), ..e } } else { e });
                *self.node_mut(loc) = Node::Leaf(moved.collect());
                true
            }
            Node::Index(mut v) => {
                let mut changed = false;
                for i in 0..v.len() {
                    let hi = v.get(i + 1).map_or(u64::MAX, |n| n.lblk as u64);
                    if hi <= from {
                        continue;
                    }
                    if self.shift_in(Loc::Block(v[i].child), from, delta) {
                        let first = self.node(Loc::Block(v[i].child)).first_key().expect("not empty");
                        changed |= first != v[i].lblk;
                        v[i].lblk = first;
                    }
                }
                if changed {
                    *self.node_mut(loc) = Node::Index(v);
                }
                changed
            }
        }
    }

    /// Encodes the node at `loc` into `out`: `i_block` (60 bytes) for the root, else a whole
    /// tree block with its tail checksum (`ext4_extent_block_csum_set`) under `seed` (the
    /// inode's checksum seed; `None` without metadata_csum).
    pub fn encode(&self, loc: Loc, out: &mut [u8], seed: Option<u32>) {
        let node = self.node(loc);
        let max = self.max(loc);
        let depth = match loc {
            Loc::Root => self.depth,
            Loc::Block(b) => self.depth_of(b),
        };
        let used = ext4_extent_header::SIZE + max * ext4_extent::SIZE;
        out[..used].fill(0);
        let h = ext4_extent_header {
            eh_magic: EXT4_EXT_MAGIC,
            eh_entries: node.len() as u16,
            eh_max: max as u16,
            eh_depth: depth,
            eh_generation: self.generation,
        };
        h.encode(out);
        let mut at = ext4_extent_header::SIZE;
        match node {
            Node::Leaf(v) => {
                for e in v {
                    let len = if e.unwritten { e.len + EXT_INIT_MAX_LEN } else { e.len } as u16;
                    let x = ext4_extent {
                        ee_block: e.lblk,
                        ee_len: len,
                        ee_start_hi: (e.pblk >> 32) as u16,
                        ee_start_lo: e.pblk as u32,
                    };
                    x.encode(&mut out[at..]);
                    at += ext4_extent::SIZE;
                }
            }
            Node::Index(v) => {
                for i in v {
                    let x = ext4_extent_idx {
                        ei_block: i.lblk,
                        ei_leaf_lo: i.child as u32,
                        ei_leaf_hi: (i.child >> 32) as u16,
                        ei_unused: 0,
                    };
                    x.encode(&mut out[at..]);
                    at += ext4_extent::SIZE;
                }
            }
        }
        if let (Loc::Block(_), Some(seed)) = (loc, seed) {
            let c = crc32c(seed, &out[..used]);
            ext4_extent_tail { et_checksum: c }.encode(&mut out[used..]);
        }
    }

    /// `eh_depth` of a tree block: one more than its first child's, 0 for a leaf.
    fn depth_of(&self, block: u64) -> u16 {
        let mut d = 0;
        let mut at = block;
        while let Node::Index(v) = &self.nodes[&at] {
            d += 1;
            at = v[0].child;
        }
        d
    }

    /// Reads a tree: `i_block` (60 bytes), and through `read` every tree block, checking
    /// headers, order and checksums as `__ext4_ext_check` does. `what` names the inode in
    /// errors.
    pub fn decode(
        i_block: &[u8],
        block_size: u32,
        seed: Option<u32>,
        what: &str,
        read: &mut dyn FnMut(u64) -> Result<Vec<u8>>,
    ) -> Result<ExtentTree> {
        let mut t = ExtentTree::new(block_size);
        let h = ext4_extent_header::decode(i_block);
        check_header(&h, ROOT_MAX, None, what, "inode")?;
        t.depth = h.eh_depth;
        t.generation = h.eh_generation;
        t.root = t.decode_node(i_block, &h, seed, what, read, 0)?;
        t.check_order(what)?;
        Ok(t)
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_node(
        &mut self,
        raw: &[u8],
        h: &ext4_extent_header,
        seed: Option<u32>,
        what: &str,
        read: &mut dyn FnMut(u64) -> Result<Vec<u8>>,
        hops: usize,
    ) -> Result<Node> {
        let n = h.eh_entries as usize;
        let at = |i: usize| ext4_extent_header::SIZE + i * ext4_extent::SIZE;
        if h.eh_depth == 0 {
            let v = (0..n)
                .map(|i| {
                    let x = ext4_extent::decode(&raw[at(i)..]);
                    let (len, unwritten) = if x.ee_len as u32 > EXT_INIT_MAX_LEN {
                        (x.ee_len as u32 - EXT_INIT_MAX_LEN, true)
                    } else {
                        (x.ee_len as u32, false)
                    };
                    Ext { lblk: x.ee_block, len, pblk: x.ee_start_lo as u64 | (x.ee_start_hi as u64) << 32, unwritten }
                })
                .collect::<Vec<_>>();
            if v.iter().any(|e| e.len == 0) {
                return Err(corrupt(what, "an extent of length 0"));
            }
            return Ok(Node::Leaf(v));
        }
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let x = ext4_extent_idx::decode(&raw[at(i)..]);
            let child = x.ei_leaf_lo as u64 | (x.ei_leaf_hi as u64) << 32;
            if self.nodes.contains_key(&child) || hops > 1 << 20 {
                return Err(corrupt(what, &format!("extent block {child} appears twice in the tree")));
            }
            let buf = read(child)?;
            let ch = ext4_extent_header::decode(&buf);
            check_header(&ch, self.block_max, Some(h.eh_depth - 1), what, &format!("extent block {child}"))?;
            if let Some(seed) = seed {
                let used = ext4_extent_header::SIZE + ch.eh_max as usize * ext4_extent::SIZE;
                let stored = ext4_extent_tail::decode(&buf[used..]).et_checksum;
                if crc32c(seed, &buf[..used]) != stored {
                    return Err(corrupt(what, &format!("extent block {child} checksum mismatch")));
                }
            }
            let node = self.decode_node(&buf, &ch, seed, what, read, hops + 1)?;
            if node.first_key() != Some(x.ei_block) {
                return Err(corrupt(what, &format!("index {} does not start extent block {child}", x.ei_block)));
            }
            self.nodes.insert(child, node);
            v.push(Idx { lblk: x.ei_block, child });
        }
        Ok(Node::Index(v))
    }

    fn check_order(&self, what: &str) -> Result<()> {
        let mut end = 0u64;
        for e in self.extents() {
            if (e.lblk as u64) < end {
                return Err(corrupt(what, &format!("extents overlap or are out of order at block {}", e.lblk)));
            }
            end = e.end();
        }
        Ok(())
    }

    /// Checks the tree's shape: keys ordered, index keys equal to their child's first key,
    /// node sizes within bounds, leaves all at depth 0. For tests.
    pub fn check(&self) -> std::result::Result<(), String> {
        fn walk(t: &ExtentTree, loc: Loc, depth: u16) -> std::result::Result<Option<u32>, String> {
            let n = t.node(loc);
            if n.len() > t.max(loc) {
                return Err(format!("{loc:?} holds {} > {}", n.len(), t.max(loc)));
            }
            if loc != Loc::Root && n.len() == 0 {
                return Err(format!("{loc:?} is empty"));
            }
            match n {
                Node::Leaf(v) => {
                    if depth != 0 {
                        return Err(format!("leaf {loc:?} at depth {depth}"));
                    }
                    if v.windows(2).any(|w| w[0].end() > w[1].lblk as u64) {
                        return Err(format!("leaf {loc:?} out of order"));
                    }
                    Ok(v.first().map(|e| e.lblk))
                }
                Node::Index(v) => {
                    if depth == 0 {
                        return Err(format!("index {loc:?} at depth 0"));
                    }
                    for i in v {
                        let first = walk(t, Loc::Block(i.child), depth - 1)?;
                        if first != Some(i.lblk) {
                            return Err(format!("index key {} != first key {first:?}", i.lblk));
                        }
                    }
                    Ok(v.first().map(|i| i.lblk))
                }
            }
        }
        walk(self, Loc::Root, self.depth).map(|_| ())
    }
}

fn check_header(h: &ext4_extent_header, max: usize, depth: Option<u16>, what: &str, node: &str) -> Result<()> {
    let problem = if h.eh_magic != EXT4_EXT_MAGIC {
        "bad magic".to_string()
    } else if h.eh_max as usize > max || (node != "inode" && (h.eh_max as usize) + 2 < max) {
        format!("eh_max {} where {max} was expected", h.eh_max)
    } else if h.eh_entries > h.eh_max {
        format!("{} entries in a node of {}", h.eh_entries, h.eh_max)
    } else if h.eh_depth > EXT4_MAX_EXTENT_DEPTH || depth.is_some_and(|d| d != h.eh_depth) {
        format!("depth {} where {depth:?} was expected", h.eh_depth)
    } else if depth.is_some() && h.eh_entries == 0 {
        "an empty tree block".to_string()
    } else {
        return Ok(());
    };
    Err(corrupt(what, &format!("{node}: extent header: {problem}")))
}

fn corrupt(what: &str, problem: &str) -> FsError {
    FsError::Corrupt { what: format!("{what}: {problem}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ExtentMap;
    use proptest::prelude::*;

    /// Hands out blocks from 10_000 up and remembers what is free.
    #[derive(Default)]
    struct Counter {
        next: u64,
        live: BTreeSet<u64>,
    }

    impl TreeAlloc for Counter {
        fn alloc_node(&mut self, _goal: Option<u64>) -> Result<u64> {
            self.next += 1;
            self.live.insert(10_000 + self.next);
            Ok(10_000 + self.next)
        }
        fn free_node(&mut self, pblk: u64) {
            assert!(self.live.remove(&pblk), "freed {pblk} twice");
        }
    }

    fn pieces(map: &ExtentMap, a: u64, b: u64) -> Vec<Extent> {
        let mut v = Vec::new();
        map.for_each_in(a, b - a, |e| v.push(e));
        v
    }

    /// The tree maps exactly what the map maps.
    fn same(tree: &ExtentTree, map: &ExtentMap) -> bool {
        let mut t = ExtentMap::new();
        for e in tree.extents() {
            t.insert(Extent { lblk: e.lblk as u64, len: e.len as u64, pblk: e.pblk, unwritten: e.unwritten });
        }
        t == *map
    }

    #[test]
    fn appends_fill_leaves_and_grow_in_depth() {
        let mut t = ExtentTree::new(1024);
        let mut al = Counter::default();
        // Non-contiguous single blocks: one extent each.
        for i in 0..84 * 4 {
            let e = Extent { lblk: i, len: 1, pblk: 1000 + 2 * i, unwritten: false };
            t.set_range(i, i + 1, &[e], &mut al).unwrap();
            t.check().unwrap();
        }
        assert_eq!(t.depth(), 1);
        // Appends leave full leaves behind and start a new one with one entry.
        assert_eq!(t.node_blocks(), 4);
        assert_eq!(t.extents().len(), 84 * 4);
        // One more leaf does not fit in the inode: the tree grows to depth 2.
        let e = Extent { lblk: 1000, len: 1, pblk: 9000, unwritten: false };
        for i in 0..84 {
            let e = Extent { lblk: e.lblk + i, pblk: e.pblk + 2 * i, ..e };
            t.set_range(e.lblk, e.lblk + 1, &[e], &mut al).unwrap();
        }
        t.check().unwrap();
        assert_eq!((t.depth(), t.node_blocks()), (2, 5 + 1), "five leaves under one index block");
        // Removing everything frees every block and returns to depth 0.
        t.set_range(0, 1 << 20, &[], &mut al).unwrap();
        assert_eq!((t.depth(), t.node_blocks()), (0, 0));
        assert!(al.live.is_empty());
    }

    #[test]
    fn contiguous_appends_merge_up_to_the_longest_extent() {
        let mut t = ExtentTree::new(4096);
        let mut al = Counter::default();
        let e = Extent { lblk: 0, len: 40_000, pblk: 5000, unwritten: false };
        t.set_range(0, 40_000, &[e], &mut al).unwrap();
        let x = t.extents();
        assert_eq!(x.len(), 2);
        assert_eq!((x[0].len, x[1].len), (EXT_INIT_MAX_LEN, 40_000 - EXT_INIT_MAX_LEN));
        t.set_range(40_000, 40_010, &[Extent { lblk: 40_000, len: 10, pblk: 45_000, unwritten: false }], &mut al)
            .unwrap();
        assert_eq!(t.extents().len(), 2, "merged into the last extent");
    }

    #[test]
    fn a_hole_in_a_full_leaf_splits_it() {
        let mut t = ExtentTree::new(1024);
        let mut al = Counter::default();
        for i in 0..84 {
            let e = Extent { lblk: 10 * i, len: 5, pblk: 1000 + 10 * i, unwritten: false };
            t.set_range(10 * i, 10 * i + 5, &[e], &mut al).unwrap();
        }
        let blocks = t.node_blocks();
        t.set_range(401, 402, &[], &mut al).unwrap();
        t.check().unwrap();
        assert_eq!(t.node_blocks(), blocks + 1);
        assert_eq!(t.extents().len(), 85);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Random allocations, punches, conversions and shifts keep the tree well formed
        /// and equal to the extent map it mirrors.
        #[test]
        fn tree_mirrors_the_extent_map(ops in proptest::collection::vec((0u8..4, 0u64..600, 1u64..40), 1..200)) {
            let mut t = ExtentTree::new(1024);
            let mut map = ExtentMap::new();
            let mut al = Counter::default();
            let mut next_pblk = 100_000u64;
            for (op, at, len) in ops {
                let (a, b) = (at, at + len);
                match op {
                    0 => {
                        map.remove(a, len, |_, _| {});
                        // Every other block: many extents.
                        for i in (a..b).step_by(2) {
                            map.insert(Extent { lblk: i, len: 1, pblk: next_pblk, unwritten: i % 3 == 0 });
                            next_pblk += 3;
                        }
                    }
                    1 => { map.remove(a, len, |_, _| {}); }
                    2 => {
                        map.convert_to_written(a, len);
                    }
                    _ => {
                        // Collapse [a, b): remove, then shift down.
                        map.remove(a, len, |_, _| {});
                        t.set_range(a, b, &[], &mut al).unwrap();
                        map.shift_from(b, -(len as i64));
                        t.shift(b, -(len as i64), &mut al).unwrap();
                        prop_assert!(t.check().is_ok(), "{:?}", t.check());
                        prop_assert!(same(&t, &map));
                        continue;
                    }
                }
                t.set_range(a, b, &pieces(&map, a, b), &mut al).unwrap();
                prop_assert!(t.check().is_ok(), "{:?}", t.check());
                prop_assert!(same(&t, &map));
                prop_assert_eq!(al.live.len() as u64, t.node_blocks());
            }
            // Encode and decode every node: the same tree comes back.
            let blocks: HashMap<u64, Vec<u8>> = t.node_pblks().map(|b| {
                let mut buf = vec![0u8; 1024];
                t.encode(Loc::Block(b), &mut buf, Some(7));
                (b, buf)
            }).collect();
            let mut root = [0u8; 60];
            t.encode(Loc::Root, &mut root, Some(7));
            let back = ExtentTree::decode(&root, 1024, Some(7), "test", &mut |b| Ok(blocks[&b].clone())).unwrap();
            prop_assert_eq!(back.extents(), t.extents());
        }
    }
}
