//! A folio (`struct folio`): a power-of-two run of pages of one file in the page cache. A
//! [`Folio`] value is a reference to one (`folio_get` / `folio_put`): cloning takes another,
//! dropping gives it back, and the last one frees the pages.
//!
//! The folio's state is in atomic flag bits of its head page (`PG_*`). `PG_locked` is a bit
//! lock, waited for on a hashed wait queue ([`crate::kernel::wait`]); `PG_writeback` is set
//! while the folio is being written and waited for the same way.
//!
//! Locking rules, as the kernel's:
//! - the folio lock is held to change the folio's contents (writes, zeroing) and its private
//!   state, to bring it uptodate, and to take it out of the page cache;
//! - a read I/O is started with the folio locked and unlocks it when it completes
//!   ([`Folio::end_read`]), so waiting for the lock waits for the read;
//! - readers copy out of an uptodate folio without the lock (a write to the same bytes at the
//!   same time may be seen half done, as in the kernel);
//! - private state is attached and detached only under the folio lock and never while I/O is
//!   in flight on the folio, so I/O completion may look at it.

use super::page_alloc::{FolioPool, PAGE_SHIFT, PAGE_SIZE, Page};
use crate::kernel::wait::{wait_on_bit, wake_up_bit};
use crate::kernel::workqueue::run_inline_work;
use crate::stats::Stats;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// `PG_locked`.
pub(crate) const PG_LOCKED: u32 = 1 << 0;
/// `PG_uptodate`.
pub(crate) const PG_UPTODATE: u32 = 1 << 1;
/// `PG_dirty`.
pub(crate) const PG_DIRTY: u32 = 1 << 2;
/// `PG_writeback`.
pub(crate) const PG_WRITEBACK: u32 = 1 << 3;
/// `PG_readahead`.
pub(crate) const PG_READAHEAD: u32 = 1 << 4;
/// `PG_referenced`.
pub(crate) const PG_REFERENCED: u32 = 1 << 5;
/// `PG_dropbehind`.
pub(crate) const PG_DROPBEHIND: u32 = 1 << 6;
/// `PG_error`: the last read failed.
pub(crate) const PG_ERROR: u32 = 1 << 7;
/// `PG_lru`: on the LRU list.
pub(crate) const PG_LRU: u32 = 1 << 8;
/// `PG_waiters`: someone sleeps on this folio's hashed wait queue.
pub(crate) const PG_WAITERS: u32 = 1 << 9;
/// `PG_private`: private state attached.
pub(crate) const PG_PRIVATE: u32 = 1 << 10;

/// Per-folio state a backend attaches (`folio->private`): buffer heads or iomap folio state.
pub trait FolioPrivate: Send + Sync + 'static {
    /// Bytes of memory this state takes (for the `folio_private_bytes` counter).
    fn bytes(&self) -> usize;
}

/// A reference to a folio whose private state is a `P`.
pub struct Folio<P> {
    pool: NonNull<FolioPool>,
    pfn: u32,
    _p: PhantomData<fn() -> P>,
}

// SAFETY: a folio reference is an index into a pool that outlives it; all its state is atomic
// or guarded by the folio lock.
unsafe impl<P> Send for Folio<P> {}
unsafe impl<P> Sync for Folio<P> {}

impl<P> Clone for Folio<P> {
    /// Another reference (`folio_get`).
    fn clone(&self) -> Self {
        self.pool().get(self.pfn);
        Folio { pool: self.pool, pfn: self.pfn, _p: PhantomData }
    }
}

impl<P> Drop for Folio<P> {
    /// Gives the reference back (`folio_put`).
    fn drop(&mut self) {
        self.pool().put(self.pfn);
    }
}

impl<P> PartialEq for Folio<P> {
    fn eq(&self, other: &Self) -> bool {
        self.pfn == other.pfn && self.pool == other.pool
    }
}

impl<P> std::fmt::Debug for Folio<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Folio(index {}, order {}, flags {:#x})", self.index(), self.order(), self.flags())
    }
}

impl<P: FolioPrivate> Folio<P> {
    /// A new folio of `order` from `pool` (`filemap_alloc_folio`), with one reference.
    pub(crate) fn alloc(pool: &FolioPool, order: usize) -> Option<Self> {
        let pfn = pool.alloc_pages(order)?;
        Some(Folio { pool: NonNull::from(pool), pfn, _p: PhantomData })
    }

    /// A new reference to the folio at head `pfn` of `pool`, which the caller knows to be
    /// alive (it holds a reference, a lock or I/O on it).
    pub(crate) fn from_pfn(pool: &FolioPool, pfn: u32) -> Self {
        pool.get(pfn);
        Folio { pool: NonNull::from(pool), pfn, _p: PhantomData }
    }

