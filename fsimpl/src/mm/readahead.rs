//! On-demand readahead (`mm/readahead.c`, as in Linux 6.18).
//!
//! A read that misses the cache reads a window ahead of what it asked for
//! (`page_cache_sync_ra`); the window's folio at `size - async_size` carries the readahead
//! marker (`PG_readahead`), and a reader reaching it starts the next window
//! (`page_cache_async_ra`) without waiting for it: only the folio a reader needs is waited
//! for (its lock, held by the read I/O). Windows ramp from the initial size
//! (`get_init_ra_size`) to the maximum (`get_next_ra_size`), and each asynchronous window
//! asks for folios two orders larger than the last (`ra->order += 2`), up to the window and
//! the mapping's largest order (`page_cache_ra_order`). A random read reads what it asked
//! for (`do_page_cache_ra`).

use super::AddressSpaceOps;
use super::filemap::filemap_add_folio;
use super::folio::{Folio, FolioPrivate};
use super::inode::Inode;
use super::mapping::RaState;
use super::page_alloc::PAGE_SHIFT;
use super::sb::Sb;
use super::vmscan::try_to_free_pages;
use crate::dev::blk_start_plug;
use crate::kernel::{lock, read};
use crate::stats::Ev;
use std::collections::VecDeque;
use std::sync::Arc;

/// The folios one readahead call adds (`struct readahead_control`): new, locked, in the
/// cache, in file order.
pub struct ReadaheadControl<P> {
    index: u64,
    folios: VecDeque<Folio<P>>,
}

impl<P: FolioPrivate> ReadaheadControl<P> {
    fn new(index: u64) -> Self {
        ReadaheadControl { index, folios: VecDeque::new() }
    }

    /// A control holding just `folio` (locked), for a `read_folio` done through the
    /// readahead path (`ext4_read_folio` → `ext4_mpage_readpages`).
    pub fn single(folio: Folio<P>) -> Self {
        let index = folio.index();
        ReadaheadControl { index, folios: VecDeque::from([folio]) }
    }

    /// The next folio to read, which the caller now owns the lock of (`readahead_folio`):
    /// the read's completion unlocks it.
    pub fn next_folio(&mut self) -> Option<Folio<P>> {
        let f = self.folios.pop_front()?;
        self.index = f.end_index();
        Some(f)
    }

    /// The next folio without taking it.
    pub fn peek(&self) -> Option<&Folio<P>> {
        self.folios.front()
    }

    /// First page still to read (`readahead_index`).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// One past the last page (`readahead_index + readahead_count`).
    pub fn end(&self) -> u64 {
        self.folios.back().map_or(self.index, |f| f.end_index())
    }

    fn is_empty(&self) -> bool {
        self.folios.is_empty()
    }
}

/// `get_init_ra_size`: the first window for a request of `req` pages.
fn get_init_ra_size(req: u64, max: u64) -> u64 {
    let n = req.max(1).next_power_of_two();
    if n <= max / 32 {
        n * 4
    } else if n <= max / 4 {
        n * 2
    } else {
        max
    }
}

/// `get_next_ra_size`: the window after one of `cur` pages.
fn get_next_ra_size(cur: u64, max: u64) -> u64 {
    if cur < max / 16 {
        4 * cur
    } else if cur <= max / 2 {
        2 * cur
    } else {
        max
    }
}

/// `ractl_max_pages`: a request larger than the window may read up to the device's largest
/// request.
fn ractl_max_pages<A: AddressSpaceOps>(sb: &Sb<A>, req: u64) -> u64 {
    if req > sb.ra_pages && sb.io_pages > sb.ra_pages { req.min(sb.io_pages) } else { sb.ra_pages }
}

/// Hands the collected folios to the backend (`read_pages`), under a plug; folios it did not
/// take are unlocked unread. With `wait` (the inline flusher's deterministic mode, for a
/// reader that may sleep), waits until the reads completed.
fn read_pages<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    rac: &mut ReadaheadControl<A::Private>,
    wait: bool,
) {
    if rac.is_empty() {
        return;
    }
    sb.stats.inc(Ev::ReadaheadWindows);
    let window: Vec<Folio<A::Private>> = if wait { rac.folios.iter().cloned().collect() } else { Vec::new() };
    let plug = blk_start_plug();
    sb.aops.readahead(sb, inode, rac);
    drop(plug);
    while let Some(f) = rac.next_folio() {
        f.unlock();
    }
    for f in window {
        f.wait_locked();
    }
}

