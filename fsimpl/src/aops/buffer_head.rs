//! The buffer_head backend: ext4's `ext4_da_aops` over `fs/buffer.c`.
//!
//! Every folio that is written carries one [`BufferHead`](super::BufferHead) per block. The
//! write path maps **one block per `get_block` call** (`ext4_da_get_block_prep`), reserving
//! delayed allocation, and reads a partly written block synchronously before copying. The
//! read path maps per extent and reads whole folios with merged bios (`ext4_mpage_readpages`),
//! falling back to one bio per buffer for folios whose blocks are mixed
//! (`block_read_full_folio`). Writeback gathers runs of delalloc or unwritten blocks of up to
//! 2048 blocks (`mpage_prepare_extent_to_map`), maps each run with one `map_blocks` call —
//! as unwritten extents with `dioread_nolock`, ext4's default — and submits the buffers with
//! physically contiguous ones merged into one bio (`ext4_bio_write_folio`). The bios of a run
//! share an `ext4_io_end`: when they have completed, a workqueue converts its unwritten
//! extents to written (`ext4_end_io_rsv_work`) before the folios leave writeback.

use super::buffer::{BH_DIRTY, BH_UPTODATE, BufferHead, BufferHeads};
use super::{BufferedIo, MAX_WRITEPAGES_EXTENT_LEN, bio_folios, write_order};
use crate::bugs::Bug;
use crate::core::ext4::INODE_CREDITS;
use crate::core::jbd2::Handle;
use crate::core::{MapKind, MapOp, Mapping};
use crate::dev::{Bio, BioEndIo, BioOp};
use crate::error::{FsError, Result};
use crate::kernel::lock;
use crate::kernel::xarray::Mark;
use crate::mm::filemap::filemap_grab_folio;
use crate::mm::page_writeback::{
    WbIter, balance_dirty_pages_ratelimited, folio_clear_dirty_for_io, folio_end_writeback, folio_mark_dirty,
    folio_redirty, folio_start_writeback,
};
use crate::mm::{AddressSpaceOps, Folio, Inode, PAGE_SHIFT, PAGE_SIZE, ReadaheadControl, Sb, WritebackControl};
use crate::stats::{Ev, MapCaller};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::AcqRel, Ordering::Relaxed};

type BhFolio = Folio<BufferHeads>;
type BhInode = Inode<BufferHeads>;

/// ext4's buffer_head aops. Order-0 folios unless large folios are enabled.
#[derive(Debug)]
pub struct BufferHeadAops {
    max_order: usize,
}

impl BufferHeadAops {
    /// A backend whose folios go up to `max_order` (0: order-0 folios only).
    pub fn new(max_order: usize) -> Self {
        BufferHeadAops { max_order }
    }
}

/// The folio's buffers (`folio_buffers`).
///
/// # Safety
/// As [`Folio::private`]: the folio is locked or has I/O in flight.
unsafe fn buffers(f: &BhFolio) -> Option<&BufferHeads> {
    // SAFETY: passed on to the caller.
    unsafe { f.private() }
}

/// Attaches buffers to the locked folio if it has none (`folio_create_buffers` /
/// `create_empty_buffers`): uptodate and dirty if the folio is.
fn create_buffers(sb: &Sb<BufferHeadAops>, f: &BhFolio) {
    if f.has_private() {
        return;
    }
    let mut state = 0;
    if f.uptodate() {
        state |= BH_UPTODATE;
    }
    if f.dirty() {
        state |= BH_DIRTY;
    }
    let bhs = BufferHeads::new(f.size(), sb.block_size() as usize, f.pfn(), state);
    f.attach_private(bhs, &sb.stats);
}

/// Reads the listed buffers of the locked folio, one bio each (`bh_read_nowait` ×n, then
/// `wait_on_buffer`): on success they are uptodate; the first error is returned.
fn read_buffers_sync(sb: &Sb<BufferHeadAops>, bhs: &[&BufferHead], f: &BhFolio, rmw: bool) -> Result<()> {
    let bs = sb.block_size() as usize;
    let bios = bhs
        .iter()
        .map(|bh| {
            let mut bio = Bio::new(BioOp::Read, bh.blocknr() * bs as u64);
            // SAFETY: the folio is locked by the caller until the reads have completed.
            unsafe { bio.add_seg(f.ptr_at(bh.offset()), bs) };
            if rmw {
                sb.stats.rmw_read(bs as u64);
            }
            sb.stats.inc(Ev::Bios);
            bio
        })
        .collect();
    let statuses = crate::dev::submit_all_wait(sb.dev.as_ref(), bios)?;
    let mut err = None;
    for (bh, st) in bhs.iter().zip(statuses) {
        match st {
            Ok(()) => bh.set_uptodate(),
            Err(errno) => {
                err.get_or_insert(FsError::Io {
                    source: crate::dev::DevError::Io {
                        op: "read",
                        offset: bh.blocknr() * bs as u64,
                        source: std::io::Error::from_raw_os_error(errno),
                    },
                });
            }
        }
    }
    err.map_or(Ok(()), Err)
}