    /// Takes over a reference the caller already holds on the folio at head `pfn`.
    pub(crate) fn from_pfn_owned(pool: &FolioPool, pfn: u32) -> Self {
        Folio { pool: NonNull::from(pool), pfn, _p: PhantomData }
    }
}

impl<P> Folio<P> {
    fn pool(&self) -> &FolioPool {
        // SAFETY: the pool outlives every folio taken from it.
        unsafe { self.pool.as_ref() }
    }

    fn head(&self) -> &Page {
        self.pool().page(self.pfn)
    }

    /// Head page frame number.
    pub(crate) fn pfn(&self) -> u32 {
        self.pfn
    }

    /// The flag bits.
    pub(crate) fn flags(&self) -> u32 {
        self.head().flags.load(Acquire)
    }

    fn test(&self, bit: u32) -> bool {
        self.flags() & bit != 0
    }

    fn set(&self, bit: u32) -> u32 {
        self.head().flags.fetch_or(bit, AcqRel)
    }

    fn clear(&self, bit: u32) -> u32 {
        self.head().flags.fetch_and(!bit, AcqRel)
    }

    /// First page index in the file (`folio->index`).
    pub fn index(&self) -> u64 {
        self.head().index.load(Relaxed)
    }

    pub(crate) fn set_index(&self, index: u64) {
        self.head().index.store(index, Relaxed)
    }

    /// The address space it is cached in, as an address; 0 once removed (`folio->mapping`).
    pub(crate) fn mapping(&self) -> usize {
        self.head().mapping.load(Acquire)
    }

    pub(crate) fn set_mapping(&self, m: usize) {
        self.head().mapping.store(m, std::sync::atomic::Ordering::Release)
    }

    /// References held (`folio_ref_count`).
    pub(crate) fn ref_count(&self) -> u32 {
        self.head().refcount.load(Acquire)
    }

    /// Order: the folio holds `1 << order` pages.
    pub fn order(&self) -> usize {
        self.pool().order(self.pfn)
    }
    /// Number of pages.
    pub fn nr_pages(&self) -> u64 {
        1 << self.order()
    }
    /// One past the last page index.
    pub fn end_index(&self) -> u64 {
        self.index() + self.nr_pages()
    }
    /// Size in bytes (`folio_size`).
    pub fn size(&self) -> usize {
        PAGE_SIZE << self.order()
    }
    /// File byte offset of the first byte (`folio_pos`).
    pub fn pos(&self) -> u64 {
        self.index() << PAGE_SHIFT
    }
    /// File byte offset one past the last byte.
    pub fn end_pos(&self) -> u64 {
        self.pos() + self.size() as u64
    }

