//! The lockstep loop allocates nothing per op once warm (counted per thread by a global
//! allocator wrapper): the model, write data, read-back and whole-file checks all reuse their
//! buffers. Measured on a `dir` target, whose I/O path allocates nothing either.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::*;

use harness::diff::{Lockstep, TargetSet};
use harness::targets::TargetSpec;
use workloads::{FsxConfig, FsxWeights, OpKind};

#[test]
fn the_lockstep_loop_allocates_nothing_per_op() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TargetSpec::parse(&format!("dir:path={}", dir.path().display())).unwrap();
    let file_len = 256 << 10;
    let set = TargetSet::new(vec![spec], file_len).unwrap();
    // Every kind but remount and drop_caches (which reopen files and need root).
    let weights = FsxWeights::default().with(OpKind::Remount, 0).with(OpKind::DropCaches, 0);
    let cfg =
        FsxConfig { seed: 3, ops: Some(6_000), weights, block_size: set.max_block_size(), ..FsxConfig::default() };
    let mut ls = Lockstep::new(&set, 1, 16, file_len).unwrap();
    let mut stream = cfg.stream().unwrap();
    for op in stream.by_ref().take(2_000) {
        assert!(ls.step(&op).unwrap().is_none(), "{op:?}");
    }
    let ops: Vec<_> = stream.collect();
    let before = allocations();
    for op in &ops {
        assert!(ls.step(op).unwrap().is_none());
    }
    let during = allocations() - before;
    let stats = ls.stats().clone();
    ls.close().unwrap();
    assert!(stats.whole_checks >= 4_000 / 16, "whole-file checks ran: {}", stats.whole_checks);
    assert_eq!(during, 0, "allocations during {} warm ops", ops.len());
}
