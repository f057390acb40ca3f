//! Error semantics on a faulty device, for both backends: what a failed writeback, a failed
//! read, a torn write, a bad range, ENOSPC and a power cut leave behind (`FaultDev`).

use fsimpl::dev::{BadRange, BlockDev, FaultDev, FaultPlan, MemDev, NthBio, PowerCut, ShortWrite};
use fsimpl::mm::WritebackMode;
use fsimpl::{Backend, Fh, FormatOptions, Fs, FsError, FsFaults, MountOptions};
use std::collections::BTreeMap;
use std::sync::Arc;

const MIB: u64 = 1 << 20;
const DEV_BYTES: u64 = 64 * MIB;
const BACKENDS: [Backend; 2] = [Backend::BufferHead, Backend::Iomap];

/// A formatted and mounted filesystem over a fault device whose plan is still empty.
struct Rig {
    dev: Arc<FaultDev>,
    fs: Fs,
}

fn rig(backend: Backend, block_size: u32, faults: FsFaults) -> Rig {
    let mem: Arc<dyn BlockDev> = Arc::new(MemDev::new(DEV_BYTES).unwrap());
    let dev = Arc::new(FaultDev::new(mem, FaultPlan::default()).unwrap());
    let opts = MountOptions {
        cache_bytes: 16 * MIB,
        writeback: WritebackMode::Off,
        faults,
        ..MountOptions::for_backend(backend)
    };
    let fs =
        Fs::format_and_mount(dev.clone(), &FormatOptions { block_size, ..FormatOptions::default() }, opts).unwrap();
    Rig { dev, fs }
}

/// The first block free after formatting (a fresh image of the rig's size: the layout is
/// the same), where file data goes; metadata mkfs laid out lies below it.
fn first_free_block(block_size: u32) -> u64 {
    let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(DEV_BYTES).unwrap());
    Fs::format(dev.as_ref(), &FormatOptions { block_size, ..FormatOptions::default() }).unwrap();
    let stats = Arc::new(fsimpl::stats::Stats::default());
    let (ext4, _) = fsimpl::core::ext4::Ext4::mount(dev, Default::default(), stats).unwrap();
    let first = ext4.free_extents()[0].0;
    ext4.unmount().unwrap();
    first
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) | 1).collect()
}

fn read_all(fs: &Fs, f: Fh) -> Result<Vec<u8>, FsError> {
    let size = fs.stat(f)?.size as usize;
    let mut buf = vec![0u8; size];
    let n = fs.read(f, 0, &mut buf)?;
    assert_eq!(n, size, "short read inside the file");
    Ok(buf)
}

