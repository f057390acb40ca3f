//! The filesystem core both aops layers share: like ext4 without its aops. Extent maps,
//! delayed-allocation reservations, the block allocator, `map_blocks`, and the on-disk
//! metadata (format, mount, sync) with checksummed, alternating slots.

pub mod alloc;
pub mod extent;
pub mod inode;
pub mod map;
pub mod meta;

pub use crate::rangeset::RangeSet;
pub use alloc::BlockAllocator;
pub use extent::{Extent, ExtentMap};
pub use inode::{Ino, InodeInfo};
pub use map::{MapCtx, MapKind, MapOp, Mapping, map_blocks};
