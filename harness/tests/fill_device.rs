//! fio's `fill_device`: a sequential write job with no size writes until the filesystem is
//! full, and ENOSPC ends it cleanly (exit 0); with `size=` it writes that much, as fio's
//! `fixup_options` leaves it; a failed preallocation is no error, as in fio. Run on a 64 MiB
//! tmpfs the harness mounts (skipped with one line where tmpfs cannot be mounted).

use std::process::Command;

/// Runs `aopsbench run` on a fresh `tmpfs:size=64m` with `args` as the job; the exit status,
/// stderr and the bytes written per summary.json.
fn run_on_small_tmpfs(args: &[&str]) -> Option<(bool, String, u64)> {
    let (ok, why) = harness::targets::availability("tmpfs");
    if !ok {
        println!("skipped: tmpfs target unavailable: {}", why.unwrap_or_default());
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", "--target", "tmpfs:size=64m", "--no-plot", "--no-report", "--out", out.to_str().unwrap()])
        .arg("--")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let bytes = std::fs::read_to_string(out.join("summary.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|s| s["jobs"][0]["targets"][0]["ops"]["write"]["bytes"].as_u64())
        .unwrap_or(0);
    Some((o.status.success(), stderr, bytes))
}

#[test]
fn fill_device_writes_until_enospc_and_ends_cleanly() {
    let Some((ok, stderr, bytes)) =
        run_on_small_tmpfs(&["--name=fill", "--rw=write", "--bs=64k", "--fill_device=1", "--end_fsync=1"])
    else {
        return;
    };
    assert!(ok, "fill_device run failed: {stderr}");
    // tmpfs counts data pages only: 64 MiB of data is what fits.
    assert_eq!(bytes, 64 << 20, "bytes written; stderr: {stderr}");
}

#[test]
fn fill_device_with_a_size_writes_that_size() {
    let Some((ok, stderr, bytes)) =
        run_on_small_tmpfs(&["--name=fill", "--rw=write", "--bs=64k", "--size=16m", "--fill_device=1"])
    else {
        return;
    };
    assert!(ok, "{stderr}");
    assert_eq!(bytes, 16 << 20);
}

#[test]
fn enospc_without_fill_device_is_an_error() {
    let Some((ok, stderr, _)) = run_on_small_tmpfs(&["--name=big", "--rw=write", "--bs=64k", "--size=128m"]) else {
        return;
    };
    assert!(!ok, "a write past the end of the filesystem passed");
    assert!(stderr.contains("No space left on device"), "{stderr}");
}

#[test]
fn a_failed_native_preallocation_is_not_an_error_as_in_fio() {
    // 128 MiB on a 64 MiB tmpfs: fallocate fails with ENOSPC; fio's native_fallocate goes on
    // without it, and the job writes its 32 MiB.
    let job = ["--name=big", "--rw=write", "--bs=64k", "--size=128m", "--io_size=32m"];
    let Some((ok, stderr, bytes)) = run_on_small_tmpfs(&job) else {
        return;
    };
    assert!(ok, "{stderr}");
    assert_eq!(bytes, 32 << 20);
    // fallocate=keep's failure is an error in fio (td_verror), and here.
    let keep = [&job[..], &["--fallocate=keep"]].concat();
    let Some((ok, stderr, _)) = run_on_small_tmpfs(&keep) else {
        return;
    };
    assert!(!ok && stderr.contains("layout") && stderr.contains("fallocate"), "{stderr}");
}
