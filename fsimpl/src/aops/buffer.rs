//! Buffer heads (`fs/buffer.c`, `include/linux/buffer_head.h`): the per-block state the
//! buffer_head backend keeps for every block of a folio. As in the kernel, each is its own
//! 104-byte object from a slab cache (`bh_cachep`, `alloc_buffer_head`), and a folio's
//! buffers are a ring linked through `b_this_page`, hung off `folio->private`.

use crate::core::MapKind;
use crate::kernel::lock;
use crate::kernel::percpu::PerCpu;
use crate::mm::FolioPrivate;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

pub(crate) const BH_UPTODATE: u32 = 1 << 0;
pub(crate) const BH_DIRTY: u32 = 1 << 1;
pub(crate) const BH_MAPPED: u32 = 1 << 5;
pub(crate) const BH_NEW: u32 = 1 << 6;
pub(crate) const BH_ASYNC_READ: u32 = 1 << 7;
pub(crate) const BH_ASYNC_WRITE: u32 = 1 << 8;
pub(crate) const BH_DELAY: u32 = 1 << 9;
pub(crate) const BH_WRITE_EIO: u32 = 1 << 11;
pub(crate) const BH_UNWRITTEN: u32 = 1 << 12;

/// One block of a folio (`struct buffer_head`), laid out as the kernel's (104 bytes on
/// 64-bit): the fields this model uses are live, the rest keep their place.
#[repr(C)]
#[derive(Debug)]
pub struct BufferHead {
    /// State bits (`b_state`), changed with atomic bit operations.
    b_state: AtomicU32,
    /// The next buffer of the folio (`b_this_page`), circular.
    b_this_page: AtomicUsize,
    /// The folio's head page frame (`b_folio`).
    b_folio: AtomicUsize,
    /// Disk block (`b_blocknr`), meaningful when mapped and not delayed.
    b_blocknr: AtomicU64,
    /// Block size (`b_size`).
    b_size: usize,
    /// Offset of the block in the folio (`b_data`).
    b_data: usize,
    _b_bdev: usize,
    _b_end_io: usize,
    _b_private: usize,
    _b_assoc_buffers: [usize; 2],
    _b_assoc_map: usize,
    _b_count: AtomicI32,
    _b_uptodate_lock: u32,
}

macro_rules! bh_flag {
    ($get:ident, $set:ident, $clear:ident, $bit:ident) => {
        #[doc = concat!("`buffer_", stringify!($get), "`.")]
        pub fn $get(&self) -> bool {
            self.b_state.load(Relaxed) & $bit != 0
        }
        #[doc = concat!("`set_buffer_", stringify!($get), "`.")]
        pub fn $set(&self) {
            self.b_state.fetch_or($bit, Relaxed);
        }
        #[doc = concat!("`clear_buffer_", stringify!($get), "`.")]
        pub fn $clear(&self) {
            self.b_state.fetch_and(!$bit, Relaxed);
        }
    };
}

impl BufferHead {
    bh_flag!(uptodate, set_uptodate, clear_uptodate, BH_UPTODATE);
    bh_flag!(dirty, set_dirty, clear_dirty, BH_DIRTY);
    bh_flag!(mapped, set_mapped, clear_mapped, BH_MAPPED);
    bh_flag!(is_new, set_new, clear_new, BH_NEW);
    bh_flag!(delay, set_delay, clear_delay, BH_DELAY);
    bh_flag!(unwritten, set_unwritten, clear_unwritten, BH_UNWRITTEN);
    bh_flag!(async_read, set_async_read, clear_async_read, BH_ASYNC_READ);
    bh_flag!(async_write, set_async_write, clear_async_write, BH_ASYNC_WRITE);
    bh_flag!(write_io_error, set_write_io_error, clear_write_io_error, BH_WRITE_EIO);

