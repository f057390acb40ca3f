//! Kernel targets on real files, real mounts and real loop devices: `dir` on a temporary
//! directory (psync and io_uring, buffered and O_DIRECT), `ext4`, `xfs` and `tmpfs` made and torn
//! down by the harness, and a Ctrl-C that must leave nothing behind. Tests that need root, loop
//! devices, mkfs or io_uring print one `skipped: <why>` line when they cannot run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fsimpl::buf::AlignedBuf;
use harness::targets::{
    DirTarget, FileId, IoMode, MountConfig, MountKind, MountTarget, RemountKind, Target, TargetError,
    kernel_availability, kernel_target,
};
use workloads::FallocMode;

const MIB: usize = 1 << 20;

/// Bytes that name their position and writer, so a misplaced block shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(7).wrapping_add(u32::from(seed) + (i as u32 >> 12)) as u8).collect()
}

/// Whether io_uring works here; prints the skip line when not.
fn io_uring_or_skip(what: &str) -> bool {
    match io_uring::IoUring::new(2) {
        Ok(_) => true,
        Err(e) => {
            println!("skipped: {what}: io_uring unavailable ({e})");
            false
        }
    }
}

/// Whether `kind` can be made here; prints the skip line when not.
fn available_or_skip(kind: &str) -> bool {
    match kernel_availability().into_iter().find(|(k, _, _)| *k == kind) {
        Some((_, true, _)) => true,
        Some((_, false, why)) => {
            println!("skipped: {kind} target unavailable: {}", why.unwrap_or_default());
            false
        }
        None => panic!("{kind} missing from kernel_availability()"),
    }
}

fn errno(e: TargetError) -> i32 {
    match e {
        TargetError::Os { errno, .. } => errno,
        other => panic!("expected an Os error, got {other}"),
    }
}

/// Writes all of `data` at `off` (checking that the write is whole).
fn write_all(t: &dyn Target, f: FileId, off: u64, data: &[u8]) {
    assert_eq!(t.write(f, off, data).unwrap(), data.len(), "{}: short write at {off}", t.spec());
}

/// Reads `len` bytes at `off` into an unaligned buffer.
fn read_vec(t: &dyn Target, f: FileId, off: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len + 1];
    let n = t.read(f, off, &mut v[1..]).unwrap();
    v[1..=n].to_vec()
}

