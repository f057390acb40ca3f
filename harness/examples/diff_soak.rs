//! A long bh-against-iomap diff: several seeds × block sizes × folio settings, each a long
//! generated stream in lockstep with the model. Prints one line per run (ops, ops/s, whole-file
//! checks) and, on a divergence, the report; exits 1 if any run diverged.
//!
//! ```text
//! cargo run --release -p harness --example diff_soak -- [OPS_PER_RUN] [SEEDS]
//! ```
//! (defaults: 200000 ops, seeds 1..=8).

use harness::diff::{self, Lockstep, TargetSet, report};
use harness::targets::TargetSpec;
use std::process::ExitCode;
use std::time::Instant;
use workloads::{FsxConfig, Op};

/// (bh spec, iomap spec) pairs: block sizes 1K, 2K, 4K, and bh with large folios.
const PAIRS: &[(&str, &str)] = &[
    ("bh:block_size=1k", "iomap:block_size=1k"),
    ("bh:block_size=2k", "iomap:block_size=2k:max_folio=64k"),
    ("bh:block_size=4k", "iomap:block_size=4k"),
    ("bh:block_size=4k:large_folios=1:max_folio=64k", "iomap:block_size=4k:max_folio=16k"),
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let ops: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let seeds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let file_len = 256 << 10;
    let mut diverged = 0;
    let (mut total_ops, t0) = (0u64, Instant::now());
    for &(bh, iomap) in PAIRS {
        for seed in 1..=seeds {
            let specs =
                vec![bh.parse::<TargetSpec>().expect("valid spec"), iomap.parse::<TargetSpec>().expect("valid spec")];
            let set = match TargetSet::new(specs, file_len) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("diff_soak: {e}");
                    return ExitCode::from(2);
                }
            };
            let cfg = FsxConfig { seed, ops: Some(ops), block_size: set.max_block_size(), ..FsxConfig::default() };
            let run = || -> Result<_, Box<dyn std::error::Error>> {
                let mut ls = Lockstep::new(&set, 1, diff::DEFAULT_CHECK_EVERY, file_len)?;
                let t = Instant::now();
                let found = ls.run(cfg.stream()?, |_| true)?;
                let secs = t.elapsed().as_secs_f64();
                let stats = ls.stats().clone();
                ls.close()?;
                Ok((found, stats, secs))
            };
            match run() {
                Ok((found, stats, secs)) => {
                    let ran = stats.total_ran();
                    total_ops += ran;
                    let verdict = if found.is_some() { "DIVERGED" } else { "ok" };
                    println!(
                        "{bh} vs {iomap}, seed {seed}: {ran} ops, {:.0} ops/s, {} whole-file checks: {verdict}",
                        ran as f64 / secs,
                        stats.whole_checks
                    );
                    if let Some(d) = found {
                        diverged += 1;
                        let trace: Vec<Op> = cfg.stream().expect("valid").take(d.op_number as usize).collect();
                        print!("{}", report::render(&d, &trace));
                    }
                }
                Err(e) => {
                    eprintln!("diff_soak: {bh} vs {iomap}, seed {seed}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    println!(
        "{} runs, {total_ops} ops in {:.1} s, {diverged} diverged",
        PAIRS.len() as u64 * seeds,
        t0.elapsed().as_secs_f64()
    );
    if diverged > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
