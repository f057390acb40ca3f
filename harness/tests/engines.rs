//! Every engine at queue depth 1 and 32: on a directory target (the engine's own system calls),
//! on fsimpl (io-wq for the asynchronous engines) and on the null target. Each run does every
//! planned I/O, moves every byte, and records fio's latencies: slat for queued I/Os only.

use harness::runner::{Progress, run_job};
use harness::targets::{self, FsimplDefaults, PoolCache, Target, TargetSpec};
use workloads::JobFile;

const ENGINES: [&str; 9] = ["sync", "psync", "vsync", "pvsync", "pvsync2", "mmap", "io_uring", "libaio", "posixaio"];

fn job(engine: &str, qd: u32) -> workloads::Job {
    let text = format!(
        "[j]\nrw=randrw\nrwmixread=50\nbs=4k\nsize=1m\nioengine={engine}\niodepth={qd}\nrandseed=5\nfsync=64\n"
    );
    JobFile::parse(&text, "engines.fio", false).unwrap().jobs.remove(0)
}

/// Runs `engine` at `qd` on `target` and checks what was done.
fn check(target: &dyn Target, engine: &str, qd: u32) {
    let job = job(engine, qd);
    let out = run_job(&job, target, &Progress::default()).unwrap_or_else(|e| panic!("{engine} qd{qd}: {e}"));
    let (r, w) = (&out.ops["read"], &out.ops["write"]);
    let what = format!("{engine} qd{qd} on {}", target.kind());
    assert_eq!(r.count() + w.count(), 256, "{what}: every 4k block of 1m once");
    assert_eq!(r.bytes + w.bytes, 1 << 20, "{what}");
    assert_eq!(out.ops["fsync"].count(), w.count() / 64, "{what}");
    let async_engine = ["io_uring", "libaio", "posixaio"].contains(&engine);
    // A kernel target and fsimpl queue every I/O of an asynchronous engine (fsimpl completes
    // cached reads at submission, as io_uring does); the null target completes everything at
    // once.
    let expect_slat = target.kind() != "null" && async_engine;
    assert_eq!(r.slat.is_some(), expect_slat, "{what}: slat only for queued I/Os");
    assert_eq!(r.lat.is_some(), expect_slat, "{what}");
    if let Some(lat) = &r.lat {
        assert!(lat.max() >= r.histogram.min(), "{what}: lat includes clat");
    }
}

#[test]
fn every_engine_at_depth_1_and_32_on_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        for qd in [1, 32] {
            let spec = TargetSpec::parse(&format!("dir:path={}", dir.path().display())).unwrap();
            let t = targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap();
            check(t.as_ref(), engine, qd);
        }
    }
}

#[test]
fn fsimpl_serves_queue_depth_through_io_wq() {
    let pools = PoolCache::default();
    for engine in ["psync", "io_uring", "libaio", "posixaio"] {
        for qd in [1, 32] {
            let spec = TargetSpec::parse("iomap:backing=mem:size=64m:cache=16m").unwrap();
            let t = targets::build(&spec, &FsimplDefaults::default(), &pools).unwrap();
            check(t.as_ref(), engine, qd);
        }
    }
}

#[test]
fn the_null_target_runs_any_engine() {
    let spec = TargetSpec::parse("null").unwrap();
    for qd in [1, 32] {
        let t = targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap();
        check(t.as_ref(), "io_uring", qd);
    }
}
