//! `aopsbench diff` and `aopsbench replay`: lockstep differential testing, and what to do
//! with a divergence (report, trace, minimal trace, replay command).

use crate::cli::{DiffArgs, MixArg, ReplayArgs, TargetArgs};
use crate::diff::targets as diff_targets;
use crate::diff::{self, Budget, Found, Lockstep, MODEL_MAX_FILE, Stats, TargetSet, coverage, report};
use crate::machine;
use crate::targets::{self, TargetSpec};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use vocab::Size;
use workloads::{FsxConfig, FsxWeights, Mix, Op, OpKind, Swarm};

/// Ops of a diff given neither --ops nor --duration (and of each seed of a campaign).
pub(super) const DEFAULT_OPS: u64 = 10_000;
/// Files a replayed trace may use.
const MAX_FILES: u32 = 64;
/// Shrink attempts at most.
const MAX_SHRINK_ATTEMPTS: u64 = 20_000;
/// Largest file and op of a swarm mix unless given (small phases stay within 256k).
const SWARM_FILE_LEN: u64 = 4 << 20;
const SWARM_OP_LEN: u64 = 1 << 20;
/// Largest file and op of the fixed mix unless given (fsx's).
const FIXED_FILE_LEN: u64 = 256 << 10;
const FIXED_OP_LEN: u64 = 64 << 10;
/// Folio size the swarm's boundary bias aims at: 64 blocks of 1k, past one bitmap word at 4k.
const SWARM_FOLIO: u64 = 64 << 10;
/// Mean ops between power cuts with the swarm mix unless given.
const SWARM_POWERCUT_EVERY: u64 = 1000;

/// Mean ops between power cuts, if any.
fn power_cut_every(args: &DiffArgs) -> Option<u64> {
    let every = args.powercut_every.unwrap_or(match args.mix {
        MixArg::Swarm => SWARM_POWERCUT_EVERY,
        MixArg::Fixed => 0,
    });
    (every > 0).then_some(every)
}

fn specs_of(args: &TargetArgs) -> Result<Vec<TargetSpec>> {
    let specs = args.specs();
    Ok(if specs.is_empty() { diff_targets::default_specs() } else { specs })
}

fn names(set: &TargetSet) -> String {
    set.names().join(", ")
}

/// The fsx stream of a diff: its mix, seed and bounds.
pub(super) fn stream_config(args: &DiffArgs, set: &TargetSet) -> Result<FsxConfig> {
    let swarm = args.mix == MixArg::Swarm;
    let weights = match &args.weights {
        Some(w) => FsxWeights::parse(w)?,
        None => FsxWeights::default(),
    };
    let mix = match args.mix {
        MixArg::Swarm => {
            Mix::Swarm(Swarm { weights: args.weights.is_none(), align: args.align.is_none(), ..Swarm::default() })
        }
        MixArg::Fixed => Mix::Fixed,
    };
    let defaults = FsxConfig::default();
    Ok(FsxConfig {
        seed: args.seed,
        ops: None,
        weights,
        max_file_len: args.file_len.unwrap_or(if swarm { SWARM_FILE_LEN } else { FIXED_FILE_LEN }),
        max_op_len: args.op_len.unwrap_or(if swarm { SWARM_OP_LEN } else { FIXED_OP_LEN }),
        align: args.align.unwrap_or(1),
        block_size: set.range_align(),
        coarse_block_size: set.max_block_size(),
        folio_size: if swarm { SWARM_FOLIO } else { defaults.folio_size },
        mix,
        power_cut_every: power_cut_every(args),
        ..defaults
    })
}

/// Largest file of a diff: `--file-len`, else its mix's default.
pub(super) fn file_len(args: &DiffArgs) -> u64 {
    args.file_len.unwrap_or(if args.mix == MixArg::Swarm { SWARM_FILE_LEN } else { FIXED_FILE_LEN })
}

