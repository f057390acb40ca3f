//! The run directory as a whole: summary.json schema and values, latency.csv, throughput.csv,
//! atomic writes, loading back, the terminal table.

mod common;

use std::collections::BTreeSet;

use results::run_dir::{LatencyRow, ThroughputRow};
use results::{ResultsError, RunDir, RunWriter, TargetResult};
use serde_json::Value;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn summary_json_has_exactly_the_issue_schema() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let v: Value = serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(keys(&v), set(&["aopsbench_version", "jobs"]));
    assert_eq!(v["aopsbench_version"], "0.1.0");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    for job in jobs {
        assert_eq!(keys(job), set(&["job", "targets"]));
        for t in job["targets"].as_array().unwrap() {
            assert_eq!(keys(t), set(&["target", "spec", "runtime_ns", "ops", "stats"]));
            assert!(t["runtime_ns"].is_u64());
            for (_, op) in t["ops"].as_object().unwrap() {
                assert_eq!(keys(op), set(&["count", "bytes", "iops", "bw_bytes", "lat_ns"]));
                assert!(op["count"].is_u64() && op["bytes"].is_u64() && op["bw_bytes"].is_u64());
                assert!(op["iops"].is_f64());
                assert_eq!(keys(&op["lat_ns"]), set(&["min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"]));
            }
            for (_, stat) in t["stats"].as_object().unwrap() {
                assert!(stat.is_u64(), "stats are integers");
            }
        }
    }
    let names: Vec<&str> = jobs.iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(names, ["exact", "randrw"]);
    let targets: Vec<&str> =
        jobs[1]["targets"].as_array().unwrap().iter().map(|t| t["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["bh", "iomap"]);
}

#[test]
fn summary_values_are_exact_for_known_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let summary = common::write_run(dir.path());
    let t = &summary.job("exact").unwrap().targets[0];
    let read = &t.ops["read"];
    assert_eq!(read.count, 1000);
    assert_eq!(read.bytes, 4_096_000);
    assert_eq!(read.iops, 1000.0);
    assert_eq!(read.bw_bytes, 4_096_000);
    let l = &read.lat_ns;
    assert_eq!((l.min, l.p50, l.p90, l.p99, l.p99_9, l.p99_99, l.max), (1, 500, 900, 990, 999, 1000, 1000));
    assert_eq!(l.mean, 500.5);
    let fsync = &t.ops["fsync"];
    assert_eq!((fsync.count, fsync.bytes, fsync.bw_bytes), (10, 0, 0));
    // 5000 ns lies in a bucket of width 4: HdrHistogram reports its highest equivalent value.
    assert_eq!(fsync.lat_ns.p50, 5003);
    // summary.json on disk says the same as the returned summary.
    let loaded = RunDir::load(dir.path()).unwrap();
    assert_eq!(loaded.summary, summary);
    assert_eq!(loaded.run["command"][0], "aopsbench");
}

#[test]
fn latency_csv_and_throughput_csv() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let text = std::fs::read_to_string(dir.path().join("latency.csv")).unwrap();
    assert_eq!(text.lines().next(), Some("job,target,op,percentile,ns"));
    let rows: Vec<LatencyRow> =
        csv::Reader::from_reader(text.as_bytes()).deserialize().collect::<Result<_, _>>().unwrap();
    let exact: Vec<(f64, u64)> =
        rows.iter().filter(|r| r.job == "exact" && r.op == "read").map(|r| (r.percentile, r.ns)).collect();
    assert_eq!(exact.len(), results::run_dir::CSV_PERCENTILES.len());
    assert!(exact.contains(&(50.0, 500)));
    assert!(exact.contains(&(99.9, 999)));
    assert!(exact.contains(&(100.0, 1000)));

    let text = std::fs::read_to_string(dir.path().join("throughput.csv")).unwrap();
    assert_eq!(text.lines().next(), Some("job,target,op,second,duration_ns,ops,bytes"));
    let rows: Vec<ThroughputRow> =
        csv::Reader::from_reader(text.as_bytes()).deserialize().collect::<Result<_, _>>().unwrap();
    let bh_read: Vec<&ThroughputRow> =
        rows.iter().filter(|r| r.job == "randrw" && r.target == "bh" && r.op == "read").collect();
    assert_eq!(bh_read.iter().map(|r| r.second).collect::<Vec<_>>(), [0, 1, 2]);
    // 2 threads × 2000 ops/s, 70% reads.
    assert!(bh_read.iter().all(|r| r.ops == 2800 && r.bytes == 2800 * 4096));
    let summary = RunDir::load(dir.path()).unwrap().summary;
    let total: u64 = bh_read.iter().map(|r| r.ops).sum();
    assert_eq!(total, summary.job("randrw").unwrap().target("bh").unwrap().ops["read"].count);
}

