//! fio's `openfiles` below the number of files: at most that many of a thread's files are open
//! at once; a file is closed when its pass is done and the next opened in its place, and every
//! file still gets its I/O.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use harness::runner::Progress;
use harness::runner::group::{groups, run_group};
use harness::targets::{Capabilities, DirTarget, FileId, IoMode, Result, Target};
use workloads::{FallocMode, JobFile};

/// A dir target that counts its open files and the bytes read and written per file name.
struct Counting {
    inner: DirTarget,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    names: BTreeMap<FileId, String>,
    most_open: usize,
    bytes: BTreeMap<String, u64>,
}

impl Counting {
    fn count(&self, f: FileId, n: usize) {
        let mut s = self.state.lock().unwrap();
        let name = s.names.get(&f).cloned().unwrap_or_default();
        *s.bytes.entry(name).or_default() += n as u64;
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
        let f = self.inner.open(name, create)?;
        let mut s = self.state.lock().unwrap();
        s.names.insert(f, name.to_string());
        s.most_open = s.most_open.max(s.names.len());
        Ok(f)
    }
    fn close(&self, f: FileId) -> Result<()> {
        self.state.lock().unwrap().names.remove(&f);
        self.inner.close(f)
    }
    fn unlink(&self, name: &str) -> Result<()> {
        self.inner.unlink(name)
    }
    fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize> {
        let n = self.inner.read(f, off, buf)?;
        self.count(f, n);
        Ok(n)
    }
    fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize> {
        let n = self.inner.write(f, off, data)?;
        self.count(f, n);
        Ok(n)
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

fn run(text: &str, target: &dyn Target) {
    let jobs = JobFile::parse(text, "openfiles.fio", false).unwrap().jobs;
    let g = groups(&jobs);
    let progress: Vec<Progress> = jobs.iter().map(|_| Progress::default()).collect();
    run_group(&g[0], target, &progress, &vec![0; jobs.len()]).unwrap();
}

/// Through the target's own calls (a counting wrapper), layout included: never more than two
/// files open, each of the six read or written in full.
#[test]
fn at_most_openfiles_are_open_and_every_file_gets_its_io() {
    for service in ["roundrobin", "random", "sequential", "zipf:1.1"] {
        for rw in ["randwrite", "read"] {
            let tmp = tempfile::tempdir().unwrap();
            let t = Counting { inner: DirTarget::new(tmp.path()).unwrap(), state: Mutex::default() };
            let text = format!("[j]\nrw={rw}\nbs=4k\nnrfiles=6\nopenfiles=2\nsize=384k\nfile_service_type={service}\n");
            let names: Vec<String> = JobFile::parse(&text, "openfiles.fio", false).unwrap().jobs[0]
                .files(0)
                .into_iter()
                .map(|f| f.name)
                .collect();
            run(&text, &t);
            let s = t.state.lock().unwrap();
            assert!(s.most_open <= 2, "{service} {rw}: {} files open at once", s.most_open);
            assert!(s.names.is_empty(), "{service} {rw}: files left open: {:?}", s.names);
            // A read job's files are written out first (1 MiB layout writes count too).
            let layout = if rw == "read" { 64 << 10 } else { 0 };
            for n in &names {
                assert_eq!(s.bytes.get(n).copied(), Some((64 << 10) + layout), "{service} {rw}: bytes of {n}");
            }
        }
    }
}

/// The open descriptors of this process on files under `dir`.
fn open_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.flatten().filter(|e| std::fs::read_link(e.path()).is_ok_and(|p| p.starts_with(dir))).count())
        .unwrap_or(0)
}

/// With queue depth on the kernel's own engines (the engine is made again over the open files
/// at each change): a watcher reading /proc/self/fd never sees more than two of the job's
/// files open, and every file is written in full.
#[test]
fn kernel_engines_at_depth_keep_the_limit() {
    for engine in ["psync", "libaio", "io_uring"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let t = DirTarget::new(&dir).unwrap();
        let text = format!("[j]\nrw=write\nbs=4k\nnrfiles=5\nopenfiles=2\nsize=5m\nioengine={engine}\niodepth=4\n");
        let stop = AtomicBool::new(false);
        let most = std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                let mut most = 0;
                while !stop.load(Ordering::Relaxed) {
                    most = most.max(open_under(&dir));
                    std::thread::yield_now();
                }
                most
            });
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&text, &t)));
            stop.store(true, Ordering::Relaxed);
            let most = watcher.join().unwrap();
            if let Err(e) = r {
                std::panic::resume_unwind(e);
            }
            most
        });
        assert!(most <= 2, "{engine}: {most} of the job's files open at once");
        for i in 0..5 {
            let len = std::fs::metadata(dir.join(format!("j.0.{i}"))).unwrap().len();
            assert_eq!(len, 1 << 20, "{engine}: file {i}");
        }
        assert_eq!(open_under(&dir), 0, "{engine}: files left open");
    }
}
