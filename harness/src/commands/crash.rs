//! `aopsbench crash`: a crash-consistency campaign on a kernel filesystem, and what to do with
//! a violation (report, trace, minimal trace, the command that replays it).

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use workloads::{FsxConfig, FsxWeights, Op};

use crate::cli::CrashArgs;
use crate::crash::{self, Campaign, Plan, report};
use crate::diff::{self, Budget, MODEL_MAX_FILE};
use crate::machine;
use crate::targets::{Device, MountConfig, TargetSpec};

/// Shrink attempts at most.
const MAX_SHRINK_ATTEMPTS: u64 = 2_000;

/// The filesystem of `--target`, on the device aopsbench serves.
fn config_of(spec: &TargetSpec) -> Result<MountConfig> {
    let m = match spec {
        TargetSpec::Mount(m) if m.kind.has_device() => m,
        _ => bail!(
            "crash: target {spec}: crash campaigns run on ext4 or xfs (a kernel filesystem on a block device); \
             fsimpl targets have faults=powercut=N under aopsbench diff"
        ),
    };
    if !m.faults.is_empty() {
        bail!("crash: target {spec}: faults= and crash campaigns do not mix: give the target without faults=");
    }
    Ok(MountConfig { device: Device::Logged, ..MountConfig::from_spec(m) })
}

/// The largest file a campaign takes: the oracle keeps a copy of each file per op since its
/// last sync.
const MAX_FILE: u64 = 16 << 20;

/// The op stream: a trace, a job, or the fsx mix.
fn ops_of(args: &CrashArgs, cfg: &MountConfig) -> Result<Vec<Op>> {
    let checked = |ops: Vec<Op>, what: &str| {
        if diff::extent_of(&ops) > MAX_FILE.min(MODEL_MAX_FILE) {
            bail!(
                "{what}: files grow past 16m; a crash campaign keeps a copy of each file per op since its last sync: use smaller files"
            );
        }
        Ok(ops)
    };
    if let Some(trace) = &args.trace {
        return checked(super::diff::load_trace(trace)?.0, &trace.display().to_string());
    }
    if let Some(name) = &args.job {
        let text = match workloads::jobs::builtin(name) {
            Some(text) => text.to_string(),
            None => std::fs::read_to_string(name).with_context(|| format!("cannot read job file {name}"))?,
        };
        let file = workloads::JobFileBuilder::new(false).text(&text, name)?.build()?;
        let Some(job) = file.jobs.first() else { bail!("{name}: no job in the file") };
        let Some(plan) = job.threads().into_iter().next() else { bail!("{name}: job {} has no thread", job.name) };
        let mut ops = plan.layout.clone();
        ops.extend(plan.ops.take(args.ops as usize));
        return checked(ops, &format!("job {}", job.name));
    }
    let weights = match &args.weights {
        Some(w) => FsxWeights::parse(w)?,
        None => FsxWeights::default(),
    };
    let fsx = FsxConfig {
        seed: args.seed,
        ops: Some(args.ops),
        weights,
        max_file_len: args.file_len,
        max_op_len: args.op_len,
        align: args.align,
        block_size: cfg.block_size(),
        ..FsxConfig::default()
    };
    checked(fsx.stream()?.collect(), "the fsx stream")
}

fn plan_of(args: &CrashArgs) -> Plan {
    Plan {
        random: args.random_points,
        seed: args.seed,
        max_points: args.max_points,
        deadline: args.duration.map(|d| Instant::now() + d),
    }
}

