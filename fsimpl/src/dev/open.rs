//! Opening a device: the engine over its backing store, falling back where the machine cannot
//! do what was asked (io_uring to psync, O_DIRECT to buffered I/O) with a one-line notice each.

use std::io;
use std::sync::Arc;

use super::backing::{BackingFile, open_backing};
use super::limits::{QueueLimits, SECTOR_SIZE};
use super::mem::MemDev;
use super::psync::PsyncDev;
use super::uring::{MAX_QUEUE_DEPTH, UringDev, setup_ring};
use super::{Backing, BlockDev, DevConfig, DevError, Engine, Opened};

/// The queue limits of an opened backing store: sysfs for a block device, the loop driver's
/// for an image file. Alignment is what direct I/O needs when it is used; buffered access
/// through the host's page cache takes any sector-aligned I/O.
fn limits_of(backing: &Backing, b: &BackingFile) -> QueueLimits {
    let base = match backing {
        Backing::BlockDevice { path } => QueueLimits::from_sysfs(path, b.size),
        _ => QueueLimits::loop_defaults(b.size),
    };
    let (logical_block_size, dma_alignment) = match b.direct {
        true => (base.logical_block_size.max(b.offset_align), base.dma_alignment.max(b.mem_align)),
        false => (SECTOR_SIZE, 1),
    };
    QueueLimits { logical_block_size, dma_alignment, ..base }
}

/// Opens the device `cfg` describes.
///
/// A file backing is created if missing and grown (sparsely, never shrunk) to its size; a
/// block device is opened exclusively. With `direct`, O_DIRECT is used unless the backing
/// store refuses it or needs a larger alignment than `min_io_align`; with [`Engine::Uring`],
/// psync is used if io_uring cannot be set up. Each fallback adds a notice to [`Opened`].
pub fn open(cfg: &DevConfig) -> Result<Opened, DevError> {
    open_with(cfg, &OpenHooks::default())
}

/// Test seams for [`open_with`]: make the machine look less capable than it is.
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct OpenHooks {
    /// Make `io_uring_setup` fail with this errno (as it does with ENOSYS on kernels without
    /// io_uring, or EPERM when `kernel.io_uring_disabled` is 2).
    pub fail_uring_setup: Option<i32>,
}

/// [`open`] with test seams.
#[doc(hidden)]
pub fn open_with(cfg: &DevConfig, hooks: &OpenHooks) -> Result<Opened, DevError> {
    let align = cfg.min_io_align;
    if align < SECTOR_SIZE || !align.is_power_of_two() {
        return Err(DevError::BadRequest(format!(
            "min_io_align {align} must be a power of two of at least {SECTOR_SIZE} bytes"
        )));
    }
    let mut notices = Vec::new();
    let dev: Arc<dyn BlockDev> = match (cfg.engine, &cfg.backing) {
        (Engine::Mem, Backing::Mem { size }) => Arc::new(MemDev::new(*size)?),
        (Engine::Mem, Backing::File { path, .. } | Backing::BlockDevice { path }) => {
            return Err(DevError::BadRequest(format!(
                "engine mem keeps the device in RAM and cannot use {}: give a RAM backing, or \
                 use engine uring or psync",
                path.display()
            )));
        }
        (Engine::Uring { .. } | Engine::Psync, Backing::Mem { .. }) => {
            return Err(DevError::BadRequest(format!(
                "a RAM backing works only with engine mem, not {}: give a file or a block \
                 device, or use engine mem",
                engine_name(cfg.engine)
            )));
        }
        (Engine::Psync, backing) => {
            let b = open_backing(backing, cfg.direct, align, &mut notices)?;
            let limits = limits_of(backing, &b);
            Arc::new(PsyncDev::new(b, limits)?)
        }
        (Engine::Uring { queue_depth }, backing) => {
            if queue_depth == 0 || queue_depth > MAX_QUEUE_DEPTH {
                return Err(DevError::BadRequest(format!(
                    "io_uring queue depth {queue_depth} must be between 1 and {MAX_QUEUE_DEPTH}"
                )));
            }
            let b = open_backing(backing, cfg.direct, align, &mut notices)?;
            let limits = limits_of(backing, &b);
            let ring = match hooks.fail_uring_setup {
                Some(errno) => Err(io::Error::from_raw_os_error(errno)),
                None => setup_ring(queue_depth),
            };
            match ring {
                Ok(ring) => Arc::new(UringDev::new(b, QueueLimits { nr_requests: queue_depth, ..limits }, ring)?),
                Err(e) => {
                    notices.push(format!("io_uring unavailable ({e}): using psync"));
                    Arc::new(PsyncDev::new(b, limits)?)
                }
            }
        }
    };
    Ok(Opened { dev, notices })
}

fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Uring { .. } => "uring",
        Engine::Psync => "psync",
        Engine::Mem => "mem",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::testutil::{self, FileEngine, LoopDevice, RamfsMount};
    use std::path::PathBuf;

    fn bad_request(cfg: &DevConfig) -> String {
        match open(cfg) {
            Err(DevError::BadRequest(m)) => m,
            Err(e) => panic!("expected BadRequest, got {e}"),
            Ok(_) => panic!("expected BadRequest, got a device"),
        }
    }

    fn mem_cfg(engine: Engine) -> DevConfig {
        DevConfig { engine, backing: Backing::Mem { size: 1 << 20 }, direct: true, min_io_align: 4096 }
    }

    #[test]
    fn engine_and_backing_must_fit_together() {
        let opened = open(&mem_cfg(Engine::Mem)).unwrap();
        assert_eq!(opened.dev.engine_name(), "mem");
        assert_eq!(opened.dev.size(), 1 << 20);
        assert!(!opened.dev.is_direct());
        assert!(opened.notices.is_empty());
        assert_eq!(
            bad_request(&mem_cfg(Engine::Uring { queue_depth: 8 })),
            "a RAM backing works only with engine mem, not uring: give a file or a block \
             device, or use engine mem"
        );
        assert!(bad_request(&mem_cfg(Engine::Psync)).contains("not psync"));
        let cfg = DevConfig {
            backing: Backing::File { path: PathBuf::from("/nonexistent/img"), size: 1 << 20 },
            ..mem_cfg(Engine::Mem)
        };
        assert!(bad_request(&cfg).starts_with("engine mem keeps the device in RAM"));
    }

    #[test]
    fn bad_numbers_are_refused_before_anything_is_created() {
        let dir = testutil::disk_tempdir();
        let path = dir.path().join("img");
        let file = |size| Backing::File { path: path.clone(), size };
        let cfg = DevConfig {
            engine: Engine::Uring { queue_depth: 0 },
            backing: file(1 << 20),
            direct: true,
            min_io_align: 4096,
        };
        assert_eq!(bad_request(&cfg), "io_uring queue depth 0 must be between 1 and 32768");
        let cfg = DevConfig { min_io_align: 1000, engine: Engine::Psync, ..cfg };
        assert_eq!(bad_request(&cfg), "min_io_align 1000 must be a power of two of at least 512 bytes");
        let cfg = DevConfig { min_io_align: 4096, backing: file(1000), ..cfg };
        assert!(bad_request(&cfg).contains("must be a positive multiple of 512 bytes"));
        assert!(!path.exists(), "a refused request created the image");
    }

    #[test]
    fn file_backing_is_created_grown_and_never_shrunk() {
        let dir = testutil::disk_tempdir();
        let path = dir.path().join("img");
        let cfg = |size| DevConfig {
            engine: Engine::Psync,
            backing: Backing::File { path: path.clone(), size },
            direct: true,
            min_io_align: 4096,
        };
        let opened = open(&cfg(1 << 20)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
        assert_eq!(opened.dev.size(), 1 << 20);
        drop(opened);
        let opened = open(&cfg(4 << 20)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 << 20);
        drop(opened);
        let opened = open(&cfg(2 << 20)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 << 20, "the image shrank");
        assert_eq!(opened.dev.size(), 2 << 20);
        // Sparse: nothing was written, so (almost) nothing is allocated.
        use std::os::unix::fs::MetadataExt;
        assert!(std::fs::metadata(&path).unwrap().blocks() < 64);
    }

    #[test]
    fn a_disk_file_is_opened_with_o_direct() {
        for engine in [FileEngine::Uring { queue_depth: 4 }, FileEngine::Psync] {
            let (_dir, cfg) = testutil::file_config(engine, 1 << 20);
            let opened = open(&cfg).unwrap();
            assert!(opened.notices.is_empty(), "{:?}", opened.notices);
            assert_eq!(opened.dev.engine_name(), engine.name());
            assert!(opened.dev.is_direct(), "{} on /var/tmp is not O_DIRECT", engine.name());
            let path = dir_path(&cfg);
            assert_eq!(o_direct_on_open_fds(&path), [true]);
            drop(opened);
            let cfg = DevConfig { direct: false, ..cfg };
            let opened = open(&cfg).unwrap();
            assert!(!opened.dev.is_direct());
            assert!(opened.notices.is_empty());
            assert_eq!(o_direct_on_open_fds(&path), [false]);
        }
    }

    fn dir_path(cfg: &DevConfig) -> PathBuf {
        match &cfg.backing {
            Backing::File { path, .. } | Backing::BlockDevice { path } => path.clone(),
            Backing::Mem { .. } => unreachable!("a RAM backing has no path"),
        }
    }

    /// For each descriptor of this process open on `path`, whether it has O_DIRECT (from the
    /// `flags:` line of `/proc/self/fdinfo`, in octal).
    fn o_direct_on_open_fds(path: &std::path::Path) -> Vec<bool> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
            let fd = entry.unwrap().file_name();
            let Ok(target) = std::fs::read_link(format!("/proc/self/fd/{}", fd.display())) else {
                continue; // closed meanwhile
            };
            if target != path {
                continue;
            }
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.display()));
            let flags = info
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .map(|f| i32::from_str_radix(f.trim(), 8).unwrap())
                .unwrap();
            found.push(flags & libc::O_DIRECT != 0);
        }
        found
    }

    #[test]
    fn uring_setup_failure_falls_back_to_psync_with_a_notice() {
        let (_dir, cfg) = testutil::file_config(FileEngine::Uring { queue_depth: 8 }, 1 << 20);
        let hooks = OpenHooks { fail_uring_setup: Some(libc::EPERM) };
        let opened = open_with(&cfg, &hooks).unwrap();
        assert_eq!(opened.dev.engine_name(), "psync");
        assert!(opened.dev.is_direct());
        assert_eq!(opened.notices, ["io_uring unavailable (Operation not permitted (os error 1)): using psync"]);
        let mut buf = testutil::AlignedBuf::new(8192);
        buf.fill_pattern(11);
        testutil::write_read_back(&*opened.dev, 4096, &mut [buf.as_mut_slice()]).unwrap();
        let hooks = OpenHooks { fail_uring_setup: Some(libc::ENOSYS) };
        let opened = open_with(&cfg, &hooks).unwrap();
        assert_eq!(opened.notices, ["io_uring unavailable (Function not implemented (os error 38)): using psync"]);
    }

    /// tmpfs takes O_DIRECT since Linux 6.6 but does not report STATX_DIOALIGN: the device
    /// keeps O_DIRECT with sector alignment. Older kernels refuse O_DIRECT with EINVAL: the
    /// device falls back to buffered I/O with a notice.
    #[test]
    fn tmpfs_backing_is_direct_or_falls_back_with_a_notice() {
        let dir = match tempfile::tempdir_in("/dev/shm") {
            Ok(dir) => dir,
            Err(e) => {
                println!("skipped: no tmpfs at /dev/shm ({e})");
                return;
            }
        };
        let cfg = DevConfig {
            engine: Engine::Uring { queue_depth: 4 },
            backing: Backing::File { path: dir.path().join("img"), size: 1 << 20 },
            direct: true,
            min_io_align: 1024,
        };
        let opened = open(&cfg).unwrap();
        if opened.dev.is_direct() {
            assert!(opened.notices.is_empty(), "{:?}", opened.notices);
        } else {
            assert_eq!(opened.notices.len(), 1);
            assert!(opened.notices[0].contains("using buffered I/O"), "{:?}", opened.notices);
        }
        println!("tmpfs on this kernel: is_direct={} notices={:?}", opened.dev.is_direct(), opened.notices);
        let mut buf = testutil::AlignedBuf::new(3072);
        buf.fill_pattern(5);
        testutil::write_read_back(&*opened.dev, 1024, &mut [buf.as_mut_slice()]).unwrap();
    }

    #[test]
    fn o_direct_refused_at_open_falls_back_to_buffered_with_a_notice() {
        let Some(ramfs) = RamfsMount::mount() else {
            return;
        };
        for engine in [Engine::Uring { queue_depth: 4 }, Engine::Psync] {
            let path = ramfs.path().join(format!("img-{}", engine_name(engine)));
            let cfg = DevConfig {
                engine,
                backing: Backing::File { path: path.clone(), size: 1 << 20 },
                direct: true,
                min_io_align: 4096,
            };
            let opened = open(&cfg).unwrap();
            assert_eq!(opened.dev.engine_name(), engine_name(engine));
            assert!(!opened.dev.is_direct());
            assert_eq!(
                opened.notices,
                [format!("{}: O_DIRECT refused (Invalid argument (os error 22)): using buffered I/O", path.display())]
            );
            assert_eq!(o_direct_on_open_fds(&path), [false]);
            let mut buf = testutil::AlignedBuf::new(8192);
            buf.fill_pattern(12);
            testutil::write_read_back(&*opened.dev, 8192, &mut [buf.as_mut_slice()]).unwrap();
        }
    }

    #[test]
    fn loop_device_round_trip_and_alignment_fallback() {
        let Some(lo) = LoopDevice::attach(64 << 20, 512) else {
            return;
        };
        let Some(lo4k) = LoopDevice::attach(16 << 20, 4096) else {
            return;
        };
        // The devices are closed and reopened exclusively below: no child may hold a copy of
        // their descriptors meanwhile (see `testutil::no_children`).
        let _no_children = testutil::no_children();
        for engine in [Engine::Uring { queue_depth: 8 }, Engine::Psync] {
            let cfg = DevConfig {
                engine,
                backing: Backing::BlockDevice { path: lo.path().to_path_buf() },
                direct: true,
                min_io_align: 1024,
            };
            let opened = open(&cfg).unwrap();
            assert!(opened.notices.is_empty(), "{:?}", opened.notices);
            assert_eq!(opened.dev.size(), 64 << 20);
            assert!(opened.dev.is_direct());
            assert_eq!(o_direct_on_open_fds(lo.path()), [true]);
            let mut a = testutil::AlignedBuf::new(4096);
            let mut b = testutil::AlignedBuf::new(8192);
            a.fill_pattern(1);
            b.fill_pattern(2);
            let at = (64 << 20) - 12288;
            testutil::write_read_back(&*opened.dev, at, &mut [a.as_mut_slice(), b.as_mut_slice()]).unwrap();
            opened.dev.flush().unwrap();
            let s = opened.dev.stats();
            assert_eq!((s.writes, s.reads, s.flushes, s.errors), (1, 1, 1, 0));
            // Opened exclusively: a second open while the first is live is refused.
            match open(&cfg) {
                Err(DevError::Open { source, .. }) => {
                    assert_eq!(source.raw_os_error(), Some(libc::EBUSY))
                }
                other => panic!("second exclusive open: {:?}", other.map(|o| o.notices)),
            }
        }
        // A file is not a block device.
        let cfg = DevConfig {
            engine: Engine::Psync,
            backing: Backing::BlockDevice { path: lo.backing_file().to_path_buf() },
            direct: true,
            min_io_align: 4096,
        };
        assert!(bad_request(&cfg).ends_with("is not a block device: give an image file as a file backing"));

        // 4 KiB logical sectors: O_DIRECT needs 4096-byte alignment, more than 1024.
        let cfg = |min_io_align| DevConfig {
            engine: Engine::Uring { queue_depth: 8 },
            backing: Backing::BlockDevice { path: lo4k.path().to_path_buf() },
            direct: true,
            min_io_align,
        };
        let opened = open(&cfg(1024)).unwrap();
        assert!(!opened.dev.is_direct());
        assert_eq!(o_direct_on_open_fds(lo4k.path()), [false]);
        assert_eq!(
            opened.notices,
            [format!(
                "{}: O_DIRECT needs 4096-byte offset and 512-byte memory alignment, more than \
                 the 1024-byte alignment the filesystem guarantees: using buffered I/O",
                lo4k.path().display()
            )]
        );
        let mut buf = testutil::AlignedBuf::new(1024);
        buf.fill_pattern(9);
        testutil::write_read_back(&*opened.dev, 1024, &mut [buf.as_mut_slice()]).unwrap();
        drop(opened);
        let opened = open(&cfg(4096)).unwrap();
        assert!(opened.dev.is_direct());
        assert!(opened.notices.is_empty());
        let mut buf = testutil::AlignedBuf::new(4096);
        match crate::dev::read_at(&*opened.dev, 1024, buf.as_mut_slice()) {
            Err(DevError::BadRequest(m)) => {
                assert!(m.contains("multiples of 4096 bytes"), "{m}")
            }
            other => panic!("a 1024-aligned bio on a 4Kn direct device: {other:?}"),
        }
    }
}
