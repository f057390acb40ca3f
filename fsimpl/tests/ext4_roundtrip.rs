//! Round trips between fsimpl and the real ext4: images fsimpl wrote are clean for
//! `e2fsck -fn` and read back byte for byte by the kernel; files the kernel wrote read back
//! in fsimpl and stay right through fsimpl's changes; a journal fsimpl left unrecovered is
//! recovered by the kernel, by e2fsck and by fsimpl; power cuts at every write of a short
//! workload leave every fsynced byte; a bad checksum is one clear line at mount.
//! Root-only and tool-missing parts skip with one line.

mod tools;

use fsimpl::dev::{BlockDev, FaultDev, FaultPlan, MemDev, PowerCut};
use fsimpl::{Backend, FallocMode, Fh, FormatOptions, Fs, FsError, MountOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tools::*;

const BLOCK_SIZES: [u32; 3] = [1024, 2048, 4096];
const BACKENDS: [Backend; 2] = [Backend::BufferHead, Backend::Iomap];
const MIB: u64 = 1 << 20;

fn opts(backend: Backend) -> MountOptions {
    MountOptions {
        cache_bytes: 32 * MIB,
        commit_interval: None,
        page_poison: true,
        ..MountOptions::for_backend(backend)
    }
}

/// The files' expected bytes.
type Model = BTreeMap<String, Vec<u8>>;

fn model_write(m: &mut Model, name: &str, off: u64, data: &[u8]) {
    let f = m.entry(name.to_string()).or_default();
    let end = off as usize + data.len();
    if f.len() < end {
        f.resize(end, 0);
    }
    f[off as usize..end].copy_from_slice(data);
}

/// A mix of writes, holes, fallocate, punch, zero range, collapse and insert range and
/// truncates over a few files, mirrored in `m`. Every file is fsynced at the end.
fn workload(fs: &Fs, m: &mut Model, bs: u32, seed: u64) {
    let bs = bs as u64;
    let open = |fs: &Fs, n: &str| fs.open_or_create(n).unwrap();
    for i in 0..3u64 {
        let name = format!("w{seed}.{i}");
        let f = open(fs, &name);
        m.entry(name.clone()).or_default();
        // Sequential, then a write past EOF leaving a hole, then an overwrite.
        let a = pattern(300_000 + 7_000 * i as usize, seed * 10 + i);
        fs.write(f, 0, &a).unwrap();
        model_write(m, &name, 0, &a);
        let b = pattern(20_000, seed * 10 + i + 100);
        fs.write(f, 2 * MIB + 123, &b).unwrap();
        model_write(m, &name, 2 * MIB + 123, &b);
        let c = pattern(5_000, seed + 7);
        fs.write(f, 1000, &c).unwrap();
        model_write(m, &name, 1000, &c);
        match i {
            0 => {
                fs.fallocate(f, FallocMode::PunchHole, 40_000, 50_000).unwrap();
                m.get_mut(&name).unwrap()[40_000..90_000].fill(0);
                fs.fallocate(f, FallocMode::KeepSize, 3 * MIB, MIB).unwrap();
                fs.fallocate(f, FallocMode::ZeroRange, 100_000, 30_000).unwrap();
                m.get_mut(&name).unwrap()[100_000..130_000].fill(0);
            }
            1 => {
                fs.fallocate(f, FallocMode::CollapseRange, 4 * bs, 8 * bs).unwrap();
                let v = m.get_mut(&name).unwrap();
                v.drain(4 * bs as usize..12 * bs as usize);
                fs.fallocate(f, FallocMode::InsertRange, 16 * bs, 4 * bs).unwrap();
                let v = m.get_mut(&name).unwrap();
                let at = 16 * bs as usize;
                v.splice(at..at, std::iter::repeat_n(0u8, 4 * bs as usize));
            }
            _ => {
                fs.truncate(f, 150_001).unwrap();
                m.get_mut(&name).unwrap().truncate(150_001);
                fs.fallocate(f, FallocMode::Allocate, 150_001, 200_000).unwrap();
                m.get_mut(&name).unwrap().resize(350_001, 0);
            }
        }
        fs.fsync(f).unwrap();
    }
    // Many small files, and one removed again.
    for i in 0..40 {
        let name = format!("s{seed}.{i:03}");
        let f = open(fs, &name);
        let d = pattern(100 + i * 37, seed + i as u64);
        fs.write(f, 0, &d).unwrap();
        m.insert(name, d);
    }
    let gone = format!("s{seed}.007");
    fs.unlink(&gone).unwrap();
    m.remove(&gone);
    fs.sync().unwrap();
}

fn read_all(fs: &Fs, f: Fh) -> Vec<u8> {
    let size = fs.stat(f).unwrap().size as usize;
    let mut buf = vec![0u8; size];
    assert_eq!(fs.read(f, 0, &mut buf).unwrap(), size);
    buf
}

fn check_fs(fs: &Fs, m: &Model, case: &str) {
    let mut names = fs.list().unwrap();
    names.sort();
    assert_eq!(names, m.keys().cloned().collect::<Vec<_>>(), "{case}: names");
    for (n, want) in m {
        let got = read_all(fs, fs.open(n).unwrap());
        assert!(got == *want, "{case}: {n} differs ({} vs {} bytes)", got.len(), want.len());
    }
}

/// Every file of the model reads back the same through the kernel (regular files only;
/// lost+found is the kernel's).
fn check_kernel(dir: &Path, m: &Model, case: &str) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, m.keys().cloned().collect::<Vec<_>>(), "{case}: names in the kernel's view");
    for (n, want) in m {
        let got = std::fs::read(dir.join(n)).unwrap();
        assert!(got == *want, "{case}: the kernel reads {n} differently ({} vs {} bytes)", got.len(), want.len());
    }
}

