//! End-to-end tests of `aopsbench diff` and `aopsbench replay` through the binary: every
//! seeded fsimpl bug is found, shrunk to a few ops and replayed; bh and iomap agree over seeds
//! and block sizes; an fsx `.fsxops` log replays; bad command lines exit 2 with one line.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn aopsbench<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aopsbench")).args(args).output().expect("run aopsbench")
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid json")
}

fn trace_len(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("trace");
    workloads::trace::read_jsonl(&text, "trace").expect("valid trace").len()
}

/// The `--target` and `--check-every` arguments of a printed replay command (specs hold no
/// spaces here).
fn replay_args(cmd: &str) -> Vec<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = Vec::new();
    for w in words.windows(2) {
        if w[0] == "--target" || w[0] == "--check-every" {
            out.push(w[0].to_string());
            out.push(w[1].to_string());
        }
    }
    out
}

/// `diff` on bh, iomap and `buggy` finds the bug on each seed within 20,000 ops: only the
/// buggy target differs; minimal.jsonl has at most 10 ops and replays to the same divergence.
fn seeded_bug(buggy: &str, seeds: &[u64]) {
    let name = buggy;
    for &seed in seeds {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("found");
        let seed_text = seed.to_string();
        let args = ["diff", "--target", "bh", "--target", "iomap", "--target", buggy, "--seed", &seed_text];
        let o = aopsbench(&[&args[..], &["--ops", "20000", "--out", out.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(1), "{buggy} seed {seed}: {}", text(&o));
        let screen = stdout(&o);
        for want in [
            "DIVERGENCE at op ",
            "agree with the model: bh, iomap",
            &format!("differ from it:       {name} ("),
            "replay: aopsbench replay",
        ] {
            assert!(screen.contains(want), "{buggy} seed {seed}: no '{want}' in\n{screen}");
        }
        let doc = json(&out.join("divergence.json"));
        let d = &doc["divergence"];
        let sig = d["signature"].as_array().expect("signature");
        assert_eq!(sig.len(), 1, "{buggy} seed {seed}: {sig:?}");
        assert_eq!(sig[0]["target"], name);
        let op_number = d["op_number"].as_u64().unwrap();
        assert!(op_number <= 20_000, "found at op {op_number}");
        assert_eq!(trace_len(&out.join("trace.jsonl")) as u64, op_number);

        let minimal = out.join("minimal.jsonl");
        let n = trace_len(&minimal);
        assert!((1..=10).contains(&n), "{buggy} seed {seed}: minimal.jsonl has {n} ops");
        let m = &doc["minimal"];
        assert_eq!(m["ops"].as_u64(), Some(n as u64));
        assert_eq!(m["reproduced"], true);
        assert_eq!(m["divergence"]["signature"], d["signature"], "{buggy} seed {seed}: shrunk to another divergence");

        // The written minimal trace replays, with the printed targets, to the same divergence.
        let again = dir.path().join("replayed");
        let mut args = vec!["replay".to_string(), minimal.display().to_string()];
        args.extend(replay_args(doc["replay"].as_str().unwrap()));
        args.extend(["--out".to_string(), again.display().to_string()]);
        let o = aopsbench(&args);
        assert_eq!(o.status.code(), Some(1), "{buggy} seed {seed}: replay: {}", text(&o));
        let r = json(&again.join("divergence.json"));
        assert_eq!(r["divergence"]["signature"], d["signature"]);
        assert_eq!(r["divergence"]["op_number"], m["divergence"]["op_number"]);
        assert_eq!(r["divergence"]["found_by"], m["divergence"]["found_by"]);
    }
}

#[test]
fn finds_bh_skip_rmw() {
    seeded_bug("bh:bug=bh_skip_rmw", &[1, 2]);
}

#[test]
fn finds_iomap_skip_tail_zero() {
    seeded_bug("iomap:bug=iomap_skip_tail_zero", &[1, 3]);
}

#[test]
fn finds_iomap_wb_drop_tail() {
    seeded_bug("iomap:bug=iomap_wb_drop_tail", &[1, 6]);
}

#[test]
fn finds_skip_unwritten_conversion() {
    seeded_bug("iomap:bug=skip_unwritten_conversion", &[1, 2]);
}

#[test]
fn finds_iomap_post_eof_not_zeroed() {
    seeded_bug("iomap:bug=iomap_post_eof_not_zeroed", &[1, 4]);
}

#[test]
fn finds_punch_leaves_cached_partial() {
    seeded_bug("bh:block_size=1k:bug=punch_leaves_cached_partial", &[1]);
    seeded_bug("iomap:bug=punch_leaves_cached_partial", &[2]);
}

/// The counts of a summary table: op kind -> (ran, emulated).
fn summary_counts(out: &str) -> Vec<(String, u64, u64)> {
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w[..] {
                [kind, ran, emulated, ..] if workloads::OpKind::from_name(kind).is_some() => {
                    Some((kind.to_string(), ran.parse().ok()?, emulated.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn bh_and_iomap_agree_over_seeds_and_block_sizes() {
    for (bs, extra) in [("1k", ""), ("4k", ""), ("4k", ":large_folios=1:max_folio=64k")] {
        for seed in ["1", "2", "3"] {
            let bh = format!("bh:block_size={bs}{extra}");
            let iomap = format!("iomap:block_size={bs}");
            let o = aopsbench(&["diff", "--target", &bh, "--target", &iomap, "--seed", seed, "--ops", "20000"]);
            assert_eq!(o.status.code(), Some(0), "{bh} vs {iomap}, seed {seed}: {}", text(&o));
            let out = stdout(&o);
            assert!(out.contains("no divergence: 20000 ops in"), "{out}");
            assert!(out.contains("0 ops emulated"), "{out}");
            let counts = summary_counts(&out);
            assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), 20_000, "{out}");
            assert!(counts.iter().any(|c| c.0 == "collapse_range" && c.1 > 0), "{out}");
        }
    }
}

#[test]
fn what_tmpfs_cannot_do_is_emulated_there_and_ext4_runs_it_for_real() {
    for kind in ["tmpfs", "ext4"] {
        if !harness::targets::kernel_available(kind) {
            println!("skipped: {kind} cannot be mounted here ({:?})", harness::targets::availability(kind).1);
            return;
        }
    }
    let o = aopsbench(&["diff", "--targets", "bh,ext4,tmpfs", "--mix", "fixed", "--seed", "5", "--ops", "3000"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.contains("note: tmpfs cannot do") && out.contains("collapse_range"), "{out}");
    let counts = summary_counts(&out);
    let total: u64 = counts.iter().map(|c| c.1).sum();
    assert_eq!(total, 3000, "every op ran: {out}");
    // zero_range too, where this kernel's tmpfs lacks it (shmem_fallocate).
    let zero = out.lines().any(|l| l.starts_with("note: tmpfs cannot do") && l.contains("zero_range"));
    let kinds = ["collapse_range", "insert_range", "zero_range"];
    for kind in kinds.into_iter().filter(|&k| k != "zero_range" || zero) {
        let (_, ran, emulated) = counts.iter().find(|c| c.0 == kind).cloned().expect("a row");
        // Every one ran on bh, ext4 and the model; tmpfs alone had it emulated.
        assert!(ran > 20, "{kind}: {out}");
        let row = out.lines().find(|l| l.trim_start().starts_with(kind)).unwrap();
        assert!(row.ends_with(&format!("(on tmpfs {ran})")) && emulated == ran, "{kind}: {row}");
    }
}

/// A hand-written fsx log: writes, a truncate, fallocate modes, collapse and insert, a read.
const SAMPLE_FSXOPS: &str = "\
# written by hand in fsx's --record-ops format
write 0x0 0x3000 0x0
truncate 0x0 0x1234 0x3000
write 0x2000 0x1800 0x1234 *
punch_hole 0x800 0x1000 0x3800
zero_range 0x3000 0x100 0x3800 keep_size
fallocate 0x3800 0x1000 0x3800 keep_size
collapse_range 0x1000 0x1000 0x3800
insert_range 0x0 0x1000 0x2800
skip write 0x0 0x10 0x3800
read 0x0 0x4000 0x3800
mapread 0x100 0x200 0x3800
fsync 0x0 0x0 0x0
write 0x3fff 0x2 0x3800 close_open
";

#[test]
fn an_fsxops_log_replays() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sample.fsxops");
    std::fs::write(&log, SAMPLE_FSXOPS).unwrap();
    let o = aopsbench(&["replay", log.to_str().unwrap(), "--targets", "bh,iomap"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    // The sample's one `skip` entry is counted, not silently dropped.
    assert!(out.contains("(12 ops; 1 entry marked skip or of length 0, not run)"), "{out}");
    assert!(
        out.contains("no divergence: 12 ops")
            && out.contains("; 1 entry marked skip or of length 0 in the trace, not run"),
        "{out}"
    );
    let counts = summary_counts(&out);
    let ran = |k: &str| counts.iter().find(|c| c.0 == k).map_or(0, |c| c.1);
    assert_eq!((ran("write"), ran("read"), ran("collapse_range"), ran("insert_range")), (3, 2, 1, 1), "{out}");

    // With no extension, the format is told by the content.
    let plain = dir.path().join("sample");
    std::fs::write(&plain, SAMPLE_FSXOPS).unwrap();
    let o = aopsbench(&["replay", plain.to_str().unwrap(), "--targets", "iomap"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The same log on a target that drops the tail of a writeback diverges: exit 1, and the
    // report names the target and the write whose bytes are missing.
    let o = aopsbench(&["replay", log.to_str().unwrap(), "--target", "bh", "--target", "iomap:bug=iomap_wb_drop_tail"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.contains("differ from it:       iomap (data)") && out.contains("agree with the model: bh"), "{out}");
}

#[test]
fn a_trace_with_a_bad_line_exits_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"op\":\"remount\"}\n{\"op\":\"wrte\",\"file\":0}\n").unwrap();
    let o = aopsbench(&["replay", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("bad.jsonl:2") && e.contains("wrte"), "{e}");
}

#[test]
fn bad_command_lines_exit_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["diff", "--file-len", "12x"], "expected a size"),
        (&["diff", "--seed", "abc"], "--seed"),
        (&["diff", "--bogus"], "--bogus"),
        (&["diff", "--duration", "soon"], "expected a time"),
        (&["diff", "--target", "null"], "stores no data"),
        (&["diff", "--target", "bh:blocksize=4k"], "unknown parameter 'blocksize'"),
        (&["diff", "--align", "3"], "align"),
        (&["diff", "--weights", "wrte=1"], "unknown op kind 'wrte'"),
        (&["diff", "--file-len", "2g"], "up to 1g"),
        (&["diff", "--target", "iomap:bug=nope"], "no such seeded bug"),
        (&["diff", "--bug", "nope"], "--bug nope: no such seeded bug (known: bh_skip_rmw,"),
        (&["diff", "--targets", "iomap", "--bug", "bh_skip_rmw"], "--bug bh_skip_rmw: no bh target"),
        (&["diff", "--mix", "wild"], "--mix"),
        (&["diff", "--powercut-every", "often"], "--powercut-every"),
        (&["replay"], "<TRACE>"),
        (&["replay", "/nonexistent/trace.jsonl"], "cannot read the trace"),
    ];
    for (args, want) in cases {
        let o = aopsbench(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(e.starts_with("aopsbench: ") && e.contains(want), "{args:?}: no '{want}' in {e}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o));
    }
}

#[test]
fn a_duration_bounds_an_endless_stream() {
    let o = aopsbench(&["diff", "--targets", "iomap", "--duration", "0.3s", "--check-every", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("whole files compared after remounts and at the end") && out.contains("no divergence: "),
        "{out}"
    );
}
