//! `map_blocks`: what a range of logical blocks maps to, reserving or allocating on request,
//! like `ext4_map_blocks` (and `ext4_da_map_blocks` for delayed allocation).

use super::ext4::Ext4;
use super::ext4::extents::EXT_UNWRITTEN_MAX_LEN;
use super::extent::Lookup;
use super::inode::InodeInfo;
use super::jbd2::Handle;
use crate::error::{FsError, Result};
use crate::stats::{MapCaller, Stats};

/// Largest number of logical blocks a file may have (ext4's 2^32).
pub const MAX_FILE_BLOCKS: u64 = 1 << 32;

/// What a mapping is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Nothing there: reads as zeros.
    Hole,
    /// Reserved by delayed allocation, no disk block yet.
    Delalloc,
    /// Allocated and written.
    Mapped,
    /// Allocated, not written: reads as zeros.
    Unwritten,
}

/// The result of `map_blocks`: `len` blocks from `lblk`, all of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First logical block.
    pub lblk: u64,
    /// Number of blocks (at least 1).
    pub len: u64,
    /// First physical block (meaningful for Mapped and Unwritten).
    pub pblk: u64,
    /// The kind.
    pub kind: MapKind,
    /// The blocks were reserved or allocated by this call (`EXT4_MAP_NEW`, `IOMAP_F_NEW`).
    pub new: bool,
}

impl Mapping {
    /// One past the last logical block.
    pub fn end(&self) -> u64 {
        self.lblk + self.len
    }

    /// Physical block of logical block `lblk` (which must be inside the mapping).
    pub fn pblk_of(&self, lblk: u64) -> u64 {
        debug_assert!(lblk >= self.lblk && lblk < self.end());
        self.pblk + (lblk - self.lblk)
    }
}

/// What `map_blocks` should do with what it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapOp {
    /// Report only (`flags == 0`).
    Lookup,
    /// Turn a hole into a delayed-allocation reservation (`ext4_insert_delayed_block`).
    ReserveDelalloc,
    /// Allocate holes and delalloc as written extents (`EXT4_GET_BLOCKS_CREATE`).
    Allocate,
    /// Allocate holes and delalloc as unwritten extents (`EXT4_GET_BLOCKS_CREATE_UNWRIT_EXT`).
    AllocateUnwritten,
    /// Convert unwritten extents to written (`EXT4_GET_BLOCKS_CONVERT`).
    ConvertUnwritten,
}

/// The filesystem-wide state `map_blocks` needs besides the inode.
pub struct MapCtx<'a> {
    /// The filesystem's metadata: allocator, journal, on-disk inodes and extent trees.
    pub ext4: &'a Ext4,
    /// Counters.
    pub stats: &'a Stats,
}

