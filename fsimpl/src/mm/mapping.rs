//! The page cache of one file (`struct address_space`): folios by index in an XArray under
//! its lock (`i_pages`, `xa_lock`), tagged dirty, under writeback and to-write, with the
//! file's readahead state and writeback error.

use super::folio::{Folio, FolioPrivate};
use super::page_alloc::FolioPool;
use crate::kernel::xarray::{Mark, XArray};
use crate::kernel::{lock, read, write};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};

/// Sequential readahead state of a file (`struct file_ra_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaState {
    /// First page of the current window.
    pub start: u64,
    /// Pages in the window.
    pub size: u64,
    /// Pages from the end of the window at which the next one starts (the marker).
    pub async_size: u64,
    /// Folio order the next window asks for (`ra->order`).
    pub order: u32,
    /// Byte after the last one read by the previous read call (`prev_pos`).
    pub prev_pos: u64,
}

/// The folios of one file.
pub struct AddressSpace<P> {
    i_pages: RwLock<XArray>,
    nrpages: AtomicU64,
    /// Readahead state (per open file in the kernel; one per inode here).
    pub ra: Mutex<RaState>,
    /// Page where background writeback resumes (`mapping->writeback_index`).
    pub writeback_index: AtomicU64,
    /// Error of a failed writeback not yet reported (`mapping->wb_err`): the next fsync
    /// reports it, once.
    wb_err: Mutex<Option<i32>>,
    _p: PhantomData<fn() -> P>,
}

impl<P> Default for AddressSpace<P> {
    fn default() -> Self {
        AddressSpace {
            i_pages: RwLock::new(XArray::new()),
            nrpages: AtomicU64::new(0),
            ra: Mutex::new(RaState::default()),
            writeback_index: AtomicU64::new(0),
            wb_err: Mutex::new(None),
            _p: PhantomData,
        }
    }
}

impl<P: FolioPrivate> AddressSpace<P> {
    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Whether `folio` is (still) cached here.
    pub(crate) fn owns(&self, folio: &Folio<P>) -> bool {
        folio.mapping() == self.addr()
    }

    /// The folio covering page `index`, with a reference (`filemap_get_entry` +
    /// `folio_try_get`).
    pub fn get(&self, pool: &FolioPool, index: u64) -> Option<Folio<P>> {
        let xa = read(&self.i_pages);
        let e = xa.load(index)?;
        // The tree holds a reference and removal needs the write lock: the folio is alive.
        Some(Folio::from_pfn(pool, e.value))
    }

    /// The first folio overlapping pages `[start, end)`, with `mark` if given (`xa_find`).
    pub fn find(&self, pool: &FolioPool, start: u64, end: u64, mark: Option<Mark>) -> Option<Folio<P>> {
        let xa = read(&self.i_pages);
        let e = xa.find(start, end, mark)?;
        Some(Folio::from_pfn(pool, e.value))
    }

    /// Up to `max` folios of consecutive pages from `start`, before `end`, stopping at a hole
    /// or after a folio that is not uptodate or carries the readahead marker
    /// (`filemap_get_read_batch`).
    pub(crate) fn get_read_batch(&self, pool: &FolioPool, start: u64, end: u64, max: usize, out: &mut Vec<Folio<P>>) {
        let xa = read(&self.i_pages);
        let mut index = start;
        while index < end && out.len() < max {
            let Some(e) = xa.load(index) else { break };
            let f: Folio<P> = Folio::from_pfn(pool, e.value);
            index = e.index + (1u64 << e.order);
            let stop = !f.uptodate() || f.readahead_mark();
            out.push(f);
            if stop {
                break;
            }
        }
    }

    /// The first page at or after `index`, before `end`, that no folio covers
    /// (`page_cache_next_miss`).
    pub(crate) fn next_miss(&self, mut index: u64, end: u64) -> u64 {
        let xa = read(&self.i_pages);
        while index < end {
            match xa.load(index) {
                Some(e) => index = e.index + (1u64 << e.order),
                None => return index,
            }
        }
        end
    }

    /// Whether no folio covers any page of `[start, end)`.
    pub(crate) fn range_empty(&self, start: u64, end: u64) -> bool {
        read(&self.i_pages).find(start, end, None).is_none()
    }

