//! The VFS-level face of the model: [`Fs`], what the harness drives. Operations on one file
//! take that inode's locks as the kernel's VFS and ext4/XFS do (`i_rwsem` exclusive for
//! writes, truncate and fallocate; none or shared for buffered reads); operations on
//! different files share no lock on their path.

mod file_ops;
mod mounted;

#[cfg(test)]
pub(crate) mod model_tests;

pub use crate::options::{Backend, Flusher, FsFaults, MountOptions, PAGE_POISON};
pub use file_ops::FallocMode;

use crate::aops::{BufferHeadAops, IomapAops};
use crate::core::Ino;
use crate::dev::{BlockDev, DevStats};
use crate::error::{FsError, Result};
use crate::kernel::lock;
use crate::kernel::percpu::PercpuRwLock;
use crate::kernel::workqueue::run_inline_work;
use crate::mm::page_alloc::FolioPool;
use crate::stats::{Stats, StatsSnapshot, dev_delta};
use mounted::{Mounted, Vfs};
use std::sync::{Arc, Mutex};

/// How to format a device: fsimpl's own mke2fs with `mkfs.ext4`'s default features.
pub use crate::core::ext4::MkfsOptions as FormatOptions;

/// An open file: its inode number (stays valid across remounts; stale once unlinked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fh(pub Ino);

/// What `stat` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: Ino,
    /// `i_size`.
    pub size: u64,
    /// `i_disksize`.
    pub disksize: u64,
    /// Allocated blocks, delalloc reservations included (as `st_blocks` counts them).
    pub blocks: u64,
    /// Number of extents.
    pub extents: usize,
}

/// A mounted filesystem of the model. Thread-safe: operations on different files run in
/// parallel, operations on one file take its locks as the kernel's do.
pub struct Fs {
    dev: Arc<dyn BlockDev>,
    pool: Arc<FolioPool>,
    stats: Arc<Stats>,
    opts: MountOptions,
    /// The mounted state, read by every operation (`sb->s_umount` held shared, per CPU).
    mounted: PercpuRwLock<Option<Arc<dyn Vfs>>>,
    dev_base: Mutex<DevStats>,
}

impl Fs {
    /// Writes a fresh, empty filesystem to `dev` (destroying what was there).
    pub fn format(dev: &dyn BlockDev, opts: &FormatOptions) -> Result<()> {
        crate::core::ext4::mke2fs(dev, opts)
    }

    /// Mounts the filesystem on `dev` with `opts`.
    pub fn mount(dev: Arc<dyn BlockDev>, opts: MountOptions) -> Result<Fs> {
        opts.check()?;
        let pool = Arc::new(FolioPool::new(opts.cache_bytes).map_err(|e| FsError::invalid(format!("cache: {e}")))?);
        Fs::mount_with_pool(dev, opts, pool)
    }

    /// Mounts with page-cache memory from `pool` (whose size replaces `opts.cache_bytes`), so
    /// that several mounts in a row fault the memory in once. The pool must not be in use
    /// by another mounted filesystem.
    pub fn mount_with_pool(dev: Arc<dyn BlockDev>, mut opts: MountOptions, pool: Arc<FolioPool>) -> Result<Fs> {
        opts.cache_bytes = pool.bytes();
        opts.check()?;
        if pool.free_bytes() != pool.bytes() {
            return Err(FsError::invalid("the page-cache pool is in use by another filesystem"));
        }
        let stats = Arc::new(Stats::default());
        let vfs = mount_vfs(&dev, &pool, &stats, opts)?;
        let base = dev.stats();
        Ok(Fs { dev, pool, stats, opts, mounted: PercpuRwLock::new(Some(vfs)), dev_base: Mutex::new(base) })
    }

    /// Formats `dev` and mounts it.
    pub fn format_and_mount(dev: Arc<dyn BlockDev>, fmt: &FormatOptions, opts: MountOptions) -> Result<Fs> {
        Fs::format(dev.as_ref(), fmt)?;
        Fs::mount(dev, opts)
    }

    /// The mount options.
    pub fn options(&self) -> &MountOptions {
        &self.opts
    }

