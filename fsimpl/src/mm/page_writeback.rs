//! Dirty folios and their writeback (`mm/page-writeback.c`): marking folios dirty and the
//! accounting that goes with it, starting and ending writeback, walking the dirty folios of
//! a range (`write_cache_pages` / `writeback_iter`), writing a range and waiting for it
//! (`filemap_write_and_wait_range`), and throttling writers (`balance_dirty_pages`).

use super::AddressSpaceOps;
use super::backing_dev::{over_bg_thresh, wb_start_background_writeback};
use super::folio::{Folio, FolioPrivate};
use super::inode::Inode;
use super::page_alloc::{PAGE_SHIFT, PAGE_SIZE};
use super::sb::Sb;
use crate::dev::blk_start_plug;
use crate::error::Result;
use crate::kernel::xarray::Mark;
use crate::options::WritebackMode;
use crate::stats::Ev;
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

/// Longest a throttled writer pauses at once (`MAX_PAUSE`, 200 ms).
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// What a writeback pass should do (`struct writeback_control`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritebackControl {
    /// First byte of the range (`range_start`).
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
    /// Pages still to write; writeback stops after a folio takes it to zero.
    pub nr_to_write: u64,
    /// Data-integrity writeback (`WB_SYNC_ALL`, fsync) rather than background.
    pub sync: bool,
    /// A periodic pass of old data (`for_kupdate`).
    pub for_kupdate: bool,
    /// Set by `writepages`: the page after the last folio it looked at, where the next
    /// background pass resumes (`mapping->writeback_index`).
    pub done_index: u64,
    /// Writeback may allocate blocks for delayed and unwritten data; off for the journal's
    /// ordered-data writeback, which writes only what is mapped (ext4's `mpd->can_map`).
    pub can_map: bool,
}

impl WritebackControl {
    /// Everything in `[start, end)`, for data integrity.
    pub fn sync_range(start: u64, end: u64) -> Self {
        WritebackControl {
            start,
            end,
            nr_to_write: u64::MAX,
            sync: true,
            for_kupdate: false,
            done_index: 0,
            can_map: true,
        }
    }

    /// Background writeback of about `pages` pages from byte `start` to EOF.
    pub fn background(start: u64, pages: u64) -> Self {
        WritebackControl {
            start,
            end: u64::MAX,
            nr_to_write: pages,
            sync: false,
            for_kupdate: false,
            done_index: 0,
            can_map: true,
        }
    }

    /// Everything in `[start, end)`, started but not waited for (`WB_SYNC_NONE` over a
    /// range, as `filemap_fdatawrite_range_kick` asks).
    pub fn kick_range(start: u64, end: u64) -> Self {
        WritebackControl {
            start,
            end,
            nr_to_write: u64::MAX,
            sync: false,
            for_kupdate: false,
            done_index: 0,
            can_map: true,
        }
    }

    /// First page of the range.
    pub fn start_index(&self) -> u64 {
        self.start >> PAGE_SHIFT
    }

    /// One past the last page of the range.
    pub fn end_index(&self) -> u64 {
        if self.end == u64::MAX { u64::MAX } else { self.end.div_ceil(PAGE_SIZE as u64) }
    }
}

/// Marks a folio dirty (`filemap_dirty_folio`): the flag, the dirty accounting, the dirty tag,
/// and the inode onto the dirty list. Returns whether it was clean. The caller holds the
/// folio lock.
pub(crate) fn folio_mark_dirty<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    folio: &Folio<A::Private>,
) -> bool {
    if !folio.test_set_dirty() {
        return false;
    }
    sb.stats.dirty_bytes.add(folio.size() as u64);
    inode.mapping.set_mark(folio, Mark::Dirty);
    sb.wb.mark_inode_dirty(inode);
    true
}

/// Clears the dirty flag before writing the folio (`folio_clear_dirty_for_io`); whether it
/// was dirty. The dirty tag goes when writeback starts. The caller holds the folio lock.
pub(crate) fn folio_clear_dirty_for_io<A: AddressSpaceOps>(sb: &Sb<A>, folio: &Folio<A::Private>) -> bool {
    if !folio.test_clear_dirty() {
        return false;
    }
    sb.stats.dirty_bytes.sub(folio.size() as u64);
    true
}

