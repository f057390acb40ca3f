//! The journaled operations of the core: each one within a handle on the running
//! transaction with the credits ext4 would reserve, changing bitmaps, descriptors, inodes,
//! extent trees and the root directory together — `ext4_create`, `ext4_unlink` with
//! `ext4_evict_inode`, `ext4_ext_map_blocks` (allocation and unwritten conversion),
//! `ext4_ext_remove_space`, `ext4_collapse_range` / `ext4_insert_range`,
//! `ext4_mark_inode_dirty`, and the journal half of `ext4_sync_file`.
//!
//! The operations on one file take its [`InodeInfo`] — held under its `i_data_sem`, taken
//! by the caller after it started the handle (ext4's order) — or, when they need several
//! transactions, the lock itself, which they let go of between them
//! (`ext4_datasem_ensure_credits`).

use super::balloc;
use super::dir;
use super::extents::{ExtentTree, TreeAlloc};
use super::fs::{Ext4, RootDir, now, now_ns};
use super::group_desc::*;
use super::inode::*;
use super::mballoc::AllocRequest;
use crate::core::extent::Extent;
use crate::core::inode::InodeInfo;
use crate::core::io;
use crate::core::jbd2::Handle;
use crate::core::map::MAX_FILE_BLOCKS;
use crate::error::{FsError, Result};
use crate::kernel::{lock, read, write};
use std::sync::RwLock;
use std::sync::atomic::Ordering::Relaxed;

/// Credits of `ext4_mark_inode_dirty` alone (`ext4_dirty_inode`'s handle).
pub const INODE_CREDITS: u32 = 2;

/// What `map_blocks` asks [`Ext4::alloc_blocks`] for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alloc {
    /// First logical block.
    pub lblk: u64,
    /// Blocks wanted.
    pub len: u64,
    /// Of them, reserved by delayed allocation beforehand.
    pub reserved: u64,
    /// Allocate unwritten extents (`EXT4_GET_BLOCKS_CREATE_UNWRIT_EXT`).
    pub unwritten: bool,
    /// `EXT4_GET_BLOCKS_NO_NORMALIZE` (fallocate of what fits one extent).
    pub no_prealloc: bool,
    /// The file's in-memory size (`i_size`), by which requests are normalized.
    pub i_size: u64,
}

/// Tree blocks allocated and freed during one operation: allocation goes through mballoc and
/// the bitmaps right away; frees are applied (bitmap, revoke) once the tree is done.
struct TreeBlocks<'a, 'h, 'j> {
    fs: &'a Ext4,
    h: &'h mut Handle<'j>,
    /// The inode's (`ext4_inode_to_goal_block`).
    inode_goal: u64,
    freed: Vec<u64>,
}

impl<'a, 'h, 'j> TreeBlocks<'a, 'h, 'j> {
    /// For the tree of inode `ino`, a regular file or (`regular` false) the root directory.
    fn new(fs: &'a Ext4, h: &'h mut Handle<'j>, ino: u64, regular: bool) -> Self {
        TreeBlocks { fs, h, inode_goal: fs.inode_to_goal_block(ino, regular), freed: Vec::new() }
    }
}

impl TreeAlloc for TreeBlocks<'_, '_, '_> {
    fn alloc_node(&mut self, goal: Option<u64>) -> Result<u64> {
        self.fs.new_meta_block(self.h, goal.unwrap_or(self.inode_goal))
    }
    fn free_node(&mut self, pblk: u64) {
        self.freed.push(pblk);
    }
}

impl TreeBlocks<'_, '_, '_> {
    fn finish(self) {
        for b in self.freed {
            self.fs.free_blocks(self.h, b, 1, true);
        }
    }
}

impl Ext4 {
    /// Credits for changing one extent of a tree of `depth` (`ext4_chunk_trans_blocks`):
    /// each level's node, a split at each level with its bitmap and descriptor, the data's
    /// bitmap and descriptor, the inode.
    pub fn chunk_trans_blocks(&self, depth: u16) -> u32 {
        (depth as u32 + 2) * 3 + 4
    }

