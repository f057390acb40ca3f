//! What the block layer checks before it takes a bio (`submit_bio_noacct`,
//! `bio_check_eod`, and O_DIRECT's alignment rules for a file): in range, aligned to the
//! logical block size, segments aligned as direct I/O needs.

use super::bio::{Bio, BioOp};
use super::limits::QueueLimits;

/// Why `bio` cannot go to a device with `limits`, as one line; `Ok` when it can.
pub(crate) fn check_bio(bio: &Bio, limits: &QueueLimits) -> Result<(), String> {
    if bio.op == BioOp::Flush {
        return Ok(());
    }
    let align = u64::from(limits.logical_block_size);
    let what = || format!("{} of {} bytes at byte {}", bio.op.name(), bio.len(), bio.offset);
    if bio.is_empty() {
        return Err(format!("{}: it is empty", what()));
    }
    if !bio.offset.is_multiple_of(align) || !bio.len().is_multiple_of(align) {
        return Err(format!("{}: offset and length must be multiples of {align} bytes", what()));
    }
    match bio.offset.checked_add(bio.len()) {
        Some(end) if end <= limits.size => {}
        _ => return Err(format!("{}: it ends beyond the device end at byte {}", what(), limits.size)),
    }
    if limits.dma_alignment > 1 || align > 512 {
        for (s, seg) in bio.segs().iter().enumerate() {
            let addr = seg.ptr() as usize;
            if !addr.is_multiple_of(limits.dma_alignment as usize) {
                return Err(format!(
                    "{}: segment {s} at address {addr:#x} is not aligned to {} bytes, as O_DIRECT on \
                     this device needs",
                    what(),
                    limits.dma_alignment
                ));
            }
            if !seg.len().is_multiple_of(align as usize) {
                return Err(format!(
                    "{}: segment {s} is {} bytes long, not a multiple of {align} bytes, as O_DIRECT \
                     on this device needs",
                    what(),
                    seg.len()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_bio(op: BioOp, offset: u64, mem: &mut [u8]) -> Box<Bio> {
        let mut bio = Bio::new(op, offset);
        // SAFETY: never submitted.
        assert!(unsafe { bio.add_seg(mem.as_mut_ptr(), mem.len()) });
        bio
    }

    fn buffered(size: u64) -> QueueLimits {
        QueueLimits::loop_defaults(size)
    }

    #[test]
    fn accepts_sector_aligned_requests_inside_the_device() {
        let mut mem = vec![0u8; 1024];
        assert!(check_bio(&one_bio(BioOp::Write, 3072, &mut mem), &buffered(4096)).is_ok());
    }

    #[test]
    fn rejects_misaligned_offset_and_length_and_out_of_range() {
        let limits = buffered(4096);
        let mut mem = vec![0u8; 1024];
        let m = check_bio(&one_bio(BioOp::Read, 100, &mut mem), &limits).unwrap_err();
        assert_eq!(m, "read of 1024 bytes at byte 100: offset and length must be multiples of 512 bytes");
        let mut odd = vec![0u8; 1000];
        let m = check_bio(&one_bio(BioOp::Write, 0, &mut odd), &limits).unwrap_err();
        assert!(m.contains("multiples of 512"), "{m}");
        let m = check_bio(&one_bio(BioOp::Write, 3584, &mut mem), &limits).unwrap_err();
        assert_eq!(m, "write of 1024 bytes at byte 3584: it ends beyond the device end at byte 4096");
        let m = check_bio(&one_bio(BioOp::Write, u64::MAX - 511, &mut mem), &limits).unwrap_err();
        assert!(m.contains("beyond the device end"), "{m}");
        assert!(check_bio(&Bio::new(BioOp::Read, 0), &limits).unwrap_err().contains("empty"));
        assert!(check_bio(&Bio::new(BioOp::Flush, 0), &limits).is_ok());
    }

    #[test]
    fn direct_limits_check_segment_addresses_and_lengths() {
        let limits = QueueLimits { dma_alignment: 512, ..buffered(1 << 20) };
        let layout = std::alloc::Layout::from_size_align(8192, 4096).unwrap();
        // SAFETY: non-zero size; freed below.
        let base = unsafe { std::alloc::alloc(layout) };
        assert!(!base.is_null());
        let mk = |segs: &[(usize, usize)]| {
            let mut bio = Bio::new(BioOp::Write, 0);
            for &(off, len) in segs {
                // SAFETY: inside the allocation, which outlives the bio; never submitted.
                unsafe { assert!(bio.add_seg(base.add(off), len)) };
            }
            bio
        };
        assert!(check_bio(&mk(&[(0, 512)]), &limits).is_ok());
        assert!(check_bio(&mk(&[(8, 512)]), &limits).unwrap_err().contains("not aligned to 512 bytes"));
        let four_k = QueueLimits { logical_block_size: 4096, ..limits };
        let m = check_bio(&mk(&[(0, 2048), (4096, 2048)]), &four_k).unwrap_err();
        assert!(m.contains("segment 0 is 2048 bytes long"), "{m}");
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(base, layout) };
    }
}
