//! I/O priorities as fio sets them, on a directory target in a tempdir: the job thread's
//! (`prio`, `prioclass`: `ioprio_set(2)`, inherited by what the thread starts) and cmdprio's per
//! I/O (`io_uring`'s `sqe->ioprio`, `libaio`'s `aio_reqprio`). The kernel is the witness: a
//! thread without `CAP_SYS_ADMIN` and `CAP_SYS_NICE` is refused the real-time class (EPERM)
//! wherever the priority reaches it, and `ionice` reports the priority a job thread passed on.
//! The share of I/Os cmdprio picks is exactly the seeded rule's, in the logs and in the stats.

use std::path::Path;
use std::process::Command;

use harness::runner::{JobOutcome, Progress, RunError, run_job};
use harness::targets::{self, FsimplDefaults, PoolCache, Target, TargetError, TargetSpec};
use workloads::fio::{Dir, IoPrio};
use workloads::{Job, JobFile};

fn job(text: &str) -> Job {
    JobFile::parse(text, "prio.fio", false).unwrap_or_else(|e| panic!("{e}")).jobs.remove(0)
}

fn dir_target(dir: &Path) -> Box<dyn Target> {
    let spec = TargetSpec::parse(&format!("dir:path={}", dir.display())).unwrap();
    targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap()
}

fn run(dir: &Path, job: &Job) -> Result<JobOutcome, RunError> {
    run_job(job, dir_target(dir).as_ref(), &Progress::default())
}

/// How many of `n` reads of `bs` bytes the job's first thread gives a cmdprio: the rule
/// (`fio_cmdprio_set_ioprio`) replayed on the thread's own seeded generator.
fn rule(job: &Job, n: usize, bs: u64) -> usize {
    let mut prio = job.threads().remove(0).prio;
    (0..n).filter(|_| prio.choose(Dir::Read, bs).cmdprio).count()
}

/// The priority column of every line of a log text.
fn prio_column(log: &str) -> Vec<&str> {
    log.lines().map(|l| l.rsplit(", ").next().unwrap()).collect()
}

#[test]
fn cmdprio_picks_exactly_the_seeded_share_in_logs_and_stats() {
    for engine in ["io_uring", "libaio"] {
        let dir = tempfile::tempdir().unwrap();
        let j = job(&format!(
            "[j]\nrw=randread\nbs=4k\nsize=2m\nioengine={engine}\niodepth=8\nrandseed=9\nprioclass=3\n\
             cmdprio_percentage=20\ncmdprio_class=1\nwrite_lat_log=p\nlog_prio=1\n"
        ));
        let out = run(dir.path(), &j).unwrap_or_else(|e| panic!("{engine}: {e}"));
        let expect = rule(&j, 512, 4096);
        let col = prio_column(&out.logs[0].clat);
        assert_eq!(col.len(), 512, "{engine}");
        assert_eq!(col.iter().filter(|c| **c == "0x2000").count(), expect, "{engine}: RT, as the rule picks");
        assert_eq!(col.iter().filter(|c| **c == "0x6000").count(), 512 - expect, "{engine}: the job's idle class");
        assert_eq!(prio_column(&out.logs[0].slat), col, "{engine}: slat lines carry the same");
        // fio's clat_prio: the job's priority first, then the cmdprio, with their I/Os.
        let reads = out.prios[0].dirs[0].as_ref().expect("read latencies by priority");
        let got: Vec<(u16, u64)> = reads.iter().map(|p| (p.ioprio, p.histogram.len())).collect();
        assert_eq!(got, [(0x6000, 512 - expect as u64), (0x2000, expect as u64)], "{engine}");
        assert!(out.prios[0].dirs[1].is_none(), "{engine}: a read job keeps none for writes");
        assert!((80..125).contains(&expect), "about 20 percent of 512: {expect}");
    }
    // Without log_prio the column says whether the I/O was of the RT class, as fio's.
    let dir = tempfile::tempdir().unwrap();
    let j = job("[j]\nrw=randread\nbs=4k\nsize=1m\nioengine=io_uring\nrandseed=3\ncmdprio_percentage=50\n\
                 write_lat_log=p\n");
    let out = run(dir.path(), &j).unwrap();
    let col = prio_column(&out.logs[0].lat);
    assert_eq!(col.iter().filter(|c| **c == "1").count(), rule(&j, 256, 4096));
    assert!(col.iter().all(|c| *c == "1" || *c == "0"));
}