    /// Makes sure `h` has `n` credits left (`ext4_journal_ensure_credits`, extending it).
    fn ensure_credits(&self, h: &mut Handle<'_>, n: u32) {
        let left = h.credits_left();
        if left < n {
            h.extend(n - left);
        }
    }

    /// The allocation goal for logical block `lblk` (`ext4_ext_find_goal`): next to the
    /// nearest extent, else the inode's goal block (`ext4_inode_to_goal_block`: the group
    /// after the first of the inode's flex group, for a regular file).
    pub fn goal_for(&self, info: &InodeInfo, lblk: u64) -> u64 {
        if let Some(e) = info.extents.before(lblk + 1) {
            return e.pblk + (lblk - e.lblk).min(e.len + (lblk - e.end()).min(u32::MAX as u64));
        }
        if let Some(e) = info.extents.iter().next() {
            return e.pblk.saturating_sub(e.lblk - lblk);
        }
        self.inode_to_goal_block(info.ino, true)
    }

    /// `ext4_inode_to_goal_block`: the first block of the inode's flex group's first group
    /// (kept for directories), or of the group after it for a regular file.
    pub(crate) fn inode_to_goal_block(&self, ino: u64, regular: bool) -> u64 {
        let (mut g, _) = self.geo.group_of_inode(ino as u32);
        let flex = self.geo.groups_per_flex;
        if flex >= 4 {
            g = (g & !(flex - 1)) + regular as u64;
        }
        if g >= self.geo.groups {
            g = 0;
        }
        self.geo.group_first_block(g)
    }

    /// Writes the inode's size (`i_disksize`), block count and changed tree nodes
    /// (`ext4_mark_inode_dirty` → `ext4_do_update_inode`). `i_sync_tid` advances; so does
    /// `i_datasync_tid` when the size or, with `map_changed`, the blocks changed
    /// (`ext4_update_inode_fsync_trans`).
    fn update_inode(&self, h: &mut Handle<'_>, info: &mut InodeInfo, map_changed: bool) -> Result<()> {
        let per_block = self.geo.block_size as u64 / 512;
        let acl = (info.disk.raw.file_acl() != 0) as u64;
        let blocks = info.extents.blocks() + info.disk.tree.node_blocks() + acl;
        info.disk.raw.set_blocks_512(blocks * per_block);
        let size_changed = info.disk.raw.size() != info.i_disksize;
        info.disk.raw.set_size(info.i_disksize);
        self.write_tree(h, &mut info.disk);
        self.write_inode(h, info.ino as u32, &mut info.disk)?;
        if map_changed || size_changed {
            info.disk.i_datasync_tid = h.tid();
        }
        Ok(())
    }

    /// `ext4_mark_inode_dirty`: journals the inode as it is in memory (`i_disksize` as its
    /// size, the times the caller set).
    pub fn mark_inode_dirty(&self, h: &mut Handle<'_>, info: &mut InodeInfo) -> Result<()> {
        self.update_inode(h, info, false)
    }

