//! The iomap backend: `ext4_iomap_aops` over `fs/iomap/buffered-io.c`.
//!
//! The write path asks the filesystem for a mapping **once per extent** (`iomap_begin`), then
//! walks the extent folio by folio, with folios as large as the write allows. Per-block state is
//! two bitmaps (uptodate, dirty) in an [`IomapFolioState`], made only when a folio is partly
//! uptodate or partly dirty. Only the partly covered head and tail blocks of a write are read
//! (or zeroed, for holes, unwritten and new blocks). Readahead merges contiguous blocks across
//! folios into one I/O. Writeback allocates delalloc as unwritten extents, as long as it can,
//! gathers blocks into ioends that merge while physically contiguous, and converts unwritten
//! extents and advances `i_disksize` at completion.

use super::BufferedIo;
use super::buffer_head::write_order;
use crate::bugs::Bug;
use crate::core::{MapKind, MapOp, Mapping};
use crate::dev::BioOp;
use crate::error::{FsError, Result};
use crate::mm::folio::FolioPrivate;
use crate::mm::{AddressSpaceOps, WritebackControl};
use crate::mm::{Ctx, FolioRef};
use crate::mm::{Folio, PAGE_SHIFT, PAGE_SIZE};
use crate::stats::{MapCaller, Stats};

/// Most folios one ioend gathers (`IOEND_BATCH_SIZE`).
pub const IOEND_BATCH_SIZE: u64 = 4096;

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

/// Per-block state of a large folio (`struct iomap_folio_state`): an uptodate bitmap and a
/// dirty bitmap, one bit per block each.
#[derive(Debug)]
pub struct IomapFolioState {
    nr_blocks: usize,
    /// `nr_blocks` uptodate bits, then `nr_blocks` dirty bits, in 64-bit words.
    bits: Box<[u64]>,
}

impl FolioPrivate for IomapFolioState {
    /// Bytes of the bitmaps: the per-block state.
    fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.bits)
    }
}

impl IomapFolioState {
    fn new(nr_blocks: usize, uptodate: bool, dirty: bool) -> Self {
        let words = nr_blocks.div_ceil(64);
        let mut s = IomapFolioState { nr_blocks, bits: vec![0u64; 2 * words].into_boxed_slice() };
        if uptodate {
            s.set_range(0, 0, nr_blocks);
        }
        if dirty {
            s.set_range(1, 0, nr_blocks);
        }
        s
    }

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

    /// `ifs_block_is_uptodate`.
    pub fn block_uptodate(&self, i: usize) -> bool {
        self.test(0, i)
    }

    /// `ifs_block_is_dirty`.
    pub fn block_dirty(&self, i: usize) -> bool {
        self.test(1, i)
    }

