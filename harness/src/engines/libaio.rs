//! fio's `libaio` engine: Linux native AIO through its system calls (`io_setup(2)`,
//! `io_submit(2)`, `io_getevents(2)`, `io_destroy(2)`), as libaio wraps them — not an alias of
//! another engine. One context per job thread of `iodepth` events. Buffered I/O on Linux AIO
//! completes inside `io_submit`, as it does under fio.

use super::sync::errno;
use super::{Engine, EngineConfig, IoKind, IoReq, IoResult, KernelFds, Queued};
use crate::targets::TargetError;

/// `struct iocb` of `<linux/aio_abi.h>` (little-endian field order of `aio_key` and
/// `aio_rw_flags`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Iocb {
    aio_data: u64,
    aio_key: u32,
    aio_rw_flags: u32,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}

/// `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;

/// The Linux AIO engine.
pub struct AioEngine {
    ctx: libc::c_ulong,
    fds: Vec<i32>,
    /// One iocb per slot (the kernel reads them during `io_submit`).
    iocbs: Vec<Iocb>,
    /// Slots queued since the last submit.
    pending: Vec<*mut Iocb>,
    events: Vec<IoEvent>,
    /// A write's `aio_rw_flags` (`RWF_ATOMIC` under `atomic`).
    write_flags: u32,
    /// I/Os `io_submit` refused (an iocb it fails is that I/O's error, as a completion with
    /// an error is): handed to the next reap.
    refused: Vec<(u32, i32)>,
}

impl AioEngine {
    /// A context for `cfg.depth.iodepth` I/Os on `files`.
    pub fn new(cfg: &EngineConfig, files: KernelFds) -> Result<Self, TargetError> {
        let depth = cfg.depth.iodepth.max(1);
        let mut ctx: libc::c_ulong = 0;
        // SAFETY: io_setup writes the new context into `ctx`.
        if unsafe { libc::syscall(libc::SYS_io_setup, depth as libc::c_long, &mut ctx) } != 0 {
            return Err(TargetError::Setup(format!(
                "io_setup({depth}): {}: lower iodepth, or raise sysctl fs.aio-max-nr",
                std::io::Error::last_os_error()
            )));
        }
        Ok(AioEngine {
            ctx,
            fds: files.fds,
            iocbs: vec![Iocb::default(); depth as usize],
            pending: Vec::with_capacity(depth as usize),
            events: vec![IoEvent::default(); depth as usize],
            write_flags: cfg.write_flags() as u32,
            refused: Vec::new(),
        })
    }
}

impl Drop for AioEngine {
    fn drop(&mut self) {
        // SAFETY: the context this engine made; io_destroy waits for its I/Os.
        unsafe { libc::syscall(libc::SYS_io_destroy, self.ctx) };
    }
}

impl Engine for AioEngine {
    fn queue(&mut self, slot: u32, req: &IoReq) -> Queued {
        let (Some(&fd), Some(iocb)) = (self.fds.get(req.file), self.iocbs.get_mut(slot as usize)) else {
            return Queued::Done(Err(libc::EINVAL));
        };
        *iocb = Iocb {
            aio_data: u64::from(slot),
            aio_lio_opcode: if req.kind == IoKind::Write { IOCB_CMD_PWRITE } else { IOCB_CMD_PREAD },
            aio_fildes: fd as u32,
            aio_buf: req.buf as u64,
            aio_nbytes: req.len as u64,
            aio_offset: req.offset as i64,
            aio_rw_flags: if req.kind == IoKind::Write { self.write_flags } else { 0 },
            ..Iocb::default()
        };
        self.pending.push(iocb);
        Queued::Later
    }

    fn commit(&mut self) -> Result<(), TargetError> {
        let mut at = 0;
        while at < self.pending.len() {
            let n = self.pending.len() - at;
            // SAFETY: `pending` points at iocbs of this engine, alive until reaped.
            let r = unsafe {
                libc::syscall(libc::SYS_io_submit, self.ctx, n as libc::c_long, self.pending[at..].as_mut_ptr())
            };
            match r {
                r if r > 0 => at += r as usize,
                r if r < 0 && errno() == libc::EAGAIN => std::thread::yield_now(),
                r if r < 0 && errno() == libc::EINTR => {}
                r if r < 0 => {
                    // io_submit fails the first iocb it could not start (EOPNOTSUPP for a flag
                    // the file does not take, EINVAL, EBADF): that I/O ends with the error.
                    // SAFETY: `pending[at]` points at an iocb of this engine.
                    let slot = unsafe { (*self.pending[at]).aio_data } as u32;
                    self.refused.push((slot, errno()));
                    at += 1;
                }
                _ => {
                    self.pending.clear();
                    return Err(TargetError::Os { op: "io_submit", errno: libc::EIO });
                }
            }
        }
        self.pending.clear();
        Ok(())
    }

    fn reap(&mut self, min: u32, max: u32, done: &mut dyn FnMut(u32, IoResult)) -> Result<u32, TargetError> {
        if !self.refused.is_empty() {
            let n = self.refused.len().min(max.max(1) as usize);
            for (slot, errno) in self.refused.drain(..n) {
                done(slot, Err(errno));
            }
            return Ok(n as u32);
        }
        let max = (max as usize).min(self.events.len());
        loop {
            // SAFETY: `events` has room for `max` events.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    self.ctx,
                    min as libc::c_long,
                    max as libc::c_long,
                    self.events.as_mut_ptr(),
                    std::ptr::null_mut::<libc::timespec>(),
                )
            };
            if r < 0 && errno() == libc::EINTR {
                continue;
            }
            if r < 0 {
                return Err(TargetError::Os { op: "io_getevents", errno: errno() });
            }
            for e in &self.events[..r as usize] {
                done(e.data as u32, if e.res < 0 { Err(-e.res as i32) } else { Ok(e.res as u64) });
            }
            return Ok(r as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iocb_matches_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<Iocb>(), 64);
        assert_eq!(std::mem::size_of::<IoEvent>(), 32);
    }
}
