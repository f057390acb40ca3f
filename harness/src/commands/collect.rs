//! Where `run`'s results go: the run directory, on one host; under several ranks, rank 0's run
//! directory with the merged results, `hosts.csv` and each rank's own run directory under
//! `hosts/<host>-<rank>/`.
//!
//! Every rank hands each finished job × target to [`Collector::add`] in the same order (the
//! ranks run the same jobs on the same targets); it is a sync point ([`Ranks::agree`]) and a
//! gather of the encoded result ([`results::wire`]) to rank 0, which merges
//! ([`results::hosts::merge_hosts`]) and writes.

use crate::machine;
use crate::ranks::{self, Ranks};
use anyhow::{Context, Result};
use results::hosts::{self, HostPart, HostRow};
use results::{RunWriter, TargetResult, wire};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// What rank 0 writes; `None` on the other ranks.
struct Root {
    writer: RunWriter,
    /// One run directory per rank, when there are several.
    hosts: Vec<RunWriter>,
    rows: Vec<HostRow>,
}

/// Collects and writes `run`'s results.
pub struct Collector {
    ranks: &'static dyn Ranks,
    root: Option<Root>,
    /// Bytes this rank sent to rank 0, rank 0's time to decode and merge them and its time to
    /// write the results: the scale note printed with `AOPSBENCH_MPI_STATS=1`.
    sent_bytes: u64,
    merge_secs: f64,
    write_secs: f64,
}

/// This rank's line of `run.json`'s `hosts`: who it is, its kernel and machine, the targets
/// (with `{rank}` and `{host}` filled in: its devices and directories).
fn host_info(ranks: &dyn Ranks, targets: &[String]) -> Value {
    json!({
        "rank": ranks.rank(),
        "host": ranks.host(),
        "kernel": machine::kernel_release(),
        "machine": machine::machine(),
        "targets": targets,
    })
}

impl Collector {
    /// Starts the run directory `out` (on rank 0) with `run_info`; under several ranks,
    /// `run.json` also lists every rank's host, kernel, machine and targets (`targets`: this
    /// rank's specs, placeholders filled in).
    pub fn create(out: &Path, mut run_info: Value, targets: &[String]) -> Result<Collector> {
        let ranks = ranks::current();
        let mut host_dirs: Vec<(u32, String, Value)> = Vec::new();
        if ranks.size() > 1 {
            let mine = serde_json::to_vec(&host_info(ranks, targets))?;
            let all = ranks.all_gather(&mine);
            let infos: Vec<Value> = all.iter().map(|b| serde_json::from_slice(b).unwrap_or(Value::Null)).collect();
            for (rank, info) in infos.iter().enumerate() {
                let mut own = run_info.clone();
                own["host"] = info.clone();
                host_dirs.push((rank as u32, ranks.host_of(rank as u32).to_string(), own));
            }
            run_info["hosts"] = Value::Array(infos);
        }
        let root = if ranks.is_root() {
            let writer = RunWriter::create(out, env!("CARGO_PKG_VERSION"), &run_info)
                .with_context(|| format!("cannot start the run directory {}", out.display()))?;
            let mut hosts = Vec::new();
            for (rank, host, info) in host_dirs {
                let dir = hosts::host_dir(out, &host, rank);
                hosts.push(
                    RunWriter::create(&dir, env!("CARGO_PKG_VERSION"), &info)
                        .with_context(|| format!("cannot start {}", dir.display()))?,
                );
            }
            Some(Root { writer, hosts, rows: Vec::new() })
        } else {
            None
        };
        Ok(Collector { ranks, root, sent_bytes: 0, merge_secs: 0.0, write_secs: 0.0 })
    }

    /// Hands over one finished job × target (`spec`: the target as the user gave it).
    pub fn add(&mut self, result: TargetResult, spec: &str) -> Result<()> {
        if self.ranks.size() == 1 {
            if let Some(root) = &mut self.root {
                root.writer.add(result)?;
            }
            return Ok(());
        }
        let bytes = wire::encode(&result);
        drop(result);
        self.ranks.agree(Ok(()))?;
        self.sent_bytes += bytes.len() as u64;
        let all = self.ranks.gather(&bytes);
        let Some(root) = &mut self.root else { return Ok(()) };
        let t0 = Instant::now();
        let mut parts = Vec::with_capacity(all.len());
        for (rank, b) in all.iter().enumerate() {
            let rank = rank as u32;
            let host = self.ranks.host_of(rank).to_string();
            let result = wire::decode(b).with_context(|| format!("the result of rank {rank} on {host}"))?;
            parts.push(HostPart { rank, host, result });
        }
        let merged = hosts::merge_hosts(&parts, spec)?;
        self.merge_secs += t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        root.rows.extend(hosts::host_rows(&parts));
        for (writer, part) in root.hosts.iter_mut().zip(parts) {
            writer.add(part.result)?;
        }
        root.writer.add(merged)?;
        self.write_secs += t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// On rank 0: the table of `job` (merged over the ranks), and under several ranks the
    /// spread of IOPS across hosts.
    pub fn job_table(&self, job: &str) -> Option<String> {
        let root = self.root.as_ref()?;
        let mut out = root.writer.job_table(job)?;
        if self.ranks.size() > 1 {
            let rows: Vec<HostRow> = root.rows.iter().filter(|r| r.job == job).cloned().collect();
            out.push_str(&format!("\n  IOPS per host ({} hosts, merged above):\n", self.ranks.size()));
            out.push_str(&hosts::spread_table(&hosts::spread(&rows)));
        }
        Some(out)
    }

    /// Writes the run-wide files and, with `plot`, the charts (on rank 0), then meets the
    /// other ranks a last time; returns whether this rank wrote the run directory.
    pub fn finish(mut self, plot: bool) -> Result<bool> {
        let wrote = self.root.is_some();
        if let Some(root) = self.root.take() {
            let t0 = Instant::now();
            let dir = root.writer.dir().to_path_buf();
            if !root.rows.is_empty() {
                hosts::write_host_rows(&dir, &root.rows)?;
            }
            for w in root.hosts {
                w.finish()?;
            }
            root.writer.finish()?;
            self.write_secs += t0.elapsed().as_secs_f64();
            if plot {
                results::plot(&dir).context("drawing the plots")?;
            }
        }
        if self.ranks.size() > 1 {
            if std::env::var_os("AOPSBENCH_MPI_STATS").is_some() {
                eprintln!(
                    "mpi-stats: rank {} of {} sent {} bytes to rank 0; decode+merge {:.6} s, write {:.6} s",
                    self.ranks.rank(),
                    self.ranks.size(),
                    self.sent_bytes,
                    self.merge_secs,
                    self.write_secs
                );
            }
            self.ranks.agree(Ok(()))?;
        }
        Ok(wrote)
    }
}
