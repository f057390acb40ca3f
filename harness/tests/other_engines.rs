//! fio's engines that are not read/write I/O, each on a directory target in a tempdir: what
//! each did is counted exactly (files made, bytes allocated, the size a truncate left, bytes
//! across a socket), as fio counts it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use harness::runner::group::{check_group, run_group};
use harness::runner::{JobOutcome, Progress, run_job};
use harness::targets::{self, FsimplDefaults, PoolCache, Target, TargetSpec};
use workloads::{Job, JobFile};

fn jobs(text: &str) -> Vec<Job> {
    JobFile::parse(text, "t.fio", false).unwrap_or_else(|e| panic!("{e}")).jobs
}

fn dir_target(dir: &Path) -> Box<dyn Target> {
    let spec = TargetSpec::parse(&format!("dir:path={}", dir.display())).unwrap();
    targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap()
}

/// Runs the one job of `text` on a directory target in `dir`.
fn run_one(dir: &Path, text: &str) -> JobOutcome {
    let job = jobs(text).remove(0);
    let t = dir_target(dir);
    run_job(&job, t.as_ref(), &Progress::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs every job of `text` together on a directory target in `dir`.
fn run_all(dir: &Path, text: &str) -> Vec<JobOutcome> {
    let jobs = jobs(text);
    let refs: Vec<&Job> = jobs.iter().collect();
    let progress: Vec<Progress> = jobs.iter().map(|_| Progress::default()).collect();
    let t = dir_target(dir);
    run_group(&refs, t.as_ref(), &progress, &vec![0; jobs.len()]).unwrap_or_else(|e| panic!("{e}"))
}

fn count(out: &JobOutcome, op: &str) -> (u64, u64) {
    out.ops.get(op).map_or((0, 0), |r| (r.count(), r.bytes))
}

#[test]
fn cpuio_counts_its_burns_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No size: cpuio needs none (one block, over and over).
    let out = run_one(dir.path(), "[burn]\nioengine=cpuio\ncpuload=50\ncpuchunks=1000\nloops=5\n");
    assert_eq!(count(&out, "read"), (5, 0));
    let out = run_one(dir.path(), "[q]\nioengine=cpuio\ncpuload=100\ncpumode=qsort\nloops=2\n");
    assert_eq!(count(&out, "read"), (2, 0));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "cpuio makes no file");
}

#[test]
fn exec_runs_the_program_once_with_its_output_in_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_one(dir.path(), "[job1]\nioengine=exec\nprogram=/bin/echo\narguments=hello %n\nloops=3\n");
    assert_eq!(count(&out, "read"), (3, 0), "three I/Os: the start and two waits");
    assert_eq!(std::fs::read_to_string(dir.path().join("job1.stdout")).unwrap(), "hello job1\n");
}

#[test]
fn falloc_allocates_each_write_and_punches_each_trim() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_one(dir.path(), "[fa]\nioengine=falloc\nrw=write\nbs=64k\nsize=1m\nfallocate=none\nfilename=f\n");
    assert_eq!(count(&out, "write"), (16, 1 << 20));
    let meta = std::fs::metadata(dir.path().join("f")).unwrap();
    assert_eq!(meta.len(), 1 << 20, "fallocate mode 0 extends the file");
    // Allocated (ext4 may add a block of extent tree), none written.
    assert!((1 << 20..(1 << 20) + (64 << 10)).contains(&(meta.blocks() * 512)), "{}", meta.blocks());
    let out = run_one(dir.path(), "[p]\nioengine=falloc\nrw=trim\nbs=256k\nsize=1m\nfallocate=none\nfilename=f\n");
    assert_eq!(count(&out, "punch_hole").0, 4);
    let meta = std::fs::metadata(dir.path().join("f")).unwrap();
    assert_eq!(meta.len(), 1 << 20, "the size kept");
    assert!(meta.blocks() * 512 < 64 << 10, "holes punched: {} blocks left", meta.blocks());
}

