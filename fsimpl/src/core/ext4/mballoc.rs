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
//!   Each group is searched under its own lock (`ext4_lock_group`), skipped without it when
//!   its free count (`bb_free`) cannot satisfy the request.
//! - Allocated blocks are marked in the group's bitmap with its descriptor
//!   (`ext4_mb_mark_diskspace_used`); freed ones are cleared there at once but stay out of
//!   the allocator's view until the transaction that freed them commits
//!   (`ext4_mb_free_metadata`, released by the journal's commit callback,
//!   `ext4_process_freed_data`).
//! - Delayed-allocation reservations (`ext4_da_reserve_space`, `s_dirtyclusters_counter`),
//!   the reserved pool that only metadata may use (`s_resv_clusters`: 2% of the filesystem,
//!   at most 4096 blocks, so that an unwritten conversion or an extent split never fails
//!   for lack of a tree block), and an optional limit that injects ENOSPC early (fault
//!   injection). The totals are per-CPU counters, summed exactly when a decision is close
//!   (`ext4_has_free_clusters`).

use super::balloc::{self, Geometry};
use super::fs::{Ext4, GroupInfo};
use super::group_desc::EXT4_BG_BLOCK_UNINIT;
use super::inode::DiskInode;
use crate::core::jbd2::{Handle, tid_geq};
use crate::error::{FsError, Result};
use crate::kernel::lock;
use crate::kernel::percpu::PercpuCounter;
use crate::rangeset::RangeSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// `s_mb_stream_request`: files up to this many blocks use the locality group.
pub const MB_STREAM_REQUEST: u64 = 16;
/// `s_mb_group_prealloc`: blocks of a locality-group preallocation.
pub const MB_GROUP_PREALLOC: u64 = 512;

/// One preallocation (`struct ext4_prealloc_space`): physical blocks set aside for an
/// inode's logical range (or for the locality group), free on disk, out of the allocator's
/// view until used or discarded. On its group's list and its inode's.
#[derive(Debug)]
pub struct Pa {
    /// First logical block it covers (inode PA).
    pub lstart: u64,
    /// First physical block.
    pub pstart: u64,
    /// Length.
    pub len: u64,
    /// Its group.
    pub group: u64,
    /// `pa_lock`: what is left of it.
    state: Mutex<PaState>,
}

#[derive(Debug)]
struct PaState {
    /// Physical blocks not yet handed out (`pa_free`).
    unused: RangeSet,
    /// Discarded (`pa_deleted`): its inode drops it from its list when it next looks.
    deleted: bool,
}

impl Pa {
    fn new(lstart: u64, pstart: u64, len: u64, group: u64, unused: RangeSet) -> Arc<Pa> {
        Arc::new(Pa { lstart, pstart, len, group, state: Mutex::new(PaState { unused, deleted: false }) })
    }

    /// Whether it still has blocks to give.
    pub fn is_live(&self) -> bool {
        let s = lock(&self.state);
        !s.deleted && !s.unused.is_empty()
    }
}

/// An allocation request (`struct ext4_allocation_request`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocRequest {
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

/// A range freed by a transaction, free once it commits (`struct ext4_free_data`).
#[derive(Clone, Copy, Debug)]
struct FreedData {
    tid: u32,
    pblk: u64,
    len: u64,
}

/// The allocator's filesystem-wide state (the `s_mb_*` fields of `ext4_sb_info`).
pub(crate) struct MbState {
    geo: Geometry,
    /// Free blocks on disk, preallocated ones included, less those waiting for a commit
    /// (`s_freeclusters_counter`).
    pub free_clusters: PercpuCounter,
    /// Blocks reserved for delayed allocation (`s_dirtyclusters_counter`).
    pub dirty_clusters: PercpuCounter,
    /// Blocks freed by transactions not yet committed (`s_mb_free_pending`).
    pub free_pending: AtomicU64,
    /// `s_resv_clusters`: free blocks data may not take.
    resv: u64,
    /// The fault-injection limit (`u64::MAX`: none) and the blocks in use that it does not
    /// count (filesystem metadata at mount).
    limit: AtomicU64,
    limit_base: AtomicU64,
    /// `s_freed_data_list`, under `s_md_lock`.
    freed: Mutex<Vec<FreedData>>,
    /// The locality group's preallocation (`lg_prealloc_list`, under `lg_mutex`).
    lg: Mutex<Option<Arc<Pa>>>,
    /// Where the last stream allocation ended (`s_mb_last_group`, `s_mb_last_start`).
    last_stream: AtomicU64,
}