#[test]
fn unfinished_run_leaves_no_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run");
    let mut run = RunWriter::create(&path, "0.1.0", &serde_json::json!({})).unwrap();
    run.add(TargetResult {
        job: "j".into(),
        target: "t".into(),
        spec: "t".into(),
        started: common::start(),
        runtime_ns: 1_000_000_000,
        ops: common::exact_ops(),
        counters: common::counters(&[]),
        stats: Default::default(),
    })
    .unwrap();
    drop(run); // the harness failed before finish()
    assert!(path.join("run.json").exists());
    assert!(path.join("hdr/j@t.read.hlog").exists());
    assert!(!path.join("summary.json").exists());
    let err = RunDir::load(&path).unwrap_err();
    assert!(matches!(err, ResultsError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("did not finish"), "{err}");
}

#[test]
fn failure_while_finishing_leaves_no_summary_and_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run");
    let mut run = RunWriter::create(&path, "0.1.0", &serde_json::json!({})).unwrap();
    run.add(TargetResult {
        job: "j".into(),
        target: "t".into(),
        spec: "t".into(),
        started: common::start(),
        runtime_ns: 1_000_000_000,
        ops: common::exact_ops(),
        counters: common::counters(&[]),
        stats: Default::default(),
    })
    .unwrap();
    // Something occupies fio.json's name, so renaming the finished file over it fails.
    std::fs::create_dir(path.join("fio.json")).unwrap();
    std::fs::write(path.join("fio.json/keep"), b"x").unwrap();
    let err = run.finish().unwrap_err();
    assert!(err.to_string().contains("fio.json"), "{err}");
    assert!(!path.join("summary.json").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn refuses_a_non_empty_directory_and_duplicate_targets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old"), b"x").unwrap();
    let err = RunWriter::create(dir.path(), "0.1.0", &serde_json::json!({})).unwrap_err();
    assert!(matches!(err, ResultsError::OutputExists { .. }), "{err}");

    let path = dir.path().join("new");
    let mut run = RunWriter::create(&path, "0.1.0", &serde_json::json!({})).unwrap();
    let result = TargetResult {
        job: "j".into(),
        target: "t".into(),
        spec: "t".into(),
        started: common::start(),
        runtime_ns: 1,
        ops: Default::default(),
        counters: Default::default(),
        stats: Default::default(),
    };
    run.add(result.clone()).unwrap();
    let err = run.add(result.clone()).unwrap_err();
    assert!(matches!(err, ResultsError::DuplicateTarget { .. }), "{err}");
    let err = run.add(TargetResult { target: String::new(), ..result }).unwrap_err();
    assert!(matches!(err, ResultsError::BadName { what: "target", .. }), "{err}");
}

#[test]
fn loaded_histograms_match_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = common::write_run(dir.path());
    let run = RunDir::load(dir.path()).unwrap();
    for job in &summary.jobs {
        for t in &job.targets {
            for (op, s) in &t.ops {
                let h = run.histogram(&job.job, &t.target, op).unwrap();
                assert_eq!(h.len(), s.count, "{} {} {op}", job.job, t.target);
                assert_eq!(h.value_at_quantile(0.5), s.lat_ns.p50);
                assert_eq!(h.value_at_quantile(0.999), s.lat_ns.p99_9);
                assert_eq!(h.max(), s.lat_ns.max);
            }
        }
    }
}

#[test]
fn job_table_is_compact_and_fio_like() {
    let dir = tempfile::tempdir().unwrap();
    let summary = common::write_run(dir.path());
    let table = results::job_table(summary.job("exact").unwrap());
    let expected = "\
job exact
  target  op      IOPS  MiB/s     p50     p99   p99.9     max
  t       read   1.00k   3.91   500ns   990ns   999ns  1.00µs
  t       fsync     10      -  5.00µs  5.00µs  5.00µs  5.00µs

  counter     t
  dev_reads   0
  dev_writes  0
";
    assert_eq!(table, expected);
    let randrw = results::job_table(summary.job("randrw").unwrap());
    let row = |start: &[&str]| -> Vec<String> {
        randrw
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|cells| cells.len() >= start.len() && cells[..start.len()] == *start)
            .unwrap_or_default()
    };
    assert_eq!(row(&["map_blocks"]), ["map_blocks", "42000", "90"], "{randrw}");
    // 2 threads × 43 fsyncs in 3 s.
    assert_eq!(row(&["iomap", "fsync"])[..4], ["iomap", "fsync", "28.7", "-"], "{randrw}");
    let first_ops: Vec<String> =
        randrw.lines().skip(2).take(3).map(|l| l.split_whitespace().nth(1).unwrap().to_string()).collect();
    assert_eq!(first_ops, ["read", "write", "fsync"]);
}
