//! The per-job terminal table printed at the end of each job, fio-style.

use crate::summary::{JobSummary, OpSummary};
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
            ops.push(op_row(&t.target, op, &t.ops[op]));
        }
    }
    let mut out = format!("job {}\n", job.job);
    out.push_str(&ops.to_terminal(2));

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

fn op_row(target: &str, op: &str, s: &OpSummary) -> Vec<String> {
    vec![
        target.to_string(),
        op.to_string(),
        units::si(s.iops),
        if s.bytes > 0 { units::mib_per_s(s.bw()) } else { String::from("-") },
        units::latency(s.lat_ns.p50 as f64),
        units::latency(s.lat_ns.p99 as f64),
        units::latency(s.lat_ns.p99_9 as f64),
        units::latency(s.lat_ns.max as f64),
    ]
}
