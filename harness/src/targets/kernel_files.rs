//! The files of a kernel target: a table from [`FileId`] to an open descriptor under one root
//! directory, the ops on them (through [`kernel_io`]), and closing and
//! reopening them around a remount so that `FileId`s stay valid.
//!
//! The table sits behind one `RwLock`: an op takes the read lock once (descriptor and I/O mode
//! in one lookup, no allocation); open, close, unlink, a mode change and a remount take the
//! write lock. `FileId`s index the table and are never reused, so a closed one stays invalid
//! (EBADF).

use std::collections::{BTreeSet, HashSet};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use fsimpl::buf::AlignedBuf;
use workloads::FallocMode;

use super::kernel_io::{self, last_errno};
use super::{FileId, IoMode, Result, TargetError};

/// Every fallocate mode, in the order capabilities list them.
const ALL_FALLOC_MODES: [FallocMode; 7] = [
    FallocMode::Allocate,
    FallocMode::KeepSize,
    FallocMode::PunchHole,
    FallocMode::ZeroRange,
    FallocMode::ZeroRangeKeepSize,
    FallocMode::CollapseRange,
    FallocMode::InsertRange,
];

/// Tells apart the probe files of one process.
static PROBE_SEQ: AtomicU64 = AtomicU64::new(0);

/// The open files of a kernel target under `root`.
#[derive(Debug)]
pub(crate) struct KernelFiles {
    root: PathBuf,
    /// fallocate modes the filesystem accepted at creation.
    fallocate: Vec<FallocMode>,
    /// Whether it accepted an O_DIRECT write.
    direct: bool,
    table: RwLock<FileTable>,
}

#[derive(Debug, Default)]
struct FileTable {
    /// The mode later opens take.
    mode: IoMode,
    /// Indexed by `FileId`; `None` once closed.
    files: Vec<Option<OpenFile>>,
    /// Names of the files opened through the target and not unlinked through it: what a cache
    /// drop covers, open or not.
    known: BTreeSet<String>,
}

#[derive(Debug)]
struct OpenFile {
    name: String,
    path: CString,
    /// `None` while closed for a remount, or when reopening failed.
    fd: Option<OwnedFd>,
    /// How its I/O runs: the table's mode when it was opened, or its own
    /// ([`KernelFiles::set_file_io_mode`]).
    mode: IoMode,
}

impl FileTable {
    fn file(&self, f: FileId) -> Option<&OpenFile> {
        self.files.get(usize::try_from(f.0).ok()?)?.as_ref()
    }

    fn fd(&self, f: FileId) -> Option<RawFd> {
        self.file(f)?.fd.as_ref().map(AsRawFd::as_raw_fd)
    }
}

impl KernelFiles {
    /// The files under `root`, after probing what its filesystem accepts (fallocate modes,
    /// O_DIRECT) on a scratch file that is then removed, and fsyncing `root` so that the
    /// probe's metadata reaches the device now rather than during a measurement.
    pub(crate) fn new(root: &Path) -> Result<Self> {
        let (fallocate, direct) = probe(root)?;
        let sync_root = || {
            let dir = open_path(&c_path(root)?, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)?;
            kernel_io::sync(dir.as_raw_fd(), false, false)
        };
        sync_root().map_err(|errno| TargetError::Os { op: "fsync", errno })?;
        Ok(KernelFiles { root: root.to_path_buf(), fallocate, direct, table: RwLock::default() })
    }

    /// The fallocate modes the filesystem accepts.
    pub(crate) fn fallocate_modes(&self) -> Vec<FallocMode> {
        self.fallocate.clone()
    }

    /// Whether the filesystem accepts O_DIRECT.
    pub(crate) fn direct_ok(&self) -> bool {
        self.direct
    }

