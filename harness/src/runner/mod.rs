//! Running one job on one target: layout, remount, then the measured phase with one thread
//! per `numjobs`, paced by `rate_iops` and `thinktime`, recording every op's latency.

mod worker;

use crate::targets::{FileId, IoMode, Target, TargetError};
use results::OpRecord;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};
use workloads::fio::IoEngine;
use workloads::{Job, Op, ThreadPlan};

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
    /// Length of the measured phase (after ramp time).
    pub runtime_ns: u64,
    /// Latency records per op kind, threads merged.
    pub ops: BTreeMap<String, OpRecord>,
    /// The target's counters for the measured phase.
    pub counters: BTreeMap<String, u64>,
}

/// Live progress of a running job, read by the progress bar.
#[derive(Default)]
pub struct Progress {
    /// Bytes moved so far by the measured phase.
    pub bytes: AtomicU64,
    /// Ops done so far.
    pub ops: AtomicU64,
}

/// Runs `job` on `target`: files opened (created), layout ops, a remount, counters reset,
/// then the measured ops of every thread.
pub fn run_job(job: &Job, target: &dyn Target, progress: &Progress) -> Result<JobOutcome, RunError> {
    let fail = |phase: String| {
        let job = job.name.clone();
        let target = target.spec().to_string();
        move |source| RunError::Target { job, target, phase, source }
    };
    if job.control.ioengine == IoEngine::Null && target.kind() != "null" {
        return Err(RunError::Unsupported {
            job: job.name.clone(),
            target: target.spec().into(),
            why: "ioengine=null does no I/O: run it on the null target (--targets null)".into(),
        });
    }
    let mode = IoMode { uring: job.control.ioengine == IoEngine::IoUring, direct: job.control.direct };
    target.set_io_mode(mode).map_err(fail("set up I/O".into()))?;
    let plans = job.threads();
    let mut files: Vec<Vec<FileId>> = Vec::with_capacity(plans.len());
    for plan in &plans {
        let mut fids = Vec::with_capacity(plan.files.len());
        for f in &plan.files {
            fids.push(target.open(&f.name, true).map_err(fail(format!("open {}", f.name)))?);
        }
        files.push(fids);
    }
    let mut scratch = worker::Buffers::new(job_max_io(&plans));
    for (plan, fids) in plans.iter().zip(&files) {
        for (i, op) in plan.layout.iter().enumerate() {
            execute(target, fids, op, &mut scratch).map_err(fail(format!(
                "layout of thread {}, op {i} ({})",
                plan.thread,
                describe(op)
            )))?;
        }
    }
    target.remount().map_err(fail("remount after layout".into()))?;
    target.reset_counters();

    let abort = AtomicBool::new(false);
    let started = SystemTime::now();
    let t0 = Instant::now();
    let ramp = job.control.ramp_time.unwrap_or_default();
    let measure_from = t0 + ramp;
    let stop = job.control.runtime.map(|r| measure_from + r);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .into_iter()
            .zip(&files)
            .map(|(plan, fids)| {
                let abort = &abort;
                s.spawn(move || {
                    let w = worker::Worker { target, fids, measure_from, stop, progress, abort };
                    let r = w.run(plan);
                    if r.is_err() {
                        abort.store(true, Relaxed);
                    }
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker threads do not panic")).collect()
    });
    let runtime_ns = measure_from.elapsed().as_nanos() as u64;
    let mut threads = Vec::new();
    for r in results {
        match r {
            Ok(t) => threads.push(t),
            Err((phase, source)) => return Err(fail(phase)(source)),
        }
    }
    let ops = results::merge_threads(threads).map_err(|e| RunError::Unsupported {
        job: job.name.clone(),
        target: target.spec().into(),
        why: format!("merging thread records: {e}"),
    })?;
    Ok(JobOutcome { started, runtime_ns: runtime_ns.max(1), ops, counters: target.counters() })
}

/// The largest I/O any thread's ops will need a buffer for.
fn job_max_io(plans: &[ThreadPlan]) -> usize {
    let layout = plans.iter().flat_map(|p| &p.layout).map(|op| op.io_bytes()).max().unwrap_or(0);
    layout.max(1 << 20) as usize
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

/// Sleeps until `t` (pacing for `rate_iops`).
fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// The interval between ops for a rate.
fn interval(rate: Option<u64>) -> Option<Duration> {
    rate.filter(|&r| r > 0).map(|r| Duration::from_nanos(1_000_000_000 / r))
}
