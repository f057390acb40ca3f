//! ext4's on-disk format and the metadata operations of fsimpl's core (fs/ext4/): the
//! superblock, group descriptors, bitmaps, inodes, extent trees and directory blocks with
//! their crc32c checksums; an mballoc-shaped allocator; the journaled operations on files;
//! and fsimpl's own `mke2fs`. Images are those of `mkfs.ext4` and the kernel: the kernel
//! mounts what fsimpl writes and e2fsck checks it.
//!
//! [`Ext4`] is the seam the layers above use: [`Ext4::mount`], the operations of
//! [`ops`] (create, unlink, allocate, convert, remove, shift, mark dirty, sync), and
//! [`Ext4::unmount`]. This layer imports only `dev`, `kernel` and `core`.

pub mod balloc;
pub mod dir;
pub mod extents;
pub mod fs;
pub mod group_desc;
pub mod inode;
pub mod mballoc;
pub mod mke2fs;
pub mod ops;
pub mod super_block;

pub use fs::{Ext4, Ext4Options, FoundFile, journal_of, read_super};
pub use inode::DiskInode;
pub use mke2fs::{MkfsOptions, mke2fs};
pub use ops::{Alloc, INODE_CREDITS};
