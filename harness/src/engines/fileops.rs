//! fio's file and directory operation engines (engines/fileoperations.c): `filecreate`,
//! `filestat`, `filedelete`, `dircreate`, `dirstat`, `dirdelete`. Each moves no data: the
//! first I/O to a file in a pass is the operation on its name — `open(O_CREAT|O_RDWR, 0600)`,
//! `stat`/`lstat`/`statx`, `unlink`, `mkdir`, `rmdir` — and its latency is that call's; the
//! rest of the file's pass (when `bs` is below the file's size) is not an operation (fio
//! counts those I/Os without a latency sample; here they are counted with the little time they
//! take). Every I/O counts its block size, as fio counts it. They work on paths, so they run
//! on targets with a host directory (a `dir` target or a kernel mount).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use workloads::fio::{IoEngine, StatType};

use super::{Engine, IoReq, Queued};
use crate::targets::TargetError;

/// The operation on each file's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOp {
    /// `filecreate`: `open(O_CREAT|O_RDWR, 0600)`, then close.
    Create,
    /// `filestat`, `dirstat`: the `stat_type` call.
    Stat(StatType),
    /// `filedelete`: `unlink`.
    Delete,
    /// `dircreate`: `mkdir`.
    Mkdir,
    /// `dirdelete`: `rmdir`.
    Rmdir,
}

impl FileOp {
    /// The operation of `engine`, when it is one of these.
    pub fn of(engine: IoEngine, stat: StatType) -> Option<FileOp> {
        Some(match engine {
            IoEngine::Filecreate => FileOp::Create,
            IoEngine::Filestat | IoEngine::Dirstat => FileOp::Stat(stat),
            IoEngine::Filedelete => FileOp::Delete,
            IoEngine::Dircreate => FileOp::Mkdir,
            IoEngine::Dirdelete => FileOp::Rmdir,
            _ => return None,
        })
    }
}

fn c_path(p: &std::path::Path) -> Result<CString, TargetError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| TargetError::Os { op: "path", errno: libc::EINVAL })
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// fio's `setup_dirs` (`dirstat`, `dirdelete`): a directory for each name, mode 0700; one
/// that exists is fine.
pub fn make_dirs(paths: &[PathBuf]) -> Result<(), TargetError> {
    for p in paths {
        let c = c_path(p)?;
        crate::targets::cleanup::section(|| {
            // SAFETY: a NUL-terminated path.
            match unsafe { libc::mkdir(c.as_ptr(), 0o700) } {
                0 => Ok(()),
                _ if errno() == libc::EEXIST => Ok(()),
                _ => Err(TargetError::Os { op: "mkdir", errno: errno() }),
            }
        })??;
    }
    Ok(())
}

/// A job thread of one of these engines: its files' paths, and what is left of each file's
/// pass (0: the next I/O to it is the operation).
pub struct FileOpEngine {
    op: FileOp,
    paths: Vec<CString>,
    pass: Vec<u64>,
    left: Vec<u64>,
}

impl FileOpEngine {
    /// The engine doing `op` on `paths`, each a pass of `pass[i]` bytes.
    pub fn new(op: FileOp, paths: &[PathBuf], pass: Vec<u64>) -> Result<Self, TargetError> {
        let paths = paths.iter().map(|p| c_path(p)).collect::<Result<Vec<_>, _>>()?;
        let left = vec![0; paths.len()];
        Ok(FileOpEngine { op, paths, pass, left })
    }

