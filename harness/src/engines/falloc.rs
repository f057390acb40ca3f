//! fio's `falloc` engine (engines/falloc.c): each write is `fallocate(fd, 0, offset, len)`,
//! each read `fallocate(fd, FALLOC_FL_KEEP_SIZE, ...)` (trims punch holes, as every engine's
//! do here). An I/O "moves" its length. Runs on every target through [`Target::fallocate`].

use workloads::FallocMode;

use super::{Engine, IoKind, IoReq, Queued};
use crate::targets::{FileId, Target};

/// A `falloc` job thread's files.
pub struct FallocEngine<'a> {
    target: &'a dyn Target,
    files: Vec<FileId>,
}

impl<'a> FallocEngine<'a> {
    /// The engine for `files` of `target`.
    pub fn new(target: &'a dyn Target, files: &[FileId]) -> Self {
        FallocEngine { target, files: files.to_vec() }
    }
}

impl Engine for FallocEngine<'_> {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        let Some(&f) = self.files.get(req.file) else { return Queued::Done(Err(libc::EBADF)) };
        let mode = match req.kind {
            IoKind::Read => FallocMode::KeepSize,
            IoKind::Write => FallocMode::Allocate,
        };
        let r = self.target.fallocate(f, mode, req.offset, req.len as u64);
        Queued::Done(r.map(|()| req.len as u64).map_err(|e| e.errno().unwrap_or(libc::EIO)))
    }
}
