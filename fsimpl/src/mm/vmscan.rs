//! Reclaim of clean folios under memory pressure: a second-chance FIFO over every inode's
//! folios, in the spirit of the kernel's inactive LRU list (`shrink_folio_list`).

use super::AddressSpaceOps;
use crate::core::map::lock;
use crate::mm::AddressSpace;
use crate::mm::{Ctx, Sb};
use crate::stats::Stats;
use std::sync::Arc;

enum Outcome {
    Evicted(u64),
    Keep,
    Gone,
}

/// Frees clean, unlocked, unreferenced folios until `want` pages are freed or every entry has
/// been looked at twice. The caller's own inode is reached through `cx`; other inodes only
/// when their lock is free (no waiting with a lock held). Returns the pages freed.
pub fn shrink<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, want: u64) -> u64 {
    let mut freed = 0;
    let budget = lock(&cx.fs.lru).len() * 2;
    for _ in 0..budget {
        let Some(e) = lock(&cx.fs.lru).pop_front() else { break };
        let outcome = if std::ptr::eq(e.owner.as_ptr(), Arc::as_ptr(cx.cell)) {
            evict_one(cx.fs, cx.mapping, e.start, e.id)
        } else if let Some(owner) = e.owner.upgrade() {
            match owner.state.try_lock() {
                Ok(mut st) => evict_one(cx.fs, &mut st.mapping, e.start, e.id),
                Err(_) => Outcome::Keep,
            }
        } else {
            Outcome::Gone
        };
        match outcome {
            Outcome::Evicted(pages) => freed += pages,
            Outcome::Keep => lock(&cx.fs.lru).push_back(e),
            Outcome::Gone => {}
        }
        if freed >= want {
            break;
        }
    }
    freed
}

fn evict_one<A: AddressSpaceOps>(fs: &Sb<A>, mapping: &mut AddressSpace<A::Private>, start: u64, id: u64) -> Outcome {
    let Some(f) = mapping.get_mut(start) else { return Outcome::Gone };
    if f.id() != id {
        return Outcome::Gone;
    }
    if f.referenced() {
        f.set_referenced(false);
        return Outcome::Keep;
    }
    let dirty = f.dirty() && !(f.private.is_none() && fs.bug(crate::bugs::Bug::ReclaimDirtyWithoutPrivate));
    if dirty || f.locked() || f.in_use() || (f.private.is_some() && !fs.aops.release_folio(f)) {
        return Outcome::Keep;
    }
    let f = mapping.remove(start, &fs.stats).expect("folio was found");
    let pages = f.nr_pages();
    fs.free_folio(f);
    Stats::bump(&fs.stats.evicted_folios, 1);
    Outcome::Evicted(pages)
}
