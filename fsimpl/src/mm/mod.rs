//! The page cache and its machinery — what `mm/` (and the VFS writeback in `fs/`) are in the
//! kernel:
//!
//! - [`page_alloc`]: folio memory, `struct page`s, the buddy and per-CPU lists, the LRU;
//! - [`folio`]: folios, their flags, lock and private state;
//! - [`mapping`], [`inode`]: a file's page cache and the VFS inode around it;
//! - [`filemap`], [`readahead`]: finding, creating and reading folios;
//! - [`page_writeback`], [`backing_dev`]: dirty accounting, writeback, throttling, the flusher;
//! - [`truncate`], [`vmscan`]: taking folios out of the cache;
//! - [`a_ops`]: the operations a filesystem gives the cache (`address_space_operations`);
//! - [`sb`]: what a mount's inodes share.

pub mod a_ops;
pub mod backing_dev;
pub mod filemap;
pub mod folio;
pub mod inode;
pub mod mapping;
pub mod page_alloc;
pub mod page_writeback;
pub mod readahead;
mod sb;
pub mod truncate;
pub mod vmscan;

pub use crate::options::WritebackMode;
pub use a_ops::AddressSpaceOps;
pub use folio::{Folio, FolioPrivate};
pub use inode::Inode;
pub use mapping::{AddressSpace, RaState};
pub use page_alloc::{FolioPool, PAGE_SHIFT, PAGE_SIZE};
pub use page_writeback::WritebackControl;
pub use readahead::ReadaheadControl;
pub use sb::Sb;
