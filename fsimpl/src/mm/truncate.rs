//! Removing file data from the cache (`mm/truncate.c`): truncation and hole punching
//! (`truncate_inode_pages_range`), dropping clean folios (`invalidate_mapping_pages`), and a
//! folio dropped behind once written or read (`folio_end_dropbehind`).

use super::AddressSpaceOps;
use super::folio::Folio;
use super::inode::Inode;
use super::page_alloc::PAGE_SHIFT;
use super::page_writeback::folio_cancel_dirty;
use super::sb::Sb;

/// Takes a locked folio out of the cache for good (`truncate_inode_folio` →
/// `filemap_remove_folio`): private state invalidated, dirty state dropped.
fn truncate_inode_folio<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Inode<A::Private>, folio: &Folio<A::Private>) {
    if folio.has_private() {
        sb.aops.invalidate_folio(sb, folio, 0, folio.size());
    }
    folio_cancel_dirty(sb, inode, folio);
    if let Some(cache_ref) = inode.mapping.remove(&sb.pool, folio) {
        sb.stats.folio_free(folio.size() as u64);
        drop(cache_ref);
    }
}

/// Drops the folios wholly inside bytes `[lstart, lend)` and zeroes the parts of the edge
/// folios inside it, telling the backend (`invalidate_folio`) about both
/// (`truncate_inode_pages_range`, `truncate_inode_partial_folio`). Each folio is locked and
/// its writeback waited for first. Dirty data in the range is discarded. Large folios are
/// not split: a partly covered one is zeroed in the range and then dropped whole if clean
/// (what the kernel does when `split_folio` fails), kept if dirty.
pub(crate) fn truncate_inode_pages_range<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Inode<A::Private>,
    lstart: u64,
    lend: u64,
) {
    truncate_range(sb, inode, lstart, lend, true)
}

/// As [`truncate_inode_pages_range`]; `zero_partial` false leaves partly covered folios as
/// they are (only for the seeded bug `PunchLeavesCachedPartial`).
pub(crate) fn truncate_range<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Inode<A::Private>,
    lstart: u64,
    lend: u64,
    zero_partial: bool,
) {
    if lend <= lstart {
        return;
    }
    let last = if lend == u64::MAX { u64::MAX } else { lend.div_ceil(1 << PAGE_SHIFT) };
    let mut index = lstart >> PAGE_SHIFT;
    while let Some(f) = inode.mapping.find(&sb.pool, index, last, None) {
        index = f.end_index().max(index + 1);
        f.lock();
        if !inode.mapping.owns(&f) {
            f.unlock();
            continue;
        }
        f.wait_writeback();
        let (fpos, fend) = (f.pos(), f.end_pos());
        if lstart <= fpos && fend <= lend {
            truncate_inode_folio(sb, inode, &f);
        } else if zero_partial {
            let off = lstart.max(fpos) - fpos;
            let len = lend.min(fend) - fpos - off;
            f.zero(off as usize, len as usize, &sb.stats);
            if f.has_private() {
                sb.aops.invalidate_folio(sb, &f, off as usize, len as usize);
            }
            if f.order() > 0 && !f.dirty() && (!f.has_private() || sb.aops.release_folio(sb, &f)) {
                truncate_inode_folio(sb, inode, &f);
            }
        }
        f.unlock();
    }
}

/// Everything from byte `from` on (`truncate_pagecache`).
pub(crate) fn truncate_pagecache<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Inode<A::Private>, from: u64) {
    truncate_inode_pages_range(sb, inode, from, u64::MAX);
}

/// Drops every clean folio nobody else holds and the backend lets go of
/// (`invalidate_mapping_pages`, as `echo 1 > drop_caches` does). Dirty, locked, in-use and
/// writeback folios stay.
pub(crate) fn invalidate_mapping_pages<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Inode<A::Private>) {
    let mut index = 0;
    while let Some(f) = inode.mapping.find(&sb.pool, index, u64::MAX, None) {
        index = f.end_index().max(index + 1);
        if !f.trylock() {
            continue;
        }
        mapping_evict_folio(sb, inode, &f);
        f.unlock();
    }
}

/// Removes a locked folio if it is clean, unused and released by the backend
/// (`mapping_evict_folio`); whether it went.
pub(crate) fn mapping_evict_folio<A: AddressSpaceOps>(
    sb: &Sb<A>,
    inode: &Inode<A::Private>,
    f: &Folio<A::Private>,
) -> bool {
    if f.dirty() || f.writeback() || !inode.mapping.owns(f) || f.ref_count() > 2 {
        return false;
    }
    if f.has_private() && !sb.aops.release_folio(sb, f) {
        return false;
    }
    match inode.mapping.remove_if_unused(&sb.pool, f) {
        Some(cache_ref) => {
            sb.stats.folio_free(f.size() as u64);
            drop(cache_ref);
            true
        }
        None => false,
    }
}

/// A folio asked to drop behind (RWF_DONTCACHE) leaves the cache once it is clean
/// (`folio_end_dropbehind` → `folio_unmap_invalidate`): whoever else holds a reference
/// keeps the memory, not the place in the cache. The caller holds its lock.
pub(crate) fn folio_drop_behind<A: AddressSpaceOps>(sb: &Sb<A>, inode: &Inode<A::Private>, f: &Folio<A::Private>) {
    if f.dirty() || f.writeback() || !inode.mapping.owns(f) {
        return;
    }
    if f.has_private() && !sb.aops.release_folio(sb, f) {
        return;
    }
    if let Some(cache_ref) = inode.mapping.remove(&sb.pool, f) {
        sb.stats.folio_free(f.size() as u64);
        drop(cache_ref);
    }
}
