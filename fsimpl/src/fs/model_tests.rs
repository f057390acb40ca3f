//! Property tests: random operation sequences against a plain in-memory model, on every
//! backend configuration.

use crate::dev::BlockDev;
use crate::dev::{Backing, DevConfig, Engine, MemDev};
use crate::mm::WritebackMode;
use crate::{Backend, FallocMode, FormatOptions, Fs, FsError, MountOptions};
use proptest::prelude::*;
use std::sync::Arc;

/// One operation of a test sequence.
#[derive(Clone, Debug)]
pub enum TOp {
    Write { off: u64, len: u64, tag: u8 },
    Read { off: u64, len: u64 },
    Truncate { size: u64 },
    Falloc { mode: FallocMode, off: u64, len: u64 },
    Fsync,
    Sync,
    DropCaches,
    Remount,
}

/// The reference: a byte vector.
#[derive(Default, Clone)]
pub struct Model {
    pub data: Vec<u8>,
}

impl Model {
    /// Applies `op`; returns the expected read bytes, or Err(errno) when it must fail.
    pub fn apply(&mut self, op: &TOp, bs: u64) -> Result<Option<Vec<u8>>, i32> {
        let size = self.data.len() as u64;
        match *op {
            TOp::Write { off, len, tag } => {
                let end = (off + len) as usize;
                if self.data.len() < end {
                    self.data.resize(end, 0);
                }
                for (i, b) in self.data[off as usize..end].iter_mut().enumerate() {
                    *b = pattern(tag, off + i as u64);
                }
            }
            TOp::Read { off, len } => {
                let a = off.min(size) as usize;
                let b = (off + len).min(size) as usize;
                return Ok(Some(self.data[a..b].to_vec()));
            }
            TOp::Truncate { size } => self.data.resize(size as usize, 0),
            TOp::Falloc { mode, off, len } => {
                let end = off + len;
                match mode {
                    FallocMode::Allocate => {
                        if end > size {
                            self.data.resize(end as usize, 0)
                        }
                    }
                    FallocMode::KeepSize => {}
                    FallocMode::PunchHole | FallocMode::ZeroRangeKeepSize => {
                        let e = end.min(size) as usize;
                        if (off as usize) < e {
                            self.data[off as usize..e].fill(0);
                        }
                    }
                    FallocMode::ZeroRange => {
                        if end > size {
                            self.data.resize(end as usize, 0);
                        }
                        self.data[off as usize..end as usize].fill(0);
                    }
                    FallocMode::CollapseRange => {
                        if off % bs != 0 || len % bs != 0 || end >= size {
                            return Err(libc::EINVAL);
                        }
                        self.data.drain(off as usize..end as usize);
                    }
                    FallocMode::InsertRange => {
                        if off % bs != 0 || len % bs != 0 || off >= size {
                            return Err(libc::EINVAL);
                        }
                        let tail = self.data.split_off(off as usize);
                        self.data.resize(end as usize, 0);
                        self.data.extend(tail);
                    }
                }
            }
            TOp::Fsync | TOp::Sync | TOp::DropCaches | TOp::Remount => {}
        }
        Ok(None)
    }
}

/// The byte a write with `tag` puts at file offset `pos`.
pub fn pattern(tag: u8, pos: u64) -> u8 {
    tag.wrapping_add((pos % 251) as u8) | 1
}

/// Runs `op` on the filesystem; returns read bytes or the errno.
pub fn run(fs: &Fs, fh: crate::Fh, op: &TOp, buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, i32> {
    let e = |e: FsError| e.errno();
    match *op {
        TOp::Write { off, len, tag } => {
            buf.clear();
            buf.extend((off..off + len).map(|p| pattern(tag, p)));
            let n = fs.write(fh, off, buf).map_err(e)?;
            assert_eq!(n as u64, len, "short write");
        }
        TOp::Read { off, len } => {
            let mut out = vec![0xee; len as usize];
            let n = fs.read(fh, off, &mut out).map_err(e)?;
            out.truncate(n);
            return Ok(Some(out));
        }
        TOp::Truncate { size } => fs.truncate(fh, size).map_err(e)?,
        TOp::Falloc { mode, off, len } => fs.fallocate(fh, mode, off, len).map_err(e)?,
        TOp::Fsync => fs.fsync(fh).map_err(e)?,
        TOp::Sync => fs.sync().map_err(e)?,
        TOp::DropCaches => fs.drop_caches().map_err(e)?,
        TOp::Remount => fs.remount().map_err(e)?,
    }
    Ok(None)
}

/// A configuration to test.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub backend: Backend,
    pub block_size: u32,
    pub max_folio: u32,
    pub large_folios: bool,
    pub writeback: WritebackMode,
}

