//! `aopsbench run` on the kernel targets the harness mounts itself (Ctrl-C and SIGTERM during
//! such a run: `cli_signals.rs`). Each test skips with one line when this machine cannot mount
//! the target.

use std::process::Command;

fn available(kind: &str) -> bool {
    let (ok, why) = harness::targets::availability(kind);
    if !ok {
        println!("skipped: {kind} target unavailable: {}", why.unwrap_or_default());
    }
    ok
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
