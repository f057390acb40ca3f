//! A kernel target's counters: the block device's `/sys/block/<dev>/stat` (what
//! `iostat` reads; see the kernel's `Documentation/block/stat.rst`) and the process's
//! `/proc/self/io` (`task_io_accounting`), as deltas since the last reset.
//!
//! Keys: `dev_reads`, `dev_read_bytes`, `dev_writes`, `dev_write_bytes`, and `dev_flushes`
//! when the kernel reports flushes (Linux 5.5+); `proc_rchar`, `proc_wchar`, `proc_syscr`,
//! `proc_syscw`, `proc_read_bytes`, `proc_write_bytes`. Device I/O happens at writeback, so
//! buffered writes show up after an fsync, a remount or the flusher; `/proc/self/io` counts the
//! whole process, harness threads included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use results::DiskUtil;

/// Sector size of `/sys/block/*/stat` fields, whatever the device's own.
const STAT_SECTOR: u64 = 512;

/// Fields of `/sys/block/<dev>/stat` we report: (index, key, scale).
const BLOCK_FIELDS: [(usize, &str, u64); 5] = [
    (0, "dev_reads", 1),
    (2, "dev_read_bytes", STAT_SECTOR),
    (4, "dev_writes", 1),
    (6, "dev_write_bytes", STAT_SECTOR),
    (15, "dev_flushes", 1),
];

/// Fields of `/proc/self/io` we report.
const PROC_FIELDS: [&str; 6] = ["rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes"];

/// Counters of one block device (if any) and of this process, with the values at the last reset.
#[derive(Debug)]
pub(crate) struct KernelCounters {
    /// `/sys/.../stat` of the device, `None` for a filesystem without one (tmpfs).
    block_stat: Option<PathBuf>,
    base: Mutex<BTreeMap<String, u64>>,
    /// The device's stat fields and the time at the last reset, for [`Self::disk_util`].
    disk_base: Mutex<Option<(Vec<u64>, Instant)>>,
}

impl KernelCounters {
    /// Counters over `block_stat`, starting now.
    pub(crate) fn new(block_stat: Option<PathBuf>) -> Self {
        let c = KernelCounters { block_stat, base: Mutex::new(BTreeMap::new()), disk_base: Mutex::new(None) };
        c.reset();
        c
    }

    /// Counters of the block device holding `dir`'s filesystem (found through
    /// `/sys/dev/block/MAJOR:MINOR`), if it has one.
    pub(crate) fn for_dir(dir: &Path) -> Self {
        use std::os::unix::fs::MetadataExt;
        let stat = std::fs::metadata(dir).ok().and_then(|m| {
            let dev = m.dev();
            let path = PathBuf::from(format!("/sys/dev/block/{}:{}/stat", libc::major(dev), libc::minor(dev)));
            path.exists().then_some(path)
        });
        KernelCounters::new(stat)
    }

    /// Deltas since the last reset.
    pub(crate) fn deltas(&self) -> BTreeMap<String, u64> {
        let now = self.snapshot();
        let base = self.base.lock().unwrap_or_else(|e| e.into_inner());
        now.into_iter().map(|(k, v)| (k.clone(), v.saturating_sub(base.get(&k).copied().unwrap_or(0)))).collect()
    }

    /// Restarts the deltas from now.
    pub(crate) fn reset(&self) {
        let now = self.snapshot();
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) = now;
        *self.disk_base.lock().unwrap_or_else(|e| e.into_inner()) = self.stat_fields().map(|f| (f, Instant::now()));
    }

    /// The device's statistics since the last reset as fio's `disk_util` reports them
    /// (`update_io_tick_disk`: deltas of `/sys/block/<dev>/stat`); `None` without a device.
    pub(crate) fn disk_util(&self) -> Option<DiskUtil> {
        let (base, since) = self.disk_base.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        let now = self.stat_fields()?;
        let d = |i: usize| now.get(i).copied().unwrap_or(0).saturating_sub(base.get(i).copied().unwrap_or(0));
        // /sys/block/<dev>/stat or /sys/dev/block/MAJ:MIN/stat: the device's directory names it.
        let dir = self.block_stat.as_ref()?.parent()?;
        let name = std::fs::canonicalize(dir).ok()?.file_name()?.to_string_lossy().into_owned();
        Some(DiskUtil {
            name,
            read_ios: d(0),
            read_merges: d(1),
            read_ticks: d(3),
            write_ios: d(4),
            write_merges: d(5),
            write_ticks: d(7),
            io_ticks: d(9),
            in_queue: d(10),
            time_ms: since.elapsed().as_millis() as u64,
        })
    }

    fn stat_fields(&self) -> Option<Vec<u64>> {
        let text = std::fs::read_to_string(self.block_stat.as_ref()?).ok()?;
        Some(text.split_whitespace().map_while(|f| f.parse().ok()).collect())
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        if let Some(text) = self.block_stat.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
            out.extend(parse_block_stat(&text));
        }
        if let Ok(text) = std::fs::read_to_string("/proc/self/io") {
            out.extend(parse_proc_io(&text));
        }
        out
    }
}

/// The reported fields of a `/sys/block/<dev>/stat` line (those the kernel has).
fn parse_block_stat(text: &str) -> Vec<(String, u64)> {
    let fields: Vec<u64> = text.split_whitespace().map_while(|f| f.parse().ok()).collect();
    BLOCK_FIELDS.iter().filter_map(|&(i, key, scale)| fields.get(i).map(|v| (key.to_string(), v * scale))).collect()
}

/// The reported fields of `/proc/self/io`, prefixed `proc_`.
fn parse_proc_io(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            PROC_FIELDS.contains(&key).then(|| Some((format!("proc_{key}"), value.trim().parse().ok()?)))?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_stat_fields_scale_sectors_to_bytes() {
        let line = "  22 0 528 5 44 0 528 36 0 44 71 0 0 0 0 22 29\n";
        let got: BTreeMap<_, _> = parse_block_stat(line).into_iter().collect();
        let want = [("dev_reads", 22), ("dev_read_bytes", 528 * 512), ("dev_writes", 44)];
        for (k, v) in want {
            assert_eq!(got[k], v, "{k}");
        }
        assert_eq!(got["dev_write_bytes"], 528 * 512);
        assert_eq!(got["dev_flushes"], 22);
        // A kernel before 5.5 has 11 fields (no discard, no flush).
        let old: BTreeMap<_, _> = parse_block_stat("1 0 8 0 2 0 16 0 0 0 0").into_iter().collect();
        assert_eq!(old.len(), 4);
        assert!(!old.contains_key("dev_flushes"));
    }

    #[test]
    fn proc_io_fields_are_prefixed() {
        let text = "rchar: 6976\nwchar: 5\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\n\
                    cancelled_write_bytes: 0\n";
        let got: BTreeMap<_, _> = parse_proc_io(text).into_iter().collect();
        assert_eq!(got.len(), 6);
        assert_eq!(got["proc_rchar"], 6976);
        assert_eq!(got["proc_write_bytes"], 8192);
        assert!(!got.contains_key("proc_cancelled_write_bytes"));
    }

    #[test]
    fn deltas_start_at_zero_and_grow_with_this_process_reads() {
        let c = KernelCounters::new(None);
        c.reset();
        let _ = std::fs::read("/proc/self/status");
        let d = c.deltas();
        assert!(d["proc_syscr"] >= 1, "{d:?}");
        assert!(!d.contains_key("dev_reads"));
    }
}
