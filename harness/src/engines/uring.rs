//! fio's `io_uring` engine (`engines/io_uring.c`): one ring per job thread of `iodepth`
//! entries; `IORING_OP_READ`/`IORING_OP_WRITE` (the `_FIXED` forms with `fixedbufs`), registered
//! files with `registerfiles`, a kernel submission thread with `sqthread_poll`, polled
//! completions with `hipri` (`IORING_SETUP_IOPOLL`: O_DIRECT on a device that polls).
//! Submission is `io_uring_enter(2)` on [`Engine::commit`]; [`Engine::reap`] waits for `min`
//! completions in the same call.

use io_uring::{IoUring, opcode, squeue, types};

use super::{Engine, EngineConfig, IoKind, IoReq, IoResult, KernelFds, Queued};
use crate::targets::TargetError;

/// The io_uring engine.
pub struct UringEngine {
    ring: IoUring,
    fds: Vec<i32>,
    registered_files: bool,
    fixed_bufs: bool,
    /// A write SQE's `rw_flags` (`RWF_ATOMIC` under `atomic`).
    write_flags: libc::c_int,
    /// Each registered buffer's start, by slot.
    bufs: Vec<(*mut u8, usize)>,
    /// SQEs pushed since the last submit.
    queued: u32,
}

fn setup_err(what: &str, e: std::io::Error) -> TargetError {
    TargetError::Setup(format!("io_uring {what}: {e}: use another ioengine, or check sysctl kernel.io_uring_disabled"))
}

/// The ring as fio's `fio_ioring_queue_init` sets it up: a completion queue no larger than the
/// submission queue (`CQSIZE`), no interrupting IPI for completions (`COOP_TASKRUN`), and one
/// issuer whose completion work waits until it reaps (`SINGLE_ISSUER | DEFER_TASKRUN`); each
/// flag the kernel refuses (EINVAL) is dropped, in fio's order. The ring is made on the job
/// thread that submits to it.
fn setup_ring(cfg: &EngineConfig, entries: u32) -> std::io::Result<IoUring> {
    // (defer: SINGLE_ISSUER | DEFER_TASKRUN, coop: COOP_TASKRUN, cqsize: CQSIZE)
    let mut tries = vec![(true, true, true), (false, true, true), (false, false, true), (false, false, false)];
    if cfg.uring.sqthread_poll {
        // The SQ thread submits: not a single issuer of ours.
        tries.retain(|t| !t.0);
    }
    let mut last = None;
    for (defer, coop, cqsize) in tries {
        let mut b = IoUring::builder();
        if cfg.uring.sqthread_poll {
            b.setup_sqpoll(1000);
        }
        if cfg.uring.hipri {
            b.setup_iopoll();
        }
        if defer {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        if coop {
            b.setup_coop_taskrun();
        }
        if cqsize {
            b.setup_cqsize(entries);
        }
        match b.build(entries) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            r => return r,
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL)))
}

impl UringEngine {
    /// A ring for `cfg.depth.iodepth` I/Os on `files`.
    pub fn new(cfg: &EngineConfig, files: KernelFds) -> Result<Self, TargetError> {
        let entries = cfg.depth.iodepth.max(1).next_power_of_two();
        let ring = setup_ring(cfg, entries).map_err(|e| setup_err("setup", e))?;
        if cfg.uring.registerfiles {
            ring.submitter().register_files(&files.fds).map_err(|e| setup_err("register_files", e))?;
        }
        Ok(UringEngine {
            ring,
            fds: files.fds,
            registered_files: cfg.uring.registerfiles,
            fixed_bufs: cfg.uring.fixedbufs,
            write_flags: cfg.write_flags(),
            bufs: Vec::new(),
            queued: 0,
        })
    }

