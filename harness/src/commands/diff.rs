//! `aopsbench diff` and `aopsbench replay`: lockstep differential testing, and what to do
//! with a divergence (report, trace, minimal trace, replay command).

use crate::cli::{CheckArgs, DiffArgs, ReplayArgs, TargetArgs};
use crate::diff::{self, Budget, Divergence, Found, Lockstep, MODEL_MAX_FILE, Stats, TargetSet, report};
use crate::machine;
use crate::targets::{self, TargetSpec};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use vocab::Size;
use workloads::{FsxConfig, FsxWeights, Op, OpKind};

/// Ops of a diff given neither --ops nor --duration (and of each seed of a campaign).
pub(super) const DEFAULT_OPS: u64 = 10_000;
/// Files a replayed trace may use.
const MAX_FILES: u32 = 64;
/// Shrink attempts at most.
const MAX_SHRINK_ATTEMPTS: u64 = 20_000;

fn specs_of(args: &TargetArgs) -> Result<Vec<TargetSpec>> {
    let specs = args.specs();
    Ok(if specs.is_empty() { super::run::default_targets() } else { specs })
}

fn names(set: &TargetSet) -> String {
    set.names().join(", ")
}

/// The fsx stream of a diff: its seed (`--seed`) and bounds; no op limit.
pub(super) fn stream_config(args: &DiffArgs, set: &TargetSet) -> Result<FsxConfig> {
    let weights = match &args.weights {
        Some(w) => FsxWeights::parse(w)?,
        None => FsxWeights::default(),
    };
    Ok(FsxConfig {
        seed: args.seed,
        ops: None,
        weights,
        max_file_len: args.file_len,
        max_op_len: args.op_len,
        align: args.align,
        block_size: set.max_block_size(),
        ..FsxConfig::default()
    })
}

/// The targets of a diff, built afresh for each stream.
pub(super) fn target_set(args: &DiffArgs) -> Result<TargetSet> {
    if args.file_len > MODEL_MAX_FILE {
        bail!("--file-len {}: the in-memory model holds files up to 1g: use a smaller --file-len", args.file_len);
    }
    Ok(TargetSet::new(specs_of(&args.targets)?, args.file_len)?
        .with_destroy(targets::Destroy::from_flag(args.check.force_destroy))
        .with_disk_checks(args.check.disk_checks.clone()))
}

/// Runs the command; `Ok(false)` when a divergence was found.
pub fn diff(args: &DiffArgs, argv: &[String]) -> Result<bool> {
    if let Some(seeds) = args.seeds {
        return super::campaign::campaign(args, seeds, argv);
    }
    let set = target_set(args)?;
    let ops_limit = match (args.ops, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_OPS),
    };
    let cfg = FsxConfig { ops: ops_limit, ..stream_config(args, &set)? };
    let stream = cfg.stream()?;
    let mut ls = Lockstep::new(&set, 1, args.check.check_every, args.file_len)?;
    let limit = match (ops_limit, args.duration) {
        (Some(n), Some(d)) => format!("{n} ops or {d:?}"),
        (Some(n), None) => format!("{n} ops"),
        (None, Some(d)) => format!("{d:?}"),
        (None, None) => "no limit".to_string(),
    };
    let mut whole = match args.check.check_every {
        0 => "after remounts and at the end".to_string(),
        k => format!("every {k} ops, after remounts and at the end"),
    };
    if !args.check.disk_checks.is_empty() {
        let checks: Vec<&str> = args.check.disk_checks.iter().map(|c| c.name()).collect();
        whole += &format!("; fsimpl images checked ({}) after remounts and at the end", checks.join(", "));
    }
    println!(
        "diff: seed {}, {limit} on {} and the model; file up to {}, ops up to {}, align {}, ranges aligned to {}; whole files compared {whole}",
        args.seed,
        names(&set),
        Size(args.file_len),
        Size(args.op_len),
        Size(args.align),
        Size(set.max_block_size()),
    );
    print_notes(&ls);
    let bar = progress_bar(ops_limit);
    let deadline = args.duration.map(|d| Instant::now() + d);
    let t0 = Instant::now();
    let found = ls.run(stream, |n| {
        bar.set_position(n);
        deadline.is_none_or(|d| Instant::now() < d)
    })?;
    let elapsed = t0.elapsed();
    bar.finish_and_clear();
    let stats = ls.stats().clone();
    ls.close()?;
    let Some(d) = found else {
        print_summary(&stats, elapsed, &set, 0);
        return Ok(true);
    };
    // The stream is deterministic: regenerate it rather than keep every op.
    let ops: Vec<Op> = cfg.stream()?.take(d.op_number as usize).collect();
    if d.explained_by_faults() {
        print!("{}", report::render(&d, &ops));
        return Ok(true);
    }
    let out = args
        .check
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("diff-{}", machine::utc_stamp(SystemTime::now()))));
    let context = json!({
        "command": argv,
        "seed": args.seed,
        "ops_run": stats.total_ran(),
        "ops_skipped": stats.total_skipped(),
        "fsx": {"max_file_len": args.file_len, "max_op_len": args.op_len, "align": args.align, "weights": args.weights},
    });
    investigate(&set, ops, 1, d, context, &args.check, &out)?;
    Ok(false)
}