/// Every configuration to test, at 1K, 2K and 4K blocks.
pub fn configs() -> Vec<Config> {
    [1024, 2048, 4096].into_iter().flat_map(configs_at).collect()
}

/// The configurations with `bs`-byte blocks: bh with small and large folios, iomap with
/// page-sized and 2 MiB folios.
pub fn configs_at(bs: u32) -> Vec<Config> {
    let config = |backend, max_folio, large_folios| Config {
        backend,
        block_size: bs,
        max_folio,
        large_folios,
        writeback: WritebackMode::On,
    };
    vec![
        config(Backend::BufferHead, 2 << 20, false),
        config(Backend::BufferHead, 64 << 10, true),
        config(Backend::Iomap, 4096, true),
        config(Backend::Iomap, 2 << 20, true),
    ]
}

pub fn mount_opts(c: &Config) -> MountOptions {
    MountOptions {
        backend: c.backend,
        large_folios: c.large_folios,
        max_folio: c.max_folio,
        cache_bytes: 4 << 20,
        writeback: c.writeback,
        readahead_kb: Some(128),
        page_poison: true,
        commit_interval: None,
        ..MountOptions::default()
    }
}

/// Runs `ops` on a fresh filesystem over `dev` and the model; panics naming the
/// configuration and the step on the first difference. The whole file is compared after
/// every remount and at the end.
pub fn check_sequence(dev: Arc<dyn BlockDev>, c: &Config, ops: &[TOp]) {
    let fs = Fs::format_and_mount(
        dev,
        &FormatOptions { block_size: c.block_size, ..FormatOptions::default() },
        mount_opts(c),
    )
    .expect("format and mount");
    let fh = fs.create("f").unwrap();
    let mut model = Model::default();
    let mut buf = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let want = model.apply(op, c.block_size as u64);
        let got = run(&fs, fh, op, &mut buf);
        assert_eq!(got, want, "{c:?}: step {i} {op:?} (of {ops:?})");
        let size = fs.stat(fh).unwrap().size;
        assert_eq!(size, model.data.len() as u64, "{c:?}: size after step {i} {op:?}");
        if matches!(op, TOp::Remount) {
            compare_whole(&fs, fh, &model, c, i);
        }
    }
    compare_whole(&fs, fh, &model, c, ops.len());
    fs.remount().unwrap();
    compare_whole(&fs, fh, &model, c, ops.len() + 1);
    fs.unmount().unwrap();
}

/// `e2fsck -fn` on the image in `dev`: `Ok(())` when clean, else its output; `None` when
/// e2fsck is not installed.
fn e2fsck(dev: &dyn BlockDev) -> Option<Result<(), String>> {
    let path = ["/usr/sbin/e2fsck", "/sbin/e2fsck"].into_iter().find(|p| std::path::Path::new(p).exists())?;
    let img = tempfile::NamedTempFile::new().unwrap();
    let all = crate::core::io::read_blocks(dev, 4096, 0, (dev.size() / 4096) as usize).unwrap();
    std::fs::write(img.path(), &all[..]).unwrap();
    let out = std::process::Command::new(path).arg("-fn").arg(img.path()).output().unwrap();
    Some(if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stdout).into_owned()) })
}

fn compare_whole(fs: &Fs, fh: crate::Fh, model: &Model, c: &Config, step: usize) {
    let mut all = vec![0xee; model.data.len() + 100];
    let n = fs.read(fh, 0, &mut all).unwrap();
    assert_eq!(n, model.data.len(), "{c:?}: whole-file length at step {step}");
    if all[..n] != model.data[..] {
        let at = all.iter().zip(&model.data).position(|(a, b)| a != b).unwrap();
        panic!(
            "{c:?}: whole file differs at byte {at} after step {step}: got {:#x}, want {:#x}",
            all[at], model.data[at]
        );
    }
}

const MAX_FILE: u64 = 600 << 10;

