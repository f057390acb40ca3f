//! Per-device writeback (`struct bdi_writeback`, `mm/backing-dev.c`, `fs/fs-writeback.c`):
//! the lists of dirty inodes, the flusher thread that writes them back, and the write
//! bandwidth estimate that dirty throttling paces writers by.
//!
//! The flusher (`wb_workfn`) sleeps until it is woken — by a writer over the background
//! threshold (`wb_start_background_writeback`), by reclaim finding dirty folios
//! (`wakeup_flusher_threads(WB_REASON_VMSCAN)`) — or until `dirty_writeback_centisecs` pass.
//! Then it writes back inodes (`writeback_sb_inodes`), a chunk of each at a time
//! (`writeback_chunk_size`), while dirty data is over the background threshold
//! (`wb_check_background_flush`), and inodes dirtied longer than `dirty_expire_centisecs`
//! ago (`wb_check_old_data_flush`).

use super::AddressSpaceOps;
use super::inode::{I_DIRTY_PAGES, I_ON_LIST, I_SYNC, Inode};
use super::page_alloc::PAGE_SHIFT;
use super::page_writeback::{WritebackControl, dirty_thresholds, do_writepages};
use super::sb::Sb;
use crate::error::{FsError, Result};
use crate::kernel::lock;
use crate::kernel::wait::WaitQueue;
use crate::kernel::workqueue::{KThread, kthread_run};
use crate::kernel::xarray::Mark;
use crate::options::WritebackMode;
use crate::stats::Ev;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Pages a background or periodic pass writes of one inode at least
/// (`MIN_WRITEBACK_PAGES`, 4 MiB).
pub const MIN_WRITEBACK_PAGES: u64 = 4096 >> (PAGE_SHIFT - 10);
/// A new device's write bandwidth estimate, bytes per second (`INIT_BW`: 100 MB/s).
const INIT_BW: u64 = 100 << 20;
/// How often the bandwidth estimate is refreshed (`BANDWIDTH_INTERVAL`, 200 ms).
const BANDWIDTH_INTERVAL: Duration = Duration::from_millis(200);

/// The dirty-inode lists (`b_dirty`, `b_io`, `b_more_io`), under `wb->list_lock`.
struct Lists<P> {
    b_dirty: VecDeque<Arc<Inode<P>>>,
    b_io: VecDeque<Arc<Inode<P>>>,
    b_more_io: VecDeque<Arc<Inode<P>>>,
}

/// What the flusher has been asked to do.
#[derive(Default)]
struct Work {
    /// Dirty data passed the background threshold (`WB_start_all` for background).
    background: bool,
    /// Reclaim found dirty folios: write everything back (`WB_REASON_VMSCAN`).
    vmscan: bool,
    stop: bool,
}

/// The write bandwidth estimate (`wb->avg_write_bandwidth`).
struct Bandwidth {
    stamp: Instant,
    written_stamp: u64,
    avg: u64,
}

/// Writeback state of one mounted filesystem.
pub(crate) struct Writeback<P> {
    lists: Mutex<Lists<P>>,
    work: Mutex<Work>,
    wake: Condvar,
    /// Woken as writeback completes: writers paused by throttling and reclaim waiting for
    /// clean folios wait here (`wb->bw_wait`, the reclaim throttle queue).
    pub(crate) done: WaitQueue,
    /// Bytes whose writeback completed (`WB_WRITTEN`).
    written: AtomicU64,
    bw: Mutex<Bandwidth>,
    thread: Mutex<Option<KThread>>,
}

impl<P> Writeback<P> {
    pub(crate) fn new() -> Self {
        Writeback {
            lists: Mutex::new(Lists { b_dirty: VecDeque::new(), b_io: VecDeque::new(), b_more_io: VecDeque::new() }),
            work: Mutex::new(Work::default()),
            wake: Condvar::new(),
            done: WaitQueue::new(),
            written: AtomicU64::new(0),
            bw: Mutex::new(Bandwidth { stamp: Instant::now(), written_stamp: 0, avg: INIT_BW }),
            thread: Mutex::new(None),
        }
    }

    /// An inode's pages went dirty (`__mark_inode_dirty(I_DIRTY_PAGES)`): it joins the dirty
    /// list, stamped now, unless it is on a list or being written already.
    pub(crate) fn mark_inode_dirty(&self, inode: &Arc<Inode<P>>) {
        let mut st = lock(&inode.wb);
        if st.flags & I_DIRTY_PAGES != 0 {
            return;
        }
        st.flags |= I_DIRTY_PAGES;
        st.dirtied_when = Instant::now();
        if st.flags & (I_SYNC | I_ON_LIST) == 0 {
            st.flags |= I_ON_LIST;
            lock(&self.lists).b_dirty.push_back(inode.clone());
        }
    }

    /// Writeback of `bytes` completed (`wb_writeback_completion`).
    pub(crate) fn written(&self, bytes: u64) {
        self.written.fetch_add(bytes, Relaxed);
        self.done.wake_up_all();
    }

