//! fio's log files of a run: which a job asks for, and where they go (one folder per target in
//! the run directory, named as fio names them; the formats are `results::fio_log`'s).

use super::JobOutcome;
use results::fio_log::{LogConfig, ThreadLogs, log_file_name};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use workloads::Job;
use workloads::fio::Logs;

/// The logs `logs` asks a thread for.
pub fn config(logs: &Logs) -> LogConfig {
    LogConfig {
        lat: logs.lat.is_some(),
        bw: logs.bw.is_some(),
        iops: logs.iops.is_some(),
        hist: logs.hist.is_some(),
        avg_msec: logs.avg_msec,
        hist_msec: logs.hist_msec,
        offset: logs.offset,
        prio: logs.prio,
    }
}

/// The prefix of one log of `job` (fio: the option's value, else the job's name). Only its last
/// path component is kept, so every log stays inside the run directory.
fn prefix(job: &Job, value: &str) -> String {
    let name = if value.is_empty() { job.name.as_str() } else { value };
    Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or(job.name.as_str()).to_string()
}

/// The log files of every job of a file on one target, as fio writes them: each thread's
/// `PREFIX_SUFFIX.N.log`, N being fio's thread number (from 1 across the whole file, in job
/// order), or with `per_job_logs=0` one `PREFIX_SUFFIX.log` that every thread appends to.
/// `outcomes[j]` is job `j`'s outcome on the target. Returns file name → text.
pub fn files<'a>(jobs: &[Job], outcomes: impl Fn(usize) -> &'a JobOutcome) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut thread_number = 0u32;
    for (j, job) in jobs.iter().enumerate() {
        let outcome = outcomes(j);
        let l = &job.control.logs;
        let kinds = [
            (&l.lat, ["lat", "clat", "slat"].as_slice()),
            (&l.bw, &["bw"]),
            (&l.iops, &["iops"]),
            (&l.hist, &["clat_hist"]),
        ];
        for logs in &outcome.logs {
            thread_number += 1;
            for (value, suffixes) in &kinds {
                let Some(value) = value else { continue };
                let p = prefix(job, value);
                for suffix in *suffixes {
                    let name = log_file_name(&p, suffix, l.per_job.then_some(thread_number));
                    out.entry(name).or_default().push_str(ThreadLogs::get(logs, suffix));
                }
            }
        }
    }
    out
}

/// Writes `files` into `dir` (created); returns the paths written.
pub fn write(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<PathBuf>, results::ResultsError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(|e| results::ResultsError::Io { path: dir.to_path_buf(), source: e })?;
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in files {
        let path = dir.join(name);
        results::write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
