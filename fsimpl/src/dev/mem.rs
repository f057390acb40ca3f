//! The mem engine: the device's bytes in RAM, like the kernel's `brd` ramdisk: a request is
//! copied and completed in the submitting thread (`brd_submit_bio` ends its bios inline), so
//! it measures the filesystem's CPU cost without a device's.
//!
//! The bytes live in one anonymous mapping reserved at creation and faulted in page by page
//! on first write, as `brd_insert_page` allocates a zeroed page the first time a sector is
//! written: a first write always costs a page fault and a later one never does, whatever
//! the process's heap did before (chunks from `malloc` were fresh or recycled by chance,
//! which made the same job's timings bimodal from run to run).

use std::ptr::NonNull;
use std::sync::{Arc, RwLock};

use super::blk_mq::{BlkMqOps, Disk, QueueCore};
use super::limits::QueueLimits;
use super::{Bio, BioOp, BlockDev, DevError, DevStats};

/// Bytes per lock: a request takes the locks of the chunks it touches, so that requests to
/// different places copy in parallel and never tear one another.
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

struct Ram {
    size: u64,
    /// Start of the mapping of `size` bytes.
    base: NonNull<u8>,
    chunks: Box<[RwLock<()>]>,
}

// SAFETY: the mapping is owned by `Ram` and every access to its bytes holds the lock of the
// chunk it falls in.
unsafe impl Send for Ram {}
// SAFETY: as above.
unsafe impl Sync for Ram {}

impl Drop for Ram {
    fn drop(&mut self) {
        // SAFETY: `base` is the mapping of `size` bytes made in `Ram::new`, unused from here.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size as usize) };
    }
}

impl Ram {
    fn new(size: u64) -> Result<Ram, DevError> {
        let too_big = || DevError::BadRequest(format!("RAM device size {size} does not fit in memory"));
        let len = usize::try_from(size).map_err(|_| too_big())?;
        // SAFETY: an anonymous private mapping, checked for MAP_FAILED below; NORESERVE so that
        // a large device costs nothing until it is written.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(DevError::BadRequest(format!(
                "cannot map a RAM device of {size} bytes: {}",
                std::io::Error::last_os_error()
            )));
        }
        let base = NonNull::new(raw.cast::<u8>()).expect("mmap returned a non-null address");
        let chunks = (0..len.div_ceil(CHUNK_SIZE)).map(|_| RwLock::new(())).collect();
        Ok(Ram { size, base, chunks })
    }

    fn piece(&self, offset: u64, len: usize) -> (usize, usize) {
        let i = (offset / CHUNK_SIZE as u64) as usize;
        let within = (offset % CHUNK_SIZE as u64) as usize;
        (i, len.min(CHUNK_SIZE - within))
    }

    fn read_into(&self, mut offset: u64, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            let (i, n) = self.piece(offset, dst.len());
            let (head, rest) = dst.split_at_mut(n);
            let _chunk = self.chunks[i].read().unwrap_or_else(|e| e.into_inner());
            // SAFETY: [offset, offset + n) lies inside the mapping (the queue checks requests
            // against the device size) and chunk i's read lock keeps writers out.
            let src = unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(offset as usize), n) };
            head.copy_from_slice(src);
            dst = rest;
            offset += n as u64;
        }
    }

    fn write_from(&self, mut offset: u64, mut src: &[u8]) {
        while !src.is_empty() {
            let (i, n) = self.piece(offset, src.len());
            let (head, rest) = src.split_at(n);
            let _chunk = self.chunks[i].write().unwrap_or_else(|e| e.into_inner());
            // SAFETY: as in `read_into`, under chunk i's write lock.
            let dst = unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(offset as usize), n) };
            dst.copy_from_slice(head);
            src = rest;
            offset += n as u64;
        }
    }
}

