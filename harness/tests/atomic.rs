//! `atomic=1`: writes carry RWF_ATOMIC on pvsync2, io_uring and libaio — seen here by the
//! kernel refusing it (EOPNOTSUPP) on a tmpfs, which takes O_DIRECT but not atomic writes;
//! the same job without it runs. fsimpl refuses the job with one line (skipped where tmpfs
//! cannot be mounted).

use std::process::Command;

fn run(target: &str, engine: &str, atomic: u8) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", "--target", target, "--no-plot", "--no-report", "--out"])
        .arg(dir.path().join("run"))
        .args(["--", "--name=a", "--rw=write", "--bs=4k", "--size=256k", "--direct=1", "--iodepth=4"])
        .arg(format!("--ioengine={engine}"))
        .arg(format!("--atomic={atomic}"))
        .output()
        .unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn atomic_writes_reach_the_kernel_on_every_engine_that_has_them() {
    let (ok, why) = harness::targets::availability("tmpfs");
    if !ok {
        println!("skipped: tmpfs target unavailable: {}", why.unwrap_or_default());
        return;
    }
    for engine in ["pvsync2", "io_uring", "libaio"] {
        let (ok, stderr) = run("tmpfs:size=16m", engine, 0);
        assert!(ok, "{engine}: {stderr}");
        let (ok, stderr) = run("tmpfs:size=16m", engine, 1);
        assert!(!ok, "{engine}: tmpfs took an atomic write");
        assert!(stderr.contains("write: Operation not supported (os error 95)"), "{engine}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn fsimpl_refuses_atomic_writes_in_one_line() {
    let (ok, stderr) = run("bh:backing=mem:size=16m", "io_uring", 1);
    assert!(!ok);
    assert!(stderr.contains("atomic=1: RWF_ATOMIC is a direct-I/O write"), "{stderr}");
}
