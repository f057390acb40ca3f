//! diff with injected faults: a divergence the faults explain is reported as expected.

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
