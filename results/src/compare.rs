//! `aopsbench compare RUN_A RUN_B`: per job × target × op deltas in IOPS, MiB/s, p50, p99 and
//! p99.9, and the counter deltas, as a terminal table, markdown or HTML.
//!
//! Jobs, targets and ops are matched by name. Two runs without a job in common cannot be
//! compared ([`compare_dirs`] refuses them); a job whose definition differs between the runs
//! (its fio text in `run.json`), or a target built from another spec, is compared with a
//! warning, since its deltas then measure the change of workload as much as of code.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::ResultsError;
use crate::report::{KEY_COUNTERS, ordered_ops};
use crate::run_dir::RunDir;
use crate::summary::{OpSummary, Summary};
use crate::table::{Align, Table};
use crate::units;

/// One op kind of one job × target in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct OpDelta {
    /// Target name.
    pub target: String,
    /// Op kind.
    pub op: String,
    /// Run A's numbers.
    pub a: OpSummary,
    /// Run B's numbers.
    pub b: OpSummary,
}

/// One counter of one job × target in both runs (`None` where a run lacks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    /// Target name.
    pub target: String,
    /// Counter name.
    pub counter: String,
    /// Run A's value.
    pub a: Option<u64>,
    /// Run B's value.
    pub b: Option<u64>,
}

impl CounterDelta {
    /// B − A, when both have the counter.
    pub fn delta(&self) -> Option<i128> {
        Some(i128::from(self.b?) - i128::from(self.a?))
    }
}

/// The comparison of one job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobComparison {
    /// Job name.
    pub job: String,
    /// Op kinds present in both runs.
    pub ops: Vec<OpDelta>,
    /// Counters that changed, plus the key counters even when unchanged.
    pub counters: Vec<CounterDelta>,
    /// Counters present and equal in both runs that are not listed.
    pub unchanged_counters: usize,
    /// Targets or op kinds found in only one of the runs.
    pub notes: Vec<String>,
}

/// Run B against run A.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    /// Label of run A (its directory).
    pub a: String,
    /// Label of run B.
    pub b: String,
    /// Jobs present in both runs, in run A's order.
    pub jobs: Vec<JobComparison>,
    /// Jobs found in only one of the runs.
    pub notes: Vec<String>,
    /// What makes deltas compare unlike things: a job defined differently, a target built
    /// from another spec.
    pub warnings: Vec<String>,
}

/// Compare two run directories: refused when they have no job in common; warnings when a
/// job's definition or a target's spec differs.
pub fn compare_dirs(a: &Path, b: &Path) -> Result<Comparison, ResultsError> {
    let (ra, rb) = (RunDir::load(a)?, RunDir::load(b)?);
    let cmp = compare_runs(&ra, &rb);
    if cmp.jobs.is_empty() {
        let names = |r: &RunDir| r.summary.jobs.iter().map(|j| j.job.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ResultsError::NothingInCommon {
            a: a.to_path_buf(),
            b: b.to_path_buf(),
            a_jobs: names(&ra),
            b_jobs: names(&rb),
        });
    }
    Ok(cmp)
}

/// Compare two loaded runs (see [`compare`]), adding a warning for every common job whose
/// definition differs.
pub fn compare_runs(a: &RunDir, b: &RunDir) -> Comparison {
    let mut cmp = compare(&a.path.display().to_string(), &a.summary, &b.path.display().to_string(), &b.summary);
    let mut warnings = Vec::new();
    for j in &cmp.jobs {
        if let (Some(da), Some(db)) = (a.job_definition(&j.job), b.job_definition(&j.job))
            && da != db
        {
            warnings.push(format!("job {}: defined differently: {}", j.job, definition_difference(da, db)));
        }
    }
    warnings.append(&mut cmp.warnings);
    cmp.warnings = warnings;
    cmp
}