    /// `ext4_ext_map_blocks` with `EXT4_GET_BLOCKS_CREATE`: allocates up to `a.len` blocks
    /// for the hole or delalloc at `a.lblk`, written or unwritten, and maps them in the
    /// extent map and the tree. Returns `(pblk, count)`.
    pub fn alloc_blocks(&self, h: &mut Handle<'_>, info: &mut InodeInfo, a: &Alloc) -> Result<(u64, u64)> {
        self.ensure_credits(h, self.chunk_trans_blocks(info.disk.tree.depth()));
        let need_meta = info.disk.tree.worst_case_new_blocks(1);
        if !self.mb.has_free_meta(need_meta + 1) {
            return Err(FsError::NoSpace { what: "data and extent tree blocks" });
        }
        let bs = self.geo.block_size as u64;
        let req = AllocRequest {
            logical: a.lblk,
            len: a.len,
            goal: self.goal_for(info, a.lblk),
            data: true,
            no_prealloc: a.no_prealloc,
            isize_blocks: a.i_size.div_ceil(bs),
            lleft: info.extents.before(a.lblk).map(|e| e.end() - 1),
            lright: info.extents.first_from(a.lblk).map(|e| e.lblk),
            reserved: a.reserved,
        };
        let (pblk, got) = self.mb_new_blocks(h, &mut info.disk, &req)?;
        let (lblk, unwritten) = (a.lblk, a.unwritten);
        info.extents.insert(Extent { lblk, len: got, pblk, unwritten });
        if a.reserved > 0 {
            info.delayed.remove(lblk, got);
        }
        let mut pieces = Vec::new();
        info.extents.for_each_in(lblk, got, |p| pieces.push(p));
        let mut tb = TreeBlocks::new(self, h, info.ino, true);
        info.disk.tree.set_range(lblk, lblk + got, &pieces, &mut tb)?;
        tb.finish();
        self.update_inode(h, info, true)?;
        info.map_seq += 1;
        Ok((pblk, got))
    }

    /// `ext4_convert_unwritten_extents` (`EXT4_GET_BLOCKS_CONVERT`): the unwritten blocks of
    /// `[lblk, lblk + len)` become written, after their data reached the device.
    pub fn convert_unwritten(&self, h: &mut Handle<'_>, info: &mut InodeInfo, lblk: u64, len: u64) -> Result<()> {
        self.change_range(h, info, lblk, len, |info| {
            info.extents.convert_to_written(lblk, len);
        })
    }

    /// Zero range (`ext4_zero_range`): the written blocks of `[lblk, lblk + len)` become
    /// unwritten.
    pub fn convert_to_unwritten(&self, h: &mut Handle<'_>, info: &mut InodeInfo, lblk: u64, len: u64) -> Result<()> {
        self.change_range(h, info, lblk, len, |info| {
            info.extents.convert_to_unwritten(lblk, len);
        })
    }

    /// Applies `change` to the extent map over `[lblk, lblk + len)`, then makes the tree
    /// match it there.
    fn change_range(
        &self,
        h: &mut Handle<'_>,
        info: &mut InodeInfo,
        lblk: u64,
        len: u64,
        change: impl FnOnce(&mut InodeInfo),
    ) -> Result<()> {
        let mut pieces = 0;
        info.extents.for_each_in(lblk, len, |_| pieces += 1);
        let credits = self.chunk_trans_blocks(info.disk.tree.depth()) * (pieces as u32 + 1).min(8);
        self.ensure_credits(h, credits.min(self.journal.max_transaction_buffers()));
        if !self.mb.has_free_meta(info.disk.tree.worst_case_new_blocks(2)) {
            return Err(FsError::NoSpace { what: "extent tree blocks" });
        }
        change(info);
        // Whole extents around the range may have merged with it in the map.
        let (a, b) = merged_span(info, lblk, len);
        let mut v = Vec::new();
        info.extents.for_each_in(a, b - a, |p| v.push(p));
        let mut tb = TreeBlocks::new(self, h, info.ino, true);
        info.disk.tree.set_range(a, b, &v, &mut tb)?;
        tb.finish();
        self.update_inode(h, info, true)?;
        info.map_seq += 1;
        Ok(())
    }

