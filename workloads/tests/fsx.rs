//! The fsx-style mix: determinism, validity against the generator's own model, the boundary
//! bias, and written bytes that name their op.

use std::collections::HashMap;

use workloads::{FallocMode, FsxConfig, FsxWeights, Mix, Op, OpKind, Swarm, pattern};

fn ops(cfg: &FsxConfig) -> Vec<Op> {
    cfg.stream().unwrap().collect()
}

#[test]
fn same_seed_same_ops_other_seed_other_ops() {
    let cfg = FsxConfig { ops: Some(5000), ..FsxConfig::default() };
    assert_eq!(ops(&cfg), ops(&cfg));
    assert_ne!(ops(&cfg), ops(&FsxConfig { seed: 2, ..cfg.clone() }));
    assert_eq!(ops(&cfg).len(), 5000);
    let endless = FsxConfig { ops: None, ..cfg };
    assert_eq!(endless.stream().unwrap().take(200_000).count(), 200_000);
}

/// Check every op against the size model, the way a kernel would (EINVAL cases), and return
/// the final size.
fn check_valid(cfg: &FsxConfig, ops: &[Op]) -> u64 {
    let mut size = 0u64;
    let ra = cfg.block_size.max(cfg.align);
    for (i, op) in ops.iter().enumerate() {
        let ctx = format!("op {} {op:?} (size {size})", i + 1);
        match *op {
            Op::Read { offset, len, .. } => {
                assert!(len >= 1 && len <= cfg.max_op_len && offset <= size, "{ctx}");
                assert!(offset + len <= cfg.max_file_len, "{ctx}");
            }
            Op::Write { offset, len, tag, .. } => {
                assert_eq!(tag, i as u64 + 1, "{ctx}: tag is the op number");
                assert!(len >= 1 && len <= cfg.max_op_len && offset + len <= cfg.max_file_len, "{ctx}");
                size = size.max(offset + len);
            }
            Op::Truncate { size: new, .. } => {
                assert!(new <= cfg.max_file_len, "{ctx}");
                size = new;
            }
            Op::Fallocate { mode, offset, len, .. } => {
                assert!(len >= 1 && len <= cfg.max_op_len, "{ctx}");
                match mode {
                    FallocMode::CollapseRange => {
                        assert!(offset % ra == 0 && len % ra == 0 && offset + len < size, "{ctx}");
                        size -= len;
                    }
                    FallocMode::InsertRange => {
                        assert!(offset % ra == 0 && len % ra == 0 && offset < size, "{ctx}");
                        assert!(size + len <= cfg.max_file_len, "{ctx}");
                        size += len;
                    }
                    _ => {
                        assert!(offset + len <= cfg.max_file_len, "{ctx}");
                        if !mode.keeps_size() {
                            size = size.max(offset + len);
                        }
                    }
                }
            }
            Op::Fsync { .. } | Op::Fdatasync { .. } | Op::Remount | Op::DropCaches | Op::PowerCut { .. } => {}
        }
    }
    size
}

#[test]
fn every_op_is_valid_for_the_file_it_was_made_for() {
    let configs = [
        FsxConfig { ops: Some(100_000), ..FsxConfig::default() },
        FsxConfig { ops: Some(50_000), align: 4096, seed: 7, ..FsxConfig::default() },
        FsxConfig {
            ops: Some(50_000),
            block_size: 1024,
            folio_size: 65536,
            max_file_len: 1 << 20,
            seed: 3,
            ..FsxConfig::default()
        },
        FsxConfig { ops: Some(20_000), max_file_len: 8192, max_op_len: 3000, seed: 4, ..FsxConfig::default() },
    ];
    for cfg in configs {
        let mut stream = cfg.stream().unwrap();
        let got: Vec<Op> = stream.by_ref().collect();
        let size = check_valid(&cfg, &got);
        assert_eq!(stream.file_size(), size);
        assert_eq!(stream.ops_done(), cfg.ops.unwrap());
        if cfg.align > 1 {
            for op in &got {
                let (a, b) = match *op {
                    Op::Read { offset, len, .. }
                    | Op::Write { offset, len, .. }
                    | Op::Fallocate { offset, len, .. } => (offset, len),
                    Op::Truncate { size, .. } => (size, 0),
                    _ => (0, 0),
                };
                assert!(a % cfg.align == 0 && b % cfg.align == 0, "{op:?}");
            }
        }
    }
}