impl BufferHeadAops {
    /// `__block_write_begin_int` with `ext4_da_get_block_prep`: map every block the write
    /// touches, one `get_block` call per unmapped block; zero the parts of new blocks outside
    /// the write; read, one block per I/O, a mapped block the write only partly covers.
    fn block_write_begin(sb: &Sb<Self>, inode: &Arc<BhInode>, f: &BhFolio, from: usize, to: usize) -> Result<()> {
        create_buffers(sb, f);
        let bs = sb.block_size() as usize;
        let uptodate = f.uptodate();
        let first_lblk = f.pos() >> sb.blkbits;
        // SAFETY: the folio is locked.
        let bhs = unsafe { buffers(f) }.expect("folio has buffers");
        let mut dirtied = false;
        let mut to_read: Vec<&BufferHead> = Vec::new();
        let mut result = Ok(());
        for (i, bh) in bhs.iter().enumerate() {
            let (bstart, bend) = (i * bs, (i + 1) * bs);
            if bend <= from || bstart >= to {
                if uptodate {
                    bh.set_uptodate();
                }
                continue;
            }
            bh.clear_new();
            if !bh.mapped() {
                match sb.map_blocks(inode, first_lblk + i as u64, 1, MapOp::ReserveDelalloc, MapCaller::GetBlock) {
                    Ok(m) => bh.map_from(m.kind, m.pblk, true),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
                if bh.is_new() {
                    if uptodate {
                        bh.clear_new();
                        bh.set_uptodate();
                        bh.set_dirty();
                        dirtied = true;
                        continue;
                    }
                    if bstart < from {
                        f.zero(bstart, from - bstart, &sb.stats);
                    }
                    if bend > to {
                        f.zero(to, bend - to, &sb.stats);
                    }
                    continue;
                }
            }
            if uptodate {
                bh.set_uptodate();
                continue;
            }
            if !bh.uptodate()
                && !bh.delay()
                && !bh.unwritten()
                && (bstart < from || bend > to)
                && !sb.bug(Bug::BhSkipRmw)
            {
                to_read.push(bh);
            }
        }
        if result.is_ok() && !to_read.is_empty() {
            result = read_buffers_sync(sb, &to_read, f, true);
        }
        if result.is_err() {
            // `folio_zero_new_buffers`: new buffers of a failed write must not expose garbage.
            for (i, bh) in bhs.iter().enumerate() {
                if bh.is_new() && (i * bs) < to && (i + 1) * bs > from {
                    bh.clear_new();
                    if !bh.uptodate() {
                        f.zero(i * bs, bs, &sb.stats);
                        bh.set_uptodate();
                    }
                }
            }
        }
        if dirtied {
            folio_mark_dirty(sb, inode, f);
        }
        result
    }

    /// `block_write_end` → `__block_commit_write`, then `ext4_da_do_write_end`'s `i_size`
    /// update. Returns whether the folio went from clean to dirty, and the on-disk size to
    /// journal once the folio is unlocked (the write ends in an allocated block past
    /// `i_disksize`).
    fn block_write_end(
        sb: &Sb<Self>,
        inode: &Arc<BhInode>,
        f: &BhFolio,
        from: usize,
        to: usize,
    ) -> (bool, Option<u64>) {
        let bs = sb.block_size() as usize;
        // SAFETY: the folio is locked.
        let bhs = unsafe { buffers(f) }.expect("folio has buffers");
        let mut partial = false;
        let mut last_allocated = false;
        for (i, bh) in bhs.iter().enumerate() {
            let (bstart, bend) = (i * bs, (i + 1) * bs);
            if bend <= from || bstart >= to {
                partial |= !bh.uptodate();
            } else {
                bh.set_uptodate();
                bh.set_dirty();
                last_allocated = bh.mapped() && !bh.delay() && !bh.unwritten();
            }
            bh.clear_new();
        }
        let newly_dirty = folio_mark_dirty(sb, inode, f);
        if !partial {
            f.mark_uptodate();
        }
        let end = f.pos() + to as u64;
        let mut disksize = None;
        if end > inode.size() {
            inode.set_size(end);
            // `ext4_da_should_update_i_disksize`: the write ends in an allocated block.
            if last_allocated && !sb.bug(Bug::BhEofBlockExtendKeepsDisksize) {
                disksize = Some(end);
            }
        }
        (newly_dirty, disksize)
    }

    /// `block_read_full_folio` with `ext4_get_block` on a locked folio: map unmapped buffers
    /// one `get_block` call each, zero holes (and unwritten blocks), read the rest one bio
    /// per buffer; the folio is unlocked when the last read completes
    /// (`end_buffer_async_read`).
    fn block_read_full_folio(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, f: BhFolio) -> Result<()> {
        let last_lblk = inode.size().div_ceil(u64::from(sb.block_size()));
        create_buffers(sb, &f);
        let bs = sb.block_size() as usize;
        let first_lblk = match sb.bug(Bug::BhReadPageIndexAsBlock) {
            true => f.index(),
            false => f.pos() >> sb.blkbits,
        };
        // SAFETY: the folio is locked.
        let bhs = unsafe { buffers(&f) }.expect("folio has buffers");
        let mut to_read: Vec<&BufferHead> = Vec::new();
        for (i, bh) in bhs.iter().enumerate() {
            if bh.uptodate() {
                continue;
            }
            let lblk = first_lblk + i as u64;
            if !bh.mapped() && lblk < last_lblk {
                match sb.map_blocks(inode, lblk, 1, MapOp::Lookup, MapCaller::GetBlock) {
                    Ok(m) => bh.map_from(m.kind, m.pblk, false),
                    Err(e) => {
                        f.end_read(false);
                        return Err(e);
                    }
                }
            }
            if !bh.mapped() || bh.unwritten() {
                f.zero(i * bs, bs, &sb.stats);
                bh.set_uptodate();
                continue;
            }
            to_read.push(bh);
        }
        if to_read.is_empty() {
            let all = bhs.iter().all(|b| b.uptodate());
            f.end_read(all);
            return Ok(());
        }
        // Mark them all first: a completion must not see the folio done early.
        for bh in &to_read {
            bh.set_async_read();
        }
        let end: Arc<dyn BioEndIo> = Arc::new(BhReadEnd { sb: sb.arc() });
        for bh in to_read {
            let mut bio = Bio::with_end_io(BioOp::Read, bh.blocknr() * bs as u64, end.clone(), bh as *const _ as usize);
            // SAFETY: the folio stays locked until its reads complete.
            unsafe { bio.add_seg(f.ptr_at(bh.offset()), bs) };
            sb.stats.inc(Ev::Bios);
            sb.dev.submit_bio(bio);
        }
        Ok(())
    }

    /// `ext4_mpage_readpages` over the locked, new folios of `rac`: map per extent (one
    /// mapping serves the following folios while it lasts), read fully mapped, physically
    /// contiguous folios with merged bios, zero holes without I/O, and hand folios with
    /// buffers or mixed blocks to `block_read_full_folio`.
    fn mpage_readpages(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, rac: &mut ReadaheadControl<BufferHeads>) {
        let bs = u64::from(sb.block_size());
        let blkbits = sb.blkbits;
        let last_block_in_file = inode.size().div_ceil(bs);
        let window_end = rac.end();
        let end: Arc<dyn BioEndIo> = Arc::new(MpageReadEnd { sb: sb.arc() });
        let mut map: Option<Mapping> = None;
        let mut bio: Option<Box<Bio>> = None;
        let mut last_block_in_bio: Option<u64> = None;
        let submit = |bio: &mut Option<Box<Bio>>| {
            if let Some(b) = bio.take() {
                sb.stats.inc(Ev::Bios);
                sb.dev.submit_bio(b);
            }
        };
        while let Some(f) = rac.next_folio() {
            if f.has_private() {
                submit(&mut bio);
                last_block_in_bio = None;
                let _ = self.block_read_full_folio(sb, inode, f);
                continue;
            }
            let (pos, size) = (f.pos(), f.size());
            let blocks_per_folio = (size as u64) >> blkbits;
            let mut block_in_file = pos >> blkbits;
            let last_block =
                (((window_end - f.index()) << PAGE_SHIFT >> blkbits) + block_in_file).min(last_block_in_file);
            let mut page_block = 0u64;
            let mut first_hole = blocks_per_folio;
            let (mut first_pblk, mut prev_pblk) = (0u64, 0u64);
            let mut confused = false;
            let mut failed = false;
            while page_block < blocks_per_folio {
                let covered = map.filter(|m| block_in_file >= m.lblk && block_in_file < m.end());
                let m = match covered {
                    Some(m) => m,
                    None if block_in_file < last_block => {
                        match sb.map_blocks(
                            inode,
                            block_in_file,
                            last_block - block_in_file,
                            MapOp::Lookup,
                            MapCaller::Readahead,
                        ) {
                            Ok(m) => *map.insert(m),
                            Err(_) => {
                                failed = true;
                                break;
                            }
                        }
                    }
                    None => {
                        // Past EOF: a hole to the end of the folio.
                        first_hole = first_hole.min(page_block);
                        break;
                    }
                };
                let n = (m.end() - block_in_file).min(blocks_per_folio - page_block);
                if m.kind != MapKind::Mapped {
                    first_hole = first_hole.min(page_block);
                } else {
                    let pblk = m.pblk_of(block_in_file);
                    if first_hole != blocks_per_folio || (page_block > 0 && prev_pblk + 1 != pblk) {
                        confused = true;
                        break;
                    }
                    if page_block == 0 {
                        first_pblk = pblk;
                    }
                    prev_pblk = pblk + n - 1;
                }
                page_block += n;
                block_in_file += n;
            }
            if failed {
                f.end_read(false);
                continue;
            }
            if confused {
                submit(&mut bio);
                last_block_in_bio = None;
                let _ = self.block_read_full_folio(sb, inode, f);
                continue;
            }
            if first_hole != blocks_per_folio {
                let off = (first_hole * bs) as usize;
                f.zero(off, size - off, &sb.stats);
                if first_hole == 0 {
                    f.end_read(true);
                    continue;
                }
            }
            let len = (first_hole * bs) as usize;
            let ptr = f.ptr_at(0);
            let merged = last_block_in_bio.is_some_and(|b| b + 1 == first_pblk)
                // SAFETY: the folio stays locked until its read completes.
                && bio.as_mut().is_some_and(|b| unsafe { b.add_seg(ptr, len) });
            if !merged {
                submit(&mut bio);
                let mut b = Bio::with_end_io(BioOp::Read, first_pblk * bs, end.clone(), 0);
                // SAFETY: as above.
                unsafe { b.add_seg(ptr, len) };
                bio = Some(b);
            }
            // Our reference goes; the folio stays in the cache, locked until its read ends.
            drop(f);
            if first_hole != blocks_per_folio {
                // A folio ending in a hole ends the bio.
                submit(&mut bio);
                last_block_in_bio = None;
            } else {
                last_block_in_bio = Some(prev_pblk);
            }
        }
        submit(&mut bio);
    }
}

/// End of a readahead bio (`mpage_read_end_io` → `folio_end_read` for each folio).
struct MpageReadEnd {
    sb: Arc<Sb<BufferHeadAops>>,
}

impl BioEndIo for MpageReadEnd {
    fn bio_end_io(&self, bio: Box<Bio>) {
        let ok = bio.status().is_ok();
        let mut last = None;
        bio_folios(&self.sb.pool, &bio, |pfn, _, _| {
            if last != Some(pfn) {
                last = Some(pfn);
                Folio::<BufferHeads>::from_pfn(&self.sb.pool, pfn).end_read_put(ok);
            }
        });
    }
}

/// End of one buffer's read (`end_buffer_async_read`): when it was the folio's last one,
/// the folio is done.
struct BhReadEnd {
    sb: Arc<Sb<BufferHeadAops>>,
}

impl BioEndIo for BhReadEnd {
    fn bio_end_io(&self, bio: Box<Bio>) {
        // SAFETY: `private` is the buffer this bio reads, alive while its folio is locked
        // for the read.
        let bh = unsafe { &*(bio.private as *const BufferHead) };
        if bio.status().is_ok() {
            bh.set_uptodate();
        } else {
            bh.clear_uptodate();
        }
        let f: BhFolio = Folio::from_pfn(&self.sb.pool, bh.folio_pfn());
        // SAFETY: the folio is locked for its reads.
        let bhs = unsafe { buffers(&f) }.expect("folio has buffers");
        let done = {
            let _g = lock(&bhs.uptodate_lock);
            bh.clear_async_read();
            (!bhs.iter().any(|b| b.async_read())).then(|| bhs.iter().all(|b| b.uptodate()))
        };
        if let Some(uptodate) = done {
            f.end_read_put(uptodate);
        }
    }
}

/// One extent's writeback I/O (`struct ext4_io_end`): its bios, and the unwritten ranges to
/// convert once they have all completed.
struct IoEnd {
    sb: Arc<Sb<BufferHeadAops>>,
    inode: Arc<BhInode>,
    /// Logical block ranges written into unwritten extents (`ext4_io_end_vec`).
    unwritten: Mutex<Vec<(u64, u64)>>,
    /// Completed bios kept for the conversion work to finish (`io_end->bio`).
    done_bios: Mutex<Vec<Bio>>,
    /// Bios in flight, plus one while the submitter builds (`io_end->count`).
    count: AtomicU32,
    error: AtomicI32,
}

impl IoEnd {
    fn new(sb: &Sb<BufferHeadAops>, inode: &Arc<BhInode>) -> Arc<IoEnd> {
        Arc::new(IoEnd {
            sb: sb.arc(),
            inode: inode.clone(),
            unwritten: Mutex::new(Vec::new()),
            done_bios: Mutex::new(Vec::new()),
            count: AtomicU32::new(1),
            error: AtomicI32::new(0),
        })
    }

