//! File operations above the aops, shared by both backends: what ext4's `file.c`, `inode.c`
//! (`ext4_setattr`) and `extents.c` (fallocate modes) do around the page cache.

use crate::aops::BufferedIo;
use crate::core::MapOp;
use crate::core::map::{MAX_FILE_BLOCKS, MapKind, lock};
use crate::error::{FsError, Result};
use crate::mm::Ctx;
use crate::mm::page_writeback::{balance_dirty_pages, write_and_wait};
use crate::mm::truncate::{truncate_inode_pages_range, truncate_pagecache};
use crate::mm::{PAGE_SIZE, WritebackMode};
use crate::stats::MapCaller;

/// fallocate(2) modes (the shared vocabulary's type).
pub use vocab::FallocMode;

fn max_bytes<A: BufferedIo>(cx: &Ctx<'_, A>) -> u64 {
    MAX_FILE_BLOCKS << cx.blkbits()
}

/// Buffered write (`ext4_buffered_write_iter`).
pub fn write<A: BufferedIo>(cx: &mut Ctx<'_, A>, pos: u64, data: &[u8]) -> Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    let end = pos.checked_add(data.len() as u64).filter(|&e| e <= max_bytes(cx));
    let Some(end) = end else {
        return Err(FsError::TooLarge { size: pos.saturating_add(data.len() as u64) });
    };
    let fs = cx.fs;
    zero_eof(cx, pos)?;
    let n = fs.aops.write_iter(cx, pos, data)?;
    if fs.opts.writeback == WritebackMode::DontCache {
        write_and_wait(cx, pos, end)?;
        drop_clean_range(cx, pos, pos + n as u64);
    }
    // The data is in the cache: a failure of the writeback this write started belongs to
    // the mapping (`mapping_set_error`), for the next fsync, not to this write.
    if let Err(e) = balance_dirty_pages(cx) {
        cx.mapping.wb_err.get_or_insert(e.errno());
    }
    Ok(n)
}

/// Drops the clean dropbehind folios of a range once written (`folio_end_dropbehind`).
fn drop_clean_range<A: BufferedIo>(cx: &mut Ctx<'_, A>, start: u64, end: u64) {
    let fs = cx.fs;
    for s in cx.mapping.starts_in(start / PAGE_SIZE as u64, end.div_ceil(PAGE_SIZE as u64)) {
        let f = cx.folio(s);
        if f.dropbehind() && !f.dirty() && !f.locked() && (f.private.is_none() || fs.aops.release_folio(f)) {
            cx.delete_folio(s);
        }
    }
}

/// Frees the blocks of `[lblk, lblk + len)`: extents back to the allocator, delalloc
/// reservations released (`ext4_ext_remove_space`, `ext4_es_remove_extent`).
pub fn remove_blocks<A: BufferedIo>(cx: &mut Ctx<'_, A>, lblk: u64, len: u64) {
    if len == 0 {
        return;
    }
    let fs = cx.fs;
    let mut alloc = lock(&fs.alloc);
    cx.inode.extents.remove(lblk, len, |p, l| alloc.free(p, l));
    let released = cx.inode.delayed.remove(lblk, len);
    alloc.release(released);
    cx.inode.map_seq += 1;
    fs.note_meta_dirty();
}

/// Sets a new size from truncate (`ext4_setattr` with `ATTR_SIZE`, `xfs_setattr_size`).
pub fn truncate<A: BufferedIo>(cx: &mut Ctx<'_, A>, size: u64) -> Result<()> {
    if size > max_bytes(cx) {
        return Err(FsError::TooLarge { size });
    }
    let old = cx.i_size();
    let fs = cx.fs;
    if size < old {
        fs.aops.truncate_page(cx, size)?;
        cx.inode.i_size = size;
        cx.inode.i_disksize = size;
        truncate_pagecache(cx, size);
        let first = size.div_ceil(cx.block_size() as u64);
        remove_blocks(cx, first, MAX_FILE_BLOCKS - first);
    } else if size > old {
        zero_eof(cx, size)?;
        cx.inode.i_size = size;
        cx.inode.i_disksize = size;
    }
    fs.note_meta_dirty();
    Ok(())
}

fn extend_size<A: BufferedIo>(cx: &mut Ctx<'_, A>, new_size: u64) -> Result<()> {
    let old = cx.i_size();
    if new_size > old {
        let fs = cx.fs;
        zero_eof(cx, new_size)?;
        cx.inode.i_size = new_size;
        cx.inode.i_disksize = new_size;
        fs.note_meta_dirty();
    }
    Ok(())
}

/// Before the file grows to `new_size` (a write starting past EOF, truncate up, an extending
/// fallocate): zero from the old EOF to the end of its block, in the cache and so on disk
/// (`ext4_block_zero_eof`, which ext4 calls from `ext4_write_checks` and `ext4_setattr` for
/// both aops). Whatever sits past EOF in that block — left by a crash between writeback and
/// the size update, say — must not appear inside the file.
fn zero_eof<A: BufferedIo>(cx: &mut Ctx<'_, A>, new_size: u64) -> Result<()> {
    let old = cx.i_size();
    let bs = cx.block_size() as u64;
    if new_size <= old || old.is_multiple_of(bs) {
        return Ok(());
    }
    let fs = cx.fs;
    fs.aops.truncate_page(cx, old)
}

