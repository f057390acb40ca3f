//! The psync engine: worker threads that take requests off the queue and do each with one
//! `preadv(2)` / `pwritev(2)` (`fsync(2)` for a flush) — how the loop driver serves a file
//! with its worker threads (`loop_process_work`) when it cannot use AIO. Used when io_uring
//! cannot be set up.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::backing::BackingFile;
use super::blk_mq::{BlkMqOps, Disk, QueueCore};
use super::iovec::iov_advance;
use super::limits::QueueLimits;
use super::{Bio, BioOp, BlockDev, DevError, DevStats};
use crate::kernel::lock;

/// Worker threads per device.
const WORKERS: usize = 4;

#[derive(Default)]
struct Queue {
    tags: VecDeque<u32>,
    stop: bool,
}

struct Shared {
    file: File,
    queue: Mutex<Queue>,
    more: Condvar,
}

struct PsyncOps {
    shared: Arc<Shared>,
    direct: bool,
    workers: Vec<JoinHandle<()>>,
}

impl BlkMqOps for PsyncOps {
    fn name(&self) -> &'static str {
        "psync"
    }

    fn is_direct(&self) -> bool {
        self.direct
    }

    fn queue_rq(&self, _core: &QueueCore, tag: u32) {
        lock(&self.shared.queue).tags.push_back(tag);
        self.shared.more.notify_one();
    }
}

impl Drop for PsyncOps {
    fn drop(&mut self) {
        lock(&self.shared.queue).stop = true;
        self.shared.more.notify_all();
        let me = std::thread::current().id();
        for w in self.workers.drain(..) {
            // A worker dropping its own device (from a completion) stops by itself.
            if w.thread().id() != me {
                let _ = w.join();
            }
        }
    }
}

fn worker(s: &Shared, core: &QueueCore) {
    loop {
        let tag = {
            let mut q = lock(&s.queue);
            loop {
                if let Some(t) = q.tags.pop_front() {
                    break t;
                }
                if q.stop {
                    return;
                }
                q = s.more.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        // SAFETY: the tag was handed to the driver; this worker is its only user now.
        let rq = unsafe { core.rq_mut(tag) };
        let status = match rq.op {
            Some(BioOp::Flush) => s.file.sync_all().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO)),
            Some(op) => {
                rq.build_iovecs();
                do_rw(&s.file, op, rq.offset, rq.len, &mut rq.iovecs)
            }
            None => Ok(()),
        };
        core.end_request(tag, status);
    }
}

/// One read or write of `len` bytes at `offset`, resubmitting the rest after a short
/// transfer.
fn do_rw(file: &File, op: BioOp, offset: u64, len: u64, iov: &mut [libc::iovec]) -> Result<(), i32> {
    let fd = file.as_raw_fd();
    let (mut first, mut done) = (0usize, 0u64);
    while done < len {
        let rest = &iov[first..];
        let at = (offset + done) as libc::off_t;
        // SAFETY: the iovecs point at bio memory kept valid until the request ends.
        let n = unsafe {
            match op {
                BioOp::Read => libc::preadv(fd, rest.as_ptr(), rest.len() as i32, at),
                _ => libc::pwritev(fd, rest.as_ptr(), rest.len() as i32, at),
            }
        };
        if n < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
            if errno == libc::EINTR {
                continue;
            }
            return Err(errno);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        done += n as u64;
        first += iov_advance(&mut iov[first..], n as usize);
    }
    Ok(())
}

/// A device doing its I/O with psync worker threads.
#[derive(Debug)]
pub struct PsyncDev(Disk);

impl PsyncDev {
    pub(crate) fn new(backing: BackingFile, limits: QueueLimits) -> Result<Self, DevError> {
        let BackingFile { file, direct, .. } = backing;
        let shared = Arc::new(Shared { file, queue: Mutex::new(Queue::default()), more: Condvar::new() });
        let mut spawn_err = None;
        let disk = Disk::new(limits, |core: Arc<QueueCore>| {
            let mut workers = Vec::with_capacity(WORKERS);
            for i in 0..WORKERS {
                let (s, c) = (shared.clone(), core.clone());
                match std::thread::Builder::new().name(format!("psync-{i}")).spawn(move || worker(&s, &c)) {
                    Ok(w) => workers.push(w),
                    Err(e) => {
                        spawn_err = Some(e);
                        break;
                    }
                }
            }
            Box::new(PsyncOps { shared: shared.clone(), direct, workers })
        });
        if let Some(source) = spawn_err {
            return Err(DevError::Io { op: "worker thread start", offset: 0, source });
        }
        Ok(PsyncDev(disk))
    }
}

impl BlockDev for PsyncDev {
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
    fn psync_passes_the_engine_suite_on_a_real_file() {
        testutil::file_engine_suite(FileEngine::Psync);
    }

    #[test]
    fn psync_bio_over_2gib_completes_through_short_transfers() {
        testutil::huge_bio_is_resubmitted(FileEngine::Psync);
    }
}
