//! Jobs as fio schedules them: the jobs of a group run at the same time; stonewall cuts a file
//! into groups that run one after another; wait_for starts a job when another has ended;
//! exitall ends the others.

use std::time::{Duration, SystemTime};

use harness::runner::group::{groups, run_group};
use harness::runner::{JobOutcome, Progress};
use harness::targets::{self, FsimplDefaults, PoolCache, Target, TargetSpec};
use workloads::JobFile;

fn jobs(text: &str) -> Vec<workloads::Job> {
    JobFile::parse(text, "schedule.fio", false).unwrap().jobs
}

fn null() -> Box<dyn Target> {
    targets::build(&TargetSpec::parse("null").unwrap(), &FsimplDefaults::default(), &PoolCache::default()).unwrap()
}

fn span(o: &JobOutcome) -> (SystemTime, SystemTime) {
    (o.started, o.started + Duration::from_nanos(o.runtime_ns))
}

const GLOBAL: &str = "[global]\nioengine=null\nsize=1m\ntime_based\nruntime=300ms\n";

#[test]
fn jobs_of_a_group_overlap_in_time() {
    let all = jobs(&format!("{GLOBAL}[a]\nrw=read\n[b]\nrw=write\n"));
    let g = groups(&all);
    assert_eq!(g.len(), 1);
    let t = null();
    let out = run_group(&g[0], t.as_ref(), &[Progress::default(), Progress::default()], &[0, 0]).unwrap();
    let ((a0, a1), (b0, b1)) = (span(&out[0]), span(&out[1]));
    assert!(a0 < b1 && b0 < a1, "a {a0:?}..{a1:?} and b {b0:?}..{b1:?} do not overlap");
}

#[test]
fn stonewall_makes_groups_that_run_in_turn() {
    let all = jobs(&format!("{GLOBAL}[a]\nrw=read\n[b]\nrw=write\n[c]\nstonewall\nrw=read\n[d]\nrw=read\n"));
    let g = groups(&all);
    let names: Vec<Vec<&str>> = g.iter().map(|g| g.iter().map(|j| j.name.as_str()).collect()).collect();
    assert_eq!(names, [vec!["a", "b"], vec!["c", "d"]]);
}

#[test]
fn wait_for_starts_a_job_after_another_ends() {
    let all = jobs(&format!("{GLOBAL}[a]\nrw=read\n[b]\nrw=write\nwait_for=a\n[c]\nrw=read\nruntime=900ms\n"));
    let g = groups(&all);
    let t = null();
    let p = [Progress::default(), Progress::default(), Progress::default()];
    let out = run_group(&g[0], t.as_ref(), &p, &[0; 3]).unwrap();
    let ((_, a1), (b0, _), (c0, c1)) = (span(&out[0]), span(&out[1]), span(&out[2]));
    assert!(b0 >= a1, "b started at {b0:?}, before a ended at {a1:?}");
    assert!(c0 < a1 && c1 > b0, "c runs alongside both");
}

#[test]
fn exitall_ends_the_others() {
    let all =
        jobs("[global]\nioengine=null\nsize=1m\n[short]\nrw=read\nexitall\n[long]\nrw=read\ntime_based\nruntime=60s\n");
    let g = groups(&all);
    let t = null();
    let out = run_group(&g[0], t.as_ref(), &[Progress::default(), Progress::default()], &[0, 0]).unwrap();
    assert!(out[1].runtime_ns < 30_000_000_000, "long ran {} ns: exitall did not end it", out[1].runtime_ns);
}

fn dir_target(path: &std::path::Path) -> Box<dyn Target> {
    let spec = TargetSpec::parse(&format!("dir:path={}", path.display())).unwrap();
    targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap()
}

#[test]
fn unlink_removes_the_jobs_files_when_it_is_done() {
    let tmp = tempfile::tempdir().unwrap();
    let t = dir_target(tmp.path());
    let all = jobs("[global]\nioengine=psync\nsize=64k\nrw=write\n[gone]\nunlink=1\nnumjobs=2\n[kept]\n");
    let g = groups(&all);
    run_group(&g[0], t.as_ref(), &[Progress::default(), Progress::default()], &[0, 0]).unwrap();
    let mut left: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["kept.0.0"]);
    t.teardown().unwrap();
}

#[test]
fn cpus_allowed_pins_the_threads_and_a_cpu_out_of_range_is_an_error() {
    let t = null();
    let ok = jobs(&format!("{GLOBAL}[a]\nrw=read\ncpus_allowed=0\nnumjobs=2\ncpus_allowed_policy=split\n"));
    run_group(&groups(&ok)[0], t.as_ref(), &[Progress::default()], &[0]).unwrap();
    let bad = jobs(&format!("{GLOBAL}[a]\nrw=read\ncpus_allowed=1023\n"));
    let err = run_group(&groups(&bad)[0], t.as_ref(), &[Progress::default()], &[0]).err().expect("no CPU 1023 here");
    assert!(err.to_string().contains("cpus_allowed"), "{err}");
}
