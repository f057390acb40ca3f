//! The iomap backend: `ext4_iomap_aops` over `fs/iomap/buffered-io.c`.
//!
//! The write path asks the filesystem for a mapping **once per extent** (`iomap_begin`), then
//! walks the extent folio by folio, with folios as large as the write allows. Per-block state
//! is an [`IomapFolioState`] — uptodate and dirty bitmaps under a lock, and the bytes of read
//! and write I/O in flight — on every folio of more than one block that is partly written,
//! read or written back. Only the partly covered head and tail blocks of a write are read (or
//! zeroed, for holes, unwritten and new blocks). Readahead merges contiguous blocks across
//! folios into one bio. Writeback allocates delalloc as unwritten extents of up to 2048 blocks,
//! gathers blocks into ioends that grow while physically contiguous, and at completion — in
//! a workqueue for ioends that need it — converts unwritten extents and advances
//! `i_disksize` before the folios leave writeback.

use super::{BufferedIo, MAX_WRITEPAGES_EXTENT_LEN, bio_folios, write_order};
use crate::bugs::Bug;
use crate::core::{MapKind, MapOp, Mapping};
use crate::dev::{Bio, BioEndIo, BioOp, submit_bio_wait};
use crate::error::{FsError, Result};
use crate::kernel::xarray::Mark;
use crate::kernel::{lock, read, write};
use crate::mm::filemap::filemap_grab_folio;
use crate::mm::page_writeback::{
    WbIter, balance_dirty_pages_ratelimited, folio_clear_dirty_for_io, folio_end_writeback, folio_mark_dirty,
    folio_start_writeback,
};
use crate::mm::{
    AddressSpaceOps, Folio, FolioPrivate, Inode, PAGE_SHIFT, PAGE_SIZE, ReadaheadControl, Sb, WritebackControl,
};
use crate::stats::{Ev, MapCaller};
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::AcqRel, Ordering::Relaxed,
};
use std::sync::{Arc, Mutex};

/// Most folios one ioend gathers (`IOEND_BATCH_SIZE`).
pub const IOEND_BATCH_SIZE: u64 = 4096;

type IFolio = Folio<IomapFolioState>;
type IInode = Inode<IomapFolioState>;

/// One mapping handed out by `iomap_begin` (`struct iomap`), in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iomap {
    /// Hole, Delalloc, Mapped or Unwritten.
    pub kind: MapKind,
    /// File offset of the start.
    pub offset: u64,
    /// Length.
    pub length: u64,
    /// Device byte address of `offset` (Mapped and Unwritten).
    pub addr: u64,
    /// Freshly reserved or allocated by this call (`IOMAP_F_NEW`).
    pub new: bool,
    /// The inode's mapping sequence when this was made (`iomap->validity_cookie`).
    pub seq: u64,
}

impl Iomap {
    fn from_mapping(m: Mapping, blkbits: u32, seq: u64) -> Self {
        Iomap {
            kind: m.kind,
            offset: m.lblk << blkbits,
            length: m.len << blkbits,
            addr: m.pblk << blkbits,
            new: m.new,
            seq,
        }
    }

    fn end(&self) -> u64 {
        self.offset + self.length
    }

    fn covers(&self, pos: u64) -> bool {
        pos >= self.offset && pos < self.end()
    }

    /// Device byte address of file offset `pos` (`iomap_sector`).
    fn addr_of(&self, pos: u64) -> u64 {
        self.addr + (pos - self.offset)
    }
}

/// The uptodate and dirty bitmaps, one bit per block each.
#[derive(Debug)]
struct Bits {
    nr_blocks: usize,
    /// `nr_blocks` uptodate bits, then `nr_blocks` dirty bits, in 64-bit words.
    bits: Box<[u64]>,
}

impl Bits {
    fn words(&self) -> usize {
        self.nr_blocks.div_ceil(64)
    }

    fn test(&self, map: usize, i: usize) -> bool {
        self.bits[map * self.words() + i / 64] & (1 << (i % 64)) != 0
    }

    fn set_range(&mut self, map: usize, first: usize, n: usize) {
        let w = self.words();
        for i in first..first + n {
            self.bits[map * w + i / 64] |= 1 << (i % 64);
        }
    }

    fn clear_range(&mut self, map: usize, first: usize, n: usize) {
        let w = self.words();
        for i in first..first + n {
            self.bits[map * w + i / 64] &= !(1 << (i % 64));
        }
    }

    fn fully_uptodate(&self) -> bool {
        (0..self.nr_blocks).all(|i| self.test(0, i))
    }
}

/// Per-block state of a folio (`struct iomap_folio_state`).
#[derive(Debug)]
pub struct IomapFolioState {
    /// `state_lock` and the bitmaps it guards.
    state: Mutex<Bits>,
    /// Bytes of read I/O still in flight (`read_bytes_pending`).
    read_bytes_pending: AtomicUsize,
    /// Bytes of write I/O still in flight (`write_bytes_pending`).
    write_bytes_pending: AtomicUsize,
    nr_blocks: usize,
}

/// Bytes of the kernel's `struct iomap_folio_state` before its bitmap: a spinlock and two
/// counters, padded to the `unsigned long` array that follows.
const IFS_HEADER_BYTES: usize = 16;

