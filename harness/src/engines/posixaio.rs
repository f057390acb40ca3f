//! fio's `posixaio` engine: `aio_read(3)`/`aio_write(3)` at the queue depth, completions found
//! with `aio_error(3)` and waited for with `aio_suspend(3)` (glibc runs the I/O on its own
//! threads).

use super::{Engine, EngineConfig, IoKind, IoReq, IoResult, KernelFds, Queued};
use crate::targets::TargetError;

/// The POSIX AIO engine.
pub struct PosixAioEngine {
    fds: Vec<i32>,
    /// One control block per slot; `busy` marks those in flight.
    cbs: Vec<libc::aiocb>,
    busy: Vec<bool>,
    /// In-flight control blocks, for `aio_suspend`.
    list: Vec<*const libc::aiocb>,
}

impl PosixAioEngine {
    /// The engine for `cfg.depth.iodepth` I/Os on `files`.
    pub fn new(cfg: &EngineConfig, files: KernelFds) -> Self {
        let depth = cfg.depth.iodepth.max(1) as usize;
        // SAFETY: aiocb is plain data; all zeros is its initial state.
        let cbs = (0..depth).map(|_| unsafe { std::mem::zeroed::<libc::aiocb>() }).collect();
        PosixAioEngine { fds: files.fds, cbs, busy: vec![false; depth], list: Vec::with_capacity(depth) }
    }

    /// Takes the finished control blocks, at most `max`.
    fn collect(&mut self, max: u32, done: &mut dyn FnMut(u32, IoResult)) -> u32 {
        let mut got = 0;
        for slot in 0..self.cbs.len() {
            if got >= max {
                break;
            }
            if !self.busy[slot] {
                continue;
            }
            let cb = &mut self.cbs[slot];
            // SAFETY: a control block submitted by this engine.
            let e = unsafe { libc::aio_error(cb) };
            if e == libc::EINPROGRESS {
                continue;
            }
            // SAFETY: the I/O finished; aio_return reaps it.
            let r = unsafe { libc::aio_return(cb) };
            self.busy[slot] = false;
            done(slot as u32, if e != 0 { Err(e) } else { Ok(r.max(0) as u64) });
            got += 1;
        }
        got
    }
}

impl Engine for PosixAioEngine {
    fn queue(&mut self, slot: u32, req: &IoReq) -> Queued {
        let (Some(&fd), Some(cb)) = (self.fds.get(req.file), self.cbs.get_mut(slot as usize)) else {
            return Queued::Done(Err(libc::EINVAL));
        };
        // SAFETY: zeroed control block, then filled.
        *cb = unsafe { std::mem::zeroed() };
        cb.aio_fildes = fd;
        cb.aio_buf = req.buf.cast();
        cb.aio_nbytes = req.len;
        cb.aio_offset = req.offset as libc::off_t;
        // SAFETY: the block and buffer stay valid until the I/O is reaped.
        let r = unsafe {
            match req.kind {
                IoKind::Read => libc::aio_read(cb),
                IoKind::Write => libc::aio_write(cb),
            }
        };
        if r != 0 {
            return Queued::Done(Err(super::sync::errno()));
        }
        self.busy[slot as usize] = true;
        Queued::Later
    }

    fn commit(&mut self) -> Result<(), TargetError> {
        Ok(())
    }

    fn reap(&mut self, min: u32, max: u32, done: &mut dyn FnMut(u32, IoResult)) -> Result<u32, TargetError> {
        let mut got = self.collect(max, done);
        while got < min {
            self.list.clear();
            for (cb, busy) in self.cbs.iter().zip(&self.busy) {
                if *busy {
                    self.list.push(cb);
                }
            }
            if self.list.is_empty() {
                break;
            }
            // SAFETY: pointers to in-flight control blocks of this engine.
            let r = unsafe { libc::aio_suspend(self.list.as_ptr(), self.list.len() as i32, std::ptr::null()) };
            if r != 0 && super::sync::errno() != libc::EINTR && super::sync::errno() != libc::EAGAIN {
                return Err(TargetError::Os { op: "aio_suspend", errno: super::sync::errno() });
            }
            got += self.collect(max - got, done);
        }
        Ok(got)
    }
}

impl Drop for PosixAioEngine {
    fn drop(&mut self) {
        // Wait out anything still in flight: its buffer is about to go.
        let mut none = |_: u32, _: IoResult| {};
        let _ = self.reap(self.busy.iter().filter(|b| **b).count() as u32, u32::MAX, &mut none);
    }
}
