//! The CI gate (exact counters, in-run timing ratios with a tolerance) and compare.

mod common;

use std::path::Path;

use results::gate::{Baseline, FindingKind, Severity};
use results::{ResultsError, RunDir, RunWriter, TargetResult};
use serde_json::Value;

fn baseline_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn save(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn iomap_target(v: &mut Value) -> &mut Value {
    let job = v["jobs"].as_array_mut().unwrap().iter_mut().find(|j| j["job"] == "randrw").unwrap();
    job["targets"].as_array_mut().unwrap().iter_mut().find(|t| t["target"] == "iomap").unwrap()
}

#[test]
fn baseline_records_counters_and_ratios_to_the_first_target() {
    let dir = tempfile::tempdir().unwrap();
    let summary = common::write_run(dir.path());
    let file = dir.path().join("baseline.json");
    let written = results::write_baseline(dir.path(), &file).unwrap();
    assert_eq!(Baseline::load(&file).unwrap(), written);
    let v = baseline_json(&file);
    assert_eq!(v["aopsbench_baseline"], 1);
    assert_eq!(v["reference_rule"], "first target of the job");
    let job = &v["jobs"][1];
    assert_eq!(job["job"], "randrw");
    assert_eq!(job["reference"], "bh");
    assert_eq!(job["targets"][0]["ratios"], serde_json::json!({}));
    assert_eq!(job["targets"][0]["counters"]["map_blocks"], 42_000);
    let iomap = &job["targets"][1];
    assert_eq!(iomap["counters"]["iomap_begin"], 88);
    let randrw = summary.job("randrw").unwrap();
    let (bh, io) = (&randrw.targets[0].ops["read"], &randrw.targets[1].ops["read"]);
    assert_eq!(iomap["ratios"]["read"]["iops"].as_f64(), Some(io.iops / bh.iops));
    assert_eq!(iomap["ratios"]["read"]["p50"].as_f64(), Some(io.lat_ns.p50 as f64 / bh.lat_ns.p50 as f64));
    assert_eq!(
        iomap["ratios"]["write"]["p50"].as_f64(),
        Some(randrw.targets[1].ops["write"].lat_ns.p50 as f64 / randrw.targets[0].ops["write"].lat_ns.p50 as f64)
    );
    assert!(iomap["ratios"]["write"].get("p99").is_none(), "tails are not gated");
}

#[test]
fn the_runs_own_baseline_passes() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let file = dir.path().join("baseline.json");
    results::write_baseline(dir.path(), &file).unwrap();
    let report = results::check(&file, dir.path(), results::DEFAULT_TOLERANCE).unwrap();
    assert!(!report.is_regression(), "{report}");
    assert!(report.findings.is_empty(), "{report}");
    // exact: 2 counters; randrw: 12 counters × 2 targets; iomap: 2 ops × 2 metrics (its fsync,
    // with fewer than MIN_RATIO_SAMPLES ops, is not gated).
    assert_eq!((report.counters_checked, report.ratios_checked), (26, 4));
    assert!(report.describe().starts_with("gate: ok — 26 counters compared exactly, 4 timing ratios within ±10%"));
    let baseline = baseline_json(&file);
    let iomap = &baseline["jobs"][1]["targets"][1];
    assert!(iomap["ratios"].get("fsync").is_none(), "few samples: not gated: {iomap}");
    assert!(iomap["ratios"].get("read").is_some());
}

#[test]
fn a_changed_counter_fails() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let file = dir.path().join("baseline.json");
    results::write_baseline(dir.path(), &file).unwrap();
    let mut v = baseline_json(&file);
    iomap_target(&mut v)["counters"]["dev_writes"] = serde_json::json!(40);
    save(&file, &v);
    let report = results::check(&file, dir.path(), 0.10).unwrap();
    assert!(report.is_regression());
    let failing: Vec<_> = report.regressions().collect();
    assert_eq!(failing.len(), 1, "{report}");
    assert_eq!(failing[0].target.as_deref(), Some("iomap"));
    assert_eq!(failing[0].kind, FindingKind::CounterChanged { counter: "dev_writes".into(), baseline: 40, run: 41 });
    let text = report.describe();
    assert!(text.contains("FAIL randrw @ iomap: counter dev_writes 40 → 41 (+1)"), "{text}");
    assert!(text.contains("--write-baseline"), "{text}");
}