    /// Address of byte `off` of the folio, for building bios.
    pub fn ptr_at(&self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.size());
        self.pool().pfn_ptr(self.pfn).wrapping_add(off)
    }

    /// Copies `dst.len()` bytes at `off` out of the folio (`copy_folio_to_iter`). Without
    /// the folio lock a concurrent write to the same bytes may be seen half done.
    pub(crate) fn copy_to(&self, off: usize, dst: &mut [u8]) {
        assert!(off + dst.len() <= self.size());
        // SAFETY: in bounds of the folio's pages; the folio is alive while we hold it.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr_at(off), dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies `src` into the folio at `off` (`copy_folio_from_iter_atomic`). The caller holds
    /// the folio lock.
    pub(crate) fn copy_from(&self, off: usize, src: &[u8]) {
        assert!(off + src.len() <= self.size());
        // SAFETY: as in `copy_to`; the lock makes the caller the only writer.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr_at(off), src.len()) }
    }

    /// Zeroes `len` bytes at `off` (`folio_zero_range`), counting them. The caller holds the
    /// folio lock (or, for a folio being read, owns the read).
    pub(crate) fn zero(&self, off: usize, len: usize, stats: &Stats) {
        if len == 0 {
            return;
        }
        assert!(off + len <= self.size());
        // SAFETY: as in `copy_from`.
        unsafe { self.ptr_at(off).write_bytes(0, len) };
        stats.zeroed(self.pos() + off as u64, len);
    }

    // --- Flags.

    /// Every byte is valid (`folio_test_uptodate`).
    pub fn uptodate(&self) -> bool {
        self.test(PG_UPTODATE)
    }
    /// Marks it uptodate (`folio_mark_uptodate`).
    pub(crate) fn mark_uptodate(&self) {
        self.set(PG_UPTODATE);
    }
    /// Holds data not yet written back (`folio_test_dirty`).
    pub fn dirty(&self) -> bool {
        self.test(PG_DIRTY)
    }
    /// Sets PG_dirty; whether it was clean (`folio_test_set_dirty`). Accounting is the
    /// caller's ([`super::page_writeback`]).
    pub(crate) fn test_set_dirty(&self) -> bool {
        self.set(PG_DIRTY) & PG_DIRTY == 0
    }
    /// Clears PG_dirty; whether it was dirty (`folio_test_clear_dirty`).
    pub(crate) fn test_clear_dirty(&self) -> bool {
        self.clear(PG_DIRTY) & PG_DIRTY != 0
    }
    /// Being written back (`folio_test_writeback`).
    pub fn writeback(&self) -> bool {
        self.test(PG_WRITEBACK)
    }
    /// The readahead marker (`folio_test_readahead`).
    pub fn readahead_mark(&self) -> bool {
        self.test(PG_READAHEAD)
    }
    pub(crate) fn set_readahead_mark(&self) {
        self.set(PG_READAHEAD);
    }
    pub(crate) fn clear_readahead_mark(&self) {
        self.clear(PG_READAHEAD);
    }
    /// Accessed since reclaim last looked (`folio_test_referenced`).
    pub fn referenced(&self) -> bool {
        self.test(PG_REFERENCED)
    }
    /// Marks it accessed (`folio_mark_accessed`).
    pub(crate) fn mark_accessed(&self) {
        if !self.test(PG_REFERENCED) {
            self.set(PG_REFERENCED);
        }
    }
    /// Clears the referenced bit; whether it was set.
    pub(crate) fn test_clear_referenced(&self) -> bool {
        self.clear(PG_REFERENCED) & PG_REFERENCED != 0
    }
    /// Drop once written back or read (`folio_test_dropbehind`, RWF_DONTCACHE).
    pub fn dropbehind(&self) -> bool {
        self.test(PG_DROPBEHIND)
    }
    pub(crate) fn set_dropbehind(&self) {
        self.set(PG_DROPBEHIND);
    }
    /// The last read of it failed.
    pub fn error(&self) -> bool {
        self.test(PG_ERROR)
    }
    pub(crate) fn set_error(&self, on: bool) {
        if on {
            self.set(PG_ERROR);
        } else if self.test(PG_ERROR) {
            self.clear(PG_ERROR);
        }
    }

    // --- The folio lock.

    /// Locked (`folio_test_locked`).
    pub fn locked(&self) -> bool {
        self.test(PG_LOCKED)
    }

    /// Takes the lock if it is free (`folio_trylock`).
    pub(crate) fn trylock(&self) -> bool {
        self.set(PG_LOCKED) & PG_LOCKED == 0
    }

    /// Takes the lock, sleeping until it is free (`folio_lock`).
    pub(crate) fn lock(&self) {
        if self.trylock() {
            return;
        }
        wait_on_bit(&self.head().flags, PG_WAITERS, |f| f.fetch_or(PG_LOCKED, AcqRel) & PG_LOCKED == 0);
    }

    /// Releases the lock and wakes its waiters (`folio_unlock`).
    pub(crate) fn unlock(&self) {
        let old = self.clear(PG_LOCKED);
        debug_assert!(old & PG_LOCKED != 0, "unlocking an unlocked folio");
        wake_up_bit(&self.head().flags, old, PG_WAITERS);
    }

    /// Sleeps until the folio is unlocked, without taking the lock (`folio_wait_locked`).
    pub(crate) fn wait_locked(&self) {
        wait_on_bit(&self.head().flags, PG_WAITERS, |f| f.load(Acquire) & PG_LOCKED == 0);
    }

    /// Ends a read of the locked folio (`folio_end_read`): uptodate if it succeeded, and
    /// unlocked either way.
    pub(crate) fn end_read(&self, success: bool) {
        if success {
            self.mark_uptodate();
            self.set_error(false);
        } else {
            self.set_error(true);
        }
        self.unlock();
    }

    /// [`Folio::end_read`] by an I/O completion, giving up its reference before the folio is
    /// unlocked: the cache's reference keeps the folio while it is locked (nothing takes a
    /// locked folio out of the cache), and waking the waiters touches only the `struct page`
    /// and the hashed queue. So a reader woken by the unlock never finds the completion
    /// still holding the folio (which would keep `drop_caches` from dropping it).
    pub(crate) fn end_read_put(self, success: bool) {
        if success {
            self.mark_uptodate();
            self.set_error(false);
        } else {
            self.set_error(true);
        }
        let page: *const Page = self.head();
        drop(self);
        // SAFETY: `struct page`s live as long as the pool, which outlives its folios' I/O.
        let flags = unsafe { &(*page).flags };
        let old = flags.fetch_and(!PG_LOCKED, AcqRel);
        wake_up_bit(flags, old, PG_WAITERS);
    }

    // --- Writeback.

    /// Sets PG_writeback; whether it was already set (`folio_test_set_writeback`). The
    /// caller holds the folio lock.
    pub(crate) fn test_set_writeback(&self) -> bool {
        self.set(PG_WRITEBACK) & PG_WRITEBACK != 0
    }

    /// Clears PG_writeback and wakes its waiters (the flag half of `folio_end_writeback`),
    /// giving up this reference first, as [`Folio::end_read_put`] does: the cache's reference
    /// keeps a folio under writeback (truncation waits for PG_writeback before it takes a
    /// folio out).
    pub(crate) fn clear_writeback_put(self) {
        let page: *const Page = self.head();
        drop(self);
        // SAFETY: as in `end_read_put`.
        let flags = unsafe { &(*page).flags };
        let old = flags.fetch_and(!PG_WRITEBACK, AcqRel);
        debug_assert!(old & PG_WRITEBACK != 0, "ending writeback of a folio not under writeback");
        wake_up_bit(flags, old, PG_WAITERS);
    }

    /// Sleeps until the folio is not under writeback (`folio_wait_writeback`).
    pub(crate) fn wait_writeback(&self) {
        if !self.writeback() {
            return;
        }
        // The completion may be an inline queue's item, waiting for a thread to run it.
        run_inline_work();
        wait_on_bit(&self.head().flags, PG_WAITERS, |f| f.load(Acquire) & PG_WRITEBACK == 0);
    }

    // --- Private state.

    /// The private state.
    ///
    /// # Safety
    /// The caller holds the folio lock, or has I/O in flight on the folio: private state is
    /// attached and detached only under the lock with no I/O in flight.
    pub(crate) unsafe fn private(&self) -> Option<&P> {
        let p = self.head().private.load(Acquire);
        // SAFETY: a non-zero value is a `Box<P>` leaked by `attach_private`, alive until
        // `detach_private`, which the caller's lock or I/O excludes.
        (p != 0).then(|| unsafe { &*(p as *const P) })
    }

    /// Whether private state is attached (`folio_test_private`).
    pub fn has_private(&self) -> bool {
        self.test(PG_PRIVATE)
    }
}

