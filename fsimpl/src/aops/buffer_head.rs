//! The buffer_head backend: ext4's `ext4_da_aops` over `fs/buffer.c`.
//!
//! Every folio that is written carries one [`BufferHead`] per block, each with its own state
//! bits and block number. The write path maps **one block per `get_block` call**
//! (`ext4_da_get_block_prep`), reserving delayed allocation; the read path maps per extent
//! (`ext4_mpage_readpages`) and falls back to per-buffer reads for folios whose blocks are
//! mixed (`block_read_full_folio`); writeback gathers runs of delalloc or unwritten blocks of up
//! to 2048 blocks, allocates each run with one `map_blocks` call and merges physically
//! contiguous buffers into one I/O (`ext4_writepages`, `ext4_bio_write_folio`).

use super::BufferedIo;
use crate::bugs::Bug;
use crate::core::{MapKind, MapOp};
use crate::dev::BioOp;
use crate::error::Result;
use crate::mm::folio::FolioPrivate;
use crate::mm::{AddressSpaceOps, WritebackControl};
use crate::mm::{Ctx, FolioRef};
use crate::mm::{Folio, PAGE_SHIFT, PAGE_SIZE};
use crate::stats::{MapCaller, Stats};

/// Most blocks one writeback extent gathers (`MAX_WRITEPAGES_EXTENT_LEN`).
pub const MAX_WRITEPAGES_EXTENT_LEN: u64 = 2048;

const BH_UPTODATE: u32 = 1 << 0;
const BH_DIRTY: u32 = 1 << 1;
const BH_MAPPED: u32 = 1 << 2;
const BH_NEW: u32 = 1 << 3;
const BH_DELAY: u32 = 1 << 4;
const BH_UNWRITTEN: u32 = 1 << 5;

/// The state of one block of a folio (`struct buffer_head`; the kernel's is about 104 bytes,
/// this model keeps the fields the paths here use).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferHead {
    /// Disk block (`b_blocknr`), meaningful when mapped and not delayed.
    pub b_blocknr: u64,
    /// Block size (`b_size`).
    pub b_size: u32,
    /// State bits (`b_state`): uptodate, dirty, mapped, new, delay, unwritten.
    pub b_state: u32,
}

macro_rules! bh_flag {
    ($get:ident, $set:ident, $bit:ident) => {
        #[doc = concat!("`buffer_", stringify!($get), "`.")]
        pub fn $get(&self) -> bool {
            self.b_state & $bit != 0
        }
        #[doc = concat!("Sets or clears `", stringify!($get), "`.")]
        pub fn $set(&mut self, on: bool) {
            if on { self.b_state |= $bit } else { self.b_state &= !$bit }
        }
    };
}

impl BufferHead {
    bh_flag!(uptodate, set_uptodate, BH_UPTODATE);
    bh_flag!(dirty, set_dirty, BH_DIRTY);
    bh_flag!(mapped, set_mapped, BH_MAPPED);
    bh_flag!(is_new, set_new, BH_NEW);
    bh_flag!(delay, set_delay, BH_DELAY);
    bh_flag!(unwritten, set_unwritten, BH_UNWRITTEN);

    /// Maps the buffer from a `get_block` result (`map_bh` + `ext4_update_bh_state`, as
    /// `ext4_da_get_block_prep` and `ext4_get_block` do): delalloc is mapped to no block and
    /// delayed; unwritten is mapped and, on the write path, new.
    fn map_from(&mut self, kind: MapKind, pblk: u64, for_write: bool) {
        match kind {
            MapKind::Hole => {}
            MapKind::Delalloc => {
                self.b_blocknr = 0;
                self.b_state |= BH_MAPPED | BH_NEW | BH_DELAY;
            }
            MapKind::Mapped => {
                self.b_blocknr = pblk;
                self.b_state |= BH_MAPPED;
            }
            MapKind::Unwritten => {
                self.b_blocknr = pblk;
                self.b_state |= BH_MAPPED | BH_UNWRITTEN;
                if for_write {
                    self.b_state |= BH_NEW;
                }
            }
        }
    }

    /// Drops mapping and dirtiness (`discard_buffer`); uptodate stays.
    fn discard(&mut self) {
        self.b_state &= !(BH_DIRTY | BH_MAPPED | BH_NEW | BH_DELAY | BH_UNWRITTEN);
        self.b_blocknr = 0;
    }
}