    fn has_unwritten(&self) -> bool {
        !lock(&self.unwritten).is_empty()
    }

    /// `ext4_put_io_end_defer`: the last reference queues the conversion, if any.
    fn put(self: &Arc<Self>) {
        if self.count.fetch_sub(1, AcqRel) != 1 || !self.has_unwritten() {
            return;
        }
        let io = self.clone();
        self.sb.end_io_wq.queue(Box::new(move || io.end_io_work()));
    }

    /// `ext4_end_io_end`: converts the unwritten ranges (unless the I/O failed), then ends
    /// the folios' writeback.
    fn end_io_work(&self) {
        let sb = &self.sb;
        if self.error.load(Relaxed) == 0 {
            for &(lblk, len) in lock(&self.unwritten).iter() {
                let mut l = lblk;
                while l < lblk + len {
                    match sb.map_blocks(&self.inode, l, lblk + len - l, MapOp::ConvertUnwritten, MapCaller::EndIo) {
                        Ok(m) => l += m.len,
                        Err(e) => {
                            self.inode.mapping.set_error(e.errno());
                            break;
                        }
                    }
                }
            }
        }
        let bios = std::mem::take(&mut *lock(&self.done_bios));
        for bio in bios {
            ext4_finish_bio(sb, &self.inode, &bio);
        }
    }
}

impl BioEndIo for IoEnd {
    /// `ext4_end_bio`.
    fn bio_end_io(&self, bio: Box<Bio>) {
        if let Err(e) = bio.status() {
            let _ = self.error.compare_exchange(0, e, AcqRel, Relaxed);
            self.inode.mapping.set_error(e);
        }
        let arc = unsafe_arc_from(&bio);
        if self.has_unwritten() {
            lock(&self.done_bios).push(*bio);
        } else {
            ext4_finish_bio(&self.sb, &self.inode, &bio);
        }
        arc.put();
    }
}

/// The io_end a writeback bio's end_io points at, as a counted reference.
fn unsafe_arc_from(bio: &Bio) -> Arc<IoEnd> {
    // SAFETY: `private` holds a reference leaked by `IoSubmit::new_bio` for this bio.
    unsafe { Arc::from_raw(bio.private as *const IoEnd) }
}

/// `ext4_finish_bio`: the buffers the bio wrote are no longer in flight; a folio with none
/// left leaves writeback.
fn ext4_finish_bio(sb: &Sb<BufferHeadAops>, inode: &BhInode, bio: &Bio) {
    let failed = bio.status().is_err();
    let bs = sb.block_size() as usize;
    bio_folios(&sb.pool, bio, |pfn, off, len| {
        let f: BhFolio = Folio::from_pfn(&sb.pool, pfn);
        // SAFETY: the folio is under writeback: its buffers stay.
        let bhs = unsafe { buffers(&f) }.expect("folio under writeback has buffers");
        let done = {
            let _g = lock(&bhs.uptodate_lock);
            for bh in bhs.iter().skip(off / bs).take(len / bs) {
                if failed {
                    bh.set_write_io_error();
                }
                bh.clear_async_write();
            }
            !bhs.iter().any(|b| b.async_write())
        };
        if done {
            folio_end_writeback(sb, inode, f);
        }
    });
}

/// The bio being built and its io_end (`struct ext4_io_submit`).
#[derive(Default)]
struct IoSubmit {
    io_end: Option<Arc<IoEnd>>,
    bio: Option<Box<Bio>>,
}

impl IoSubmit {
    fn io_end(&mut self, sb: &Sb<BufferHeadAops>, inode: &Arc<BhInode>) -> &Arc<IoEnd> {
        self.io_end.get_or_insert_with(|| IoEnd::new(sb, inode))
    }

