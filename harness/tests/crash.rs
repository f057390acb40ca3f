//! The logged device and `aopsbench crash` on real kernel filesystems: a workload round-trips
//! through the write log byte for byte, ext4 without barriers loses an fsync and is caught,
//! ext4 and xfs with defaults stay clean over a short campaign, a fault on a kernel target is
//! reported, and Ctrl-C leaves nothing behind. Each test skips with one line when this machine
//! lacks root, FUSE, loop devices or the mkfs it needs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::crash::check::{Checker, Seen};
use harness::crash::points::{CrashPoint, How};
use harness::crash::state::StateBuilder;
use harness::crash::{self, Kind, Plan, record};
use harness::targets::fusedev::{self, Record};
use harness::targets::{MountConfig, TargetSpec};
use workloads::{FsxConfig, Op, pattern};

/// Whether `kind` on a logged device can run here; prints the skip line when not.
fn logged_or_skip(kind: &str) -> bool {
    let why = match harness::targets::availability(kind) {
        (false, why) => why.unwrap_or_default(),
        _ => match fusedev::available() {
            Ok(()) => return true,
            Err(why) => why,
        },
    };
    println!("skipped: {kind} on a logged device unavailable: {why}");
    false
}

/// The filesystem of an ext4 or xfs spec.
fn config(spec: &str) -> MountConfig {
    match spec.parse::<TargetSpec>() {
        Ok(TargetSpec::Mount(m)) => MountConfig::from_spec(&m),
        other => panic!("{spec}: {other:?}"),
    }
}

fn fsx(seed: u64, ops: u64) -> Vec<Op> {
    FsxConfig { seed, ops: Some(ops), ..FsxConfig::default() }.stream().unwrap().collect()
}

fn plan(seed: u64) -> Plan {
    Plan { random: 2, seed, max_points: None, deadline: None }
}

/// Mounts, processes and files of process `pid` left behind: aopsbench mounts (FUSE ones
/// too), loop devices on its files, its files in /tmp and /var/tmp.
fn leftovers(pid: u32) -> Vec<String> {
    let tag = format!("-{pid}-");
    let mut found = Vec::new();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    found.extend(mounts.lines().filter(|l| l.contains("aopsbench-") && l.contains(&tag)).map(String::from));
    let loops = Command::new("losetup").arg("-a").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    found.extend(loops.unwrap_or_default().lines().filter(|l| l.contains(&tag)).map(String::from));
    for dir in ["/var/tmp", "/tmp"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("aopsbench-") && name.contains(&tag) {
                found.push(format!("{dir}/{name}"));
            }
        }
    }
    found
}

#[test]
fn a_workload_round_trips_through_the_write_log_byte_for_byte() {
    if !logged_or_skip("ext4") {
        return;
    }
    let cfg = config("ext4:size=256m:mkfs_opts=-b 4096");
    let ops = vec![
        Op::Write { file: 0, offset: 0, len: 300_000, tag: 1 },
        Op::Write { file: 1, offset: 4096 * 7 + 5, len: 70_000, tag: 2 },
        Op::Fsync { file: 0 },
        Op::Truncate { file: 0, size: 100_000 },
        Op::Write { file: 0, offset: 200_000, len: 1000, tag: 3 },
        Op::Remount,
    ];
    let rec = record::record(&cfg, &ops, 2).unwrap();
    let (writes, flushes, bytes) = rec.counts();
    assert!(writes > 0 && flushes > 0 && bytes >= 370_000, "{writes} writes, {flushes} flushes, {bytes} bytes");
    // Every record of the workload is tagged with an op of the stream.
    for r in &rec.log[rec.armed_at..] {
        let op = match *r {
            Record::Write { op, .. } | Record::Flush { op } | Record::OpDone { op } => op,
        };
        assert!(op as usize <= ops.len(), "{r:?}");
    }
    // The whole log replayed onto a zeroed device mounts with exactly the files written.
    let end = rec.log.len();
    let point = CrashPoint { at: end, durable: end, kept: Vec::new(), unflushed: 0, how: How::Flush };
    let map = StateBuilder::new(&rec.log).state(&point);
    let mut checker = Checker::new(cfg.kind, None, rec.state.clone()).unwrap();
    let seen = checker.check(map, 2, Duration::ZERO).unwrap();
    checker.teardown().unwrap();
    let Seen::Mounted { files, fsck } = seen else { panic!("the final state does not mount: {seen:?}") };
    assert_eq!(fsck, None);
    let mut want0 = vec![0u8; 201_000];
    pattern::fill(1, 0, &mut want0[..100_000]);
    pattern::fill(3, 200_000, &mut want0[200_000..]);
    let mut want1 = vec![0u8; 4096 * 7 + 5 + 70_000];
    pattern::fill(2, 4096 * 7 + 5, &mut want1[4096 * 7 + 5..]);
    assert!(files[0].as_ref().unwrap().as_deref() == Some(&want0[..]), "file 0 differs");
    assert!(files[1].as_ref().unwrap().as_deref() == Some(&want1[..]), "file 1 differs");
    assert!(leftovers(std::process::id()).is_empty(), "{:?}", leftovers(std::process::id()));
}

