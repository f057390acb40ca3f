//! Where each file lives in a run directory.

use std::path::{Path, PathBuf};

/// What ran: command, job text, targets, versions, kernel, machine (given by the harness). This
/// crate reads only `jobs[].name` and `jobs[].fio` (each job's definition, for `compare`), and
/// shows the rest as it is in the HTML report.
pub const RUN_JSON: &str = "run.json";
/// The HTML report of one or more runs.
pub const REPORT_HTML: &str = "report.html";
/// The results; written last, so its presence means the run finished.
pub const SUMMARY_JSON: &str = "summary.json";
/// Latency percentiles: job, target, op, percentile, ns.
pub const LATENCY_CSV: &str = "latency.csv";
/// Ops and bytes per second: job, target, op, second, duration_ns, ops, bytes.
pub const THROUGHPUT_CSV: &str = "throughput.csv";
/// The run in fio's json+ schema.
pub const FIO_JSON: &str = "fio.json";
/// HdrHistogram interval logs and percentile distributions.
pub const HDR_DIR: &str = "hdr";
/// SVG and PNG charts.
pub const PLOTS_DIR: &str = "plots";
/// fio's log files (`write_lat_log`, ...), one folder per target:
/// `fio-logs/<target>/<prefix>_lat.1.log`.
pub const FIO_LOGS_DIR: &str = "fio-logs";

/// The folder of one target's fio log files.
pub fn fio_logs_dir(dir: &Path, target: &str) -> PathBuf {
    dir.join(FIO_LOGS_DIR).join(file_part(target))
}

/// A name made safe and unambiguous as part of a file name: ASCII letters, digits and `-_+=,`
/// stay; every other byte becomes `%XX`, so distinct names never share a file.
pub fn file_part(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_+=,".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `hdr/<job>@<target>.<op>.<extension>`.
fn hdr_file(dir: &Path, job: &str, target: &str, op: &str, extension: &str) -> PathBuf {
    dir.join(HDR_DIR).join(format!("{}@{}.{}.{extension}", file_part(job), file_part(target), file_part(op)))
}

/// The interval log of one job × target × op.
pub fn hlog_path(dir: &Path, job: &str, target: &str, op: &str) -> PathBuf {
    hdr_file(dir, job, target, op, "hlog")
}

/// The percentile distribution of one job × target × op.
pub fn hgrm_path(dir: &Path, job: &str, target: &str, op: &str) -> PathBuf {
    hdr_file(dir, job, target, op, "hgrm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_injectively() {
        assert_eq!(file_part("randrw-4k"), "randrw-4k");
        assert_eq!(file_part("bh:block_size=1k"), "bh%3Ablock_size=1k");
        assert_ne!(file_part("a.b"), file_part("a_b"));
        assert_eq!(hlog_path(Path::new("r"), "j", "a.b", "read"), Path::new("r/hdr/j@a%2Eb.read.hlog"));
    }
}