#[test]
fn a_ratio_beyond_tolerance_fails_and_one_within_passes() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let file = dir.path().join("baseline.json");
    results::write_baseline(dir.path(), &file).unwrap();
    let original = baseline_json(&file);
    let run_ratio = original["jobs"][1]["targets"][1]["ratios"]["read"]["p50"].as_f64().unwrap();

    // The baseline said iomap's read p50 was 25% lower relative to bh: the run is slower.
    let mut v = original.clone();
    iomap_target(&mut v)["ratios"]["read"]["p50"] = serde_json::json!(run_ratio * 0.75);
    save(&file, &v);
    let report = results::check(&file, dir.path(), 0.10).unwrap();
    assert!(report.is_regression(), "{report}");
    let failing: Vec<_> = report.regressions().collect();
    assert_eq!(failing.len(), 1, "{report}");
    match &failing[0].kind {
        FindingKind::RatioMoved { op, metric, baseline, run } => {
            assert_eq!((op.as_str(), metric.as_str()), ("read", "p50"));
            assert_eq!((*baseline, *run), (run_ratio * 0.75, run_ratio));
        }
        other => panic!("unexpected finding {other:?}"),
    }
    assert!(report.describe().contains("slower relative to the reference"), "{report}");
    // With a 40% tolerance the same move is accepted.
    assert!(!results::check(&file, dir.path(), 0.40).unwrap().is_regression());

    // A 5% move is within the default tolerance.
    let mut v = original.clone();
    iomap_target(&mut v)["ratios"]["read"]["iops"] =
        serde_json::json!(original["jobs"][1]["targets"][1]["ratios"]["read"]["iops"].as_f64().unwrap() * 1.05);
    save(&file, &v);
    let report = results::check(&file, dir.path(), results::DEFAULT_TOLERANCE).unwrap();
    assert!(!report.is_regression(), "{report}");

    // A move in the target's favour is reported as better, with both readings, and passes.
    let mut v = original;
    iomap_target(&mut v)["ratios"]["write"]["iops"] = serde_json::json!(0.5);
    save(&file, &v);
    let report = results::check(&file, dir.path(), results::DEFAULT_TOLERANCE).unwrap();
    assert!(!report.is_regression(), "{report}");
    let text = report.describe();
    assert!(text.starts_with("gate: ok (1 better than the baseline)"), "{text}");
    assert!(
        text.contains("better randrw @ iomap: write iops ratio to the reference 0.500 → ")
            && text.contains("faster relative to the reference (or the reference slowed)"),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("rewrite the baseline"), "{text}");
}

#[test]
fn counters_that_cannot_repeat_are_left_out_and_noted() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let file = dir.path().join("baseline.json");
    let baseline = results::write_baseline_with(dir.path(), &file, |_, job, target| {
        (job.job == "randrw" && target.target == "iomap").then(|| "a kernel target".to_string())
    })
    .unwrap();
    let iomap = &baseline.jobs[1].targets[1];
    assert!(iomap.counters.is_empty());
    assert_eq!(iomap.counters_not_gated.as_deref(), Some("a kernel target"));
    assert!(baseline.jobs[1].targets[0].counters_not_gated.is_none(), "bh's stay gated");
    assert_eq!(baseline_json(&file)["jobs"][1]["targets"][1]["counters_not_gated"], "a kernel target");

    // The check compares the other counters, notes these once, and passes.
    let report = results::check(&file, dir.path(), results::DEFAULT_TOLERANCE).unwrap();
    assert!(!report.is_regression(), "{report}");
    assert_eq!(report.counters_checked, 2 + 12);
    let notes: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
    assert_eq!(notes, ["note randrw @ iomap: counters not gated: a kernel target"]);
}

