//! Filesystem-wide state of a mounted filesystem, and the per-inode cell.

use super::AddressSpaceOps;
use crate::core::ext4::Ext4;
use crate::core::ext4::balloc::Geometry;
use crate::core::{Ino, Inode};
use crate::dev::{BioBatch, BlockDev};
use crate::mm::folio::FolioPrivate;
use crate::mm::page_alloc::FolioPool;
use crate::mm::{AddressSpace, Folio};
use crate::options::MountOptions;
use crate::stats::Stats;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

/// An inode and its page cache, behind the inode lock (`i_rwsem` and the folio locks in one).
pub struct InodeState<P> {
    /// Metadata.
    pub inode: Inode,
    /// Page cache.
    pub mapping: AddressSpace<P>,
    /// Scratch bios.
    pub bio: BioBatch,
    /// Unlinked: handles to it are stale.
    pub unlinked: bool,
}

/// One inode, shareable between threads.
pub struct InodeCell<A: AddressSpaceOps> {
    /// Inode number.
    pub ino: Ino,
    /// The locked state.
    pub state: Mutex<InodeState<A::Private>>,
}

/// An entry of the reclaim queue: a folio of some inode, identified by start and id.
pub struct LruEntry<A: AddressSpaceOps> {
    pub(crate) owner: Weak<InodeCell<A>>,
    pub(crate) start: u64,
    pub(crate) id: u64,
}

/// What every inode of a mounted filesystem shares.
pub struct Sb<A: AddressSpaceOps> {
    /// The backend.
    pub aops: A,
    /// Geometry.
    pub sb: Geometry,
    /// log2 of the block size.
    pub blkbits: u32,
    /// The device.
    pub dev: Arc<dyn BlockDev>,
    /// The on-disk filesystem: allocator, journal, inodes, extent trees, directory.
    pub ext4: Arc<Ext4>,
    /// Counters (shared across remounts).
    pub stats: Arc<Stats>,
    /// Folio memory (shared across remounts).
    pub pool: Arc<FolioPool>,
    /// Mount options.
    pub opts: MountOptions,
    pub(crate) lru: Mutex<VecDeque<LruEntry<A>>>,
    next_folio_id: AtomicU64,
}

impl<A: AddressSpaceOps> Sb<A> {
    pub(crate) fn new(
        aops: A,
        ext4: Arc<Ext4>,
        dev: Arc<dyn BlockDev>,
        stats: Arc<Stats>,
        pool: Arc<FolioPool>,
        opts: MountOptions,
    ) -> Self {
        Sb {
            aops,
            blkbits: ext4.geo.block_size.trailing_zeros(),
            sb: ext4.geo,
            ext4,
            dev,
            stats,
            pool,
            opts,
            lru: Mutex::new(VecDeque::new()),
            next_folio_id: AtomicU64::new(1),
        }
    }

    /// Whether seeded bug `b` is switched on.
    #[inline]
    pub fn bug(&self, b: crate::bugs::Bug) -> bool {
        crate::bugs::Bug::compiled_in() && self.opts.bug == Some(b)
    }

    pub(crate) fn next_folio_id(&self) -> u64 {
        self.next_folio_id.fetch_add(1, Relaxed)
    }

    pub(crate) fn lru_add(&self, owner: &Arc<InodeCell<A>>, start: u64, id: u64) {
        crate::core::map::lock(&self.lru).push_back(LruEntry { owner: Arc::downgrade(owner), start, id });
    }

    /// Returns a folio's memory to the pool, counting the private state freed with it.
    pub(crate) fn free_folio(&self, f: Folio<A::Private>) {
        let size = f.size() as u64;
        let (mem, private) = f.into_mem();
        if let Some(p) = private {
            self.stats.folio_private_bytes.sub(p.bytes() as u64);
        }
        if self.opts.page_poison {
            // SAFETY: the block belongs to the folio being freed; nothing else refers to it.
            unsafe { mem.ptr().write_bytes(crate::options::PAGE_POISON, mem.len()) };
        }
        self.pool.free(mem);
        self.stats.folio_free(size);
    }
}
