//! fio.json: fio's json+ schema, percentiles equal to the HdrHistogram's, and fio-JSON
//! consumers we did not write reading it (`fio_jsonplus_clat2csv` from fio, fio-plot).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use results::RunDir;
use results::fio::FIO_PERCENTILES;
use serde_json::Value;

const FIO_PERCENTILE_KEYS: [&str; 17] = [
    "1.000000",
    "5.000000",
    "10.000000",
    "20.000000",
    "30.000000",
    "40.000000",
    "50.000000",
    "60.000000",
    "70.000000",
    "80.000000",
    "90.000000",
    "95.000000",
    "99.000000",
    "99.500000",
    "99.900000",
    "99.950000",
    "99.990000",
];

fn load(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("fio.json")).unwrap()).unwrap()
}

fn job<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["jobs"].as_array().unwrap().iter().find(|j| j["jobname"] == name).unwrap_or_else(|| panic!("no fio job {name}"))
}

#[test]
fn fio_json_has_fios_schema() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let doc = load(dir.path());
    assert_eq!(doc["fio version"], "aopsbench-0.1.0");
    assert_eq!(doc["timestamp"].as_u64().map(|t| t > 0), Some(true));
    let names: Vec<&str> = doc["jobs"].as_array().unwrap().iter().map(|j| j["jobname"].as_str().unwrap()).collect();
    assert_eq!(names, ["exact@t", "randrw@bh", "randrw@iomap"]);
    for j in doc["jobs"].as_array().unwrap() {
        for ddir in ["read", "write", "trim"] {
            let d = &j[ddir];
            for key in ["io_bytes", "bw_bytes", "bw", "iops", "runtime", "total_ios", "clat_ns", "lat_ns"] {
                assert!(d.get(key).is_some(), "{} {ddir} lacks {key}", j["jobname"]);
            }
            for bucket in ["latency_ns", "latency_us", "latency_ms"] {
                assert!(j[bucket].is_object(), "{} lacks {bucket}", j["jobname"]);
            }
            let shares: f64 = ["latency_ns", "latency_us", "latency_ms"]
                .iter()
                .flat_map(|b| j[*b].as_object().unwrap().values().map(|v| v.as_f64().unwrap()))
                .sum();
            assert!(shares == 0.0 || (shares - 100.0).abs() < 1e-6, "latency buckets add up to {shares}");
            for lat in ["clat_ns", "lat_ns"] {
                for key in ["min", "max", "mean", "stddev", "N"] {
                    assert!(d[lat].get(key).is_some(), "{} {ddir} {lat} lacks {key}", j["jobname"]);
                }
            }
            if d["total_ios"].as_u64() > Some(0) {
                let keys: Vec<&str> =
                    d["clat_ns"]["percentile"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
                // In numeric order, as fio writes them (fio-plot reads them in order).
                assert_eq!(keys, FIO_PERCENTILE_KEYS.to_vec());
                // lat's percentiles only with lat_percentiles, as fio.
                assert!(d["lat_ns"].get("percentile").is_none());
                assert!(d["clat_ns"]["bins"].is_object());
            }
        }
        assert!(j["sync"]["total_ios"].is_u64());
        assert!(j["sync"]["lat_ns"]["N"].is_u64());
    }
    let bh = job(&doc, "randrw@bh");
    assert_eq!(bh["read"]["total_ios"], 8400);
    assert_eq!(bh["read"]["io_bytes"], 8400 * 4096);
    assert_eq!(bh["read"]["bw"], bh["read"]["bw_bytes"].as_u64().unwrap() / 1024);
    assert_eq!(bh["read"]["runtime"], 3000);
    assert_eq!(bh["read"]["bw_samples"], 3);
    assert_eq!(bh["read"]["iops_min"], 2800);
    assert_eq!(bh["trim"]["total_ios"], 0);
    assert_eq!(bh["sync"]["total_ios"], 60);
    assert_eq!(bh["aopsbench"]["counters"]["map_blocks"], 42_000);
    assert_eq!(bh["aopsbench"]["spec"], "bh:block_size=4k");
}

