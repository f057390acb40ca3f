//! What a backend works with while it holds an inode: the [`Ctx`].

use super::AddressSpaceOps;
use super::sb::{InodeCell, Sb};
use crate::core::map::{self, MapCtx};
use crate::core::{Inode, MapOp, Mapping};
use crate::dev::{BioBatch, DevError};
use crate::error::{FsError, Result};
use crate::mm::Folio;
use crate::mm::folio::FolioPrivate;
use crate::mm::{AddressSpace, DirtyTags};
use crate::stats::{MapCaller, Stats};
use std::sync::Arc;

/// A locked inode with everything around it: the filesystem, the inode's metadata, its page
/// cache, and a reusable bio batch.
pub struct Ctx<'a, A: AddressSpaceOps> {
    /// Filesystem-wide state.
    pub fs: &'a Sb<A>,
    /// The inode.
    pub inode: &'a mut Inode,
    /// Its page cache.
    pub mapping: &'a mut AddressSpace<A::Private>,
    /// Scratch bios, reused across calls.
    pub bio: &'a mut BioBatch,
    pub(crate) cell: &'a Arc<InodeCell<A>>,
}

/// `map_blocks` on `inode`; a change to the mapping bumps its sequence and dirties metadata.
fn map_inode<A: AddressSpaceOps>(
    fs: &Sb<A>,
    inode: &mut Inode,
    lblk: u64,
    len: u64,
    op: MapOp,
    caller: MapCaller,
) -> Result<Mapping> {
    let goal = fs.default_goal(inode.ino);
    let mcx = MapCtx { alloc: &fs.alloc, stats: &fs.stats, default_goal: goal };
    let m = map::map_blocks(&mcx, inode, lblk, len, op, caller)?;
    if m.new || (op == MapOp::ConvertUnwritten && m.kind == crate::core::MapKind::Mapped) {
        inode.map_seq += 1;
        fs.note_meta_dirty();
    }
    Ok(m)
}

/// One locked folio with its inode (what a kernel path holds between `write_begin` and
/// `write_end`): the folio, the dirty tags, the inode, the filesystem and the scratch bios.
pub struct FolioRef<'c, A: AddressSpaceOps> {
    /// The folio.
    pub folio: &'c mut Folio<A::Private>,
    /// The mapping's dirty tags.
    pub tags: &'c mut DirtyTags,
    /// The inode.
    pub inode: &'c mut Inode,
    /// The filesystem.
    pub fs: &'c Sb<A>,
    /// Scratch bios.
    pub bio: &'c mut BioBatch,
}

impl<A: AddressSpaceOps> FolioRef<'_, A> {
    /// `map_blocks` on the inode.
    pub fn map(&mut self, lblk: u64, len: u64, op: MapOp, caller: MapCaller) -> Result<Mapping> {
        map_inode(self.fs, self.inode, lblk, len, op, caller)
    }

    /// Zeroes `len` bytes at `off` of the folio, counting them.
    pub fn zero(&mut self, off: usize, len: usize) {
        if len > 0 {
            let n = self.folio.zero(off, len);
            self.fs.stats.zeroed(self.folio.pos() + off as u64, n, self.fs.sb.block_size);
        }
    }

    /// Marks the folio dirty (`filemap_dirty_folio`).
    pub fn mark_dirty(&mut self) {
        self.tags.mark(self.folio, &self.fs.stats);
    }

    /// Attaches private state, counting its memory.
    pub fn attach_private(&mut self, p: A::Private) {
        self.fs.stats.folio_private_bytes.add(p.bytes() as u64);
        self.fs.stats.private_alloc();
        let old = self.folio.private.replace(p);
        debug_assert!(old.is_none(), "folio already has private state");
    }

    /// Reads `len` bytes at device byte `addr` into the folio at `off`, one bio, and waits
    /// (`submit_bh` of one buffer, `iomap_read_folio_range`).
    pub fn read_sync(&mut self, off: usize, addr: u64, len: usize) -> Result<()> {
        self.bio.clear();
        let ptr = self.folio.ptr_at(off);
        self.bio.start(crate::dev::BioOp::Read, addr);
        // SAFETY: the folio stays cached and untouched until the read completes below.
        unsafe { self.bio.add_seg(ptr, len) };
        let submitted = self.fs.dev.submit(self.bio);
        let status = self.bio.status(0);
        self.bio.clear();
        submitted?;
        status.map_err(|errno| FsError::Io {
            source: DevError::Io { op: "read", offset: addr, source: std::io::Error::from_raw_os_error(errno) },
        })
    }
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
        map_inode(self.fs, self.inode, lblk, len, op, caller)
    }

    /// The folio starting at page `start` (which must be cached) with the rest of the inode,
    /// borrowed apart: one lookup for a whole step of a write or read path.
    pub fn folio_ref(&mut self, start: u64) -> FolioRef<'_, A> {
        let (folio, tags) = self.mapping.split_mut(start).expect("folio is cached");
        FolioRef { folio, tags, inode: self.inode, fs: self.fs, bio: self.bio }
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
        if self.fs.opts.writeback == crate::mm::WritebackMode::DontCache {
            folio.set_dropbehind(true);
        }
        self.mapping.insert(folio);
        self.fs.lru_add(self.cell, index, id);
        Ok((index, true))
    }

    fn alloc_folio_mem(&mut self, order: usize) -> Result<crate::mm::page_alloc::FolioMem> {
        for o in (0..=order).rev() {
            if let Some(m) = self.fs.pool.alloc(o) {
                return Ok(m);
            }
            crate::mm::vmscan::shrink(self, 1 << o);
            if let Some(m) = self.fs.pool.alloc(o) {
                return Ok(m);
            }
        }
        // Everything left is dirty: write back, as balance_dirty_pages would, and retry.
        Stats::bump(&self.fs.stats.forced_writebacks, 1);
        crate::mm::page_writeback::write_and_wait(self, 0, u64::MAX)?;
        crate::mm::vmscan::shrink(self, 1);
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
            let pos = (start << crate::mm::PAGE_SHIFT) + off as u64;
            self.fs.stats.zeroed(pos, n, self.fs.sb.block_size);
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

    /// Submits the writeback bios in `self.bio` and waits for them, counting them as
    /// writeback I/O. The first failure is recorded as the mapping's error
    /// (`mapping_set_error`); per-bio statuses stay in the batch for the completion work.
    pub fn submit_writeback(&mut self) -> Result<()> {
        let nbios = self.bio.len();
        if nbios == 0 {
            return Ok(());
        }
        Stats::bump(&self.fs.stats.writeback_ios, nbios as u64);
        let bytes: u64 = self.bio.bios().iter().map(|b| b.len).sum();
        Stats::bump(&self.fs.stats.writeback_bytes, bytes);
        let submitted = self.submit();
        if let Some((_, errno)) = self.bio.first_error() {
            self.mapping.wb_err.get_or_insert(errno);
        }
        submitted.inspect_err(|e| {
            self.mapping.wb_err.get_or_insert(e.errno());
        })
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
        self.fs.stats.private_alloc();
    }

    /// Detaches the folio's private state, counting the memory freed.
    pub fn detach_private(&mut self, start: u64) -> Option<A::Private> {
        let p = self.folio(start).private.take()?;
        self.private_changed(p.bytes(), 0);
        Some(p)
    }
}