    /// Whether every block is uptodate (`ifs_is_fully_uptodate`).
    pub fn fully_uptodate(&self) -> bool {
        (0..self.nr_blocks).all(|i| self.test(0, i))
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

/// An ioend being built (`struct iomap_ioend`): logically and physically contiguous blocks
/// of one kind, carried by one or more chained bios.
#[derive(Clone, Copy, Debug)]
struct Ioend {
    pos: u64,
    len: u64,
    addr: u64,
    unwritten: bool,
    nr_folios: u64,
    first_bio: usize,
}

/// Writeback context (`struct iomap_writepage_ctx`).
#[derive(Default)]
struct Wpc {
    iomap: Option<Iomap>,
    ioends: Vec<Ioend>,
    /// The current folio has already added blocks to an ioend.
    folio_started: bool,
}

/// Makes the folio's state if it has more than one block and none yet (`ifs_alloc`).
fn ifs_alloc(fr: &mut FolioRef<'_, IomapAops>) {
    let nr_blocks = fr.folio.size() >> fr.fs.blkbits;
    if fr.folio.private.is_some() || nr_blocks <= 1 {
        return;
    }
    let ifs = IomapFolioState::new(nr_blocks, fr.folio.uptodate(), fr.folio.dirty());
    fr.attach_private(ifs);
}

/// `iomap_set_range_uptodate`: marks the blocks of bytes `[off, off + len)` uptodate; the folio
/// becomes uptodate when all its blocks are (at once when it has no state).
fn set_range_uptodate(fr: &mut FolioRef<'_, IomapAops>, off: usize, len: usize) {
    let bb = fr.fs.blkbits;
    match fr.folio.private.as_mut() {
        Some(ifs) => {
            let first = off >> bb;
            let last = (off + len - 1) >> bb;
            ifs.set_range(0, first, last - first + 1);
            if ifs.fully_uptodate() {
                fr.folio.set_uptodate(true);
            }
        }
        None => fr.folio.set_uptodate(true),
    }
}

/// `iomap_set_range_dirty` then `filemap_dirty_folio`.
fn set_range_dirty(fr: &mut FolioRef<'_, IomapAops>, off: usize, len: usize) {
    let bb = fr.fs.blkbits;
    if let Some(ifs) = fr.folio.private.as_mut() {
        let first = off >> bb;
        let last = (off + len - 1) >> bb;
        ifs.set_range(1, first, last - first + 1);
    }
    fr.mark_dirty();
}

impl IomapAops {
    /// `iomap_begin` for a buffered write (`ext4_iomap_buffered_write_begin`): what the
    /// range maps to, reserving delalloc over a hole — one call for the whole extent.
    fn iomap_begin_write(&self, cx: &mut Ctx<'_, Self>, pos: u64, len: u64) -> Result<Iomap> {
        let bb = cx.blkbits();
        let lblk = pos >> bb;
        let end = (pos + len).div_ceil(1 << bb);
        let m = cx.map(lblk, end - lblk, MapOp::ReserveDelalloc, MapCaller::IomapBegin)?;
        Ok(Iomap::from_mapping(m, bb, cx.inode.map_seq))
    }

    /// `iomap_begin` for reads and zeroing: a lookup.
    fn iomap_begin_read(&self, cx: &mut Ctx<'_, Self>, pos: u64, len: u64) -> Result<Iomap> {
        let bb = cx.blkbits();
        let lblk = pos >> bb;
        let end = (pos + len).div_ceil(1 << bb);
        let m = cx.map(lblk, end - lblk, MapOp::Lookup, MapCaller::IomapBegin)?;
        Ok(Iomap::from_mapping(m, bb, cx.inode.map_seq))
    }

    /// `iomap_block_needs_zeroing`.
    fn needs_zeroing(iomap: &Iomap, pos: u64, i_size: u64) -> bool {
        iomap.kind != MapKind::Mapped || iomap.new || pos >= i_size
    }

    /// `__iomap_write_begin`: nothing to do for a write covering the whole folio; otherwise
    /// make the folio state, and for each not-uptodate block the write only partly covers,
    /// zero the rest of it (hole, unwritten, new, past EOF) or read it (one I/O per block).
    fn write_begin(fr: &mut FolioRef<'_, Self>, iomap: &Iomap, pos: u64, len: usize) -> Result<()> {
        let (fpos, fsize) = (fr.folio.pos(), fr.folio.size());
        if pos <= fpos && pos + len as u64 >= fpos + fsize as u64 {
            return Ok(());
        }
        ifs_alloc(fr);
        if fr.folio.uptodate() {
            return Ok(());
        }
        let bs = fr.fs.sb.block_size as u64;
        let from = (pos - fpos) as usize;
        let to = from + len;
        let i_size = fr.inode.i_size;
        let head = pos / bs * bs;
        let tail = (pos + len as u64 - 1) / bs * bs;
        let ends = [head, tail];
        let blocks = if head == tail { &ends[..1] } else { &ends[..] };
        for &block in blocks {
            let poff = (block - fpos) as usize;
            let plen = bs as usize;
            let uptodate = fr.folio.private.as_ref().is_some_and(|ifs| ifs.block_uptodate(poff / plen));
            let partial = (from > poff && from < poff + plen) || (to > poff && to < poff + plen);
            if uptodate || !partial {
                continue;
            }
            if Self::needs_zeroing(iomap, block, i_size) {
                let skip_head = block >= i_size && fr.fs.bug(Bug::IomapPostEofNotZeroed);
                if from > poff && !skip_head {
                    fr.zero(poff, from - poff);
                }
                if to < poff + plen {
                    fr.zero(to, poff + plen - to);
                }
            } else {
                fr.fs.stats.rmw_read(plen as u64);
                fr.read_sync(poff, iomap.addr_of(block), plen)?;
            }
            set_range_uptodate(fr, poff, plen);
        }
        Ok(())
    }

    /// `iomap_write_iter` over one mapping: returns the bytes written and whether the mapping
    /// went stale (writeback changed the block map while a folio was being allocated).
    fn write_extent(&self, cx: &mut Ctx<'_, Self>, iomap: &Iomap, pos: u64, data: &[u8]) -> (usize, Result<bool>) {
        let chunk = (PAGE_SIZE << self.max_order) as u64;
        let end = (pos + data.len() as u64).min(iomap.end());
        let mut p = pos;
        while p < end {
            let bytes = (chunk - p % chunk).min(end - p) as usize;
            let order = write_order(bytes).min(self.max_order);
            let start = match cx.grab_folio(p >> PAGE_SHIFT, order) {
                Ok((s, _)) => s,
                Err(e) => return ((p - pos) as usize, Err(e)),
            };
            if cx.inode.map_seq != iomap.seq {
                return ((p - pos) as usize, Ok(true));
            }
            let mut fr = cx.folio_ref(start);
            let off = (p - fr.folio.pos()) as usize;
            let bytes = bytes.min(fr.folio.size() - off);
            fr.folio.set_locked(true);
            if let Err(e) = Self::write_begin(&mut fr, iomap, p, bytes) {
                fr.folio.set_locked(false);
                return ((p - pos) as usize, Err(e));
            }
            let at = (p - pos) as usize;
            fr.folio.data_mut()[off..off + bytes].copy_from_slice(&data[at..at + bytes]);
            fr.folio.set_locked(false);
            // __iomap_write_end
            set_range_uptodate(&mut fr, off, bytes);
            set_range_dirty(&mut fr, off, bytes);
            p += bytes as u64;
            if p > fr.inode.i_size {
                fr.inode.i_size = p;
            }
        }
        ((p - pos) as usize, Ok(false))
    }

    /// `iomap_end` after a short write: give back the new delalloc reservation beyond what was
    /// written (`xfs_buffered_write_iomap_end` → `iomap_write_delalloc_release`).
    fn iomap_end(&self, cx: &mut Ctx<'_, Self>, iomap: &Iomap, written_end: u64) {
        if !iomap.new || iomap.kind != MapKind::Delalloc || written_end >= iomap.end() {
            return;
        }
        let bb = cx.blkbits();
        let first = written_end.div_ceil(1 << bb);
        let last = iomap.end() >> bb;
        if first >= last {
            return;
        }
        let released = cx.inode.delayed.remove(first, last - first);
        crate::core::map::lock(&cx.fs.alloc).release(released);
        cx.inode.map_seq += 1;
    }

    /// Fills folios starting in pages `[start, end)` that are locked and not uptodate
    /// (`iomap_readahead` → `iomap_readpage_iter`): mapping per extent, holes, unwritten and
    /// post-EOF blocks zeroed, mapped blocks read with bios merged across folios.
    fn read_folios(&self, cx: &mut Ctx<'_, Self>, start: u64, end: u64) -> Result<()> {
        let bs = cx.block_size() as u64;
        let i_size = cx.i_size();
        let mut folios = Vec::new();
        let mut idx = start;
        while let Some(s) = cx.mapping.folio_start(idx).or_else(|| cx.mapping.next_start(idx)).filter(|&s| s < end) {
            let f = cx.folio(s);
            idx = f.end_index();
            if f.locked() && !f.uptodate() {
                folios.push(s);
            }
        }
        cx.bio.clear();
        let mut iomap: Option<Iomap> = None;
        let mut folio_bios: Vec<(u64, usize, usize)> = Vec::with_capacity(folios.len());
        let mut err = Ok(());
        let Some(&last) = folios.last() else { return Ok(()) };
        let window_end = cx.folio(last).end_pos();
        'folios: for &s in &folios {
            let (fpos, fsize) = {
                let f = cx.folio(s);
                (f.pos(), f.size())
            };
            let mut bio_lo: Option<usize> = None;
            let mut pos = fpos;
            while pos < fpos + fsize as u64 {
                let block = ((pos - fpos) / bs) as usize;
                if cx.folio(s).private.as_ref().is_some_and(|ifs| ifs.block_uptodate(block)) {
                    pos += bs;
                    continue;
                }
                let m = match iomap.filter(|m| m.covers(pos)) {
                    Some(m) => m,
                    None => match self.iomap_begin_read(cx, pos, window_end - pos) {
                        Ok(m) => *iomap.insert(m),
                        Err(e) => {
                            err = Err(e);
                            break 'folios;
                        }
                    },
                };
                let run_end = m.end().min(fpos + fsize as u64);
                let mut p = pos;
                while p < run_end {
                    let block = ((p - fpos) / bs) as usize;
                    let up = cx.folio(s).private.as_ref().is_some_and(|ifs| ifs.block_uptodate(block));
                    if up {
                        p += bs;
                        continue;
                    }
                    let off = (p - fpos) as usize;
                    if Self::needs_zeroing(&m, p, i_size) {
                        cx.zero(s, off, bs as usize);
                    } else {
                        let addr = m.addr_of(p);
                        let ptr = cx.folio(s).ptr_at(off);
                        let merged = cx.bio.next_offset(BioOp::Read) == Some(addr)
                            && !cx.bio.is_empty()
                            // SAFETY: the folio stays cached and locked until the batch completes.
                            && unsafe { cx.bio.add_seg(ptr, bs as usize) };
                        if !merged {
                            cx.bio.start(BioOp::Read, addr);
                            // SAFETY: as above.
                            unsafe { cx.bio.add_seg(ptr, bs as usize) };
                        }
                        bio_lo.get_or_insert(cx.bio.len() - 1);
                    }
                    p += bs;
                }
                pos = run_end;
            }
            let lo = bio_lo.unwrap_or(cx.bio.len());
            folio_bios.push((s, lo, cx.bio.len()));
        }
        let submitted = cx.submit();
        for &(s, b0, b1) in &folio_bios {
            let failed = submitted.is_err() || (b0..b1).any(|b| cx.bio.status(b).is_err());
            if failed && err.is_ok() {
                err = Err((b0..b1).find_map(|b| cx.bio_error(b)).unwrap_or(FsError::Stale));
            }
            let mut fr = cx.folio_ref(s);
            let size = fr.folio.size();
            if !failed {
                set_range_uptodate(&mut fr, 0, size);
            }
            fr.folio.set_locked(false);
        }
        for &s in &folios {
            cx.folio(s).set_locked(false);
        }
        cx.bio.clear();
        submitted?;
        err
    }

    /// The mapping writeback uses for `pos` (`writeback_range` → `ext4_iomap_map_blocks`):
    /// the cached one if still valid; else delalloc is allocated as unwritten over the whole
    /// delalloc run, anything else is looked up — one `map_blocks` call either way.
    fn wb_map(&self, cx: &mut Ctx<'_, Self>, wpc: &mut Wpc, pos: u64) -> Result<Iomap> {
        if let Some(m) = wpc.iomap.filter(|m| m.covers(pos) && m.seq == cx.inode.map_seq) {
            return Ok(m);
        }
        let bb = cx.blkbits();
        let lblk = pos >> bb;
        let found = cx.lookup(lblk, u64::MAX >> 1);
        let op = if found.kind == MapKind::Delalloc { MapOp::AllocateUnwritten } else { MapOp::Lookup };
        let m = cx.map(lblk, found.len, op, MapCaller::Writeback)?;
        let iomap = Iomap::from_mapping(m, bb, cx.inode.map_seq);
        wpc.iomap = Some(iomap);
        Ok(iomap)
    }

    /// `iomap_add_to_ioend`: blocks `[pos, pos + len)` of the folio join the open ioend when
    /// of the same kind and contiguous in the file and on disk, else start a new one; a full
    /// bio is chained with a new one.
    fn add_to_ioend(&self, cx: &mut Ctx<'_, Self>, wpc: &mut Wpc, start: u64, iomap: &Iomap, pos: u64, len: u64) {
        let first_of_folio = std::mem::replace(&mut wpc.folio_started, true);
        let first_of_folio = !first_of_folio;
        let unwritten = iomap.kind == MapKind::Unwritten;
        let addr = iomap.addr_of(pos);
        let off = (pos - cx.folio(start).pos()) as usize;
        let ptr = cx.folio(start).ptr_at(off);
        let joins = wpc.ioends.last().is_some_and(|io| {
            io.unwritten == unwritten
                && io.pos + io.len == pos
                && io.addr + io.len == addr
                && (io.nr_folios < IOEND_BATCH_SIZE || !first_of_folio)
        });
        if joins {
            let io = wpc.ioends.last_mut().expect("checked");
            io.len += len;
            if first_of_folio {
                io.nr_folios += 1;
                Stats::bump(&cx.fs.stats.writeback_merges, 1);
            }
            // SAFETY: the folio stays cached until the batch completes.
            if !unsafe { cx.bio.add_seg(ptr, len as usize) } {
                cx.bio.start(BioOp::Write, addr);
                // SAFETY: as above.
                unsafe { cx.bio.add_seg(ptr, len as usize) };
            }
            return;
        }
        wpc.ioends.push(Ioend { pos, len, addr, unwritten, nr_folios: 1, first_bio: cx.bio.len() });
        cx.bio.start(BioOp::Write, addr);
        // SAFETY: as above.
        unsafe { cx.bio.add_seg(ptr, len as usize) };
    }

    /// `iomap_writepage_map`: zero the folio past EOF, then write its dirty block ranges
    /// (all of it when it has no state). Returns false when nothing was written.
    fn writepage_map(&self, cx: &mut Ctx<'_, Self>, wpc: &mut Wpc, start: u64) -> Result<bool> {
        let bs = cx.block_size() as u64;
        let i_size = cx.i_size();
        let fs = cx.fs;
        cx.mapping.clear_dirty(start, &fs.stats);
        let (fpos, fsize) = {
            let f = cx.folio(start);
            (f.pos(), f.size() as u64)
        };
        if fpos >= i_size {
            if let Some(ifs) = cx.folio(start).private.as_mut() {
                let n = ifs.nr_blocks();
                ifs.clear_range(1, 0, n);
            }
            return Ok(false);
        }
        let mut end_pos = fpos + fsize;
        if end_pos > i_size {
            let poff = (i_size - fpos) as usize;
            cx.zero(start, poff, fsize as usize - poff);
            end_pos = i_size.next_multiple_of(bs);
            if cx.fs.bug(Bug::IomapWbDropTail) {
                end_pos = i_size / bs * bs;
            }
        }
        let nblocks = ((end_pos - fpos) / bs) as usize;
        // The dirty block runs, then clear them (`iomap_clear_range_dirty`).
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let scan = if cx.fs.bug(Bug::IfsDirtyScanOneWord) { nblocks.min(64) } else { nblocks };
        match cx.folio(start).private.as_mut() {
            Some(ifs) => {
                let mut i = 0;
                while i < scan {
                    if ifs.block_dirty(i) {
                        let j = (i..scan).find(|&j| !ifs.block_dirty(j)).unwrap_or(scan);
                        runs.push((i, j));
                        i = j;
                    } else {
                        i += 1;
                    }
                }
                ifs.clear_range(1, 0, nblocks);
            }
            None => runs.push((0, nblocks)),
        }
        wpc.folio_started = false;
        for (a, b) in runs {
            let mut pos = fpos + a as u64 * bs;
            let rend = fpos + b as u64 * bs;
            while pos < rend {
                let iomap = self.wb_map(cx, wpc, pos)?;
                let n = iomap.end().min(rend) - pos;
                match iomap.kind {
                    MapKind::Mapped | MapKind::Unwritten => {
                        self.add_to_ioend(cx, wpc, start, &iomap, pos, n);
                    }
                    // A hole under dirty data (punched or truncated meanwhile): nothing to write.
                    MapKind::Hole | MapKind::Delalloc => {}
                }
                pos += n;
            }
        }
        if wpc.folio_started {
            Stats::bump(&cx.fs.stats.writeback_folios, 1);
        }
        Ok(wpc.folio_started)
    }

    /// Submits the ioends' bios and completes them (`iomap_finish_ioends` with the
    /// filesystem's end_io): unwritten ranges become written, one `map_blocks` call per ioend,
    /// and `i_disksize` advances; a failed ioend sets the mapping's error.
    fn submit_ioends(&self, cx: &mut Ctx<'_, Self>, wpc: &mut Wpc) -> Result<()> {
        let nbios = cx.bio.len();
        if nbios == 0 {
            return Ok(());
        }
        let mut result = cx.submit_writeback();
        let bb = cx.blkbits();
        let ends: Vec<usize> = wpc.ioends.iter().skip(1).map(|io| io.first_bio).chain([nbios]).collect();
        for (io, &b1) in wpc.ioends.iter().zip(&ends) {
            Stats::bump(&cx.fs.stats.ioends, 1);
            if (io.first_bio..b1).any(|b| cx.bio.status(b).is_err()) {
                continue;
            }
            if result.is_err() {
                continue;
            }
            if io.unwritten && !cx.fs.bug(Bug::SkipUnwrittenConversion) {
                let (mut l, end) = (io.pos >> bb, (io.pos + io.len) >> bb);
                while l < end {
                    match cx.map(l, end - l, MapOp::ConvertUnwritten, MapCaller::EndIo) {
                        Ok(m) => l += m.len,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
            }
            let disksize = (io.pos + io.len).min(cx.i_size());
            if disksize > cx.inode.i_disksize {
                cx.inode.i_disksize = disksize;
                cx.fs.note_meta_dirty();
            }
        }
        cx.bio.clear();
        wpc.ioends.clear();
        result
    }

    /// `iomap_zero_iter` for one mapping: zero `[pos, end)` through folios — creating them
    /// over mapped and delalloc ranges, only touching cached ones over holes and unwritten.
    fn zero_iter(&self, cx: &mut Ctx<'_, Self>, iomap: &Iomap, pos: u64, end: u64) -> Result<()> {
        let chunk = (PAGE_SIZE << self.max_order) as u64;
        let only_cached = matches!(iomap.kind, MapKind::Hole | MapKind::Unwritten);
        let mut p = pos;
        while p < end {
            let start = if only_cached {
                match cx.mapping.folio_start(p >> PAGE_SHIFT) {
                    Some(s) => s,
                    None => {
                        // Skip to the next cached folio, if it is in range.
                        match cx.mapping.next_start(p >> PAGE_SHIFT).map(|s| s << PAGE_SHIFT) {
                            Some(next) if next < end => {
                                p = next;
                                continue;
                            }
                            _ => return Ok(()),
                        }
                    }
                }
            } else {
                let bytes = (chunk - p % chunk).min(end - p) as usize;
                cx.grab_folio(p >> PAGE_SHIFT, write_order(bytes).min(self.max_order))?.0
            };
            let mut fr = cx.folio_ref(start);
            let (fpos, fsize) = (fr.folio.pos(), fr.folio.size() as u64);
            let off = (p - fpos) as usize;
            let bytes = ((fpos + fsize).min(end) - p) as usize;
            Self::write_begin(&mut fr, iomap, p, bytes)?;
            fr.zero(off, bytes);
            set_range_uptodate(&mut fr, off, bytes);
            set_range_dirty(&mut fr, off, bytes);
            p += bytes as u64;
        }
        Ok(())
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

    fn readahead(&self, cx: &mut Ctx<'_, Self>, start: u64, end: u64) -> Result<()> {
        self.read_folios(cx, start, end)
    }

    /// `iomap_read_folio`: the not-uptodate blocks of one folio.
    fn read_folio(&self, cx: &mut Ctx<'_, Self>, start: u64) -> Result<()> {
        cx.folio(start).set_locked(true);
        let end = cx.folio(start).end_index();
        self.read_folios(cx, start, end)
    }

    /// `iomap_is_partially_uptodate`.
    fn is_partially_uptodate(&self, folio: &Folio<IomapFolioState>, from: usize, count: usize) -> bool {
        let Some(ifs) = folio.private.as_ref() else { return false };
        let bs = folio.size() / ifs.nr_blocks();
        let to = (from + count).min(folio.size());
        (from / bs..to.div_ceil(bs)).all(|i| ifs.block_uptodate(i))
    }

    /// `iomap_writepages`.
    fn writepages(&self, cx: &mut Ctx<'_, Self>, wbc: &mut WritebackControl) -> Result<()> {
        let end_index = if wbc.end == u64::MAX { u64::MAX } else { wbc.end.div_ceil(PAGE_SIZE as u64) };
        let mut index = wbc.start >> PAGE_SHIFT;
        let mut wpc = Wpc::default();
        cx.bio.clear();
        let mut result = Ok(());
        while let Some(s) = cx.mapping.next_dirty(index, end_index) {
            if !wbc.sync && wbc.nr_to_write == 0 {
                break;
            }
            let f = cx.folio(s);
            let (nr_pages, fend, locked) = (f.nr_pages(), f.end_index(), f.locked());
            index = fend;
            if locked {
                continue;
            }
            if let Err(e) = self.writepage_map(cx, &mut wpc, s) {
                result = Err(e);
                break;
            }
            wbc.nr_to_write = wbc.nr_to_write.saturating_sub(nr_pages);
        }
        wbc.done_index = index;
        let done = self.submit_ioends(cx, &mut wpc);
        result.and(done)
    }

    /// `iomap_invalidate_folio`: the state goes only with the whole folio.
    fn invalidate_folio(&self, cx: &mut Ctx<'_, Self>, start: u64, offset: usize, len: usize) {
        if offset == 0 && len == cx.folio(start).size() {
            cx.detach_private(start);
        }
    }

    /// `iomap_release_folio`: not while dirty.
    fn release_folio(&self, folio: &mut Folio<IomapFolioState>) -> bool {
        !folio.dirty()
    }
}

impl BufferedIo for IomapAops {
    /// `iomap_file_buffered_write`.
    fn write_iter(&self, cx: &mut Ctx<'_, Self>, pos: u64, data: &[u8]) -> Result<usize> {
        let mut written = 0usize;
        while written < data.len() {
            let p = pos + written as u64;
            let iomap = match self.iomap_begin_write(cx, p, (data.len() - written) as u64) {
                Ok(m) => m,
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            };
            let (n, outcome) = self.write_extent(cx, &iomap, p, &data[written..]);
            written += n;
            match outcome {
                Ok(_stale) => {}
                Err(e) => {
                    self.iomap_end(cx, &iomap, p + n as u64);
                    if written == 0 {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        Ok(written)
    }

    /// `iomap_truncate_page`: zero from `pos` to the end of its block.
    fn truncate_page(&self, cx: &mut Ctx<'_, Self>, pos: u64) -> Result<()> {
        let bs = cx.block_size() as u64;
        if pos.is_multiple_of(bs) || cx.fs.bug(Bug::IomapSkipTailZero) {
            return Ok(());
        }
        self.zero_range(cx, pos, bs - pos % bs)
    }

    /// `iomap_zero_range`: once per extent, zero through the cache.
    fn zero_range(&self, cx: &mut Ctx<'_, Self>, pos: u64, len: u64) -> Result<()> {
        let end = pos + len;
        let mut p = pos;
        while p < end {
            let iomap = self.iomap_begin_read(cx, p, end - p)?;
            let run_end = iomap.end().min(end);
            self.zero_iter(cx, &iomap, p, run_end)?;
            p = run_end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2mib_folio_state_is_128_bytes_of_bitmaps() {
        let ifs = IomapFolioState::new(512, false, false);
        assert_eq!(ifs.bytes(), 128);
        let small = IomapFolioState::new(4, true, false);
        assert!(small.fully_uptodate());
        assert!(!small.block_dirty(0));
    }
}
