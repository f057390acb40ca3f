//! `aopsbench plot`, `report`, `compare` and `gate`: reading run directories.

use crate::cli::{GateArgs, ReportArgs};
use anyhow::{Context, Result};
use results::{JobSummary, TargetSummary};
use std::path::{Path, PathBuf};

/// `aopsbench plot RUNDIR`.
pub fn plot(run_dir: &Path) -> Result<()> {
    let files = results::plot(run_dir).with_context(|| format!("plotting {}", run_dir.display()))?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

/// `aopsbench report RUNDIR...`: writes the page and prints where.
pub fn report(args: &ReportArgs) -> Result<PathBuf> {
    let out = match (&args.out, args.run_dirs.last()) {
        (Some(out), _) => out.clone(),
        (None, Some(last)) => last.join(results::run_dir::REPORT_HTML),
        (None, None) => anyhow::bail!("give at least one run directory"),
    };
    results::html::write_report(&args.run_dirs, &out).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", out.display());
    Ok(out)
}

/// `aopsbench compare A B`: the deltas on stdout, warnings on stderr, and the comparison
/// charts in `plots` when given.
pub fn compare(a: &Path, b: &Path, markdown: bool, plots: Option<&Path>) -> Result<()> {
    let c = results::compare_dirs(a, b)?;
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", if markdown { c.to_markdown() } else { c.to_terminal() });
    if let Some(dir) = plots {
        for f in results::plot_comparison(a, b, dir).with_context(|| format!("drawing into {}", dir.display()))? {
            println!("{}", f.display());
        }
    }
    Ok(())
}

/// Why the counters of `target` in `job` cannot repeat from run to run, if they cannot: a
/// time-limited job runs as many ops as fit in its time; a kernel target's device counts the
/// kernel's own work too (journal commits, writeback timing). fsimpl targets on a size-based,
/// seeded job repeat exactly.
pub fn counters_not_gated(run: &results::RunDir, job: &JobSummary, target: &TargetSummary) -> Option<String> {
    let kind = target.spec.split(':').next().unwrap_or_default();
    if !matches!(kind, "bh" | "iomap" | "null") {
        return Some(format!(
            "{kind} is a kernel target: its device counts the kernel's own work too, which varies between runs"
        ));
    }
    let definition = run.job_definition(&job.job)?;
    let parsed = workloads::JobFileBuilder::new(true).text(definition, "run.json").and_then(|b| b.build());
    let control = &parsed.ok()?.jobs.into_iter().next()?.control;
    match (control.time_based, control.runtime) {
        (true, Some(rt)) => Some(format!("time-based job ({rt:?}): how many ops fit in it depends on the machine")),
        (false, Some(rt)) => {
            Some(format!("runtime={rt:?} may stop the job before its ops are done, depending on the machine"))
        }
        _ => None,
    }
}

/// `aopsbench gate`: Ok(true) when the run passes (or a baseline was written).
pub fn gate(args: &GateArgs) -> Result<bool> {
    if let Some(file) = &args.write_baseline {
        let baseline = results::write_baseline_with(&args.run_dir, file, counters_not_gated)?;
        println!("baseline written: {}", file.display());
        for job in &baseline.jobs {
            for t in job.targets.iter().filter(|t| t.counters_not_gated.is_some()) {
                let why = t.counters_not_gated.as_deref().unwrap_or_default();
                println!("  note: {} @ {}: counters not gated: {why}", job.job, t.target);
            }
        }
        return Ok(true);
    }
    let Some(baseline) = args.baseline.as_ref() else {
        anyhow::bail!(
            "gate needs --baseline FILE to check {} against, or --write-baseline FILE to make a baseline of it",
            args.run_dir.display()
        );
    };
    if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
        anyhow::bail!("--tolerance {}: give a fraction such as 0.1", args.tolerance);
    }
    let report = results::check(baseline, &args.run_dir, args.tolerance)?;
    print!("{}", report.describe());
    Ok(!report.is_regression())
}
