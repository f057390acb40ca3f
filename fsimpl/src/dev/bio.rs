//! Bios: one I/O of the filesystem to the block layer (`struct bio`), a list of memory
//! segments (`bio_vec`s) over a contiguous device range, completed asynchronously by calling
//! its end_io (`bi_end_io`) from whatever context the device completes in.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// Most segments one bio may carry (`BIO_MAX_VECS`).
pub const BIO_MAX_VECS: usize = 256;

/// Direction of a bio (`REQ_OP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BioOp {
    /// Read from the device into the segments (`REQ_OP_READ`).
    Read,
    /// Write the segments to the device (`REQ_OP_WRITE`).
    Write,
    /// Make completed writes durable; no data (`REQ_OP_FLUSH`, an empty `REQ_PREFLUSH`).
    Flush,
}

impl BioOp {
    /// "read", "write" or "flush".
    pub fn name(self) -> &'static str {
        match self {
            BioOp::Read => "read",
            BioOp::Write => "write",
            BioOp::Flush => "flush",
        }
    }
}

/// One memory segment of a bio (`struct bio_vec`): `len` bytes at `ptr`, usually in a folio.
#[derive(Clone, Copy, Debug)]
pub struct IoSeg {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: an IoSeg is only an address and a length; whoever adds it to a bio keeps the memory
// alive and unaliased until the bio completes (the contract of `Bio::add_seg`).
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

/// What runs when a bio completes (`bi_end_io`). Called once per bio, from the device's
/// completion context (its completion thread, or the submitter for devices that complete
/// inline): it must not sleep on anything the submitter may hold. Work that may sleep goes
/// to a workqueue, as ext4 and iomap do with unwritten-extent conversion.
pub trait BioEndIo: Send + Sync {
    /// The bio is done; its status says how. The handler owns it now.
    fn bio_end_io(&self, bio: Box<Bio>);
}

/// One I/O: `op` over `len` bytes at device byte `offset`, its memory in segments.
pub struct Bio {
    /// Read, write or flush.
    pub op: BioOp,
    /// Force unit access (`REQ_FUA`): the write is durable when it completes.
    pub fua: bool,
    /// Device byte offset (`bi_iter.bi_sector << 9`).
    pub offset: u64,
    len: u64,
    segs: Vec<IoSeg>,
    /// 0, or the errno of the first failure (`bi_status`).
    status: AtomicI32,
    /// Pieces of the bio still in flight after the block layer split it (`__bi_remaining`).
    remaining: AtomicU32,
    /// What runs at completion (`bi_end_io`); none: the bio is just freed.
    pub end_io: Option<Arc<dyn BioEndIo>>,
    /// The submitter's cookie for its end_io (`bi_private`).
    pub private: usize,
}

impl std::fmt::Debug for Bio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bio")
            .field("op", &self.op)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("segs", &self.segs.len())
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Bio {
    /// A new empty bio (`bio_alloc`).
    pub fn new(op: BioOp, offset: u64) -> Box<Bio> {
        Box::new(Bio {
            op,
            fua: false,
            offset,
            len: 0,
            segs: Vec::new(),
            status: AtomicI32::new(0),
            remaining: AtomicU32::new(0),
            end_io: None,
            private: 0,
        })
    }

    /// A new bio with its completion set (`bio_alloc` then `bi_end_io` / `bi_private`).
    pub fn with_end_io(op: BioOp, offset: u64, end_io: Arc<dyn BioEndIo>, private: usize) -> Box<Bio> {
        let mut b = Bio::new(op, offset);
        b.end_io = Some(end_io);
        b.private = private;
        b
    }

    /// Total length in bytes (`bi_iter.bi_size`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the bio carries no data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// One past the last device byte.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }

    /// The segments.
    pub fn segs(&self) -> &[IoSeg] {
        &self.segs
    }

    /// Appends `len` bytes at `ptr` (`bio_add_page` / `bio_add_folio`), merging with the last
    /// segment when the memory is contiguous. Returns false, adding nothing, when the memory
    /// does not merge and the bio already holds [`BIO_MAX_VECS`] segments: the caller submits
    /// it and starts another.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid, and must not be written by anyone else (for a write) or
    /// accessed by anyone else (for a read), until the bio has completed.
    pub unsafe fn add_seg(&mut self, ptr: *mut u8, len: usize) -> bool {
        if let Some(last) = self.segs.last_mut()
            && last.ptr.wrapping_add(last.len) == ptr
        {
            last.len += len;
            self.len += len as u64;
            return true;
        }
        if self.segs.len() >= BIO_MAX_VECS {
            return false;
        }
        self.segs.push(IoSeg { ptr, len });
        self.len += len as u64;
        true
    }

    /// Whether the bio can take one more segment that does not merge (`bio_full`).
    pub fn full(&self) -> bool {
        self.segs.len() >= BIO_MAX_VECS
    }

    /// `Ok(())`, or the errno the bio failed with.
    pub fn status(&self) -> Result<(), i32> {
        match self.status.load(Ordering::Acquire) {
            0 => Ok(()),
            e => Err(e),
        }
    }

    /// Records a failure; the first one is kept.
    pub fn set_error(&self, errno: i32) {
        let _ = self.status.compare_exchange(0, errno.max(1), Ordering::AcqRel, Ordering::Acquire);
    }

    /// Sets how many pieces the block layer split the bio into.
    pub(crate) fn set_remaining(&self, n: u32) {
        self.remaining.store(n, Ordering::Relaxed);
    }

    /// One piece is done; true for the last (`bio_remaining_done`).
    pub(crate) fn piece_done(&self) -> bool {
        self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// Ends a bio: runs its end_io, or frees it when it has none (`bio_endio`).
pub fn bio_endio(bio: Box<Bio>) {
    match bio.end_io.clone() {
        Some(h) => h.bio_end_io(bio),
        None => drop(bio),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_segments_merge_and_bio_max_vecs_holds() {
        let mut mem = vec![0u8; 16384];
        let base = mem.as_mut_ptr();
        let mut bio = Bio::new(BioOp::Write, 0);
        unsafe {
            assert!(bio.add_seg(base, 4096));
            assert!(bio.add_seg(base.add(4096), 4096));
        }
        assert_eq!(bio.segs().len(), 1);
        assert_eq!(bio.len(), 8192);
        let mut other = Bio::new(BioOp::Read, 0);
        for i in 0..BIO_MAX_VECS {
            // Every other 16 bytes: never contiguous.
            assert!(unsafe { other.add_seg(base.add(i * 32), 16) });
        }
        assert!(other.full());
        assert!(!unsafe { other.add_seg(base.add(9000), 16) });
        // Contiguous memory still merges into a full bio.
        assert!(unsafe { other.add_seg(base.add((BIO_MAX_VECS - 1) * 32 + 16), 16) });
        other.set_error(5);
        other.set_error(28);
        assert_eq!(other.status(), Err(5), "the first error is kept");
    }
}
