//! `dir:path=DIR`: files in an existing directory of any mounted filesystem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use workloads::FallocMode;

use super::kernel_counters::KernelCounters;
use super::kernel_files::KernelFiles;
use super::{Capabilities, FileId, IoMode, RemountKind, Result, Target, TargetError};

/// Files in an existing directory, on whatever filesystem holds it. I/O goes through psync or
/// io_uring, buffered or O_DIRECT, per [`Target::set_io_mode`] (see `kernel_io` for how
/// unaligned buffers are bounced for O_DIRECT).
///
/// A remount cannot unmount someone else's filesystem: it fsyncs each of the target's files,
/// drops its page cache (`posix_fadvise(POSIX_FADV_DONTNEED)`), and reopens it
/// ([`RemountKind::CloseAndDropCaches`]). Other files on the machine are not touched; inode
/// and dentry caches stay warm.
///
/// Counters: the block device under the directory, when there is one (it counts every
/// process's I/O to that device, not only the target's), and `/proc/self/io`.
#[derive(Debug)]
pub struct DirTarget {
    spec: String,
    path: PathBuf,
    files: KernelFiles,
    counters: KernelCounters,
}

impl DirTarget {
    /// A target on `path`, which must be an existing, writable directory.
    pub fn new(path: &Path) -> Result<Self> {
        Self::check(path)?;
        let path = std::fs::canonicalize(path)
            .map_err(|e| TargetError::Setup(format!("dir target: {}: {e}", path.display())))?;
        let files = KernelFiles::new(&path)?;
        let counters = KernelCounters::for_dir(&path);
        Ok(DirTarget { spec: format!("dir:path={}", path.display()), path, files, counters })
    }

    /// Checks, making nothing, that `path` is an existing directory (what [`DirTarget::new`]
    /// refuses first).
    pub fn check(path: &Path) -> Result<()> {
        let meta = std::fs::metadata(path).map_err(|e| {
            TargetError::Setup(format!("dir target: {}: {e}: give an existing directory as path=", path.display()))
        })?;
        if !meta.is_dir() {
            return Err(TargetError::Setup(format!(
                "dir target: {} is not a directory: give a directory as path=",
                path.display()
            )));
        }
        Ok(())
    }

    /// The directory (canonical).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Target for DirTarget {
    fn kind(&self) -> &str {
        "dir"
    }

    fn spec(&self) -> &str {
        &self.spec
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fallocate: self.files.fallocate_modes(),
            remount: RemountKind::CloseAndDropCaches,
            drop_caches: true,
            direct: self.files.direct_ok(),
            stores_data: true,
        }
    }

    fn set_io_mode(&self, mode: IoMode) -> Result<()> {
        self.files.set_io_mode("dir", mode)
    }

    super::kernel_files::delegate_file_ops!();

    fn remount(&self) -> Result<()> {
        self.files.reopen_around(true, || Ok(()))
    }

    fn drop_caches(&self) -> Result<()> {
        self.files.drop_caches()
    }

    fn invalidate(&self, f: FileId) -> Result<()> {
        self.files.invalidate(f)
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.deltas()
    }

    fn disk_util(&self) -> Option<results::DiskUtil> {
        self.counters.disk_util()
    }

    fn reset_counters(&self) {
        self.counters.reset()
    }
}
