//! Checks a batch before any of it is submitted, like the block layer's `bio_check_eod` and
//! the O_DIRECT alignment checks (`blkdev_dio_invalid`): a bad bio is a filesystem bug, caught
//! here with a message that says which bio and what is wrong.

use super::{BioBatch, BioOp, DevError};

/// Smallest alignment of a device offset and length: a sector.
pub(crate) const SECTOR_SIZE: u32 = 512;

/// What a device accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoLimits {
    /// Device size in bytes.
    pub size: u64,
    /// Alignment of bio offsets and lengths, and of segment lengths (at least 512).
    pub offset_align: u32,
    /// Alignment of segment addresses (1 when the memory may be anywhere).
    pub mem_align: u32,
}

impl IoLimits {
    /// Limits of a device whose I/O goes through a page cache or RAM: sector granularity for
    /// offsets and lengths, any memory.
    pub fn buffered(size: u64) -> Self {
        IoLimits { size, offset_align: SECTOR_SIZE, mem_align: 1 }
    }
}

/// Checks every bio of `batch` against `limits`; the first bad one fails the whole batch.
pub(crate) fn check_batch(batch: &BioBatch, limits: &IoLimits) -> Result<(), DevError> {
    let align = u64::from(limits.offset_align);
    for (i, bio) in batch.bios().iter().enumerate() {
        let op = match bio.op {
            BioOp::Read => "read",
            BioOp::Write => "write",
        };
        let what = || format!("bio {i} ({op} of {} bytes at byte {})", bio.len, bio.offset);
        let bad = |why: String| Err(DevError::BadRequest(format!("{}: {why}", what())));
        if bio.len == 0 {
            return bad("it is empty".to_string());
        }
        if !bio.offset.is_multiple_of(align) || !bio.len.is_multiple_of(align) {
            return bad(format!("offset and length must be multiples of {align} bytes"));
        }
        match bio.offset.checked_add(bio.len) {
            Some(end) if end <= limits.size => {}
            _ => {
                return bad(format!("it ends beyond the device end at byte {}", limits.size));
            }
        }
        if limits.mem_align > 1 || limits.offset_align > SECTOR_SIZE {
            check_segs(batch, i, limits).or_else(bad)?;
        }
    }
    Ok(())
}

/// The O_DIRECT constraints on the memory of bio `i`: each segment's address aligned to
/// `mem_align` and its length to `offset_align`.
fn check_segs(batch: &BioBatch, i: usize, limits: &IoLimits) -> Result<(), String> {
    for (s, seg) in batch.segs(i).iter().enumerate() {
        let addr = seg.ptr() as usize;
        if !addr.is_multiple_of(limits.mem_align as usize) {
            return Err(format!(
                "segment {s} at address {addr:#x} is not aligned to {} bytes, as O_DIRECT on \
                 this device needs",
                limits.mem_align
            ));
        }
        if !seg.len().is_multiple_of(limits.offset_align as usize) {
            return Err(format!(
                "segment {s} is {} bytes long, not a multiple of {} bytes, as O_DIRECT on this \
                 device needs",
                seg.len(),
                limits.offset_align
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_bio(op: BioOp, offset: u64, mem: &mut [u8]) -> BioBatch {
        let mut batch = BioBatch::new();
        batch.start(op, offset);
        // SAFETY: `mem` outlives the batch, which is never submitted.
        assert!(unsafe { batch.add_seg(mem.as_mut_ptr(), mem.len()) });
        batch
    }

    fn message(r: Result<(), DevError>) -> String {
        match r {
            Err(DevError::BadRequest(m)) => m,
            other => panic!("expected BadRequest, got {other:?}"),
        }
    }

    #[test]
    fn accepts_sector_aligned_requests_inside_the_device() {
        let mut mem = vec![0u8; 1024];
        let limits = IoLimits::buffered(4096);
        assert!(check_batch(&one_bio(BioOp::Write, 3072, &mut mem), &limits).is_ok());
    }

    #[test]
    fn rejects_misaligned_offset_and_length_and_out_of_range() {
        let limits = IoLimits::buffered(4096);
        let mut mem = vec![0u8; 1024];
        let m = message(check_batch(&one_bio(BioOp::Read, 100, &mut mem), &limits));
        assert_eq!(
            m,
            "bio 0 (read of 1024 bytes at byte 100): offset and length must be multiples of 512 \
             bytes"
        );
        let mut odd = vec![0u8; 1000];
        let m = message(check_batch(&one_bio(BioOp::Write, 0, &mut odd), &limits));
        assert!(m.contains("multiples of 512"), "{m}");
        let m = message(check_batch(&one_bio(BioOp::Write, 3584, &mut mem), &limits));
        assert_eq!(m, "bio 0 (write of 1024 bytes at byte 3584): it ends beyond the device end at byte 4096");
        let m = message(check_batch(&one_bio(BioOp::Write, u64::MAX - 511, &mut mem), &limits));
        assert!(m.contains("beyond the device end"), "{m}");
        let mut batch = BioBatch::new();
        batch.start(BioOp::Read, 0);
        assert!(message(check_batch(&batch, &limits)).contains("empty"));
    }

    #[test]
    fn direct_limits_check_segment_addresses_and_lengths() {
        let limits = IoLimits { size: 1 << 20, offset_align: 512, mem_align: 512 };
        let layout = std::alloc::Layout::from_size_align(8192, 4096).unwrap();
        // SAFETY: non-zero size; freed below.
        let base = unsafe { std::alloc::alloc(layout) };
        assert!(!base.is_null());
        let mut batch = BioBatch::new();
        batch.start(BioOp::Write, 0);
        // SAFETY: inside the allocation, which outlives the batch; never submitted.
        unsafe { assert!(batch.add_seg(base, 512)) };
        assert!(check_batch(&batch, &limits).is_ok());
        batch.clear();
        batch.start(BioOp::Write, 0);
        // SAFETY: as above.
        unsafe { assert!(batch.add_seg(base.add(8), 512)) };
        assert!(message(check_batch(&batch, &limits)).contains("not aligned to 512 bytes"));
        batch.clear();
        batch.start(BioOp::Write, 0);
        // SAFETY: as above; two segments that do not merge, each 256 bytes long.
        unsafe {
            assert!(batch.add_seg(base, 256));
            assert!(batch.add_seg(base.add(4096), 256));
        }
        assert!(message(check_batch(&batch, &limits)).contains("segment 0 is 256 bytes long"));
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(base, layout) };
    }
}