/// The buffer heads of one folio, one per block (`folio_buffers`).
#[derive(Debug)]
pub struct BufferHeads(Box<[BufferHead]>);

impl FolioPrivate for BufferHeads {
    fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.0)
    }
}

impl std::ops::Deref for BufferHeads {
    type Target = [BufferHead];
    fn deref(&self) -> &[BufferHead] {
        &self.0
    }
}

impl std::ops::DerefMut for BufferHeads {
    fn deref_mut(&mut self) -> &mut [BufferHead] {
        &mut self.0
    }
}

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

/// The folio order the write path asks for (`fgf_set_order`): the write's size, rounded down.
pub(crate) fn write_order(len: usize) -> usize {
    let shift = usize::BITS - 1 - len.max(1).leading_zeros();
    shift.saturating_sub(PAGE_SHIFT) as usize
}

/// Attaches buffers to the folio if it has none (`folio_create_buffers` /
/// `create_empty_buffers`): uptodate and dirty if the folio is.
fn create_buffers(fr: &mut FolioRef<'_, BufferHeadAops>) {
    if fr.folio.private.is_some() {
        return;
    }
    let bs = fr.fs.sb.block_size;
    let mut state = 0;
    if fr.folio.uptodate() {
        state |= BH_UPTODATE;
    }
    if fr.folio.dirty() {
        state |= BH_DIRTY;
    }
    let n = fr.folio.size() / bs as usize;
    let bhs = vec![BufferHead { b_blocknr: 0, b_size: bs, b_state: state }; n].into_boxed_slice();
    fr.attach_private(BufferHeads(bhs));
}

/// Takes the buffers out of the folio for the duration of an operation (no accounting).
fn take_buffers(fr: &mut FolioRef<'_, BufferHeadAops>) -> BufferHeads {
    fr.folio.private.take().expect("folio has buffers")
}

/// Reads the listed buffers, one bio each (`bh_read_nowait` / `submit_bh`), and waits.
/// On success they are uptodate; the first error is returned.
fn read_buffers(
    fr: &mut FolioRef<'_, BufferHeadAops>,
    bhs: &mut BufferHeads,
    which: &[usize],
    rmw: bool,
) -> Result<()> {
    let bs = fr.fs.sb.block_size as usize;
    fr.bio.clear();
    for &i in which {
        let ptr = fr.folio.ptr_at(i * bs);
        fr.bio.start(BioOp::Read, bhs[i].b_blocknr * bs as u64);
        // SAFETY: the folio stays cached and untouched until the batch completes below.
        unsafe { fr.bio.add_seg(ptr, bs) };
        if rmw {
            fr.fs.stats.rmw_read(bs as u64);
        }
    }
    let submitted = fr.fs.dev.submit(fr.bio);
    let mut err = submitted.err().map(crate::error::FsError::from);
    for (n, &i) in which.iter().enumerate() {
        match fr.bio.status(n) {
            Ok(()) if err.is_none() => bhs[i].set_uptodate(true),
            Ok(()) => {}
            Err(errno) => {
                err.get_or_insert(crate::error::FsError::Io {
                    source: crate::dev::DevError::Io {
                        op: "read",
                        offset: bhs[i].b_blocknr * bs as u64,
                        source: std::io::Error::from_raw_os_error(errno),
                    },
                });
            }
        }
    }
    fr.bio.clear();
    err.map_or(Ok(()), Err)
}

impl BufferHeadAops {
    /// One step of `generic_perform_write`: `write_begin`, copy, `write_end` on one folio.
    fn write_one(&self, cx: &mut Ctx<'_, Self>, pos: u64, data: &[u8]) -> Result<usize> {
        let order = write_order(data.len()).min(self.max_order);
        let (start, _) = cx.grab_folio(pos >> PAGE_SHIFT, order)?;
        let mut fr = cx.folio_ref(start);
        let from = (pos - fr.folio.pos()) as usize;
        let len = data.len().min(fr.folio.size() - from);
        fr.folio.set_locked(true);
        if let Err(e) = Self::block_write_begin(&mut fr, from, from + len) {
            fr.folio.set_locked(false);
            return Err(e);
        }
        fr.folio.data_mut()[from..from + len].copy_from_slice(&data[..len]);
        fr.folio.set_locked(false);
        Self::block_write_end(&mut fr, from, from + len);
        Ok(len)
    }

