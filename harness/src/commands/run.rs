//! `aopsbench run`: each job on each target in turn, each from a fresh state.

use crate::cli::RunArgs;
use crate::machine;
use crate::runner::{JobOutcome, Progress, run_job};
use crate::targets::{self, Target, TargetSpec};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use results::{RunWriter, TargetResult};
use serde_json::json;
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
            bail!("no job file '{name}': give a path, or a built-in job: {}", builtins.join(", "));
        };
        builder = builder.text(&text, name)?;
        texts.push((name.clone(), text));
    }
    let file = builder.build()?;
    for w in &file.warnings {
        eprintln!("warning: {w}");
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

/// The fsimpl settings a job brings.
fn fsimpl_defaults(job: &Job) -> targets::FsimplDefaults {
    let threads = job.control_numjobs();
    let need = job.file_size().saturating_mul(job.files_per_thread() as u64).saturating_mul(threads);
    targets::FsimplDefaults { aops: job.aops, device_bytes: Some((need + need / 4 + (512 << 20)).max(1 << 30)) }
}

trait JobExt {
    fn control_numjobs(&self) -> u64;
}

impl JobExt for Job {
    fn control_numjobs(&self) -> u64 {
        if self.filename.is_some() { 1 } else { self.numjobs.max(1) as u64 }
    }
}

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
    /// Adds a later repetition: its ops follow the earlier ones; its counters must be the
    /// same for a deterministic target (a warning says when they are not; the first
    /// repetition's stay).
    fn add(&mut self, later: JobOutcome, spec: &TargetSpec) -> Result<()> {
        let shift = self.outcome.runtime_ns.div_ceil(1_000_000_000);
        for (op, mut rec) in later.ops {
            rec.shift_seconds(shift);
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

/// Builds a fresh target and runs `job` on it; returns what happened and the target's
/// normalised spec.
fn run_one(
    job: &Job,
    spec: &TargetSpec,
    label: &str,
    pools: &targets::PoolCache,
    force_destroy: bool,
) -> Result<(JobOutcome, String)> {
    let t = targets::build_with(spec, &fsimpl_defaults(job), pools, targets::Destroy::from_flag(force_destroy))?;
    for n in t.notices() {
        eprintln!("note: {spec}: {n}");
    }
    let target: &dyn Target = t.as_ref();
    let progress = Progress::default();
    let (bar, timed) = progress_bar(job, label);
    let done = std::sync::atomic::AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            let t0 = std::time::Instant::now();
            while !done.load(Relaxed) {
                if timed {
                    bar.set_position(t0.elapsed().as_millis() as u64);
                } else {
                    bar.set_position(progress.bytes.load(Relaxed));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = run_job(job, target, &progress);
        done.store(true, Relaxed);
        let _ = ticker.join();
        r
    });
    bar.finish_and_clear();
    let outcome = outcome?;
    if let Some(&cuts) = outcome.counters.get("fault_power_cuts").filter(|&&n| n > 0) {
        let dropped = outcome.counters.get("fault_dropped_writes").copied().unwrap_or(0);
        eprintln!(
            "note: {spec}: {cuts} power cut(s) in the measured phase; {dropped} later writes were dropped until the \
             next remount"
        );
    }
    let normal_spec = target.spec().to_string();
    t.teardown().with_context(|| format!("tearing down {spec}"))?;
    Ok((outcome, normal_spec))
}

/// Runs the command; returns the run directory.
pub fn run(args: &RunArgs, command_line: &[String]) -> Result<PathBuf> {
    let jobs = load_jobs(args)?;
    let mut specs = args.targets.specs();
    if specs.is_empty() {
        specs = default_targets();
    }
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", machine::utc_stamp(SystemTime::now()), jobs.name))
    });
    let run_info = json!({
        "command": command_line,
        "jobs": jobs.file.jobs.iter().map(|j| json!({"name": j.name, "fio": j.to_fio()})).collect::<Vec<_>>(),
        "job_text": jobs.texts.iter().map(|(n, t)| json!({"source": n, "text": t})).collect::<Vec<_>>(),
        "targets": specs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "versions": {"aopsbench": env!("CARGO_PKG_VERSION")},
        "kernel": machine::kernel_release(),
        "machine": machine::machine(),
    });
    let mut writer = RunWriter::create(&out, env!("CARGO_PKG_VERSION"), &run_info)
        .with_context(|| format!("cannot start the run directory {}", out.display()))?;
    let names = target_names(&specs);
    let pools = targets::PoolCache::default();
    for job in &jobs.file.jobs {
        if job.control.iodepth > 1 {
            eprintln!(
                "note: job {}: iodepth={} — aopsbench issues each op synchronously (iodepth=1)",
                job.name, job.control.iodepth
            );
        }
        let repeat = args.repeat.max(1);
        let mut pooled: Vec<Option<Pooled>> = (0..specs.len()).map(|_| None).collect();
        for rep in 0..repeat {
            for (i, (spec, name)) in specs.iter().zip(&names).enumerate() {
                let label = if repeat > 1 { format!("{name} {}/{repeat}", rep + 1) } else { name.clone() };
                let (outcome, normal_spec) = run_one(job, spec, &label, &pools, args.force_destroy)?;
                match &mut pooled[i] {
                    None => pooled[i] = Some(Pooled { spec: normal_spec, outcome }),
                    Some(p) => p.add(outcome, spec)?,
                }
            }
        }
        for (p, name) in pooled.into_iter().zip(&names) {
            let Pooled { spec, outcome } = p.expect("every target ran at least once");
            writer.add(TargetResult {
                job: job.name.clone(),
                target: name.clone(),
                spec,
                started: outcome.started,
                runtime_ns: outcome.runtime_ns,
                ops: outcome.ops,
                counters: outcome.counters,
            })?;
        }
        if let Some(table) = writer.job_table(&job.name) {
            println!("{table}");
        }
    }
    writer.finish()?;
    if !args.no_plot {
        results::plot(&out).context("drawing the plots")?;
    }
    println!("run directory: {}", out.display());
    Ok(out)
}
