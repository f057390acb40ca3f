//! The XArray (`lib/xarray.c`): a radix tree of 64-slot nodes mapping page indices to page
//! frame numbers, with multi-index entries for large folios and three marks propagated up
//! the tree, so that "the next dirty folio from here" is found without walking clean ones.
//!
//! A folio of order `o` is stored once, at the level whose slots cover `64^⌊o/6⌋` pages,
//! in `2^(o mod 6)` slots: the first holds the entry, the others point back at it (sibling
//! entries). Callers lock it (the page cache's `xa_lock` is an `RwLock` around it).

/// Slots per node (`XA_CHUNK_SIZE`).
const CHUNK_SHIFT: u32 = 6;
const CHUNK: usize = 1 << CHUNK_SHIFT;
/// Number of marks.
const MARKS: usize = 3;

/// A mark on entries (`xa_mark_t`): the page cache's tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// `PAGECACHE_TAG_DIRTY`.
    Dirty = 0,
    /// `PAGECACHE_TAG_WRITEBACK`.
    Writeback = 1,
    /// `PAGECACHE_TAG_TOWRITE`: dirty when a data-integrity sync started.
    Towrite = 2,
}

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Empty,
    /// An entry: the value and its order.
    Value(u32, u8),
    /// Part of the multi-index entry in slot `.0` of the same node.
    Sibling(u8),
    Node(Box<Node>),
}

#[derive(Debug)]
struct Node {
    /// Each slot covers `1 << shift` indices.
    shift: u32,
    /// Non-empty slots.
    count: u32,
    marks: [u64; MARKS],
    slots: [Slot; CHUNK],
}

impl Node {
    fn new(shift: u32) -> Box<Node> {
        Box::new(Node { shift, count: 0, marks: [0; MARKS], slots: std::array::from_fn(|_| Slot::Empty) })
    }

    fn offset(&self, index: u64) -> usize {
        ((index >> self.shift) as usize) & (CHUNK - 1)
    }
}

/// An entry found: its first index, value and order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// First index the entry covers.
    pub index: u64,
    /// The value.
    pub value: u32,
    /// `log2` of the indices it covers.
    pub order: u8,
}

/// The tree.
#[derive(Debug, Default)]
pub struct XArray {
    root: Option<Box<Node>>,
}

/// The level shift an entry of `order` is stored at.
fn level_shift(order: u8) -> u32 {
    u32::from(order) / CHUNK_SHIFT * CHUNK_SHIFT
}

impl XArray {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    fn root_covers(&self, index: u64, shift: u32) -> bool {
        self.root.as_ref().is_some_and(|r| r.shift >= shift && (index >> r.shift) < CHUNK as u64)
    }

    /// The entry covering `index` (`xa_load`).
    pub fn load(&self, index: u64) -> Option<Entry> {
        let mut node = self.root.as_deref()?;
        if index >> node.shift >= CHUNK as u64 {
            return None;
        }
        loop {
            let off = node.offset(index);
            let (slot, at) = match &node.slots[off] {
                Slot::Sibling(j) => (&node.slots[*j as usize], *j as usize),
                s => (s, off),
            };
            match slot {
                Slot::Empty | Slot::Sibling(_) => return None,
                Slot::Node(n) => node = n,
                Slot::Value(v, o) => {
                    let base = index >> (node.shift + CHUNK_SHIFT) << (node.shift + CHUNK_SHIFT);
                    return Some(Entry { index: base + ((at as u64) << node.shift), value: *v, order: *o });
                }
            }
        }
    }

    /// Whether no entry covers any index of `[index, index + 2^order)`.
    pub fn range_empty(&self, index: u64, order: u8) -> bool {
        self.find(index, index + (1u64 << order), None).is_none()
    }