    /// The write bandwidth estimate in bytes per second, refreshed at most every 200 ms from
    /// what completed meanwhile (`wb_update_bandwidth`: the new rate is averaged in).
    pub(crate) fn bandwidth(&self) -> u64 {
        let mut bw = lock(&self.bw);
        let now = Instant::now();
        let elapsed = now.duration_since(bw.stamp);
        if elapsed >= BANDWIDTH_INTERVAL {
            let written = self.written.load(Relaxed);
            let rate = ((written - bw.written_stamp) as f64 / elapsed.as_secs_f64()) as u64;
            // Only periods with writeback in them say anything about the device.
            if written > bw.written_stamp {
                bw.avg = (bw.avg * 3 + rate) / 4;
            }
            bw.stamp = now;
            bw.written_stamp = written;
        }
        bw.avg.max(1 << 20)
    }

    /// Asks the flusher for background writeback (`wb_start_background_writeback`).
    pub(crate) fn start_background(&self) {
        let mut w = lock(&self.work);
        if !w.background {
            w.background = true;
            self.wake.notify_one();
        }
    }

    /// Asks the flusher to write back everything, for reclaim
    /// (`wakeup_flusher_threads(WB_REASON_VMSCAN)`).
    pub(crate) fn start_vmscan(&self) {
        let mut w = lock(&self.work);
        if !w.vmscan {
            w.vmscan = true;
            self.wake.notify_one();
        }
    }

    /// Stops the flusher thread, if there is one, and waits for it.
    pub(crate) fn stop(&self) {
        lock(&self.work).stop = true;
        self.wake.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            t.join();
        }
    }
}

/// Starts the flusher thread of `sb`.
pub(crate) fn start_flusher<A: AddressSpaceOps>(sb: &Arc<Sb<A>>) -> Result<()> {
    let s = sb.clone();
    let t = kthread_run(move || wb_workfn(&s))
        .map_err(|e| FsError::invalid(format!("cannot start the flusher thread: {e}")))?;
    *lock(&sb.wb.thread) = Some(t);
    Ok(())
}

/// Why a pass runs (`enum wb_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// Dirty data over the background threshold.
    Background,
    /// Old dirty data (`WB_REASON_PERIODIC`, kupdate).
    Periodic,
    /// Reclaim wants clean folios.
    Vmscan,
}