impl FolioPrivate for IomapFolioState {
    /// The header and the bitmaps, as the kernel allocates them.
    fn bytes(&self) -> usize {
        IFS_HEADER_BYTES + 2 * self.nr_blocks.div_ceil(64) * 8
    }
}

impl IomapFolioState {
    fn new(nr_blocks: usize, uptodate: bool, dirty: bool) -> Self {
        let words = nr_blocks.div_ceil(64);
        let mut b = Bits { nr_blocks, bits: vec![0u64; 2 * words].into_boxed_slice() };
        if uptodate {
            b.set_range(0, 0, nr_blocks);
        }
        if dirty {
            b.set_range(1, 0, nr_blocks);
        }
        IomapFolioState {
            state: Mutex::new(b),
            read_bytes_pending: AtomicUsize::new(0),
            write_bytes_pending: AtomicUsize::new(0),
            nr_blocks,
        }
    }

    /// `ifs_block_is_uptodate`.
    pub fn block_uptodate(&self, i: usize) -> bool {
        lock(&self.state).test(0, i)
    }

    /// `ifs_block_is_dirty`.
    pub fn block_dirty(&self, i: usize) -> bool {
        lock(&self.state).test(1, i)
    }

    /// Number of blocks.
    pub fn nr_blocks(&self) -> usize {
        self.nr_blocks
    }
}

/// The iomap aops, with folios up to `max_order`.
#[derive(Debug)]
pub struct IomapAops {
    max_order: usize,
}

impl IomapAops {
    /// A backend whose folios go up to `max_order`.
    pub fn new(max_order: usize) -> Self {
        IomapAops { max_order }
    }
}

/// The folio's state.
///
/// # Safety
/// As [`Folio::private`]: the folio is locked or has I/O in flight.
unsafe fn ifs(f: &IFolio) -> Option<&IomapFolioState> {
    // SAFETY: passed on to the caller.
    unsafe { f.private() }
}

/// Makes the locked folio's state if it has more than one block and none yet (`ifs_alloc`).
fn ifs_alloc<'f>(sb: &Sb<IomapAops>, f: &'f IFolio) -> Option<&'f IomapFolioState> {
    let nr_blocks = f.size() >> sb.blkbits;
    if !f.has_private() && nr_blocks > 1 {
        f.attach_private(Box::new(IomapFolioState::new(nr_blocks, f.uptodate(), f.dirty())), &sb.stats);
    }
    // SAFETY: the folio is locked.
    unsafe { ifs(f) }
}

/// `iomap_set_range_uptodate`: marks the blocks of bytes `[off, off + len)` uptodate; the
/// folio becomes uptodate when all its blocks are (at once when it has no state).
fn set_range_uptodate(sb: &Sb<IomapAops>, f: &IFolio, off: usize, len: usize) {
    let bb = sb.blkbits;
    // SAFETY: locked, or being read by the caller's I/O.
    match unsafe { ifs(f) } {
        Some(s) => {
            let mut b = lock(&s.state);
            let first = off >> bb;
            let last = (off + len - 1) >> bb;
            b.set_range(0, first, last - first + 1);
            if b.fully_uptodate() {
                f.mark_uptodate();
            }
        }
        None => f.mark_uptodate(),
    }
}

/// `iomap_set_range_dirty` then `filemap_dirty_folio`; whether the folio was clean.
fn set_range_dirty(sb: &Sb<IomapAops>, inode: &Arc<IInode>, f: &IFolio, off: usize, len: usize) -> bool {
    let bb = sb.blkbits;
    // SAFETY: the folio is locked.
    if let Some(s) = unsafe { ifs(f) } {
        let first = off >> bb;
        let last = (off + len - 1) >> bb;
        lock(&s.state).set_range(1, first, last - first + 1);
    }
    folio_mark_dirty(sb, inode, f)
}

impl IomapAops {
    /// `iomap_begin` for a buffered write (`ext4_iomap_buffered_write_begin`): what the
    /// range maps to, reserving delalloc over a hole — one call for the whole extent.
    fn iomap_begin_write(&self, sb: &Sb<Self>, inode: &IInode, pos: u64, len: u64) -> Result<Iomap> {
        let bb = sb.blkbits;
        let lblk = pos >> bb;
        let end = (pos + len).div_ceil(1 << bb);
        let m = sb.map_blocks(inode, lblk, end - lblk, MapOp::ReserveDelalloc, MapCaller::IomapBegin)?;
        Ok(Iomap::from_mapping(m, bb, sb.map_seq(inode)))
    }

    /// `iomap_begin` for reads and zeroing: a lookup.
    fn iomap_begin_read(&self, sb: &Sb<Self>, inode: &IInode, pos: u64, len: u64) -> Result<Iomap> {
        let bb = sb.blkbits;
        let lblk = pos >> bb;
        let end = (pos + len).div_ceil(1 << bb);
        let m = sb.map_blocks(inode, lblk, end - lblk, MapOp::Lookup, MapCaller::IomapBegin)?;
        Ok(Iomap::from_mapping(m, bb, sb.map_seq(inode)))
    }

    /// `iomap_block_needs_zeroing`.
    fn needs_zeroing(iomap: &Iomap, pos: u64, i_size: u64) -> bool {
        iomap.kind != MapKind::Mapped || iomap.new || pos >= i_size
    }