fn errno<T: std::fmt::Debug>(r: Result<T, FsError>) -> i32 {
    match r {
        Err(e) => e.errno(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn each_case(mut f: impl FnMut(Backend, u32)) {
    for backend in BACKENDS {
        for bs in [4096, 1024] {
            f(backend, bs);
        }
    }
}

#[test]
fn a_failed_writeback_is_reported_once_by_fsync_and_leaves_the_folio_clean_and_cached() {
    each_case(|backend, bs| {
        let case = format!("{} bs={bs}", backend.name());
        let Rig { dev, fs } = rig(backend, bs, FsFaults::default());
        let f = fs.create("a").unwrap();
        let want = data(64 << 10, 1);
        fs.write(f, 0, &want).unwrap();
        dev.arm(FaultPlan { write: Some(NthBio::once(1)), ..FaultPlan::default() }).unwrap();
        let e = fs.fsync(f).unwrap_err();
        assert!(matches!(e, FsError::WritebackError { errno: libc::EIO }), "{case}: {e}");
        assert_eq!(dev.fault_stats().failed_writes, 1, "{case}");
        // errseq: reported once; the next fsync finds no data to write and succeeds. (It does
        // the metadata commit the failed fsync skipped, as ext4_sync_file returns before the
        // journal commit on a writeback error.)
        fs.reset_stats();
        fs.fsync(f).unwrap();
        assert_eq!(fs.stats().writeback_ios, 0, "{case}: the failed folios were written again");
        assert_eq!(fs.stats().meta_writes, 1, "{case}: the skipped commit");
        assert_eq!(fs.stats().dirty_bytes, 0, "{case}: the failed folios are dirty");
        // The data is still cached, uptodate.
        assert_eq!(read_all(&fs, f).unwrap(), want, "{case}");
        // It never reached the device: with the cache gone, the blocks read as zeros. (Not
        // `drop_caches`: a completion may still hold a folio reference for a moment after it
        // ended the writeback, and drop_caches leaves folios in use.)
        fs.remount().unwrap();
        assert!(read_all(&fs, f).unwrap().iter().all(|&b| b == 0), "{case}");
    });
}

#[test]
fn a_read_error_returns_eio_caches_nothing_and_a_retry_reads_the_data() {
    each_case(|backend, bs| {
        let case = format!("{} bs={bs}", backend.name());
        let Rig { dev, fs } = rig(backend, bs, FsFaults::default());
        let f = fs.create("a").unwrap();
        let want = data(256 << 10, 2);
        fs.write(f, 0, &want).unwrap();
        fs.fsync(f).unwrap();
        fs.drop_caches().unwrap();
        // A readahead that fails leaves its folios not uptodate; the reader then reads the
        // folio it needs itself (`filemap_update_page` → `filemap_read_folio`), which works.
        dev.arm(FaultPlan { read: Some(NthBio::once(1)), ..FaultPlan::default() }).unwrap();
        assert_eq!(read_all(&fs, f).unwrap(), want, "{case}: the reader's own read after the failed readahead");
        assert_eq!(dev.fault_stats().failed_reads, 1);
        // A device that keeps failing: every read fails, none returns bad bytes.
        fs.drop_caches().unwrap();
        dev.arm(FaultPlan { read: Some(NthBio::from_then_on(1)), ..FaultPlan::default() }).unwrap();
        for _ in 0..3 {
            let mut buf = vec![0u8; 8192];
            assert_eq!(errno(fs.read(f, 4096, &mut buf)), libc::EIO, "{case}");
        }
        dev.arm(FaultPlan::default()).unwrap();
        assert_eq!(read_all(&fs, f).unwrap(), want, "{case}");
    });
}

#[test]
fn a_read_before_write_that_fails_fails_the_write_and_changes_nothing() {
    each_case(|backend, bs| {
        let case = format!("{} bs={bs}", backend.name());
        let Rig { dev, fs } = rig(backend, bs, FsFaults::default());
        let f = fs.create("a").unwrap();
        let mut want = data(32 << 10, 3);
        fs.write(f, 0, &want).unwrap();
        fs.fsync(f).unwrap();
        fs.drop_caches().unwrap();
        dev.arm(FaultPlan { read: Some(NthBio::from_then_on(1)), ..FaultPlan::default() }).unwrap();
        // 100 bytes inside a block: the rest of the block must be read first.
        let patch = vec![0xee; 100];
        assert_eq!(errno(fs.write(f, 5000, &patch)), libc::EIO, "{case}");
        dev.arm(FaultPlan::default()).unwrap();
        assert_eq!(read_all(&fs, f).unwrap(), want, "{case}: a failed write changed the file");
        assert_eq!(fs.write(f, 5000, &patch).unwrap(), 100, "{case}");
        want[5000..5100].copy_from_slice(&patch);
        fs.fsync(f).unwrap();
        fs.remount().unwrap();
        assert_eq!(read_all(&fs, f).unwrap(), want, "{case}");
    });
}

#[test]
fn a_delalloc_reservation_that_cannot_be_met_fails_the_write_with_enospc() {
    for backend in BACKENDS {
        let case = backend.name();
        let Rig { fs, .. } = rig(backend, 4096, FsFaults { alloc_limit: Some(16) });
        let f = fs.create("a").unwrap();
        let mut want = data(48 << 10, 4);
        fs.write(f, 0, &want).unwrap();
        // 8 more blocks when 4 are left: buffer_head reserves block by block and writes 4
        // (a short write, as generic_perform_write returns); iomap reserves the whole extent
        // at once and fails it.
        let more = data(32 << 10, 5);
        match fs.write(f, 48 << 10, &more) {
            Ok(n) => {
                assert_eq!((backend, n), (Backend::BufferHead, 16 << 10), "{case}");
                want.extend_from_slice(&more[..n]);
            }
            Err(e) => {
                assert_eq!((backend, e.errno()), (Backend::Iomap, libc::ENOSPC), "{case}");
                assert_eq!(fs.write(f, 48 << 10, &more[..16 << 10]).unwrap(), 16 << 10, "{case}");
                want.extend_from_slice(&more[..16 << 10]);
            }
        }
        assert_eq!(errno(fs.write(f, 1 << 20, &more)), libc::ENOSPC, "{case}");
        assert_eq!(errno(fs.fallocate(f, fsimpl::FallocMode::KeepSize, 2 << 20, 4096)), libc::ENOSPC, "{case}");
        assert_eq!(fs.stat(f).unwrap().size, want.len() as u64, "{case}: a failed write moved EOF");
        // The blocks already promised are allocated at writeback.
        fs.fsync(f).unwrap();
        fs.remount().unwrap();
        assert_eq!(read_all(&fs, f).unwrap(), want, "{case}");
        // Overwriting allocated blocks needs no new space.
        fs.write(f, 0, &more[..8192]).unwrap();
        // Freed blocks count again.
        fs.truncate(f, 0).unwrap();
        fs.write(f, 0, &data(64 << 10, 6)).unwrap();
        fs.fsync(f).unwrap();
    }
}

#[test]
fn on_a_full_device_blocks_freed_since_the_last_commit_come_back_after_a_forced_commit() {
    for backend in BACKENDS {
        let case = backend.name();
        // 16 MiB: a 4 MiB journal and some metadata leave under 12 MiB for data.
        let mem: Arc<dyn BlockDev> = Arc::new(MemDev::new(16 * MIB).unwrap());
        let opts = MountOptions { cache_bytes: 32 * MIB, ..MountOptions::for_backend(backend) };
        let fs = Fs::format_and_mount(mem, &FormatOptions::default(), opts).unwrap();
        let a = fs.create("a").unwrap();
        let big = data(10 << 20, 11);
        fs.write(a, 0, &big).unwrap();
        fs.fsync(a).unwrap();
        // The blocks a frees cannot be reused until a commit makes the truncate durable; the
        // write below needs them, so it forces that commit and goes on.
        fs.truncate(a, 0).unwrap();
        let b = fs.create("b").unwrap();
        assert_eq!(fs.write(b, 0, &big).unwrap(), big.len(), "{case}");
        let fallocated = fs.fallocate(a, fsimpl::FallocMode::Allocate, 0, 4 << 20);
        assert_eq!(errno(fallocated), libc::ENOSPC, "{case}: no space is left, commit or not");
        fs.fsync(b).unwrap();
        fs.remount().unwrap();
        assert_eq!(read_all(&fs, b).unwrap(), big, "{case}");
    }
}

#[test]
fn a_torn_data_write_fails_fsync_once() {
    for backend in BACKENDS {
        let case = backend.name();
        let Rig { dev, fs } = rig(backend, 4096, FsFaults::default());
        let f = fs.create("a").unwrap();
        fs.write(f, 0, &data(64 << 10, 7)).unwrap();
        dev.arm(FaultPlan { short_write: Some(ShortWrite { n: 1, landed: 4096 }), ..FaultPlan::default() }).unwrap();
        assert_eq!(errno(fs.fsync(f)), libc::EIO, "{case}");
        fs.fsync(f).unwrap();
        assert_eq!(dev.fault_stats().short_writes, 1, "{case}");
    }
}

#[test]
fn a_bad_range_fails_reads_and_writeback_there_and_nothing_else() {
    for backend in BACKENDS {
        let case = backend.name();
        let Rig { dev, fs } = rig(backend, 4096, FsFaults::default());
        let data_area = BadRange { start: first_free_block(4096) * 4096, end: DEV_BYTES };
        let f = fs.create("a").unwrap();
        let want = data(64 << 10, 8);
        fs.write(f, 0, &want).unwrap();
        fs.fsync(f).unwrap();
        fs.drop_caches().unwrap();
        dev.arm(FaultPlan { bad_ranges: vec![data_area], ..FaultPlan::default() }).unwrap();
        assert_eq!(errno(read_all(&fs, f)), libc::EIO, "{case}");
        // Metadata lives outside the range: a file without data commits fine.
        let g = fs.create("b").unwrap();
        fs.fsync(g).unwrap();
        fs.write(g, 0, &want).unwrap();
        assert_eq!(errno(fs.fsync(g)), libc::EIO, "{case}");
        assert!(dev.fault_stats().bad_range_ios >= 2, "{case}");
        dev.arm(FaultPlan::default()).unwrap();
        assert_eq!(read_all(&fs, f).unwrap(), want, "{case}");
    }
}

#[test]
fn a_torn_metadata_slot_leaves_the_previous_slot_in_charge() {
    for backend in BACKENDS {
        let case = backend.name();
        let Rig { dev, fs } = rig(backend, 4096, FsFaults::default());
        let f = fs.create("a").unwrap();
        let first = data(16 << 10, 9);
        fs.write(f, 0, &first).unwrap();
        fs.fsync(f).unwrap();
        fs.write(f, 16 << 10, &data(16 << 10, 10)).unwrap();
        // The data goes out without a commit; the commit's only write is the slot, torn.
        fs.sync_file_range(f, 0, u64::MAX).unwrap();
        let plan = FaultPlan {
            short_write: Some(ShortWrite { n: 1, landed: 512 }),
            power_cut: Some(PowerCut::OnDemand),
            ..FaultPlan::default()
        };
        dev.arm(plan).unwrap();
        assert_eq!(errno(fs.fsync(f)), libc::EIO, "{case}");
        dev.power_cut().unwrap();
        dev.power_on();
        fs.crash_and_remount().unwrap();
        let f = fs.open("a").unwrap();
        assert_eq!(read_all(&fs, f).unwrap(), first, "{case}");
    }
}

/// One step of the power-cut scenario.
#[derive(Clone, Copy, Debug)]
enum Step {
    Write(&'static str, u64, usize, u8),
    Truncate(&'static str, u64),
    Fsync(&'static str),
    WritebackNoCommit(&'static str),
}

const SCENARIO: &[Step] = &[
    Step::Write("a", 0, 24 << 10, 1),
    Step::Fsync("a"),
    Step::Write("b", 0, 16 << 10, 2),
    Step::Fsync("b"),
    // Blocks freed by the truncate must not take the new data before the commit that frees
    // them is durable, or a cut inside this fsync mixes the old and the new file.
    Step::Truncate("a", 0),
    Step::Write("a", 0, 8 << 10, 3),
    Step::Fsync("a"),
    Step::Write("b", 16 << 10, 8 << 10, 4),
    // Not in place: an overwrite of committed blocks is not atomic, here as in ext4.
    Step::Write("b", 26000, 3000, 5),
    Step::WritebackNoCommit("b"),
    Step::Fsync("b"),
    Step::Write("a", 8 << 10, 4 << 10, 6),
    Step::Truncate("b", 10000),
    Step::Fsync("a"),
    Step::Fsync("b"),
];

/// Runs the scenario with the power cut after write bio `cut` (None: never), then checks
/// after a crash and a remount that every file reads back as fsync left it. Returns the
/// number of write bios the scenario did.
fn power_cut_run(backend: Backend, bs: u32, cut: Option<u64>) -> u64 {
    let case = format!("{} bs={bs} cut after write {cut:?}", backend.name());
    let Rig { dev, fs } = rig(backend, bs, FsFaults::default());
    let handles: BTreeMap<&str, Fh> = ["a", "b"].into_iter().map(|n| (n, fs.create(n).unwrap())).collect();
    fs.sync().unwrap();
    let power_cut = Some(cut.map_or(PowerCut::OnDemand, PowerCut::AfterWrite));
    dev.arm(FaultPlan { power_cut, ..FaultPlan::default() }).unwrap();
    let writes_before = dev.stats().writes;
    // The model: each file's bytes now, at its last fsync, and whether touched since.
    let mut now: BTreeMap<&str, Vec<u8>> = handles.keys().map(|&n| (n, Vec::new())).collect();
    let mut synced = now.clone();
    let mut touched: BTreeMap<&str, bool> = handles.keys().map(|&n| (n, false)).collect();
    let mut allowed: Option<BTreeMap<&str, Vec<Vec<u8>>>> = None;
    for step in SCENARIO {
        match *step {
            Step::Write(n, off, len, seed) => {
                let bytes = data(len, seed);
                assert_eq!(fs.write(handles[n], off, &bytes).unwrap(), len, "{case}");
                let file = now.get_mut(n).unwrap();
                let end = off as usize + len;
                if file.len() < end {
                    file.resize(end, 0);
                }
                file[off as usize..end].copy_from_slice(&bytes);
                touched.insert(n, true);
            }
            Step::Truncate(n, size) => {
                fs.truncate(handles[n], size).unwrap();
                now.get_mut(n).unwrap().resize(size as usize, 0);
                touched.insert(n, true);
            }
            Step::WritebackNoCommit(n) => fs.sync_file_range(handles[n], 0, u64::MAX).unwrap(),
            Step::Fsync(n) => {
                fs.fsync(handles[n]).unwrap();
                if !dev.is_cut() {
                    synced.insert(n, now[n].clone());
                    touched.insert(n, false);
                }
            }
        }
        if dev.is_cut() && allowed.is_none() {
            // What each file may read back: its last fsynced bytes, or, for the file whose
            // fsync the cut interrupted, the bytes that fsync was making durable.
            let mut a = BTreeMap::new();
            for &n in handles.keys() {
                let mut states = vec![synced[n].clone()];
                if matches!(*step, Step::Fsync(m) if m == n) {
                    states.push(now[n].clone());
                } else if touched[n] {
                    continue;
                }
                a.insert(n, states);
            }
            allowed = Some(a);
        }
    }
    let writes = dev.stats().writes - writes_before;
    let Some(allowed) = allowed else {
        assert!(cut.is_none_or(|c| c > writes), "{case}: no cut happened");
        return writes;
    };
    dev.power_on();
    fs.crash_and_remount().unwrap();
    for (n, states) in allowed {
        let f = fs.open(n).unwrap_or_else(|e| panic!("{case}: {n} is gone after the cut: {e}"));
        let got = read_all(&fs, f).unwrap();
        assert!(
            states.contains(&got),
            "{case}: {n} reads back {} bytes that no fsync left (allowed sizes {:?})",
            got.len(),
            states.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    writes
}

#[test]
fn after_a_power_cut_at_any_write_everything_fsynced_reads_back_intact() {
    each_case(|backend, bs| {
        let writes = power_cut_run(backend, bs, None);
        assert!(writes >= 8, "{} bs={bs}: the scenario wrote only {writes} bios", backend.name());
        for cut in 1..=writes {
            power_cut_run(backend, bs, Some(cut));
        }
    });
}