/// The option lines of one job definition missing from the other, at most three each:
/// `A has bs=4k; B has bs=8k`.
fn definition_difference(a: &str, b: &str) -> String {
    let only = |x: &str, y: &str| -> Vec<String> {
        let theirs: BTreeSet<&str> = y.lines().map(str::trim).collect();
        let mine: Vec<String> =
            x.lines().map(str::trim).filter(|l| !l.is_empty() && !theirs.contains(l)).map(String::from).collect();
        let more = mine.len().saturating_sub(3);
        let mut shown: Vec<String> = mine.into_iter().take(3).collect();
        if more > 0 {
            shown.push(format!("{more} more"));
        }
        shown
    };
    let (in_a, in_b) = (only(a, b), only(b, a));
    let side = |name: &str, lines: Vec<String>| {
        if lines.is_empty() { format!("{name} has nothing else") } else { format!("{name} has {}", lines.join(", ")) }
    };
    format!("{}; {}", side("A", in_a), side("B", in_b))
}

/// Compare two summaries, matching jobs, targets and ops by name.
pub fn compare(a_label: &str, a: &Summary, b_label: &str, b: &Summary) -> Comparison {
    let mut cmp = Comparison { a: a_label.to_string(), b: b_label.to_string(), ..Comparison::default() };
    for ja in &a.jobs {
        let Some(jb) = b.job(&ja.job) else {
            cmp.notes.push(format!("job {} only in A", ja.job));
            continue;
        };
        let mut jc = JobComparison { job: ja.job.clone(), ..JobComparison::default() };
        for ta in &ja.targets {
            let Some(tb) = jb.target(&ta.target) else {
                jc.notes.push(format!("target {} only in A", ta.target));
                continue;
            };
            if ta.spec != tb.spec {
                cmp.warnings.push(format!(
                    "job {} target {}: built from {} in A, {} in B",
                    ja.job, ta.target, ta.spec, tb.spec
                ));
            }
            for op in ordered_ops(ta.ops.keys()) {
                let sa = &ta.ops[op];
                match tb.ops.get(op) {
                    Some(sb) => {
                        jc.ops.push(OpDelta { target: ta.target.clone(), op: op.clone(), a: sa.clone(), b: sb.clone() })
                    }
                    None => jc.notes.push(format!("{} {op} only in A", ta.target)),
                }
            }
            for op in tb.ops.keys().filter(|op| !ta.ops.contains_key(*op)) {
                jc.notes.push(format!("{} {op} only in B", ta.target));
            }
            let names: BTreeSet<&String> = ta.stats.keys().chain(tb.stats.keys()).collect();
            let mut ordered: Vec<&String> =
                KEY_COUNTERS.iter().filter_map(|k| names.iter().copied().find(|n| n.as_str() == *k)).collect();
            ordered.extend(names.iter().copied().filter(|n| !KEY_COUNTERS.contains(&n.as_str())));
            for name in ordered {
                let d = CounterDelta {
                    target: ta.target.clone(),
                    counter: name.clone(),
                    a: ta.stats.get(name).copied(),
                    b: tb.stats.get(name).copied(),
                };
                if d.a != d.b || KEY_COUNTERS.contains(&name.as_str()) {
                    jc.counters.push(d);
                } else {
                    jc.unchanged_counters += 1;
                }
            }
        }
        for tb in jb.targets.iter().filter(|t| ja.target(&t.target).is_none()) {
            jc.notes.push(format!("target {} only in B", tb.target));
        }
        cmp.jobs.push(jc);
    }
    for jb in b.jobs.iter().filter(|j| a.job(&j.job).is_none()) {
        cmp.notes.push(format!("job {} only in B", jb.job));
    }
    cmp
}

/// `a→b +x%`, with `fmt` for both values.
fn delta_cell(a: f64, b: f64, fmt: fn(f64) -> String) -> String {
    format!("{}→{} {}", fmt(a), fmt(b), units::percent_change(a, b))
}

fn mib(bytes_per_s: f64) -> String {
    units::mib_per_s(bytes_per_s)
}

impl JobComparison {
    fn op_table(&self) -> Table {
        let mut t = Table::new(&[
            ("target", Align::Left),
            ("op", Align::Left),
            ("IOPS", Align::Right),
            ("MiB/s", Align::Right),
            ("p50", Align::Right),
            ("p99", Align::Right),
            ("p99.9", Align::Right),
        ]);
        for d in &self.ops {
            let (a, b) = (&d.a, &d.b);
            t.push(vec![
                d.target.clone(),
                d.op.clone(),
                delta_cell(a.iops, b.iops, units::si),
                if a.bytes == 0 && b.bytes == 0 { String::from("-") } else { delta_cell(a.bw(), b.bw(), mib) },
                delta_cell(a.lat_ns.p50 as f64, b.lat_ns.p50 as f64, units::latency),
                delta_cell(a.lat_ns.p99 as f64, b.lat_ns.p99 as f64, units::latency),
                delta_cell(a.lat_ns.p99_9 as f64, b.lat_ns.p99_9 as f64, units::latency),
            ]);
        }
        t
    }