#[test]
fn kinds_follow_their_weights() {
    // Over 100k ops each kind's share is within 1 point of its weight's share (collapse and
    // insert a little under: they are not drawn while the file is too short for them).
    let cfg = FsxConfig { ops: Some(100_000), ..FsxConfig::default() };
    let mut counts: HashMap<OpKind, usize> = HashMap::new();
    for op in ops(&cfg) {
        *counts.entry(op.kind()).or_default() += 1;
    }
    let total: u32 = OpKind::ALL.iter().map(|&k| cfg.weights.get(k)).sum();
    for kind in OpKind::ALL {
        let want = 100.0 * f64::from(cfg.weights.get(kind)) / f64::from(total);
        let got = 100.0 * counts.get(&kind).copied().unwrap_or(0) as f64 / 100_000.0;
        assert!((got - want).abs() < 1.0, "{kind}: {got:.2}% (want {want:.2} ± 1)");
    }
    // Only the kinds given weight appear.
    let only = FsxConfig {
        weights: FsxWeights::none().with(OpKind::Write, 1).with(OpKind::InsertRange, 1),
        ops: Some(2000),
        ..FsxConfig::default()
    };
    assert!(ops(&only).iter().all(|op| matches!(op.kind(), OpKind::Write | OpKind::InsertRange)));
    // A kind that can never be valid (ops shorter than a block) falls back to writes.
    let impossible = FsxConfig {
        weights: FsxWeights::none().with(OpKind::CollapseRange, 1),
        max_op_len: 1000,
        ops: Some(50),
        ..FsxConfig::default()
    };
    assert!(ops(&impossible).iter().all(|op| op.kind() == OpKind::Write));
}

#[test]
fn offsets_and_ends_cluster_at_eof_and_boundaries() {
    let cfg = FsxConfig { ops: Some(100_000), ..FsxConfig::default() };
    let j = cfg.boundary_jitter;
    let near = |x: u64, unit: u64| {
        let r = x % unit;
        r <= j || unit - r <= j
    };
    let mut size = 0u64;
    let (mut writes, mut at_boundary, mut at_eof) = (0u64, 0u64, 0u64);
    for op in ops(&cfg) {
        if let Op::Write { offset, len, .. } = op {
            writes += 1;
            if near(offset, cfg.block_size) || near(offset + len, cfg.block_size) {
                at_boundary += 1;
            }
            if offset.abs_diff(size) <= j || (offset + len).abs_diff(size) <= j {
                at_eof += 1;
            }
        }
        // Track the size like the generator.
        match op {
            Op::Write { offset, len, .. } => size = size.max(offset + len),
            Op::Truncate { size: s, .. } => size = s,
            Op::Fallocate { mode: FallocMode::CollapseRange, len, .. } => size -= len,
            Op::Fallocate { mode: FallocMode::InsertRange, len, .. } => size += len,
            Op::Fallocate { mode, offset, len, .. } if !mode.keeps_size() => size = size.max(offset + len),
            _ => {}
        }
    }
    // Uniform offsets would land within ±4 bytes of a 4k boundary 0.2% of the time (twice that
    // counting ends) and about as rarely at EOF.
    let boundary_share = at_boundary as f64 / writes as f64;
    let eof_share = at_eof as f64 / writes as f64;
    assert!(boundary_share > 0.10, "near a block boundary: {boundary_share:.3}");
    assert!(eof_share > 0.05, "near EOF: {eof_share:.3}");
    let flat = FsxConfig { boundary_percent: 0, ..cfg };
    let flat_boundary =
        ops(&flat).iter().filter(|op| matches!(op, Op::Write { offset, .. } if near(*offset, 4096))).count() as f64
            / writes as f64;
    assert!(flat_boundary < 0.02, "{flat_boundary}");
}

#[test]
fn written_bytes_name_their_op() {
    // Replay a mix without collapse/insert into a byte model, remembering who wrote each byte;
    // every surviving byte names its writer through the pattern.
    let weights = FsxWeights::default().with(OpKind::CollapseRange, 0).with(OpKind::InsertRange, 0);
    let cfg = FsxConfig { ops: Some(3000), weights, ..FsxConfig::default() };
    let mut data: Vec<u8> = Vec::new();
    let mut writer: Vec<u64> = Vec::new();
    for op in ops(&cfg) {
        match op {
            Op::Write { offset, len, tag, .. } => {
                let end = (offset + len) as usize;
                if data.len() < end {
                    data.resize(end, 0);
                    writer.resize(end, 0);
                }
                pattern::fill(tag, offset, &mut data[offset as usize..end]);
                writer[offset as usize..end].fill(tag);
            }
            Op::Truncate { size, .. } => {
                data.resize(size as usize, 0);
                writer.resize(size as usize, 0);
            }
            Op::Fallocate { mode, offset, len, .. } => {
                let end = ((offset + len) as usize).min(if mode.keeps_size() { data.len() } else { usize::MAX });
                if data.len() < end {
                    data.resize(end, 0);
                    writer.resize(end, 0);
                }
                if matches!(mode, FallocMode::PunchHole | FallocMode::ZeroRange | FallocMode::ZeroRangeKeepSize) {
                    let start = (offset as usize).min(end);
                    data[start..end].fill(0);
                    writer[start..end].fill(0);
                }
            }
            _ => {}
        }
    }
    let written = writer.iter().filter(|&&t| t != 0).count();
    assert!(written > 10_000, "{written}");
    for (offset, (&byte, &tag)) in data.iter().zip(&writer).enumerate() {
        if tag != 0 {
            assert!(pattern::possible_tags(byte, offset as u64, 3000).any(|t| t == tag), "offset {offset}");
        }
    }
}

