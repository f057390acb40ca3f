//! The page cache's generic paths (`mm/filemap.c`): allocating and adding folios, finding
//! or creating the folio a write goes to (`__filemap_get_folio`), and the buffered read
//! path (`filemap_read`) that both backends share.

use super::AddressSpaceOps;
use super::folio::Folio;
use super::inode::Inode;
use super::page_alloc::{PAGE_SHIFT, PAGE_SIZE};
use super::readahead::{page_cache_async_ra, page_cache_sync_ra};
use super::sb::Sb;
use super::vmscan::try_to_free_pages;
use crate::error::{FsError, Result};
use crate::kernel::read;
use crate::kernel::workqueue::run_inline_work;
use crate::options::WritebackMode;
use crate::stats::Ev;
use std::sync::Arc;
use std::time::Duration;

/// Most folios one read step handles (`PAGEVEC_SIZE`, a `folio_batch`).
const FOLIO_BATCH: usize = 31;

/// Allocates a folio of `order` or, when memory is short, a smaller one down to order 0
/// (`filemap_alloc_folio` with the page allocator's slow path: direct reclaim of clean
/// folios, then waiting for writeback to make more reclaimable). With the inline flusher the
/// allocator writes back `inode` itself instead of waiting for the flusher.
pub(crate) fn filemap_alloc_folio<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    order: usize,
) -> Result<Folio<A::Private>> {
    for o in (0..=order).rev() {
        if let Some(f) = Folio::alloc(&sb.pool, o) {
            return Ok(f);
        }
        try_to_free_pages(sb, 1 << o);
        if let Some(f) = Folio::alloc(&sb.pool, o) {
            return Ok(f);
        }
    }
    // Everything reclaimable is gone: the rest is dirty, under writeback or in use.
    loop {
        let dirty = sb.stats.dirty_bytes.get();
        let writeback = sb.stats.writeback_inflight_bytes.get();
        if dirty == 0 && writeback == 0 {
            return Err(FsError::NoMemory);
        }
        sb.stats.inc(Ev::ForcedWritebacks);
        if sb.inline() {
            // Writeback waiting for its completion work ends with it.
            run_inline_work();
            super::page_writeback::filemap_write_and_wait_range(sb, inode, 0, u64::MAX)?;
            if sb.stats.dirty_bytes.get() == dirty && writeback == 0 {
                // This inode had nothing to write: the dirty data is another's.
                try_to_free_pages(sb, 1);
                return Folio::alloc(&sb.pool, 0).ok_or(FsError::NoMemory);
            }
        } else {
            // reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK): wake the flusher, wait for some
            // writeback to complete (at most a tenth of a second), reclaim again.
            sb.wb.start_vmscan();
            let done = sb.stats.writeback_inflight_bytes.get();
            sb.wb.done.wait_event_timeout(Duration::from_millis(100), || {
                sb.stats.writeback_inflight_bytes.get() < done || sb.stats.dirty_bytes.get() < dirty
            });
        }
        try_to_free_pages(sb, 1);
        if let Some(f) = Folio::alloc(&sb.pool, 0) {
            return Ok(f);
        }
    }
}

/// Adds a new, locked folio at page `index` (`filemap_add_folio`): into the cache with the
/// cache's reference, onto the LRU, counted. False if something is cached there already.
pub(crate) fn filemap_add_folio<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Inode<A::Private>,
    folio: &Folio<A::Private>,
    index: u64,
) -> bool {
    if !inode.mapping.add(folio, index) {
        return false;
    }
    sb.stats.folio_alloc(folio.order(), folio.size() as u64);
    if sb.opts.writeback == WritebackMode::DontCache {
        folio.set_dropbehind();
    }
    sb.pool.lru_add(folio.pfn());
    true
}

/// The folio covering page `index`, locked, if it is cached (`filemap_lock_folio`).
pub(crate) fn filemap_lock_folio<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Inode<A::Private>,
    index: u64,
) -> Option<Folio<A::Private>> {
    loop {
        let f = inode.mapping.get(&sb.pool, index)?;
        f.lock();
        if inode.mapping.owns(&f) {
            return Some(f);
        }
        // Truncated while we waited for the lock.
        f.unlock();
    }
}

/// The folio covering page `index`, locked, found or created (`__filemap_get_folio` with
/// `FGP_WRITEBEGIN`: lock, create, stable). A new one is as large as `order` allows at that
/// index and between its neighbours. On a stable-writes device the folio is not under
/// writeback when this returns (`folio_wait_stable`).
pub(crate) fn filemap_grab_folio<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    index: u64,
    order: usize,
) -> Result<Folio<A::Private>> {
    loop {
        if let Some(f) = filemap_lock_folio(sb, inode, index) {
            if sb.stable_writes {
                f.wait_writeback();
            }
            f.mark_accessed();
            return Ok(f);
        }
        let mut order = order.min(sb.aops.max_folio_order());
        if index != 0 {
            order = order.min(index.trailing_zeros() as usize);
        }
        // Not over a neighbour: shrink to what fits before the next cached folio.
        while order > 0 && !inode.mapping.range_empty(index, index + (1 << order)) {
            order -= 1;
        }
        let folio = filemap_alloc_folio(sb, inode, order)?;
        folio.lock();
        if filemap_add_folio(sb, inode, &folio, index) {
            return Ok(folio);
        }
        // Someone else added one meanwhile: use theirs.
        folio.unlock();
    }
}

