//! The block allocator, shaped like ext4's mballoc (fs/ext4/mballoc.c):
//!
//! - A request (`struct ext4_allocation_request`) has a goal — right after the file's
//!   nearest extent (`ext4_ext_find_goal`), or the start of the group after the inode's flex
//!   group's first one for a new regular file (`ext4_inode_to_goal_block`).
//! - Data requests of a file that is or becomes larger than `s_mb_stream_request` (16 blocks)
//!   are normalized (`ext4_mb_normalize_request`): rounded up to a size from the file's size
//!   (16 KiB ... 1 MiB, then 2, 4 or 8 MiB aligned windows), trimmed to the neighbouring
//!   extents; the surplus becomes the inode's preallocation (`ext4_mb_new_inode_pa`), from
//!   which later requests in its logical range are served (`ext4_mb_use_inode_pa`). Small
//!   files share a locality-group preallocation of `s_mb_group_prealloc` blocks
//!   (`ext4_mb_use_group_pa`), packed together.
//! - The search (`ext4_mb_regular_allocator`): the exact goal first (`ext4_mb_find_by_goal`),
//!   then the groups from the goal's on — or, for streams, from where the last stream
//!   allocation ended (`s_mb_last_group`) — for an aligned free chunk when the length is a
//!   power of two (the buddy's `CR_POWER2_ALIGNED`), else the first free extent long enough
//!   (`CR_GOAL_LEN_*`), else the longest (`CR_ANY_FREE`). An extent never crosses a group.
//! - Blocks freed in a transaction are not reused until it commits
//!   (`ext4_mb_free_metadata`, released by `ext4_free_data_in_buddy`).
//! - Delayed-allocation reservations (`ext4_da_reserve_space`, `s_dirtyclusters_counter`),
//!   the reserved pool that only metadata may use (`s_resv_clusters`: 2% of the filesystem,
//!   at most 4096 blocks, so that an unwritten conversion or an extent split never fails
//!   for lack of a tree block), and an optional limit that injects ENOSPC early (fault
//!   injection).
//!
//! The on-disk bitmaps are not here: the caller marks the blocks it is given. This module
//! keeps the in-memory view: the bitmaps' free blocks, less preallocations and pending frees.

use super::balloc::Geometry;
use crate::core::RangeSet;
use crate::error::{FsError, Result};
use std::collections::{BTreeMap, HashMap};

/// `s_mb_stream_request`: files up to this many blocks use the locality group.
pub const MB_STREAM_REQUEST: u64 = 16;
/// `s_mb_group_prealloc`: blocks of a locality-group preallocation.
pub const MB_GROUP_PREALLOC: u64 = 512;

/// One preallocation (`struct ext4_prealloc_space`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pa {
    /// First logical block it covers (inode PA).
    pub lstart: u64,
    /// First physical block.
    pub pstart: u64,
    /// Length.
    pub len: u64,
    /// Physical blocks not yet handed out.
    pub unused: RangeSet,
}

/// An allocation request (`struct ext4_allocation_request`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocRequest {
    /// The inode (its preallocations).
    pub ino: u64,
    /// First logical block (`ar->logical`).
    pub logical: u64,
    /// Blocks wanted (`ar->len`).
    pub len: u64,
    /// Physical goal (`ar->goal`).
    pub goal: u64,
    /// File data (`EXT4_MB_HINT_DATA`): may be normalized and preallocated.
    pub data: bool,
    /// Do not normalize (`EXT4_MB_HINT_NOPREALLOC`: fallocate of one extent).
    pub no_prealloc: bool,
    /// The file's size in blocks (`i_size` rounded up).
    pub isize_blocks: u64,
    /// Last mapped logical block before `logical`, if any (`ar->lleft`).
    pub lleft: Option<u64>,
    /// First mapped logical block after the request, if any (`ar->lright`).
    pub lright: Option<u64>,
    /// Blocks of the request reserved beforehand by delayed allocation.
    pub reserved: u64,
}

