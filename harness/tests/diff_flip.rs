//! A forced divergence: iomap wrapped in a [`FlipTarget`] that stores one byte with a bit
//! flipped is found, reported (offset, hex dump, the write whose byte it is) and shrunk to the
//! one write that shows it; the minimal trace replays to the same divergence.

use harness::diff::{self, Budget, Check, FlipTarget, Found, Kind, Lockstep, Mismatch, TargetSet};
use harness::targets::TargetSpec;
use std::time::{Duration, Instant};
use workloads::{FsxConfig, Op};

const FLIP_AT: u64 = 5000;

fn flipping_set() -> TargetSet {
    let specs = vec![TargetSpec::parse("bh").unwrap(), TargetSpec::parse("iomap").unwrap()];
    TargetSet::new(specs, 256 << 10)
        .unwrap()
        .with_wrapper(|i, t| if i == 1 { Box::new(FlipTarget::new(t, FLIP_AT)) } else { t })
}

#[test]
fn a_flipped_byte_is_found_reported_and_shrunk() {
    let set = flipping_set();
    let cfg = FsxConfig { seed: 9, ops: Some(20_000), block_size: set.max_block_size(), ..FsxConfig::default() };
    let mut ls = Lockstep::new(&set, 1, 64, 256 << 10).unwrap();
    let d = ls.run(cfg.stream().unwrap(), |_| true).unwrap().expect("the flipped byte is seen");
    ls.close().unwrap();
    assert_eq!(d.signature(), vec![("iomap".to_string(), Kind::Data)]);
    assert!(d.verdicts[0].mismatch.is_none(), "bh agrees with the model");
    let Some(Mismatch::Data(data)) = &d.verdicts[1].mismatch else { panic!("{:?}", d.verdicts[1]) };
    assert_eq!(data.runs, vec![(FLIP_AT, 1)], "exactly the flipped byte differs");
    assert_eq!((data.differing, data.regions), (1, 1));
    let at = (FLIP_AT - data.window) as usize;
    assert_eq!(data.expected[at] ^ data.actual[at], 1, "one bit");

    let ops: Vec<Op> = cfg.stream().unwrap().take(d.op_number as usize).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flip");
    let found = Found { set: &set, ops, files: 1, check_every: 64, divergence: d, context: serde_json::json!({}) };
    let budget = Budget { deadline: Instant::now() + Duration::from_secs(60), max_attempts: 10_000 };
    let inv = diff::investigate(found, &out, budget, &mut |_, _| {}).unwrap();

    assert!(inv.screen.contains("differ from it:       iomap (data)"), "{}", inv.screen);
    assert!(inv.screen.contains("in 1 region: 0x1388..0x1389"), "{}", inv.screen);
    assert!(inv.screen.contains("model has at 0x1388:  written by op"), "{}", inv.screen);
    assert!(inv.screen.contains("target has at 0x1388: no write of the trace put these bytes here"), "{}", inv.screen);
    for f in ["trace.jsonl", "divergence.json", "minimal.jsonl"] {
        assert!(out.join(f).exists(), "{f}");
    }

    // Shrunk to the one write over the flipped byte; the final whole-file check shows it.
    assert!(inv.reproduced && inv.complete);
    assert_eq!(inv.minimal.len(), 1, "{:?}", inv.minimal);
    let Op::Write { offset, len, .. } = inv.minimal[0] else { panic!("{:?}", inv.minimal) };
    assert!(offset <= FLIP_AT && FLIP_AT < offset + len, "{:?}", inv.minimal);
    let md = inv.minimal_divergence.as_ref().expect("minimal divergence");
    assert_eq!(md.signature(), vec![("iomap".to_string(), Kind::Data)]);

    // minimal.jsonl as written replays to the same divergence.
    let text = std::fs::read_to_string(out.join("minimal.jsonl")).unwrap();
    let minimal = workloads::trace::read_jsonl(&text, "minimal.jsonl").unwrap();
    assert_eq!(minimal, inv.minimal);
    let r = diff::replay(&set, &minimal, 1, 64).unwrap();
    let rd = r.divergence.expect("replays to a divergence");
    assert_eq!(rd.signature(), md.signature());
    assert_eq!((rd.op_number, rd.check), (md.op_number, md.check));
    assert_eq!(rd.check, Check::End);

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("divergence.json")).unwrap()).unwrap();
    assert_eq!(doc["minimal"]["ops"], 1);
    assert_eq!(doc["divergence"]["signature"][0]["target"], "iomap");
    assert_eq!(doc["divergence"]["targets"][1]["detail"]["regions"][0][0], FLIP_AT);
}

#[test]
fn without_the_flip_the_same_stream_agrees() {
    let specs = vec![TargetSpec::parse("bh").unwrap(), TargetSpec::parse("iomap").unwrap()];
    let set = TargetSet::new(specs, 256 << 10).unwrap();
    let cfg = FsxConfig { seed: 9, ops: Some(5_000), block_size: 4096, ..FsxConfig::default() };
    let ops: Vec<Op> = cfg.stream().unwrap().collect();
    let r = diff::replay(&set, &ops, 1, 64).unwrap();
    assert!(r.divergence.is_none(), "{:?}", r.divergence.map(|d| d.signature()));
    assert_eq!(r.stats.total_ran(), 5_000);
}

#[test]
fn ops_past_the_model_are_refused_not_a_panic() {
    let specs = vec![TargetSpec::parse("iomap").unwrap()];
    let set = TargetSet::new(specs, 1 << 20).unwrap();
    let huge_read = [Op::Write { file: 0, offset: 0, len: 10, tag: 1 }, Op::Read { file: 0, offset: 5, len: u64::MAX }];
    let r = diff::replay(&set, &huge_read, 1, 64).unwrap();
    assert!(r.divergence.is_none());
    let huge_write = [Op::Write { file: 0, offset: u64::MAX - 10, len: 1 << 40, tag: 1 }];
    let e = diff::replay(&set, &huge_write, 1, 64).err().expect("refused");
    assert!(e.to_string().contains("holds files up to 1 GiB"), "{e}");
}
