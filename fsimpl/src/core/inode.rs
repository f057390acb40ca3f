//! The in-memory inode: sizes, extent map and delayed-allocation reservations.

use super::ext4::DiskInode;
use super::extent::ExtentMap;
use super::rangeset::RangeSet;

/// Inode number.
pub type Ino = u64;

/// One regular file.
#[derive(Clone, Debug, Default)]
pub struct Inode {
    /// Inode number.
    pub ino: Ino,
    /// The file's name (the filesystem has one flat directory).
    pub name: String,
    /// In-memory file size (`i_size`).
    pub i_size: u64,
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
    /// The on-disk inode and extent tree (the rest of `struct ext4_inode_info`).
    pub disk: DiskInode,
}

impl Inode {
    /// A new empty inode.
    pub fn new(ino: Ino, name: impl Into<String>) -> Self {
        Inode { ino, name: name.into(), ..Default::default() }
    }
}