    /// `ext4_ext_remove_space` with `ext4_free_blocks`: unmaps `[lblk, lblk + len)` of the
    /// inode behind `inode` (its `i_data_sem`), frees its blocks (reusable once the
    /// transaction commits), drops delayed reservations there, and writes the inode (its
    /// size as the caller left it). A range too large for one transaction is removed from
    /// its end in several, `i_data_sem` let go of between them.
    pub fn remove_space(&self, inode: &RwLock<InodeInfo>, lblk: u64, len: u64) -> Result<()> {
        {
            let mut info = write(inode);
            let released = info.delayed.remove(lblk, len);
            self.release(released);
            info.map_seq += 1;
        }
        let max = self.journal.max_transaction_buffers() / 2;
        let mut end = lblk + len;
        loop {
            let (start, credits) = self.plan_removal(&read(inode), lblk, end, max);
            let mut h = self.journal_start(credits.min(self.journal.max_transaction_buffers()))?;
            let mut info = write(inode);
            self.remove_chunk(&mut h, &mut info, start, end)?;
            if start == lblk {
                return Ok(());
            }
            end = start;
        }
    }

    /// From `end` back towards `lblk`, as many extents as fit `max` credits: where the
    /// chunk starts and the credits it needs.
    fn plan_removal(&self, info: &InodeInfo, lblk: u64, end: u64, max: u32) -> (u64, u32) {
        let base = 4 + 3 * (info.disk.tree.depth() as u32 + 2);
        let mut credits = base;
        let mut pieces: Vec<Extent> = Vec::new();
        info.extents.for_each_in(lblk, end - lblk, |p| pieces.push(p));
        for p in pieces.iter().rev() {
            let (g0, _) = self.geo.group_of_block(p.pblk);
            let (g1, _) = self.geo.group_of_block(p.pblk + p.len - 1);
            let cost = 2 * (g1 - g0 + 1) as u32 + 1;
            if credits + cost > max && credits > base {
                return (p.end(), credits);
            }
            credits += cost;
        }
        (lblk, credits)
    }

    fn remove_chunk(&self, h: &mut Handle<'_>, info: &mut InodeInfo, a: u64, b: u64) -> Result<()> {
        let mut freed = Vec::new();
        info.extents.remove(a, b - a, |p, l| freed.push((p, l)));
        for (p, l) in freed {
            self.free_blocks(h, p, l, false);
        }
        let mut tb = TreeBlocks::new(self, h, info.ino, true);
        info.disk.tree.set_range(a, b, &[], &mut tb)?;
        tb.finish();
        if info.extents.is_empty() {
            self.discard_preallocations(&mut info.disk);
        }
        self.update_inode(h, info, true)?;
        info.map_seq += 1;
        Ok(())
    }

    /// Collapse (`delta < 0`) or insert range (`delta > 0`): the extents from logical block
    /// `from` move by `delta` (`ext4_ext_shift_extents`), and the on-disk size becomes
    /// `disksize`; for a collapse the caller removed the range first.
    pub fn shift_extents(&self, inode: &RwLock<InodeInfo>, from: u64, delta: i64, disksize: u64) -> Result<()> {
        let credits = {
            let info = read(inode);
            let nodes = info.disk.tree.node_blocks() as u32;
            (nodes + self.chunk_trans_blocks(info.disk.tree.depth())).min(self.journal.max_transaction_buffers())
        };
        let mut h = self.journal_start(credits)?;
        let mut info = write(inode);
        if !self.mb.has_free_meta(info.disk.tree.worst_case_new_blocks(2)) {
            return Err(FsError::NoSpace { what: "extent tree blocks" });
        }
        self.discard_preallocations(&mut info.disk);
        if delta > 0 {
            info.extents.split_at(from);
        }
        info.extents.shift_from(from, delta);
        let mut tb = TreeBlocks::new(self, &mut h, info.ino, true);
        info.disk.tree.shift(from, delta, &mut tb)?;
        tb.finish();
        info.i_disksize = disksize;
        self.update_inode(&mut h, &mut info, true)?;
        info.map_seq += 1;
        Ok(())
    }

