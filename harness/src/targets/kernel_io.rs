//! How a kernel target moves bytes for one file descriptor: `pread(2)`/`pwrite(2)` (fio's
//! `psync` ioengine), or one io_uring `IORING_OP_READ`/`IORING_OP_WRITE` submitted and waited
//! for per call (fio's `io_uring` ioengine at `iodepth=1`); fsync likewise (`fsync(2)` or
//! `IORING_OP_FSYNC`).
//!
//! Each thread has its own ring, made on first use, so threads never wait for each other.
//!
//! O_DIRECT needs the memory, the offset and the length aligned. The caller's offset and length
//! go to the kernel as given (a misaligned one fails with EINVAL, as it does under fio). Its
//! buffer is used as is when page-aligned; otherwise the bytes go through a page-aligned bounce
//! buffer of the calling thread (grown when a larger I/O comes, never shrunk), at the cost of one
//! copy. Nothing is allocated per call once the ring and the bounce buffer exist.

use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use fsimpl::buf::{AlignedBuf, BUF_ALIGN};
use io_uring::{IoUring, opcode, squeue, types};

/// Entries of each thread's ring: one request is in flight at a time.
const RING_ENTRIES: u32 = 2;

/// Most bytes one `read(2)`/`write(2)` moves (`MAX_RW_COUNT`); longer requests come back short.
const MAX_RW_COUNT: usize = 0x7fff_f000;

thread_local! {
    /// This thread's ring (`None` until the first io_uring call).
    static RING: RefCell<Option<IoUring>> = const { RefCell::new(None) };
    /// This thread's O_DIRECT bounce buffer.
    static BOUNCE: RefCell<Option<AlignedBuf>> = const { RefCell::new(None) };
}

/// The errno of a failed syscall or ring setup.
pub(crate) fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// The errno `errno(3)` holds now.
pub(crate) fn last_errno() -> i32 {
    errno_of(&io::Error::last_os_error())
}

/// Makes this thread's ring if it has none: fails with the errno of `io_uring_setup(2)` when
/// io_uring is unavailable (`kernel.io_uring_disabled`, seccomp, an old kernel).
pub(crate) fn ring_ready() -> Result<(), i32> {
    RING.with_borrow_mut(|slot| {
        if slot.is_none() {
            *slot = Some(IoUring::new(RING_ENTRIES).map_err(|e| errno_of(&e))?);
        }
        Ok(())
    })
}

/// The error of `ioengine=io_uring` where `io_uring_setup(2)` failed with `errno`, saying
/// what to do.
pub(crate) fn uring_unavailable(errno: i32) -> super::TargetError {
    super::TargetError::Setup(format!(
        "io_uring is unavailable ({}): use ioengine=psync, or check sysctl kernel.io_uring_disabled",
        io::Error::from_raw_os_error(errno)
    ))
}

/// Whether io_uring works here: the errno of a failed `io_uring_setup(2)` otherwise.
pub(crate) fn probe_io_uring() -> Result<(), i32> {
    IoUring::new(RING_ENTRIES).map(drop).map_err(|e| errno_of(&e))
}

/// `pread(2)` of `buf.len()` bytes at `off` (short at EOF): the bytes read, or the errno.
pub(crate) fn read(fd: RawFd, uring: bool, direct: bool, off: u64, buf: &mut [u8]) -> Result<usize, i32> {
    let len = buf.len().min(MAX_RW_COUNT);
    if direct && !is_aligned(buf.as_ptr()) {
        return with_bounce(len, |bounce| {
            let n = raw_read(fd, uring, off, bounce.as_mut_ptr(), len)?;
            buf[..n].copy_from_slice(&bounce[..n]);
            Ok(n)
        });
    }
    raw_read(fd, uring, off, buf.as_mut_ptr(), len)
}

/// `pwrite(2)` of `data` at `off`: the bytes written, or the errno.
pub(crate) fn write(fd: RawFd, uring: bool, direct: bool, off: u64, data: &[u8]) -> Result<usize, i32> {
    let len = data.len().min(MAX_RW_COUNT);
    if direct && !is_aligned(data.as_ptr()) {
        return with_bounce(len, |bounce| {
            bounce[..len].copy_from_slice(&data[..len]);
            raw_write(fd, uring, off, bounce.as_ptr(), len)
        });
    }
    raw_write(fd, uring, off, data.as_ptr(), len)
}

