//! The VFS inode (`struct inode`): the size, the locks, the page cache, the timestamps, and
//! the writeback state; the filesystem's own part (`ext4_inode_info`) sits behind
//! `i_data_sem`.

use super::folio::FolioPrivate;
use super::mapping::AddressSpace;
use crate::core::{Ino, InodeInfo};
use crate::kernel::wait::WaitQueue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

/// Dirty pages (`I_DIRTY_PAGES`).
pub(crate) const I_DIRTY_PAGES: u32 = 1 << 0;
/// Being written back by one writer (`I_SYNC`).
pub(crate) const I_SYNC: u32 = 1 << 1;
/// On one of the writeback lists.
pub(crate) const I_ON_LIST: u32 = 1 << 2;

/// What writeback knows about an inode (`i_state`, `dirtied_when`), under its lock
/// (`inode->i_lock`).
#[derive(Debug)]
pub(crate) struct WbState {
    pub flags: u32,
    /// When it last went from clean to dirty (`dirtied_when`).
    pub dirtied_when: Instant,
}

/// One regular file.
pub struct Inode<P> {
    /// Inode number.
    pub ino: Ino,
    /// In-memory file size (`i_size`): set under `i_rwsem`, read without it.
    pub i_size: AtomicU64,
    /// `i_rwsem`: writers, truncate and fallocate hold it exclusive; buffered readers take it
    /// shared (XFS's IOLOCK) or not at all (ext4).
    pub i_rwsem: RwLock<()>,
    /// `mapping->invalidate_lock`: held shared while readahead adds folios, exclusive while
    /// truncate and fallocate remove them and change the block map under them.
    pub invalidate_lock: RwLock<()>,
    /// `i_data_sem` and what it protects: extents, reservations, `i_disksize`.
    pub info: RwLock<InodeInfo>,
    /// The page cache.
    pub mapping: AddressSpace<P>,
    /// Modification time, ns since the epoch (`i_mtime`); `i_ctime` moves with it here.
    pub mtime_ns: AtomicU64,
    /// Bumped on every change of data (`i_version`).
    pub i_version: AtomicU64,
    pub(crate) wb: Mutex<WbState>,
    /// Woken when `I_SYNC` clears.
    pub(crate) sync_done: WaitQueue,
    /// Unlinked: its handles are stale.
    pub unlinked: AtomicBool,
}

impl<P: FolioPrivate> Inode<P> {
    /// An in-core inode for `info`, its size the on-disk one.
    pub fn new(info: InodeInfo) -> Self {
        Inode {
            ino: info.ino,
            i_size: AtomicU64::new(info.i_disksize),
            i_rwsem: RwLock::new(()),
            invalidate_lock: RwLock::new(()),
            info: RwLock::new(info),
            mapping: AddressSpace::default(),
            mtime_ns: AtomicU64::new(0),
            i_version: AtomicU64::new(0),
            wb: Mutex::new(WbState { flags: 0, dirtied_when: Instant::now() }),
            sync_done: WaitQueue::new(),
            unlinked: AtomicBool::new(false),
        }
    }

    /// `i_size_read`.
    pub fn size(&self) -> u64 {
        self.i_size.load(Relaxed)
    }

    /// `i_size_write`; the caller holds `i_rwsem` exclusive (or is writeback extending it
    /// under the folio lock, as `block_write_end` does).
    pub fn set_size(&self, size: u64) {
        self.i_size.store(size, Relaxed);
    }
}
