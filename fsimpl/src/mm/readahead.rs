//! On-demand readahead (`mm/readahead.c`): sequential reads grow a window that is read ahead
//! of the reader; random reads read just what was asked.

use super::AddressSpaceOps;
use super::{PAGE_SHIFT, PAGE_SIZE};
use crate::error::{FsError, Result};
use crate::mm::Ctx;
use crate::stats::Stats;

/// Largest read the device takes at once, in pages: a large read request is read in one
/// window up to this (`bdi->io_pages`).
pub const IO_PAGES: u64 = 512;

/// `get_init_ra_size`: the first window for a request of `req` pages.
fn init_ra_size(req: u64, max: u64) -> u64 {
    let n = req.next_power_of_two();
    if n <= max / 32 {
        n * 4
    } else if n <= max / 4 {
        n * 2
    } else {
        max
    }
}

/// `get_next_ra_size`: the window after one of `cur` pages.
fn next_ra_size(cur: u64, max: u64) -> u64 {
    if cur < max / 16 {
        4 * cur
    } else if cur <= max / 2 {
        2 * cur
    } else {
        max
    }
}

fn max_pages<A: AddressSpaceOps>(cx: &Ctx<'_, A>, req: u64) -> u64 {
    let ra = (cx.fs.opts.readahead_kb as u64 * 1024 / PAGE_SIZE as u64).max(1);
    if req > ra { req.min(IO_PAGES).max(ra) } else { ra }
}

/// A read missed the cache at page `index`, wanting `req` pages (`page_cache_sync_ra`).
pub fn sync_ra<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, index: u64, req: u64) -> Result<()> {
    let max = max_pages(cx, req);
    let prev = cx.mapping.ra.prev_index;
    let sequential = index == 0 || index.wrapping_sub(prev) <= 1;
    if !sequential {
        // A standalone random read: read what was asked, in order-0 folios
        // (`do_page_cache_ra` over `page_cache_ra_unbounded`).
        return read_window(cx, index, req, 0, false);
    }
    let size = init_ra_size(req, max);
    let ra = &mut cx.mapping.ra;
    ra.start = index;
    ra.size = size;
    ra.async_size = if size > req { size - req } else { size / 2 };
    let (start, size, async_size) = (ra.start, ra.size, ra.async_size);
    read_window(cx, start, size, size - async_size, true)
}

/// A read reached the folio carrying the readahead marker: read the next window now
/// (`page_cache_async_ra`).
pub fn async_ra<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, req: u64) -> Result<()> {
    let max = max_pages(cx, req);
    let ra = &mut cx.mapping.ra;
    ra.start += ra.size;
    ra.size = next_ra_size(ra.size, max);
    ra.async_size = ra.size;
    let (start, size) = (ra.start, ra.size);
    read_window(cx, start, size, 0, true)
}

/// Adds folios for the uncached pages of `[start, start + nr)` that lie before EOF, the one
/// at `start + mark` carrying the readahead marker, and has the backend read them
/// (`page_cache_ra_order` + `read_pages`). With `large`, folios are as large as the window,
/// the alignment and the backend allow; otherwise order 0.
fn read_window<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, start: u64, nr: u64, mark: u64, large: bool) -> Result<()> {
    let i_size = cx.i_size();
    if i_size == 0 {
        return Ok(());
    }
    let eof_index = (i_size - 1) >> PAGE_SHIFT;
    let end = (start + nr).min(eof_index + 1);
    if start >= end {
        return Ok(());
    }
    let max_order = if large { (63 - (end - start).leading_zeros()) as usize } else { 0 };
    let mark_index = start + mark;
    let mut index = start;
    let mut added = false;
    while index < end {
        if let Some(s) = cx.mapping.folio_start(index) {
            index = cx.folio(s).end_index();
            continue;
        }
        let mut order = max_order;
        while order > 0 && index + (1 << order) > end {
            order -= 1;
        }
        let (s, _) = match cx.grab_folio(index, order) {
            Ok(v) => v,
            Err(FsError::NoMemory) if added => break,
            Err(e) => return Err(e),
        };
        added = true;
        let f = cx.folio(s);
        f.set_locked(true);
        if mark > 0 && (f.index()..f.end_index()).contains(&mark_index) {
            f.set_readahead_mark(true);
        }
        index = f.end_index();
    }
    if !added {
        return Ok(());
    }
    Stats::bump(&cx.fs.stats.readahead_windows, 1);
    let fs = cx.fs;
    fs.aops.readahead(cx, start, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_follow_the_kernel() {
        // 128 KiB readahead = 32 pages.
        assert_eq!(init_ra_size(1, 32), 4);
        assert_eq!(init_ra_size(4, 32), 8);
        assert_eq!(init_ra_size(16, 32), 32);
        assert_eq!(next_ra_size(4, 32), 8);
        assert_eq!(next_ra_size(1, 32), 4);
        assert_eq!(next_ra_size(16, 32), 32);
        assert_eq!(next_ra_size(32, 32), 32);
    }
}