#[test]
fn ftruncate_leaves_the_file_at_the_last_offset() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_one(dir.path(), "[t]\nioengine=ftruncate\nrw=write\nbs=4k\nsize=64k\nfilename=t\n");
    assert_eq!(count(&out, "write"), (16, 64 << 10), "each truncate counts its block, as fio's");
    assert_eq!(std::fs::metadata(dir.path().join("t")).unwrap().len(), 60 << 10);
}

#[test]
fn file_and_directory_operations_count_one_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let names = |prefix: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(prefix))
            .collect();
        v.sort();
        v
    };
    let out = run_one(dir.path(), "[c]\nioengine=filecreate\nnrfiles=10\nfilesize=4k\nopenfiles=1\ncreate_on_open=1\n");
    assert_eq!(count(&out, "read"), (10, 40 << 10));
    assert_eq!(names("c.").len(), 10);
    assert!(std::fs::metadata(dir.path().join("c.0.0")).unwrap().len() == 0, "created, nothing written");
    let out = run_one(dir.path(), "[s]\nioengine=filestat\nstat_type=statx\nnrfiles=7\nfilesize=4k\n");
    assert_eq!(count(&out, "read"), (7, 28 << 10));
    assert_eq!(names("s.").len(), 7, "laid out before, only stated");
    let out = run_one(dir.path(), "[s]\nioengine=filedelete\nnrfiles=7\nfilesize=4k\n");
    assert_eq!(count(&out, "read"), (7, 28 << 10));
    assert!(names("s.").is_empty(), "every file unlinked");
    let out = run_one(dir.path(), "[d]\nioengine=dircreate\nnrfiles=5\nfilesize=4k\n");
    assert_eq!(count(&out, "read").0, 5);
    assert!(names("d.").iter().all(|n| dir.path().join(n).is_dir()) && names("d.").len() == 5);
    let out = run_one(dir.path(), "[e]\nioengine=dirstat\nnrfiles=3\nfilesize=4k\nnumjobs=2\n");
    assert_eq!(count(&out, "read").0, 6, "3 directories of each of 2 threads");
    assert_eq!(names("e.").len(), 6);
    let out = run_one(dir.path(), "[e]\nioengine=dirdelete\nnrfiles=3\nfilesize=4k\nnumjobs=2\n");
    assert_eq!(count(&out, "read").0, 6);
    assert!(names("e.").is_empty());
}