/// Drops the dirty state of a folio leaving the cache (`folio_cancel_dirty`).
pub(crate) fn folio_cancel_dirty<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Inode<A::Private>, folio: &Folio<A::Private>) {
    if folio_clear_dirty_for_io(sb, folio) {
        inode.mapping.clear_mark(folio, Mark::Dirty);
    }
}

/// Starts writeback of a locked folio whose dirty flag was cleared for I/O
/// (`__folio_start_writeback`): PG_writeback, the writeback tag, dirty and to-write tags off.
pub(crate) fn folio_start_writeback<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Inode<A::Private>,
    folio: &Folio<A::Private>,
) {
    let was = folio.test_set_writeback();
    debug_assert!(!was, "starting writeback of a folio under writeback");
    sb.stats.writeback_inflight_bytes.add(folio.size() as u64);
    let clear: &[Mark] = if folio.dirty() { &[Mark::Towrite] } else { &[Mark::Dirty, Mark::Towrite] };
    inode.mapping.update_marks(folio, &[Mark::Writeback], clear);
}

/// Ends writeback of a folio (`folio_end_writeback`): the tag and flag off, waiters woken,
/// and a folio asked to drop behind (RWF_DONTCACHE) removed from the cache if it can be
/// (`folio_end_dropbehind`). Runs in the completion context and consumes its reference.
pub(crate) fn folio_end_writeback<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Inode<A::Private>, folio: Folio<A::Private>) {
    inode.mapping.clear_mark(&folio, Mark::Writeback);
    let bytes = folio.size() as u64;
    sb.stats.writeback_inflight_bytes.sub(bytes);
    if folio.dropbehind() {
        let keep = folio.clone();
        folio.clear_writeback_put();
        if !keep.dirty() && keep.trylock() {
            super::truncate::folio_drop_behind(sb, inode, &keep);
            keep.unlock();
        }
    } else {
        folio.clear_writeback_put();
    }
    sb.wb.written(bytes);
}

/// Puts a folio that writeback could not write back to dirty (`folio_redirty_for_writepage`).
pub(crate) fn folio_redirty<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, folio: &Folio<A::Private>) {
    folio_mark_dirty(sb, inode, folio);
}

/// A walk over the dirty folios of a writeback range (`writeback_iter`): a data-integrity
/// pass tags what is dirty when it starts (`tag_pages_for_writeback`) and writes exactly
/// that; a background pass takes what is dirty as it goes and skips folios under writeback.
pub(crate) struct WbIter {
    index: u64,
    end: u64,
    mark: Mark,
}

impl WbIter {
    /// Starts a walk over `wbc`'s range of `inode`.
    pub(crate) fn new<P: FolioPrivate>(inode: &Inode<P>, wbc: &WritebackControl) -> Self {
        let (index, end) = (wbc.start_index(), wbc.end_index());
        let mark = if wbc.sync {
            inode.mapping.tag_pages_for_writeback(index, end);
            Mark::Towrite
        } else {
            Mark::Dirty
        };
        WbIter { index, end, mark }
    }

    /// The page the walk has reached.
    pub(crate) fn index(&self) -> u64 {
        self.index
    }

    /// Makes the walk look at the folio at page `index` again next.
    pub(crate) fn rewind_to(&mut self, index: u64) {
        self.index = index;
    }

    /// The next dirty folio, locked, still cached and dirty, not under writeback (waited for
    /// in a data-integrity pass, skipped otherwise); its dirty flag is left set.
    pub(crate) fn next_locked<A: AddressSpaceOps>(
        &mut self,
        sb: &Sb<A>,
        inode: &Inode<A::Private>,
        wbc: &WritebackControl,
    ) -> Option<Folio<A::Private>> {
        loop {
            let f = inode.mapping.find(&sb.pool, self.index, self.end, Some(self.mark))?;
            self.index = f.end_index().max(self.index + 1);
            f.lock();
            if !inode.mapping.owns(&f) || !f.dirty() {
                f.unlock();
                continue;
            }
            if f.writeback() {
                if !wbc.sync {
                    f.unlock();
                    continue;
                }
                f.wait_writeback();
            }
            return Some(f);
        }
    }

