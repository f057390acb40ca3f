//! Jobs as fio schedules them. The jobs of a file run concurrently, except that `stonewall`
//! waits for every earlier job: [`groups`] cuts the file there. Within a group each job
//! starts once its `wait_for` job has ended, then after its `startdelay`; under `exitall` a
//! thread that ends stops others, as its `exit_what` says ([`Exits`]). [`run_group`] lays the group's files out (a file that already has
//! its size is left as an earlier group wrote it, as fio leaves it), drops the cache once
//! (fio's `invalidate`), resets the counters and runs every thread of every job at once, with
//! fio's steady-state checks beside them when a job has `ss_dur` ([`super::steadystate`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use results::fio_log::ThreadLogs;
use results::prio::ThreadPrios;
use results::{OpRecord, ThreadStats};
use workloads::buffers::Filler;
use workloads::fio::{CpusPolicy, EngineFiles, ExitWhat, IoEngine, NamesSetup, Prealloc, SubmitMode};
use workloads::verify::Verifier;
use workloads::{FallocMode, Job, Op, ThreadPlan};

use super::offload::Workqueue;
use super::worker::{self, Buffers, Failure};
use super::{JobOutcome, Progress, RunError, describe, execute, pace, support};
use crate::engines::EngineConfig;
use crate::targets::{self, FileId, IoMode, Target, TargetError, TargetSpec};

/// The jobs of a file in run groups: a job with `stonewall` starts a new one.
pub fn groups(jobs: &[Job]) -> Vec<Vec<&Job>> {
    let mut out: Vec<Vec<&Job>> = Vec::new();
    for job in jobs {
        match out.last_mut() {
            Some(g) if !job.control.start.stonewall => g.push(job),
            _ => out.push(vec![job]),
        }
    }
    out
}

/// Ends when every thread of a job has: what `wait_for` waits on.
struct Latch {
    left: Mutex<usize>,
    done: Condvar,
}

impl Latch {
    fn new(n: usize) -> Latch {
        Latch { left: Mutex::new(n), done: Condvar::new() }
    }

    fn count_down(&self) {
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.done.notify_all();
        }
    }

    /// Waits until every thread ended, or `abort` is set.
    fn wait(&self, abort: &AtomicBool) {
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        while *left > 0 && !abort.load(Relaxed) {
            left = self.done.wait_timeout(left, Duration::from_millis(50)).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// fio's `exitall`: who stops when a thread ends (`fio_terminate_threads`), per job of the
/// group. A job told to stop before it started never starts, as fio's `run_threads` skips a
/// `td` marked to terminate.
struct Exits {
    /// Per job, per thread: set when the thread is told to stop (fio's `td->terminate`).
    told: Vec<Vec<AtomicBool>>,
    /// Set once a thread of the job has started its I/O (fio's `runstate >= TD_RUNNING`).
    running: Vec<AtomicBool>,
    /// Each job's reporting group within the group (fio's `groupid`, cut at `new_group`).
    groupid: Vec<usize>,
    /// Set when a job ended with `exit_what=all`: no later group starts.
    all: AtomicBool,
}

impl Exits {
    fn new(jobs: &[&Job]) -> Exits {
        let mut id = 0;
        let groupid = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                id += usize::from(i > 0 && j.control.start.new_group);
                id
            })
            .collect();
        Exits {
            told: jobs.iter().map(|j| (0..j.numjobs.max(1)).map(|_| AtomicBool::new(false)).collect()).collect(),
            running: jobs.iter().map(|_| AtomicBool::new(false)).collect(),
            groupid,
            all: AtomicBool::new(false),
        }
    }

    /// A thread of job `ji` ended, and `exitall` is on: stop the jobs its `exit_what` names.
    fn ended(&self, ji: usize, what: ExitWhat) {
        for (k, told) in self.told.iter().enumerate() {
            let stop = match what {
                ExitWhat::Group => self.groupid[k] == self.groupid[ji],
                ExitWhat::Stonewall => self.running[k].load(Relaxed),
                ExitWhat::All => true,
            };
            if stop {
                told.iter().for_each(|t| t.store(true, Relaxed));
            }
        }
        if what == ExitWhat::All {
            self.all.store(true, Relaxed);
        }
    }
}