    /// Disk block.
    pub fn blocknr(&self) -> u64 {
        self.b_blocknr.load(Relaxed)
    }
    /// Sets the disk block.
    pub fn set_blocknr(&self, b: u64) {
        self.b_blocknr.store(b, Relaxed)
    }
    /// Block size.
    pub fn size(&self) -> usize {
        self.b_size
    }
    /// The head page frame of the folio the buffer belongs to (`bh->b_folio`).
    pub fn folio_pfn(&self) -> u32 {
        self.b_folio.load(Relaxed) as u32
    }
    /// Offset of the block in its folio (`bh_offset`).
    pub fn offset(&self) -> usize {
        self.b_data
    }

    /// Maps the buffer from a `get_block` result (`map_bh` + `ext4_update_bh_state`, as
    /// `ext4_da_get_block_prep` and `ext4_get_block` do): delalloc is mapped to no block and
    /// delayed; unwritten is mapped and, on the write path, new.
    pub fn map_from(&self, kind: MapKind, pblk: u64, for_write: bool) {
        match kind {
            MapKind::Hole => {}
            MapKind::Delalloc => {
                self.set_blocknr(0);
                self.b_state.fetch_or(BH_MAPPED | BH_NEW | BH_DELAY, Relaxed);
            }
            MapKind::Mapped => {
                self.set_blocknr(pblk);
                self.set_mapped();
            }
            MapKind::Unwritten => {
                self.set_blocknr(pblk);
                let new = if for_write { BH_NEW } else { 0 };
                self.b_state.fetch_or(BH_MAPPED | BH_UNWRITTEN | new, Relaxed);
            }
        }
    }

    /// Drops mapping and dirtiness (`discard_buffer`); uptodate stays.
    pub fn discard(&self) {
        self.b_state.fetch_and(!(BH_DIRTY | BH_MAPPED | BH_NEW | BH_DELAY | BH_UNWRITTEN), Relaxed);
        self.set_blocknr(0);
    }

    /// The next buffer of the folio.
    fn next(&self) -> &BufferHead {
        // SAFETY: the ring holds live buffers, freed together with the ring.
        unsafe { &*(self.b_this_page.load(Relaxed) as *const BufferHead) }
    }
}

/// The slab cache of buffer heads (`bh_cachep`): per-CPU free lists in front of the heap
/// (`kmem_cache_alloc` / `kmem_cache_free`).
struct BhCache {
    free: PerCpu<Mutex<Vec<NonNull<BufferHead>>>>,
}

// SAFETY: the free lists hold unused objects owned by the cache.
unsafe impl Send for BhCache {}
unsafe impl Sync for BhCache {}

/// Objects a CPU's free list keeps at most.
const BH_CACHE_LIMIT: usize = 4096;

fn bh_cache() -> &'static BhCache {
    static CACHE: OnceLock<BhCache> = OnceLock::new();
    CACHE.get_or_init(|| BhCache { free: PerCpu::default() })
}

/// `alloc_buffer_head`.
fn alloc_buffer_head(size: usize, data: usize, pfn: u32, state: u32) -> NonNull<BufferHead> {
    let bh = BufferHead {
        b_state: AtomicU32::new(state),
        b_this_page: AtomicUsize::new(0),
        b_folio: AtomicUsize::new(pfn as usize),
        b_blocknr: AtomicU64::new(0),
        b_size: size,
        b_data: data,
        _b_bdev: 0,
        _b_end_io: 0,
        _b_private: 0,
        _b_assoc_buffers: [0; 2],
        _b_assoc_map: 0,
        _b_count: AtomicI32::new(0),
        _b_uptodate_lock: 0,
    };
    match lock(bh_cache().free.this()).pop() {
        Some(p) => {
            // SAFETY: a free object of the cache: ours to overwrite.
            unsafe { p.as_ptr().write(bh) };
            p
        }
        None => NonNull::from(Box::leak(Box::new(bh))),
    }
}

/// `free_buffer_head`.
fn free_buffer_head(p: NonNull<BufferHead>) {
    let mut free = lock(bh_cache().free.this());
    if free.len() < BH_CACHE_LIMIT {
        free.push(p);
    } else {
        drop(free);
        // SAFETY: allocated by `alloc_buffer_head` as a Box, unused now.
        drop(unsafe { Box::from_raw(p.as_ptr()) });
    }
}

