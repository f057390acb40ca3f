//! File operations above the aops, shared by both backends: what ext4's `file.c`, `inode.c`
//! (`ext4_setattr`) and `extents.c` (fallocate modes) do around the page cache, with the
//! locks they take.

use crate::aops::BufferedIo;
use crate::core::MapOp;
use crate::core::map::{MAX_FILE_BLOCKS, MapKind};
use crate::error::{FsError, Result};
use crate::kernel::write as wlock;
use crate::mm::page_writeback::{filemap_fdatawrite_range_kick, filemap_write_and_wait_range};
use crate::mm::truncate::{truncate_inode_pages_range, truncate_pagecache, truncate_range};
use crate::mm::{Inode, PAGE_SIZE, Sb, WritebackMode};
use crate::stats::MapCaller;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// fallocate(2) modes (the shared vocabulary's type).
pub use vocab::FallocMode;

fn max_bytes<A: BufferedIo>(sb: &Sb<A>) -> u64 {
    MAX_FILE_BLOCKS << sb.blkbits
}

/// Updates the modification time and the change counter (`file_update_time`): when the
/// coarse clock has moved since the last update, the inode is dirtied
/// (`__mark_inode_dirty(I_DIRTY_SYNC)` → `ext4_dirty_inode`: the new times journaled in a
/// handle of their own, so that an fsync after an overwrite commits the inode).
fn file_update_time<A: BufferedIo>(sb: &Sb<A>, inode: &Inode<A::Private>) -> Result<()> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a pointer to a local.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    let now = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    inode.i_version.fetch_add(1, Relaxed);
    if inode.mtime_ns.swap(now, Relaxed) != now {
        sb.dirty_inode_times(inode, now)?;
    }
    Ok(())
}

/// Buffered write (`ext4_buffered_write_iter`), under `i_rwsem` exclusive.
pub fn write<A: BufferedIo>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, pos: u64, data: &[u8]) -> Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    let end = pos.checked_add(data.len() as u64).filter(|&e| e <= max_bytes(sb));
    let Some(end) = end else {
        return Err(FsError::TooLarge { size: pos.saturating_add(data.len() as u64) });
    };
    let _i = wlock(&inode.i_rwsem);
    if inode.unlinked.load(Relaxed) {
        return Err(FsError::Stale);
    }
    file_update_time(sb, inode)?;
    zero_eof(sb, inode, pos)?;
    let n = sb.aops.write_iter(sb, inode, pos, data)?;
    if sb.opts.writeback == WritebackMode::DontCache {
        // RWF_DONTCACHE: start writeback of what was written; the folios drop as it ends.
        if sb.inline() {
            filemap_write_and_wait_range(sb, inode, pos, end)?;
            drop_clean_range(sb, inode, pos, pos + n as u64);
        } else if let Err(e) = filemap_fdatawrite_range_kick(sb, inode, pos, end) {
            // The data is in the cache: the failure belongs to the mapping, for the next
            // fsync (`mapping_set_error`), not to this write.
            inode.mapping.set_error(e.errno());
        }
    }
    Ok(n)
}

/// Drops the clean dropbehind folios of a range once written (`folio_end_dropbehind`).
fn drop_clean_range<A: BufferedIo>(sb: &Sb<A>, inode: &Inode<A::Private>, start: u64, end: u64) {
    let last = end.div_ceil(PAGE_SIZE as u64);
    let mut index = start / PAGE_SIZE as u64;
    while let Some(f) = inode.mapping.find(&sb.pool, index, last, None) {
        index = f.end_index().max(index + 1);
        if f.dropbehind() && !f.dirty() && f.trylock() {
            crate::mm::truncate::folio_drop_behind(sb, inode, &f);
            f.unlock();
        }
    }
}

/// Frees the blocks of `[lblk, lblk + len)`: extents back to the allocator, delalloc
/// reservations released, the inode journaled (`ext4_ext_remove_space`,
/// `ext4_es_remove_extent`), under `i_data_sem`.
pub fn remove_blocks<A: BufferedIo>(sb: &Sb<A>, inode: &Inode<A::Private>, lblk: u64, len: u64) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    sb.ext4.remove_space(&inode.info, lblk, len)
}

/// Sets both sizes (`i_size_write` and `i_disksize`), under `i_rwsem`, and journals the
/// inode (`ext4_setattr`'s `ext4_mark_inode_dirty`).
fn set_sizes<A: BufferedIo>(sb: &Sb<A>, inode: &Inode<A::Private>, size: u64) -> Result<()> {
    inode.set_size(size);
    sb.set_disksize(inode, size)
}

