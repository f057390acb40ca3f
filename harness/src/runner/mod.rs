//! Running one job on one target: layout, remount, then the measured phase with one thread
//! per `numjobs`, paced by `rate_iops` and `thinktime`, recording every op's latency.

mod flow;
pub mod group;
mod lat_target;
pub mod logs;
mod numa;
mod offload;
mod openfiles;
mod pace;
pub mod prio;
pub mod steadystate;
pub mod support;
mod worker;

use crate::targets::{Target, TargetError};
use results::{OpRecord, ThreadStats};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;
use workloads::{Job, Op};

pub use worker::{Buffers, execute};

/// What went wrong running a job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The target refused the setup or an op failed.
    #[error("job {job} on {target}: {phase}: {source}")]
    Target {
        /// Job name.
        job: String,
        /// Target spec.
        target: String,
        /// Where: "layout", "remount", "thread 2, op 1234 (write 4096 bytes at 8192)".
        phase: String,
        /// The failure.
        source: TargetError,
    },
    /// Another rank of a many-host run failed, so this one stops too.
    #[error("{source}")]
    OtherRank {
        /// Which rank, where, and why.
        source: crate::ranks::RankFailure,
    },
    /// A verify read found other bytes than the job wrote there.
    #[error("job {job} on {target}: verify: file {file} offset {offset}: {what}")]
    Verify {
        /// Job name.
        job: String,
        /// Target spec.
        target: String,
        /// The file, as the job names it.
        file: String,
        /// File offset of the block that failed.
        offset: u64,
        /// What was checked, expected and found.
        what: String,
    },
    /// The job and target cannot go together.
    #[error("job {job} on {target}: {why}")]
    Unsupported {
        /// Job name.
        job: String,
        /// Target spec.
        target: String,
        /// Why.
        why: String,
    },
}

/// What a job did on a target.
pub struct JobOutcome {
    /// When the measured phase started.
    pub started: SystemTime,
    /// Length of the measured phase (after ramp time), without the time offset.
    pub runtime_ns: u64,
    /// Latency records per op kind, threads merged.
    pub ops: BTreeMap<String, OpRecord>,
    /// The same per thread (fio reports each thread unless `group_reporting`).
    pub threads: Vec<BTreeMap<String, OpRecord>>,
    /// Each thread's CPU use and depth maps, in the order of `threads`.
    pub thread_stats: Vec<ThreadStats>,
    /// Each thread's fio log texts, in the order of `threads`.
    pub logs: Vec<results::fio_log::ThreadLogs>,
    /// Each thread's latencies by I/O priority, in the order of `threads`.
    pub prios: Vec<results::prio::ThreadPrios>,
    /// The target's counters for the measured phase (of every job that ran with this one).
    pub counters: BTreeMap<String, u64>,
    /// The target's block device over the measured phase (of every job that ran with this one).
    pub disk: Option<results::DiskUtil>,
    /// A job of its group ended with `exitall` and `exit_what=all`: every job was stopped, and
    /// no later group runs (fio's `TERMINATE_ALL`).
    pub exit_all: bool,
    /// Per thread, what steady-state detection found of the report it carries (a report's
    /// last thread; `None` for the others and for jobs without `ss_dur`).
    pub steadystate: Vec<Option<results::SteadyStateStats>>,
}

impl JobOutcome {
    /// The outcome of a job that never started (a job before it ended with `exit_what=all`):
    /// each thread with no I/O.
    pub fn never_started(job: &Job) -> JobOutcome {
        let threads = job.numjobs.max(1) as usize;
        JobOutcome {
            started: SystemTime::now(),
            runtime_ns: 1,
            ops: BTreeMap::new(),
            threads: vec![BTreeMap::new(); threads],
            thread_stats: vec![ThreadStats::default(); threads],
            logs: vec![results::fio_log::ThreadLogs::default(); threads],
            prios: vec![results::prio::ThreadPrios::default(); threads],
            counters: BTreeMap::new(),
            disk: None,
            exit_all: true,
            steadystate: vec![None; threads],
        }
    }
}

/// Live progress of a running job, read by the progress bar.
#[derive(Default)]
pub struct Progress {
    /// Bytes moved so far by the measured phase.
    pub bytes: AtomicU64,
    /// Ops done so far.
    pub ops: AtomicU64,
}

/// Runs `job` alone on `target`: files opened (created), laid out, the cache dropped,
/// counters reset, then the measured ops of every thread (see [`group::run_group`]).
pub fn run_job(job: &Job, target: &dyn Target, progress: &Progress) -> Result<JobOutcome, RunError> {
    let mut out = group::run_group(&[job], target, std::slice::from_ref(progress), &[0])?;
    Ok(out.remove(0))
}

/// One line for an op, for error messages.
pub fn describe(op: &Op) -> String {
    match op {
        Op::Read { file, offset, len } => format!("read of {len} bytes at {offset} in file {file}"),
        Op::Write { file, offset, len, .. } => format!("write of {len} bytes at {offset} in file {file}"),
        Op::Truncate { file, size } => format!("truncate file {file} to {size}"),
        Op::Fallocate { file, mode, offset, len } => format!("fallocate {mode:?} {offset}+{len} in file {file}"),
        Op::Fsync { file } => format!("fsync of file {file}"),
        Op::Fdatasync { file } => format!("fdatasync of file {file}"),
        Op::Remount => "remount".into(),
        Op::DropCaches => "drop_caches".into(),
        Op::PowerCut { after_writes } => format!("power cut after {after_writes} device writes"),
    }
}
