//! fio's `io_submit_mode=offload`: the job thread hands its reads and writes to `iodepth`
//! submitting threads, each with its own engine. A job does exactly the I/Os it asks for, on
//! every kind of target, really spread over that many threads, and its latencies are fio's:
//! a synchronous engine's I/O has a lat (from the job thread) apart from its clat (from the
//! worker's engine) and no slat; an engine that queues has all three.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::thread::ThreadId;

use harness::runner::{Progress, run_job};
use harness::targets::{
    self, Capabilities, DirTarget, FileId, FsimplDefaults, IoMode, PoolCache, Result, Target, TargetSpec,
};
use workloads::{FallocMode, Job, JobFile};

/// A dir target, without engines of its own (each I/O through its calls), that notes which
/// threads read and write, and how many reads and writes each did.
struct Counting {
    inner: DirTarget,
    by_thread: Mutex<HashMap<ThreadId, u64>>,
}

impl Counting {
    fn new(dir: &std::path::Path) -> Counting {
        Counting { inner: DirTarget::new(dir).unwrap(), by_thread: Mutex::default() }
    }

    fn count(&self) {
        *self.by_thread.lock().unwrap().entry(std::thread::current().id()).or_default() += 1;
    }

    /// The threads that did I/O since the last call, and how many each did.
    fn take(&self) -> HashMap<ThreadId, u64> {
        std::mem::take(&mut *self.by_thread.lock().unwrap())
    }
}

impl Target for Counting {
    fn kind(&self) -> &str {
        self.inner.kind()
    }
    fn spec(&self) -> &str {
        self.inner.spec()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn set_io_mode(&self, mode: IoMode) -> Result<()> {
        self.inner.set_io_mode(mode)
    }
    fn set_file_io_mode(&self, f: FileId, mode: IoMode) -> Result<()> {
        self.inner.set_file_io_mode(f, mode)
    }
    fn open(&self, name: &str, create: bool) -> Result<FileId> {
        self.inner.open(name, create)
    }
    fn close(&self, f: FileId) -> Result<()> {
        self.inner.close(f)
    }
    fn unlink(&self, name: &str) -> Result<()> {
        self.inner.unlink(name)
    }
    fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize> {
        self.count();
        self.inner.read(f, off, buf)
    }
    fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize> {
        self.count();
        self.inner.write(f, off, data)
    }
    fn truncate(&self, f: FileId, size: u64) -> Result<()> {
        self.inner.truncate(f, size)
    }
    fn fallocate(&self, f: FileId, mode: FallocMode, off: u64, len: u64) -> Result<()> {
        self.inner.fallocate(f, mode, off, len)
    }
    fn fsync(&self, f: FileId) -> Result<()> {
        self.inner.fsync(f)
    }
    fn fdatasync(&self, f: FileId) -> Result<()> {
        self.inner.fdatasync(f)
    }
    fn size(&self, f: FileId) -> Result<u64> {
        self.inner.size(f)
    }
    fn remount(&self) -> Result<()> {
        self.inner.remount()
    }
    fn drop_caches(&self) -> Result<()> {
        self.inner.drop_caches()
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        self.inner.counters()
    }
    fn reset_counters(&self) {
        self.inner.reset_counters()
    }
}

fn job(text: &str) -> Job {
    JobFile::parse(text, "offload.fio", false).unwrap().jobs.remove(0)
}

/// Each of the first `iodepth` I/Os goes to an idle worker, so a read job at depth 4 reads from
/// exactly four threads, none of them the caller's, and does every read once; with
/// `number_ios` (which fio 3.33 overshoots under offload) exactly that many.
#[test]
fn offloaded_io_is_exact_and_spread_over_iodepth_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Counting::new(tmp.path());
    for (extra, ios) in
        [("", 256), ("number_ios=100\n", 100), ("rate_iops=20000\nrate_process=poisson\nnumber_ios=40\n", 40)]
    {
        let j = job(&format!(
            "[j]\nrw=randread\nbs=4k\nsize=1m\nioengine=psync\niodepth=4\nio_submit_mode=offload\n{extra}"
        ));
        // The layout writes come from this thread; the reads from the workers.
        let out = run_job(&j, &t, &Progress::default()).unwrap();
        let mut by_thread = t.take();
        by_thread.remove(&std::thread::current().id());
        let r = &out.ops["read"];
        assert_eq!((r.count(), r.bytes), (ios, ios * 4096), "{extra}");
        assert_eq!(by_thread.len(), 4, "{extra}: reads from four submitting threads: {by_thread:?}");
        assert_eq!(by_thread.values().sum::<u64>(), ios, "{extra}");
    }
}

