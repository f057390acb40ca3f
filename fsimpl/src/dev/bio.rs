//! Bios: device requests as scatter/gather lists, gathered into reusable batches.

/// Most segments one bio may carry, like the kernel's `BIO_MAX_VECS`.
pub const BIO_MAX_VECS: usize = 256;

/// Direction of a bio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BioOp {
    /// Read from the device into the segments.
    Read,
    /// Write the segments to the device.
    Write,
}

/// One memory segment of a bio, a `bio_vec`: `len` bytes at `ptr`, usually inside a folio.
#[derive(Clone, Copy, Debug)]
pub struct IoSeg {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: an IoSeg is only an address and a length; the contract of `BioBatch::add_seg` makes
// whoever adds it keep the memory alive and unaliased until the batch is submitted and done.
unsafe impl Send for IoSeg {}
unsafe impl Sync for IoSeg {}

impl IoSeg {
    /// Start of the segment.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One device request: `op` over `len` bytes at device byte `offset`, its memory in segments.
#[derive(Clone, Copy, Debug)]
pub struct Bio {
    /// Read or write.
    pub op: BioOp,
    /// Device byte offset (512-byte aligned).
    pub offset: u64,
    /// Total length in bytes (the sum of the segments).
    pub len: u64,
    seg_start: u32,
    seg_end: u32,
}

/// A batch of bios submitted together, kept and reused so that building I/O does not allocate
/// once the batch is warm. After [`BlockDev::submit`](super::BlockDev::submit), each bio has a
/// status: `Ok(())` or the errno it failed with.
#[derive(Debug, Default)]
pub struct BioBatch {
    bios: Vec<Bio>,
    segs: Vec<IoSeg>,
    status: Vec<Result<(), i32>>,
}

impl BioBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.bios.clear();
        self.segs.clear();
        self.status.clear();
    }

    /// Number of bios.
    pub fn len(&self) -> usize {
        self.bios.len()
    }

    /// Whether there are no bios.
    pub fn is_empty(&self) -> bool {
        self.bios.is_empty()
    }

    /// Starts a new bio at device byte `offset`; later segments go into it.
    pub fn start(&mut self, op: BioOp, offset: u64) {
        let at = self.segs.len() as u32;
        self.bios.push(Bio { op, offset, len: 0, seg_start: at, seg_end: at });
        self.status.push(Ok(()));
    }

    /// The device byte offset just past the last bio, if that bio has `op`: where a segment
    /// would have to start to be merged into it.
    pub fn next_offset(&self, op: BioOp) -> Option<u64> {
        self.bios.last().filter(|b| b.op == op).map(|b| b.offset + b.len)
    }

    /// Whether the last bio can take one more segment (`bio_full` is the opposite).
    pub fn last_has_room(&self) -> bool {
        self.bios.last().is_some_and(|b| ((b.seg_end - b.seg_start) as usize) < BIO_MAX_VECS)
    }

    /// Appends `len` bytes at `ptr` to the last bio, merging with its last segment when the
    /// memory is contiguous (as `bio_add_folio` does for adjacent pages).
    ///
    /// Returns false, adding nothing, when there is no bio or the last bio already holds
    /// [`BIO_MAX_VECS`] segments and the memory does not merge; the caller starts a new bio.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid, and must not be accessed by anyone else, until the batch
    /// has been submitted and has completed (or is cleared). For a write it is read, for a read
    /// it is written.
    pub unsafe fn add_seg(&mut self, ptr: *mut u8, len: usize) -> bool {
        let Some(bio) = self.bios.last_mut() else {
            return false;
        };
        let nsegs = (bio.seg_end - bio.seg_start) as usize;
        if nsegs > 0 {
            let last = self.segs.last_mut().expect("bio has segments");
            // SAFETY: only compares addresses; nothing is dereferenced.
            if last.ptr.wrapping_add(last.len) == ptr {
                last.len += len;
                bio.len += len as u64;
                return true;
            }
        }
        if nsegs >= BIO_MAX_VECS {
            return false;
        }
        self.segs.push(IoSeg { ptr, len });
        bio.seg_end += 1;
        bio.len += len as u64;
        true
    }

    /// The bios.
    pub fn bios(&self) -> &[Bio] {
        &self.bios
    }

    /// The segments of bio `i`.
    pub fn segs(&self, i: usize) -> &[IoSeg] {
        let b = &self.bios[i];
        &self.segs[b.seg_start as usize..b.seg_end as usize]
    }

    /// Status of bio `i` after submission: `Err(errno)` if it failed.
    pub fn status(&self, i: usize) -> Result<(), i32> {
        self.status[i]
    }

    /// Sets the status of bio `i`; for engines.
    pub fn set_status(&mut self, i: usize, status: Result<(), i32>) {
        self.status[i] = status;
    }

    /// Every segment of the batch, bio after bio; bio `i` owns [`BioBatch::seg_range`]`(i)`.
    pub(crate) fn all_segs(&self) -> &[IoSeg] {
        &self.segs
    }

    /// Where the segments of bio `i` lie in [`BioBatch::all_segs`].
    pub(crate) fn seg_range(&self, i: usize) -> std::ops::Range<usize> {
        let b = &self.bios[i];
        b.seg_start as usize..b.seg_end as usize
    }

    /// The first failed bio and its errno, if any.
    pub fn first_error(&self) -> Option<(usize, i32)> {
        self.status.iter().enumerate().find_map(|(i, s)| s.err().map(|e| (i, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_segments_merge_and_bio_max_vecs_holds() {
        let mut mem = vec![0u8; 8192];
        let base = mem.as_mut_ptr();
        let mut batch = BioBatch::new();
        batch.start(BioOp::Write, 0);
        unsafe {
            assert!(batch.add_seg(base, 4096));
            assert!(batch.add_seg(base.add(4096), 4096));
        }
        assert_eq!(batch.segs(0).len(), 1);
        assert_eq!(batch.bios()[0].len, 8192);
        assert_eq!(batch.next_offset(BioOp::Write), Some(8192));
        assert_eq!(batch.next_offset(BioOp::Read), None);

        let mut other = BioBatch::new();
        other.start(BioOp::Read, 0);
        for i in 0..BIO_MAX_VECS {
            // Every other 16 bytes: never contiguous.
            assert!(unsafe { other.add_seg(base.add(i * 32), 16) });
        }
        assert!(!other.last_has_room());
        assert!(!unsafe { other.add_seg(base.add(8000), 16) });
        // Contiguous memory still merges into a full bio.
        assert!(unsafe { other.add_seg(base.add((BIO_MAX_VECS - 1) * 32 + 16), 16) });
    }
}
