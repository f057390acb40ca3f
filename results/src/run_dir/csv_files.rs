//! `latency.csv` and `throughput.csv`: the rows, how they are made from a record, and how they
//! are written and read.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic_with;
use crate::error::{ResultsError, io_err};
use crate::intervals;
use crate::recorder::OpRecord;
use vocab::quantile_of;

/// Percentiles written to `latency.csv`: fio's list, then 99.999 and 100 (the maximum).
pub const CSV_PERCENTILES: [f64; 19] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

/// One line of `latency.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// Job name.
    pub job: String,
    /// Target name.
    pub target: String,
    /// Op kind.
    pub op: String,
    /// Percentile, 0–100.
    pub percentile: f64,
    /// Latency at that percentile, in nanoseconds.
    pub ns: u64,
}

/// One line of `throughput.csv`: one op kind in one second of one job × target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// Job name.
    pub job: String,
    /// Target name.
    pub target: String,
    /// Op kind.
    pub op: String,
    /// Second since the start of the measurement.
    pub second: u64,
    /// Length of this interval: a second, except the last one of a run, which carries the
    /// run's tail (0.5 s to 1.5 s long; see [`crate::intervals`]).
    pub duration_ns: u64,
    /// Ops completed in it.
    pub ops: u64,
    /// Bytes moved in it.
    pub bytes: u64,
}

impl ThroughputRow {
    /// Ops per second over this interval.
    pub fn iops(&self) -> f64 {
        per_second(self.ops, self.duration_ns)
    }

    /// Bytes per second over this interval.
    pub fn bytes_per_second(&self) -> f64 {
        per_second(self.bytes, self.duration_ns)
    }
}

fn per_second(x: u64, duration_ns: u64) -> f64 {
    if duration_ns == 0 { 0.0 } else { x as f64 * 1e9 / duration_ns as f64 }
}

/// The latency rows of one op.
pub fn latency_rows(job: &str, target: &str, op: &str, record: &OpRecord) -> Vec<LatencyRow> {
    if record.count() == 0 {
        return Vec::new();
    }
    CSV_PERCENTILES
        .iter()
        .map(|&p| LatencyRow {
            job: job.to_string(),
            target: target.to_string(),
            op: op.to_string(),
            percentile: p,
            ns: record.histogram.value_at_quantile(quantile_of(p)),
        })
        .collect()
}

/// The throughput rows of one op: one per interval of the run ([`intervals::spans`]),
/// intervals without ops included.
pub fn throughput_rows(job: &str, target: &str, op: &str, record: &OpRecord, runtime_ns: u64) -> Vec<ThroughputRow> {
    intervals::by_span(record, runtime_ns)
        .iter()
        .map(|g| ThroughputRow {
            job: job.to_string(),
            target: target.to_string(),
            op: op.to_string(),
            second: g.span.second(),
            duration_ns: g.span.len_ns,
            ops: g.ops(),
            bytes: g.bytes(),
        })
        .collect()
}

/// Write rows as CSV with a header line, atomically.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), ResultsError> {
    write_atomic_with(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        for row in rows {
            csv.serialize(row).map_err(|source| ResultsError::Csv { path: path.to_path_buf(), source })?;
        }
        csv.flush().map_err(io_err(path))
    })
}

/// Read every row of a CSV file written by [`write_csv`].
pub fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, ResultsError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    csv::Reader::from_reader(std::io::BufReader::new(file))
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|source| ResultsError::Csv { path: path.to_path_buf(), source })
}
