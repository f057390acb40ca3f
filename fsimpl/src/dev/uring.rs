//! The uring engine: one io_uring per device, owned by a dispatcher thread that sends each
//! request as one `IORING_OP_READV` / `IORING_OP_WRITEV` (the async `preadv(2)` /
//! `pwritev(2)`; `IORING_OP_FSYNC` for a flush) and ends it when its completion arrives —
//! what the loop driver's worker does with a file in direct-I/O mode (`lo_rw_aio`), and
//! fio's `io_uring` ioengine.
//!
//! Submitters hand requests over through a queue and wake the dispatcher with an eventfd that
//! it always has a read pending on, so one `io_uring_enter(2)` both submits new requests and
//! waits for completions. A short transfer is resubmitted for the rest. Completions (bio
//! end_io) run on the dispatcher thread: it is the device's interrupt context.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use io_uring::{IoUring, opcode, types};

use super::backing::BackingFile;
use super::blk_mq::{BlkMqOps, Disk, QueueCore};
use super::iovec::iov_advance;
use super::limits::QueueLimits;
use super::{Bio, BioOp, BlockDev, DevError, DevStats};
use crate::kernel::lock;

/// Most entries an io_uring may have (`IORING_MAX_ENTRIES`).
pub(crate) const MAX_QUEUE_DEPTH: u32 = 32768;

/// `user_data` of the eventfd read.
const EVENT_TAG: u64 = u64::MAX;

/// Sets up one io_uring for `queue_depth` requests plus the eventfd read
/// (`io_uring_setup(2)`).
pub(crate) fn setup_ring(queue_depth: u32) -> io::Result<IoUring> {
    IoUring::new(queue_depth + 1)
}

struct Shared {
    file: File,
    /// Requests handed to the dispatcher, not yet sent to the ring.
    pending: Mutex<Vec<u32>>,
    /// The dispatcher is (about to be) asleep in `io_uring_enter`: wake it with the eventfd.
    idle: AtomicBool,
    stop: AtomicBool,
    /// The errno the ring failed with; 0 while it works.
    broken: AtomicI32,
    event: OwnedFd,
}

impl Shared {
    fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local to an eventfd we own.
        unsafe { libc::write(self.event.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

struct UringOps {
    shared: Arc<Shared>,
    direct: bool,
    dispatcher: Option<JoinHandle<()>>,
}

impl BlkMqOps for UringOps {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn is_direct(&self) -> bool {
        self.direct
    }

    fn queue_rq(&self, core: &QueueCore, tag: u32) {
        let mut pending = lock(&self.shared.pending);
        let broken = self.shared.broken.load(SeqCst);
        if broken != 0 {
            drop(pending);
            core.end_request(tag, Err(broken));
            return;
        }
        pending.push(tag);
        drop(pending);
        if self.shared.idle.swap(false, SeqCst) {
            self.shared.kick();
        }
    }
}

impl Drop for UringOps {
    /// Stops the dispatcher once every request it was given has completed.
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        self.shared.kick();
        if let Some(d) = self.dispatcher.take()
            && d.thread().id() != std::thread::current().id()
        {
            // (Dropped by its own completion work: it stops by itself.)
            let _ = d.join();
        }
    }
}

struct Dispatcher {
    ring: IoUring,
    shared: Arc<Shared>,
    core: Arc<QueueCore>,
    in_flight: usize,
    event_buf: Box<u64>,
    /// Requests that could not be pushed (submission queue full) and wait for room.
    backlog: Vec<u32>,
}

impl Dispatcher {
    fn arm_event(&mut self) -> bool {
        let sqe =
            opcode::Read::new(types::Fd(self.shared.event.as_raw_fd()), (&mut *self.event_buf as *mut u64).cast(), 8)
                .build()
                .user_data(EVENT_TAG);
        // SAFETY: the buffer is owned by the dispatcher and outlives the ring's use of it.
        unsafe { self.ring.submission().push(&sqe).is_ok() }
    }

    /// Pushes the rest of request `tag` to the submission queue; false if the queue is full.
    fn push(&mut self, tag: u32) -> bool {
        // SAFETY: the dispatcher holds every tag handed to it until it ends the request.
        let rq = unsafe { self.core.rq_mut(tag) };
        let fd = types::Fd(self.shared.file.as_raw_fd());
        let sqe = match rq.op {
            Some(BioOp::Flush) => opcode::Fsync::new(fd).build(),
            Some(op) => {
                if rq.done == 0 && rq.iovecs.is_empty() {
                    rq.build_iovecs();
                }
                let first = rq.iovecs.iter().position(|v| v.iov_len > 0).unwrap_or(rq.iovecs.len());
                let iov = &rq.iovecs[first..];
                let off = rq.offset + rq.done;
                match op {
                    BioOp::Read => opcode::Readv::new(fd, iov.as_ptr(), iov.len() as u32).offset(off).build(),
                    _ => opcode::Writev::new(fd, iov.as_ptr(), iov.len() as u32).offset(off).build(),
                }
            }
            None => return true,
        };
        // SAFETY: the iovecs live in the request slot and the memory they name is the bios',
        // both kept valid until the completion is reaped and the request ended.
        let ok = unsafe { self.ring.submission().push(&sqe.user_data(u64::from(tag))).is_ok() };
        if ok {
            self.in_flight += 1;
        }
        ok
    }

    /// Handles the completion of request `tag` with result `res` (bytes, or `-errno`).
    fn complete(&mut self, tag: u32, res: i32) {
        self.in_flight -= 1;
        // SAFETY: as in `push`.
        let rq = unsafe { self.core.rq_mut(tag) };
        let status = match (rq.op, res) {
            (_, r) if r == -libc::EINTR || r == -libc::EAGAIN => {
                self.backlog.push(tag);
                return;
            }
            (_, r) if r < 0 => Err(-r),
            (Some(BioOp::Flush), _) => Ok(()),
            (_, 0) => Err(libc::EIO),
            (_, r) => {
                rq.done += r as u64;
                if rq.done < rq.len {
                    iov_advance(&mut rq.iovecs, r as usize);
                    self.backlog.push(tag);
                    return;
                }
                Ok(())
            }
        };
        self.core.end_request(tag, status);
    }

    fn run(mut self) {
        let mut armed = self.arm_event();
        loop {
            let mut new = std::mem::take(&mut *lock(&self.shared.pending));
            self.backlog.append(&mut new);
            let mut i = 0;
            while i < self.backlog.len() {
                if !self.push(self.backlog[i]) {
                    break;
                }
                i += 1;
            }
            self.backlog.drain(..i);
            if !armed {
                armed = self.arm_event();
            }
            if self.shared.stop.load(SeqCst) && self.in_flight == 0 && self.backlog.is_empty() {
                let empty = lock(&self.shared.pending).is_empty();
                if empty {
                    return;
                }
                continue;
            }
            self.shared.idle.store(true, SeqCst);
            if !lock(&self.shared.pending).is_empty() {
                self.shared.idle.store(false, SeqCst);
                // Submit what was pushed without waiting.
                let _ = self.ring.submit();
                continue;
            }
            let waited = self.ring.submit_and_wait(1);
            self.shared.idle.store(false, SeqCst);
            if let Err(e) = waited
                && !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY))
            {
                self.fail_all(e.raw_os_error().unwrap_or(libc::EIO));
                return;
            }
            let cqes: Vec<(u64, i32)> = self.ring.completion().map(|c| (c.user_data(), c.result())).collect();
            for (ud, res) in cqes {
                if ud == EVENT_TAG {
                    armed = false;
                    continue;
                }
                self.complete(ud as u32, res);
            }
        }
    }