impl BlkMqOps for Ram {
    fn name(&self) -> &'static str {
        "mem"
    }

    fn is_direct(&self) -> bool {
        false
    }

    fn queue_rq(&self, core: &QueueCore, tag: u32) {
        // SAFETY: `queue_rq` hands us the tag.
        let rq = unsafe { core.rq_mut(tag) };
        rq.build_iovecs();
        let mut at = rq.offset;
        for v in &rq.iovecs {
            match rq.op {
                Some(BioOp::Read) => {
                    // SAFETY: the iovec is bio memory the submitter keeps valid and to itself
                    // until the bio ends.
                    let dst = unsafe { std::slice::from_raw_parts_mut(v.iov_base.cast::<u8>(), v.iov_len) };
                    self.read_into(at, dst);
                }
                Some(BioOp::Write) => {
                    // SAFETY: as above; a write only reads the memory.
                    let src = unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) };
                    self.write_from(at, src);
                }
                _ => {}
            }
            at += v.iov_len as u64;
        }
        core.end_request(tag, Ok(()));
    }
}

/// A device in RAM.
#[derive(Debug)]
pub struct MemDev(Disk);

impl MemDev {
    /// A zeroed RAM device of `size` bytes (a positive multiple of 512).
    pub fn new(size: u64) -> Result<Self, DevError> {
        if size == 0 || !size.is_multiple_of(512) {
            return Err(DevError::BadRequest(format!(
                "RAM device size {size} must be a positive multiple of 512 bytes"
            )));
        }
        let ram = Ram::new(size)?;
        Ok(MemDev(Disk::new(QueueLimits::loop_defaults(size), |_core: Arc<QueueCore>| Box::new(ram))))
    }

    /// The request queue.
    pub fn disk(&self) -> &Disk {
        &self.0
    }
}

impl BlockDev for MemDev {
    fn engine_name(&self) -> &'static str {
        self.0.engine_name()
    }
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn is_direct(&self) -> bool {
        false
    }
    fn limits(&self) -> QueueLimits {
        self.0.limits()
    }
    fn submit_bio(&self, bio: Box<Bio>) {
        self.0.submit_bio(bio)
    }
    fn flush(&self) -> Result<(), DevError> {
        self.0.flush()
    }
    fn stats(&self) -> DevStats {
        self.0.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::testutil;

    #[test]
    fn mem_passes_the_engine_suite() {
        testutil::engine_suite("mem", &|size| std::sync::Arc::new(MemDev::new(size).unwrap()));
    }

    #[test]
    fn unwritten_bytes_read_as_zeros_and_writes_cross_chunks() {
        let dev = MemDev::new(5 * CHUNK_SIZE as u64).unwrap();
        let mut buf = testutil::AlignedBuf::new(3 * CHUNK_SIZE);
        buf.fill_pattern(7);
        let at = CHUNK_SIZE as u64 - 512;
        testutil::write_read_back(&dev, at, &mut [buf.as_mut_slice()]).unwrap();
        let mut zeros = testutil::AlignedBuf::new(1024);
        zeros.as_mut_slice().fill(0xff);
        crate::dev::read_at(&dev, 0, zeros.as_mut_slice()).unwrap();
        assert!(zeros.as_mut_slice().iter().all(|&b| b == 0));
    }

    #[test]
    fn odd_sizes_are_refused() {
        assert!(matches!(MemDev::new(0), Err(DevError::BadRequest(_))));
        let Err(DevError::BadRequest(m)) = MemDev::new(1000) else { panic!("accepted 1000") };
        assert_eq!(m, "RAM device size 1000 must be a positive multiple of 512 bytes");
        let dev = MemDev::new(CHUNK_SIZE as u64 + 512).unwrap();
        let mut buf = testutil::AlignedBuf::new(1024);
        buf.fill_pattern(3);
        testutil::write_read_back(&dev, CHUNK_SIZE as u64 - 512, &mut [buf.as_mut_slice()]).unwrap();
    }
}