/// The flusher thread (`wb_workfn` → `wb_do_writeback`).
fn wb_workfn<A: AddressSpaceOps>(sb: &Sb<A>) {
    let interval = Duration::from_millis(u64::from(sb.opts.dirty_writeback_centisecs) * 10);
    let periodic = sb.opts.dirty_writeback_centisecs > 0 && sb.opts.writeback != WritebackMode::Off;
    let mut last_old_flush = Instant::now();
    loop {
        let (background, vmscan) = {
            let mut w = lock(&sb.wb.work);
            loop {
                if w.stop {
                    return;
                }
                if w.background || w.vmscan {
                    break;
                }
                if periodic {
                    let left = interval.saturating_sub(last_old_flush.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    w = sb.wb.wake.wait_timeout(w, left).unwrap_or_else(|p| p.into_inner()).0;
                } else {
                    w = sb.wb.wake.wait(w).unwrap_or_else(|p| p.into_inner());
                }
            }
            (std::mem::take(&mut w.background), std::mem::take(&mut w.vmscan))
        };
        wb_do_writeback(sb, background, vmscan);
        if periodic && last_old_flush.elapsed() >= interval {
            last_old_flush = Instant::now();
            sb.stats.inc(Ev::FlusherPasses);
            writeback_inodes(sb, Reason::Periodic);
        }
    }
}

/// The work of one wake-up of the flusher (`wb_do_writeback`): for reclaim a pass over every
/// dirty inode, then background passes while dirty data is over the threshold
/// (`wb_check_background_flush`).
fn wb_do_writeback<A: AddressSpaceOps>(sb: &Sb<A>, background: bool, vmscan: bool) {
    sb.stats.inc(Ev::FlusherPasses);
    if vmscan {
        writeback_inodes(sb, Reason::Vmscan);
    }
    if background || vmscan {
        while over_bg_thresh(sb) && writeback_inodes(sb, Reason::Background) > 0 {}
    }
}

/// A writer found dirty data over the background threshold (`wb_start_background_writeback`).
/// With the flusher thread it is woken; with the inline flusher its work runs here, on the
/// writer's thread, to the end — the same passes over the same inodes, in an order that
/// depends only on the operations, so a run replays exactly.
pub(crate) fn wb_start_background_writeback<A: AddressSpaceOps>(sb: &Sb<A>) {
    if sb.inline() {
        wb_do_writeback(sb, true, false);
    } else {
        sb.wb.start_background();
    }
}

/// Dirty data over the background threshold (`wb_over_bg_thresh`; writeback in flight does
/// not count).
pub(crate) fn over_bg_thresh<A: AddressSpaceOps>(sb: &Sb<A>) -> bool {
    sb.opts.writeback != WritebackMode::Off && sb.stats.dirty_bytes.get() > dirty_thresholds(sb).background
}

/// Pages one pass writes of an inode (`writeback_chunk_size`): half a second of bandwidth or
/// an eighth of the dirty limit, whichever is less, rounded down to 4 MiB and at least that.
fn writeback_chunk_size<A: AddressSpaceOps>(sb: &Sb<A>) -> u64 {
    let page = 1u64 << PAGE_SHIFT;
    // The inline flusher keeps the first estimate: a measured rate would make replays differ.
    let bw = if sb.inline() { INIT_BW } else { sb.wb.bandwidth() };
    let pages = (bw / 2 / page).min(dirty_thresholds(sb).limit / page / 8);
    (pages + MIN_WRITEBACK_PAGES) / MIN_WRITEBACK_PAGES * MIN_WRITEBACK_PAGES
}

/// Moves the inodes a pass should write from `b_dirty` (and `b_more_io`) to `b_io`
/// (`queue_io`): for a periodic pass only those dirtied before the expiry time.
fn queue_io<P>(wb: &Writeback<P>, reason: Reason, expire: Duration) {
    let mut l = lock(&wb.lists);
    let more = std::mem::take(&mut l.b_more_io);
    l.b_io.extend(more);
    let now = Instant::now();
    let mut keep = VecDeque::new();
    while let Some(inode) = l.b_dirty.pop_front() {
        let old = now.duration_since(lock(&inode.wb).dirtied_when) >= expire;
        if reason != Reason::Periodic || old {
            l.b_io.push_back(inode);
        } else {
            keep.push_back(inode);
        }
    }
    l.b_dirty = keep;
}

/// One pass of the flusher over the dirty inodes (`writeback_sb_inodes`); returns the pages
/// written.
fn writeback_inodes<A: AddressSpaceOps>(sb: &Sb<A>, reason: Reason) -> u64 {
    sb.stats.inc(Ev::WritebackPasses);
    let expire = Duration::from_millis(u64::from(sb.opts.dirty_expire_centisecs) * 10);
    queue_io(&sb.wb, reason, expire);
    let mut wrote = 0;
    loop {
        if reason == Reason::Background && !over_bg_thresh(sb) {
            break;
        }
        let Some(inode) = lock(&sb.wb.lists).b_io.pop_front() else { break };
        wrote += writeback_single_inode(sb, &inode, reason);
    }
    // What was not reached goes back to the dirty list for the next pass.
    let mut l = lock(&sb.wb.lists);
    let rest = std::mem::take(&mut l.b_io);
    l.b_dirty.extend(rest);
    wrote
}

/// Writes a chunk of one inode (`__writeback_single_inode`) and puts it back on the right
/// list (`requeue_inode`); returns the pages written.
fn writeback_single_inode<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Arc<Inode<A::Private>>, reason: Reason) -> u64 {
    {
        let mut st = lock(&inode.wb);
        if st.flags & I_SYNC != 0 {
            // Someone else is writing it: try again in a later pass.
            drop(st);
            lock(&sb.wb.lists).b_more_io.push_back(inode.clone());
            return 0;
        }
        st.flags = (st.flags | I_SYNC) & !(I_DIRTY_PAGES | I_ON_LIST);
    }
    let chunk = if reason == Reason::Vmscan { u64::MAX } else { writeback_chunk_size(sb) };
    let from = inode.mapping.writeback_index.load(Relaxed);
    let mut wbc = WritebackControl::background(from << PAGE_SHIFT, chunk);
    wbc.for_kupdate = reason == Reason::Periodic;
    let result = do_writepages(sb, inode, &mut wbc);
    if let Err(e) = result {
        inode.mapping.set_error(e.errno());
    }
    let wrote = chunk.saturating_sub(wbc.nr_to_write);
    inode.mapping.writeback_index.store(if wbc.nr_to_write == 0 { wbc.done_index } else { 0 }, Relaxed);
    // requeue_inode
    let mut st = lock(&inode.wb);
    st.flags &= !I_SYNC;
    let still_dirty = inode.mapping.has_mark(0, u64::MAX, Mark::Dirty);
    if still_dirty {
        st.flags |= I_DIRTY_PAGES | I_ON_LIST;
        let mut l = lock(&sb.wb.lists);
        if wbc.nr_to_write == 0 {
            // Used its whole chunk: more to do soon (`requeue_io`).
            l.b_more_io.push_back(inode.clone());
        } else {
            // Could not write what is left now (locked folios, say): later (`redirty_tail`).
            l.b_dirty.push_back(inode.clone());
        }
    } else {
        st.flags &= !I_DIRTY_PAGES;
    }
    drop(st);
    inode.sync_done.wake_up_all();
    wrote
}
