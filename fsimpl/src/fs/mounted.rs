//! A mounted filesystem with a given backend: namespace, inode table, metadata commits, and
//! the VFS entry points with their locks.

use super::file_ops::{self, FallocMode};
use super::{MountOptions, Stat};
use crate::aops::BufferedIo;
use crate::core::meta::{self, Superblock};
use crate::core::{BlockAllocator, Ino, InodeInfo};
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::kernel::percpu::PercpuRwLock;
use crate::kernel::{lock, read, write};
use crate::mm::filemap::filemap_read;
use crate::mm::page_alloc::FolioPool;
use crate::mm::page_writeback::filemap_write_and_wait_range;
use crate::mm::truncate::{invalidate_mapping_pages, truncate_pagecache};
use crate::mm::{Inode, Sb};
use crate::options::Backend;
use crate::stats::{Ev, Stats};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

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
    inodes: PercpuRwLock<InodeTable<A::Private>>,
    next_ino: AtomicU64,
    /// The generation of the newest committed slot; held while committing.
    commit: Mutex<u64>,
}

impl<A: BufferedIo> Mounted<A> {
    /// Reads the superblock and the newest metadata slot, and rebuilds free space
    /// (`ext4_fill_super`); starts the flusher.
    pub(super) fn mount(
        aops: A,
        dev: Arc<dyn BlockDev>,
        pool: Arc<FolioPool>,
        stats: Arc<Stats>,
        opts: MountOptions,
    ) -> Result<Self> {
        let sb: Superblock = meta::read_superblock(dev.as_ref())?;
        stats.set_block_size(sb.block_size);
        let state = meta::read_newest_slot(dev.as_ref(), &sb)?;
        let mut alloc = BlockAllocator::new(sb.first_data, sb.end_block);
        alloc.set_limit(opts.faults.alloc_limit);
        let mut names = BTreeMap::new();
        let mut inodes = HashMap::new();
        for info in state.inodes {
            for e in info.extents.iter() {
                alloc.mark_used(e.pblk, e.len)?;
            }
            if names.insert(info.name.clone(), info.ino).is_some() || info.ino >= state.next_ino {
                return Err(FsError::Corrupt { what: format!("inode {} ({}) is a duplicate", info.ino, info.name) });
            }
            inodes.insert(info.ino, Arc::new(Inode::new(info)));
        }
        if !pool.reset() {
            return Err(FsError::invalid(format!(
                "the page-cache pool still holds {} bytes of folios of an earlier mount",
                pool.bytes() - pool.free_bytes()
            )));
        }
        let sb = Sb::new(aops, sb, dev, alloc, stats, pool, opts)?;
        sb.start_flusher()?;
        Ok(Mounted {
            sb,
            names: RwLock::new(names),
            inodes: PercpuRwLock::new(inodes),
            next_ino: AtomicU64::new(state.next_ino),
            commit: Mutex::new(state.generation),
        })
    }

    fn inode(&self, ino: Ino) -> Result<Arc<Inode<A::Private>>> {
        self.inodes.read().get(&ino).cloned().ok_or(FsError::Stale)
    }

    fn all_inodes(&self) -> Vec<Arc<Inode<A::Private>>> {
        let mut v: Vec<_> = self.inodes.read().values().cloned().collect();
        v.sort_by_key(|i| i.ino);
        v
    }

    /// Writes the inode table to the next slot and flushes (a journal commit) when metadata
    /// changed — for fdatasync, when more than timestamps did — and only flushes otherwise.
    /// Blocks freed before the table was taken become reusable once the slot is durable.
    fn commit_metadata(&self, datasync: bool) -> Result<()> {
        let sb = &self.sb;
        let mut generation = lock(&self.commit);
        if !sb.take_meta_dirty(datasync) {
            if sb.bug(crate::bugs::Bug::FsyncSkipsFlush) {
                return Ok(());
            }
            sb.dev.flush()?;
            return Ok(());
        }
        let mut payload = Vec::new();
        let inodes = self.all_inodes();
        // Blocks are freed under an inode's i_data_sem: with every one held, these are
        // exactly the frees the payload records.
        let infos: Vec<_> = inodes.iter().map(|i| read(&i.info)).collect();
        meta::encode_payload(
            self.next_ino.load(Relaxed),
            inodes.iter().zip(&infos).filter(|(i, _)| !i.unlinked.load(Relaxed)).map(|(_, info)| &**info),
            &mut payload,
        );
        let frees = lock(&sb.alloc).take_pending_frees();
        drop(infos);
        let written = sb
            .dev
            .flush()
            .map_err(FsError::from)
            .and_then(|_| meta::write_slot(sb.dev.as_ref(), &sb.sb, *generation + 1, &payload))
            .and_then(|_| sb.dev.flush().map_err(FsError::from));
        if let Err(e) = written {
            lock(&sb.alloc).restore_frees(frees);
            sb.note_meta_dirty();
            return Err(e);
        }
        lock(&sb.alloc).commit_frees(frees);
        *generation += 1;
        sb.stats.inc(Ev::MetaWrites);
        Ok(())
    }