/// Round trips on `t` under `mode`: writes (from unaligned and aligned buffers), short read at
/// EOF, size, truncate down and up, the fallocate modes the target lists, errno of failing
/// ops, remount keeping FileIds and data, unlink. Offsets and lengths are 4 KiB-aligned under
/// O_DIRECT; buffered runs also use unaligned ones.
fn exercise(t: &dyn Target, mode: IoMode) {
    let ctx = format!("{} {mode:?}", t.spec());
    t.set_io_mode(mode).unwrap();
    let caps = t.capabilities();
    let (off, len) = if mode.direct { (4096u64, 64 * 1024) } else { (1000u64, 64 * 1024 + 333) };
    let f = t.open("sub/a", true).unwrap();
    let data = pattern(len, 1);
    // From an unaligned buffer (the O_DIRECT bounce path) ...
    let mut unaligned = vec![0u8; len + 1];
    unaligned[1..].copy_from_slice(&data);
    write_all(t, f, off, &unaligned[1..]);
    assert_eq!(t.size(f).unwrap(), off + len as u64, "{ctx}");
    assert_eq!(read_vec(t, f, off, len), data, "{ctx}: read back");
    // ... and from an aligned one (used as is).
    let mut aligned = AlignedBuf::zeroed(8192);
    aligned.copy_from_slice(&pattern(8192, 2));
    write_all(t, f, 0, &aligned);
    let mut back = AlignedBuf::zeroed(8192);
    assert_eq!(t.read(f, 0, &mut back).unwrap(), 8192, "{ctx}");
    assert_eq!(&back[..], &aligned[..], "{ctx}: aligned read back");

    // Short read at EOF.
    let size = t.size(f).unwrap();
    let tail_off = if mode.direct { size - 4096 } else { size - 100 };
    assert_eq!(read_vec(t, f, tail_off, 16384).len() as u64, size - tail_off, "{ctx}: short read at EOF");
    assert_eq!(read_vec(t, f, size + 8192, 4096).len(), 0, "{ctx}: read past EOF");

    // Truncate down, then up: the gap reads as zeros.
    t.truncate(f, 40960).unwrap();
    t.truncate(f, 81920).unwrap();
    assert_eq!(t.size(f).unwrap(), 81920, "{ctx}");
    assert!(read_vec(t, f, 40960, 40960).iter().all(|&b| b == 0), "{ctx}: zeros past the old EOF");

    // fallocate, in each mode the target lists.
    for m in &caps.fallocate {
        match m {
            FallocMode::PunchHole | FallocMode::ZeroRangeKeepSize | FallocMode::ZeroRange => {
                t.fallocate(f, *m, 8192, 8192).unwrap();
                assert!(read_vec(t, f, 8192, 8192).iter().all(|&b| b == 0), "{ctx}: {m:?} zeroes");
                assert_eq!(t.size(f).unwrap(), 81920, "{ctx}: {m:?} inside EOF keeps the size");
            }
            FallocMode::KeepSize => {
                t.fallocate(f, *m, 81920, 1 << 20).unwrap();
                assert_eq!(t.size(f).unwrap(), 81920, "{ctx}: keep_size");
            }
            FallocMode::Allocate => {
                t.fallocate(f, *m, 81920, 4096).unwrap();
                assert_eq!(t.size(f).unwrap(), 86016, "{ctx}: allocate past EOF extends");
                t.truncate(f, 81920).unwrap();
            }
            FallocMode::CollapseRange => {
                assert_eq!(errno(t.fallocate(f, *m, 1, 4096).unwrap_err()), libc::EINVAL, "{ctx}: misaligned collapse");
                let before = read_vec(t, f, 16384, 4096);
                t.fallocate(f, *m, 12288, 4096).unwrap();
                assert_eq!(t.size(f).unwrap(), 77824, "{ctx}: collapse shrinks");
                assert_eq!(read_vec(t, f, 12288, 4096), before, "{ctx}: collapse shifts the tail down");
                t.truncate(f, 81920).unwrap();
            }
            FallocMode::InsertRange => {
                let before = read_vec(t, f, 12288, 4096);
                t.fallocate(f, *m, 12288, 4096).unwrap();
                assert_eq!(t.size(f).unwrap(), 86016, "{ctx}: insert grows");
                assert_eq!(read_vec(t, f, 16384, 4096), before, "{ctx}: insert shifts the tail up");
                t.truncate(f, 81920).unwrap();
            }
        }
    }
    t.fsync(f).unwrap();
    t.fdatasync(f).unwrap();

    // A closed FileId fails like a closed descriptor.
    let g = t.open("b", true).unwrap();
    t.close(g).unwrap();
    let e = t.read(g, 0, &mut [0u8; 16]).unwrap_err();
    assert_eq!(e.to_string(), format!("read: {}", std::io::Error::from_raw_os_error(libc::EBADF)), "{ctx}");
    assert_eq!(errno(e), libc::EBADF);
    assert_eq!(errno(t.close(g).unwrap_err()), libc::EBADF, "{ctx}: double close");
    assert_eq!(errno(t.open("missing", false).unwrap_err()), libc::ENOENT, "{ctx}");

    // Remount: the same FileId reads the same bytes.
    let expect = read_vec(t, f, 0, 81920);
    t.remount().unwrap();
    assert_eq!(t.size(f).unwrap(), 81920, "{ctx}: size after remount");
    assert_eq!(read_vec(t, f, 0, 81920), expect, "{ctx}: data after remount");
    t.drop_caches().unwrap();
    assert_eq!(read_vec(t, f, 0, 81920), expect, "{ctx}: data after drop_caches");

    t.close(f).unwrap();
    t.unlink("sub/a").unwrap();
    t.unlink("b").unwrap();
    assert_eq!(errno(t.unlink("b").unwrap_err()), libc::ENOENT, "{ctx}");
    println!("{ctx}: ok, fallocate modes {:?}", caps.fallocate);
}

fn dir_target(direct: bool) -> Option<(tempfile::TempDir, DirTarget)> {
    // /var/tmp is disk-backed on most systems (O_DIRECT); /tmp may be tmpfs.
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let t = DirTarget::new(tmp.path()).unwrap();
    if direct && !t.capabilities().direct {
        println!("skipped: O_DIRECT refused by the filesystem of /var/tmp");
        return None;
    }
    Some((tmp, t))
}