/// The allocator's in-memory state.
#[derive(Clone, Debug)]
pub struct Mballoc {
    geo: Geometry,
    /// Free blocks: free in the bitmaps, not preallocated, not waiting for a commit.
    free: RangeSet,
    /// Blocks freed by transaction tid: free once it commits.
    pending: BTreeMap<u32, RangeSet>,
    reserved: u64,
    /// `s_resv_clusters`: free blocks data may not take.
    resv: u64,
    limit: Option<u64>,
    /// Blocks in use in the bitmaps (not free there).
    used: u64,
    /// Blocks in use that the limit does not count (filesystem metadata at mount).
    limit_base: u64,
    inode_pa: HashMap<u64, Vec<Pa>>,
    group_pa: Option<Pa>,
    /// Where the last stream allocation ended (`s_mb_last_group`, `s_mb_last_start`).
    last_stream: u64,
}

impl Mballoc {
    /// The allocator over `free` (the bitmaps' free blocks).
    pub fn new(geo: Geometry, free: RangeSet) -> Self {
        let used = geo.blocks_count - geo.first_data_block - free.total();
        Mballoc {
            geo,
            free,
            pending: BTreeMap::new(),
            reserved: 0,
            resv: (geo.blocks_count / 50).min(4096),
            limit: None,
            used,
            limit_base: 0,
            inode_pa: HashMap::new(),
            group_pa: None,
            last_stream: 0,
        }
    }

    /// Refuses, with ENOSPC, to let more than `limit` blocks of files (data and extent
    /// trees; `file_blocks` of them are in use now) be in use or reserved.
    pub fn set_limit(&mut self, limit: Option<u64>, file_blocks: u64) {
        self.limit = limit;
        self.limit_base = self.used.saturating_sub(file_blocks);
    }

    fn preallocated(&self) -> u64 {
        self.inode_pa.values().flatten().chain(self.group_pa.as_ref()).map(|p| p.unused.total()).sum()
    }

    /// Free blocks, preallocated ones included (they are free on disk).
    pub fn free_blocks(&self) -> u64 {
        self.free.total() + self.preallocated()
    }

    /// The free extents, in block order.
    pub fn free_extents(&self) -> Vec<(u64, u64)> {
        self.free.iter().collect()
    }

    /// Blocks freed and waiting for their transaction to commit.
    pub fn pending_frees(&self) -> u64 {
        self.pending.values().map(RangeSet::total).sum()
    }

    /// Blocks reserved for delayed allocation.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Blocks in use in the bitmaps.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Free blocks data may still take: not promised to delayed allocation, not in the
    /// metadata pool, within the limit.
    pub fn available(&self) -> u64 {
        let free = self.free_blocks().saturating_sub(self.reserved + self.resv);
        match self.limit {
            Some(limit) => free.min(limit.saturating_sub(self.used.saturating_sub(self.limit_base) + self.reserved)),
            None => free,
        }
    }

    /// Reserves `n` blocks for delayed allocation (`ext4_da_reserve_space`), or ENOSPC.
    pub fn reserve(&mut self, n: u64) -> Result<()> {
        if self.available() < n {
            return Err(FsError::NoSpace { what: "delayed allocation reservation" });
        }
        self.reserved += n;
        Ok(())
    }

    /// Gives back `n` reserved blocks (`ext4_da_release_space`).
    pub fn release(&mut self, n: u64) {
        debug_assert!(n <= self.reserved, "release {n} > reserved {}", self.reserved);
        self.reserved -= n.min(self.reserved);
    }

    /// Blocks freed by transaction `tid` (their bitmap bits are cleared by the caller in
    /// that transaction): reusable once it commits.
    pub fn free_blocks_in(&mut self, tid: u32, pblk: u64, len: u64) {
        self.used -= len;
        self.pending.entry(tid).or_default().insert(pblk, len);
    }

    /// Every transaction up to `committed` is durable: its frees become free
    /// (`ext4_free_data_in_buddy`).
    pub fn commit_done(&mut self, committed: u32) {
        while let Some((&tid, _)) = self.pending.first_key_value() {
            if !super::super::jbd2::tid_geq(committed, tid) {
                break;
            }
            let set = self.pending.remove(&tid).expect("first entry");
            for (s, l) in set.iter() {
                self.free.insert(s, l);
            }
        }
    }

