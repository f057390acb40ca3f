//! What a device's queue accepts (`struct queue_limits`) and its readahead
//! (`bdi->ra_pages`, `bdi->io_pages`): read from sysfs for a block device, the loop driver's
//! defaults for an image file or RAM, so that fsimpl's requests have the shape a loop-mounted
//! kernel filesystem's have on the same machine.

use std::path::Path;

/// Sector size: the unit of device offsets.
pub const SECTOR_SIZE: u32 = 512;

/// Limits of one device's request queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Capacity in bytes.
    pub size: u64,
    /// Alignment of request offsets and lengths (`logical_block_size`, or the O_DIRECT offset
    /// alignment of a file).
    pub logical_block_size: u32,
    /// Alignment of segment memory (`dma_alignment + 1`, or the O_DIRECT memory alignment).
    pub dma_alignment: u32,
    /// Largest request in KiB (`max_sectors_kb`).
    pub max_sectors_kb: u32,
    /// Most segments per request (`max_segments`).
    pub max_segments: u32,
    /// Largest segment in bytes (`max_segment_size`).
    pub max_segment_size: u32,
    /// Requests in flight at most (`nr_requests`: the tags).
    pub nr_requests: u32,
    /// The readahead window, KiB (`read_ahead_kb`).
    pub read_ahead_kb: u32,
    /// Pages must not change while they are written (`BLK_FEAT_STABLE_WRITES`): a write to a
    /// folio under writeback waits for it (`folio_wait_stable`).
    pub stable_writes: bool,
}

impl QueueLimits {
    /// The loop driver's limits on Linux 6.18 (`loop_set_limits`, read off
    /// `/sys/block/loopN/queue` here): 1280 KiB requests of at most 128 segments of 64 KiB,
    /// 128 tags, and a readahead of twice the largest request.
    pub fn loop_defaults(size: u64) -> Self {
        QueueLimits {
            size,
            logical_block_size: SECTOR_SIZE,
            dma_alignment: 1,
            max_sectors_kb: 1280,
            max_segments: 128,
            max_segment_size: 64 << 10,
            nr_requests: 128,
            read_ahead_kb: 2560,
            stable_writes: false,
        }
    }

    /// Largest request in bytes.
    pub fn max_bytes(&self) -> u64 {
        u64::from(self.max_sectors_kb) << 10
    }

    /// Largest read readahead sends at once, in pages (`bdi->io_pages`).
    pub fn io_pages(&self) -> u64 {
        u64::from(self.max_sectors_kb) / 4
    }

    /// The limits of block device `dev` (a path like `/dev/loop0`) from
    /// `/sys/dev/block/MAJ:MIN/queue`, over the loop defaults for what cannot be read.
    pub fn from_sysfs(dev: &Path, size: u64) -> Self {
        let mut l = QueueLimits::loop_defaults(size);
        let Some(q) = sysfs_queue_dir(dev) else { return l };
        let read = |name: &str| -> Option<u64> { std::fs::read_to_string(q.join(name)).ok()?.trim().parse().ok() };
        let set = |v: &mut u32, name: &str| {
            if let Some(n) = read(name).filter(|&n| n > 0) {
                *v = n.min(u64::from(u32::MAX)) as u32;
            }
        };
        set(&mut l.logical_block_size, "logical_block_size");
        set(&mut l.max_sectors_kb, "max_sectors_kb");
        set(&mut l.max_segments, "max_segments");
        set(&mut l.max_segment_size, "max_segment_size");
        set(&mut l.nr_requests, "nr_requests");
        set(&mut l.read_ahead_kb, "read_ahead_kb");
        if let Some(n) = read("dma_alignment") {
            l.dma_alignment = (n + 1).min(4096) as u32;
        }
        l.stable_writes = read("stable_writes") == Some(1);
        l
    }
}

/// `/sys/dev/block/MAJ:MIN/queue` of a block device node.
fn sysfs_queue_dir(dev: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata(dev).ok()?.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let q = std::path::PathBuf::from(format!("/sys/dev/block/{major}:{minor}/queue"));
    q.is_dir().then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_defaults_match_linux_6_18() {
        let l = QueueLimits::loop_defaults(1 << 30);
        assert_eq!(l.max_bytes(), 1280 << 10);
        assert_eq!(l.io_pages(), 320);
        assert_eq!((l.max_segments, l.max_segment_size, l.nr_requests, l.read_ahead_kb), (128, 65536, 128, 2560));
    }

    #[test]
    fn a_missing_device_keeps_the_defaults() {
        let l = QueueLimits::from_sysfs(Path::new("/nonexistent/dev"), 4096);
        assert_eq!(l, QueueLimits::loop_defaults(4096));
    }
}
