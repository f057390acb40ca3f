//! fio's `page_fault` engine (engines/page_fault.c): the job's `size` of private anonymous
//! memory is mapped once; a read copies from it and a write into it, so that the I/Os measure
//! the page faults that populate the mapping (and, for writes after reads, copy-on-write of
//! the zero page). No file is touched.

use super::{Engine, IoReq, Queued};
use crate::targets::TargetError;

/// A `page_fault` job thread's mapping.
pub struct PageFaultEngine {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping belongs to the engine alone, which one job thread uses at a time.
unsafe impl Send for PageFaultEngine {}

impl PageFaultEngine {
    /// Maps `len` bytes (fio's `fio_page_fault_init`: `MAP_PRIVATE | MAP_ANONYMOUS`).
    pub fn new(len: u64) -> Result<Self, TargetError> {
        let len = usize::try_from(len).map_err(|_| TargetError::Os { op: "mmap", errno: libc::ENOMEM })?;
        if len == 0 {
            return Err(TargetError::Os { op: "mmap", errno: libc::EINVAL });
        }
        // SAFETY: a new anonymous mapping; no existing memory is named.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(TargetError::Os {
                op: "mmap",
                errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            });
        }
        Ok(PageFaultEngine { ptr: ptr.cast(), len })
    }

    /// Resident pages of the mapping (`mincore(2)`), for tests.
    pub fn resident_pages(&self) -> usize {
        let page = page_size();
        let mut vec = vec![0u8; self.len.div_ceil(page)];
        // SAFETY: the mapping is ours and `vec` has one byte per page of it.
        if unsafe { libc::mincore(self.ptr.cast(), self.len, vec.as_mut_ptr()) } != 0 {
            return 0;
        }
        vec.iter().filter(|&&b| b & 1 != 0).count()
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

impl Engine for PageFaultEngine {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        if (req.offset as usize).checked_add(req.len).is_none_or(|end| end > self.len) {
            return Queued::Done(Err(libc::EINVAL));
        }
        // SAFETY: offset..offset+len lies in the mapping (checked above), and the caller's
        // buffer holds `len` bytes; the two never overlap (the mapping is the engine's own).
        unsafe { super::mmap::copy_mapped(self.ptr, req) }
    }
}

impl Drop for PageFaultEngine {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::IoKind;

    #[test]
    fn writes_fault_pages_in_and_reads_see_them() {
        let page = page_size();
        let mut e = PageFaultEngine::new(16 * page as u64).unwrap();
        assert_eq!(e.resident_pages(), 0, "nothing is faulted in before the first I/O");
        let mut buf = vec![0xabu8; page];
        for i in [0usize, 3, 7] {
            let req = IoReq::new(IoKind::Write, 0, (i * page) as u64, buf.as_mut_ptr(), page);
            assert_eq!(e.queue(0, &req), Queued::Done(Ok(page as u64)));
        }
        assert_eq!(e.resident_pages(), 3, "one fault per page written");
        let mut back = vec![0u8; page];
        let req = IoReq::new(IoKind::Read, 0, 3 * page as u64, back.as_mut_ptr(), page);
        assert_eq!(e.queue(0, &req), Queued::Done(Ok(page as u64)));
        assert_eq!(back, buf);
        let past = IoReq::new(IoKind::Read, 0, 16 * page as u64, back.as_mut_ptr(), 1);
        assert_eq!(e.queue(0, &past), Queued::Done(Err(libc::EINVAL)), "fio's bound check");
    }
}