    /// `ext4_io_submit`: sends the open bio.
    fn submit_bio(&mut self, sb: &Sb<BufferHeadAops>) {
        if let Some(b) = self.bio.take() {
            sb.stats.inc(Ev::WritebackIos);
            sb.stats.inc(Ev::Bios);
            sb.stats.add(Ev::WritebackBytes, b.len());
            sb.dev.submit_bio(b);
        }
    }

    /// Ends the extent: the bio goes, the io_end is let go of (`ext4_put_io_end`).
    fn finish(&mut self, sb: &Sb<BufferHeadAops>) {
        self.submit_bio(sb);
        if let Some(io) = self.io_end.take() {
            io.put();
        }
    }

    /// `io_submit_add_bh`: adds a buffer, merging it into the open bio when it continues it
    /// on disk; returns whether it merged.
    fn add_bh(&mut self, sb: &Sb<BufferHeadAops>, inode: &Arc<BhInode>, f: &BhFolio, bh: &BufferHead) -> bool {
        let bs = sb.block_size() as usize;
        let offset = bh.blocknr() * bs as u64;
        let ptr = f.ptr_at(bh.offset());
        if let Some(b) = self.bio.as_mut()
            && b.end() == offset
            // SAFETY: the folio stays under writeback (its memory alive) until the bio ends.
            && unsafe { b.add_seg(ptr, bs) }
        {
            return true;
        }
        self.submit_bio(sb);
        let io = self.io_end(sb, inode).clone();
        io.count.fetch_add(1, Relaxed);
        let end: Arc<dyn BioEndIo> = io.clone();
        let mut b = Bio::with_end_io(BioOp::Write, offset, end, Arc::into_raw(io) as usize);
        // SAFETY: as above.
        unsafe { b.add_seg(ptr, bs) };
        self.bio = Some(b);
        false
    }
}

/// Where a round of writeback left the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scan {
    /// It stopped at folios that need mapping (or mapped an extent): more may follow.
    More,
    /// No dirty folio is left in the range, or the pass wrote what it was to write.
    Done,
}

