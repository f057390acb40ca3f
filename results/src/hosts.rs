//! Many hosts, one result: what each host (an MPI rank) recorded for one job × target, merged
//! into one, plus a row per host and the spread across hosts.
//!
//! The merge is exact where it can be: HdrHistograms of the same bounds add bucket by bucket,
//! so a merged percentile is a true percentile of every host's samples (not an average of
//! percentiles); per-second samples add second by second, as every host counts its seconds
//! from the same start (the ranks pass a barrier just before measuring); bytes and counters
//! add up. The merged runtime is the longest host's: the span from the common start to the
//! last host's end, so merged IOPS and bandwidth are all hosts' ops over the interval they ran
//! in together — IOR's aggregate, and fio's group aggregate (`io_bytes / max_run`). Jobs with a
//! runtime stop together, so there the span is each host's own runtime. CPU use, queue depths
//! and errors add up; a host's disk statistics (`disk_util`) stay in its own directory, as the
//! hosts' disks are different devices.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ResultsError;
use crate::run_dir::TargetResult;
use crate::summary::OpSummary;
use crate::table::{Align, Table};
use crate::thread_stats::JobStats;
use crate::units;

/// `hosts.csv`: one row per job × target × op × host, beside the merged `summary.json`.
pub const HOSTS_CSV: &str = "hosts.csv";

/// Where each host's own run directory goes: `hosts/<host>-<rank>/`.
pub const HOSTS_DIR: &str = "hosts";

/// One host's result of one job × target.
#[derive(Debug, Clone)]
pub struct HostPart {
    /// The MPI rank.
    pub rank: u32,
    /// The host name.
    pub host: String,
    /// What the host recorded.
    pub result: TargetResult,
}

/// The directory of one host's own files, `hosts/<host>-<rank>` under `run_dir` (the host
/// name made safe as a file name).
pub fn host_dir(run_dir: &Path, host: &str, rank: u32) -> std::path::PathBuf {
    run_dir.join(HOSTS_DIR).join(format!("{}-{rank}", crate::run_dir::file_part(host)))
}

/// Merges the hosts' parts of one job × target (see the module doc); the merged result
/// carries `spec` (the spec as the user gave it, before `{rank}` and `{host}` were filled in).
pub fn merge_hosts(parts: &[HostPart], spec: &str) -> Result<TargetResult, ResultsError> {
    let Some(first) = parts.first() else {
        return Err(ResultsError::Merge { message: "no host sent a result".into() });
    };
    let (job, target) = (&first.result.job, &first.result.target);
    let mut merged = TargetResult {
        job: job.clone(),
        target: target.clone(),
        spec: spec.to_string(),
        started: first.result.started,
        runtime_ns: 0,
        ops: Default::default(),
        counters: Default::default(),
        stats: JobStats { disk: None, prios: None, ..first.result.stats.clone() },
    };
    merged.stats.threads = Default::default();
    for p in parts {
        let r = &p.result;
        if (&r.job, &r.target) != (job, target) {
            return Err(ResultsError::Merge {
                message: format!(
                    "rank {} ({}) sent job {} on {} where rank {} sent job {job} on {target}: every rank must run the \
                     same jobs and targets",
                    p.rank, p.host, r.job, r.target, first.rank
                ),
            });
        }
        merged.started = merged.started.min(r.started);
        merged.runtime_ns = merged.runtime_ns.max(r.runtime_ns);
        for (op, record) in &r.ops {
            merged.ops.entry(op.clone()).or_default().merge(record)?;
        }
        for (name, value) in &r.counters {
            let c = merged.counters.entry(name.clone()).or_insert(0);
            *c = c.saturating_add(*value);
        }
        merged.stats.threads.add(&r.stats.threads);
        if let Some(dirs) = &r.stats.prios {
            let into = merged.stats.prios.get_or_insert_with(Default::default);
            for (mine, theirs) in into.iter_mut().zip(dirs) {
                crate::prio::add_all(mine, theirs);
            }
        }
    }
    Ok(merged)
}

/// One line of `hosts.csv`: one op of one job × target on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRow {
    /// Job name.
    pub job: String,
    /// Target name.
    pub target: String,
    /// Op kind.
    pub op: String,
    /// MPI rank.
    pub rank: u32,
    /// Host name.
    pub host: String,
    /// The host's normalised target spec (paths with `{rank}` and `{host}` filled in).
    pub spec: String,
    /// The host's measured time.
    pub runtime_ns: u64,
    /// Ops completed.
    pub count: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Ops per second of the host's runtime.
    pub iops: f64,
    /// Bytes per second of the host's runtime.
    pub bw_bytes: u64,
    /// Median latency, ns.
    pub p50_ns: u64,
    /// 99th percentile latency, ns.
    pub p99_ns: u64,
    /// 99.9th percentile latency, ns.
    pub p99_9_ns: u64,
    /// Highest latency, ns.
    pub max_ns: u64,
}

