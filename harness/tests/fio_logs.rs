//! fio's log files (`write_lat_log`, `write_bw_log`, `write_iops_log`, `write_hist_log`) as
//! fio writes them, read by fio's own tools when they are installed: `fio2gnuplot` (Debian's
//! fio package), `fiologparser.py` and `fiologparser_hist.py` (fio's `tools/`, on PATH).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aopsbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aopsbench")).args(args).output().expect("run aopsbench")
}

/// Runs `job` on a `dir` target in a temporary directory; returns (tempdir, run dir).
fn run(job: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let file = tmp.path().join("job.fio");
    std::fs::write(&file, job).unwrap();
    let out = tmp.path().join("run");
    let target = format!("dir:path={}", data.display());
    let o = aopsbench(&[
        "run",
        file.to_str().unwrap(),
        "--target",
        &target,
        "--out",
        out.to_str().unwrap(),
        "--no-plot",
        "--no-report",
    ]);
    assert!(o.status.success(), "aopsbench failed: {}", String::from_utf8_lossy(&o.stderr));
    (tmp, out)
}

fn logs_dir(run: &Path) -> PathBuf {
    run.join("fio-logs").join("dir")
}

/// Every line of a log, as numbers.
fn rows(path: &Path) -> Vec<Vec<u64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            l.split(", ").map(|c| c.parse().unwrap_or_else(|_| panic!("{}: bad line {l:?}", path.display()))).collect()
        })
        .collect()
}

/// fio.json's total_ios (read + write) per report, in order.
fn total_ios(run: &Path) -> Vec<u64> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("fio.json")).unwrap()).unwrap();
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["read"]["total_ios"].as_u64().unwrap() + j["write"]["total_ios"].as_u64().unwrap())
        .collect()
}

const JOB: &str = "
[global]
rw=randrw
bs=4k
size=4m
runtime=1
time_based
write_lat_log=p
write_bw_log=p
write_iops_log=p
write_hist_log=p
log_hist_msec=200

[q]
ioengine=io_uring
iodepth=4
numjobs=2

[s]
ioengine=psync
log_avg_msec=100
log_offset=1
";

#[test]
fn logs_are_named_and_written_as_fio_writes_them() {
    let (_tmp, run) = run(JOB);
    let dir = logs_dir(&run);
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut want = Vec::new();
    for n in 1..=3 {
        for s in ["bw", "clat", "clat_hist", "iops", "lat", "slat"] {
            want.push(format!("p_{s}.{n}.log"));
        }
    }
    want.sort();
    assert_eq!(names, want);

    let ios = total_ios(&run);
    // Threads 1 and 2 (io_uring, QD4): one line per I/O, `time, value, ddir, bs, prio`.
    for n in 1..=2 {
        let log = |s: &str| rows(&dir.join(format!("p_{s}.{n}.log")));
        let (lat, clat, slat, iops, bw) = (log("lat"), log("clat"), log("slat"), log("iops"), log("bw"));
        assert_eq!(iops.len() as u64, ios[n - 1], "thread {n}: one iops line per I/O");
        for l in [&lat, &clat, &slat, &iops, &bw] {
            assert_eq!(l.len(), iops.len(), "thread {n}: every log has a line per I/O");
            assert!(
                l.iter().all(|r| r.len() == 5 && r[2] <= 1 && r[3] == 4096 && r[4] == 0),
                "thread {n}: {:?}",
                &l[0]
            );
            assert!(l.windows(2).all(|w| w[0][0] <= w[1][0]), "thread {n}: times go forward");
        }
        for i in 0..lat.len() {
            // lat = slat + clat, each within a nanosecond of rounding.
            assert!(lat[i][1] + 1 >= slat[i][1] + clat[i][1] && lat[i][1] <= slat[i][1] + clat[i][1] + 1, "line {i}");
            assert_eq!(iops[i][1], 1);
            assert_eq!(bw[i][1], 4096 * 1_000_000 / clat[i][1].max(1));
        }
        let hist = log("clat_hist");
        assert!(!hist.is_empty(), "a 1 s run with log_hist_msec=200 has histogram lines");
        assert!(hist.iter().all(|r| r.len() == 3 + 1856 && r[1] <= 1 && r[2] == 4096));
        let binned: u64 = hist.iter().map(|r| r[3..].iter().sum::<u64>()).sum();
        assert!(binned <= ios[n - 1] && binned * 2 >= ios[n - 1], "thread {n}: {binned} of {} I/Os binned", ios[n - 1]);
    }
    // Thread 3 (psync, log_avg_msec=100, log_offset): averaged, `time, value, ddir, 0, 0, prio`;
    // no slat for a synchronous engine.
    let log = |s: &str| rows(&dir.join(format!("p_{s}.3.log")));
    assert!(log("slat").is_empty());
    let iops = log("iops");
    assert!(iops.len() >= 2 * 5, "about ten 100 ms windows of reads and writes: {}", iops.len());
    for s in ["lat", "clat", "bw", "iops"] {
        assert!(log(s).iter().all(|r| r.len() == 6 && r[2] <= 1 && r[3] == 0 && r[4] == 0 && r[5] == 0), "{s}");
    }
    // The windows' IOPS add up to the I/Os done (each window's rate times its length).
    let mut done = 0f64;
    let mut last = BTreeMap::new();
    for r in &iops {
        let start = last.insert(r[2], r[0]).unwrap_or(0);
        done += r[1] as f64 * (r[0] - start) as f64 / 1000.0;
    }
    let want = ios[2] as f64;
    assert!((done - want).abs() <= want * 0.05 + 40.0, "averaged IOPS give {done} I/Os, fio.json {want}");
}

