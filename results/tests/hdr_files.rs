//! The HdrHistogram files: interval logs read back by the hdrhistogram crate's own reader, and
//! the percentile distribution text in the format hdr-plot parses.

mod common;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

#[test]
fn interval_log_round_trips_through_the_hdrhistogram_reader() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let ops = common::randrw_ops(1.0, 3, common::bh_rate); // the same records the run wrote for bh
    let bytes = std::fs::read(dir.path().join("hdr/randrw@bh.read.hlog")).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("#[Histogram log format version 1.3]\n"));
    assert!(text.contains("#[StartTime: 1763937060.000 (seconds since epoch)]\n"));
    assert!(
        text.contains("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n")
    );

    let mut start_times = Vec::new();
    let mut intervals = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.expect("log parses") {
            LogEntry::StartTime(t) => start_times.push(t.as_secs()),
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(ilh) => {
                let raw = base64::engine::general_purpose::STANDARD.decode(ilh.encoded_histogram()).unwrap();
                // V2 + deflate: HdrHistogram's compressed V2 cookie, 0x1c849314.
                assert_eq!(&raw[..4], &[0x1c, 0x84, 0x93, 0x14]);
                let h: Histogram<u64> = deserializer.deserialize(&mut &raw[..]).unwrap();
                let max_ms = h.max() as f64 / 1e6;
                assert!((ilh.max() - max_ms).abs() < 0.001, "Interval_Max in ms");
                intervals.push((ilh.start_timestamp(), ilh.duration(), h));
            }
        }
    }
    assert_eq!(start_times, [1_763_937_060]);
    let shape: Vec<(u64, u64)> = intervals.iter().map(|(s, d, _)| (s.as_secs(), d.as_millis() as u64)).collect();
    assert_eq!(shape, [(0, 1000), (1, 1000), (2, 1000)]);
    let record = &ops["read"];
    for ((_, _, h), sample) in intervals.iter().zip(&record.intervals) {
        assert_eq!(h.len(), sample.ops);
        assert_eq!(*h, sample.histogram(), "second {}", sample.second);
    }
    let mut total = results::new_histogram();
    for (_, _, h) in &intervals {
        total.add(h).unwrap();
    }
    assert_eq!(total, record.histogram);
}

#[test]
fn hgrm_is_the_percentile_distribution_hdr_plot_reads() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let text = std::fs::read_to_string(dir.path().join("hdr/exact@t.read.hgrm")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
    assert_eq!(lines[1], "");
    // hdr-plot keeps lines matching \s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+).
    let data: Vec<Vec<f64>> = lines[2..]
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            assert!(l.starts_with(' '), "data lines start with blanks: {l:?}");
            l.split_whitespace().map(|c| c.parse().unwrap()).collect()
        })
        .collect();
    let (last, body) = data.split_last().unwrap();
    assert!(body.iter().all(|r| r.len() == 4));
    assert_eq!(last.len(), 3, "the 100% line has no 1/(1-p), as in Java");
    assert_eq!(last, &[1.0, 1.0, 1000.0]); // 1000 ns = 1.000 µs, percentile 1, count 1000
    assert_eq!(body[0], [0.001, 0.0, 1.0, 1.0]);
    let median = body.iter().find(|r| r[1] >= 0.5).unwrap();
    assert_eq!(median[0], 0.5); // 500 ns
    for r in body {
        assert!((r[3] - 1.0 / (1.0 - r[1])).abs() / r[3] < 1e-2 || r[1] > 0.999_999);
    }
    let footer = &lines[lines.len() - 3..];
    assert_eq!(footer[0], "#[Mean    =        0.500, StdDeviation   =        0.289]");
    assert_eq!(footer[1], "#[Max     =        1.000, Total count    =         1000]");
    assert_eq!(footer[2], "#[Buckets =           32, SubBuckets     =         2048]");
}

/// Reads an interval log with the Python `hdrhistogram` package (HdrHistogram_py): one line
/// per interval, `start_ms end_ms count max_ns`.
const PYTHON_READER: &str = r#"
import sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, 3600 * 10**9, 3))
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    print(h.get_start_time_stamp(), h.get_end_time_stamp(), h.get_total_count(), h.get_max_value())
"#;

#[test]
fn interval_logs_decode_with_the_python_hdrhistogram_package() {
    let python = std::process::Command::new("python3").args(["-c", "import hdrh"]).output();
    if !python.is_ok_and(|o| o.status.success()) {
        println!("skipped: python3 with the hdrhistogram package (pip install hdrhistogram) is not available");
        return;
    }
    // 2.3004 s of writes, one per millisecond: the 0.3004 s tail joins the second second.
    let dir = tempfile::tempdir().unwrap();
    let mut run = results::RunWriter::create(dir.path(), "0.1.0", &serde_json::json!({})).unwrap();
    let mut t = results::RecorderSet::new();
    for i in 0..2300u64 {
        t.record("write", i * 1_000_000 + 400_000, 1_000 + i, 4096);
    }
    run.add(results::TargetResult {
        job: "tail".into(),
        target: "bh".into(),
        spec: "bh".into(),
        started: common::start(),
        runtime_ns: 2_300_400_000,
        ops: results::merge_threads([t.finish()]).unwrap(),
        counters: common::counters(&[]),
        stats: Default::default(),
    })
    .unwrap();
    run.finish().unwrap();
    let log = dir.path().join("hdr/tail@bh.write.hlog");
    let out = std::process::Command::new("python3").arg("-c").arg(PYTHON_READER).arg(&log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<f64>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(|w| w.parse().unwrap()).collect())
        .collect();
    let start_ms = 1_763_937_060_000.0;
    let shape: Vec<(f64, f64, f64)> = rows.iter().map(|r| (r[0] - start_ms, r[1] - r[0], r[2])).collect();
    // Interval lengths as Python reads them (ms since the epoch, in doubles: to 0.01 ms): 1 s,
    // then the 1.3004 s that holds the tail.
    assert_eq!(shape.len(), 2, "{shape:?}");
    assert_eq!((shape[0].0, shape[0].2), (0.0, 1000.0), "{shape:?}");
    assert!((shape[0].1 - 1000.0).abs() < 0.01, "{shape:?}");
    assert_eq!((shape[1].0, shape[1].2), (1000.0, 1300.0), "{shape:?}");
    assert!((shape[1].1 - 1300.4).abs() < 0.01, "{shape:?}");
    // The maximum is HdrHistogram's highest equivalent of 3299 ns, as the Rust crate says.
    let summary = results::RunDir::load(dir.path()).unwrap().summary;
    assert_eq!(rows[1][3] as u64, summary.jobs[0].targets[0].ops["write"].lat_ns.max);
}