/// The rows of every host's part, in rank order, ops by name.
pub fn host_rows(parts: &[HostPart]) -> Vec<HostRow> {
    let mut rows = Vec::new();
    for p in parts {
        let r = &p.result;
        for (op, record) in &r.ops {
            let s = OpSummary::from_record(record, r.runtime_ns, &r.stats.latencies);
            rows.push(HostRow {
                job: r.job.clone(),
                target: r.target.clone(),
                op: op.clone(),
                rank: p.rank,
                host: p.host.clone(),
                spec: r.spec.clone(),
                runtime_ns: r.runtime_ns,
                count: s.count,
                bytes: s.bytes,
                iops: s.iops,
                bw_bytes: s.bw_bytes,
                p50_ns: s.lat_ns.p50,
                p99_ns: s.lat_ns.p99,
                p99_9_ns: s.lat_ns.p99_9,
                max_ns: s.lat_ns.max,
            });
        }
    }
    rows
}

/// Writes `hosts.csv` into `run_dir`.
pub fn write_host_rows(run_dir: &Path, rows: &[HostRow]) -> Result<(), ResultsError> {
    crate::run_dir::write_csv(&run_dir.join(HOSTS_CSV), rows)
}

/// Reads `hosts.csv` back.
pub fn read_host_rows(run_dir: &Path) -> Result<Vec<HostRow>, ResultsError> {
    crate::run_dir::read_csv(&run_dir.join(HOSTS_CSV))
}

/// How one op's IOPS spread across the hosts of one job × target.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// Job name.
    pub job: String,
    /// Target name.
    pub target: String,
    /// Op kind.
    pub op: String,
    /// How many hosts ran it.
    pub hosts: usize,
    /// The lowest IOPS and the host (`host-rank`) that had it.
    pub min: (f64, String),
    /// The median IOPS (the mean of the middle two for an even number of hosts).
    pub median: f64,
    /// The highest IOPS and its host.
    pub max: (f64, String),
}

impl Spread {
    /// The lowest host's IOPS as a fraction of the median (1.0: no host lags).
    pub fn min_of_median(&self) -> f64 {
        if self.median > 0.0 { self.min.0 / self.median } else { 1.0 }
    }
}

/// The spread of IOPS per job × target × op over the hosts of `rows` (in first-seen order).
pub fn spread(rows: &[HostRow]) -> Vec<Spread> {
    let mut keys: Vec<(&str, &str, &str)> = Vec::new();
    for r in rows {
        let k = (r.job.as_str(), r.target.as_str(), r.op.as_str());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(job, target, op)| {
            let mut v: Vec<(f64, String)> = rows
                .iter()
                .filter(|r| (r.job.as_str(), r.target.as_str(), r.op.as_str()) == (job, target, op))
                .map(|r| (r.iops, format!("{}-{}", r.host, r.rank)))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            let n = v.len();
            let median = if n % 2 == 1 { v[n / 2].0 } else { (v[n / 2 - 1].0 + v[n / 2].0) / 2.0 };
            Spread {
                job: job.into(),
                target: target.into(),
                op: op.into(),
                hosts: n,
                min: v[0].clone(),
                median,
                max: v[n - 1].clone(),
            }
        })
        .collect()
}