#[test]
fn bssplit_gives_each_size_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let j = job("[j]\nrw=randread\nbssplit=4k/50:8k/50\nsize=4m\nnorandommap\nioengine=libaio\niodepth=4\n\
                 cmdprio_bssplit=4k/25/1/1:4k/75/3/2\nwrite_lat_log=p\nlog_prio=1\n");
    let out = run(dir.path(), &j).unwrap();
    let log = &out.logs[0].clat;
    let of = |bs: &str, prio: &str| log.lines().filter(|l| l.ends_with(&format!(", {bs}, {prio}"))).count();
    let (rt, idle, k8) = (of("4096", "0x2001"), of("4096", "0x6002"), of("8192", "0x0000"));
    assert_eq!(rt + idle + k8, log.lines().count(), "every 4k read has an entry's priority, 8k none");
    assert!(rt > 0 && idle > 2 * rt && k8 > 0, "{rt} {idle} {k8}");
}

/// `struct __user_cap_header_struct` and `__user_cap_data_struct` (capability version 3).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops `CAP_SYS_ADMIN` (21) and `CAP_SYS_NICE` (23) from the calling thread's effective
/// set (credentials are per thread; threads it starts inherit them).
fn drop_rt_capabilities() {
    let mut header = CapHeader { version: 0x2008_0522, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget and capset read and write the header and two data structs given.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()), 0, "capget");
        data[0].effective &= !((1 << 21) | (1 << 23));
        assert_eq!(libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()), 0, "capset");
    }
}

/// The errno a run failed with.
fn errno_of(e: &RunError) -> Option<i32> {
    match e {
        RunError::Target { source: TargetError::Os { errno, .. }, .. } => Some(*errno),
        _ => None,
    }
}

#[test]
fn the_priority_reaches_the_kernel_per_io_and_per_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let outcomes = std::thread::spawn(move || {
        drop_rt_capabilities();
        let base = "[j]\nrw=randread\nbs=4k\nsize=256k\niodepth=4\n";
        let cases = [
            // cmdprio RT on every I/O: io_uring's prep and libaio's io_submit check it.
            ("io_uring cmdprio RT", "ioengine=io_uring\ncmdprio_percentage=100\ncmdprio_class=1\n"),
            ("libaio cmdprio RT", "ioengine=libaio\ncmdprio_percentage=100\ncmdprio_class=1\n"),
            ("io_uring cmdprio BE", "ioengine=io_uring\ncmdprio_percentage=100\ncmdprio_class=2\n"),
            ("libaio cmdprio idle", "ioengine=libaio\ncmdprio_percentage=100\ncmdprio_class=3\n"),
            // The job's RT class: ioprio_set refuses it before any I/O.
            ("psync prioclass RT", "ioengine=psync\nprioclass=1\n"),
            ("io_uring prioclass idle", "ioengine=io_uring\nprioclass=3\n"),
        ];
        cases
            .into_iter()
            .map(|(what, opts)| {
                (what, run(&path, &job(&format!("{base}{opts}"))).map(|_| ()).map_err(|e| errno_of(&e)))
            })
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let want = [Err(Some(libc::EPERM)), Err(Some(libc::EPERM)), Ok(()), Ok(()), Err(Some(libc::EPERM)), Ok(())];
    for ((what, got), want) in outcomes.iter().zip(want) {
        assert_eq!(*got, want, "{what}");
    }
}

#[test]
fn a_job_threads_priority_is_what_it_passes_on() {
    if Command::new("ionice").arg("-h").output().is_err() {
        eprintln!("skipped: ionice (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // `exec` starts its program from the job thread, after ioprio_set: the child inherits it.
    for (opts, want) in
        [("prioclass=3", "idle"), ("prioclass=2\nprio=5", "best-effort: prio 5"), ("prio=6", "best-effort: prio 6")]
    {
        let j = job(&format!("[p]\nioengine=exec\nprogram=ionice\n{opts}\n"));
        assert_eq!(j.threads()[0].prio.job.map(|p| p.class()), Some(if want == "idle" { 3 } else { 2 }));
        run(dir.path(), &j).unwrap_or_else(|e| panic!("{opts}: {e}"));
        let said = std::fs::read_to_string(dir.path().join("p.stdout")).unwrap();
        assert_eq!(said.trim(), want, "{opts}");
    }
    assert_eq!(IoPrio::new(0, 6, 0), IoPrio(0x4006), "prio alone is best effort, as fio's ioprio_value");
}
