//! Writing a run directory while the run goes on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use super::csv_files::{self, LatencyRow, ThroughputRow};
use super::layout;
use crate::atomic::write_atomic;
use crate::error::{ResultsError, io_err};
use crate::fio::{self, FioJobInput};
use crate::hdr;
use crate::recorder::OpRecord;
use crate::report;
use crate::summary::{JobSummary, LatencyDepth, OpSummary, Summary, TargetSummary};
use crate::thread_stats::{DiskUtil, JobStats};

/// What the harness hands over when one job has finished on one target.
#[derive(Debug, Clone)]
pub struct TargetResult {
    /// Job name (the fio job section).
    pub job: String,
    /// Target name, unique within the job.
    pub target: String,
    /// The `--target` spec the target was built from.
    pub spec: String,
    /// Wall-clock time of the recorders' epoch (when the measurement started).
    pub started: SystemTime,
    /// Wall time of the measurement, in nanoseconds.
    pub runtime_ns: u64,
    /// One merged record per op kind.
    pub ops: BTreeMap<String, OpRecord>,
    /// The target's counters at the end of the measurement.
    pub counters: BTreeMap<String, u64>,
    /// CPU use, queue depths, errors, the job's latency switches and the disk (fio.json).
    pub stats: JobStats,
}

/// Writes a run directory: `run.json` at once, each job × target's HdrHistogram files as it is
/// added, and the run-wide files on [`RunWriter::finish`] — `summary.json` last, so a run that
/// stops midway leaves no summary that looks complete.
#[derive(Debug)]
pub struct RunWriter {
    dir: PathBuf,
    started: SystemTime,
    summary: Summary,
    fio_jobs: Vec<Value>,
    /// Each job's options from run.json (`jobs[].fio`), echoed in fio.json.
    job_options: BTreeMap<String, Vec<(String, String)>>,
    latency: Vec<LatencyRow>,
    throughput: Vec<ThroughputRow>,
    /// Each block device's statistics over the jobs that ran on it (fio.json's `disk_util`).
    disks: Vec<DiskUtil>,
}

/// `key=value` lines of each job's canonical fio section in `run_info["jobs"]`.
fn job_options(run_info: &Value) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    for j in run_info.get("jobs").and_then(Value::as_array).into_iter().flatten() {
        let (Some(name), Some(fio)) = (j.get("name").and_then(Value::as_str), j.get("fio").and_then(Value::as_str))
        else {
            continue;
        };
        let pairs =
            fio.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        out.insert(name.to_string(), pairs);
    }
    out
}