/// The buffers of one folio (`folio_buffers`): the head of the ring, and the lock that
/// serialises I/O completions deciding whether the folio is done (`b_uptodate_lock` of the
/// first buffer).
#[derive(Debug)]
pub struct BufferHeads {
    head: NonNull<BufferHead>,
    n: usize,
    /// `BH_Uptodate_Lock` of the first buffer.
    pub(crate) uptodate_lock: Mutex<()>,
}

// SAFETY: the ring's buffers are reached only through the folio (under its lock or its I/O).
unsafe impl Send for BufferHeads {}
unsafe impl Sync for BufferHeads {}

impl FolioPrivate for BufferHeads {
    fn bytes(&self) -> usize {
        self.n * std::mem::size_of::<BufferHead>()
    }
}

impl BufferHeads {
    /// One buffer per `block_size` bytes of a folio of `folio_size` bytes at head `pfn`,
    /// with `state` (`folio_alloc_buffers` / `create_empty_buffers`).
    pub(crate) fn new(folio_size: usize, block_size: usize, pfn: u32, state: u32) -> Box<BufferHeads> {
        let n = folio_size / block_size;
        let mut first: Option<NonNull<BufferHead>> = None;
        let mut prev: Option<NonNull<BufferHead>> = None;
        for i in 0..n {
            let bh = alloc_buffer_head(block_size, i * block_size, pfn, state);
            match prev {
                // SAFETY: a live buffer just allocated.
                Some(p) => unsafe { p.as_ref() }.b_this_page.store(bh.as_ptr() as usize, Relaxed),
                None => first = Some(bh),
            }
            prev = Some(bh);
        }
        let head = first.expect("a folio has at least one block");
        // SAFETY: as above; close the ring.
        unsafe { prev.expect("a last buffer").as_ref() }.b_this_page.store(head.as_ptr() as usize, Relaxed);
        Box::new(BufferHeads { head, n, uptodate_lock: Mutex::new(()) })
    }

    /// Number of buffers.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The buffers in folio order, walking the ring.
    pub fn iter(&self) -> impl Iterator<Item = &BufferHead> {
        // SAFETY: the head is live while `self` is.
        let mut bh: &BufferHead = unsafe { self.head.as_ref() };
        (0..self.n).map(move |i| {
            let cur = bh;
            if i + 1 < self.n {
                bh = bh.next();
            }
            cur
        })
    }

    /// Buffer `i`, walking the ring to it.
    pub fn get(&self, i: usize) -> &BufferHead {
        self.iter().nth(i).expect("a buffer of the folio")
    }
}

impl Drop for BufferHeads {
    /// `try_to_free_buffers` → `free_buffer_head` for each.
    fn drop(&mut self) {
        let mut p = self.head;
        for _ in 0..self.n {
            // SAFETY: a live buffer of the ring, freed once.
            let next = unsafe { p.as_ref() }.b_this_page.load(Relaxed);
            free_buffer_head(p);
            p = NonNull::new(next as *mut BufferHead).unwrap_or(self.head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_head_has_the_kernels_size() {
        assert_eq!(std::mem::size_of::<BufferHead>(), 104);
    }

    #[test]
    fn a_ring_walks_in_folio_order_and_frees_its_buffers() {
        let bhs = BufferHeads::new(16384, 1024, 7, BH_UPTODATE);
        assert_eq!(bhs.len(), 16);
        assert_eq!(bhs.bytes(), 16 * 104);
        let offs: Vec<usize> = bhs.iter().map(|b| b.offset()).collect();
        assert_eq!(offs, (0..16).map(|i| i * 1024).collect::<Vec<_>>());
        assert!(bhs.iter().all(|b| b.uptodate() && !b.dirty()));
        bhs.get(3).set_dirty();
        assert!(bhs.get(3).dirty() && !bhs.get(4).dirty());
    }
}
