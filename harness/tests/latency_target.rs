//! fio's `latency_target` search on the null target, whose I/Os take well under a
//! millisecond: the depth climbs to `iodepth` and the job ends once it settled; a target no
//! I/O can meet keeps it at depth 1 (or fails the job, with a 100-percent target).

use harness::runner::{Progress, RunError, run_job};
use harness::targets::{self, FsimplDefaults, PoolCache, Target, TargetSpec};
use workloads::JobFile;

fn null() -> Box<dyn Target> {
    targets::build(&TargetSpec::parse("null").unwrap(), &FsimplDefaults::default(), &PoolCache::default()).unwrap()
}

fn run(options: &str) -> Result<harness::runner::JobOutcome, RunError> {
    run_counted(options).map(|(out, _)| out)
}

/// The outcome, and how many I/Os the job did in all (its progress).
fn run_counted(options: &str) -> Result<(harness::runner::JobOutcome, u64), RunError> {
    let text = format!("[lt]\nioengine=libaio\nrw=randread\nbs=4k\nsize=64m\nnorandommap\n{options}");
    let job = JobFile::parse(&text, "lt.fio", false).unwrap().jobs.remove(0);
    let progress = Progress::default();
    let out = run_job(&job, null().as_ref(), &progress)?;
    Ok((out, progress.ops.load(std::sync::atomic::Ordering::Relaxed)))
}

#[test]
fn a_fast_target_settles_at_iodepth_and_the_job_ends_there() {
    // 1 ms windows, a 10 s target: every window meets it, so 1, 2, 4, 8, 16, then a final
    // window at 16, and the job ends long before its 60 s runtime.
    let (out, all) =
        run_counted("iodepth=16\nlatency_target=10s\nlatency_window=1ms\ntime_based\nruntime=60\n").unwrap();
    assert_eq!(out.thread_stats[0].latency_depth, 16);
    assert!(out.runtime_ns < 30_000_000_000, "the search ended the job: ran {} ns", out.runtime_ns);
    // Only the final window's I/Os are reported (fio's reset_all_stats), not the search's.
    let reported = out.ops["read"].histogram.len();
    assert!(reported > 0 && reported < all, "reported {reported} of {all} I/Os");
}

#[test]
fn without_a_target_the_depth_reported_is_iodepth() {
    let out = run("iodepth=8\nsize=1m\n").unwrap();
    assert_eq!(out.thread_stats[0].latency_depth, 8);
    assert_eq!(out.ops["read"].histogram.len(), 256);
}

#[test]
fn latency_run_keeps_searching_until_the_runtime_ends() {
    let out =
        run("iodepth=4\nlatency_target=10s\nlatency_window=1ms\nlatency_run=1\ntime_based\nruntime=300ms\n").unwrap();
    assert_eq!(out.thread_stats[0].latency_depth, 4);
    assert!(out.runtime_ns >= 300_000_000, "ran {} ns of 300 ms", out.runtime_ns);
}

#[test]
fn a_target_no_io_meets_keeps_depth_1_or_fails_the_job() {
    // 99%: the window fails at depth 1, where there is nowhere lower; the job runs on.
    let out =
        run("iodepth=8\nlatency_target=1ns\nlatency_window=1ms\nlatency_percentile=99\ntime_based\nruntime=200ms\n")
            .unwrap();
    assert_eq!(out.thread_stats[0].latency_depth, 1);
    // 100%: the first I/O over it at depth 1 fails the job, as fio's lat_fatal (ETIMEDOUT).
    let err = run("iodepth=8\nlatency_target=1ns\n").err().expect("an I/O over a 100% target at depth 1 fails");
    let msg = err.to_string();
    assert!(msg.starts_with("job lt on null: thread 0: an I/O took "), "{msg}");
    assert!(
        msg.ends_with(
            ", over latency_target=1ns at queue depth 1, where the search cannot go lower (fio's lat_fatal): \
             latency_target: Connection timed out (os error 110)"
        ),
        "{msg}"
    );
}
