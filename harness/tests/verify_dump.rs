//! verify_dump: a failed unit and the unit written go to `NAME.OFFSET.received` and
//! `NAME.OFFSET.expected` in the current directory, as fio's `dump_verify_buffers`. One test
//! in its own process: it changes the current directory.

use harness::diff::FlipTarget;
use harness::runner::{Progress, RunError, run_job};
use harness::targets::{self, FsimplDefaults, PoolCache, TargetSpec};
use workloads::JobFile;

#[test]
fn verify_dump_writes_what_was_read_and_what_was_written() {
    let data = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    std::env::set_current_dir(cwd.path()).unwrap();
    let spec = TargetSpec::parse(&format!("dir:path={}", data.path().display())).unwrap();
    let dir = targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap();
    let t = FlipTarget::new(dir, 12_000);
    let text = "[v]\nrw=randwrite\nbs=4k\nsize=256k\nrandseed=9\nverify=crc32c\nverify_dump=1\n";
    let job = JobFile::parse(text, "dump.fio", false).unwrap().jobs.remove(0);
    let Err(err) = run_job(&job, &t, &Progress::default()) else { panic!("the flipped byte was not caught") };
    let RunError::Verify { offset, ref what, .. } = err else { panic!("{err}") };
    assert_eq!(offset, 8192);
    assert!(
        what.ends_with("received and expected data dumped as v.0.0.8192.received and v.0.0.8192.expected"),
        "{err}"
    );
    let received = std::fs::read(cwd.path().join("v.0.0.8192.received")).unwrap();
    let expected = std::fs::read(cwd.path().join("v.0.0.8192.expected")).unwrap();
    assert_eq!((received.len(), expected.len()), (4096, 4096));
    // One byte differs: the one flipped behind the job's back (12000 - 8192).
    let diff: Vec<usize> = (0..4096).filter(|&i| received[i] != expected[i]).collect();
    assert_eq!(diff, [12_000 - 8192]);
}
