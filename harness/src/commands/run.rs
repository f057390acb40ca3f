//! `aopsbench run`: each job on each target in turn, each from a fresh state.

use super::collect::Collector;
use crate::cli::RunArgs;
use crate::machine;
use crate::runner::{JobOutcome, Progress, group};
use crate::targets::{self, Target, TargetSpec};
use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use results::{JobStats, TargetResult, ThreadStats};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};
use vocab::Backend;
use vocab::target::{FsimplSpec, MountKind, MountSpec};
use workloads::{Job, JobFile, JobFileBuilder};

/// The jobs to run and the text they came from.
struct Jobs {
    file: JobFile,
    texts: Vec<(String, String)>,
    name: String,
}

fn load_jobs(args: &RunArgs) -> Result<Jobs> {
    let mut builder = JobFileBuilder::new(args.lenient);
    let mut texts = Vec::new();
    if !args.fio_args.is_empty() {
        builder = builder.args(&args.fio_args)?;
        texts.push(("command line".to_string(), args.fio_args.join(" ")));
    }
    let mut names: Vec<String> = args.jobs.clone();
    if names.is_empty() && args.fio_args.is_empty() {
        names.push(workloads::jobs::DEFAULT.to_string());
    }
    for name in &names {
        let path = Path::new(name);
        let text = if path.exists() {
            std::fs::read_to_string(path).with_context(|| format!("cannot read job file {name}"))?
        } else if let Some(text) = workloads::jobs::builtin(name) {
            text.to_string()
        } else {
            let builtins: Vec<&str> = workloads::jobs::BUILTIN.iter().map(|(n, _)| *n).collect();
            let hint = workloads::jobs::suggest(name).map(|s| format!("did you mean '{s}'? ")).unwrap_or_default();
            bail!("no job file '{name}': {hint}give a path, or a built-in job: {}", builtins.join(", "));
        };
        builder = builder.text(&text, name)?;
        texts.push((name.clone(), text));
    }
    for (k, v) in &args.set {
        builder = builder.set(k, v);
    }
    let file = builder.build()?;
    for w in &file.warnings {
        eprintln!("warning: {w}");
    }
    for n in &file.notes {
        eprintln!("note: {n}");
    }
    let name = names
        .first()
        .map(|n| Path::new(n).file_stem().and_then(|s| s.to_str()).unwrap_or(n).to_string())
        .unwrap_or_else(|| file.jobs.first().map(|j| j.name.clone()).unwrap_or_else(|| "job".into()));
    Ok(Jobs { file, texts, name })
}

/// The default targets: bh and iomap, plus tmpfs when this machine can mount one.
pub fn default_targets() -> Vec<TargetSpec> {
    let mut v = vec![
        TargetSpec::Fsimpl(FsimplSpec::new(Backend::BufferHead)),
        TargetSpec::Fsimpl(FsimplSpec::new(Backend::Iomap)),
    ];
    if targets::kernel_available("tmpfs") {
        v.push(TargetSpec::Mount(MountSpec::new(MountKind::Tmpfs)));
    }
    v
}

