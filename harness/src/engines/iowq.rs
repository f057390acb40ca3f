//! Queue depth on fsimpl, served the way each asynchronous engine's kernel path serves buffered
//! I/O on ext4:
//!
//! - `io_uring` ([`Submit::NowaitThenPunt`]): at submission (`io_uring_enter`, `io_issue_sqe`
//!   with `IO_URING_F_NONBLOCK`) a read is first tried with `IOCB_NOWAIT`
//!   ([`Fs::read_nowait`]): cached, uptodate data completes inline; a read that stops short
//!   where the cached part ends, or that misses (readahead started, EAGAIN), goes to a pool of
//!   worker threads (`io-wq`, `io_wq_enqueue`) for the rest, bounded as the kernel bounds it:
//!   `min(iodepth, 4 × CPUs)` workers. Writes go to the workers at once: ext4 sets no
//!   `FOP_BUFFER_WASYNC`, so io_uring does not try a buffered write without blocking. (For a
//!   read miss the kernel retries in the submitter's task when the folio unlocks —
//!   `IOCB_WAITQ`, `io_async_buf_func` — rather than in io-wq; the worker here does the same
//!   blocking read in another thread.)
//! - `libaio` ([`Submit::InSubmit`]): Linux AIO has no asynchronous buffered path: `io_submit`
//!   runs each buffered read or write to the end before it returns (`aio_read` →
//!   `call_read_iter` without `IOCB_NOWAIT`), so the I/O happens in the job thread, inside
//!   commit, and `io_getevents` only collects it. Under fio that shows as a large slat and a
//!   tiny clat, here too.
//! - `posixaio` ([`Submit::PerFile`]): glibc's POSIX AIO hands requests to helper threads but
//!   serves one file descriptor's requests one at a time (`__aio_enqueue_request` queues a
//!   request behind the running one of its descriptor); the workers here take an I/O only when
//!   no other worker is on its file.
//!
//! Completions go to a queue the job thread reaps, as io_uring posts CQEs. Nothing is
//! allocated per I/O: the work and completion queues are sized for the queue depth.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use fsimpl::{Fh, Fs, FsError};
use workloads::fio::IoEngine;

use super::{Engine, EngineConfig, IoKind, IoReq, IoResult, Queued};
use crate::targets::{FileId, TargetError};

/// How submission serves an I/O (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submit {
    /// io_uring: a nowait attempt for reads inline, the rest to io-wq.
    NowaitThenPunt,
    /// libaio: every I/O to its end inside `io_submit`.
    InSubmit,
    /// posixaio: helper threads, one I/O per file at a time.
    PerFile,
}

impl Submit {
    /// The submission path of `engine` on a buffered fsimpl file.
    pub fn of(engine: IoEngine) -> Submit {
        match engine {
            IoEngine::Libaio => Submit::InSubmit,
            IoEngine::Posixaio => Submit::PerFile,
            _ => Submit::NowaitThenPunt,
        }
    }
}

/// One I/O for a worker.
#[derive(Clone, Copy)]
struct Work {
    slot: u32,
    kind: IoKind,
    /// Index of the file in the engine's list.
    file: usize,
    fh: Fh,
    offset: u64,
    /// The caller's buffer, as an address (valid until the completion is reaped).
    buf: usize,
    len: usize,
    /// Bytes an inline attempt already read (the buffer and offset start after them).
    done: u64,
}

/// The work queue and which files a worker is on (for [`Submit::PerFile`]).
struct Queue {
    work: VecDeque<Work>,
    busy: Vec<bool>,
}

struct Shared {
    fs: Arc<Fs>,
    per_file: bool,
    queue: Mutex<Queue>,
    work_ready: Condvar,
    done: Mutex<VecDeque<(u32, IoResult)>>,
    done_ready: Condvar,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The next I/O a worker may take: the first, or with `per_file` the first whose file no
    /// other worker is on (which is then marked busy).
    fn take(&self, q: &mut Queue) -> Option<Work> {
        let i = if self.per_file { q.work.iter().position(|w| !q.busy[w.file])? } else { 0 };
        let w = q.work.remove(i)?;
        if self.per_file {
            q.busy[w.file] = true;
        }
        Some(w)
    }

