//! Job files and command-line option lists read into [`Job`]s, as fio reads them: `[global]`
//! defaults, each section a job, `--set` overrides last, every problem listed.

use super::error::{JobError, JobWarning, Location};
use super::job::Job;
use super::options::{self, OptionError};
use super::parse::{self, Entry, GLOBAL};
use super::subst::{self, Env, HostFacts};
use super::types::{RandomGenerator, ZoneMode};
use crate::buffers::RunThreads;

/// The jobs of one or more job files and command-line option lists.
#[derive(Clone, Debug, PartialEq)]
pub struct JobFile {
    /// The jobs, in order.
    pub jobs: Vec<Job>,
    /// Unsupported options let through by `--lenient`.
    pub warnings: Vec<JobWarning>,
    /// How aopsbench honours an option differently from fio, one line each (e.g.
    /// `random_generator=lfsr`).
    pub notes: Vec<String>,
}

impl JobFile {
    /// Read a job file. `source_name` names it in errors (usually its path); `lenient` turns
    /// options fio has and aopsbench does not into [`JobFile::warnings`].
    pub fn parse(text: &str, source_name: &str, lenient: bool) -> Result<JobFile, JobError> {
        JobFileBuilder::new(lenient).text(text, source_name)?.build()
    }

    /// Jobs from fio-style command-line options alone (`--name=x --rw=write --bs=4k ...`).
    pub fn from_args<S: AsRef<str>>(args: &[S], lenient: bool) -> Result<JobFile, JobError> {
        JobFileBuilder::new(lenient).args(args)?.build()
    }
}

/// Reads job files and command-line options in order, the way fio does: options before any
/// `--name` and `[global]` sections set defaults for the jobs after them; each `--name=x` or
/// `[x]` starts a job. Command-line defaults given before a job file apply to its jobs.
/// Overrides ([`JobFileBuilder::set`]) are applied to every job after its own options.
#[derive(Debug)]
pub struct JobFileBuilder {
    lenient: bool,
    entries: Vec<Entry>,
    errors: Vec<JobError>,
    overrides: Vec<(String, String)>,
    env: Env,
    host: HostFacts,
    /// The last job file (or "command line") added: named when there are no jobs.
    last_source: String,
}

impl JobFileBuilder {
    /// An empty builder; `lenient` as in [`JobFile::parse`].
    pub fn new(lenient: bool) -> Self {
        JobFileBuilder {
            lenient,
            entries: Vec::new(),
            errors: Vec::new(),
            overrides: Vec::new(),
            env: Env::default(),
            host: HostFacts::here(),
            last_source: "command line".to_string(),
        }
    }

