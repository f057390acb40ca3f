//! The page cache: folios per file, the memory they come from, and the generic paths around
//! them that both backends share — what `mm/filemap.c`, `mm/readahead.c`, `mm/truncate.c`,
//! `mm/page-writeback.c` and `mm/vmscan.c` are in the kernel.

pub mod filemap;
pub mod folio;
pub mod mapping;
pub mod pool;
pub mod readahead;
pub mod reclaim;
pub mod truncate;
pub mod writeback;

pub use folio::{Folio, FolioPrivate};
pub use mapping::{AddressSpace, DirtyTags, RaState};
pub use pool::{FolioPool, PAGE_SHIFT, PAGE_SIZE};

/// When dirty data goes to the device (the shared vocabulary's type).
pub use vocab::WritebackMode;