    fn read_table(&self) -> RwLockReadGuard<'_, FileTable> {
        // The table is updated in single steps: whole even after a panic elsewhere.
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_table(&self) -> RwLockWriteGuard<'_, FileTable> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets how later I/O runs; switches O_DIRECT on the open files (`fcntl(F_SETFL)`). `kind`
    /// names the target in errors.
    pub(crate) fn set_io_mode(&self, kind: &str, mode: IoMode) -> Result<()> {
        self.check_mode(kind, mode)?;
        let mut table = self.write_table();
        for file in table.files.iter_mut().flatten() {
            if let Some(fd) = &file.fd {
                set_direct(fd.as_raw_fd(), mode.direct)
                    .map_err(|errno| TargetError::Os { op: "set_io_mode", errno })?;
            }
            file.mode = mode;
        }
        table.mode = mode;
        Ok(())
    }

    /// Sets how I/O on the open file `f` alone runs (its O_DIRECT by `fcntl(F_SETFL)`), as fio
    /// opens each job's files with that job's flags.
    pub(crate) fn set_file_io_mode(&self, kind: &str, f: FileId, mode: IoMode) -> Result<()> {
        self.check_mode(kind, mode)?;
        let mut table = self.write_table();
        let file = usize::try_from(f.0)
            .ok()
            .and_then(|i| table.files.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(TargetError::Os { op: "set_io_mode", errno: libc::EBADF })?;
        if let Some(fd) = &file.fd {
            set_direct(fd.as_raw_fd(), mode.direct).map_err(|errno| TargetError::Os { op: "set_io_mode", errno })?;
        }
        file.mode = mode;
        Ok(())
    }

    /// Whether the filesystem and the kernel can do `mode`.
    fn check_mode(&self, kind: &str, mode: IoMode) -> Result<()> {
        if mode.direct && !self.direct {
            return Err(TargetError::Unsupported {
                target: kind.to_string(),
                what: format!("O_DIRECT (direct=1): the filesystem under {} refuses it", self.root.display()),
            });
        }
        if mode.uring {
            kernel_io::ring_ready().map_err(kernel_io::uring_unavailable)?;
        }
        Ok(())
    }

    /// `open(2)` of `name` (a path relative to the root) read-write, with O_CREAT if `create`
    /// (making missing parent directories, as fio does for `directory=`).
    ///
    /// Creating runs as a cleanup [`section`](super::cleanup::section): once a signal's cleanup
    /// has begun it is refused, and the cleanup waits for one under way, so that no file is
    /// made in a mount point after the cleanup unmounted it (which would leave the directory
    /// behind, not empty).
    pub(crate) fn open(&self, name: &str, create: bool) -> Result<FileId> {
        match create {
            true => super::cleanup::section(|| self.open_in_table(name, true))?,
            false => self.open_in_table(name, false),
        }
    }

    fn open_in_table(&self, name: &str, create: bool) -> Result<FileId> {
        let rel = relative_name(&self.root, name)?;
        let path = self.root.join(rel);
        let cpath = c_path(&path).map_err(|errno| TargetError::Os { op: "open", errno })?;
        let mut table = self.write_table();
        if create && let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(self.root.join(parent))
                .map_err(|e| TargetError::Os { op: "open", errno: kernel_io::errno_of(&e) })?;
        }
        let mut flags = libc::O_RDWR | open_flags(table.mode);
        if create {
            flags |= libc::O_CREAT;
        }
        let fd = open_path(&cpath, flags).map_err(|errno| TargetError::Os { op: "open", errno })?;
        let id = FileId(table.files.len() as u64);
        let name = rel.to_string_lossy().into_owned();
        table.known.insert(name.clone());
        let mode = table.mode;
        table.files.push(Some(OpenFile { name, path: cpath, fd: Some(fd), mode }));
        Ok(id)
    }

    /// The host path of `name` (relative, inside the root), for engines that work on paths.
    pub(crate) fn host_path(&self, name: &str) -> Result<PathBuf> {
        Ok(self.root.join(relative_name(&self.root, name)?))
    }

    /// `close(2)`; the `FileId` is invalid afterwards.
    pub(crate) fn close(&self, f: FileId) -> Result<()> {
        let file = {
            let mut table = self.write_table();
            let slot = usize::try_from(f.0).ok().and_then(|i| table.files.get_mut(i)).and_then(Option::take);
            slot.ok_or(TargetError::Os { op: "close", errno: libc::EBADF })?
        };
        match file.fd {
            Some(fd) => close_fd(fd).map_err(|errno| TargetError::Os { op: "close", errno }),
            None => Ok(()),
        }
    }