/// Test cases per property: `default`, or `PROPTEST_CASES` for a longer run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn boundary_offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0..MAX_FILE,
        2 => (0..MAX_FILE / 4096, -3i64..4).prop_map(|(b, d)| (b * 4096).saturating_add_signed(d)),
        1 => (0..MAX_FILE / 1024, -2i64..3).prop_map(|(b, d)| (b * 1024).saturating_add_signed(d)),
        1 => (0..4u64, -2i64..3).prop_map(|(b, d)| (b * (64 << 10)).saturating_add_signed(d)),
    ]
}

fn length() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1..9000u64, 1 => 1..(200u64 << 10), 1 => (1..16u64).prop_map(|n| n * 4096)]
}

/// A range of whole `bs`-byte blocks: offset and length multiples of the block size, not of
/// the page (with 1K and 2K blocks most are not page-aligned).
fn block_range(bs: u64) -> impl Strategy<Value = (u64, u64)> {
    (0..MAX_FILE / bs, 1..(64 << 10) / bs).prop_map(move |(o, l)| (o * bs, l * bs))
}

/// A range for punch_hole and zero_range: anywhere (partial blocks at both ends), or whole
/// `bs`-byte blocks.
fn zeroing_range(bs: u64) -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![(boundary_offset(), length()), block_range(bs)]
}

/// An op for a file of `bs`-byte blocks.
fn op(bs: u64) -> impl Strategy<Value = TOp> {
    let falloc = |mode| move |(off, len)| TOp::Falloc { mode, off, len };
    prop_oneof![
        8 => (boundary_offset(), length(), any::<u8>()).prop_map(|(off, len, tag)| TOp::Write { off, len, tag }),
        5 => (boundary_offset(), length()).prop_map(|(off, len)| TOp::Read { off, len }),
        2 => boundary_offset().prop_map(|size| TOp::Truncate { size }),
        1 => (boundary_offset(), length()).prop_map(falloc(FallocMode::Allocate)),
        1 => (boundary_offset(), length()).prop_map(falloc(FallocMode::KeepSize)),
        2 => zeroing_range(bs).prop_map(falloc(FallocMode::PunchHole)),
        1 => zeroing_range(bs).prop_map(falloc(FallocMode::ZeroRange)),
        1 => zeroing_range(bs).prop_map(falloc(FallocMode::ZeroRangeKeepSize)),
        1 => block_range(bs).prop_map(falloc(FallocMode::CollapseRange)),
        1 => block_range(bs).prop_map(falloc(FallocMode::InsertRange)),
        1 => Just(TOp::Fsync),
        1 => Just(TOp::Sync),
        1 => Just(TOp::DropCaches),
        1 => Just(TOp::Remount),
    ]
}

/// A sequence of ops for a file of `bs`-byte blocks.
fn ops(bs: u64) -> impl Strategy<Value = Vec<TOp>> {
    prop::collection::vec(op(bs), 1..60)
}

fn mem_dev() -> Arc<dyn BlockDev> {
    Arc::new(MemDev::new(16 << 20).expect("mem device"))
}

/// A 16 MiB file in /var/tmp (a disk filesystem, so O_DIRECT is real) through io_uring.
/// `None`, with one line printed, where io_uring cannot be set up.
fn uring_file_dev(dir: &tempfile::TempDir, name: &str) -> Option<Arc<dyn BlockDev>> {
    let cfg = DevConfig {
        engine: Engine::Uring { queue_depth: 32 },
        backing: Backing::File { path: dir.path().join(name), size: 16 << 20 },
        direct: true,
        min_io_align: 1024,
    };
    let opened = crate::dev::open(&cfg).expect("open file device");
    if opened.dev.engine_name() != "uring" {
        println!("skipped io_uring run: {}", opened.notices.join("; "));
        return None;
    }
    Some(opened.dev)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32)))]

    #[test]
    fn every_backend_matches_the_model_on_mem_at_1k_blocks(ops in ops(1024)) {
        for c in configs_at(1024) {
            check_sequence(mem_dev(), &c, &ops);
        }
    }

    #[test]
    fn every_backend_matches_the_model_on_mem_at_2k_blocks(ops in ops(2048)) {
        for c in configs_at(2048) {
            check_sequence(mem_dev(), &c, &ops);
        }
    }

    #[test]
    fn every_backend_matches_the_model_on_mem_at_4k_blocks(ops in ops(4096)) {
        for c in configs_at(4096) {
            check_sequence(mem_dev(), &c, &ops);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(12)))]

    #[test]
    fn every_backend_matches_the_model_on_a_file_through_io_uring_o_direct(ops in ops(1024)) {
        let dir = tempfile::tempdir_in("/var/tmp").expect("temp dir");
        for (i, c) in configs().iter().enumerate() {
            let Some(dev) = uring_file_dev(&dir, &format!("img{i}")) else { return Ok(()) };
            assert!(dev.is_direct(), "a file in /var/tmp takes O_DIRECT");
            check_sequence(dev, c, &ops);
        }
    }
}

