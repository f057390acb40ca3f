//! Waiting for bios (`submit_bio_wait`), and whole-buffer reads and writes built on it, for
//! metadata I/O and tests.

use super::blk_mq::WaitBio;
use super::check::check_bio;
use super::{Bio, BioOp, BlockDev, DevError};
use std::sync::Arc;

/// Submits `bio` and sleeps until it ends (`submit_bio_wait`); gives it back with its status.
/// A bio the device cannot take is refused before anything is submitted.
pub fn submit_bio_wait(dev: &dyn BlockDev, mut bio: Box<Bio>) -> Result<Box<Bio>, DevError> {
    check_bio(&bio, &dev.limits()).map_err(DevError::BadRequest)?;
    let done = Arc::new(WaitBio::default());
    bio.end_io = Some(done.clone());
    dev.submit_bio(bio);
    let mut bio = done.wait();
    bio.end_io = None;
    Ok(bio)
}

/// Submits every bio and waits for all of them; their statuses, in order. A batch holding a
/// bio the device cannot take is refused as a whole, before anything is submitted.
pub fn submit_all_wait(dev: &dyn BlockDev, bios: Vec<Box<Bio>>) -> Result<Vec<Result<(), i32>>, DevError> {
    let limits = dev.limits();
    for (i, b) in bios.iter().enumerate() {
        check_bio(b, &limits).map_err(|m| DevError::BadRequest(format!("bio {i}: {m}")))?;
    }
    let waits: Vec<Arc<WaitBio>> = bios
        .into_iter()
        .map(|mut b| {
            let w = Arc::new(WaitBio::default());
            b.end_io = Some(w.clone());
            dev.submit_bio(b);
            w
        })
        .collect();
    Ok(waits.iter().map(|w| w.wait().status()).collect())
}

fn rw_at(dev: &dyn BlockDev, op: BioOp, offset: u64, ptr: *mut u8, len: usize) -> Result<(), DevError> {
    let mut bio = Bio::new(op, offset);
    // SAFETY: the caller's buffer outlives the bio, which has ended when this returns.
    unsafe { bio.add_seg(ptr, len) };
    let bio = submit_bio_wait(dev, bio)?;
    bio.status().map_err(|errno| DevError::Io {
        op: op.name(),
        offset,
        source: std::io::Error::from_raw_os_error(errno),
    })
}

/// Reads `buf.len()` bytes at device byte `offset`, one bio.
pub fn read_at(dev: &dyn BlockDev, offset: u64, buf: &mut [u8]) -> Result<(), DevError> {
    rw_at(dev, BioOp::Read, offset, buf.as_mut_ptr(), buf.len())
}

/// Writes `buf` at device byte `offset`, one bio.
pub fn write_at(dev: &dyn BlockDev, offset: u64, buf: &[u8]) -> Result<(), DevError> {
    rw_at(dev, BioOp::Write, offset, buf.as_ptr().cast_mut(), buf.len())
}