#[test]
fn per_job_logs_0_shares_one_file() {
    let job = "
[global]
rw=randread
bs=4k
size=1m
runtime=1
time_based
ioengine=psync
write_iops_log=shared
per_job_logs=0
[a]
numjobs=2
[b]
";
    let (_tmp, run) = run(job);
    let dir = logs_dir(&run);
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["shared_iops.log"]);
    let lines = rows(&dir.join("shared_iops.log")).len() as u64;
    assert_eq!(lines, total_ios(&run).iter().sum::<u64>());
}

/// The path of `tool` on PATH.
fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|p| p.join(tool)).find(|p| p.is_file())
}

#[test]
fn fios_tools_read_the_logs() {
    let tools = ["fio2gnuplot", "fiologparser.py", "fiologparser_hist.py"];
    let found: Vec<Option<PathBuf>> = tools.iter().map(|t| on_path(t)).collect();
    for (t, f) in tools.iter().zip(&found) {
        if f.is_none() {
            println!("skipped: {t} not found on PATH (fio2gnuplot: Debian's fio package; the .py: fio's tools/)");
        }
    }
    if found.iter().all(Option::is_none) {
        return;
    }
    let (tmp, run) = run(JOB);
    let dir = logs_dir(&run);
    let tool = |i: usize, args: &[&str]| -> Option<String> {
        let path = found[i].as_ref()?;
        let o = Command::new(path).args(args).current_dir(&dir).output().unwrap();
        assert!(o.status.success(), "{} failed: {}", tools[i], String::from_utf8_lossy(&o.stderr));
        Some(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    // fio2gnuplot: the bandwidth of each thread turned into its data and gnuplot files.
    let out = tmp.path().join("gnuplot");
    std::fs::create_dir(&out).unwrap();
    if let Some(text) = tool(0, &["-p", "p_bw*.log", "-d", out.to_str().unwrap()]) {
        assert!(text.contains("p_bw.1.log") && text.contains("p_bw.3.log"), "{text}");
        let average = std::fs::read_to_string(out.join("p_bw.average")).expect("fio2gnuplot wrote p_bw.average");
        assert!(!average.trim().is_empty());
    }
    // fiologparser.py: one line per second of the per-I/O and the averaged logs.
    for log in ["p_lat.1.log", "p_iops.3.log"] {
        if let Some(text) = tool(1, &[log]) {
            let lines: Vec<&str> = text.lines().collect();
            assert!(!lines.is_empty(), "{log}: {text}");
            assert!(lines.iter().all(|l| l.split(", ").all(|c| c.parse::<f64>().is_ok())), "{log}: {text}");
        }
    }
    // fiologparser_hist.py: percentiles per second from the histograms.
    if let Some(text) = tool(2, &["p_clat_hist.1.log", "p_clat_hist.2.log"]) {
        let mut lines = text.lines();
        assert!(lines.next().is_some_and(|h| h.starts_with("end-time, samples")), "{text}");
        let row: Vec<f64> = lines.next().expect("a row").split(", ").map(|c| c.parse().unwrap()).collect();
        assert!(row.len() == 9 && row[1] > 0.0, "{text}");
    }
}
