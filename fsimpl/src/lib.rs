//! fsimpl: one filesystem core, two address-space-operations backends (buffer_head and iomap).
//!
//! Layers, bottom up; each imports only from the layers below it:
//!
//! - [`dev`]: the block layer — bios, the device engines (io_uring, psync, RAM), faults;
//! - [`core`]: what ext4 is without its aops — extents, delayed allocation, the block
//!   allocator, `map_blocks`, on-disk metadata;
//! - [`mm`]: the page cache and its machinery — folios and their memory, the address-space
//!   operations the cache calls (`struct address_space_operations`), filemap reads,
//!   readahead, writeback and dirty throttling, truncation, reclaim;
//! - [`aops`]: the two implementations of those operations, buffer_head and iomap;
//! - [`fs`]: the VFS-level face, [`Fs`], with the namespace, the inode locks and the file
//!   operations.
//!
//! Beneath them: [`kernel`] (wait queues, workqueues, per-CPU shards), and beside it
//! [`options`] (mount options), [`page`] (page geometry), [`rangeset`], [`stats`],
//! [`error`], [`bugs`] and [`buf`].
#![deny(missing_docs)]

pub mod aops;
pub mod buf;
pub mod bugs;
pub mod core;
pub mod dev;
pub mod error;
pub mod fs;
pub mod kernel;
pub mod mm;
pub mod options;
pub mod page;
pub mod rangeset;
pub mod stats;

pub use error::{FsError, Result};
pub use fs::{Backend, FallocMode, Fh, Flusher, FormatOptions, Fs, FsFaults, MountOptions, PAGE_POISON, Stat};
pub use stats::StatsSnapshot;