/// The targets of a diff (with `--bug` and power cuts applied), built afresh for each stream.
pub(super) fn target_set(args: &DiffArgs) -> Result<TargetSet> {
    let file_len = file_len(args);
    if file_len > MODEL_MAX_FILE {
        bail!("--file-len {file_len}: the in-memory model holds files up to 1g: use a smaller --file-len");
    }
    let mut specs = specs_of(&args.targets)?;
    if let Some(bug) = &args.bug {
        specs = diff_targets::with_bug(specs, bug)?;
    }
    if power_cut_every(args).is_some() {
        specs = diff_targets::with_power_cuts(specs);
    }
    Ok(TargetSet::new(specs, file_len)?
        .with_destroy(targets::Destroy::from_flag(args.check.force_destroy))
        .with_disk_checks(args.check.disk_checks.clone()))
}

/// Runs the command; `Ok(false)` when a divergence was found.
pub fn diff(args: &DiffArgs, argv: &[String]) -> Result<bool> {
    if let Some(seeds) = args.seeds {
        return super::campaign::campaign(args, seeds, argv);
    }
    let file_len = file_len(args);
    let set = target_set(args)?;
    let ops_limit = match (args.ops, args.duration) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_OPS),
    };
    let cfg = FsxConfig { ops: ops_limit, ..stream_config(args, &set)? };
    let stream = cfg.stream()?;
    let mut ls = Lockstep::new(&set, 1, args.check.check_every, file_len)?;
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
    let mix = match &cfg.mix {
        Mix::Swarm(s) => format!(
            "swarm (a new mix every {} ops within: files up to {}, ops up to {}{})",
            s.phase_ops,
            Size(cfg.max_file_len),
            Size(cfg.max_op_len),
            if s.align { String::new() } else { format!(", align {}", Size(cfg.align)) }
        ),
        _ => format!(
            "fixed (files up to {}, ops up to {}, align {})",
            Size(cfg.max_file_len),
            Size(cfg.max_op_len),
            Size(cfg.align)
        ),
    };
    if !args.check.disk_checks.is_empty() {
        let checks: Vec<&str> = args.check.disk_checks.iter().map(|c| c.name()).collect();
        whole += &format!("; fsimpl images checked ({}) after remounts and at the end", checks.join(", "));
    }
    println!(
        "diff: seed {}, {limit} on {} and the model; mix {mix}, ranges aligned to {}; whole files compared {whole}",
        args.seed,
        names(&set),
        Size(set.range_align()),
    );
    print_notes(&ls, &set);
    if let Some(every) = cfg.power_cut_every {
        let who: Vec<&str> = set
            .names()
            .iter()
            .zip(set.specs())
            .filter(|(_, s)| s.get("faults").is_some_and(|f| f.contains("powercut")))
            .map(|(n, _)| n.as_str())
            .collect();
        println!(
            "power cuts: every {every} ops on average on {}, each followed by a remount and the durability check \
             (--powercut-every 0: none)",
            if who.is_empty() { "no target (none can lose power)".to_string() } else { who.join(", ") }
        );
    }
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
    let counters = ls.counters();
    ls.close()?;
    let Some(d) = found else {
        print_summary(&stats, elapsed, &set, 0);
        print!("{}", coverage::render(&counters));
        return Ok(true);
    };
    // The stream is deterministic: regenerate it rather than keep every op.
    let mut stream = cfg.stream()?;
    let ops: Vec<Op> = stream.by_ref().take(d.op_number as usize).collect();
    let phase = stream.phase().describe();
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
        "ops_emulated": stats.total_emulated(),
        "power_cuts": stats.total_power_cuts(),
        "fsx": {
            "mix": if args.mix == MixArg::Swarm { "swarm" } else { "fixed" },
            "max_file_len": cfg.max_file_len,
            "max_op_len": cfg.max_op_len,
            "align": cfg.align,
            "weights": args.weights,
            "mix_at_divergence": phase,
        },
    });
    if args.mix == MixArg::Swarm {
        println!("mix at op {}: {phase}", d.op_number);
    }
    let found = Found { set: &set, ops, files: 1, check_every: args.check.check_every, divergence: d, context };
    investigate(found, args.check.shrink_time, &out)?;
    Ok(false)
}