#[test]
fn dir_psync_buffered_round_trips() {
    let (_tmp, t) = dir_target(false).unwrap();
    assert_eq!(t.capabilities().remount, RemountKind::CloseAndDropCaches);
    exercise(&t, IoMode { uring: false, direct: false });
}

#[test]
fn dir_psync_direct_round_trips() {
    let Some((_tmp, t)) = dir_target(true) else { return };
    exercise(&t, IoMode { uring: false, direct: true });
}

#[test]
fn dir_uring_buffered_round_trips() {
    if !io_uring_or_skip("dir io_uring") {
        return;
    }
    let (_tmp, t) = dir_target(false).unwrap();
    exercise(&t, IoMode { uring: true, direct: false });
}

#[test]
fn dir_uring_direct_round_trips() {
    if !io_uring_or_skip("dir io_uring direct") {
        return;
    }
    let Some((_tmp, t)) = dir_target(true) else { return };
    exercise(&t, IoMode { uring: true, direct: true });
}

#[test]
fn direct_io_at_a_misaligned_offset_fails_with_einval() {
    let Some((_tmp, t)) = dir_target(true) else { return };
    for uring in [false, true] {
        if uring && !io_uring_or_skip("misaligned O_DIRECT through io_uring") {
            continue;
        }
        t.set_io_mode(IoMode { uring, direct: true }).unwrap();
        let f = t.open("x", true).unwrap();
        let e = t.write(f, 100, &pattern(4096, 0)).unwrap_err();
        assert_eq!(errno(e), libc::EINVAL, "uring={uring}");
        t.close(f).unwrap();
    }
}

#[test]
fn switching_to_direct_applies_to_open_files() {
    let Some((_tmp, t)) = dir_target(true) else { return };
    let f = t.open("x", true).unwrap();
    write_all(&t, f, 100, &[1; 10]);
    t.set_io_mode(IoMode { uring: false, direct: true }).unwrap();
    assert_eq!(errno(t.write(f, 100, &[1; 10]).unwrap_err()), libc::EINVAL, "now O_DIRECT");
    t.set_io_mode(IoMode::default()).unwrap();
    write_all(&t, f, 100, &[1; 10]);
}

#[test]
fn dir_remount_keeps_closed_files_and_fileids_of_many_files() {
    let (tmp, t) = dir_target(false).unwrap();
    let ids: Vec<FileId> = (0..5).map(|i| t.open(&format!("d/f{i}"), true).unwrap()).collect();
    for (i, f) in ids.iter().enumerate() {
        write_all(&t, *f, 0, &pattern(10_000, i as u8));
    }
    t.close(ids[4]).unwrap();
    t.remount().unwrap();
    for (i, f) in ids.iter().enumerate().take(4) {
        assert_eq!(read_vec(&t, *f, 0, 20_000), pattern(10_000, i as u8), "file {i}");
    }
    assert_eq!(std::fs::read(tmp.path().join("d/f4")).unwrap(), pattern(10_000, 4));
}

#[test]
fn dir_keeps_every_name_inside_the_directory() {
    let (tmp, t) = dir_target(false).unwrap();
    for bad in ["../x", "a/../../x", "", "./a", "/", "/etc/../x"] {
        let e = t.open(bad, true).unwrap_err().to_string();
        assert!(e.contains("must be a path inside the target"), "{bad}: {e}");
    }
    // An absolute name elsewhere is put under the directory whole (a job file's
    // filename=/dev/sda runs on the target, as on fsimpl), never reaching outside it.
    let f = t.open("/etc/passwd", true).unwrap();
    assert_eq!(t.write(f, 0, b"inside").unwrap(), 6);
    assert_eq!(std::fs::read(tmp.path().join("etc/passwd")).unwrap(), b"inside");
    // An absolute name under the directory is the file it names there (fio's
    // filename=/tmp/testfile on dir:path=/tmp); `..` out of it is refused.
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let f = t.open(&format!("{}/sub/inside", root.display()), true).unwrap();
    assert_eq!(t.write(f, 0, b"abc").unwrap(), 3);
    assert_eq!(std::fs::read(root.join("sub/inside")).unwrap(), b"abc");
    let e = t.open(&format!("{}/../x", root.display()), true).unwrap_err().to_string();
    assert!(e.contains("must be a path inside the target"), "{e}");
}