    /// `ext4_sync_file`'s journal half: waits for transaction `tid` — the one that last
    /// changed the inode, its `i_datasync_tid` for fdatasync, else its `i_sync_tid` — to
    /// commit (`jbd2_complete_transaction`); when it already has — ext4's fast path — only
    /// flushes the device cache, so that the data just written is durable.
    pub fn sync_file(&self, tid: u32) -> Result<()> {
        if !self.journal.complete_transaction(tid)? {
            io::flush(self.dev.as_ref())?;
        }
        Ok(())
    }

    /// `ext4_sync_fs`: commits the running transaction and waits (or flushes, if there was
    /// nothing to commit).
    pub fn sync_fs(&self) -> Result<()> {
        if !self.journal.force_commit()? {
            io::flush(self.dev.as_ref())?;
        }
        Ok(())
    }

    /// The transaction id every inode read at mount starts with: the last committed one.
    pub fn last_committed_tid(&self) -> u32 {
        self.journal.last_committed()
    }

    /// `ext4_create`: a new regular file `name` in the root directory.
    pub fn create(&self, name: &str) -> Result<InodeInfo> {
        let dx = self.dx_blocks();
        let mut h = self.journal_start(24 + dx)?;
        let mut root = lock(&self.root);
        if root.names.contains_key(name.as_bytes()) {
            return Err(FsError::Exists { name: name.into() });
        }
        let g = self.find_group().ok_or(FsError::NoSpace { what: "inodes" })?;
        let ino = self.new_inode_in(&mut h, g)?;
        let t = now();
        let generation = self.next_generation.fetch_add(1, Relaxed);
        let mut raw = ext4_inode {
            i_mode: S_IFREG | 0o644,
            i_links_count: 1,
            i_atime: t,
            i_crtime: t,
            i_flags: EXT4_EXTENTS_FL,
            i_generation: generation,
            i_extra_isize: self.want_extra_isize,
            ..Default::default()
        };
        raw.set_mtime_ctime(now_ns());
        raw.set_size(0);
        let mut info = InodeInfo::new(ino as u64, name);
        info.disk = DiskInode {
            raw,
            tree: ExtentTree::new(self.geo.block_size),
            csum_seed: ext4_inode::csum_seed(self.geo.csum_seed, ino, generation),
            i_sync_tid: h.tid(),
            i_datasync_tid: h.tid(),
            prealloc: Vec::new(),
        };
        // A new inode starts from zeroes on disk.
        self.clear_inode(ino)?;
        self.update_inode(&mut h, &mut info, true)?;
        self.add_entry(&mut h, &mut root, name.as_bytes(), ino)?;
        Ok(info)
    }

    /// Blocks an htree root directory has beyond the first (made linear on first change).
    fn dx_blocks(&self) -> u32 {
        let root = lock(&self.root);
        if root.indexed { root.blocks.len() as u32 } else { 0 }
    }

    /// What a new inode's group is (`find_group_other` with flex_bg): the first group with
    /// a free inode.
    fn find_group(&self) -> Option<u64> {
        let ds = self.geo.desc_size;
        (0..self.geo.groups).find(|&g| self.groups[g as usize].lock().gd.free_inodes(ds) > 0)
    }

