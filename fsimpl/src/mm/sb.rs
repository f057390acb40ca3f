//! What every inode of a mounted filesystem shares (`struct super_block` with its
//! `backing_dev_info`): the backend, the device, the allocator, the page-cache memory, the
//! counters, the writeback state and flusher, and the I/O-completion workqueue.

use super::AddressSpaceOps;
use super::backing_dev::Writeback;
use super::inode::Inode;
use super::page_alloc::{FolioPool, PAGE_SIZE};
use crate::core::map::{self, MAX_FILE_BLOCKS, MapCtx};
use crate::core::meta::Superblock;
use crate::core::{BlockAllocator, Ino, MapKind, MapOp, Mapping};
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::kernel::workqueue::Workqueue;
use crate::kernel::{read, write};
use crate::options::{Flusher, MountOptions};
use crate::stats::{MapCaller, Stats};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Blocks per allocation group: where each inode's first extent goes (ext4's block groups).
pub const GROUP_BLOCKS: u64 = 32768;

/// A mounted filesystem's shared state.
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
    /// Readahead window in pages (`bdi->ra_pages`).
    pub ra_pages: u64,
    /// Largest read the device takes at once, in pages (`bdi->io_pages`).
    pub io_pages: u64,
    /// The device needs pages stable while they are written (`BLK_FEAT_STABLE_WRITES`).
    pub stable_writes: bool,
    /// Writeback state and the flusher (`bdi_writeback`).
    pub(crate) wb: Writeback<A::Private>,
    /// I/O-completion work that may sleep: unwritten-extent conversion, `i_disksize`
    /// (ext4's `ext4-rsv-conversion`, XFS's `xfs-conv`).
    pub(crate) end_io_wq: Workqueue,
    /// Metadata changed since the last commit: a data-integrity sync must commit.
    meta_dirty: AtomicBool,
    /// Only timestamps changed since the last commit: `fsync` commits, `fdatasync` need not.
    meta_dirty_sync: AtomicBool,
    /// This, for I/O completions that must hold the mount alive.
    me: std::sync::Weak<Sb<A>>,
}

impl<A: AddressSpaceOps> Sb<A> {
    /// The shared state of a new mount. The flusher is started by [`Sb::start_flusher`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        aops: A,
        sb: Superblock,
        dev: Arc<dyn BlockDev>,
        alloc: BlockAllocator,
        stats: Arc<Stats>,
        pool: Arc<FolioPool>,
        opts: MountOptions,
    ) -> Result<Arc<Self>> {
        let limits = dev.limits();
        let ra_kb = opts.readahead_kb.unwrap_or(limits.read_ahead_kb);
        let end_io_wq = match opts.flusher {
            Flusher::Inline => Workqueue::inline(),
            Flusher::Thread => Workqueue::new("end-io")
                .map_err(|e| FsError::invalid(format!("cannot start the I/O completion worker: {e}")))?,
        };
        pool.set_poison(opts.page_poison);
        Ok(Arc::new_cyclic(|me| Sb {
            aops,
            blkbits: sb.block_size.trailing_zeros(),
            sb,
            dev,
            alloc: Mutex::new(alloc),
            stats,
            pool,
            opts,
            ra_pages: u64::from(ra_kb) * 1024 / PAGE_SIZE as u64,
            io_pages: limits.io_pages().max(1),
            stable_writes: limits.stable_writes,
            wb: Writeback::new(),
            end_io_wq,
            meta_dirty: AtomicBool::new(false),
            meta_dirty_sync: AtomicBool::new(false),
            me: me.clone(),
        }))
    }

    /// A counted reference to this mount, for I/O in flight (`sb->s_active` held by an
    /// ioend).
    pub fn arc(&self) -> Arc<Self> {
        self.me.upgrade().expect("a mounted filesystem is alive while its I/O is")
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    /// Whether every I/O is waited for where it starts and writers write back themselves
    /// ([`Flusher::Inline`]).
    pub fn inline(&self) -> bool {
        self.opts.flusher == Flusher::Inline
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

    /// Metadata changed since the last commit.
    pub(crate) fn note_meta_dirty(&self) {
        self.meta_dirty.store(true, Relaxed);
    }

    /// Only an inode's timestamps changed (`I_DIRTY_SYNC` without `I_DIRTY_DATASYNC`).
    pub(crate) fn note_meta_dirty_sync(&self) {
        self.meta_dirty_sync.store(true, Relaxed);
    }

    /// Whether a commit is due for an fsync (`datasync` false) or fdatasync, clearing the
    /// flags when it is.
    pub(crate) fn take_meta_dirty(&self, datasync: bool) -> bool {
        let data = self.meta_dirty.swap(false, Relaxed);
        if datasync && !data {
            return false;
        }
        let sync = self.meta_dirty_sync.swap(false, Relaxed);
        data || sync
    }

    /// `ext4_map_blocks`: what `[lblk, lblk + len)` of `inode` maps to, reserving,
    /// allocating or converting as `op` says; counted for `caller`. A lookup takes
    /// `i_data_sem` shared, a change takes it exclusive; a change of the map bumps the
    /// inode's mapping sequence and dirties metadata.
    pub fn map_blocks(
        &self,
        inode: &Inode<A::Private>,
        lblk: u64,
        len: u64,
        op: MapOp,
        caller: MapCaller,
    ) -> Result<Mapping> {
        if op == MapOp::Lookup {
            self.stats.map_call(caller);
            if lblk >= MAX_FILE_BLOCKS {
                return Err(FsError::TooLarge { size: lblk });
            }
            let info = read(&inode.info);
            return Ok(map::lookup(&info, lblk, len.min(MAX_FILE_BLOCKS - lblk)));
        }
        let mut info = write(&inode.info);
        let goal = self.default_goal(inode.ino);
        let mcx = MapCtx { alloc: &self.alloc, stats: &self.stats, default_goal: goal };
        let m = map::map_blocks(&mcx, &mut info, lblk, len, op, caller)?;
        if m.new || (op == MapOp::ConvertUnwritten && m.kind == MapKind::Mapped) {
            info.map_seq += 1;
            self.note_meta_dirty();
        }
        Ok(m)
    }

    /// What is at `lblk` without counting a `map_blocks` call (the extent-status cache).
    pub fn lookup(&self, inode: &Inode<A::Private>, lblk: u64, len: u64) -> Mapping {
        map::lookup(&read(&inode.info), lblk, len)
    }

    /// The inode's mapping sequence (`i_es_seq`), for checking a cached mapping.
    pub fn map_seq(&self, inode: &Inode<A::Private>) -> u64 {
        read(&inode.info).map_seq
    }
}

impl<A: AddressSpaceOps> Sb<A> {
    /// Starts the flusher thread (`wb_workfn`), unless the flusher is inline.
    pub(crate) fn start_flusher(self: &Arc<Self>) -> Result<()> {
        if self.inline() {
            return Ok(());
        }
        super::backing_dev::start_flusher(self)
    }

    /// Stops the flusher thread and waits for it.
    pub(crate) fn stop_flusher(&self) {
        self.wb.stop();
    }
}
