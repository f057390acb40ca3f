//! A mounted filesystem with a given backend: namespace, inode table, the journal's
//! ordered-data hooks, and the VFS entry points with their locks.

use super::file_ops::{self, FallocMode};
use super::{MountOptions, Stat};
use crate::aops::BufferedIo;
use crate::bugs::Bug;
use crate::core::Ino;
use crate::core::ext4::{Ext4, Ext4Options};
use crate::core::jbd2::{JournalData, JournalOptions};
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::kernel::percpu::PercpuRwLock;
use crate::kernel::{read, write};
use crate::mm::filemap::filemap_read;
use crate::mm::page_alloc::FolioPool;
use crate::mm::page_writeback::{
    WritebackControl, do_writepages, filemap_fdatawait_range, filemap_write_and_wait_range,
};
use crate::mm::truncate::{invalidate_mapping_pages, truncate_pagecache};
use crate::mm::{Inode, Sb};
use crate::options::{Backend, Flusher};
use crate::stats::Stats;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock, Weak};

/// The operations [`super::Fs`] forwards, for any backend.
pub(super) trait Vfs: Send + Sync {
    fn create(&self, name: &str) -> Result<Ino>;
    fn lookup(&self, name: &str) -> Result<Ino>;
    fn unlink(&self, name: &str) -> Result<()>;
    fn names(&self) -> Vec<String>;
    fn read(&self, ino: Ino, pos: u64, buf: &mut [u8], nowait: bool) -> Result<usize>;
    fn write(&self, ino: Ino, pos: u64, data: &[u8]) -> Result<usize>;
    fn truncate(&self, ino: Ino, size: u64) -> Result<()>;
    fn fallocate(&self, ino: Ino, mode: FallocMode, off: u64, len: u64) -> Result<()>;
    fn fsync(&self, ino: Ino, datasync: bool) -> Result<()>;
    fn sync(&self) -> Result<()>;
    fn sync_file_range(&self, ino: Ino, off: u64, len: u64) -> Result<()>;
    fn drop_caches(&self) -> Result<()>;
    fn stat(&self, ino: Ino) -> Result<Stat>;
    fn unmount(&self) -> Result<()>;
}

type InodeTable<P> = HashMap<Ino, Arc<Inode<P>>>;

pub(super) struct Mounted<A: BufferedIo> {
    sb: Arc<Sb<A>>,
    names: RwLock<BTreeMap<String, Ino>>,
    /// The inode table, read on every operation: one copy per CPU (`percpu_rw_semaphore`).
    inodes: Arc<PercpuRwLock<InodeTable<A::Private>>>,
}

/// The journal's ordered-data hooks (`ext4_journal_submit_inode_data_buffers` and
/// `ext4_journal_finish_inode_data_buffers`): writeback of a range of an inode that
/// allocates nothing, and the wait for the range's writeback. Neither takes an inode lock.
struct OrderedData<A: BufferedIo> {
    sb: Weak<Sb<A>>,
    inodes: Weak<PercpuRwLock<InodeTable<A::Private>>>,
}

impl<A: BufferedIo> OrderedData<A> {
    #[allow(clippy::type_complexity)]
    fn inode(&self, ino: Ino) -> Option<(Arc<Sb<A>>, Arc<Inode<A::Private>>)> {
        let sb = self.sb.upgrade()?;
        let inode = self.inodes.upgrade()?.read().get(&ino).cloned()?;
        Some((sb, inode))
    }
}

impl<A: BufferedIo> JournalData for OrderedData<A> {
    fn submit_inode_data(&self, ino: u64, start: u64, end: u64) {
        if let Some((sb, inode)) = self.inode(ino) {
            let mut wbc = WritebackControl::sync_range(start, end);
            wbc.can_map = false;
            // A failure is in the mapping's error for the next fsync.
            let _ = do_writepages(&sb, &inode, &mut wbc);
        }
    }

    fn finish_inode_data(&self, ino: u64, start: u64, end: u64) {
        if let Some((sb, inode)) = self.inode(ino) {
            filemap_fdatawait_range(&sb, &inode, start, end);
        }
    }
}

