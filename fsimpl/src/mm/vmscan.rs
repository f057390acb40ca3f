//! Reclaim of clean folios under memory pressure (`mm/vmscan.c`): folios are taken off the
//! old end of the LRU list (`isolate_lru_folios`); a referenced one gets a second chance, a
//! locked, dirty or writeback one goes back (dirty ones wake the flusher, as
//! `shrink_folio_list` does), and a clean one nobody else holds is released by the backend
//! and removed from its file's cache (`__remove_mapping`).

use super::AddressSpaceOps;
use super::folio::Folio;
use super::mapping::AddressSpace;
use super::page_writeback::folio_clear_dirty_for_io;
use super::sb::Sb;
use crate::kernel::xarray::Mark;
use crate::stats::Ev;

/// Folios isolated at a time (`SWAP_CLUSTER_MAX`).
const SWAP_CLUSTER_MAX: usize = 32;

/// Frees clean folios until `want` pages are freed or the list was scanned twice over
/// (`try_to_free_pages`); returns the pages freed.
pub(crate) fn try_to_free_pages<A: AddressSpaceOps>(sb: &Sb<A>, want: u64) -> u64 {
    let pool = &sb.pool;
    pool.lru_add_drain();
    let budget = pool.lru_len() * 2;
    let (mut freed, mut scanned, mut saw_dirty) = (0u64, 0usize, false);
    while freed < want && scanned < budget {
        let isolated = pool.isolate_lru(SWAP_CLUSTER_MAX);
        if isolated.is_empty() {
            break;
        }
        scanned += isolated.len();
        for pfn in isolated {
            // The isolation's reference.
            let f: Folio<A::Private> = Folio::from_pfn_owned(pool, pfn);
            match shrink_folio(sb, &f) {
                Some(pages) => freed += pages,
                None => {
                    saw_dirty |= f.dirty();
                    pool.putback_lru(pfn);
                }
            }
        }
    }
    if saw_dirty {
        sb.wb.start_vmscan();
    }
    freed
}

/// Tries to reclaim one isolated folio; the pages freed, or `None` to put it back.
fn shrink_folio<A: AddressSpaceOps>(sb: &Sb<A>, f: &Folio<A::Private>) -> Option<u64> {
    if f.test_clear_referenced() {
        return None;
    }
    // Seeded bug: the dirty test of a folio without private state left to `release_folio`.
    let drop_dirty =
        |f: &Folio<A::Private>| f.dirty() && !f.has_private() && sb.bug(crate::bugs::Bug::ReclaimDirtyWithoutPrivate);
    if (f.dirty() && !drop_dirty(f)) || f.writeback() || !f.trylock() {
        return None;
    }
    let mapping = f.mapping();
    if mapping == 0 {
        // Truncated since it was isolated: nothing to do, it is freed with our reference.
        f.unlock();
        return Some(0);
    }
    // SAFETY: the folio is locked and still cached there; an address space outlives its
    // cached folios, and taking the last one out needs this folio's lock.
    let mapping = unsafe { &*(mapping as *const AddressSpace<A::Private>) };
    if drop_dirty(f) && folio_clear_dirty_for_io(sb, f) {
        mapping.clear_mark(f, Mark::Dirty);
    }
    if f.dirty() || f.writeback() || (f.has_private() && !sb.aops.release_folio(sb, f)) {
        f.unlock();
        return None;
    }
    let removed = mapping.remove_if_unused(&sb.pool, f);
    f.unlock();
    let cache_ref = removed?;
    sb.stats.folio_free(f.size() as u64);
    sb.stats.inc(Ev::EvictedFolios);
    let pages = f.nr_pages();
    drop(cache_ref);
    Some(pages)
}
