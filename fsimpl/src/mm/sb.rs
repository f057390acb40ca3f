//! What every inode of a mounted filesystem shares (`struct super_block` with its
//! `backing_dev_info`): the backend, the device, the filesystem's metadata (ext4 with its
//! journal and allocator), the page-cache memory, the counters, the writeback state and
//! flusher, and the I/O-completion workqueue.

use super::AddressSpaceOps;
use super::backing_dev::Writeback;
use super::inode::Inode;
use super::page_alloc::{FolioPool, PAGE_SIZE};
use crate::core::ext4::{Ext4, INODE_CREDITS};
use crate::core::jbd2::Handle;
use crate::core::map::{self, MAX_FILE_BLOCKS, MapCtx};
use crate::core::{MapKind, MapOp, Mapping};
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::kernel::workqueue::Workqueue;
use crate::kernel::{read, write};
use crate::options::{Flusher, MountOptions};
use crate::stats::{MapCaller, Stats};
use std::sync::Arc;

/// A mounted filesystem's shared state.
pub struct Sb<A: AddressSpaceOps> {
    /// The backend.
    pub aops: A,
    /// log2 of the block size.
    pub blkbits: u32,
    /// The device.
    pub dev: Arc<dyn BlockDev>,
    /// The on-disk filesystem: superblock, groups and allocator, journal, inodes, extent
    /// trees, the root directory (`sb->s_fs_info`).
    pub ext4: Arc<Ext4>,
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
    /// This, for I/O completions that must hold the mount alive.
    me: std::sync::Weak<Sb<A>>,
}

impl<A: AddressSpaceOps> Sb<A> {
    /// The shared state of a new mount. The flusher is started by [`Sb::start_flusher`].
    pub(crate) fn new(
        aops: A,
        ext4: Arc<Ext4>,
        dev: Arc<dyn BlockDev>,
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
            blkbits: ext4.block_size().trailing_zeros(),
            ext4,
            dev,
            stats,
            pool,
            opts,
            ra_pages: u64::from(ra_kb) * 1024 / PAGE_SIZE as u64,
            io_pages: limits.io_pages().max(1),
            stable_writes: limits.stable_writes,
            wb: Writeback::new(),
            end_io_wq,
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
        self.ext4.block_size()
    }

    /// Whether every I/O is waited for where it starts and writers run the flusher's work
    /// themselves ([`Flusher::Inline`]).
    pub fn inline(&self) -> bool {
        self.opts.flusher == Flusher::Inline
    }

    /// Whether seeded bug `b` is switched on.
    #[inline]
    pub fn bug(&self, b: crate::bugs::Bug) -> bool {
        crate::bugs::Bug::compiled_in() && self.opts.bug == Some(b)
    }

    /// `ext4_map_blocks`: what `[lblk, lblk + len)` of `inode` maps to, reserving,
    /// allocating or converting as `op` says; counted for `caller`. A lookup takes
    /// `i_data_sem` shared; a reservation takes it exclusive; an allocation or conversion
    /// starts a journal handle first, as ext4's callers do, then takes it exclusive.
    pub fn map_blocks(
        &self,
        inode: &Inode<A::Private>,
        lblk: u64,
        len: u64,
        op: MapOp,
        caller: MapCaller,
    ) -> Result<Mapping> {
        let mcx = MapCtx { ext4: &self.ext4, stats: &self.stats };
        match op {
            MapOp::Lookup => {
                self.stats.map_call(caller);
                if lblk >= MAX_FILE_BLOCKS {
                    return Err(FsError::TooLarge { size: lblk });
                }
                let info = read(&inode.info);
                Ok(map::lookup(&info, lblk, len.min(MAX_FILE_BLOCKS - lblk)))
            }
            MapOp::ReserveDelalloc => {
                let mut info = write(&inode.info);
                let m = map::map_blocks(&mcx, None, &mut info, inode.size(), lblk, len, op, caller)?;
                if m.new {
                    info.map_seq += 1;
                }
                Ok(m)
            }
            _ => {
                let mut h = self.ext4.journal_start(self.map_credits(inode))?;
                self.map_blocks_in(&mut h, inode, lblk, len, op, caller)
            }
        }
    }

