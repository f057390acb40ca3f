//! The uring engine: io_uring's `IORING_OP_READV` / `IORING_OP_WRITEV` (the async forms of
//! `preadv(2)` / `pwritev(2)`) with a bio's segments as iovecs, and `IORING_OP_FSYNC` per flush
//! — fio's `io_uring` ioengine.
//!
//! A batch goes through one ring with at most `queue_depth` requests in flight, refilled as
//! completions arrive; `user_data` is the bio's index in the batch. A short transfer is
//! resubmitted for the remainder. Threads submitting at once each take a ring from a small
//! pool (one is made when none is idle), so they never wait for each other's I/O.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::sync::{Condvar, Mutex, MutexGuard};

use io_uring::{IoUring, opcode, squeue, types};

use super::backing::BackingFile;
use super::check::{IoLimits, check_batch};
use super::iovec::{iov_advance, iovec_of};
use super::{BioBatch, BioOp, BlockDev, Counters, DevError, DevStats};

/// Most entries an io_uring may have (`IORING_MAX_ENTRIES`).
pub(crate) const MAX_QUEUE_DEPTH: u32 = 32768;

/// `user_data` of a flush.
const FLUSH_TAG: u64 = u64::MAX;

/// Sets up one io_uring with `queue_depth` submission entries (`io_uring_setup(2)`).
pub(crate) fn setup_ring(queue_depth: u32) -> io::Result<IoUring> {
    IoUring::new(queue_depth)
}

/// A [`BlockDev`] doing its I/O through io_uring.
pub struct UringDev {
    file: File,
    direct: bool,
    limits: IoLimits,
    queue_depth: u32,
    pool: Mutex<Pool>,
    /// Signalled when a ring goes back to the pool.
    ring_returned: Condvar,
    counters: Counters,
    /// Most requests one batch had in flight at once.
    #[cfg(test)]
    peak_in_flight: std::sync::atomic::AtomicUsize,
}

/// Rings not in use, and how many exist in all.
struct Pool {
    idle: Vec<Ring>,
    alive: usize,
}

/// A ring and the scratch memory of the batch it runs.
struct Ring {
    ring: IoUring,
    scratch: Scratch,
}

/// Per-batch state, kept with its ring so that a warm ring runs a batch without allocating.
#[derive(Default)]
struct Scratch {
    /// The iovecs of every bio of the batch, bio after bio (as the batch's segments). A bio's
    /// iovecs are read by the kernel while it is in flight and trimmed after a short transfer.
    iovecs: Vec<libc::iovec>,
    /// Per bio: index in `iovecs` of the first iovec still to transfer.
    first: Vec<u32>,
    /// Per bio: bytes transferred so far.
    done: Vec<u64>,
    /// Bios waiting to be (re)submitted for their remainder.
    again: Vec<u32>,
}

// SAFETY: the iovecs are addresses only, dereferenced by the kernel while the batch that owns
// the memory is being submitted; between batches they are stale and never read.
unsafe impl Send for Scratch {}

/// What a completion means for its bio.
enum Outcome {
    /// The bio is finished (its status is set).
    Finished,
    /// Submit the bio again for what is left.
    Again,
}

