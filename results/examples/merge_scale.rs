//! What rank 0 of a many-host run spends per host, measured on one machine: the bytes one
//! host's result takes on the wire, the time to decode and merge it, the time to write its
//! `hosts/<host>-<rank>/` directory — and the critical path of a binary-tree merge (what an
//! `MPI_Reduce` over serialised histograms would cost rank 0) against the flat merge.
//!
//! ```sh
//! cargo run --release -p results --example merge_scale -- 60 1000
//! ```
//! (seconds of the job, hosts). One host: 2 ops (read, write), each second 20,000 ops with
//! latencies spread over three decades, as a busy random-I/O job gives.

use std::time::{Duration, Instant, UNIX_EPOCH};

use results::hosts::{self, HostPart};
use results::{OpRecorder, RunWriter, TargetResult, wire};

/// One host's result: `secs` seconds of reads and writes, latencies drawn from `seed`.
fn host_result(secs: u64, seed: u64) -> TargetResult {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ops = std::collections::BTreeMap::new();
    for op in ["read", "write"] {
        let mut rec = OpRecorder::new();
        for i in 0..secs * 20_000 {
            // 1 µs .. 1 ms, log-uniform, with a tail to 100 ms.
            let r = next();
            let lat = if r % 1000 == 0 { 1_000_000 + r % 100_000_000 } else { 1000 * (1u64 << (r % 10)) + r % 1000 };
            rec.record(i * 50_000, lat, 4096);
        }
        ops.insert(op.to_string(), rec.finish());
    }
    TargetResult {
        job: "rw".into(),
        target: "iomap".into(),
        spec: "iomap".into(),
        started: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        runtime_ns: secs * 1_000_000_000,
        ops,
        counters: [("map_blocks".to_string(), 1)].into(),
        stats: Default::default(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let secs = args.first().copied().unwrap_or(60);
    let n = args.get(1).copied().unwrap_or(1000) as usize;
    // A few distinct hosts, their encodings repeated up to n (decoding is what is timed).
    let distinct: Vec<Vec<u8>> = (0..8).map(|h| wire::encode(&host_result(secs, 0x9e37_79b9 + h))).collect();
    let bytes: Vec<&Vec<u8>> = (0..n).map(|i| &distinct[i % distinct.len()]).collect();
    println!("one host, {secs} s of reads and writes: {} bytes on the wire", distinct[0].len());

    // Flat: rank 0 decodes and merges every host.
    let t0 = Instant::now();
    let parts: Vec<HostPart> = bytes
        .iter()
        .enumerate()
        .map(|(i, b)| Ok(HostPart { rank: i as u32, host: format!("h{i}"), result: wire::decode(b)? }))
        .collect::<Result<_, wire::WireError>>()?;
    let decode = t0.elapsed();
    let t1 = Instant::now();
    let merged = hosts::merge_hosts(&parts, "iomap")?;
    let merge = t1.elapsed();
    println!(
        "flat, {n} hosts: decode {:.3} s + merge {:.3} s = {:.2} ms per host",
        decode.as_secs_f64(),
        merge.as_secs_f64(),
        (decode + merge).as_secs_f64() * 1e3 / n as f64
    );

    // Tree: each level merges pairs in parallel on different ranks; its cost on the critical
    // path is one decode + merge + encode of the (growing) partial result.
    let levels = (n as f64).log2().ceil() as u32;
    let mut partial = wire::decode(bytes[0])?;
    let t2 = Instant::now();
    for _ in 0..levels {
        let other = wire::decode(&wire::encode(&partial))?;
        let pair = [
            HostPart { rank: 0, host: "a".into(), result: partial },
            HostPart { rank: 1, host: "b".into(), result: other },
        ];
        partial = hosts::merge_hosts(&pair, "iomap")?;
    }
    let tree = t2.elapsed();
    println!(
        "tree, {n} hosts: {levels} levels on the critical path, {:.3} s ({:.2} ms per level); partial result {} bytes",
        tree.as_secs_f64(),
        tree.as_secs_f64() * 1e3 / f64::from(levels.max(1)),
        wire::encode(&partial).len()
    );

    // Writing one host's directory (its .hlog, .hgrm, CSV, fio.json and summary.json).
    let dir = tempfile::tempdir()?;
    let k = 4.min(n);
    let t3 = Instant::now();
    for (i, p) in parts.iter().take(k).enumerate() {
        let mut w = RunWriter::create(&dir.path().join(format!("h{i}")), "0", &serde_json::json!({}))?;
        w.add(p.result.clone())?;
        w.finish()?;
    }
    let write = t3.elapsed() / k as u32;
    println!(
        "writing one host's directory: {:.1} ms; {n} hosts: {:.1} s",
        write.as_secs_f64() * 1e3,
        write.as_secs_f64() * n as f64
    );
    assert_eq!(merged.ops["read"].count(), n as u64 * secs * 20_000);
    Ok(())
}
