//! fio's synchronous engines on a kernel target's descriptors: each I/O one system call in the
//! job thread (`FIO_SYNCIO`), done inside [`Engine::queue`].
//!
//! | engine | calls |
//! |---|---|
//! | `sync` | `lseek(2)` (only when not already there, as fio's `fio_syncio_prep`) then `read(2)`/`write(2)` |
//! | `psync` | `pread(2)`/`pwrite(2)` |
//! | `vsync` | `lseek(2)` then `readv(2)`/`writev(2)` of one iovec |
//! | `pvsync` | `preadv(2)`/`pwritev(2)` |
//! | `pvsync2` | `preadv2(2)`/`pwritev2(2)`, with `RWF_HIPRI` under `hipri`, `RWF_ATOMIC` on writes under `atomic` |

use super::{Engine, EngineConfig, IoKind, IoReq, IoResult, KernelFds, Queued};
use workloads::fio::IoEngine;

/// One of the synchronous engines.
pub struct SyncEngine {
    engine: IoEngine,
    hipri: bool,
    /// `pwritev2`'s flags of a write beyond `hipri`'s (`RWF_ATOMIC`).
    write_flags: libc::c_int,
    files: KernelFds,
    /// Where each descriptor's file position is (`sync`, `vsync`), if known.
    pos: Vec<Option<u64>>,
}

impl SyncEngine {
    /// The engine `cfg.engine` (one of the synchronous ones) on `files`.
    pub fn new(cfg: &EngineConfig, files: KernelFds) -> Self {
        let n = files.fds.len();
        SyncEngine {
            engine: cfg.engine,
            hipri: cfg.uring.hipri,
            write_flags: cfg.write_flags(),
            files,
            pos: vec![None; n],
        }
    }

    fn io(&mut self, req: &IoReq) -> IoResult {
        let fd = *self.files.fds.get(req.file).ok_or(libc::EBADF)?;
        let off = req.offset as libc::off_t;
        let iov = libc::iovec { iov_base: req.buf.cast(), iov_len: req.len };
        let write = req.kind == IoKind::Write;
        if matches!(self.engine, IoEngine::Sync | IoEngine::Vsync) && self.pos[req.file] != Some(req.offset) {
            // SAFETY: lseek on a descriptor the target keeps open.
            if unsafe { libc::lseek(fd, off, libc::SEEK_SET) } < 0 {
                self.pos[req.file] = None;
                return Err(errno());
            }
        }
        // SAFETY: `buf` is valid for `len` bytes (the caller's contract); the descriptor is open.
        let n = unsafe {
            match (self.engine, write) {
                (IoEngine::Sync, false) => libc::read(fd, req.buf.cast(), req.len),
                (IoEngine::Sync, true) => libc::write(fd, req.buf.cast(), req.len),
                (IoEngine::Vsync, false) => libc::readv(fd, &iov, 1),
                (IoEngine::Vsync, true) => libc::writev(fd, &iov, 1),
                (IoEngine::Pvsync, false) => libc::preadv(fd, &iov, 1, off),
                (IoEngine::Pvsync, true) => libc::pwritev(fd, &iov, 1, off),
                (IoEngine::Pvsync2, false) => libc::preadv2(fd, &iov, 1, off, self.flags()),
                (IoEngine::Pvsync2, true) => libc::pwritev2(fd, &iov, 1, off, self.flags() | self.write_flags),
                (_, false) => libc::pread(fd, req.buf.cast(), req.len, off),
                (_, true) => libc::pwrite(fd, req.buf.cast(), req.len, off),
            }
        };
        if n < 0 {
            self.pos[req.file] = None;
            return Err(errno());
        }
        self.pos[req.file] = Some(req.offset + n as u64);
        Ok(n as u64)
    }

    fn flags(&self) -> libc::c_int {
        if self.hipri { libc::RWF_HIPRI } else { 0 }
    }
}

/// The errno of the last failed call.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

impl Engine for SyncEngine {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        loop {
            match self.io(req) {
                Err(libc::EINTR) => continue,
                r => return Queued::Done(r),
            }
        }
    }
}
