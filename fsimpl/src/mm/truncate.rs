//! Removing file data from the cache: `truncate_inode_pages_range` and friends.

use super::AddressSpaceOps;
use crate::mm::Ctx;
use crate::mm::PAGE_SHIFT;

/// Drops the folios wholly inside bytes `[lstart, lend)` and zeroes the parts of the edge
/// folios inside it, telling the backend (`invalidate_folio`) about both
/// (`truncate_inode_pages_range`, `truncate_inode_partial_folio`). Dirty data in the range is
/// discarded. Large folios are not split: a partly covered one is zeroed in the range and then
/// dropped whole if clean (what the kernel does when `split_folio` fails), kept if dirty.
pub fn truncate_inode_pages_range<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, lstart: u64, lend: u64) {
    truncate_range(cx, lstart, lend, true)
}

/// As [`truncate_inode_pages_range`]; `zero_partial` false leaves partly covered folios as
/// they are (only for the seeded bug `PunchLeavesCachedPartial`).
pub(crate) fn truncate_range<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, lstart: u64, lend: u64, zero_partial: bool) {
    if lend <= lstart {
        return;
    }
    let last = if lend == u64::MAX { u64::MAX } else { lend.div_ceil(1 << PAGE_SHIFT) };
    for start in cx.mapping.starts_in(lstart >> PAGE_SHIFT, last) {
        let f = cx.folio(start);
        let (fpos, fend, size) = (f.pos(), f.end_pos(), f.size());
        if lstart <= fpos && fend <= lend {
            let fs = cx.fs;
            fs.aops.invalidate_folio(cx, start, 0, size);
            cx.mapping.clear_dirty(start, &cx.fs.stats);
            cx.delete_folio(start);
        } else if zero_partial {
            let off = lstart.max(fpos) - fpos;
            let len = lend.min(fend) - fpos - off;
            cx.zero(start, off as usize, len as usize);
            let fs = cx.fs;
            fs.aops.invalidate_folio(cx, start, off as usize, len as usize);
            let f = cx.folio(start);
            if f.order() > 0 && !f.dirty() && (f.private.is_none() || fs.aops.release_folio(f)) {
                cx.delete_folio(start);
            }
        }
    }
}

/// Everything from byte `from` on (`truncate_pagecache`).
pub fn truncate_pagecache<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, from: u64) {
    truncate_inode_pages_range(cx, from, u64::MAX);
}

/// Drops every clean folio the backend lets go of (`invalidate_mapping_pages`, as
/// `echo 1 > drop_caches` does). Dirty and locked folios stay.
pub fn invalidate_mapping_pages<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>) {
    let fs = cx.fs;
    for start in cx.mapping.all_starts() {
        let f = cx.folio(start);
        if f.dirty() || f.locked() || (f.private.is_some() && !fs.aops.release_folio(f)) {
            continue;
        }
        cx.delete_folio(start);
    }
}