    /// As [`WbIter::next_locked`], with the dirty flag cleared for I/O.
    pub(crate) fn next<A: AddressSpaceOps>(
        &mut self,
        sb: &Sb<A>,
        inode: &Inode<A::Private>,
        wbc: &WritebackControl,
    ) -> Option<Folio<A::Private>> {
        loop {
            let f = self.next_locked(sb, inode, wbc)?;
            if folio_clear_dirty_for_io(sb, &f) {
                return Some(f);
            }
            f.unlock();
        }
    }
}

/// Writes back dirty folios of `wbc`'s range under a plug (`do_writepages`). With the
/// inline flusher, waits until the I/O it started has completed.
pub(crate) fn do_writepages<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    wbc: &mut WritebackControl,
) -> Result<()> {
    if !inode.mapping.has_mark(wbc.start_index(), wbc.end_index(), Mark::Dirty) {
        return Ok(());
    }
    let plug = blk_start_plug();
    let r = sb.aops.writepages(sb, inode, wbc);
    drop(plug);
    if sb.inline() {
        filemap_fdatawait_range(sb, inode, wbc.start, wbc.end);
    }
    r
}

/// Waits for writeback of the folios of bytes `[start, end)` (`filemap_fdatawait_range`).
pub(crate) fn filemap_fdatawait_range<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Inode<A::Private>, start: u64, end: u64) {
    let end_index = if end == u64::MAX { u64::MAX } else { end.div_ceil(PAGE_SIZE as u64) };
    let mut index = start >> PAGE_SHIFT;
    while let Some(f) = inode.mapping.find(&sb.pool, index, end_index, Some(Mark::Writeback)) {
        index = f.end_index().max(index + 1);
        f.wait_writeback();
    }
}

/// Writes back the dirty folios of bytes `[start, end)` and waits for them
/// (`filemap_write_and_wait_range`).
pub(crate) fn filemap_write_and_wait_range<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    start: u64,
    end: u64,
) -> Result<()> {
    let mut wbc = WritebackControl::sync_range(start, end);
    let r = do_writepages(sb, inode, &mut wbc);
    filemap_fdatawait_range(sb, inode, start, end);
    r
}

/// Starts writeback of the dirty folios of bytes `[start, end)` without waiting
/// (`filemap_fdatawrite_range_kick`, what RWF_DONTCACHE writes do).
pub(crate) fn filemap_fdatawrite_range_kick<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Arc<Inode<A::Private>>,
    start: u64,
    end: u64,
) -> Result<()> {
    let mut wbc = WritebackControl::kick_range(start, end);
    do_writepages(sb, inode, &mut wbc)
}

/// The dirty thresholds of a mount, in bytes (`domain_dirty_limits`): the page cache is the
/// dirtyable memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DirtyThresholds {
    /// Background writeback starts above this (`dirty_background_ratio`).
    pub background: u64,
    /// Writers are throttled up to this (`dirty_ratio`).
    pub limit: u64,
}

impl DirtyThresholds {
    /// Half way between the two: below it writers run free (`dirty_freerun_ceiling`).
    pub fn freerun(&self) -> u64 {
        (self.background + self.limit) / 2
    }
}

pub(crate) fn dirty_thresholds<A: AddressSpaceOps>(sb: &Sb<A>) -> DirtyThresholds {
    let mem = sb.pool.bytes();
    let (bg, ratio) = match sb.opts.writeback {
        WritebackMode::Off => (100, 100),
        _ => (sb.opts.dirty_background_ratio, sb.opts.dirty_ratio),
    };
    DirtyThresholds { background: mem * u64::from(bg) / 100, limit: mem * u64::from(ratio) / 100 }
}

thread_local! {
    /// Pages this thread dirtied since its last check, and the count at which it checks
    /// next (`current->nr_dirtied`, `current->nr_dirtied_pause`).
    static DIRTIED: Cell<(u64, u64)> = const { Cell::new((0, 32)) };
}