/// Maps up to `len` blocks of `inode` from `lblk`: the returned mapping starts at `lblk` and is
/// of one kind; it may be shorter than asked. Counts one call for `caller`. Allocation and
/// conversion change the on-disk extent tree through `h`, the handle the caller started
/// before taking `i_data_sem` (`ext4_map_blocks(handle, ...)`); without one they fail.
/// `i_size` is the file's in-memory size (the allocator normalizes requests by it).
#[allow(clippy::too_many_arguments)]
pub fn map_blocks(
    cx: &MapCtx<'_>,
    h: Option<&mut Handle<'_>>,
    inode: &mut InodeInfo,
    i_size: u64,
    lblk: u64,
    len: u64,
    op: MapOp,
    caller: MapCaller,
) -> Result<Mapping> {
    debug_assert!(len > 0);
    cx.stats.map_call(caller);
    if lblk >= MAX_FILE_BLOCKS {
        return Err(FsError::TooLarge { size: lblk });
    }
    let len = len.min(MAX_FILE_BLOCKS - lblk);
    let found = lookup(inode, lblk, len);
    match (op, found.kind) {
        (MapOp::ReserveDelalloc, MapKind::Hole) => {
            cx.ext4.reserve(found.len)?;
            inode.delayed.insert(lblk, found.len);
            Ok(Mapping { kind: MapKind::Delalloc, new: true, ..found })
        }
        (MapOp::Allocate | MapOp::AllocateUnwritten, MapKind::Hole | MapKind::Delalloc) => {
            let h = h.ok_or_else(|| FsError::invalid("map_blocks: allocation without a journal handle"))?;
            let reserved = if found.kind == MapKind::Delalloc { found.len } else { 0 };
            let unwritten = op == MapOp::AllocateUnwritten;
            // fallocate of what fits one extent is not normalized (`EXT4_GET_BLOCKS_NO_NORMALIZE`).
            let no_prealloc = found.kind == MapKind::Hole && unwritten && found.len <= u64::from(EXT_UNWRITTEN_MAX_LEN);
            let req = super::ext4::Alloc { lblk, len: found.len, reserved, unwritten, no_prealloc, i_size };
            let (pblk, got) = cx.ext4.alloc_blocks(h, inode, &req)?;
            let kind = if unwritten { MapKind::Unwritten } else { MapKind::Mapped };
            Ok(Mapping { lblk, len: got, pblk, kind, new: true })
        }
        (MapOp::ConvertUnwritten, MapKind::Unwritten) => {
            let h = h.ok_or_else(|| FsError::invalid("map_blocks: conversion without a journal handle"))?;
            cx.ext4.convert_unwritten(h, inode, lblk, found.len)?;
            Ok(Mapping { kind: MapKind::Mapped, ..found })
        }
        _ => Ok(found),
    }
}

