//! A target that corrupts one byte, to prove that diff sees, reports and shrinks a
//! corruption (a perturbing backend, like raft-engine's `ObfuscatedFileSystem`).

use crate::targets::{Capabilities, FileId, IoMode, PowerControl, Result, Target};
use std::collections::BTreeMap;
use std::sync::Mutex;
use workloads::FallocMode;

/// Wraps a target; every write that covers file offset `at` stores the byte there with its
/// low bit flipped. Everything else passes through.
pub struct FlipTarget {
    inner: Box<dyn Target>,
    at: u64,
    spec: String,
    scratch: Mutex<Vec<u8>>,
}

impl FlipTarget {
    /// `inner`, flipping the byte at file offset `at` of every write over it.
    pub fn new(inner: Box<dyn Target>, at: u64) -> FlipTarget {
        let spec = format!("{}+flip@{at}", inner.spec());
        FlipTarget { inner, at, spec, scratch: Mutex::new(Vec::new()) }
    }
}

impl Target for FlipTarget {
    fn kind(&self) -> &str {
        self.inner.kind()
    }
    fn spec(&self) -> &str {
        &self.spec
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn set_io_mode(&self, mode: IoMode) -> Result<()> {
        self.inner.set_io_mode(mode)
    }
    fn set_file_io_mode(&self, f: FileId, mode: IoMode) -> Result<()> {
        self.inner.set_file_io_mode(f, mode)
    }
    fn open(&self, name: &str, create: bool) -> Result<FileId> {
        self.inner.open(name, create)
    }
    fn close(&self, f: FileId) -> Result<()> {
        self.inner.close(f)
    }
    fn unlink(&self, name: &str) -> Result<()> {
        self.inner.unlink(name)
    }
    fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize> {
        self.inner.read(f, off, buf)
    }
    fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize> {
        if !(off..off + data.len() as u64).contains(&self.at) {
            return self.inner.write(f, off, data);
        }
        let mut copy = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        copy.clear();
        copy.extend_from_slice(data);
        copy[(self.at - off) as usize] ^= 1;
        self.inner.write(f, off, &copy)
    }
    fn truncate(&self, f: FileId, size: u64) -> Result<()> {
        self.inner.truncate(f, size)
    }
    fn fallocate(&self, f: FileId, mode: FallocMode, off: u64, len: u64) -> Result<()> {
        self.inner.fallocate(f, mode, off, len)
    }
    fn fsync(&self, f: FileId) -> Result<()> {
        self.inner.fsync(f)
    }
    fn fdatasync(&self, f: FileId) -> Result<()> {
        self.inner.fdatasync(f)
    }
    fn size(&self, f: FileId) -> Result<u64> {
        self.inner.size(f)
    }
    fn remount(&self) -> Result<()> {
        self.inner.remount()
    }
    fn drop_caches(&self) -> Result<()> {
        self.inner.drop_caches()
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        self.inner.counters()
    }
    fn reset_counters(&self) {
        self.inner.reset_counters()
    }
    fn can_cut_power(&self) -> bool {
        self.inner.can_cut_power()
    }
    fn power_cuts(&self) -> u64 {
        self.inner.power_cuts()
    }
    fn power(&self, ctl: PowerControl) -> Result<()> {
        self.inner.power(ctl)
    }
    fn reboot(&self) -> Result<()> {
        self.inner.reboot()
    }
    fn notices(&self) -> Vec<String> {
        self.inner.notices()
    }
    fn teardown(&self) -> Result<()> {
        self.inner.teardown()
    }
}
