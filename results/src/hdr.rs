//! HdrHistogram files: the interval log (`.hlog`, what Java's `HistogramLogWriter` writes and
//! `HistogramLogProcessor` reads) and the percentile distribution (`.hgrm`, what
//! `AbstractHistogram.outputPercentileDistribution` prints and hdr-plot reads).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

use crate::intervals;
use crate::recorder::{OpRecord, new_histogram};

/// `Interval_Max` is written in milliseconds (values are in nanoseconds), as Java's
/// `HistogramLogWriter` does by default.
pub const MAX_VALUE_DIVISOR: f64 = 1e6;

/// `.hgrm` values are written in microseconds (`hdr-plot --units us`, its default).
pub const HGRM_VALUE_UNIT_RATIO: f64 = 1e3;

/// Percentile ticks per half distance in `.hgrm`, Java's default.
pub const HGRM_TICKS_PER_HALF_DISTANCE: u32 = 5;

/// One interval read back from a log.
#[derive(Debug, Clone)]
pub struct LoggedInterval {
    /// Start of the interval, relative to the log's base time.
    pub start: Duration,
    /// Length of the interval.
    pub duration: Duration,
    /// Latencies in the interval, in nanoseconds.
    pub histogram: Histogram<u64>,
}

/// An interval log: one V2-deflate histogram per interval of the run ([`intervals::spans`]:
/// one second each, the last one carrying the run's tail), intervals without ops holding an
/// empty histogram, timestamps relative to `started`.
///
/// The lines are those of Java's `HistogramLogWriter` (`start,length,max,histogram`), except
/// that a length that is not a whole number of milliseconds is written to the nanosecond
/// (`1.000400`) where Java rounds to three decimals: the last interval's length is then exact,
/// and a short run's is never written as `0.000`. Readers parse the fields as decimals (Java's
/// `HistogramLogReader`, the Python `hdrhistogram` package, the hdrhistogram crate).
pub fn interval_log(record: &OpRecord, started: SystemTime, runtime_ns: u64, title: &str) -> Result<Vec<u8>, String> {
    let start_secs = started.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut out = String::new();
    for line in title.lines() {
        let _ = writeln!(out, "#{line}");
    }
    let _ = writeln!(out, "#[Histogram log format version 1.3]");
    let _ = writeln!(out, "#[StartTime: {start_secs:.3} (seconds since epoch)]");
    let _ = writeln!(out, "#[BaseTime: {start_secs:.3} (seconds since epoch)]");
    let _ = writeln!(out, "#[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]");
    let _ = writeln!(out, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"");
    let mut serializer = V2DeflateSerializer::new();
    let mut raw = Vec::new();
    for group in intervals::by_span(record, runtime_ns) {
        let h = group.histogram();
        raw.clear();
        serializer.serialize(&h, &mut raw).map_err(|e| format!("interval at {} ns: {e:?}", group.span.start_ns))?;
        let max = if h.is_empty() { 0.0 } else { h.max() as f64 / MAX_VALUE_DIVISOR };
        let _ = write!(out, "{},{},{max:.3},", seconds(group.span.start_ns), seconds(group.span.len_ns));
        base64::engine::general_purpose::STANDARD.encode_string(&raw, &mut out);
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// Nanoseconds as decimal seconds: three decimals when that is exact, else nine trimmed of
/// trailing zeros (`1.000`, `0.250`, `1.0004`, `0.000052137`).
fn seconds(ns: u64) -> String {
    let (whole, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if frac % 1_000_000 == 0 {
        format!("{whole}.{:03}", frac / 1_000_000)
    } else {
        format!("{whole}.{frac:09}").trim_end_matches('0').to_string()
    }
}

/// Decode every interval of a log with the hdrhistogram crate's reader.
pub fn read_interval_log(bytes: &[u8]) -> Result<Vec<LoggedInterval>, String> {
    let mut deserializer = Deserializer::new();
    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| format!("{e:?}"))?;
        if let LogEntry::Interval(ilh) = entry {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(ilh.encoded_histogram())
                .map_err(|e| format!("interval at {:?}: {e}", ilh.start_timestamp()))?;
            let histogram: Histogram<u64> = deserializer
                .deserialize(&mut &raw[..])
                .map_err(|e| format!("interval at {:?}: {e:?}", ilh.start_timestamp()))?;
            intervals.push(LoggedInterval { start: ilh.start_timestamp(), duration: ilh.duration(), histogram });
        }
    }
    Ok(intervals)
}

/// The sum of all intervals of a log: the whole run's histogram.
///
/// Fails if an interval holds values beyond the crate's bounds (a log not written by aopsbench).
pub fn total_of(intervals: &[LoggedInterval]) -> Result<Histogram<u64>, String> {
    let mut total = new_histogram();
    for i in intervals {
        total.add(&i.histogram).map_err(|e| format!("interval at {:?}: {e:?}", i.start))?;
    }
    Ok(total)
}

/// The percentile distribution of `h` in the text format of Java's
/// `outputPercentileDistribution(out, 5, 1000.0)`: values in microseconds.
pub fn percentile_distribution(h: &Histogram<u64>) -> String {
    let ratio = HGRM_VALUE_UNIT_RATIO;
    let mut out = String::new();
    let _ = write!(out, "{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(HGRM_TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / ratio;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10} {:14.2}", 1.0 / (1.0 - q));
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let max = if h.is_empty() { 0 } else { h.max() };
    let _ = writeln!(out, "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]", h.mean() / ratio, h.stdev() / ratio);
    let _ = writeln!(out, "#[Max     = {:12.3}, Total count    = {:12}]", max as f64 / ratio, h.len());
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    let _ = writeln!(out, "#[Buckets = {:12}, SubBuckets     = {:12}]", h.buckets(), sub_buckets);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::OpRecorder;

    #[test]
    fn hgrm_matches_java_layout() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let text = percentile_distribution(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
        assert_eq!(lines[1], "");
        assert_eq!(lines[2], "       1.000 0.000000000000          1           1.00");
        assert!(lines.iter().any(|l| l.starts_with("     500.223 0.500000000000        500")));
        let last_data = lines[lines.len() - 4];
        assert_eq!(last_data, "    1000.447 1.000000000000       1000");
        assert_eq!(lines[lines.len() - 2], "#[Max     =     1000.447, Total count    =         1000]");
        assert_eq!(lines[lines.len() - 1], "#[Buckets =           32, SubBuckets     =         2048]");
    }

    #[test]
    fn log_has_one_interval_per_second() {
        let mut r = OpRecorder::new();
        r.record(100, 5, 1);
        r.record(2_100_000_000, 7, 1);
        let rec = r.finish();
        let bytes = interval_log(&rec, UNIX_EPOCH, 2_500_000_000, "test").unwrap();
        let intervals = read_interval_log(&bytes).unwrap();
        let shape: Vec<_> =
            intervals.iter().map(|i| (i.start.as_millis(), i.duration.as_millis(), i.histogram.len())).collect();
        assert_eq!(shape, vec![(0, 1000, 1), (1000, 1000, 0), (2000, 500, 1)]);
        assert_eq!(total_of(&intervals).unwrap().max(), 7);
    }

    #[test]
    fn the_last_interval_carries_its_true_length() {
        let mut r = OpRecorder::new();
        r.record(100, 5, 1);
        r.record(3_000_000_100, 9, 1);
        let rec = r.finish();
        // 3.0004 s: the 0.4 ms tail joins the third second, written to the nanosecond.
        let bytes = interval_log(&rec, UNIX_EPOCH, 3_000_400_000, "test").unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && !l.starts_with('"')).collect();
        let heads: Vec<&str> = lines.iter().map(|l| l.rsplit_once(',').unwrap().0).collect();
        assert_eq!(heads, ["0.000,1.000,0.000", "1.000,1.000,0.000", "2.000,1.0004,0.000"]);
        let intervals = read_interval_log(&bytes).unwrap();
        assert_eq!(intervals[2].duration, Duration::from_nanos(1_000_400_000));
        assert_eq!(intervals[2].histogram.max(), 9);
        // A run of 52 µs: one interval, not 0.000 long.
        let bytes = interval_log(&rec, UNIX_EPOCH, 52_137, "short").unwrap();
        assert!(String::from_utf8(bytes).unwrap().contains("\n0.000,0.000052137,"));
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(0), "0.000");
        assert_eq!(seconds(1_000_000_000), "1.000");
        assert_eq!(seconds(250_000_000), "0.250");
        assert_eq!(seconds(1_000_400_000), "1.0004");
        assert_eq!(seconds(1), "0.000000001");
    }
}