impl RunWriter {
    /// Create `dir` (which must not exist or be empty) and write `run.json` with `run_info`.
    pub fn create(dir: &Path, aopsbench_version: &str, run_info: &Value) -> Result<RunWriter, ResultsError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
        if entries.next().is_some() {
            return Err(ResultsError::OutputExists { path: dir.to_path_buf() });
        }
        let hdr_dir = dir.join(layout::HDR_DIR);
        std::fs::create_dir_all(&hdr_dir).map_err(io_err(&hdr_dir))?;
        let run_path = dir.join(layout::RUN_JSON);
        write_atomic(&run_path, &to_json(&run_path, run_info)?)?;
        Ok(RunWriter {
            dir: dir.to_path_buf(),
            started: SystemTime::now(),
            summary: Summary { aopsbench_version: aopsbench_version.to_string(), jobs: Vec::new() },
            fio_jobs: Vec::new(),
            job_options: job_options(run_info),
            latency: Vec::new(),
            throughput: Vec::new(),
            disks: Vec::new(),
        })
    }

    /// The options of job `name` (or of the job whose thread it is: `name.N`).
    fn options_of(&self, name: &str) -> &[(String, String)] {
        let base = name.rsplit_once('.').filter(|(_, n)| n.parse::<u32>().is_ok()).map_or(name, |(b, _)| b);
        self.job_options.get(name).or_else(|| self.job_options.get(base)).map_or(&[], Vec::as_slice)
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The summary so far (jobs and targets added until now).
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Record one job × target: writes its `.hlog` and `.hgrm` files now and keeps the rest for
    /// [`RunWriter::finish`]. Returns its summary.
    pub fn add(&mut self, result: TargetResult) -> Result<&TargetSummary, ResultsError> {
        check_name("job", &result.job)?;
        check_name("target", &result.target)?;
        for op in result.ops.keys() {
            check_name("op", op)?;
        }
        if self.summary.job(&result.job).is_some_and(|j| j.target(&result.target).is_some()) {
            return Err(ResultsError::DuplicateTarget { job: result.job, target: result.target });
        }
        let TargetResult { job, target, spec, started, runtime_ns, ops, counters, stats } = result;

        for (op, record) in &ops {
            let title =
                format!("aopsbench interval log: job {job}, target {target} ({spec}), op {op}; latencies in ns");
            let hlog = layout::hlog_path(&self.dir, &job, &target, op);
            let bytes = hdr::interval_log(record, started, runtime_ns, &title)
                .map_err(|message| ResultsError::HistogramLog { path: hlog.clone(), message })?;
            write_atomic(&hlog, &bytes)?;
            let hgrm = layout::hgrm_path(&self.dir, &job, &target, op);
            write_atomic(&hgrm, hdr::percentile_distribution(&record.histogram).as_bytes())?;
            self.latency.extend(csv_files::latency_rows(&job, &target, op, record));
            self.throughput.extend(csv_files::throughput_rows(&job, &target, op, record, runtime_ns));
        }
        if let Some(d) = &stats.disk {
            match self.disks.iter_mut().find(|o| o.name == d.name) {
                Some(o) => o.add(d),
                None => self.disks.push(d.clone()),
            }
        }
        let groupid = self.fio_jobs.len();
        self.fio_jobs.push(fio::fio_job(
            FioJobInput {
                job: &job,
                target: &target,
                spec: &spec,
                runtime_ns,
                ops: &ops,
                counters: &counters,
                options: self.options_of(&job),
                stats: &stats,
                started,
            },
            groupid,
        ));
        let target_summary = TargetSummary {
            target,
            spec,
            runtime_ns,
            ops: ops
                .iter()
                .map(|(op, r)| (op.clone(), OpSummary::from_record(r, runtime_ns, &stats.latencies)))
                .collect(),
            stats: counters,
            steadystate: stats.steadystate.clone(),
            latency_target: stats.latency_target.enabled().then_some(LatencyDepth {
                depth: stats.threads.latency_depth,
                target_ns: stats.latency_target.target.as_nanos() as u64,
                window_ns: stats.latency_target.window.as_nanos() as u64,
                percentile: stats.latency_target.percentile,
            }),
        };
        let index = match self.summary.jobs.iter().position(|j| j.job == job) {
            Some(i) => i,
            None => {
                self.summary.jobs.push(JobSummary { job, latencies: stats.latencies.clone(), targets: Vec::new() });
                self.summary.jobs.len() - 1
            }
        };
        let targets = &mut self.summary.jobs[index].targets;
        targets.push(target_summary);
        Ok(&targets[targets.len() - 1])
    }

    /// The terminal table of one job so far (see [`report::job_table`]).
    pub fn job_table(&self, job: &str) -> Option<String> {
        self.summary.job(job).map(report::job_table)
    }

    /// Write `latency.csv`, `throughput.csv`, `fio.json` and, last, `summary.json`.
    pub fn finish(self) -> Result<Summary, ResultsError> {
        csv_files::write_csv(&self.dir.join(layout::LATENCY_CSV), &self.latency)?;
        csv_files::write_csv(&self.dir.join(layout::THROUGHPUT_CSV), &self.throughput)?;
        let fio_path = self.dir.join(layout::FIO_JSON);
        let doc = fio::fio_document(&self.summary.aopsbench_version, self.started, self.fio_jobs, &self.disks);
        write_atomic(&fio_path, &to_json(&fio_path, &doc)?)?;
        let summary_path = self.dir.join(layout::SUMMARY_JSON);
        write_atomic(&summary_path, &to_json(&summary_path, &self.summary)?)?;
        Ok(self.summary)
    }
}

/// Pretty JSON with a final newline.
pub(crate) fn to_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, ResultsError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|source| ResultsError::Json { path: path.to_path_buf(), source })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn check_name(what: &'static str, name: &str) -> Result<(), ResultsError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(ResultsError::BadName { what, name: name.to_string(), reason })
}