impl<A: BufferedIo> Mounted<A> {
    /// `ext4_fill_super`: mounts the ext4 image on `dev` (recovering its journal if needed),
    /// takes every regular file of the root directory into the inode table, starts the
    /// journal's commit thread (with the flusher thread) and the flusher.
    pub(super) fn mount(
        aops: A,
        dev: Arc<dyn BlockDev>,
        pool: Arc<FolioPool>,
        stats: Arc<Stats>,
        opts: MountOptions,
    ) -> Result<Self> {
        if !pool.reset() {
            return Err(FsError::invalid(format!(
                "the page-cache pool still holds {} bytes of folios of an earlier mount",
                pool.bytes() - pool.free_bytes()
            )));
        }
        let thread = opts.flusher == Flusher::Thread;
        let e4opts = Ext4Options {
            journal: JournalOptions { commit_interval: opts.commit_interval.filter(|_| thread), thread },
            alloc_limit: opts.faults.alloc_limit,
        };
        let (ext4, files) = Ext4::mount(dev.clone(), e4opts, stats.clone())?;
        stats.set_block_size(ext4.block_size());
        let mut names = BTreeMap::new();
        let mut inodes = HashMap::new();
        for f in files {
            names.insert(f.name, f.info.ino);
            inodes.insert(f.info.ino, Arc::new(Inode::new(f.info)));
        }
        let inodes = Arc::new(PercpuRwLock::new(inodes));
        let sb = Sb::new(aops, ext4.clone(), dev, stats, pool, opts)?;
        ext4.start(Arc::new(OrderedData { sb: Arc::downgrade(&sb), inodes: Arc::downgrade(&inodes) }));
        sb.start_flusher()?;
        Ok(Mounted { sb, names: RwLock::new(names), inodes })
    }

    fn inode(&self, ino: Ino) -> Result<Arc<Inode<A::Private>>> {
        self.inodes.read().get(&ino).cloned().ok_or(FsError::Stale)
    }

    fn all_inodes(&self) -> Vec<Arc<Inode<A::Private>>> {
        let mut v: Vec<_> = self.inodes.read().values().cloned().collect();
        v.sort_by_key(|i| i.ino);
        v
    }

    /// Runs `op`, and once more after a journal commit when it failed with ENOSPC while freed
    /// blocks were waiting for one (`ext4_should_retry_alloc`).
    fn retry_nospc<T>(&self, op: impl Fn() -> Result<T>) -> Result<T> {
        match op() {
            Err(FsError::NoSpace { .. }) if self.sb.ext4.retry_alloc()? => op(),
            r => r,
        }
    }

    /// Takes every folio out of the cache, written back or not, and waits for the I/O in
    /// flight: what dropping a mounted filesystem does (a crash), and the end of unmount.
    fn evict_all(&self) {
        let sb = &self.sb;
        sb.stop_flusher();
        for inode in self.all_inodes() {
            truncate_pagecache(sb, &inode, 0);
        }
        sb.end_io_wq.flush();
        sb.pool.lru_add_drain_all();
    }
}

impl<A: BufferedIo> Drop for Mounted<A> {
    /// Gives every cached folio back to the pool, written back or not, and stops the journal
    /// thread without a commit: dropping a mounted filesystem without unmounting is a crash,
    /// and the pool outlives it.
    fn drop(&mut self) {
        self.evict_all();
        self.sb.ext4.forget();
    }
}

impl<A: BufferedIo> Vfs for Mounted<A> {
    fn create(&self, name: &str) -> Result<Ino> {
        if name.is_empty() || name.len() > 255 || name.contains('/') || name.contains('\0') {
            return Err(FsError::invalid(format!("bad file name {name:?}")));
        }
        if name == "." || name == ".." {
            return Err(FsError::invalid(format!("bad file name {name:?}")));
        }
        let mut names = write(&self.names);
        if names.contains_key(name) {
            return Err(FsError::Exists { name: name.into() });
        }
        let info = self.retry_nospc(|| self.sb.ext4.create(name))?;
        let ino = info.ino;
        names.insert(name.into(), ino);
        let inode = Arc::new(Inode::new(info));
        self.inodes.update(|t| t.insert(ino, inode.clone()));
        Ok(ino)
    }

    fn lookup(&self, name: &str) -> Result<Ino> {
        read(&self.names).get(name).copied().ok_or_else(|| FsError::NotFound { name: name.into() })
    }

    fn unlink(&self, name: &str) -> Result<()> {
        let ino = write(&self.names).remove(name).ok_or_else(|| FsError::NotFound { name: name.into() })?;
        let inode = self.inode(ino)?;
        let unlinked = {
            let _i = write(&inode.i_rwsem);
            let _inv = write(&inode.invalidate_lock);
            truncate_pagecache(&self.sb, &inode, 0);
            inode.set_size(0);
            inode.unlinked.store(true, Relaxed);
            self.sb.ext4.unlink(&inode.info)
        };
        self.inodes.update(|t| t.remove(&ino));
        unlinked
    }

    fn names(&self) -> Vec<String> {
        read(&self.names).keys().cloned().collect()
    }