    /// `__iomap_write_begin` on a locked folio: nothing to do for a write covering it whole;
    /// otherwise make its state, and for each not-uptodate block the write only partly
    /// covers, zero the rest of it (hole, unwritten, new, past EOF) or read it (one I/O per
    /// block, waited for).
    fn write_begin(sb: &Sb<Self>, inode: &IInode, f: &IFolio, iomap: &Iomap, pos: u64, len: usize) -> Result<()> {
        let (fpos, fsize) = (f.pos(), f.size());
        if pos <= fpos && pos + len as u64 >= fpos + fsize as u64 {
            return Ok(());
        }
        let state = ifs_alloc(sb, f);
        if f.uptodate() {
            return Ok(());
        }
        let bs = u64::from(sb.block_size());
        let from = (pos - fpos) as usize;
        let to = from + len;
        let i_size = inode.size();
        let head = pos / bs * bs;
        let tail = (pos + len as u64 - 1) / bs * bs;
        let ends = [head, tail];
        let blocks = if head == tail { &ends[..1] } else { &ends[..] };
        for &block in blocks {
            let poff = (block - fpos) as usize;
            let plen = bs as usize;
            let uptodate = state.is_some_and(|s| s.block_uptodate(poff / plen));
            let partial = (from > poff && from < poff + plen) || (to > poff && to < poff + plen);
            if uptodate || !partial {
                continue;
            }
            if Self::needs_zeroing(iomap, block, i_size) {
                let skip_head = block >= i_size && sb.bug(Bug::IomapPostEofNotZeroed);
                if from > poff && !skip_head {
                    f.zero(poff, from - poff, &sb.stats);
                }
                if to < poff + plen {
                    f.zero(to, poff + plen - to, &sb.stats);
                }
            } else {
                sb.stats.rmw_read(plen as u64);
                read_block_sync(sb, f, poff, iomap.addr_of(block), plen)?;
            }
            set_range_uptodate(sb, f, poff, plen);
        }
        Ok(())
    }

    /// `iomap_write_iter` over one mapping: returns the bytes written and whether the mapping
    /// went stale (writeback changed the block map while a folio was being got).
    fn write_extent(
        &self,
        sb: &Sb<Self>,
        inode: &Arc<IInode>,
        iomap: &Iomap,
        pos: u64,
        data: &[u8],
    ) -> (usize, Result<bool>) {
        let chunk = (PAGE_SIZE << self.max_order) as u64;
        let end = (pos + data.len() as u64).min(iomap.end());
        let mut p = pos;
        while p < end {
            let bytes = (chunk - p % chunk).min(end - p) as usize;
            let order = write_order(bytes).min(self.max_order);
            let f = match filemap_grab_folio(sb, inode, p >> PAGE_SHIFT, order) {
                Ok(f) => f,
                Err(e) => return ((p - pos) as usize, Err(e)),
            };
            // iomap_valid: the mapping may have changed while the folio was got.
            if sb.map_seq(inode) != iomap.seq {
                f.unlock();
                return ((p - pos) as usize, Ok(true));
            }
            let off = (p - f.pos()) as usize;
            let bytes = bytes.min(f.size() - off);
            if let Err(e) = Self::write_begin(sb, inode, &f, iomap, p, bytes) {
                f.unlock();
                return ((p - pos) as usize, Err(e));
            }
            let at = (p - pos) as usize;
            f.copy_from(off, &data[at..at + bytes]);
            // __iomap_write_end
            set_range_uptodate(sb, &f, off, bytes);
            let newly_dirty = set_range_dirty(sb, inode, &f, off, bytes);
            p += bytes as u64;
            if p > inode.size() {
                inode.set_size(p);
            }
            let pages = if newly_dirty { f.nr_pages() } else { 0 };
            f.unlock();
            drop(f);
            balance_dirty_pages_ratelimited(sb, pages);
        }
        ((p - pos) as usize, Ok(false))
    }

    /// `iomap_end` after a short write: give back the new delalloc reservation beyond what was
    /// written (`xfs_buffered_write_iomap_end` → `iomap_write_delalloc_release`).
    fn iomap_end(&self, sb: &Sb<Self>, inode: &IInode, iomap: &Iomap, written_end: u64) {
        if !iomap.new || iomap.kind != MapKind::Delalloc || written_end >= iomap.end() {
            return;
        }
        let bb = sb.blkbits;
        let first = written_end.div_ceil(1 << bb);
        let last = iomap.end() >> bb;
        if first >= last {
            return;
        }
        let mut info = write(&inode.info);
        let released = info.delayed.remove(first, last - first);
        sb.ext4.release(released);
        info.map_seq += 1;
    }

