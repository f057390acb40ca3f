//! The page cache under a memory limit, the dirty thresholds, and the writeback modes.

use fsimpl::dev::{Bio, BioOp, BlockDev, DevError, DevStats, MemDev, QueueLimits};
use fsimpl::mm::WritebackMode;
use fsimpl::{Backend, Flusher, FormatOptions, Fs, FsError, MountOptions};
use std::sync::Arc;

const MIB: u64 = 1 << 20;

fn mount(backend: Backend, cache: u64, writeback: WritebackMode, dev_size: u64) -> Fs {
    mount_with(backend, cache, writeback, dev_size, Flusher::Thread)
}

fn mount_with(backend: Backend, cache: u64, writeback: WritebackMode, dev_size: u64, flusher: Flusher) -> Fs {
    let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(dev_size).unwrap());
    let opts =
        MountOptions { backend, large_folios: true, cache_bytes: cache, writeback, flusher, ..MountOptions::default() };
    Fs::format_and_mount(dev, &FormatOptions::default(), opts).unwrap()
}

const BOTH: [(Backend, Flusher); 4] = [
    (Backend::BufferHead, Flusher::Thread),
    (Backend::Iomap, Flusher::Thread),
    (Backend::BufferHead, Flusher::Inline),
    (Backend::Iomap, Flusher::Inline),
];

fn chunk(i: u64) -> Vec<u8> {
    (0..MIB).map(|j| (i * 7 + j / 4096) as u8).collect()
}

fn write_file(fs: &Fs, name: &str, mib: u64) -> fsimpl::Fh {
    let f = fs.create(name).unwrap();
    for i in 0..mib {
        assert_eq!(fs.write(f, i * MIB, &chunk(i)).unwrap(), MIB as usize);
    }
    f
}

fn check_file(fs: &Fs, f: fsimpl::Fh, mib: u64) {
    let mut buf = vec![0; MIB as usize];
    for i in 0..mib {
        assert_eq!(fs.read(f, i * MIB, &mut buf).unwrap(), MIB as usize);
        assert!(buf == chunk(i), "MiB {i} differs");
    }
}

#[test]
fn a_file_larger_than_the_cache_is_written_and_read_back_through_eviction() {
    for backend in [Backend::BufferHead, Backend::Iomap] {
        let fs = mount(backend, 8 * MIB, WritebackMode::On, 256 * MIB);
        let f = write_file(&fs, "big", 64);
        check_file(&fs, f, 64);
        let s = fs.stats();
        assert!(s.evicted_folios > 0, "{backend:?}: clean folios were evicted");
        assert!(s.cache_bytes_peak <= 8 * MIB, "{backend:?}: cache stays under its limit");
        assert_eq!(s.forced_writebacks, 0, "{backend:?}: background writeback kept up");
    }
}

#[test]
fn background_writeback_keeps_dirty_data_near_the_threshold() {
    for (backend, flusher) in BOTH {
        let fs = mount_with(backend, 64 * MIB, WritebackMode::On, 256 * MIB, flusher);
        write_file(&fs, "f", 32);
        let s = fs.stats();
        let case = format!("{backend:?} {flusher:?}");
        // Background threshold 10% of 64 MiB, limit 20%. Inline, the writer crossing the
        // background threshold writes a pass itself, so the level stays within a write of
        // it. With the flusher thread writers run free up to half way between the two and
        // are throttled above, never past the limit by more than a write.
        let ceiling = match flusher {
            Flusher::Inline => 64 * MIB / 10 + MIB,
            Flusher::Thread => 64 * MIB / 5 + MIB,
        };
        assert!(s.dirty_bytes_peak <= ceiling, "{case}: peak {}", s.dirty_bytes_peak);
        assert!(s.writeback_passes > 0, "{case}: background writeback ran");
        assert_eq!(s.forced_writebacks, 0, "{case}: nobody had to force writeback");
        fs.sync().unwrap();
        assert_eq!(fs.stats().writeback_bytes, 32 * MIB, "{case}: every byte written once");
    }
}

#[test]
fn writeback_off_leaves_everything_dirty_until_the_cache_is_full() {
    for backend in [Backend::BufferHead, Backend::Iomap] {
        let fs = mount(backend, 64 * MIB, WritebackMode::Off, 256 * MIB);
        let f = write_file(&fs, "f", 32);
        let s = fs.stats();
        assert_eq!(s.dirty_bytes, 32 * MIB, "{backend:?}");
        assert_eq!(s.dev.writes, 0, "{backend:?}");
        // Past the cache size, a full cache forces writeback.
        let g = write_file(&fs, "g", 48);
        let s = fs.stats();
        assert!(s.forced_writebacks > 0, "{backend:?}");
        check_file(&fs, f, 32);
        check_file(&fs, g, 48);
    }
}

