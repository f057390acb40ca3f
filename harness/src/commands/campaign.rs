//! `aopsbench diff --seeds A..B`: a differential-testing campaign, one fsx stream per seed,
//! each on fresh targets. Under MPI the ranks share the seeds ([`SeedRange::owned_by`]: rank r
//! takes A+r, A+r+N, ...); a divergence is shrunk on the rank that found it, and rank 0
//! collects every finding (seed, host, minimal trace, replay command) and what each host
//! covered.
//!
//! Sync points ([`Ranks::agree`](crate::ranks::Ranks::agree)): once the targets were built on every rank (a bad target or
//! a missing privilege stops every rank there), and at the end. A rank that fails in between
//! tells the others ([`Ranks::notice_failure`](crate::ranks::Ranks::notice_failure)); they stop before their next seed.

use super::diff::{self, DEFAULT_OPS};
use crate::cli::DiffArgs;
use crate::diff::{Lockstep, TargetSet, report};
use crate::machine;
use crate::ranks;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use vocab::SeedRange;
use workloads::{FsxConfig, Op};

/// A divergence one rank found, shrunk there.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Finding {
    seed: u64,
    rank: u32,
    host: String,
    /// The op of the seed's stream that diverged.
    op_number: u64,
    /// The targets that differ from the model.
    targets: Vec<String>,
    /// Where the finding rank wrote trace.jsonl, divergence.json and minimal.jsonl.
    dir: String,
    /// minimal.jsonl's text.
    minimal: String,
    /// The command that replays it.
    replay: String,
}

/// What one rank covered.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Covered {
    rank: u32,
    host: String,
    /// Seeds run to their last op (or to a divergence).
    seeds: u64,
    /// A seed cut short by --duration (or by another rank's failure).
    cut: Option<u64>,
    /// Seeds of this rank's share not started.
    left: u64,
    /// Ops run on every target.
    ops: u64,
    secs: f64,
    /// Divergences that the injected faults explain (not findings).
    explained: u64,
    findings: Vec<Finding>,
}

/// Runs the campaign; `Ok(false)` on rank 0 when any rank found a divergence.
pub fn campaign(args: &DiffArgs, seeds: SeedRange, argv: &[String]) -> Result<bool> {
    let ranks = ranks::current();
    // Setup: every rank builds its targets once, so that a target that cannot run here stops
    // every rank now rather than one rank at its first seed.
    let set = diff::target_set(args)?;
    let probe = Lockstep::new(&set, 1, args.check.check_every, args.file_len)?;
    if ranks.is_root() {
        diff::print_notes(&probe);
    }
    probe.close()?;
    ranks.agree(Ok(()))?;
    // Rank 0's clock names the campaign's directory.
    let out = args
        .check
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("diff-{}", machine::utc_stamp(SystemTime::now()))));
    let out = PathBuf::from(String::from_utf8_lossy(&ranks.all_gather(out.to_string_lossy().as_bytes())[0]).as_ref());
    let per_seed = args.ops.unwrap_or(DEFAULT_OPS);
    if ranks.is_root() {
        let limit = args.duration.map(|d| format!(", for at most {d:?}")).unwrap_or_default();
        println!(
            "campaign: seeds {seeds} ({} seeds) on {} rank(s), {per_seed} ops per seed{limit}, on {} and the model",
            seeds.len(),
            ranks.size(),
            set.names().join(", ")
        );
    }
    let covered = run_share(args, &set, seeds, per_seed, &out, argv)?;

    // Collect: a sync point, then every rank's coverage to rank 0.
    let mine = serde_json::to_vec(&covered)?;
    ranks.agree(Ok(()))?;
    let all = ranks.gather(&mine);
    let verdict = if ranks.is_root() {
        let all: Vec<Covered> = all
            .iter()
            .map(|b| serde_json::from_slice(b))
            .collect::<Result<_, _>>()
            .context("reading the ranks' campaign reports")?;
        conclude(&all, seeds, argv, &out)
    } else {
        Ok(true)
    };
    // Rank 0 wrote its files: the last sync point, so that a failure there is everybody's.
    let verdict = verdict?;
    ranks.agree(Ok(()))?;
    Ok(verdict)
}