impl MbState {
    /// The state of a filesystem whose bitmaps have `free` free blocks.
    pub fn new(geo: &Geometry, free: u64) -> Self {
        MbState {
            geo: *geo,
            free_clusters: PercpuCounter::new(free as i64),
            dirty_clusters: PercpuCounter::new(0),
            free_pending: AtomicU64::new(0),
            resv: (geo.blocks_count / 50).min(4096),
            limit: AtomicU64::new(u64::MAX),
            limit_base: AtomicU64::new(0),
            freed: Mutex::new(Vec::new()),
            lg: Mutex::new(None),
            last_stream: AtomicU64::new(0),
        }
    }

    fn total(&self) -> u64 {
        self.geo.blocks_count - self.geo.first_data_block
    }

    /// Blocks in use in the bitmaps.
    fn used(&self, free: u64) -> u64 {
        self.total().saturating_sub(free + self.free_pending.load(Relaxed))
    }

    /// Refuses, with ENOSPC, to let more than `limit` blocks of files (data and extent
    /// trees; `file_blocks` of them are in use now) be in use or reserved.
    pub fn set_limit(&self, limit: Option<u64>, file_blocks: u64) {
        let used = self.used(self.free_clusters.sum_positive() as u64);
        self.limit_base.store(used.saturating_sub(file_blocks), Relaxed);
        self.limit.store(limit.unwrap_or(u64::MAX), Relaxed);
    }

    /// Free blocks data may take, exactly: not promised to delayed allocation, not in the
    /// metadata pool, within the limit.
    fn available_exact(&self) -> u64 {
        let free = self.free_clusters.sum_positive() as u64;
        let dirty = self.dirty_clusters.sum_positive() as u64;
        let avail = free.saturating_sub(dirty + self.resv);
        match self.limit.load(Relaxed) {
            u64::MAX => avail,
            limit => {
                let used = self.used(free).saturating_sub(self.limit_base.load(Relaxed));
                avail.min(limit.saturating_sub(used + dirty))
            }
        }
    }

    /// Whether at least `n` blocks are free on disk, the reserved pool included (what
    /// metadata may take).
    pub(crate) fn has_free_meta(&self, n: u64) -> bool {
        self.free_clusters.read_positive() as u64 >= n + self.free_clusters.error_margin() as u64
            || self.free_clusters.sum_positive() as u64 >= n
    }

    /// `ext4_has_free_clusters`: whether `n` more blocks may go to data. The quick per-CPU
    /// reads decide when far from the edge, the exact sums near it
    /// (`EXT4_FREECLUSTERS_WATERMARK`).
    fn has_free_clusters(&self, n: u64) -> bool {
        if self.limit.load(Relaxed) == u64::MAX {
            let free = self.free_clusters.read_positive() as u64;
            let dirty = self.dirty_clusters.read_positive() as u64;
            let watermark = 4 * self.free_clusters.error_margin() as u64;
            if free >= n + self.resv + dirty + watermark {
                return true;
            }
        }
        self.available_exact() >= n
    }
}

impl Ext4 {
    /// `ext4_da_reserve_space`: `n` blocks promised to delayed allocation, or ENOSPC.
    pub fn reserve(&self, n: u64) -> Result<()> {
        if !self.mb.has_free_clusters(n) {
            return Err(FsError::NoSpace { what: "delayed allocation reservation" });
        }
        self.mb.dirty_clusters.add(n as i64);
        Ok(())
    }

    /// `ext4_da_release_space`: gives back `n` reserved blocks.
    pub fn release(&self, n: u64) {
        if n > 0 {
            self.mb.dirty_clusters.sub(n as i64);
        }
    }

