//! `summary.json`: per job × target × op throughput and latency percentiles, plus the target's
//! counters. The schema is fixed by the run issue:
//!
//! ```text
//! {"aopsbench_version", "jobs": [{"job", "targets": [{"target", "spec", "runtime_ns",
//!   "ops": {"<op>": {"count", "bytes", "iops", "bw_bytes",
//!                    "lat_ns": {"min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"}}},
//!   "stats": {...}}]}]}
//! ```

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::recorder::OpRecord;
use vocab::{Latencies, LatencyKind, Percentiles};

/// The whole of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Version of aopsbench that wrote the run.
    pub aopsbench_version: String,
    /// Jobs in the order they ran.
    pub jobs: Vec<JobSummary>,
}

/// One job (a fio job section) and every target it ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// Job name.
    pub job: String,
    /// The job's latency switches (fio's `disable_*lat`, `gtod_reduce`, `*_percentiles`,
    /// `percentile_list`): which latencies the table shows. Absent: fio's defaults.
    #[serde(default, skip_serializing_if = "is_default")]
    pub latencies: Latencies,
    /// Targets in the order they ran; the first is the gate's reference.
    pub targets: Vec<TargetSummary>,
}

/// One job on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// Target name, unique within the job (e.g. `bh`, `iomap`, `ext4`).
    pub target: String,
    /// The `--target` spec it was built from (e.g. `bh:block_size=1k`).
    pub spec: String,
    /// Wall time of the measurement, in nanoseconds.
    pub runtime_ns: u64,
    /// Per op kind (`read`, `write`, `fsync`, ...).
    pub ops: BTreeMap<String, OpSummary>,
    /// The target's counters (fsimpl stats, or block-device deltas for kernel targets).
    pub stats: BTreeMap<String, u64>,
    /// What steady-state detection found, for jobs with `ss_dur` (fio's `steadystate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steadystate: Option<crate::SteadyStateStats>,
    /// What the `latency_target` search found, for a job that set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_target: Option<LatencyDepth>,
}

/// The queue depth fio's `latency_target` search settled on, with the target it met (fio's
/// `latency : target=..., window=..., percentile=..., depth=...` line).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyDepth {
    /// The depth found (of the last thread, for a report of several, as fio's).
    pub depth: u32,
    /// `latency_target`, ns.
    pub target_ns: u64,
    /// `latency_window`, ns.
    pub window_ns: u64,
    /// `latency_percentile`.
    pub percentile: f64,
}

/// Throughput and latency of one op kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    /// Ops completed.
    pub count: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Ops per second of runtime.
    pub iops: f64,
    /// Bytes per second of runtime (rounded, as fio's `bw_bytes`).
    pub bw_bytes: u64,
    /// Latency percentiles, in nanoseconds: the whole latency of each op (fio's lat).
    pub lat_ns: LatencySummary,
    /// Submission latency (fio's slat) of I/Os an asynchronous engine queued; absent for
    /// synchronous engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slat_ns: Option<LatencySummary>,
    /// Completion latency (fio's clat) of I/Os an asynchronous engine queued; for synchronous
    /// engines it is `lat_ns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clat_ns: Option<LatencySummary>,
    /// The job's own `percentile_list`, when it gave one: `[percentile, ns]` pairs of the
    /// latency its percentiles are of (clat, or lat with `lat_percentiles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<(f64, u64)>,
}

fn is_default(l: &Latencies) -> bool {
    *l == Latencies::default()
}

/// Latency statistics in nanoseconds, read off the op's HdrHistogram (values are the highest
/// value equivalent to the bucket, as HdrHistogram reports them; exact below 2048 ns, within
/// 0.1% above).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Lowest latency.
    pub min: u64,
    /// Mean latency.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    #[serde(rename = "p99.9")]
    pub p99_9: u64,
    /// 99.99th percentile.
    #[serde(rename = "p99.99")]
    pub p99_99: u64,
    /// Highest latency.
    pub max: u64,
}

pub use vocab::quantile_of;

impl Summary {
    /// The job of this name.
    pub fn job(&self, name: &str) -> Option<&JobSummary> {
        self.jobs.iter().find(|j| j.job == name)
    }
}

impl JobSummary {
    /// The target of this name.
    pub fn target(&self, name: &str) -> Option<&TargetSummary> {
        self.targets.iter().find(|t| t.target == name)
    }
}

impl OpSummary {
    /// Summarise a finished record over `runtime_ns`, for a job with the latency switches
    /// `latencies`.
    pub fn from_record(record: &OpRecord, runtime_ns: u64, latencies: &Latencies) -> Self {
        let count = record.count();
        let secs = runtime_ns as f64 / 1e9;
        let per_sec = |x: u64| if secs > 0.0 { x as f64 / secs } else { 0.0 };
        OpSummary {
            count,
            bytes: record.bytes,
            iops: per_sec(count),
            bw_bytes: per_sec(record.bytes).round() as u64,
            lat_ns: LatencySummary::from_histogram(record.total_latency()),
            slat_ns: record.slat.as_ref().map(LatencySummary::from_histogram),
            clat_ns: record.lat.as_ref().map(|_| LatencySummary::from_histogram(&record.histogram)),
            percentiles: match latencies.percentiles_of() {
                Some(kind) if latencies.percentile_list != Percentiles::default() && count > 0 => {
                    let h = if kind == LatencyKind::Lat { record.total_latency() } else { &record.histogram };
                    latencies
                        .percentile_list
                        .as_slice()
                        .iter()
                        .map(|&p| (p, h.value_at_quantile(quantile_of(p))))
                        .collect()
                }
                _ => Vec::new(),
            },
        }
    }

    /// Bandwidth in bytes per second as a float.
    pub fn bw(&self) -> f64 {
        self.bw_bytes as f64
    }
}

impl LatencySummary {
    /// Read the statistics off a histogram (all zero when it is empty).
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary { min: 0, mean: 0.0, p50: 0, p90: 0, p99: 0, p99_9: 0, p99_99: 0, max: 0 };
        }
        LatencySummary {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}
