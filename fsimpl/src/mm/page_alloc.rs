//! The memory folios come from (`mm/page_alloc.c`, `mm/swap.c`'s LRU lists): one arena,
//! faulted in once, with a `struct page` per page of it (`mem_map`), split by a buddy
//! allocator under a zone lock, with per-CPU lists of order-0 pages in front of it.
//!
//! - Allocation prepares the per-page metadata of the folio (`prep_new_page`,
//!   `prep_compound_page`: every tail page points at its head); freeing clears it
//!   (`free_pages_prepare`).
//! - Order-0 pages come from this CPU's list (`rmqueue_pcplist`), refilled from the buddy
//!   lists a batch at a time (`rmqueue_bulk`) in shuffled order: pages reach the per-CPU
//!   lists in the order they were last freed on a machine that has been running a while, so
//!   neighbouring folios are not physically adjacent by accident and bios carry one segment
//!   per order-0 folio, as they do in the kernel (the shuffle is seeded: a mount's
//!   allocations repeat exactly).
//! - The LRU list of cached folios (`lruvec`) is here too, with its per-CPU add batches
//!   (`folio_batch` in `cpu_fbatches.lru_add`): a freed folio leaves it (`__folio_put`).
//!
//! Taking memory from a pre-faulted arena keeps page faults and `malloc` out of the write and
//! read paths, as they are out of the kernel's.

pub use crate::page::{MAX_FOLIO_ORDER, PAGE_SHIFT, PAGE_SIZE};

use crate::kernel::lock;
use crate::kernel::percpu::PerCpu;
use std::collections::{BTreeSet, VecDeque};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

const HUGE: usize = PAGE_SIZE << MAX_FOLIO_ORDER;
/// Pages moved between the buddy lists and a per-CPU list at once (`pcp->batch`).
const PCP_BATCH: usize = 63;
/// A per-CPU list above this many pages gives a batch back (`pcp->high`).
const PCP_HIGH: usize = 6 * PCP_BATCH;
/// Folios an LRU add batch holds before it is added under the lock (`FOLIO_BATCH_SIZE`).
const LRU_BATCH: usize = 31;
/// "No page" in LRU links.
const NIL: u32 = u32::MAX;

/// `struct page`: the metadata of one page of the arena. A folio's state lives in its head
/// page; a tail page points at its head.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct Page {
    /// Page flags (`PG_*`, see [`super::folio`]), in the head page of a folio.
    pub(crate) flags: AtomicU32,
    /// References (`_refcount`), in the head page.
    pub(crate) refcount: AtomicU32,
    /// Page frame number of the folio's head (`compound_head`).
    head: AtomicU32,
    /// Folio order (`folio_order`), in the head page.
    order: AtomicU32,
    /// Index in the file's page cache (`folio->index`).
    pub(crate) index: AtomicU64,
    /// The address space the folio is cached in, or 0 (`folio->mapping`).
    pub(crate) mapping: AtomicUsize,
    /// The filesystem's per-folio state (`folio->private`), a boxed value, or 0.
    pub(crate) private: AtomicUsize,
    lru_prev: AtomicU32,
    lru_next: AtomicU32,
}

struct Buddy {
    free: [BTreeSet<u32>; MAX_FOLIO_ORDER + 1],
    /// Seeded state of the per-CPU refill shuffle.
    rng: u64,
}

/// The LRU list (`lruvec`): oldest at the head, linked through the pages.
struct LruList {
    head: u32,
    tail: u32,
    len: usize,
}

/// A pool of page-cache memory.
pub struct FolioPool {
    map: NonNull<u8>,
    map_len: usize,
    base: NonNull<u8>,
    pages: u32,
    mem_map: Box<[Page]>,
    zone: Mutex<Buddy>,
    pcp: PerCpu<Mutex<VecDeque<u32>>>,
    /// Pages held by folios.
    used_pages: AtomicU64,
    lru: Mutex<LruList>,
    lru_add: PerCpu<Mutex<Vec<u32>>>,
    /// Fill freed folios with [`crate::options::PAGE_POISON`].
    poison: AtomicBool,
}