    fn counter_table(&self) -> Table {
        let mut t = Table::new(&[
            ("target", Align::Left),
            ("counter", Align::Left),
            ("A", Align::Right),
            ("B", Align::Right),
            ("Δ", Align::Right),
            ("Δ%", Align::Right),
        ]);
        let show = |v: Option<u64>| v.map_or_else(|| String::from("-"), |v| v.to_string());
        for c in &self.counters {
            let (delta, pct) = match (c.a, c.delta()) {
                (Some(a), Some(d)) => (
                    if d == 0 { String::from("0") } else { format!("{d:+}") },
                    units::percent_change(a as f64, a as f64 + d as f64),
                ),
                _ => (String::from("-"), String::from("-")),
            };
            t.push(vec![c.target.clone(), c.counter.clone(), show(c.a), show(c.b), delta, pct]);
        }
        t
    }
}

impl Comparison {
    /// The comparison as aligned terminal text.
    pub fn to_terminal(&self) -> String {
        let mut out = format!("A = {}\nB = {}\n", self.a, self.b);
        for j in &self.jobs {
            out.push_str(&format!("\njob {}\n", j.job));
            out.push_str(&j.op_table().to_terminal(2));
            let counters = j.counter_table();
            if !counters.is_empty() {
                out.push('\n');
                out.push_str(&counters.to_terminal(2));
            }
            if j.unchanged_counters > 0 {
                out.push_str(&format!("  ({} other counters unchanged)\n", j.unchanged_counters));
            }
            for n in &j.notes {
                out.push_str(&format!("  note: {n}\n"));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }

    /// The comparison as HTML: per job, the op and counter tables, then the notes.
    pub fn to_html(&self) -> String {
        let esc = crate::table::html_escape;
        let mut out = String::new();
        if !self.warnings.is_empty() {
            out.push_str("<ul class=\"warnings\">\n");
            for w in &self.warnings {
                out.push_str(&format!("<li>warning: {}</li>\n", esc(w)));
            }
            out.push_str("</ul>\n");
        }
        for j in &self.jobs {
            out.push_str(&format!("<h3>job {}</h3>\n", esc(&j.job)));
            out.push_str(&j.op_table().to_html(&[]));
            let counters = j.counter_table();
            if !counters.is_empty() {
                out.push_str(&counters.to_html(&[]));
            }
            if j.unchanged_counters > 0 {
                out.push_str(&format!("<p class=\"note\">{} other counters unchanged.</p>\n", j.unchanged_counters));
            }
            for n in &j.notes {
                out.push_str(&format!("<p class=\"note\">note: {}</p>\n", esc(n)));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("<p class=\"note\">note: {}</p>\n", esc(n)));
        }
        out
    }

    /// The comparison as GitHub markdown (for a PR comment or a report).
    pub fn to_markdown(&self) -> String {
        let mut out = format!("A = `{}`, B = `{}`\n", self.a, self.b);
        for w in &self.warnings {
            out.push_str(&format!("\n> **warning:** {w}\n"));
        }
        for j in &self.jobs {
            out.push_str(&format!("\n### job `{}`\n\n", j.job));
            out.push_str(&j.op_table().to_markdown());
            let counters = j.counter_table();
            if !counters.is_empty() {
                out.push('\n');
                out.push_str(&counters.to_markdown());
            }
            if j.unchanged_counters > 0 {
                out.push_str(&format!("\n{} other counters unchanged.\n", j.unchanged_counters));
            }
            for n in &j.notes {
                out.push_str(&format!("\n- note: {n}"));
            }
            if !j.notes.is_empty() {
                out.push('\n');
            }
        }
        for n in &self.notes {
            out.push_str(&format!("\n- note: {n}"));
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out
    }
}