    /// Adds a locked folio at `index` (`filemap_add_folio`), taking the cache's reference;
    /// false if something is cached there already.
    pub(crate) fn add(&self, folio: &Folio<P>, index: u64) -> bool {
        let order = folio.order() as u8;
        let mut xa = write(&self.i_pages);
        if !xa.range_empty(index, order) {
            return false;
        }
        folio.set_index(index);
        folio.set_mapping(self.addr());
        std::mem::forget(folio.clone());
        xa.store(index, order, folio.pfn());
        self.nrpages.fetch_add(folio.nr_pages(), Relaxed);
        true
    }

    /// Takes a folio out (`__filemap_remove_folio`); the caller holds its lock and drops the
    /// cache's reference afterwards ([`AddressSpace::remove`] returns it).
    pub(crate) fn remove(&self, pool: &FolioPool, folio: &Folio<P>) -> Option<Folio<P>> {
        let mut xa = write(&self.i_pages);
        if !self.owns(folio) {
            return None;
        }
        xa.erase(folio.index());
        folio.set_mapping(0);
        self.nrpages.fetch_sub(folio.nr_pages(), Relaxed);
        Some(Folio::from_pfn_owned(pool, folio.pfn()))
    }

    /// Removes the folio if only the cache and the caller hold it (`__remove_mapping` with
    /// `folio_ref_freeze`): the cache's reference is returned; `None` if someone else holds
    /// it. The caller holds the folio lock.
    pub(crate) fn remove_if_unused(&self, pool: &FolioPool, folio: &Folio<P>) -> Option<Folio<P>> {
        let mut xa = write(&self.i_pages);
        if !self.owns(folio) || folio.ref_count() > 2 || folio.dirty() || folio.writeback() {
            return None;
        }
        xa.erase(folio.index());
        folio.set_mapping(0);
        self.nrpages.fetch_sub(folio.nr_pages(), Relaxed);
        Some(Folio::from_pfn_owned(pool, folio.pfn()))
    }

    /// Sets `mark` on a cached folio.
    pub(crate) fn set_mark(&self, folio: &Folio<P>, mark: Mark) {
        let mut xa = write(&self.i_pages);
        if self.owns(folio) {
            xa.set_mark(folio.index(), mark);
        }
    }

    /// Clears `mark` on a cached folio.
    pub(crate) fn clear_mark(&self, folio: &Folio<P>, mark: Mark) {
        let mut xa = write(&self.i_pages);
        if self.owns(folio) {
            xa.clear_mark(folio.index(), mark);
        }
    }

    /// Sets and clears marks of a cached folio under one lock (`__folio_start_writeback`).
    pub(crate) fn update_marks(&self, folio: &Folio<P>, set: &[Mark], clear: &[Mark]) {
        let mut xa = write(&self.i_pages);
        if !self.owns(folio) {
            return;
        }
        for &m in set {
            xa.set_mark(folio.index(), m);
        }
        for &m in clear {
            xa.clear_mark(folio.index(), m);
        }
    }

    /// Tags the dirty folios of pages `[start, end)` to-write (`tag_pages_for_writeback`), so
    /// that a data-integrity sync writes what was dirty when it began and no more.
    pub(crate) fn tag_pages_for_writeback(&self, start: u64, end: u64) {
        let mut xa = write(&self.i_pages);
        let mut index = start;
        while let Some(e) = xa.find(index, end, Some(Mark::Dirty)) {
            xa.set_mark(e.index, Mark::Towrite);
            index = e.index + (1u64 << e.order);
        }
    }

    /// Whether any folio of pages `[start, end)` carries `mark`.
    pub(crate) fn has_mark(&self, start: u64, end: u64, mark: Mark) -> bool {
        read(&self.i_pages).find(start, end, Some(mark)).is_some()
    }

    /// Number of cached pages.
    pub fn nr_pages(&self) -> u64 {
        self.nrpages.load(Relaxed)
    }

    /// Records a writeback error for the next fsync (`mapping_set_error`); the first one
    /// stays until reported.
    pub(crate) fn set_error(&self, errno: i32) {
        lock(&self.wb_err).get_or_insert(errno);
    }

    /// The unreported writeback error, reported now (`file_check_and_advance_wb_err`).
    pub(crate) fn take_error(&self) -> Option<i32> {
        lock(&self.wb_err).take()
    }
}
