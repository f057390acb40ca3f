//! fio job streams: determinism, fio's meaning of each option, and distributions over 100k ops.

use std::collections::HashMap;

use workloads::{FallocMode, JobFile, Op, ThreadPlan};

fn job(text: &str) -> workloads::Job {
    let full = format!("[job]\n{text}");
    JobFile::parse(&full, "t.fio", false).unwrap_or_else(|e| panic!("{e}")).jobs.remove(0)
}

fn plan(text: &str) -> ThreadPlan {
    job(text).threads().remove(0)
}

fn ops(text: &str) -> Vec<Op> {
    plan(text).ops.collect()
}

/// (file, offset, len) of every read and write.
fn ios(ops: &[Op]) -> Vec<(u32, u64, u64)> {
    ops.iter()
        .filter_map(|op| match *op {
            Op::Read { file, offset, len } | Op::Write { file, offset, len, .. } => Some((file, offset, len)),
            _ => None,
        })
        .collect()
}

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let base = "rw=randrw\nbssplit=4k/50:64k/50\nsize=64m\n";
    let a = ops(base);
    assert_eq!(a, ops(base));
    assert_ne!(a, ops(&format!("{base}randseed=2\n")));
    // Threads and jobs get their own streams.
    let plans = job(&format!("{base}numjobs=2\n")).threads();
    let t0: Vec<Op> = plans[0].ops.clone().collect();
    let t1: Vec<Op> = plans[1].ops.clone().collect();
    assert_eq!(t0, a);
    assert_ne!(t0, t1);
    let two = JobFile::parse(&format!("[global]\n{base}[a]\n[b]\n"), "t", false).unwrap();
    let b0: Vec<Op> = two.jobs[0].threads()[0].ops.clone().collect();
    let b1: Vec<Op> = two.jobs[1].threads()[0].ops.clone().collect();
    assert_ne!(b0, b1);
    // randrepeat=0 picks a per-run seed.
    let j1 = job(&format!("{base}randrepeat=0\n"));
    let j2 = job(&format!("{base}randrepeat=0\n"));
    assert_ne!(j1.seed(), workloads::fio::DEFAULT_RANDSEED);
    assert_ne!(j1.seed(), j2.seed());
}

#[test]
fn sequential_offsets_wrap_at_the_region_end() {
    let got = ios(&ops("rw=write\nbs=16k\nfilesize=64k\nsize=160k\noffset=4k\n"));
    let offsets: Vec<u64> = got.iter().map(|&(_, o, _)| o - 4096).collect();
    assert_eq!(offsets, [0, 16384, 32768, 49152, 0, 16384, 32768, 49152, 0, 16384]);
    assert!(got.iter().all(|&(f, _, len)| f == 0 && len == 16384));
    // Reads and writes keep their own positions in a mixed sequential job.
    let got = ops("rw=rw\nbs=4k\nsize=1m\n");
    let (mut next_r, mut next_w) = (0, 0);
    for op in &got {
        match *op {
            Op::Read { offset, .. } => {
                assert_eq!(offset, next_r);
                next_r += 4096;
            }
            Op::Write { offset, .. } => {
                assert_eq!(offset, next_w);
                next_w += 4096;
            }
            _ => {}
        }
    }
    assert_eq!((next_r + next_w), 1 << 20);
}