    /// Stores `value` over `[index, index + 2^order)`, which must be empty and aligned
    /// (`xa_store_order`).
    pub fn store(&mut self, index: u64, order: u8, value: u32) {
        debug_assert_eq!(index % (1u64 << order), 0, "misaligned entry");
        debug_assert!(self.range_empty(index, order), "store over an entry");
        let shift = level_shift(order);
        // Grow the root until it covers the index at the entry's level.
        if self.root.is_none() {
            self.root = Some(Node::new(shift.max(CHUNK_SHIFT * ((63 - index.max(1).leading_zeros()) / CHUNK_SHIFT))));
        }
        while !self.root_covers(index, shift) {
            let old = self.root.take().expect("a root");
            let mut up = Node::new(old.shift + CHUNK_SHIFT);
            for m in 0..MARKS {
                if old.marks[m] != 0 {
                    up.marks[m] |= 1;
                }
            }
            up.slots[0] = Slot::Node(old);
            up.count = 1;
            self.root = Some(up);
        }
        let mut node = self.root.as_deref_mut().expect("a root");
        while node.shift > shift {
            let off = node.offset(index);
            if matches!(node.slots[off], Slot::Empty) {
                node.slots[off] = Slot::Node(Node::new(node.shift - CHUNK_SHIFT));
                node.count += 1;
            }
            node = match &mut node.slots[off] {
                Slot::Node(n) => n,
                _ => unreachable!("a range checked empty has no entry above its level"),
            };
        }
        let first = node.offset(index);
        let n = 1usize << (u32::from(order) - shift);
        node.slots[first] = Slot::Value(value, order);
        for i in first + 1..first + n {
            node.slots[i] = Slot::Sibling(first as u8);
        }
        node.count += n as u32;
    }

    /// Removes the entry at `index` (its first index) (`xa_erase`), with its marks; frees
    /// nodes left empty.
    pub fn erase(&mut self, index: u64) -> Option<Entry> {
        let e = self.load(index)?;
        debug_assert_eq!(e.index, index, "erase by the entry's first index");
        let root = self.root.as_deref_mut().expect("a root");
        Self::erase_in(root, index, e.order);
        if self.root.as_ref().is_some_and(|r| r.count == 0) {
            self.root = None;
        }
        Some(e)
    }

    fn erase_in(node: &mut Node, index: u64, order: u8) {
        let off = node.offset(index);
        if node.shift > level_shift(order) {
            let Slot::Node(child) = &mut node.slots[off] else { return };
            Self::erase_in(child, index, order);
            let (empty, marks) = (child.count == 0, child.marks);
            if empty {
                node.slots[off] = Slot::Empty;
                node.count -= 1;
            }
            for (m, word) in marks.iter().enumerate() {
                if *word == 0 || empty {
                    node.marks[m] &= !(1 << off);
                }
            }
            return;
        }
        let n = 1usize << (u32::from(order) - node.shift);
        for i in off..off + n {
            node.slots[i] = Slot::Empty;
        }
        node.count -= n as u32;
        for m in 0..MARKS {
            node.marks[m] &= !(1 << off);
        }
    }

    /// Sets `mark` on the entry at `index` (its first index) (`xa_set_mark`).
    pub fn set_mark(&mut self, index: u64, mark: Mark) {
        let Some(mut node) = self.root.as_deref_mut() else { return };
        if index >> node.shift >= CHUNK as u64 {
            return;
        }
        loop {
            let off = node.offset(index);
            node.marks[mark as usize] |= 1 << off;
            match &mut node.slots[off] {
                Slot::Node(n) => node = n,
                _ => return,
            }
        }
    }

    /// Clears `mark` on the entry at `index` (`xa_clear_mark`).
    pub fn clear_mark(&mut self, index: u64, mark: Mark) {
        if let Some(root) = self.root.as_deref_mut()
            && index >> root.shift < CHUNK as u64
        {
            Self::clear_in(root, index, mark);
        }
    }

    /// Clears the mark below `node`; whether the node has none left.
    fn clear_in(node: &mut Node, index: u64, mark: Mark) -> bool {
        let off = node.offset(index);
        let clear_here = match &mut node.slots[off] {
            Slot::Node(n) => Self::clear_in(n, index, mark),
            _ => true,
        };
        if clear_here {
            node.marks[mark as usize] &= !(1 << off);
        }
        node.marks[mark as usize] == 0
    }

    /// Whether the entry at `index` (its first index) carries `mark` (`xa_get_mark`).
    pub fn get_mark(&self, index: u64, mark: Mark) -> bool {
        let Some(mut node) = self.root.as_deref() else { return false };
        if index >> node.shift >= CHUNK as u64 {
            return false;
        }
        loop {
            let off = node.offset(index);
            if node.marks[mark as usize] & (1 << off) == 0 {
                return false;
            }
            match &node.slots[off] {
                Slot::Node(n) => node = n,
                _ => return true,
            }
        }
    }

