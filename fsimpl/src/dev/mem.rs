//! The mem engine: a RAM disk, like the kernel's `brd` driver. A read or write is a
//! `memcpy` into or out of the device's memory; a flush does nothing but is counted.
//!
//! The memory is split into chunks of [`CHUNK_SIZE`] bytes, each behind its own lock and
//! allocated on first write (as `brd` allocates its pages), so threads working on different
//! regions do not wait for each other and reads of never-written bytes return zeros.

use std::sync::RwLock;

use super::check::{IoLimits, check_batch};
use super::{BioBatch, BioOp, BlockDev, Counters, DevError, DevStats, IoSeg};

/// Bytes per independently locked chunk.
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

/// One chunk: `None` until first written (reads as zeros).
type Chunk = RwLock<Option<Box<[u8]>>>;

/// A RAM-backed [`BlockDev`].
#[derive(Debug)]
pub struct MemDev {
    size: u64,
    chunks: Box<[Chunk]>,
    counters: Counters,
}

impl MemDev {
    /// A device of `size` bytes, all zeros; `size` must be a positive multiple of 512.
    pub fn new(size: u64) -> Result<Self, DevError> {
        if size == 0 || !size.is_multiple_of(512) {
            return Err(DevError::BadRequest(format!(
                "RAM device size {size} must be a positive multiple of 512 bytes"
            )));
        }
        let nchunks = usize::try_from(size.div_ceil(CHUNK_SIZE as u64))
            .map_err(|_| DevError::BadRequest(format!("RAM device size {size} does not fit in memory")))?;
        let chunks = (0..nchunks).map(|_| RwLock::new(None)).collect();
        Ok(MemDev { size, chunks, counters: Counters::default() })
    }

    /// Length of chunk `i` (the last one may be short).
    fn chunk_len(&self, i: usize) -> usize {
        let start = i as u64 * CHUNK_SIZE as u64;
        (self.size - start).min(CHUNK_SIZE as u64) as usize
    }

    /// Copies device bytes `offset..offset + dst.len()` into `dst`.
    fn read_into(&self, mut offset: u64, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            let (i, within, n) = self.piece(offset, dst.len());
            let (head, rest) = dst.split_at_mut(n);
            // A poisoned lock only means another thread panicked while copying bytes: the
            // chunk is still a valid byte array.
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

    /// Copies `src` to device bytes `offset..offset + src.len()`.
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

    /// The chunk holding device byte `offset`, the offset within it, and how many of `len`
    /// bytes fit before the chunk ends.
    fn piece(&self, offset: u64, len: usize) -> (usize, usize, usize) {
        let i = (offset / CHUNK_SIZE as u64) as usize;
        let within = (offset % CHUNK_SIZE as u64) as usize;
        (i, within, len.min(CHUNK_SIZE - within))
    }

    /// Does one bio whose segments are `segs`.
    fn do_bio(&self, op: BioOp, offset: u64, segs: &[IoSeg]) {
        let mut at = offset;
        for seg in segs {
            match op {
                BioOp::Read => {
                    // SAFETY: the contract of `BioBatch::add_seg`: the segment is valid and
                    // ours alone until the batch completes.
                    let dst = unsafe { std::slice::from_raw_parts_mut(seg.ptr(), seg.len()) };
                    self.read_into(at, dst);
                }
                BioOp::Write => {
                    // SAFETY: as above.
                    let src = unsafe { std::slice::from_raw_parts(seg.ptr(), seg.len()) };
                    self.write_from(at, src);
                }
            }
            at += seg.len() as u64;
        }
    }
}

impl BlockDev for MemDev {
    fn engine_name(&self) -> &'static str {
        "mem"
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn is_direct(&self) -> bool {
        false
    }

    fn submit(&self, batch: &mut BioBatch) -> Result<(), DevError> {
        check_batch(batch, &IoLimits::buffered(self.size))?;
        for (i, bio) in batch.bios().iter().enumerate() {
            self.do_bio(bio.op, bio.offset, batch.segs(i));
            match bio.op {
                BioOp::Read => self.counters.read(bio.len),
                BioOp::Write => self.counters.write(bio.len),
            }
        }
        for i in 0..batch.len() {
            batch.set_status(i, Ok(()));
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), DevError> {
        self.counters.flush();
        Ok(())
    }

    fn stats(&self) -> DevStats {
        self.counters.snapshot()
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
        let mut batch = BioBatch::new();
        batch.start(BioOp::Read, 0);
        // SAFETY: `zeros` outlives the batch.
        unsafe { assert!(batch.add_seg(zeros.as_mut_slice().as_mut_ptr(), 1024)) };
        dev.submit(&mut batch).unwrap();
        assert!(zeros.as_mut_slice().iter().all(|&b| b == 0));
        assert!(dev.chunks[4].read().unwrap().is_none(), "an unwritten chunk stays unallocated");
    }

    #[test]
    fn odd_sizes_are_refused() {
        assert!(matches!(MemDev::new(0), Err(DevError::BadRequest(_))));
        let Err(DevError::BadRequest(m)) = MemDev::new(1000) else { panic!("accepted 1000") };
        assert_eq!(m, "RAM device size 1000 must be a positive multiple of 512 bytes");
        // A short last chunk works.
        let dev = MemDev::new(CHUNK_SIZE as u64 + 512).unwrap();
        let mut buf = testutil::AlignedBuf::new(1024);
        buf.fill_pattern(3);
        testutil::write_read_back(&dev, CHUNK_SIZE as u64 - 512, &mut [buf.as_mut_slice()]).unwrap();
    }
}