/// A folio for readahead (`ractl_alloc_folio` with `readahead_gfp_mask`: one try at
/// reclaim, no waiting for writeback).
fn ra_alloc<A: AddressSpaceOps>(sb: &Sb<A>, order: usize) -> Option<Folio<A::Private>> {
    Folio::alloc(&sb.pool, order).or_else(|| {
        try_to_free_pages(sb, 1 << order);
        Folio::alloc(&sb.pool, order)
    })
}

/// Reads `nr_to_read` pages from page `index` in order-0 folios, the one `lookahead` pages
/// before the end marked, skipping cached pages (`page_cache_ra_unbounded`).
fn page_cache_ra_unbounded<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    index: u64,
    nr_to_read: u64,
    lookahead: u64,
    wait: bool,
) {
    let _invalidate = read(&inode.invalidate_lock);
    let mark = nr_to_read.saturating_sub(lookahead);
    let mut rac = ReadaheadControl::new(index);
    for i in 0..nr_to_read {
        let at = index + i;
        if inode.mapping.get(&sb.pool, at).is_some() {
            // Already cached: read what was collected, carry on after it.
            read_pages(sb, inode, &mut rac, wait);
            rac = ReadaheadControl::new(at + 1);
            continue;
        }
        let Some(folio) = ra_alloc(sb, 0) else { break };
        folio.lock();
        if i == mark {
            folio.set_readahead_mark();
        }
        if !filemap_add_folio(sb, inode, &folio, at) {
            folio.unlock();
            read_pages(sb, inode, &mut rac, wait);
            rac = ReadaheadControl::new(at + 1);
            continue;
        }
        rac.folios.push_back(folio);
    }
    read_pages(sb, inode, &mut rac, wait);
}

/// `do_page_cache_ra`: as [`page_cache_ra_unbounded`], not past EOF.
fn do_page_cache_ra<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    index: u64,
    nr: u64,
    lookahead: u64,
    wait: bool,
) {
    let isize = inode.size();
    if isize == 0 {
        return;
    }
    let end_index = (isize - 1) >> PAGE_SHIFT;
    if index > end_index {
        return;
    }
    page_cache_ra_unbounded(sb, inode, index, nr.min(end_index - index + 1), lookahead, wait);
}

/// Reads the window `ra` describes in folios of up to `ra.order`, aligned, not past EOF,
/// the folio holding the marker marked (`page_cache_ra_order`); falls back to order-0
/// folios for the rest when a page is cached already or memory is short.
fn page_cache_ra_order<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, ra: &mut RaState, wait: bool) {
    let start = ra.start;
    let isize = inode.size();
    if isize == 0 {
        return;
    }
    let max_order = sb.aops.max_folio_order();
    if max_order == 0 {
        ra.order = 0;
        do_page_cache_ra(sb, inode, start, ra.size, ra.async_size, wait);
        return;
    }
    let limit = ((isize - 1) >> PAGE_SHIFT).min(start + ra.size - 1);
    let mark = start + ra.size - ra.async_size;
    let new_order = (ra.order as usize).min(max_order).min(ra.size.max(1).ilog2() as usize);
    ra.order = new_order as u32;
    let mut index = start;
    let mut failed = false;
    {
        let _invalidate = read(&inode.invalidate_lock);
        let mut rac = ReadaheadControl::new(index);
        while index <= limit {
            let mut order = new_order;
            if index & ((1 << order) - 1) != 0 {
                order = index.trailing_zeros() as usize;
            }
            while order > 0 && index + (1 << order) - 1 > limit {
                order -= 1;
            }
            // ra_alloc_folio
            let Some(folio) = ra_alloc(sb, order) else {
                failed = true;
                break;
            };
            folio.lock();
            if index == mark / (1 << order) * (1 << order) {
                folio.set_readahead_mark();
            }
            if !filemap_add_folio(sb, inode, &folio, index) {
                folio.unlock();
                failed = true;
                break;
            }
            rac.folios.push_back(folio);
            index += 1 << order;
        }
        read_pages(sb, inode, &mut rac, wait);
    }
    if failed && ra.size > index - start {
        do_page_cache_ra(sb, inode, index, ra.size - (index - start), ra.async_size, wait);
    }
}