#[test]
fn dir_specs_parse_and_refuse_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_str().unwrap().to_string();
    let spec = |p: &str| format!("dir:path={p}").parse::<harness::targets::TargetSpec>().unwrap();
    let t = kernel_target(&spec(&path)).unwrap();
    assert_eq!(t.kind(), "dir");
    assert_eq!(t.spec(), format!("dir:path={}", std::fs::canonicalize(&path).unwrap().display()));
    let e = kernel_target(&spec(&format!("{path}/missing"))).err().unwrap().to_string();
    assert!(e.starts_with(&format!("dir target: {path}/missing: No such file or directory")), "{e}");
    assert!(e.ends_with("give an existing directory as path="), "{e}");
}

/// Mount points in `/proc/self/mountinfo`.
fn mounted(mountpoint: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mp = mountpoint.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(mp))
}

/// Loop devices attached to `image`, from `losetup -a`.
fn loops_of(image: &Path) -> Vec<String> {
    let out = Command::new("losetup").arg("-a").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let img = image.to_str().unwrap();
    text.lines().filter(|l| l.contains(img)).map(str::to_string).collect()
}

/// What a mount target made, to check it is gone.
struct Made {
    mountpoint: PathBuf,
    image: Option<PathBuf>,
}

impl Made {
    fn of(t: &MountTarget) -> Self {
        Made { mountpoint: t.mountpoint().to_path_buf(), image: t.image().map(Path::to_path_buf) }
    }

    fn assert_present(&self) {
        assert!(mounted(&self.mountpoint), "{} not mounted", self.mountpoint.display());
        if let Some(image) = &self.image {
            assert!(image.exists());
            assert_eq!(loops_of(image).len(), 1, "one loop device on {}", image.display());
        }
    }

    /// Nothing left: no mount, no loop device, no image, no mount point. A loop device may
    /// take a moment to go after its last user exits.
    fn assert_gone(&self) {
        assert!(!mounted(&self.mountpoint), "{} still mounted", self.mountpoint.display());
        assert!(!self.mountpoint.exists(), "mount point {} left behind", self.mountpoint.display());
        if let Some(image) = &self.image {
            assert!(!image.exists(), "image {} left behind", image.display());
            let deadline = Instant::now() + Duration::from_secs(10);
            while !loops_of(image).is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(loops_of(image), Vec::<String>::new(), "loop device left behind");
        }
    }
}

/// Create, write 1 MiB, fsync, check the counters, remount, read back, tear down, check that
/// nothing is left.
fn mount_lifecycle(cfg: MountConfig, mode: IoMode) {
    let kind = cfg.kind;
    let t = MountTarget::create(cfg).unwrap();
    let made = Made::of(&t);
    made.assert_present();
    let ctx = format!("{} {mode:?}", t.spec());
    t.set_io_mode(mode).unwrap();
    t.reset_counters();
    let f = t.open("data", true).unwrap();
    let data = pattern(MIB, 9);
    for chunk in 0..4 {
        let off = chunk * MIB / 4;
        write_all(&t, f, off as u64, &data[off..off + MIB / 4]);
    }
    t.fsync(f).unwrap();
    let after_fsync = t.counters();
    println!("{ctx}: counters after 1 MiB written and fsynced: {after_fsync:?}");
    if !mode.uring {
        // io_uring's reads and writes are no read/write syscalls: they leave these alone.
        assert!(after_fsync["proc_wchar"] >= MIB as u64, "{ctx}: {after_fsync:?}");
        assert!(after_fsync["proc_syscw"] >= 4, "{ctx}: {after_fsync:?}");
    }
    if kind == MountKind::Tmpfs {
        assert!(!after_fsync.contains_key("dev_write_bytes"), "{ctx}: tmpfs has no device");
        assert_eq!(t.capabilities().remount, RemountKind::None);
    } else {
        assert!(after_fsync["dev_write_bytes"] >= MIB as u64, "{ctx}: {after_fsync:?}");
        assert!(after_fsync["proc_write_bytes"] >= MIB as u64, "{ctx}: {after_fsync:?}");
        assert!(after_fsync["dev_writes"] >= 1, "{ctx}");
        assert!(after_fsync.contains_key("dev_flushes"), "{ctx}: Linux 5.5+ reports flushes");
        assert_eq!(t.capabilities().remount, RemountKind::Real);
        assert_eq!(t.loop_direct_io(), Some(true), "{ctx}: loop device in direct I/O mode");
    }
    t.reset_counters();
    t.remount().unwrap();
    assert_eq!(t.size(f).unwrap(), MIB as u64, "{ctx}: size after remount");
    let mut back = AlignedBuf::zeroed(MIB);
    assert_eq!(t.read(f, 0, &mut back).unwrap(), MIB, "{ctx}");
    assert!(back[..] == data[..], "{ctx}: data after remount");
    let after_read = t.counters();
    println!("{ctx}: counters after remount and 1 MiB read: {after_read:?}");
    if kind != MountKind::Tmpfs {
        assert!(after_read["dev_read_bytes"] >= MIB as u64, "{ctx}: a cold read comes from the device");
    }
    t.teardown().unwrap();
    made.assert_gone();
    assert_eq!(errno(t.read(f, 0, &mut back).unwrap_err()), libc::EBADF, "{ctx}: after teardown");
    t.teardown().unwrap();
    assert!(t.remount().is_err() || kind == MountKind::Tmpfs, "{ctx}: no remount after teardown");
    drop(t);
    made.assert_gone();
    println!("{ctx}: torn down; no mount, loop device, image or mount point left");
}