    /// Drops inode `ino`'s preallocations (`ext4_discard_preallocations`): their unused
    /// blocks are free again.
    pub fn discard_preallocations(&mut self, ino: u64) {
        for pa in self.inode_pa.remove(&ino).unwrap_or_default() {
            for (s, l) in pa.unused.iter() {
                self.free.insert(s, l);
            }
        }
    }

    /// Drops every preallocation (at unmount, and before giving up with ENOSPC:
    /// `ext4_mb_discard_preallocations`). Returns whether any blocks came back.
    pub fn discard_all_preallocations(&mut self) -> bool {
        let inos: Vec<u64> = self.inode_pa.keys().copied().collect();
        let before = self.free.total();
        for ino in inos {
            self.discard_preallocations(ino);
        }
        if let Some(pa) = self.group_pa.take() {
            for (s, l) in pa.unused.iter() {
                self.free.insert(s, l);
            }
        }
        self.free.total() > before
    }

    /// Marks `[pblk, pblk + len)` in use outside any request (metadata found at mount is
    /// already out of `free`; this is for blocks the caller takes itself).
    pub fn take(&mut self, pblk: u64, len: u64) -> Result<()> {
        if self.free.overlap(pblk, len) != len {
            return Err(FsError::Corrupt { what: format!("blocks {pblk}+{len} are not free") });
        }
        self.free.remove(pblk, len);
        self.used += len;
        Ok(())
    }

    /// `ext4_mb_new_blocks`: allocates up to `req.len` blocks for `req`, returning
    /// `(pblk, count)`; the caller marks them in the bitmap. ENOSPC when nothing is free.
    pub fn new_blocks(&mut self, req: &AllocRequest) -> Result<(u64, u64)> {
        debug_assert!(req.reserved <= req.len && req.reserved <= self.reserved);
        // Unreserved blocks may only come from what is not promised to delayed allocation.
        let allowed = (self.available() + req.reserved).min(req.len);
        if allowed == 0 {
            return Err(FsError::NoSpace { what: "data blocks" });
        }
        let mut req = *req;
        req.len = allowed;
        let got = match self.use_preallocated(&req) {
            Some(got) => got,
            None => match self.allocate(&req) {
                Some(got) => got,
                None if self.discard_all_preallocations() => {
                    self.allocate(&req).ok_or(FsError::NoSpace { what: "data blocks" })?
                }
                None => return Err(FsError::NoSpace { what: "data blocks" }),
            },
        };
        self.used += got.1;
        self.reserved -= req.reserved.min(got.1);
        Ok(got)
    }

    /// `ext4_mb_use_preallocated`: an inode preallocation covering `req.logical`, or the
    /// locality group's for a small file.
    fn use_preallocated(&mut self, req: &AllocRequest) -> Option<(u64, u64)> {
        if !req.data {
            return None;
        }
        if let Some(pas) = self.inode_pa.get_mut(&req.ino) {
            for pa in pas.iter_mut() {
                if req.logical < pa.lstart || req.logical >= pa.lstart + pa.len {
                    continue;
                }
                let start = pa.pstart + (req.logical - pa.lstart);
                let end = (pa.pstart + pa.len).min(start + req.len);
                // Only blocks of the window still unused, contiguous from `start`.
                let Some((s, l)) = pa.unused.find(start) else { continue };
                let n = (s + l).min(end) - start;
                pa.unused.remove(start, n);
                return Some((start, n));
            }
        }
        if self.group_alloc(req)
            && let Some(pa) = self.group_pa.as_mut()
        {
            let first = pa.unused.iter().next();
            if let Some((s, l)) = first
                && l >= req.len
            {
                pa.unused.remove(s, req.len);
                return Some((s, req.len));
            }
        }
        None
    }

    /// `ext4_mb_group_or_file`: a small file's data goes through the locality group.
    fn group_alloc(&self, req: &AllocRequest) -> bool {
        req.data && !req.no_prealloc && (req.logical + req.len).max(req.isize_blocks) <= MB_STREAM_REQUEST
    }

    fn stream(&self, req: &AllocRequest) -> bool {
        req.data && !req.no_prealloc && !self.group_alloc(req)
    }