/// Zeroes the parts of `[start, end)` that do not cover whole blocks, through the cache
/// (`ext4_zero_partial_blocks`).
fn zero_partial_blocks<A: BufferedIo>(cx: &mut Ctx<'_, A>, start: u64, end: u64) -> Result<()> {
    let bs = cx.block_size() as u64;
    let fs = cx.fs;
    let head_end = start.next_multiple_of(bs).min(end);
    if !start.is_multiple_of(bs) {
        fs.aops.zero_range(cx, start, head_end - start)?;
    }
    let tail_start = end / bs * bs;
    if !end.is_multiple_of(bs) && tail_start >= head_end {
        fs.aops.zero_range(cx, tail_start, end - tail_start)?;
    }
    Ok(())
}

/// fallocate(2) (`ext4_fallocate`).
pub fn fallocate<A: BufferedIo>(cx: &mut Ctx<'_, A>, mode: FallocMode, off: u64, len: u64) -> Result<()> {
    if len == 0 {
        return Err(FsError::invalid("fallocate length is zero"));
    }
    let end = off
        .checked_add(len)
        .filter(|&e| e <= max_bytes(cx))
        .ok_or(FsError::TooLarge { size: off.saturating_add(len) })?;
    let bs = cx.block_size() as u64;
    let page = PAGE_SIZE as u64;
    match mode {
        FallocMode::Allocate | FallocMode::KeepSize => {
            allocate_unwritten(cx, off / bs, end.div_ceil(bs), false)?;
            if mode == FallocMode::Allocate {
                extend_size(cx, end)?;
            }
        }
        FallocMode::PunchHole => {
            let end = end.min(cx.i_size());
            if off >= end {
                return Ok(());
            }
            write_and_wait(cx, off / page * page, end.next_multiple_of(page))?;
            let zero_partial = !cx.fs.bug(crate::bugs::Bug::PunchLeavesCachedPartial);
            crate::mm::truncate::truncate_range(cx, off, end, zero_partial);
            zero_partial_blocks(cx, off, end)?;
            let (first, last) = (off.div_ceil(bs), end / bs);
            if first < last {
                remove_blocks(cx, first, last - first);
            }
        }
        FallocMode::ZeroRange | FallocMode::ZeroRangeKeepSize => {
            write_and_wait(cx, off / page * page, end.next_multiple_of(page))?;
            truncate_inode_pages_range(cx, off, end);
            let (first, last) = (off.div_ceil(bs), end / bs);
            if first < last {
                allocate_unwritten(cx, first, last, true)?;
            }
            zero_partial_blocks(cx, off, end)?;
            if mode == FallocMode::ZeroRange {
                extend_size(cx, end)?;
            }
        }
        FallocMode::CollapseRange | FallocMode::InsertRange => {
            if !off.is_multiple_of(bs) || !len.is_multiple_of(bs) {
                return Err(FsError::invalid(format!("{mode:?} needs offset and length aligned to {bs} bytes")));
            }
            let size = cx.i_size();
            if mode == FallocMode::CollapseRange && end >= size {
                return Err(FsError::invalid("collapse range reaches EOF"));
            }
            if mode == FallocMode::InsertRange && off >= size {
                return Err(FsError::invalid("insert range at or past EOF"));
            }
            if mode == FallocMode::InsertRange && size + len > max_bytes(cx) {
                return Err(FsError::TooLarge { size: size + len });
            }
            let from = off / page * page;
            write_and_wait(cx, from, u64::MAX)?;
            truncate_pagecache(cx, from);
            let (lblk, nblk) = (off / bs, len / bs);
            debug_assert!(cx.inode.delayed.iter_from(lblk).next().is_none(), "delalloc left after writeback");
            if mode == FallocMode::CollapseRange {
                remove_blocks(cx, lblk, nblk);
                cx.inode.extents.shift_from(lblk + nblk, -(nblk as i64));
                cx.inode.i_size = size - len;
            } else {
                cx.inode.extents.split_at(lblk);
                cx.inode.extents.shift_from(lblk, nblk as i64);
                cx.inode.i_size = size + len;
            }
            cx.inode.i_disksize = cx.inode.i_size;
            cx.fs.note_meta_dirty();
        }
    }
    Ok(())
}

/// Allocates unwritten extents over the holes of blocks `[first, last)`; with `convert`,
/// written extents there become unwritten too (zero_range). Delalloc is left to writeback.
fn allocate_unwritten<A: BufferedIo>(cx: &mut Ctx<'_, A>, first: u64, last: u64, convert: bool) -> Result<()> {
    let mut lblk = first;
    while lblk < last {
        let m = cx.lookup(lblk, last - lblk);
        let n = match m.kind {
            MapKind::Hole => cx.map(lblk, m.len, MapOp::AllocateUnwritten, MapCaller::Other)?.len,
            MapKind::Mapped if convert => {
                cx.inode.extents.convert_to_unwritten(lblk, m.len);
                cx.fs.note_meta_dirty();
                m.len
            }
            _ => m.len,
        };
        lblk += n;
    }
    Ok(())
}