/// What is emulated on which targets, and remounts that are not real ones.
pub(super) fn print_notes(ls: &Lockstep, set: &TargetSet) {
    let mut notes: Vec<(String, Vec<&str>)> = Vec::new();
    for (mode, who) in ls.unsupported_modes() {
        let name = report::mode_name(mode);
        match notes.iter_mut().find(|(w, _)| *w == who) {
            Some((_, modes)) => modes.push(name),
            None => notes.push((who, vec![name])),
        }
    }
    for (who, modes) in notes {
        println!(
            "note: {who} cannot do {}: emulated there with reads, writes and truncates (the model and the other \
             targets run the real op)",
            modes.join(", ")
        );
    }
    let align = set.range_align();
    let coarse: Vec<&str> =
        set.names().iter().zip(set.block_sizes()).filter(|(_, b)| **b > align).map(|(n, _)| n.as_str()).collect();
    if !coarse.is_empty() {
        println!(
            "note: collapse_range and insert_range of ranges aligned to {} but not to the block size are emulated on {}",
            Size(align),
            coarse.join(", ")
        );
    }
    for note in ls.remount_notes() {
        println!("note: {note}");
    }
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
    let mut specs = specs_of(&args.targets)?;
    if ops.iter().any(|op| matches!(op, Op::PowerCut { .. })) {
        specs = diff_targets::with_power_cuts(specs);
    }
    let set = TargetSet::new(specs, extent)?.with_destroy(targets::Destroy::from_flag(args.check.force_destroy));
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
            let found = Found {
                set: &set,
                ops: ops[..upto].to_vec(),
                files,
                check_every: args.check.check_every,
                divergence: d,
                context,
            };
            investigate(found, args.check.shrink_time, out)?;
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
    let cuts = match stats.total_power_cuts() {
        0 => String::new(),
        n => format!("; {n} power cuts survived"),
    };
    let in_trace = match skipped_in_trace {
        0 => String::new(),
        1 => String::from("; 1 entry marked skip or of length 0 in the trace, not run"),
        n => format!("; {n} entries marked skip or of length 0 in the trace, not run"),
    };
    println!(
        "no divergence: {ran} ops in {secs:.2} s ({:.0} ops/s) on {} and the model; {} whole-file checks; {} ops emulated{cuts}{in_trace}",
        ran as f64 / secs,
        names(set),
        stats.whole_checks,
        stats.total_emulated(),
    );
    println!("  {:<16} {:>9} {:>9}", "op", "ran", "emulated");
    for kind in OpKind::ALL {
        let r = stats.ran[kind.index()];
        if r == 0 {
            continue;
        }
        let on: Vec<String> = stats
            .emulated
            .iter()
            .filter(|(_, e)| e[kind.index()] > 0)
            .map(|(name, e)| format!("{name} {}", e[kind.index()]))
            .collect();
        let total: u64 = stats.emulated.iter().map(|(_, e)| e[kind.index()]).sum();
        let who = if on.is_empty() { String::new() } else { format!("  (on {})", on.join(", ")) };
        println!("  {:<16} {r:>9} {total:>9}{who}", kind.as_str());
    }
    if stats.total_power_cuts() > 0 {
        let per: Vec<String> = stats.power_cuts.iter().map(|(n, c)| format!("{n} {c}")).collect();
        println!("  power cuts, each checked against the durability rules: {}", per.join(", "));
        if stats.durability_unchecked > 0 {
            println!(
                "  (0x{:x} bytes written between syncs were too many to keep: those were not checked)",
                stats.durability_unchecked
            );
        }
    }
}

/// Reports a divergence, writes the files and shrinks; prints the minimal trace and the
/// replay command.
pub(super) fn investigate(found: Found<'_>, shrink_time: Duration, out: &Path) -> Result<()> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("shrinking {spinner} {msg} {elapsed}").expect("valid template"));
    let budget = Budget { deadline: Instant::now() + shrink_time, max_attempts: MAX_SHRINK_ATTEMPTS };
    let n = found.ops.len();
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