    /// `io_worker_handle_work`: run queued I/Os until told to stop.
    fn worker(&self) {
        loop {
            let w = {
                let mut q = lock(&self.queue);
                loop {
                    if let Some(w) = self.take(&mut q) {
                        break w;
                    }
                    if self.stop.load(Ordering::Acquire) {
                        return;
                    }
                    q = self.work_ready.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            let r = run(&self.fs, &w);
            if self.per_file {
                lock(&self.queue).busy[w.file] = false;
                // Work queued behind this file may now run.
                self.work_ready.notify_one();
            }
            lock(&self.done).push_back((w.slot, r));
            self.done_ready.notify_one();
        }
    }
}

/// The I/O itself, blocking as the filesystem needs (page cache misses read the device,
/// writes allocate and may be throttled); the result counts the bytes of an earlier inline
/// attempt.
fn run(fs: &Fs, w: &Work) -> IoResult {
    // SAFETY: the submitter keeps the buffer valid and untouched until this I/O is reaped.
    let buf = unsafe { std::slice::from_raw_parts_mut(w.buf as *mut u8, w.len) };
    let r = match w.kind {
        IoKind::Read => fs.read(w.fh, w.offset, buf),
        IoKind::Write => fs.write(w.fh, w.offset, buf),
    };
    r.map(|n| w.done + n as u64).map_err(|e| e.errno())
}

/// The engine of one job thread.
pub struct IoWqEngine {
    submit: Submit,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    files: Vec<Fh>,
    /// I/Os queued since the last commit.
    batch: Vec<Work>,
    /// Completions made at submission, reaped before the workers' ones.
    inline_done: VecDeque<(u32, IoResult)>,
    /// I/Os handed to the workers and not reaped yet.
    punted: u32,
}

impl IoWqEngine {
    /// An engine for `cfg.depth.iodepth` I/Os on `files` of `fs`, submitting as `cfg.engine`
    /// does ([`Submit::of`]).
    pub fn new(fs: Arc<Fs>, cfg: &EngineConfig, files: &[FileId]) -> Result<Self, TargetError> {
        let submit = Submit::of(cfg.engine);
        let depth = cfg.depth.iodepth.max(1) as usize;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let nworkers = match submit {
            Submit::NowaitThenPunt => depth.min(4 * cpus),
            Submit::InSubmit => 0,
            // glibc's default aio_threads (20), and no more than one per file.
            Submit::PerFile => depth.min(20).min(files.len().max(1)),
        };
        let shared = Arc::new(Shared {
            fs,
            per_file: submit == Submit::PerFile,
            queue: Mutex::new(Queue { work: VecDeque::with_capacity(depth), busy: vec![false; files.len()] }),
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
            submit,
            shared,
            workers,
            files: files.iter().map(|f| Fh(f.0)).collect(),
            batch: Vec::with_capacity(depth),
            inline_done: VecDeque::with_capacity(depth),
            punted: 0,
        })
    }
}

/// io_uring's first attempt at a read (`IOCB_NOWAIT`): `Some(result)` when it completes
/// inline, else `None` with `w` advanced past what was read, for a worker to finish (a read
/// short of its length is retried for the rest, as `__io_read` does; at EOF the retry reads
/// nothing more).
fn try_nowait(fs: &Fs, w: &mut Work) -> Option<IoResult> {
    if w.kind != IoKind::Read {
        return None;
    }
    // SAFETY: as in `run`: the buffer is the caller's until the I/O is reaped.
    let buf = unsafe { std::slice::from_raw_parts_mut(w.buf as *mut u8, w.len) };
    match fs.read_nowait(w.fh, w.offset, buf) {
        Ok(n) if n == w.len || n == 0 => Some(Ok(n as u64)),
        Ok(n) => {
            w.done = n as u64;
            w.offset += n as u64;
            w.buf += n;
            w.len -= n;
            None
        }
        Err(FsError::WouldBlock) => None,
        Err(e) => Some(Err(e.errno())),
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
        self.batch.push(Work {
            slot,
            kind: req.kind,
            file: req.file,
            fh,
            offset: req.offset,
            buf: req.buf as usize,
            len: req.len,
            done: 0,
        });
        Queued::Later
    }

    fn commit(&mut self) -> Result<(), TargetError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.batch);
        let mut punt = 0;
        for i in 0..batch.len() {
            let mut w = batch[i];
            let inline = match self.submit {
                Submit::InSubmit => Some(run(&self.shared.fs, &w)),
                Submit::NowaitThenPunt => try_nowait(&self.shared.fs, &mut w),
                Submit::PerFile => None,
            };
            match inline {
                Some(r) => self.inline_done.push_back((w.slot, r)),
                None => {
                    // Punted: kept at the front of the batch for the queue below.
                    batch[punt] = w;
                    punt += 1;
                }
            }
        }
        if punt > 0 {
            lock(&self.shared.queue).work.extend(batch.drain(..punt));
            self.punted += punt as u32;
            if punt == 1 {
                self.shared.work_ready.notify_one();
            } else {
                self.shared.work_ready.notify_all();
            }
        }
        batch.clear();
        self.batch = batch;
        Ok(())
    }