/// What is at `lblk`, for up to `len` blocks, without counting a call.
pub fn lookup(inode: &InodeInfo, lblk: u64, len: u64) -> Mapping {
    match inode.extents.lookup(lblk) {
        Lookup::Extent(e) => Mapping {
            lblk,
            len: e.len.min(len),
            pblk: e.pblk,
            kind: if e.unwritten { MapKind::Unwritten } else { MapKind::Mapped },
            new: false,
        },
        Lookup::Hole { next } => {
            if let Some((s, l)) = inode.delayed.find(lblk) {
                return Mapping { lblk, len: (s + l - lblk).min(len), pblk: 0, kind: MapKind::Delalloc, new: false };
            }
            let mut end = lblk + len;
            if let Some(n) = next {
                end = end.min(n);
            }
            if let Some(d) = inode.delayed.next_from(lblk) {
                end = end.min(d);
            }
            Mapping { lblk, len: end - lblk, pblk: 0, kind: MapKind::Hole, new: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ext4::{Ext4Options, MkfsOptions, mke2fs};
    use crate::core::jbd2::JournalOptions;
    use crate::dev::{BlockDev, MemDev};
    use std::sync::Arc;

    fn setup() -> (Arc<Ext4>, Stats, InodeInfo) {
        let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(16 << 20).unwrap());
        mke2fs(dev.as_ref(), &MkfsOptions { block_size: 4096, ..MkfsOptions::default() }).unwrap();
        let opts = Ext4Options { journal: JournalOptions { commit_interval: None, thread: false }, alloc_limit: None };
        let (fs, _) = Ext4::mount(dev, opts, Arc::new(Stats::default())).unwrap();
        let inode = fs.create("f").unwrap();
        (fs, Stats::default(), inode)
    }

    #[test]
    fn reserve_then_allocate_consumes_the_reservation() {
        let (fs, stats, mut ino) = setup();
        let cx = MapCtx { ext4: &fs, stats: &stats };
        let avail = fs.available();
        let m = map_blocks(&cx, None, &mut ino, 0, 0, 16, MapOp::ReserveDelalloc, MapCaller::IomapBegin).unwrap();
        assert_eq!((m.kind, m.len, m.new), (MapKind::Delalloc, 16, true));
        assert_eq!(fs.available(), avail - 16);
        // Reserving again finds the delalloc and reserves nothing new.
        let again = map_blocks(&cx, None, &mut ino, 0, 4, 4, MapOp::ReserveDelalloc, MapCaller::GetBlock).unwrap();
        assert_eq!((again.kind, again.len, again.new), (MapKind::Delalloc, 4, false));
        let mut h = fs.journal_start(16).unwrap();
        let a = map_blocks(&cx, Some(&mut h), &mut ino, 0, 0, 16, MapOp::Allocate, MapCaller::Writeback).unwrap();
        assert_eq!((a.kind, a.len, a.new), (MapKind::Mapped, 16, true));
        assert!(ino.delayed.is_empty());
        assert_eq!(fs.available(), avail - 16, "the reservation became the allocation");
        assert_eq!(stats.snapshot(Default::default()).map_blocks, 3);
        drop(h);
        fs.unmount().unwrap();
    }

    #[test]
    fn allocation_needs_a_handle() {
        let (fs, stats, mut ino) = setup();
        let cx = MapCtx { ext4: &fs, stats: &stats };
        assert!(map_blocks(&cx, None, &mut ino, 0, 0, 4, MapOp::AllocateUnwritten, MapCaller::Other).is_err());
        fs.unmount().unwrap();
    }

    #[test]
    fn next_allocation_continues_after_the_previous_extent() {
        let (fs, stats, mut ino) = setup();
        let cx = MapCtx { ext4: &fs, stats: &stats };
        let mut h = fs.journal_start(32).unwrap();
        let a = map_blocks(&cx, Some(&mut h), &mut ino, 0, 0, 4, MapOp::AllocateUnwritten, MapCaller::Other).unwrap();
        let m = map_blocks(&cx, Some(&mut h), &mut ino, 0, 4, 4, MapOp::AllocateUnwritten, MapCaller::Other).unwrap();
        assert_eq!((m.pblk, m.kind), (a.pblk + 4, MapKind::Unwritten));
        assert_eq!(ino.extents.len(), 1);
        let c = map_blocks(&cx, Some(&mut h), &mut ino, 0, 2, 100, MapOp::ConvertUnwritten, MapCaller::EndIo).unwrap();
        assert_eq!((c.kind, c.len, c.pblk), (MapKind::Mapped, 6, a.pblk + 2));
        assert_eq!(ino.extents.len(), 2);
        assert_eq!(ino.disk.tree.extents().len(), 2, "the on-disk tree follows");
        drop(h);
        fs.unmount().unwrap();
    }

    #[test]
    fn hole_length_stops_at_the_next_extent_or_reservation() {
        let (fs, stats, mut ino) = setup();
        let cx = MapCtx { ext4: &fs, stats: &stats };
        let mut h = fs.journal_start(16).unwrap();
        map_blocks(&cx, Some(&mut h), &mut ino, 0, 10, 2, MapOp::Allocate, MapCaller::Other).unwrap();
        map_blocks(&cx, None, &mut ino, 0, 5, 1, MapOp::ReserveDelalloc, MapCaller::Other).unwrap();
        assert_eq!(lookup(&ino, 0, 100).len, 5);
        assert_eq!(lookup(&ino, 6, 100).len, 4);
        assert_eq!(lookup(&ino, 12, 100).len, 100);
        fs.release(1);
        drop(h);
        fs.unmount().unwrap();
    }

    #[test]
    fn reservation_beyond_free_space_is_enospc() {
        let (fs, stats, mut ino) = setup();
        let cx = MapCtx { ext4: &fs, stats: &stats };
        let err = map_blocks(&cx, None, &mut ino, 0, 0, 20000, MapOp::ReserveDelalloc, MapCaller::IomapBegin);
        assert!(matches!(err, Err(FsError::NoSpace { .. })));
        assert!(ino.delayed.is_empty());
        fs.unmount().unwrap();
    }
}
