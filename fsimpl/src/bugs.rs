//! Seeded bugs: realistic mistakes in the buffered-I/O paths that can be switched on per
//! mount (`MountOptions::bug`) when fsimpl is built with the `bug_injection` feature. They
//! exist to prove that `aopsbench diff` finds this class of bug and shrinks it.
//!
//! Each one sits at a point no other code covers for it: a mistake that a later step would
//! repair (as ext4 re-zeroes the EOF block on every extension) could never be seen.

/// A seeded bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// buffer_head `write_begin` skips the read of a mapped, partly written, not-uptodate
    /// block: the rest of the block is whatever the folio memory held.
    BhSkipRmw,
    /// iomap's EOF tail-block zeroing (`iomap_truncate_page`) returns early: truncate down
    /// leaves the old tail on disk, and a later extension brings it back.
    IomapSkipTailZero,
    /// iomap writeback drops the last partial block of an ioend at EOF (rounds the end
    /// down instead of up): after a remount the file's tail is not what was written.
    IomapWbDropTail,
    /// Unwritten extents are not converted to written at I/O completion: after a remount
    /// the data reads as zeros.
    SkipUnwrittenConversion,
    /// When a write extends the file past a hole, the bytes of the new block before the
    /// write (between the hole and the data) are not zeroed.
    IomapPostEofNotZeroed,
    /// punch_hole leaves the cached part of a partly covered folio unzeroed.
    PunchLeavesCachedPartial,
    /// fsync and fdatasync of a file whose metadata needs no commit return without flushing
    /// the device's volatile cache (`ext4_sync_file` forgetting `blkdev_issue_flush` when
    /// `jbd2_complete_transaction` has nothing to commit): overwrites it wrote back are lost
    /// when the power goes. (Class: durability.)
    FsyncSkipsFlush,
    /// `block_read_full_folio` takes the folio's page index for the number of its first block
    /// (`folio->index` where `folio->index << (PAGE_SHIFT - blkbits)` is meant): right when a
    /// block is a page, wrong blocks read or zeroed when blocks are smaller. (Class: block
    /// size.)
    BhReadPageIndexAsBlock,
    /// iomap writeback looks for dirty blocks in the first word of the folio's dirty bitmap
    /// only (an `ifs_find_dirty_range` bounded by `BITS_PER_LONG`) and then clears them all:
    /// blocks past the 64th of a large folio are never written. (Class: large-folio bitmaps.)
    IfsDirtyScanOneWord,
    /// Reclaim frees a dirty folio that has no per-folio state (the dirty test left to
    /// `release_folio`, which only folios with private data go through): an iomap folio
    /// written whole loses its data under memory pressure. (Class: reclaim.)
    ReclaimDirtyWithoutPrivate,
    /// `ext4_da_write_end` does not advance `i_disksize` when an extending write ends in an
    /// already allocated block (`ext4_da_should_update_i_disksize` forgotten): writeback
    /// allocates nothing there, so the size on disk stays short. Needs an extending write
    /// inside the written EOF block, then a sync or remount. (Class: op sequence.)
    BhEofBlockExtendKeepsDisksize,
}

impl Bug {
    /// Every bug.
    pub const ALL: [Bug; 11] = [
        Bug::BhSkipRmw,
        Bug::IomapSkipTailZero,
        Bug::IomapWbDropTail,
        Bug::SkipUnwrittenConversion,
        Bug::IomapPostEofNotZeroed,
        Bug::PunchLeavesCachedPartial,
        Bug::FsyncSkipsFlush,
        Bug::BhReadPageIndexAsBlock,
        Bug::IfsDirtyScanOneWord,
        Bug::ReclaimDirtyWithoutPrivate,
        Bug::BhEofBlockExtendKeepsDisksize,
    ];

    /// Its name in target specs (`bh:bug=bh_skip_rmw`).
    pub fn name(self) -> &'static str {
        match self {
            Bug::BhSkipRmw => "bh_skip_rmw",
            Bug::IomapSkipTailZero => "iomap_skip_tail_zero",
            Bug::IomapWbDropTail => "iomap_wb_drop_tail",
            Bug::SkipUnwrittenConversion => "skip_unwritten_conversion",
            Bug::IomapPostEofNotZeroed => "iomap_post_eof_not_zeroed",
            Bug::PunchLeavesCachedPartial => "punch_leaves_cached_partial",
            Bug::FsyncSkipsFlush => "fsync_skips_flush",
            Bug::BhReadPageIndexAsBlock => "bh_read_page_index_as_block",
            Bug::IfsDirtyScanOneWord => "ifs_dirty_scan_one_word",
            Bug::ReclaimDirtyWithoutPrivate => "reclaim_dirty_without_private",
            Bug::BhEofBlockExtendKeepsDisksize => "bh_eof_block_extend_keeps_disksize",
        }
    }

    /// The bug of that name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The backend whose paths hold the bug; `None` for the shared paths (both backends).
    pub fn backend(self) -> Option<crate::Backend> {
        match self {
            Bug::BhSkipRmw | Bug::BhReadPageIndexAsBlock | Bug::BhEofBlockExtendKeepsDisksize => {
                Some(crate::Backend::BufferHead)
            }
            Bug::IomapSkipTailZero
            | Bug::IomapWbDropTail
            | Bug::IomapPostEofNotZeroed
            | Bug::SkipUnwrittenConversion
            | Bug::IfsDirtyScanOneWord
            | Bug::ReclaimDirtyWithoutPrivate => Some(crate::Backend::Iomap),
            Bug::PunchLeavesCachedPartial | Bug::FsyncSkipsFlush => None,
        }
    }

    /// Whether fsimpl was built with the `bug_injection` feature.
    pub const fn compiled_in() -> bool {
        cfg!(feature = "bug_injection")
    }
}
