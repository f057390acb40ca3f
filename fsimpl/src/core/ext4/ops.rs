//! The journaled operations of the core: each one a handle on the running transaction with
//! the credits ext4 would reserve, changing bitmaps, descriptors, inodes, extent trees and
//! the root directory together — `ext4_create`, `ext4_unlink` with `ext4_evict_inode`,
//! `ext4_ext_map_blocks` (allocation and unwritten conversion), `ext4_ext_remove_space`,
//! `ext4_collapse_range` / `ext4_insert_range`, `ext4_mark_inode_dirty`, and the journal
//! half of `ext4_sync_file`.
//!
//! Callers hold the inode's lock: the in-memory [`Inode`] (its extent map, the extent-status
//! tree of ext4) changes together with its on-disk tree.

use super::balloc;
use super::dir;
use super::extents::{ExtentTree, TreeAlloc};
use super::fs::{Ext4, Meta, lock, now};
use super::group_desc::*;
use super::inode::*;
use super::mballoc::AllocRequest;
use crate::core::extent::Extent;
use crate::core::inode::Inode;
use crate::core::io;
use crate::core::jbd2::Handle;
use crate::error::{FsError, Result};

/// Tree blocks allocated and freed during one operation: allocation goes through mballoc and
/// the bitmaps right away; frees are applied (bitmap, revoke) once the tree is done.
struct TreeBlocks<'a, 'h, 'j> {
    fs: &'a Ext4,
    m: &'a mut Meta,
    h: &'h mut Handle<'j>,
    freed: Vec<u64>,
}

impl TreeAlloc for TreeBlocks<'_, '_, '_> {
    fn alloc_node(&mut self, goal: u64) -> Result<u64> {
        let b = self.m.mb.new_meta_block(goal)?;
        self.fs.mark_used(self.m, self.h, b, 1);
        Ok(b)
    }
    fn free_node(&mut self, pblk: u64) {
        self.freed.push(pblk);
    }
}

impl TreeBlocks<'_, '_, '_> {
    fn finish(self) {
        for b in self.freed {
            self.fs.mark_free(self.m, self.h, b, 1);
            self.h.revoke(b);
        }
    }
}

/// What a new inode's group is (`find_group_other` with flex_bg): the first group of the
/// parent's flex group with a free inode, then any.
fn find_group(fs: &Ext4, m: &Meta) -> Option<u64> {
    let ds = fs.geo.desc_size;
    (0..fs.geo.groups).find(|&g| m.groups[g as usize].gd.free_inodes(ds) > 0)
}

impl Ext4 {
    /// Credits for changing one extent of a tree of `depth` (`ext4_ext_calc_credits_for_single_extent`
    /// and `ext4_chunk_trans_blocks`): each level's node, a split at each level with its
    /// bitmap and descriptor, the data's bitmap and descriptor, the inode.
    fn ext_credits(&self, depth: u16) -> u32 {
        (depth as u32 + 2) * 3 + 4
    }

    /// The allocation goal for logical block `lblk` (`ext4_ext_find_goal`): next to the
    /// nearest extent, else the inode's goal block (`ext4_inode_to_goal_block`: the group
    /// after the first of the inode's flex group, for a regular file).
    pub fn goal_for(&self, inode: &Inode, lblk: u64) -> u64 {
        if let Some(e) = inode.extents.before(lblk + 1) {
            return e.pblk + (lblk - e.lblk).min(e.len + (lblk - e.end()).min(u32::MAX as u64));
        }
        if let Some(e) = inode.extents.iter().next() {
            return e.pblk.saturating_sub(e.lblk - lblk);
        }
        let (mut g, _) = self.geo.group_of_inode(inode.ino as u32);
        let flex = self.geo.groups_per_flex;
        if flex >= 4 {
            g = (g & !(flex - 1)) + 1;
        }
        if g >= self.geo.groups {
            g = 0;
        }
        self.geo.group_first_block(g)
    }

