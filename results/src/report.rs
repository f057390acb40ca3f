//! The per-job terminal table printed at the end of each job, fio-style.

use crate::summary::{JobSummary, OpSummary, TargetSummary};
use crate::table::{Align, Table};
use crate::units;

/// The counters worth a glance, in the order shown in tables and charts (the fsimpl stats named
/// by the run issue; kernel targets have the `dev_*` ones).
pub const KEY_COUNTERS: [&str; 12] = [
    "map_blocks",
    "get_block",
    "iomap_begin",
    "dev_reads",
    "dev_writes",
    "dev_read_bytes",
    "dev_write_bytes",
    "rmw_reads",
    "zeroed_bytes",
    "folio_private_bytes_peak",
    "cache_bytes_peak",
    "writeback_ios",
];

/// Op kinds in the order tables and charts show them: data first, then syncs, then the rest.
pub const OP_ORDER: [&str; 12] = [
    "read",
    "write",
    "fsync",
    "fdatasync",
    "trunc",
    "fallocate",
    "punch_hole",
    "zero_range",
    "collapse_range",
    "insert_range",
    "remount",
    "drop_caches",
];

/// Sort op names into [`OP_ORDER`], unknown ones after it alphabetically; duplicates removed.
pub fn ordered_ops<'a>(ops: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
    let mut v: Vec<&String> = ops.into_iter().collect();
    let rank = |op: &str| OP_ORDER.iter().position(|o| *o == op).unwrap_or(OP_ORDER.len());
    v.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    v.dedup();
    v
}

/// Key counters present in at least one target of the job, in [`KEY_COUNTERS`] order.
pub fn key_counters_of(job: &JobSummary) -> Vec<&'static str> {
    KEY_COUNTERS.iter().copied().filter(|c| job.targets.iter().any(|t| t.stats.contains_key(*c))).collect()
}

/// A job's key counters, split for charts and the HTML report: rows that say something, rows
/// that are zero everywhere, and targets that have none of them.
#[derive(Debug, Clone)]
pub struct CounterView<'a> {
    /// Targets with at least one key counter, with their index among the job's targets (their
    /// colour). The first is the reference of the ratios.
    pub targets: Vec<(usize, &'a TargetSummary)>,
    /// Counters non-zero on some target, in [`KEY_COUNTERS`] order, with a value per target of
    /// `targets` (`None` where a target lacks it).
    pub rows: Vec<(&'static str, Vec<Option<u64>>)>,
    /// Counters present, and zero on every target that has them.
    pub all_zero: Vec<&'static str>,
    /// Targets with none of the key counters (e.g. a tmpfs mount has no block device).
    pub without: Vec<&'a str>,
}

impl<'a> CounterView<'a> {
    /// The view of `job`.
    pub fn of(job: &'a JobSummary) -> Self {
        let has_any = |t: &TargetSummary| KEY_COUNTERS.iter().any(|c| t.stats.contains_key(*c));
        let targets: Vec<(usize, &TargetSummary)> =
            job.targets.iter().enumerate().filter(|(_, t)| has_any(t)).collect();
        let without = job.targets.iter().filter(|t| !has_any(t)).map(|t| t.target.as_str()).collect();
        let mut rows = Vec::new();
        let mut all_zero = Vec::new();
        for c in key_counters_of(job) {
            let values: Vec<Option<u64>> = targets.iter().map(|(_, t)| t.stats.get(c).copied()).collect();
            if values.iter().flatten().all(|v| *v == 0) {
                all_zero.push(c);
            } else {
                rows.push((c, values));
            }
        }
        CounterView { targets, rows, all_zero, without }
    }

    /// The reference target's name (the first with counters), if any.
    pub fn reference(&self) -> Option<&str> {
        self.targets.first().map(|(_, t)| t.target.as_str())
    }
}

/// `value / reference` as text: `0.0039×`, `1.00×`, `42.0×`; `-` when either is missing or the
/// reference is 0.
pub fn ratio_text(value: Option<u64>, reference: Option<u64>) -> String {
    match (value, reference) {
        (Some(v), Some(r)) if r > 0 => {
            let x = v as f64 / r as f64;
            if x == 0.0 {
                String::from("0×")
            } else if x >= 0.995 {
                format!("{}×", units::three_digits(x))
            } else {
                let decimals = (1 - x.log10().floor() as i32).max(2) as usize;
                format!("{x:.decimals$}×")
            }
        }
        _ => String::from("-"),
    }
}

/// One job's table: per target × op IOPS, MiB/s, p50, p99, p99.9 and max; then the key counters
/// with one column per target.
pub fn job_table(job: &JobSummary) -> String {
    let mut ops = Table::new(&[
        ("target", Align::Left),
        ("op", Align::Left),
        ("IOPS", Align::Right),
        ("MiB/s", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("p99.9", Align::Right),
        ("max", Align::Right),
    ]);
    for t in &job.targets {
        for op in ordered_ops(t.ops.keys()) {
            ops.push(op_row(&t.target, op, &t.ops[op], job.latencies.lat));
        }
    }
    let mut out = format!("job {}\n", job.job);
    out.push_str(&ops.to_terminal(2));
    for t in &job.targets {
        if let Some(ss) = &t.steadystate {
            out.push_str(&format!("  steadystate on {}: {}\n", t.target, ss.line()));
        }
        if let Some(l) = &t.latency_target {
            // fio's "latency : target=..., window=..., percentile=..., depth=..." line.
            out.push_str(&format!(
                "  {}: latency_target {} at p{} over {} windows: queue depth {}\n",
                t.target,
                units::latency(l.target_ns as f64),
                l.percentile,
                units::latency(l.window_ns as f64),
                l.depth
            ));
        }
    }

    let counters = key_counters_of(job);
    if !counters.is_empty() {
        let mut columns: Vec<(&str, Align)> = vec![("counter", Align::Left)];
        columns.extend(job.targets.iter().map(|t| (t.target.as_str(), Align::Right)));
        let mut table = Table::new(&columns);
        for c in counters {
            let mut row = vec![c.to_string()];
            row.extend(job.targets.iter().map(|t| t.stats.get(c).map_or_else(|| String::from("-"), |v| v.to_string())));
            table.push(row);
        }
        out.push('\n');
        out.push_str(&table.to_terminal(2));
    }
    out
}

/// One op's row; its latency columns are `-` when the job turned lat off (`disable_lat`,
/// `gtod_reduce`), as fio prints no lat line then.
fn op_row(target: &str, op: &str, s: &OpSummary, lat: bool) -> Vec<String> {
    let latency = |ns: u64| if lat { units::latency(ns as f64) } else { String::from("-") };
    vec![
        target.to_string(),
        op.to_string(),
        units::si(s.iops),
        if s.bytes > 0 { units::mib_per_s(s.bw()) } else { String::from("-") },
        latency(s.lat_ns.p50),
        latency(s.lat_ns.p99),
        latency(s.lat_ns.p99_9),
        latency(s.lat_ns.max),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_keep_two_significant_digits() {
        assert_eq!(ratio_text(Some(256), Some(65536)), "0.0039×");
        assert_eq!(ratio_text(Some(1), Some(4)), "0.25×");
        assert_eq!(ratio_text(Some(4), Some(4)), "1.00×");
        assert_eq!(ratio_text(Some(168), Some(4)), "42.0×");
        assert_eq!(ratio_text(Some(0), Some(4)), "0×");
        assert_eq!(ratio_text(Some(3), Some(0)), "-");
        assert_eq!(ratio_text(None, Some(3)), "-");
    }
}