    /// Runs `op`, and once more after a commit when it failed with ENOSPC while freed blocks
    /// were waiting for one (`ext4_should_retry_alloc`, which forces a journal commit).
    fn retry_nospc<T>(&self, op: impl Fn() -> Result<T>) -> Result<T> {
        match op() {
            Err(FsError::NoSpace { .. }) if lock(&self.sb.alloc).pending_frees() > 0 => {
                self.commit_metadata(false)?;
                op()
            }
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
    /// Gives every cached folio back to the pool, written back or not: dropping a mounted
    /// filesystem without unmounting is a crash, and the pool outlives it.
    fn drop(&mut self) {
        self.evict_all();
    }
}

impl<A: BufferedIo> Vfs for Mounted<A> {
    fn create(&self, name: &str) -> Result<Ino> {
        if name.is_empty() || name.len() > 255 || name.contains('/') || name.contains('\0') {
            return Err(FsError::invalid(format!("bad file name {name:?}")));
        }
        let mut names = write(&self.names);
        if names.contains_key(name) {
            return Err(FsError::Exists { name: name.into() });
        }
        let ino = self.next_ino.fetch_add(1, Relaxed);
        names.insert(name.into(), ino);
        let inode = Arc::new(Inode::new(InodeInfo::new(ino, name)));
        self.inodes.update(|t| t.insert(ino, inode.clone()));
        self.sb.note_meta_dirty();
        Ok(ino)
    }

    fn lookup(&self, name: &str) -> Result<Ino> {
        read(&self.names).get(name).copied().ok_or_else(|| FsError::NotFound { name: name.into() })
    }

    fn unlink(&self, name: &str) -> Result<()> {
        let ino = write(&self.names).remove(name).ok_or_else(|| FsError::NotFound { name: name.into() })?;
        let inode = self.inode(ino)?;
        {
            let _i = write(&inode.i_rwsem);
            let _inv = write(&inode.invalidate_lock);
            truncate_pagecache(&self.sb, &inode, 0);
            file_ops::remove_blocks(&self.sb, &inode, 0, crate::core::map::MAX_FILE_BLOCKS);
            inode.unlinked.store(true, Relaxed);
        }
        self.inodes.update(|t| t.remove(&ino));
        self.sb.note_meta_dirty();
        Ok(())
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
        // rest once after a commit if that gives blocks back (`ext4_should_retry_alloc`).
        let rest_blocks = ((data.len() - done) as u64).div_ceil(u64::from(self.sb.block_size()));
        let retry = {
            let alloc = lock(&self.sb.alloc);
            alloc.pending_frees() > 0 && alloc.available() < rest_blocks
        };
        if !retry {
            return first;
        }
        self.commit_metadata(false)?;
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
    /// call before the journal commit; then commit (when metadata changed) and flush.
    fn fsync(&self, ino: Ino, datasync: bool) -> Result<()> {
        let inode = self.inode(ino)?;
        let written = filemap_write_and_wait_range(&self.sb, &inode, 0, u64::MAX);
        let recorded = inode.mapping.take_error();
        match (written, recorded) {
            (Err(e), _) => return Err(e),
            (Ok(()), Some(errno)) => return Err(FsError::WritebackError { errno }),
            (Ok(()), None) => {}
        }
        self.commit_metadata(datasync)
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
        self.commit_metadata(false)
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
    /// cache.
    fn unmount(&self) -> Result<()> {
        self.sb.stop_flusher();
        self.sync()?;
        self.evict_all();
        Ok(())
    }
}