/// Runs the command; `Ok(false)` when a violation was found.
pub fn crash(args: &CrashArgs, argv: &[String]) -> Result<bool> {
    let cfg = config_of(&args.target)?;
    let ops = ops_of(args, &cfg)?;
    let files = diff::files_of(&ops);
    let source = match (&args.trace, &args.job) {
        (Some(t), _) => format!("trace {} ({} ops)", t.display(), ops.len()),
        (_, Some(j)) => format!("job {j} ({} ops with its layout)", ops.len()),
        _ => format!("seed {}, {} fsx ops", args.seed, ops.len()),
    };
    println!(
        "crash: {source} on {}; crash points at every flush and {} random between flushes",
        TargetSpec::Mount(cfg.spec()),
        args.random_points
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("crash [{bar:30}] {pos}/{len} states {per_sec} {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let c = crash::campaign(&cfg, &ops, files, &plan_of(args), &mut |n, of| {
        bar.set_length(of as u64);
        bar.set_position(n as u64);
    })?;
    bar.finish_and_clear();
    print_summary(&c);
    let Some(v) = &c.violation else { return Ok(true) };
    let block = cfg.block_size();
    let upto = v.started.min(ops.len());
    print!("\n{}", report::render(v, &ops, &c.spec, block));

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("crash-{}", machine::utc_stamp(SystemTime::now()))));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot make {}", out.display()))?;
    let trace = out.join("trace.jsonl");
    workloads::trace::save_jsonl(&trace, &ops[..upto]).with_context(|| format!("cannot write {}", trace.display()))?;
    let mut doc = json!({
        "aopsbench_version": env!("CARGO_PKG_VERSION"),
        "command": argv,
        "target": c.spec,
        "seed": args.seed,
        "random_points": args.random_points,
        "trace": {"file": "trace.jsonl", "ops": upto},
        "violation": report::to_json(v, &ops, block),
    });
    let json_path = out.join("violation.json");
    write_json(&json_path, &doc)?;

    let minimal_path = out.join("minimal.jsonl");
    let (minimal, attempts, complete) = if args.shrink_time.is_zero() {
        (ops[..upto].to_vec(), 0, false)
    } else {
        shrink(args, &cfg, ops[..upto].to_vec(), v.kind)?
    };
    workloads::trace::save_jsonl(&minimal_path, &minimal)
        .with_context(|| format!("cannot write {}", minimal_path.display()))?;
    let replay = format!("aopsbench crash --trace {} --target '{}'", minimal_path.display(), args.target);
    doc["minimal"] = json!({"file": "minimal.jsonl", "ops": minimal.len(), "attempts": attempts, "complete": complete});
    doc["replay"] = json!(replay);
    write_json(&json_path, &doc)?;
    let state = if complete { "" } else { " (shrinking stopped early: --shrink-time)" };
    println!("\nminimal stream: {} ops{state}, {attempts} attempts", minimal.len());
    for (i, op) in minimal.iter().enumerate() {
        println!("  {:>4}  {}", i + 1, diff::report::op_line(op));
    }
    println!("files: {} (trace.jsonl, violation.json, minimal.jsonl)", out.display());
    println!("replay: {replay}");
    Ok(false)
}

/// Shrinks `ops` while a campaign on it still finds a violation of `kind`.
fn shrink(args: &CrashArgs, cfg: &MountConfig, ops: Vec<Op>, kind: crash::Kind) -> Result<(Vec<Op>, u64, bool)> {
    let files = diff::files_of(&ops);
    let budget = Budget { deadline: Instant::now() + args.shrink_time, max_attempts: MAX_SHRINK_ATTEMPTS };
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("shrink {spinner} {msg} {elapsed}").expect("valid template"));
    let plan = Plan { deadline: None, ..plan_of(args) };
    let mut test = |trial: &[Op]| -> Result<bool, crash::CrashError> {
        if diff::files_of(trial) != files {
            return Ok(false);
        }
        bar.set_message(format!("{} ops", trial.len()));
        let c = match crash::campaign(cfg, trial, files, &plan, &mut |_, _| {}) {
            Ok(c) => c,
            // A shrunk stream the live run rejects is just not a reproduction.
            Err(crash::CrashError::LiveDiverged { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(c.violation.is_some_and(|v| v.kind == kind))
    };
    let shrunk = diff::shrink::shrink(ops, cfg.block_size(), budget, &mut test)?;
    bar.finish_and_clear();
    Ok((shrunk.ops, shrunk.attempts, shrunk.complete))
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

fn print_summary(c: &Campaign) {
    let checked = c.total_checked();
    let t = &c.timings;
    let per = |d: std::time::Duration| {
        if t.states == 0 { "-".to_string() } else { format!("{:.1}ms", d.as_secs_f64() * 1e3 / t.states as f64) }
    };
    let secs = c.check_time.as_secs_f64().max(1e-9);
    println!(
        "recorded: {} writes ({} KiB), {} flushes in {:.1}s",
        c.writes,
        c.bytes >> 10,
        c.flushes,
        c.record_time.as_secs_f64()
    );
    let [flush, prefix, subset, after_sync] = c.checked;
    let cut = if checked < c.points && c.violation.is_none() { " (cut by --duration)" } else { "" };
    println!(
        "checked {checked} of {} crash states{cut}: {flush} at flushes, {prefix} prefixes, {subset} random subsets, \
         {after_sync} after syncs with writes unflushed, in {secs:.1}s: {:.1} states/s",
        c.points,
        checked as f64 / secs
    );
    println!(
        "per state: {} (build {}, loop devices {}, mount and recovery {}, read {}, umount {}, fsck {})",
        per(t.total()),
        per(t.build),
        per(t.loop_dev),
        per(t.mount),
        per(t.read),
        per(t.umount),
        per(t.fsck)
    );
    if c.violation.is_none() {
        println!("no violation");
    }
}
