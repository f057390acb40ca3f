//! What ext4 keeps per inode beside the VFS inode (`struct ext4_inode_info`): the on-disk
//! size, the extent map (the extent-status tree), the delayed-allocation reservations and
//! the on-disk inode with its extent tree. It sits behind the inode's `i_data_sem`.

use super::ext4::DiskInode;
use super::extent::ExtentMap;
use crate::rangeset::RangeSet;

/// Inode number.
pub type Ino = u64;

/// One regular file's filesystem-private state.
#[derive(Clone, Debug, Default)]
pub struct InodeInfo {
    /// Inode number.
    pub ino: Ino,
    /// The file's name (the filesystem has one flat directory).
    pub name: String,
    /// On-disk file size (`i_disksize`): what a remount finds. Advances when data is allocated
    /// (buffer_head, data=ordered) or when the I/O completes (iomap).
    pub i_disksize: u64,
    /// Allocated extents.
    pub extents: ExtentMap,
    /// Blocks reserved for delayed allocation (dirty in the cache, no disk block yet).
    pub delayed: RangeSet,
    /// Bumped whenever the block mapping changes, so that a mapping cached across a folio
    /// allocation can be checked for staleness (ext4's `i_es_seq`, iomap's `iomap_valid`).
    pub map_seq: u64,
    /// The on-disk inode and its extent tree.
    pub disk: DiskInode,
}

impl InodeInfo {
    /// A new empty inode.
    pub fn new(ino: Ino, name: impl Into<String>) -> Self {
        InodeInfo { ino, name: name.into(), ..Default::default() }
    }
}