    /// Add fio-style command-line options.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Result<Self, JobError> {
        let entries = parse::args(args, &mut self.errors);
        self.entries.extend(entries);
        self.last_source = "command line".to_string();
        Ok(self)
    }

    /// Add a job file's text; `source_name` names it in errors, and `include`s are looked up
    /// beside it.
    pub fn text(mut self, text: &str, source_name: &str) -> Result<Self, JobError> {
        let entries = parse::job_file(text, source_name, &mut self.errors);
        self.entries.extend(entries);
        self.last_source = source_name.to_string();
        Ok(self)
    }

    /// `--set KEY=VALUE`: force an option in every job, after its own (e.g. `runtime=3` to
    /// shorten a real job file in CI).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.overrides.push((key.to_string(), value.to_string()));
        self
    }

    /// Values for `${VAR}` that win over the process environment (for tests and tools).
    pub fn env_var(mut self, name: &str, value: &str) -> Self {
        self.env.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// What `$pagesize`, `$mb_memory` and `$ncpus` stand for (default: this machine's).
    pub fn host(mut self, host: HostFacts) -> Self {
        self.host = host;
        self
    }

    /// Resolve every job; every problem of every file is in the error, one per line.
    pub fn build(self) -> Result<JobFile, JobError> {
        let JobFileBuilder { lenient, entries, mut errors, overrides, env, host, last_source } = self;
        let mut cx = Apply { lenient, env, host, errors: &mut errors, warnings: Vec::new() };
        let mut defaults = Job::fio_defaults();
        defaults.nonce = run_nonce();
        let mut jobs: Vec<Job> = Vec::new();
        for (section, options) in sections(entries) {
            let Some((name, at)) = section else {
                cx.apply_all(&mut defaults, options);
                continue;
            };
            if name == GLOBAL {
                cx.apply_all(&mut defaults, options);
                continue;
            }
            let mut job = defaults.clone();
            job.name = name;
            job.index = jobs.len() as u32;
            job.defined_at = at.clone();
            let before = cx.errors.len();
            cx.apply_all(&mut job, options);
            let set: Vec<Entry> = overrides
                .iter()
                .enumerate()
                .map(|(i, (k, v))| Entry::Option {
                    key: k.clone(),
                    value: Some(v.clone()),
                    at: Location::Set { index: i + 1 },
                })
                .collect();
            cx.apply_all(&mut job, set);
            if cx.errors.len() == before {
                if let Err(message) = job.check() {
                    cx.errors.push(JobError::InvalidJob { at: at.clone(), job: job.name.clone(), message });
                }
                if let Some(w) = &job.control.start.wait_for
                    && !jobs.iter().any(|j| &j.name == w)
                {
                    cx.errors.push(JobError::InvalidJob {
                        at,
                        job: job.name.clone(),
                        message: format!("wait_for={w}: no job of that name comes before this one"),
                    });
                }
            }
            jobs.push(job);
        }
        steadystate_across(&jobs, cx.errors);
        RunThreads::of_file(&mut jobs);
        let warnings = cx.warnings;
        if overrides.iter().any(|(k, _)| k.is_empty()) {
            errors.push(JobError::Syntax { at: Location::Set { index: 1 }, message: "expected KEY=VALUE".into() });
        }
        match errors.len() {
            0 => {}
            1 => return Err(errors.remove(0)),
            _ => return Err(JobError::Several { errors }),
        }
        if jobs.is_empty() {
            return Err(JobError::NoJobs { source_name: last_source });
        }
        // fio's exitall is process-wide (exitall_on_terminate): every job's end then stops others.
        if jobs.iter().any(|j| j.control.start.exitall) {
            for j in &mut jobs {
                j.control.start.exitall = true;
            }
        }
        let mut notes = Vec::new();
        // An absolute path and the tiobench options: one note per value, naming its jobs (a
        // [global] one names every job once).
        let absolute = jobs_by(&jobs, |j| {
            let mut named = j.filename.iter().flat_map(|f| f.split(':')).chain(j.directory.as_deref());
            named.find(|n| n.starts_with('/')).map(str::to_string)
        });
        for (abs, jobs) in absolute {
            notes.push(format!(
                "{jobs}: {abs} is put inside each target (a dir: target's directory D holds it as D{abs}, unless it \
                 is under D already), where fio would use that path itself"
            ));
        }
        let verify_async = jobs_by(&jobs, |j| (j.verify.async_threads > 0).then(|| j.verify.async_threads.to_string()));
        for (n, jobs) in verify_async {
            notes.push(format!(
                "{jobs}: verify_async={n}: aopsbench checks the verify reads in the job's own thread (fio's {n} verify \
                 threads make the same checks)"
            ));
        }
        let profile = jobs_by(&jobs, |j| {
            let given: Vec<String> = j.profile_options.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (!given.is_empty()).then(|| given.join(", "))
        });
        for (given, jobs) in profile {
            notes.push(format!(
                "{jobs}: {given}: an option of fio's tiobench profile (fio --profile=tiobench), which changes nothing \
                 here, as in fio without the profile"
            ));
        }
        for j in jobs.iter().filter(|j| j.fill_device && j.size.is_none() && j.filesize.is_none()) {
            notes.push(format!(
                "job {}: fill_device writes until the filesystem is full (ENOSPC ends the job, as in fio): on a dir: \
                 target that is the filesystem holding the directory; give size= to bound it",
                j.name
            ));
        }
        for j in jobs.iter().filter(|j| j.zonemode == ZoneMode::Strided && j.strided().is_none()) {
            notes.push(format!(
                "job {}: zonemode=strided with openfiles={}: fio turns strided zones off when more than one file is \
                 open at once, and so does aopsbench",
                j.name,
                j.openfiles.unwrap_or(0)
            ));
        }
        if let Some(j) = jobs.iter().find(|j| j.random_generator != RandomGenerator::Tausworthe) {
            notes.push(format!(
                "job {}: random_generator={}: aopsbench draws offsets with ChaCha8 (uniform, each block once per pass \
                 with the random map)",
                j.name,
                j.random_generator.fio_name()
            ));
        }
        Ok(JobFile { jobs, warnings, notes })
    }
}

