//! A mounted filesystem with a given backend: namespace, inode table, metadata commits.

use super::file_ops::{self, FallocMode};
use super::{MountOptions, Stat};
use crate::aops::BufferedIo;
use crate::core::map::lock;
use crate::core::meta::{self, Superblock};
use crate::core::{BlockAllocator, Ino, Inode};
use crate::dev::{BioBatch, BlockDev};
use crate::error::{FsError, Result};
use crate::mm::AddressSpace;
use crate::mm::Ctx;
use crate::mm::filemap::filemap_read;
use crate::mm::page_alloc::FolioPool;
use crate::mm::page_writeback::write_and_wait;
use crate::mm::truncate::{invalidate_mapping_pages, truncate_pagecache};
use crate::mm::{InodeCell, InodeState, Sb};
use crate::stats::Stats;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

/// The operations [`super::Fs`] forwards, for any backend.
pub(super) trait Vfs: Send + Sync {
    fn create(&self, name: &str) -> Result<Ino>;
    fn lookup(&self, name: &str) -> Result<Ino>;
    fn unlink(&self, name: &str) -> Result<()>;
    fn names(&self) -> Vec<String>;
    fn read(&self, ino: Ino, pos: u64, buf: &mut [u8]) -> Result<usize>;
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

pub(super) struct Mounted<A: BufferedIo> {
    fs: Sb<A>,
    names: RwLock<BTreeMap<String, Ino>>,
    inodes: RwLock<HashMap<Ino, Arc<InodeCell<A>>>>,
    next_ino: AtomicU64,
    /// The generation of the newest committed slot; held while committing.
    commit: Mutex<u64>,
}

impl<A: BufferedIo> Mounted<A> {
    /// Reads the superblock and the newest metadata slot, and rebuilds free space
    /// (`ext4_fill_super`).
    pub(super) fn mount(
        aops: A,
        dev: Arc<dyn BlockDev>,
        pool: Arc<FolioPool>,
        stats: Arc<Stats>,
        opts: MountOptions,
    ) -> Result<Self> {
        let sb: Superblock = meta::read_superblock(dev.as_ref())?;
        let state = meta::read_newest_slot(dev.as_ref(), &sb)?;
        let mut alloc = BlockAllocator::new(sb.first_data, sb.end_block);
        alloc.set_limit(opts.faults.alloc_limit);
        let mut names = BTreeMap::new();
        let mut inodes = HashMap::new();
        for inode in state.inodes {
            for e in inode.extents.iter() {
                alloc.mark_used(e.pblk, e.len)?;
            }
            if names.insert(inode.name.clone(), inode.ino).is_some() || inode.ino >= state.next_ino {
                return Err(FsError::Corrupt { what: format!("inode {} ({}) is a duplicate", inode.ino, inode.name) });
            }
            inodes.insert(inode.ino, Arc::new(new_cell(inode)));
        }
        Ok(Mounted {
            fs: Sb::new(aops, sb, dev, alloc, stats, pool, opts),
            names: RwLock::new(names),
            inodes: RwLock::new(inodes),
            next_ino: AtomicU64::new(state.next_ino),
            commit: Mutex::new(state.generation),
        })
    }

    fn cell(&self, ino: Ino) -> Result<Arc<InodeCell<A>>> {
        self.inodes.read().unwrap_or_else(|p| p.into_inner()).get(&ino).cloned().ok_or(FsError::Stale)
    }