    /// The device.
    pub fn device(&self) -> &Arc<dyn BlockDev> {
        &self.dev
    }

    /// Runs `f` on the mounted filesystem; then, on the way back to the caller, the completion
    /// work of `flusher=inline` mounts (as `task_work_run` runs on return to user space).
    fn with<T>(&self, f: impl FnOnce(&dyn Vfs) -> Result<T>) -> Result<T> {
        let g = self.mounted.read();
        let vfs = g.as_deref().ok_or(FsError::Stale)?;
        let r = f(vfs);
        drop(g);
        run_inline_work();
        r
    }

    /// Creates an empty file; EEXIST if the name is taken.
    pub fn create(&self, name: &str) -> Result<Fh> {
        self.with(|v| v.create(name)).map(Fh)
    }

    /// Opens an existing file; ENOENT if there is none.
    pub fn open(&self, name: &str) -> Result<Fh> {
        self.with(|v| v.lookup(name)).map(Fh)
    }

    /// Opens a file, creating it if needed (`O_CREAT`).
    pub fn open_or_create(&self, name: &str) -> Result<Fh> {
        match self.open(name) {
            Err(FsError::NotFound { .. }) => self.create(name),
            r => r,
        }
    }

    /// Removes a file: its cached data is discarded and its blocks freed.
    pub fn unlink(&self, name: &str) -> Result<()> {
        self.with(|v| v.unlink(name))
    }

    /// Names of all files.
    pub fn list(&self) -> Result<Vec<String>> {
        self.with(|v| Ok(v.names()))
    }

    /// Buffered read, like `pread(2)`: short at EOF.
    pub fn read(&self, fh: Fh, pos: u64, buf: &mut [u8]) -> Result<usize> {
        self.with(|v| v.read(fh.0, pos, buf, false))
    }

    /// A read that never sleeps (`RWF_NOWAIT`, what io_uring tries first for a buffered read
    /// of a file whose `fop_flags` have `FOP_BUFFER_RASYNC`, as ext4's and XFS's do): the
    /// cached, uptodate part from `pos` on, short where it stops; a miss starts readahead and
    /// returns [`FsError::WouldBlock`] (EAGAIN), as does a locked folio or a busy inode lock.
    /// Buffered writes have no such attempt: ext4 sets no `FOP_BUFFER_WASYNC`, so io_uring
    /// hands them to a worker at once.
    pub fn read_nowait(&self, fh: Fh, pos: u64, buf: &mut [u8]) -> Result<usize> {
        self.with(|v| v.read(fh.0, pos, buf, true))
    }

    /// Buffered write, like `pwrite(2)`.
    pub fn write(&self, fh: Fh, pos: u64, data: &[u8]) -> Result<usize> {
        self.with(|v| v.write(fh.0, pos, data))
    }

    /// Sets the size, like `ftruncate(2)`.
    pub fn truncate(&self, fh: Fh, size: u64) -> Result<()> {
        self.with(|v| v.truncate(fh.0, size))
    }

    /// `fallocate(2)`.
    pub fn fallocate(&self, fh: Fh, mode: FallocMode, offset: u64, len: u64) -> Result<()> {
        self.with(|v| v.fallocate(fh.0, mode, offset, len))
    }

    /// `fsync(2)`: writes back the file's data, commits metadata, flushes the device.
    pub fn fsync(&self, fh: Fh) -> Result<()> {
        self.with(|v| v.fsync(fh.0, false))
    }

    /// `fdatasync(2)`.
    pub fn fdatasync(&self, fh: Fh) -> Result<()> {
        self.with(|v| v.fsync(fh.0, true))
    }

    /// `sync_file_range(2)` with `WAIT_BEFORE | WRITE | WAIT_AFTER`: writes back the dirty
    /// data of `[offset, offset + len)` and waits, committing no metadata and not flushing.
    pub fn sync_file_range(&self, fh: Fh, offset: u64, len: u64) -> Result<()> {
        self.with(|v| v.sync_file_range(fh.0, offset, len))
    }

    /// `sync(2)`: every file, then metadata, then a flush.
    pub fn sync(&self) -> Result<()> {
        self.with(|v| v.sync())
    }