/// Runs `aopsbench replay`; `Ok(false)` when a divergence was found.
pub fn replay(args: &ReplayArgs, argv: &[String]) -> Result<bool> {
    let path = &args.trace;
    let (ops, skipped_in_trace) = load_trace(path)?;
    let files = diff::files_of(&ops);
    if files > MAX_FILES {
        bail!("{}: the trace uses {files} files; replay takes up to {MAX_FILES}", path.display());
    }
    let extent = diff::extent_of(&ops);
    if extent > MODEL_MAX_FILE {
        bail!("{}: the trace reaches byte {extent}; the in-memory model holds files up to 1g", path.display());
    }
    let set = TargetSet::new(specs_of(&args.targets)?, extent)?
        .with_destroy(targets::Destroy::from_flag(args.check.force_destroy));
    let in_trace = match skipped_in_trace {
        0 => String::new(),
        1 => String::from("; 1 entry marked skip or of length 0, not run"),
        n => format!("; {n} entries marked skip or of length 0, not run"),
    };
    println!("replay: {} ({} ops{in_trace}) on {} and the model", path.display(), ops.len(), names(&set));
    let r = diff::replay(&set, &ops, files, args.check.check_every)?;
    let Some(d) = r.divergence else {
        print_summary(&r.stats, r.elapsed, &set, skipped_in_trace);
        return Ok(true);
    };
    let upto = (d.op_number as usize).min(ops.len());
    if d.explained_by_faults() {
        print!("{}", report::render(&d, &ops[..upto]));
        return Ok(true);
    }
    match &args.check.out {
        Some(out) => {
            let context = json!({"command": argv, "replayed": path.display().to_string()});
            investigate(&set, ops[..upto].to_vec(), files, d, context, &args.check, out)?;
        }
        None => print!("{}", report::render(&d, &ops[..upto])),
    }
    Ok(false)
}

/// The ops of a trace file — JSON lines, or an fsx `.fsxops` log (by extension, else by the
/// first line that is not blank or a comment) — and how many of its entries give no op (an
/// `.fsxops` log's `skip` and zero-length entries).
pub(crate) fn load_trace(path: &Path) -> Result<(Vec<Op>, u64)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the trace {}", path.display()))?;
    let name = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let json = match ext {
        "fsxops" => false,
        "jsonl" | "json" => true,
        _ => text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .is_some_and(|l| l.starts_with('{')),
    };
    let (ops, skipped) = if json {
        (workloads::trace::read_jsonl(&text, &name)?, 0)
    } else {
        let log = workloads::fsxops::parse(&text, &name)?;
        (log.ops, log.skipped)
    };
    if ops.is_empty() {
        bail!("{name}: no ops to run in the trace ({skipped} entries marked skip or of length 0)");
    }
    Ok((ops, skipped))
}

