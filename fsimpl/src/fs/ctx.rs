//! What a backend works with while it holds an inode: the [`Ctx`].

use super::shared::{FsShared, InodeCell};
use crate::aops::AddressSpaceOps;
use crate::cache::AddressSpace;
use crate::cache::Folio;
use crate::cache::folio::FolioPrivate;
use crate::core::map::{self, MapCtx};
use crate::core::{Inode, MapOp, Mapping};
use crate::dev::{BioBatch, DevError};
use crate::error::{FsError, Result};
use crate::stats::{MapCaller, Stats};
use std::sync::Arc;

/// A locked inode with everything around it: the filesystem, the inode's metadata, its page
/// cache, and a reusable bio batch.
pub struct Ctx<'a, A: AddressSpaceOps> {
    /// Filesystem-wide state.
    pub fs: &'a FsShared<A>,
    /// The inode.
    pub inode: &'a mut Inode,
    /// Its page cache.
    pub mapping: &'a mut AddressSpace<A::Private>,
    /// Scratch bios, reused across calls.
    pub bio: &'a mut BioBatch,
    pub(crate) cell: &'a Arc<InodeCell<A>>,
}

impl<'a, A: AddressSpaceOps> Ctx<'a, A> {
    /// Filesystem block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.fs.sb.block_size
    }
    /// log2 of the block size.
    pub fn blkbits(&self) -> u32 {
        self.fs.blkbits
    }
    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.fs.stats
    }
    /// `i_size`.
    pub fn i_size(&self) -> u64 {
        self.inode.i_size
    }

    /// `map_blocks` on this inode, counted for `caller`.
    pub fn map(&mut self, lblk: u64, len: u64, op: MapOp, caller: MapCaller) -> Result<Mapping> {
        let goal = self.fs.default_goal(self.inode.ino);
        let mcx = MapCtx { alloc: &self.fs.alloc, stats: &self.fs.stats, default_goal: goal };
        let m = map::map_blocks(&mcx, self.inode, lblk, len, op, caller)?;
        if m.new || (op == MapOp::ConvertUnwritten && m.kind == crate::core::MapKind::Mapped) {
            self.inode.map_seq += 1;
            self.fs.note_meta_dirty();
        }
        Ok(m)
    }

    /// What is at `lblk` without counting a `map_blocks` call (the extent-status cache).
    pub fn lookup(&self, lblk: u64, len: u64) -> Mapping {
        map::lookup(self.inode, lblk, len)
    }

    /// The folio starting at page `start`, which must be cached.
    pub fn folio(&mut self, start: u64) -> &mut Folio<A::Private> {
        self.mapping.get_mut(start).expect("folio is cached")
    }

    /// The folio containing page `index`, finding or creating it (`__filemap_get_folio` with
    /// `FGP_CREAT`): a new folio is of order `order` or less — no larger than the alignment of
    /// `index` allows, not overlapping cached folios, and smaller when memory is short.
    /// Returns the folio's start index and whether it was created.
    pub fn grab_folio(&mut self, index: u64, order: usize) -> Result<(u64, bool)> {
        if let Some(s) = self.mapping.folio_start(index) {
            self.folio(s).set_referenced(true);
            return Ok((s, false));
        }
        let mut order = order.min(self.fs.aops.max_folio_order());
        if index != 0 {
            order = order.min(index.trailing_zeros() as usize);
        }
        if let Some(next) = self.mapping.next_start(index) {
            while index + (1 << order) > next {
                order -= 1;
            }
        }
        let mem = self.alloc_folio_mem(order)?;
        let id = self.fs.next_folio_id();
        let size = mem.len() as u64;
        self.fs.stats.folio_alloc(mem.order(), size);
        let mut folio = Folio::new(index, mem, id);
        if self.fs.opts.writeback == crate::cache::WritebackMode::DontCache {
            folio.set_dropbehind(true);
        }
        self.mapping.insert(folio);
        self.fs.lru_add(self.cell, index, id);
        Ok((index, true))
    }

    fn alloc_folio_mem(&mut self, order: usize) -> Result<crate::cache::pool::FolioMem> {
        for o in (0..=order).rev() {
            if let Some(m) = self.fs.pool.alloc(o) {
                return Ok(m);
            }
            crate::cache::reclaim::shrink(self, 1 << o);
            if let Some(m) = self.fs.pool.alloc(o) {
                return Ok(m);
            }
        }
        // Everything left is dirty: write back, as balance_dirty_pages would, and retry.
        Stats::bump(&self.fs.stats.forced_writebacks, 1);
        crate::cache::writeback::write_and_wait(self, 0, u64::MAX)?;
        crate::cache::reclaim::shrink(self, 1);
        self.fs.pool.alloc(0).ok_or(FsError::NoMemory)
    }

    /// Takes the folio at `start` out of the cache and frees it (`filemap_remove_folio` and
    /// `folio_put`), after the backend's private state has been dealt with.
    pub fn delete_folio(&mut self, start: u64) {
        if let Some(f) = self.mapping.remove(start, &self.fs.stats) {
            self.fs.free_folio(f);
        }
    }

    /// Zeroes `len` bytes at byte `off` of the folio at `start`, counting them.
    pub fn zero(&mut self, start: u64, off: usize, len: usize) {
        if len > 0 {
            let n = self.folio(start).zero(off, len);
            self.fs.stats.zeroed(n);
        }
    }

    /// Marks the folio at `start` dirty.
    pub fn mark_dirty(&mut self, start: u64) {
        self.mapping.mark_dirty(start, &self.fs.stats);
    }

    /// Submits the batch in `self.bio` and waits. Per-bio failures stay in the batch's
    /// status for the caller; a device that cannot submit at all is an error.
    pub fn submit(&mut self) -> Result<()> {
        if self.bio.is_empty() {
            return Ok(());
        }
        self.fs.dev.submit(self.bio).map_err(FsError::from)
    }

    /// The error for bio `i` of the last batch, if it failed.
    pub fn bio_error(&self, i: usize) -> Option<FsError> {
        let errno = self.bio.status(i).err()?;
        let b = self.bio.bios()[i];
        Some(FsError::Io {
            source: DevError::Io {
                op: if b.op == crate::dev::BioOp::Read { "read" } else { "write" },
                offset: b.offset,
                source: std::io::Error::from_raw_os_error(errno),
            },
        })
    }

    /// Records a change in per-folio private memory.
    pub fn private_changed(&self, before: usize, after: usize) {
        if after > before {
            self.fs.stats.folio_private_bytes.add((after - before) as u64);
        } else {
            self.fs.stats.folio_private_bytes.sub((before - after) as u64);
        }
    }

    /// Attaches private state to the folio at `start`, counting its memory.
    pub fn attach_private(&mut self, start: u64, p: A::Private) {
        let n = p.bytes();
        let old = self.folio(start).private.replace(p);
        debug_assert!(old.is_none(), "folio already has private state");
        self.private_changed(0, n);
    }

    /// Detaches the folio's private state, counting the memory freed.
    pub fn detach_private(&mut self, start: u64) -> Option<A::Private> {
        let p = self.folio(start).private.take()?;
        self.private_changed(p.bytes(), 0);
        Some(p)
    }
}
