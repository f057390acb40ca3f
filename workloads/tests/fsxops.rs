//! Import of hand-written xfstests `.fsxops` samples, and the lines it refuses.

use std::path::PathBuf;

use workloads::{fsxops, trace};

#[test]
fn samples_import_to_their_expected_ops() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fsxops");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "fsxops") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let ops = fsxops::parse(&std::fs::read_to_string(&path).unwrap(), name).unwrap_or_else(|e| panic!("{e}")).ops;
        let expected_text = std::fs::read_to_string(path.with_extension("jsonl")).unwrap();
        let expected = trace::read_jsonl(&expected_text, "expected").unwrap();
        assert_eq!(ops, expected, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn refused_lines_name_the_line() {
    let cases = [
        (
            "write 0x0 0x10 0x0\ncopy_range 0x0 0x1000 0x2000 0x3000\n",
            "s.fsxops:2: copy_range is not supported yet: remove the line or mark it 'skip'",
        ),
        (
            "clone_range 0x0 0x1000 0x2000 0x3000\n",
            "s.fsxops:1: clone_range is not supported yet: remove the line or mark it 'skip'",
        ),
        (
            "# c\n\ndedupe_range 0x0 0x1000 0x2000 0x3000\n",
            "s.fsxops:3: dedupe_range is not supported yet: remove the line or mark it 'skip'",
        ),
        (
            "exchange_range 0x0 0x1000 0x2000 0x3000\n",
            "s.fsxops:1: exchange_range is not supported yet: remove the line or mark it 'skip'",
        ),
        (
            "write_atomic 0x0 0x1000 0x0\n",
            "s.fsxops:1: write_atomic is not supported yet: remove the line or mark it 'skip'",
        ),
        (
            "fallocate 0x0 0x1000 0x0 unshare\n",
            "s.fsxops:1: fallocate unshare is not supported yet: remove the line or mark it 'skip'",
        ),
        ("wrte 0x0 0x1 0x0\n", "s.fsxops:1: unknown fsx op 'wrte'"),
        ("write 0x0 0x1\n", "s.fsxops:1: 'write' needs 3 numbers, found 2"),
        ("copy_range 0x0 0x1 0x2\n", "s.fsxops:1: 'copy_range' needs 4 numbers, found 3"),
        ("write 0x0 0xzz 0x0\n", "s.fsxops:1: '0xzz' is not a number"),
        ("write 0 1 0 bogus\n", "s.fsxops:1: unknown flag 'bogus'"),
        ("skip\n", "s.fsxops:1: 'skip' needs an op after it"),
    ];
    for (text, want) in cases {
        let err = fsxops::parse(text, "s.fsxops").unwrap_err();
        assert_eq!(err.to_string(), want, "{text}");
    }
    // Skipped entries of unsupported ops are fine: they were never run.
    let log = fsxops::parse("skip clone_range 0x0 0x1000 0x2000 0x3000\n", "s").unwrap();
    assert_eq!((log.ops, log.skipped), (vec![], 1));
}

#[test]
fn skipped_and_empty_entries_are_counted() {
    let text = "write 0x0 0x10 0x0\nskip write 0x10 0x10 0x10\n# c\nread 0x0 0x0 0x10\nskip punch_hole 0x0 0x8 0x10\nread 0x0 0x8 0x10\n";
    let log = fsxops::parse(text, "s.fsxops").unwrap();
    assert_eq!(log.ops.len(), 2);
    assert_eq!(log.skipped, 3);
}
