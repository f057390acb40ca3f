//! Faults on fsimpl targets: `faults=` through `aopsbench run` (an op that fails is one line
//! and exit 2, a fault that never fires changes nothing), and a power cut through the target.

use fsimpl::dev::BlockDev;
use harness::targets::{FsimplDefaults, FsimplTarget, PoolCache, Target, TargetError, TargetSpec};
use std::path::Path;
use std::process::{Command, Output};

fn aopsbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aopsbench")).args(args).output().expect("run aopsbench")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const JOB: &str = "
[global]
rw=randwrite
bs=4k
size=4m
randseed=7
aops_cache=64m
fsync=16

[w]
";

/// Runs JOB on `target`; returns the output and the run directory.
fn run(dir: &Path, target: &str) -> (Output, std::path::PathBuf) {
    let job = dir.join("j.fio");
    std::fs::write(&job, JOB).unwrap();
    let out = dir.join(format!("run-{}", target.replace([':', '=', ',', '/'], "_")));
    let o = aopsbench(&["run", job.to_str().unwrap(), "--target", target, "--out", out.to_str().unwrap(), "--no-plot"]);
    (o, out)
}

fn assert_fails_with(dir: &Path, target: &str, error: &str) {
    let (o, out) = run(dir, target);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{target}: {e}");
    assert_eq!(e.lines().count(), 1, "{target}: not one line: {e}");
    assert!(e.starts_with("aopsbench: job w on ") && e.trim_end().ends_with(error), "{target}: {e}");
    assert!(!out.join("summary.json").exists(), "{target}: a failed run left a summary.json");
}

#[test]
fn an_op_failing_on_an_injected_fault_is_one_line_and_exit_2_without_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let eio = "Input/output error (os error 5)";
    // The layout and the remount after it write 13 bios (data, the journal, its checkpoint,
    // the superblocks): the 14th is the first fsync's data.
    assert_fails_with(dir.path(), "bh:backing=mem:faults=write=14", &format!("(fsync of file 0): fsync: {eio}"));
    assert_fails_with(dir.path(), "iomap:backing=mem:faults=short=14", &format!("(fsync of file 0): fsync: {eio}"));
    assert_fails_with(dir.path(), "iomap:backing=mem:faults=write=1+", eio);
    // The layout's fallocate of the 4 MiB file (1024 blocks, more than the limit allows)
    // fails and, as in fio, is no error; the first write finds no space.
    assert_fails_with(
        dir.path(),
        "bh:backing=mem:faults=enospc=100",
        "op 0 (write of 4096 bytes at 1933312 in file 0): write: No space left on device (os error 28)",
    );
}

#[test]
fn a_fault_that_never_fires_changes_nothing_and_is_counted_as_zero() {
    let dir = tempfile::tempdir().unwrap();
    for target in ["bh:backing=mem:faults=read=1000000,range=200000-200010", "iomap:backing=mem"] {
        let (o, out) = run(dir.path(), target);
        assert!(o.status.success(), "{target}: {}", stderr(&o));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let t = &s["jobs"][0]["targets"][0];
        assert_eq!(t["ops"]["write"]["bytes"].as_u64(), Some(4 << 20), "{target}");
        let stats = t["stats"].as_object().unwrap();
        let faults: Vec<_> = stats.iter().filter(|(k, _)| k.starts_with("fault_")).collect();
        if target.contains("faults=") {
            assert_eq!(faults.len(), 8, "{target}: {faults:?}");
            assert!(faults.iter().all(|(_, v)| v.as_u64() == Some(0)), "{target}: {faults:?}");
            assert!(t["spec"].as_str().unwrap().ends_with(":faults=read=1000000,range=200000-200010"), "{t}");
        } else {
            assert!(faults.is_empty(), "{target}: fault counters without faults=");
        }
    }
}

#[test]
fn a_bad_faults_value_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = run(dir.path(), "bh:backing=mem:faults=write=0");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "aopsbench: invalid value 'bh:backing=mem:faults=write=0' for '--target <SPEC>': faults=write=0: fault \
         'write=0': give a bio number from 1, with + for every later one too (see --help)\n"
    );
}

fn target(spec: &str) -> FsimplTarget {
    let TargetSpec::Fsimpl(spec) = TargetSpec::parse(spec).unwrap() else { panic!("{spec} is not bh or iomap") };
    FsimplTarget::create(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap()
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) | 1).collect()
}