    /// `iomap_readpage_iter` over one locked folio being read: its state made (more than
    /// one block), holes, unwritten and post-EOF blocks zeroed, mapped blocks added to the
    /// read bio, merging with it while contiguous. Bytes not sent to the device are
    /// accounted at once; the folio ends when its last read does.
    fn read_folio_iter(&self, sb: &Sb<Self>, inode: &IInode, f: &IFolio, ctx: &mut ReadCtx, window_end: u64) {
        let bs = u64::from(sb.block_size());
        let i_size = inode.size();
        let (fpos, fsize) = (f.pos(), f.size());
        let state = ifs_alloc(sb, f);
        if let Some(s) = state {
            // Biased by the folio's size while it is being built (`iomap_readfolio_start`).
            s.read_bytes_pending.store(fsize, Relaxed);
        }
        let mut submitted = 0usize;
        let mut pos = fpos;
        while pos < fpos + fsize as u64 {
            let block = ((pos - fpos) / bs) as usize;
            if state.is_some_and(|s| s.block_uptodate(block)) {
                pos += bs;
                continue;
            }
            let m = match ctx.iomap.filter(|m| m.covers(pos)) {
                Some(m) => m,
                None => match self.iomap_begin_read(sb, inode, pos, window_end.max(pos + bs) - pos) {
                    Ok(m) => *ctx.iomap.insert(m),
                    Err(_) => break,
                },
            };
            let run_end = m.end().min(fpos + fsize as u64);
            while pos < run_end {
                let block = ((pos - fpos) / bs) as usize;
                let off = (pos - fpos) as usize;
                if state.is_some_and(|s| s.block_uptodate(block)) {
                    pos += bs;
                    continue;
                }
                if Self::needs_zeroing(&m, pos, i_size) {
                    f.zero(off, bs as usize, &sb.stats);
                    set_range_uptodate(sb, f, off, bs as usize);
                } else {
                    ctx.add(sb, f.ptr_at(off), m.addr_of(pos), bs as usize);
                    submitted += bs as usize;
                }
                pos += bs;
            }
        }
        match state {
            Some(_) => finish_folio_read(f.clone(), fsize - submitted, true),
            None if submitted == 0 => f.end_read(f.uptodate()),
            None => {}
        }
    }

    /// The next dirty folio of the walk with no delayed allocation under it, locked, its
    /// dirty flag cleared for I/O; others are passed by, left dirty.
    fn next_mapped(&self, sb: &Sb<Self>, inode: &IInode, wbc: &WritebackControl, iter: &mut WbIter) -> Option<IFolio> {
        loop {
            let f = iter.next_locked(sb, inode, wbc)?;
            let (first, end) = (f.pos() >> sb.blkbits, f.end_pos().div_ceil(u64::from(sb.block_size())));
            let mut l = first;
            let mut delalloc = false;
            while l < end && !delalloc {
                let m = sb.lookup(inode, l, end - l);
                delalloc = m.kind == MapKind::Delalloc;
                l += m.len;
            }
            if !delalloc && folio_clear_dirty_for_io(sb, &f) {
                return Some(f);
            }
            f.unlock();
        }
    }

    /// The mapping writeback uses for `pos`, whose folio has `dirty_len` dirty bytes from it
    /// (`ext4_iomap_map_writeback_range`): the cached one if still valid; else up to
    /// `MAX_WRITEPAGES_EXTENT_LEN` blocks from `pos` — the dirty run or, if longer, up to the
    /// writeback range's end — are looked up, and a delalloc run among them is allocated as
    /// unwritten (`ext4_iomap_map_one_extent`): one `map_blocks` call either way. The cap is
    /// what keeps each allocation a request mballoc normalizes into its 8 MiB windows at the
    /// file's goal, as on the buffer_head path.
    fn wb_map(&self, sb: &Sb<Self>, inode: &IInode, wpc: &mut Wpc, pos: u64, dirty_len: u64) -> Result<Iomap> {
        let seq = sb.map_seq(inode);
        if let Some(m) = wpc.iomap.filter(|m| m.covers(pos) && m.seq == seq) {
            return Ok(m);
        }
        let bb = sb.blkbits;
        let lblk = pos >> bb;
        let range_blocks = wpc.range_end.div_ceil(1 << bb).saturating_sub(lblk);
        let len = (dirty_len >> bb).max(range_blocks).clamp(1, MAX_WRITEPAGES_EXTENT_LEN);
        let found = sb.lookup(inode, lblk, len);
        let op = if found.kind == MapKind::Delalloc { MapOp::AllocateUnwritten } else { MapOp::Lookup };
        let m = sb.map_blocks(inode, lblk, found.len, op, MapCaller::Writeback)?;
        let iomap = Iomap::from_mapping(m, bb, sb.map_seq(inode));
        wpc.iomap = Some(iomap);
        Ok(iomap)
    }

