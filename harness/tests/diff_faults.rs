//! diff with injected faults: a divergence the faults explain is reported as expected; power
//! cuts are judged by the durability rules.

use std::process::Command;

fn aopsbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aopsbench")).args(args).output().expect("run aopsbench")
}

#[test]
fn a_divergence_that_injected_faults_explain_is_expected_not_a_bug() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = aopsbench(&[
        "diff",
        "--targets",
        "bh",
        "--target",
        "iomap:faults=write=40+",
        "--ops",
        "5000",
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("differ from it:       iomap"), "{stdout}");
    assert!(stdout.contains("injected into iomap: fault_failed_writes="), "{stdout}");
    assert!(stdout.contains("EXPECTED: every differing target had faults injected"), "{stdout}");
    assert!(!out.join("minimal.jsonl").exists(), "an explained divergence is not shrunk");
}

#[test]
fn a_divergence_on_a_target_without_faults_is_still_a_bug() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    // bh carries a seeded bug, iomap a fault that never fires before the bug shows.
    let o = aopsbench(&[
        "diff",
        "--target",
        "bh:bug=bh_skip_rmw",
        "--target",
        "iomap:faults=write=1000000",
        "--ops",
        "20000",
        "--seed",
        "1",
        "--shrink-time",
        "20",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("EXPECTED"), "{stdout}");
}

/// The trace of a lost fsync: an overwrite (no metadata to commit) fdatasynced, then the power
/// goes. fdatasync, not fsync: a timestamp alone does not make fdatasync commit, so its fast
/// path (the flush the bug skips) runs whether or not the coarse clock ticked between the writes
/// — with fsync the test failed when it did.
const LOST_FSYNC: &str = r#"{"op":"write","file":0,"offset":0,"len":4096,"tag":1}
{"op":"fsync","file":0}
{"op":"write","file":0,"offset":100,"len":200,"tag":2}
{"op":"fdatasync","file":0}
{"op":"power_cut","after_writes":0}
"#;

#[test]
fn what_was_fsynced_survives_a_power_cut_and_a_lost_fsync_is_a_durability_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("lost-fsync.jsonl");
    std::fs::write(&trace, LOST_FSYNC).unwrap();
    let trace = trace.to_str().unwrap();
    for target in ["bh", "iomap:block_size=1k"] {
        let o = aopsbench(&["replay", trace, "--target", target]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{target}: {stdout}{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout.contains("1 power cuts survived"), "{target}: {stdout}");
    }
    let o = aopsbench(&["replay", trace, "--target", "bh", "--target", "iomap:bug=fsync_skips_flush"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    for want in [
        "DIVERGENCE at op 5: power cut",
        "found by:  the durability check after a power cut",
        "agree with the model: bh",
        "differ from it:       iomap (durability)",
        "iomap: after the power cut file 0 holds at 0x64 synced data lost",
        "target has at 0x64: written by op 1",
    ] {
        assert!(stdout.contains(want), "no '{want}' in\n{stdout}");
    }
    assert!(!stdout.contains("EXPECTED"), "{stdout}");
}

#[test]
fn a_diff_with_power_cuts_on_correct_targets_finds_nothing() {
    // A divergence would write its files: into a temporary directory, not the source tree.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let args = ["diff", "--targets", "bh,iomap", "--ops", "4000", "--seed", "3", "--powercut-every", "100", "--out"];
    let o = aopsbench(&[&args[..], &[out.to_str().unwrap()]].concat());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("power cuts: every 100 ops on average on bh, iomap"), "{stdout}");
    let cuts: u64 = stdout
        .lines()
        .find(|l| l.starts_with("no divergence: "))
        .unwrap_or_default()
        .split("; ")
        .find_map(|p| p.strip_suffix(" power cuts survived"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no power cut count in\n{stdout}"));
    assert!(cuts >= 40, "{cuts} cuts: {stdout}");
}
