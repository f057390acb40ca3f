//! The CI performance gate.
//!
//! A baseline holds, per job × target, two kinds of numbers taken from one run:
//!
//! - **counters** (fsimpl stats, device I/Os and bytes): deterministic for a seeded, size-based
//!   job on an fsimpl target, so they are compared **exactly**; any change fails until the
//!   baseline is rewritten. Counters that cannot repeat — those of a time-based job, whose op
//!   count depends on the machine's speed, or of a kernel target, whose device counts other
//!   work too — are kept out of the baseline with the reason ([`BaselineTarget::counters_not_gated`],
//!   set by the caller of [`write_baseline_with`]), and reported as not gated.
//! - **timing ratios** measured inside the run against the job's **reference target** (its
//!   first target, e.g. `bh` in `--targets bh,iomap`): for every op kind, IOPS and p50 of the
//!   target divided by the reference's. The machine's speed cancels out, so they can be
//!   compared across machines with a relative tolerance (default 10%). A ratio that moved
//!   beyond the tolerance against the target (iomap slower relative to bh) fails; one that
//!   moved in its favour is reported as **better** and does not fail — it means the target got
//!   faster *or* the reference got slower, which the ratio cannot tell apart, so both readings
//!   are printed; rewrite the baseline once the cause is known. Tail latencies (p99 and up)
//!   are not gated: on a shared machine the tail of a short job measures interference more
//!   than the code; `compare` still shows them. Nor are op kinds with fewer than
//!   [`MIN_RATIO_SAMPLES`] ops on either side. For steadier ratios, run the job with
//!   `aopsbench run --repeat N`: the targets run in turns and their samples pool.
//!
//! Jobs, targets, op kinds or counters missing from the run fail too; new ones are noted.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::error::ResultsError;
use crate::run_dir::{RunDir, read_json, to_json};
use crate::summary::{JobSummary, OpSummary, Summary, TargetSummary};

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
    /// Why this target's counters are not in the baseline (they cannot repeat), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters_not_gated: Option<String>,
    /// Per op kind, per metric ([`RATIO_METRICS`]): this target's value over the reference's.
    /// Empty for the reference itself.
    pub ratios: BTreeMap<String, BTreeMap<String, f64>>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Severity {
    /// Fails the gate.
    Regression,
    /// A timing ratio moved beyond the tolerance in the target's favour: reported, not failing.
    Better,
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
    /// The baseline keeps no counters of this target (they cannot repeat).
    CountersNotGated {
        /// Why.
        reason: String,
    },
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
        let better = self.findings.iter().filter(|f| f.severity == Severity::Better).count();
        let verdict = match (failing, better) {
            (0, 0) => String::from("ok"),
            (0, b) => format!("ok ({b} better than the baseline)"),
            (n, 0) => format!("FAIL ({n} failing)"),
            (n, b) => format!("FAIL ({n} failing, {b} better)"),
        };
        writeln!(
            f,
            "gate: {verdict} — {} counters compared exactly, {} timing ratios within ±{:.0}%",
            self.counters_checked,
            self.ratios_checked,
            self.tolerance * 100.0
        )?;
        for finding in &self.findings {
            writeln!(f, "  {finding}")?;
        }
        if failing + better > 0 {
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
            Severity::Better => "better",
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
            FindingKind::CountersNotGated { reason } => write!(f, "counters not gated: {reason}"),
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

/// Whether a ratio's move favours the target: more IOPS or a lower p50 relative to the
/// reference.
fn favours_target(metric: &str, baseline: f64, run: f64) -> bool {
    (run > baseline) == (metric == "iops")
}

/// Which way a ratio moved, in words.
fn ratio_meaning(metric: &str, baseline: f64, run: f64) -> &'static str {
    if favours_target(metric, baseline, run) {
        "faster relative to the reference (or the reference slowed)"
    } else {
        "slower relative to the reference (or the reference sped up)"
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
    /// The baseline of a run's summary, gating every counter.
    pub fn from_summary(summary: &Summary, source_run: &str) -> Baseline {
        Self::from_summary_with(summary, source_run, |_, _| None)
    }

    /// The baseline of a run's summary; `not_gated(job, target)` says why a job × target's
    /// counters cannot repeat (`None`: they can), and those are left out.
    pub fn from_summary_with(
        summary: &Summary,
        source_run: &str,
        not_gated: impl Fn(&JobSummary, &TargetSummary) -> Option<String>,
    ) -> Baseline {
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
                        .map(|t| {
                            let counters_not_gated = not_gated(job, t);
                            BaselineTarget {
                                target: t.target.clone(),
                                spec: t.spec.clone(),
                                counters: if counters_not_gated.is_some() { BTreeMap::new() } else { t.stats.clone() },
                                counters_not_gated,
                                ratios: if t.target == reference.target {
                                    BTreeMap::new()
                                } else {
                                    ratios(t, reference)
                                },
                            }
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
        if !path.exists() {
            return Err(ResultsError::Missing {
                path: path.to_path_buf(),
                hint: String::from(
                    "no such baseline; write one from a run with `aopsbench gate --write-baseline FILE RUNDIR`",
                ),
            });
        }
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
                match &bt.counters_not_gated {
                    Some(reason) => {
                        push(Severity::Note, &bjob.job, here, FindingKind::CountersNotGated { reason: reason.clone() })
                    }
                    None => {
                        for counter in rt.stats.keys().filter(|c| !bt.counters.contains_key(*c)) {
                            push(Severity::Note, &bjob.job, here, FindingKind::CounterNew { counter: counter.clone() });
                        }
                    }
                }
                let run_ratios = ratios(rt, reference);
                for (op, metrics) in &bt.ratios {
                    for (metric, &baseline) in metrics {
                        ratios_checked += 1;
                        let run = run_ratios.get(op).and_then(|m| m.get(metric)).copied();
                        match run {
                            Some(run) if (run / baseline - 1.0).abs() <= tolerance => {}
                            Some(run) => push(
                                if favours_target(metric, baseline, run) {
                                    Severity::Better
                                } else {
                                    Severity::Regression
                                },
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

/// Write the baseline of the run in `run_dir` to `file` (atomically) and return it, gating
/// every counter.
pub fn write_baseline(run_dir: &Path, file: &Path) -> Result<Baseline, ResultsError> {
    write_baseline_with(run_dir, file, |_, _, _| None)
}

/// [`write_baseline`], leaving out the counters of each job × target for which `not_gated(run,
/// job, target)` gives a reason (see [`Baseline::from_summary_with`]).
pub fn write_baseline_with(
    run_dir: &Path,
    file: &Path,
    not_gated: impl Fn(&RunDir, &JobSummary, &TargetSummary) -> Option<String>,
) -> Result<Baseline, ResultsError> {
    let run = RunDir::load(run_dir)?;
    let baseline =
        Baseline::from_summary_with(&run.summary, &run_dir.display().to_string(), |j, t| not_gated(&run, j, t));
    write_atomic(file, &to_json(file, &baseline)?)?;
    Ok(baseline)
}

/// Check the run in `run_dir` against the baseline in `baseline_file`.
pub fn check(baseline_file: &Path, run_dir: &Path, tolerance: f64) -> Result<GateReport, ResultsError> {
    let baseline = Baseline::load(baseline_file)?;
    let run = RunDir::load(run_dir)?;
    baseline.check(&run.summary, tolerance)
}