    /// Runs `f` with inode `ino` locked.
    fn with_inode<T>(&self, ino: Ino, f: impl FnOnce(&mut Ctx<'_, A>) -> Result<T>) -> Result<T> {
        let cell = self.cell(ino)?;
        let mut st = lock(&cell.state);
        if st.unlinked {
            return Err(FsError::Stale);
        }
        let InodeState { inode, mapping, bio, .. } = &mut *st;
        let mut cx = Ctx { fs: &self.fs, inode, mapping, bio, cell: &cell };
        f(&mut cx)
    }

    fn all_cells(&self) -> Vec<Arc<InodeCell<A>>> {
        let mut v: Vec<_> = self.inodes.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        v.sort_by_key(|c| c.ino);
        v
    }

    /// Writes the inode table to the next slot and flushes (a journal commit). Skipped, but
    /// the flush still done, when no metadata changed. Blocks freed before the table was taken
    /// become reusable once the slot is durable.
    fn commit_metadata(&self) -> Result<()> {
        let mut generation = lock(&self.commit);
        if self.fs.take_meta_dirty() {
            let mut payload = Vec::new();
            let cells = self.all_cells();
            let guards: Vec<_> = cells.iter().map(|c| lock(&c.state)).collect();
            meta::encode_payload(
                self.next_ino.load(Relaxed),
                guards.iter().filter(|g| !g.unlinked).map(|g| &g.inode),
                &mut payload,
            );
            // Frees happen under an inode lock: with every one held, these are exactly the
            // frees the payload records.
            let frees = lock(&self.fs.alloc).take_pending_frees();
            drop(guards);
            let written = self
                .fs
                .dev
                .flush()
                .map_err(FsError::from)
                .and_then(|_| meta::write_slot(self.fs.dev.as_ref(), &self.fs.sb, *generation + 1, &payload))
                .and_then(|_| self.fs.dev.flush().map_err(FsError::from));
            if let Err(e) = written {
                lock(&self.fs.alloc).restore_frees(frees);
                self.fs.note_meta_dirty();
                return Err(e);
            }
            lock(&self.fs.alloc).commit_frees(frees);
            *generation += 1;
            Stats::bump(&self.fs.stats.meta_writes, 1);
            return Ok(());
        }
        if self.fs.bug(crate::bugs::Bug::FsyncSkipsFlush) {
            return Ok(());
        }
        self.fs.dev.flush()?;
        Ok(())
    }

    /// Runs `op`, and once more after a commit when it failed with ENOSPC while freed blocks
    /// were waiting for one (`ext4_should_retry_alloc`, which forces a journal commit).
    fn retry_nospc<T>(&self, op: impl Fn() -> Result<T>) -> Result<T> {
        match op() {
            Err(FsError::NoSpace { .. }) if lock(&self.fs.alloc).pending_frees() > 0 => {
                self.commit_metadata()?;
                op()
            }
            r => r,
        }
    }
}

fn new_cell<A: BufferedIo>(inode: Inode) -> InodeCell<A> {
    InodeCell {
        ino: inode.ino,
        state: Mutex::new(InodeState {
            inode,
            mapping: AddressSpace::default(),
            bio: BioBatch::new(),
            unlinked: false,
        }),
    }
}

impl<A: BufferedIo> Drop for Mounted<A> {
    /// Gives every cached folio back to the pool, written back or not: dropping a mounted
    /// filesystem without unmounting is a crash, and the pool outlives it.
    fn drop(&mut self) {
        for cell in self.all_cells() {
            let mut st = lock(&cell.state);
            for start in st.mapping.all_starts() {
                if let Some(f) = st.mapping.remove(start, &self.fs.stats) {
                    self.fs.free_folio(f);
                }
            }
        }
    }
}

impl<A: BufferedIo> Vfs for Mounted<A> {
    fn create(&self, name: &str) -> Result<Ino> {
        if name.is_empty() || name.len() > 255 || name.contains('/') || name.contains('\0') {
            return Err(FsError::invalid(format!("bad file name {name:?}")));
        }
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if names.contains_key(name) {
            return Err(FsError::Exists { name: name.into() });
        }
        let ino = self.next_ino.fetch_add(1, Relaxed);
        names.insert(name.into(), ino);
        self.inodes.write().unwrap_or_else(|p| p.into_inner()).insert(ino, Arc::new(new_cell(Inode::new(ino, name))));
        self.fs.note_meta_dirty();
        Ok(ino)
    }

    fn lookup(&self, name: &str) -> Result<Ino> {
        self.names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
            .ok_or_else(|| FsError::NotFound { name: name.into() })
    }

