//! Block-device safety on real loop devices: signatures written by the real tools (mkfs.ext4,
//! mkfs.xfs, mkswap; GPT, MBR and btrfs by hand where no tool is installed), a mounted device,
//! a mounted partition, active swap, a loop device's backing file and a regular file holding
//! ext4 — each refused with its one line; `--force-destroy` goes ahead. Tests that need root
//! or a program print one `skipped: <why>` line.

use harness::targets::safety::{Destroy, check_destroy};
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1 << 20;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether root and loop devices are here; prints the skip line when not.
fn root_or_skip(test: &str) -> bool {
    if !is_root() {
        println!("skipped: {test}: needs root (losetup, mkfs, mount, swapon)");
        return false;
    }
    if !Path::new("/dev/loop-control").exists() {
        println!("skipped: {test}: no loop devices (/dev/loop-control missing)");
        return false;
    }
    true
}

fn have(program: &str, test: &str) -> bool {
    let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].iter().any(|d| Path::new(d).join(program).exists());
    if !found {
        println!("skipped: {test}: {program} not installed");
    }
    found
}

/// Runs a program; panics with its stderr if it fails.
fn sh(program: &str, args: &[&str]) -> String {
    let o = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(o.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A loop device over a sparse image in a temporary directory, detached on drop.
struct Loop {
    dev: PathBuf,
    image: PathBuf,
    _dir: tempfile::TempDir,
}

impl Loop {
    fn new(size: u64, partscan: bool) -> Loop {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let image = dir.path().join("disk.img");
        std::fs::File::create(&image).unwrap().set_len(size).unwrap();
        let mut args = vec!["--find", "--show"];
        if partscan {
            args.push("--partscan");
        }
        args.push(image.to_str().unwrap());
        let dev = PathBuf::from(sh("losetup", &args));
        Loop { dev, image, _dir: dir }
    }

    fn path(&self) -> &str {
        self.dev.to_str().unwrap()
    }

    /// Writes `bytes` at `offset` of the device.
    fn poke(&self, offset: u64, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&self.dev).unwrap();
        f.write_all_at(bytes, offset).unwrap();
        f.sync_all().unwrap();
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", self.path()]).status();
    }
}

/// A mount, unmounted on drop.
struct Mounted {
    dir: tempfile::TempDir,
}

impl Mounted {
    fn new(dev: &str) -> Mounted {
        let dir = tempfile::tempdir().unwrap();
        sh("mount", &[dev, dir.path().to_str().unwrap()]);
        Mounted { dir }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Active swap, switched off on drop.
struct Swap(String);

impl Drop for Swap {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.0).status();
    }
}

fn refusal(path: &str) -> String {
    check_destroy(Path::new(path), Destroy::Refuse).expect_err("refused").to_string()
}

fn signature_refusal(path: &str, what: &str, at: &str) -> String {
    format!("refusing to write {path}: it holds {what} ({at}); give --force-destroy to overwrite it anyway")
}

#[test]
fn signatures_made_by_the_real_tools_are_refused() {
    let test = "signatures_made_by_the_real_tools_are_refused";
    if !root_or_skip(test) {
        return;
    }
    let lo = Loop::new(64 * MIB, false);
    let dev = lo.path();
    assert!(check_destroy(&lo.dev, Destroy::Refuse).is_ok(), "a zeroed device was refused");
    if have("mkfs.ext4", test) {
        sh("mkfs.ext4", &["-F", "-q", dev]);
        assert_eq!(refusal(dev), signature_refusal(dev, "an ext4 filesystem", "magic 0xEF53 at byte 1080"));
        sh("wipefs", &["-a", "-q", dev]);
    }
    if have("mkfs.ext2", test) {
        sh("mkfs.ext2", &["-F", "-q", dev]);
        assert_eq!(refusal(dev), signature_refusal(dev, "an ext2 filesystem", "magic 0xEF53 at byte 1080"));
        sh("wipefs", &["-a", "-q", dev]);
    }
    if have("mkswap", test) {
        sh("mkswap", &[dev]);
        assert_eq!(refusal(dev), signature_refusal(dev, "a swap area", "SWAPSPACE2 at byte 4086"));
        sh("wipefs", &["-a", "-q", dev]);
    }
    // No sgdisk, parted or mkfs.btrfs is assumed: these signatures are written by hand.
    lo.poke(512, b"EFI PART");
    assert_eq!(refusal(dev), signature_refusal(dev, "a GPT partition table", "EFI PART at byte 512"));
    lo.poke(512, &[0; 8]);
    let mut mbr = [0u8; 66];
    mbr[4] = 0x83; // Linux
    mbr[8..12].copy_from_slice(&2048u32.to_le_bytes());
    mbr[12..16].copy_from_slice(&8192u32.to_le_bytes());
    mbr[64..66].copy_from_slice(&[0x55, 0xaa]);
    lo.poke(446, &mbr);
    assert_eq!(
        refusal(dev),
        signature_refusal(dev, "an MBR partition table", "0x55AA at byte 510 and a partition entry")
    );
    lo.poke(446, &[0; 66]);
    lo.poke(65600, b"_BHRfS_M");
    assert_eq!(refusal(dev), signature_refusal(dev, "a btrfs filesystem", "magic _BHRfS_M at byte 65600"));
    lo.poke(65600, &[0; 8]);
    assert!(check_destroy(&lo.dev, Destroy::Refuse).is_ok());

    if have("mkfs.xfs", test) {
        let big = Loop::new(320 * MIB, false);
        sh("mkfs.xfs", &["-f", "-q", big.path()]);
        let dev = big.path();
        assert_eq!(refusal(dev), signature_refusal(dev, "an xfs filesystem", "magic XFSB at byte 0"));
        assert!(check_destroy(&big.dev, Destroy::Force).is_ok());
    }
}

#[test]
fn a_mounted_device_a_mounted_partition_and_active_swap_are_refused() {
    let test = "a_mounted_device_a_mounted_partition_and_active_swap_are_refused";
    if !root_or_skip(test) || !have("mkfs.ext4", test) || !have("mkswap", test) {
        return;
    }
    let lo = Loop::new(64 * MIB, false);
    let dev = lo.path();
    sh("mkfs.ext4", &["-F", "-q", dev]);
    {
        let m = Mounted::new(dev);
        assert_eq!(
            refusal(dev),
            format!(
                "refusing to write {dev}: it is mounted on {}; unmount it, or give another device",
                m.dir.path().display()
            )
        );
        assert!(check_destroy(&lo.dev, Destroy::Force).is_ok(), "--force-destroy did not override");
    }

    // A partition of the device mounted: the whole device is refused.
    let parted = Loop::new(64 * MIB, true);
    let mut mbr = [0u8; 66];
    mbr[4] = 0x83;
    mbr[8..12].copy_from_slice(&2048u32.to_le_bytes());
    mbr[12..16].copy_from_slice(&((60 * MIB / 512) as u32).to_le_bytes());
    mbr[64..66].copy_from_slice(&[0x55, 0xaa]);
    parted.poke(446, &mbr);
    sh("losetup", &["--set-capacity", parted.path()]);
    let _ = Command::new("partx").args(["-u", parted.path()]).status();
    let part = format!("{}p1", parted.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !Path::new(&part).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if Path::new(&part).exists() {
        sh("mkfs.ext4", &["-F", "-q", &part]);
        let m = Mounted::new(&part);
        assert_eq!(
            refusal(parted.path()),
            format!(
                "refusing to write {}: its partition {part} is mounted on {}; unmount it, or give another device",
                parted.path(),
                m.dir.path().display()
            )
        );
    } else {
        println!("skipped: {test}: the kernel made no partition device {part}");
    }

    // Active swap on a loop device.
    let sw = Loop::new(64 * MIB, false);
    sh("mkswap", &[sw.path()]);
    sh("swapon", &[sw.path()]);
    let guard = Swap(sw.path().to_string());
    assert_eq!(
        refusal(sw.path()),
        format!("refusing to write {0}: it is active swap; swapoff {0} first, or give another device", sw.path())
    );
    drop(guard);
    assert_eq!(refusal(sw.path()), signature_refusal(sw.path(), "a swap area", "SWAPSPACE2 at byte 4086"));
}

#[test]
fn a_regular_file_holding_ext4_and_a_loop_backing_file_are_refused() {
    let test = "a_regular_file_holding_ext4_and_a_loop_backing_file_are_refused";
    if !have("mkfs.ext4", test) {
        return;
    }
    // mkfs.ext4 on a plain file needs no root.
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("ext4.img");
    std::fs::File::create(&img).unwrap().set_len(32 * MIB).unwrap();
    sh("mkfs.ext4", &["-F", "-q", img.to_str().unwrap()]);
    let p = img.to_str().unwrap();
    assert_eq!(refusal(p), signature_refusal(p, "an ext4 filesystem", "magic 0xEF53 at byte 1080"));
    if !root_or_skip(test) {
        return;
    }
    let lo = Loop::new(16 * MIB, false);
    let backing = lo.image.to_str().unwrap();
    assert_eq!(
        refusal(backing),
        format!(
            "refusing to write {backing}: it is the backing file of {}; losetup -d {} first, or give --force-destroy \
             to overwrite it anyway",
            lo.path(),
            lo.path()
        )
    );
}

const JOB: &str = "[global]\nrw=randwrite\nbs=4k\nsize=4m\naops_cache=64m\n\n[w]\n";

fn aopsbench_run(dir: &Path, target: &str, force: bool) -> std::process::Output {
    let job = dir.join("j.fio");
    std::fs::write(&job, JOB).unwrap();
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let out = dir.join(format!("run{}", RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let mut args = vec!["run", job.to_str().unwrap(), "--target", target, "--out", out.to_str().unwrap(), "--no-plot"];
    if force {
        args.push("--force-destroy");
    }
    Command::new(env!("CARGO_BIN_EXE_aopsbench")).args(&args).output().unwrap()
}

#[test]
fn run_refuses_a_backing_with_a_filesystem_and_force_destroy_goes_ahead() {
    let test = "run_refuses_a_backing_with_a_filesystem_and_force_destroy_goes_ahead";
    if !have("mkfs.ext4", test) {
        return;
    }
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let img = dir.path().join("ext4.img");
    std::fs::File::create(&img).unwrap().set_len(64 * MIB).unwrap();
    sh("mkfs.ext4", &["-F", "-q", img.to_str().unwrap()]);
    let mut targets = vec![format!("bh:backing={}", img.display())];
    let lo = if is_root() && Path::new("/dev/loop-control").exists() {
        let lo = Loop::new(64 * MIB, false);
        sh("mkfs.ext4", &["-F", "-q", lo.path()]);
        targets.push(format!("iomap:backing={}", lo.path()));
        Some(lo)
    } else {
        println!("skipped: {test} on a loop device: needs root");
        None
    };
    for target in &targets {
        let path = target.split_once('=').unwrap().1;
        let o = aopsbench_run(dir.path(), target, false);
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("aopsbench: {}\n", signature_refusal(path, "an ext4 filesystem", "magic 0xEF53 at byte 1080"))
        );
        let o = aopsbench_run(dir.path(), target, true);
        assert!(o.status.success(), "{target}: {}", String::from_utf8_lossy(&o.stderr));
        // What is there now is an aopsbench image: a second run needs no force.
        let o = aopsbench_run(dir.path(), target, false);
        assert!(o.status.success(), "{target} again: {}", String::from_utf8_lossy(&o.stderr));
    }
    drop(lo);
}