#[test]
fn fio_percentiles_and_bins_match_the_hdr_histogram() {
    let dir = tempfile::tempdir().unwrap();
    let summary = common::write_run(dir.path());
    let doc = load(dir.path());
    let run = RunDir::load(dir.path()).unwrap();

    // Known values: latencies 1..=1000 ns.
    let exact = &job(&doc, "exact@t")["read"]["clat_ns"];
    let p = &exact["percentile"];
    assert_eq!((p["1.000000"].as_u64(), p["50.000000"].as_u64()), (Some(10), Some(500)));
    assert_eq!((p["99.000000"].as_u64(), p["99.900000"].as_u64()), (Some(990), Some(999)));
    assert_eq!(p["99.990000"], 1000);
    assert_eq!((exact["min"].as_u64(), exact["max"].as_u64(), exact["N"].as_u64()), (Some(1), Some(1000), Some(1000)));
    assert_eq!(exact["mean"], 500.5);
    assert_eq!(exact["bins"].as_object().unwrap().len(), 1000);
    assert_eq!(exact["bins"]["17"], 1);

    for t in &summary.job("randrw").unwrap().targets {
        let j = job(&doc, &format!("randrw@{}", t.target));
        for op in ["read", "write"] {
            let h = run.histogram("randrw", &t.target, op).unwrap();
            let clat = &j[op]["clat_ns"];
            for (key, pct) in FIO_PERCENTILE_KEYS.iter().zip(FIO_PERCENTILES) {
                assert_eq!(
                    clat["percentile"][*key].as_u64(),
                    Some(h.value_at_quantile(results::summary::quantile_of(pct))),
                    "{} {op} p{key}",
                    t.target
                );
            }
            assert_eq!(clat["percentile"]["50.000000"].as_u64(), Some(t.ops[op].lat_ns.p50));
            assert_eq!(clat["percentile"]["99.900000"].as_u64(), Some(t.ops[op].lat_ns.p99_9));
            let bins: BTreeMap<u64, u64> = clat["bins"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.as_u64().unwrap()))
                .collect();
            let expected: BTreeMap<u64, u64> =
                h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
            assert_eq!(bins, expected, "{} {op} bins", t.target);
            assert_eq!(bins.values().sum::<u64>(), t.ops[op].count);
        }
    }
}