// SAFETY: the arena is reached only through folios (whose users follow the folio locking
// rules) and the locks here.
unsafe impl Send for FolioPool {}
unsafe impl Sync for FolioPool {}

impl std::fmt::Debug for FolioPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolioPool").field("pages", &self.pages).finish_non_exhaustive()
    }
}

/// The pool could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot map {bytes} bytes of page-cache memory: {source}")]
pub struct PoolError {
    bytes: usize,
    source: std::io::Error,
}

const SHUFFLE_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl FolioPool {
    /// A pool of `bytes` (rounded down to whole 2 MiB blocks, at least one), faulted in now.
    pub fn new(bytes: u64) -> Result<FolioPool, PoolError> {
        let len = ((bytes as usize) / HUGE).max(1) * HUGE;
        let map_len = len + HUGE;
        // SAFETY: an anonymous private mapping; checked for MAP_FAILED below.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(PoolError { bytes: len, source: std::io::Error::last_os_error() });
        }
        let map = NonNull::new(raw as *mut u8).expect("mmap returned a non-null address");
        let base_addr = (raw as usize).next_multiple_of(HUGE);
        let base = NonNull::new(base_addr as *mut u8).expect("aligned address is non-null");
        // SAFETY: [base, base + len) lies inside the mapping. Huge pages are a hint; the
        // populate call faults everything in now so that folio use never page-faults.
        unsafe {
            libc::madvise(base.as_ptr().cast(), len, libc::MADV_HUGEPAGE);
            if libc::madvise(base.as_ptr().cast(), len, libc::MADV_POPULATE_WRITE) != 0 {
                for off in (0..len).step_by(PAGE_SIZE) {
                    base.as_ptr().add(off).write_volatile(0);
                }
            }
        }
        let pages = (len / PAGE_SIZE) as u32;
        let mem_map: Box<[Page]> = (0..pages).map(|_| Page::default()).collect();
        let pool = FolioPool {
            map,
            map_len,
            base,
            pages,
            mem_map,
            zone: Mutex::new(Buddy { free: Default::default(), rng: SHUFFLE_SEED }),
            pcp: PerCpu::default(),
            used_pages: AtomicU64::new(0),
            lru: Mutex::new(LruList { head: NIL, tail: NIL, len: 0 }),
            lru_add: PerCpu::default(),
            poison: AtomicBool::new(false),
        };
        pool.reset();
        Ok(pool)
    }

    /// Puts every page back on the buddy lists in address order and reseeds the shuffle, so
    /// that a mount starts from the same state whatever ran before. Refused (false) while
    /// any folio of the pool is still held.
    pub(crate) fn reset(&self) -> bool {
        if self.used_pages.load(Relaxed) != 0 {
            return false;
        }
        for q in self.pcp.iter() {
            lock(q).clear();
        }
        let mut z = lock(&self.zone);
        for l in z.free.iter_mut() {
            l.clear();
        }
        z.free[MAX_FOLIO_ORDER].extend((0..self.pages).step_by(1 << MAX_FOLIO_ORDER));
        z.rng = SHUFFLE_SEED;
        true
    }

    /// Fill freed folios with [`crate::options::PAGE_POISON`] (`CONFIG_PAGE_POISONING`).
    pub(crate) fn set_poison(&self, on: bool) {
        self.poison.store(on, Relaxed);
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.pages as u64 * PAGE_SIZE as u64
    }

    /// Bytes not held by folios.
    pub fn free_bytes(&self) -> u64 {
        (self.pages as u64 - self.used_pages.load(Relaxed)) * PAGE_SIZE as u64
    }

    /// The `struct page` of page frame `pfn`.
    pub(crate) fn page(&self, pfn: u32) -> &Page {
        &self.mem_map[pfn as usize]
    }

    /// The address of page frame `pfn`.
    pub(crate) fn pfn_ptr(&self, pfn: u32) -> *mut u8 {
        // SAFETY: pfn < pages: inside the arena.
        unsafe { self.base.as_ptr().add(pfn as usize * PAGE_SIZE) }
    }

    /// The head page frame of the folio holding the byte at `ptr` (`page_folio`), and the
    /// byte's offset in that folio.
    pub(crate) fn folio_of_ptr(&self, ptr: *const u8) -> (u32, usize) {
        let off = ptr as usize - self.base.as_ptr() as usize;
        let pfn = (off / PAGE_SIZE) as u32;
        let head = self.page(pfn).head.load(Relaxed);
        (head, off - head as usize * PAGE_SIZE)
    }

    /// Folio order of the head page `pfn`.
    pub(crate) fn order(&self, pfn: u32) -> usize {
        self.page(pfn).order.load(Relaxed) as usize
    }

    fn rmqueue(z: &mut Buddy, order: usize) -> Option<u32> {
        let from = (order..=MAX_FOLIO_ORDER).find(|&o| !z.free[o].is_empty())?;
        let page = z.free[from].pop_first().expect("non-empty free list");
        for o in (order..from).rev() {
            z.free[o].insert(page + (1 << o));
        }
        Some(page)
    }

    fn free_to_buddy(z: &mut Buddy, mut page: u32, mut order: usize) {
        while order < MAX_FOLIO_ORDER {
            let buddy = page ^ (1 << order);
            if !z.free[order].remove(&buddy) {
                break;
            }
            page = page.min(buddy);
            order += 1;
        }
        z.free[order].insert(page);
    }

    /// Takes pages for a folio of `order` (`alloc_pages`), with its metadata prepared and one
    /// reference held; `None` when no block that large is free.
    pub(crate) fn alloc_pages(&self, order: usize) -> Option<u32> {
        let pfn = if order == 0 {
            let mut pcp = lock(self.pcp.this());
            if pcp.is_empty() {
                let mut z = lock(&self.zone);
                let mut batch: Vec<u32> = (0..PCP_BATCH).map_while(|_| Self::rmqueue(&mut z, 0)).collect();
                // Fisher-Yates with xorshift: the order pages come back in on a used machine.
                for i in (1..batch.len()).rev() {
                    z.rng ^= z.rng << 13;
                    z.rng ^= z.rng >> 7;
                    z.rng ^= z.rng << 17;
                    batch.swap(i, (z.rng % (i as u64 + 1)) as usize);
                }
                pcp.extend(batch);
            }
            pcp.pop_back()?
        } else {
            Self::rmqueue(&mut lock(&self.zone), order)?
        };
        self.used_pages.fetch_add(1 << order, Relaxed);
        // prep_compound_page: the head's state, and every tail page pointing at the head.
        let head = self.page(pfn);
        head.flags.store(0, Relaxed);
        head.order.store(order as u32, Relaxed);
        head.index.store(0, Relaxed);
        head.mapping.store(0, Relaxed);
        head.private.store(0, Relaxed);
        for p in pfn..pfn + (1 << order) {
            self.page(p).head.store(pfn, Relaxed);
        }
        head.refcount.store(1, std::sync::atomic::Ordering::Release);
        Some(pfn)
    }

    /// Gives back the pages of the folio at head `pfn`, whose last reference was just
    /// dropped (`free_unref_folios`): off the LRU, metadata cleared, order-0 pages to this
    /// CPU's list, larger ones to the buddy lists.
    fn free_folio(&self, pfn: u32) {
        let order = self.order(pfn);
        if self.page(pfn).flags.load(Relaxed) & super::folio::PG_LRU != 0 {
            self.lru_del(pfn);
        }
        if self.poison.load(Relaxed) {
            // SAFETY: the folio's pages belong to nobody now.
            unsafe { self.pfn_ptr(pfn).write_bytes(crate::options::PAGE_POISON, PAGE_SIZE << order) };
        }
        // free_pages_prepare: every page's state back to nothing.
        for p in pfn..pfn + (1 << order) {
            let page = self.page(p);
            page.flags.store(0, Relaxed);
            page.mapping.store(0, Relaxed);
            page.private.store(0, Relaxed);
        }
        self.used_pages.fetch_sub(1 << order, Relaxed);
        if order == 0 {
            let mut pcp = lock(self.pcp.this());
            pcp.push_back(pfn);
            if pcp.len() > PCP_HIGH {
                let mut z = lock(&self.zone);
                for p in pcp.drain(..PCP_BATCH) {
                    Self::free_to_buddy(&mut z, p, 0);
                }
            }
        } else {
            Self::free_to_buddy(&mut lock(&self.zone), pfn, order);
        }
    }

    // --- The LRU list.

    fn link_tail(&self, l: &mut LruList, pfn: u32) {
        let page = self.page(pfn);
        page.lru_prev.store(l.tail, Relaxed);
        page.lru_next.store(NIL, Relaxed);
        match l.tail {
            NIL => l.head = pfn,
            t => self.page(t).lru_next.store(pfn, Relaxed),
        }
        l.tail = pfn;
        l.len += 1;
        page.flags.fetch_or(super::folio::PG_LRU, Relaxed);
    }

    fn unlink(&self, l: &mut LruList, pfn: u32) {
        let page = self.page(pfn);
        let (prev, next) = (page.lru_prev.load(Relaxed), page.lru_next.load(Relaxed));
        match prev {
            NIL => l.head = next,
            p => self.page(p).lru_next.store(next, Relaxed),
        }
        match next {
            NIL => l.tail = prev,
            n => self.page(n).lru_prev.store(prev, Relaxed),
        }
        l.len -= 1;
        page.flags.fetch_and(!super::folio::PG_LRU, Relaxed);
    }

    /// Takes a reference on the folio at head `pfn` (`folio_get`).
    pub(crate) fn get(&self, pfn: u32) {
        let old = self.page(pfn).refcount.fetch_add(1, Relaxed);
        debug_assert!(old > 0, "folio_get on a free folio");
    }

    /// Drops a reference (`folio_put`); the last one frees the folio. Its private state must
    /// be gone by then (the page cache's removal paths release it); one left over is leaked
    /// rather than freed as the wrong type.
    pub(crate) fn put(&self, pfn: u32) {
        let page = self.page(pfn);
        if page.refcount.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            debug_assert_eq!(page.private.load(Relaxed), 0, "folio freed with private state");
            self.free_folio(pfn);
        }
    }

    /// Queues the folio at head `pfn`, with a reference the batch keeps, for the LRU
    /// (`folio_add_lru`); the batch is added under the lock when full.
    pub(crate) fn lru_add(&self, pfn: u32) {
        self.get(pfn);
        let mut b = lock(self.lru_add.this());
        b.push(pfn);
        if b.len() < LRU_BATCH {
            return;
        }
        let batch = std::mem::take(&mut *b);
        drop(b);
        self.lru_add_batch(batch);
    }

    /// Adds a batch to the LRU, then drops the batch's references.
    fn lru_add_batch(&self, batch: Vec<u32>) {
        let mut l = lock(&self.lru);
        for &pfn in &batch {
            let page = self.page(pfn);
            // Still in a page cache and not on the list (truncation may have raced the batch).
            if page.mapping.load(Relaxed) != 0 && page.flags.load(Relaxed) & super::folio::PG_LRU == 0 {
                self.link_tail(&mut l, pfn);
            }
        }
        drop(l);
        for pfn in batch {
            self.put(pfn);
        }
    }

    /// Adds this CPU's pending folios to the LRU (`lru_add_drain`).
    pub(crate) fn lru_add_drain(&self) {
        let batch = std::mem::take(&mut *lock(self.lru_add.this()));
        self.lru_add_batch(batch);
    }

    /// As [`FolioPool::lru_add_drain`] for every CPU (`lru_add_drain_all`).
    pub(crate) fn lru_add_drain_all(&self) {
        let mut all = Vec::new();
        for q in self.lru_add.iter() {
            all.append(&mut lock(q));
        }
        self.lru_add_batch(all);
    }

    /// Takes the folio at head `pfn` off the LRU if it is on it (`lruvec_del_folio`).
    pub(crate) fn lru_del(&self, pfn: u32) {
        let mut l = lock(&self.lru);
        if self.page(pfn).flags.load(Relaxed) & super::folio::PG_LRU != 0 {
            self.unlink(&mut l, pfn);
        }
    }

    /// Takes up to `n` folios off the head (oldest end) of the LRU, each with a reference
    /// taken (`isolate_lru_folios`); folios being freed are left alone.
    pub(crate) fn isolate_lru(&self, n: usize) -> Vec<u32> {
        let mut l = lock(&self.lru);
        let mut out = Vec::with_capacity(n.min(l.len));
        while out.len() < n && l.head != NIL {
            let pfn = l.head;
            self.unlink(&mut l, pfn);
            let rc = &self.page(pfn).refcount;
            // folio_try_get: a folio whose count reached zero is on its way out.
            if rc.fetch_update(Relaxed, Relaxed, |c| (c > 0).then_some(c + 1)).is_ok() {
                out.push(pfn);
            }
        }
        out
    }

    /// Puts an isolated folio back at the tail of the LRU (`folio_putback_lru`), unless it
    /// left the page cache meanwhile. The caller then drops its reference.
    pub(crate) fn putback_lru(&self, pfn: u32) {
        let mut l = lock(&self.lru);
        let page = self.page(pfn);
        if page.mapping.load(Relaxed) != 0 && page.flags.load(Relaxed) & super::folio::PG_LRU == 0 {
            self.link_tail(&mut l, pfn);
        }
    }

    /// Folios on the LRU list.
    pub(crate) fn lru_len(&self) -> usize {
        lock(&self.lru).len
    }
}

