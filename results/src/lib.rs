//! Recording, storing, plotting, comparing and gating aopsbench results.
//!
//! The harness uses this crate in four steps:
//!
//! 1. **Record.** Each worker thread keeps a [`RecorderSet`] (one [`OpRecorder`] per op kind:
//!    `read`, `write`, `fsync`, ...). [`OpRecorder::record`] puts one op's latency into an
//!    HdrHistogram (1 ns .. 1 h, 3 significant digits) and keeps a histogram per second for the
//!    interval logs and throughput over time. At the end, [`merge_threads`] folds the threads'
//!    [`OpRecord`]s into one per op kind.
//! 2. **Write.** A [`RunWriter`] creates the run directory and `run.json`; each finished job ×
//!    target goes in as a [`TargetResult`] (its `.hlog` and `.hgrm` files are written at once);
//!    [`RunWriter::job_table`] gives the terminal table; [`RunWriter::finish`] writes
//!    `latency.csv`, `throughput.csv`, `fio.json` and, last, `summary.json`. Every file is
//!    written to a temporary name and renamed, so a run that fails midway never leaves a
//!    `summary.json` behind.
//! 3. **Look.** [`plot()`] draws SVG and PNG charts; [`html::write_report`] puts one or more
//!    runs on one self-contained HTML page; [`compare_dirs`] diffs two runs and
//!    [`plot_comparison`] draws the difference.
//! 4. **Gate.** [`write_baseline`] keeps a run's counters and in-run timing ratios;
//!    [`check`] compares a later run with it and returns a [`GateReport`].
//!
//! Everything after step 2 reads only the run directory ([`RunDir::load`]), so it works on old
//! runs. See [`run_dir`] for the directory layout, [`fio`] for the fio mapping and [`gate`] for
//! the gate's rules.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::SystemTime;
//! use results::{RecorderSet, RunWriter, TargetResult, merge_threads};
//!
//! # fn main() -> Result<(), results::ResultsError> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let run_dir = dir.path().join("run");
//! let mut run = RunWriter::create(&run_dir, "0.1.0", &serde_json::json!({"command": "doc"}))?;
//!
//! for target in ["bh", "iomap"] {
//!     // One worker thread: 1000 4 KiB reads of 1..=1000 µs, completing over two seconds.
//!     let mut thread = RecorderSet::new();
//!     for i in 1..=1000u64 {
//!         thread.record("read", i * 2_000_000, i * 1_000, 4096);
//!     }
//!     let mut counters = BTreeMap::new();
//!     counters.insert("dev_reads".to_string(), 250);
//!     run.add(TargetResult {
//!         job: "randread".into(),
//!         target: target.into(),
//!         spec: target.into(),
//!         started: SystemTime::now(),
//!         runtime_ns: 2_000_000_000,
//!         ops: merge_threads([thread.finish()])?,
//!         counters,
//!         stats: Default::default(),
//!     })?;
//! }
//! print!("{}", run.job_table("randread").unwrap_or_default());
//! let summary = run.finish()?;
//! assert_eq!(summary.jobs[0].targets[1].ops["read"].lat_ns.p50, 500_223);
//!
//! let charts = results::plot(&run_dir)?; // plots/latency-randread-read.svg, .png, ...
//! assert!(!charts.is_empty());
//!
//! let baseline = dir.path().join("baseline.json");
//! results::write_baseline(&run_dir, &baseline)?;
//! let report = results::check(&baseline, &run_dir, results::DEFAULT_TOLERANCE)?;
//! assert!(!report.is_regression(), "{report}");
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod atomic;
pub mod compare;
mod error;
pub mod fio;
pub mod fio_log;
pub mod gate;
pub mod hdr;
pub mod hosts;
pub mod html;
pub mod intervals;
pub mod plot;
mod recorder;
pub mod report;
pub mod run_dir;
pub mod steadystate;
pub mod summary;
pub mod table;
pub mod thread_stats;
pub mod units;
pub mod wire;

pub use atomic::{write_atomic, write_atomic_with};
pub use compare::{Comparison, compare, compare_dirs, compare_runs};
pub use error::ResultsError;
pub use gate::{Baseline, DEFAULT_TOLERANCE, GateReport, check, write_baseline, write_baseline_with};
pub use plot::{plot, plot_comparison, plot_run};
pub use recorder::{
    HIGHEST_NS, INTERVAL_NS, IntervalSample, LOWEST_NS, OpRecord, OpRecorder, RecorderSet, SIGNIFICANT_DIGITS,
    merge_threads, new_histogram,
};
pub use report::job_table;
pub use run_dir::{RunDir, RunWriter, TargetResult};
pub use steadystate::SteadyStateStats;
pub use summary::{JobSummary, LatencyDepth, LatencySummary, OpSummary, Summary, TargetSummary};
pub use thread_stats::{CpuUsage, DepthStats, DiskUtil, ErrorStats, JobStats, ThreadStats};
