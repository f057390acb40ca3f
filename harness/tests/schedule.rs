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

fn run(text: &str) -> Vec<JobOutcome> {
    let all = jobs(text);
    let g = groups(&all);
    assert_eq!(g.len(), 1);
    let progress: Vec<Progress> = all.iter().map(|_| Progress::default()).collect();
    run_group(&g[0], null().as_ref(), &progress, &vec![0; all.len()]).unwrap()
}

fn ios(o: &JobOutcome) -> u64 {
    o.ops.values().map(|r| r.count()).sum()
}

/// `short` ends after one read; the others would run a minute.
const EXITS: &str = "[global]\nioengine=null\nsize=1m\nrw=read\nexitall\n[short]\nnumber_ios=1\n";
const LONG: &str = "time_based\nruntime=60s\n";

#[test]
fn exitall_stops_only_its_reporting_group_by_default() {
    // fio's exitall is process-wide and exit_what=group: short's end stops `same`; `other`
    // (a new reporting group) runs until its own runtime, and its end stops nobody else.
    let out = run(&format!("{EXITS}[same]\n{LONG}[other]\nnew_group\ntime_based\nruntime=700ms\n"));
    assert!(out[1].runtime_ns < 30_000_000_000, "same ran {} ns: exitall did not stop it", out[1].runtime_ns);
    assert!(out[2].runtime_ns >= 650_000_000, "other ran {} ns: stopped by another group's end", out[2].runtime_ns);
}

#[test]
fn exit_what_stonewall_stops_every_running_job_but_not_one_yet_to_start() {
    // `later` waits for `other`, so it has not started when `short` ends: it then starts and
    // does its I/O; `other`, running in another reporting group, is stopped. `short` starts
    // 300 ms late, so that `other` is running by then.
    let text = format!(
        "{EXITS}exit_what=stonewall\nstartdelay=300ms\n[other]\nnew_group\n{LONG}[later]\nnew_group\nwait_for=other\nnumber_ios=5\n"
    );
    let out = run(&text);
    assert!(out[1].runtime_ns < 30_000_000_000, "other ran {} ns: not stopped", out[1].runtime_ns);
    assert_eq!(ios(&out[2]), 5, "later started after the stop and did its I/O");
}

#[test]
fn exit_what_all_stops_everything_and_a_job_yet_to_start_never_starts() {
    let out = run(&format!("{EXITS}exit_what=all\n[other]\nnew_group\n{LONG}[later]\nwait_for=other\n{LONG}"));
    assert!(out[1].runtime_ns < 30_000_000_000, "other ran {} ns: not stopped", out[1].runtime_ns);
    assert_eq!(ios(&out[2]), 0, "later never started");
    assert!(out.iter().all(|o| o.exit_all), "the group tells the run that no later group runs");
    let quiet = run(&format!("{EXITS}[other]\n"));
    assert!(quiet.iter().all(|o| !o.exit_all));
}

#[test]
fn a_rate_wait_past_the_runtime_issues_nothing() {
    // One I/O a second, a runtime of 300 ms: the second I/O would go after the runtime, so it
    // does not go (fio's rate_ddir), and the job does not run on to it.
    let out = run("[global]\nioengine=null\nsize=1m\n[paced]\nrw=read\nrate_iops=1\ntime_based\nruntime=300ms\n");
    assert_eq!(ios(&out[0]), 1);
    assert!(out[0].runtime_ns < 900_000_000, "ran {} ns: waited for the next I/O", out[0].runtime_ns);
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

#[test]
fn a_job_below_its_minimum_rate_fails_after_the_settle_time() {
    let all = jobs(
        "[global]\nioengine=null\nsize=1m\ntime_based\nruntime=5s\n[slow]\nrw=read\nrate_iops=2\nrate_iops_min=5\n",
    );
    let err = run_group(&groups(&all)[0], null().as_ref(), &[Progress::default()], &[0]).err().expect("2 IOPS < 5");
    let e = err.to_string();
    assert!(e.contains("rate_iops_min=5 not met, got ") && e.contains("check_min_rate"), "{e}");
    // Met, it runs to its runtime.
    let all =
        jobs("[global]\nioengine=null\nsize=1m\ntime_based\nruntime=3s\n[ok]\nrw=read\nrate_iops=20\nratemin=4k\n");
    run_group(&groups(&all)[0], null().as_ref(), &[Progress::default()], &[0]).unwrap();
}

#[test]
fn numa_nodes_pin_the_threads_and_a_node_not_here_is_refused() {
    let ok = jobs(&format!("{GLOBAL}[a]\nrw=read\nnuma_cpu_nodes=0\nnuma_mem_policy=bind:0\n"));
    run_group(&groups(&ok)[0], null().as_ref(), &[Progress::default()], &[0]).unwrap();
    let far = jobs(&format!("{GLOBAL}[a]\nrw=read\nnuma_mem_policy=prefer:1000\n"));
    let err = run_group(&groups(&far)[0], null().as_ref(), &[Progress::default()], &[0]).err().expect("no node 1000");
    assert!(err.to_string().contains("numa_mem_policy: NUMA node 1000 is not on this machine"), "{err}");
}