impl Drop for FolioPool {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`; no folio outlives the pool because
        // every holder (a page cache) is torn down with the filesystem that owns the pool.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buddies_split_and_merge_back() {
        let pool = FolioPool::new(4 << 20).unwrap();
        assert_eq!(pool.bytes(), 4 << 20);
        let big = pool.alloc_pages(MAX_FOLIO_ORDER).unwrap();
        let two = pool.alloc_pages(1).unwrap();
        assert_eq!(pool.free_bytes(), (4 << 20) - (2 << 20) - 8192);
        assert!(pool.alloc_pages(MAX_FOLIO_ORDER).is_none(), "one 2 MiB block is split, the other taken");
        assert_eq!(pool.folio_of_ptr(pool.pfn_ptr(big).wrapping_add(5000)), (big, 5000));
        assert_eq!(pool.folio_of_ptr(pool.pfn_ptr(two).wrapping_add(4096)), (two, 4096));
        pool.put(big);
        pool.put(two);
        assert_eq!(pool.free_bytes(), 4 << 20);
        assert!(pool.reset());
        assert!(pool.alloc_pages(MAX_FOLIO_ORDER).is_some() && pool.alloc_pages(MAX_FOLIO_ORDER).is_some());
    }

    #[test]
    fn order_0_pages_come_shuffled_and_repeat_after_a_reset() {
        let pool = FolioPool::new(4 << 20).unwrap();
        let first: Vec<u32> = (0..32).map(|_| pool.alloc_pages(0).unwrap()).collect();
        let adjacent = first.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert!(adjacent < 4, "{adjacent} of 31 neighbours are adjacent: {first:?}");
        for &p in &first {
            pool.put(p);
        }
        assert!(pool.reset());
        let again: Vec<u32> = (0..32).map(|_| pool.alloc_pages(0).unwrap()).collect();
        assert_eq!(first, again, "a reset pool hands out the same pages in the same order");
    }
}