#[test]
fn fio_jsonplus_clat2csv_reads_it() {
    let tool = "fio_jsonplus_clat2csv";
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        println!("skipped: {tool} not found on PATH (install Debian's fio package to run this check)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let out = dir.path().join("csv/out.csv");
    std::fs::create_dir(dir.path().join("csv")).unwrap();
    let fio_json = dir.path().join("fio.json");

    let run = Command::new(tool).arg(&fio_json).arg(&out).output().unwrap();
    assert!(run.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&run.stderr));
    let validate = Command::new(tool).arg(&fio_json).arg(&out).arg("--validate").output().unwrap();
    let said = String::from_utf8_lossy(&validate.stdout);
    assert!(validate.status.success(), "{tool} --validate failed: {said}{}", String::from_utf8_lossy(&validate.stderr));
    assert_eq!(said.matches("validated").count(), 3, "{said}");

    // job0 is exact@t: read latencies 1..=1000 ns, one op each.
    let text = std::fs::read_to_string(dir.path().join("csv/out_job0.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (count, cumulative, percentile) =
        (col("read_clat_ns_count"), col("read_clat_ns_cumulative"), col("read_clat_ns_percentile"));
    let rows: Vec<Vec<&str>> =
        lines.filter(|l| !l.trim().is_empty()).map(|l| l.split(',').map(str::trim).collect()).collect();
    let read_rows: Vec<&Vec<&str>> = rows.iter().filter(|r| !r[count].is_empty()).collect();
    assert_eq!(read_rows.len(), 1000);
    for (i, r) in read_rows.iter().enumerate() {
        let ns: u64 = r[0].parse().unwrap();
        assert_eq!(ns, i as u64 + 1);
        assert_eq!(r[count], "1");
        assert_eq!(r[cumulative].parse::<u64>().unwrap(), ns);
        let pct: f64 = r[percentile].parse().unwrap();
        assert!((pct - ns as f64 / 1000.0).abs() < 1e-9, "{pct} at {ns}");
    }
    // The median read the tool computes is the one in fio.json and summary.json: 500 ns.
    let median =
        read_rows.iter().find(|r| r[percentile].parse::<f64>().unwrap() >= 0.5).map(|r| r[0].parse::<u64>().unwrap());
    assert_eq!(median, Some(500));

    // job1 is randrw@bh: the tool's totals are the op counts.
    let text = std::fs::read_to_string(dir.path().join("csv/out_job1.csv")).unwrap();
    let last_cumulative = |column: &str| -> u64 {
        let header: Vec<&str> = text.lines().next().unwrap().split(',').map(str::trim).collect();
        let c = header.iter().position(|h| *h == column).unwrap();
        text.lines()
            .skip(1)
            .filter_map(|l| l.split(',').map(str::trim).nth(c).filter(|v| !v.is_empty()).map(str::to_string))
            .last()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(last_cumulative("read_clat_ns_cumulative"), 8400);
    assert_eq!(last_cumulative("write_clat_ns_cumulative"), 3600);
}

/// A run of one job with given stats and latency switches; returns its fio.json job.
fn run_with(stats: results::JobStats) -> (Value, results::Summary) {
    let dir = tempfile::tempdir().unwrap();
    let mut run = results::RunWriter::create(dir.path(), "0.1.0", &serde_json::json!({"jobs": []})).unwrap();
    run.add(results::TargetResult {
        job: "exact".into(),
        target: "t".into(),
        spec: "null".into(),
        started: common::start(),
        runtime_ns: 1_000_000_000,
        ops: common::exact_ops(),
        counters: common::counters(&[]),
        stats,
    })
    .unwrap();
    let summary = run.finish().unwrap();
    (load(dir.path()), summary)
}

#[test]
fn cpu_depths_and_disk_util_are_fios() {
    let mut threads = results::ThreadStats {
        cpu: results::CpuUsage { usr_ns: 250_000_000, sys_ns: 500_000_000, ctx: 7, majf: 1, minf: 99 },
        ..Default::default()
    };
    for _ in 0..900 {
        threads.depth.mark_depth(32, 1);
    }
    threads.depth.mark_depth(1, 100);
    threads.depth.mark_submit(1);
    threads.depth.mark_submit(32);
    threads.depth.mark_complete(8);
    let disk =
        results::DiskUtil { name: "loop7".into(), read_ios: 1000, io_ticks: 400, time_ms: 1000, ..Default::default() };
    let (doc, _) = run_with(results::JobStats { threads, disk: Some(disk), ..Default::default() });
    let j = job(&doc, "exact@t");
    assert_eq!((j["usr_cpu"].as_f64(), j["sys_cpu"].as_f64()), (Some(25.0), Some(50.0)));
    assert_eq!((j["ctx"].as_u64(), j["majf"].as_u64(), j["minf"].as_u64()), (Some(7), Some(1), Some(99)));
    let level = j["iodepth_level"].as_object().unwrap();
    assert_eq!(level.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["1", "2", "4", "8", "16", "32", ">=64"]);
    assert_eq!((level["1"].as_f64(), level["32"].as_f64()), (Some(10.0), Some(90.0)));
    let submit = j["iodepth_submit"].as_object().unwrap();
    assert_eq!(submit.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["0", "4", "8", "16", "32", "64", ">=64"]);
    assert_eq!((submit["4"].as_f64(), submit["32"].as_f64()), (Some(50.0), Some(50.0)));
    assert_eq!(j["iodepth_complete"]["8"].as_f64(), Some(100.0));
    // Latencies 1..=1000 ns: one of 1000 below 2 ns (fio's bucket "2": 0 and 1 ns).
    assert_eq!(j["latency_ns"]["2"].as_f64(), Some(0.1));
    let disks = doc["disk_util"].as_array().unwrap();
    assert_eq!(disks.len(), 1);
    assert_eq!((disks[0]["name"].as_str(), disks[0]["util"].as_f64()), (Some("loop7"), Some(40.0)));
}

#[test]
fn gtod_reduce_and_a_percentile_list_are_honoured() {
    let mut latencies = vocab::Latencies::default();
    latencies.gtod_reduce();
    let (doc, summary) = run_with(results::JobStats { latencies, ..Default::default() });
    let read = &job(&doc, "exact@t")["read"];
    assert_eq!(read["total_ios"], 1000);
    for lat in ["slat_ns", "clat_ns", "lat_ns"] {
        assert_eq!(read[lat]["N"], 0, "{lat} with gtod_reduce");
        assert!(read[lat].get("percentile").is_none());
    }
    let table = results::job_table(summary.job("exact").unwrap());
    assert!(table.lines().any(|l| l.contains("read") && l.trim_end().ends_with('-')), "{table}");

    let latencies =
        vocab::Latencies { lat_percentiles: true, percentile_list: "50:99.5".parse().unwrap(), ..Default::default() };
    let (doc, summary) = run_with(results::JobStats { latencies, ..Default::default() });
    let read = &job(&doc, "exact@t")["read"];
    let keys: Vec<&str> = read["lat_ns"]["percentile"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["50.000000", "99.500000"]);
    assert_eq!(read["lat_ns"]["percentile"]["50.000000"], 500);
    let op = &summary.job("exact").unwrap().targets[0].ops["read"];
    assert_eq!(op.percentiles, vec![(50.0, 500), (99.5, 995)]);
}

#[test]
fn the_latency_target_search_is_reported_as_fio_reports_it() {
    // fio prints latency_depth (its latency_qd) for every job; the target in ns, the window
    // in us (fio 3.33's show_thread_status_json).
    let threads = results::ThreadStats { latency_depth: 32, ..Default::default() };
    let (doc, summary) = run_with(results::JobStats { threads, ..Default::default() });
    let j = job(&doc, "exact@t");
    let keys = ["latency_depth", "latency_target", "latency_percentile", "latency_window"];
    assert_eq!(keys.map(|k| j[k].as_f64()), [Some(32.0), Some(0.0), Some(100.0), Some(0.0)]);
    assert_eq!(summary.job("exact").unwrap().targets[0].latency_target, None, "no target: no search");

    let latency_target = vocab::LatencyTarget {
        target: std::time::Duration::from_millis(500),
        window: std::time::Duration::from_secs(5),
        percentile: 99.9,
        run: false,
    };
    let threads = results::ThreadStats { latency_depth: 10, ..Default::default() };
    let (doc, summary) = run_with(results::JobStats { threads, latency_target, ..Default::default() });
    let j = job(&doc, "exact@t");
    assert_eq!(keys.map(|k| j[k].as_f64()), [Some(10.0), Some(500e6), Some(99.9), Some(5e6)]);
    let found = summary.job("exact").unwrap().targets[0].latency_target;
    let want = results::LatencyDepth { depth: 10, target_ns: 500_000_000, window_ns: 5_000_000_000, percentile: 99.9 };
    assert_eq!(found, Some(want));
    let table = results::job_table(summary.job("exact").unwrap());
    assert!(table.contains("t: latency_target 500ms at p99.9 over 5.00s windows: queue depth 10"), "{table}");
    // A job without threads that ran (fio's latency_depth 0) has none of the keys.
    let (doc, _) = run_with(results::JobStats::default());
    assert!(job(&doc, "exact@t").get("latency_depth").is_none());
}

#[test]
fn fio_plot_draws_charts_from_it() {
    let tool = "fio-plot";
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        println!("skipped: {tool} not found on PATH (pip install fio-plot to run this check)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let info =
        serde_json::json!({"jobs": [{"name": "exact", "fio": "[exact]\nrw=randread\nbs=4k\niodepth=1\nnumjobs=1\n"}]});
    let mut w = results::RunWriter::create(&run, "0.1.0", &info).unwrap();
    w.add(results::TargetResult {
        job: "exact".into(),
        target: "t".into(),
        spec: "null".into(),
        started: common::start(),
        runtime_ns: 1_000_000_000,
        ops: common::exact_ops(),
        counters: common::counters(&[]),
        stats: Default::default(),
    })
    .unwrap();
    w.finish().unwrap();
    // fio-plot reads every *.json of a directory whose job options name rw, iodepth, numjobs.
    let input = dir.path().join("bench");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(run.join("fio.json"), input.join("randread-1-1.json")).unwrap();
    for (chart, png) in [("-l", "iodepth.png"), ("-H", "histogram.png")] {
        let out = dir.path().join(png);
        let r = Command::new(tool)
            .args(["-i", input.to_str().unwrap(), "-T", "aopsbench", chart, "-r", "randread", "-d", "1", "-n", "1"])
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
        assert!(r.status.success(), "{tool} {chart} failed: {said}");
        let png_bytes = std::fs::read(&out).unwrap_or_else(|e| panic!("{tool} {chart} drew nothing ({e}): {said}"));
        assert!(png_bytes.starts_with(b"\x89PNG") && png_bytes.len() > 10_000, "{tool} {chart}: {said}");
    }
}