fn image(dir: &tempfile::TempDir, size: u64) -> std::path::PathBuf {
    let p = dir.path().join("img");
    std::fs::File::create(&p).unwrap().set_len(size).unwrap();
    p
}

#[test]
fn fsimpl_images_are_clean_and_read_back_in_the_kernel() {
    let name = "fsimpl_images_are_clean_and_read_back_in_the_kernel";
    if skip(name, need_e2fsprogs()) {
        return;
    }
    let kernel = need_loop_mount();
    if let Some(why) = &kernel {
        println!("{name}: kernel mounts skipped: {why}");
    }
    for bs in BLOCK_SIZES {
        for backend in BACKENDS {
            let case = format!("{} bs={bs}", backend.name());
            let dir = tempfile::tempdir().unwrap();
            let img = image(&dir, 64 * MIB);
            let mut m = Model::new();
            let fs = Fs::format_and_mount(
                file_dev(&img),
                &FormatOptions { block_size: bs, ..FormatOptions::default() },
                opts(backend),
            )
            .unwrap();
            workload(&fs, &mut m, bs, 1);
            fs.remount().unwrap();
            check_fs(&fs, &m, &format!("{case} after remount"));
            workload(&fs, &mut m, bs, 2);
            fs.unmount().unwrap();
            assert_clean(&img, &case);
            if kernel.is_none() {
                let mnt = LoopMount::new(&img, "");
                check_kernel(&mnt.dir, &m, &case);
                drop(mnt);
                assert_clean(&img, &format!("{case} after a kernel mount"));
            }
            // And fsimpl still reads it all.
            let fs = Fs::mount(file_dev(&img), opts(backend)).unwrap();
            check_fs(&fs, &m, &format!("{case} remounted"));
            fs.unmount().unwrap();
        }
    }
}