    /// `__block_write_begin_int` with `ext4_da_get_block_prep`: map every block the write
    /// touches, one `get_block` call per unmapped block; zero the parts of new blocks outside
    /// the write; read, one block per I/O, a mapped block the write only partly covers.
    fn block_write_begin(fr: &mut FolioRef<'_, Self>, from: usize, to: usize) -> Result<()> {
        create_buffers(fr);
        let bs = fr.fs.sb.block_size as usize;
        let uptodate = fr.folio.uptodate();
        let first_lblk = fr.folio.pos() >> fr.fs.blkbits;
        let mut bhs = take_buffers(fr);
        let mut dirtied = false;
        let mut to_read = [0usize; 2];
        let mut nread = 0;
        let mut result = Ok(());
        for (i, bh) in bhs.iter_mut().enumerate() {
            let (bstart, bend) = (i * bs, (i + 1) * bs);
            if bend <= from || bstart >= to {
                if uptodate {
                    bh.set_uptodate(true);
                }
                continue;
            }
            bh.set_new(false);
            if !bh.mapped() {
                match fr.map(first_lblk + i as u64, 1, MapOp::ReserveDelalloc, MapCaller::GetBlock) {
                    Ok(m) => bh.map_from(m.kind, m.pblk, true),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
                if bh.is_new() {
                    if uptodate {
                        bh.set_new(false);
                        bh.set_uptodate(true);
                        bh.set_dirty(true);
                        dirtied = true;
                        continue;
                    }
                    if bstart < from {
                        fr.zero(bstart, from - bstart);
                    }
                    if bend > to {
                        fr.zero(to, bend - to);
                    }
                    continue;
                }
            }
            if uptodate {
                bh.set_uptodate(true);
                continue;
            }
            if !bh.uptodate()
                && !bh.delay()
                && !bh.unwritten()
                && (bstart < from || bend > to)
                && !fr.fs.bug(Bug::BhSkipRmw)
            {
                // Only the first and the last block of the range can be partly covered.
                to_read[nread] = i;
                nread += 1;
            }
        }
        if result.is_ok() && nread > 0 {
            result = read_buffers(fr, &mut bhs, &to_read[..nread], true);
        }
        if result.is_err() {
            // `folio_zero_new_buffers`: new buffers of a failed write must not expose garbage.
            for (i, bh) in bhs.iter_mut().enumerate() {
                if bh.is_new() && (i * bs) < to && (i + 1) * bs > from {
                    bh.set_new(false);
                    if !bh.uptodate() {
                        fr.zero(i * bs, bs);
                        bh.set_uptodate(true);
                    }
                }
            }
        }
        fr.folio.private = Some(bhs);
        if dirtied {
            fr.mark_dirty();
        }
        result
    }

    /// `block_write_end` → `__block_commit_write`, then `ext4_da_write_end`'s size update.
    fn block_write_end(fr: &mut FolioRef<'_, Self>, from: usize, to: usize) {
        let bs = fr.fs.sb.block_size as usize;
        let bhs = fr.folio.private.as_mut().expect("folio has buffers");
        let mut partial = false;
        let mut last_allocated = false;
        for (i, bh) in bhs.iter_mut().enumerate() {
            let (bstart, bend) = (i * bs, (i + 1) * bs);
            if bend <= from || bstart >= to {
                partial |= !bh.uptodate();
            } else {
                bh.set_uptodate(true);
                bh.set_dirty(true);
                last_allocated = bh.mapped() && !bh.delay() && !bh.unwritten();
            }
            bh.set_new(false);
        }
        fr.mark_dirty();
        if !partial {
            fr.folio.set_uptodate(true);
        }
        let end = fr.folio.pos() + to as u64;
        if end > fr.inode.i_size {
            fr.inode.i_size = end;
            // `ext4_da_should_update_i_disksize`: the write ends in an allocated block.
            if last_allocated && end > fr.inode.i_disksize && !fr.fs.bug(Bug::BhEofBlockExtendKeepsDisksize) {
                fr.inode.i_disksize = end;
                fr.fs.note_meta_dirty();
            }
        }
    }

    /// `block_read_full_folio` with `ext4_get_block`: map unmapped buffers one `get_block`
    /// call each, zero holes (and unwritten blocks), read the rest one bio per buffer.
    fn block_read_full_folio(&self, cx: &mut Ctx<'_, Self>, start: u64) -> Result<()> {
        let last_lblk = cx.i_size().div_ceil(cx.block_size() as u64);
        let mut fr = cx.folio_ref(start);
        create_buffers(&mut fr);
        let bs = fr.fs.sb.block_size as usize;
        let first_lblk = match fr.fs.bug(Bug::BhReadPageIndexAsBlock) {
            true => fr.folio.index(),
            false => fr.folio.pos() >> fr.fs.blkbits,
        };
        let mut bhs = take_buffers(&mut fr);
        let mut to_read = Vec::new();
        let mut result = Ok(());
        for (i, bh) in bhs.iter_mut().enumerate() {
            if bh.uptodate() {
                continue;
            }
            let lblk = first_lblk + i as u64;
            if !bh.mapped() && lblk < last_lblk {
                match fr.map(lblk, 1, MapOp::Lookup, MapCaller::GetBlock) {
                    Ok(m) => bh.map_from(m.kind, m.pblk, false),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            if !bh.mapped() || bh.unwritten() {
                fr.zero(i * bs, bs);
                bh.set_uptodate(true);
                continue;
            }
            to_read.push(i);
        }
        if result.is_ok() && !to_read.is_empty() {
            result = read_buffers(&mut fr, &mut bhs, &to_read, false);
        }
        let all = bhs.iter().all(|b| b.uptodate());
        fr.folio.private = Some(bhs);
        fr.folio.set_uptodate(all && result.is_ok());
        fr.folio.set_locked(false);
        result
    }

    /// `ext4_mpage_readpages` over the locked, new folios of pages `[start, end)`: map per
    /// extent (one mapping serves the following folios while it lasts), read fully mapped,
    /// physically contiguous folios with merged bios, zero holes without I/O, and hand folios
    /// with buffers or mixed blocks to `block_read_full_folio`.
    fn mpage_readpages(&self, cx: &mut Ctx<'_, Self>, start: u64, end: u64) -> Result<()> {
        let bs = cx.block_size() as u64;
        let blkbits = cx.blkbits();
        let last_block_in_file = cx.i_size().div_ceil(bs);
        let mut folios = Vec::new();
        let mut idx = start;
        while let Some(s) = cx.mapping.folio_start(idx).or_else(|| cx.mapping.next_start(idx)).filter(|&s| s < end) {
            let f = cx.folio(s);
            idx = f.end_index();
            if f.locked() && !f.uptodate() {
                folios.push(s);
            }
        }
        let mut remaining_pages: u64 = folios.iter().map(|&s| cx.mapping.find(s).map_or(0, |f| f.nr_pages())).sum();
        let mut map: Option<crate::core::Mapping> = None;
        let mut last_block_in_bio: Option<u64> = None;
        let mut in_bio: Vec<(u64, usize)> = Vec::new();
        let mut confused = Vec::new();
        let mut err = Ok(());
        cx.bio.clear();
        for &s in &folios {
            let (pos, size, nr_pages) = {
                let f = cx.folio(s);
                (f.pos(), f.size(), f.nr_pages())
            };
            let window_pages = remaining_pages;
            remaining_pages -= nr_pages;
            if cx.folio(s).private.is_some() {
                confused.push(s);
                continue;
            }
            let blocks_per_folio = (size as u64) >> blkbits;
            let mut block_in_file = pos >> blkbits;
            let last_block = (block_in_file + ((window_pages << PAGE_SHIFT) >> blkbits)).min(last_block_in_file);
            let mut page_block = 0u64;
            let mut first_hole = blocks_per_folio;
            let mut first_pblk = 0u64;
            let mut prev_pblk = 0u64;
            let mut is_confused = false;
            while page_block < blocks_per_folio {
                let covered = map.filter(|m| block_in_file >= m.lblk && block_in_file < m.end());
                let m = match covered {
                    Some(m) => m,
                    None if block_in_file < last_block => {
                        match cx.map(block_in_file, last_block - block_in_file, MapOp::Lookup, MapCaller::Readahead) {
                            Ok(m) => *map.insert(m),
                            Err(e) => {
                                err = Err(e);
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
                        is_confused = true;
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
            if err.is_err() {
                break;
            }
            if is_confused {
                last_block_in_bio = None;
                confused.push(s);
                continue;
            }
            if first_hole != blocks_per_folio {
                let off = (first_hole * bs) as usize;
                cx.zero(s, off, size - off);
                if first_hole == 0 {
                    let f = cx.folio(s);
                    f.set_uptodate(true);
                    f.set_locked(false);
                    continue;
                }
            }
            let len = (first_hole * bs) as usize;
            let ptr = cx.folio(s).ptr_at(0);
            let merged = last_block_in_bio.is_some_and(|b| b + 1 == first_pblk)
                // SAFETY: the folio stays cached and locked until the batch completes.
                && unsafe { cx.bio.add_seg(ptr, len) };
            if !merged {
                cx.bio.start(BioOp::Read, first_pblk * bs);
                // SAFETY: as above.
                unsafe { cx.bio.add_seg(ptr, len) };
            }
            in_bio.push((s, cx.bio.len() - 1));
            // A folio ending in a hole ends the bio.
            last_block_in_bio = (first_hole == blocks_per_folio).then_some(prev_pblk);
        }
        let submitted = cx.submit();
        for &(s, b) in &in_bio {
            let ok = submitted.is_ok() && cx.bio.status(b).is_ok();
            if !ok && err.is_ok() {
                err = Err(cx.bio_error(b).unwrap_or(crate::error::FsError::Stale));
            }
            let f = cx.folio(s);
            f.set_uptodate(ok);
            f.set_locked(false);
        }
        cx.bio.clear();
        if let Err(e) = submitted.and(err) {
            // Nothing more is read: no folio stays locked.
            for &s in &folios {
                cx.folio(s).set_locked(false);
            }
            return Err(e);
        }
        for &s in &folios {
            if cx.folio(s).locked() && !confused.contains(&s) {
                cx.folio(s).set_locked(false);
            }
        }
        let mut result = Ok(());
        for s in confused {
            if result.is_ok() && !cx.folio(s).uptodate() {
                result = self.block_read_full_folio(cx, s);
            }
            cx.folio(s).set_locked(false);
        }
        result
    }

    /// `ext4_bio_write_folio`: zero the folio past EOF, then add its dirty, mapped buffers to
    /// the write bios, merging each with the open bio when the blocks are contiguous on disk.
    /// Returns whether anything was submitted.
    fn bio_write_folio(fr: &mut FolioRef<'_, Self>, io: &mut WbIo) -> bool {
        let bs = fr.fs.sb.block_size as usize;
        fr.tags.clear(fr.folio, &fr.fs.stats);
        let i_size = fr.inode.i_size;
        let (pos, size) = (fr.folio.pos(), fr.folio.size());
        let len = if pos + size as u64 > i_size { i_size.saturating_sub(pos) as usize } else { size };
        if len < size {
            fr.zero(len, size - len);
        }
        let mut bhs = take_buffers(fr);
        let mut keep_dirty = false;
        let mut first_in_folio = true;
        let mut submitted = false;
        for (i, bh) in bhs.iter_mut().enumerate() {
            if i * bs >= len {
                bh.set_dirty(false);
                bh.set_uptodate(true);
                continue;
            }
            if !bh.dirty() || bh.delay() || !bh.mapped() || bh.unwritten() {
                if !bh.mapped() {
                    bh.set_dirty(false);
                }
                keep_dirty |= bh.dirty();
                continue;
            }
            bh.set_new(false);
            bh.set_dirty(false);
            let offset = bh.b_blocknr * bs as u64;
            let ptr = fr.folio.ptr_at(i * bs);
            let contiguous = io.open && fr.bio.next_offset(BioOp::Write) == Some(offset);
            // SAFETY: the folio stays cached until the batch is submitted and completed.
            if contiguous && unsafe { fr.bio.add_seg(ptr, bs) } {
                if first_in_folio {
                    Stats::bump(&fr.fs.stats.writeback_merges, 1);
                }
            } else {
                fr.bio.start(BioOp::Write, offset);
                // SAFETY: as above.
                unsafe { fr.bio.add_seg(ptr, bs) };
                io.open = true;
            }
            first_in_folio = false;
            submitted = true;
        }
        fr.folio.private = Some(bhs);
        if keep_dirty {
            fr.mark_dirty();
        }
        if submitted {
            Stats::bump(&fr.fs.stats.writeback_folios, 1);
        }
        submitted
    }
}

/// Writeback I/O state across folios of one `writepages` call.
struct WbIo {
    /// The last bio can take more contiguous blocks (`io_submit` has an open bio); closed
    /// after each gathered extent, as `ext4_do_writepages` submits it.
    open: bool,
    /// Unwritten ranges written, to convert at completion: (lblk, len, first bio, end bio).
    convert: Vec<(u64, u64, usize, usize)>,
}

/// One extent gathered for mapping (`mpd->map`).
#[derive(Clone, Copy, Debug)]
struct GatherExtent {
    lblk: u64,
    len: u64,
    unwritten: bool,
}

impl AddressSpaceOps for BufferHeadAops {
    type Private = BufferHeads;

    fn name(&self) -> &'static str {
        "bh"
    }

    fn max_folio_order(&self) -> usize {
        self.max_order
    }

    fn readahead(&self, cx: &mut Ctx<'_, Self>, start: u64, end: u64) -> Result<()> {
        self.mpage_readpages(cx, start, end)
    }

    /// `ext4_read_folio`: a folio with buffers goes straight to `block_read_full_folio`.
    fn read_folio(&self, cx: &mut Ctx<'_, Self>, start: u64) -> Result<()> {
        if cx.folio(start).private.is_some() {
            return self.block_read_full_folio(cx, start);
        }
        cx.folio(start).set_locked(true);
        let end = cx.folio(start).end_index();
        self.mpage_readpages(cx, start, end)
    }

    /// `block_is_partially_uptodate`.
    fn is_partially_uptodate(&self, folio: &Folio<BufferHeads>, from: usize, count: usize) -> bool {
        let Some(bhs) = folio.private.as_ref() else { return false };
        let bs = bhs[0].b_size as usize;
        let to = (from + count).min(folio.size());
        (from / bs..to.div_ceil(bs)).all(|i| bhs[i].uptodate())
    }

    /// `ext4_writepages`: gather a run of dirty delalloc/unwritten blocks
    /// (`mpage_prepare_extent_to_map`), allocate it with one `map_blocks` call per piece the
    /// allocator returns (`mpage_map_and_submit_extent`), submit the folios; folios that need
    /// no mapping are submitted as found. `i_disksize` advances after allocation.
    fn writepages(&self, cx: &mut Ctx<'_, Self>, wbc: &mut WritebackControl) -> Result<()> {
        let bs = cx.block_size() as u64;
        let blkbits = cx.blkbits();
        let end_index = if wbc.end == u64::MAX { u64::MAX } else { wbc.end.div_ceil(PAGE_SIZE as u64) };
        let mut index = wbc.start >> PAGE_SHIFT;
        let mut io = WbIo { open: false, convert: Vec::new() };
        cx.bio.clear();
        let mut result = Ok(());
        'outer: loop {
            // mpage_prepare_extent_to_map
            let mut ext: Option<GatherExtent> = None;
            let mut pending: Vec<u64> = Vec::new();
            let mut next_page = 0;
            while let Some(s) = cx.mapping.next_dirty(index, end_index) {
                // Background writeback gathers no more than it may write.
                let gathered_pages = ext.map_or(0, |e| (e.len << blkbits) >> PAGE_SHIFT);
                if !wbc.sync && wbc.nr_to_write <= gathered_pages {
                    break;
                }
                if ext.is_some() && s != next_page {
                    break;
                }
                let f = cx.folio(s);
                if f.locked() {
                    index = f.end_index();
                    continue;
                }
                let (fpos, nr_pages, fend) = (f.pos(), f.nr_pages(), f.end_index());
                let lblk0 = fpos >> blkbits;
                let blocks_in_file = cx.i_size().div_ceil(bs);
                let mut fr = cx.folio_ref(s);
                create_buffers(&mut fr);
                let bhs = fr.folio.private.as_ref().expect("folio has buffers");
                let mut stopped = false;
                for (i, bh) in bhs.iter().enumerate() {
                    let lblk = lblk0 + i as u64;
                    if lblk >= blocks_in_file {
                        break;
                    }
                    let needs_map = bh.dirty() && bh.mapped() && (bh.delay() || bh.unwritten());
                    if !needs_map {
                        if ext.is_some() {
                            stopped = true;
                            break;
                        }
                        continue;
                    }
                    match &mut ext {
                        None => ext = Some(GatherExtent { lblk, len: 1, unwritten: bh.unwritten() }),
                        Some(e) => {
                            if e.len >= MAX_WRITEPAGES_EXTENT_LEN
                                || lblk != e.lblk + e.len
                                || bh.unwritten() != e.unwritten
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
                    Self::bio_write_folio(&mut fr, &mut io);
                    wbc.nr_to_write = wbc.nr_to_write.saturating_sub(nr_pages);
                    index = fend;
                    continue;
                }
                pending.push(s);
                next_page = fend;
                index = fend;
                if stopped {
                    // The folio has more to map after this extent: look at it again.
                    index = s;
                    break;
                }
            }
            let Some(mut e) = ext else { break };
            // mpage_map_and_submit_extent
            while e.len > 0 {
                let op = if e.unwritten { MapOp::Lookup } else { MapOp::Allocate };
                let m = match cx.map(e.lblk, e.len, op, MapCaller::Writeback) {
                    Ok(m) => m,
                    Err(err) => {
                        result = Err(err);
                        break 'outer;
                    }
                };
                let first_bio = cx.bio.len();
                self.map_buffers(cx, &pending, m.lblk, m.len, m.pblk);
                // The gathered folios map in file order: those now fully mapped lead the list.
                let done = pending.iter().take_while(|&&s| self.folio_fully_mapped(cx, s)).count();
                for &s in &pending[..done] {
                    Self::bio_write_folio(&mut cx.folio_ref(s), &mut io);
                    wbc.nr_to_write = wbc.nr_to_write.saturating_sub(cx.folio(s).nr_pages());
                }
                let last_done = done.checked_sub(1).map(|i| pending[i]);
                pending.drain(..done);
                if e.unwritten {
                    io.convert.push((m.lblk, m.len, first_bio, cx.bio.len()));
                }
                // Update on-disk size after the I/O is submitted (data=ordered).
                if let Some(last) = last_done {
                    let disksize = cx.folio(last).end_pos().min(cx.i_size());
                    if disksize > cx.inode.i_disksize {
                        cx.inode.i_disksize = disksize;
                        cx.fs.note_meta_dirty();
                    }
                }
                e.lblk += m.len;
                e.len -= m.len;
            }
            // A folio left with buffers to map (the extent stopped inside it) is revisited.
            if let Some(&s) = pending.first() {
                index = s;
            }
            // `ext4_io_submit`: the open bio ends with each gathered extent.
            io.open = false;
        }
        wbc.done_index = index;
        let submitted = self.complete_writes(cx, &io);
        result.and(submitted)
    }

    /// `block_invalidate_folio`: discard the buffers wholly inside the range; free them all
    /// when the whole folio goes.
    fn invalidate_folio(&self, cx: &mut Ctx<'_, Self>, start: u64, offset: usize, len: usize) {
        let f = cx.folio(start);
        let whole = offset == 0 && len == f.size();
        let Some(bhs) = f.private.as_mut() else { return };
        let bs = bhs[0].b_size as usize;
        for (i, bh) in bhs.iter_mut().enumerate() {
            if i * bs >= offset && (i + 1) * bs <= offset + len {
                bh.discard();
            }
        }
        if whole {
            cx.detach_private(start);
        }
    }

    /// `try_to_free_buffers`: refuse while any buffer is dirty.
    fn release_folio(&self, folio: &mut Folio<BufferHeads>) -> bool {
        !folio.dirty() && folio.private.as_ref().is_none_or(|b| b.iter().all(|bh| !bh.dirty()))
    }
}

impl BufferedIo for BufferHeadAops {
    /// `generic_perform_write` with `ext4_da_write_begin` / `ext4_da_write_end`.
    fn write_iter(&self, cx: &mut Ctx<'_, Self>, pos: u64, data: &[u8]) -> Result<usize> {
        let chunk = (PAGE_SIZE << self.max_order) as u64;
        let mut written = 0usize;
        while written < data.len() {
            let p = pos + written as u64;
            let bytes = ((chunk - p % chunk) as usize).min(data.len() - written);
            match self.write_one(cx, p, &data[written..written + bytes]) {
                Ok(n) => written += n,
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(written)
    }

    /// `ext4_block_zero_page_range`, block by block: a mapped (or delalloc) block is read if
    /// needed, zeroed in the cache and dirtied; holes and unwritten blocks already read as
    /// zeros and are left alone.
    fn zero_range(&self, cx: &mut Ctx<'_, Self>, pos: u64, len: u64) -> Result<()> {
        let bs = cx.block_size() as u64;
        let mut p = pos;
        let end = pos + len;
        while p < end {
            let n = (bs - p % bs).min(end - p);
            self.zero_block_range(cx, p, n)?;
            p += n;
        }
        Ok(())
    }
}

impl BufferHeadAops {
    fn zero_block_range(&self, cx: &mut Ctx<'_, Self>, pos: u64, len: u64) -> Result<()> {
        // Like `__ext4_block_zero_page_range`, the folio is found or created (FGP_CREAT)
        // before the block is looked up.
        let (start, _) = cx.grab_folio(pos >> PAGE_SHIFT, 0)?;
        let mut fr = cx.folio_ref(start);
        create_buffers(&mut fr);
        let bs = fr.fs.sb.block_size as usize;
        let fpos = fr.folio.pos();
        let lblk = pos >> fr.fs.blkbits;
        let i = ((pos - fpos) as usize) / bs;
        let folio_uptodate = fr.folio.uptodate();
        let mut bhs = take_buffers(&mut fr);
        let result = (|| -> Result<bool> {
            if !bhs[i].mapped() {
                let m = fr.map(lblk, 1, MapOp::Lookup, MapCaller::GetBlock)?;
                bhs[i].map_from(m.kind, m.pblk, false);
                if !bhs[i].mapped() || (bhs[i].unwritten() && !bhs[i].dirty()) {
                    // A hole or an unwritten block already reads as zeros.
                    bhs[i].discard();
                    return Ok(false);
                }
            }
            if folio_uptodate {
                bhs[i].set_uptodate(true);
            }
            if !bhs[i].uptodate() && !bhs[i].delay() {
                if bhs[i].unwritten() {
                    fr.zero(i * bs, bs);
                    bhs[i].set_uptodate(true);
                } else {
                    read_buffers(&mut fr, &mut bhs, &[i], false)?;
                }
            }
            fr.zero((pos - fpos) as usize, len as usize);
            bhs[i].set_dirty(true);
            Ok(true)
        })();
        fr.folio.private = Some(bhs);
        if result? {
            fr.mark_dirty();
        }
        Ok(())
    }

    /// `mpage_process_page_bufs` after mapping: buffers of the pending folios inside the
    /// mapped range get their block numbers; delay and unwritten are cleared.
    fn map_buffers(&self, cx: &mut Ctx<'_, Self>, pending: &[u64], lblk: u64, len: u64, pblk: u64) {
        let blkbits = cx.blkbits();
        for &s in pending {
            let f = cx.folio(s);
            let lblk0 = f.pos() >> blkbits;
            if lblk0 >= lblk + len {
                break;
            }
            let bhs = f.private.as_mut().expect("folio has buffers");
            for (i, bh) in bhs.iter_mut().enumerate() {
                let b = lblk0 + i as u64;
                if b >= lblk && b < lblk + len && bh.dirty() && (bh.delay() || bh.unwritten()) {
                    bh.b_blocknr = pblk + (b - lblk);
                    bh.set_delay(false);
                    bh.set_unwritten(false);
                    bh.set_mapped(true);
                }
            }
        }
    }

    fn folio_fully_mapped(&self, cx: &mut Ctx<'_, Self>, s: u64) -> bool {
        let bs = cx.block_size() as u64;
        let blocks_in_file = cx.i_size().div_ceil(bs);
        let blkbits = cx.blkbits();
        let f = cx.folio(s);
        let lblk0 = f.pos() >> blkbits;
        let bhs = f.private.as_ref().expect("folio has buffers");
        bhs.iter()
            .enumerate()
            .all(|(i, bh)| lblk0 + i as u64 >= blocks_in_file || !(bh.dirty() && (bh.delay() || bh.unwritten())))
    }

    /// Submits the write bios and completes them (`ext4_end_bio`, `ext4_end_io_end`):
    /// errors go to the mapping's `wb_err`; unwritten ranges whose bios succeeded become
    /// written, one `map_blocks` call per range.
    fn complete_writes(&self, cx: &mut Ctx<'_, Self>, io: &WbIo) -> Result<()> {
        let nbios = cx.bio.len();
        let submitted = cx.submit_writeback();
        let failed: Vec<bool> = (0..nbios).map(|i| cx.bio.status(i).is_err()).collect();
        cx.bio.clear();
        submitted?;
        for &(lblk, len, b0, b1) in &io.convert {
            if failed[b0..b1].iter().any(|&f| f) {
                continue;
            }
            let (mut l, end) = (lblk, lblk + len);
            while l < end {
                let m = cx.map(l, end - l, MapOp::ConvertUnwritten, MapCaller::EndIo)?;
                l += m.len;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_head_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<BufferHead>(), 16);
    }

    #[test]
    fn write_order_follows_fgf_set_order() {
        assert_eq!(write_order(4096), 0);
        assert_eq!(write_order(6000), 0);
        assert_eq!(write_order(8192), 1);
        assert_eq!(write_order(64 << 10), 4);
        assert_eq!(write_order(1 << 20), 8);
        assert_eq!(write_order(100), 0);
    }
}