#[test]
fn path_engines_are_refused_on_fsimpl_and_null_with_one_line() {
    for engine in ["filecreate", "dirstat", "e4defrag"] {
        let job = jobs(&format!("[j]\nioengine={engine}\nfilesize=4k\ndonorname=d\n")).remove(0);
        for spec in ["null", "iomap:backing=mem:size=64m"] {
            let err = check_group(&[&job], &TargetSpec::parse(spec).unwrap()).unwrap_err().to_string();
            assert!(err.contains(&format!("ioengine={engine} works on files in a kernel filesystem")), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
    // The engines that touch no file run anywhere.
    let job = jobs("[j]\nioengine=cpuio\ncpuload=10\n").remove(0);
    check_group(&[&job], &TargetSpec::parse("null").unwrap()).unwrap();
}

#[test]
fn page_fault_copies_through_anonymous_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_one(dir.path(), "[pf]\nioengine=page_fault\nrw=randrw\nbs=4k\nsize=1m\nrandseed=3\n");
    let ((r, rb), (w, wb)) = (count(&out, "read"), count(&out, "write"));
    assert_eq!((r + w, rb + wb), (256, 1 << 20), "every page once");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn net_moves_every_byte_over_tcp_udp_and_unix() {
    let dir = tempfile::tempdir().unwrap();
    // The receiver asks for more than is sent: the sender's close ends it.
    let tcp = format!(
        "[global]\nioengine=net\nport={}\nbs=4k\n[receiver]\nlisten\nrw=read\nsize=4m\n\
         [sender]\nhostname=127.0.0.1\nstartdelay=100ms\nrw=write\nsize=1m\n",
        free_port()
    );
    let out = run_all(dir.path(), &tcp);
    assert_eq!(count(&out[1], "write"), (256, 1 << 20));
    assert_eq!(count(&out[0], "read").1, 1 << 20, "the receiver got every byte");
    let udp = format!(
        "[global]\nioengine=net\nprotocol=udp\nport={}\nbs=1k\n[reader]\nrw=read\nsize=1m\n\
         [writer]\nhostname=127.0.0.1\nstartdelay=100ms\nrw=write\nsize=64k\n",
        free_port()
    );
    let out = run_all(dir.path(), &udp);
    assert_eq!(count(&out[1], "write"), (64, 64 << 10));
    assert_eq!(count(&out[0], "read"), (64, 64 << 10), "one datagram per write, the link-close ends the reader");
    let sock = dir.path().join("s.sock");
    let unix = format!(
        "[global]\nioengine=net\nprotocol=unix\nhostname={}\nbs=4k\n[r]\nrw=read\nsize=4m\n\
         [w]\nstartdelay=100ms\nrw=write\nsize=256k\n",
        sock.display()
    );
    let out = run_all(dir.path(), &unix);
    assert_eq!(count(&out[1], "write"), (64, 256 << 10));
    assert_eq!(count(&out[0], "read").1, 256 << 10);
}

#[test]
fn net_vsock_over_the_loopback_transport() {
    // SAFETY: a socket we close at once.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
    let loopback = fd >= 0 && {
        let mut a: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
        a.svm_family = libc::AF_VSOCK as _;
        a.svm_cid = libc::VMADDR_CID_LOCAL;
        a.svm_port = libc::VMADDR_PORT_ANY;
        // SAFETY: bind with a sockaddr_vm of its size.
        let r = unsafe { libc::bind(fd, &a as *const _ as *const libc::sockaddr, std::mem::size_of_val(&a) as _) };
        r == 0
    };
    if fd >= 0 {
        // SAFETY: ours.
        unsafe { libc::close(fd) };
    }
    if !loopback {
        eprintln!("skipped: no vsock loopback transport here (needs the vsock_loopback module)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[global]\nioengine=net\nprotocol=vsock\nport={}\nbs=4k\n[receiver]\nlisten\nrw=read\nsize=4m\n\
         [sender]\nhostname=1\nstartdelay=100ms\nrw=write\nsize=1m\n",
        free_port()
    );
    let out = run_all(dir.path(), &text);
    assert_eq!(count(&out[1], "write"), (256, 1 << 20));
    assert_eq!(count(&out[0], "read").1, 1 << 20);
}

#[test]
fn e4defrag_moves_every_block_to_the_donor() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: statfs into a zeroed struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let c = std::ffi::CString::new(dir.path().to_str().unwrap()).unwrap();
    let ext4 = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 && st.f_type == 0xEF53;
    if !ext4 {
        eprintln!("skipped: the temporary directory is not on ext4 (EXT4_IOC_MOVE_EXT)");
        return;
    }
    let out = run_one(
        dir.path(),
        "[d]\nioengine=e4defrag\nrw=write\nbs=32k\nsize=1m\nfilename=f\ndonorname=f.def\ninplace=0\ndirect=1\n",
    );
    assert_eq!(count(&out, "write"), (32, 1 << 20), "every 32k range moved");
    assert!(dir.path().join("f.def").exists());
    let out = run_one(
        dir.path(),
        "[d]\nioengine=e4defrag\nrw=randwrite\nbs=4k\nsize=256k\nfilename=f\ndonorname=g.def\ninplace=1\n",
    );
    assert_eq!(count(&out, "write"), (64, 256 << 10));
    assert_eq!(std::fs::metadata(dir.path().join("g.def")).unwrap().len(), 0, "inplace truncates the donor");
}
