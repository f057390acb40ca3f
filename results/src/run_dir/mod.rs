//! The run directory: written by [`RunWriter`] during a run, read back by [`RunDir::load`].
//!
//! ```text
//! run.json          what ran (command, job text, targets, versions, kernel, machine)
//! summary.json      per job × target × op: count, bytes, IOPS, bandwidth, latency percentiles;
//!                   per job × target: the counters. Written last: its presence = run finished
//! latency.csv       job, target, op, percentile, ns
//! throughput.csv    job, target, op, second, duration_ns, ops, bytes
//! fio.json          fio's json+ schema, one fio job per job@target
//! hdr/JOB@TARGET.OP.hlog   HdrHistogram interval log, one V2-deflate histogram per second
//! hdr/JOB@TARGET.OP.hgrm   percentile distribution (hdr-plot input; values in µs)
//! plots/            SVG and PNG charts (see `plot`)
//! report.html       everything above on one self-contained page (see `html`)
//! ```

mod csv_files;
mod layout;
mod load;
mod writer;

pub use csv_files::{CSV_PERCENTILES, LatencyRow, ThroughputRow};
pub(crate) use csv_files::{read_csv, write_csv};
pub use layout::{
    FIO_JSON, FIO_LOGS_DIR, HDR_DIR, LATENCY_CSV, PLOTS_DIR, REPORT_HTML, RUN_JSON, SUMMARY_JSON, THROUGHPUT_CSV,
    file_part, fio_logs_dir, hgrm_path, hlog_path,
};
pub use load::RunDir;
pub(crate) use load::read_json;
pub(crate) use writer::to_json;
pub use writer::{RunWriter, TargetResult};
