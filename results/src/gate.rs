//! The CI performance gate.
//!
//! A baseline holds, per job × target, two kinds of numbers taken from one run:
//!
//! - **counters** (fsimpl stats, device I/Os and bytes): deterministic for a seeded, size-based
//!   job, so they are compared **exactly**; any change fails until the baseline is rewritten.
//! - **timing ratios** measured inside the run against the job's **reference target** (its
//!   first target, e.g. `bh` in `--targets bh,iomap`): for every op kind, IOPS and p50 of the
//!   target divided by the reference's. The machine's speed cancels out, so they can be
//!   compared across machines with a relative tolerance (default 10%). A ratio is checked in
//!   both directions: iomap/bh rising can mean iomap got faster *or* bh got slower. Tail
//!   latencies (p99 and up) are not gated: on a shared machine the tail of a short job
//!   measures interference more than the code; `compare` still shows them. Nor are op kinds
//!   with fewer than [`MIN_RATIO_SAMPLES`] ops on either side. For steadier ratios, run the
//!   job with `aopsbench run --repeat N`: the targets run in turns and their samples pool.
//!
//! Jobs, targets, op kinds or counters missing from the run fail too; new ones are noted.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::error::ResultsError;
use crate::run_dir::{RunDir, read_json, to_json};
use crate::summary::{OpSummary, Summary, TargetSummary};

/// The gate's default relative tolerance for timing ratios.
pub const DEFAULT_TOLERANCE: f64 = 0.10;
/// The baseline file format this version writes and reads.
pub const BASELINE_FORMAT: u32 = 1;
/// How the reference target of a job is chosen.
pub const REFERENCE_RULE: &str = "first target of the job";
/// Fewest ops an op kind needs, in both the target and the reference, for its ratios to be
/// gated: a ratio of a handful of samples (one end_fsync, say) is noise.
pub const MIN_RATIO_SAMPLES: u64 = 100;
/// The timing metrics turned into ratios.
pub const RATIO_METRICS: [&str; 2] = ["iops", "p50"];

/// A baseline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`BASELINE_FORMAT`].
    pub aopsbench_baseline: u32,
    /// Version of aopsbench whose run made it.
    pub aopsbench_version: String,
    /// The run directory it was made from.
    pub source_run: String,
    /// How each job's reference target was chosen ([`REFERENCE_RULE`]).
    pub reference_rule: String,
    /// Per job.
    pub jobs: Vec<BaselineJob>,
}

/// A job in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineJob {
    /// Job name.
    pub job: String,
    /// The reference target's name.
    pub reference: String,
    /// Every target of the job, reference included.
    pub targets: Vec<BaselineTarget>,
}

/// A job × target in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineTarget {
    /// Target name.
    pub target: String,
    /// Its spec.
    pub spec: String,
    /// Counters, compared exactly. Delete an entry to stop gating on it.
    pub counters: BTreeMap<String, u64>,
    /// Per op kind, per metric ([`RATIO_METRICS`]): this target's value over the reference's.
    /// Empty for the reference itself.
    pub ratios: BTreeMap<String, BTreeMap<String, f64>>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Severity {
    /// Fails the gate.
    Regression,
    /// Reported only.
    Note,
}

/// What the gate found about one job × target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub enum FindingKind {
    /// A counter differs from the baseline.
    CounterChanged {
        /// Counter name.
        counter: String,
        /// Baseline value.
        baseline: u64,
        /// This run's value.
        run: u64,
    },
    /// A counter in the baseline is absent from the run.
    CounterMissing {
        /// Counter name.
        counter: String,
    },
    /// A counter in the run is absent from the baseline.
    CounterNew {
        /// Counter name.
        counter: String,
    },
    /// A timing ratio moved beyond the tolerance.
    RatioMoved {
        /// Op kind.
        op: String,
        /// Metric (`iops`, `p50`, `p99`).
        metric: String,
        /// Baseline ratio.
        baseline: f64,
        /// This run's ratio.
        run: f64,
    },
    /// A timing ratio in the baseline cannot be computed from the run.
    RatioMissing {
        /// Op kind.
        op: String,
        /// Metric.
        metric: String,
    },
    /// A job or target of the baseline is absent from the run.
    Missing,
    /// A job or target of the run is absent from the baseline.
    New,
    /// The target was built from another spec than in the baseline.
    SpecChanged {
        /// Baseline spec.
        baseline: String,
        /// This run's spec.
        run: String,
    },
    /// The job's reference target (its first) is not the baseline's.
    ReferenceChanged {
        /// Baseline reference.
        baseline: String,
        /// This run's reference.
        run: String,
    },
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Whether it fails the gate.
    pub severity: Severity,
    /// Job name.
    pub job: String,
    /// Target name (`None` for a whole job).
    pub target: Option<String>,
    /// What.
    pub kind: FindingKind,
}

/// The outcome of [`check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    /// Relative tolerance applied to ratios.
    pub tolerance: f64,
    /// Counters compared exactly.
    pub counters_checked: usize,
    /// Ratios compared within the tolerance.
    pub ratios_checked: usize,
    /// Everything that moved, regressions first.
    pub findings: Vec<Finding>,
}

