//! Traces round-trip exactly (property test over every op shape).

use proptest::prelude::*;
use workloads::{FallocMode, Op, trace};

fn any_mode() -> impl Strategy<Value = FallocMode> {
    prop_oneof![
        Just(FallocMode::Allocate),
        Just(FallocMode::KeepSize),
        Just(FallocMode::PunchHole),
        Just(FallocMode::ZeroRange),
        Just(FallocMode::ZeroRangeKeepSize),
        Just(FallocMode::CollapseRange),
        Just(FallocMode::InsertRange),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(file, offset, len)| Op::Read { file, offset, len }),
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(file, offset, len, tag)| Op::Write {
            file,
            offset,
            len,
            tag
        }),
        (any::<u32>(), any::<u64>()).prop_map(|(file, size)| Op::Truncate { file, size }),
        (any::<u32>(), any_mode(), any::<u64>(), any::<u64>()).prop_map(|(file, mode, offset, len)| Op::Fallocate {
            file,
            mode,
            offset,
            len
        }),
        any::<u32>().prop_map(|file| Op::Fsync { file }),
        any::<u32>().prop_map(|file| Op::Fdatasync { file }),
        Just(Op::Remount),
        Just(Op::DropCaches),
    ]
}

proptest! {
    #[test]
    fn one_line_round_trips(op in any_op()) {
        let line = trace::to_line(&op);
        prop_assert!(!line.contains('\n'));
        prop_assert_eq!(trace::from_line(&line).unwrap(), op);
    }

    #[test]
    fn a_trace_round_trips(ops in proptest::collection::vec(any_op(), 0..50)) {
        let mut buf = Vec::new();
        trace::write_jsonl(&mut buf, &ops).unwrap();
        let text = String::from_utf8(buf).unwrap();
        prop_assert_eq!(text.lines().count(), ops.len());
        prop_assert_eq!(trace::read_jsonl(&text, "p").unwrap(), ops);
    }
}

#[test]
fn generated_streams_round_trip_through_a_file() {
    let ops: Vec<Op> = workloads::FsxConfig::default().stream().unwrap().collect();
    let dir = std::env::temp_dir().join(format!("workloads-trace-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fsx.jsonl");
    trace::save_jsonl(&path, &ops).unwrap();
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let back: Result<Vec<Op>, _> = trace::TraceReader::new(file, "fsx.jsonl").collect();
    assert_eq!(back.unwrap(), ops);
    std::fs::remove_dir_all(&dir).unwrap();
}