    /// Allocates from free space, normalizing and preallocating data requests.
    fn allocate(&mut self, req: &AllocRequest) -> Option<(u64, u64)> {
        let group = self.group_alloc(req);
        let (g_logical, g_len) = if group {
            (req.logical, MB_GROUP_PREALLOC.max(req.len))
        } else if self.stream(req) {
            self.normalize(req)
        } else {
            (req.logical, req.len)
        };
        let want = g_len.min(self.free.total().saturating_sub(self.reserved_outside(req))).max(req.len);
        let (pstart, got) = self.regular_allocator(req, want)?;
        self.free.remove(pstart, got);
        if self.stream(req) {
            self.last_stream = pstart + got;
        }
        if got <= req.len {
            return Some((pstart, got));
        }
        // The surplus becomes a preallocation (`ext4_mb_new_preallocation`).
        let mut unused = RangeSet::new();
        if group {
            unused.insert(pstart + req.len, got - req.len);
            if let Some(old) = self.group_pa.replace(Pa { lstart: 0, pstart, len: got, unused }) {
                for (s, l) in old.unused.iter() {
                    self.free.insert(s, l);
                }
            }
            return Some((pstart, req.len));
        }
        // `ext4_mb_new_inode_pa`: the window's logical start, moved so that it covers the
        // request when less than the window was found.
        let mut lstart = g_logical;
        if got < g_len {
            let g_end = g_logical + g_len;
            lstart = g_end - got;
            if req.logical < lstart {
                lstart = g_logical;
                if req.logical + req.len > lstart + got {
                    lstart = req.logical;
                }
            }
        }
        let first = pstart + (req.logical - lstart);
        let n = req.len.min(pstart + got - first);
        unused.insert(pstart, got);
        unused.remove(first, n);
        self.inode_pa.entry(req.ino).or_default().push(Pa { lstart, pstart, len: got, unused });
        Some((first, n))
    }

    /// Blocks promised to delayed allocation other than this request's.
    fn reserved_outside(&self, req: &AllocRequest) -> u64 {
        self.reserved - req.reserved.min(self.reserved)
    }

    /// `ext4_mb_normalize_request`: the logical window to allocate for a data request.
    fn normalize(&self, req: &AllocRequest) -> (u64, u64) {
        let bs = self.geo.block_size as u64;
        let bsbits = bs.trailing_zeros();
        let o_end = req.logical + req.len;
        let size = (o_end.max(req.isize_blocks)) * bs;
        let kib = 1u64 << 10;
        let (start_off, size) = if size <= 16 * kib {
            (0, 16 * kib)
        } else if size <= 32 * kib {
            (0, 32 * kib)
        } else if size <= 64 * kib {
            (0, 64 * kib)
        } else if size <= 128 * kib {
            (0, 128 * kib)
        } else if size <= 256 * kib {
            (0, 256 * kib)
        } else if size <= 512 * kib {
            (0, 512 * kib)
        } else if size <= 1024 * kib {
            (0, 1024 * kib)
        } else if size <= 4096 * kib {
            ((req.logical >> (21 - bsbits)) << 21, 2048 * kib)
        } else if size <= 8192 * kib {
            ((req.logical >> (22 - bsbits)) << 22, 4096 * kib)
        } else if req.len <= (8 << 20) >> bsbits {
            ((req.logical >> (23 - bsbits)) << 23, 8192 * kib)
        } else {
            (req.logical << bsbits, req.len << bsbits)
        };
        let mut size = size >> bsbits;
        let mut start = start_off >> bsbits;
        let bpg = self.geo.blocks_per_group;
        start = start.max(req.logical / bpg * bpg);
        // Don't cover already mapped blocks.
        if let Some(l) = req.lleft
            && start <= l
        {
            size = size.saturating_sub(l + 1 - start);
            start = l + 1;
        }
        if let Some(r) = req.lright
            && start + size > r
        {
            size = r.saturating_sub(start);
        }
        size = size.min(bpg);
        // The window overlaps another preallocation of the file: keep the request only.
        let overlaps = self.inode_pa.get(&req.ino).is_some_and(|pas| {
            pas.iter().any(|p| start < p.lstart + p.len && p.lstart < start + size && !p.unused.is_empty())
        });
        if overlaps || start > req.logical || start + size < o_end {
            return (req.logical, req.len);
        }
        (start, size)
    }