/// One extent gathered for mapping (`mpd->map`).
#[derive(Clone, Copy, Debug)]
struct GatherExtent {
    lblk: u64,
    len: u64,
    unwritten: bool,
}

impl BufferHeadAops {
    /// `mpage_submit_folio` → `ext4_bio_write_folio` on a locked folio: zero it past EOF,
    /// start writeback, add its dirty, mapped buffers to the write bios, unlock it.
    fn submit_folio(
        &self,
        sb: &Sb<Self>,
        inode: &Arc<BhInode>,
        f: &BhFolio,
        io: &mut IoSubmit,
        wbc: &mut WritebackControl,
    ) {
        let bs = sb.block_size() as usize;
        folio_clear_dirty_for_io(sb, f);
        let i_size = inode.size();
        let (pos, size) = (f.pos(), f.size());
        let len = if pos + size as u64 > i_size { i_size.saturating_sub(pos) as usize } else { size };
        if len < size {
            f.zero(len, size - len, &sb.stats);
        }
        // SAFETY: the folio is locked.
        let bhs = unsafe { buffers(f) }.expect("folio has buffers");
        let mut keep_dirty = false;
        let mut to_submit = 0;
        for (i, bh) in bhs.iter().enumerate() {
            if i * bs >= len {
                bh.clear_dirty();
                bh.set_uptodate();
                continue;
            }
            if !bh.dirty() || bh.delay() || !bh.mapped() || bh.unwritten() {
                if !bh.mapped() {
                    bh.clear_dirty();
                }
                keep_dirty |= bh.dirty();
                continue;
            }
            bh.clear_new();
            bh.clear_dirty();
            bh.set_async_write();
            to_submit += 1;
        }
        if keep_dirty {
            folio_redirty(sb, inode, f);
        } else if to_submit == 0 {
            // Clean without any I/O (all past EOF or unmapped): off the dirty lists.
            inode.mapping.clear_mark(f, Mark::Dirty);
            inode.mapping.clear_mark(f, Mark::Towrite);
        }
        if to_submit > 0 {
            folio_start_writeback(sb, inode, f);
            let mut first = true;
            for bh in bhs.iter().filter(|b| b.async_write()) {
                if io.add_bh(sb, inode, f, bh) && first {
                    sb.stats.inc(Ev::WritebackMerges);
                }
                first = false;
            }
            sb.stats.inc(Ev::WritebackFolios);
        }
        wbc.nr_to_write = wbc.nr_to_write.saturating_sub(f.nr_pages());
        f.unlock();
    }