    /// `__ext4_new_inode`'s bitmap work, under the group's lock: the first free inode of
    /// group `g`. A group whose inode table was never zeroed gets the unused part zeroed
    /// first (what `ext4_init_inode_table` does for lazily initialised groups).
    fn new_inode_in(&self, h: &mut Handle<'_>, g: u64) -> Result<u32> {
        let ds = self.geo.desc_size;
        let ipg = self.geo.inodes_per_group;
        let first = if g == 0 { self.geo.first_ino } else { 1 };
        let (ino, ib, bb) = {
            let mut gi = self.groups[g as usize].lock();
            self.load_inode_bitmap(&mut gi, g)?;
            if gi.gd.bg_flags & EXT4_BG_INODE_ZEROED == 0 {
                self.init_inode_table(&mut gi)?;
            }
            let ib = gi.ib.clone().expect("loaded");
            let idx = {
                let mut b = ib.lock();
                // `ext4_find_inode_bit`.
                let idx = balloc::find_next_zero_bit(&b, (first - 1) as u64, ipg as u64);
                if idx == ipg as u64 {
                    return Err(FsError::Corrupt {
                        what: format!("group {g} counts free inodes but its bitmap has none"),
                    });
                }
                balloc::set_bits(&mut b, idx, 1);
                idx
            };
            let free = gi.gd.free_inodes(ds) - 1;
            gi.gd.set_free_inodes(free);
            gi.gd.bg_flags &= !EXT4_BG_INODE_UNINIT;
            let used = ipg as u64 - gi.gd.itable_unused(ds);
            if idx + 1 > used {
                gi.gd.set_itable_unused(ipg as u64 - (idx + 1));
            }
            // `__ext4_new_inode` initialises the group's block bitmap too.
            let bb = (gi.gd.bg_flags & EXT4_BG_BLOCK_UNINIT != 0).then(|| {
                gi.gd.bg_flags &= !EXT4_BG_BLOCK_UNINIT;
                self.block_bitmap_csum_set(&mut gi);
                gi.bb.clone()
            });
            self.inode_bitmap_csum_set(&mut gi);
            self.set_gd(g, &gi.gd);
            ((g * ipg as u64 + idx + 1) as u32, ib, bb)
        };
        self.free_inodes.sub(1);
        if let Some(bb) = bb {
            h.dirty_metadata(&bb);
        }
        h.dirty_metadata(&ib);
        h.dirty_metadata(self.gdt_buffer(g));
        Ok(ino)
    }

    /// `ext4_init_inode_table`: writes zeros over the part of group `g`'s inode table past
    /// the inodes in use, flushes, and marks the table zeroed (the descriptor is journaled
    /// by the caller).
    fn init_inode_table(&self, gi: &mut super::fs::GroupInfo) -> Result<()> {
        let ds = self.geo.desc_size;
        let start = gi.gd.inode_table(ds);
        let used = self.geo.inodes_per_group as u64 - gi.gd.itable_unused(ds);
        let bs = self.geo.block_size as u64;
        let used_blks = (used * self.geo.inode_size as u64).div_ceil(bs);
        let n = self.geo.itable_blocks();
        let zeros = vec![0u8; bs as usize];
        io::write_blocks(
            self.dev.as_ref(),
            self.geo.block_size,
            (start + used_blks..start + n).map(|b| (b, &zeros[..])),
        )?;
        io::flush(self.dev.as_ref())?;
        gi.gd.bg_flags |= EXT4_BG_INODE_ZEROED;
        Ok(())
    }

    /// `ext4_read_inode_bitmap`: reads (or, for `INODE_UNINIT`, makes) group `g`'s inode
    /// bitmap and checks its checksum; the caller holds the group's lock.
    fn load_inode_bitmap(&self, gi: &mut super::fs::GroupInfo, g: u64) -> Result<()> {
        if gi.ib.is_some() {
            return Ok(());
        }
        let ds = self.geo.desc_size;
        let bs = self.geo.block_size as usize;
        let ipg = self.geo.inodes_per_group as u64;
        let blk = gi.gd.inode_bitmap(ds);
        let ib = if gi.gd.bg_flags & EXT4_BG_INODE_UNINIT != 0 {
            let mut b = vec![0u8; bs];
            balloc::set_bits(&mut b, ipg, 8 * bs as u64 - ipg);
            b
        } else {
            let b = io::read_blocks(self.dev.as_ref(), self.geo.block_size, blk, 1)?.to_vec();
            if self.geo.csum && !gi.gd.inode_bitmap_csum_ok(self.geo.csum_seed, &b[..self.geo.inode_bitmap_bytes()], ds)
            {
                return Err(FsError::Corrupt {
                    what: format!("group {g}: inode bitmap (block {blk}) checksum mismatch: run e2fsck -f"),
                });
            }
            b
        };
        gi.ib = Some(crate::core::buffer::MetaBuffer::new(blk, ib.into()));
        Ok(())
    }