/// Workers make their engines again when the open files change (`openfiles`), and every file
/// still gets its I/O.
#[test]
fn offload_follows_openfiles() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Counting::new(tmp.path());
    let j = job(
        "[j]\nrw=write\nbs=4k\nnrfiles=4\nopenfiles=2\nsize=256k\nioengine=psync\niodepth=3\nio_submit_mode=offload\n",
    );
    let out = run_job(&j, &t, &Progress::default()).unwrap();
    let w = &out.ops["write"];
    assert_eq!((w.count(), w.bytes), (64, 256 << 10));
    let by_thread = t.take();
    assert_eq!(by_thread.len(), 3, "{by_thread:?}");
    for i in 0..4 {
        let len = std::fs::metadata(tmp.path().join(format!("j.0.{i}"))).unwrap().len();
        assert_eq!(len, 64 << 10, "file {i}");
    }
}

/// Every read/write engine that may be offloaded (not io_uring, as in fio; not sync and vsync,
/// whose shared file offset the threads would race on), on a directory, on fsimpl and on the null
/// target: every I/O done once; fio's latencies (a synchronous engine's I/O has no slat but a
/// lat of its own, taken from the job thread; one that queues has a slat); fio's depth maps
/// (each worker submits and reaps one I/O at a time).
#[test]
fn every_engine_offloads_on_every_kind_of_target() {
    let tmp = tempfile::tempdir().unwrap();
    let pools = PoolCache::default();
    let specs = [
        format!("dir:path={}", tmp.path().display()),
        "iomap:backing=mem:size=64m:cache=16m".to_string(),
        "bh:backing=mem:size=64m:cache=16m".to_string(),
        "null".to_string(),
    ];
    for spec in &specs {
        let spec = TargetSpec::parse(spec).unwrap();
        let t = targets::build(&spec, &FsimplDefaults::default(), &pools).unwrap();
        for engine in ["psync", "pvsync", "pvsync2", "mmap", "libaio", "posixaio", "null"] {
            let what = format!("{engine} on {}", t.kind());
            let j = job(&format!(
                "[j]\nrw=randrw\nbs=4k\nsize=1m\nioengine={engine}\niodepth=8\nio_submit_mode=offload\nrandseed=3\n"
            ));
            let out = run_job(&j, t.as_ref(), &Progress::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (r, w) = (&out.ops["read"], &out.ops["write"]);
            assert_eq!(r.count() + w.count(), 256, "{what}: every block once");
            assert_eq!(r.bytes + w.bytes, 1 << 20, "{what}");
            // Where the engine queues the I/O: the kernel's AIO (libaio, posixaio) on a
            // directory, io-wq's on fsimpl; the null target runs every engine inline.
            let queues = ["libaio", "posixaio"].contains(&engine) && t.kind() != "null";
            assert_eq!(r.slat.is_some(), queues, "{what}: slat only for an engine that queues");
            let lat = r.lat.as_ref().unwrap_or_else(|| panic!("{what}: a lat apart from clat"));
            assert_eq!(lat.len(), r.count(), "{what}");
            let depth = &out.thread_stats[0].depth;
            assert_eq!(depth.level[0], 256, "{what}: every I/O at depth 1 in its worker");
            assert_eq!(depth.level[1..].iter().sum::<u64>(), 0, "{what}");
            assert_eq!((depth.submit[1], depth.complete[1]), (256, 256), "{what}: one per call");
        }
    }
}

/// fio's own examples' shape (`fixed-rate-submission.fio`, `poisson-rate-submission.fio`:
/// libaio, direct, depth 32, a rate) runs strict through the binary on a directory, does
/// exactly `number_ios`, and fio.json echoes the mode.
#[test]
fn fio_rate_submission_examples_run_strict() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let job = dir.path().join("poisson-rate-submission.fio");
    std::fs::write(
        &job,
        "[poisson-rate-submit]\nsize=1m\nrw=randread\nioengine=libaio\niodepth=32\ndirect=1\n\
         # offload: a fixed rate of submission whatever the completions do.\nio_submit_mode=offload\n\
         rate_iops=2000\nrate_process=poisson\nnumber_ios=40\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let target = format!("dir:path={}", dir.path().display());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", job.to_str().unwrap(), "--target", &target, "--out", out.to_str().unwrap(), "--no-plot"])
        .args(["--no-report"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fio: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("fio.json")).unwrap()).unwrap();
    let j = &fio["jobs"][0];
    assert_eq!(j["job options"]["io_submit_mode"], "offload");
    assert_eq!(j["read"]["total_ios"], 40);
    assert_eq!(j["iodepth_level"]["1"], 100.0);
}
