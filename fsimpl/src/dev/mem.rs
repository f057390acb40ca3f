//! The mem engine: the device's bytes in RAM, like the kernel's `brd` ramdisk: a request is
//! copied and completed in the submitting thread (`brd_submit_bio` ends its bios inline), so
//! it measures the filesystem's CPU cost without a device's.

use std::sync::{Arc, RwLock};

use super::blk_mq::{BlkMqOps, Disk, QueueCore};
use super::limits::QueueLimits;
use super::{Bio, BioOp, BlockDev, DevError, DevStats};

/// Bytes per chunk: chunks are allocated on first write, so a large device costs nothing
/// until it is written.
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

type Chunk = RwLock<Option<Box<[u8]>>>;

struct Ram {
    size: u64,
    chunks: Box<[Chunk]>,
}

impl Ram {
    fn chunk_len(&self, i: usize) -> usize {
        let start = i as u64 * CHUNK_SIZE as u64;
        (self.size - start).min(CHUNK_SIZE as u64) as usize
    }

    fn piece(&self, offset: u64, len: usize) -> (usize, usize, usize) {
        let i = (offset / CHUNK_SIZE as u64) as usize;
        let within = (offset % CHUNK_SIZE as u64) as usize;
        (i, within, len.min(CHUNK_SIZE - within))
    }

    fn read_into(&self, mut offset: u64, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            let (i, within, n) = self.piece(offset, dst.len());
            let (head, rest) = dst.split_at_mut(n);
            let chunk = self.chunks[i].read().unwrap_or_else(|e| e.into_inner());
            match chunk.as_deref() {
                Some(bytes) => head.copy_from_slice(&bytes[within..within + n]),
                None => head.fill(0),
            }
            drop(chunk);
            dst = rest;
            offset += n as u64;
        }
    }

    fn write_from(&self, mut offset: u64, mut src: &[u8]) {
        while !src.is_empty() {
            let (i, within, n) = self.piece(offset, src.len());
            let (head, rest) = src.split_at(n);
            let mut chunk = self.chunks[i].write().unwrap_or_else(|e| e.into_inner());
            let len = self.chunk_len(i);
            let bytes = chunk.get_or_insert_with(|| vec![0u8; len].into_boxed_slice());
            bytes[within..within + n].copy_from_slice(head);
            drop(chunk);
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
        let nchunks = usize::try_from(size.div_ceil(CHUNK_SIZE as u64))
            .map_err(|_| DevError::BadRequest(format!("RAM device size {size} does not fit in memory")))?;
        let chunks = (0..nchunks).map(|_| RwLock::new(None)).collect();
        let ram = Ram { size, chunks };
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