    /// `iomap_writepage_map` on a locked folio whose dirty flag was cleared for I/O: zero it
    /// past EOF, start writeback, add its dirty block ranges (all of it when it has no
    /// state) to ioends, unlock it.
    fn writepage_map(&self, sb: &Sb<Self>, inode: &Arc<IInode>, wpc: &mut Wpc, f: &IFolio) -> Result<()> {
        let bs = u64::from(sb.block_size());
        let i_size = inode.size();
        let (fpos, fsize) = (f.pos(), f.size() as u64);
        if fpos >= i_size {
            // Entirely past EOF (truncated under us): nothing to write.
            // SAFETY: locked.
            if let Some(s) = unsafe { ifs(f) } {
                lock(&s.state).clear_range(1, 0, s.nr_blocks);
            }
            inode.mapping.update_marks(f, &[], &[Mark::Dirty, Mark::Towrite]);
            f.unlock();
            return Ok(());
        }
        // A folio written whole gets its state only now, every block dirty.
        let had_state = f.has_private();
        let state = ifs_alloc(sb, f);
        let mut end_pos = fpos + fsize;
        if end_pos > i_size {
            let poff = (i_size - fpos) as usize;
            f.zero(poff, fsize as usize - poff, &sb.stats);
            end_pos = i_size.next_multiple_of(bs);
            if sb.bug(Bug::IomapWbDropTail) {
                end_pos = i_size / bs * bs;
            }
        }
        let nblocks = ((end_pos - fpos) / bs) as usize;
        if let (Some(s), false) = (state, had_state) {
            lock(&s.state).set_range(1, 0, nblocks);
        }
        // The dirty block runs, then clear them (`iomap_clear_range_dirty`).
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let scan = if sb.bug(Bug::IfsDirtyScanOneWord) { nblocks.min(64) } else { nblocks };
        match state {
            Some(s) => {
                let mut b = lock(&s.state);
                let mut i = 0;
                while i < scan {
                    if b.test(1, i) {
                        let j = (i..scan).find(|&j| !b.test(1, j)).unwrap_or(scan);
                        runs.push((i, j));
                        i = j;
                    } else {
                        i += 1;
                    }
                }
                b.clear_range(1, 0, s.nr_blocks);
                // Biased while the folio is being added (`iomap_writepage_map`).
                s.write_bytes_pending.store(1, Relaxed);
            }
            None => runs.push((0, nblocks)),
        }
        folio_start_writeback(sb, inode, f);
        wpc.folio_started = false;
        let mut result = Ok(());
        'runs: for (a, b) in runs {
            let mut pos = fpos + a as u64 * bs;
            let rend = fpos + b as u64 * bs;
            while pos < rend {
                let iomap = match self.wb_map(sb, inode, wpc, pos, rend - pos) {
                    Ok(m) => m,
                    Err(e) => {
                        result = Err(e);
                        break 'runs;
                    }
                };
                let n = iomap.end().min(rend) - pos;
                match iomap.kind {
                    MapKind::Mapped | MapKind::Unwritten => wpc.add_to_ioend(sb, inode, f, &iomap, pos, n),
                    // A hole under dirty data (punched or truncated meanwhile): nothing to write.
                    MapKind::Hole | MapKind::Delalloc => {}
                }
                pos += n;
            }
        }
        let started = wpc.folio_started;
        if started {
            sb.stats.inc(Ev::WritebackFolios);
        }
        f.unlock();
        match state {
            Some(_) => finish_folio_write(sb, inode, f.clone(), 1),
            None if !started => folio_end_writeback(sb, inode, f.clone()),
            None => {}
        }
        result
    }

    /// `iomap_zero_iter` for one mapping: zero `[pos, end)` through folios — creating them
    /// over mapped and delalloc ranges, only touching cached ones over holes and unwritten.
    fn zero_iter(&self, sb: &Sb<Self>, inode: &Arc<IInode>, iomap: &Iomap, pos: u64, end: u64) -> Result<()> {
        let chunk = (PAGE_SIZE << self.max_order) as u64;
        let only_cached = matches!(iomap.kind, MapKind::Hole | MapKind::Unwritten);
        let mut p = pos;
        while p < end {
            let f = if only_cached {
                let Some(f) = inode.mapping.find(&sb.pool, p >> PAGE_SHIFT, end.div_ceil(PAGE_SIZE as u64), None)
                else {
                    return Ok(());
                };
                f.lock();
                if !inode.mapping.owns(&f) {
                    f.unlock();
                    continue;
                }
                p = p.max(f.pos());
                f
            } else {
                let bytes = (chunk - p % chunk).min(end - p) as usize;
                filemap_grab_folio(sb, inode, p >> PAGE_SHIFT, write_order(bytes).min(self.max_order))?
            };
            let (fpos, fsize) = (f.pos(), f.size() as u64);
            let off = (p - fpos) as usize;
            let bytes = ((fpos + fsize).min(end) - p) as usize;
            if let Err(e) = Self::write_begin(sb, inode, &f, iomap, p, bytes) {
                f.unlock();
                return Err(e);
            }
            f.zero(off, bytes, &sb.stats);
            set_range_uptodate(sb, &f, off, bytes);
            let newly_dirty = set_range_dirty(sb, inode, &f, off, bytes);
            f.unlock();
            p += bytes as u64;
            balance_dirty_pages_ratelimited(sb, if newly_dirty { f.nr_pages() } else { 0 });
        }
        Ok(())
    }
}

/// Reads one block into a locked folio and waits (`iomap_read_folio_range`).
fn read_block_sync(sb: &Sb<IomapAops>, f: &IFolio, off: usize, addr: u64, len: usize) -> Result<()> {
    let mut bio = Bio::new(BioOp::Read, addr);
    // SAFETY: the folio is locked by the caller until the read has completed.
    unsafe { bio.add_seg(f.ptr_at(off), len) };
    sb.stats.inc(Ev::Bios);
    let bio = submit_bio_wait(sb.dev.as_ref(), bio)?;
    bio.status().map_err(|errno| FsError::Io {
        source: crate::dev::DevError::Io { op: "read", offset: addr, source: std::io::Error::from_raw_os_error(errno) },
    })
}

/// `iomap_finish_folio_read`: `len` bytes of a folio's read are done; the last ends it.
fn finish_folio_read(f: IFolio, len: usize, ok: bool) {
    // SAFETY: the folio is being read: its state stays.
    let finished = match unsafe { ifs(&f) } {
        Some(s) => s.read_bytes_pending.fetch_sub(len, AcqRel) == len,
        None => true,
    };
    if finished {
        let uptodate = ok && f.uptodate();
        f.end_read_put(uptodate);
    }
}

