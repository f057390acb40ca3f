//! The memory folios come from: one arena, faulted in once at mount, split by a buddy
//! allocator — what the kernel's page allocator (`alloc_pages`, `__free_pages`) is to the page
//! cache. Taking memory from a pre-faulted pool keeps page faults and `malloc` out of the
//! write and read paths, as they are out of the kernel's.

pub use crate::page::{MAX_FOLIO_ORDER, PAGE_SHIFT, PAGE_SIZE};
use std::collections::BTreeSet;
use std::ptr::NonNull;
use std::sync::Mutex;

const HUGE: usize = PAGE_SIZE << MAX_FOLIO_ORDER;

/// A block of `PAGE_SIZE << order` bytes from the pool.
#[derive(Debug)]
pub struct FolioMem {
    ptr: NonNull<u8>,
    order: u8,
}

// SAFETY: a FolioMem is the only handle to its block of the arena.
unsafe impl Send for FolioMem {}
unsafe impl Sync for FolioMem {}

impl FolioMem {
    /// Start of the memory.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    /// Its order.
    pub fn order(&self) -> usize {
        self.order as usize
    }
    /// Its size in bytes.
    pub fn len(&self) -> usize {
        PAGE_SIZE << self.order
    }
    /// Never empty; for clippy's sake.
    pub fn is_empty(&self) -> bool {
        false
    }
}

struct Buddy {
    free: [BTreeSet<u32>; MAX_FOLIO_ORDER + 1],
    free_pages: u64,
}

/// A pool of `bytes` of folio memory.
pub struct FolioPool {
    map: NonNull<u8>,
    map_len: usize,
    base: NonNull<u8>,
    pages: u32,
    buddy: Mutex<Buddy>,
}

// SAFETY: the arena is only reached through FolioMem handles (exclusive) and the buddy lock.
unsafe impl Send for FolioPool {}
unsafe impl Sync for FolioPool {}

/// The pool could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot map {bytes} bytes of page-cache memory: {source}")]
pub struct PoolError {
    bytes: usize,
    source: std::io::Error,
}

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
        let mut free: [BTreeSet<u32>; MAX_FOLIO_ORDER + 1] = Default::default();
        free[MAX_FOLIO_ORDER].extend((0..pages).step_by(1 << MAX_FOLIO_ORDER));
        Ok(FolioPool { map, map_len, base, pages, buddy: Mutex::new(Buddy { free, free_pages: pages as u64 }) })
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.pages as u64 * PAGE_SIZE as u64
    }

    /// Free bytes.
    pub fn free_bytes(&self) -> u64 {
        crate::core::map::lock(&self.buddy).free_pages * PAGE_SIZE as u64
    }

    /// Takes a block of `order`, lowest address first; `None` when no block that large is free.
    pub fn alloc(&self, order: usize) -> Option<FolioMem> {
        let mut b = crate::core::map::lock(&self.buddy);
        let from = (order..=MAX_FOLIO_ORDER).find(|&o| !b.free[o].is_empty())?;
        let page = b.free[from].pop_first().expect("non-empty free list");
        for o in (order..from).rev() {
            b.free[o].insert(page + (1 << o));
        }
        b.free_pages -= 1 << order;
        // SAFETY: page < pages, so the address is inside the arena.
        let ptr = unsafe { NonNull::new_unchecked(self.base.as_ptr().add(page as usize * PAGE_SIZE)) };
        Some(FolioMem { ptr, order: order as u8 })
    }

    /// Gives a block back, merging it with its free buddies.
    pub fn free(&self, mem: FolioMem) {
        let mut page = ((mem.ptr.as_ptr() as usize - self.base.as_ptr() as usize) / PAGE_SIZE) as u32;
        let mut order = mem.order();
        let mut b = crate::core::map::lock(&self.buddy);
        b.free_pages += 1 << order;
        while order < MAX_FOLIO_ORDER {
            let buddy = page ^ (1 << order);
            if !b.free[order].remove(&buddy) {
                break;
            }
            page = page.min(buddy);
            order += 1;
        }
        b.free[order].insert(page);
    }
}

impl Drop for FolioPool {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`; no FolioMem outlives the pool because
        // every holder (the page cache) is dropped with the filesystem that owns the pool.
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
        let a = pool.alloc(0).unwrap();
        let b = pool.alloc(0).unwrap();
        assert_eq!(b.ptr() as usize - a.ptr() as usize, PAGE_SIZE);
        let big = pool.alloc(MAX_FOLIO_ORDER).unwrap();
        assert!(pool.alloc(MAX_FOLIO_ORDER).is_none(), "one 2 MiB block is split, the other taken");
        assert_eq!(pool.free_bytes(), (2 << 20) - 2 * PAGE_SIZE as u64);
        pool.free(a);
        pool.free(b);
        pool.free(big);
        assert_eq!(pool.free_bytes(), 4 << 20);
        let x = pool.alloc(MAX_FOLIO_ORDER).unwrap();
        let y = pool.alloc(MAX_FOLIO_ORDER).unwrap();
        unsafe { x.ptr().write_bytes(0xaa, x.len()) };
        pool.free(x);
        pool.free(y);
    }
}