    /// Free blocks not promised to delayed allocation (exact).
    pub fn available(&self) -> u64 {
        self.mb.available_exact()
    }

    /// Blocks freed by transactions not yet committed (`s_mb_free_pending`).
    pub fn pending_frees(&self) -> u64 {
        self.mb.free_pending.load(Relaxed)
    }

    /// The newest transaction whose frees wait for its commit, if any.
    pub(crate) fn last_freeing_tid(&self) -> Option<u32> {
        lock(&self.mb.freed).last().map(|f| f.tid)
    }

    /// The allocator's free extents, `(first block, length)` in block order: the bitmaps'
    /// free blocks less preallocations and frees waiting for a commit.
    pub fn free_extents(&self) -> Vec<(u64, u64)> {
        self.groups.iter().flat_map(|g| g.lock().free.iter().collect::<Vec<_>>()).collect()
    }

    /// `ext4_mb_new_blocks`: allocates up to `req.len` blocks for a file whose on-disk inode
    /// (with its preallocations) is `disk`, marks them in the bitmap in `h`, and returns
    /// `(pblk, count)`. ENOSPC when nothing is free.
    pub(crate) fn mb_new_blocks(
        &self,
        h: &mut Handle<'_>,
        disk: &mut DiskInode,
        req: &AllocRequest,
    ) -> Result<(u64, u64)> {
        let mut req = *req;
        let unreserved = req.len - req.reserved;
        if unreserved > 0 && !self.mb.has_free_clusters(unreserved) {
            // Unreserved blocks may only come from what is not promised to delayed allocation.
            req.len = (self.mb.available_exact() + req.reserved).min(req.len);
            if req.len == 0 {
                return Err(FsError::NoSpace { what: "data blocks" });
            }
        }
        disk.prealloc.retain(|p| p.is_live());
        let group_alloc = self.group_alloc(&req);
        // The locality group's mutex is held across its use and its refill (`lg_mutex`).
        let mut lg = group_alloc.then(|| lock(&self.mb.lg));
        let got = match self.use_preallocated(&req, disk, lg.as_deref()) {
            Some(got) => got,
            None => match self.mb_allocate(&req, disk, lg.as_deref_mut()) {
                Some(got) => got,
                None if self.discard_all_preallocations() => {
                    disk.prealloc.retain(|p| p.is_live());
                    self.mb_allocate(&req, disk, lg.as_deref_mut()).ok_or(FsError::NoSpace { what: "data blocks" })?
                }
                None => return Err(FsError::NoSpace { what: "data blocks" }),
            },
        };
        drop(lg);
        self.mark_diskspace_used(h, got.0, got.1);
        // `ext4_da_update_reserve_space`: the promised blocks are now allocated.
        self.release(req.reserved.min(got.1));
        Ok(got)
    }

    /// `ext4_mb_use_preallocated`: an inode preallocation covering `req.logical`, or the
    /// locality group's for a small file.
    fn use_preallocated(
        &self,
        req: &AllocRequest,
        disk: &DiskInode,
        lg: Option<&Option<Arc<Pa>>>,
    ) -> Option<(u64, u64)> {
        if !req.data {
            return None;
        }
        for pa in &disk.prealloc {
            if req.logical < pa.lstart || req.logical >= pa.lstart + pa.len {
                continue;
            }
            let start = pa.pstart + (req.logical - pa.lstart);
            let end = (pa.pstart + pa.len).min(start + req.len);
            let mut gi = self.groups[pa.group as usize].lock();
            let mut st = lock(&pa.state);
            if st.deleted {
                continue;
            }
            // Only blocks of the window still unused, contiguous from `start`.
            let Some((s, l)) = st.unused.find(start) else { continue };
            let n = (s + l).min(end) - start;
            st.unused.remove(start, n);
            if st.unused.is_empty() {
                // `ext4_mb_put_pa`: a used-up preallocation leaves its group's list.
                st.deleted = true;
                gi.pa.retain(|p| !Arc::ptr_eq(p, pa));
            }
            return Some((start, n));
        }
        let pa = lg?.as_ref()?;
        let mut gi = self.groups[pa.group as usize].lock();
        let mut st = lock(&pa.state);
        if st.deleted {
            return None;
        }
        let (s, l) = st.unused.iter().next()?;
        if l < req.len {
            return None;
        }
        st.unused.remove(s, req.len);
        if st.unused.is_empty() {
            st.deleted = true;
            gi.pa.retain(|p| !Arc::ptr_eq(p, pa));
        }
        Some((s, req.len))
    }