fn read_all(t: &dyn Target, f: harness::targets::FileId) -> Vec<u8> {
    let mut buf = vec![0u8; t.size(f).unwrap() as usize];
    assert_eq!(t.read(f, 0, &mut buf).unwrap(), buf.len());
    buf
}

#[test]
fn after_a_power_cut_the_remount_mounts_what_the_device_kept() {
    use harness::diff::{Durability, Model};
    use workloads::{Op, pattern};
    // RAM, and an image file through io_uring with O_DIRECT (the undo log reads and writes
    // the device as the filesystem does).
    for kind in ["bh:backing=mem", "iomap:backing=mem", "bh:engine=uring", "iomap:engine=psync"] {
        // Writes: "a"'s data, the journal superblock (the log starts), "a"'s commit (log
        // blocks, commit block); "b"'s data and commit; then "a"'s new data: the cut comes
        // after it, and the commit of that fsync is dropped. Each op also goes through the
        // model and the durability rules, which judge the files after the cut.
        let t = target(&format!("{kind}:size=64m:cache=16m:faults=powercut=8"));
        let mut fids = vec![t.open("a", true).unwrap()];
        let (mut model, mut rules) = (Model::new(2, 4096, 0), Durability::new(2, 1));
        let ops = [
            Op::Write { file: 0, offset: 0, len: 64 << 10, tag: 1 },
            Op::Fsync { file: 0 },
            Op::Write { file: 1, offset: 0, len: 32 << 10, tag: 2 },
            Op::Fsync { file: 1 },
            Op::Write { file: 0, offset: 64 << 10, len: 8 << 10, tag: 3 },
            Op::Fsync { file: 0 },
        ];
        let dev = t.fault_dev().unwrap();
        for (i, op) in ops.iter().enumerate() {
            let n = i as u64 + 1;
            if let Op::Write { file: 1, .. } = op
                && fids.len() == 1
            {
                // "b" is created once "a"'s first commit is made, as the cut count expects.
                fids.push(t.open("b", true).unwrap());
            }
            let mut buf = vec![0; op.io_bytes() as usize];
            if let Op::Write { file, offset, tag, .. } = *op {
                pattern::fill(tag, offset, &mut buf);
                assert_eq!(t.write(fids[file as usize], offset, &buf).unwrap(), buf.len());
            }
            rules.before(n, op, &model);
            model.apply(op, &buf).unwrap().unwrap();
            rules.after(n, op, &model);
            if let Op::Fsync { file } = *op {
                t.fsync(fids[file as usize]).unwrap();
                if !dev.is_cut() {
                    rules.durable(0, file, n);
                }
            }
        }
        assert!(dev.is_cut(), "{kind}: no cut after {} writes", dev.stats().writes);
        t.remount().unwrap();
        assert!(!dev.is_cut(), "{kind}: still off after the remount");
        for (file, &f) in fids.iter().enumerate() {
            assert_eq!(rules.check(0, file as u32, &model, &read_all(&t, f)), Ok(()), "{kind}: file {file}");
        }
        let (a, want) = (fids[0], model.bytes(0)[..64 << 10].to_vec());
        assert_eq!(read_all(&t, a), want, "{kind}: the cut took the last fsync of a");
        let c = t.counters();
        assert_eq!(c["fault_power_cuts"], 1, "{kind}");
        assert!(c["fault_reverted_bytes"] > 0 && c["fault_dropped_writes"] > 0, "{kind}: {c:?}");
        // The device works again.
        t.write(a, 0, &data(4096, 4)).unwrap();
        t.fsync(a).unwrap();
    }
}

#[test]
fn a_power_cut_needs_powercut_in_faults() {
    let t = target("bh:backing=mem:size=64m:cache=16m:faults=read=100");
    match t.power_cut() {
        Err(TargetError::Setup(m)) => {
            assert!(m.ends_with("power cut without an undo log: arm a fault plan with a power cut first"), "{m}")
        }
        r => panic!("{r:?}"),
    }
    let t = target("bh:backing=mem:size=64m:cache=16m:faults=powercut=1000");
    let f = t.open("f", true).unwrap();
    t.write(f, 0, &data(4096, 1)).unwrap();
    t.fsync(f).unwrap();
    t.write(f, 4096, &data(4096, 2)).unwrap();
    t.power_cut().unwrap();
    t.remount().unwrap();
    assert_eq!(read_all(&t, f), data(4096, 1));
}