/// After a folio was dirtied (`balance_dirty_pages_ratelimited`): every few pages a writer
/// checks the dirty level.
///
/// With the flusher thread, the writer never writes back: over the background threshold it
/// wakes the flusher, and over the freerun ceiling it pauses in proportion to how far the
/// level is over the setpoint and to the device's write bandwidth (`balance_dirty_pages`).
/// With the inline flusher, a writer over the background threshold runs the flusher's work
/// itself, to the end ([`wb_start_background_writeback`]), and never pauses.
pub(crate) fn balance_dirty_pages_ratelimited<A: AddressSpaceOps>(sb: &Sb<A>, pages: u64) {
    if sb.opts.writeback != WritebackMode::On {
        return;
    }
    if sb.inline() {
        if over_bg_thresh(sb) {
            wb_start_background_writeback(sb);
        }
        return;
    }
    let (dirtied, pause_at) = DIRTIED.get();
    let dirtied = dirtied + pages;
    if dirtied < pause_at {
        DIRTIED.set((dirtied, pause_at));
        return;
    }
    let next = balance_dirty_pages(sb, dirtied);
    DIRTIED.set((0, next));
}

/// `dirty_poll_interval`: how many pages a writer may dirty before it looks again, the
/// square root of the room left below `thresh`.
fn dirty_poll_interval(dirty: u64, thresh: u64) -> u64 {
    let room = thresh.saturating_sub(dirty) >> PAGE_SHIFT;
    if room > 1 { 1 << (room.ilog2() / 2) } else { 1 }
}

/// IO-less dirty throttling (`balance_dirty_pages`); returns when to check again, in pages.
fn balance_dirty_pages<A: AddressSpaceOps>(sb: &Sb<A>, pages_dirtied: u64) -> u64 {
    let t = dirty_thresholds(sb);
    loop {
        let nr_dirty = sb.stats.dirty_bytes.get();
        let dirty = nr_dirty + sb.stats.writeback_inflight_bytes.get();
        if nr_dirty > t.background {
            wb_start_background_writeback(sb);
        }
        let freerun = t.freerun();
        if dirty <= freerun {
            return dirty_poll_interval(dirty, freerun);
        }
        // wb_position_ratio: 1 at the setpoint, up to 2 below it, down to 0 at the limit
        // (`pos_ratio_polynom`).
        let setpoint = (freerun + t.limit) / 2;
        let x = (setpoint as f64 - dirty as f64) / ((t.limit.saturating_sub(setpoint)) as f64 + 1.0);
        let pos_ratio = (1.0 + x * x * x).clamp(0.0, 2.0);
        let bw = sb.wb.bandwidth();
        // task_ratelimit: the rate this writer may dirty at; its pause pays for the pages it
        // dirtied at that rate.
        let task_ratelimit = (bw as f64 * pos_ratio).max(PAGE_SIZE as f64);
        // wb_max_pause: no longer than it takes to write an eighth of what is dirty.
        let max_pause = Duration::from_secs_f64((dirty as f64 / bw as f64 / 8.0).max(0.004)).min(MAX_PAUSE);
        let mut pause = Duration::from_secs_f64((pages_dirtied * PAGE_SIZE as u64) as f64 / task_ratelimit);
        if dirty >= t.limit {
            pause = max_pause;
        }
        let pause = pause.min(max_pause);
        if pause < Duration::from_millis(1) {
            // Too short to sleep: check again after more pages (`min_pause` handling).
            return dirty_poll_interval(dirty, t.limit).max(pages_dirtied * 2);
        }
        sb.stats.inc(Ev::DirtyPauses);
        // The kernel's pause (`io_schedule_timeout(pause)`): a throttled writer sleeps for
        // the time its dirtying costs at the device's pace; the flusher writes meanwhile.
        std::thread::sleep(pause);
        if sb.stats.dirty_bytes.get() + sb.stats.writeback_inflight_bytes.get() < t.limit {
            return dirty_poll_interval(dirty, t.limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_interval_is_the_square_root_of_the_room_left() {
        assert_eq!(dirty_poll_interval(0, 1 << 30), 512);
        assert_eq!(dirty_poll_interval(1 << 30, 1 << 30), 1);
        assert_eq!(dirty_poll_interval(0, 64 << 12), 8);
    }
}
