//! Ctrl-C (SIGINT) and SIGTERM during `aopsbench run`, through the binary, on every target kind
//! that makes something on the machine: the temporary image of `bh` and `iomap`, the mount
//! point of `tmpfs`, the image, loop device and mount of `ext4` and `xfs`. Each must be gone
//! once the process has exited (with 130), and no summary may claim the run finished. (A `dir`
//! target makes nothing temporary; its files stay, as fio's do.)
//!
//! The child's temporary directory (`TMPDIR`) and the images' `backing=` are this test's own,
//! so what it looks for is only what its child made. Kernel kinds skip with one line where
//! this machine cannot mount them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the child made that is still there: files under `dir`, mounts on it, loop devices on
/// its files.
fn leftovers(dir: &Path) -> Vec<String> {
    let tag = dir.to_str().unwrap();
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("aopsbench-") {
                found.push(format!("{tag}/{name}"));
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    found.extend(mounts.lines().filter(|l| l.contains(tag)).map(|l| format!("mount: {l}")));
    if let Ok(o) = Command::new("losetup").arg("-a").output() {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        found.extend(text.lines().filter(|l| l.contains(tag)).map(|l| format!("loop: {l}")));
    }
    found
}

/// Whether the target is up: its image made (bh, iomap) or its mount in place (the others).
fn ready(dir: &Path, kind: &str) -> bool {
    let tag = dir.to_str().unwrap();
    if matches!(kind, "bh" | "iomap") {
        return leftovers(dir).iter().any(|l| l.ends_with(".img"));
    }
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().any(|l| l.contains(tag))
}

fn available(kind: &str) -> bool {
    let (ok, why) = harness::targets::availability(kind);
    if !ok {
        println!("skipped: {kind} target unavailable: {}", why.unwrap_or_default());
    }
    ok
}

/// Whether the child has made the mount point of a mount target (the first thing it makes).
fn mount_point_made(dir: &Path) -> bool {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .any(|n| n.starts_with("aopsbench-") && n.ends_with(".mnt"))
}

/// Runs a 60 s job on `spec`, sends `signal` once the target is up and the job running, and
/// checks what is left.
fn interrupt(kind: &str, spec: &str, signal: i32, dir: &Path) {
    interrupt_when(spec, signal, dir, || ready(dir, kind), Duration::from_millis(500));
}

/// Runs a 60 s job on `spec`, sends `signal` `after` `up()` first holds, and checks what is
/// left.
fn interrupt_when(spec: &str, signal: i32, dir: &Path, up: impl Fn() -> bool, after: Duration) {
    let out = dir.join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .env("TMPDIR", dir)
        .args(["run", "--target", spec, "--no-plot", "--no-report", "--out", out.to_str().unwrap()])
        .args(["--", "--name=w", "--rw=randwrite", "--bs=4k", "--size=64m", "--time_based", "--runtime=60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !up() {
        if t0.elapsed() > Duration::from_secs(60) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("{spec}: the target never came up: {}", String::from_utf8_lossy(&o.stderr));
        }
        std::thread::sleep(Duration::from_millis(if after.is_zero() { 1 } else { 50 }));
    }
    std::thread::sleep(after);
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let o = child.wait_with_output().unwrap();
    let name = if signal == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
    assert_eq!(o.status.code(), Some(130), "{spec} {name}: {}", String::from_utf8_lossy(&o.stderr));
    assert!(leftovers(dir).is_empty(), "{spec} {name}: left behind: {:?}", leftovers(dir));
    assert!(!out.join("summary.json").exists(), "{spec} {name}: no summary for an interrupted run");
}

#[test]
fn ctrl_c_and_sigterm_leave_nothing_behind_on_any_target_kind() {
    for kind in ["bh", "iomap", "tmpfs", "ext4", "xfs"] {
        if !matches!(kind, "bh" | "iomap") && !available(kind) {
            continue;
        }
        for signal in [libc::SIGINT, libc::SIGTERM] {
            let dir = tempfile::tempdir().unwrap();
            let backing = dir.path().to_str().unwrap();
            let spec = match kind {
                "tmpfs" => "tmpfs:size=256m".to_string(),
                "ext4" => format!("ext4:size=256m:backing={backing}"),
                "xfs" => format!("xfs:size=320m:backing={backing}"),
                _ => kind.to_string(),
            };
            interrupt(kind, &spec, signal, dir.path());
        }
    }
}

/// A signal while a mount target is still being set up: the cleanup waits for the set-up, and
/// the run must then make no file in the mount point it unmounts (which would leave the mount
/// point behind, not empty). Several tries, as the signal falls at a different point each time.
#[test]
fn a_signal_while_a_mount_is_set_up_leaves_nothing_behind() {
    for kind in ["tmpfs", "ext4"] {
        if !available(kind) {
            continue;
        }
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let spec = match kind {
                "tmpfs" => "tmpfs:size=256m".to_string(),
                _ => format!("ext4:size=256m:backing={}", dir.path().display()),
            };
            interrupt_when(&spec, libc::SIGTERM, dir.path(), || mount_point_made(dir.path()), Duration::ZERO);
        }
    }
}