#[test]
fn dontcache_writes_back_and_drops_as_it_goes() {
    for (backend, flusher) in BOTH {
        let fs = mount_with(backend, 64 * MIB, WritebackMode::DontCache, 256 * MIB, flusher);
        let f = write_file(&fs, "f", 16);
        let case = format!("{backend:?} {flusher:?}");
        // Each write starts writeback of what it wrote; the folios go when it ends. With the
        // flusher thread that is asynchronous: fsync waits for the last of it.
        fs.fsync(f).unwrap();
        let s = fs.stats();
        assert_eq!(s.dirty_bytes, 0, "{case}");
        assert_eq!(s.cache_bytes, 0, "{case}: folios dropped once written");
        let journal = 4096 * (s.journal_blocks + s.checkpoint_blocks);
        assert_eq!(s.dev.write_bytes - journal, 16 * MIB, "{case}: the data once, and the journal's blocks");
        check_file(&fs, f, 16);
        assert_eq!(fs.stats().cache_bytes, 0, "{case}: reads drop behind too");
    }
}

#[test]
fn a_delalloc_reservation_beyond_free_space_fails_the_write_with_enospc() {
    for backend in [Backend::BufferHead, Backend::Iomap] {
        // 8 MiB device: a 4 MiB journal (mkfs.ext4's default for 2048 blocks) and the other
        // metadata leave less than 4 MiB of data blocks.
        let fs = mount(backend, 64 * MIB, WritebackMode::Off, 8 * MIB);
        let f = fs.create("f").unwrap();
        let mut written = 0u64;
        let err = loop {
            match fs.write(f, written, &chunk(0)) {
                Ok(n) if n as u64 == MIB => written += MIB,
                Ok(n) => {
                    written += n as u64;
                    continue;
                }
                Err(e) => break e,
            }
        };
        assert!(matches!(err, FsError::NoSpace { .. }), "{backend:?}: {err}");
        assert_eq!(err.errno(), libc::ENOSPC);
        assert!((3 * MIB..4 * MIB).contains(&written), "{backend:?}: {written}");
        // What was accepted is there after a sync and remount.
        fs.fsync(f).unwrap();
        fs.remount().unwrap();
        assert_eq!(fs.stat(f).unwrap().size, written, "{backend:?}");
    }
}

#[test]
fn a_torn_journal_commit_falls_back_to_the_previous_commit() {
    use fsimpl::core::jbd2::format::{JBD2_COMMIT_BLOCK, JBD2_MAGIC_NUMBER, journal_header_t};
    for backend in [Backend::BufferHead, Backend::Iomap] {
        let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(64 * MIB).unwrap());
        let opts = MountOptions { backend, cache_bytes: 16 * MIB, commit_interval: None, ..MountOptions::default() };
        let fs = Fs::format_and_mount(dev.clone(), &FormatOptions::default(), opts).unwrap();
        let f = fs.create("f").unwrap();
        fs.write(f, 0, &chunk(1)).unwrap();
        fs.fsync(f).unwrap();
        let committed = fs.stats().meta_writes;
        fs.write(f, MIB, &chunk(2)).unwrap();
        fs.fsync(f).unwrap();
        assert_eq!(fs.stats().meta_writes, committed + 1);
        // A crash: the journal holds both commits, not yet checkpointed.
        drop(fs);
        // Tear the newest commit block: flip a byte, so that its checksum fails.
        let (map, _) = fsimpl::core::ext4::fs::journal_of(dev.as_ref()).unwrap();
        let bs = map.block_size as usize;
        let mut newest: Option<(u32, u64)> = None;
        for l in 1..map.maxlen {
            let p = map.bmap(l).unwrap();
            let b = fsimpl::core::io::read_blocks(dev.as_ref(), map.block_size, p, 1).unwrap();
            let h = journal_header_t::decode(&b);
            if h.h_magic == JBD2_MAGIC_NUMBER
                && h.h_blocktype == JBD2_COMMIT_BLOCK
                && newest.is_none_or(|(s, _)| h.h_sequence > s)
            {
                newest = Some((h.h_sequence, p));
            }
        }
        let (_, at) = newest.expect("a commit block in the log");
        let mut b = fsimpl::core::io::read_blocks(dev.as_ref(), map.block_size, at, 1).unwrap().to_vec();
        b[bs - 1] ^= 0xff;
        fsimpl::core::io::write_blocks(dev.as_ref(), map.block_size, [(at, &b[..])]).unwrap();
        let fs = Fs::mount(dev, opts).unwrap();
        let f = fs.open("f").unwrap();
        assert_eq!(fs.stat(f).unwrap().size, MIB, "{backend:?}: the previous commit's size");
        let mut buf = vec![0; MIB as usize];
        assert_eq!(fs.read(f, 0, &mut buf).unwrap(), MIB as usize);
        assert!(buf == chunk(1), "{backend:?}: the previous commit's data");
    }
}