/// A name per target, unique within the run: the kind when only one target has it, else the
/// spec as given, else the spec with `#n`.
pub fn target_names(specs: &[TargetSpec]) -> Vec<String> {
    let mut names: Vec<String> = specs
        .iter()
        .map(|s| {
            if specs.iter().filter(|o| o.kind() == s.kind()).count() == 1 {
                s.kind().to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    for i in 0..names.len() {
        let dups = names[..i].iter().filter(|n| **n == names[i]).count();
        if dups > 0 {
            names[i] = format!("{}#{}", names[i], dups + 1);
        }
    }
    names
}

/// The fsimpl settings of a group of jobs that share a target: their `aops_*` options (which
/// must agree: they configure the filesystem the jobs run on together) and a device that holds
/// the files of every job of the run.
fn fsimpl_defaults(group: &[&Job], all: &[Job]) -> Result<targets::FsimplDefaults> {
    let first = group[0];
    if let Some(other) = group.iter().find(|j| j.aops != first.aops) {
        bail!(
            "jobs {} and {} run at the same time with different aops_* options: they configure the fsimpl target the \
             jobs share; give them the same aops_* options, or separate the jobs with stonewall",
            first.name,
            other.name
        );
    }
    let need: u64 = all
        .iter()
        .map(|j| j.file_size().saturating_mul(u64::from(j.files_per_thread())).saturating_mul(j.control_numjobs()))
        .fold(0, u64::saturating_add);
    Ok(targets::FsimplDefaults { aops: first.aops, device_bytes: Some((need + need / 4 + (512 << 20)).max(1 << 30)) })
}

trait JobExt {
    fn control_numjobs(&self) -> u64;
}

impl JobExt for Job {
    fn control_numjobs(&self) -> u64 {
        if self.filename.is_some() { 1 } else { self.numjobs.max(1) as u64 }
    }
}

/// A progress bar for `job` on `target`, and whether it counts time rather than bytes.
fn progress_bar(job: &Job, target: &str) -> (ProgressBar, bool) {
    let plans_bytes: Option<u64> = job.threads().iter().map(|p| p.ops.planned_bytes()).sum();
    let timed = job.control.time_based || plans_bytes.is_none();
    let bar = match (timed, job.control.runtime) {
        (true, Some(rt)) => ProgressBar::new(rt.as_millis() as u64),
        (_, _) => ProgressBar::new(plans_bytes.unwrap_or(0)),
    };
    let style = if timed {
        "{prefix:>24} [{bar:30}] {elapsed}/{duration}"
    } else {
        "{prefix:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
    };
    bar.set_style(ProgressStyle::with_template(style).expect("valid template").progress_chars("=> "));
    bar.set_prefix(format!("{}@{}", job.name, target));
    (bar, timed)
}

/// One job × target over its repetitions: the samples pooled, one after another in time.
struct Pooled {
    spec: String,
    outcome: JobOutcome,
}

impl Pooled {
    /// Adds a later repetition, run with [`time_offset_ns`] so that its ops follow the
    /// earlier ones; its counters must be the same for a deterministic target (a warning says
    /// when they are not; the first repetition's stay).
    fn add(&mut self, later: JobOutcome, spec: &TargetSpec) -> Result<()> {
        for (mine, theirs) in self.outcome.threads.iter_mut().zip(later.threads) {
            for (op, rec) in theirs {
                match mine.get_mut(&op) {
                    Some(r) => r.merge(&rec)?,
                    None => {
                        mine.insert(op, rec);
                    }
                }
            }
        }
        for (mine, theirs) in self.outcome.thread_stats.iter_mut().zip(&later.thread_stats) {
            mine.add(theirs);
        }
        for (mine, theirs) in self.outcome.logs.iter_mut().zip(&later.logs) {
            mine.append(theirs);
        }
        for (op, rec) in later.ops {
            match self.outcome.ops.get_mut(&op) {
                Some(r) => r.merge(&rec)?,
                None => {
                    self.outcome.ops.insert(op, rec);
                }
            }
        }
        self.outcome.runtime_ns += later.runtime_ns;
        if spec.is_fsimpl() && later.counters != self.outcome.counters {
            eprintln!("warning: {spec}: counters differ between repetitions; the first repetition's are kept");
        }
        Ok(())
    }
}

/// The measured time so far of a pooled job × target: where the next repetition's clock starts.
fn time_offset_ns(pooled: &Option<Pooled>) -> u64 {
    pooled.as_ref().map_or(0, |p| p.outcome.runtime_ns)
}

/// Runs a group of jobs together on `target` under one progress display (a bar per job);
/// `offsets` has each job's clock start (see [`time_offset_ns`]).
fn run_group_shown(
    group: &[&Job],
    target: &dyn Target,
    spec: &TargetSpec,
    label: &str,
    offsets: &[u64],
) -> Result<Vec<JobOutcome>> {
    let progress: Vec<Progress> = group.iter().map(|_| Progress::default()).collect();
    let multi = MultiProgress::new();
    let bars: Vec<(ProgressBar, bool)> = group
        .iter()
        .map(|j| {
            let (bar, timed) = progress_bar(j, label);
            (multi.add(bar), timed)
        })
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            let t0 = std::time::Instant::now();
            while !done.load(Relaxed) {
                for ((bar, timed), p) in bars.iter().zip(&progress) {
                    bar.set_position(if *timed { t0.elapsed().as_millis() as u64 } else { p.bytes.load(Relaxed) });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = group::run_group(group, target, &progress, offsets);
        done.store(true, Relaxed);
        let _ = ticker.join();
        r
    });
    for (bar, _) in &bars {
        bar.finish_and_clear();
    }
    let outcomes = outcome?;
    if let Some(&cuts) = outcomes.first().and_then(|o| o.counters.get("fault_power_cuts")).filter(|&&n| n > 0) {
        let dropped = outcomes[0].counters.get("fault_dropped_writes").copied().unwrap_or(0);
        eprintln!(
            "note: {spec}: {cuts} power cut(s) in the measured phase; {dropped} later writes were dropped until the \
             next remount"
        );
    }
    Ok(outcomes)
}

/// Runs every job of the file on one target, group after group: one target for as long as the
/// groups' fsimpl settings stay the same (a later group then finds the files earlier ones left,
/// as under fio), a fresh one when they change. Returns each job's outcome and the normalised
/// spec it ran on.
fn run_file(
    jobs: &[Job],
    spec: &TargetSpec,
    label: &str,
    pools: &targets::PoolCache,
    force_destroy: bool,
    offsets: &[u64],
) -> Result<Vec<(JobOutcome, String)>> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut current: Option<(Box<dyn Target>, vocab::AopsParams)> = None;
    let mut exited_all = false;
    for grp in group::groups(jobs) {
        if exited_all {
            // A job ended with exit_what=all: fio starts no later job.
            let normal = current.as_ref().map_or_else(|| spec.to_string(), |(t, _)| t.spec().to_string());
            for j in grp {
                eprintln!(
                    "note: {spec}: job {} did not run: a job before it ended with exitall and exit_what=all",
                    j.name
                );
                out.push((JobOutcome::never_started(j), normal.clone()));
            }
            continue;
        }
        let defaults = fsimpl_defaults(&grp, jobs)?;
        let fresh = current.as_ref().is_none_or(|(_, aops)| spec.is_fsimpl() && *aops != defaults.aops);
        if fresh {
            if let Some((old, _)) = current.take() {
                old.teardown().with_context(|| format!("tearing down {spec}"))?;
            }
            let t = targets::build_with(spec, &defaults, pools, targets::Destroy::from_flag(force_destroy))?;
            for n in t.notices() {
                eprintln!("note: {spec}: {n}");
            }
            current = Some((t, defaults.aops));
        }
        let (t, _) = current.as_ref().expect("built above");
        let group_offsets: Vec<u64> = grp.iter().map(|j| offsets[j.index as usize]).collect();
        let outcomes = run_group_shown(&grp, t.as_ref(), spec, label, &group_offsets)?;
        exited_all = outcomes.iter().any(|o| o.exit_all);
        let normal = t.spec().to_string();
        out.extend(outcomes.into_iter().map(|o| (o, normal.clone())));
    }
    if let Some((t, _)) = current {
        t.teardown().with_context(|| format!("tearing down {spec}"))?;
    }
    Ok(out)
}

/// Runs the command; returns the run directory.
///
/// Under several ranks (MPI) every rank runs every job on its own targets (`{rank}` and
/// `{host}` in their paths filled in), the ranks start measuring each job together (see
/// [`group::run_group`]), and rank 0 writes the run directory with the merged results
/// (see [`Collector`]).
pub fn run(args: &RunArgs, command_line: &[String]) -> Result<PathBuf> {
    let jobs = load_jobs(args)?;
    let mut specs = args.targets.specs();
    if specs.is_empty() {
        specs = default_targets();
    }
    let ranks = crate::ranks::current();
    let mine: Vec<TargetSpec> = specs.iter().map(|s| s.for_rank(ranks.rank(), ranks.host())).collect();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", machine::utc_stamp(SystemTime::now()), jobs.name))
    });
    let run_info = json!({
        "command": command_line,
        "jobs": jobs.file.jobs.iter().map(|j| json!({"name": j.name, "fio": j.to_fio()})).collect::<Vec<_>>(),
        "job_text": jobs.texts.iter().map(|(n, t)| json!({"source": n, "text": t})).collect::<Vec<_>>(),
        "overrides": args.set.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "targets": specs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "versions": {"aopsbench": env!("CARGO_PKG_VERSION")},
        "kernel": machine::kernel_release(),
        "machine": machine::machine(),
    });
    // Every job × target checked before anything runs: a bad spec or a job a target cannot
    // run fails now, not after the targets before it ran.
    let destroy = targets::Destroy::from_flag(args.force_destroy);
    for grp in group::groups(&jobs.file.jobs) {
        let defaults = fsimpl_defaults(&grp, &jobs.file.jobs)?;
        for spec in &mine {
            targets::check_spec(spec, &defaults, destroy)?;
            group::check_group(&grp, spec)?;
        }
    }
    let mut collector = Collector::create(&out, run_info, &mine.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    let names = target_names(&specs);
    let pools = targets::PoolCache::default();
    let all = &jobs.file.jobs;
    let repeat = args.repeat.max(1);
    // pooled[job][target]: each job × target over the repetitions.
    let mut pooled: Vec<Vec<Option<Pooled>>> = all.iter().map(|_| (0..specs.len()).map(|_| None).collect()).collect();
    for rep in 0..repeat {
        for (i, (spec, name)) in mine.iter().zip(&names).enumerate() {
            let label = if repeat > 1 { format!("{name} {}/{repeat}", rep + 1) } else { name.clone() };
            let offsets: Vec<u64> = pooled.iter().map(|p| time_offset_ns(&p[i])).collect();
            for (j, (outcome, normal_spec)) in
                run_file(all, spec, &label, &pools, args.force_destroy, &offsets)?.into_iter().enumerate()
            {
                match &mut pooled[j][i] {
                    None => pooled[j][i] = Some(Pooled { spec: normal_spec, outcome }),
                    Some(p) => p.add(outcome, spec)?,
                }
            }
        }
    }
    let pooled: Vec<Vec<Pooled>> = pooled
        .into_iter()
        .map(|p| p.into_iter().map(|x| x.expect("every target ran at least once")).collect())
        .collect();
    // A run group's disk statistics go with its first report on each target (fio.json sums
    // them per device).
    let run_group_of: Vec<usize> =
        group::groups(all).iter().enumerate().flat_map(|(g, jobs)| jobs.iter().map(move |_| g)).collect();
    let mut disk_given = BTreeSet::new();
    // fio's reports: each thread, or with group_reporting the jobs of a reporting group.
    for unit in group::report_units(all) {
        let first = &all[unit.parts[0].0];
        for (ti, name) in names.iter().enumerate() {
            let mut threads = ThreadStats::default();
            let mut maps = Vec::with_capacity(unit.parts.len());
            for &(ji, t) in &unit.parts {
                let o = &pooled[ji][ti].outcome;
                maps.extend(o.threads.get(t).cloned());
                threads.add(&o.thread_stats.get(t).copied().unwrap_or_default());
            }
            let ops = results::merge_threads(maps).with_context(|| format!("merging the report of {}", unit.name))?;
            let outcomes = || unit.parts.iter().map(|&(ji, _)| &pooled[ji][ti].outcome);
            let p = &pooled[unit.parts[0].0][ti];
            let result = TargetResult {
                job: unit.name.clone(),
                target: name.clone(),
                spec: p.spec.clone(),
                started: outcomes().map(|o| o.started).min().unwrap_or(p.outcome.started),
                runtime_ns: outcomes().map(|o| o.runtime_ns).max().unwrap_or(p.outcome.runtime_ns),
                ops,
                counters: p.outcome.counters.clone(),
                stats: JobStats {
                    threads,
                    latencies: first.control.latencies.clone(),
                    continue_on_error: first.control.continue_on_error.any(),
                    latency_target: first.control.latency_target,
                    disk: if disk_given.insert((ti, run_group_of[unit.parts[0].0])) {
                        p.outcome.disk.clone()
                    } else {
                        None
                    },
                    // The first repetition's (as its counters).
                    steadystate: unit
                        .parts
                        .iter()
                        .rev()
                        .find_map(|&(ji, t)| pooled[ji][ti].outcome.steadystate.get(t).cloned().flatten()),
                },
            };
            collector.add(result, &specs[ti].to_string())?;
        }
        if let Some(table) = collector.job_table(&unit.name) {
            println!("{table}");
        }
    }
    // fio's logs, one folder per target: under several ranks each rank's in its own
    // hosts/<host>-<rank>/; rank 0's at the top of the run directory too, with the plots and
    // report.html, before the ranks meet a last time.
    let logs: Vec<(String, std::collections::BTreeMap<String, String>)> = names
        .iter()
        .enumerate()
        .map(|(ti, name)| (name.clone(), crate::runner::logs::files(all, |j| &pooled[j][ti].outcome)))
        .collect();
    collector.fio_logs(&logs)?;
    let wrote = collector.finish(|dir| {
        for (name, files) in &logs {
            let at = results::run_dir::fio_logs_dir(dir, name);
            crate::runner::logs::write(&at, files)
                .with_context(|| format!("writing fio's logs in {}", at.display()))?;
        }
        if !args.no_plot {
            results::plot(dir).context("drawing the plots")?;
        }
        if !args.no_report {
            let page = dir.join(results::run_dir::REPORT_HTML);
            results::html::write_report(&[dir.to_path_buf()], &page).context("writing report.html")?;
        }
        Ok(())
    })?;
    if wrote {
        println!("run directory: {}", out.display());
    }
    Ok(out)
}