/// FNV-1a over the ops' JSON lines: a digest that stays the same across Rust versions.
fn digest(ops: &[Op]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for op in ops {
        for b in serde_json::to_string(op).unwrap().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[test]
fn a_fixed_mix_draws_what_it_always_did() {
    // Digests of the streams before swarm mixes existed: `--mix fixed` replays old seeds.
    for (seed, align, block_size, want) in [
        (1, 1, 4096, 0xf59b_75d3_16a1_65b6u64),
        (7, 4096, 4096, 0x2ee8_dc3e_109a_6f12),
        (3, 1, 1024, 0x82f9_503e_77f0_1663),
    ] {
        let cfg = FsxConfig { seed, ops: Some(20_000), align, block_size, ..FsxConfig::default() };
        assert_eq!(digest(&ops(&cfg)), want, "seed {seed}, align {align}, block size {block_size}");
    }
}

#[test]
fn swarm_phases_alternate_small_and_large_geometry() {
    for seed in 1..=20 {
        let cfg = FsxConfig { ops: Some(10_000), ..swarm_config(seed) };
        let mut stream = cfg.stream().unwrap();
        let mut large = Vec::new();
        let mut n = 0u64;
        while stream.next().is_some() {
            n += 1;
            if n % 2000 == 1 {
                let p = stream.phase();
                assert_eq!(p.large, p.max_file_len == 4 << 20, "seed {seed}: {}", p.describe());
                large.push(p.large);
            }
        }
        // The default 10,000 ops of diff hold at least two large phases, whatever the seed.
        assert!(large.windows(2).all(|w| w[0] != w[1]), "seed {seed}: {large:?}");
        assert!(large.iter().filter(|&&l| l).count() >= 2, "seed {seed}: {large:?}");
    }
}

fn swarm_config(seed: u64) -> FsxConfig {
    FsxConfig {
        seed,
        ops: Some(40_000),
        max_file_len: 4 << 20,
        max_op_len: 1 << 20,
        block_size: 4096,
        folio_size: 64 << 10,
        mix: Mix::Swarm(Swarm::default()),
        ..FsxConfig::default()
    }
}

#[test]
fn swarm_phases_vary_the_mix_and_every_op_stays_valid() {
    for seed in 1..=3 {
        let cfg = swarm_config(seed);
        let got = ops(&cfg);
        assert_eq!(got, ops(&cfg), "seed {seed}: not deterministic");
        check_valid(&cfg, &got);
        let phases: Vec<&[Op]> = got.chunks(2000).collect();
        // Some phase leaves out a kind that others use; reads and writes are in every phase.
        let has = |p: &[Op], k: OpKind| p.iter().any(|op| op.kind() == k);
        for k in [OpKind::Trunc, OpKind::PunchHole, OpKind::Fsync] {
            assert!(phases.iter().any(|p| !has(p, k)) && phases.iter().any(|p| has(p, k)), "seed {seed}: {k}");
        }
        assert!(phases.iter().all(|p| has(p, OpKind::Write) && has(p, OpKind::Read)), "seed {seed}");
        // Small phases and large ones: ops of a MiB and files of several, and phases whose
        // writes all stay within 256 KiB.
        let write_ends = |p: &[Op]| {
            p.iter()
                .filter_map(|op| match *op {
                    Op::Write { offset, len, .. } => Some((offset + len, len)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert!(phases.iter().any(|p| write_ends(p).iter().any(|&(end, len)| end > 2 << 20 && len > 512 << 10)));
        assert!(phases.iter().any(|p| write_ends(p).iter().all(|&(end, _)| end <= 256 << 10)));
        // Some phase is block-aligned throughout, most are not.
        let aligned = |p: &[Op]| {
            p.iter().all(|op| match *op {
                Op::Write { offset, len, .. } => offset % 512 == 0 && len % 512 == 0,
                _ => true,
            })
        };
        let n = phases.iter().filter(|p| aligned(p)).count();
        assert!(n >= 1 && n < phases.len() / 2, "seed {seed}: {n} aligned phases of {}", phases.len());
    }
}

/// Writes that start inside the written EOF block and extend the file, followed at once by
/// fsync, fdatasync, remount or drop_caches: (such pairs, writes).
fn eof_block_writes_then_sync(cfg: &FsxConfig, ops: &[Op]) -> (usize, usize) {
    let (mut size, mut pairs, mut writes) = (0u64, 0, 0);
    for w in ops.windows(2) {
        if let Op::Write { offset, len, .. } = w[0] {
            writes += 1;
            let in_eof_block = size > 0 && offset <= size && offset >= size / cfg.block_size * cfg.block_size;
            let syncs = matches!(w[1], Op::Fsync { .. } | Op::Fdatasync { .. } | Op::Remount | Op::DropCaches);
            if in_eof_block && offset + len > size && syncs {
                pairs += 1;
            }
        }
        match w[0] {
            Op::Write { offset, len, .. } => size = size.max(offset + len),
            Op::Truncate { size: s, .. } => size = s,
            Op::Fallocate { mode: FallocMode::CollapseRange, len, .. } => size -= len,
            Op::Fallocate { mode: FallocMode::InsertRange, len, .. } => size += len,
            Op::Fallocate { mode, offset, len, .. } if !mode.keeps_size() => size = size.max(offset + len),
            _ => {}
        }
    }
    (pairs, writes)
}

#[test]
fn swarm_streams_favour_eof_block_writes_followed_by_a_sync() {
    let swarm = swarm_config(1);
    let fixed = FsxConfig { mix: Mix::Fixed, ..swarm.clone() };
    let (s_pairs, s_writes) = eof_block_writes_then_sync(&swarm, &ops(&swarm));
    let (f_pairs, f_writes) = eof_block_writes_then_sync(&fixed, &ops(&fixed));
    let (s, f) = (s_pairs as f64 / s_writes as f64, f_pairs as f64 / f_writes as f64);
    assert!(s > 0.04 && s > 5.0 * f, "swarm {s_pairs}/{s_writes}, fixed {f_pairs}/{f_writes}");
}

#[test]
fn power_cuts_are_slipped_in_at_the_rate_asked() {
    let cfg = FsxConfig { ops: Some(100_000), power_cut_every: Some(500), ..swarm_config(2) };
    let got = ops(&cfg);
    check_valid(&cfg, &got);
    let cuts: Vec<u64> = got
        .iter()
        .filter_map(|op| match *op {
            Op::PowerCut { after_writes } => Some(after_writes),
            _ => None,
        })
        .collect();
    // One in 500 ops, and about one sync in 16.
    let syncs = got.iter().filter(|op| matches!(op, Op::Fsync { .. } | Op::Fdatasync { .. })).count();
    let after_sync = got
        .windows(2)
        .filter(|w| matches!(w[0], Op::Fsync { .. } | Op::Fdatasync { .. }) && matches!(w[1], Op::PowerCut { .. }))
        .count();
    let want = 100_000 / 500 + syncs / 16;
    assert!(cuts.len() * 4 > want * 3 && cuts.len() * 4 < want * 5, "{} cuts, {want} expected", cuts.len());
    assert!(after_sync * 32 > syncs, "{after_sync} cuts right after {syncs} syncs");
    assert!(cuts.contains(&0) && cuts.contains(&4) && cuts.iter().all(|&n| n <= 4));
    let none = FsxConfig { power_cut_every: None, ..cfg };
    assert!(!ops(&none).iter().any(|op| matches!(op, Op::PowerCut { .. })));
}

#[test]
fn swarm_phases_align_most_collapses_to_the_coarse_block() {
    let cfg = FsxConfig { block_size: 1024, coarse_block_size: 4096, ..swarm_config(5) };
    let got = ops(&cfg);
    check_valid(&cfg, &got);
    let shifts: Vec<(u64, u64)> = got
        .iter()
        .filter_map(|op| match *op {
            Op::Fallocate { mode: FallocMode::CollapseRange | FallocMode::InsertRange, offset, len, .. } => {
                Some((offset, len))
            }
            _ => None,
        })
        .collect();
    let fine = shifts.iter().filter(|(o, l)| o % 4096 != 0 || l % 4096 != 0).count();
    assert!(fine > 0 && fine * 2 < shifts.len(), "{fine} of {} aligned to 1k only", shifts.len());
}
