//! `map_blocks`: what a range of logical blocks maps to, reserving or allocating on request,
//! like `ext4_map_blocks` (and `ext4_da_map_blocks` for delayed allocation).

use super::alloc::BlockAllocator;
use super::extent::{Extent, Lookup};
use super::inode::InodeInfo;
use crate::error::{FsError, Result};
use crate::stats::{MapCaller, Stats};
use std::sync::Mutex;

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
    /// The allocator.
    pub alloc: &'a Mutex<BlockAllocator>,
    /// Counters.
    pub stats: &'a Stats,
    /// Where an inode's first allocation goes when it has no extents yet.
    pub default_goal: u64,
}

/// Maps up to `len` blocks of `inode` from `lblk`: the returned mapping starts at `lblk` and is
/// of one kind; it may be shorter than asked. Counts one call for `caller`.
pub fn map_blocks(
    cx: &MapCtx<'_>,
    inode: &mut InodeInfo,
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
            lock(cx.alloc).reserve(found.len)?;
            inode.delayed.insert(lblk, found.len);
            Ok(Mapping { kind: MapKind::Delalloc, new: true, ..found })
        }
        (MapOp::Allocate | MapOp::AllocateUnwritten, MapKind::Hole | MapKind::Delalloc) => {
            let reserved = if found.kind == MapKind::Delalloc { found.len } else { 0 };
            let goal = goal_for(inode, lblk, cx.default_goal);
            let (pblk, got) = lock(cx.alloc).alloc(goal, found.len, reserved)?;
            if found.kind == MapKind::Delalloc {
                inode.delayed.remove(lblk, got);
            }
            let unwritten = op == MapOp::AllocateUnwritten;
            inode.extents.insert(Extent { lblk, len: got, pblk, unwritten });
            let kind = if unwritten { MapKind::Unwritten } else { MapKind::Mapped };
            Ok(Mapping { lblk, len: got, pblk, kind, new: true })
        }
        (MapOp::ConvertUnwritten, MapKind::Unwritten) => {
            inode.extents.convert_to_written(lblk, found.len);
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

/// The allocation goal for `lblk`: right after the physical block of the extent before it
/// (`ext4_ext_find_goal`), or the inode's default.
fn goal_for(inode: &InodeInfo, lblk: u64, default_goal: u64) -> u64 {
    match inode.extents.before(lblk) {
        Some(prev) => prev.pblk + (lblk - prev.lblk),
        None => default_goal,
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Mutex<BlockAllocator>, Stats, InodeInfo) {
        (Mutex::new(BlockAllocator::new(100, 1100)), Stats::default(), InodeInfo::new(1, "f"))
    }

    #[test]
    fn reserve_then_allocate_consumes_the_reservation() {
        let (alloc, stats, mut ino) = setup();
        let cx = MapCtx { alloc: &alloc, stats: &stats, default_goal: 100 };
        let m = map_blocks(&cx, &mut ino, 0, 16, MapOp::ReserveDelalloc, MapCaller::IomapBegin).unwrap();
        assert_eq!((m.kind, m.len, m.new), (MapKind::Delalloc, 16, true));
        assert_eq!(alloc.lock().unwrap().reserved(), 16);
        // Reserving again finds the delalloc and reserves nothing new.
        let again = map_blocks(&cx, &mut ino, 4, 4, MapOp::ReserveDelalloc, MapCaller::GetBlock).unwrap();
        assert_eq!((again.kind, again.len, again.new), (MapKind::Delalloc, 4, false));
        let a = map_blocks(&cx, &mut ino, 0, 16, MapOp::Allocate, MapCaller::Writeback).unwrap();
        assert_eq!((a.kind, a.len, a.pblk, a.new), (MapKind::Mapped, 16, 100, true));
        assert_eq!(alloc.lock().unwrap().reserved(), 0);
        assert!(ino.delayed.is_empty());
        assert_eq!(stats.snapshot(Default::default()).map_blocks, 3);
    }

    #[test]
    fn next_allocation_continues_after_the_previous_extent() {
        let (alloc, stats, mut ino) = setup();
        let cx = MapCtx { alloc: &alloc, stats: &stats, default_goal: 500 };
        map_blocks(&cx, &mut ino, 0, 4, MapOp::AllocateUnwritten, MapCaller::Other).unwrap();
        let m = map_blocks(&cx, &mut ino, 4, 4, MapOp::AllocateUnwritten, MapCaller::Other).unwrap();
        assert_eq!((m.pblk, m.kind), (504, MapKind::Unwritten));
        assert_eq!(ino.extents.len(), 1);
        let c = map_blocks(&cx, &mut ino, 2, 100, MapOp::ConvertUnwritten, MapCaller::EndIo).unwrap();
        assert_eq!((c.kind, c.len, c.pblk), (MapKind::Mapped, 6, 502));
        assert_eq!(ino.extents.len(), 2);
    }

    #[test]
    fn hole_length_stops_at_the_next_extent_or_reservation() {
        let (alloc, stats, mut ino) = setup();
        let cx = MapCtx { alloc: &alloc, stats: &stats, default_goal: 100 };
        map_blocks(&cx, &mut ino, 10, 2, MapOp::Allocate, MapCaller::Other).unwrap();
        map_blocks(&cx, &mut ino, 5, 1, MapOp::ReserveDelalloc, MapCaller::Other).unwrap();
        assert_eq!(lookup(&ino, 0, 100).len, 5);
        assert_eq!(lookup(&ino, 6, 100).len, 4);
        assert_eq!(lookup(&ino, 12, 100).len, 100);
    }

    #[test]
    fn reservation_beyond_free_space_is_enospc() {
        let (alloc, stats, mut ino) = setup();
        let cx = MapCtx { alloc: &alloc, stats: &stats, default_goal: 100 };
        let err = map_blocks(&cx, &mut ino, 0, 2000, MapOp::ReserveDelalloc, MapCaller::IomapBegin);
        assert!(matches!(err, Err(FsError::NoSpace { .. })));
        assert!(ino.delayed.is_empty());
    }
}