/// `iomap_finish_folio_write`: `len` bytes of a folio's writeback are done; the last ends it.
fn finish_folio_write(sb: &Sb<IomapAops>, inode: &IInode, f: IFolio, len: usize) {
    // SAFETY: the folio is under writeback: its state stays.
    let finished = match unsafe { ifs(&f) } {
        Some(s) => s.write_bytes_pending.fetch_sub(len, AcqRel) == len,
        None => true,
    };
    if finished {
        folio_end_writeback(sb, inode, f);
    }
}

/// The read bio being built (`struct iomap_readpage_ctx`).
struct ReadCtx {
    end: Arc<dyn BioEndIo>,
    bio: Option<Box<Bio>>,
    iomap: Option<Iomap>,
}

impl ReadCtx {
    fn new(sb: &Sb<IomapAops>) -> Self {
        ReadCtx { end: Arc::new(IomapReadEnd { sb: sb.arc() }), bio: None, iomap: None }
    }

    /// Adds `len` bytes of folio memory at device byte `addr`, merging with the open bio.
    fn add(&mut self, sb: &Sb<IomapAops>, ptr: *mut u8, addr: u64, len: usize) {
        if let Some(b) = self.bio.as_mut()
            && b.end() == addr
            // SAFETY: the folio stays locked until its read completes.
            && unsafe { b.add_seg(ptr, len) }
        {
            return;
        }
        self.submit(sb);
        let mut b = Bio::with_end_io(BioOp::Read, addr, self.end.clone(), 0);
        // SAFETY: as above.
        unsafe { b.add_seg(ptr, len) };
        self.bio = Some(b);
    }

    fn submit(&mut self, sb: &Sb<IomapAops>) {
        if let Some(b) = self.bio.take() {
            sb.stats.inc(Ev::Bios);
            sb.dev.submit_bio(b);
        }
    }
}

/// End of a read bio (`iomap_read_end_io`).
struct IomapReadEnd {
    sb: Arc<Sb<IomapAops>>,
}

impl BioEndIo for IomapReadEnd {
    fn bio_end_io(&self, bio: Box<Bio>) {
        let sb = &self.sb;
        let ok = bio.status().is_ok();
        bio_folios(&sb.pool, &bio, |pfn, off, len| {
            let f: IFolio = Folio::from_pfn(&sb.pool, pfn);
            if ok {
                set_range_uptodate(sb, &f, off, len);
            }
            finish_folio_read(f, len, ok);
        });
    }
}

/// An ioend (`struct iomap_ioend`): logically and physically contiguous blocks of one kind,
/// carried by one or more chained bios.
struct Ioend {
    sb: Arc<Sb<IomapAops>>,
    inode: Arc<IInode>,
    pos: u64,
    len: AtomicU64,
    unwritten: bool,
    /// Reaches past `i_disksize` (decided when the ioend is submitted): the size is updated
    /// at completion.
    append: AtomicBool,
    /// Bios in flight, plus one while it is being built.
    pending: AtomicU32,
    error: AtomicI32,
    /// Completed bios, finished together when the last one is (the ioend's chained bios
    /// complete as one).
    done_bios: Mutex<Vec<Bio>>,
}

impl Ioend {
    /// Whether completion must run in the workqueue (`xfs_ioend_needs_wq_completion`):
    /// unwritten extents to convert, or a size to advance.
    fn needs_work(&self) -> bool {
        self.unwritten || self.append.load(Relaxed)
    }

    /// Drops one pending count; the last completes the ioend: in the workqueue when it needs
    /// to, else here in the completion context (`iomap_finish_ioends`).
    fn put(self: &Arc<Self>) {
        if self.pending.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        if self.needs_work() {
            let io = self.clone();
            self.sb.end_io_wq.queue(Box::new(move || io.end_io_work()));
        } else {
            self.sb.stats.inc(Ev::Ioends);
            self.finish_bios();
        }
    }

    fn finish_bios(&self) {
        let bios = std::mem::take(&mut *lock(&self.done_bios));
        for bio in bios {
            finish_ioend_bio(&self.sb, &self.inode, &bio);
        }
    }

    /// `xfs_end_ioend`: unwritten extents converted and the on-disk size advanced (unless
    /// the I/O failed), then the folios end writeback (`iomap_finish_ioends`).
    fn end_io_work(&self) {
        let sb = &self.sb;
        sb.stats.inc(Ev::Ioends);
        let bb = sb.blkbits;
        let len = self.len.load(Relaxed);
        if self.error.load(Relaxed) == 0 {
            if self.unwritten && !sb.bug(Bug::SkipUnwrittenConversion) {
                let (mut l, end) = (self.pos >> bb, (self.pos + len) >> bb);
                while l < end {
                    match sb.map_blocks(&self.inode, l, end - l, MapOp::ConvertUnwritten, MapCaller::EndIo) {
                        Ok(m) => l += m.len,
                        Err(e) => {
                            self.inode.mapping.set_error(e.errno());
                            break;
                        }
                    }
                }
            }
            // xfs_setfilesize (ext4's `ext4_iomap_end_io` → `ext4_update_disksize` in a handle)
            let disksize = (self.pos + len).min(self.inode.size());
            if let Err(e) = sb.update_disksize(&self.inode, disksize) {
                self.inode.mapping.set_error(e.errno());
            }
        }
        self.finish_bios();
    }
}

