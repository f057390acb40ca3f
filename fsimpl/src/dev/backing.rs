//! The backing store of the psync and uring engines: an image file or a block device, opened
//! with O_DIRECT where it works. Stands for `open(2)` with `O_DIRECT`, `statx(2)` with
//! `STATX_DIOALIGN`, `ftruncate(2)` and the `BLKGETSIZE64` ioctl.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::limits::SECTOR_SIZE;
use super::{Backing, DevError};

/// `BLKGETSIZE64`: the size of a block device in bytes (`_IOR(0x12, 114, size_t)`).
const BLKGETSIZE64: libc::Ioctl = libc::_IOR::<u64>(0x12, 114);

/// An open backing store and what I/O it accepts.
#[derive(Debug)]
pub(crate) struct BackingFile {
    /// The open file or block device.
    pub file: File,
    /// Whether it was opened (and kept) with O_DIRECT.
    pub direct: bool,
    /// Size in bytes.
    pub size: u64,
    /// Alignment of offsets and lengths.
    pub offset_align: u32,
    /// Alignment of memory.
    pub mem_align: u32,
}

/// Kind of backing store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file (an image).
    Regular,
    /// A block device node.
    Block,
}

/// The direct-I/O alignments that `statx(STATX_DIOALIGN)` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DioAlign {
    /// `stx_dio_mem_align`: alignment of user memory.
    pub mem: u32,
    /// `stx_dio_offset_align`: alignment of file offsets and lengths; 0 means no direct I/O.
    pub offset: u32,
}

/// Outcome of [`dio_decision`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DioDecision {
    /// Keep O_DIRECT; I/O must have these alignments.
    Direct {
        /// Offset and length alignment.
        offset_align: u32,
        /// Memory alignment.
        mem_align: u32,
    },
    /// Drop O_DIRECT, for this reason (one line, without the path).
    Buffered(String),
}

/// Decides whether to keep O_DIRECT on a store of `kind` whose statx DIO alignment is `dio`
/// (`None`: the kernel or filesystem did not report it), when the filesystem promises to align
/// its I/O to `min_io_align` bytes.
pub(crate) fn dio_decision(kind: Kind, dio: Option<DioAlign>, min_io_align: u32) -> DioDecision {
    // Not reported (or 0 on a block device, which always does direct I/O): assume the
    // classic O_DIRECT rule, sector-aligned offsets, lengths and memory.
    let unknown = DioDecision::Direct { offset_align: SECTOR_SIZE, mem_align: SECTOR_SIZE };
    let Some(dio) = dio else { return unknown };
    if dio.offset == 0 {
        return match kind {
            Kind::Regular => DioDecision::Buffered("statx reports no direct I/O support".to_string()),
            Kind::Block => unknown,
        };
    }
    if dio.offset > min_io_align || dio.mem > min_io_align {
        return DioDecision::Buffered(format!(
            "O_DIRECT needs {}-byte offset and {}-byte memory alignment, more than the \
             {min_io_align}-byte alignment the filesystem guarantees",
            dio.offset, dio.mem
        ));
    }
    DioDecision::Direct { offset_align: dio.offset.max(SECTOR_SIZE), mem_align: dio.mem.max(1) }
}

/// Opens `backing` (a file or a block device), with O_DIRECT if `direct` and the store allows
/// it for I/O aligned to `min_io_align`; pushes a one-line notice when it falls back.
pub(crate) fn open_backing(
    backing: &Backing,
    direct: bool,
    min_io_align: u32,
    notices: &mut Vec<String>,
) -> Result<BackingFile, DevError> {
    let (path, kind, want_size) = match backing {
        Backing::File { path, size } => (path, Kind::Regular, Some(*size)),
        Backing::BlockDevice { path } => (path, Kind::Block, None),
        Backing::Mem { .. } => {
            return Err(DevError::BadRequest("a RAM backing works only with the mem engine".to_string()));
        }
    };
    if let Some(size) = want_size
        && (size == 0 || !size.is_multiple_of(u64::from(SECTOR_SIZE)))
    {
        return Err(DevError::BadRequest(format!(
            "device size {size} for {} must be a positive multiple of {SECTOR_SIZE} bytes",
            path.display()
        )));
    }
    let open_err = |source: io::Error| DevError::Open { path: path.clone(), source };

    let mut is_direct = direct;
    let file = match open_file(path, kind, direct) {
        Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
            notices.push(format!("{}: O_DIRECT refused ({e}): using buffered I/O", path.display()));
            is_direct = false;
            open_file(path, kind, false)
        }
        other => other,
    }
    .map_err(open_err)?;
    check_kind(&file, path, kind)?;

    let size = match want_size {
        Some(size) => {
            let current = file.metadata().map_err(open_err)?.len();
            if current < size {
                // ftruncate(2): grows sparsely; an existing larger image keeps its bytes.
                file.set_len(size).map_err(open_err)?;
            }
            size
        }
        None => block_device_size(&file).map_err(open_err)?,
    };

    let (mut offset_align, mut mem_align) = (SECTOR_SIZE, 1);
    if is_direct {
        match dio_decision(kind, statx_dio_align(&file), min_io_align) {
            DioDecision::Direct { offset_align: o, mem_align: m } => {
                (offset_align, mem_align) = (o, m);
            }
            DioDecision::Buffered(why) => {
                clear_o_direct(&file).map_err(open_err)?;
                notices.push(format!("{}: {why}: using buffered I/O", path.display()));
                is_direct = false;
            }
        }
    }
    Ok(BackingFile { file, direct: is_direct, size, offset_align, mem_align })
}

