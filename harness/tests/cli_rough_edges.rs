//! What a new user meets first, through the binary: the command list, `report`, `gate`'s and
//! `compare`'s messages, a misspelled job, a job a later target cannot run, and `replay` of an
//! fsx log with skipped entries.

use std::path::Path;
use std::process::{Command, Output};

fn aopsbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aopsbench")).args(args).output().expect("run aopsbench")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small seeded job on bh and iomap in RAM, written to `out`; `fio` are extra fio options.
fn small_run(out: &Path, fio: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["run", "--target", "bh:backing=mem", "--target", "iomap:backing=mem", "--no-plot"];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap(), "--", "--name=w", "--rw=randwrite", "--randseed=3"]);
    args.extend_from_slice(fio);
    aopsbench(&args)
}

#[test]
fn bare_aopsbench_lists_the_commands() {
    let o = aopsbench(&[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("Usage: aopsbench <COMMAND>"), "{e}");
    for command in ["run", "plot", "report", "compare", "gate", "targets", "diff", "replay"] {
        assert!(e.lines().any(|l| l.trim_start().starts_with(&format!("{command} "))), "no {command} in\n{e}");
    }
}

#[test]
fn run_writes_report_html_and_report_compares_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let o = small_run(&a, &["--bs=4k", "--size=4m"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(a.join("report.html")).expect("run writes report.html");
    assert!(page.contains("<h3>job w</h3>") && page.contains("data-chart=\"latency-w-write\""));
    let o = small_run(&b, &["--bs=8k", "--size=4m"], &["--no-report"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!b.join("report.html").exists(), "--no-report");

    let both = dir.path().join("both.html");
    let o = aopsbench(&["report", a.to_str().unwrap(), b.to_str().unwrap(), "--out", both.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), both.to_str().unwrap());
    let page = std::fs::read_to_string(&both).unwrap();
    assert!(page.contains("<h2>B against A</h2>"), "the second run is compared with the first");
    assert!(page.contains("warning: job w: defined differently: A has bs=4k; B has bs=8k"));

    // The default place: the last run directory.
    let o = aopsbench(&["report", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(b.join("report.html").exists());

    // compare: the warning on stderr, the deltas on stdout, the charts where asked.
    let charts = dir.path().join("charts");
    let o = aopsbench(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--plots", charts.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: job w: defined differently: A has bs=4k; B has bs=8k"), "{}", stderr(&o));
    assert!(stdout(&o).contains("job w"));
    assert!(charts.join("compare-w.svg").exists() && charts.join("compare_latency-w-write.png").exists());
}

#[test]
fn compare_of_runs_without_a_common_job_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(small_run(&a, &["--bs=4k", "--size=1m"], &["--no-report"]).status.success());
    let o = aopsbench(&[
        "run",
        "--target",
        "bh:backing=mem",
        "--no-plot",
        "--no-report",
        "--out",
        b.to_str().unwrap(),
        "--",
        "--name=other",
        "--rw=write",
        "--size=1m",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = aopsbench(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("have no job in common (w against other)"), "{e}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn gate_says_which_file_is_missing_and_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert!(small_run(&run, &["--bs=4k", "--size=2m"], &["--no-report"]).status.success());
    let run = run.to_str().unwrap();

    let o = aopsbench(&["gate", run]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("--baseline FILE") && e.contains("--write-baseline FILE"), "{e}");

    let missing = dir.path().join("missing.json");
    let o = aopsbench(&["gate", "--baseline", missing.to_str().unwrap(), run]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("missing.json: missing; no such baseline") && e.contains("--write-baseline"), "{e}");
    assert!(!e.contains("run directory"), "{e}");
}

#[test]
fn a_time_based_baseline_leaves_its_counters_out() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = small_run(&run, &["--bs=4k", "--size=4m", "--time_based", "--runtime=1"], &["--no-report"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let baseline = dir.path().join("b.json");
    let o = aopsbench(&["gate", "--write-baseline", baseline.to_str().unwrap(), run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("note: w @ bh: counters not gated: time-based job (1s)"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(v["jobs"][0]["targets"][1]["counters"], serde_json::json!({}));
    // The run checked against its own baseline passes, saying the counters are not gated.
    let o = aopsbench(&["gate", "--baseline", baseline.to_str().unwrap(), run.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("note w @ iomap: counters not gated"), "{}", stdout(&o));
}

#[test]
fn a_misspelled_built_in_job_gets_a_suggestion() {
    let o = aopsbench(&["run", "quik"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("no job file 'quik': did you mean 'quick'?"), "{e}");
}

#[test]
fn every_target_is_checked_before_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cases: [(&[&str], &[&str], &str); 5] = [
        // direct=1 on bh, after a target that could run it.
        (&["--targets", "null,bh"], &["--direct=1"], "job d on bh: set up I/O: bh does not support direct=1"),
        // A bad parameter of the second target (refused as the command line is read).
        (&["--target", "bh:backing=mem", "--target", "iomap:block_size=3000"], &[], "block_size=3000"),
        // A cache of the second target larger than this machine's memory.
        (
            &["--target", "bh:backing=mem", "--target", "iomap:backing=mem:cache=64t"],
            &[],
            "more than this machine's memory",
        ),
        // A backing device of the second target that does not exist.
        (&["--target", "bh:backing=mem", "--target", "iomap:backing=/dev/aopsbench-no-such"], &[], "no such device"),
        // Two jobs running together, the second direct=1: each opens its files its own way,
        // and fsimpl refuses the direct one (before the null target runs).
        (
            &["--targets", "null,iomap"],
            &["--name=e", "--size=1m", "--direct=1"],
            "job e on iomap: set up I/O: iomap does not support direct=1",
        ),
    ];
    for (targets, fio, want) in cases {
        let mut args = vec!["run"];
        args.extend_from_slice(targets);
        args.extend(["--out", out.to_str().unwrap(), "--", "--name=d", "--rw=write", "--bs=4k", "--size=1m"]);
        args.extend_from_slice(fio);
        let o = aopsbench(&args);
        assert_eq!(o.status.code(), Some(2), "{targets:?} {fio:?}");
        let e = stderr(&o);
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(e.contains(want), "{e}");
        assert!(!out.exists(), "{targets:?} {fio:?}: nothing ran, no run directory");
    }
}

#[test]
fn replay_counts_the_entries_marked_skip() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("t.fsxops");
    std::fs::write(
        &log,
        "write 0x0 0x1000 0x0\nskip punch_hole 0x0 0x800 0x1000\nskip clone_range 0x0 0x10 0x1000 0x2000\n\
         read 0x0 0x0 0x1000\nread 0x0 0x1000 0x1000\n",
    )
    .unwrap();
    let o =
        aopsbench(&["replay", log.to_str().unwrap(), "--target", "bh:backing=mem", "--target", "iomap:backing=mem"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("(2 ops; 3 entries marked skip or of length 0, not run)"), "{out}");
    assert!(out.contains("; 3 entries marked skip or of length 0 in the trace, not run"), "{out}");
}