impl<P: FolioPrivate> Folio<P> {
    /// Attaches private state, counting its memory (`folio_attach_private`). The caller holds
    /// the folio lock.
    pub(crate) fn attach_private(&self, p: Box<P>, stats: &Stats) {
        stats.folio_private_bytes.add(p.bytes() as u64);
        stats.inc(crate::stats::Ev::PrivateAllocs);
        let old = self.head().private.swap(Box::into_raw(p) as usize, AcqRel);
        debug_assert_eq!(old, 0, "folio already has private state");
        self.set(PG_PRIVATE);
    }

    /// Detaches and returns the private state, counting the memory freed
    /// (`folio_detach_private`). The caller holds the folio lock and no I/O is in flight.
    pub(crate) fn detach_private(&self, stats: &Stats) -> Option<Box<P>> {
        let p = self.head().private.swap(0, AcqRel);
        if p == 0 {
            return None;
        }
        self.clear(PG_PRIVATE);
        // SAFETY: leaked by `attach_private`; nobody else can reach it any more.
        let b = unsafe { Box::from_raw(p as *mut P) };
        stats.folio_private_bytes.sub(b.bytes() as u64);
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl FolioPrivate for Nothing {
        fn bytes(&self) -> usize {
            8
        }
    }

    #[test]
    fn references_lock_and_private_state() {
        let pool = FolioPool::new(2 << 20).unwrap();
        let stats = Stats::default();
        let f: Folio<Nothing> = Folio::alloc(&pool, 2).unwrap();
        assert_eq!((f.order(), f.size(), f.ref_count()), (2, 16384, 1));
        let g = f.clone();
        assert_eq!(f.ref_count(), 2);
        drop(g);
        assert!(f.trylock());
        assert!(!f.trylock());
        f.attach_private(Box::new(Nothing), &stats);
        assert!(f.has_private());
        assert_eq!(stats.folio_private_bytes.get(), 8);
        assert!(f.detach_private(&stats).is_some());
        assert_eq!(stats.folio_private_bytes.get(), 0);
        let h = f.clone();
        let waiter = std::thread::spawn(move || {
            h.lock();
            h.unlock();
        });
        f.unlock();
        waiter.join().unwrap();
        assert!(!f.locked());
        let used = pool.free_bytes();
        drop(f);
        assert_eq!(pool.free_bytes(), used + 16384, "the last reference frees the pages");
    }
}
