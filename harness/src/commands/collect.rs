//! Where `run`'s results go: the run directory, on one host; under several ranks, rank 0's run
//! directory with the merged results, `hosts.csv`, and each rank's own run directory under
//! `hosts/<host>-<rank>/`.
//!
//! Every rank hands each finished job × target to [`Collector::add`] in the same order (the
//! ranks run the same jobs on the same targets). It is a sync point ([`Ranks::agree`]), then:
//!
//! - the merge, in a binomial tree ([`Ranks::reduce`], as `MPI_Reduce` does it): each rank
//!   merges what its children send ([`results::wire`] bytes, [`results::hosts::merge_hosts`])
//!   and sends the sum up, so rank 0 merges log2(N) partial results, not N;
//! - each rank's own run directory: written by the rank itself when it sees rank 0's run
//!   directory (a shared filesystem, checked once at the start), else sent to rank 0, which
//!   writes it;
//! - each rank's per-op row (count, IOPS, percentiles), gathered by rank 0 for `hosts.csv`
//!   and the spread table.
//!
//! A step that fails after the sync point (a full disk) is reported at the next one.

use crate::machine;
use crate::ranks::{self, Ranks, Reduced};
use anyhow::{Context, Result};
use results::hosts::{self, HostPart, HostRow};
use results::{RunWriter, TargetResult, wire};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What rank 0 writes.
struct Root {
    writer: RunWriter,
    /// The run directories of ranks that cannot write their own, by rank.
    others: Vec<(u32, RunWriter)>,
    rows: Vec<HostRow>,
}

/// Collects and writes `run`'s results.
pub struct Collector {
    ranks: &'static dyn Ranks,
    /// On rank 0.
    root: Option<Root>,
    /// This rank's own run directory, when it writes it itself (under several ranks).
    own: Option<RunWriter>,
    /// What this rank sent, and its time merging and writing: printed with
    /// `AOPSBENCH_MPI_STATS=1` (the scale note of the README).
    sent_bytes: u64,
    /// Decoding, merging and encoding in the tree, and the whole reduction (waits included).
    merge_secs: f64,
    reduce_secs: f64,
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

/// A number that tells this run's `run.json` from any other.
fn run_id() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{t:x}-{:x}", std::process::id())
}

/// Whether `out/run.json` is the one rank 0 wrote, with `id`: the run directory is on a
/// filesystem this rank shares with rank 0.
fn sees_run_dir(out: &Path, id: &str) -> bool {
    std::fs::read(out.join(results::run_dir::RUN_JSON))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v["run_id"] == id)
}

impl Collector {
    /// Starts the run directory `out` (on rank 0) with `run_info`; under several ranks,
    /// `run.json` also lists every rank's host, kernel, machine and targets (`targets`: this
    /// rank's specs, placeholders filled in), and each rank starts its own directory if it
    /// shares rank 0's filesystem.
    pub fn create(out: &Path, mut run_info: Value, targets: &[String]) -> Result<Collector> {
        let ranks = ranks::current();
        let mut c = Collector {
            ranks,
            root: None,
            own: None,
            sent_bytes: 0,
            merge_secs: 0.0,
            reduce_secs: 0.0,
            write_secs: 0.0,
        };
        if ranks.size() == 1 {
            let writer = RunWriter::create(out, env!("CARGO_PKG_VERSION"), &run_info)
                .with_context(|| format!("cannot start the run directory {}", out.display()))?;
            c.root = Some(Root { writer, others: Vec::new(), rows: Vec::new() });
            return Ok(c);
        }
        // Every rank's checks passed (a rank that failed them meets the others here).
        ranks.agree(Ok(()))?;
        let mine = host_info(ranks, targets);
        let all = ranks.all_gather(&serde_json::to_vec(&mine)?);
        let infos: Vec<Value> = all.iter().map(|b| serde_json::from_slice(b).unwrap_or(Value::Null)).collect();
        let id = run_id();
        if ranks.is_root() {
            run_info["hosts"] = Value::Array(infos.clone());
            run_info["run_id"] = json!(id);
            let writer = RunWriter::create(out, env!("CARGO_PKG_VERSION"), &run_info)
                .with_context(|| format!("cannot start the run directory {}", out.display()))?;
            c.root = Some(Root { writer, others: Vec::new(), rows: Vec::new() });
        }
        ranks.agree(Ok(()))?;
        let id = String::from_utf8_lossy(&ranks.all_gather(id.as_bytes())[0]).into_owned();
        let own_info = |info: &Value| {
            let mut own = run_info.clone();
            own["host"] = info.clone();
            own
        };
        let shared = ranks.is_root() || sees_run_dir(out, &id);
        if shared {
            let dir = hosts::host_dir(out, ranks.host(), ranks.rank());
            c.own = Some(
                RunWriter::create(&dir, env!("CARGO_PKG_VERSION"), &own_info(&mine))
                    .with_context(|| format!("cannot start {}", dir.display()))?,
            );
        }
        ranks.agree(Ok(()))?;
        let writes_own = ranks.all_gather(&[u8::from(shared)]);
        if let Some(root) = &mut c.root {
            for (rank, w) in writes_own.iter().enumerate().filter(|(_, w)| w.first() != Some(&1)) {
                let rank = rank as u32;
                let dir = hosts::host_dir(out, ranks.host_of(rank), rank);
                let writer = RunWriter::create(&dir, env!("CARGO_PKG_VERSION"), &own_info(&infos[rank as usize]))
                    .with_context(|| format!("cannot start {}", dir.display()))?;
                debug_assert!(w.first() == Some(&0));
                root.others.push((rank, writer));
            }
        }
        Ok(c)
    }

