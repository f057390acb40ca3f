//! `aopsbench run` on the kernel targets the harness mounts itself, and Ctrl-C during such a
//! run. Each test skips with one line when this machine cannot mount the target.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn available(kind: &str) -> bool {
    let (ok, why) = harness::targets::availability(kind);
    if !ok {
        println!("skipped: {kind} target unavailable: {}", why.unwrap_or_default());
    }
    ok
}

fn leftovers(pid: u32) -> Vec<String> {
    let tag = format!("-{pid}-");
    let mut found = Vec::new();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    found.extend(mounts.lines().filter(|l| l.contains("aopsbench-") && l.contains(&tag)).map(String::from));
    let loops = Command::new("losetup").arg("-a").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    found.extend(loops.unwrap_or_default().lines().filter(|l| l.contains(&tag)).map(String::from));
    for dir in ["/var/tmp", "/tmp"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("aopsbench-") && name.contains(&tag) {
                    found.push(format!("{dir}/{name}"));
                }
            }
        }
    }
    found
}

#[test]
fn run_on_tmpfs_ext4_and_xfs_mounts() {
    for kind in ["tmpfs", "ext4", "xfs"] {
        if !available(kind) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let spec = if kind == "xfs" { "xfs:size=320m".to_string() } else { format!("{kind}:size=256m") };
        let o = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
            .args(["run", "--target", &spec, "--no-plot", "--out", out.to_str().unwrap()])
            .args(["--", "--name=w", "--rw=write", "--bs=64k", "--size=16m", "--end_fsync=1"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{kind}: {}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let t = &s["jobs"][0]["targets"][0];
        assert_eq!(t["ops"]["write"]["bytes"].as_u64(), Some(16 << 20), "{kind}");
        if kind != "tmpfs" {
            // The data reached the loop device by the end_fsync.
            let written = t["stats"]["dev_write_bytes"].as_u64().unwrap();
            assert!(written >= 16 << 20, "{kind}: dev_write_bytes {written}");
        }
    }
}

#[test]
fn ctrl_c_during_an_ext4_run_leaves_no_mount_loop_device_or_image() {
    if !available("ext4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", "--target", "ext4:size=256m", "--no-plot", "--out", out.to_str().unwrap()])
        .args(["--", "--name=w", "--rw=randwrite", "--bs=4k", "--size=64m", "--time_based", "--runtime=60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the mount is up and the job is running.
    let t0 = Instant::now();
    while !leftovers(pid).iter().any(|l| l.contains(".mnt")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the ext4 target never mounted");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit status after Ctrl-C");
    assert!(leftovers(pid).is_empty(), "left behind: {:?}", leftovers(pid));
    assert!(!Path::new(&out).join("summary.json").exists(), "no summary for an interrupted run");
}