#[test]
fn ext4_target_lifecycle() {
    if !available_or_skip("ext4") {
        return;
    }
    mount_lifecycle(MountConfig { size: 256 << 20, ..MountConfig::new(MountKind::Ext4) }, IoMode::default());
}

#[test]
fn ext4_target_lifecycle_uring_direct() {
    if !available_or_skip("ext4") || !io_uring_or_skip("ext4 io_uring") {
        return;
    }
    let cfg =
        MountConfig { size: 256 << 20, opts: Some("noatime,data=ordered".into()), ..MountConfig::new(MountKind::Ext4) };
    mount_lifecycle(cfg, IoMode { uring: true, direct: true });
}

#[test]
fn xfs_target_lifecycle() {
    if !available_or_skip("xfs") || !io_uring_or_skip("xfs io_uring") {
        return;
    }
    mount_lifecycle(
        MountConfig { size: 300 << 20, ..MountConfig::new(MountKind::Xfs) },
        IoMode { uring: true, direct: false },
    );
}

#[test]
fn tmpfs_target_lifecycle() {
    if !available_or_skip("tmpfs") {
        return;
    }
    mount_lifecycle(MountConfig { size: 64 << 20, ..MountConfig::new(MountKind::Tmpfs) }, IoMode::default());
}

/// The round trips of [`exercise`] on a fresh `kind` filesystem, buffered and (where the
/// filesystem takes it) O_DIRECT.
fn mount_round_trips(kind: MountKind, size: u64) {
    if !available_or_skip(kind.name()) {
        return;
    }
    let t = MountTarget::create(MountConfig { size, ..MountConfig::new(kind) }).unwrap();
    exercise(&t, IoMode::default());
    if t.capabilities().direct {
        exercise(&t, IoMode { uring: false, direct: true });
    }
    t.teardown().unwrap();
}

#[test]
fn ext4_round_trips() {
    mount_round_trips(MountKind::Ext4, 256 << 20);
}

#[test]
fn xfs_round_trips() {
    mount_round_trips(MountKind::Xfs, 300 << 20);
}

#[test]
fn tmpfs_round_trips() {
    mount_round_trips(MountKind::Tmpfs, 64 << 20);
}

#[test]
fn mount_specs_parse_into_working_targets() {
    if !available_or_skip("ext4") {
        return;
    }
    let text = "ext4:opts=noatime,nodiscard:size=128m:backing=/var/tmp:mkfs_opts=-b 1024 -L aops";
    let t = kernel_target(&text.parse().unwrap()).unwrap();
    assert_eq!(t.spec(), "ext4:opts=noatime,nodiscard:size=128m:backing=/var/tmp:mkfs_opts=-b 1024 -L aops");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info.lines().find(|l| l.contains("aopsbench-ext4") && l.contains("noatime")).expect("mounted noatime");
    println!("{line}");
    let f = t.open("f", true).unwrap();
    write_all(&*t, f, 0, &[7; 1024]);
    drop(t);
}