/// After `[pos, pos + len)` of a written block was zeroed in the cache: in data=ordered, the
/// commit that changes the file around it (truncate, punch, zero range) writes that block
/// first (`__ext4_block_zero_page_range` → `ext4_jbd2_inode_add_write`), so that a crash
/// cannot leave its old bytes on disk under the new metadata.
fn order_zeroed<A: BufferedIo>(sb: &Sb<A>, inode: &Inode<A::Private>, pos: u64, len: u64) -> Result<()> {
    let bs = u64::from(sb.block_size());
    if len == 0 || sb.lookup(inode, pos / bs, 1).kind != MapKind::Mapped {
        return Ok(());
    }
    let mut h = sb.ext4.journal_start(1)?;
    h.add_inode(inode.ino, pos, pos + len, true);
    Ok(())
}

/// `truncate_page` (zero from `pos` to the end of its block) with its ordered data.
fn truncate_page<A: BufferedIo>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, pos: u64) -> Result<()> {
    sb.aops.truncate_page(sb, inode, pos)?;
    let bs = u64::from(sb.block_size());
    order_zeroed(sb, inode, pos, pos.next_multiple_of(bs) - pos)
}

/// Sets a new size from truncate (`ext4_setattr` with `ATTR_SIZE`, `xfs_setattr_size`):
/// `i_rwsem` and the invalidate lock held exclusive.
pub fn truncate<A: BufferedIo>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, size: u64) -> Result<()> {
    if size > max_bytes(sb) {
        return Err(FsError::TooLarge { size });
    }
    let _i = wlock(&inode.i_rwsem);
    let _inv = wlock(&inode.invalidate_lock);
    if inode.unlinked.load(Relaxed) {
        return Err(FsError::Stale);
    }
    file_update_time(sb, inode)?;
    let old = inode.size();
    if size < old {
        truncate_page(sb, inode, size)?;
        set_sizes(sb, inode, size)?;
        truncate_pagecache(sb, inode, size);
        // `ext4_truncate`: the file's preallocations go, then its blocks past the new EOF.
        sb.ext4.discard_preallocations(&mut wlock(&inode.info).disk);
        let first = size.div_ceil(u64::from(sb.block_size()));
        remove_blocks(sb, inode, first, MAX_FILE_BLOCKS - first)?;
    } else if size > old {
        zero_eof(sb, inode, size)?;
        set_sizes(sb, inode, size)?;
    }
    Ok(())
}

fn extend_size<A: BufferedIo>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, new_size: u64) -> Result<()> {
    if new_size > inode.size() {
        zero_eof(sb, inode, new_size)?;
        set_sizes(sb, inode, new_size)?;
    }
    Ok(())
}

/// Before the file grows to `new_size` (a write starting past EOF, truncate up, an extending
/// fallocate): zero from the old EOF to the end of its block, in the cache and so on disk
/// (`ext4_block_zero_eof`, which ext4 calls from `ext4_write_checks` and `ext4_setattr` for
/// both aops). Whatever sits past EOF in that block — left by a crash between writeback and
/// the size update, say — must not appear inside the file.
fn zero_eof<A: BufferedIo>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, new_size: u64) -> Result<()> {
    let old = inode.size();
    let bs = u64::from(sb.block_size());
    if new_size <= old || old.is_multiple_of(bs) {
        return Ok(());
    }
    truncate_page(sb, inode, old)
}

/// Zeroes the parts of `[start, end)` that do not cover whole blocks, through the cache
/// (`ext4_zero_partial_blocks`).
fn zero_partial_blocks<A: BufferedIo>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, start: u64, end: u64) -> Result<()> {
    let bs = u64::from(sb.block_size());
    let head_end = start.next_multiple_of(bs).min(end);
    if !start.is_multiple_of(bs) {
        sb.aops.zero_range(sb, inode, start, head_end - start)?;
        order_zeroed(sb, inode, start, head_end - start)?;
    }
    let tail_start = end / bs * bs;
    if !end.is_multiple_of(bs) && tail_start >= head_end {
        sb.aops.zero_range(sb, inode, tail_start, end - tail_start)?;
        order_zeroed(sb, inode, tail_start, end - tail_start)?;
    }
    Ok(())
}