    /// One round of `ext4_do_writepages`: `mpage_prepare_extent_to_map` locks dirty folios
    /// in order, submitting those that need no mapping (`ext4_bio_write_folio`) and gathering
    /// the first run of blocks that do; with a handle (`mpd->do_map`), the run is mapped and
    /// submitted (`mpage_map_and_submit_extent`) and `i_disksize` advances in that handle.
    /// Without one, the walk stops at the first folio that needs mapping — or, when the
    /// writeback may not map at all, passes it by, dirty.
    fn mpage_prepare_and_submit(
        &self,
        sb: &Sb<Self>,
        inode: &Arc<BhInode>,
        wbc: &mut WritebackControl,
        iter: &mut WbIter,
        io: &mut IoSubmit,
        h: Option<&mut Handle<'_>>,
    ) -> Result<Scan> {
        let bs = u64::from(sb.block_size());
        let blkbits = sb.blkbits;
        let do_map = h.is_some();
        let mut ext: Option<GatherExtent> = None;
        let mut pending: Vec<BhFolio> = Vec::new();
        let mut next_page = 0;
        loop {
            let gathered_pages = ext.map_or(0, |e| (e.len << blkbits) >> PAGE_SHIFT);
            if !wbc.sync && wbc.nr_to_write <= gathered_pages {
                break;
            }
            let Some(f) = iter.next_locked(sb, inode, wbc) else { break };
            if ext.is_some() && f.index() != next_page {
                iter.rewind_to(f.index());
                f.unlock();
                break;
            }
            let lblk0 = f.pos() >> blkbits;
            let blocks_in_file = inode.size().div_ceil(bs);
            create_buffers(sb, &f);
            // SAFETY: locked.
            let bhs = unsafe { buffers(&f) }.expect("folio has buffers");
            let needs_map = |bh: &BufferHead| bh.dirty() && bh.mapped() && (bh.delay() || bh.unwritten());
            if !do_map {
                let n = bhs.iter().take(blocks_in_file.saturating_sub(lblk0) as usize).filter(|b| needs_map(b)).count();
                if n > 0 {
                    f.unlock();
                    if wbc.can_map {
                        iter.rewind_to(f.index());
                        return Ok(Scan::More);
                    }
                    continue;
                }
            }
            let mut stopped = false;
            for (i, bh) in bhs.iter().enumerate() {
                let lblk = lblk0 + i as u64;
                if lblk >= blocks_in_file {
                    break;
                }
                if !needs_map(bh) {
                    if ext.is_some() {
                        stopped = true;
                        break;
                    }
                    continue;
                }
                match &mut ext {
                    None => ext = Some(GatherExtent { lblk, len: 1, unwritten: bh.unwritten() }),
                    Some(e) => {
                        if e.len >= MAX_WRITEPAGES_EXTENT_LEN || lblk != e.lblk + e.len || bh.unwritten() != e.unwritten
                        {
                            stopped = true;
                            break;
                        }
                        e.len += 1;
                    }
                }
            }
            if ext.is_none() {
                // Nothing to map: write the folio right away.
                self.submit_folio(sb, inode, &f, io, wbc);
                continue;
            }
            next_page = f.end_index();
            pending.push(f);
            if stopped {
                break;
            }
        }
        let (Some(mut e), Some(h)) = (ext, h) else { return Ok(Scan::Done) };
        // mpage_map_and_submit_extent
        while e.len > 0 {
            let m = match (e.unwritten, sb.opts.dioread_nolock) {
                (true, _) => sb.map_blocks(inode, e.lblk, e.len, MapOp::Lookup, MapCaller::Writeback),
                (false, true) => {
                    sb.map_blocks_in(h, inode, e.lblk, e.len, MapOp::AllocateUnwritten, MapCaller::Writeback)
                }
                (false, false) => sb.map_blocks_in(h, inode, e.lblk, e.len, MapOp::Allocate, MapCaller::Writeback),
            };
            let m = match m {
                Ok(m) => m,
                Err(err) => {
                    for f in pending.drain(..) {
                        f.unlock();
                    }
                    return Err(err);
                }
            };
            self.map_buffers(sb, &pending, &m);
            if m.kind == MapKind::Unwritten && !sb.bug(Bug::SkipUnwrittenConversion) {
                lock(&io.io_end(sb, inode).unwritten).push((m.lblk, m.len));
            }
            // The gathered folios map in file order: those now fully mapped lead the list.
            let done = pending.iter().take_while(|f| self.folio_fully_mapped(sb, inode, f)).count();
            let mut last_end = None;
            for f in pending.drain(..done) {
                last_end = Some(f.end_pos());
                self.submit_folio(sb, inode, &f, io, wbc);
            }
            // Update the on-disk size after the I/O is submitted (data=ordered).
            if let Some(end) = last_end
                && let Err(err) = sb.update_disksize_in(h, inode, end.min(inode.size()))
            {
                for f in pending.drain(..) {
                    f.unlock();
                }
                return Err(err);
            }
            e.lblk += m.len;
            e.len -= m.len;
        }
        // A folio left with buffers to map (the extent stopped inside it) is revisited.
        if let Some(f) = pending.first() {
            iter.rewind_to(f.index());
        }
        for f in pending.drain(..) {
            f.unlock();
        }
        Ok(Scan::More)
    }