/// What fio checks of the steady-state options across jobs: one check interval for the whole
/// run (`fixup_options`: "must be globally equal"), and the same criterion, limit, window and
/// ramp for every job of a reporting group (`td_steadystate_init`), which a reporting group's
/// detection shares.
fn steadystate_across(jobs: &[Job], errors: &mut Vec<JobError>) {
    let Some(first) = jobs.first() else { return };
    let mut group_first = first;
    for (i, job) in jobs.iter().enumerate() {
        let (ss, start) = (&job.control.steadystate, &job.control.start);
        let invalid =
            |message: String| JobError::InvalidJob { at: job.defined_at.clone(), job: job.name.clone(), message };
        let interval = first.control.steadystate.interval;
        if ss.interval != interval {
            errors.push(invalid(format!(
                "steadystate_check_interval={} differs from job {}'s {}: fio takes one check interval for every job \
                 of a run (set it in [global])",
                vocab::format_time(ss.interval),
                first.name,
                vocab::format_time(interval)
            )));
        }
        // fio's groupid: a reporting group starts at each job after the first with stonewall
        // or new_group.
        if i > 0 && (start.stonewall || start.new_group) {
            group_first = job;
        }
        let (mine, theirs) = (ss.group_key(), group_first.control.steadystate.group_key());
        if mine != theirs {
            errors.push(invalid(format!(
                "{mine} where job {} of the same reporting group has {theirs}: fio requires the same steady-state \
                 options for every job of a reporting group (start a new one with new_group)",
                group_first.name
            )));
        }
    }
}

/// The values `key` gives the jobs, in order of first use, each with the jobs it names
/// ("job a" or "jobs a, b").
fn jobs_by(jobs: &[Job], key: impl Fn(&Job) -> Option<String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for j in jobs {
        let Some(k) = key(j) else { continue };
        match out.iter_mut().find(|(v, _)| *v == k) {
            Some((_, names)) => names.push(&j.name),
            None => out.push((k, vec![&j.name])),
        }
    }
    out.into_iter()
        .map(|(k, names)| (k, format!("{} {}", if names.len() > 1 { "jobs" } else { "job" }, names.join(", "))))
        .collect()
}

/// The sections of a list of entries, in order: `None` for options before any section (the
/// command line's global defaults).
#[allow(clippy::type_complexity)]
fn sections(entries: Vec<Entry>) -> Vec<(Option<(String, Location)>, Vec<Entry>)> {
    let mut out: Vec<(Option<(String, Location)>, Vec<Entry>)> = Vec::new();
    for e in entries {
        match e {
            Entry::Section { name, at } => out.push((Some((name, at)), Vec::new())),
            option => match out.last_mut() {
                Some((_, opts)) => opts.push(option),
                None => out.push((None, vec![option])),
            },
        }
    }
    out
}

/// Applying options, collecting problems.
struct Apply<'a> {
    lenient: bool,
    env: Env,
    host: HostFacts,
    errors: &'a mut Vec<JobError>,
    warnings: Vec<JobWarning>,
}

impl Apply<'_> {
    /// Applies a section's options, `kb_base` first.
    fn apply_all(&mut self, job: &mut Job, mut options: Vec<Entry>) {
        options.sort_by_key(|e| match e {
            Entry::Option { key, .. } => options::priority(key),
            Entry::Section { .. } => 1,
        });
        for e in options {
            if let Entry::Option { key, value, at } = e {
                self.apply(job, key, value, at);
            }
        }
    }

    fn apply(&mut self, job: &mut Job, key: String, value: Option<String>, at: Location) {
        let value = match value.as_deref().map(|v| subst::substitute(v, &self.env, &self.host)).transpose() {
            Ok(v) => v,
            Err(expected) => {
                self.errors.push(JobError::BadValue { at, option: key, value: value.unwrap_or_default(), expected });
                return;
            }
        };
        match options::apply(job, &key, value.as_deref()) {
            Ok(()) => {}
            Err(OptionError::Unsupported) if self.lenient => self.warnings.push(JobWarning { at, option: key }),
            Err(OptionError::Unsupported) => self.errors.push(JobError::UnsupportedOption { at, option: key }),
            Err(OptionError::HardwareEngine { engines, why }) => {
                self.errors.push(JobError::HardwareEngineOption { at, option: key, engines, why });
            }
            Err(OptionError::Unknown { hint }) => self.errors.push(JobError::UnknownOption { at, option: key, hint }),
            Err(OptionError::BadValue { expected }) => {
                self.errors.push(JobError::BadValue { at, option: key, value: value.unwrap_or_default(), expected });
            }
        }
    }
}

/// A per-run value for `randrepeat=0` jobs: the clock, mixed.
fn run_nonce() -> u64 {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    crate::rng::splitmix64(now ^ u64::from(std::process::id()))
}
