//! fio's `ftruncate` engine (engines/ftruncate.c): each write is `ftruncate(fd, offset)` (its
//! length is not used, but counts as moved); a read is EINVAL. Runs on every target through
//! [`Target::truncate`].

use super::{Engine, IoKind, IoReq, Queued};
use crate::targets::{FileId, Target};

/// An `ftruncate` job thread's files.
pub struct FtruncateEngine<'a> {
    target: &'a dyn Target,
    files: Vec<FileId>,
}

impl<'a> FtruncateEngine<'a> {
    /// The engine for `files` of `target`.
    pub fn new(target: &'a dyn Target, files: &[FileId]) -> Self {
        FtruncateEngine { target, files: files.to_vec() }
    }
}

impl Engine for FtruncateEngine<'_> {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        let Some(&f) = self.files.get(req.file) else { return Queued::Done(Err(libc::EBADF)) };
        if req.kind == IoKind::Read {
            return Queued::Done(Err(libc::EINVAL));
        }
        let r = self.target.truncate(f, req.offset);
        Queued::Done(r.map(|()| req.len as u64).map_err(|e| e.errno().unwrap_or(libc::EIO)))
    }
}
