//! fio's `e4defrag` engine (engines/e4defrag.c): each write moves its range of the file to
//! the same blocks of a donor file with ext4's `EXT4_IOC_MOVE_EXT`, as e4defrag(8) does; the
//! donor is allocated whole at the start, or (`inplace=1`) range by range and truncated after
//! each move. Reads and trims are EINVAL. It needs ext4 under a kernel target.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Engine, IoKind, IoReq, IoResult, KernelFds, Queued};
use crate::targets::TargetError;

/// ext4's `struct move_extent` (fs/ext4/ext4.h).
#[repr(C)]
#[derive(Default)]
struct MoveExtent {
    reserved: u32,
    donor_fd: u32,
    orig_start: u64,
    donor_start: u64,
    len: u64,
    moved_len: u64,
}

/// `EXT4_IOC_MOVE_EXT`: `_IOWR('f', 15, struct move_extent)`.
const EXT4_IOC_MOVE_EXT: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<MoveExtent>() as libc::c_ulong) << 16) | ((b'f' as libc::c_ulong) << 8) | 15;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// An `e4defrag` job thread: its files' descriptors and the donor.
pub struct DefragEngine {
    fds: Vec<RawFd>,
    donor: OwnedFd,
    /// The donor's block size (`st_blksize`): moves are in these blocks.
    bsz: u64,
    inplace: bool,
}

impl DefragEngine {
    /// fio's `fio_e4defrag_init`: opens (creates) the donor at `donor`, and unless `inplace`
    /// allocates `len` bytes of it from `start`.
    pub fn new(files: KernelFds, donor: &Path, inplace: bool, start: u64, len: u64) -> Result<Self, TargetError> {
        let c = CString::new(donor.as_os_str().as_bytes())
            .map_err(|_| TargetError::Os { op: "open", errno: libc::EINVAL })?;
        // SAFETY: a NUL-terminated path.
        let fd = crate::targets::cleanup::section(|| unsafe {
            libc::open(c.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644)
        })?;
        if fd < 0 {
            return Err(TargetError::Setup(format!(
                "e4defrag: cannot open the donor {}: {}",
                donor.display(),
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: a new descriptor we own.
        let donor_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY (both): calls on our open descriptor.
        if !inplace && len > 0 && unsafe { libc::fallocate(fd, 0, start as i64, len as i64) } != 0 {
            return Err(TargetError::Os { op: "fallocate donor", errno: errno() });
        }
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(TargetError::Os { op: "fstat donor", errno: errno() });
        }
        Ok(DefragEngine { fds: files.fds, donor: donor_fd, bsz: (st.st_blksize as u64).max(1), inplace })
    }

    /// fio's `fio_e4defrag_queue` for a write of `len` bytes at `off`: the bytes moved.
    fn defrag(&self, fd: RawFd, off: u64, len: u64) -> IoResult {
        let donor = self.donor.as_raw_fd();
        // SAFETY (all calls): on our open descriptors; `me` is a valid move_extent.
        if self.inplace && unsafe { libc::fallocate(donor, 0, off as i64, len as i64) } != 0 {
            return Err(errno());
        }
        let orig_start = off / self.bsz;
        let mut me = MoveExtent {
            donor_fd: donor as u32,
            orig_start,
            donor_start: orig_start,
            len: (off + len).div_ceil(self.bsz) - orig_start,
            ..MoveExtent::default()
        };
        let ret = unsafe { libc::ioctl(fd, EXT4_IOC_MOVE_EXT, &mut me as *mut MoveExtent) };
        let ioctl_err = (ret != 0).then(errno);
        if self.inplace && unsafe { libc::ftruncate(donor, 0) } != 0 && ioctl_err.is_none() {
            return Err(errno());
        }
        if let Some(e) = ioctl_err {
            return Err(e);
        }
        match (me.moved_len * self.bsz).min(len) {
            // Nothing moved: the range is past the end of the file.
            0 => Err(libc::EINVAL),
            moved => Ok(moved),
        }
    }
}

impl Engine for DefragEngine {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        let Some(&fd) = self.fds.get(req.file) else { return Queued::Done(Err(libc::EBADF)) };
        if req.kind != IoKind::Write {
            return Queued::Done(Err(libc::EINVAL));
        }
        Queued::Done(self.defrag(fd, req.offset, req.len as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ioctl_number_is_ext4s() {
        assert_eq!(std::mem::size_of::<MoveExtent>(), 40);
        assert_eq!(EXT4_IOC_MOVE_EXT, 0xc028_660f);
    }
}
