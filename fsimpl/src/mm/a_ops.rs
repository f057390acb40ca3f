//! The address-space operations (`struct address_space_operations`): what the page cache
//! asks of a filesystem's buffered-I/O implementation. mm calls them; the backends in
//! [`crate::aops`] implement them.

use super::folio::{Folio, FolioPrivate};
use super::inode::Inode;
use super::page_writeback::WritebackControl;
use super::readahead::ReadaheadControl;
use super::sb::Sb;
use crate::error::Result;
use std::sync::Arc;

/// The address-space operations of a mounted filesystem.
///
/// They are called without the inode's locks unless a method says otherwise; they take the
/// folio locks and `i_data_sem` they need, as the kernel's do.
pub trait AddressSpaceOps: Send + Sync + Sized + 'static {
    /// Per-folio state (`folio->private`).
    type Private: FolioPrivate;

    /// "bh" or "iomap".
    fn name(&self) -> &'static str;

    /// Largest folio order the cache may use for this mapping (`mapping_max_folio_order`).
    fn max_folio_order(&self) -> usize;

    /// Starts reading the locked, not uptodate `folio` (`read_folio`): it is unlocked when
    /// the read completes, uptodate if it succeeded. An error is returned only when nothing
    /// could be started (and then the folio is unlocked already).
    fn read_folio(&self, sb: &Sb<Self>, inode: &Arc<Inode<Self::Private>>, folio: &Folio<Self::Private>) -> Result<()>;

    /// Starts reading the locked, new folios of `rac` (`readahead`); each is unlocked when
    /// its read completes. Folios it leaves in `rac` are unlocked by the caller, not uptodate.
    fn readahead(&self, sb: &Sb<Self>, inode: &Arc<Inode<Self::Private>>, rac: &mut ReadaheadControl<Self::Private>);

    /// Whether bytes `[from, from + count)` of the locked, not uptodate `folio` are valid
    /// (`is_partially_uptodate`), so a read can copy them without `read_folio`.
    fn is_partially_uptodate(&self, folio: &Folio<Self::Private>, from: usize, count: usize) -> bool;

    /// Writes back dirty folios of the range (`writepages`): starts the I/O; folios leave
    /// writeback as it completes.
    fn writepages(&self, sb: &Sb<Self>, inode: &Arc<Inode<Self::Private>>, wbc: &mut WritebackControl) -> Result<()>;

    /// The byte range `[offset, offset + len)` of the locked `folio` is being truncated away
    /// or punched (`invalidate_folio`); drop per-block state there, and all of it when the
    /// whole folio goes.
    fn invalidate_folio(&self, sb: &Sb<Self>, folio: &Folio<Self::Private>, offset: usize, len: usize);

    /// Frees the private state of the locked, clean `folio` so that it can leave the cache;
    /// false to refuse (`release_folio`).
    fn release_folio(&self, sb: &Sb<Self>, folio: &Folio<Self::Private>) -> bool;
}