#[test]
fn writeback_modes_match_the_model() {
    let ops: Vec<TOp> = (0..200u64)
        .map(|i| match i % 5 {
            0 | 1 => TOp::Write { off: (i * 7919) % MAX_FILE, len: 1 + (i * 104729) % 70000, tag: i as u8 },
            2 => TOp::Read { off: (i * 31) % MAX_FILE, len: 50000 },
            3 => TOp::Truncate { size: (i * 6151) % MAX_FILE },
            _ => TOp::Falloc { mode: FallocMode::PunchHole, off: (i * 4099) % MAX_FILE, len: 10000 },
        })
        .collect();
    for wb in [WritebackMode::On, WritebackMode::Off, WritebackMode::DontCache] {
        for mut c in configs() {
            c.writeback = wb;
            check_sequence(mem_dev(), &c, &ops);
        }
    }
}

/// bh and iomap in lockstep: the same results, sizes and whole files.
fn check_cross(ops: &[TOp], block_size: u32, max_folio: u32) {
    let mk = |backend| {
        let c = Config { backend, block_size, max_folio, large_folios: false, writeback: WritebackMode::On };
        let fs =
            Fs::format_and_mount(mem_dev(), &FormatOptions { block_size, ..FormatOptions::default() }, mount_opts(&c))
                .unwrap();
        let fh = fs.create("f").unwrap();
        (fs, fh)
    };
    let (bh, bf) = mk(Backend::BufferHead);
    let (io, iof) = mk(Backend::Iomap);
    let mut buf = Vec::new();
    let whole = |fs: &Fs, fh| {
        let size = fs.stat(fh).unwrap().size;
        let mut all = vec![0; size as usize];
        fs.read(fh, 0, &mut all).unwrap();
        all
    };
    for (i, op) in ops.iter().enumerate() {
        let a = run(&bh, bf, op, &mut buf);
        let b = run(&io, iof, op, &mut buf);
        assert_eq!(a, b, "bs {block_size}: step {i} {op:?} differs between bh and iomap");
        assert_eq!(bh.stat(bf).unwrap().size, io.stat(iof).unwrap().size, "size after step {i}");
        if matches!(op, TOp::Remount) {
            assert!(whole(&bh, bf) == whole(&io, iof), "whole files differ after remount at step {i}");
        }
    }
    bh.remount().unwrap();
    io.remount().unwrap();
    assert!(whole(&bh, bf) == whole(&io, iof), "whole files differ after the final remount");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(16)))]

    /// After any sequence of the op mix, remounts and an unmount, the image is clean for
    /// e2fsck (ext4's own checker is the oracle for the metadata).
    #[test]
    fn sequences_leave_an_image_e2fsck_finds_clean(
        (ops, bh, block_size) in (any::<bool>(), prop_oneof![Just(1024u32), Just(4096)])
            .prop_flat_map(|(bh, bs)| (ops(u64::from(bs)), Just(bh), Just(bs)))
    ) {
        let backend = if bh { Backend::BufferHead } else { Backend::Iomap };
        let c = Config { backend, block_size, max_folio: 2 << 20, large_folios: false, writeback: WritebackMode::On };
        let dev: Arc<dyn BlockDev> = mem_dev();
        check_sequence(dev.clone(), &c, &ops);
        match e2fsck(dev.as_ref()) {
            None => println!("skipped e2fsck of the image: e2fsck is not installed (apt-get install e2fsprogs)"),
            Some(r) => prop_assert!(r.is_ok(), "{c:?}: e2fsck -fn after {ops:?}:\n{}", r.unwrap_err()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    #[test]
    fn bh_and_iomap_agree_after_every_op_and_remount(ops in ops(1024)) {
        for (bs, mf) in [(1024, 4096), (1024, 2 << 20), (2048, 64 << 10), (4096, 2 << 20)] {
            check_cross(&ops, bs, mf);
        }
    }
}

/// Every seeded bug shows up as a difference from the model on a sequence made for it.
#[cfg(feature = "bug_injection")]
mod seeded_bugs {
    use super::*;
    use crate::bugs::Bug;

    fn diverges(c: Config, bug: Bug, ops: &[TOp]) -> bool {
        let mut opts = mount_opts(&c);
        opts.bug = Some(bug);
        let fs = Fs::format_and_mount(
            mem_dev(),
            &FormatOptions { block_size: c.block_size, ..FormatOptions::default() },
            opts,
        )
        .expect("mount");
        let fh = fs.create("f").unwrap();
        let mut model = Model::default();
        let mut buf = Vec::new();
        for op in ops {
            let want = model.apply(op, c.block_size as u64);
            if run(&fs, fh, op, &mut buf) != want || fs.stat(fh).unwrap().size != model.data.len() as u64 {
                return true;
            }
        }
        let mut all = vec![0; model.data.len()];
        fs.read(fh, 0, &mut all).unwrap();
        all != model.data
    }

    fn cfg(backend: Backend, block_size: u32) -> Config {
        Config { backend, block_size, max_folio: 2 << 20, large_folios: false, writeback: WritebackMode::Off }
    }

    fn w(off: u64, len: u64, tag: u8) -> TOp {
        TOp::Write { off, len, tag }
    }

    #[test]
    fn each_seeded_bug_is_seen_and_absent_without_it() {
        let cases: Vec<(Bug, Config, Vec<TOp>)> = vec![
            (Bug::BhSkipRmw, cfg(Backend::BufferHead, 4096), vec![w(0, 4096, 1), TOp::Remount, w(1000, 100, 2)]),
            (
                Bug::IomapSkipTailZero,
                cfg(Backend::Iomap, 4096),
                vec![
                    w(0, 8192, 1),
                    TOp::Fsync,
                    TOp::Truncate { size: 5000 },
                    TOp::Remount,
                    TOp::Truncate { size: 8192 },
                ],
            ),
            (Bug::IomapWbDropTail, cfg(Backend::Iomap, 4096), vec![w(0, 5000, 1), TOp::Remount]),
            (Bug::SkipUnwrittenConversion, cfg(Backend::Iomap, 4096), vec![w(0, 4096, 1), TOp::Remount]),
            (Bug::IomapPostEofNotZeroed, cfg(Backend::Iomap, 4096), vec![w(0, 4096, 3), TOp::Remount, w(5000, 10, 1)]),
            (
                Bug::PunchLeavesCachedPartial,
                cfg(Backend::BufferHead, 1024),
                vec![w(0, 4096, 1), TOp::Falloc { mode: FallocMode::PunchHole, off: 1024, len: 2048 }],
            ),
            // Page 1 (blocks 4-7) with a hole at block 5 is read buffer by buffer.
            (
                Bug::BhReadPageIndexAsBlock,
                cfg(Backend::BufferHead, 1024),
                vec![
                    w(0, 8192, 1),
                    TOp::Falloc { mode: FallocMode::PunchHole, off: 5120, len: 1024 },
                    TOp::Remount,
                    TOp::Read { off: 4096, len: 4096 },
                ],
            ),
            // A 128-block folio written whole, then dirtied in part past its 64th block.
            (
                Bug::IfsDirtyScanOneWord,
                cfg(Backend::Iomap, 1024),
                vec![w(0, 128 << 10, 1), TOp::Fsync, w(100, 100_000, 2), TOp::Remount],
            ),
            // More dirty data than the 4 MiB cache holds, written back only when it is full.
            (Bug::ReclaimDirtyWithoutPrivate, cfg(Backend::Iomap, 4096), vec![w(0, 6 << 20, 1)]),
            (
                Bug::BhEofBlockExtendKeepsDisksize,
                cfg(Backend::BufferHead, 4096),
                vec![w(0, 100, 1), TOp::Fsync, w(50, 100, 2), TOp::Remount],
            ),
        ];
        for (bug, c, ops) in cases {
            assert!(diverges(c, bug, &ops), "{bug:?} was not seen with {ops:?}");
            check_sequence(mem_dev(), &c, &ops);
        }
    }
}
