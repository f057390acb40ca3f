//! Criterion micro-benchmarks of the fsimpl paths, and shared setup for them.
//!
//! `cargo bench -p bench` runs `benches/aops.rs`: buffered write into the page cache
//! (writeback off), buffered read of cached data, and write plus writeback to the `mem`
//! device, each on buffer_head, buffer_head with large folios, and iomap.
#![deny(missing_docs)]

use fsimpl::dev::{BlockDev, MemDev};
use fsimpl::mm::WritebackMode;
use fsimpl::{Backend, FormatOptions, Fs, MountOptions};
use std::sync::Arc;

/// The three configurations the kernel series compares.
pub const CONFIGS: [(&str, Backend, bool); 3] =
    [("bh", Backend::BufferHead, false), ("bh+lf", Backend::BufferHead, true), ("iomap", Backend::Iomap, true)];

/// A fresh filesystem on a RAM device of `dev_bytes`, with `cache_bytes` of page cache.
pub fn mem_fs(backend: Backend, large_folios: bool, writeback: WritebackMode, dev_bytes: u64, cache_bytes: u64) -> Fs {
    let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(dev_bytes).expect("mem device"));
    let opts = MountOptions { backend, large_folios, writeback, cache_bytes, ..MountOptions::default() };
    Fs::format_and_mount(dev, &FormatOptions::default(), opts).expect("format and mount")
}