/// Runs this rank's seeds: each stream on fresh targets until its last op, a divergence, or
/// the deadline; shrinks each divergence into `out/seed-<seed>/`.
fn run_share(
    args: &DiffArgs,
    set: &TargetSet,
    seeds: SeedRange,
    per_seed: u64,
    out: &Path,
    argv: &[String],
) -> Result<Covered> {
    let ranks = ranks::current();
    let mine: Vec<u64> = seeds.owned_by(ranks.rank(), ranks.size()).collect();
    let mut covered = Covered {
        rank: ranks.rank(),
        host: ranks.host().to_string(),
        seeds: 0,
        cut: None,
        left: mine.len() as u64,
        ops: 0,
        secs: 0.0,
        explained: 0,
        findings: Vec::new(),
    };
    let bar = ProgressBar::new(mine.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("campaign [{bar:30}] {pos}/{len} seeds {elapsed} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let t0 = Instant::now();
    let deadline = args.duration.map(|d| t0 + d);
    // Another rank's failure is looked for every 256 ops (an MPI_Iprobe), the deadline at each.
    let go_on =
        |n: u64| deadline.is_none_or(|d| Instant::now() < d) && (!n.is_multiple_of(256) || !ranks.failure_noticed());
    let base = diff::stream_config(args, set)?;
    for seed in mine {
        if !go_on(0) {
            break;
        }
        let cfg = FsxConfig { seed, ops: Some(per_seed), ..base.clone() };
        let mut ls = Lockstep::new(set, 1, args.check.check_every, args.file_len)?;
        let found = ls.run(cfg.stream()?, go_on)?;
        let ran = ls.stats().total_ran();
        ls.close()?;
        covered.ops += ran;
        covered.left -= 1;
        bar.inc(1);
        let Some(d) = found else {
            if go_on(0) {
                covered.seeds += 1;
            } else {
                covered.cut = Some(seed);
            }
            continue;
        };
        covered.seeds += 1;
        let ops: Vec<Op> = cfg.stream()?.take(d.op_number as usize).collect();
        if d.explained_by_faults() {
            covered.explained += 1;
            continue;
        }
        bar.suspend(|| -> Result<()> {
            println!("seed {seed} diverged on {}:", ranks.label());
            let dir = out.join(format!("seed-{seed}"));
            let targets = d.signature().iter().map(|(t, _)| t.clone()).collect();
            let op_number = d.op_number;
            let context = json!({"command": argv, "seed": seed, "rank": ranks.rank(), "host": ranks.host()});
            diff::investigate(set, ops, 1, d, context, &args.check, &dir)?;
            let minimal = std::fs::read_to_string(dir.join("minimal.jsonl"))
                .with_context(|| format!("reading {}", dir.join("minimal.jsonl").display()))?;
            let replay = crate::diff::replay_command(set, &dir.join("minimal.jsonl"), args.check.check_every);
            covered.findings.push(Finding {
                seed,
                rank: ranks.rank(),
                host: ranks.host().to_string(),
                op_number,
                targets,
                dir: dir.display().to_string(),
                minimal,
                replay,
            });
            Ok(())
        })?;
        bar.set_message(format!("{} divergence(s)", covered.findings.len()));
    }
    bar.finish_and_clear();
    covered.secs = t0.elapsed().as_secs_f64();
    Ok(covered)
}

/// On rank 0: prints what each host covered and every finding, writes `campaign.json` (what
/// each host covered, every finding) and each finding's minimal trace under `out`;
/// `Ok(false)` when there is a finding.
fn conclude(all: &[Covered], seeds: SeedRange, argv: &[String], out: &Path) -> Result<bool> {
    let seeds_run: u64 = all.iter().map(|c| c.seeds).sum();
    let ops: u64 = all.iter().map(|c| c.ops).sum();
    let mut table = results::table::Table::new(&[
        ("host", results::table::Align::Left),
        ("rank", results::table::Align::Right),
        ("seeds", results::table::Align::Right),
        ("cut", results::table::Align::Right),
        ("not run", results::table::Align::Right),
        ("ops", results::table::Align::Right),
        ("ops/s", results::table::Align::Right),
        ("divergences", results::table::Align::Right),
    ]);
    for c in all {
        table.push(vec![
            c.host.clone(),
            c.rank.to_string(),
            c.seeds.to_string(),
            c.cut.map_or_else(|| "-".into(), |s| format!("seed {s}")),
            c.left.to_string(),
            c.ops.to_string(),
            results::units::si(c.ops as f64 / c.secs.max(1e-9)),
            c.findings.len().to_string(),
        ]);
    }
    let mut findings: Vec<&Finding> = all.iter().flat_map(|c| &c.findings).collect();
    findings.sort_by_key(|f| f.seed);
    let explained: u64 = all.iter().map(|c| c.explained).sum();
    println!(
        "campaign over seeds {seeds}: {seeds_run} of {} seeds run to the end, {ops} ops, {} divergence(s){}",
        seeds.len(),
        findings.len(),
        if explained > 0 { format!(", {explained} explained by injected faults") } else { String::new() }
    );
    print!("{}", table.to_terminal(2));
    for f in &findings {
        let ops = workloads::trace::read_jsonl(&f.minimal, "minimal.jsonl")
            .with_context(|| format!("the minimal trace of seed {} from {}", f.seed, f.host))?;
        println!(
            "DIVERGENCE: seed {} on {} (rank {}), {} differ from the model at op {}; minimal trace {} op(s) ({}/minimal.jsonl on {}):",
            f.seed,
            f.host,
            f.rank,
            f.targets.join(", "),
            f.op_number,
            ops.len(),
            f.dir,
            f.host
        );
        for (i, op) in ops.iter().enumerate().take(20) {
            println!("  {:>3}  {}", i + 1, report::op_line(op));
        }
        if ops.len() > 20 {
            println!("  ... ({} more)", ops.len() - 20);
        }
        println!("  replay: {}", f.replay);
        // The finding rank wrote its files on its own host; rank 0 keeps the minimal trace.
        let dir = out.join(format!("seed-{}", f.seed));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("minimal.jsonl");
        if !path.exists() {
            std::fs::write(&path, &f.minimal).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let doc = json!({
        "aopsbench_version": env!("CARGO_PKG_VERSION"),
        "command": argv,
        "seeds": seeds.to_string(),
        "hosts": all,
    });
    let path = out.join("campaign.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("campaign report: {}", path.display());
    Ok(findings.is_empty())
}