#[test]
fn files_the_kernel_wrote_stay_right_through_fsimpl() {
    let name = "files_the_kernel_wrote_stay_right_through_fsimpl";
    if skip(name, need_e2fsprogs().or_else(need_loop_mount)) {
        return;
    }
    for bs in BLOCK_SIZES {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        mkfs_ext4(&img, 64 * MIB, bs, &[]);
        let mut m = Model::new();
        {
            let mnt = LoopMount::new(&img, "");
            // Enough names for the kernel to make the root directory hash-indexed.
            for i in 0..300 {
                let n = format!("kernel-file-with-a-longish-name.{i:04}");
                let d = pattern(i * 11 % 5000, i as u64);
                std::fs::write(mnt.dir.join(&n), &d).unwrap();
                m.insert(n, d);
            }
            let big = pattern(5 << 20, 3);
            std::fs::write(mnt.dir.join("big"), &big).unwrap();
            m.insert("big".into(), big);
        }
        for backend in BACKENDS {
            let case = format!("{} bs={bs}", backend.name());
            let fs = Fs::mount(file_dev(&img), opts(backend)).unwrap();
            check_fs(&fs, &m, &format!("{case}: the kernel's files"));
            workload(&fs, &mut m, bs, backend as u64 + 10);
            // Change the kernel's files too: extend, punch, remove.
            let f = fs.open("big").unwrap();
            let d = pattern(100_000, 77);
            fs.write(f, (5 << 20) - 50_000, &d).unwrap();
            model_write(&mut m, "big", (5 << 20) - 50_000, &d);
            fs.fallocate(f, FallocMode::PunchHole, MIB, MIB).unwrap();
            m.get_mut("big").unwrap()[MIB as usize..2 * MIB as usize].fill(0);
            let gone = format!("kernel-file-with-a-longish-name.{:04}", 17 + backend as usize);
            fs.unlink(&gone).unwrap();
            m.remove(&gone);
            fs.unmount().unwrap();
            assert_clean(&img, &case);
            let mnt = LoopMount::new(&img, "");
            check_kernel(&mnt.dir, &m, &case);
        }
    }
}

/// Copies a device's bytes to an image file.
fn export(dev: &dyn BlockDev, path: &Path) {
    let size = dev.size();
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    let chunk = 1 << 20;
    let mut at = 0;
    while at < size {
        let n = chunk.min(size - at);
        let b = fsimpl::core::io::read_blocks(dev, 512, at / 512, (n / 512) as usize).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &b, at).unwrap();
        at += n;
    }
}

/// After a crash, the image at `img` recovers the same three ways: the kernel's mount, e2fsck,
/// and fsimpl; each time every file of `allowed` reads back one of its allowed contents, and
/// the result is clean for e2fsck.
fn recover_three_ways(img: &Path, allowed: &Allowed, case: &str) {
    let dir = img.parent().unwrap();
    let check = |read: &dyn Fn(&str) -> Option<Vec<u8>>, who: &str| {
        for (n, states) in allowed {
            // A file whose creation was not committed is gone: it reads as empty.
            let got = read(n).unwrap_or_default();
            assert!(states.contains(&got), "{case}: after {who}'s recovery {n} has {} bytes no fsync left", got.len());
        }
    };
    // The kernel.
    if need_loop_mount().is_none() {
        let k = dir.join("kernel.img");
        std::fs::copy(img, &k).unwrap();
        {
            let mnt = LoopMount::new(&k, "");
            check(&|n| std::fs::read(mnt.dir.join(n)).ok(), "the kernel");
        }
        assert_clean(&k, &format!("{case}, recovered by the kernel"));
    }
    // e2fsck replays the journal (-p), then finds nothing else.
    let e = dir.join("e2fsck.img");
    std::fs::copy(img, &e).unwrap();
    let out = std::process::Command::new("e2fsck").arg("-fp").arg(&e).output().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{case}: e2fsck -fp failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(&e, &format!("{case}, recovered by e2fsck"));
    let fs = Fs::mount(file_dev(&e), opts(Backend::BufferHead)).unwrap();
    check(&|n| fs.open(n).ok().map(|f| read_all(&fs, f)), "e2fsck");
    fs.unmount().unwrap();
    // fsimpl itself.
    let f = dir.join("fsimpl.img");
    std::fs::copy(img, &f).unwrap();
    let fs = Fs::mount(file_dev(&f), opts(Backend::Iomap)).unwrap();
    check(&|n| fs.open(n).ok().map(|f| read_all(&fs, f)), "fsimpl");
    fs.unmount().unwrap();
    assert_clean(&f, &format!("{case}, recovered by fsimpl"));
}