    /// `ext4_unlink` and `ext4_evict_inode`: removes the file's entry, frees its blocks (in
    /// several transactions if they do not fit one) and its inode.
    pub fn unlink(&self, inode: &RwLock<InodeInfo>) -> Result<()> {
        if read(inode).disk.raw.file_acl() != 0 {
            return Err(FsError::Unsupported { what: "unlinking a file with an extended-attribute block" });
        }
        {
            let dx = self.dx_blocks();
            let mut h = self.journal_start(8 + dx)?;
            let mut root = lock(&self.root);
            let mut info = write(inode);
            self.remove_entry(&mut h, &mut root, info.name.as_bytes())?;
            info.i_disksize = 0;
            info.disk.raw.i_links_count = 0;
            info.disk.raw.set_mtime_ctime(now_ns());
            self.update_inode(&mut h, &mut info, true)?;
        }
        self.remove_space(inode, 0, MAX_FILE_BLOCKS)?;
        let mut h = self.journal_start(4)?;
        let mut info = write(inode);
        self.discard_preallocations(&mut info.disk);
        info.disk.raw.i_dtime = now();
        self.update_inode(&mut h, &mut info, true)?;
        // `ext4_free_inode`.
        let ino = info.ino as u32;
        let (g, idx) = self.geo.group_of_inode(ino);
        let ds = self.geo.desc_size;
        let ib = {
            let mut gi = self.groups[g as usize].lock();
            self.load_inode_bitmap(&mut gi, g)?;
            let ib = gi.ib.clone().expect("loaded");
            balloc::clear_bits(&mut ib.lock(), idx as u64, 1);
            let free = gi.gd.free_inodes(ds) + 1;
            gi.gd.set_free_inodes(free);
            self.inode_bitmap_csum_set(&mut gi);
            self.set_gd(g, &gi.gd);
            ib
        };
        self.free_inodes.add(1);
        h.dirty_metadata(&ib);
        h.dirty_metadata(self.gdt_buffer(g));
        Ok(())
    }

    /// `ext4_add_entry` on the root directory: the first block with room, else a new block
    /// appended (`ext4_append`). The directory's times change and it is journaled.
    fn add_entry(&self, h: &mut Handle<'_>, root: &mut RootDir, name: &[u8], ino: u32) -> Result<()> {
        self.make_linear(h, root)?;
        let csum = self.geo.csum;
        let seed = root.disk.csum_seed;
        let mut placed = None;
        for (i, (pblk, b)) in root.blocks.iter_mut().enumerate() {
            if let Some(off) = dir::add_entry(b, csum, ino, dir::EXT4_FT_REG_FILE, name) {
                if csum {
                    dir::set_csum(b, seed);
                }
                h.dirty_block(*pblk, &b[..]);
                placed = Some((i, off));
                break;
            }
        }
        let (i, off) = match placed {
            Some(p) => p,
            None => {
                let i = root.blocks.len();
                let goal = root.blocks.last().map_or(self.geo.first_data_block, |&(p, _)| p + 1);
                let pblk = self.new_meta_block(h, goal)?;
                let mut b = vec![0u8; self.geo.block_size as usize];
                dir::init_block(&mut b, csum);
                let off = dir::add_entry(&mut b, csum, ino, dir::EXT4_FT_REG_FILE, name)
                    .ok_or_else(|| FsError::invalid("name too long for a directory block"))?;
                if csum {
                    dir::set_csum(&mut b, seed);
                }
                h.dirty_block(pblk, &b[..]);
                root.blocks.push((pblk, b));
                let e = Extent { lblk: i as u64, len: 1, pblk, unwritten: false };
                let mut tb = TreeBlocks::new(self, h, EXT4_ROOT_INO as u64, false);
                let r = root.disk.tree.set_range(i as u64, i as u64 + 1, &[e], &mut tb);
                tb.finish();
                r?;
                (i, off)
            }
        };
        root.names.insert(name.to_vec(), (i, off, ino, dir::EXT4_FT_REG_FILE));
        self.write_root(h, root)
    }

