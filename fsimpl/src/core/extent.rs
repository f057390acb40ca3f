//! The per-inode extent map: logical blocks to physical blocks, written or unwritten — what
//! ext4 keeps in its extent tree (`ext4_ext_map_blocks`, `ext4_ext_insert_extent`, ...).

use std::collections::BTreeMap;

/// One extent: `len` logical blocks from `lblk`, stored at physical blocks from `pblk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First logical block.
    pub lblk: u64,
    /// Number of blocks.
    pub len: u64,
    /// First physical block.
    pub pblk: u64,
    /// Allocated but not written: reads as zeros (`EXT4_EXT_UNWRITTEN`).
    pub unwritten: bool,
}

impl Extent {
    /// One past the last logical block.
    pub fn end(&self) -> u64 {
        self.lblk + self.len
    }

    /// The part of the extent from logical block `at` on (which must be inside it).
    pub fn from(&self, at: u64) -> Extent {
        debug_assert!(at >= self.lblk && at < self.end());
        Extent { lblk: at, len: self.end() - at, pblk: self.pblk + (at - self.lblk), unwritten: self.unwritten }
    }

    fn merges_before(&self, next: &Extent) -> bool {
        self.end() == next.lblk && self.pblk + self.len == next.pblk && self.unwritten == next.unwritten
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Val {
    len: u64,
    pblk: u64,
    unwritten: bool,
}

/// What is at a logical block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// An extent covers the block; the extent is trimmed to start at the block.
    Extent(Extent),
    /// No extent; the next extent starts at `next` (if any).
    Hole {
        /// Start of the next extent after the block.
        next: Option<u64>,
    },
}

/// Extents of one file, disjoint and merged where contiguous.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtentMap {
    map: BTreeMap<u64, Val>,
    blocks: u64,
}