    /// Writes the inode's size and block count and its changed tree nodes
    /// (`ext4_mark_inode_dirty` after an extent change); both fsync tids advance.
    fn update_inode(&self, m: &mut Meta, h: &mut Handle<'_>, inode: &mut Inode) -> Result<()> {
        let per_block = self.geo.block_size as u64 / 512;
        let acl = (inode.disk.raw.file_acl() != 0) as u64;
        let blocks = inode.extents.blocks() + inode.disk.tree.node_blocks() + acl;
        inode.disk.raw.set_blocks_512(blocks * per_block);
        inode.disk.raw.set_size(inode.i_disksize);
        self.write_tree(h, &mut inode.disk);
        self.write_inode(m, h, inode.ino as u32, &mut inode.disk)?;
        inode.disk.i_datasync_tid = h.tid();
        Ok(())
    }

    /// `ext4_mark_inode_dirty`: journals the inode as it is in memory (`i_disksize` as its
    /// size). `touch` also sets the modification and change times (a size change by
    /// truncate or fallocate: `ext4_setattr`).
    pub fn mark_inode_dirty(&self, inode: &mut Inode, touch: bool) -> Result<()> {
        let mut h = self.journal.start(2)?;
        let mut m = lock(&self.meta);
        if touch {
            let t = now();
            inode.disk.raw.i_mtime = t;
            inode.disk.raw.i_ctime = t;
        }
        self.update_inode(&mut m, &mut h, inode)
    }

    /// `ext4_ext_map_blocks` with `EXT4_GET_BLOCKS_CREATE`: allocates up to `len` blocks for
    /// the hole at `lblk` (of which `reserved` were reserved by delayed allocation), written
    /// or `unwritten`, and maps them in the extent map and the tree. `no_prealloc` is
    /// fallocate's `EXT4_GET_BLOCKS_NO_NORMALIZE`. A written allocation is ordered data:
    /// the commit waits for the inode's data. Returns `(pblk, count)`.
    pub fn alloc_blocks(
        &self,
        inode: &mut Inode,
        lblk: u64,
        len: u64,
        reserved: u64,
        unwritten: bool,
        no_prealloc: bool,
    ) -> Result<(u64, u64)> {
        let mut h = self.journal.start(self.ext_credits(inode.disk.tree.depth()))?;
        let mut m = lock(&self.meta);
        m.mb.commit_done(self.journal.last_committed());
        let need_meta = inode.disk.tree.worst_case_new_blocks(1);
        if m.mb.free_blocks() < need_meta + 1 {
            return Err(FsError::NoSpace { what: "data and extent tree blocks" });
        }
        let bs = self.geo.block_size as u64;
        let req = AllocRequest {
            ino: inode.ino,
            logical: lblk,
            len,
            goal: self.goal_for(inode, lblk),
            data: true,
            no_prealloc,
            isize_blocks: inode.i_size.div_ceil(bs),
            lleft: inode.extents.before(lblk).map(|e| e.end() - 1),
            lright: inode.extents.first_from(lblk).map(|e| e.lblk),
            reserved,
        };
        let (pblk, got) = m.mb.new_blocks(&req)?;
        self.mark_used(&mut m, &mut h, pblk, got);
        let e = Extent { lblk, len: got, pblk, unwritten };
        inode.extents.insert(e);
        if reserved > 0 {
            inode.delayed.remove(lblk, got);
        }
        let mut pieces = Vec::new();
        inode.extents.for_each_in(lblk, got, |p| pieces.push(p));
        let mut tb = TreeBlocks { fs: self, m: &mut m, h: &mut h, freed: Vec::new() };
        inode.disk.tree.set_range(lblk, lblk + got, &pieces, &mut tb)?;
        tb.finish();
        self.update_inode(&mut m, &mut h, inode)?;
        if !unwritten {
            h.add_inode_write(inode.ino);
        }
        inode.map_seq += 1;
        Ok((pblk, got))
    }

    /// `ext4_convert_unwritten_extents` (`EXT4_GET_BLOCKS_CONVERT`): the unwritten blocks of
    /// `[lblk, lblk + len)` become written, after their data reached the device.
    pub fn convert_unwritten(&self, inode: &mut Inode, lblk: u64, len: u64) -> Result<()> {
        self.change_range(inode, lblk, len, |inode| {
            inode.extents.convert_to_written(lblk, len);
        })
    }