    /// `ext4_mb_regular_allocator`: where `want` blocks (at least `req.len` of them if
    /// possible) go. Returns `(pblk, count)` within one group.
    fn regular_allocator(&self, req: &AllocRequest, want: u64) -> Option<(u64, u64)> {
        let geo = &self.geo;
        let goal = req.goal.clamp(geo.first_data_block, geo.blocks_count - 1);
        // `ext4_mb_find_by_goal`: the goal itself, if free for the whole window.
        if let Some((s, l)) = self.free.find(goal) {
            let group_end = self.group_end(goal);
            let here = (s + l).min(group_end) - goal;
            if here >= want {
                return Some((goal, want));
            }
        }
        let start_group = if self.stream(req) && self.last_stream != 0 {
            geo.group_of_block(self.last_stream.clamp(geo.first_data_block, geo.blocks_count - 1)).0
        } else {
            geo.group_of_block(goal).0
        };
        let groups = geo.groups;
        // CR_POWER2_ALIGNED: a buddy-aligned free chunk of a power-of-two length.
        if want.is_power_of_two() && want > 1 {
            for i in 0..groups {
                let g = (start_group + i) % groups;
                if let Some(p) = self.aligned_in_group(g, want) {
                    return Some((p, want));
                }
            }
        }
        // CR_GOAL_LEN: the first free extent of the whole length, from the goal on.
        for i in 0..groups {
            let g = (start_group + i) % groups;
            let from = if i == 0 && geo.group_of_block(goal).0 == g { goal } else { geo.group_first_block(g) };
            if let Some(p) = self.fit_in_group(g, from, want) {
                return Some((p, want));
            }
        }
        // CR_ANY_FREE: the longest free extent in any group.
        let mut best: Option<(u64, u64)> = None;
        for (s, l) in self.free.iter() {
            let mut at = s;
            while at < s + l {
                let n = (s + l).min(self.group_end(at)) - at;
                if best.is_none_or(|(_, bl)| n > bl) {
                    best = Some((at, n));
                }
                at += n;
            }
        }
        best.map(|(s, l)| (s, l.min(want)))
    }

    fn group_end(&self, b: u64) -> u64 {
        let g = self.geo.group_of_block(b).0;
        self.geo.group_first_block(g) + self.geo.group_blocks(g)
    }

    /// A free chunk of `len` (a power of two) aligned to `len` within group `g`.
    fn aligned_in_group(&self, g: u64, len: u64) -> Option<u64> {
        let base = self.geo.group_first_block(g);
        let end = base + self.geo.group_blocks(g);
        let ranges = self.free.find(base).into_iter().chain(self.free.iter_from(base)).take_while(|&(s, _)| s < end);
        for (s, l) in ranges {
            let lo = s.max(base);
            let hi = (s + l).min(end);
            let aligned = base + (lo - base).next_multiple_of(len);
            if aligned + len <= hi {
                return Some(aligned);
            }
        }
        None
    }

    /// The first free extent of `len` blocks in group `g` at or after `from`.
    fn fit_in_group(&self, g: u64, from: u64, len: u64) -> Option<u64> {
        let end = self.geo.group_first_block(g) + self.geo.group_blocks(g);
        if let Some((s, l)) = self.free.find(from)
            && (s + l).min(end) >= from + len
        {
            return Some(from);
        }
        self.free
            .iter_from(from)
            .take_while(|&(s, _)| s < end)
            .find(|&(s, l)| (s + l).min(end) >= s + len)
            .map(|(s, _)| s)
    }

