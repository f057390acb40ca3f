//! fio's latency profiling: `latency_target`, `latency_window`, `latency_percentile` and
//! `latency_run` — the search for the highest queue depth that keeps a job's latency under a
//! target.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// fio's latency-target options of one job (`struct thread_options`: `latency_target`,
/// `latency_window`, `latency_percentile`, `latency_run`), with fio's defaults: no target,
/// a window of 0 (checked after every I/O), 100 percent, `latency_run=0`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyTarget {
    /// `latency_target=`: the highest latency (fio's lat: issue to completion) an I/O may
    /// have; zero: no target, the job runs at its `iodepth`.
    pub target: Duration,
    /// `latency_window=`: how long each queue depth is tried before it is judged.
    pub window: Duration,
    /// `latency_percentile=`: the percentage of the window's I/Os that must meet the target
    /// (0 to 100).
    pub percentile: f64,
    /// `latency_run`: keep adjusting the depth for the whole run rather than stopping once
    /// it settles.
    pub run: bool,
}

impl Default for LatencyTarget {
    fn default() -> Self {
        LatencyTarget { target: Duration::ZERO, window: Duration::ZERO, percentile: 100.0, run: false }
    }
}

impl LatencyTarget {
    /// Whether a target is set (fio's `td->o.latency_target` non-zero).
    pub fn enabled(&self) -> bool {
        !self.target.is_zero()
    }
}