    /// Zero range (`ext4_zero_range`): the written blocks of `[lblk, lblk + len)` become
    /// unwritten.
    pub fn convert_to_unwritten(&self, inode: &mut Inode, lblk: u64, len: u64) -> Result<()> {
        self.change_range(inode, lblk, len, |inode| {
            inode.extents.convert_to_unwritten(lblk, len);
        })
    }

    /// Applies `change` to the extent map over `[lblk, lblk + len)`, then makes the tree
    /// match it there, in one handle.
    fn change_range(&self, inode: &mut Inode, lblk: u64, len: u64, change: impl FnOnce(&mut Inode)) -> Result<()> {
        let mut pieces = 0;
        inode.extents.for_each_in(lblk, len, |_| pieces += 1);
        let credits = self.ext_credits(inode.disk.tree.depth()) * (pieces as u32 + 1).min(8);
        let mut h = self.journal.start(credits.min(self.journal.max_transaction_buffers()))?;
        let mut m = lock(&self.meta);
        let need_meta = inode.disk.tree.worst_case_new_blocks(2);
        if m.mb.free_blocks() < need_meta {
            return Err(FsError::NoSpace { what: "extent tree blocks" });
        }
        change(inode);
        // Whole extents around the range may have merged with it in the map.
        let (a, b) = self.merged_span(inode, lblk, len);
        let mut v = Vec::new();
        inode.extents.for_each_in(a, b - a, |p| v.push(p));
        let mut tb = TreeBlocks { fs: self, m: &mut m, h: &mut h, freed: Vec::new() };
        inode.disk.tree.set_range(a, b, &v, &mut tb)?;
        tb.finish();
        self.update_inode(&mut m, &mut h, inode)?;
        inode.map_seq += 1;
        Ok(())
    }

    /// The range `[lblk, lblk + len)` widened to the map extents that overlap it.
    fn merged_span(&self, inode: &Inode, lblk: u64, len: u64) -> (u64, u64) {
        let mut a = lblk;
        let mut b = lblk + len;
        if let Some(e) = inode.extents.containing(lblk) {
            a = a.min(e.lblk);
        }
        if let Some(e) = inode.extents.containing(lblk + len - 1) {
            b = b.max(e.end());
        }
        (a, b)
    }

    /// `ext4_ext_remove_space` with `ext4_free_blocks`: unmaps `[lblk, lblk + len)`, frees
    /// its blocks (reusable once the transaction commits), drops delayed reservations there,
    /// and writes the inode (its size as the caller left it). A range too large for one
    /// transaction is removed from its end in several.
    pub fn remove_space(&self, inode: &mut Inode, lblk: u64, len: u64) -> Result<()> {
        let released = inode.delayed.remove(lblk, len);
        lock(&self.meta).mb.release(released);
        let max = self.journal.max_transaction_buffers() / 2;
        let mut end = lblk + len;
        loop {
            // From the end back, as many extents as fit the credits.
            let mut start = lblk;
            let mut credits = 4 + 3 * (inode.disk.tree.depth() as u32 + 2);
            let mut pieces: Vec<Extent> = Vec::new();
            inode.extents.for_each_in(lblk, end - lblk, |p| pieces.push(p));
            for p in pieces.iter().rev() {
                let groups = {
                    let (g0, _) = self.geo.group_of_block(p.pblk);
                    let (g1, _) = self.geo.group_of_block(p.pblk + p.len - 1);
                    (g1 - g0 + 1) as u32
                };
                let cost = 2 * groups + 1;
                if credits + cost > max && credits > 4 + 3 * (inode.disk.tree.depth() as u32 + 2) {
                    start = p.end();
                    break;
                }
                credits += cost;
            }
            self.remove_chunk(inode, start, end, credits.min(self.journal.max_transaction_buffers()))?;
            if start == lblk {
                break;
            }
            end = start;
        }
        Ok(())
    }

