//! The block allocator: free space as ranges, goal-directed and contiguous first (what ext4's
//! mballoc does with `ext4_mb_new_blocks`), plus the delayed-allocation reservation counter
//! (`ext4_da_reserve_space` / `ext4_da_release_space`).

use super::rangeset::RangeSet;
use crate::error::{FsError, Result};

/// Free data blocks and reserved (promised to delalloc) blocks.
#[derive(Clone, Debug)]
pub struct BlockAllocator {
    free: RangeSet,
    reserved: u64,
    first: u64,
    end: u64,
}

impl BlockAllocator {
    /// Every block of `[first, end)` free.
    pub fn new(first: u64, end: u64) -> Self {
        let mut free = RangeSet::new();
        free.insert(first, end - first);
        BlockAllocator { free, reserved: 0, first, end }
    }

    /// Free blocks (reserved ones included).
    pub fn free_blocks(&self) -> u64 {
        self.free.total()
    }

    /// Blocks reserved for delayed allocation.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Free blocks not promised to anyone.
    pub fn available(&self) -> u64 {
        self.free.total() - self.reserved
    }

    /// Number of free-space fragments.
    pub fn fragments(&self) -> usize {
        self.free.ranges()
    }

    /// Reserves `n` blocks for delayed allocation, or fails with ENOSPC.
    pub fn reserve(&mut self, n: u64) -> Result<()> {
        if self.available() < n {
            return Err(FsError::NoSpace { what: "delayed allocation reservation" });
        }
        self.reserved += n;
        Ok(())
    }

    /// Gives back `n` reserved blocks (a short write, a punched delalloc range).
    pub fn release(&mut self, n: u64) {
        debug_assert!(n <= self.reserved, "release {n} > reserved {}", self.reserved);
        self.reserved -= n.min(self.reserved);
    }

    /// Marks `[pblk, pblk + len)` in use (at mount, from the extent maps).
    pub fn mark_used(&mut self, pblk: u64, len: u64) -> Result<()> {
        if pblk < self.first || pblk + len > self.end || self.free.overlap(pblk, len) != len {
            return Err(FsError::Corrupt { what: format!("extent at block {pblk}+{len} is outside free space") });
        }
        self.free.remove(pblk, len);
        Ok(())
    }

    /// Allocates up to `len` blocks, preferring `goal`, then the first free range after the goal
    /// that holds all `len`, then the largest free range. `reserved` of the `len` blocks were
    /// reserved beforehand (delayed allocation) and are taken out of the reservation.
    /// Returns `(pblk, count)`, where `count` may be less than `len`; ENOSPC if nothing is free.
    pub fn alloc(&mut self, goal: u64, len: u64, reserved: u64) -> Result<(u64, u64)> {
        debug_assert!(reserved <= len && reserved <= self.reserved);
        let unreserved_ok = self.available() + reserved;
        let want = len.min(unreserved_ok.max(reserved));
        if want == 0 {
            return Err(FsError::NoSpace { what: "data blocks" });
        }
        let goal = goal.clamp(self.first, self.end - 1);
        let (start, got) = self.pick(goal, want).ok_or(FsError::NoSpace { what: "data blocks" })?;
        self.free.remove(start, got);
        self.reserved -= reserved.min(got);
        Ok((start, got))
    }

    fn pick(&self, goal: u64, want: u64) -> Option<(u64, u64)> {
        if let Some((s, l)) = self.free.find(goal) {
            let here = s + l - goal;
            if here >= want {
                return Some((goal, want));
            }
        }
        let fits = |&(_, l): &(u64, u64)| l >= want;
        if let Some((s, _)) = self.free.iter_from(goal).find(fits).or_else(|| self.free.iter().find(fits)) {
            return Some((s, want));
        }
        let (s, l) = self.free.iter().max_by_key(|&(s, l)| (l, std::cmp::Reverse(s)))?;
        Some((s, l.min(want)))
    }

    /// Returns `[pblk, pblk + len)` to free space.
    pub fn free(&mut self, pblk: u64, len: u64) {
        self.free.insert(pblk, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_first_then_contiguous_then_largest() {
        let mut a = BlockAllocator::new(10, 110);
        assert_eq!(a.alloc(50, 10, 0).unwrap(), (50, 10));
        assert_eq!(a.alloc(60, 5, 0).unwrap(), (60, 5));
        // Goal inside a range too short for 50 blocks: the first range after it that fits.
        a.mark_used(90, 1).unwrap();
        assert_eq!(a.alloc(85, 15, 0).unwrap(), (91, 15));
        // Nothing holds 60: the largest range, partly.
        let (s, n) = a.alloc(0, 60, 0).unwrap();
        assert_eq!((s, n), (10, 40));
        assert_eq!(a.free_blocks(), 100 - 10 - 5 - 1 - 15 - 40);
    }

    #[test]
    fn reservations_limit_unreserved_allocation() {
        let mut a = BlockAllocator::new(0, 10);
        a.reserve(8).unwrap();
        assert!(matches!(a.reserve(3), Err(FsError::NoSpace { .. })));
        // An unreserved allocation may take only what is not promised.
        assert_eq!(a.alloc(0, 5, 0).unwrap(), (0, 2));
        assert!(a.alloc(0, 1, 0).is_err());
        // The delalloc blocks get their promised space.
        assert_eq!(a.alloc(0, 8, 8).unwrap(), (2, 8));
        assert_eq!(a.reserved(), 0);
        assert_eq!(a.free_blocks(), 0);
    }
}