    fn unlink(&self, name: &str) -> Result<()> {
        let ino = self
            .names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .ok_or_else(|| FsError::NotFound { name: name.into() })?;
        self.with_inode(ino, |cx| {
            truncate_pagecache(cx, 0);
            file_ops::remove_blocks(cx, 0, crate::core::map::MAX_FILE_BLOCKS);
            Ok(())
        })?;
        if let Some(cell) = self.inodes.write().unwrap_or_else(|p| p.into_inner()).remove(&ino) {
            lock(&cell.state).unlinked = true;
        }
        self.fs.note_meta_dirty();
        Ok(())
    }

    fn names(&self) -> Vec<String> {
        self.names.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    fn read(&self, ino: Ino, pos: u64, buf: &mut [u8]) -> Result<usize> {
        self.with_inode(ino, |cx| filemap_read(cx, pos, buf))
    }

    fn write(&self, ino: Ino, pos: u64, data: &[u8]) -> Result<usize> {
        let write = |from: usize| self.with_inode(ino, |cx| file_ops::write(cx, pos + from as u64, &data[from..]));
        let first = write(0);
        let done = match &first {
            Ok(n) if *n < data.len() => *n,
            Err(FsError::NoSpace { .. }) => 0,
            _ => return first,
        };
        // ENOSPC, or a write cut short by it (buffer_head reserves block by block): retry the
        // rest once after a commit if that gives blocks back (`ext4_should_retry_alloc`).
        let rest_blocks = ((data.len() - done) as u64).div_ceil(self.fs.sb.block_size as u64);
        let retry = {
            let alloc = lock(&self.fs.alloc);
            alloc.pending_frees() > 0 && alloc.available() < rest_blocks
        };
        if !retry {
            return first;
        }
        self.commit_metadata()?;
        match write(done) {
            Ok(n) => Ok(done + n),
            Err(_) if done > 0 => Ok(done),
            Err(e) => Err(e),
        }
    }

    fn truncate(&self, ino: Ino, size: u64) -> Result<()> {
        self.with_inode(ino, |cx| file_ops::truncate(cx, size))
    }

    fn fallocate(&self, ino: Ino, mode: FallocMode, off: u64, len: u64) -> Result<()> {
        self.retry_nospc(|| self.with_inode(ino, |cx| file_ops::fallocate(cx, mode, off, len)))
    }

    /// `ext4_sync_file`: write back and wait; a writeback error (this call's, or one an
    /// earlier background writeback recorded on the mapping) is reported once and ends the
    /// call before the journal commit; then commit and flush. Without timestamps, every
    /// metadata change is one fdatasync must commit too.
    fn fsync(&self, ino: Ino, _datasync: bool) -> Result<()> {
        self.with_inode(ino, |cx| {
            let written = write_and_wait(cx, 0, u64::MAX);
            let recorded = cx.mapping.wb_err.take();
            match (written, recorded) {
                (Err(e), _) => Err(e),
                (Ok(()), Some(errno)) => Err(FsError::WritebackError { errno }),
                (Ok(()), None) => Ok(()),
            }
        })?;
        self.commit_metadata()
    }

    fn sync_file_range(&self, ino: Ino, off: u64, len: u64) -> Result<()> {
        self.with_inode(ino, |cx| write_and_wait(cx, off, off.saturating_add(len)))
    }

    fn sync(&self) -> Result<()> {
        for cell in self.all_cells() {
            self.with_inode(cell.ino, |cx| write_and_wait(cx, 0, u64::MAX))?;
        }
        self.commit_metadata()
    }

    fn drop_caches(&self) -> Result<()> {
        for cell in self.all_cells() {
            self.with_inode(cell.ino, |cx| {
                invalidate_mapping_pages(cx);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn stat(&self, ino: Ino) -> Result<Stat> {
        self.with_inode(ino, |cx| {
            Ok(Stat {
                ino,
                size: cx.inode.i_size,
                disksize: cx.inode.i_disksize,
                blocks: cx.inode.extents.blocks() + cx.inode.delayed.total(),
                extents: cx.inode.extents.len(),
            })
        })
    }

    fn unmount(&self) -> Result<()> {
        self.sync()?;
        for cell in self.all_cells() {
            self.with_inode(cell.ino, |cx| {
                truncate_pagecache(cx, 0);
                Ok(())
            })?;
        }
        lock(&self.fs.lru).clear();
        Ok(())
    }
}