/// Count how often each block (of `unit` bytes) of each file is touched.
fn coverage(ops: &[Op], unit: u64) -> HashMap<(u32, u64), u32> {
    let mut seen = HashMap::new();
    for (file, offset, len) in ios(ops) {
        assert_eq!(offset % unit, 0);
        for b in offset / unit..(offset + len).div_ceil(unit) {
            *seen.entry((file, b)).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn random_maps_cover_every_block_exactly_once() {
    let cases = [
        ("rw=randwrite\nbs=4k\nsize=4m\n", 1, 4096),
        ("rw=randread\nbs=4k\nsize=3m\nnrfiles=3\n", 1, 4096),
        ("rw=randwrite\nbsrange=4k-32k\nsize=2m\n", 1, 4096),
        ("rw=randrw\nbssplit=4k/60:64k/40\nsize=4m\nnrfiles=2\n", 1, 4096),
        ("rw=randwrite\nbs=8k\nblockalign=4k\nsize=1m\n", 1, 4096),
        ("rw=randread\nbs=4k\nsize=1m\nrandom_distribution=zipf:1.2\n", 1, 4096),
        ("rw=randread\nbs=4k\nsize=1m\nrandom_distribution=normal:5\nloops=3\n", 3, 4096),
        ("rw=randwrite\nbs=4k\nsize=1m\nloops=2\n", 2, 4096),
    ];
    for (text, times, unit) in cases {
        let j = job(text);
        let stream: Vec<Op> = j.threads()[0].ops.clone().collect();
        let seen = coverage(&stream, unit);
        let blocks = j.region_len() / unit * u64::from(j.files_per_thread());
        assert_eq!(seen.len() as u64, blocks, "{text}: every block");
        assert!(seen.values().all(|&n| n == times), "{text}: each {times} time(s)");
        let bytes: u64 = ios(&stream).iter().map(|&(_, _, len)| len).sum();
        assert_eq!(Some(bytes), j.threads()[0].ops.planned_bytes(), "{text}");
        // Each pass covers the region before the next begins.
        let per_pass = j.io_size();
        let mut done = 0;
        let mut pass_seen = HashMap::new();
        for (file, offset, len) in ios(&stream) {
            for b in offset / unit..(offset + len) / unit {
                let n = pass_seen.entry((file, b)).or_insert(0u32);
                *n += 1;
                assert_eq!(u64::from(*n), done / per_pass + 1, "{text}: block {b} again within a pass");
            }
            done += len;
        }
    }
}

#[test]
fn norandommap_repeats_blocks() {
    let seen = coverage(&ops("rw=randread\nbs=4k\nsize=4m\nnorandommap\n"), 4096);
    assert!(seen.values().any(|&n| n > 1));
    assert!(seen.len() < 1024);
}

#[test]
fn fsync_and_fdatasync_every_n_writes() {
    let got = ops("rw=write\nbs=4k\nsize=64k\nfsync=4\nfdatasync=8\nnrfiles=2\n");
    let mut writes = 0;
    let mut last_file = None;
    let mut i = 0;
    while i < got.len() {
        match got[i] {
            Op::Write { file, .. } => {
                writes += 1;
                last_file = Some(file);
                i += 1;
                if writes % 4 == 0 {
                    assert_eq!(got[i], Op::Fsync { file });
                    i += 1;
                }
                if writes % 8 == 0 {
                    assert_eq!(got[i], Op::Fdatasync { file });
                    i += 1;
                }
            }
            ref other => panic!("unexpected {other:?} at {i}"),
        }
    }
    assert_eq!(writes, 16);
    assert_eq!(last_file, Some(1));
}

#[test]
fn end_fsync_and_fsync_on_close_close_the_stream() {
    let got = ops("rw=write\nbs=4k\nsize=16k\nnrfiles=2\nend_fsync=1\nfsync_on_close=1\n");
    let tail: Vec<&Op> = got.iter().skip(4).collect();
    assert_eq!(tail, [&Op::Fsync { file: 0 }, &Op::Fsync { file: 1 }, &Op::Fsync { file: 0 }, &Op::Fsync { file: 1 }]);
    // A read-only job has nothing to sync.
    assert!(ops("rw=read\nsize=16k\nend_fsync=1\n").iter().all(|op| matches!(op, Op::Read { .. })));
}

#[test]
fn layout_follows_fio() {
    // Writes into a new file: only the preallocation (fio's default fallocate=native).
    let p = plan("rw=write\nsize=3m\n");
    assert_eq!(p.layout, [Op::Fallocate { file: 0, mode: FallocMode::Allocate, offset: 0, len: 3 << 20 }]);
    assert!(plan("rw=write\nsize=3m\nfallocate=none\n").layout.is_empty());
    assert_eq!(plan("rw=write\nsize=3m\nfallocate=truncate\n").layout, [Op::Truncate { file: 0, size: 3 << 20 }]);
    // overwrite=1 and reads: the file written out first, then synced; stream tags follow.
    for text in ["rw=write\nsize=3m\noverwrite=1\nfallocate=none\n", "rw=randread\nsize=3m\nfallocate=none\n"] {
        let p = plan(text);
        assert_eq!(
            p.layout,
            [
                Op::Write { file: 0, offset: 0, len: 1 << 20, tag: 1 },
                Op::Write { file: 0, offset: 1 << 20, len: 1 << 20, tag: 2 },
                Op::Write { file: 0, offset: 2 << 20, len: 1 << 20, tag: 3 },
                Op::Fsync { file: 0 },
            ],
            "{text}"
        );
    }
    let first = plan("rw=write\nsize=3m\noverwrite=1\n").ops.next();
    assert!(matches!(first, Some(Op::Write { tag: 4, .. })), "{first:?}");
    // create_on_open: nothing before measurement for a write-only job.
    assert!(plan("rw=write\nsize=3m\ncreate_on_open=1\n").layout.is_empty());
    // Shared files are laid out once.
    let plans = job("rw=read\nsize=1m\nfilename=shared\nnumjobs=3\nfallocate=none\n").threads();
    assert_eq!(plans[0].layout.len(), 2);
    assert!(plans[1].layout.is_empty() && plans[2].layout.is_empty());
    assert!(plans.iter().all(|p| p.files[0].name == "shared"));
}

#[test]
fn loops_repeat_and_time_based_never_ends() {
    let once = ios(&ops("rw=write\nbs=4k\nsize=64k\n"));
    let thrice = ios(&ops("rw=write\nbs=4k\nsize=64k\nloops=3\n"));
    assert_eq!(thrice.len(), 3 * once.len());
    assert_eq!(&thrice[..once.len()], &once[..]);

    let mut p = plan("rw=randwrite\nbs=4k\nsize=64k\ntime_based\nruntime=10\nend_fsync=1\n");
    assert_eq!(p.ops.planned_bytes(), None);
    assert!(p.ops.is_time_based());
    assert_eq!(p.control.runtime, Some(std::time::Duration::from_secs(10)));
    let first: Vec<Op> = p.ops.by_ref().take(1000).collect();
    assert_eq!(first.len(), 1000, "time-based streams go on past the size");
    assert!(first.iter().all(|op| matches!(op, Op::Write { .. })));
    p.ops.finish();
    let rest: Vec<Op> = p.ops.collect();
    assert_eq!(rest, [Op::Fsync { file: 0 }]);
}

#[test]
fn write_tags_number_the_writes() {
    let got = ops("rw=randrw\nsize=1m\nfallocate=none\n");
    let tags: Vec<u64> =
        got.iter().filter_map(|op| if let Op::Write { tag, .. } = op { Some(*tag) } else { None }).collect();
    // The layout wrote the 1 MiB file as tag 1; the stream goes on from 2.
    assert_eq!(tags, (2..=tags.len() as u64 + 1).collect::<Vec<_>>());
}

// Distribution checks over 100k ops. Tolerances are set at several standard deviations of the
// sampling error, so the checks fail only when the generator is wrong.

#[test]
fn rwmix_ratio_within_one_point() {
    // 400 MiB / 4k = 102400 ops. σ of the read share is sqrt(0.7·0.3/102400) = 0.14 points.
    let got = ops("rw=randrw\nrwmixread=70\nbs=4k\nsize=400m\n");
    let n = got.len() as f64;
    assert!(n >= 100_000.0);
    let reads = got.iter().filter(|op| matches!(op, Op::Read { .. })).count() as f64;
    let share = 100.0 * reads / n;
    assert!((share - 70.0).abs() < 1.0, "read share {share:.2}% (want 70 ± 1)");
}

#[test]
fn bssplit_shares_within_one_point() {
    // Sequential, so no I/O is cut short by the random map. σ ≤ 0.16 points per share.
    let got = ios(&ops("rw=write\nbssplit=4k/50:16k/30:64k/20\nsize=2g\n"));
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for &(_, _, len) in &got[..100_000] {
        *counts.entry(len).or_default() += 1;
    }
    for (size, want) in [(4096, 50.0), (16384, 30.0), (65536, 20.0)] {
        let share = 100.0 * counts[&size] as f64 / 100_000.0;
        assert!((share - want).abs() < 1.0, "{size}: {share:.2}% (want {want} ± 1)");
    }
    // bsrange sizes are multiples of the minimum, spread evenly.
    let got = ios(&ops("rw=write\nbsrange=4k-16k\nsize=2g\n"));
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for &(_, _, len) in &got[..100_000] {
        *counts.entry(len).or_default() += 1;
    }
    assert_eq!(counts.len(), 4);
    for (size, n) in counts {
        let share = 100.0 * n as f64 / 100_000.0;
        assert!((share - 25.0).abs() < 1.0, "{size}: {share:.2}%");
    }
}

#[test]
fn zipf_skew_matches_theory() {
    // 1 GiB of 4k blocks, zipf:1.2 without the random map (as fio's zipf example).
    let n_blocks: u64 = 262_144;
    let got = ios(&ops("rw=randread\nbs=4k\nsize=1g\nrandom_distribution=zipf:1.2\nnorandommap\nloops=1\n"));
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for &(_, offset, _) in &got[..100_000] {
        *counts.entry(offset / 4096).or_default() += 1;
    }
    let mut sorted: Vec<u32> = counts.values().copied().collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let norm: f64 = (1..=n_blocks).map(|k| (k as f64).powf(-1.2)).sum();
    for top in [1usize, 10, 262] {
        let want: f64 = (1..=top as u64).map(|k| (k as f64).powf(-1.2)).sum::<f64>() / norm;
        let got_share = f64::from(sorted.iter().take(top).sum::<u32>()) / 100_000.0;
        assert!((got_share - want).abs() < 0.01, "top {top} blocks: {got_share:.4} (want {want:.4} ± 0.01)");
    }
    // Hot blocks are scattered over the file, not packed at its start.
    let mut hot: Vec<u64> = counts.iter().filter(|(_, c)| **c >= 100).map(|(b, _)| *b).collect();
    hot.sort_unstable();
    assert!(hot.len() >= 10 && hot.last().unwrap() - hot[0] > n_blocks / 4, "{hot:?}");
}

#[test]
fn pareto_and_normal_are_skewed() {
    let top_share = |text: &str| {
        let got = ios(&ops(text));
        let mut counts: HashMap<u64, u32> = HashMap::new();
        for &(_, offset, _) in &got {
            *counts.entry(offset).or_default() += 1;
        }
        let mut sorted: Vec<u32> = counts.values().copied().collect();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        // Share of I/Os on the hottest 10% of the 25600 blocks.
        f64::from(sorted.iter().take(2560).sum::<u32>()) / got.len() as f64
    };
    let uniform = top_share("rw=randread\nbs=4k\nsize=100m\nnorandommap\nloops=4\n");
    let pareto = top_share("rw=randread\nbs=4k\nsize=100m\nnorandommap\nloops=4\nrandom_distribution=pareto:0.2\n");
    let normal = top_share("rw=randread\nbs=4k\nsize=100m\nnorandommap\nloops=4\nrandom_distribution=normal:2\n");
    // Uniform draws (4 per block on average) put about 20% on the luckiest 10% of blocks.
    assert!(uniform < 0.25, "{uniform}");
    assert!(pareto > 0.5, "{pareto}");
    assert!(normal > 0.5, "{normal}");
}

/// The indices of the I/Os that drop their file's cache first.
fn invalidations(text: &str, n: usize) -> Vec<usize> {
    let mut p = plan(text);
    (0..n).filter_map(|i| p.ops.next_io().filter(|io| io.invalidate).map(|_| i)).collect()
}

#[test]
fn a_new_pass_drops_the_files_cache_as_fio_does() {
    // 64k of 4k blocks: 16 I/Os a pass; fio's loop_cache_invalidate at each wrap.
    assert_eq!(invalidations("rw=randwrite\nbs=4k\nsize=64k\ntime_based\nruntime=1\n", 50), [16, 32, 48]);
    assert_eq!(invalidations("rw=read\nbs=4k\nsize=64k\ntime_based\nruntime=1\n", 40), [16, 32]);
    // Not with invalidate=0, nor for O_DIRECT.
    assert!(invalidations("rw=randwrite\nbs=4k\nsize=64k\ntime_based\nruntime=1\ninvalidate=0\n", 50).is_empty());
    assert!(invalidations("rw=randwrite\nbs=4k\nsize=64k\ntime_based\nruntime=1\ndirect=1\n", 50).is_empty());
    // loops reopen the file, which drops its cache (td_io_open_file).
    assert_eq!(invalidations("rw=write\nbs=4k\nsize=64k\nloops=2\n", 40), [16]);
}

/// fio's `random_distribution=sequence` (examples/sequence-distribution.fio): the listed blocks
/// in order, over and over; with `random_sequence_stride` the pattern moves on by its length
/// each round, until it leaves the region.
#[test]
fn sequence_distribution_takes_the_listed_blocks() {
    let blocks = |text: &str| -> Vec<u64> { ios(&ops(text)).iter().map(|&(_, off, _)| off / 4096).collect() };
    let base = "ioengine=null\nrw=randread\nbs=4k\nsize=48k\nio_size=24k\nrandom_distribution=sequence:2,0,1\n";
    assert_eq!(blocks(base), [2, 0, 1, 2, 0, 1]);
    assert_eq!(blocks(&format!("{base}random_sequence_stride=1\n")), [2, 0, 1, 5, 3, 4]);
    // Past the region (12 blocks), a strided sequence ends the I/O.
    assert_eq!(
        blocks(&format!("{base}random_sequence_stride=1\nio_size=1m\n")),
        [2, 0, 1, 5, 3, 4, 8, 6, 7, 11, 9, 10]
    );
    // Reads and writes each keep their own count (fio's io_issues per direction).
    let (mut r, mut w) = (Vec::new(), Vec::new());
    for op in ops("rw=randrw\nbs=4k\nsize=64k\nio_size=64k\nrandom_distribution=sequence:3,1\n") {
        match op {
            Op::Read { offset, .. } => r.push(offset / 4096),
            Op::Write { offset, .. } => w.push(offset / 4096),
            _ => {}
        }
    }
    let alternate = |v: &[u64]| v.iter().enumerate().all(|(i, &b)| b == [3, 1][i % 2]);
    assert!(!r.is_empty() && !w.is_empty() && alternate(&r) && alternate(&w), "reads {r:?} writes {w:?}");
    // A block past the region is refused when the job is read, as fio refuses it.
    let e = JobFile::parse("[j]\nrw=randread\nsize=48k\nrandom_distribution=sequence:2,12\n", "t.fio", false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("block 12 is past the 12 blocks of 4k"), "{e}");
}

/// fio's `openfiles` below `nrfiles`: at most that many files in use at once; a file is closed
/// when its pass is done ([`workloads::fio::Io::close`]) and the next one opened in its place,
/// as fio's `get_next_file` and `td_io_close_file` do; every file gets its I/O.
#[test]
fn openfiles_keeps_at_most_that_many_in_use() {
    for service in ["roundrobin", "random", "sequential", "zipf:1.2"] {
        for rw in ["write", "randread"] {
            let mut p = plan(&format!(
                "rw={rw}\nbs=4k\nnrfiles=5\nopenfiles=2\nsize=100k\nfile_service_type={service}\nend_fsync=1\n"
            ));
            let (mut open, mut most, mut done) = (std::collections::BTreeSet::new(), 0, [0u64; 5]);
            let mut order = Vec::new();
            while let Some(io) = p.ops.next_io() {
                if let Some(f) = io.close {
                    assert!(open.remove(&f), "{service} {rw}: closed {f}, not open");
                }
                if let Op::Read { file, len, .. } | Op::Write { file, len, .. } = io.op {
                    open.insert(file);
                    done[file as usize] += len;
                    order.push(file);
                }
                most = most.max(open.len());
            }
            assert!(most <= 2, "{service} {rw}: {most} files in use at once: {order:?}");
            assert_eq!(done, [20 << 10; 5], "{service} {rw}: bytes per file; {order:?}");
            if service == "roundrobin" && rw == "write" {
                // Two files in turn, the next opened when one is done.
                assert_eq!(&order[..12], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3]);
            }
        }
    }
}