    /// Drops clean cached data (`echo 1 > /proc/sys/vm/drop_caches`).
    pub fn drop_caches(&self) -> Result<()> {
        self.with(|v| v.drop_caches())
    }

    /// `fstat(2)`.
    pub fn stat(&self, fh: Fh) -> Result<Stat> {
        self.with(|v| v.stat(fh.0))
    }

    /// Unmounts (writing back everything and committing metadata) and mounts again from the
    /// device with the same options: the cache starts empty, sizes are the on-disk ones.
    pub fn remount(&self) -> Result<()> {
        self.mounted.write_once(|g| {
            if let Some(v) = g.as_deref() {
                v.unmount()?;
            }
            *g = None;
            *g = Some(mount_vfs(&self.dev, &self.pool, &self.stats, self.opts)?);
            Ok(())
        })
    }

    /// A crash and a reboot: forgets the mounted state without writing anything (no
    /// writeback, no metadata commit; dirty data is lost, as in a power cut), then mounts
    /// again from what the device holds, recovering the journal (every committed transaction
    /// is replayed). Handles of files whose creation no commit holds become stale. Used after
    /// a power cut
    /// ([`FaultDev::power_cut`](crate::dev::FaultDev::power_cut)), where a normal
    /// [`Fs::remount`] would write back and commit first.
    pub fn crash_and_remount(&self) -> Result<()> {
        self.mounted.write_once(|g| {
            // Dropping a mounted filesystem frees its folios and writes nothing.
            *g = None;
            *g = Some(mount_vfs(&self.dev, &self.pool, &self.stats, self.opts)?);
            Ok(())
        })
    }

    /// Unmounts (writing everything back and leaving the image clean), runs `between` on the
    /// device, and mounts again: for tools that check the image (`e2fsck`, a kernel mount).
    pub fn with_unmounted<T>(&self, between: impl FnOnce(&Arc<dyn BlockDev>) -> T) -> Result<T> {
        self.mounted.write_once(|g| {
            if let Some(v) = g.take() {
                v.unmount()?;
            }
            let out = between(&self.dev);
            *g = Some(mount_vfs(&self.dev, &self.pool, &self.stats, self.opts)?);
            Ok(out)
        })
    }

    /// Unmounts in place: writes back everything, commits and checkpoints the journal and
    /// leaves the image clean; later calls fail with ESTALE.
    pub fn unmount_in_place(&self) -> Result<()> {
        self.mounted.write_once(|g| match g.take() {
            Some(v) => v.unmount(),
            None => Ok(()),
        })
    }

    /// Unmounts: writes back everything and commits metadata.
    pub fn unmount(self) -> Result<()> {
        self.mounted.write_once(|g| match g.take() {
            Some(v) => v.unmount(),
            None => Ok(()),
        })
    }

    /// What the filesystem did since it was mounted or [`Fs::reset_stats`].
    pub fn stats(&self) -> StatsSnapshot {
        let base = lock(&self.dev_base).clone();
        self.stats.snapshot(dev_delta(&self.dev.stats(), &base))
    }

    /// Restarts the counters (the harness does this between layout and measurement).
    pub fn reset_stats(&self) {
        self.stats.reset();
        *lock(&self.dev_base) = self.dev.stats();
    }

    /// The backend's name: "bh" or "iomap".
    pub fn backend_name(&self) -> &'static str {
        self.opts.backend.name()
    }
}

fn mount_vfs(
    dev: &Arc<dyn BlockDev>,
    pool: &Arc<FolioPool>,
    stats: &Arc<Stats>,
    opts: MountOptions,
) -> Result<Arc<dyn Vfs>> {
    let order = opts.max_folio_order();
    Ok(match opts.backend {
        Backend::BufferHead => {
            Arc::new(Mounted::mount(BufferHeadAops::new(order), dev.clone(), pool.clone(), stats.clone(), opts)?)
        }
        Backend::Iomap => {
            Arc::new(Mounted::mount(IomapAops::new(order), dev.clone(), pool.clone(), stats.clone(), opts)?)
        }
    })
}