#[test]
fn a_mount_option_the_kernel_lacks_is_one_clear_error_and_leaves_nothing() {
    if !available_or_skip("ext4") {
        return;
    }
    let backing = tempfile::tempdir_in("/var/tmp").unwrap();
    let cfg = MountConfig {
        size: 64 << 20,
        opts: Some("no_such_option_aops".into()),
        backing: backing.path().to_path_buf(),
        ..MountConfig::new(MountKind::Ext4)
    };
    let e = MountTarget::create(cfg).unwrap_err().to_string();
    println!("{e}");
    assert!(e.contains("-o no_such_option_aops") && e.contains("failed"), "{e}");
    assert!(e.ends_with("(kernel log: ext4: Unknown parameter 'no_such_option_aops')"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
    // The image was made in `backing`, attached, formatted; all of it undone.
    assert_eq!(std::fs::read_dir(backing.path()).unwrap().count(), 0, "image left in the backing directory");
    assert_eq!(loops_of(backing.path()), Vec::<String>::new(), "loop device left behind");
}

#[test]
fn xfs_under_300m_is_refused_before_anything_is_made() {
    let e = MountTarget::create(MountConfig { size: 100 << 20, ..MountConfig::new(MountKind::Xfs) }).unwrap_err();
    assert_eq!(e.to_string(), "xfs target: size=100m is too small: mkfs.xfs needs at least 300m");
    let e = "xfs:size=100m".parse::<harness::targets::TargetSpec>().unwrap_err();
    assert_eq!(e.to_string(), "size=100m is too small: mkfs.xfs needs at least 300m");
    println!("{e}");
}

/// Env var that makes [`ctrl_c_child`] run.
const CHILD_ENV: &str = "AOPSBENCH_CTRL_C_CHILD";

/// The child of [`ctrl_c_leaves_nothing_behind`]: makes an ext4 target, starts a thread writing
/// and fsyncing to it without pause (a run in progress), prints `ready <mountpoint> <image>`
/// and waits to be interrupted.
#[test]
#[ignore = "run by ctrl_c_leaves_nothing_behind in a child process"]
fn ctrl_c_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        println!("skipped: ctrl_c_child runs only as the child of ctrl_c_leaves_nothing_behind");
        return;
    }
    harness::targets::install_signal_cleanup().unwrap();
    let cfg = MountConfig { size: 64 << 20, ..MountConfig::new(MountKind::Ext4) };
    let t = std::sync::Arc::new(MountTarget::create(cfg).unwrap());
    let f = t.open("busy", true).unwrap();
    let writer = std::sync::Arc::clone(&t);
    std::thread::spawn(move || {
        let data = pattern(MIB, 3);
        // Runs until the signal cleanup closes the file under it.
        while writer.write(f, 0, &data).is_ok() && writer.fsync(f).is_ok() {}
    });
    println!("ready {} {}", t.mountpoint().display(), t.image().unwrap().display());
    std::thread::sleep(Duration::from_secs(120));
    // Not interrupted: the parent failed; clean up and exit with a status it does not expect.
    t.teardown().unwrap();
    std::process::exit(3);
}

#[test]
fn ctrl_c_leaves_nothing_behind() {
    if !available_or_skip("ext4") {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ctrl_c_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // libtest prints "test ctrl_c_child ... " before the child's own output, on the same line.
    let ready = stdout.lines().map_while(Result::ok).find_map(|l| l.split_once("ready ").map(|(_, r)| r.to_string()));
    let Some(ready) = ready else {
        let _ = child.kill();
        panic!("the child exited without getting ready: {}", child.wait().unwrap());
    };
    let mut words = ready.split(' ');
    let made =
        Made { mountpoint: PathBuf::from(words.next().unwrap()), image: Some(PathBuf::from(words.next().unwrap())) };
    made.assert_present();
    // SAFETY: signalling our own child by pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit status after SIGINT: {status}");
    made.assert_gone();
    println!("SIGINT: child exited 130; no mount, loop device, image or mount point left");
}