    /// `ext4_delete_entry` on the root directory.
    fn remove_entry(&self, h: &mut Handle<'_>, root: &mut RootDir, name: &[u8]) -> Result<()> {
        self.make_linear(h, root)?;
        let (i, off, _, _) = root
            .names
            .remove(name)
            .ok_or_else(|| FsError::NotFound { name: String::from_utf8_lossy(name).into_owned() })?;
        let csum = self.geo.csum;
        let seed = root.disk.csum_seed;
        let (pblk, b) = &mut root.blocks[i];
        dir::delete_entry(b, csum, off);
        if csum {
            dir::set_csum(b, seed);
        }
        h.dirty_block(*pblk, &b[..]);
        // Entries after it in the block keep their offsets (folded into the previous one).
        self.write_root(h, root)
    }

    /// The root directory's inode: size, blocks, times.
    fn write_root(&self, h: &mut Handle<'_>, root: &mut RootDir) -> Result<()> {
        let bs = self.geo.block_size as u64;
        let n = root.blocks.len() as u64;
        let disk = &mut root.disk;
        disk.raw.set_size(n * bs);
        disk.raw.set_blocks_512((n + disk.tree.node_blocks() + (disk.raw.file_acl() != 0) as u64) * (bs / 512));
        disk.raw.set_mtime_ctime(now_ns());
        self.write_tree(h, disk);
        self.write_inode(h, EXT4_ROOT_INO, disk)
    }

    /// An htree root directory becomes linear before its first change: the `dx_root`
    /// block keeps only "." and "..", interior `dx_node` blocks become empty blocks, and
    /// `EXT4_INDEX_FL` goes (fsimpl keeps no hash index).
    fn make_linear(&self, h: &mut Handle<'_>, root: &mut RootDir) -> Result<()> {
        if !root.indexed {
            return Ok(());
        }
        let csum = self.geo.csum;
        let seed = root.disk.csum_seed;
        for i in 0..root.blocks.len() {
            let (pblk, b) = &mut root.blocks[i];
            if i == 0 {
                let parent = dir::ext4_dir_entry_2::decode(&b[12..]).inode;
                dir::init_dot_dotdot(b, EXT4_ROOT_INO, parent, csum);
            } else if dir::is_dx_node(b) {
                dir::init_block(b, csum);
            } else {
                continue;
            }
            if csum {
                dir::set_csum(b, seed);
            }
            h.dirty_block(*pblk, &b[..]);
        }
        root.disk.raw.i_flags &= !EXT4_INDEX_FL;
        root.indexed = false;
        Ok(())
    }

    /// `ext4_should_retry_alloc`: commits the running transaction so that the blocks it
    /// frees become available (the commit callback frees them). Returns whether any were
    /// waiting.
    pub fn retry_alloc(&self) -> Result<bool> {
        let Some(tid) = self.last_freeing_tid() else { return Ok(false) };
        self.journal.complete_transaction(tid)?;
        Ok(true)
    }
}

/// The range `[lblk, lblk + len)` widened to the map extents that overlap it.
fn merged_span(info: &InodeInfo, lblk: u64, len: u64) -> (u64, u64) {
    let mut a = lblk;
    let mut b = lblk + len;
    if let Some(e) = info.extents.containing(lblk) {
        a = a.min(e.lblk);
    }
    if let Some(e) = info.extents.containing(lblk + len - 1) {
        b = b.max(e.end());
    }
    (a, b)
}
