//! The block device under the filesystem: what the kernel's block layer is to ext4.
//!
//! A [`BlockDev`] takes a batch of [`Bio`]s (reads and writes, each a scatter/gather list of
//! memory segments, like the kernel's `struct bio` with its `bio_vec`s), submits them together,
//! waits for every completion ([`BlockDev::submit`] stands for `submit_bio` followed by waiting
//! on the bios' completions), and flushes the device's volatile cache ([`BlockDev::flush`], a
//! `REQ_PREFLUSH` / `blkdev_issue_flush`).
//!
//! Engines: [`Engine::Uring`] (io_uring; `READV`/`WRITEV`/`FSYNC` opcodes), [`Engine::Psync`]
//! (`preadv(2)`/`pwritev(2)`/`fsync(2)`) and [`Engine::Mem`] (RAM, [`MemDev`]). Every engine
//! counts what it did in [`DevStats`].
//!
//! [`open`] makes a device from a [`DevConfig`]: the engine over an image file, a block device
//! or RAM, with O_DIRECT where the backing store allows it. Where the machine cannot do what was
//! asked it falls back (io_uring to psync, O_DIRECT to buffered) and says so in
//! [`Opened::notices`]. Every engine refuses a batch with a misaligned or out-of-range bio as a
//! whole, before submitting any of it ([`DevError::BadRequest`]).
//!
//! [`FaultDev`] wraps any device and injects the faults of a [`FaultPlan`]: EIO on the Nth
//! read or write or on a bad range, torn (short) writes, and power cuts.

mod backing;
mod bio;
mod check;
mod fault;
mod iovec;
mod mem;
mod open;
mod psync;
mod stats;
#[cfg(test)]
mod testutil;
mod uring;

pub use bio::BIO_MAX_VECS;
pub use bio::{Bio, BioBatch, BioOp, IoSeg};
pub use fault::{BadRange, FaultDev, FaultPlan, FaultStats, NthBio, PowerCut, ShortWrite};
pub use mem::MemDev;
pub use open::open;
#[doc(hidden)]
pub use open::{OpenHooks, open_with};
pub use stats::{Counters, DevStats, IO_SIZE_BUCKETS};

use std::path::PathBuf;

/// Errors a device can return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// Opening or creating the backing store failed.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path that was opened.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A request failed with an errno (EIO, ENOSPC, ...).
    #[error("device {op} at byte {offset} failed: {source}")]
    Io {
        /// "read", "write" or "flush"; "io_uring setup" or "io_uring submit" when the ring
        /// itself failed.
        op: &'static str,
        /// Device byte offset of the failed request.
        offset: u64,
        /// The OS error (its raw errno is what callers look at).
        source: std::io::Error,
    },
    /// A request lies outside the device or is not aligned to 512 bytes.
    #[error("bad request: {0}")]
    BadRequest(String),
}

/// Which engine does the I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// io_uring with this many requests in flight at most.
    Uring {
        /// Queue depth (entries in the submission queue).
        queue_depth: u32,
    },
    /// One `preadv`/`pwritev` call per bio.
    Psync,
    /// RAM; for unit tests and to separate CPU cost from device cost.
    Mem,
}

/// Where the device's bytes live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A regular file, created if missing and grown (never shrunk) to `size` bytes.
    File {
        /// Path of the image file.
        path: PathBuf,
        /// Size in bytes.
        size: u64,
    },
    /// An existing block device; its size is the device's.
    BlockDevice {
        /// Path such as `/dev/loop0`.
        path: PathBuf,
    },
    /// RAM of this many bytes (only with [`Engine::Mem`]).
    Mem {
        /// Size in bytes.
        size: u64,
    },
}

/// How to open a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevConfig {
    /// The engine.
    pub engine: Engine,
    /// The backing store.
    pub backing: Backing,
    /// Try O_DIRECT (default true); fall back to buffered I/O, with a notice, where the backing
    /// store refuses it or needs a larger alignment than `min_io_align`.
    pub direct: bool,
    /// The smallest alignment of the I/O the filesystem will send (its block size).
    pub min_io_align: u32,
}

/// A block device: the seam between the filesystem and storage.
///
/// Implementations are thread-safe: several threads may call `submit` at once.
pub trait BlockDev: Send + Sync {
    /// The engine's name: "uring", "psync" or "mem".
    fn engine_name(&self) -> &'static str;
    /// Size of the device in bytes.
    fn size(&self) -> u64;
    /// Whether I/O bypasses the host page cache (O_DIRECT).
    fn is_direct(&self) -> bool;
    /// Submits every bio of `batch` and waits for all of them. A failed bio leaves its status
    /// in `batch` (see [`BioBatch::status`]); the call itself fails only when the engine cannot
    /// submit at all.
    fn submit(&self, batch: &mut BioBatch) -> Result<(), DevError>;
    /// Makes every completed write durable (`fsync` on the backing store).
    fn flush(&self) -> Result<(), DevError>;
    /// Counters since the device was opened.
    fn stats(&self) -> DevStats;
}

/// A device that was opened, with the notices to show the user (one line each), e.g. that
/// io_uring could not be set up and psync is used instead.
pub struct Opened {
    /// The device.
    pub dev: std::sync::Arc<dyn BlockDev>,
    /// One-line notices.
    pub notices: Vec<String>,
}