    fn sqe_buffers(&mut self, bufs: &[(*mut u8, usize)]) -> Result<(), TargetError> {
        if !self.fixed_bufs {
            return Ok(());
        }
        let iovecs: Vec<libc::iovec> =
            bufs.iter().map(|&(p, l)| libc::iovec { iov_base: p.cast(), iov_len: l }).collect();
        // SAFETY: the buffers outlive the ring (the worker drops the engine first).
        unsafe { self.ring.submitter().register_buffers(&iovecs) }.map_err(|e| setup_err("register_buffers", e))?;
        self.bufs = bufs.to_vec();
        Ok(())
    }

    fn sqe(&self, slot: u32, req: &IoReq) -> Option<squeue::Entry> {
        let fd = *self.fds.get(req.file)?;
        let len = u32::try_from(req.len).ok()?;
        let fixed = self.fixed_bufs && self.bufs.get(slot as usize).is_some();
        macro_rules! build {
            ($target:expr) => {
                match (req.kind, fixed) {
                    (IoKind::Read, false) => opcode::Read::new($target, req.buf, len).offset(req.offset).build(),
                    (IoKind::Write, false) => {
                        opcode::Write::new($target, req.buf, len).offset(req.offset).rw_flags(self.write_flags).build()
                    }
                    (IoKind::Read, true) => {
                        opcode::ReadFixed::new($target, req.buf, len, slot as u16).offset(req.offset).build()
                    }
                    (IoKind::Write, true) => opcode::WriteFixed::new($target, req.buf, len, slot as u16)
                        .offset(req.offset)
                        .rw_flags(self.write_flags)
                        .build(),
                }
            };
        }
        let e = if self.registered_files { build!(types::Fixed(req.file as u32)) } else { build!(types::Fd(fd)) };
        Some(e.user_data(u64::from(slot)))
    }
}

impl Engine for UringEngine {
    fn queue(&mut self, slot: u32, req: &IoReq) -> Queued {
        let Some(sqe) = self.sqe(slot, req) else { return Queued::Done(Err(libc::EINVAL)) };
        // SAFETY: the buffer stays valid until the completion is reaped (the caller's contract).
        let pushed = unsafe { self.ring.submission().push(&sqe) };
        if pushed.is_err() {
            // The ring has iodepth entries and the caller never queues more than iodepth.
            return Queued::Done(Err(libc::EBUSY));
        }
        self.queued += 1;
        Queued::Later
    }

    /// `fixedbufs`: registers the slots' buffers; buffer `i` belongs to slot `i`.
    fn register_buffers(&mut self, bufs: &[(*mut u8, usize)]) -> Result<(), TargetError> {
        self.sqe_buffers(bufs)
    }

    fn commit(&mut self) -> Result<(), TargetError> {
        if self.queued > 0 {
            // fio's commit enters with GETEVENTS: completion work deferred to this thread runs
            // then too (DEFER_TASKRUN), so a later reap finds what has completed.
            let r = if self.ring.params().is_setup_sqpoll() {
                self.ring.submit()
            } else {
                let getevents = io_uring::EnterFlags::GETEVENTS.bits();
                // SAFETY: the SQEs up to the tail are filled in and their buffers stay put until
                // they complete; no argument is passed.
                unsafe { self.ring.submitter().enter::<libc::sigset_t>(self.queued, 0, getevents, None) }
            };
            r.map_err(|e| TargetError::Os { op: "io_uring_enter", errno: e.raw_os_error().unwrap_or(libc::EIO) })?;
            self.queued = 0;
        }
        Ok(())
    }

    fn reap(&mut self, min: u32, max: u32, done: &mut dyn FnMut(u32, IoResult)) -> Result<u32, TargetError> {
        let mut got = 0;
        loop {
            for cqe in self.ring.completion().take((max - got) as usize) {
                let r = cqe.result();
                done(cqe.user_data() as u32, if r < 0 { Err(-r) } else { Ok(r as u64) });
                got += 1;
            }
            if got >= min || got >= max {
                return Ok(got);
            }
            match self.ring.submit_and_wait((min - got) as usize) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => {
                    return Err(TargetError::Os { op: "io_uring_enter", errno: e.raw_os_error().unwrap_or(libc::EIO) });
                }
            }
        }
    }
}