    /// Hands over one finished job × target (`spec`: the target as the user gave it).
    pub fn add(&mut self, result: TargetResult, spec: &str) -> Result<()> {
        let ranks = self.ranks;
        if ranks.size() == 1 {
            if let Some(root) = &mut self.root {
                root.writer.add(result)?;
            }
            return Ok(());
        }
        let part = HostPart { rank: ranks.rank(), host: ranks.host().to_string(), result };
        let bytes = wire::encode(&part.result);
        let rows = hosts::host_rows(std::slice::from_ref(&part));
        ranks.agree(Ok(()))?;

        // The merge, in a tree. A part that does not decode (another aopsbench build) is
        // reported after the collectives, so that no rank is left waiting.
        let mut failed: Option<anyhow::Error> = None;
        let t0 = Instant::now();
        let mut merging = 0.0;
        let reduced = ranks.reduce(bytes.clone(), &mut |mine: Vec<u8>, theirs: Vec<u8>| {
            let t = Instant::now();
            let merged = match merge_two(&mine, &theirs, spec) {
                Ok(m) => m,
                Err(e) => {
                    failed.get_or_insert(e);
                    mine
                }
            };
            merging += t.elapsed().as_secs_f64();
            merged
        });
        self.reduce_secs += t0.elapsed().as_secs_f64();
        self.merge_secs += merging;
        // Rows, and the whole result of a rank that cannot write its own directory.
        let rows = serde_json::to_vec(&rows)?;
        let mut payload = (rows.len() as u64).to_le_bytes().to_vec();
        payload.extend_from_slice(&rows);
        if self.own.is_none() {
            payload.extend_from_slice(&bytes);
        }
        self.sent_bytes += payload.len() as u64 + if let Reduced::Sent(n) = reduced { n as u64 } else { 0 };
        let gathered = ranks.gather(&payload);
        if let Some(e) = failed {
            return Err(e);
        }

        let t0 = Instant::now();
        if let Some(own) = &mut self.own {
            own.add(part.result)?;
        }
        if let Some(root) = &mut self.root {
            for (rank, g) in gathered.iter().enumerate() {
                let rank = rank as u32;
                let what = || format!("the result of rank {rank} on {}", ranks.host_of(rank));
                let (rows, result) = split_payload(g).with_context(what)?;
                root.rows.extend(rows);
                if let Some((_, w)) = root.others.iter_mut().find(|(r, _)| *r == rank) {
                    w.add(wire::decode(result).with_context(what)?)?;
                }
            }
            let Reduced::Root(merged) = reduced else { unreachable!("rank 0 ends the merge") };
            root.writer.add(wire::decode(&merged).context("the merged result")?)?;
        }
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

    /// Under several ranks, this rank's fio log files (`logs`: per target name, file name →
    /// text) into its own directory `hosts/<host>-<rank>/`: written by the rank itself when it
    /// shares rank 0's filesystem, else sent to rank 0, which writes them. Collective. (Rank 0's
    /// also stay at the top of the run directory, where `run` writes them on one host.)
    pub fn fio_logs(&mut self, logs: &[(String, BTreeMap<String, String>)]) -> Result<()> {
        let ranks = self.ranks;
        if ranks.size() == 1 {
            return Ok(());
        }
        let write = |dir: &Path, logs: &[(String, BTreeMap<String, String>)]| -> Result<()> {
            for (target, files) in logs {
                let at = results::run_dir::fio_logs_dir(dir, target);
                crate::runner::logs::write(&at, files)
                    .with_context(|| format!("writing fio's logs in {}", at.display()))?;
            }
            Ok(())
        };
        let payload = match &self.own {
            Some(_) => Vec::new(),
            None => serde_json::to_vec(logs)?,
        };
        let gathered = ranks.gather(&payload);
        if let Some(own) = &self.own {
            write(own.dir(), logs)?;
        }
        if let Some(root) = &self.root {
            for (rank, w) in &root.others {
                let theirs: Vec<(String, BTreeMap<String, String>)> =
                    serde_json::from_slice(gathered.get(*rank as usize).map_or(&[][..], Vec::as_slice))
                        .with_context(|| format!("the fio logs of rank {rank} on {}", ranks.host_of(*rank)))?;
                write(w.dir(), &theirs)?;
            }
        }
        Ok(())
    }

    /// Writes the run-wide files (on rank 0; each rank its own directory's), then `after`
    /// on rank 0's run directory (plots, the report), then meets the other ranks a last time;
    /// returns whether this rank wrote the run directory.
    pub fn finish(mut self, after: impl FnOnce(&Path) -> Result<()>) -> Result<bool> {
        let t0 = Instant::now();
        if let Some(own) = self.own.take() {
            own.finish()?;
        }
        let wrote = self.root.is_some();
        if let Some(root) = self.root.take() {
            let dir = root.writer.dir().to_path_buf();
            if !root.rows.is_empty() {
                hosts::write_host_rows(&dir, &root.rows)?;
            }
            for (_, w) in root.others {
                w.finish()?;
            }
            root.writer.finish()?;
            self.write_secs += t0.elapsed().as_secs_f64();
            after(&dir)?;
        }
        if self.ranks.size() > 1 {
            if std::env::var_os("AOPSBENCH_MPI_STATS").is_some() {
                eprintln!(
                    "mpi-stats: rank {} of {} sent {} bytes; merging {:.6} s (reduction {:.6} s with waits), writing {:.6} s",
                    self.ranks.rank(),
                    self.ranks.size(),
                    self.sent_bytes,
                    self.merge_secs,
                    self.reduce_secs,
                    self.write_secs
                );
            }
            self.ranks.agree(Ok(()))?;
        }
        Ok(wrote)
    }
}

/// Merges two encoded results into one (see [`hosts::merge_hosts`]).
fn merge_two(a: &[u8], b: &[u8], spec: &str) -> Result<Vec<u8>> {
    let part = |bytes: &[u8], rank| -> Result<HostPart> {
        Ok(HostPart { rank, host: String::new(), result: wire::decode(bytes).context("merging the ranks' results")? })
    };
    let merged = hosts::merge_hosts(&[part(a, 0)?, part(b, 1)?], spec)?;
    Ok(wire::encode(&merged))
}

/// A rank's payload to rank 0: its rows, and its encoded result when rank 0 writes its
/// directory (else nothing after the rows).
fn split_payload(payload: &[u8]) -> Result<(Vec<HostRow>, &[u8])> {
    let (len, rest) = payload.split_first_chunk::<8>().context("an empty payload")?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok().filter(|&n| n <= rest.len()).context("a cut payload")?;
    let (rows, result) = rest.split_at(len);
    Ok((serde_json::from_slice(rows).context("the rows")?, result))
}