/// `fsync(2)`, or `fdatasync(2)` when `datasync`.
pub(crate) fn sync(fd: RawFd, uring: bool, datasync: bool) -> Result<(), i32> {
    if uring {
        let flags = if datasync { types::FsyncFlags::DATASYNC } else { types::FsyncFlags::empty() };
        let sqe = opcode::Fsync::new(types::Fd(fd)).flags(flags).build();
        // SAFETY: FSYNC points at no memory.
        return unsafe { submit_and_wait(&sqe) }.map(drop);
    }
    loop {
        // SAFETY: plain syscalls on a descriptor; an invalid one gives EBADF.
        let r = unsafe { if datasync { libc::fdatasync(fd) } else { libc::fsync(fd) } };
        match r {
            0 => return Ok(()),
            _ => match last_errno() {
                libc::EINTR => continue,
                e => return Err(e),
            },
        }
    }
}

fn is_aligned(p: *const u8) -> bool {
    (p as usize).is_multiple_of(BUF_ALIGN)
}

/// Runs `f` on this thread's bounce buffer, at least `len` bytes long.
fn with_bounce<T>(len: usize, f: impl FnOnce(&mut AlignedBuf) -> T) -> T {
    BOUNCE.with_borrow_mut(|slot| {
        let bounce = match slot {
            Some(b) if b.len() >= len => b,
            _ => slot.insert(AlignedBuf::zeroed(len.next_power_of_two().max(BUF_ALIGN))),
        };
        f(bounce)
    })
}

/// Reads `len` bytes at `off` into `ptr`.
fn raw_read(fd: RawFd, uring: bool, off: u64, ptr: *mut u8, len: usize) -> Result<usize, i32> {
    if uring {
        let sqe = opcode::Read::new(types::Fd(fd), ptr, len as u32).offset(off).build();
        // SAFETY: `ptr` is valid for `len` writable bytes (a caller's slice or the bounce
        // buffer, borrowed for this call) and submit_and_wait returns only after completion.
        return unsafe { submit_and_wait(&sqe) }.map(|n| n as usize);
    }
    let off = i64::try_from(off).map_err(|_| libc::EINVAL)?;
    loop {
        // SAFETY: `ptr` is valid for `len` writable bytes, as above.
        let n = unsafe { libc::pread(fd, ptr.cast(), len, off) };
        if n >= 0 {
            return Ok(n as usize);
        }
        match last_errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Writes `len` bytes at `off` from `ptr`.
fn raw_write(fd: RawFd, uring: bool, off: u64, ptr: *const u8, len: usize) -> Result<usize, i32> {
    if uring {
        let sqe = opcode::Write::new(types::Fd(fd), ptr, len as u32).offset(off).build();
        // SAFETY: `ptr` is valid for `len` bytes for this call; the kernel only reads them, and
        // submit_and_wait returns only after completion.
        return unsafe { submit_and_wait(&sqe) }.map(|n| n as usize);
    }
    let off = i64::try_from(off).map_err(|_| libc::EINVAL)?;
    loop {
        // SAFETY: `ptr` is valid for `len` readable bytes.
        let n = unsafe { libc::pwrite(fd, ptr.cast(), len, off) };
        if n >= 0 {
            return Ok(n as usize);
        }
        match last_errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Submits `sqe` on this thread's ring and waits for its completion (`io_uring_enter(2)` with
/// `IORING_ENTER_GETEVENTS`): the result, non-negative, or the errno. A request that completes
/// with EINTR or EAGAIN is submitted again.
///
/// # Safety
/// Any memory `sqe` points at must stay valid until this returns.
unsafe fn submit_and_wait(sqe: &squeue::Entry) -> Result<u32, i32> {
    loop {
        // SAFETY: the caller's contract; the request completes before `enter` returns.
        match unsafe { enter(sqe) }? {
            r if r == -libc::EINTR || r == -libc::EAGAIN => continue,
            r if r < 0 => return Err(-r),
            r => return Ok(r as u32),
        }
    }
}

/// One submission of `sqe` and its completion's result (bytes or `-errno`). When
/// `io_uring_enter(2)` fails outright, waits for the request if the kernel took it (so that no
/// I/O lands in memory the caller has been given back) and drops the ring (a request still in
/// its submission queue is then never submitted); the next call makes a new one.
///
/// # Safety
/// As [`submit_and_wait`].
unsafe fn enter(sqe: &squeue::Entry) -> Result<i32, i32> {
    RING.with_borrow_mut(|slot| {
        let ring = match slot {
            Some(ring) => ring,
            None => slot.insert(IoUring::new(RING_ENTRIES).map_err(|e| errno_of(&e))?),
        };
        // SAFETY: the caller's contract.
        unsafe { ring.submission().push(sqe) }.map_err(|_| libc::EBUSY)?;
        loop {
            match ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {}
                Err(e) => {
                    if ring.submission().is_empty() {
                        while ring.completion().next().is_none() {
                            std::thread::yield_now();
                        }
                    }
                    *slot = None;
                    return Err(errno_of(&e));
                }
            }
            if let Some(cqe) = ring.completion().next() {
                return Ok(cqe.result());
            }
        }
    })
}
