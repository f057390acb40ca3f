//! Queue depth on fsimpl, served as io_uring serves buffered I/O: an I/O that can complete
//! without blocking runs inline at submission (`IOCB_NOWAIT`: cached data, no allocation, no
//! contended lock); one that would block is punted to a pool of worker threads (`io-wq`,
//! `io_wq_enqueue`), bounded as the kernel bounds it: `min(iodepth, 4 × CPUs)` workers.
//!
//! Completions go to a queue the job thread reaps, as io_uring posts CQEs. Nothing is
//! allocated per I/O: the work and completion queues are sized for the queue depth.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use fsimpl::{Fh, Fs};

use super::{Engine, EngineConfig, IoKind, IoReq, IoResult, Queued};
use crate::targets::{FileId, TargetError};

/// One punted I/O.
#[derive(Clone, Copy)]
struct Work {
    slot: u32,
    kind: IoKind,
    fh: Fh,
    offset: u64,
    /// The caller's buffer, as an address (valid until the completion is reaped).
    buf: usize,
    len: usize,
}

struct Shared {
    fs: Arc<Fs>,
    work: Mutex<VecDeque<Work>>,
    work_ready: Condvar,
    done: Mutex<VecDeque<(u32, IoResult)>>,
    done_ready: Condvar,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// `io_worker_handle_work`: run punted I/Os until told to stop.
    fn worker(&self) {
        loop {
            let w = {
                let mut q = lock(&self.work);
                loop {
                    if let Some(w) = q.pop_front() {
                        break w;
                    }
                    if self.stop.load(Ordering::Acquire) {
                        return;
                    }
                    q = self.work_ready.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            let r = run(&self.fs, &w);
            lock(&self.done).push_back((w.slot, r));
            self.done_ready.notify_one();
        }
    }
}

/// The I/O itself, blocking as the filesystem needs (page cache misses read the device,
/// writes allocate and may be throttled).
fn run(fs: &Fs, w: &Work) -> IoResult {
    // SAFETY: the submitter keeps the buffer valid and untouched until this I/O is reaped.
    let buf = unsafe { std::slice::from_raw_parts_mut(w.buf as *mut u8, w.len) };
    let r = match w.kind {
        IoKind::Read => fs.read(w.fh, w.offset, buf),
        IoKind::Write => fs.write(w.fh, w.offset, buf),
    };
    r.map(|n| n as u64).map_err(|e| e.errno())
}

/// The io-wq engine of one job thread.
pub struct IoWqEngine {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    files: Vec<Fh>,
    /// I/Os queued since the last commit.
    batch: Vec<Work>,
}

impl IoWqEngine {
    /// An engine for `cfg.depth.iodepth` I/Os on `files` of `fs`.
    pub fn new(fs: Arc<Fs>, cfg: &EngineConfig, files: &[FileId]) -> Result<Self, TargetError> {
        let depth = cfg.depth.iodepth.max(1) as usize;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let nworkers = depth.min(4 * cpus);
        let shared = Arc::new(Shared {
            fs,
            work: Mutex::new(VecDeque::with_capacity(depth)),
            work_ready: Condvar::new(),
            done: Mutex::new(VecDeque::with_capacity(depth)),
            done_ready: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(nworkers);
        for i in 0..nworkers {
            let s = Arc::clone(&shared);
            let h = std::thread::Builder::new()
                .name(format!("iou-wrk-{i}"))
                .spawn(move || s.worker())
                .map_err(|e| TargetError::Setup(format!("cannot start an io-wq worker: {e}")))?;
            workers.push(h);
        }
        Ok(IoWqEngine {
            shared,
            workers,
            files: files.iter().map(|f| Fh(f.0)).collect(),
            batch: Vec::with_capacity(depth),
        })
    }
}

impl Drop for IoWqEngine {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.work_ready.notify_all();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

impl Engine for IoWqEngine {
    fn queue(&mut self, slot: u32, req: &IoReq) -> Queued {
        let Some(&fh) = self.files.get(req.file) else { return Queued::Done(Err(libc::EBADF)) };
        // IOCB_NOWAIT goes here: once fsimpl offers an attempt that fails with EAGAIN instead
        // of blocking (device I/O, allocation, a contended lock), a cached read or an
        // overwrite of cached pages completes inline at this point (`io_issue_sqe` with
        // IO_URING_F_NONBLOCK). Until then every I/O is punted to the workers.
        self.batch.push(Work { slot, kind: req.kind, fh, offset: req.offset, buf: req.buf as usize, len: req.len });
        Queued::Later
    }

    fn commit(&mut self) -> Result<(), TargetError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let n = self.batch.len();
        lock(&self.shared.work).extend(self.batch.drain(..));
        if n == 1 {
            self.shared.work_ready.notify_one();
        } else {
            self.shared.work_ready.notify_all();
        }
        Ok(())
    }

    fn reap(&mut self, min: u32, max: u32, done: &mut dyn FnMut(u32, IoResult)) -> Result<u32, TargetError> {
        let mut q = lock(&self.shared.done);
        while (q.len() as u32) < min {
            q = self.shared.done_ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        let mut got = 0;
        while got < max {
            let Some((slot, r)) = q.pop_front() else { break };
            done(slot, r);
            got += 1;
        }
        Ok(got)
    }
}