/// What one thread did.
struct ThreadRun {
    records: BTreeMap<String, OpRecord>,
    stats: ThreadStats,
    logs: ThreadLogs,
    prios: ThreadPrios,
    measure_from: Instant,
    started: SystemTime,
    ended: Instant,
}

impl ThreadRun {
    /// A thread told to stop before it started: no I/O, no time.
    fn never_started() -> ThreadRun {
        let now = Instant::now();
        ThreadRun {
            records: BTreeMap::new(),
            stats: ThreadStats::default(),
            logs: ThreadLogs::default(),
            prios: ThreadPrios::default(),
            measure_from: now,
            started: SystemTime::now(),
            ended: now,
        }
    }
}

/// How `job` opens its files and does its I/O (fio opens each job's files with its own flags).
fn job_mode(job: &Job) -> IoMode {
    IoMode { uring: job.control.ioengine == IoEngine::IoUring, direct: job.control.direct }
}

/// Checks, making nothing, that the group's jobs can run together on a target of `spec`:
/// [`targets::check_io`] of each job's I/O mode — with the messages running them would give, so
/// that `aopsbench run` refuses an impossible job × target before the first target runs.
pub fn check_group(jobs: &[&Job], spec: &TargetSpec) -> Result<(), RunError> {
    runnable(jobs, &spec.to_string(), spec.kind())?;
    for job in jobs {
        targets::check_io(spec, job_mode(job)).map_err(|source| RunError::Target {
            job: job.name.clone(),
            target: spec.to_string(),
            phase: "set up I/O".into(),
            source,
        })?;
    }
    Ok(())
}

/// Refuses what the runner does not support of the group's jobs on a target of `kind`.
fn runnable(jobs: &[&Job], target: &str, kind: &str) -> Result<(), RunError> {
    for job in jobs {
        if let Some(why) = engine_misfit(job, kind) {
            return Err(RunError::Unsupported { job: job.name.clone(), target: target.into(), why });
        }
        if job.control.atomic && matches!(kind, "bh" | "iomap") {
            return Err(RunError::Unsupported {
                job: job.name.clone(),
                target: target.into(),
                why: "atomic=1: RWF_ATOMIC is a direct-I/O write, and fsimpl models buffered I/O: run it on a dir: \
                      or kernel target"
                    .into(),
            });
        }
        if let Err(why) = super::numa::check(job) {
            return Err(RunError::Unsupported { job: job.name.clone(), target: target.into(), why });
        }
        let missing = support::unsupported(job);
        if !missing.is_empty() {
            return Err(RunError::Unsupported {
                job: job.name.clone(),
                target: target.into(),
                why: format!("the runner does not run {} yet", missing.join(", ")),
            });
        }
    }
    Ok(())
}

/// Why `job`'s engine cannot run on a target of `kind`: the engines that work on paths, and
/// `e4defrag`'s ioctl, need a kernel filesystem (fsimpl and `null` keep their files in none).
fn engine_misfit(job: &Job, kind: &str) -> Option<String> {
    let e = job.control.ioengine;
    let on_paths = matches!(e.files(), EngineFiles::Names(_)) || e == IoEngine::E4defrag;
    let kernel = !matches!(kind, "bh" | "iomap" | "null");
    (on_paths && !kernel).then(|| {
        format!(
            "ioengine={} works on files in a kernel filesystem (paths{}), which a {kind} target does not have: \
             run it on a dir: or kernel mount target",
            e.fio_name(),
            if e == IoEngine::E4defrag { ", EXT4_IOC_MOVE_EXT" } else { ", stat, mkdir" }
        )
    })
}