#[test]
fn ext4_without_barriers_is_caught_losing_an_fsync() {
    if !logged_or_skip("ext4") {
        return;
    }
    let cfg = config("ext4:size=256m:opts=barrier=0");
    let ops = fsx(1, 100);
    let c = crash::campaign(&cfg, &ops, 1, &plan(1), &mut |_, _| {}).unwrap();
    assert_eq!(c.flushes, 0, "barrier=0 sends no flush");
    let v = c.violation.expect("a lost fsync");
    assert!(matches!(v.kind, Kind::Size | Kind::Data), "{v:?}");
    assert!(v.synced_by > 0 && v.completed as u64 > v.synced_by, "{v:?}");
    let text = crash::report::render(&v, &ops, &c.spec, 4096);
    assert!(text.contains("CRASH VIOLATION") && text.contains("last synced by op"), "{text}");
}

#[test]
fn ext4_with_defaults_is_clean_over_a_short_campaign() {
    if !logged_or_skip("ext4") {
        return;
    }
    let cfg = config("ext4:size=512m");
    let ops = fsx(2, 150);
    let c = crash::campaign(&cfg, &ops, 1, &plan(2), &mut |_, _| {}).unwrap();
    assert!(c.violation.is_none(), "{}", crash::report::render(c.violation.as_ref().unwrap(), &ops, &c.spec, 4096));
    assert!(c.flushes > 10 && c.checked[0] > 10 && c.checked[2] > 10, "{:?}", c.checked);
    assert_eq!(c.total_checked(), c.points);
}

#[test]
fn xfs_with_defaults_is_clean_over_a_short_campaign() {
    if !logged_or_skip("xfs") {
        return;
    }
    let cfg = config("xfs:size=320m");
    let ops = fsx(3, 100);
    let c = crash::campaign(&cfg, &ops, 1, &Plan { max_points: Some(60), ..plan(3) }, &mut |_, _| {}).unwrap();
    assert!(c.violation.is_none(), "{}", crash::report::render(c.violation.as_ref().unwrap(), &ops, &c.spec, 4096));
    assert_eq!(c.total_checked(), c.points);
}

#[test]
fn a_fault_on_a_kernel_target_is_reported_and_the_run_ends() {
    if !logged_or_skip("ext4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", "--target", "ext4:size=256m:faults=write=3+", "--no-plot", "--out", out.to_str().unwrap()])
        .args(["--", "--name=w", "--rw=write", "--bs=64k", "--size=4m", "--fsync=16"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("injected: write #3 "), "{stderr}");
    assert!(stderr.contains("kernel: ") && stderr.contains("loop"), "{stderr}");
    assert!(stderr.contains("fault(s) injected; the kernel logged"), "{stderr}");
    // Every write from the third on fails: the journal aborts, and the run stops with one
    // error line (exit 2) after the summary.
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("aopsbench: job w on ext4:"), "{stderr}");
    assert!(leftovers(pid).is_empty(), "{:?}", leftovers(pid));
}

#[test]
fn ctrl_c_during_a_crash_campaign_leaves_no_mount_fuse_mount_loop_device_or_file() {
    if !logged_or_skip("ext4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["crash", "--target", "ext4:size=256m", "--ops", "3000", "--shrink-time", "0"])
        .args(["--out", dir.path().join("c").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until crash states are being mounted: the FUSE server and a crash mount point.
    let t0 = Instant::now();
    while !leftovers(pid).iter().any(|l| l.contains(".crash")) {
        assert!(t0.elapsed() < Duration::from_secs(120), "no crash state mounted: {:?}", leftovers(pid));
        assert!(child.try_wait().unwrap().is_none(), "aopsbench crash ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(leftovers(pid).is_empty(), "left behind: {:?}", leftovers(pid));
}

#[test]
fn ctrl_c_during_a_run_on_a_logged_device_leaves_nothing() {
    if !logged_or_skip("ext4") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", "--target", "ext4:size=256m:dev=logged", "--no-plot", "--out"])
        .arg(dir.path().join("run"))
        .args([
            "--",
            "--name=w",
            "--rw=randwrite",
            "--bs=4k",
            "--size=16m",
            "--fsync=1",
            "--time_based",
            "--runtime=60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let t0 = Instant::now();
    while !leftovers(pid).iter().any(|l| l.contains(".mnt") && l.contains("ext4")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "never mounted: {:?}", leftovers(pid));
        assert!(child.try_wait().unwrap().is_none(), "aopsbench run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(leftovers(pid).is_empty(), "left behind: {:?}", leftovers(pid));
}

#[test]
fn crash_refuses_what_it_cannot_check_in_one_line() {
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_aopsbench")).arg("crash").args(args).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).trim().to_string())
    };
    let (code, err) = run(&["--target", "bh"]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("aopsbench: crash: target bh: crash campaigns run on ext4 or xfs"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, err) = run(&["--target", "ext4:faults=write=3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("faults= and crash campaigns do not mix"), "{err}");
    let (code, err) = run(&["--file-len", "64m"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("files grow past 16m"), "{err}");
}
