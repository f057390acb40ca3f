//! A mounted filesystem with a given backend: the namespace and the inode table over the
//! core's ext4 ([`Ext4`]), which journals every metadata change.

use super::file_ops::{self, FallocMode};
use super::{MountOptions, Stat};
use crate::aops::BufferedIo;
use crate::core::ext4::{Ext4, Ext4Options};
use crate::core::jbd2::{JournalData, JournalOptions};
use crate::core::map::lock;
use crate::core::{Ino, Inode};
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
use std::sync::{Arc, Mutex, RwLock, Weak};

/// The inode table: every file's cell, by inode number.
type InodeTable<A> = RwLock<HashMap<Ino, Arc<InodeCell<A>>>>;

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
    inodes: Arc<InodeTable<A>>,
}

/// The ordered-data hook the journal calls before committing a transaction that allocated
/// written blocks to an inode (`ext4_journal_submit_inode_data_buffers` /
/// `ext4_journal_finish_inode_data_buffers`). In fsimpl a writeback that allocates submits
/// and waits for the data of those blocks before it lets go of the inode lock, so taking
/// the lock once is waiting for that data.
struct OrderedData<A: BufferedIo> {
    inodes: Weak<InodeTable<A>>,
}

impl<A: BufferedIo> JournalData for OrderedData<A> {
    fn write_inode_data(&self, ino: u64) -> Result<()> {
        let Some(table) = self.inodes.upgrade() else { return Ok(()) };
        let cell = table.read().unwrap_or_else(|p| p.into_inner()).get(&ino).cloned();
        if let Some(cell) = cell {
            drop(lock(&cell.state));
        }
        Ok(())
    }
}

impl<A: BufferedIo> Mounted<A> {
    /// `ext4_fill_super`: mounts the ext4 image on `dev` (recovering its journal if needed),
    /// takes every regular file of the root directory into the inode table, and starts the
    /// journal's commit thread.
    pub(super) fn mount(
        aops: A,
        dev: Arc<dyn BlockDev>,
        pool: Arc<FolioPool>,
        stats: Arc<Stats>,
        opts: MountOptions,
    ) -> Result<Self> {
        let e4opts = Ext4Options {
            journal: JournalOptions { commit_interval: opts.commit_interval },
            alloc_limit: opts.faults.alloc_limit,
        };
        let (ext4, files) = Ext4::mount(dev.clone(), e4opts, stats.clone())?;
        let mut names = BTreeMap::new();
        let mut inodes = HashMap::new();
        for f in files {
            names.insert(f.name, f.inode.ino);
            inodes.insert(f.inode.ino, Arc::new(new_cell(f.inode)));
        }
        let inodes = Arc::new(RwLock::new(inodes));
        ext4.start(Arc::new(OrderedData { inodes: Arc::downgrade(&inodes) }));
        Ok(Mounted { fs: Sb::new(aops, ext4, dev, stats, pool, opts), names: RwLock::new(names), inodes })
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

    /// Runs `op`, and once more after a journal commit when it failed with ENOSPC while freed
    /// blocks were waiting for one (`ext4_should_retry_alloc`).
    fn retry_nospc<T>(&self, op: impl Fn() -> Result<T>) -> Result<T> {
        match op() {
            Err(FsError::NoSpace { .. }) if self.fs.ext4.retry_alloc()? => op(),
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
    /// Gives every cached folio back to the pool, written back or not, and stops the journal
    /// thread without a commit: dropping a mounted filesystem without unmounting is a crash,
    /// and the pool outlives it.
    fn drop(&mut self) {
        self.fs.ext4.forget();
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
        if name.is_empty()
            || name.len() > 255
            || name.contains('/')
            || name.contains('\0')
            || name == "."
            || name == ".."
        {
            return Err(FsError::invalid(format!("bad file name {name:?}")));
        }
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if names.contains_key(name) {
            return Err(FsError::Exists { name: name.into() });
        }
        let inode = self.retry_nospc(|| self.fs.ext4.create(name))?;
        let ino = inode.ino;
        names.insert(name.into(), ino);
        self.inodes.write().unwrap_or_else(|p| p.into_inner()).insert(ino, Arc::new(new_cell(inode)));
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
        let unlinked = self.with_inode(ino, |cx| {
            truncate_pagecache(cx, 0);
            cx.fs.ext4.unlink(cx.inode)
        });
        if let Some(cell) = self.inodes.write().unwrap_or_else(|p| p.into_inner()).remove(&ino) {
            lock(&cell.state).unlinked = true;
        }
        unlinked
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
        if self.fs.ext4.available() >= rest_blocks || !self.fs.ext4.retry_alloc()? {
            return first;
        }
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
    /// call before the journal commit; then wait for the transaction that last changed the
    /// inode (`i_datasync_tid` for fdatasync) to commit, or, when it already has, flush the
    /// device cache (ext4's fast path).
    fn fsync(&self, ino: Ino, datasync: bool) -> Result<()> {
        let tid = self.with_inode(ino, |cx| {
            let written = write_and_wait(cx, 0, u64::MAX);
            let recorded = cx.mapping.wb_err.take();
            match (written, recorded) {
                (Err(e), _) => Err(e),
                (Ok(()), Some(errno)) => Err(FsError::WritebackError { errno }),
                (Ok(()), None) => {
                    let d = &cx.inode.disk;
                    Ok(if datasync { d.i_datasync_tid } else { d.i_sync_tid })
                }
            }
        })?;
        self.fs.ext4.sync_file(tid)
    }

    fn sync_file_range(&self, ino: Ino, off: u64, len: u64) -> Result<()> {
        self.with_inode(ino, |cx| write_and_wait(cx, off, off.saturating_add(len)))
    }

    fn sync(&self) -> Result<()> {
        for cell in self.all_cells() {
            self.with_inode(cell.ino, |cx| write_and_wait(cx, 0, u64::MAX))?;
        }
        self.fs.ext4.sync_fs()
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
        self.fs.ext4.unmount()
    }
}
