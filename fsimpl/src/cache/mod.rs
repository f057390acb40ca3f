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

/// When dirty data goes to the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WritebackMode {
    /// Background writeback once dirty data passes the background threshold (the default).
    #[default]
    On,
    /// No background writeback (`dirty_writeback_centisecs=0`, dirty ratios 100: the "cache"
    /// rows of the kernel's tables); only fsync, sync, unmount or a full cache write data back.
    Off,
    /// Every write is written back at once and its folios dropped (RWF_DONTCACHE).
    DontCache,
}

impl std::str::FromStr for WritebackMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(WritebackMode::On),
            "off" => Ok(WritebackMode::Off),
            "dontcache" => Ok(WritebackMode::DontCache),
            _ => Err(format!("writeback mode '{s}': use on, off or dontcache")),
        }
    }
}
