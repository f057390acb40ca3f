//! The filesystem core both aops layers share: like ext4 without its aops. Extent maps,
//! delayed-allocation reservations, `map_blocks`, and ext4's on-disk format with a jbd2
//! journal ([`ext4`], [`jbd2`]).

pub mod buffer;
pub mod ext4;
pub mod extent;
pub mod inode;
pub mod io;
pub mod jbd2;
pub mod map;
pub mod ondisk;

pub use crate::rangeset::RangeSet;
pub use extent::{Extent, ExtentMap};
pub use inode::{Ino, InodeInfo};
pub use map::{MapCtx, MapKind, MapOp, Mapping, map_blocks};
