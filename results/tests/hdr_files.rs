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
