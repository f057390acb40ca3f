//! fio's `mmap` engine: each file mapped shared, reads and writes copied from and to the map
//! (`engines/mmap.c`). A file shorter than an I/O reaches is extended with `ftruncate(2)` and
//! mapped again, as fio extends before it maps.

use super::sync::errno;
use super::{Engine, IoKind, IoReq, KernelFds, Queued};
use crate::targets::TargetError;

/// A mapping of one file.
struct Map {
    ptr: *mut u8,
    len: usize,
}

/// The `mmap` engine.
pub struct MmapEngine {
    files: KernelFds,
    maps: Vec<Option<Map>>,
}

impl MmapEngine {
    /// The engine on `files`; each is mapped on first use.
    pub fn new(files: KernelFds) -> Result<Self, TargetError> {
        let n = files.fds.len();
        Ok(MmapEngine { files, maps: (0..n).map(|_| None).collect() })
    }

    /// The map of file `f` covering `end` bytes.
    fn map(&mut self, f: usize, end: u64) -> Result<*mut u8, i32> {
        if let Some(m) = &self.maps[f]
            && m.len as u64 >= end
        {
            return Ok(m.ptr);
        }
        let fd = self.files.fds[f];
        let want = end.max(self.files.sizes[f]);
        // SAFETY: fstat into a zeroed struct on an open descriptor.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(errno());
        }
        if (st.st_size as u64) < want && unsafe { libc::ftruncate(fd, want as libc::off_t) } != 0 {
            return Err(errno());
        }
        self.unmap(f);
        let len = usize::try_from(want).map_err(|_| libc::EFBIG)?;
        // SAFETY: a shared read-write map of an open descriptor, at least `want` bytes long.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if ptr == libc::MAP_FAILED {
            return Err(errno());
        }
        self.maps[f] = Some(Map { ptr: ptr.cast(), len });
        Ok(ptr.cast())
    }

    fn unmap(&mut self, f: usize) {
        if let Some(m) = self.maps[f].take() {
            // SAFETY: a map this engine made and no longer uses.
            unsafe { libc::munmap(m.ptr.cast(), m.len) };
        }
    }
}

impl Drop for MmapEngine {
    fn drop(&mut self) {
        for f in 0..self.maps.len() {
            self.unmap(f);
        }
    }
}

/// An I/O as a copy between the caller's buffer and a mapping at `base` (a read copies out
/// of the mapping, a write into it): it completes at once with its length.
///
/// # Safety
/// `base + req.offset .. + req.len` lies in a live mapping, `req.buf` is valid for `req.len`
/// bytes, and the two do not overlap.
pub(super) unsafe fn copy_mapped(base: *mut u8, req: &IoReq) -> Queued {
    // SAFETY: the caller's contract.
    unsafe {
        let at = base.add(req.offset as usize);
        match req.kind {
            IoKind::Read => std::ptr::copy_nonoverlapping(at, req.buf, req.len),
            IoKind::Write => std::ptr::copy_nonoverlapping(req.buf, at, req.len),
        }
    }
    Queued::Done(Ok(req.len as u64))
}

impl Engine for MmapEngine {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        if req.file >= self.maps.len() {
            return Queued::Done(Err(libc::EBADF));
        }
        let end = req.offset + req.len as u64;
        let base = match self.map(req.file, end) {
            Ok(p) => p,
            Err(e) => return Queued::Done(Err(e)),
        };
        // SAFETY: the map covers `offset..end`; `buf` is valid for `len` bytes.
        unsafe { copy_mapped(base, req) }
    }
}