#[test]
fn missing_targets_specs_and_references_fail() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let file = dir.path().join("baseline.json");
    results::write_baseline(dir.path(), &file).unwrap();
    let original = baseline_json(&file);

    let mut v = original.clone();
    iomap_target(&mut v)["target"] = serde_json::json!("iomap2");
    save(&file, &v);
    let report = results::check(&file, dir.path(), 0.1).unwrap();
    let kinds: Vec<(Severity, &FindingKind)> = report.findings.iter().map(|f| (f.severity, &f.kind)).collect();
    assert!(kinds.contains(&(Severity::Regression, &FindingKind::Missing)), "{report}");
    assert!(kinds.contains(&(Severity::Note, &FindingKind::New)), "{report}");

    let mut v = original.clone();
    iomap_target(&mut v)["spec"] = serde_json::json!("iomap:max_folio=64k");
    save(&file, &v);
    assert!(results::check(&file, dir.path(), 0.1).unwrap().is_regression());

    let mut v = original.clone();
    v["jobs"][1]["reference"] = serde_json::json!("iomap");
    save(&file, &v);
    let report = results::check(&file, dir.path(), 0.1).unwrap();
    assert!(report.describe().contains("reference target changed from iomap to bh"), "{report}");

    let mut v = original.clone();
    v["jobs"][0]["targets"][0]["counters"]["dev_flushes"] = serde_json::json!(3);
    save(&file, &v);
    let report = results::check(&file, dir.path(), 0.1).unwrap();
    assert!(report.describe().contains("counter dev_flushes is in the baseline but not in the run"));
    assert!(report.is_regression());

    // A counter deleted from the baseline is no longer gated; the run's is noted.
    let mut v = original;
    iomap_target(&mut v)["counters"].as_object_mut().unwrap().remove("dev_writes");
    save(&file, &v);
    let report = results::check(&file, dir.path(), 0.1).unwrap();
    assert!(!report.is_regression(), "{report}");
    assert!(report.describe().contains("note randrw @ iomap: counter dev_writes is new"));
}

#[test]
fn bad_baselines_and_tolerances_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let file = dir.path().join("baseline.json");
    std::fs::write(&file, b"{\"jobs\": []}").unwrap();
    let err = results::check(&file, dir.path(), 0.1).unwrap_err();
    assert!(matches!(err, ResultsError::BadBaseline { .. }), "{err}");
    assert!(err.to_string().contains("--write-baseline"), "{err}");
    std::fs::write(&file, b"not json").unwrap();
    assert!(matches!(results::check(&file, dir.path(), 0.1).unwrap_err(), ResultsError::Json { .. }));
    results::write_baseline(dir.path(), &file).unwrap();
    for bad in [-0.1, f64::NAN, f64::INFINITY] {
        let err = results::check(&file, dir.path(), bad).unwrap_err();
        assert!(matches!(err, ResultsError::BadTolerance { .. }), "{err}");
    }
    let err = results::check(&dir.path().join("nope.json"), dir.path(), 0.1).unwrap_err();
    assert!(matches!(err, ResultsError::Missing { .. }), "{err}");
    // It is the baseline that is missing, not the run directory that is incomplete.
    let text = err.to_string();
    assert!(text.contains("nope.json: missing; no such baseline; write one from a run with"), "{text}");
    assert!(!text.contains("incomplete"), "{text}");
}

/// A second run of `randrw` where iomap wrote more and read faster; `run_json` is its run.json.
fn write_second_run_with(dir: &Path, run_json: &Value) {
    let mut run = RunWriter::create(dir, "0.1.0", run_json).unwrap();
    for (target, scale, rate, writes) in
        [("bh", 1.0, common::bh_rate as fn(u64) -> u64, 130), ("iomap", 0.5, common::iomap_rate, 45)]
    {
        run.add(TargetResult {
            job: "randrw".into(),
            target: target.into(),
            spec: target.into(),
            started: common::start(),
            runtime_ns: 3_000_000_000,
            ops: common::randrw_ops(scale, 3, rate),
            counters: common::fsimpl_counters(42_000, writes),
            stats: Default::default(),
        })
        .unwrap();
    }
    run.finish().unwrap();
}

fn write_second_run(dir: &Path) {
    write_second_run_with(dir, &serde_json::json!({}));
}

