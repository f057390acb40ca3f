//! The block layer under the filesystem: what `block/` is to ext4.
//!
//! A filesystem sends [`Bio`]s — a read, write or flush over a contiguous device range, its
//! memory in segments like the kernel's `struct bio` with its `bio_vec`s — to a [`BlockDev`]
//! with [`BlockDev::submit_bio`], which returns at once; each bio ends later by running its
//! end_io ([`BioEndIo`]) in the device's completion context. The request queue
//! ([`blk_mq`]) splits bios at the device's [`QueueLimits`], merges adjacent ones held in the
//! thread's plug ([`blk_start_plug`]), bounds the requests in flight by tags, and hands the
//! requests to the engine; the counters ([`DevStats`]) count requests, as `/sys/block/*/stat`
//! does.
//!
//! Engines: [`Engine::Uring`] (io_uring on a dispatcher thread; `READV`/`WRITEV`/`FSYNC`),
//! [`Engine::Psync`] (worker threads doing `preadv(2)`/`pwritev(2)`/`fsync(2)`) and
//! [`Engine::Mem`] (RAM, completing in the submitter like `brd`).
//!
//! [`open`] makes a device from a [`DevConfig`]: the engine over an image file, a block device
//! or RAM, with O_DIRECT where the backing store allows it, and the queue limits of the
//! device (sysfs) or of a loop device (a file). Where the machine cannot do what was asked it
//! falls back (io_uring to psync, O_DIRECT to buffered) and says so in [`Opened::notices`].
//! A bio the device cannot take (misaligned, out of range) fails with EINVAL; the waiting
//! helpers ([`submit_bio_wait`], [`read_at`]) refuse it first with [`DevError::BadRequest`].
//!
//! [`FaultDev`] wraps any device and injects the faults of a [`FaultPlan`]: EIO on the Nth
//! read or write or on a bad range, torn (short) writes, and power cuts.

mod backing;
mod bio;
pub mod blk_mq;
mod check;
mod fault;
mod iovec;
mod limits;
mod mem;
mod open;
mod psync;
mod stats;
mod sync;
#[cfg(test)]
mod testutil;
mod uring;

pub use bio::{BIO_MAX_VECS, Bio, BioEndIo, BioOp, IoSeg, bio_endio};
pub use blk_mq::{BlkPlug, blk_flush_plug, blk_start_plug};
pub use fault::{BadRange, FaultDev, FaultPlan, FaultStats, NthBio, PowerCut, ShortWrite};
pub use limits::{QueueLimits, SECTOR_SIZE};
pub use mem::MemDev;
pub use open::open;
#[doc(hidden)]
pub use open::{OpenHooks, open_with};
pub use stats::{Counters, DevStats, IO_SIZE_BUCKETS};
pub use sync::{read_at, submit_all_wait, submit_bio_wait, write_at};

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

impl DevError {
    /// The errno the error stands for (EINVAL for a request the device cannot take).
    pub fn errno(&self) -> i32 {
        match self {
            DevError::Open { source, .. } | DevError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            DevError::BadRequest(_) => libc::EINVAL,
        }
    }
}

/// Which engine does the I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// io_uring with this many requests in flight at most.
    Uring {
        /// Queue depth (entries in the submission queue).
        queue_depth: u32,
    },
    /// Worker threads, one `preadv`/`pwritev` call per request.
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
/// Implementations are thread-safe: any thread may submit at any time.
pub trait BlockDev: Send + Sync {
    /// The engine's name: "uring", "psync" or "mem".
    fn engine_name(&self) -> &'static str;
    /// Size of the device in bytes.
    fn size(&self) -> u64;
    /// Whether I/O bypasses the host page cache (O_DIRECT).
    fn is_direct(&self) -> bool;
    /// The queue's limits and readahead.
    fn limits(&self) -> QueueLimits;
    /// Starts `bio` (`submit_bio`); its end_io runs when it is done, possibly before this
    /// returns (a device that completes inline) and possibly on another thread.
    fn submit_bio(&self, bio: Box<Bio>);
    /// Makes every completed write durable (`blkdev_issue_flush`: an empty `REQ_PREFLUSH`
    /// bio, waited for).
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
