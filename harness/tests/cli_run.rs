//! End-to-end tests of `aopsbench run` through the binary.

use std::path::Path;
use std::process::{Command, Output};

fn aopsbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aopsbench")).args(args).output().expect("run aopsbench")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary.json")).expect("json")
}

const SMALL_JOB: &str = "
[global]
rw=randwrite
bs=4k
size=8m
randseed=7
aops_cache=64m
group_reporting

[rw4k]

[seq64k]
stonewall
rw=write
bs=64k
numjobs=2
";

#[test]
fn run_on_bh_and_iomap_with_mem_and_file_backing_counts_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("small.fio");
    std::fs::write(&job, SMALL_JOB).unwrap();
    let out = dir.path().join("run");
    let o = aopsbench(&[
        "run",
        job.to_str().unwrap(),
        "--target",
        "bh:backing=mem",
        "--target",
        "iomap:backing=mem",
        "--target",
        "bh",
        "--target",
        "iomap:block_size=1024",
        "--out",
        out.to_str().unwrap(),
        "--no-plot",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    assert!(s["aopsbench_version"].is_string());
    let jobs = s["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    for (job, want_bytes) in jobs.iter().zip([8u64 << 20, 2 * (8 << 20)]) {
        let targets = job["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 4);
        for t in targets {
            for key in ["target", "spec", "runtime_ns", "ops", "stats"] {
                assert!(t.get(key).is_some(), "missing {key} in {t}");
            }
            let w = &t["ops"]["write"];
            assert_eq!(w["bytes"].as_u64(), Some(want_bytes), "{}: bytes asked for", t["target"]);
            assert_eq!(w["count"].as_u64().unwrap() * if job["job"] == "rw4k" { 4096 } else { 65536 }, want_bytes);
            for key in ["count", "bytes", "iops", "bw_bytes"] {
                assert!(w[key].is_number(), "{key}");
            }
            for key in ["min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"] {
                assert!(w["lat_ns"][key].is_number(), "lat_ns.{key}");
            }
            let stats = t["stats"].as_object().unwrap();
            for key in [
                "map_blocks",
                "get_block",
                "iomap_begin",
                "dev_reads",
                "dev_writes",
                "dev_read_bytes",
                "dev_write_bytes",
                "rmw_reads",
                "zeroed_bytes",
                "folio_private_bytes_peak",
                "cache_bytes_peak",
                "writeback_ios",
            ] {
                assert!(stats[key].is_u64(), "stats.{key} in {}", t["target"]);
            }
        }
    }
    // Deterministic counters: the same job gives the same counters on bh (mem) each time.
    let first = &jobs[0]["targets"][0];
    assert_eq!(first["target"], "bh:backing=mem");
    assert_eq!(first["stats"]["get_block"].as_u64(), Some((8 << 20) / 4096));
    for f in ["run.json", "latency.csv", "fio.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
}

#[test]
fn a_bad_target_spec_exits_2_with_one_line() {
    let o = aopsbench(&["run", "--target", "bh:blocksize=4k", "--out", "/nonexistent/never-created"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("unknown parameter 'blocksize'") && e.contains("block_size"), "{e}");
    assert!(!Path::new("/nonexistent/never-created").exists());
}

#[test]
fn a_bad_job_file_exits_2_with_one_line_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("bad.fio");
    std::fs::write(&job, "[j]\nrw=write\nbs=4k\nsize=1m\nfrobnicate=1\n").unwrap();
    let out = dir.path().join("run");
    let o = aopsbench(&["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("bad.fio:5") && e.contains("frobnicate"), "{e}");
    assert!(!out.join("summary.json").exists());
}

#[test]
fn a_missing_job_file_names_the_built_in_jobs() {
    let o = aopsbench(&["run", "no-such-job.fio"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("no job file 'no-such-job.fio'") && e.contains("quick"), "{e}");
}

#[test]
fn fio_options_on_the_command_line_make_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = aopsbench(&[
        "run",
        "--targets",
        "null",
        "--out",
        out.to_str().unwrap(),
        "--no-plot",
        "--",
        "--name=r",
        "--rw=randread",
        "--bs=4k",
        "--size=4m",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["jobs"][0]["job"], "r");
    assert_eq!(s["jobs"][0]["targets"][0]["ops"]["read"]["bytes"].as_u64(), Some(4 << 20));
}

#[test]
fn exit_what_all_runs_no_later_group_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("exit.fio");
    let text = "[global]\nioengine=null\nsize=1m\nrw=read\n[short]\nnumber_ios=1\nexitall\nexit_what=WHAT\n\
                [next]\nstonewall\nnumber_ios=3\n";
    for (what, next_ios) in [("all", 0), ("stonewall", 3)] {
        std::fs::write(&job, text.replace("WHAT", what)).unwrap();
        let out = dir.path().join(what);
        let o =
            aopsbench(&["run", job.to_str().unwrap(), "--target", "null", "--no-plot", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let fio: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("fio.json")).unwrap()).unwrap();
        let ios: Vec<u64> =
            fio["jobs"].as_array().unwrap().iter().map(|j| j["read"]["total_ios"].as_u64().unwrap()).collect();
        assert_eq!(ios, [1, next_ios], "exit_what={what}");
        let said = stderr(&o).contains("job next did not run: a job before it ended with exitall and exit_what=all");
        assert_eq!(said, what == "all", "{}", stderr(&o));
    }
}