/// A read of `req` pages missed the cache at page `index` (`page_cache_sync_ra`); a `nowait`
/// reader (`IOCB_NOWAIT`) starts the reads and does not wait for them, whatever the mode.
pub(crate) fn page_cache_sync_ra<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    index: u64,
    req: u64,
    nowait: bool,
) {
    let wait = sb.inline() && !nowait;
    if sb.ra_pages == 0 {
        // No readahead: read just the page asked for (`force_page_cache_ra` of one page).
        do_page_cache_ra(sb, inode, index, 1, 0, wait);
        return;
    }
    let max_pages = ractl_max_pages(sb, req);
    let mut ra = *lock(&inode.mapping.ra);
    let prev_index = ra.prev_pos >> PAGE_SHIFT;
    // Start of file, oversized read, or a sequential miss (the next page, or the same one
    // for unaligned reads).
    if index == 0 || req > max_pages || index.wrapping_sub(prev_index) <= 1 {
        ra.start = index;
        ra.size = get_init_ra_size(req, max_pages);
        ra.async_size = if ra.size > req { ra.size - req } else { ra.size >> 1 };
    } else {
        // The traces a sequential stream would leave in the cache (`page_cache_prev_miss`).
        let scan_from = index.saturating_sub(max_pages);
        let mut miss = None;
        for i in (scan_from..index).rev() {
            if inode.mapping.get(&sb.pool, i).is_none() {
                miss = Some(i);
                break;
            }
        }
        let mut contig = match miss {
            Some(m) => index - m - 1,
            None => index - scan_from,
        };
        if contig <= req {
            // A small random read: read it as it is.
            do_page_cache_ra(sb, inode, index, req, 0, wait);
            return;
        }
        if miss.is_none() && scan_from == 0 {
            // Cached from the start of the file: a long stream.
            contig *= 2;
        }
        ra.start = index;
        ra.size = (contig + req).min(max_pages);
        ra.async_size = 1;
    }
    ra.order = 0;
    page_cache_ra_order(sb, inode, &mut ra, wait);
    let mut cur = lock(&inode.mapping.ra);
    let prev_pos = cur.prev_pos;
    *cur = RaState { prev_pos, ..ra };
}

/// A read of `req` pages reached `folio`, which carries the readahead marker: start the next
/// window (`page_cache_async_ra`); `nowait` as for [`page_cache_sync_ra`].
pub(crate) fn page_cache_async_ra<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    folio: &Folio<A::Private>,
    req: u64,
    nowait: bool,
) {
    if sb.ra_pages == 0 || folio.writeback() {
        return;
    }
    let wait = sb.inline() && !nowait;
    folio.clear_readahead_mark();
    sb.stats.inc(Ev::AsyncReadahead);
    let max_pages = ractl_max_pages(sb, req);
    let index = folio.index();
    let mut ra = *lock(&inode.mapping.ra);
    let expected = (ra.start + ra.size).saturating_sub(ra.async_size) / folio.nr_pages() * folio.nr_pages();
    if index == expected {
        ra.start += ra.size;
        ra.size = ra.size.max(get_next_ra_size(ra.size, max_pages));
    } else {
        // A marked folio without valid readahead state (interleaved streams): the cached run
        // after it stands for the old window (`page_cache_next_miss`).
        let start = inode.mapping.next_miss(index + 1, index + 1 + max_pages);
        if start - index > max_pages {
            return;
        }
        ra.start = start;
        ra.size = start - index + req;
        ra.size = get_next_ra_size(ra.size, max_pages);
    }
    ra.order += 2;
    let align = 1u64 << ra.order.min(max_pages.trailing_zeros());
    let end = ra.start + ra.size;
    let aligned_end = end / align * align;
    if aligned_end > ra.start {
        ra.size -= end - aligned_end;
    }
    ra.async_size = ra.size;
    page_cache_ra_order(sb, inode, &mut ra, wait);
    let mut cur = lock(&inode.mapping.ra);
    let prev_pos = cur.prev_pos;
    *cur = RaState { prev_pos, ..ra };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_follow_the_kernel() {
        // 128 KiB readahead = 32 pages.
        assert_eq!(get_init_ra_size(1, 32), 4);
        assert_eq!(get_init_ra_size(4, 32), 8);
        assert_eq!(get_init_ra_size(16, 32), 32);
        assert_eq!(get_next_ra_size(4, 32), 8);
        assert_eq!(get_next_ra_size(1, 32), 4);
        assert_eq!(get_next_ra_size(16, 32), 32);
        assert_eq!(get_next_ra_size(32, 32), 32);
        // A loop device's 2560 KiB = 640 pages.
        assert_eq!(get_init_ra_size(1, 640), 4);
        assert_eq!(get_next_ra_size(4, 640), 16);
        assert_eq!(get_next_ra_size(16, 640), 64);
        assert_eq!(get_next_ra_size(64, 640), 128);
    }
}