    /// The operation on `path`.
    fn run(&self, path: &CString) -> Result<(), i32> {
        let p = path.as_ptr();
        // SAFETY (every call): `p` is a NUL-terminated path; the out-structs are ours.
        let r = match self.op {
            FileOp::Create => {
                let made = crate::targets::cleanup::section(|| unsafe {
                    libc::open(p, libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC, 0o600)
                })
                .map_err(|_| libc::EINTR)?;
                if made < 0 {
                    return Err(errno());
                }
                unsafe { libc::close(made) };
                0
            }
            FileOp::Stat(StatType::Stat) => unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                libc::stat(p, &mut st)
            },
            FileOp::Stat(StatType::Lstat) => unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                libc::lstat(p, &mut st)
            },
            FileOp::Stat(StatType::Statx) => unsafe {
                let mut stx: libc::statx = std::mem::zeroed();
                libc::statx(libc::AT_FDCWD, p, 0, libc::STATX_ALL, &mut stx)
            },
            FileOp::Delete => unsafe { libc::unlink(p) },
            FileOp::Mkdir => {
                crate::targets::cleanup::section(|| unsafe { libc::mkdir(p, 0o700) }).map_err(|_| libc::EINTR)?
            }
            FileOp::Rmdir => unsafe { libc::rmdir(p) },
        };
        if r != 0 { Err(errno()) } else { Ok(()) }
    }
}

impl Engine for FileOpEngine {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        let i = req.file;
        let Some(path) = self.paths.get(i) else { return Queued::Done(Err(libc::EBADF)) };
        if self.left[i] == 0 {
            // fio's open_file of the engine: a new pass over the file starts with the operation.
            if let Err(e) = self.run(path) {
                return Queued::Done(Err(e));
            }
            self.left[i] = self.pass[i].max(1);
        }
        self.left[i] = self.left[i].saturating_sub(req.len as u64);
        Queued::Done(Ok(req.len as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::IoKind;

    fn io(e: &mut FileOpEngine, file: usize) -> Queued {
        let req = IoReq::new(IoKind::Write, file, 0, std::ptr::null_mut(), 4096);
        e.queue(0, &req)
    }

    #[test]
    fn each_pass_over_a_file_is_one_operation() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("f.{i}"))).collect();
        let mut create = FileOpEngine::new(FileOp::Create, &paths, vec![8192; 3]).unwrap();
        for f in 0..3 {
            assert_eq!(io(&mut create, f), Queued::Done(Ok(4096)));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3, "one create per file");
        std::fs::remove_file(&paths[1]).unwrap();
        assert_eq!(io(&mut create, 1), Queued::Done(Ok(4096)), "the second block of the pass is no operation");
        assert!(!paths[1].exists());
        assert_eq!(io(&mut create, 1), Queued::Done(Ok(4096)), "a new pass creates it again");
        assert!(paths[1].exists());

        let mut stat = FileOpEngine::new(FileOp::Stat(StatType::Statx), &paths, vec![4096; 3]).unwrap();
        assert_eq!(io(&mut stat, 2), Queued::Done(Ok(4096)));
        let mut delete = FileOpEngine::new(FileOp::Delete, &paths, vec![4096; 3]).unwrap();
        for f in 0..3 {
            assert_eq!(io(&mut delete, f), Queued::Done(Ok(4096)));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(io(&mut delete, 0), Queued::Done(Err(libc::ENOENT)), "fio's second unlink fails too");
        assert_eq!(io(&mut stat, 0), Queued::Done(Err(libc::ENOENT)));
    }

    #[test]
    fn directories_are_made_stated_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..4).map(|i| dir.path().join(format!("d.{i}"))).collect();
        make_dirs(&paths[..2]).unwrap();
        make_dirs(&paths[..2]).unwrap();
        let mut mkdir = FileOpEngine::new(FileOp::Mkdir, &paths[2..], vec![4096; 2]).unwrap();
        assert_eq!(io(&mut mkdir, 0), Queued::Done(Ok(4096)));
        assert_eq!(io(&mut mkdir, 1), Queued::Done(Ok(4096)));
        assert!(paths.iter().all(|p| p.is_dir()));
        let mut stat = FileOpEngine::new(FileOp::Stat(StatType::Lstat), &paths, vec![4096; 4]).unwrap();
        let mut rmdir = FileOpEngine::new(FileOp::Rmdir, &paths, vec![4096; 4]).unwrap();
        for f in 0..4 {
            assert_eq!(io(&mut stat, f), Queued::Done(Ok(4096)));
            assert_eq!(io(&mut rmdir, f), Queued::Done(Ok(4096)));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
