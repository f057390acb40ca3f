//! HdrHistogram files: the interval log (`.hlog`, what Java's `HistogramLogWriter` writes and
//! `HistogramLogProcessor` reads) and the percentile distribution (`.hgrm`, what
//! `AbstractHistogram.outputPercentileDistribution` prints and hdr-plot reads).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, IntervalLogWriterBuilder, LogEntry};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use crate::recorder::{INTERVAL_NS, OpRecord, new_histogram};

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

/// An interval log: one V2-deflate histogram per second of the run, from second 0 up to the end
/// of `runtime_ns` (seconds without ops hold an empty histogram), timestamps relative to
/// `started`.
pub fn interval_log(record: &OpRecord, started: SystemTime, runtime_ns: u64, title: &str) -> Result<Vec<u8>, String> {
    let start_secs = started.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let mut out = Vec::new();
    let mut header = String::new();
    for line in title.lines() {
        let _ = writeln!(header, "#{line}");
    }
    let _ = writeln!(header, "#[Histogram log format version 1.3]");
    let _ = writeln!(header, "#[StartTime: {start_secs:.3} (seconds since epoch)]");
    let _ = writeln!(header, "#[BaseTime: {start_secs:.3} (seconds since epoch)]");
    let _ =
        writeln!(header, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"");
    out.extend_from_slice(header.as_bytes());

    let seconds = runtime_ns.div_ceil(INTERVAL_NS).max(record.intervals.last().map_or(0, |i| i.second + 1));
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| e.to_string())?;
    let mut samples = record.intervals.iter().peekable();
    let empty = new_histogram();
    for second in 0..seconds {
        let start_ns = second * INTERVAL_NS;
        let len_ns = if runtime_ns > start_ns { (runtime_ns - start_ns).min(INTERVAL_NS) } else { INTERVAL_NS };
        let hist = match samples.peek() {
            Some(s) if s.second == second => samples.next().map(|s| s.histogram()),
            _ => None,
        };
        log.write_histogram(
            hist.as_ref().unwrap_or(&empty),
            Duration::from_nanos(start_ns),
            Duration::from_nanos(len_ns),
            None,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(out)
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
}
