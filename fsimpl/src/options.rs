//! Mount options: what a mount asks of every layer, parsed once and passed down typed.

use crate::error::{FsError, Result};
use crate::page::PAGE_SIZE;

/// Which buffered-I/O implementation a mount uses, and when dirty data goes to the device
/// (the shared vocabulary's types).
pub use vocab::{Backend, Flusher, WritebackMode};

/// How to mount: the backend and the page-cache settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// The backend.
    pub backend: Backend,
    /// Large folios on the buffer_head backend (ext4 since Linux 6.16); iomap always has them.
    pub large_folios: bool,
    /// Largest folio in bytes, a power of two from 4 KiB to 2 MiB (default 2 MiB).
    pub max_folio: u32,
    /// Page-cache memory in bytes (rounded down to 2 MiB; default 1 GiB).
    pub cache_bytes: u64,
    /// When dirty data is written back.
    pub writeback: WritebackMode,
    /// Dirty share of the cache that starts background writeback, percent (default 10).
    pub dirty_background_ratio: u32,
    /// Dirty share of the cache that writers are throttled at, percent (`dirty_ratio`,
    /// default 20). Between the background level and this, writers are throttled ever harder
    /// from halfway up (the freerun ceiling).
    pub dirty_ratio: u32,
    /// Dirty data older than this is written back by the flusher, in hundredths of a second
    /// (`dirty_expire_centisecs`, default 3000).
    pub dirty_expire_centisecs: u32,
    /// How often the flusher wakes to write old data, in hundredths of a second
    /// (`dirty_writeback_centisecs`, default 500; 0: never).
    pub dirty_writeback_centisecs: u32,
    /// Who does background writeback: the per-mount flusher thread (the kernel's way, the
    /// default), or the writer itself, inline, so that every counter is exact and repeatable.
    pub flusher: Flusher,
    /// Readahead window, KiB (`read_ahead_kb`); `None`: the device's.
    pub readahead_kb: Option<u32>,
    /// ext4's `dioread_nolock` (the default since Linux 5.6): buffer_head writeback allocates
    /// unwritten extents and converts them when the write completes. Off
    /// (`nodioread_nolock`): it allocates written extents.
    pub dioread_nolock: bool,
    /// A seeded bug to switch on (needs the `bug_injection` feature).
    pub bug: Option<crate::bugs::Bug>,
    /// Fill freed folio memory with [`PAGE_POISON`] (`CONFIG_PAGE_POISONING`), so that a path
    /// that exposes memory it never initialised shows it at once. Costs a fill per freed folio.
    pub page_poison: bool,
    /// Faults the filesystem injects itself (device faults come from
    /// [`FaultDev`](crate::dev::FaultDev)).
    pub faults: FsFaults,
    /// The journal commits its running transaction at least this often (ext4's `commit=`
    /// mount option, 5 s by default); `None`: only when asked (fsync, sync, a full
    /// transaction, unmount), which keeps counters exact for tests and the CI gate.
    pub commit_interval: Option<std::time::Duration>,
}

/// Faults a mounted filesystem injects into its own allocator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsFaults {
    /// ENOSPC once this many data blocks are in use or reserved for delayed allocation: a
    /// delalloc reservation (a buffered write into a hole) or an allocation (fallocate) past it
    /// fails; blocks already reserved are still allocated at writeback, as ext4 keeps the
    /// promise of `ext4_da_reserve_space`. Counted in blocks, not calls, so that both backends
    /// hit it at the same point (buffer_head reserves block by block, iomap per extent).
    pub alloc_limit: Option<u64>,
}

/// The byte freed folio memory is filled with when `page_poison` is on (the kernel's
/// `PAGE_POISON`).
pub const PAGE_POISON: u8 = 0xaa;

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            backend: Backend::BufferHead,
            large_folios: false,
            max_folio: 2 << 20,
            cache_bytes: 1 << 30,
            writeback: WritebackMode::On,
            dirty_background_ratio: 10,
            dirty_ratio: 20,
            dirty_expire_centisecs: 3000,
            dirty_writeback_centisecs: 500,
            flusher: Flusher::Thread,
            readahead_kb: None,
            dioread_nolock: true,
            bug: None,
            page_poison: false,
            faults: FsFaults::default(),
            commit_interval: Some(std::time::Duration::from_secs(5)),
        }
    }
}

impl MountOptions {
    /// The options for a backend, defaults otherwise.
    pub fn for_backend(backend: Backend) -> Self {
        MountOptions { backend, ..Default::default() }
    }

    /// Largest folio order these options allow for the backend.
    pub fn max_folio_order(&self) -> usize {
        let large = self.backend == Backend::Iomap || self.large_folios;
        if !large {
            return 0;
        }
        (self.max_folio.max(PAGE_SIZE as u32) / PAGE_SIZE as u32).ilog2() as usize
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !self.max_folio.is_power_of_two() || !(4096..=2 << 20).contains(&self.max_folio) {
            return Err(FsError::invalid(format!("max_folio {}: use a power of two from 4K to 2M", self.max_folio)));
        }
        if self.dirty_background_ratio == 0 || self.dirty_ratio > 100 || self.dirty_background_ratio > self.dirty_ratio
        {
            return Err(FsError::invalid("dirty ratios: need 1 <= dirty_background_ratio <= dirty_ratio <= 100"));
        }
        if let Some(b) = self.bug
            && !crate::bugs::Bug::compiled_in()
        {
            return Err(FsError::invalid(format!(
                "bug {}: seeded bugs need fsimpl built with the bug_injection feature",
                b.name()
            )));
        }
        if self.readahead_kb.is_some_and(|kb| kb > 1 << 20) {
            return Err(FsError::invalid("readahead_kb: at most 1 GiB"));
        }
        if self.cache_bytes < 2 << 20 {
            return Err(FsError::invalid("cache must be at least 2 MiB"));
        }
        Ok(())
    }
}
