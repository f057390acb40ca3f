//! Synthetic runs with known latencies, written through the public API.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use results::{OpRecord, RecorderSet, RunWriter, Summary, TargetResult, merge_threads};

/// A fixed wall-clock start, so files do not depend on when the test ran.
pub fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_763_937_060)
}

/// `read` latencies 1..=1000 ns, one per millisecond (1 s), 4 KiB each; `fsync` 10 × 5 µs.
pub fn exact_ops() -> BTreeMap<String, OpRecord> {
    let mut t = RecorderSet::new();
    for i in 1..=1000u64 {
        t.record("read", i * 1_000_000 - 1, i, 4096);
    }
    for i in 1..=10u64 {
        t.record("fsync", i * 90_000_000, 5_000, 0);
    }
    t.finish()
}

pub fn counters(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Two threads of a randrw-like target: `scale` stretches the latencies; `rate(second)` is the
/// ops per second of each thread (70% reads, 30% writes, an fsync every 200 ops).
pub fn randrw_ops(scale: f64, seconds: u64, rate: fn(u64) -> u64) -> BTreeMap<String, OpRecord> {
    let threads = (0..2u64).map(|thread| {
        let mut t = RecorderSet::new();
        let mut i = 0u64;
        for second in 0..seconds {
            let n = rate(second);
            for k in 0..n {
                let at = second * 1_000_000_000 + k * 1_000_000_000 / n + thread * 7;
                let wobble = (i * 7919 + thread * 104_729) % 1000;
                let tail = if i.is_multiple_of(997) {
                    40.0
                } else if i.is_multiple_of(101) {
                    6.0
                } else {
                    1.0
                };
                let read_ns = ((2_000 + wobble * 6) as f64 * scale * tail) as u64;
                let write_ns = ((3_500 + wobble * 9) as f64 * scale * tail) as u64;
                if i % 10 < 7 {
                    t.record("read", at, read_ns, 4096);
                } else {
                    t.record("write", at, write_ns, 4096);
                }
                if i % 200 == 199 {
                    t.record("fsync", at, (250_000.0 * scale) as u64 + wobble * 100, 0);
                }
                i += 1;
            }
        }
        t.finish()
    });
    merge_threads(threads).expect("same bounds")
}

/// `ops` with every latency times `scale` (same seconds, same bytes).
fn scaled(ops: BTreeMap<String, OpRecord>, scale: f64) -> BTreeMap<String, OpRecord> {
    let mut out = BTreeMap::new();
    for (op, record) in ops {
        let mut r = results::OpRecorder::new();
        for i in &record.intervals {
            let per_op = i.bytes / i.ops.max(1);
            for &(ns, count) in &i.latencies {
                for _ in 0..count {
                    r.record(i.second * 1_000_000_000, (ns as f64 * scale) as u64, per_op);
                }
            }
        }
        out.insert(op, r.finish());
    }
    out
}

/// bh's rate: a steady 2000 ops/s per thread.
pub fn bh_rate(_second: u64) -> u64 {
    2000
}

/// iomap's rate: faster, and rising.
pub fn iomap_rate(second: u64) -> u64 {
    2600 + 300 * second
}

/// A fsimpl-like counter set.
pub fn fsimpl_counters(map_blocks: u64, dev_writes: u64) -> BTreeMap<String, u64> {
    counters(&[
        ("map_blocks", map_blocks),
        ("get_block", map_blocks),
        ("iomap_begin", 0),
        ("dev_reads", 8_400),
        ("dev_writes", dev_writes),
        ("dev_read_bytes", 8_400 * 4096),
        ("dev_write_bytes", dev_writes * 65_536),
        ("rmw_reads", 12),
        ("zeroed_bytes", 4096 * 3),
        ("folio_private_bytes_peak", 104 * 2048),
        ("cache_bytes_peak", 64 << 20),
        ("writeback_ios", dev_writes),
    ])
}

/// Write a run: job `exact` on target `t`, job `randrw` on `bh` and `iomap`.
pub fn write_run(dir: &Path) -> Summary {
    write_run_scaled(dir, 1.0)
}

/// [`write_run`] with iomap's randrw latencies and exact's read latencies times `scale`.
pub fn write_run_scaled(dir: &Path, scale: f64) -> Summary {
    let mut run = RunWriter::create(
        dir,
        "0.1.0",
        &serde_json::json!({
            "command": ["aopsbench", "run"],
            "job_text": [{"source": "randrw.fio", "text": "[randrw]\nrw=randrw\n"}],
            "jobs": [{"name": "randrw", "fio": "[randrw]\nrw=randrw\nbs=4k\nsize=1g\n"}],
            "kernel": "6.18.0-test",
        }),
    )
    .expect("create run dir");
    run.add(TargetResult {
        job: "exact".into(),
        target: "t".into(),
        spec: "null".into(),
        started: start(),
        runtime_ns: 1_000_000_000,
        ops: if scale == 1.0 { exact_ops() } else { scaled(exact_ops(), scale) },
        counters: counters(&[("dev_reads", 0), ("dev_writes", 0)]),
        stats: Default::default(),
    })
    .expect("add exact");
    for (target, spec, scale, rate, counters) in [
        ("bh", "bh:block_size=4k", 1.0, bh_rate as fn(u64) -> u64, fsimpl_counters(42_000, 130)),
        ("iomap", "iomap", 0.7 * scale, iomap_rate, {
            let mut c = fsimpl_counters(90, 41);
            c.insert("get_block".into(), 0);
            c.insert("iomap_begin".into(), 88);
            c.insert("folio_private_bytes_peak".into(), 64 * 16);
            c
        }),
    ] {
        run.add(TargetResult {
            job: "randrw".into(),
            target: target.into(),
            spec: spec.into(),
            started: start(),
            runtime_ns: 3_000_000_000,
            ops: randrw_ops(scale, 3, rate),
            counters,
            stats: Default::default(),
        })
        .expect("add randrw");
    }
    run.finish().expect("finish")
}
