//! Test helpers: aligned buffers, one suite that every engine must pass, loop devices, and an
//! allocation counter.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tempfile::TempDir;

use super::{Backing, Bio, BioOp, BlockDev, DevConfig, DevError, DevStats, Engine, open, submit_all_wait};

/// Page-aligned heap memory, as folio memory is.
pub struct AlignedBuf {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: the buffer owns its memory exclusively.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// `len` bytes (not zeroed), aligned to 4096.
    pub fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len.max(1), 4096).unwrap();
        // SAFETY: the size is not zero.
        let ptr = unsafe { std::alloc::alloc(layout) };
        assert!(!ptr.is_null(), "out of memory allocating {len} bytes");
        AlignedBuf { ptr, layout }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` points at `layout.size()` bytes we own; integers have no invalid values.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }

    /// Fills with bytes that differ by `seed` and by position (no period of 512).
    pub fn fill_pattern(&mut self, seed: u64) {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for b in self.as_mut_slice() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }

    /// Address of byte `at`.
    pub fn at(&mut self, at: usize) -> *mut u8 {
        assert!(at <= self.layout.size());
        self.ptr.wrapping_add(at)
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Bios built one after another and submitted together, each waited for.
#[derive(Default)]
pub struct BioBatch {
    // Boxed as the device takes them.
    #[allow(clippy::vec_box)]
    bios: Vec<Box<Bio>>,
    status: Vec<Result<(), i32>>,
}

impl BioBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn clear(&mut self) {
        self.bios.clear();
        self.status.clear();
    }
    pub fn start(&mut self, op: BioOp, offset: u64) {
        self.bios.push(Bio::new(op, offset));
    }
    pub fn segs(&self, i: usize) -> usize {
        self.bios[i].segs().len()
    }
    pub fn status(&self, i: usize) -> Result<(), i32> {
        self.status[i]
    }
    pub fn first_error(&self) -> Option<(usize, i32)> {
        self.status.iter().enumerate().find_map(|(i, s)| s.err().map(|e| (i, e)))
    }
    /// Submits every bio and waits for them.
    pub fn submit(&mut self, dev: &dyn BlockDev) -> Result<(), DevError> {
        let bios = std::mem::take(&mut self.bios);
        self.status = submit_all_wait(dev, bios)?;
        Ok(())
    }
}

/// Adds `len` bytes at `ptr` to the last bio of `batch`.
fn add(batch: &mut BioBatch, ptr: *mut u8, len: usize) {
    let bio = batch.bios.last_mut().expect("a started bio");
    // SAFETY: test buffers outlive the batches they are added to.
    assert!(unsafe { bio.add_seg(ptr, len) });
}

/// Submits `batch`, asserting that the call and every bio succeeded.
fn submit_ok(dev: &dyn BlockDev, batch: &mut BioBatch) {
    batch.submit(dev).unwrap();
    assert_eq!(batch.first_error(), None, "{}: a bio failed", dev.engine_name());
}

/// Writes `bufs` as one bio (one segment each) at `offset`, then reads the range back as one
/// bio of two segments from two other buffers, and compares.
pub fn write_read_back(dev: &dyn BlockDev, offset: u64, bufs: &mut [&mut [u8]]) -> Result<(), DevError> {
    let mut batch = BioBatch::new();
    batch.start(BioOp::Write, offset);
    let mut expected = Vec::new();
    for buf in bufs.iter_mut() {
        add(&mut batch, buf.as_mut_ptr(), buf.len());
        expected.extend_from_slice(buf);
    }
    batch.submit(dev)?;
    assert_eq!(batch.first_error(), None);
    let head = (expected.len() / 2) & !511;
    let (mut x, mut y) = (AlignedBuf::new(head), AlignedBuf::new(expected.len() - head));
    batch.clear();
    batch.start(BioOp::Read, offset);
    add(&mut batch, x.at(0), head);
    add(&mut batch, y.at(0), expected.len() - head);
    batch.submit(dev)?;
    assert_eq!(batch.first_error(), None);
    let mut got = x.as_mut_slice()[..head].to_vec();
    got.extend_from_slice(y.as_mut_slice());
    assert!(got == expected, "{}: read back differs from what was written", dev.engine_name());
    Ok(())
}

/// `DevStats` with these totals and size buckets (`(bucket, count)`).
fn stats(
    (reads, read_bytes, read_sizes): (u64, u64, &[(usize, u64)]),
    (writes, write_bytes, write_sizes): (u64, u64, &[(usize, u64)]),
    flushes: u64,
) -> DevStats {
    let mut s = DevStats { reads, read_bytes, writes, write_bytes, flushes, ..DevStats::default() };
    for &(i, n) in read_sizes {
        s.read_sizes[i] = n;
    }
    for &(i, n) in write_sizes {
        s.write_sizes[i] = n;
    }
    s
}

/// Every engine's suite: `make(size)` gives a fresh, zeroed device of `size` bytes.
pub fn engine_suite(name: &str, make: &dyn Fn(u64) -> Arc<dyn BlockDev>) {
    let dev = make(1 << 20);
    assert_eq!(dev.engine_name(), name);
    assert_eq!(dev.size(), 1 << 20);
    multi_segment_round_trip(&*dev);
    batch_larger_than_queue_depth(&*make(4 << 20));
    bad_requests_fail_the_whole_batch(&*make(1 << 20));
    concurrent_disjoint_ranges(make(4 << 20));
}

/// A three-segment write from three buffers, read back with other segments; exact counters.
fn multi_segment_round_trip(dev: &dyn BlockDev) {
    let (mut a, mut b, mut c) = (AlignedBuf::new(4096), AlignedBuf::new(8192), AlignedBuf::new(12288));
    a.fill_pattern(1);
    b.fill_pattern(2);
    c.fill_pattern(3);
    let mut batch = BioBatch::new();
    batch.start(BioOp::Write, 65536);
    add(&mut batch, a.at(0), 4096);
    add(&mut batch, c.at(4096), 8192);
    add(&mut batch, b.at(0), 4096);
    assert_eq!(batch.segs(0), 3);
    submit_ok(dev, &mut batch);
    dev.flush().unwrap();
    let mut expected = a.as_mut_slice().to_vec();
    expected.extend_from_slice(&c.as_mut_slice()[4096..]);
    expected.extend_from_slice(&b.as_mut_slice()[..4096]);

    let (mut x, mut y) = (AlignedBuf::new(12288), AlignedBuf::new(4096));
    batch.clear();
    batch.start(BioOp::Read, 65536);
    add(&mut batch, x.at(0), 12288);
    add(&mut batch, y.at(0), 4096);
    // Never written: zeros.
    let mut z = AlignedBuf::new(8192);
    z.as_mut_slice().fill(0xaa);
    batch.start(BioOp::Read, 512 << 10);
    add(&mut batch, z.at(0), 8192);
    submit_ok(dev, &mut batch);
    let mut got = x.as_mut_slice().to_vec();
    got.extend_from_slice(y.as_mut_slice());
    assert!(got == expected, "{}: multi-segment read back differs", dev.engine_name());
    assert!(z.as_mut_slice().iter().all(|&b| b == 0), "{}: unwritten bytes", dev.engine_name());
    // 16 KiB falls in bucket 5 ([16, 32) KiB), 8 KiB in bucket 4.
    let want = stats((2, 24576, &[(4, 1), (5, 1)]), (1, 16384, &[(5, 1)]), 1);
    assert_eq!(dev.stats(), want, "{}", dev.engine_name());
}

/// 100 bios of 4 to 16 KiB in one batch (more than any queue depth the tests use), each
/// written from two buffers (a 512-byte head and the rest) and read back in one batch.
fn batch_larger_than_queue_depth(dev: &dyn BlockDev) {
    const N: usize = 100;
    const STRIDE: usize = 16384;
    let len = |i: usize| 4096 * (1 + i % 4);
    let (mut heads, mut rest, mut back) =
        (AlignedBuf::new(N * 512), AlignedBuf::new(N * STRIDE), AlignedBuf::new(N * STRIDE));
    heads.fill_pattern(4);
    rest.fill_pattern(5);
    let mut batch = BioBatch::new();
    for i in 0..N {
        batch.start(BioOp::Write, (i * STRIDE) as u64);
        add(&mut batch, heads.at(i * 512), 512);
        add(&mut batch, rest.at(i * STRIDE), len(i) - 512);
    }
    submit_ok(dev, &mut batch);
    batch.clear();
    for i in 0..N {
        batch.start(BioOp::Read, (i * STRIDE) as u64);
        add(&mut batch, back.at(i * STRIDE), len(i));
    }
    submit_ok(dev, &mut batch);
    for i in 0..N {
        let got = &back.as_mut_slice()[i * STRIDE..][..len(i)];
        assert!(got[..512] == heads.as_mut_slice()[i * 512..][..512], "bio {i} head");
        assert!(got[512..] == rest.as_mut_slice()[i * STRIDE..][..len(i) - 512], "bio {i}");
    }
    // 25 bios each of 4, 8, 12 and 16 KiB: buckets 3, 4, 4 and 5.
    let bytes = 25 * (4 + 8 + 12 + 16) * 1024;
    let sizes: &[(usize, u64)] = &[(3, 25), (4, 50), (5, 25)];
    let want = stats((N as u64, bytes, sizes), (N as u64, bytes, sizes), 0);
    assert_eq!(dev.stats(), want, "{}", dev.engine_name());
}

/// A bad bio after a good one: the whole batch is refused and nothing happens.
fn bad_requests_fail_the_whole_batch(dev: &dyn BlockDev) {
    let mut good = AlignedBuf::new(4096);
    good.fill_pattern(6);
    let mut other = AlignedBuf::new(8192);
    let size = dev.size();
    let cases: [(BioOp, u64, usize, &str); 5] = [
        (BioOp::Write, 100, 4096, "offset and length must be multiples of 512 bytes"),
        (BioOp::Read, 4096, 1000, "offset and length must be multiples of 512 bytes"),
        (BioOp::Write, size - 2048, 4096, "it ends beyond the device end"),
        (BioOp::Read, size, 512, "it ends beyond the device end"),
        (BioOp::Read, u64::MAX - 511, 512, "it ends beyond the device end"),
    ];
    let mut batch = BioBatch::new();
    for (op, offset, len, why) in cases {
        batch.clear();
        batch.start(BioOp::Write, 0);
        add(&mut batch, good.at(0), 4096);
        batch.start(op, offset);
        add(&mut batch, other.at(0), len);
        match batch.submit(dev) {
            Err(DevError::BadRequest(m)) => {
                assert!(m.starts_with("bio 1: ") && m.contains(why), "{}: {m}", dev.engine_name())
            }
            r => panic!("{}: {op:?} {len} at {offset} gave {r:?}", dev.engine_name()),
        }
    }
    assert_eq!(dev.stats(), DevStats::default(), "{}: a refused batch counted", dev.engine_name());
    let mut z = AlignedBuf::new(4096);
    batch.clear();
    batch.start(BioOp::Read, 0);
    add(&mut batch, z.at(0), 4096);
    submit_ok(dev, &mut batch);
    assert!(z.as_mut_slice().iter().all(|&b| b == 0), "{}: a refused write landed", dev.engine_name());
}

/// Four threads each write and read back their own MiB of `dev` (a fresh device of at least
/// 4 MiB): 4 batches of 4 bios of 64 KiB (two 32 KiB segments from two buffers), then one
/// batch of 16 reads.
pub fn concurrent_disjoint_ranges(dev: Arc<dyn BlockDev>) {
    const MIB: usize = 1 << 20;
    const BIO: usize = 64 << 10;
    const HALF: usize = BIO / 2;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let dev = &*dev;
            s.spawn(move || {
                let base = t * MIB as u64;
                let (mut lo, mut hi) = (AlignedBuf::new(MIB / 2), AlignedBuf::new(MIB / 2));
                lo.fill_pattern(100 + t);
                hi.fill_pattern(200 + t);
                let mut batch = BioBatch::new();
                for round in 0..4 {
                    batch.clear();
                    for j in round * 4..round * 4 + 4 {
                        batch.start(BioOp::Write, base + (j * BIO) as u64);
                        add(&mut batch, lo.at(j * HALF), HALF);
                        add(&mut batch, hi.at(j * HALF), HALF);
                    }
                    submit_ok(dev, &mut batch);
                }
                let (mut rlo, mut rhi) = (AlignedBuf::new(MIB / 2), AlignedBuf::new(MIB / 2));
                batch.clear();
                for j in 0..16 {
                    batch.start(BioOp::Read, base + (j * BIO) as u64);
                    add(&mut batch, rlo.at(j * HALF), HALF);
                    add(&mut batch, rhi.at(j * HALF), HALF);
                }
                submit_ok(dev, &mut batch);
                assert!(rlo.as_mut_slice() == lo.as_mut_slice(), "thread {t}: first halves");
                assert!(rhi.as_mut_slice() == hi.as_mut_slice(), "thread {t}: second halves");
            });
        }
    });
    // 64 KiB is bucket 7.
    let want = stats((64, 4 << 20, &[(7, 64)]), (64, 4 << 20, &[(7, 64)]), 0);
    assert_eq!(dev.stats(), want, "{}", dev.engine_name());
}

/// A temporary directory on a disk filesystem (not tmpfs), where O_DIRECT is real.
pub fn disk_tempdir() -> TempDir {
    tempfile::tempdir_in("/var/tmp").unwrap()
}

/// The file-backed engines.
#[derive(Clone, Copy, Debug)]
pub enum FileEngine {
    Uring { queue_depth: u32 },
    Psync,
}

impl FileEngine {
    pub fn engine(self) -> Engine {
        match self {
            FileEngine::Uring { queue_depth } => Engine::Uring { queue_depth },
            FileEngine::Psync => Engine::Psync,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            FileEngine::Uring { .. } => "uring",
            FileEngine::Psync => "psync",
        }
    }
}

/// A direct-I/O config for `engine` over a new image of `size` bytes in a new directory.
pub fn file_config(engine: FileEngine, size: u64) -> (TempDir, DevConfig) {
    let dir = disk_tempdir();
    let cfg = DevConfig {
        engine: engine.engine(),
        backing: Backing::File { path: dir.path().join("img"), size },
        direct: true,
        min_io_align: 4096,
    };
    (dir, cfg)
}

/// Opens `engine` over a new image on disk, checking it is the engine asked for and direct.
fn open_file_dev(engine: FileEngine, size: u64) -> (TempDir, Arc<dyn BlockDev>) {
    let (dir, cfg) = file_config(engine, size);
    let opened = open(&cfg).unwrap();
    assert!(opened.notices.is_empty(), "{:?}", opened.notices);
    assert_eq!(opened.dev.engine_name(), engine.name());
    assert!(opened.dev.is_direct(), "{} on {} is not O_DIRECT", engine.name(), dir.path().display());
    (dir, opened.dev)
}

/// The engine suite plus what only a real file can show: bad memory fails only its bio
/// (EFAULT), and a backing file shrunk underneath gives EIO.
pub fn file_engine_suite(engine: FileEngine) {
    let dirs = std::cell::RefCell::new(Vec::new());
    engine_suite(engine.name(), &|size| {
        let (dir, dev) = open_file_dev(engine, size);
        dirs.borrow_mut().push(dir);
        dev
    });
    bad_memory_fails_only_its_bio(engine);
    shrunk_backing_gives_eio(engine);
}

fn bad_memory_fails_only_its_bio(engine: FileEngine) {
    let (_dir, dev) = open_file_dev(engine, 1 << 20);
    // SAFETY: an anonymous PROT_NONE mapping; unmapped below.
    let bad = unsafe {
        libc::mmap(std::ptr::null_mut(), 8192, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    assert_ne!(bad, libc::MAP_FAILED);
    let (mut a, mut b) = (AlignedBuf::new(4096), AlignedBuf::new(4096));
    a.fill_pattern(7);
    b.fill_pattern(8);
    let mut batch = BioBatch::new();
    batch.start(BioOp::Write, 0);
    add(&mut batch, a.at(0), 4096);
    batch.start(BioOp::Write, 4096);
    add(&mut batch, bad.cast(), 8192);
    batch.start(BioOp::Write, 12288);
    add(&mut batch, b.at(0), 4096);
    batch.submit(&*dev).unwrap();
    let statuses: Vec<_> = (0..3).map(|i| batch.status(i)).collect();
    assert_eq!(statuses, [Ok(()), Err(libc::EFAULT), Ok(())], "{}", engine.name());
    batch.clear();
    batch.start(BioOp::Read, 12288);
    add(&mut batch, bad.cast(), 4096);
    batch.submit(&*dev).unwrap();
    assert_eq!(batch.first_error(), Some((0, libc::EFAULT)));
    let s = dev.stats();
    assert_eq!((s.writes, s.write_bytes, s.reads, s.errors), (3, 16384, 1, 2), "{}", engine.name());
    let mut a2 = AlignedBuf::new(4096);
    let mut b2 = AlignedBuf::new(4096);
    batch.clear();
    batch.start(BioOp::Read, 0);
    add(&mut batch, a2.at(0), 4096);
    batch.start(BioOp::Read, 12288);
    add(&mut batch, b2.at(0), 4096);
    submit_ok(&*dev, &mut batch);
    assert!(a2.as_mut_slice() == a.as_mut_slice() && b2.as_mut_slice() == b.as_mut_slice());
    // SAFETY: mapped above; no bio refers to it any more.
    unsafe { libc::munmap(bad, 8192) };
}

fn shrunk_backing_gives_eio(engine: FileEngine) {
    let (dir, cfg) = file_config(engine, 1 << 20);
    let dev = open(&cfg).unwrap().dev;
    let path = dir.path().join("img");
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(512 << 10).unwrap();
    let mut buf = AlignedBuf::new(8192);
    let mut batch = BioBatch::new();
    batch.start(BioOp::Read, 768 << 10);
    add(&mut batch, buf.at(0), 4096);
    // Crosses the new end: a short read, then nothing.
    batch.start(BioOp::Read, (512 << 10) - 4096);
    add(&mut batch, buf.at(0), 8192);
    batch.submit(&*dev).unwrap();
    assert_eq!(batch.status(0), Err(libc::EIO), "{}", engine.name());
    assert_eq!(batch.status(1), Err(libc::EIO), "{}", engine.name());
    let s = dev.stats();
    assert_eq!((s.reads, s.read_bytes, s.errors), (2, 12288, 2), "{}", engine.name());
}

/// One read bio of 2 GiB + 12 KiB, over two segments: the block layer splits it into
/// requests of at most `max_sectors_kb`, one of them across the two segments, and the bio
/// ends once all have.
pub fn huge_bio_is_resubmitted(engine: FileEngine) {
    let max_rw_count = (i32::MAX as u64) & !4095;
    let len = max_rw_count + 12288;
    let (_dir, dev) = open_file_dev(engine, len + (1 << 20));
    let mut pattern = AlignedBuf::new(16384);
    pattern.fill_pattern(42);
    let tail_at = max_rw_count - 4096;
    let mut batch = BioBatch::new();
    batch.start(BioOp::Write, tail_at);
    add(&mut batch, pattern.at(0), 16384);
    submit_ok(&*dev, &mut batch);

    let first_len = 1usize << 30;
    let (mut a, mut b) = (AlignedBuf::new(first_len), AlignedBuf::new(len as usize - first_len));
    b.as_mut_slice().fill(0xee);
    batch.clear();
    batch.start(BioOp::Read, 0);
    add(&mut batch, a.at(0), first_len);
    add(&mut batch, b.at(0), len as usize - first_len);
    submit_ok(&*dev, &mut batch);
    let b = b.as_mut_slice();
    let tail = &b[tail_at as usize - first_len..];
    assert!(tail == pattern.as_mut_slice(), "{}: bytes after the short transfer", engine.name());
    assert!(b[..4096].iter().all(|&x| x == 0) && a.as_mut_slice()[..4096].iter().all(|&x| x == 0));
    let s = dev.stats();
    let max = dev.limits().max_bytes();
    assert_eq!((s.reads, s.read_bytes), (len.div_ceil(max), len), "{}", engine.name());
}

/// Held for reading while a test runs a child process, for writing while a test closes and
/// reopens a block device exclusively.
///
/// A child gets a copy of every descriptor of the process — those other test threads hold
/// too — and keeps it from `fork(2)` until `execve(2)` closes the close-on-exec ones. A block
/// device a test has just closed therefore stays open, and claimed if it was opened `O_EXCL`,
/// while a child that another thread started in the meantime has not yet exec'd: reopening it
/// exclusively then fails with EBUSY. (With three threads running `losetup -a` in a loop, a
/// loop device held open for 0.5 ms and reopened at once after closing: 564 EBUSY in 3000.)
static SPAWNS: RwLock<()> = RwLock::new(());

/// Runs `cmd` to its end (its output collected) with no exclusive reopen in progress.
pub fn run_child(cmd: &mut Command) -> std::io::Result<Output> {
    let _spawning: RwLockReadGuard<'_, ()> = SPAWNS.read().unwrap_or_else(|p| p.into_inner());
    cmd.output()
}

/// Keeps every other test thread from starting a child until the guard drops: hold it from
/// opening a block device exclusively to reopening it after a close.
pub fn no_children() -> RwLockWriteGuard<'static, ()> {
    SPAWNS.write().unwrap_or_else(|p| p.into_inner())
}

/// A loop device over a sparse temporary file, detached on drop.
pub struct LoopDevice {
    path: PathBuf,
    file: PathBuf,
    _dir: TempDir,
}

impl LoopDevice {
    /// Attaches one of `size` bytes with `sector_size`-byte logical sectors, or prints why
    /// it cannot (not root, no losetup, no loop devices) and gives `None`.
    pub fn attach(size: u64, sector_size: u32) -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: loop devices need root");
            return None;
        }
        let dir = disk_tempdir();
        let file = dir.path().join("loop.img");
        std::fs::File::create(&file).unwrap().set_len(size).unwrap();
        let out = run_child(
            Command::new("losetup").args(["--find", "--show", "--sector-size", &sector_size.to_string()]).arg(&file),
        );
        match out {
            Ok(o) if o.status.success() => {
                let path = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
                Some(LoopDevice { path, file, _dir: dir })
            }
            Ok(o) => {
                println!("skipped: losetup failed: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                println!("skipped: cannot run losetup: {e}");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn backing_file(&self) -> &Path {
        &self.file
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        match run_child(Command::new("losetup").arg("-d").arg(&self.path)) {
            Ok(o) if o.status.success() => {}
            r => eprintln!("warning: could not detach {}: {r:?}", self.path.display()),
        }
    }
}

/// A ramfs mounted on a temporary directory (ramfs refuses O_DIRECT at open with EINVAL),
/// unmounted on drop.
pub struct RamfsMount {
    dir: TempDir,
}

impl RamfsMount {
    /// Mounts one, or prints why it cannot (not root, mount failed) and gives `None`.
    pub fn mount() -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: mounting ramfs needs root");
            return None;
        }
        let dir = disk_tempdir();
        match run_child(Command::new("mount").args(["-t", "ramfs", "ramfs"]).arg(dir.path())) {
            Ok(o) if o.status.success() => Some(RamfsMount { dir }),
            Ok(o) => {
                println!("skipped: cannot mount ramfs: {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RamfsMount {
    /// Unmounts, retrying while busy (a closed io_uring ring lets go of its files
    /// asynchronously), then lazily; says so if it is still mounted.
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut c = Command::new("umount");
            if lazy {
                c.arg("-l");
            }
            run_child(c.arg(self.dir.path()))
        };
        for _ in 0..50 {
            let Ok(o) = umount(false) else { break };
            let err = String::from_utf8_lossy(&o.stderr);
            if o.status.success() || err.contains("not mounted") {
                return;
            }
            if !err.contains("busy") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if !umount(true).is_ok_and(|o| o.status.success()) {
            eprintln!("warning: could not unmount {}", self.dir.path().display());
        }
    }
}

/// Counts heap allocations per thread, so that tests can check a path allocates nothing.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards to the system allocator; counting touches only a const thread-local.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Heap allocations this thread made while running `f`.
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_allocation_counter_counts_this_threads_allocations() {
    assert_eq!(allocations_during(|| ()), 0);
    let n = allocations_during(|| {
        let v = std::hint::black_box(vec![1u8; 100]);
        drop(std::hint::black_box(v.clone()));
    });
    assert_eq!(n, 2);
}
