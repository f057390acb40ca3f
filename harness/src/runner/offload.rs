//! fio's `io_submit_mode=offload` (`rate-submit.c` on the generic `workqueue.c`): the job
//! thread only generates I/O, at its rate, and hands each one to a pool of `iodepth`
//! submitting threads; each has its own engine at queue depth 1 and runs an I/O from
//! submission to completion, so submission keeps its rate whatever the completions do.
//!
//! The job thread keeps its slots (at most `iodepth` I/Os out, as fio's `io_u`s), stamps each
//! I/O's start (fio's `start_time`) before handing it over, and learns of each completion with
//! the worker's own times: when its engine took the I/O (fio's `issue_time`) and when it
//! completed. So lat includes the time an I/O waited in the workqueue, clat does not, and slat
//! (for an engine that queues) is that wait plus the submission, as fio accounts them.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

use crate::engines::{Engine, EngineConfig, IoKind, IoReq, IoResult, Queued, rw_engine};
use crate::targets::{FileId, Target, TargetError};

/// One I/O handed to a worker: the job thread's slot and the request on the slot's buffer.
struct Handed {
    slot: u32,
    req: IoReq,
}

// SAFETY: `req.buf` is the slot's buffer, which the job thread leaves alone from the hand-over
// until the worker's completion for that slot comes back.
unsafe impl Send for Handed {}

/// What the job thread sends a worker.
enum Work {
    /// Run an I/O (fio's `workqueue_enqueue`).
    Io(Handed),
    /// Make the engine again over these files (the job's open files changed, `openfiles`).
    Reopen(Vec<FileId>),
}

/// What a worker sends back.
enum Reply {
    /// The worker's engine is set up (or why not): after start and after each [`Work::Reopen`].
    Ready(Result<(), TargetError>),
    /// An I/O completed.
    Done(Completion),
    /// The worker panicked (its engine did): what it had will never complete.
    Gone,
}

/// Tells the job thread when its worker panics, so that it does not wait for ever.
struct Farewell<'a>(&'a Sender<Reply>);

impl Drop for Farewell<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(Reply::Gone);
        }
    }
}

/// An offloaded I/O that completed, with the worker's times.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    /// The worker that ran it.
    pub worker: usize,
    /// The job thread's slot.
    pub slot: u32,
    /// Bytes moved, or the errno.
    pub result: IoResult,
    /// When the worker's engine took it (fio's `issue_time`: before `queue` for a synchronous
    /// engine, once submitted for one that queues).
    pub issued: Instant,
    /// Whether the engine queued it (then fio records a slat: start to `issue_time`).
    pub queued: bool,
    /// When it completed, in the worker.
    pub completed: Instant,
}

/// One submitting thread, as the job thread sees it (fio's `struct submit_worker`).
struct SubmitWorker<'scope> {
    work: Sender<Work>,
    handle: Option<ScopedJoinHandle<'scope, ()>>,
    /// I/Os handed to it and not yet completed (idle at 0: fio's `SW_F_IDLE`).
    outstanding: u32,
    /// When it was last given work (fio's `sw->seq`).
    seq: u64,
}

/// The pool of submitting threads of one job thread (fio's `td->io_wq`).
pub struct Workqueue<'scope> {
    workers: Vec<SubmitWorker<'scope>>,
    /// Where the search for an idle worker starts (fio's `next_free_worker`).
    next_free: usize,
    /// fio's `work_seq`.
    seq: u64,
    replies: Receiver<Reply>,
}

impl<'scope> Workqueue<'scope> {
    /// Starts `n` workers in `scope`, each making its own engine of `cfg` at queue depth 1 over
    /// `files` of `target` (fio's `rate_submit_init`: `workqueue_init` with `iodepth` workers,
    /// `io_workqueue_init_worker_fn` with `td->o.iodepth = 1`); returns once every engine is
    /// set up, or the first error.
    pub fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        n: u32,
        target: &'env dyn Target,
        cfg: &EngineConfig,
        files: &[FileId],
    ) -> Result<Workqueue<'scope>, TargetError> {
        let mut cfg = *cfg;
        cfg.depth.iodepth = 1;
        let (reply, replies) = channel();
        let mut wq = Workqueue { workers: Vec::with_capacity(n as usize), next_free: 0, seq: 0, replies };
        for index in 0..n.max(1) as usize {
            let (work, queue) = channel();
            let (reply, files) = (reply.clone(), files.to_vec());
            let handle = std::thread::Builder::new()
                .name(format!("submit-wrk-{index}"))
                .spawn_scoped(scope, move || worker_thread(index, target, cfg, files, queue, reply))
                .map_err(|e| TargetError::Setup(format!("cannot start an io_submit_mode=offload worker: {e}")))?;
            wq.workers.push(SubmitWorker { work, handle: Some(handle), outstanding: 0, seq: 0 });
        }
        // Only the workers hold senders now: a worker that dies cannot leave the wait hanging.
        drop(reply);
        wq.ready()?;
        Ok(wq)
    }

    /// Waits for every worker's [`Reply::Ready`]; the first error, if any.
    fn ready(&mut self) -> Result<(), TargetError> {
        let mut first = Ok(());
        for _ in 0..self.workers.len() {
            match self.replies.recv() {
                Ok(Reply::Ready(r)) => first = first.and(r),
                Ok(Reply::Done(_)) => unreachable!("no I/O is out while engines are set up"),
                Ok(Reply::Gone) | Err(_) => return Err(gone()),
            }
        }
        first
    }

    /// Hands I/O `req` of `slot` to a worker: an idle one, searched from the last that went
    /// idle, else the one given work longest ago (fio's `workqueue_enqueue` and
    /// `get_submit_worker`). With no more I/Os out than workers, one is always idle.
    pub fn enqueue(&mut self, slot: u32, req: IoReq) -> Result<(), TargetError> {
        let n = self.workers.len();
        let idle = (0..n).map(|i| (self.next_free + i) % n).find(|&i| self.workers[i].outstanding == 0);
        let pick = idle.unwrap_or_else(|| (0..n).min_by_key(|&i| self.workers[i].seq).unwrap_or(0));
        if pick == self.next_free {
            self.next_free = (pick + 1) % n;
        }
        self.seq += 1;
        let w = &mut self.workers[pick];
        w.seq = self.seq;
        w.outstanding += 1;
        w.work.send(Work::Io(Handed { slot, req })).map_err(|_| gone())
    }

    /// Takes at least `min` completions and at most `max`, giving each to `done`; returns how
    /// many.
    pub fn reap(&mut self, min: u32, max: u32, done: &mut dyn FnMut(Completion)) -> Result<u32, TargetError> {
        let mut got = 0;
        while got < max {
            let reply = if got < min {
                self.replies.recv().map_err(|_| gone())?
            } else {
                match self.replies.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            got += 1;
            done(self.completed(reply)?);
        }
        Ok(got)
    }

    /// Books a completion: its worker has one I/O fewer out, and is the next searched when
    /// it goes idle.
    fn completed(&mut self, reply: Reply) -> Result<Completion, TargetError> {
        let c = match reply {
            Reply::Done(c) => c,
            Reply::Gone => return Err(gone()),
            Reply::Ready(_) => unreachable!("Ready comes only while engines are set up"),
        };
        let w = &mut self.workers[c.worker];
        w.outstanding -= 1;
        if w.outstanding == 0 {
            self.next_free = c.worker;
        }
        Ok(c)
    }

    /// Makes every worker's engine again over `files`; call with no I/O out.
    pub fn reopen(&mut self, files: &[FileId]) -> Result<(), TargetError> {
        for w in &self.workers {
            w.work.send(Work::Reopen(files.to_vec())).map_err(|_| gone())?;
        }
        self.ready()
    }
}