    /// Credits of one `map_blocks` that changes the tree (`ext4_chunk_trans_blocks`).
    pub fn map_credits(&self, inode: &Inode<A::Private>) -> u32 {
        self.ext4.chunk_trans_blocks(read(&inode.info).disk.tree.depth())
    }

    /// [`Sb::map_blocks`] within the caller's handle (`ext4_map_blocks(handle, ...)` from
    /// `ext4_writepages`, which holds one handle over an extent's mapping and submission).
    /// Written blocks it allocates go on the transaction's ordered-data list: to be waited
    /// for when writeback allocated them (it submits their data itself, `EXT4_GET_BLOCKS_IO_SUBMIT`:
    /// `ext4_jbd2_inode_add_wait`), to be written and waited for otherwise
    /// (`ext4_jbd2_inode_add_write`).
    pub fn map_blocks_in(
        &self,
        h: &mut Handle<'_>,
        inode: &Inode<A::Private>,
        lblk: u64,
        len: u64,
        op: MapOp,
        caller: MapCaller,
    ) -> Result<Mapping> {
        let mcx = MapCtx { ext4: &self.ext4, stats: &self.stats };
        let mut info = write(&inode.info);
        let m = map::map_blocks(&mcx, Some(&mut *h), &mut info, inode.size(), lblk, len, op, caller)?;
        drop(info);
        if m.new && m.kind == MapKind::Mapped {
            let (start, end) = (m.lblk << self.blkbits, m.end() << self.blkbits);
            h.add_inode(inode.ino, start, end, caller != MapCaller::Writeback);
        }
        Ok(m)
    }

    /// Advances the on-disk size to `size` if it is larger and journals the inode
    /// (`ext4_update_i_disksize` + `ext4_mark_inode_dirty` in a handle of its own).
    pub fn update_disksize(&self, inode: &Inode<A::Private>, size: u64) -> Result<()> {
        if size <= read(&inode.info).i_disksize {
            return Ok(());
        }
        let mut h = self.ext4.journal_start(INODE_CREDITS)?;
        self.update_disksize_in(&mut h, inode, size)
    }

    /// [`Sb::update_disksize`] within the caller's handle.
    pub fn update_disksize_in(&self, h: &mut Handle<'_>, inode: &Inode<A::Private>, size: u64) -> Result<()> {
        let mut info = write(&inode.info);
        if size <= info.i_disksize {
            return Ok(());
        }
        info.i_disksize = size;
        self.ext4.mark_inode_dirty(h, &mut info)
    }

    /// Sets the on-disk size to `size` (truncate, fallocate: `ext4_setattr`'s
    /// `i_disksize = size`) and journals the inode.
    pub fn set_disksize(&self, inode: &Inode<A::Private>, size: u64) -> Result<()> {
        let mut h = self.ext4.journal_start(INODE_CREDITS)?;
        let mut info = write(&inode.info);
        info.i_disksize = size;
        self.ext4.mark_inode_dirty(&mut h, &mut info)
    }

    /// Zero range's conversion of the written blocks of `[lblk, lblk + len)` to unwritten
    /// (`ext4_zero_range` → `ext4_ext_convert_to_unwritten`), in a handle of its own.
    pub fn convert_to_unwritten(&self, inode: &Inode<A::Private>, lblk: u64, len: u64) -> Result<()> {
        let mut h = self.ext4.journal_start(self.map_credits(inode))?;
        let mut info = write(&inode.info);
        self.ext4.convert_to_unwritten(&mut h, &mut info, lblk, len)
    }

    /// `ext4_dirty_inode` for a time update: the inode's times become `ns` and it is
    /// journaled (`I_DIRTY_SYNC`: fsync commits it, fdatasync does not wait for it).
    pub fn dirty_inode_times(&self, inode: &Inode<A::Private>, ns: u64) -> Result<()> {
        let mut h = self.ext4.journal_start(INODE_CREDITS)?;
        let mut info = write(&inode.info);
        info.disk.raw.set_mtime_ctime(ns);
        self.ext4.mark_inode_dirty(&mut h, &mut info)
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