impl GateReport {
    /// True when a finding fails the gate (the binary exits 1).
    pub fn is_regression(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Regression)
    }

    /// The findings that fail the gate.
    pub fn regressions(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Regression)
    }

    /// A human-readable account, one line per finding (same as `Display`).
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for GateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failing = self.regressions().count();
        writeln!(
            f,
            "gate: {} — {} counters compared exactly, {} timing ratios within ±{:.0}%",
            if failing > 0 { format!("REGRESSION ({failing} failing)") } else { String::from("ok") },
            self.counters_checked,
            self.ratios_checked,
            self.tolerance * 100.0
        )?;
        for finding in &self.findings {
            writeln!(f, "  {finding}")?;
        }
        if failing > 0 {
            writeln!(
                f,
                "  if the change is intended, rewrite the baseline: aopsbench gate --write-baseline FILE RUNDIR"
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Regression => "FAIL",
            Severity::Note => "note",
        };
        let place = match &self.target {
            Some(t) => format!("{} @ {}", self.job, t),
            None => format!("job {}", self.job),
        };
        write!(f, "{label} {place}: ")?;
        match &self.kind {
            FindingKind::CounterChanged { counter, baseline, run } => {
                write!(f, "counter {counter} {baseline} → {run} ({:+})", i128::from(*run) - i128::from(*baseline))
            }
            FindingKind::CounterMissing { counter } => {
                write!(f, "counter {counter} is in the baseline but not in the run")
            }
            FindingKind::CounterNew { counter } => {
                write!(f, "counter {counter} is new (not in the baseline)")
            }
            FindingKind::RatioMoved { op, metric, baseline, run } => write!(
                f,
                "{op} {metric} ratio to the reference {baseline:.3} → {run:.3} ({:+.1}%): {}",
                (run / baseline - 1.0) * 100.0,
                ratio_meaning(metric, *baseline, *run)
            ),
            FindingKind::RatioMissing { op, metric } => {
                write!(f, "{op} {metric} ratio cannot be computed from the run (op missing or zero)")
            }
            FindingKind::Missing => write!(f, "in the baseline but not in the run"),
            FindingKind::New => write!(f, "new (not in the baseline)"),
            FindingKind::SpecChanged { baseline, run } => {
                write!(f, "spec changed from {baseline:?} to {run:?}")
            }
            FindingKind::ReferenceChanged { baseline, run } => write!(
                f,
                "reference target changed from {baseline} to {run}; keep the target order or rewrite the baseline"
            ),
        }
    }
}

/// Which way a ratio moved, in words.
fn ratio_meaning(metric: &str, baseline: f64, run: f64) -> &'static str {
    let up = run > baseline;
    match (metric == "iops", up) {
        (true, true) | (false, false) => "faster relative to the reference (or the reference slowed)",
        _ => "slower relative to the reference (or the reference sped up)",
    }
}

/// The value of `metric` for an op, as a float (`None` if unusable as a divisor or dividend).
fn metric_value(op: &OpSummary, metric: &str) -> Option<f64> {
    let v = match metric {
        "iops" => op.iops,
        "p50" => op.lat_ns.p50 as f64,
        "p99" => op.lat_ns.p99 as f64,
        _ => return None,
    };
    (op.count > 0 && v.is_finite() && v > 0.0).then_some(v)
}

/// `target`'s ratios to `reference`, per op kind present in both.
fn ratios(target: &TargetSummary, reference: &TargetSummary) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for (op, s) in &target.ops {
        let Some(r) = reference.ops.get(op) else {
            continue;
        };
        if s.count < MIN_RATIO_SAMPLES || r.count < MIN_RATIO_SAMPLES {
            continue;
        }
        let per_metric: BTreeMap<String, f64> = RATIO_METRICS
            .iter()
            .filter_map(|m| Some((m.to_string(), metric_value(s, m)? / metric_value(r, m)?)))
            .collect();
        if !per_metric.is_empty() {
            out.insert(op.clone(), per_metric);
        }
    }
    out
}

impl Baseline {
    /// The baseline of a run's summary.
    pub fn from_summary(summary: &Summary, source_run: &str) -> Baseline {
        let jobs = summary
            .jobs
            .iter()
            .filter_map(|job| {
                let reference = job.targets.first()?;
                Some(BaselineJob {
                    job: job.job.clone(),
                    reference: reference.target.clone(),
                    targets: job
                        .targets
                        .iter()
                        .map(|t| BaselineTarget {
                            target: t.target.clone(),
                            spec: t.spec.clone(),
                            counters: t.stats.clone(),
                            ratios: if t.target == reference.target { BTreeMap::new() } else { ratios(t, reference) },
                        })
                        .collect(),
                })
            })
            .collect();
        Baseline {
            aopsbench_baseline: BASELINE_FORMAT,
            aopsbench_version: summary.aopsbench_version.clone(),
            source_run: source_run.to_string(),
            reference_rule: REFERENCE_RULE.to_string(),
            jobs,
        }
    }

