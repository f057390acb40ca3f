//! The psync engine: one `preadv(2)` or `pwritev(2)` per bio, looping on short transfers, and
//! `fsync(2)` per flush — fio's `pvsync` ioengine. Chosen by [`Engine::Psync`](super::Engine)
//! or automatically when io_uring cannot be set up.

use std::fs::File;
use std::os::unix::io::AsRawFd;

use super::backing::BackingFile;
use super::check::{IoLimits, check_batch};
use super::iovec::{EMPTY_IOVEC, iov_advance, iovec_of};
use super::{BIO_MAX_VECS, BioBatch, BioOp, BlockDev, Counters, DevError, DevStats, IoSeg};

/// A [`BlockDev`] doing synchronous vectored I/O on a file or block device.
#[derive(Debug)]
pub struct PsyncDev {
    file: File,
    direct: bool,
    limits: IoLimits,
    counters: Counters,
}

impl PsyncDev {
    /// The engine over an opened backing store.
    pub(crate) fn new(backing: BackingFile) -> Self {
        let BackingFile { file, direct, limits } = backing;
        PsyncDev { file, direct, limits, counters: Counters::default() }
    }

    /// Transfers one bio of `len` bytes at `offset` with `segs` as its memory; the errno on
    /// failure. A zero-length transfer before the end is EIO (the backing store shrank).
    fn do_bio(&self, op: BioOp, offset: u64, len: u64, segs: &[IoSeg]) -> Result<(), i32> {
        // On the stack: no allocation per bio.
        let mut iov = [EMPTY_IOVEC; BIO_MAX_VECS];
        for (v, seg) in iov.iter_mut().zip(segs) {
            *v = iovec_of(seg);
        }
        let iov = &mut iov[..segs.len()];
        let fd = self.file.as_raw_fd();
        let (mut first, mut done) = (0usize, 0u64);
        while done < len {
            let rest = &iov[first..];
            let at = (offset + done) as libc::off_t;
            // SAFETY: the iovecs describe bio segments, valid and ours alone until the batch
            // completes (the contract of `BioBatch::add_seg`); `rest` has at most
            // BIO_MAX_VECS (< IOV_MAX) entries.
            let n = unsafe {
                match op {
                    BioOp::Read => libc::preadv(fd, rest.as_ptr(), rest.len() as i32, at),
                    BioOp::Write => libc::pwritev(fd, rest.as_ptr(), rest.len() as i32, at),
                }
            };
            if n < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
                if errno == libc::EINTR {
                    continue;
                }
                return Err(errno);
            }
            if n == 0 {
                return Err(libc::EIO);
            }
            done += n as u64;
            first += iov_advance(&mut iov[first..], n as usize);
        }
        Ok(())
    }
}

impl BlockDev for PsyncDev {
    fn engine_name(&self) -> &'static str {
        "psync"
    }

    fn size(&self) -> u64 {
        self.limits.size
    }

    fn is_direct(&self) -> bool {
        self.direct
    }

    fn submit(&self, batch: &mut BioBatch) -> Result<(), DevError> {
        check_batch(batch, &self.limits)?;
        for i in 0..batch.len() {
            let bio = batch.bios()[i];
            let status = self.do_bio(bio.op, bio.offset, bio.len, batch.segs(i));
            match bio.op {
                BioOp::Read => self.counters.read(bio.len),
                BioOp::Write => self.counters.write(bio.len),
            }
            if status.is_err() {
                self.counters.error();
            }
            batch.set_status(i, status);
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), DevError> {
        self.counters.flush();
        self.file.sync_all().map_err(|source| {
            self.counters.error();
            DevError::Io { op: "flush", offset: 0, source }
        })
    }

    fn stats(&self) -> DevStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use crate::dev::testutil::{self, FileEngine};

    #[test]
    fn psync_passes_the_engine_suite_on_a_real_file() {
        testutil::file_engine_suite(FileEngine::Psync);
    }

    #[test]
    fn psync_bio_over_2gib_completes_through_short_transfers() {
        testutil::huge_bio_is_resubmitted(FileEngine::Psync);
    }

    #[test]
    fn psync_does_no_heap_allocation_per_bio() {
        testutil::no_allocation_in_steady_state(FileEngine::Psync);
    }
}