    /// Metadata blocks (extent tree, directory): goal-directed, no normalization.
    pub fn new_meta_block(&mut self, goal: u64) -> Result<u64> {
        let req = AllocRequest {
            ino: 0,
            logical: 0,
            len: 1,
            goal,
            data: false,
            no_prealloc: true,
            isize_blocks: 0,
            lleft: None,
            lright: None,
            reserved: 0,
        };
        let got = match self.regular_allocator(&req, 1) {
            Some(g) => g,
            None if self.discard_all_preallocations() => {
                self.regular_allocator(&req, 1).ok_or(FsError::NoSpace { what: "metadata blocks" })?
            }
            None => return Err(FsError::NoSpace { what: "metadata blocks" }),
        };
        self.free.remove(got.0, 1);
        self.used += 1;
        Ok(got.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo() -> Geometry {
        Geometry {
            block_size: 4096,
            blocks_count: 4 * 32768,
            first_data_block: 0,
            blocks_per_group: 32768,
            inodes_per_group: 8192,
            inode_size: 256,
            groups: 4,
            desc_size: 64,
            gdt_blocks: 1,
            reserved_gdt: 0,
            groups_per_flex: 16,
            csum: true,
            csum_seed: 0,
            first_ino: 11,
        }
    }

    fn mb() -> Mballoc {
        let mut free = RangeSet::new();
        free.insert(1000, 4 * 32768 - 1000);
        Mballoc::new(geo(), free)
    }

    fn data(ino: u64, logical: u64, len: u64, goal: u64, isize: u64) -> AllocRequest {
        AllocRequest {
            ino,
            logical,
            len,
            goal,
            data: true,
            no_prealloc: false,
            isize_blocks: isize,
            lleft: logical.checked_sub(1),
            lright: None,
            reserved: 0,
        }
    }

    /// Appends one block at a time, each allocated at writeback with the file's size so
    /// far; returns the physical blocks.
    fn append(m: &mut Mballoc, ino: u64, n: u64, known_size: u64) -> Vec<u64> {
        let mut goal = 32768;
        let mut out = Vec::new();
        for lblk in 0..n {
            let (p, got) = m.new_blocks(&data(ino, lblk, 1, goal, known_size.max(lblk + 1))).unwrap();
            assert_eq!(got, 1);
            out.push(p);
            goal = p + 1;
        }
        out
    }

    #[test]
    fn a_sequential_file_stays_contiguous_through_its_preallocation() {
        let mut m = mb();
        let p = append(&mut m, 12, 300, 1000);
        assert!(p.windows(2).all(|w| w[1] == w[0] + 1), "{p:?}");
        // A file that starts small begins in the locality group, then streams on its own.
        let q = append(&mut m, 13, 300, 0);
        assert!(q[..16].windows(2).all(|w| w[1] == w[0] + 1));
        assert!(q[16..].windows(2).all(|w| w[1] == w[0] + 1));
        m.discard_preallocations(12);
        m.discard_preallocations(13);
        m.discard_all_preallocations();
        assert_eq!(m.free_blocks() + m.used(), 4 * 32768, "every block is free or used");
    }

    #[test]
    fn small_files_share_the_locality_group() {
        let mut m = mb();
        let (a, _) = m.new_blocks(&data(12, 0, 2, 32768, 2)).unwrap();
        let (b, _) = m.new_blocks(&data(13, 0, 2, 32768, 2)).unwrap();
        assert_eq!(b, a + 2, "packed after the previous small file");
    }

    #[test]
    fn reservations_and_limits() {
        let mut m = mb();
        m.set_limit(Some(10), 0);
        m.reserve(6).unwrap();
        assert!(m.reserve(5).is_err());
        let (_, n) = m.new_blocks(&data(12, 0, 8, 32768, 8)).unwrap();
        assert_eq!(n, 4, "only 4 unpromised blocks are under the limit");
        let mut r = data(12, 8, 6, 0, 14);
        r.reserved = 6;
        assert_eq!(m.new_blocks(&r).unwrap().1, 6);
        assert_eq!(m.reserved(), 0);
    }

    #[test]
    fn frees_wait_for_their_commit() {
        let mut m = mb();
        let total = m.free_blocks();
        let (p, n) = m.new_blocks(&data(12, 0, 100, 32768, 100)).unwrap();
        m.discard_preallocations(12);
        m.free_blocks_in(7, p, n);
        assert_eq!(m.free_blocks(), total - n);
        m.commit_done(6);
        assert_eq!(m.pending_frees(), n);
        m.commit_done(7);
        assert_eq!(m.free_blocks(), total);
    }
}