/// Runs a group of jobs together on `target`; `progress` has one entry per job, and `offsets`
/// each job's clock start (the measured time of its earlier repetitions; see
/// [`worker::Worker::time_offset_ns`]).
pub fn run_group(
    jobs: &[&Job],
    target: &dyn Target,
    progress: &[Progress],
    offsets: &[u64],
) -> Result<Vec<JobOutcome>, RunError> {
    let fail_for = |job: &Job, phase: String| {
        let job = job.name.clone();
        let target = target.spec().to_string();
        move |source| RunError::Target { job, target, phase, source }
    };
    runnable(jobs, target.spec(), target.kind())?;
    // Later opens take the first job's mode; each job's files are then set to its own.
    target.set_io_mode(job_mode(jobs[0])).map_err(fail_for(jobs[0], "set up I/O".into()))?;
    let plans: Vec<Vec<ThreadPlan>> = jobs.iter().map(|j| j.threads()).collect();
    // The files of each job with `unlink`, each name once.
    let unlinks: Vec<Option<Vec<String>>> = jobs
        .iter()
        .zip(&plans)
        .map(|(j, p)| {
            (j.unlink && j.control.ioengine.files() == EngineFiles::Open).then(|| {
                let mut names: Vec<String> = p.iter().flat_map(|t| t.files.iter().map(|f| f.name.clone())).collect();
                names.sort();
                names.dedup();
                names
            })
        })
        .collect();
    let mut files: Vec<Vec<Vec<FileId>>> = Vec::with_capacity(jobs.len());
    for (job, plans) in jobs.iter().zip(&plans) {
        let mut job_files = Vec::with_capacity(plans.len());
        // Under openfiles, each file is laid out and closed before the next is opened (fio's
        // extend_file), and the thread opens them as its I/O comes to them.
        let limited = job.openfiles.is_some_and(|n| n < job.files_per_thread());
        let uses = job.control.ioengine.files();
        for plan in plans {
            // Engines without files, or that make them as they go, get none; dirstat and
            // dirdelete get their directories (fio's setup_dirs).
            match uses {
                EngineFiles::None | EngineFiles::Names(NamesSetup::Nothing) => {
                    job_files.push(Vec::new());
                    continue;
                }
                EngineFiles::Names(NamesSetup::Dirs) => {
                    let paths = plan.files.iter().map(|f| target.host_path(&f.name)).collect::<Result<Vec<_>, _>>();
                    paths
                        .and_then(|p| crate::engines::fileops::make_dirs(&p))
                        .map_err(fail_for(job, format!("directories of thread {}", plan.thread)))?;
                    job_files.push(Vec::new());
                    continue;
                }
                EngineFiles::Open | EngineFiles::Names(NamesSetup::Layout) => {}
            }
            let mut fids = Vec::with_capacity(plan.files.len());
            let mut scratch = Buffers::new(1 << 20);
            for (fi, f) in plan.files.iter().enumerate() {
                let fid = target.open(&f.name, true).map_err(fail_for(job, format!("open {}", f.name)))?;
                if job_mode(job) != job_mode(jobs[0]) {
                    target.set_file_io_mode(fid, job_mode(job)).map_err(fail_for(job, format!("open {}", f.name)))?;
                }
                fids.push(fid);
                // A file an earlier job left at its size keeps what it holds, as fio keeps it.
                let laid_out = f.size > 0 && target.size(fid).is_ok_and(|s| s >= f.size) && !plan.layout.is_empty();
                for (i, op) in plan.layout.iter().enumerate() {
                    if laid_out || op.file() != Some(fi as u32) {
                        continue;
                    }
                    match execute(target, &fids, op, &mut scratch) {
                        // fio's fallocate_file: a failed native or posix preallocation is not
                        // an error (native_fallocate only traces it); the file goes on without.
                        Err(TargetError::Os { .. } | TargetError::Unsupported { .. })
                            if matches!(op, Op::Fallocate { mode: FallocMode::Allocate, .. })
                                && matches!(job.fallocate, Prealloc::Native | Prealloc::Posix) => {}
                        r => {
                            r.map_err(fail_for(
                                job,
                                format!("layout of thread {}, op {i} ({})", plan.thread, describe(op)),
                            ))?;
                        }
                    }
                }
                if limited {
                    target.close(fid).map_err(fail_for(job, format!("close {}", f.name)))?;
                    fids[fi] = super::openfiles::CLOSED;
                }
            }
            if uses == EngineFiles::Names(NamesSetup::Layout) {
                // filestat and filedelete find the files laid out and closed, as fio leaves them.
                for fid in fids.drain(..) {
                    target.close(fid).map_err(fail_for(job, "close after layout".into()))?;
                }
            }
            job_files.push(fids);
        }
        files.push(job_files);
    }
    // fio's invalidate: the measured phase starts from a clean cache.
    if jobs.iter().any(|j| j.invalidate) {
        target.remount().map_err(fail_for(jobs[0], "remount after layout".into()))?;
    }
    target.reset_counters();
    // Many hosts: every rank waits here until all have laid out their files, then all start
    // measuring together (IOR's barrier before its timed phase); with a runtime, they also
    // stop together.
    crate::ranks::current().agree(Ok(())).map_err(|source| RunError::OtherRank { source })?;

    let abort = AtomicBool::new(false);
    let exits = Exits::new(jobs);
    let flows = super::flow::Flows::new(jobs);
    let latches: Vec<Latch> = plans.iter().map(|p| Latch::new(p.len())).collect();
    let monitor = super::steadystate::Monitor::new(jobs);
    let index_of = |name: &str| jobs.iter().position(|j| j.name == name);
    let t0 = Instant::now();
    let (results, steady): (Vec<Vec<Result<ThreadRun, Failure>>>, _) = std::thread::scope(|s| {
        // fio's helper thread, checking steady state every interval.
        let checks = monitor.as_ref().map(|m| s.spawn(|| m.run(t0, &exits.told)));
        let mut handles = Vec::new();
        for (ji, ((job, plans), job_files)) in jobs.iter().zip(plans).zip(&files).enumerate() {
            let mut job_handles = Vec::new();
            for (ti, (plan, fids)) in plans.into_iter().zip(job_files).enumerate() {
                let (abort, exits, latches, flows) = (&abort, &exits, &latches, &flows);
                let exit = &exits.told[ji][ti];
                let ss = monitor.as_ref().filter(|_| job.control.steadystate.enabled()).and_then(|m| m.thread(ji, ti));
                let wait_on = job.control.start.wait_for.as_deref().and_then(index_of);
                let progress = &progress[ji];
                let time_offset_ns = offsets.get(ji).copied().unwrap_or(0);
                job_handles.push(s.spawn(move || {
                    if let Some(cpus) = &job.control.cpus_allowed {
                        let split = job.control.cpus_policy == CpusPolicy::Split;
                        if let Err(errno) = pin(cpus, split, plan.thread) {
                            abort.store(true, Relaxed);
                            latches[ji].count_down();
                            let e = TargetError::Os { op: "sched_setaffinity", errno };
                            return Err(Failure::Target(format!("thread {}, cpus_allowed", plan.thread), e));
                        }
                    }
                    // fio's thread_main: the NUMA nodes' CPUs, then the memory policy.
                    if let Some(cpus) = super::numa::cpus(job)
                        && let Err(errno) = pin(&cpus, false, plan.thread)
                    {
                        abort.store(true, Relaxed);
                        latches[ji].count_down();
                        let e = TargetError::Os { op: "sched_setaffinity", errno };
                        return Err(Failure::Target(format!("thread {}, numa_cpu_nodes", plan.thread), e));
                    }
                    if let Err(errno) = super::numa::set_mem_policy(&job.control.numa_mem_policy) {
                        abort.store(true, Relaxed);
                        latches[ji].count_down();
                        let e = TargetError::Os { op: "set_mempolicy", errno };
                        return Err(Failure::Target(format!("thread {}, numa_mem_policy", plan.thread), e));
                    }
                    if let Some(p) = plan.prio.job
                        && let Err(errno) = super::prio::set_thread_ioprio(p)
                    {
                        // fio's td_verror(td, errno, "ioprio_set"): the job does not run.
                        abort.store(true, Relaxed);
                        latches[ji].count_down();
                        let e = TargetError::Os { op: "ioprio_set", errno };
                        return Err(Failure::Target(format!("thread {}, prio/prioclass", plan.thread), e));
                    }
                    if let Some(w) = wait_on {
                        latches[w].wait(abort);
                    }
                    pace::usec_sleep(start_delay(job, plan.thread, plan.seed), &[abort, exit]);
                    if exit.load(Relaxed) {
                        // Told to stop before it started: it never runs (fio's run_threads).
                        latches[ji].count_down();
                        return Ok(ThreadRun::never_started());
                    }
                    exits.running[ji].store(true, Relaxed);
                    let engine_cfg = EngineConfig {
                        engine: job.control.ioengine,
                        depth: job.control.depth,
                        uring: job.control.uring,
                        direct: job.control.direct,
                        atomic: job.control.atomic,
                    };
                    // The engine is set up before the job's clock starts, as fio's td_io_init
                    // (a net listener's clock starts once its peer is connected).
                    // On the open files only (none yet under openfiles: the thread opens them).
                    let open: Vec<FileId> = fids.iter().copied().filter(|&f| f != super::openfiles::CLOSED).collect();
                    let engine = worker::make_engine(job, &plan, target, &open, &engine_cfg, abort).and_then(|e| {
                        // io_submit_mode=offload: the submitting threads too (fio's
                        // rate_submit_init, before the clock starts), in this scope.
                        let offload = (job.control.submit_mode == SubmitMode::Offload)
                            .then(|| Workqueue::start(s, engine_cfg.depth.iodepth, target, &engine_cfg, &open))
                            .transpose()
                            .map_err(|e| {
                                Failure::Target(format!("thread {}, io_submit_mode=offload", plan.thread), e)
                            })?;
                        Ok((e, offload))
                    });
                    let (engine, offload) = match engine {
                        Ok(e) => e,
                        Err(f) => {
                            abort.store(true, Relaxed);
                            latches[ji].count_down();
                            return Err(f);
                        }
                    };
                    // The queue's buffers, filled, and the dedupe working set, as fio's job setup.
                    let io = worker::IoBuffers::new(&plan, &engine_cfg.depth, Filler::new(job, plan.thread));
                    // The wall clock first: then `started` plus a duration since `start` never
                    // runs ahead of the moment it stands for.
                    let started = SystemTime::now();
                    let start = Instant::now();
                    let measure_from = start + job.control.ramp_time.unwrap_or_default();
                    let stop = job.control.runtime.map(|r| measure_from + r);
                    if let Some(ss) = ss {
                        ss.start(measure_from);
                    }
                    let names: Vec<String> = plan.files.iter().map(|f| f.name.clone()).collect();
                    let w = worker::Worker {
                        target,
                        fids,
                        names: &names,
                        verifier: job.verify.enabled().then(|| Verifier::of(&job.verify)),
                        verify_dump: job.verify.dump,
                        measure_from,
                        time_offset_ns,
                        stop,
                        exit,
                        progress,
                        abort,
                        logs: super::logs::config(&job.control.logs),
                        continue_on_error: job.control.continue_on_error,
                        error_dump: job.control.error_dump,
                        ignore_error: &job.control.ignore_error,
                        flow: flows.member(job),
                        fill_device: job.fill_device,
                        openfiles: job.openfiles,
                        steadystate: ss.map(|t| &t.counters),
                        latency_target: Some(job.control.latency_target).filter(|t| t.enabled()),
                        lat_recorded: job.control.latencies.lat,
                    };
                    let r = w.run(plan, &engine_cfg, engine, io, offload);
                    if let Some(ss) = ss {
                        ss.end();
                    }
                    // The end is taken before the job's waiters are let go: they start after it.
                    let ended = r.as_ref().map_or_else(|_| Instant::now(), |o| o.ended);
                    if r.is_err() {
                        abort.store(true, Relaxed);
                    }
                    latches[ji].count_down();
                    if job.control.start.exitall {
                        exits.ended(ji, job.control.start.exit_what);
                    }
                    // After exitall: the others of its flow run free only once told to stop.
                    if let Some(m) = &w.flow {
                        m.leave();
                    }
                    r.map(|o| ThreadRun {
                        records: o.records,
                        stats: o.stats,
                        logs: o.logs,
                        prios: o.prios,
                        measure_from: o.measure_from,
                        started,
                        ended,
                    })
                }));
            }
            handles.push(job_handles);
        }
        let results = handles
            .into_iter()
            .map(|hs| hs.into_iter().map(|h| h.join().expect("worker threads do not panic")).collect())
            .collect();
        if let Some(m) = &monitor {
            m.finish();
        }
        (results, checks.map(|h| h.join().expect("the steady-state monitor does not panic")).unwrap_or_default())
    });
    let counters = target.counters();
    let disk = target.disk_util();
    // fio's `unlink`: a job's files are removed when it is done (each shared file once).
    for ((job, job_files), plans) in jobs.iter().zip(&files).zip(&unlinks) {
        let Some(names) = plans else { continue };
        // Under openfiles each thread closed its files itself.
        let closed_by_threads = job.openfiles.is_some_and(|n| n < job.files_per_thread());
        for fid in job_files.iter().flatten().filter(|_| !closed_by_threads) {
            target.close(*fid).map_err(fail_for(job, "close before unlink".into()))?;
        }
        for name in names {
            target.unlink(name).map_err(fail_for(job, format!("unlink {name}")))?;
        }
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (ji, (job, threads)) in jobs.iter().zip(results).enumerate() {
        let mut runs = Vec::with_capacity(threads.len());
        for r in threads {
            match r {
                Ok(t) => runs.push(t),
                Err(Failure::Target(phase, source)) => return Err(fail_for(job, phase)(source)),
                Err(Failure::Verify { file, mismatch, dumped }) => {
                    let what = match dumped {
                        Some(d) => format!("{mismatch}; {d}"),
                        None => mismatch.to_string(),
                    };
                    return Err(RunError::Verify {
                        job: job.name.clone(),
                        target: target.spec().into(),
                        file,
                        offset: mismatch.offset,
                        what,
                    });
                }
            }
        }
        let from = runs.iter().map(|t| t.measure_from).min().unwrap_or(t0);
        let until = runs.iter().map(|t| t.ended).max().unwrap_or(from);
        let started = runs.iter().map(|t| t.started).min().unwrap_or_else(SystemTime::now);
        let runtime_ns = until.saturating_duration_since(from).as_nanos() as u64;
        let thread_stats: Vec<ThreadStats> = runs.iter().map(|t| t.stats).collect();
        let logs: Vec<ThreadLogs> = runs.iter_mut().map(|t| std::mem::take(&mut t.logs)).collect();
        let prios: Vec<ThreadPrios> = runs.iter_mut().map(|t| std::mem::take(&mut t.prios)).collect();
        let per_thread: Vec<BTreeMap<String, OpRecord>> = runs.into_iter().map(|t| t.records).collect();
        let ops = results::merge_threads(per_thread.clone()).map_err(|e| RunError::Unsupported {
            job: job.name.clone(),
            target: target.spec().into(),
            why: format!("merging thread records: {e}"),
        })?;
        outcomes.push(JobOutcome {
            started,
            runtime_ns: runtime_ns.max(1),
            ops,
            threads: per_thread,
            thread_stats,
            logs,
            prios,
            counters: counters.clone(),
            disk: disk.clone(),
            exit_all: exits.all.load(Relaxed),
            steadystate: (0..job.numjobs.max(1) as usize)
                .map(|t| steady.iter().find(|(at, _)| *at == (ji, t)).map(|(_, st)| st.clone()))
                .collect(),
        });
    }
    Ok(outcomes)
}

/// fio's `cpus_allowed`: the calling thread may run on `cpus` (`shared`), or on the one CPU of
/// them that is its turn (`cpus_allowed_policy=split`: thread N gets the N-th, wrapping).
fn pin(cpus: &[usize], split: bool, thread: u32) -> Result<(), i32> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let mine: Vec<usize> =
        if split && !cpus.is_empty() { vec![cpus[thread as usize % cpus.len()]] } else { cpus.to_vec() };
    for &cpu in &mine {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(libc::EINVAL);
        }
        // SAFETY: `cpu` is below CPU_SETSIZE, checked above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size given; pid 0 is the calling thread.
    match unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)),
    }
}