    /// `unlink(2)` of `name`. Files open under that name stay usable until closed (but are not
    /// reopened by a remount).
    pub(crate) fn unlink(&self, name: &str) -> Result<()> {
        let rel = relative_name(&self.root, name)?;
        let cpath = c_path(&self.root.join(rel)).map_err(|errno| TargetError::Os { op: "unlink", errno })?;
        let mut table = self.write_table();
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::unlink(cpath.as_ptr()) } != 0 {
            return Err(TargetError::Os { op: "unlink", errno: last_errno() });
        }
        table.known.remove(rel.to_string_lossy().as_ref());
        Ok(())
    }

    /// Runs `io` on `f`'s descriptor and the I/O mode, under the read lock.
    #[inline]
    fn with_fd<T>(&self, f: FileId, op: &'static str, io: impl FnOnce(RawFd, IoMode) -> Result<T, i32>) -> Result<T> {
        let table = self.read_table();
        let file = table.file(f).ok_or(TargetError::Os { op, errno: libc::EBADF })?;
        let fd = file.fd.as_ref().ok_or(TargetError::Os { op, errno: libc::EBADF })?;
        io(fd.as_raw_fd(), file.mode).map_err(|errno| TargetError::Os { op, errno })
    }

    /// The descriptors and sizes of `files`, for an engine: valid while the files stay open
    /// (a job's measured phase neither closes nor remounts).
    pub(crate) fn fds(&self, files: &[FileId]) -> Result<crate::engines::KernelFds> {
        let table = self.read_table();
        let mut fds = Vec::with_capacity(files.len());
        let mut sizes = Vec::with_capacity(files.len());
        for &f in files {
            let fd = table.fd(f).ok_or(TargetError::Os { op: "engine", errno: libc::EBADF })?;
            // SAFETY: fstat into a zeroed struct on an open descriptor.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::fstat(fd, &mut st) } != 0 {
                return Err(TargetError::Os { op: "fstat", errno: last_errno() });
            }
            fds.push(fd);
            sizes.push(st.st_size as u64);
        }
        Ok(crate::engines::KernelFds { fds, sizes })
    }

    /// `pread(2)` (short at EOF).
    pub(crate) fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize> {
        self.with_fd(f, "read", |fd, m| kernel_io::read(fd, m.uring, m.direct, off, buf))
    }

    /// `pwrite(2)`.
    pub(crate) fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize> {
        self.with_fd(f, "write", |fd, m| kernel_io::write(fd, m.uring, m.direct, off, data))
    }

    /// `ftruncate(2)`.
    pub(crate) fn truncate(&self, f: FileId, size: u64) -> Result<()> {
        self.with_fd(f, "truncate", |fd, _| {
            let size = i64::try_from(size).map_err(|_| libc::EFBIG)?;
            // SAFETY: a plain syscall; a bad descriptor gives EBADF.
            retry_eintr(|| unsafe { libc::ftruncate(fd, size) })
        })
    }

    /// `fallocate(2)` with `mode`'s flags.
    pub(crate) fn fallocate(&self, f: FileId, mode: FallocMode, off: u64, len: u64) -> Result<()> {
        self.with_fd(f, "fallocate", |fd, _| fallocate_fd(fd, mode, off, len))
    }

    /// `fsync(2)` (`IORING_OP_FSYNC` under io_uring).
    pub(crate) fn fsync(&self, f: FileId) -> Result<()> {
        self.with_fd(f, "fsync", |fd, m| kernel_io::sync(fd, m.uring, false))
    }

    /// `fdatasync(2)` (`IORING_OP_FSYNC` with `IORING_FSYNC_DATASYNC` under io_uring).
    pub(crate) fn fdatasync(&self, f: FileId) -> Result<()> {
        self.with_fd(f, "fdatasync", |fd, m| kernel_io::sync(fd, m.uring, true))
    }

    /// The size, from `fstat(2)`.
    pub(crate) fn size(&self, f: FileId) -> Result<u64> {
        self.with_fd(f, "size", |fd, _| {
            // SAFETY: fstat fills the zeroed struct; a bad descriptor gives EBADF.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::fstat(fd, &mut st) } != 0 {
                return Err(last_errno());
            }
            Ok(st.st_size as u64)
        })
    }

    /// Drops the clean page cache of every known file, open or not
    /// (`posix_fadvise(POSIX_FADV_DONTNEED)`; it also starts writeback of dirty pages, which
    /// stay cached). Other files on the machine are not touched.
    /// Drops one file's clean cached pages and starts writeback of its dirty ones
    /// (`posix_fadvise(POSIX_FADV_DONTNEED)`, fio's `file_invalidate_cache`).
    pub(crate) fn invalidate(&self, f: FileId) -> Result<()> {
        self.with_fd(f, "fadvise", |fd, _| fadvise_dontneed(fd))
    }

    pub(crate) fn drop_caches(&self) -> Result<()> {
        let table = self.read_table();
        let mut first_err = None;
        let open: HashSet<&str> = table.files.iter().flatten().map(|f| f.name.as_str()).collect();
        for file in table.files.iter().flatten() {
            if let Some(fd) = &file.fd {
                keep_first(&mut first_err, fadvise_dontneed(fd.as_raw_fd()), "drop_caches");
            }
        }
        for name in table.known.iter().filter(|n| !open.contains(n.as_str())) {
            keep_first(&mut first_err, self.with_closed_file(name, false), "drop_caches");
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Closes every open file, runs `between` (an unmount and mount), and opens them again at
    /// the same `FileId`s. With `flush_and_drop`, each known file is first fsynced and its page
    /// cache dropped (what a remount does to the cache, for a plain directory). Files unlinked
    /// while open are not reopened. Gives `between`'s error, or the first failure.
    pub(crate) fn reopen_around(&self, flush_and_drop: bool, between: impl FnOnce() -> Result<()>) -> Result<()> {
        let mut table = self.write_table();
        let mut first_err = None;
        for file in table.files.iter_mut().flatten() {
            if let Some(fd) = file.fd.take() {
                if flush_and_drop {
                    let raw = fd.as_raw_fd();
                    keep_first(&mut first_err, kernel_io::sync(raw, false, false), "remount: fsync");
                    keep_first(&mut first_err, fadvise_dontneed(raw), "remount: fadvise");
                }
                keep_first(&mut first_err, close_fd(fd), "remount: close");
            }
        }
        if flush_and_drop {
            let open: HashSet<&str> = table.files.iter().flatten().map(|f| f.name.as_str()).collect();
            for name in table.known.iter().filter(|n| !open.contains(n.as_str())) {
                keep_first(&mut first_err, self.with_closed_file(name, true), "remount");
            }
        }
        between()?;
        let FileTable { files, known, .. } = &mut *table;
        for file in files.iter_mut().flatten().filter(|f| known.contains(&f.name)) {
            match open_path(&file.path, libc::O_RDWR | open_flags(file.mode)) {
                Ok(fd) => file.fd = Some(fd),
                Err(errno) => keep_first(&mut first_err, Err(errno), "remount: reopen"),
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Closes every open file for good (teardown); their `FileId`s then give EBADF.
    pub(crate) fn close_all(&self) -> Result<()> {
        let mut table = self.write_table();
        let mut first_err = None;
        for file in table.files.iter_mut() {
            if let Some(fd) = file.take().and_then(|f| f.fd) {
                keep_first(&mut first_err, close_fd(fd), "close");
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Opens the closed file `name` read-only, fsyncs it if `sync`, drops its cache, closes it.
    /// A file gone from the directory is skipped.
    fn with_closed_file(&self, name: &str, sync: bool) -> Result<(), i32> {
        let cpath = c_path(&self.root.join(name))?;
        let fd = match open_path(&cpath, libc::O_RDONLY | libc::O_CLOEXEC) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => return Ok(()),
            Err(errno) => return Err(errno),
        };
        if sync {
            kernel_io::sync(fd.as_raw_fd(), false, false)?;
        }
        fadvise_dontneed(fd.as_raw_fd())?;
        close_fd(fd)
    }
}

/// Records `res`'s errno as a `TargetError::Os { op }` in `first` unless one is there.
fn keep_first(first: &mut Option<TargetError>, res: Result<(), i32>, op: &'static str) {
    if let Err(errno) = res {
        first.get_or_insert(TargetError::Os { op, errno });
    }
}

/// `name` as a path inside `root`: relative, without `.` or `..` components; an absolute one
/// under `root` (as a job file names a file of the directory the target is, e.g.
/// `filename=/tmp/testfile` on `dir:path=/tmp`) taken relative to it; any other absolute one
/// put under `root` whole (`filename=/dev/sda` is `root/dev/sda`), as fsimpl targets keep it
/// as a name: the target is where a job's files go, and it never reaches outside itself.
fn relative_name<'a>(root: &Path, name: &'a str) -> Result<&'a Path> {
    let path = Path::new(name);
    let rel = path.strip_prefix(root).or_else(|_| path.strip_prefix("/")).unwrap_or(path);
    let inside = !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !inside {
        return Err(TargetError::Setup(format!(
            "file name '{name}' must be a path inside the target: no '.' or '..', not empty (an absolute name \
             outside {} is put under it whole)",
            root.display()
        )));
    }
    Ok(rel)
}

fn c_path(path: &Path) -> Result<CString, i32> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)
}

/// Flags every open of a target file carries under `mode`.
fn open_flags(mode: IoMode) -> i32 {
    libc::O_CLOEXEC | if mode.direct { libc::O_DIRECT } else { 0 }
}

fn open_path(path: &CString, flags: i32) -> Result<OwnedFd, i32> {
    loop {
        // SAFETY: a NUL-terminated path; the mode is read only with O_CREAT.
        let fd = unsafe { libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint) };
        if fd >= 0 {
            // SAFETY: a descriptor just opened and owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        match last_errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// `close(2)`, reporting its error (a deferred write error on some filesystems).
fn close_fd(fd: OwnedFd) -> Result<(), i32> {
    // SAFETY: the descriptor is owned here and closed once.
    match unsafe { libc::close(fd.into_raw_fd()) } {
        0 => Ok(()),
        _ => match last_errno() {
            libc::EINTR => Ok(()), // Linux closes the descriptor even then.
            e => Err(e),
        },
    }
}

fn retry_eintr(mut call: impl FnMut() -> libc::c_int) -> Result<(), i32> {
    loop {
        if call() == 0 {
            return Ok(());
        }
        match last_errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

fn fallocate_fd(fd: RawFd, mode: FallocMode, off: u64, len: u64) -> Result<(), i32> {
    let off = i64::try_from(off).map_err(|_| libc::EFBIG)?;
    let len = i64::try_from(len).map_err(|_| libc::EFBIG)?;
    // SAFETY: a plain syscall; a bad descriptor gives EBADF.
    retry_eintr(|| unsafe { libc::fallocate(fd, mode.linux_flags(), off, len) })
}

/// `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`: drop the file's clean cached pages.
fn fadvise_dontneed(fd: RawFd) -> Result<(), i32> {
    // SAFETY: a plain syscall; it returns the errno rather than setting it.
    match unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) } {
        0 => Ok(()),
        e => Err(e),
    }
}

/// Turns O_DIRECT on or off on an open descriptor.
fn set_direct(fd: RawFd, direct: bool) -> Result<(), i32> {
    // SAFETY: plain fcntl calls on a descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(last_errno());
    }
    let new = if direct { flags | libc::O_DIRECT } else { flags & !libc::O_DIRECT };
    if new != flags && unsafe { libc::fcntl(fd, libc::F_SETFL, new) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// Size of the probe file, and the offset and length each fallocate mode is tried on (64 KiB:
/// a multiple of any block size, as collapse_range and insert_range want).
const PROBE_FILE: i64 = 1 << 20;
const PROBE_RANGE: u64 = 64 << 10;

/// What the filesystem under `root` accepts: the fallocate modes, and O_DIRECT. Tried on a
/// scratch file `.aopsbench-probe-<pid>-<n>`, removed afterwards.
fn probe(root: &Path) -> Result<(Vec<FallocMode>, bool)> {
    let name = format!(".aopsbench-probe-{}-{}", std::process::id(), PROBE_SEQ.fetch_add(1, Ordering::Relaxed));
    let path = root.join(&name);
    let cpath = c_path(&path).map_err(|errno| TargetError::Os { op: "open", errno })?;
    let fd = open_path(&cpath, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC).map_err(|errno| {
        TargetError::Setup(format!(
            "cannot create files in {}: {}: give a writable directory",
            root.display(),
            std::io::Error::from_raw_os_error(errno)
        ))
    })?;
    let mut modes = Vec::new();
    for mode in ALL_FALLOC_MODES {
        let off = if matches!(mode, FallocMode::CollapseRange | FallocMode::InsertRange) { PROBE_RANGE } else { 0 };
        // SAFETY: a plain syscall on the probe file.
        let sized = unsafe { libc::ftruncate(fd.as_raw_fd(), PROBE_FILE) } == 0;
        if sized && fallocate_fd(fd.as_raw_fd(), mode, off, PROBE_RANGE).is_ok() {
            modes.push(mode);
        }
    }
    drop(fd);
    let direct = open_path(&cpath, libc::O_RDWR | libc::O_DIRECT | libc::O_CLOEXEC).is_ok_and(|fd| {
        let buf = AlignedBuf::zeroed(4096);
        kernel_io::write(fd.as_raw_fd(), false, true, 0, &buf) == Ok(4096)
    });
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::unlink(cpath.as_ptr()) } != 0 {
        return Err(TargetError::Setup(format!(
            "cannot remove the probe file {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok((modes, direct))
}

/// The [`Target`](super::Target) file methods every kernel target hands to its file table,
/// `self.files`: open, close, unlink, read, write, truncate, fallocate, fsync, fdatasync, size.
macro_rules! delegate_file_ops {
    () => {
        fn open(&self, name: &str, create: bool) -> Result<FileId> {
            self.files.open(name, create)
        }
        fn close(&self, f: FileId) -> Result<()> {
            self.files.close(f)
        }
        fn unlink(&self, name: &str) -> Result<()> {
            self.files.unlink(name)
        }
        fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize> {
            self.files.read(f, off, buf)
        }
        fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize> {
            self.files.write(f, off, data)
        }
        fn truncate(&self, f: FileId, size: u64) -> Result<()> {
            self.files.truncate(f, size)
        }
        fn fallocate(&self, f: FileId, mode: FallocMode, off: u64, len: u64) -> Result<()> {
            self.files.fallocate(f, mode, off, len)
        }
        fn fsync(&self, f: FileId) -> Result<()> {
            self.files.fsync(f)
        }
        fn fdatasync(&self, f: FileId) -> Result<()> {
            self.files.fdatasync(f)
        }
        fn size(&self, f: FileId) -> Result<u64> {
            self.files.size(f)
        }
        fn set_file_io_mode(&self, f: FileId, mode: IoMode) -> Result<()> {
            self.files.set_file_io_mode(super::Target::kind(self), f, mode)
        }
        fn engine(
            &self,
            cfg: &crate::engines::EngineConfig,
            files: &[FileId],
        ) -> Result<Option<Box<dyn crate::engines::Engine>>> {
            crate::engines::kernel_engine(cfg, self.files.fds(files)?).map(Some)
        }
        fn host_path(&self, name: &str) -> Result<std::path::PathBuf> {
            self.files.host_path(name)
        }
        fn kernel_fds(&self, files: &[FileId]) -> Result<Option<crate::engines::KernelFds>> {
            self.files.fds(files).map(Some)
        }
    };
}
pub(crate) use delegate_file_ops;