/// Found by `aopsbench diff --targets bh,iomap --seed 1 --file-len 4m --op-len 1m` (op 7897:
/// `panicked at fsimpl/src/fs/ctx.rs:144:37: folio is cached`): a read hit the readahead
/// marker, the next window's folio allocation reclaimed the folio the read was about to copy
/// from, and the read found it gone. The kernel holds a folio reference across the copy
/// (`filemap_read` → `filemap_get_pages` fills a `folio_batch`), and reclaim does not take a
/// folio with references beyond the cache's (`folio_ref_freeze` in `__remove_mapping`).
#[test]
fn reclaim_during_async_readahead_keeps_the_folio_being_read() {
    for backend in [Backend::BufferHead, Backend::Iomap] {
        let fs = mount(backend, 2 * MIB, WritebackMode::On, 64 * MIB);
        let f = write_file(&fs, "f", 4);
        fs.remount().unwrap();
        check_file(&fs, f, 4);
        let mut buf = vec![0; 100_000];
        for pos in (0..4 * MIB).step_by(65536) {
            fs.read(f, pos, &mut buf).unwrap();
        }
        assert!(fs.stats().evicted_folios > 0, "{backend:?}: reclaim ran");
    }
}

/// A RAM device whose reads can be held back, as a slow device's would be in flight.
struct HeldReads {
    inner: MemDev,
    hold: std::sync::atomic::AtomicBool,
    /// Bios travel boxed (`BlockDev::submit_bio` takes a `Box<Bio>`) and are passed on as such.
    #[allow(clippy::vec_box)]
    held: std::sync::Mutex<Vec<Box<Bio>>>,
}

impl HeldReads {
    fn release(&self) {
        self.hold.store(false, std::sync::atomic::Ordering::SeqCst);
        for bio in std::mem::take(&mut *self.held.lock().unwrap()) {
            self.inner.submit_bio(bio);
        }
    }
}

impl BlockDev for HeldReads {
    fn engine_name(&self) -> &'static str {
        self.inner.engine_name()
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn is_direct(&self) -> bool {
        false
    }
    fn limits(&self) -> QueueLimits {
        self.inner.limits()
    }
    fn submit_bio(&self, bio: Box<Bio>) {
        if bio.op == BioOp::Read && self.hold.load(std::sync::atomic::Ordering::SeqCst) {
            self.held.lock().unwrap().push(bio);
        } else {
            self.inner.submit_bio(bio);
        }
    }
    fn flush(&self) -> Result<(), DevError> {
        self.inner.flush()
    }
    fn stats(&self) -> DevStats {
        self.inner.stats()
    }
}

/// `RWF_NOWAIT` reads (`filemap_read` with `IOCB_NOWAIT`): cached data comes back without
/// device I/O; a miss starts readahead and is EAGAIN while that read is in flight; once it
/// completes the same attempt succeeds.
#[test]
fn a_nowait_read_returns_cached_data_and_would_block_on_a_miss() {
    for (backend, flusher) in BOTH {
        let dev =
            Arc::new(HeldReads { inner: MemDev::new(64 * MIB).unwrap(), hold: false.into(), held: Default::default() });
        let opts = MountOptions { backend, flusher, cache_bytes: 16 * MIB, ..MountOptions::default() };
        let fs = Fs::format_and_mount(dev.clone(), &FormatOptions::default(), opts).unwrap();
        let f = write_file(&fs, "f", 2);
        let mut buf = vec![0; MIB as usize];
        let reads = fs.stats().dev.reads;
        assert_eq!(fs.read_nowait(f, MIB, &mut buf).unwrap(), MIB as usize, "{backend:?}");
        assert!(buf == chunk(1));
        assert_eq!(fs.stats().dev.reads, reads, "{backend:?}: a cached read does no I/O");
        assert_eq!(fs.read_nowait(f, 2 * MIB, &mut buf).unwrap(), 0, "{backend:?}: EOF");

        fs.remount().unwrap();
        dev.hold.store(true, std::sync::atomic::Ordering::SeqCst);
        let windows = fs.stats().readahead_windows;
        let e = fs.read_nowait(f, 0, &mut buf).unwrap_err();
        assert!(matches!(e, FsError::WouldBlock), "{backend:?}: {e}");
        assert_eq!(e.errno(), libc::EAGAIN);
        assert_eq!(fs.stats().readahead_windows, windows + 1, "{backend:?}: the miss started readahead");
        assert!(!dev.held.lock().unwrap().is_empty(), "{backend:?}: its reads are in flight");
        dev.release();
        let n = fs.read_nowait(f, 0, &mut buf).unwrap();
        assert!(n > 0 && buf[..n] == chunk(0)[..n], "{backend:?}: {n} bytes once the readahead is in");
    }
}
