//! fsimpl: one filesystem core, two address-space-operations backends (buffer_head and iomap).
#![deny(missing_docs)]

pub mod aops;
pub mod buf;
pub mod bugs;
pub mod cache;
pub mod core;
pub mod dev;
pub mod error;
pub mod fs;
pub mod stats;

pub use error::{FsError, Result};
pub use fs::{Backend, FallocMode, Fh, FormatOptions, Fs, FsFaults, MountOptions, PAGE_POISON, Stat};
pub use stats::StatsSnapshot;
