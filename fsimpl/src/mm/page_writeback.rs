//! Starting writeback: data-integrity writeback of a range (`filemap_write_and_wait_range`)
//! and the dirty-threshold check after each write (`balance_dirty_pages`).

use super::AddressSpaceOps;
use super::{PAGE_SHIFT, WritebackMode};
use crate::error::Result;
use crate::mm::Ctx;

/// Pages one background writeback pass writes for an inode (`MAX_WRITEBACK_PAGES`, 4 MiB).
pub const MAX_WRITEBACK_PAGES: u64 = 1024;

/// Writes back every dirty folio overlapping bytes `[start, end)` and waits.
pub fn write_and_wait<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, start: u64, end: u64) -> Result<()> {
    if cx.mapping.nr_dirty() == 0 {
        return Ok(());
    }
    let fs = cx.fs;
    let mut wbc = WritebackControl::sync_range(start, end);
    fs.aops.writepages(cx, &mut wbc)
}

/// After a write (`balance_dirty_pages_ratelimited`): above the background threshold the
/// flusher's share is one pass of [`MAX_WRITEBACK_PAGES`] of this inode; above the hard
/// threshold (`dirty_ratio`) the writer is throttled until writeback brings the level under
/// the background threshold. Passes resume where the last stopped and wrap at EOF
/// (`range_cyclic`). The writer does the flusher's work inline so that counters stay
/// deterministic.
pub fn balance_dirty_pages<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>) -> Result<()> {
    if cx.fs.opts.writeback != WritebackMode::On {
        return Ok(());
    }
    let fs = cx.fs;
    let background = fs.opts.cache_bytes * fs.opts.dirty_background_ratio as u64 / 100;
    let hard = fs.opts.cache_bytes * fs.opts.dirty_ratio as u64 / 100;
    let throttled = fs.stats.dirty_bytes.get() > hard;
    while fs.stats.dirty_bytes.get() > background && cx.mapping.nr_dirty() > 0 {
        let from = cx.mapping.writeback_index;
        let mut wbc = WritebackControl::background(from << PAGE_SHIFT, MAX_WRITEBACK_PAGES);
        crate::stats::Stats::bump(&fs.stats.writeback_passes, 1);
        fs.aops.writepages(cx, &mut wbc)?;
        let wrote = MAX_WRITEBACK_PAGES - wbc.nr_to_write;
        cx.mapping.writeback_index = if wbc.nr_to_write == 0 { wbc.done_index } else { 0 };
        if !throttled || (wrote == 0 && from == 0) {
            break;
        }
    }
    Ok(())
}

/// What a writeback pass should do (`struct writeback_control`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritebackControl {
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
    /// Pages still to write; writeback stops after a folio takes it to zero.
    pub nr_to_write: u64,
    /// Data-integrity writeback (`WB_SYNC_ALL`, fsync) rather than background.
    pub sync: bool,
    /// Set by `writepages`: the page after the last folio it looked at, where the next
    /// background pass resumes (`mapping->writeback_index`).
    pub done_index: u64,
}

impl WritebackControl {
    /// Everything in `[start, end)`, for data integrity.
    pub fn sync_range(start: u64, end: u64) -> Self {
        WritebackControl { start, end, nr_to_write: u64::MAX, sync: true, done_index: 0 }
    }

    /// Background writeback of about `pages` pages from byte `start` to EOF.
    pub fn background(start: u64, pages: u64) -> Self {
        WritebackControl { start, end: u64::MAX, nr_to_write: pages, sync: false, done_index: 0 }
    }
}