    /// `ext4_file_read_iter` takes no lock for buffered reads; `xfs_file_buffered_read`
    /// takes the IOLOCK shared (with `nowait`, only if it is free: `xfs_ilock_nowait`).
    fn read(&self, ino: Ino, pos: u64, buf: &mut [u8], nowait: bool) -> Result<usize> {
        let inode = self.inode(ino)?;
        let _shared = match self.sb.opts.backend {
            Backend::BufferHead => None,
            Backend::Iomap if nowait => Some(inode.i_rwsem.try_read().map_err(|_| FsError::WouldBlock)?),
            Backend::Iomap => Some(read(&inode.i_rwsem)),
        };
        if inode.unlinked.load(Relaxed) {
            return Err(FsError::Stale);
        }
        filemap_read(&self.sb, &inode, pos, buf, nowait)
    }

    fn write(&self, ino: Ino, pos: u64, data: &[u8]) -> Result<usize> {
        let inode = self.inode(ino)?;
        let write = |from: usize| file_ops::write(&self.sb, &inode, pos + from as u64, &data[from..]);
        let first = write(0);
        let done = match &first {
            Ok(n) if *n < data.len() => *n,
            Err(FsError::NoSpace { .. }) => 0,
            _ => return first,
        };
        // ENOSPC, or a write cut short by it (buffer_head reserves block by block): retry the
        // rest once after a commit if that gives blocks back, or if a commit (kjournald's)
        // already did since the failure (`ext4_should_retry_alloc`).
        if !self.sb.ext4.retry_alloc()? {
            return first;
        }
        match write(done) {
            Ok(n) => Ok(done + n),
            Err(_) if done > 0 => Ok(done),
            Err(e) => Err(e),
        }
    }

    fn truncate(&self, ino: Ino, size: u64) -> Result<()> {
        let inode = self.inode(ino)?;
        file_ops::truncate(&self.sb, &inode, size)
    }

    fn fallocate(&self, ino: Ino, mode: FallocMode, off: u64, len: u64) -> Result<()> {
        let inode = self.inode(ino)?;
        self.retry_nospc(|| file_ops::fallocate(&self.sb, &inode, mode, off, len))
    }

    /// `ext4_sync_file`: write back and wait; a writeback error (this call's, or one an
    /// earlier background writeback recorded on the mapping) is reported once and ends the
    /// call before the journal commit; then wait for the transaction that last changed the
    /// inode (`i_datasync_tid` for fdatasync, which time updates do not advance) to commit,
    /// or, when it already has, flush the device cache (ext4's fast path, `needs_barrier`).
    fn fsync(&self, ino: Ino, datasync: bool) -> Result<()> {
        let inode = self.inode(ino)?;
        let written = filemap_write_and_wait_range(&self.sb, &inode, 0, u64::MAX);
        let recorded = inode.mapping.take_error();
        match (written, recorded) {
            (Err(e), _) => return Err(e),
            (Ok(()), Some(errno)) => return Err(FsError::WritebackError { errno }),
            (Ok(()), None) => {}
        }
        let tid = {
            let d = &read(&inode.info).disk;
            if datasync { d.i_datasync_tid } else { d.i_sync_tid }
        };
        if self.sb.ext4.fsync_journal(tid)? && !self.sb.bug(Bug::FsyncSkipsFlush) {
            self.sb.ext4.issue_flush()?;
        }
        Ok(())
    }

    fn sync_file_range(&self, ino: Ino, off: u64, len: u64) -> Result<()> {
        let inode = self.inode(ino)?;
        filemap_write_and_wait_range(&self.sb, &inode, off, off.saturating_add(len))
    }

    /// `sync_filesystem`: every inode written and waited for (`sync_inodes_sb`), then the
    /// commit and flush.
    fn sync(&self) -> Result<()> {
        for inode in self.all_inodes() {
            filemap_write_and_wait_range(&self.sb, &inode, 0, u64::MAX)?;
        }
        self.sb.ext4.sync_fs()
    }

    /// `echo 1 > drop_caches`: the per-CPU LRU batches drained (`lru_add_drain_all`), then
    /// every clean folio nobody holds dropped.
    fn drop_caches(&self) -> Result<()> {
        self.sb.pool.lru_add_drain_all();
        for inode in self.all_inodes() {
            invalidate_mapping_pages(&self.sb, &inode);
        }
        Ok(())
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        let inode = self.inode(ino)?;
        let info = read(&inode.info);
        Ok(Stat {
            ino,
            size: inode.size(),
            disksize: info.i_disksize,
            blocks: info.extents.blocks() + info.delayed.total(),
            extents: info.extents.len(),
        })
    }

    /// `generic_shutdown_super`: stop the flusher, write everything back, commit, drop the
    /// cache; then `ext4_put_super`: checkpoint the journal and leave the image clean.
    fn unmount(&self) -> Result<()> {
        self.sb.stop_flusher();
        self.sync()?;
        self.evict_all();
        self.sb.ext4.unmount()
    }
}