impl Drop for Workqueue<'_> {
    /// Lets the workers go (fio's `workqueue_exit`). A worker with an I/O out is waited for,
    /// as that I/O is on the job thread's buffers; idle ones close their engines on their own
    /// (as fio's do after the job's runtime is taken) and the scope joins them.
    fn drop(&mut self) {
        let busy: Vec<_> =
            self.workers.iter_mut().filter(|w| w.outstanding > 0).filter_map(|w| w.handle.take()).collect();
        self.workers.clear();
        for h in busy {
            let _ = h.join();
        }
    }
}

fn gone() -> TargetError {
    TargetError::Setup("an io_submit_mode=offload worker ended before its I/O completed".into())
}

/// One submitting thread (fio's `worker_thread`): makes its engine, then runs each I/O handed
/// to it until the job thread lets it go.
fn worker_thread(
    worker: usize,
    target: &dyn Target,
    cfg: EngineConfig,
    files: Vec<FileId>,
    queue: Receiver<Work>,
    reply: Sender<Reply>,
) {
    let _farewell = Farewell(&reply);
    let mut engine = match rw_engine(target, &cfg, &files) {
        Ok(e) => e,
        Err(e) => {
            let _ = reply.send(Reply::Ready(Err(e)));
            return;
        }
    };
    if reply.send(Reply::Ready(Ok(()))).is_err() {
        return;
    }
    for work in queue {
        let sent = match work {
            Work::Io(Handed { slot, req }) => {
                let (result, issued, queued) = io_workqueue_fn(&mut *engine, req);
                let completed = Instant::now();
                reply.send(Reply::Done(Completion { worker, slot, result, issued, queued, completed }))
            }
            Work::Reopen(files) => {
                let made = rw_engine(target, &cfg, &files).map(|e| engine = e);
                reply.send(Reply::Ready(made))
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Runs one I/O on a worker's engine to its completion (fio's `io_workqueue_fn`: `td_io_queue`,
/// then, when queued, `io_u_queued_complete` for one event at the worker's depth of 1). A
/// short write is resubmitted for the rest, as the job thread does inline. Returns the result,
/// the issue time and whether the engine queued the I/O.
fn io_workqueue_fn(engine: &mut dyn Engine, req: IoReq) -> (IoResult, Instant, bool) {
    let mut done = 0u64;
    let mut first: Option<(Instant, bool)> = None;
    loop {
        let piece = IoReq {
            offset: req.offset + done,
            // SAFETY: within the slot's buffer (`done` < `req.len`).
            buf: unsafe { req.buf.add(done as usize) },
            len: req.len - done as usize,
            ..req
        };
        let before = Instant::now();
        let (r, issued, queued) = match engine.queue(0, &piece) {
            Queued::Done(r) => (r, before, false),
            Queued::Later => {
                let r = engine.commit().map_err(errno);
                let issued = Instant::now();
                let mut got = Err(libc::EIO);
                let r = r.and_then(|()| engine.reap(1, 1, &mut |_, res| got = res).map_err(errno)).and(got);
                (r, issued, true)
            }
        };
        let (issued, queued) = *first.get_or_insert((issued, queued));
        match r {
            Ok(n) if req.kind == IoKind::Write && n > 0 && done + n < req.len as u64 => done += n,
            // A write that moved nothing is the job thread's EIO, as inline.
            Ok(0) if req.kind == IoKind::Write => return (Ok(0), issued, queued),
            Ok(n) => return (Ok(done + n), issued, queued),
            Err(e) => return (Err(e), issued, queued),
        }
    }
}

fn errno(e: TargetError) -> i32 {
    e.errno().unwrap_or(libc::EIO)
}