    /// Read a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, ResultsError> {
        let value: serde_json::Value = read_json(path)?;
        if value.get("aopsbench_baseline").and_then(|v| v.as_u64()) != Some(u64::from(BASELINE_FORMAT)) {
            return Err(ResultsError::BadBaseline {
                path: path.to_path_buf(),
                reason: format!("\"aopsbench_baseline\" is not {BASELINE_FORMAT}"),
            });
        }
        serde_json::from_value(value)
            .map_err(|e| ResultsError::BadBaseline { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// Check a run's summary against this baseline.
    pub fn check(&self, run: &Summary, tolerance: f64) -> Result<GateReport, ResultsError> {
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(ResultsError::BadTolerance { value: tolerance });
        }
        let mut report = GateReport { tolerance, counters_checked: 0, ratios_checked: 0, findings: Vec::new() };
        let mut push = |severity, job: &str, target: Option<&str>, kind| {
            report.findings.push(Finding { severity, job: job.to_string(), target: target.map(str::to_string), kind });
        };
        let mut counters_checked = 0;
        let mut ratios_checked = 0;
        for bjob in &self.jobs {
            let Some(rjob) = run.job(&bjob.job) else {
                push(Severity::Regression, &bjob.job, None, FindingKind::Missing);
                continue;
            };
            let Some(reference) = rjob.targets.first() else {
                push(Severity::Regression, &bjob.job, None, FindingKind::Missing);
                continue;
            };
            if reference.target != bjob.reference {
                push(
                    Severity::Regression,
                    &bjob.job,
                    None,
                    FindingKind::ReferenceChanged { baseline: bjob.reference.clone(), run: reference.target.clone() },
                );
            }
            for bt in &bjob.targets {
                let here = Some(bt.target.as_str());
                let Some(rt) = rjob.target(&bt.target) else {
                    push(Severity::Regression, &bjob.job, here, FindingKind::Missing);
                    continue;
                };
                if rt.spec != bt.spec {
                    push(
                        Severity::Regression,
                        &bjob.job,
                        here,
                        FindingKind::SpecChanged { baseline: bt.spec.clone(), run: rt.spec.clone() },
                    );
                }
                for (counter, &baseline) in &bt.counters {
                    counters_checked += 1;
                    match rt.stats.get(counter) {
                        Some(&run) if run == baseline => {}
                        Some(&run) => push(
                            Severity::Regression,
                            &bjob.job,
                            here,
                            FindingKind::CounterChanged { counter: counter.clone(), baseline, run },
                        ),
                        None => push(
                            Severity::Regression,
                            &bjob.job,
                            here,
                            FindingKind::CounterMissing { counter: counter.clone() },
                        ),
                    }
                }
                for counter in rt.stats.keys().filter(|c| !bt.counters.contains_key(*c)) {
                    push(Severity::Note, &bjob.job, here, FindingKind::CounterNew { counter: counter.clone() });
                }
                let run_ratios = ratios(rt, reference);
                for (op, metrics) in &bt.ratios {
                    for (metric, &baseline) in metrics {
                        ratios_checked += 1;
                        let run = run_ratios.get(op).and_then(|m| m.get(metric)).copied();
                        match run {
                            Some(run) if (run / baseline - 1.0).abs() <= tolerance => {}
                            Some(run) => push(
                                Severity::Regression,
                                &bjob.job,
                                here,
                                FindingKind::RatioMoved { op: op.clone(), metric: metric.clone(), baseline, run },
                            ),
                            None => push(
                                Severity::Regression,
                                &bjob.job,
                                here,
                                FindingKind::RatioMissing { op: op.clone(), metric: metric.clone() },
                            ),
                        }
                    }
                }
            }
            for rt in rjob.targets.iter().filter(|t| !bjob.targets.iter().any(|b| b.target == t.target)) {
                push(Severity::Note, &bjob.job, Some(&rt.target), FindingKind::New);
            }
        }
        for rjob in run.jobs.iter().filter(|j| !self.jobs.iter().any(|b| b.job == j.job)) {
            push(Severity::Note, &rjob.job, None, FindingKind::New);
        }
        report.counters_checked = counters_checked;
        report.ratios_checked = ratios_checked;
        report.findings.sort_by_key(|f| f.severity);
        Ok(report)
    }
}

/// Write the baseline of the run in `run_dir` to `file` (atomically) and return it.
pub fn write_baseline(run_dir: &Path, file: &Path) -> Result<Baseline, ResultsError> {
    let run = RunDir::load(run_dir)?;
    let baseline = Baseline::from_summary(&run.summary, &run_dir.display().to_string());
    write_atomic(file, &to_json(file, &baseline)?)?;
    Ok(baseline)
}

/// Check the run in `run_dir` against the baseline in `baseline_file`.
pub fn check(baseline_file: &Path, run_dir: &Path, tolerance: f64) -> Result<GateReport, ResultsError> {
    let baseline = Baseline::load(baseline_file)?;
    let run = RunDir::load(run_dir)?;
    baseline.check(&run.summary, tolerance)
}