    fn reap(&mut self, min: u32, max: u32, done: &mut dyn FnMut(u32, IoResult)) -> Result<u32, TargetError> {
        let mut got = 0;
        while got < max {
            let Some((slot, r)) = self.inline_done.pop_front() else { break };
            done(slot, r);
            got += 1;
        }
        if got >= max || (got >= min && self.punted == 0) {
            return Ok(got);
        }
        let mut q = lock(&self.shared.done);
        let want = min.saturating_sub(got).min(self.punted);
        while (q.len() as u32) < want {
            q = self.shared.done_ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        while got < max {
            let Some((slot, r)) = q.pop_front() else { break };
            self.punted -= 1;
            done(slot, r);
            got += 1;
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fsimpl::dev::{Bio, BioOp, BlockDev, DevError, DevStats, MemDev, QueueLimits};
    use fsimpl::{Backend, FormatOptions, MountOptions};
    use workloads::fio::{Depth, UringOptions};

    const MIB: usize = 1 << 20;

    /// A RAM device whose reads can be held back, as a slow device's are in flight (a RAM
    /// device completes a read before `submit_bio` returns, as brd does, so readahead would
    /// always be in by the time a nowait read looks again).
    struct HeldReads {
        inner: MemDev,
        hold: AtomicBool,
        #[allow(clippy::vec_box)]
        held: Mutex<Vec<Box<Bio>>>,
    }

    impl HeldReads {
        fn mem(&self) -> &MemDev {
            &self.inner
        }
        fn release(&self) {
            self.hold.store(false, Ordering::SeqCst);
            for bio in std::mem::take(&mut *lock(&self.held)) {
                self.mem().submit_bio(bio);
            }
        }
    }

    impl BlockDev for HeldReads {
        fn engine_name(&self) -> &'static str {
            self.mem().engine_name()
        }
        fn size(&self) -> u64 {
            self.mem().size()
        }
        fn is_direct(&self) -> bool {
            false
        }
        fn limits(&self) -> QueueLimits {
            self.mem().limits()
        }
        fn submit_bio(&self, bio: Box<Bio>) {
            if bio.op == BioOp::Read && self.hold.load(Ordering::SeqCst) {
                lock(&self.held).push(bio);
            } else {
                self.mem().submit_bio(bio);
            }
        }
        fn flush(&self) -> Result<(), DevError> {
            self.mem().flush()
        }
        fn stats(&self) -> DevStats {
            self.mem().stats()
        }
    }

    /// A 1 MiB file of 7s on a fresh mount, its cache empty.
    fn fs() -> (Arc<Fs>, Arc<HeldReads>, FileId) {
        let inner = MemDev::new(64 << 20).unwrap();
        let dev = Arc::new(HeldReads { inner, hold: AtomicBool::new(false), held: Mutex::new(Vec::new()) });
        let opts = MountOptions { backend: Backend::Iomap, cache_bytes: 16 << 20, ..MountOptions::default() };
        let fs = Fs::format_and_mount(dev.clone(), &FormatOptions::default(), opts).unwrap();
        let f = fs.create("f").unwrap();
        assert_eq!(fs.write(f, 0, &vec![7; MIB]).unwrap(), MIB);
        fs.remount().unwrap();
        (Arc::new(fs), dev, FileId(f.0))
    }

    fn engine(fs: &Arc<Fs>, engine: IoEngine, f: FileId) -> IoWqEngine {
        let depth = Depth { iodepth: 4, batch_submit: 1, batch_complete_min: 1, batch_complete_max: 4, iodepth_low: 4 };
        let cfg = EngineConfig { engine, depth, uring: UringOptions::default(), direct: false, atomic: false };
        IoWqEngine::new(Arc::clone(fs), &cfg, &[f]).unwrap()
    }

    fn req(kind: IoKind, offset: u64, buf: &mut [u8]) -> IoReq {
        IoReq { kind, file: 0, offset, buf: buf.as_mut_ptr(), len: buf.len() }
    }

    /// Queues and submits one I/O; returns whether it completed at submission.
    fn submit(e: &mut IoWqEngine, r: IoReq) -> bool {
        assert_eq!(e.queue(0, &r), Queued::Later);
        e.commit().unwrap();
        e.punted == 0
    }

    fn reap_one(e: &mut IoWqEngine) -> IoResult {
        let mut got = None;
        assert_eq!(e.reap(1, 1, &mut |slot, r| got = Some((slot, r))).unwrap(), 1);
        let (slot, r) = got.unwrap();
        assert_eq!(slot, 0);
        r
    }

    #[test]
    fn io_uring_reads_cached_data_inline_and_punts_misses_and_writes() {
        let (fs, dev, f) = fs();
        let mut e = engine(&fs, IoEngine::IoUring, f);
        let mut buf = vec![0u8; 4096];
        dev.hold.store(true, Ordering::SeqCst);
        assert!(!submit(&mut e, req(IoKind::Read, 8192, &mut buf)), "a miss goes to io-wq");
        dev.release();
        assert_eq!(reap_one(&mut e), Ok(4096));
        assert!(buf.iter().all(|&b| b == 7));
        buf.fill(0);
        assert!(submit(&mut e, req(IoKind::Read, 8192, &mut buf)), "cached: inline");
        assert_eq!(reap_one(&mut e), Ok(4096));
        assert!(buf.iter().all(|&b| b == 7));
        assert!(!submit(&mut e, req(IoKind::Write, 8192, &mut buf)), "writes go to io-wq");
        assert_eq!(reap_one(&mut e), Ok(4096));
        assert!(submit(&mut e, req(IoKind::Read, MIB as u64, &mut buf)), "EOF: inline");
        assert_eq!(reap_one(&mut e), Ok(0));
    }

    #[test]
    fn a_read_cut_short_by_the_cache_is_finished_by_a_worker() {
        let (fs, dev, f) = fs();
        let mut small = vec![0u8; 4096];
        fs.read(Fh(f.0), 0, &mut small).unwrap();
        let mut buf = vec![0u8; MIB];
        let mut w = Work {
            slot: 0,
            kind: IoKind::Read,
            file: 0,
            fh: Fh(f.0),
            offset: 0,
            buf: buf.as_mut_ptr() as usize,
            len: MIB,
            done: 0,
        };
        dev.hold.store(true, Ordering::SeqCst);
        assert_eq!(try_nowait(&fs, &mut w), None, "the readahead window does not cover 1 MiB");
        assert!(w.done > 0 && w.offset == w.done && w.len == MIB - w.done as usize, "{}", w.done);
        dev.release();
        assert_eq!(run(&fs, &w), Ok(MIB as u64), "the worker reads the rest and counts the whole");
        assert!(buf.iter().all(|&b| b == 7));
    }

    #[test]
    fn libaio_runs_buffered_io_inside_submit_and_posixaio_in_helpers() {
        let (fs, _dev, f) = fs();
        let mut e = engine(&fs, IoEngine::Libaio, f);
        assert!(e.workers.is_empty());
        let mut buf = vec![0u8; 4096];
        assert!(submit(&mut e, req(IoKind::Read, 0, &mut buf)), "a miss too runs in io_submit");
        assert_eq!(reap_one(&mut e), Ok(4096));
        assert!(submit(&mut e, req(IoKind::Write, 0, &mut buf)));
        assert_eq!(reap_one(&mut e), Ok(4096));
        let mut e = engine(&fs, IoEngine::Posixaio, f);
        assert_eq!(e.workers.len(), 1, "one helper for the one file");
        assert!(!submit(&mut e, req(IoKind::Read, 0, &mut buf)));
        assert_eq!(reap_one(&mut e), Ok(4096));
    }
}
