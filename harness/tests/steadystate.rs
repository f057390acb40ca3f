//! fio's steady-state detection end to end: a job whose window settles ends long before its
//! runtime with `attained` in fio.json; one that cannot settle runs its runtime and reports
//! its window as far as it got.

use std::process::Command;

use serde_json::Value;

/// Two reports that attain steady state at their first full window of 2 samples (limits no
/// window can miss) — a thread alone, and a reporting group of two — and one that never can
/// (a deviation under 0%), with a window longer than its runtime.
const JOBS: &str = "
[global]
ioengine=null
size=1m
rw=read
time_based
runtime=60s

[alone]
ss=iops_slope:1e18
ss_dur=2

[pair]
new_group
numjobs=2
group_reporting
ss=bw:1p
ss_dur=2

[never]
new_group
runtime=3s
ss=lat:0%
ss_dur=10
";

#[test]
fn a_settled_job_ends_before_its_runtime_with_attained_in_fio_json() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("ss.fio");
    std::fs::write(&job, JOBS).unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", job.to_str().unwrap(), "--target", "null", "--no-plot", "--no-report", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("steadystate on null: attained=yes"), "{stdout}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(out.join("fio.json")).unwrap()).unwrap();
    let jobs = doc["jobs"].as_array().unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j["jobname"].as_str().unwrap()).collect();
    assert_eq!(names, ["alone@null", "pair@null", "never@null"]);
    for j in &jobs[..2] {
        let ss = &j["steadystate"];
        assert_eq!(ss["attained"], 1, "{j}");
        assert_eq!(ss["duration"], 2);
        assert_eq!(ss["data"]["iops"].as_array().unwrap().len(), 2);
        assert!(ss["data"]["iops"][1].as_u64().unwrap() > 0, "{ss}");
        // Ended at the second check or so, not after the 60 s runtime.
        assert!(j["job_runtime"].as_u64().unwrap() < 30_000, "{}", j["job_runtime"]);
    }
    assert_eq!(jobs[0]["steadystate"]["ss"], "iops_slope:999999984306749440.000000");
    assert_eq!(jobs[1]["steadystate"]["ss"], "bw:1125899906842624.000000");
    assert_eq!(jobs[0]["job options"]["steadystate"], "iops_slope:1000000000000000000");
    let never = &jobs[2]["steadystate"];
    assert_eq!(never["attained"], 0);
    assert_eq!(never["ss"], "lat:0.000000%");
    // At most 3 samples in 3 s, so the window of 10 ends in zeros; latencies are shown for lat.
    let lat = never["data"]["lat_ns"].as_array().unwrap();
    assert_eq!(lat.len(), 10);
    assert!(lat[3..].iter().all(|v| v == 0), "{never}");
    assert!(jobs[2]["job_runtime"].as_u64().unwrap() >= 3000);
}