    /// `mpage_process_page_bufs` after mapping: buffers of the pending folios inside the
    /// mapped range get their block numbers; delay and unwritten are cleared.
    fn map_buffers(&self, sb: &Sb<Self>, pending: &[BhFolio], m: &Mapping) {
        for f in pending {
            let lblk0 = f.pos() >> sb.blkbits;
            if lblk0 >= m.end() {
                break;
            }
            // SAFETY: the pending folios are locked.
            let bhs = unsafe { buffers(f) }.expect("folio has buffers");
            for (i, bh) in bhs.iter().enumerate() {
                let b = lblk0 + i as u64;
                if b >= m.lblk && b < m.end() && bh.dirty() && (bh.delay() || bh.unwritten()) {
                    bh.set_blocknr(m.pblk + (b - m.lblk));
                    bh.clear_delay();
                    bh.clear_unwritten();
                    bh.set_mapped();
                }
            }
        }
    }

    fn folio_fully_mapped(&self, sb: &Sb<Self>, inode: &BhInode, f: &BhFolio) -> bool {
        let blocks_in_file = inode.size().div_ceil(u64::from(sb.block_size()));
        let lblk0 = f.pos() >> sb.blkbits;
        // SAFETY: the folio is locked.
        let bhs = unsafe { buffers(f) }.expect("folio has buffers");
        bhs.iter()
            .enumerate()
            .all(|(i, bh)| lblk0 + i as u64 >= blocks_in_file || !(bh.dirty() && (bh.delay() || bh.unwritten())))
    }
}

impl AddressSpaceOps for BufferHeadAops {
    type Private = BufferHeads;

    fn name(&self) -> &'static str {
        "bh"
    }

    fn max_folio_order(&self) -> usize {
        self.max_order
    }

    fn readahead(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, rac: &mut ReadaheadControl<BufferHeads>) {
        self.mpage_readpages(sb, inode, rac)
    }

    /// `ext4_read_folio`: a folio with buffers goes straight to `block_read_full_folio`.
    fn read_folio(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, folio: &BhFolio) -> Result<()> {
        if folio.has_private() {
            return self.block_read_full_folio(sb, inode, folio.clone());
        }
        let mut rac = ReadaheadControl::single(folio.clone());
        self.mpage_readpages(sb, inode, &mut rac);
        Ok(())
    }

    /// `block_is_partially_uptodate`.
    fn is_partially_uptodate(&self, folio: &BhFolio, from: usize, count: usize) -> bool {
        // SAFETY: called with the folio locked.
        let Some(bhs) = (unsafe { buffers(folio) }) else { return false };
        let bs = bhs.get(0).size();
        let to = (from + count).min(folio.size());
        bhs.iter().skip(from / bs).take(to.div_ceil(bs) - from / bs).all(|b| b.uptodate())
    }

    /// `ext4_writepages` (`ext4_do_writepages`): first the folios that need no mapping, with
    /// no journal handle; then, while dirty folios remain, one handle per round: gather a run
    /// of dirty delalloc/unwritten blocks (`mpage_prepare_extent_to_map`), map it with one
    /// `map_blocks` call per piece the allocator returns and submit its folios, then advance
    /// `i_disksize` (`mpage_map_and_submit_extent`), all in that handle, which is started
    /// before any folio is locked. Without `can_map` (the journal's ordered data) only
    /// folios that need no mapping are written.
    fn writepages(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, wbc: &mut WritebackControl) -> Result<()> {
        let mut iter = WbIter::new(inode, wbc);
        let mut io = IoSubmit::default();
        let mut result = self.mpage_prepare_and_submit(sb, inode, wbc, &mut iter, &mut io, None);
        io.finish(sb);
        while wbc.can_map && matches!(result, Ok(Scan::More)) {
            let mut h = match sb.ext4.journal_start(sb.map_credits(inode) + INODE_CREDITS) {
                Ok(h) => h,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            result = self.mpage_prepare_and_submit(sb, inode, wbc, &mut iter, &mut io, Some(&mut h));
            drop(h);
            // `ext4_io_submit`: the open bio ends with each round.
            io.finish(sb);
        }
        wbc.done_index = iter.index();
        result.map(|_| ())
    }

    /// `block_invalidate_folio`: discard the buffers wholly inside the range; free them all
    /// when the whole folio goes.
    fn invalidate_folio(&self, sb: &Sb<Self>, folio: &BhFolio, offset: usize, len: usize) {
        let whole = offset == 0 && len == folio.size();
        // SAFETY: called with the folio locked.
        let Some(bhs) = (unsafe { buffers(folio) }) else { return };
        let bs = bhs.get(0).size();
        for (i, bh) in bhs.iter().enumerate() {
            if i * bs >= offset && (i + 1) * bs <= offset + len {
                bh.discard();
            }
        }
        if whole {
            folio.detach_private(&sb.stats);
        }
    }

    /// `try_to_free_buffers`: refuse while any buffer is dirty or in flight.
    fn release_folio(&self, sb: &Sb<Self>, folio: &BhFolio) -> bool {
        if folio.dirty() || folio.writeback() {
            return false;
        }
        // SAFETY: called with the folio locked.
        if let Some(bhs) = unsafe { buffers(folio) }
            && bhs.iter().any(|b| b.dirty() || b.async_write() || b.async_read())
        {
            return false;
        }
        folio.detach_private(&sb.stats);
        true
    }
}

