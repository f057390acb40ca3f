//! The page cache: folios per file, the memory they come from, and the generic paths around
//! them that both backends share — what `mm/filemap.c`, `mm/readahead.c`, `mm/truncate.c`,
//! `mm/page-writeback.c` and `mm/vmscan.c` are in the kernel.

pub mod a_ops;
mod ctx;
pub mod filemap;
pub mod folio;
pub mod mapping;
pub mod page_alloc;
pub mod page_writeback;
pub mod readahead;
mod sb;
pub mod truncate;
pub mod vmscan;

pub use crate::options::WritebackMode;
pub use a_ops::AddressSpaceOps;
pub use ctx::{Ctx, FolioRef};
pub use folio::{Folio, FolioPrivate};
pub use mapping::{AddressSpace, DirtyTags, RaState};
pub use page_alloc::{FolioPool, PAGE_SHIFT, PAGE_SIZE};
pub use page_writeback::WritebackControl;
pub use sb::{GROUP_BLOCKS, InodeCell, InodeState, Sb};