impl ExtentMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of mapped blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Number of extents.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no extents.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All extents in logical order.
    pub fn iter(&self) -> impl Iterator<Item = Extent> + '_ {
        self.map.iter().map(|(&lblk, v)| Extent { lblk, len: v.len, pblk: v.pblk, unwritten: v.unwritten })
    }

    /// The extent containing `lblk`, if any.
    pub fn containing(&self, lblk: u64) -> Option<Extent> {
        let (&s, v) = self.map.range(..=lblk).next_back()?;
        (lblk < s + v.len).then_some(Extent { lblk: s, len: v.len, pblk: v.pblk, unwritten: v.unwritten })
    }

    /// What is at `lblk`.
    pub fn lookup(&self, lblk: u64) -> Lookup {
        match self.containing(lblk) {
            Some(e) => Lookup::Extent(e.from(lblk)),
            None => Lookup::Hole { next: self.map.range(lblk..).next().map(|(&s, _)| s) },
        }
    }

    /// The first extent starting at or after `lblk`.
    pub fn first_from(&self, lblk: u64) -> Option<Extent> {
        let (&s, v) = self.map.range(lblk..).next()?;
        Some(Extent { lblk: s, len: v.len, pblk: v.pblk, unwritten: v.unwritten })
    }

    /// The extent that ends last before `lblk` (to derive an allocation goal).
    pub fn before(&self, lblk: u64) -> Option<Extent> {
        let (&s, v) = self.map.range(..lblk).next_back()?;
        Some(Extent { lblk: s, len: v.len, pblk: v.pblk, unwritten: v.unwritten })
    }

    /// Inserts an extent over a hole, merging with contiguous neighbours of the same kind.
    pub fn insert(&mut self, e: Extent) {
        if e.len == 0 {
            return;
        }
        debug_assert!(self.overlap(e.lblk, e.len).is_none(), "extent {e:?} overlaps");
        self.blocks += e.len;
        let mut e = e;
        if let Some(prev) = self.before(e.lblk)
            && prev.merges_before(&e)
        {
            self.map.remove(&prev.lblk);
            e = Extent { lblk: prev.lblk, len: prev.len + e.len, pblk: prev.pblk, unwritten: e.unwritten };
        }
        if let Some(v) = self.map.get(&e.end()).copied() {
            let next = Extent { lblk: e.end(), len: v.len, pblk: v.pblk, unwritten: v.unwritten };
            if e.merges_before(&next) {
                self.map.remove(&next.lblk);
                e.len += next.len;
            }
        }
        self.map.insert(e.lblk, Val { len: e.len, pblk: e.pblk, unwritten: e.unwritten });
    }

    fn overlap(&self, lblk: u64, len: u64) -> Option<Extent> {
        let mut first = None;
        self.for_each_in(lblk, len, |e| {
            first.get_or_insert(e);
        });
        first
    }

    /// Calls `f` with each extent piece inside `[lblk, lblk + len)`, trimmed to the range.
    pub fn for_each_in(&self, lblk: u64, len: u64, mut f: impl FnMut(Extent)) {
        let end = lblk + len;
        let first = match self.containing(lblk) {
            Some(e) => e.lblk,
            None => lblk,
        };
        for (&s, v) in self.map.range(first..end) {
            let a = s.max(lblk);
            let b = (s + v.len).min(end);
            if b > a {
                f(Extent { lblk: a, len: b - a, pblk: v.pblk + (a - s), unwritten: v.unwritten });
            }
        }
    }

    /// Removes the mapping of `[lblk, lblk + len)`, splitting extents at the edges; calls
    /// `freed(pblk, len)` for every physical range released (`ext4_ext_remove_space`).
    pub fn remove(&mut self, lblk: u64, len: u64, mut freed: impl FnMut(u64, u64)) -> u64 {
        let mut pieces = Vec::new();
        self.for_each_in(lblk, len, |e| pieces.push(e));
        let mut n = 0;
        for p in pieces {
            let whole = self.containing(p.lblk).expect("piece comes from an extent");
            self.map.remove(&whole.lblk);
            if whole.lblk < p.lblk {
                let head = p.lblk - whole.lblk;
                self.map.insert(whole.lblk, Val { len: head, pblk: whole.pblk, unwritten: whole.unwritten });
            }
            if p.end() < whole.end() {
                let tail = whole.from(p.end());
                self.map.insert(tail.lblk, Val { len: tail.len, pblk: tail.pblk, unwritten: tail.unwritten });
            }
            freed(p.pblk, p.len);
            n += p.len;
        }
        self.blocks -= n;
        n
    }

    /// Marks `[lblk, lblk + len)` written where it is unwritten (`ext4_convert_unwritten_extents`);
    /// returns the number of blocks converted.
    pub fn convert_to_written(&mut self, lblk: u64, len: u64) -> u64 {
        self.set_kind(lblk, len, false)
    }

    /// Marks `[lblk, lblk + len)` unwritten where it is written (zero_range does this).
    pub fn convert_to_unwritten(&mut self, lblk: u64, len: u64) -> u64 {
        self.set_kind(lblk, len, true)
    }

    fn set_kind(&mut self, lblk: u64, len: u64, unwritten: bool) -> u64 {
        let mut pieces = Vec::new();
        self.for_each_in(lblk, len, |e| {
            if e.unwritten != unwritten {
                pieces.push(e);
            }
        });
        let mut n = 0;
        for p in pieces {
            self.remove(p.lblk, p.len, |_, _| {});
            self.insert(Extent { unwritten, ..p });
            n += p.len;
        }
        n
    }

    /// Moves every extent at or after `from` by `delta` blocks (collapse_range: negative,
    /// insert_range: positive; `ext4_ext_shift_extents`). No extent may straddle `from`.
    pub fn shift_from(&mut self, from: u64, delta: i64) {
        let moved: Vec<Extent> = self
            .map
            .range(from..)
            .map(|(&lblk, v)| Extent { lblk, len: v.len, pblk: v.pblk, unwritten: v.unwritten })
            .collect();
        for e in &moved {
            self.map.remove(&e.lblk);
            self.blocks -= e.len;
        }
        for e in moved {
            let lblk = e.lblk.checked_add_signed(delta).expect("shift stays in range");
            self.insert(Extent { lblk, ..e });
        }
    }

    /// Splits the extent containing `lblk` so that an extent starts exactly at `lblk`.
    pub fn split_at(&mut self, lblk: u64) {
        if let Some(e) = self.containing(lblk)
            && e.lblk < lblk
        {
            self.map.insert(e.lblk, Val { len: lblk - e.lblk, pblk: e.pblk, unwritten: e.unwritten });
            let tail = e.from(lblk);
            self.map.insert(lblk, Val { len: tail.len, pblk: tail.pblk, unwritten: tail.unwritten });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(lblk: u64, len: u64, pblk: u64, unwritten: bool) -> Extent {
        Extent { lblk, len, pblk, unwritten }
    }

    #[test]
    fn contiguous_extents_merge_only_when_same_kind() {
        let mut m = ExtentMap::new();
        m.insert(ext(0, 4, 100, false));
        m.insert(ext(4, 4, 104, false));
        assert_eq!(m.len(), 1);
        m.insert(ext(8, 4, 108, true));
        assert_eq!(m.len(), 2);
        assert_eq!(m.blocks(), 12);
        assert_eq!(m.lookup(5), Lookup::Extent(ext(5, 3, 105, false)));
        assert_eq!(m.lookup(20), Lookup::Hole { next: None });
    }

    #[test]
    fn remove_splits_and_reports_freed_ranges() {
        let mut m = ExtentMap::new();
        m.insert(ext(0, 10, 100, false));
        let mut freed = vec![];
        assert_eq!(m.remove(3, 4, |p, l| freed.push((p, l))), 4);
        assert_eq!(freed, vec![(103, 4)]);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![ext(0, 3, 100, false), ext(7, 3, 107, false)]);
        assert_eq!(m.lookup(4), Lookup::Hole { next: Some(7) });
        assert_eq!(m.blocks(), 6);
    }

    #[test]
    fn conversion_splits_then_merges_back() {
        let mut m = ExtentMap::new();
        m.insert(ext(0, 10, 100, true));
        assert_eq!(m.convert_to_written(2, 3), 3);
        assert_eq!(m.len(), 3);
        assert_eq!(m.convert_to_written(0, 10), 7);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![ext(0, 10, 100, false)]);
        assert_eq!(m.blocks(), 10);
    }

    #[test]
    fn shift_moves_extents_after_a_point() {
        let mut m = ExtentMap::new();
        m.insert(ext(0, 2, 100, false));
        m.insert(ext(10, 2, 50, false));
        m.shift_from(5, -8);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![ext(0, 2, 100, false), ext(2, 2, 50, false)]);
        m.split_at(1);
        assert_eq!(m.len(), 3);
        m.shift_from(1, 4);
        assert_eq!(m.lookup(5), Lookup::Extent(ext(5, 1, 101, false)));
        assert_eq!(m.blocks(), 4);
    }
}