/// `open(2)` read-write; a regular file is created if missing, a block device is opened
/// exclusively (`O_EXCL`: fails with EBUSY while it is mounted).
fn open_file(path: &Path, kind: Kind, direct: bool) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true);
    let mut flags = if direct { libc::O_DIRECT } else { 0 };
    match kind {
        Kind::Regular => {
            opts.create(true).mode(0o644);
        }
        Kind::Block => flags |= libc::O_EXCL,
    }
    opts.custom_flags(flags).open(path)
}

fn check_kind(file: &File, path: &Path, kind: Kind) -> Result<(), DevError> {
    let ft = file.metadata().map_err(|source| DevError::Open { path: path.to_path_buf(), source })?.file_type();
    let problem = match kind {
        Kind::Regular if ft.is_block_device() => "is a block device: give it as a block device",
        Kind::Regular if !ft.is_file() => "is not a regular file",
        Kind::Block if !ft.is_block_device() => "is not a block device: give an image file as a file backing",
        _ => return Ok(()),
    };
    Err(DevError::BadRequest(format!("{} {problem}", path.display())))
}

/// The size of a block device (`ioctl(BLKGETSIZE64)`).
fn block_device_size(file: &File) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points at `size`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

/// `statx(STATX_DIOALIGN)` on an open file; `None` if the kernel or filesystem does not say.
fn statx_dio_align(file: &File) -> Option<DioAlign> {
    // SAFETY: statx is plain old data; all zeroes is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: an empty C string with AT_EMPTY_PATH names the open fd; `stx` is writable.
    let rc =
        unsafe { libc::statx(file.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_DIOALIGN, &mut stx) };
    (rc == 0 && stx.stx_mask & libc::STATX_DIOALIGN != 0)
        .then_some(DioAlign { mem: stx.stx_dio_mem_align, offset: stx.stx_dio_offset_align })
}

/// Turns O_DIRECT off on an open file (`fcntl(F_SETFL)`), keeping the descriptor (and with
/// it an exclusive block-device open).
fn clear_o_direct(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dio_decision_follows_statx() {
        let d = |mem, offset| Some(DioAlign { mem, offset });
        assert_eq!(
            dio_decision(Kind::Regular, d(4, 512), 4096),
            DioDecision::Direct { offset_align: 512, mem_align: 4 }
        );
        assert_eq!(
            dio_decision(Kind::Regular, d(4096, 4096), 4096),
            DioDecision::Direct { offset_align: 4096, mem_align: 4096 }
        );
        assert_eq!(dio_decision(Kind::Regular, None, 1024), DioDecision::Direct { offset_align: 512, mem_align: 512 });
        assert_eq!(
            dio_decision(Kind::Regular, d(0, 0), 4096),
            DioDecision::Buffered("statx reports no direct I/O support".to_string())
        );
        assert_eq!(dio_decision(Kind::Block, d(0, 0), 4096), DioDecision::Direct { offset_align: 512, mem_align: 512 });
        assert_eq!(
            dio_decision(Kind::Regular, d(512, 4096), 1024),
            DioDecision::Buffered(
                "O_DIRECT needs 4096-byte offset and 512-byte memory alignment, more than the \
                 1024-byte alignment the filesystem guarantees"
                    .to_string()
            )
        );
        assert!(matches!(dio_decision(Kind::Block, d(8192, 512), 4096), DioDecision::Buffered(_)));
    }
}