#[test]
fn a_journal_fsimpl_left_unrecovered_is_recovered_by_the_kernel_e2fsck_and_fsimpl() {
    let name = "a_journal_fsimpl_left_unrecovered_is_recovered_by_the_kernel_e2fsck_and_fsimpl";
    if skip(name, need_e2fsprogs()) {
        return;
    }
    for bs in BLOCK_SIZES {
        for backend in BACKENDS {
            let case = format!("{} bs={bs}", backend.name());
            let dir = tempfile::tempdir().unwrap();
            let img = image(&dir, 64 * MIB);
            let mut m = Model::new();
            let fs = Fs::format_and_mount(
                file_dev(&img),
                &FormatOptions { block_size: bs, ..FormatOptions::default() },
                opts(backend),
            )
            .unwrap();
            workload(&fs, &mut m, bs, 3);
            // A crash: no unmount, the journal holds every commit, nothing checkpointed.
            drop(fs);
            let dev = file_dev(&img);
            let (sb, _) = fsimpl::core::ext4::fs::read_super(dev.as_ref()).unwrap();
            let (_, jsb) = fsimpl::core::ext4::fs::journal_of(dev.as_ref()).unwrap();
            drop(dev);
            assert!(
                sb.has_incompat(fsimpl::core::ext4::super_block::INCOMPAT_RECOVER) && jsb.s_start != 0,
                "{case}: the crashed image needs recovery"
            );
            let allowed = m.iter().map(|(n, d)| (n.clone(), vec![d.clone()])).collect();
            recover_three_ways(&img, &allowed, &case);
        }
    }
}

/// What each file may read back after a crash: its last fsynced bytes (empty when never
/// fsynced: the file may not exist), and, for the file whose fsync the cut interrupted, the
/// bytes that fsync was making durable.
type Allowed = BTreeMap<String, Vec<Vec<u8>>>;

/// The power-cut workload: a few files written and fsynced, one truncated and rewritten.
fn cut_workload(fs: &Fs, dev: &FaultDev) -> Allowed {
    let mut now = Model::new();
    let mut allowed = Allowed::new();
    let mut op = |name: &str, f: &dyn Fn(&Fs, Fh), change: &dyn Fn(&mut Vec<u8>), sync: bool| {
        if dev.is_cut() {
            return;
        }
        let fh = fs.open_or_create(name).unwrap();
        allowed.entry(name.into()).or_insert_with(|| vec![Vec::new()]);
        f(fs, fh);
        change(now.entry(name.into()).or_default());
        if sync {
            fs.fsync(fh).unwrap();
            let states = allowed.get_mut(name).unwrap();
            if dev.is_cut() {
                states.push(now[name].clone());
            } else {
                *states = vec![now[name].clone()];
            }
        }
    };
    let a = pattern(40_000, 1);
    let b = pattern(70_000, 2);
    let c = pattern(9_000, 3);
    op(
        "a",
        &|fs, f| {
            assert!(fs.write(f, 0, &a).unwrap() > 0);
        },
        &|v| *v = a.clone(),
        true,
    );
    op(
        "b",
        &|fs, f| {
            assert!(fs.write(f, 0, &b).unwrap() > 0);
        },
        &|v| *v = b.clone(),
        true,
    );
    op("a", &|fs, f| fs.truncate(f, 0).unwrap(), &|v| v.clear(), false);
    op(
        "a",
        &|fs, f| {
            assert!(fs.write(f, 0, &c).unwrap() > 0);
        },
        &|v| *v = c.clone(),
        true,
    );
    op(
        "b",
        &|fs, f| {
            assert!(fs.write(f, 100_000, &c).unwrap() > 0);
        },
        &|v| {
            v.resize(100_000, 0);
            v.extend_from_slice(&c);
        },
        true,
    );
    allowed
}

#[test]
fn power_cuts_at_every_write_recover_in_fsimpl_the_kernel_and_e2fsck() {
    let name = "power_cuts_at_every_write_recover_in_fsimpl_the_kernel_and_e2fsck";
    if skip(name, need_e2fsprogs()) {
        return;
    }
    // Every block size; and bh with `nodioread_nolock`, whose writeback allocates written
    // extents, so that only data=ordered (the commit waits for the data) keeps stale blocks
    // out of a file after a cut.
    let cases = BLOCK_SIZES
        .map(|bs| (bs, if bs == 2048 { Backend::Iomap } else { Backend::BufferHead }, true))
        .into_iter()
        .chain([(4096, Backend::BufferHead, false)]);
    for (bs, backend, dioread_nolock) in cases {
        let run = |cut: Option<u64>| -> (u64, bool, Allowed, Arc<MemDev>) {
            let mem = Arc::new(MemDev::new(16 * MIB).unwrap());
            let dev = Arc::new(FaultDev::new(mem.clone(), FaultPlan::default()).unwrap());
            let fs = Fs::format_and_mount(
                dev.clone(),
                &FormatOptions { block_size: bs, ..FormatOptions::default() },
                MountOptions { dioread_nolock, ..opts(backend) },
            )
            .unwrap();
            let power_cut = Some(cut.map_or(PowerCut::OnDemand, PowerCut::AfterWrite));
            dev.arm(FaultPlan { power_cut, ..FaultPlan::default() }).unwrap();
            let before = dev.stats().writes;
            let allowed = cut_workload(&fs, &dev);
            let writes = dev.stats().writes - before;
            let cut_happened = dev.is_cut();
            drop(fs);
            (writes, cut_happened, allowed, mem)
        };
        let (writes, _, _, _) = run(None);
        assert!(writes >= 8, "bs={bs}: the workload wrote only {writes} bios");
        for cut in 1..=writes {
            let case = format!("{} bs={bs} dioread_nolock={dioread_nolock} cut after write {cut}", backend.name());
            let (_, cut_happened, allowed, mem) = run(Some(cut));
            assert!(cut_happened, "{case}: no cut");
            let dir = tempfile::tempdir().unwrap();
            let img = dir.path().join("img");
            export(mem.as_ref(), &img);
            recover_three_ways(&img, &allowed, &case);
        }
    }
}