/// `startdelay` of a thread: the delay, or a draw from its range, fixed by the job's seed.
fn start_delay(job: &Job, thread: u32, seed: u64) -> Duration {
    let (lo, hi) = job.control.start.delay;
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_micros() as u64;
    let x = seed ^ u64::from(thread).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(job.index).rotate_left(17);
    lo + Duration::from_micros(x % (span + 1))
}

/// One of fio's reports of a file (a `struct thread_stat` of `__show_run_stats`): its name
/// and the `(job, thread)` pairs it sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportUnit {
    /// The first job's name; `job.N` for thread N of a job reported thread by thread.
    pub name: String,
    /// Index of the job in the file, and of the thread in the job.
    pub parts: Vec<(usize, usize)>,
}

/// fio's reports of a file: every thread (fio's `td`: a job, or one of its `numjobs` clones)
/// starts a new report unless it has `group_reporting` and is in the same reporting group as
/// the thread before it, whose report it joins. A reporting group starts at each job after
/// the first with `stonewall` or `new_group` (fio's `groupid`).
pub fn report_units<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> Vec<ReportUnit> {
    let mut out: Vec<ReportUnit> = Vec::new();
    let mut groupid = 0usize;
    let mut last_group = None;
    for (ji, job) in jobs.into_iter().enumerate() {
        let s = &job.control.start;
        if ji > 0 && (s.stonewall || s.new_group) {
            groupid += 1;
        }
        for t in 0..job.numjobs.max(1) as usize {
            let joins = job.control.group_reporting && last_group == Some(groupid);
            last_group = Some(groupid);
            match out.last_mut() {
                Some(unit) if joins => unit.parts.push((ji, t)),
                _ => {
                    let name = if job.numjobs > 1 && !job.control.group_reporting {
                        format!("{}.{t}", job.name)
                    } else {
                        job.name.clone()
                    };
                    out.push(ReportUnit { name, parts: vec![(ji, t)] });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Vec<(String, Vec<(usize, usize)>)> {
        let file = workloads::fio::JobFile::parse(text, "t.fio", false).expect("parses");
        report_units(&file.jobs).into_iter().map(|u| (u.name, u.parts)).collect()
    }

    #[test]
    fn reports_follow_group_reporting_and_new_group() {
        let s = |n: &str| n.to_string();
        // numjobs without group_reporting: one report per thread.
        assert_eq!(units("[a]\nsize=1m\nnumjobs=2\n"), [(s("a.0"), vec![(0, 0)]), (s("a.1"), vec![(0, 1)])]);
        // group_reporting: the jobs of a reporting group in one report, cut at new_group.
        let text = "[global]\nsize=1m\ngroup_reporting\n[a]\nnumjobs=2\n[b]\n[c]\nnew_group\n[d]\nstonewall\n";
        assert_eq!(
            units(text),
            [(s("a"), vec![(0, 0), (0, 1), (1, 0)]), (s("c"), vec![(2, 0)]), (s("d"), vec![(3, 0)])]
        );
    }
}
