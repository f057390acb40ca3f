//! Device counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Number of I/O size buckets: bucket `i` counts I/Os of `512 << i` bytes up to twice that
/// (the last one holds everything from 64 MiB up).
pub const IO_SIZE_BUCKETS: usize = 18;

/// What a device did: a snapshot of its counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevStats {
    /// Read requests (bios) completed or failed.
    pub reads: u64,
    /// Write requests.
    pub writes: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Flushes.
    pub flushes: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Read sizes: `read_sizes[i]` counts reads of `[512 << i, 1024 << i)` bytes.
    pub read_sizes: [u64; IO_SIZE_BUCKETS],
    /// Write sizes, bucketed as `read_sizes`.
    pub write_sizes: [u64; IO_SIZE_BUCKETS],
}

impl DevStats {
    /// The bucket an I/O of `len` bytes falls into.
    pub fn bucket(len: u64) -> usize {
        let units = (len / 512).max(1);
        (63 - units.leading_zeros() as usize).min(IO_SIZE_BUCKETS - 1)
    }

    /// Lower bound in bytes of bucket `i`.
    pub fn bucket_floor(i: usize) -> u64 {
        512 << i
    }
}

/// Live counters an engine updates; [`Counters::snapshot`] gives a [`DevStats`].
#[derive(Debug, Default)]
pub struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    read_bytes: AtomicU64,
    write_bytes: AtomicU64,
    flushes: AtomicU64,
    errors: AtomicU64,
    read_sizes: [AtomicU64; IO_SIZE_BUCKETS],
    write_sizes: [AtomicU64; IO_SIZE_BUCKETS],
}

impl Counters {
    /// Counts one read of `len` bytes.
    pub fn read(&self, len: u64) {
        self.reads.fetch_add(1, Relaxed);
        self.read_bytes.fetch_add(len, Relaxed);
        self.read_sizes[DevStats::bucket(len)].fetch_add(1, Relaxed);
    }
    /// Counts one write of `len` bytes.
    pub fn write(&self, len: u64) {
        self.writes.fetch_add(1, Relaxed);
        self.write_bytes.fetch_add(len, Relaxed);
        self.write_sizes[DevStats::bucket(len)].fetch_add(1, Relaxed);
    }
    /// Counts one flush.
    pub fn flush(&self) {
        self.flushes.fetch_add(1, Relaxed);
    }
    /// Counts one failed request.
    pub fn error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }
    /// A snapshot.
    pub fn snapshot(&self) -> DevStats {
        DevStats {
            reads: self.reads.load(Relaxed),
            writes: self.writes.load(Relaxed),
            read_bytes: self.read_bytes.load(Relaxed),
            write_bytes: self.write_bytes.load(Relaxed),
            flushes: self.flushes.load(Relaxed),
            errors: self.errors.load(Relaxed),
            read_sizes: std::array::from_fn(|i| self.read_sizes[i].load(Relaxed)),
            write_sizes: std::array::from_fn(|i| self.write_sizes[i].load(Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_from_512() {
        assert_eq!(DevStats::bucket(512), 0);
        assert_eq!(DevStats::bucket(1023), 0);
        assert_eq!(DevStats::bucket(4096), 3);
        assert_eq!(DevStats::bucket(1 << 20), 11);
        assert_eq!(DevStats::bucket(1 << 40), IO_SIZE_BUCKETS - 1);
        assert_eq!(DevStats::bucket_floor(3), 4096);
    }
}
