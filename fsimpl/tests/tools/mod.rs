//! Helpers for tests that use the real ext4 tools: `mkfs.ext4`, `e2fsck`, `debugfs`, and the
//! kernel through loop mounts. Each check says in one line why it skips.
#![allow(dead_code)]

use fsimpl::dev::{Backing, BlockDev, DevConfig, Engine};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Whether `tool` is on the PATH (or in /sbin, /usr/sbin).
pub fn have(tool: &str) -> bool {
    let dirs = std::env::var("PATH").unwrap_or_default();
    dirs.split(':').chain(["/sbin", "/usr/sbin"]).any(|d| Path::new(d).join(tool).is_file())
}

/// `Some(reason)` when the e2fsprogs tools are missing.
pub fn need_e2fsprogs() -> Option<String> {
    for t in ["mkfs.ext4", "e2fsck"] {
        if !have(t) {
            return Some(format!("{t} is not installed (apt-get install e2fsprogs)"));
        }
    }
    None
}

/// `Some(reason)` when loop mounts cannot be made here.
pub fn need_loop_mount() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("loop mounts need root".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control (loop devices unavailable)".into());
    }
    if !have("mount") || !have("umount") {
        return Some("mount/umount are not installed".into());
    }
    None
}

/// Prints the one line a skipped test leaves and returns true when `why` is set.
pub fn skip(test: &str, why: Option<String>) -> bool {
    match why {
        Some(w) => {
            println!("skipped {test}: {w}");
            true
        }
        None => false,
    }
}

/// Runs a command; panics with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed ({}): {text}", out.status);
    text
}

/// `mkfs.ext4 -q -F -b BS [extra...] IMAGE` on a sparse image of `size` bytes.
pub fn mkfs_ext4(image: &Path, size: u64, bs: u32, extra: &[&str]) {
    let f = std::fs::File::create(image).unwrap();
    f.set_len(size).unwrap();
    drop(f);
    let mut c = Command::new("mkfs.ext4");
    c.args(["-q", "-F", "-b", &bs.to_string()]).args(extra).arg(image);
    run(&mut c);
}

/// `e2fsck -fn IMAGE`: `(clean, output)`.
pub fn e2fsck(image: &Path) -> (bool, String) {
    let out = Command::new("e2fsck").args(["-fn"]).arg(image).output().expect("run e2fsck");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code() == Some(0), text)
}

/// Asserts `e2fsck -fn` finds nothing wrong.
pub fn assert_clean(image: &Path, case: &str) {
    let (clean, text) = e2fsck(image);
    assert!(clean, "{case}: e2fsck -fn is not clean:\n{text}");
}

/// A device over an image file (psync; io_uring is not what these tests are about).
pub fn file_dev(image: &Path) -> Arc<dyn BlockDev> {
    let size = std::fs::metadata(image).map(|m| m.len()).unwrap_or(64 << 20);
    let cfg = DevConfig {
        engine: Engine::Psync,
        backing: Backing::File { path: image.to_path_buf(), size },
        direct: false,
        min_io_align: 1024,
    };
    fsimpl::dev::open(&cfg).expect("open image").dev
}

/// A loop mount of an image, unmounted (and its loop device released) when dropped.
pub struct LoopMount {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl LoopMount {
    /// `mount -o loop[,opts] IMAGE DIR`.
    pub fn new(image: &Path, opts: &str) -> LoopMount {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let o = if opts.is_empty() { "loop".to_string() } else { format!("loop,{opts}") };
        run(Command::new("mount").args(["-t", "ext4", "-o", &o]).arg(image).arg(&dir));
        LoopMount { dir, _tmp: tmp }
    }
}

impl Drop for LoopMount {
    /// Unmounts, retrying while busy (another process, udev or blkid, may hold the device for
    /// a moment), then lazily; if it is still mounted, says so and keeps the directory rather
    /// than let `TempDir` delete the files of a mounted filesystem.
    fn drop(&mut self) {
        let umount = |args: &[&str]| Command::new("umount").args(args).arg(&self.dir).output();
        for _ in 0..50 {
            let Ok(o) = umount(&[]) else { break };
            let err = String::from_utf8_lossy(&o.stderr);
            if o.status.success() || err.contains("not mounted") {
                return;
            }
            if !err.contains("busy") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if umount(&["-l"]).is_ok_and(|o| o.status.success()) {
            return;
        }
        eprintln!("LoopMount: could not unmount {}: left mounted, directory kept", self.dir.display());
        let tmp = std::mem::replace(&mut self._tmp, tempfile::tempdir().expect("a temporary directory"));
        let _ = tmp.keep();
    }
}

/// Deterministic bytes for file `seed`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