impl UringDev {
    /// The engine over an opened backing store, with `first_ring` from [`setup_ring`].
    pub(crate) fn new(backing: BackingFile, queue_depth: u32, first_ring: IoUring) -> Self {
        let BackingFile { file, direct, limits } = backing;
        let first = Ring { ring: first_ring, scratch: Scratch::default() };
        UringDev {
            file,
            direct,
            limits,
            queue_depth,
            pool: Mutex::new(Pool { idle: vec![first], alive: 1 }),
            ring_returned: Condvar::new(),
            counters: Counters::default(),
            #[cfg(test)]
            peak_in_flight: Default::default(),
        }
    }

    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        // The pool is only pushed to and popped from: still whole after a panic elsewhere.
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle ring, or a new one; waits for one to come back if none can be made.
    fn take_ring(&self) -> Result<Ring, DevError> {
        let mut pool = self.lock_pool();
        loop {
            if let Some(ring) = pool.idle.pop() {
                return Ok(ring);
            }
            pool.alive += 1;
            drop(pool);
            let err = match setup_ring(self.queue_depth) {
                Ok(ring) => {
                    return Ok(Ring { ring, scratch: Scratch::default() });
                }
                Err(e) => e,
            };
            pool = self.lock_pool();
            pool.alive -= 1;
            if pool.alive == 0 {
                return Err(DevError::Io { op: "io_uring setup", offset: 0, source: err });
            }
            pool = self.ring_returned.wait(pool).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn give_back(&self, ring: Ring) {
        self.lock_pool().idle.push(ring);
        self.ring_returned.notify_one();
    }

    /// Drops a ring that failed (its in-flight requests are already complete).
    fn retire(&self, ring: Ring) {
        drop(ring);
        self.lock_pool().alive -= 1;
        self.ring_returned.notify_one();
    }

    /// Runs every bio of `batch` through `r`; fails only if the ring itself fails.
    fn run_batch(&self, r: &mut Ring, batch: &mut BioBatch) -> io::Result<()> {
        let Ring { ring, scratch } = r;
        scratch.load(batch);
        let n = batch.len();
        let qd = self.queue_depth as usize;
        let (mut next, mut in_flight, mut finished) = (0usize, 0usize, 0usize);
        while finished < n {
            let mut sq = ring.submission();
            while in_flight < qd {
                let i = match scratch.again.pop() {
                    Some(i) => i as usize,
                    None if next < n => {
                        next += 1;
                        next - 1
                    }
                    None => break,
                };
                let sqe = self.prep(batch, scratch, i);
                // SAFETY: the sqe points at iovecs in `scratch` and at the bio's memory; both
                // stay valid and untouched until its completion is reaped below (the scratch
                // is not resized during the batch; the memory is the caller's by the contract
                // of `BioBatch::add_seg`).
                if unsafe { sq.push(&sqe) }.is_err() {
                    scratch.again.push(i as u32);
                    break;
                }
                in_flight += 1;
            }
            drop(sq);
            #[cfg(test)]
            self.peak_in_flight.fetch_max(in_flight, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = wait_one(ring) {
                drain(ring, in_flight);
                return Err(e);
            }
            for cqe in ring.completion() {
                in_flight -= 1;
                let i = cqe.user_data() as usize;
                match self.complete(batch, scratch, i, cqe.result()) {
                    Outcome::Finished => finished += 1,
                    Outcome::Again => scratch.again.push(i as u32),
                }
            }
        }
        Ok(())
    }

    /// The READV or WRITEV entry for what is left of bio `i`.
    fn prep(&self, batch: &BioBatch, scratch: &Scratch, i: usize) -> squeue::Entry {
        let bio = batch.bios()[i];
        let iov = &scratch.iovecs[scratch.first[i] as usize..batch.seg_range(i).end];
        let fd = types::Fd(self.file.as_raw_fd());
        let offset = bio.offset + scratch.done[i];
        let (ptr, len) = (iov.as_ptr(), iov.len() as u32);
        match bio.op {
            BioOp::Read => opcode::Readv::new(fd, ptr, len).offset(offset).build(),
            BioOp::Write => opcode::Writev::new(fd, ptr, len).offset(offset).build(),
        }
        .user_data(i as u64)
    }

    /// Accounts the completion of bio `i` with result `res` (bytes, or `-errno`).
    fn complete(&self, batch: &mut BioBatch, s: &mut Scratch, i: usize, res: i32) -> Outcome {
        let bio = batch.bios()[i];
        let status = match res {
            r if r == -libc::EINTR || r == -libc::EAGAIN => return Outcome::Again,
            r if r < 0 => Err(-r),
            0 => Err(libc::EIO),
            r => {
                s.done[i] += r as u64;
                if s.done[i] < bio.len {
                    let (first, end) = (s.first[i] as usize, batch.seg_range(i).end);
                    s.first[i] += iov_advance(&mut s.iovecs[first..end], r as usize) as u32;
                    return Outcome::Again;
                }
                Ok(())
            }
        };
        match bio.op {
            BioOp::Read => self.counters.read(bio.len),
            BioOp::Write => self.counters.write(bio.len),
        }
        if status.is_err() {
            self.counters.error();
        }
        batch.set_status(i, status);
        Outcome::Finished
    }

    /// One FSYNC through `r`: its result (0 or `-errno`), or the ring's failure.
    fn fsync(&self, r: &mut Ring) -> io::Result<i32> {
        let sqe = opcode::Fsync::new(types::Fd(self.file.as_raw_fd())).build().user_data(FLUSH_TAG);
        // SAFETY: FSYNC points at no memory.
        if unsafe { r.ring.submission().push(&sqe) }.is_err() {
            return Err(io::Error::other("io_uring submission queue full on an idle ring"));
        }
        loop {
            if let Err(e) = wait_one(&mut r.ring) {
                drain(&mut r.ring, 1);
                return Err(e);
            }
            if let Some(cqe) = r.ring.completion().next() {
                return Ok(cqe.result());
            }
        }
    }
}

impl Scratch {
    /// Sets up for `batch`: its iovecs, and every bio at its start.
    fn load(&mut self, batch: &BioBatch) {
        self.iovecs.clear();
        self.iovecs.extend(batch.all_segs().iter().map(iovec_of));
        self.first.clear();
        self.first.extend((0..batch.len()).map(|i| batch.seg_range(i).start as u32));
        self.done.clear();
        self.done.resize(batch.len(), 0);
        self.again.clear();
    }
}

/// Submits what is queued and waits for at least one completion (`io_uring_enter(2)` with
/// `IORING_ENTER_GETEVENTS`). Interruptions and transient shortages are not failures: the
/// caller reaps what completed and calls again.
fn wait_one(ring: &mut IoUring) -> io::Result<()> {
    match ring.submit_and_wait(1) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// After `io_uring_enter` failed: waits until the `in_flight` requests the kernel took have
/// completed, so that no I/O lands in memory the caller has been given back. Polls the
/// completion queue; each `sched_yield` lets the kernel run this task's completion work.
fn drain(ring: &mut IoUring, in_flight: usize) {
    let mut left = in_flight.saturating_sub(ring.submission().len());
    while left > 0 {
        let reaped = ring.completion().count();
        left = left.saturating_sub(reaped);
        if reaped == 0 {
            std::thread::yield_now();
        }
    }
}

impl BlockDev for UringDev {
    fn engine_name(&self) -> &'static str {
        "uring"
    }

    fn size(&self) -> u64 {
        self.limits.size
    }

    fn is_direct(&self) -> bool {
        self.direct
    }

    fn submit(&self, batch: &mut BioBatch) -> Result<(), DevError> {
        check_batch(batch, &self.limits)?;
        if batch.is_empty() {
            return Ok(());
        }
        let mut ring = self.take_ring()?;
        match self.run_batch(&mut ring, batch) {
            Ok(()) => {
                self.give_back(ring);
                Ok(())
            }
            Err(source) => {
                self.retire(ring);
                let offset = batch.bios()[0].offset;
                Err(DevError::Io { op: "io_uring submit", offset, source })
            }
        }
    }

    fn flush(&self) -> Result<(), DevError> {
        self.counters.flush();
        let res = self.take_ring().and_then(|mut ring| {
            let res = self.fsync(&mut ring);
            match res {
                Ok(_) => self.give_back(ring),
                Err(_) => self.retire(ring),
            }
            res.map_err(|source| DevError::Io { op: "flush", offset: 0, source })
        });
        let err = match res {
            Ok(0) => return Ok(()),
            Ok(r) => DevError::Io { op: "flush", offset: 0, source: io::Error::from_raw_os_error(r.saturating_neg()) },
            Err(e) => e,
        };
        self.counters.error();
        Err(err)
    }

    fn stats(&self) -> DevStats {
        self.counters.snapshot()
    }
}

impl std::fmt::Debug for UringDev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDev")
            .field("file", &self.file)
            .field("direct", &self.direct)
            .field("limits", &self.limits)
            .field("queue_depth", &self.queue_depth)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::backing::open_backing;
    use crate::dev::testutil::{self, FileEngine};

    #[test]
    fn uring_passes_the_engine_suite_on_a_real_file() {
        testutil::file_engine_suite(FileEngine::Uring { queue_depth: 8 });
    }

    #[test]
    fn uring_with_queue_depth_one_passes_the_engine_suite() {
        testutil::file_engine_suite(FileEngine::Uring { queue_depth: 1 });
    }

    #[test]
    fn uring_bio_over_2gib_completes_through_short_transfers() {
        testutil::huge_bio_is_resubmitted(FileEngine::Uring { queue_depth: 4 });
    }

    #[test]
    fn uring_does_no_heap_allocation_per_bio() {
        testutil::no_allocation_in_steady_state(FileEngine::Uring { queue_depth: 8 });
    }

    /// A direct uring device over a new image of `size` bytes.
    fn uring_dev(queue_depth: u32, size: u64) -> (tempfile::TempDir, UringDev) {
        let engine = FileEngine::Uring { queue_depth };
        let (dir, cfg) = testutil::file_config(engine, size);
        let backing = open_backing(&cfg.backing, true, 4096, &mut Vec::new()).unwrap();
        assert!(backing.direct);
        let ring = setup_ring(queue_depth).unwrap();
        (dir, UringDev::new(backing, queue_depth, ring))
    }

    #[test]
    fn queue_depth_bounds_the_requests_in_flight() {
        for (queue_depth, nbios, peak) in [(8, 100, 8), (3, 100, 3), (1, 5, 1), (16, 5, 5)] {
            let (_dir, dev) = uring_dev(queue_depth, 1 << 20);
            let mut buf = testutil::AlignedBuf::new(4096);
            buf.fill_pattern(1);
            let mut batch = BioBatch::new();
            for i in 0..nbios {
                batch.start(BioOp::Write, i * 4096);
                // SAFETY: `buf` outlives the batch (the same memory written to many places).
                unsafe { assert!(batch.add_seg(buf.as_mut_slice().as_mut_ptr(), 4096)) };
            }
            dev.submit(&mut batch).unwrap();
            assert_eq!(batch.first_error(), None);
            let got = dev.peak_in_flight.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(got, peak, "queue depth {queue_depth}, {nbios} bios");
            assert_eq!(dev.stats().writes, nbios);
        }
    }

    #[test]
    fn concurrent_submitters_use_at_most_one_ring_each() {
        let (_dir, dev) = uring_dev(4, 4 << 20);
        let dev = std::sync::Arc::new(dev);
        testutil::concurrent_disjoint_ranges(dev.clone());
        let alive = dev.lock_pool().alive;
        assert!((1..=4).contains(&alive), "{alive} rings for 4 threads");
        assert_eq!(dev.lock_pool().idle.len(), alive, "every ring went back to the pool");
    }
}