    /// The first entry overlapping `[start, end)` — with `mark`, if given — in index order
    /// (`xa_find`, `xa_find_marked`).
    pub fn find(&self, start: u64, end: u64, mark: Option<Mark>) -> Option<Entry> {
        let root = self.root.as_deref()?;
        if start >= end {
            return None;
        }
        Self::find_in(root, 0, start, end, mark)
    }

    fn find_in(node: &Node, base: u64, start: u64, end: u64, mark: Option<Mark>) -> Option<Entry> {
        let span = 1u64 << node.shift;
        let first = if start > base { ((start - base) >> node.shift).min(CHUNK as u64) as usize } else { 0 };
        for i in first..CHUNK {
            let lo = base + (i as u64) * span;
            if lo >= end {
                break;
            }
            let marked = |j: usize| mark.is_none_or(|m| node.marks[m as usize] & (1 << j) != 0);
            match &node.slots[i] {
                Slot::Empty => {}
                Slot::Node(n) => {
                    if marked(i)
                        && let Some(e) = Self::find_in(n, lo, start, end, mark)
                    {
                        return Some(e);
                    }
                }
                Slot::Value(v, o) => {
                    if marked(i) {
                        return Some(Entry { index: lo, value: *v, order: *o });
                    }
                }
                // A sibling at the first slot looked at belongs to an entry starting before
                // `start` that covers it; later siblings belong to entries already seen.
                Slot::Sibling(j) if i == first => {
                    let j = *j as usize;
                    if let Slot::Value(v, o) = &node.slots[j]
                        && marked(j)
                    {
                        return Some(Entry { index: base + (j as u64) * span, value: *v, order: *o });
                    }
                }
                Slot::Sibling(_) => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_index_entries_load_find_and_erase() {
        let mut xa = XArray::new();
        xa.store(0, 0, 10);
        xa.store(4, 2, 11); // 4..8
        xa.store(512, 9, 12); // 512..1024: level 6, 8 slots
        xa.store(1 << 30, 0, 13);
        assert_eq!(xa.load(0), Some(Entry { index: 0, value: 10, order: 0 }));
        assert_eq!(xa.load(1), None);
        assert_eq!(xa.load(6).map(|e| (e.index, e.value)), Some((4, 11)));
        assert_eq!(xa.load(1000).map(|e| (e.index, e.value)), Some((512, 12)));
        assert_eq!(xa.load(1 << 30).map(|e| e.value), Some(13));
        assert_eq!(xa.find(1, 100, None).map(|e| e.index), Some(4));
        assert_eq!(xa.find(6, 100, None).map(|e| e.index), Some(4), "an entry covering the start");
        assert_eq!(xa.find(8, 600, None).map(|e| e.index), Some(512));
        assert_eq!(xa.find(700, 800, None).map(|e| e.index), Some(512));
        assert_eq!(xa.find(1024, 2048, None), None);
        assert!(!xa.range_empty(0, 9));
        assert!(xa.range_empty(8, 3));
        assert_eq!(xa.erase(512).map(|e| e.value), Some(12));
        assert_eq!(xa.load(600), None);
        for i in [0, 4, 1 << 30] {
            xa.erase(i);
        }
        assert!(xa.is_empty());
    }

    #[test]
    fn marks_propagate_and_clear() {
        let mut xa = XArray::new();
        for i in 0..300u64 {
            xa.store(i * 8, 3, i as u32);
        }
        xa.set_mark(800, Mark::Dirty);
        xa.set_mark(2000, Mark::Dirty);
        assert!(xa.get_mark(800, Mark::Dirty) && !xa.get_mark(808, Mark::Dirty));
        assert_eq!(xa.find(0, u64::MAX, Some(Mark::Dirty)).map(|e| e.index), Some(800));
        assert_eq!(xa.find(801, u64::MAX, Some(Mark::Dirty)).map(|e| e.index), Some(800), "covers 801");
        assert_eq!(xa.find(808, u64::MAX, Some(Mark::Dirty)).map(|e| e.index), Some(2000));
        xa.clear_mark(800, Mark::Dirty);
        assert_eq!(xa.find(0, u64::MAX, Some(Mark::Dirty)).map(|e| e.index), Some(2000));
        xa.erase(2000);
        assert_eq!(xa.find(0, u64::MAX, Some(Mark::Dirty)), None);
        assert_eq!(xa.find(0, u64::MAX, Some(Mark::Writeback)), None);
    }
}