    fn remove_chunk(&self, inode: &mut Inode, a: u64, b: u64, credits: u32) -> Result<()> {
        let mut h = self.journal.start(credits)?;
        let mut m = lock(&self.meta);
        let mut freed = Vec::new();
        inode.extents.remove(a, b - a, |p, l| freed.push((p, l)));
        for &(p, l) in &freed {
            self.mark_free(&mut m, &mut h, p, l);
        }
        let mut tb = TreeBlocks { fs: self, m: &mut m, h: &mut h, freed: Vec::new() };
        inode.disk.tree.set_range(a, b, &[], &mut tb)?;
        tb.finish();
        if inode.extents.is_empty() {
            m.mb.discard_preallocations(inode.ino);
        }
        self.update_inode(&mut m, &mut h, inode)?;
        inode.map_seq += 1;
        Ok(())
    }

    /// `ext4_truncate`'s `ext4_discard_preallocations`: a truncate drops the file's
    /// preallocations.
    pub fn discard_preallocations(&self, ino: u64) {
        lock(&self.meta).mb.discard_preallocations(ino);
    }

    /// Collapse (`delta < 0`) or insert range (`delta > 0`): the extents from logical block
    /// `from` move by `delta` (`ext4_ext_shift_extents`); for a collapse the caller removed
    /// the range first.
    pub fn shift_extents(&self, inode: &mut Inode, from: u64, delta: i64) -> Result<()> {
        let nodes = inode.disk.tree.node_blocks() as u32;
        let credits = (nodes + self.ext_credits(inode.disk.tree.depth())).min(self.journal.max_transaction_buffers());
        let mut h = self.journal.start(credits)?;
        let mut m = lock(&self.meta);
        if m.mb.free_blocks() < inode.disk.tree.worst_case_new_blocks(2) {
            return Err(FsError::NoSpace { what: "extent tree blocks" });
        }
        m.mb.discard_preallocations(inode.ino);
        if delta > 0 {
            inode.extents.split_at(from);
        }
        inode.extents.shift_from(from, delta);
        let mut tb = TreeBlocks { fs: self, m: &mut m, h: &mut h, freed: Vec::new() };
        inode.disk.tree.shift(from, delta, &mut tb)?;
        tb.finish();
        self.update_inode(&mut m, &mut h, inode)?;
        inode.map_seq += 1;
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
    pub fn create(&self, name: &str) -> Result<Inode> {
        let credits = 24 + self.dx_blocks();
        let mut h = self.journal.start(credits)?;
        let mut m = lock(&self.meta);
        m.mb.commit_done(self.journal.last_committed());
        if m.root.names.contains_key(name.as_bytes()) {
            return Err(FsError::Exists { name: name.into() });
        }
        let g = find_group(self, &m).ok_or(FsError::NoSpace { what: "inodes" })?;
        let ino = self.new_inode_in(&mut m, &mut h, g)?;
        let t = now();
        let generation = m.next_generation;
        m.next_generation = m.next_generation.wrapping_add(1);
        let mut raw = ext4_inode {
            i_mode: S_IFREG | 0o644,
            i_links_count: 1,
            i_atime: t,
            i_ctime: t,
            i_mtime: t,
            i_crtime: t,
            i_flags: EXT4_EXTENTS_FL,
            i_generation: generation,
            i_extra_isize: m.sb.s_want_extra_isize.max(32).min(self.geo.inode_size as u16 - 128),
            ..Default::default()
        };
        raw.set_size(0);
        let mut inode = Inode::new(ino as u64, name);
        inode.disk = DiskInode {
            raw,
            tree: ExtentTree::new(self.geo.block_size),
            csum_seed: ext4_inode::csum_seed(self.geo.csum_seed, ino, generation),
            i_sync_tid: h.tid(),
            i_datasync_tid: h.tid(),
        };
        // A new inode starts from zeroes on disk.
        let (blk, off) = self.inode_location(&m, ino)?;
        let isz = self.geo.inode_size as usize;
        self.itable_block(&mut m, blk)?[off..off + isz].fill(0);
        self.update_inode(&mut m, &mut h, &mut inode)?;
        self.add_entry(&mut m, &mut h, name.as_bytes(), ino)?;
        Ok(inode)
    }

    /// Blocks an htree root directory has beyond the first (made linear on first change).
    fn dx_blocks(&self) -> u32 {
        let m = lock(&self.meta);
        if m.root.indexed { m.root.blocks.len() as u32 } else { 0 }
    }

    /// `__ext4_new_inode`'s bitmap work: the first free inode of group `g`. A group whose
    /// inode table was never zeroed gets it zeroed first (what `ext4_init_inode_table` does
    /// for lazily initialised groups).
    fn new_inode_in(&self, m: &mut Meta, h: &mut Handle<'_>, g: u64) -> Result<u32> {
        self.load_inode_bitmap(m, g)?;
        if m.groups[g as usize].gd.bg_flags & EXT4_BG_INODE_ZEROED == 0 {
            self.zero_inode_table(m, g)?;
        }
        let ds = self.geo.desc_size;
        let ipg = self.geo.inodes_per_group;
        let first = if g == 0 { self.geo.first_ino } else { 1 };
        let grp = &mut m.groups[g as usize];
        let ib = grp.ib.as_mut().expect("loaded");
        let idx = ((first - 1) as u64..ipg as u64)
            .find(|&i| !balloc::test_bit(ib, i))
            .ok_or(FsError::Corrupt { what: format!("group {g} counts free inodes but its bitmap has none") })?;
        balloc::set_bits(ib, idx, 1);
        grp.gd.set_free_inodes(grp.gd.free_inodes(ds) - 1);
        grp.gd.bg_flags &= !EXT4_BG_INODE_UNINIT;
        let used = ipg as u64 - grp.gd.itable_unused(ds);
        if idx + 1 > used {
            grp.gd.set_itable_unused(ipg as u64 - (idx + 1));
        }
        let block_uninit = grp.gd.bg_flags & EXT4_BG_BLOCK_UNINIT != 0;
        if block_uninit {
            // `__ext4_new_inode` initialises the group's block bitmap too.
            grp.gd.bg_flags &= !EXT4_BG_BLOCK_UNINIT;
            self.dirty_block_bitmap(m, h, g);
        }
        m.free_inodes -= 1;
        self.dirty_inode_bitmap(m, h, g);
        self.dirty_gd(m, h, g);
        Ok((g * ipg as u64 + idx + 1) as u32)
    }

    /// `ext4_init_inode_table`: writes zeros over group `g`'s inode table, flushes, and marks
    /// it zeroed (the descriptor is journaled by the caller).
    fn zero_inode_table(&self, m: &mut Meta, g: u64) -> Result<()> {
        let ds = self.geo.desc_size;
        let start = m.groups[g as usize].gd.inode_table(ds);
        let n = self.geo.itable_blocks();
        let bs = self.geo.block_size as u64;
        let zeros = vec![0u8; bs as usize];
        io::write_blocks(self.dev.as_ref(), self.geo.block_size, (start..start + n).map(|b| (b, &zeros[..])))?;
        io::flush(self.dev.as_ref())?;
        m.itable.retain(|&b, _| b < start || b >= start + n);
        m.groups[g as usize].gd.bg_flags |= EXT4_BG_INODE_ZEROED;
        Ok(())
    }

    /// `ext4_read_inode_bitmap`: reads (or, for `INODE_UNINIT`, makes) group `g`'s inode
    /// bitmap and checks its checksum.
    fn load_inode_bitmap(&self, m: &mut Meta, g: u64) -> Result<()> {
        if m.groups[g as usize].ib.is_some() {
            return Ok(());
        }
        let ds = self.geo.desc_size;
        let gd = m.groups[g as usize].gd;
        let bs = self.geo.block_size as usize;
        let ipg = self.geo.inodes_per_group as u64;
        let ib = if gd.bg_flags & EXT4_BG_INODE_UNINIT != 0 {
            let mut b = vec![0u8; bs];
            balloc::set_bits(&mut b, ipg, 8 * bs as u64 - ipg);
            b
        } else {
            let blk = gd.inode_bitmap(ds);
            let b = io::read_blocks(self.dev.as_ref(), self.geo.block_size, blk, 1)?.to_vec();
            if self.geo.csum && !gd.inode_bitmap_csum_ok(self.geo.csum_seed, &b[..self.geo.inode_bitmap_bytes()], ds) {
                return Err(FsError::Corrupt {
                    what: format!("group {g}: inode bitmap (block {blk}) checksum mismatch: run e2fsck -f"),
                });
            }
            b
        };
        m.groups[g as usize].ib = Some(ib);
        Ok(())
    }

    /// `ext4_unlink` and `ext4_evict_inode`: removes `name`'s entry, frees the file's blocks
    /// (in several transactions if they do not fit one) and its inode.
    pub fn unlink(&self, inode: &mut Inode) -> Result<()> {
        if inode.disk.raw.file_acl() != 0 {
            return Err(FsError::Unsupported { what: "unlinking a file with an extended-attribute block" });
        }
        inode.i_size = 0;
        inode.i_disksize = 0;
        {
            let mut h = self.journal.start(8 + self.dx_blocks())?;
            let mut m = lock(&self.meta);
            self.remove_entry(&mut m, &mut h, inode.name.as_bytes())?;
            let t = now();
            inode.disk.raw.i_links_count = 0;
            inode.disk.raw.i_ctime = t;
            self.update_inode(&mut m, &mut h, inode)?;
        }
        self.remove_space(inode, 0, crate::core::map::MAX_FILE_BLOCKS)?;
        let mut h = self.journal.start(4)?;
        let mut m = lock(&self.meta);
        m.mb.discard_preallocations(inode.ino);
        inode.disk.raw.i_dtime = now();
        self.update_inode(&mut m, &mut h, inode)?;
        // `ext4_free_inode`.
        let ino = inode.ino as u32;
        let (g, idx) = self.geo.group_of_inode(ino);
        self.load_inode_bitmap(&mut m, g)?;
        let ds = self.geo.desc_size;
        let grp = &mut m.groups[g as usize];
        balloc::clear_bits(grp.ib.as_mut().expect("loaded"), idx as u64, 1);
        grp.gd.set_free_inodes(grp.gd.free_inodes(ds) + 1);
        m.free_inodes += 1;
        self.dirty_inode_bitmap(&mut m, &mut h, g);
        self.dirty_gd(&mut m, &mut h, g);
        Ok(())
    }

    /// `ext4_add_entry` on the root directory: the first block with room, else a new block
    /// appended (`ext4_append`). The directory's times change and it is journaled.
    fn add_entry(&self, m: &mut Meta, h: &mut Handle<'_>, name: &[u8], ino: u32) -> Result<()> {
        self.make_linear(m, h)?;
        let csum = self.geo.csum;
        let seed = m.root.disk.csum_seed;
        let mut placed = None;
        for (i, (pblk, b)) in m.root.blocks.iter_mut().enumerate() {
            if let Some(off) = dir::add_entry(b, csum, ino, dir::EXT4_FT_REG_FILE, name) {
                if csum {
                    dir::set_csum(b, seed);
                }
                h.dirty_metadata(*pblk, b);
                placed = Some((i, off));
                break;
            }
        }
        let (i, off) = match placed {
            Some(p) => p,
            None => {
                let i = m.root.blocks.len();
                let goal = m.root.blocks.last().map_or(self.geo.first_data_block, |&(p, _)| p + 1);
                let pblk = m.mb.new_meta_block(goal)?;
                self.mark_used(m, h, pblk, 1);
                let mut b = vec![0u8; self.geo.block_size as usize];
                dir::init_block(&mut b, csum);
                let off = dir::add_entry(&mut b, csum, ino, dir::EXT4_FT_REG_FILE, name)
                    .ok_or_else(|| FsError::invalid("name too long for a directory block"))?;
                if csum {
                    dir::set_csum(&mut b, seed);
                }
                h.dirty_metadata(pblk, &b);
                m.root.blocks.push((pblk, b));
                let e = Extent { lblk: i as u64, len: 1, pblk, unwritten: false };
                let mut tree = std::mem::replace(&mut m.root.disk.tree, ExtentTree::new(self.geo.block_size));
                let mut tb = TreeBlocks { fs: self, m, h, freed: Vec::new() };
                let r = tree.set_range(i as u64, i as u64 + 1, &[e], &mut tb);
                tb.finish();
                m.root.disk.tree = tree;
                r?;
                (i, off)
            }
        };
        m.root.names.insert(name.to_vec(), (i, off, ino, dir::EXT4_FT_REG_FILE));
        self.write_root(m, h)
    }

    /// `ext4_delete_entry` on the root directory.
    fn remove_entry(&self, m: &mut Meta, h: &mut Handle<'_>, name: &[u8]) -> Result<()> {
        self.make_linear(m, h)?;
        let (i, off, _, _) = m
            .root
            .names
            .remove(name)
            .ok_or_else(|| FsError::NotFound { name: String::from_utf8_lossy(name).into_owned() })?;
        let csum = self.geo.csum;
        let seed = m.root.disk.csum_seed;
        let (pblk, b) = &mut m.root.blocks[i];
        dir::delete_entry(b, csum, off);
        if csum {
            dir::set_csum(b, seed);
        }
        h.dirty_metadata(*pblk, b);
        // Entries after it in the block keep their offsets (folded into the previous one).
        self.write_root(m, h)
    }

    /// The root directory's inode: size, blocks, times.
    fn write_root(&self, m: &mut Meta, h: &mut Handle<'_>) -> Result<()> {
        let t = now();
        let bs = self.geo.block_size as u64;
        let mut disk = std::mem::take(&mut m.root.disk);
        let n = m.root.blocks.len() as u64;
        disk.raw.set_size(n * bs);
        disk.raw.set_blocks_512((n + disk.tree.node_blocks() + (disk.raw.file_acl() != 0) as u64) * (bs / 512));
        disk.raw.i_mtime = t;
        disk.raw.i_ctime = t;
        self.write_tree(h, &mut disk);
        let r = self.write_inode(m, h, EXT4_ROOT_INO, &mut disk);
        m.root.disk = disk;
        r
    }

    /// An htree root directory becomes linear before its first change: the `dx_root`
    /// block keeps only "." and "..", interior `dx_node` blocks become empty blocks, and
    /// `EXT4_INDEX_FL` goes (fsimpl keeps no hash index).
    fn make_linear(&self, m: &mut Meta, h: &mut Handle<'_>) -> Result<()> {
        if !m.root.indexed {
            return Ok(());
        }
        let csum = self.geo.csum;
        let seed = m.root.disk.csum_seed;
        for i in 0..m.root.blocks.len() {
            let (pblk, b) = &mut m.root.blocks[i];
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
            h.dirty_metadata(*pblk, b);
        }
        m.root.disk.raw.i_flags &= !EXT4_INDEX_FL;
        m.root.indexed = false;
        Ok(())
    }

    /// `ext4_da_reserve_space`.
    pub fn reserve(&self, n: u64) -> Result<()> {
        lock(&self.meta).mb.reserve(n)
    }

    /// `ext4_da_release_space`.
    pub fn release(&self, n: u64) {
        lock(&self.meta).mb.release(n)
    }

    /// The free extents of the allocator's view, `(first block, length)` in block order
    /// (bitmaps' free blocks less preallocations and frees waiting for a commit).
    pub fn free_extents(&self) -> Vec<(u64, u64)> {
        lock(&self.meta).mb.free_extents()
    }

    /// Free blocks not promised to delayed allocation.
    pub fn available(&self) -> u64 {
        let mut m = lock(&self.meta);
        m.mb.commit_done(self.journal.last_committed());
        m.mb.available()
    }

    /// Blocks freed by transactions not yet committed.
    pub fn pending_frees(&self) -> u64 {
        let mut m = lock(&self.meta);
        m.mb.commit_done(self.journal.last_committed());
        m.mb.pending_frees()
    }

    /// `ext4_should_retry_alloc`: commits the running transaction so that the blocks it
    /// frees become available. Returns whether it freed any.
    pub fn retry_alloc(&self) -> Result<bool> {
        if self.pending_frees() == 0 {
            return Ok(false);
        }
        self.journal.force_commit()?;
        let mut m = lock(&self.meta);
        m.mb.commit_done(self.journal.last_committed());
        Ok(true)
    }
}