    /// The ring itself failed (`io_uring_enter` returned an error other than an interruption):
    /// the device is broken. Requests not yet sent fail with `errno`, as do all later ones
    /// (see `queue_rq`); requests already in the ring stay with it.
    fn fail_all(&mut self, errno: i32) {
        self.shared.broken.store(errno, SeqCst);
        let mut tags = std::mem::take(&mut self.backlog);
        tags.append(&mut lock(&self.shared.pending));
        for t in tags {
            self.core.end_request(t, Err(errno));
        }
    }
}

/// A device doing its I/O through io_uring.
#[derive(Debug)]
pub struct UringDev(Disk);

impl UringDev {
    /// The engine over an opened backing store, with `ring` from [`setup_ring`].
    pub(crate) fn new(backing: BackingFile, limits: QueueLimits, ring: IoUring) -> Result<Self, DevError> {
        let BackingFile { file, direct, .. } = backing;
        // SAFETY: eventfd(2) with flags only; the result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(DevError::Io { op: "eventfd", offset: 0, source: io::Error::last_os_error() });
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let event = unsafe { OwnedFd::from_raw_fd(efd) };
        let shared = Arc::new(Shared {
            file,
            pending: Mutex::new(Vec::new()),
            idle: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            broken: AtomicI32::new(0),
            event,
        });
        let mut spawn_err = None;
        let disk = Disk::new(limits, |core: Arc<QueueCore>| {
            let d = Dispatcher {
                ring,
                shared: shared.clone(),
                core,
                in_flight: 0,
                event_buf: Box::new(0),
                backlog: Vec::new(),
            };
            let dispatcher = match std::thread::Builder::new().name("uring-dispatch".into()).spawn(move || d.run()) {
                Ok(h) => Some(h),
                Err(e) => {
                    spawn_err = Some(e);
                    None
                }
            };
            Box::new(UringOps { shared: shared.clone(), direct, dispatcher })
        });
        if let Some(source) = spawn_err {
            return Err(DevError::Io { op: "io_uring dispatcher start", offset: 0, source });
        }
        Ok(UringDev(disk))
    }
}

impl BlockDev for UringDev {
    fn engine_name(&self) -> &'static str {
        self.0.engine_name()
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn is_direct(&self) -> bool {
        self.0.is_direct()
    }
    fn limits(&self) -> QueueLimits {
        self.0.limits()
    }
    fn submit_bio(&self, bio: Box<Bio>) {
        self.0.submit_bio(bio)
    }
    fn flush(&self) -> Result<(), DevError> {
        self.0.flush()
    }
    fn stats(&self) -> DevStats {
        self.0.stats()
    }
}

#[cfg(test)]
mod tests {
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
    fn uring_bio_over_2gib_completes() {
        testutil::huge_bio_is_resubmitted(FileEngine::Uring { queue_depth: 4 });
    }
}