impl BioEndIo for Ioend {
    /// `iomap_writepage_end_bio` / `xfs_end_bio`.
    fn bio_end_io(&self, bio: Box<Bio>) {
        // SAFETY: `private` holds a reference leaked by `Wpc::new_bio` for this bio.
        let me = unsafe { Arc::from_raw(bio.private as *const Ioend) };
        if let Err(e) = bio.status() {
            let _ = self.error.compare_exchange(0, e, AcqRel, Relaxed);
            self.inode.mapping.set_error(e);
        }
        lock(&self.done_bios).push(*bio);
        me.put();
    }
}

/// `iomap_finish_ioend_buffered` for one bio: each folio piece it wrote is done.
fn finish_ioend_bio(sb: &Sb<IomapAops>, inode: &IInode, bio: &Bio) {
    bio_folios(&sb.pool, bio, |pfn, _, len| {
        let f: IFolio = Folio::from_pfn(&sb.pool, pfn);
        finish_folio_write(sb, inode, f, len);
    });
}

/// Writeback context (`struct iomap_writepage_ctx`).
#[derive(Default)]
struct Wpc {
    /// One past the last byte the writeback covers (`wbc->range_end`).
    range_end: u64,
    iomap: Option<Iomap>,
    ioend: Option<Arc<Ioend>>,
    /// The open ioend's physical end, file end, and folios.
    io_addr_end: u64,
    io_pos_end: u64,
    nr_folios: u64,
    bio: Option<Box<Bio>>,
    /// The current folio has already added blocks to an ioend.
    folio_started: bool,
}

impl Wpc {
    fn submit_bio(&mut self, sb: &Sb<IomapAops>) {
        if let Some(b) = self.bio.take() {
            sb.stats.inc(Ev::WritebackIos);
            sb.stats.inc(Ev::Bios);
            sb.stats.add(Ev::WritebackBytes, b.len());
            sb.dev.submit_bio(b);
        }
    }

    /// Submits the open ioend (`iomap_submit_ioend`), deciding now whether it reaches past
    /// the on-disk size.
    fn submit_ioend(&mut self, sb: &Sb<IomapAops>) {
        self.submit_bio(sb);
        if let Some(io) = self.ioend.take() {
            if self.io_pos_end > read(&io.inode.info).i_disksize {
                io.append.store(true, Relaxed);
            }
            io.put();
        }
    }

    fn new_bio(&mut self, addr: u64) {
        let io = self.ioend.clone().expect("an open ioend");
        io.pending.fetch_add(1, Relaxed);
        let end: Arc<dyn BioEndIo> = io.clone();
        self.bio = Some(Bio::with_end_io(BioOp::Write, addr, end, Arc::into_raw(io) as usize));
    }

    /// `iomap_add_to_ioend`: blocks `[pos, pos + len)` of the folio join the open ioend when
    /// of the same kind and contiguous in the file and on disk, else start a new one; a full
    /// bio is chained with a new one.
    fn add_to_ioend(&mut self, sb: &Sb<IomapAops>, inode: &Arc<IInode>, f: &IFolio, iomap: &Iomap, pos: u64, len: u64) {
        let first_of_folio = !std::mem::replace(&mut self.folio_started, true);
        let unwritten = iomap.kind == MapKind::Unwritten;
        let addr = iomap.addr_of(pos);
        let ptr = f.ptr_at((pos - f.pos()) as usize);
        // SAFETY: locked.
        if let Some(s) = unsafe { ifs(f) } {
            s.write_bytes_pending.fetch_add(len as usize, Relaxed);
        }
        let joins = self.ioend.as_ref().is_some_and(|io| {
            io.unwritten == unwritten
                && self.io_pos_end == pos
                && self.io_addr_end == addr
                && (self.nr_folios < IOEND_BATCH_SIZE || !first_of_folio)
        });
        if joins {
            let io = self.ioend.as_ref().expect("checked");
            io.len.fetch_add(len, Relaxed);
            if first_of_folio {
                self.nr_folios += 1;
                sb.stats.inc(Ev::WritebackMerges);
            }
            self.io_pos_end += len;
            self.io_addr_end += len;
            // SAFETY: the folio stays under writeback until the bio completes.
            if self.bio.as_mut().is_some_and(|b| unsafe { b.add_seg(ptr, len as usize) }) {
                return;
            }
            self.submit_bio(sb);
            self.new_bio(addr);
            // SAFETY: as above.
            unsafe { self.bio.as_mut().expect("a new bio").add_seg(ptr, len as usize) };
            return;
        }
        self.submit_ioend(sb);
        self.ioend = Some(Arc::new(Ioend {
            sb: sb.arc(),
            inode: inode.clone(),
            pos,
            len: AtomicU64::new(len),
            unwritten,
            append: AtomicBool::new(false),
            pending: AtomicU32::new(1),
            error: AtomicI32::new(0),
            done_bios: Mutex::new(Vec::new()),
        }));
        self.io_pos_end = pos + len;
        self.io_addr_end = addr + len;
        self.nr_folios = 1;
        self.new_bio(addr);
        // SAFETY: as above.
        unsafe { self.bio.as_mut().expect("a new bio").add_seg(ptr, len as usize) };
    }
}

