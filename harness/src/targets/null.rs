//! The `null` target: discards writes, reads zeros (like fio's null engine); measures the
//! harness itself.

use super::{Capabilities, FileId, IoMode, RemountKind, Result, Target, TargetError};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use workloads::FallocMode;

/// Keeps file names and sizes only.
#[derive(Default)]
pub struct NullTarget {
    files: Mutex<Vec<(String, AtomicU64)>>,
    sizes: Vec<AtomicU64>,
}

const MAX_FILES: usize = 4096;

impl NullTarget {
    /// A fresh null target.
    pub fn new() -> Self {
        NullTarget { files: Mutex::new(Vec::new()), sizes: (0..MAX_FILES).map(|_| AtomicU64::new(0)).collect() }
    }

    fn size_of(&self, f: FileId) -> Result<&AtomicU64> {
        self.sizes.get(f.0 as usize).ok_or(TargetError::Os { op: "fstat", errno: libc::EBADF })
    }
}

impl Target for NullTarget {
    fn kind(&self) -> &str {
        "null"
    }
    /// `ioengine=null`: fio's null engine, which moves nothing; any other engine reads zeros
    /// through [`Target::read`].
    fn engine(
        &self,
        cfg: &crate::engines::EngineConfig,
        _files: &[FileId],
    ) -> Result<Option<Box<dyn crate::engines::Engine>>> {
        Ok((cfg.engine == workloads::fio::IoEngine::Null).then(|| Box::new(crate::engines::NullEngine) as _))
    }
    fn spec(&self) -> &str {
        "null"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fallocate: vec![FallocMode::Allocate, FallocMode::KeepSize, FallocMode::PunchHole],
            remount: RemountKind::None,
            drop_caches: false,
            direct: true,
            stores_data: false,
        }
    }
    fn set_io_mode(&self, _mode: IoMode) -> Result<()> {
        Ok(())
    }
    fn open(&self, name: &str, create: bool) -> Result<FileId> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = files.iter().position(|(n, _)| n == name) {
            return Ok(FileId(i as u64));
        }
        if !create {
            return Err(TargetError::Os { op: "open", errno: libc::ENOENT });
        }
        if files.len() >= MAX_FILES {
            return Err(TargetError::Os { op: "open", errno: libc::EMFILE });
        }
        files.push((name.to_string(), AtomicU64::new(0)));
        Ok(FileId(files.len() as u64 - 1))
    }
    fn close(&self, _f: FileId) -> Result<()> {
        Ok(())
    }
    fn unlink(&self, _name: &str) -> Result<()> {
        Ok(())
    }
    fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize> {
        let size = self.size_of(f)?.load(Relaxed).max(off + buf.len() as u64);
        let n = (size.saturating_sub(off) as usize).min(buf.len());
        buf[..n].fill(0);
        Ok(n)
    }
    fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize> {
        self.size_of(f)?.fetch_max(off + data.len() as u64, Relaxed);
        Ok(data.len())
    }
    fn truncate(&self, f: FileId, size: u64) -> Result<()> {
        self.size_of(f)?.store(size, Relaxed);
        Ok(())
    }
    fn fallocate(&self, f: FileId, mode: FallocMode, off: u64, len: u64) -> Result<()> {
        if mode == FallocMode::Allocate {
            self.size_of(f)?.fetch_max(off + len, Relaxed);
        }
        Ok(())
    }
    fn fsync(&self, _f: FileId) -> Result<()> {
        Ok(())
    }
    fn fdatasync(&self, _f: FileId) -> Result<()> {
        Ok(())
    }
    fn size(&self, f: FileId) -> Result<u64> {
        Ok(self.size_of(f)?.load(Relaxed))
    }
    fn remount(&self) -> Result<()> {
        Ok(())
    }
    fn drop_caches(&self) -> Result<()> {
        Ok(())
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
    fn reset_counters(&self) {}
}