/// Reads `buf.len()` bytes at `pos`, short at EOF (`filemap_read`). With `nowait`
/// (`IOCB_NOWAIT`) it never sleeps: a miss starts readahead and a folio that is locked or not
/// uptodate ends the read — short if some bytes were copied, else [`FsError::WouldBlock`].
pub fn filemap_read<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    mut pos: u64,
    buf: &mut [u8],
    nowait: bool,
) -> Result<usize> {
    let want_end = pos.saturating_add(buf.len() as u64);
    let start = pos;
    let mut batch = Vec::with_capacity(FOLIO_BATCH);
    let mut result = Ok(());
    while pos < want_end {
        if pos >= inode.size() {
            break;
        }
        if let Err(e) = filemap_get_pages(sb, inode, pos, want_end, nowait, &mut batch) {
            result = Err(e);
            break;
        }
        // The size again, now that the folios are in hand (`filemap_read` re-reads it).
        let end = want_end.min(inode.size());
        for f in batch.drain(..) {
            if pos >= end {
                break;
            }
            let off = (pos - f.pos()) as usize;
            let n = (f.end_pos().min(end) - pos) as usize;
            let at = (pos - start) as usize;
            f.copy_to(off, &mut buf[at..at + n]);
            f.mark_accessed();
            pos += n as u64;
            if f.dropbehind() && !f.dirty() && !f.writeback() && f.trylock() {
                super::truncate::folio_drop_behind(sb, inode, &f);
                f.unlock();
            }
        }
        batch.clear();
    }
    crate::kernel::lock(&inode.mapping.ra).prev_pos = pos;
    let done = (pos - start) as usize;
    match result {
        Err(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

/// Fills `batch` with uptodate folios from the one covering byte `pos` on
/// (`filemap_get_pages`): a cache miss reads ahead synchronously, a folio with the readahead
/// marker starts the next window, and a folio not yet uptodate is waited for or read — with
/// `nowait`, [`FsError::WouldBlock`] instead of reading a folio or waiting.
fn filemap_get_pages<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    pos: u64,
    end: u64,
    nowait: bool,
    batch: &mut Vec<Folio<A::Private>>,
) -> Result<()> {
    let index = pos >> PAGE_SHIFT;
    let last = end.div_ceil(PAGE_SIZE as u64);
    loop {
        batch.clear();
        inode.mapping.get_read_batch(&sb.pool, index, last, FOLIO_BATCH, batch);
        if batch.is_empty() {
            page_cache_sync_ra(sb, inode, index, last - index, nowait);
            inode.mapping.get_read_batch(&sb.pool, index, last, FOLIO_BATCH, batch);
        }
        if batch.is_empty() {
            if nowait {
                return Err(FsError::WouldBlock);
            }
            filemap_create_folio(sb, inode, index, batch)?;
        }
        let f = batch.last().expect("a folio").clone();
        if f.readahead_mark() {
            page_cache_async_ra(sb, inode, &f, last - f.index(), nowait);
        }
        if !f.uptodate() {
            let n = batch.len();
            let from = pos.max(f.pos()) - f.pos();
            let count = (end.min(f.end_pos()) - f.pos() - from) as usize;
            match filemap_update_page(sb, inode, &f, from as usize, count, nowait) {
                Err(FsError::WouldBlock) if n > 1 => {
                    // Hand back the uptodate folios before it.
                    batch.pop();
                }
                Err(e) => return Err(e),
                Ok(updated) => match updated {
                    true => {}
                    false if n > 1 => {
                        // Truncated meanwhile: hand back what came before it.
                        batch.pop();
                    }
                    false => continue,
                },
            }
        }
        return Ok(());
    }
}

/// Reads the folio at page `index` when readahead added nothing (`filemap_create_folio`).
fn filemap_create_folio<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    index: u64,
    batch: &mut Vec<Folio<A::Private>>,
) -> Result<()> {
    let folio = filemap_alloc_folio(sb, inode, 0)?;
    folio.lock();
    let _invalidate = read(&inode.invalidate_lock);
    if !filemap_add_folio(sb, inode, &folio, index) {
        // Raced with another reader: retry through the cache.
        folio.unlock();
        return Ok(());
    }
    filemap_read_folio(sb, inode, &folio)?;
    batch.push(folio);
    Ok(())
}

/// Makes the part `[from, from + count)` of a folio that was not uptodate readable
/// (`filemap_update_page`): waits for a read in flight (its lock), then reads it if it is
/// still not uptodate and the part is not. False if the folio was truncated meanwhile. With
/// `nowait`, a folio that is locked, or would have to be read, is [`FsError::WouldBlock`].
fn filemap_update_page<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    folio: &Folio<A::Private>,
    from: usize,
    count: usize,
    nowait: bool,
) -> Result<bool> {
    if nowait {
        if !folio.trylock() {
            return Err(FsError::WouldBlock);
        }
    } else {
        folio.lock();
    }
    if !inode.mapping.owns(folio) {
        folio.unlock();
        return Ok(false);
    }
    if folio.uptodate() || sb.aops.is_partially_uptodate(folio, from, count) {
        folio.unlock();
        return Ok(true);
    }
    if nowait {
        folio.unlock();
        return Err(FsError::WouldBlock);
    }
    filemap_read_folio(sb, inode, folio)?;
    Ok(true)
}

/// Reads a locked folio and waits for it (`filemap_read_folio`); EIO if it did not come
/// uptodate.
pub(crate) fn filemap_read_folio<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    folio: &Folio<A::Private>,
) -> Result<()> {
    sb.aops.read_folio(sb, inode, folio)?;
    folio.wait_locked();
    if folio.uptodate() {
        return Ok(());
    }
    Err(FsError::ReadError { pos: folio.pos() })
}