/// The spread as a terminal table: per target × op, IOPS per host min (which host), median,
/// max (which host), and min as a percentage of the median.
pub fn spread_table(spreads: &[Spread]) -> String {
    let mut t = Table::new(&[
        ("target", Align::Left),
        ("op", Align::Left),
        ("hosts", Align::Right),
        ("min IOPS", Align::Right),
        ("on", Align::Left),
        ("median", Align::Right),
        ("max IOPS", Align::Right),
        ("on", Align::Left),
        ("min/median", Align::Right),
    ]);
    for s in spreads {
        t.push(vec![
            s.target.clone(),
            s.op.clone(),
            s.hosts.to_string(),
            units::si(s.min.0),
            s.min.1.clone(),
            units::si(s.median),
            units::si(s.max.0),
            s.max.1.clone(),
            format!("{:.0}%", 100.0 * s.min_of_median()),
        ]);
    }
    t.to_terminal(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{OpRecorder, new_histogram};
    use crate::thread_stats::{CpuUsage, DiskUtil, ThreadStats};
    use std::time::{Duration, UNIX_EPOCH};

    /// Host `rank`: `n` reads of latencies `base + i` ns, completing over `secs` seconds.
    fn part(rank: u32, n: u64, base: u64, secs: u64) -> HostPart {
        let mut rec = OpRecorder::new();
        for i in 0..n {
            rec.record(i * secs * 1_000_000_000 / n, base + i, 4096);
        }
        HostPart {
            rank,
            host: format!("node{}", rank / 2),
            result: TargetResult {
                job: "j".into(),
                target: "iomap".into(),
                spec: format!("iomap:backing=/scratch/img-{rank}"),
                started: UNIX_EPOCH + Duration::from_secs(100 + u64::from(rank)),
                runtime_ns: secs * 1_000_000_000,
                ops: [("read".to_string(), rec.finish())].into(),
                counters: [("dev_reads".to_string(), n), ("only_on_0".to_string(), u64::from(rank == 0))].into(),
                stats: JobStats {
                    threads: ThreadStats {
                        cpu: CpuUsage { usr_ns: 1000 + u64::from(rank), ctx: 1, ..Default::default() },
                        ..Default::default()
                    },
                    disk: Some(DiskUtil { name: format!("nvme{rank}n1"), read_ios: n, ..Default::default() }),
                    ..Default::default()
                },
            },
        }
    }

    #[test]
    fn merged_percentiles_are_those_of_every_sample() {
        let parts = [part(0, 1000, 1, 2), part(1, 3000, 5_000, 3), part(2, 10, 1_000_000, 1)];
        let m = merge_hosts(&parts, "iomap:backing=/scratch/img-{rank}").unwrap();
        // One histogram fed every host's samples.
        let mut all = new_histogram();
        for (n, base) in [(1000u64, 1u64), (3000, 5_000), (10, 1_000_000)] {
            for i in 0..n {
                all.record(base + i).unwrap();
            }
        }
        let h = &m.ops["read"].histogram;
        assert_eq!(h.len(), 4010);
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(h.value_at_quantile(q), all.value_at_quantile(q), "q={q}");
        }
        assert_eq!(m.ops["read"].bytes, 4010 * 4096);
        assert_eq!(m.counters["dev_reads"], 4010);
        assert_eq!(m.counters["only_on_0"], 1);
        assert_eq!(m.runtime_ns, 3_000_000_000);
        // CPU use adds up; each host's disk stays in its own directory.
        assert_eq!((m.stats.threads.cpu.usr_ns, m.stats.threads.cpu.ctx), (3003, 3));
        assert_eq!(m.stats.disk, None);
        assert_eq!(m.started, UNIX_EPOCH + Duration::from_secs(100));
        assert_eq!(m.spec, "iomap:backing=/scratch/img-{rank}");
        // Seconds add up across hosts: second 0 has 500 + 1000 + 10 reads.
        let secs: Vec<(u64, u64)> = m.ops["read"].intervals.iter().map(|i| (i.second, i.ops)).collect();
        assert_eq!(secs, vec![(0, 1510), (1, 1500), (2, 1000)]);
        assert_eq!(m.ops["read"].intervals[0].histogram().len(), 1510);
    }

    #[test]
    fn different_jobs_are_not_merged() {
        let mut b = part(1, 10, 1, 1);
        b.result.job = "other".into();
        let e = merge_hosts(&[part(0, 10, 1, 1), b], "x").unwrap_err().to_string();
        assert!(e.contains("rank 1 (node0) sent job other on iomap where rank 0 sent job j"), "{e}");
        assert!(merge_hosts(&[], "x").is_err());
    }

    #[test]
    fn rows_and_spread_name_the_slow_host() {
        let parts = [part(0, 1000, 1, 1), part(1, 3000, 1, 1), part(2, 2000, 1, 1), part(3, 400, 1, 1)];
        let rows = host_rows(&parts);
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[1].rank, rows[1].count, rows[1].iops), (1, 3000, 3000.0));
        let s = spread(&rows);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].min, (400.0, "node1-3".to_string()));
        assert_eq!(s[0].max, (3000.0, "node0-1".to_string()));
        assert_eq!(s[0].median, 1500.0);
        let table = spread_table(&s);
        assert!(table.contains("node1-3"), "{table}");
        assert!(table.contains("27%"), "{table}");
        let dir = tempfile::tempdir().unwrap();
        write_host_rows(dir.path(), &rows).unwrap();
        assert_eq!(read_host_rows(dir.path()).unwrap(), rows);
        assert_eq!(host_dir(Path::new("r"), "n1.example", 3), Path::new("r/hosts/n1%2Eexample-3"));
    }
}
