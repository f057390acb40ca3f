//! A folio: a power-of-two run of pages of one file in the page cache (`struct folio`).

use super::page_alloc::{FolioMem, PAGE_SHIFT, PAGE_SIZE};

/// Per-folio state a backend attaches (`folio->private`): buffer heads or iomap folio state.
pub trait FolioPrivate: Send {
    /// Bytes of memory this state takes (for the `folio_private_bytes` counter).
    fn bytes(&self) -> usize;
}

const UPTODATE: u8 = 1;
const DIRTY: u8 = 2;
const ERROR: u8 = 4;
const READAHEAD: u8 = 8;
const REFERENCED: u8 = 16;
const DROPBEHIND: u8 = 32;
const LOCKED: u8 = 64;

/// One folio: `1 << order` pages of file data starting at page `index`.
pub struct Folio<P> {
    index: u64,
    mem: FolioMem,
    flags: u8,
    /// References beyond the page cache's own (`folio_get` / `folio_put`): a reader holding
    /// the folio across a call that may reclaim.
    refs: u32,
    id: u64,
    /// The backend's per-folio state, if attached.
    pub private: Option<P>,
}

impl<P> Folio<P> {
    pub(crate) fn new(index: u64, mem: FolioMem, id: u64) -> Self {
        debug_assert_eq!(index % (1 << mem.order()), 0, "folio index must be aligned to its order");
        Folio { index, mem, flags: 0, refs: 0, id, private: None }
    }

    pub(crate) fn into_mem(self) -> (FolioMem, Option<P>) {
        (self.mem, self.private)
    }

    /// First page index.
    pub fn index(&self) -> u64 {
        self.index
    }
    /// Unique id of this folio (distinguishes it from a later folio at the same index).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Order: the folio holds `1 << order` pages.
    pub fn order(&self) -> usize {
        self.mem.order()
    }
    /// Number of pages.
    pub fn nr_pages(&self) -> u64 {
        1 << self.order()
    }
    /// One past the last page index.
    pub fn end_index(&self) -> u64 {
        self.index + self.nr_pages()
    }
    /// Size in bytes (`folio_size`).
    pub fn size(&self) -> usize {
        PAGE_SIZE << self.order()
    }
    /// File byte offset of the first byte (`folio_pos`).
    pub fn pos(&self) -> u64 {
        self.index << PAGE_SHIFT
    }
    /// File byte offset one past the last byte.
    pub fn end_pos(&self) -> u64 {
        self.pos() + self.size() as u64
    }
    /// The folio's bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the memory block belongs to this folio alone for its whole life.
        unsafe { std::slice::from_raw_parts(self.mem.ptr(), self.size()) }
    }
    /// The folio's bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.mem.ptr(), self.size()) }
    }
    /// Address of byte `off` of the folio, for building bios.
    pub fn ptr_at(&mut self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.size());
        // SAFETY: in bounds of the folio's block.
        unsafe { self.mem.ptr().add(off) }
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    fn set(&mut self, f: u8, on: bool) {
        if on { self.flags |= f } else { self.flags &= !f }
    }

    /// Every byte is valid (`folio_test_uptodate`).
    pub fn uptodate(&self) -> bool {
        self.has(UPTODATE)
    }
    /// Sets or clears uptodate.
    pub fn set_uptodate(&mut self, on: bool) {
        self.set(UPTODATE, on)
    }
    /// Holds data not yet written back. Changed only through the address space, which keeps
    /// the dirty tag and the accounting.
    pub fn dirty(&self) -> bool {
        self.has(DIRTY)
    }
    pub(crate) fn set_dirty(&mut self, on: bool) {
        self.set(DIRTY, on)
    }
    /// A read of it failed (`folio_test_error`).
    pub fn error(&self) -> bool {
        self.has(ERROR)
    }
    /// Sets or clears the error flag.
    pub fn set_error(&mut self, on: bool) {
        self.set(ERROR, on)
    }
    /// The readahead marker (`PG_readahead`): reaching it starts the next window.
    pub fn readahead_mark(&self) -> bool {
        self.has(READAHEAD)
    }
    /// Sets or clears the readahead marker.
    pub fn set_readahead_mark(&mut self, on: bool) {
        self.set(READAHEAD, on)
    }
    /// Accessed since reclaim last looked (`PG_referenced`).
    pub fn referenced(&self) -> bool {
        self.has(REFERENCED)
    }
    /// Sets or clears the referenced bit.
    pub fn set_referenced(&mut self, on: bool) {
        self.set(REFERENCED, on)
    }
    /// Drop once written back or read (`PG_dropbehind`, RWF_DONTCACHE).
    pub fn dropbehind(&self) -> bool {
        self.has(DROPBEHIND)
    }
    /// Sets or clears dropbehind.
    pub fn set_dropbehind(&mut self, on: bool) {
        self.set(DROPBEHIND, on)
    }

    /// Locked: being read in or written by the inode's owner; reclaim and writeback leave it
    /// alone (`folio_test_locked`).
    pub fn locked(&self) -> bool {
        self.has(LOCKED)
    }
    /// Locks or unlocks.
    pub fn set_locked(&mut self, on: bool) {
        self.set(LOCKED, on)
    }

    /// Takes a reference (`folio_get`).
    pub fn get(&mut self) {
        self.refs += 1;
    }
    /// Drops a reference taken with [`Folio::get`] (`folio_put`).
    pub fn put(&mut self) {
        debug_assert!(self.refs > 0, "folio_put without folio_get");
        self.refs -= 1;
    }
    /// Someone beyond the cache holds the folio: reclaim must leave it (`folio_ref_freeze`
    /// fails in `__remove_mapping`).
    pub fn in_use(&self) -> bool {
        self.refs > 0
    }

    /// Zeroes `len` bytes at `off` (`folio_zero_range`); returns `len` for the counter.
    pub fn zero(&mut self, off: usize, len: usize) -> usize {
        self.data_mut()[off..off + len].fill(0);
        len
    }
}
