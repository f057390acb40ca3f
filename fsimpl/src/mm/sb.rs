//! Filesystem-wide state of a mounted filesystem, and the per-inode cell.

use super::AddressSpaceOps;
use crate::core::meta::Superblock;
use crate::core::{BlockAllocator, Ino, Inode};
use crate::dev::{BioBatch, BlockDev};
use crate::mm::folio::FolioPrivate;
use crate::mm::page_alloc::FolioPool;
use crate::mm::{AddressSpace, Folio};
use crate::options::MountOptions;
use crate::stats::Stats;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

/// Blocks per allocation group: where each inode's first extent goes (ext4's block groups).
pub const GROUP_BLOCKS: u64 = 32768;

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
    pub sb: Superblock,
    /// log2 of the block size.
    pub blkbits: u32,
    /// The device.
    pub dev: Arc<dyn BlockDev>,
    /// Free space and reservations.
    pub alloc: Mutex<BlockAllocator>,
    /// Counters (shared across remounts).
    pub stats: Arc<Stats>,
    /// Folio memory (shared across remounts).
    pub pool: Arc<FolioPool>,
    /// Mount options.
    pub opts: MountOptions,
    pub(crate) lru: Mutex<VecDeque<LruEntry<A>>>,
    next_folio_id: AtomicU64,
    meta_dirty: AtomicBool,
}

impl<A: AddressSpaceOps> Sb<A> {
    pub(crate) fn new(
        aops: A,
        sb: Superblock,
        dev: Arc<dyn BlockDev>,
        alloc: BlockAllocator,
        stats: Arc<Stats>,
        pool: Arc<FolioPool>,
        opts: MountOptions,
    ) -> Self {
        Sb {
            aops,
            blkbits: sb.block_size.trailing_zeros(),
            sb,
            dev,
            alloc: Mutex::new(alloc),
            stats,
            pool,
            opts,
            lru: Mutex::new(VecDeque::new()),
            next_folio_id: AtomicU64::new(1),
            meta_dirty: AtomicBool::new(false),
        }
    }

    /// Whether seeded bug `b` is switched on.
    #[inline]
    pub fn bug(&self, b: crate::bugs::Bug) -> bool {
        crate::bugs::Bug::compiled_in() && self.opts.bug == Some(b)
    }

    /// Where inode `ino`'s first extent goes: the start of its allocation group.
    pub fn default_goal(&self, ino: Ino) -> u64 {
        let data = self.sb.end_block - self.sb.first_data;
        self.sb.first_data + (ino.saturating_sub(1) * GROUP_BLOCKS) % data
    }

    pub(crate) fn next_folio_id(&self) -> u64 {
        self.next_folio_id.fetch_add(1, Relaxed)
    }

    /// Metadata changed since the last sync.
    pub(crate) fn note_meta_dirty(&self) {
        self.meta_dirty.store(true, Relaxed);
    }

    pub(crate) fn take_meta_dirty(&self) -> bool {
        self.meta_dirty.swap(false, Relaxed)
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
