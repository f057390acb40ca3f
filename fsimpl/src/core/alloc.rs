//! The block allocator: free space as ranges, goal-directed and contiguous first (what ext4's
//! mballoc does with `ext4_mb_new_blocks`), plus the delayed-allocation reservation counter
//! (`ext4_da_reserve_space` / `ext4_da_release_space`).
//!
//! Freed blocks are not reused until the metadata commit that frees them is durable (as jbd2
//! keeps blocks freed in the running transaction, `ext4_mb_free_metadata`): otherwise a crash
//! before that commit would find the old metadata pointing at blocks holding new data.
//!
//! An optional limit on the blocks in use or reserved injects ENOSPC early (fault injection,
//! [`crate::options::FsFaults::alloc_limit`]), as a full filesystem would give it.

use crate::error::{FsError, Result};
use crate::rangeset::RangeSet;

/// Free data blocks and reserved (promised to delalloc) blocks.
#[derive(Clone, Debug)]
pub struct BlockAllocator {
    free: RangeSet,
    /// Freed since the last commit began: not free until that commit is durable.
    pending: RangeSet,
    reserved: u64,
    first: u64,
    end: u64,
    limit: Option<u64>,
}

impl BlockAllocator {
    /// Every block of `[first, end)` free.
    pub fn new(first: u64, end: u64) -> Self {
        let mut free = RangeSet::new();
        free.insert(first, end - first);
        BlockAllocator { free, pending: RangeSet::new(), reserved: 0, first, end, limit: None }
    }

    /// Refuses, with ENOSPC, to let more than `limit` blocks be in use or reserved (`None`: no
    /// limit but the device's). A fault to inject, like a nearly full filesystem.
    pub fn set_limit(&mut self, limit: Option<u64>) {
        self.limit = limit;
    }

    /// Blocks in use (allocated to files; freed blocks waiting for a commit are not).
    pub fn used(&self) -> u64 {
        (self.end - self.first) - self.free.total() - self.pending.total()
    }

    /// Blocks freed and waiting for a commit before they can be reused.
    pub fn pending_frees(&self) -> u64 {
        self.pending.total()
    }

    /// Takes the blocks freed so far, for the commit about to be written: they become free
    /// with [`BlockAllocator::commit_frees`] once it is durable, or wait for the next one with
    /// [`BlockAllocator::restore_frees`] if it fails.
    pub fn take_pending_frees(&mut self) -> RangeSet {
        std::mem::take(&mut self.pending)
    }

    /// The commit holding `frees` is durable: the blocks are free.
    pub fn commit_frees(&mut self, frees: RangeSet) {
        for (s, l) in frees.iter() {
            self.free.insert(s, l);
        }
    }

    /// The commit holding `frees` failed: they wait for the next one.
    pub fn restore_frees(&mut self, frees: RangeSet) {
        for (s, l) in frees.iter() {
            self.pending.insert(s, l);
        }
    }

    /// Free blocks (reserved ones included).
    pub fn free_blocks(&self) -> u64 {
        self.free.total()
    }

    /// Blocks reserved for delayed allocation.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Free blocks not promised to anyone (and within the limit, if one is set).
    pub fn available(&self) -> u64 {
        let free = self.free.total() - self.reserved;
        match self.limit {
            Some(limit) => free.min(limit.saturating_sub(self.used() + self.reserved)),
            None => free,
        }
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

    /// Frees `[pblk, pblk + len)`: reusable once the next metadata commit is durable.
    pub fn free(&mut self, pblk: u64, len: u64) {
        self.pending.insert(pblk, len);
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

    #[test]
    fn a_limit_refuses_reservations_and_allocations_beyond_it_and_frees_give_back() {
        let mut a = BlockAllocator::new(0, 100);
        a.set_limit(Some(10));
        a.reserve(6).unwrap();
        assert_eq!(a.alloc(0, 8, 0).unwrap(), (0, 4), "only 4 unpromised blocks are under the limit");
        assert!(matches!(a.reserve(1), Err(FsError::NoSpace { .. })));
        assert!(matches!(a.alloc(50, 1, 0), Err(FsError::NoSpace { .. })));
        // Promised blocks are still granted.
        assert_eq!(a.alloc(10, 6, 6).unwrap(), (10, 6));
        a.free(0, 4);
        assert_eq!(a.available(), 4);
        a.set_limit(None);
        assert_eq!(a.available(), 90, "freed blocks wait for a commit");
        let frees = a.take_pending_frees();
        a.commit_frees(frees);
        assert_eq!(a.available(), 94);
    }

    #[test]
    fn freed_blocks_are_reused_only_after_their_commit() {
        let mut a = BlockAllocator::new(0, 20);
        assert_eq!(a.alloc(0, 10, 0).unwrap(), (0, 10));
        a.free(0, 10);
        assert_eq!(a.alloc(0, 4, 0).unwrap(), (10, 4), "took a block freed by an uncommitted change");
        let frees = a.take_pending_frees();
        a.free(10, 2);
        a.restore_frees(frees);
        assert_eq!(a.pending_frees(), 12);
        let frees = a.take_pending_frees();
        a.commit_frees(frees);
        assert_eq!(a.alloc(0, 4, 0).unwrap(), (0, 4));
        assert_eq!(a.free_blocks(), 20 - 4 - 2);
    }
}