    /// `ext4_mb_group_or_file`: a small file's data goes through the locality group.
    fn group_alloc(&self, req: &AllocRequest) -> bool {
        req.data && !req.no_prealloc && (req.logical + req.len).max(req.isize_blocks) <= MB_STREAM_REQUEST
    }

    fn stream(&self, req: &AllocRequest) -> bool {
        req.data && !req.no_prealloc && !self.group_alloc(req)
    }

    /// Allocates from free space, normalizing and preallocating data requests
    /// (`ext4_mb_regular_allocator` + `ext4_mb_new_preallocation`). `lg` is the locality
    /// group's preallocation, locked, for a small file.
    fn mb_allocate(
        &self,
        req: &AllocRequest,
        disk: &mut DiskInode,
        lg: Option<&mut Option<Arc<Pa>>>,
    ) -> Option<(u64, u64)> {
        let group = self.group_alloc(req);
        let (g_logical, g_len) = if group {
            (req.logical, MB_GROUP_PREALLOC.max(req.len))
        } else if self.stream(req) {
            normalize(&self.geo, req, &disk.prealloc)
        } else {
            (req.logical, req.len)
        };
        let free: u64 = self.groups.iter().map(|g| g.bb_free.load(Relaxed)).sum();
        let reserved_outside = (self.mb.dirty_clusters.sum_positive() as u64).saturating_sub(req.reserved);
        let want = g_len.min(free.saturating_sub(reserved_outside)).max(req.len);
        let (g, pstart, got) = self.regular_allocator(req, want)?;
        if self.stream(req) {
            self.mb.last_stream.store(pstart + got, Relaxed);
        }
        if got <= req.len {
            return Some((pstart, got));
        }
        // The surplus becomes a preallocation (`ext4_mb_new_preallocation`).
        let mut unused = RangeSet::new();
        if group {
            unused.insert(pstart + req.len, got - req.len);
            let pa = Pa::new(0, pstart, got, g, unused);
            self.groups[g as usize].lock().pa.push(pa.clone());
            if let Some(old) = lg.and_then(|lg| lg.replace(pa)) {
                self.release_pa(&old);
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
        let pa = Pa::new(lstart, pstart, got, g, unused);
        self.groups[g as usize].lock().pa.push(pa.clone());
        disk.prealloc.push(pa);
        Some((first, n))
    }

    /// Takes from group `g` what `pick` finds in its free space, under the group's lock;
    /// skips the group without locking it when it has fewer than `min` free blocks.
    fn take_in_group(
        &self,
        g: u64,
        min: u64,
        pick: impl FnOnce(&GroupInfo) -> Option<(u64, u64)>,
    ) -> Option<(u64, u64, u64)> {
        let grp = &self.groups[g as usize];
        if grp.bb_free.load(Relaxed) < min {
            return None;
        }
        let mut gi = grp.lock();
        let (s, n) = pick(&gi)?;
        gi.free.remove(s, n);
        grp.bb_free.store(gi.free.total(), Relaxed);
        Some((g, s, n))
    }

    /// `ext4_mb_regular_allocator`: where `want` blocks (at least `req.len` of them if
    /// possible) go; takes them out of the group's free space. Returns `(group, pblk,
    /// count)`.
    fn regular_allocator(&self, req: &AllocRequest, want: u64) -> Option<(u64, u64, u64)> {
        let geo = &self.geo;
        let goal = req.goal.clamp(geo.first_data_block, geo.blocks_count - 1);
        let (goal_group, _) = geo.group_of_block(goal);
        let group_end = |g: u64| geo.group_first_block(g) + geo.group_blocks(g);
        // `ext4_mb_find_by_goal`: the goal itself, if free for the whole window.
        let by_goal = self.take_in_group(goal_group, want, |gi| {
            let (s, l) = gi.free.find(goal)?;
            ((s + l).min(group_end(goal_group)) - goal >= want).then_some((goal, want))
        });
        if by_goal.is_some() {
            return by_goal;
        }
        let last_stream = self.mb.last_stream.load(Relaxed);
        let start_group = if self.stream(req) && last_stream != 0 {
            geo.group_of_block(last_stream.clamp(geo.first_data_block, geo.blocks_count - 1)).0
        } else {
            goal_group
        };
        let groups = geo.groups;
        // CR_POWER2_ALIGNED: a buddy-aligned free chunk of a power-of-two length.
        if want.is_power_of_two() && want > 1 {
            for i in 0..groups {
                let g = (start_group + i) % groups;
                let r = self.take_in_group(g, want, |gi| aligned_in_group(geo, gi, g, want).map(|p| (p, want)));
                if r.is_some() {
                    return r;
                }
            }
        }
        // CR_GOAL_LEN: the first free extent of the whole length, from the goal on.
        for i in 0..groups {
            let g = (start_group + i) % groups;
            let from = if i == 0 && goal_group == g { goal } else { geo.group_first_block(g) };
            let r = self.take_in_group(g, want, |gi| fit_in_group(geo, gi, g, from, want).map(|p| (p, want)));
            if r.is_some() {
                return r;
            }
        }
        // CR_ANY_FREE: the longest free extent in any group (looked for group by group, then
        // taken if it is still there).
        for _ in 0..3 {
            let mut best: Option<(u64, u64, u64)> = None;
            for g in 0..groups {
                if self.groups[g as usize].bb_free.load(Relaxed) <= best.map_or(0, |b| b.2) {
                    continue;
                }
                let gi = self.groups[g as usize].lock();
                if let Some((s, l)) = gi.free.iter().max_by_key(|&(s, l)| (l, std::cmp::Reverse(s)))
                    && best.is_none_or(|(_, _, bl)| l > bl)
                {
                    best = Some((g, s, l));
                }
            }
            let (g, s, _) = best?;
            let r = self.take_in_group(g, 1, |gi| {
                let (fs, fl) = gi.free.find(s)?;
                Some((s, (fs + fl - s).min(want)))
            });
            if r.is_some() {
                return r;
            }
        }
        None
    }

    /// A metadata block (extent tree, directory): goal-directed, no normalization, allowed
    /// into the reserved pool; marked in the bitmap in `h`.
    pub(crate) fn new_meta_block(&self, h: &mut Handle<'_>, goal: u64) -> Result<u64> {
        let req = AllocRequest {
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
        let (_, b, _) = match self.regular_allocator(&req, 1) {
            Some(got) => got,
            None if self.discard_all_preallocations() => {
                self.regular_allocator(&req, 1).ok_or(FsError::NoSpace { what: "metadata blocks" })?
            }
            None => return Err(FsError::NoSpace { what: "metadata blocks" }),
        };
        self.mark_diskspace_used(h, b, 1);
        Ok(b)
    }

    /// `ext4_mb_mark_diskspace_used`: `[pblk, pblk + len)` (inside one group, already out
    /// of the allocator's free space) is set in the block bitmap, the descriptor's count and
    /// checksums follow, and both buffers are journaled.
    fn mark_diskspace_used(&self, h: &mut Handle<'_>, pblk: u64, len: u64) {
        let (g, off) = self.geo.group_of_block(pblk);
        debug_assert!(off + len <= self.geo.group_blocks(g), "allocation crosses a group");
        let ds = self.geo.desc_size;
        let bb = {
            let mut gi = self.groups[g as usize].lock();
            {
                let mut b = gi.bb.lock();
                debug_assert!((off..off + len).all(|i| !balloc::test_bit(&b, i)), "block {pblk}+{len} already in use");
                balloc::set_bits(&mut b, off, len);
            }
            gi.gd.bg_flags &= !EXT4_BG_BLOCK_UNINIT;
            let free = gi.gd.free_blocks(ds) - len;
            gi.gd.set_free_blocks(free);
            self.block_bitmap_csum_set(&mut gi);
            self.set_gd(g, &gi.gd);
            gi.bb.clone()
        };
        self.mb.free_clusters.sub(len as i64);
        h.dirty_metadata(&bb);
        h.dirty_metadata(self.gdt_buffer(g));
    }

    /// `ext4_free_blocks`: clears `[pblk, pblk + len)` in the bitmaps, group by group, in
    /// `h`; the allocator may reuse the blocks once `h`'s transaction commits
    /// (`ext4_mb_free_metadata`). `forget` revokes them in the journal (metadata blocks,
    /// `EXT4_FREE_BLOCKS_FORGET`).
    pub(crate) fn free_blocks(&self, h: &mut Handle<'_>, pblk: u64, len: u64, forget: bool) {
        let ds = self.geo.desc_size;
        let mut at = pblk;
        let end = pblk + len;
        while at < end {
            let (g, off) = self.geo.group_of_block(at);
            let n = (end - at).min(self.geo.group_blocks(g) - off);
            let bb = {
                let mut gi = self.groups[g as usize].lock();
                {
                    let mut b = gi.bb.lock();
                    debug_assert!((off..off + n).all(|i| balloc::test_bit(&b, i)), "freeing free block {at}+{n}");
                    balloc::clear_bits(&mut b, off, n);
                }
                let free = gi.gd.free_blocks(ds) + n;
                gi.gd.set_free_blocks(free);
                self.block_bitmap_csum_set(&mut gi);
                self.set_gd(g, &gi.gd);
                gi.bb.clone()
            };
            h.dirty_metadata(&bb);
            h.dirty_metadata(self.gdt_buffer(g));
            if forget {
                for b in at..at + n {
                    h.revoke(b);
                }
            }
            self.mb.free_pending.fetch_add(n, Relaxed);
            lock(&self.mb.freed).push(FreedData { tid: h.tid(), pblk: at, len: n });
            at += n;
        }
    }

    /// `ext4_process_freed_data`, from the journal's commit callback: the frees of every
    /// transaction up to `committed` become free.
    pub(crate) fn process_freed_data(&self, committed: u32) {
        let done: Vec<FreedData> = {
            let mut freed = lock(&self.mb.freed);
            if freed.is_empty() {
                return;
            }
            let (done, keep): (Vec<_>, Vec<_>) = freed.drain(..).partition(|f| tid_geq(committed, f.tid));
            *freed = keep;
            done
        };
        for f in done {
            let (g, _) = self.geo.group_of_block(f.pblk);
            let grp = &self.groups[g as usize];
            {
                let mut gi = grp.lock();
                gi.free.insert(f.pblk, f.len);
                grp.bb_free.store(gi.free.total(), Relaxed);
            }
            self.mb.free_clusters.add(f.len as i64);
            self.mb.free_pending.fetch_sub(f.len, Relaxed);
        }
    }

    /// Gives a preallocation's unused blocks back to its group (`ext4_mb_release_inode_pa`
    /// / `_group_pa`), unless it is gone already.
    fn release_pa(&self, pa: &Arc<Pa>) {
        let grp = &self.groups[pa.group as usize];
        let mut gi = grp.lock();
        let mut st = lock(&pa.state);
        if st.deleted {
            return;
        }
        st.deleted = true;
        for (s, l) in st.unused.iter() {
            gi.free.insert(s, l);
        }
        st.unused = RangeSet::new();
        gi.pa.retain(|p| !Arc::ptr_eq(p, pa));
        grp.bb_free.store(gi.free.total(), Relaxed);
    }

    /// `ext4_discard_preallocations`: drops the inode's preallocations; their unused blocks
    /// are free again.
    pub fn discard_preallocations(&self, disk: &mut DiskInode) {
        for pa in disk.prealloc.drain(..) {
            self.release_pa(&pa);
        }
    }

    /// Drops every preallocation (at unmount, and before giving up with ENOSPC:
    /// `ext4_mb_discard_preallocations`, group by group under each group's lock). Returns
    /// whether any blocks came back.
    pub(crate) fn discard_all_preallocations(&self) -> bool {
        let mut any = false;
        if let Some(pa) = lock(&self.mb.lg).take() {
            any |= pa.is_live();
            self.release_pa(&pa);
        }
        for grp in self.groups.iter() {
            let mut gi = grp.lock();
            for pa in std::mem::take(&mut gi.pa) {
                let mut st = lock(&pa.state);
                if st.deleted {
                    continue;
                }
                st.deleted = true;
                for (s, l) in st.unused.iter() {
                    gi.free.insert(s, l);
                    any = true;
                }
                st.unused = RangeSet::new();
            }
            grp.bb_free.store(gi.free.total(), Relaxed);
        }
        any
    }
}

/// `ext4_mb_normalize_request`: the logical window to allocate for a data request of a file
/// whose preallocations are `pas`.
fn normalize(geo: &Geometry, req: &AllocRequest, pas: &[Arc<Pa>]) -> (u64, u64) {
    let bs = geo.block_size as u64;
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
    let bpg = geo.blocks_per_group;
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
    let overlaps = pas.iter().any(|p| start < p.lstart + p.len && p.lstart < start + size && p.is_live());
    if overlaps || start > req.logical || start + size < o_end {
        return (req.logical, req.len);
    }
    (start, size)
}

/// A free chunk of `len` (a power of two) aligned to `len` within group `g`.
fn aligned_in_group(geo: &Geometry, gi: &GroupInfo, g: u64, len: u64) -> Option<u64> {
    let base = geo.group_first_block(g);
    for (s, l) in gi.free.iter() {
        let aligned = base + (s - base).next_multiple_of(len);
        if aligned + len <= s + l {
            return Some(aligned);
        }
    }
    None
}

/// The first free extent of `len` blocks in group `g` at or after `from`.
fn fit_in_group(geo: &Geometry, gi: &GroupInfo, g: u64, from: u64, len: u64) -> Option<u64> {
    debug_assert!(geo.group_of_block(from).0 == g);
    if let Some((s, l)) = gi.free.find(from)
        && s + l >= from + len
    {
        return Some(from);
    }
    gi.free.iter_from(from).find(|&(_, l)| l >= len).map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ext4::{Ext4Options, MkfsOptions, mke2fs};
    use crate::core::jbd2::JournalOptions;
    use crate::dev::{BlockDev, MemDev};
    use crate::stats::Stats;

    fn fs() -> Arc<Ext4> {
        let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(512 << 20).unwrap());
        mke2fs(dev.as_ref(), &MkfsOptions::default()).unwrap();
        let opts = Ext4Options { journal: JournalOptions { commit_interval: None, thread: false }, alloc_limit: None };
        Ext4::mount(dev, opts, Arc::new(Stats::default())).unwrap().0
    }

    fn data(logical: u64, len: u64, goal: u64, isize: u64) -> AllocRequest {
        AllocRequest {
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
    fn append(fs: &Ext4, disk: &mut DiskInode, n: u64, known_size: u64) -> Vec<u64> {
        let mut goal = 32768;
        let mut out = Vec::new();
        for lblk in 0..n {
            let mut h = fs.journal_start(8).unwrap();
            let (p, got) = fs.mb_new_blocks(&mut h, disk, &data(lblk, 1, goal, known_size.max(lblk + 1))).unwrap();
            assert_eq!(got, 1);
            out.push(p);
            goal = p + 1;
        }
        out
    }

    #[test]
    fn a_sequential_file_stays_contiguous_through_its_preallocation() {
        let fs = fs();
        let before = fs.mb.free_clusters.sum();
        let (mut a, mut b) = (DiskInode::default(), DiskInode::default());
        let p = append(&fs, &mut a, 300, 1000);
        assert!(p.windows(2).all(|w| w[1] == w[0] + 1), "{p:?}");
        // A file that starts small begins in the locality group, then streams on its own.
        let q = append(&fs, &mut b, 300, 0);
        assert!(q[..16].windows(2).all(|w| w[1] == w[0] + 1));
        assert!(q[16..].windows(2).all(|w| w[1] == w[0] + 1));
        fs.discard_preallocations(&mut a);
        fs.discard_preallocations(&mut b);
        fs.discard_all_preallocations();
        assert_eq!(fs.mb.free_clusters.sum(), before - 600, "used blocks leave the free count, preallocated come back");
        let buddy: u64 = fs.free_extents().iter().map(|e| e.1).sum();
        assert_eq!(buddy as i64, before - 600);
        fs.unmount().unwrap();
    }

    #[test]
    fn small_files_share_the_locality_group() {
        let fs = fs();
        let mut h = fs.journal_start(8).unwrap();
        let (mut a, mut b) = (DiskInode::default(), DiskInode::default());
        let (x, _) = fs.mb_new_blocks(&mut h, &mut a, &data(0, 2, 32768, 2)).unwrap();
        let (y, _) = fs.mb_new_blocks(&mut h, &mut b, &data(0, 2, 32768, 2)).unwrap();
        assert_eq!(y, x + 2, "packed after the previous small file");
        drop(h);
        fs.unmount().unwrap();
    }

    #[test]
    fn reservations_and_limits() {
        let fs = fs();
        fs.mb.set_limit(Some(10), 0);
        fs.reserve(6).unwrap();
        assert!(fs.reserve(5).is_err());
        let mut h = fs.journal_start(8).unwrap();
        let mut a = DiskInode::default();
        let (_, n) = fs.mb_new_blocks(&mut h, &mut a, &data(0, 8, 32768, 8)).unwrap();
        assert_eq!(n, 4, "only 4 unpromised blocks are under the limit");
        let mut r = data(8, 6, 0, 14);
        r.reserved = 6;
        assert_eq!(fs.mb_new_blocks(&mut h, &mut a, &r).unwrap().1, 6);
        assert_eq!(fs.mb.dirty_clusters.sum(), 0);
        drop(h);
        fs.unmount().unwrap();
    }

    #[test]
    fn frees_wait_for_their_commit() {
        let fs = fs();
        let total = fs.mb.free_clusters.sum();
        let mut a = DiskInode::default();
        let mut h = fs.journal_start(16).unwrap();
        let (p, n) = fs.mb_new_blocks(&mut h, &mut a, &data(0, 100, 32768, 100)).unwrap();
        fs.discard_preallocations(&mut a);
        let tid = h.tid();
        fs.free_blocks(&mut h, p, n, false);
        drop(h);
        assert_eq!(fs.mb.free_clusters.sum(), total - n as i64);
        assert_eq!(fs.pending_frees(), n);
        fs.journal.complete_transaction(tid).unwrap();
        assert_eq!(fs.pending_frees(), 0);
        assert_eq!(fs.mb.free_clusters.sum(), total);
        fs.unmount().unwrap();
    }

    /// Allocations in different groups take different locks (`ext4_lock_group`): with one
    /// group's lock held, a file whose goal is in another group allocates there.
    #[test]
    fn a_held_group_lock_does_not_stop_allocation_in_another_group() {
        let fs = fs();
        let bpg = fs.geo.blocks_per_group;
        let held = fs.groups[1].lock();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut h = fs.journal_start(8).unwrap();
                let mut a = DiskInode::default();
                let got = fs.mb_new_blocks(&mut h, &mut a, &data(0, 100, 3 * bpg + 100, 1000)).unwrap();
                drop(h);
                fs.discard_preallocations(&mut a);
                tx.send(got).unwrap();
            });
            // A deadlock detector, not a timing: the allocation needs no lock this thread holds.
            let got = rx.recv_timeout(std::time::Duration::from_secs(60));
            drop(held);
            let (p, n) = got.expect("the allocation in group 3 waited for group 1's lock");
            assert_eq!((fs.geo.group_of_block(p).0, n), (3, 100));
        });
        fs.unmount().unwrap();
    }
}