impl BufferedIo for BufferHeadAops {
    /// `generic_perform_write` with `ext4_da_write_begin` / `ext4_da_write_end`.
    fn write_iter(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, pos: u64, data: &[u8]) -> Result<usize> {
        let chunk = (PAGE_SIZE << self.max_order) as u64;
        let mut written = 0usize;
        while written < data.len() {
            let p = pos + written as u64;
            let bytes = ((chunk - p % chunk) as usize).min(data.len() - written);
            let order = write_order(bytes).min(self.max_order);
            let f = match filemap_grab_folio(sb, inode, p >> PAGE_SHIFT, order) {
                Ok(f) => f,
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            };
            let from = (p - f.pos()) as usize;
            let len = bytes.min(f.size() - from);
            if let Err(e) = Self::block_write_begin(sb, inode, &f, from, from + len) {
                f.unlock();
                if written == 0 {
                    return Err(e);
                }
                break;
            }
            f.copy_from(from, &data[written..written + len]);
            let (newly_dirty, disksize) = Self::block_write_end(sb, inode, &f, from, from + len);
            let pages = if newly_dirty { f.nr_pages() } else { 0 };
            f.unlock();
            drop(f);
            if let Some(size) = disksize
                && let Err(e) = sb.update_disksize(inode, size)
            {
                if written == 0 {
                    return Err(e);
                }
                break;
            }
            written += len;
            balance_dirty_pages_ratelimited(sb, pages);
        }
        Ok(written)
    }

    /// `ext4_block_zero_page_range`, block by block: a mapped (or delalloc) block is read if
    /// needed, zeroed in the cache and dirtied; holes and unwritten blocks already read as
    /// zeros and are left alone.
    fn zero_range(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, pos: u64, len: u64) -> Result<()> {
        let bs = u64::from(sb.block_size());
        let mut p = pos;
        let end = pos + len;
        while p < end {
            let n = (bs - p % bs).min(end - p);
            self.zero_block_range(sb, inode, p, n)?;
            p += n;
        }
        Ok(())
    }
}

impl BufferHeadAops {
    fn zero_block_range(&self, sb: &Sb<Self>, inode: &Arc<BhInode>, pos: u64, len: u64) -> Result<()> {
        // Like `__ext4_block_zero_page_range`, the folio is found or created (FGP_CREAT)
        // before the block is looked up.
        let f = filemap_grab_folio(sb, inode, pos >> PAGE_SHIFT, 0)?;
        create_buffers(sb, &f);
        let bs = sb.block_size() as usize;
        let fpos = f.pos();
        let lblk = pos >> sb.blkbits;
        let i = ((pos - fpos) as usize) / bs;
        let folio_uptodate = f.uptodate();
        // SAFETY: locked.
        let bhs = unsafe { buffers(&f) }.expect("folio has buffers");
        let bh = bhs.get(i);
        let result = (|| -> Result<bool> {
            if !bh.mapped() {
                let m = sb.map_blocks(inode, lblk, 1, MapOp::Lookup, MapCaller::GetBlock)?;
                bh.map_from(m.kind, m.pblk, false);
                if !bh.mapped() || (bh.unwritten() && !bh.dirty()) {
                    // A hole or an unwritten block already reads as zeros.
                    bh.discard();
                    return Ok(false);
                }
            }
            if folio_uptodate {
                bh.set_uptodate();
            }
            if !bh.uptodate() && !bh.delay() {
                if bh.unwritten() {
                    f.zero(i * bs, bs, &sb.stats);
                    bh.set_uptodate();
                } else {
                    read_buffers_sync(sb, &[bh], &f, false)?;
                }
            }
            f.zero((pos - fpos) as usize, len as usize, &sb.stats);
            bh.set_dirty();
            Ok(true)
        })();
        let dirtied = match result {
            Ok(true) => folio_mark_dirty(sb, inode, &f),
            _ => false,
        };
        f.unlock();
        let pages = if dirtied { f.nr_pages() } else { 0 };
        drop(f);
        result?;
        balance_dirty_pages_ratelimited(sb, pages);
        Ok(())
    }
}
