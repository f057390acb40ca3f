//! The page cache of one file (`struct address_space`): folios by index, with a dirty tag.

use super::folio::{Folio, FolioPrivate};
use crate::stats::Stats;
use std::collections::{BTreeMap, BTreeSet};

/// Sequential readahead state of a file (`struct file_ra_state`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RaState {
    /// First page of the current window.
    pub start: u64,
    /// Pages in the window.
    pub size: u64,
    /// Pages from the end of the window at which the next one starts (the marker).
    pub async_size: u64,
    /// Page after the last one read by the previous read call (`prev_pos`).
    pub prev_index: u64,
}

/// The dirty tag of a file's folios (the xarray's `PAGECACHE_TAG_DIRTY`): which folios are
/// dirty, so that writeback finds them without walking clean ones.
#[derive(Debug, Default)]
pub struct DirtyTags {
    set: BTreeSet<u64>,
}

impl DirtyTags {
    /// Marks `folio` dirty: flag, tag and accounting. Returns whether it was clean.
    pub fn mark<P>(&mut self, folio: &mut Folio<P>, stats: &Stats) -> bool {
        if folio.dirty() {
            return false;
        }
        folio.set_dirty(true);
        self.set.insert(folio.index());
        stats.dirty_bytes.add(folio.size() as u64);
        true
    }

    /// Clears `folio`'s dirty state. Returns whether it was dirty.
    pub fn clear<P>(&mut self, folio: &mut Folio<P>, stats: &Stats) -> bool {
        if !folio.dirty() {
            return false;
        }
        folio.set_dirty(false);
        self.set.remove(&folio.index());
        stats.dirty_bytes.sub(folio.size() as u64);
        true
    }
}

/// Folios of one file.
pub struct AddressSpace<P> {
    folios: BTreeMap<u64, Folio<P>>,
    dirty: DirtyTags,
    nr_pages: u64,
    /// Readahead state.
    pub ra: RaState,
    /// Page where background writeback resumes (`mapping->writeback_index`).
    pub writeback_index: u64,
    /// Error of a failed writeback, reported once by the next fsync (`mapping->wb_err`).
    pub wb_err: Option<i32>,
}

impl<P> Default for AddressSpace<P> {
    fn default() -> Self {
        AddressSpace {
            folios: BTreeMap::new(),
            dirty: DirtyTags::default(),
            nr_pages: 0,
            ra: RaState::default(),
            writeback_index: 0,
            wb_err: None,
        }
    }
}

impl<P: FolioPrivate> AddressSpace<P> {
    /// Start index of the folio containing page `index`.
    pub fn folio_start(&self, index: u64) -> Option<u64> {
        let (&s, f) = self.folios.range(..=index).next_back()?;
        (index < f.end_index()).then_some(s)
    }

    /// The folio containing page `index`.
    pub fn find(&self, index: u64) -> Option<&Folio<P>> {
        self.folio_start(index).map(|s| &self.folios[&s])
    }

    /// The folio containing page `index`, writable.
    pub fn find_mut(&mut self, index: u64) -> Option<&mut Folio<P>> {
        let s = self.folio_start(index)?;
        self.folios.get_mut(&s)
    }

    /// The folio starting exactly at `start`.
    pub fn get_mut(&mut self, start: u64) -> Option<&mut Folio<P>> {
        self.folios.get_mut(&start)
    }

    /// The folio starting at `start` and the dirty tags, borrowed together.
    pub fn split_mut(&mut self, start: u64) -> Option<(&mut Folio<P>, &mut DirtyTags)> {
        Some((self.folios.get_mut(&start)?, &mut self.dirty))
    }

    /// Start of the first folio that begins at or after `index`.
    pub fn next_start(&self, index: u64) -> Option<u64> {
        self.folios.range(index..).next().map(|(&s, _)| s)
    }

    /// Starts of the folios overlapping pages `[from, to)`, in order.
    pub fn starts_in(&self, from: u64, to: u64) -> Vec<u64> {
        if from >= to {
            return Vec::new();
        }
        let first = self.folio_start(from).unwrap_or(from);
        self.folios.range(first..to).map(|(&s, _)| s).collect()
    }

    /// Adds a folio; the pages it covers must be free.
    pub fn insert(&mut self, folio: Folio<P>) {
        debug_assert!(self.folio_start(folio.index()).is_none());
        debug_assert!(self.next_start(folio.index()).is_none_or(|n| n >= folio.end_index()));
        self.nr_pages += folio.nr_pages();
        self.folios.insert(folio.index(), folio);
    }

    /// Takes the folio at `start` out of the cache, dropping its dirty state from the
    /// accounting. The caller returns its memory to the pool.
    pub fn remove(&mut self, start: u64, stats: &Stats) -> Option<Folio<P>> {
        let mut f = self.folios.remove(&start)?;
        self.nr_pages -= f.nr_pages();
        self.dirty.clear(&mut f, stats);
        Some(f)
    }

    /// Marks the folio at `start` dirty (`filemap_dirty_folio`): tag and accounting.
    /// Returns whether it was clean before.
    pub fn mark_dirty(&mut self, start: u64, stats: &Stats) -> bool {
        let f = self.folios.get_mut(&start).expect("folio to dirty exists");
        self.dirty.mark(f, stats)
    }

    /// Clears the dirty flag before writeback (`folio_clear_dirty_for_io`). Returns whether
    /// it was dirty.
    pub fn clear_dirty(&mut self, start: u64, stats: &Stats) -> bool {
        let Some(f) = self.folios.get_mut(&start) else { return false };
        self.dirty.clear(f, stats)
    }

    /// Start of the first dirty folio overlapping or after page `index`, before page `end`.
    pub fn next_dirty(&self, index: u64, end: u64) -> Option<u64> {
        if index >= end {
            return None;
        }
        if let Some(s) = self.folio_start(index)
            && self.dirty.set.contains(&s)
        {
            return Some(s);
        }
        self.dirty.set.range(index..end).next().copied()
    }

    /// Number of cached pages.
    pub fn nr_pages(&self) -> u64 {
        self.nr_pages
    }

    /// Number of folios.
    pub fn nr_folios(&self) -> usize {
        self.folios.len()
    }

    /// Number of dirty folios.
    pub fn nr_dirty(&self) -> usize {
        self.dirty.set.len()
    }

    /// Starts of every folio, in order.
    pub fn all_starts(&self) -> Vec<u64> {
        self.folios.keys().copied().collect()
    }

    /// Iterates over the folios.
    pub fn iter(&self) -> impl Iterator<Item = &Folio<P>> {
        self.folios.values()
    }
}