/// fallocate(2) (`ext4_fallocate`): `i_rwsem` and, for the modes that change the block map
/// under cached data, the invalidate lock, held exclusive.
pub fn fallocate<A: BufferedIo>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    mode: FallocMode,
    off: u64,
    len: u64,
) -> Result<()> {
    if len == 0 {
        return Err(FsError::invalid("fallocate length is zero"));
    }
    let end = off
        .checked_add(len)
        .filter(|&e| e <= max_bytes(sb))
        .ok_or(FsError::TooLarge { size: off.saturating_add(len) })?;
    let _i = wlock(&inode.i_rwsem);
    let _inv = wlock(&inode.invalidate_lock);
    if inode.unlinked.load(Relaxed) {
        return Err(FsError::Stale);
    }
    file_update_time(sb, inode)?;
    let bs = u64::from(sb.block_size());
    let page = PAGE_SIZE as u64;
    match mode {
        FallocMode::Allocate | FallocMode::KeepSize => {
            allocate_unwritten(sb, inode, off / bs, end.div_ceil(bs), false)?;
            if mode == FallocMode::Allocate {
                extend_size(sb, inode, end)?;
            }
        }
        FallocMode::PunchHole => {
            let end = end.min(inode.size());
            if off >= end {
                return Ok(());
            }
            filemap_write_and_wait_range(sb, inode, off / page * page, end.next_multiple_of(page))?;
            let zero_partial = !sb.bug(crate::bugs::Bug::PunchLeavesCachedPartial);
            truncate_range(sb, inode, off, end, zero_partial);
            zero_partial_blocks(sb, inode, off, end)?;
            let (first, last) = (off.div_ceil(bs), end / bs);
            if first < last {
                remove_blocks(sb, inode, first, last - first)?;
            }
        }
        FallocMode::ZeroRange | FallocMode::ZeroRangeKeepSize => {
            filemap_write_and_wait_range(sb, inode, off / page * page, end.next_multiple_of(page))?;
            truncate_inode_pages_range(sb, inode, off, end);
            let (first, last) = (off.div_ceil(bs), end / bs);
            if first < last {
                allocate_unwritten(sb, inode, first, last, true)?;
            }
            zero_partial_blocks(sb, inode, off, end)?;
            if mode == FallocMode::ZeroRange {
                extend_size(sb, inode, end)?;
            }
        }
        FallocMode::CollapseRange | FallocMode::InsertRange => {
            if !off.is_multiple_of(bs) || !len.is_multiple_of(bs) {
                return Err(FsError::invalid(format!("{mode:?} needs offset and length aligned to {bs} bytes")));
            }
            let size = inode.size();
            if mode == FallocMode::CollapseRange && end >= size {
                return Err(FsError::invalid("collapse range reaches EOF"));
            }
            if mode == FallocMode::InsertRange && off >= size {
                return Err(FsError::invalid("insert range at or past EOF"));
            }
            if mode == FallocMode::InsertRange && size + len > max_bytes(sb) {
                return Err(FsError::TooLarge { size: size + len });
            }
            let from = off / page * page;
            filemap_write_and_wait_range(sb, inode, from, u64::MAX)?;
            truncate_pagecache(sb, inode, from);
            let (lblk, nblk) = (off / bs, len / bs);
            debug_assert!(
                crate::kernel::read(&inode.info).delayed.iter_from(lblk).next().is_none(),
                "delalloc left after writeback"
            );
            if mode == FallocMode::CollapseRange {
                remove_blocks(sb, inode, lblk, nblk)?;
                sb.ext4.shift_extents(&inode.info, lblk + nblk, -(nblk as i64), size - len)?;
                inode.set_size(size - len);
            } else {
                sb.ext4.shift_extents(&inode.info, lblk, nblk as i64, size + len)?;
                inode.set_size(size + len);
            }
        }
    }
    Ok(())
}

/// Allocates unwritten extents over the holes of blocks `[first, last)`; with `convert`,
/// written extents there become unwritten too (zero_range). Delalloc is left to writeback.
fn allocate_unwritten<A: BufferedIo>(
    sb: &Sb<A>,
    inode: &Inode<A::Private>,
    first: u64,
    last: u64,
    convert: bool,
) -> Result<()> {
    let mut lblk = first;
    while lblk < last {
        let m = sb.lookup(inode, lblk, last - lblk);
        let n = match m.kind {
            MapKind::Hole => sb.map_blocks(inode, lblk, m.len, MapOp::AllocateUnwritten, MapCaller::Other)?.len,
            MapKind::Mapped if convert => {
                sb.convert_to_unwritten(inode, lblk, m.len)?;
                m.len
            }
            _ => m.len,
        };
        lblk += n;
    }
    Ok(())
}
