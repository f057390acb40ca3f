//! Reading a finished run directory back, for `plot`, `compare` and `gate` on old runs.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde_json::Value;

use super::csv_files::{self, ThroughputRow};
use super::layout;
use crate::error::{ResultsError, io_err};
use crate::hdr::{self, LoggedInterval};
use crate::summary::Summary;

/// A finished run directory, loaded.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Where it is.
    pub path: PathBuf,
    /// `run.json`: what ran.
    pub run: Value,
    /// `summary.json`: the results.
    pub summary: Summary,
    /// `throughput.csv`: ops and bytes per second.
    pub throughput: Vec<ThroughputRow>,
}

impl RunDir {
    /// Load `run.json`, `summary.json` and `throughput.csv` from `path`.
    ///
    /// A directory without `summary.json` is a run that did not finish and is refused.
    pub fn load(path: &Path) -> Result<RunDir, ResultsError> {
        if !path.is_dir() {
            return Err(ResultsError::Missing {
                path: path.to_path_buf(),
                hint: String::from("give the directory a run wrote (its --out)"),
            });
        }
        let summary_path = path.join(layout::SUMMARY_JSON);
        if !summary_path.exists() {
            return Err(ResultsError::Missing {
                path: summary_path,
                hint: String::from("the run did not finish; run it again"),
            });
        }
        let summary: Summary = read_json(&summary_path)?;
        let run: Value = read_json(&path.join(layout::RUN_JSON))?;
        let throughput_path = path.join(layout::THROUGHPUT_CSV);
        let throughput = csv_files::read_csv(&throughput_path)?;
        Ok(RunDir { path: path.to_path_buf(), run, summary, throughput })
    }

    /// The definition of job `job` as `run.json` records it (`jobs[].fio`: the job as fio
    /// options, one per line), if the run recorded one.
    pub fn job_definition(&self, job: &str) -> Option<&str> {
        self.run
            .get("jobs")?
            .as_array()?
            .iter()
            .find(|j| j.get("name").and_then(Value::as_str) == Some(job))?
            .get("fio")?
            .as_str()
    }

    /// The interval log of one job × target × op.
    pub fn hlog_path(&self, job: &str, target: &str, op: &str) -> PathBuf {
        layout::hlog_path(&self.path, job, target, op)
    }

    /// The per-second latency histograms of one job × target × op, from its `.hlog`.
    pub fn intervals(&self, job: &str, target: &str, op: &str) -> Result<Vec<LoggedInterval>, ResultsError> {
        let path = self.hlog_path(job, target, op);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ResultsError::Missing {
                    path,
                    hint: String::from("the run directory is incomplete; run the job again"),
                });
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        hdr::read_interval_log(&bytes).map_err(|message| ResultsError::HistogramLog { path, message })
    }

    /// The whole-run latency histogram of one job × target × op (the sum of its intervals).
    pub fn histogram(&self, job: &str, target: &str, op: &str) -> Result<Histogram<u64>, ResultsError> {
        hdr::total_of(&self.intervals(job, target, op)?)
            .map_err(|message| ResultsError::HistogramLog { path: self.hlog_path(job, target, op), message })
    }

    /// The throughput rows of one job × target, in file order.
    pub fn throughput_of<'a>(&'a self, job: &'a str, target: &'a str) -> impl Iterator<Item = &'a ThroughputRow> + 'a {
        self.throughput.iter().filter(move |r| r.job == job && r.target == target)
    }
}

/// Read and parse a JSON file.
pub(crate) fn read_json<T: for<'de> serde::Deserialize<'de>>(path: &Path) -> Result<T, ResultsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ResultsError::Missing {
                path: path.to_path_buf(),
                hint: String::from("the run directory is incomplete"),
            });
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    serde_json::from_slice(&bytes).map_err(|source| ResultsError::Json { path: path.to_path_buf(), source })
}
