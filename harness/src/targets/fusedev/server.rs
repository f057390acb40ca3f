//! The FUSE filesystem that serves a [`DevState`]: a root directory with two regular files,
//! `dev` (the live device) and `crash` (the crash state being checked), each the size of the
//! device. Files open with `FOPEN_DIRECT_IO`, so FUSE's page cache holds nothing: every read
//! and write of the loop device above reaches the server, and a crash state switched under the
//! `crash` file is never shadowed by cached pages.
//!
//! The server's threads never wait on the filesystem they serve: they touch only the
//! [`DevState`] (whose lock the harness never holds across a syscall on a served filesystem)
//! and the log's data file on the backing filesystem, and each marks itself an I/O flusher
//! (`PR_SET_IO_FLUSHER`: its allocations do not recurse into writeback of the filesystems
//! above, as a loop worker's do not).

use std::cell::Cell;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request,
    WriteFlags,
};

use super::device::DevState;

/// Inode of the live device file.
const DEV_INO: u64 = 2;
/// Inode of the crash-state file.
const CRASH_INO: u64 = 3;
/// Name of the live device file.
pub const DEV_NAME: &str = "dev";
/// Name of the crash-state file.
pub const CRASH_NAME: &str = "crash";
/// Attributes never change: the kernel may keep them.
const TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Largest write request asked of the kernel.
const MAX_WRITE: u32 = 1 << 20;

/// `prctl(2)` option marking a thread as doing I/O for others (`<linux/prctl.h>`).
const PR_SET_IO_FLUSHER: libc::c_int = 57;

thread_local! {
    static FLUSHER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling server thread `PR_SET_IO_FLUSHER` (`PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE`),
/// once; best effort (needs `CAP_SYS_RESOURCE`).
fn io_flusher() {
    FLUSHER.with(|f| {
        if !f.get() {
            f.set(true);
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) };
        }
    });
}

/// The FUSE side of a [`DevState`].
pub(super) struct Server {
    pub(super) state: Arc<DevState>,
}

impl Server {
    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let (kind, perm, size) = match ino {
            1 => (FileType::Directory, 0o755, 0),
            DEV_INO | CRASH_INO => (FileType::RegularFile, 0o600, self.state.size()),
            _ => return None,
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size / 512,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink: if ino == 1 { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            flags: 0,
            blksize: 4096,
        })
    }
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

impl Filesystem for Server {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // The kernel may offer less; whatever it takes is fine.
        let _ = config.set_max_write(MAX_WRITE);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ino = match (u64::from(parent), name.to_str()) {
            (1, Some(DEV_NAME)) => DEV_INO,
            (1, Some(CRASH_NAME)) => CRASH_INO,
            _ => return reply.error(Errno::ENOENT),
        };
        match self.attr(ino) {
            Some(a) => reply.entry(&TTL, &a, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino.into()) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // A device's size is fixed; times are not kept.
        match self.attr(ino.into()) {
            Some(_) if size.is_some_and(|s| s != self.state.size()) => reply.error(Errno::EPERM),
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match u64::from(ino) {
            DEV_INO | CRASH_INO => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            _ => reply.error(Errno::EISDIR),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        io_flusher();
        let r = match u64::from(ino) {
            DEV_INO => self.state.dev_read(offset, size),
            CRASH_INO => self.state.crash_read(offset, size),
            _ => Err(libc::EISDIR),
        };
        match r {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        io_flusher();
        let len = data.len() as u64;
        let r = match u64::from(ino) {
            DEV_INO => self.state.dev_write(offset, len, Some(data)),
            CRASH_INO => self.state.crash_write(offset, len, Some(data)),
            _ => Err(libc::EISDIR),
        };
        match r {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        io_flusher();
        if u64::from(ino) == DEV_INO {
            self.state.dev_flush();
        }
        reply.ok();
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        // close(2): nothing is cached.
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        io_flusher();
        // Discard (PUNCH_HOLE | KEEP_SIZE) and write-zeroes (ZERO_RANGE | KEEP_SIZE, or a punch
        // for NOUNMAP-less zeroing) leave zeros; a plain allocation changes nothing.
        let zeroes = mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE) != 0;
        let known = libc::FALLOC_FL_KEEP_SIZE | libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE;
        let r = if mode & !known != 0 {
            Err(libc::EOPNOTSUPP)
        } else if !zeroes {
            Ok(())
        } else {
            match u64::from(ino) {
                DEV_INO => self.state.dev_write(offset, length, None),
                CRASH_INO => self.state.crash_write(offset, length, None),
                _ => Err(libc::EISDIR),
            }
        };
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        if u64::from(ino) != 1 {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = [
            (1, FileType::Directory, "."),
            (1, FileType::Directory, ".."),
            (DEV_INO, FileType::RegularFile, DEV_NAME),
            (CRASH_INO, FileType::RegularFile, CRASH_NAME),
        ];
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }
}