/// What the targets cannot do, once before the ops.
pub(super) fn print_notes(ls: &Lockstep) {
    let mut notes: Vec<(String, Vec<&str>)> = Vec::new();
    for (mode, who) in ls.unsupported_modes() {
        let name = report::mode_name(mode);
        match notes.iter_mut().find(|(w, _)| *w == who) {
            Some((_, modes)) => modes.push(name),
            None => notes.push((who, vec![name])),
        }
    }
    for (who, modes) in notes {
        println!("note: {who} cannot do {}: those ops are skipped on every target", modes.join(", "));
    }
    for note in ls.remount_notes() {
        println!("note: {note}");
    }
}

fn progress_bar(ops: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::new(ops.unwrap_or(0));
    let style = match ops {
        Some(_) => "diff [{bar:30}] {pos}/{len} ops {per_sec}",
        None => "diff {spinner} {pos} ops {per_sec} {elapsed}",
    };
    bar.set_style(ProgressStyle::with_template(style).expect("valid template").progress_chars("=> "));
    bar
}

/// The closing summary; `skipped_in_trace`: entries of a replayed log that gave no op.
fn print_summary(stats: &Stats, elapsed: Duration, set: &TargetSet, skipped_in_trace: u64) {
    let ran = stats.total_ran();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let in_trace = match skipped_in_trace {
        0 => String::new(),
        n => format!(" ({} here, {n} marked skip or of length 0 in the trace)", stats.total_skipped()),
    };
    println!(
        "no divergence: {ran} ops in {secs:.2} s ({:.0} ops/s) on {} and the model; {} whole-file checks; {} ops \
         skipped{in_trace}",
        ran as f64 / secs,
        names(set),
        stats.whole_checks,
        stats.total_skipped() + skipped_in_trace
    );
    println!("  {:<16} {:>9} {:>9}", "op", "ran", "skipped");
    for kind in OpKind::ALL {
        let (r, s) = (stats.ran[kind.index()], stats.skipped[kind.index()]);
        if r == 0 && s == 0 {
            continue;
        }
        let why = stats.skip_reasons[kind.index()].as_deref().map(|w| format!("  ({w})")).unwrap_or_default();
        println!("  {:<16} {r:>9} {s:>9}{why}", kind.as_str());
    }
}

/// Reports a divergence, writes the files and shrinks; prints the minimal trace and the
/// replay command.
pub(super) fn investigate(
    set: &TargetSet,
    ops: Vec<Op>,
    files: u32,
    d: Box<Divergence>,
    context: Value,
    check: &CheckArgs,
    out: &Path,
) -> Result<()> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("shrinking {spinner} {msg} {elapsed}").expect("valid template"));
    let budget = Budget { deadline: Instant::now() + check.shrink_time, max_attempts: MAX_SHRINK_ATTEMPTS };
    let n = ops.len();
    let found = Found { set, ops, files, check_every: check.check_every, divergence: d, context };
    // The screen first, so that it shows even if shrinking is interrupted.
    print!("{}", report::render(&found.divergence, &found.ops));
    let inv = diff::investigate(found, out, budget, &mut |attempt, len| {
        bar.set_message(format!("attempt {attempt}: {len} ops"));
        bar.tick();
    })
    .with_context(|| format!("writing the report to {}", out.display()))?;
    bar.finish_and_clear();
    println!();
    println!("files: {0}/trace.jsonl ({n} ops), {0}/divergence.json, {0}/minimal.jsonl", out.display());
    if !inv.reproduced {
        println!("the whole trace did not diverge the same way when replayed on fresh targets: not shrunk");
    } else {
        let how = if inv.complete { "" } else { " (stopped at --shrink-time: not minimal)" };
        println!("minimal trace: {} ops, after {} replays{how}:", inv.minimal.len(), inv.attempts);
        for (i, op) in inv.minimal.iter().enumerate().take(20) {
            println!("  {:>3}  {}", i + 1, report::op_line(op));
        }
        if inv.minimal.len() > 20 {
            println!("  ... ({} more)", inv.minimal.len() - 20);
        }
        if let Some(m) = &inv.minimal_divergence {
            let how: Vec<String> = m.signature().iter().map(|(t, k)| format!("{t} ({})", k.as_str())).collect();
            println!("  diverges at op {}: {}", m.op_number, how.join(", "));
        }
    }
    println!("replay: {}", inv.replay_command);
    Ok(())
}
