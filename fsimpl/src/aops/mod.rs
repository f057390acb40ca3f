//! The seam between the shared filesystem core and a buffered-I/O implementation: the
//! address-space operations (`struct address_space_operations`), plus the buffered write entry
//! (ext4's `generic_perform_write` with `write_begin`/`write_end`, or
//! `iomap_file_buffered_write`) and the zeroing helpers each layer brings.
//!
//! Two implementations: [`BufferHeadAops`] (ext4's `ext4_da_aops` over `fs/buffer.c`) and
//! [`IomapAops`] (`ext4_iomap_aops` over `fs/iomap/buffered-io.c`).

pub mod buffer_head;
pub mod iomap;

pub use buffer_head::{BufferHead, BufferHeadAops};
pub use iomap::{IomapAops, IomapFolioState};

use crate::cache::Folio;
use crate::cache::folio::FolioPrivate;
use crate::error::Result;
use crate::fs::Ctx;

/// What a writeback pass should do (`struct writeback_control`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritebackControl {
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
    /// Pages still to write; writeback stops after a folio takes it to zero.
    pub nr_to_write: u64,
    /// Data-integrity writeback (`WB_SYNC_ALL`, fsync) rather than background.
    pub sync: bool,
    /// Set by `writepages`: the page after the last folio it looked at, where the next
    /// background pass resumes (`mapping->writeback_index`).
    pub done_index: u64,
}

impl WritebackControl {
    /// Everything in `[start, end)`, for data integrity.
    pub fn sync_range(start: u64, end: u64) -> Self {
        WritebackControl { start, end, nr_to_write: u64::MAX, sync: true, done_index: 0 }
    }

    /// Background writeback of about `pages` pages from byte `start` to EOF.
    pub fn background(start: u64, pages: u64) -> Self {
        WritebackControl { start, end: u64::MAX, nr_to_write: pages, sync: false, done_index: 0 }
    }
}

/// A buffered-I/O implementation: the backend of one mounted filesystem.
///
/// Methods run with the inode locked (the `Fs` layer takes the locks); they reach the inode,
/// its page cache, the allocator and the device through the [`Ctx`].
pub trait AddressSpaceOps: Send + Sync + Sized + 'static {
    /// Per-folio state (`folio->private`).
    type Private: FolioPrivate;

    /// "bh" or "iomap".
    fn name(&self) -> &'static str;

    /// Largest folio order the cache may use for this mapping (`mapping_max_folio_order`).
    fn max_folio_order(&self) -> usize;

    /// Buffered write of `data` at file offset `pos`; returns the bytes written, short only
    /// when an error stopped it after some progress (then the error is dropped, as
    /// `generic_perform_write` does).
    fn write_iter(&self, cx: &mut Ctx<'_, Self>, pos: u64, data: &[u8]) -> Result<usize>;

    /// Fills the folios of pages `[start, end)` that readahead just added (not uptodate).
    fn readahead(&self, cx: &mut Ctx<'_, Self>, start: u64, end: u64) -> Result<()>;

    /// Brings the cached folio starting at page `start` fully uptodate (`read_folio`).
    fn read_folio(&self, cx: &mut Ctx<'_, Self>, start: u64) -> Result<()>;

    /// Whether bytes `[from, from + count)` of a not-uptodate folio are valid
    /// (`is_partially_uptodate`), so a read can copy them without `read_folio`.
    fn is_partially_uptodate(&self, folio: &Folio<Self::Private>, from: usize, count: usize) -> bool;

    /// Writes back dirty folios of the range (`writepages`).
    fn writepages(&self, cx: &mut Ctx<'_, Self>, wbc: &mut WritebackControl) -> Result<()>;

    /// The byte range `[offset, offset + len)` of the folio is being truncated away or
    /// punched (`invalidate_folio`); drop per-block state there.
    fn invalidate_folio(&self, cx: &mut Ctx<'_, Self>, start: u64, offset: usize, len: usize);

    /// Frees per-folio state so that reclaim can drop a clean folio; false to refuse
    /// (`release_folio`).
    fn release_folio(&self, folio: &mut Folio<Self::Private>) -> bool;

    /// Zeroes `[pos, pos + len)` through the cache where data could be (`iomap_zero_range`,
    /// ext4's `ext4_block_zero_page_range`): partial blocks of punch, zero_range and
    /// truncate.
    fn zero_range(&self, cx: &mut Ctx<'_, Self>, pos: u64, len: u64) -> Result<()>;

    /// Zeroes from `pos` to the end of its block (`ext4_block_truncate_page`,
    /// `iomap_truncate_page`).
    fn truncate_page(&self, cx: &mut Ctx<'_, Self>, pos: u64) -> Result<()> {
        let bs = cx.block_size() as u64;
        let off = pos % bs;
        if off == 0 {
            return Ok(());
        }
        self.zero_range(cx, pos, bs - off)
    }
}