impl AddressSpaceOps for IomapAops {
    type Private = IomapFolioState;

    fn name(&self) -> &'static str {
        "iomap"
    }

    fn max_folio_order(&self) -> usize {
        self.max_order
    }

    /// `iomap_readahead`.
    fn readahead(&self, sb: &Sb<Self>, inode: &Arc<IInode>, rac: &mut ReadaheadControl<IomapFolioState>) {
        let window_end = rac.end() << PAGE_SHIFT;
        let mut ctx = ReadCtx::new(sb);
        while let Some(f) = rac.next_folio() {
            self.read_folio_iter(sb, inode, &f, &mut ctx, window_end);
        }
        ctx.submit(sb);
    }

    /// `iomap_read_folio`: the not-uptodate blocks of one folio.
    fn read_folio(&self, sb: &Sb<Self>, inode: &Arc<IInode>, folio: &IFolio) -> Result<()> {
        let mut ctx = ReadCtx::new(sb);
        self.read_folio_iter(sb, inode, folio, &mut ctx, folio.end_pos());
        ctx.submit(sb);
        Ok(())
    }

    /// `iomap_is_partially_uptodate`.
    fn is_partially_uptodate(&self, folio: &IFolio, from: usize, count: usize) -> bool {
        // SAFETY: called with the folio locked.
        let Some(s) = (unsafe { ifs(folio) }) else { return false };
        let bs = folio.size() / s.nr_blocks;
        let to = (from + count).min(folio.size());
        let b = lock(&s.state);
        (from / bs..to.div_ceil(bs)).all(|i| b.test(0, i))
    }

    /// `iomap_writepages`. Without `can_map` (the journal's ordered data) a folio over
    /// delayed allocation is passed by, dirty.
    fn writepages(&self, sb: &Sb<Self>, inode: &Arc<IInode>, wbc: &mut WritebackControl) -> Result<()> {
        let mut iter = WbIter::new(inode, wbc);
        let mut wpc = Wpc { range_end: wbc.end, ..Wpc::default() };
        let mut result = Ok(());
        while wbc.sync || wbc.nr_to_write > 0 {
            let f = if wbc.can_map { iter.next(sb, inode, wbc) } else { self.next_mapped(sb, inode, wbc, &mut iter) };
            let Some(f) = f else { break };
            let nr_pages = f.nr_pages();
            if let Err(e) = self.writepage_map(sb, inode, &mut wpc, &f) {
                result = Err(e);
                break;
            }
            wbc.nr_to_write = wbc.nr_to_write.saturating_sub(nr_pages);
        }
        wpc.submit_ioend(sb);
        wbc.done_index = iter.index();
        result
    }

    /// `iomap_invalidate_folio`: the state goes only with the whole folio.
    fn invalidate_folio(&self, sb: &Sb<Self>, folio: &IFolio, offset: usize, len: usize) {
        if offset == 0 && len == folio.size() {
            folio.detach_private(&sb.stats);
        }
    }

    /// `iomap_release_folio`: not while dirty or under writeback.
    fn release_folio(&self, sb: &Sb<Self>, folio: &IFolio) -> bool {
        if folio.dirty() || folio.writeback() {
            return false;
        }
        folio.detach_private(&sb.stats);
        true
    }
}

impl BufferedIo for IomapAops {
    /// `iomap_file_buffered_write`.
    fn write_iter(&self, sb: &Sb<Self>, inode: &Arc<IInode>, pos: u64, data: &[u8]) -> Result<usize> {
        let mut written = 0usize;
        while written < data.len() {
            let p = pos + written as u64;
            let iomap = match self.iomap_begin_write(sb, inode, p, (data.len() - written) as u64) {
                Ok(m) => m,
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            };
            let (n, outcome) = self.write_extent(sb, inode, &iomap, p, &data[written..]);
            written += n;
            if let Err(e) = outcome {
                self.iomap_end(sb, inode, &iomap, p + n as u64);
                if written == 0 {
                    return Err(e);
                }
                break;
            }
        }
        Ok(written)
    }

    /// `iomap_truncate_page`: zero from `pos` to the end of its block.
    fn truncate_page(&self, sb: &Sb<Self>, inode: &Arc<IInode>, pos: u64) -> Result<()> {
        let bs = u64::from(sb.block_size());
        if pos.is_multiple_of(bs) || sb.bug(Bug::IomapSkipTailZero) {
            return Ok(());
        }
        self.zero_range(sb, inode, pos, bs - pos % bs)
    }

    /// `iomap_zero_range`: once per extent, zero through the cache.
    fn zero_range(&self, sb: &Sb<Self>, inode: &Arc<IInode>, pos: u64, len: u64) -> Result<()> {
        let end = pos + len;
        let mut p = pos;
        while p < end {
            let iomap = self.iomap_begin_read(sb, inode, p, end - p)?;
            let run_end = iomap.end().min(end);
            self.zero_iter(sb, inode, &iomap, p, run_end)?;
            p = run_end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2mib_folio_state_is_the_kernels_144_bytes() {
        let ifs = IomapFolioState::new(512, false, false);
        assert_eq!(ifs.bytes(), 16 + 128);
        let small = IomapFolioState::new(4, true, false);
        assert!(lock(&small.state).fully_uptodate());
        assert!(!small.block_dirty(0));
    }
}
