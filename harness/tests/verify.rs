//! verify= end to end: every kind passes on an intact target, on every path (a directory, and
//! fsimpl at queue depth through io-wq); a byte flipped behind the job's back is caught and
//! named — file, offset, what was expected and what was found.

use harness::diff::FlipTarget;
use harness::runner::{Progress, RunError, run_job};
use harness::targets::{self, FsimplDefaults, PoolCache, Target, TargetSpec};
use workloads::JobFile;

fn job(extra: &str) -> workloads::Job {
    let text = format!("[v]\nrw=randwrite\nbs=4k\nsize=256k\nrandseed=9\n{extra}\n");
    JobFile::parse(&text, "verify.fio", false).unwrap().jobs.remove(0)
}

fn dir_target(dir: &std::path::Path) -> Box<dyn Target> {
    let spec = TargetSpec::parse(&format!("dir:path={}", dir.display())).unwrap();
    targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap()
}

#[test]
fn every_kind_verifies_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["md5", "crc32c", "crc32c-intel", "sha1", "sha256", "xxhash", "meta"] {
        for extra in ["", "verify_backlog=8", "verify_interval=1k\nioengine=io_uring\niodepth=8"] {
            let j = job(&format!("verify={kind}\n{extra}"));
            let t = dir_target(dir.path());
            let out = run_job(&j, t.as_ref(), &Progress::default()).unwrap_or_else(|e| panic!("{kind} {extra}: {e}"));
            assert_eq!(out.ops["write"].count(), 64, "{kind} {extra}");
            assert_eq!(out.ops["read"].count(), 64, "{kind} {extra}: every write read back");
        }
    }
    let j = job("verify=pattern\nverify_pattern=0xdeadbeef\nverify_interval=512");
    run_job(&j, dir_target(dir.path()).as_ref(), &Progress::default()).unwrap();
}

#[test]
fn fsimpl_at_queue_depth_verifies_too() {
    let spec = TargetSpec::parse("bh:backing=mem:size=64m:cache=16m").unwrap();
    let t = targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap();
    let j = job("verify=sha256\nioengine=libaio\niodepth=16\nbs=4k,16k");
    run_job(&j, t.as_ref(), &Progress::default()).unwrap();
}

#[test]
fn a_flipped_byte_is_caught_and_named() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, want) in [
        ("verify=crc32c", "crc32c of the data: expected 0x"),
        ("verify=md5", "md5 of the data: expected 0x"),
        ("verify=pattern\nverify_pattern=0xaa", "pattern byte 3808: expected 0xaa, found 0xab"),
    ] {
        let t = FlipTarget::new(dir_target(dir.path()), 12_000);
        let Err(err) = run_job(&job(extra), &t, &Progress::default()) else { panic!("{extra}: not caught") };
        let RunError::Verify { ref file, offset, ref what, .. } = err else { panic!("{extra}: {err}") };
        assert_eq!((file.as_str(), offset), ("v.0.0", 8192), "{extra}: {err}");
        assert!(what.starts_with(want), "{extra}: {err}");
        assert!(err.to_string().starts_with("job v on dir:path="), "{err}");
    }
}

#[test]
fn continue_on_error_verify_counts_the_mismatch_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let t = FlipTarget::new(dir_target(dir.path()), 12_000);
    let o = run_job(&job("verify=crc32c\ncontinue_on_error=verify"), &t, &Progress::default())
        .unwrap_or_else(|e| panic!("continue_on_error=verify stopped: {e}"));
    let errors = o.thread_stats[0].errors;
    // fio counts a verify failure as EILSEQ (84).
    assert_eq!((errors.total, errors.first), (1, libc::EILSEQ));
    // The other 63 blocks were read back.
    assert_eq!(o.ops["read"].count(), 63);
    // continue_on_error=io does not cover verify failures.
    let t = FlipTarget::new(dir_target(dir.path()), 12_000);
    assert!(matches!(
        run_job(&job("verify=crc32c\ncontinue_on_error=io"), &t, &Progress::default()),
        Err(RunError::Verify { .. })
    ));
}

/// A job that only reads, with `verify=`, checks every block it reads (fio verifies the reads
/// of a read-only job): what an earlier job wrote passes; a byte flipped in between is caught.
/// fio's examples/surface-scan.fio works so (a write phase, then a verifying read phase).
#[test]
fn a_read_only_job_verifies_what_an_earlier_job_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[global]\nbs=4k\nsize=256k\nfilename=data\nverify=crc32c\n[w]\nrw=write\ndo_verify=0\n[r]\nstonewall\nrw=read\n";
    let jobs = JobFile::parse(text, "surface.fio", false).unwrap().jobs;
    let t = dir_target(dir.path());
    let w = run_job(&jobs[0], t.as_ref(), &Progress::default()).unwrap();
    assert!(!w.ops.contains_key("read"), "do_verify=0: the writer reads nothing back");
    let r = run_job(&jobs[1], t.as_ref(), &Progress::default()).unwrap();
    assert_eq!(r.ops["read"].count(), 64);
    // A flipped byte in block 9.
    let path = dir.path().join("data");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[9 * 4096 + 100] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
    let t = dir_target(dir.path());
    match run_job(&jobs[1], t.as_ref(), &Progress::default()) {
        Err(RunError::Verify { file, offset, .. }) => assert_eq!((file.as_str(), offset), ("data", 9 * 4096)),
        other => panic!("the flipped byte was not caught: {:?}", other.err()),
    }
}