#[test]
fn compare_shows_op_and_counter_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    common::write_run(&a);
    write_second_run(&b);
    let cmp = results::compare_dirs(&a, &b).unwrap();
    assert_eq!(cmp.jobs.len(), 1);
    assert_eq!(cmp.notes, ["job exact only in A"]);
    let job = &cmp.jobs[0];
    let ops: Vec<(&str, &str)> = job.ops.iter().map(|d| (d.target.as_str(), d.op.as_str())).collect();
    assert_eq!(
        ops,
        [("bh", "read"), ("bh", "write"), ("bh", "fsync"), ("iomap", "read"), ("iomap", "write"), ("iomap", "fsync")]
    );
    let dev_writes = job.counters.iter().find(|c| c.target == "iomap" && c.counter == "dev_writes").unwrap();
    assert_eq!((dev_writes.a, dev_writes.b, dev_writes.delta()), (Some(41), Some(45), Some(4)));

    let text = cmp.to_terminal();
    let line = |prefix: &[&str]| -> Vec<String> {
        text.lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|cells| cells.len() >= prefix.len() && cells[..prefix.len()] == *prefix)
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{text}"))
    };
    // bh ran the same records in both runs: nothing moved.
    assert_eq!(line(&["bh", "read"])[2..4], ["2.80k→2.80k", "0%"], "{text}");
    assert_eq!(line(&["bh", "map_blocks"])[2..], ["42000", "42000", "0", "0%"], "{text}");
    // iomap's latencies were scaled by 0.5 / 0.7 and it wrote 4 more times.
    assert_eq!(line(&["iomap", "read"])[6..8], ["3.53µs→2.52µs", "-29%"], "{text}");
    assert_eq!(line(&["iomap", "dev_writes"])[2..], ["41", "45", "+4", "+9.8%"], "{text}");

    let md = cmp.to_markdown();
    assert!(md.contains("### job `randrw`"), "{md}");
    assert!(
        md.contains("| target | op | IOPS | MiB/s | p50 | p99 | p99.9 |\n|:---|:---|---:|---:|---:|---:|---:|\n"),
        "{md}"
    );
    assert!(md.contains("| iomap | dev_writes | 41 | 45 | +4 | +9.8% |"), "{md}");
    assert!(md.contains("- note: job exact only in A"), "{md}");
}

#[test]
fn compare_of_a_run_with_itself_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let run = RunDir::load(dir.path()).unwrap();
    let cmp = results::compare("a", &run.summary, "b", &run.summary);
    for j in &cmp.jobs {
        for d in &j.ops {
            assert_eq!(d.a, d.b);
        }
        assert!(j.counters.iter().all(|c| c.delta() == Some(0)));
    }
    assert!(cmp.notes.is_empty());
}

#[test]
fn compare_refuses_runs_without_a_common_job() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    common::write_run(&a);
    let mut run = RunWriter::create(&b, "0.1.0", &serde_json::json!({})).unwrap();
    run.add(TargetResult {
        job: "other".into(),
        target: "bh".into(),
        spec: "bh".into(),
        started: common::start(),
        runtime_ns: 1_000_000_000,
        ops: common::exact_ops(),
        counters: common::counters(&[]),
        stats: Default::default(),
    })
    .unwrap();
    run.finish().unwrap();
    let err = results::compare_dirs(&a, &b).unwrap_err();
    assert!(matches!(err, ResultsError::NothingInCommon { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("have no job in common (exact, randrw against other)"), "{text}");
}

#[test]
fn compare_warns_when_a_job_or_a_target_differs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    common::write_run(&a);
    let run_json = serde_json::json!({"jobs": [{"name": "randrw", "fio": "[randrw]\nrw=randrw\nbs=8k\nsize=1g\n"}]});
    write_second_run_with(&b, &run_json);
    let cmp = results::compare_dirs(&a, &b).unwrap();
    assert_eq!(
        cmp.warnings,
        [
            "job randrw: defined differently: A has bs=4k; B has bs=8k",
            "job randrw target bh: built from bh:block_size=4k in A, bh in B",
        ],
        "{:?}",
        cmp.warnings
    );
    assert!(cmp.to_markdown().contains("> **warning:** job randrw: defined differently"));
    assert!(cmp.to_html().contains("<li>warning: job randrw: defined differently: A has bs=4k; B has bs=8k</li>"));
}
