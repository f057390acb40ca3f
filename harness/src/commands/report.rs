//! `aopsbench plot`, `compare` and `gate`: reading run directories.

use crate::cli::GateArgs;
use anyhow::{Context, Result};
use std::path::Path;

/// `aopsbench plot RUNDIR`.
pub fn plot(run_dir: &Path) -> Result<()> {
    let files = results::plot(run_dir).with_context(|| format!("plotting {}", run_dir.display()))?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

/// `aopsbench compare A B`.
pub fn compare(a: &Path, b: &Path, markdown: bool) -> Result<()> {
    let c = results::compare_dirs(a, b)?;
    print!("{}", if markdown { c.to_markdown() } else { c.to_terminal() });
    Ok(())
}

/// `aopsbench gate`: Ok(true) when the run passes (or a baseline was written).
pub fn gate(args: &GateArgs) -> Result<bool> {
    if let Some(file) = &args.write_baseline {
        results::write_baseline(&args.run_dir, file)?;
        println!("baseline written: {}", file.display());
        return Ok(true);
    }
    let baseline = args.baseline.as_ref().context("--baseline FILE or --write-baseline FILE is needed")?;
    if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
        anyhow::bail!("--tolerance {}: give a fraction such as 0.1", args.tolerance);
    }
    let report = results::check(baseline, &args.run_dir, args.tolerance)?;
    print!("{}", report.describe());
    Ok(!report.is_regression())
}
