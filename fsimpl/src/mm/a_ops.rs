//! The address-space operations (`struct address_space_operations`): what the page cache
//! asks of a filesystem's buffered-I/O implementation. mm calls them; the backends in
//! [`crate::aops`] implement them.

use super::Ctx;
use super::Folio;
use super::folio::FolioPrivate;
use super::page_writeback::WritebackControl;
use crate::error::Result;

/// The address-space operations of a mounted filesystem (`struct address_space_operations`).
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
}