#[test]
fn a_bad_checksum_is_one_clear_line_at_mount() {
    // What to corrupt, found through the filesystem fsimpl just wrote.
    for bs in [1024u32, 4096] {
        let mem: Arc<dyn BlockDev> = Arc::new(MemDev::new(32 * MIB).unwrap());
        let fs = Fs::format_and_mount(
            mem.clone(),
            &FormatOptions { block_size: bs, ..FormatOptions::default() },
            opts(Backend::Iomap),
        )
        .unwrap();
        // A file with enough extents for a tree block.
        let f = fs.create("f").unwrap();
        for i in 0..2000u64 {
            fs.write(f, i * 2 * bs as u64, &[1u8; 16]).unwrap();
        }
        fs.unmount().unwrap();
        let stats = Arc::new(fsimpl::stats::Stats::default());
        let (ext4, files) = fsimpl::core::ext4::Ext4::mount(mem.clone(), Default::default(), stats).unwrap();
        let inode = &files[0].info;
        assert!(inode.disk.tree.depth() > 0, "bs={bs}: the file has a tree block");
        let tree_block = inode.disk.tree.node_pblks().next().unwrap();
        ext4.unmount().unwrap();
        drop(ext4);
        let (sb, _) = fsimpl::core::ext4::fs::read_super(mem.as_ref()).unwrap();
        let geo = fsimpl::core::ext4::balloc::Geometry::from_sb(&sb, mem.size()).unwrap();
        let gdt = geo.first_data_block + 1;
        let cases: Vec<(&str, u64, usize)> = vec![
            ("superblock", 1024 / bs as u64, (1024 % bs as usize) + 100),
            ("group descriptor", gdt, 5),
            ("extent block", tree_block, 40),
        ];
        for (what, blk, byte) in cases {
            let copy: Arc<dyn BlockDev> = Arc::new(MemDev::new(32 * MIB).unwrap());
            let all = fsimpl::core::io::read_blocks(mem.as_ref(), bs, 0, (32 * MIB / bs as u64) as usize).unwrap();
            let list: Vec<(u64, &[u8])> = (0..32 * MIB / bs as u64)
                .map(|b| (b, &all[(b * bs as u64) as usize..((b + 1) * bs as u64) as usize]))
                .collect();
            fsimpl::core::io::write_blocks(copy.as_ref(), bs, list).unwrap();
            let mut b = fsimpl::core::io::read_blocks(copy.as_ref(), bs, blk, 1).unwrap().to_vec();
            b[byte] ^= 0x40;
            fsimpl::core::io::write_blocks(copy.as_ref(), bs, [(blk, &b[..])]).unwrap();
            let err = match Fs::mount(copy, opts(Backend::BufferHead)) {
                Err(e) => e,
                Ok(_) => panic!("bs={bs}: a corrupted {what} mounted"),
            };
            let msg = err.to_string();
            assert!(matches!(err, FsError::Corrupt { .. }), "bs={bs} {what}: {msg}");
            assert!(msg.contains("checksum"), "bs={bs} {what}: {msg}");
            assert!(!msg.contains('\n'), "bs={bs} {what}: one line: {msg}");
        }
    }
}
