//! I/O engines: how a job thread issues its reads, writes and trims, as fio's `ioengine`s do
//! (`struct ioengine_ops`: `queue`, `commit`, `getevents`/`event`).
//!
//! A target gives each job thread an engine for its files ([`Target::engine`]): a kernel target
//! runs the engine fio names with the same syscalls ([`sync`]: `sync`, `psync`, `vsync`,
//! `pvsync`, `pvsync2`; [`mmap`]; [`uring`]: io_uring; [`libaio`]: Linux AIO; [`posixaio`]:
//! glibc's POSIX AIO); fsimpl serves queue depth as io_uring serves buffered I/O ([`iowq`]);
//! the `null` target completes everything at once ([`InlineEngine`], as fio's null engine).
//!
//! Synchronous engines complete an I/O inside [`Engine::queue`]; asynchronous ones return
//! [`Queued::Later`], submit on [`Engine::commit`] and complete in [`Engine::reap`]. Buffers
//! belong to the caller and stay put until their I/O completes.

pub mod cpuio;
pub mod e4defrag;
pub mod exec;
pub mod falloc;
pub mod fileops;
pub mod ftruncate;
pub mod iowq;
pub mod libaio;
pub mod mmap;
pub mod net;
pub mod page_fault;
pub mod posixaio;
pub mod sync;
pub mod uring;

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use workloads::fio::{Depth, IoEngine, IoPrioChoice, UringOptions};
use workloads::{Job, ThreadPlan};

use crate::targets::{FileId, Target, TargetError};

/// What an I/O does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    /// `pread(2)` and its kin.
    Read,
    /// `pwrite(2)` and its kin.
    Write,
}

/// One I/O for an engine: `len` bytes at `offset` of file `file` (an index into the engine's
/// files), to or from `buf`.
#[derive(Clone, Copy, Debug)]
pub struct IoReq {
    /// Read or write.
    pub kind: IoKind,
    /// Index into the files the engine was made for.
    pub file: usize,
    /// Byte offset.
    pub offset: u64,
    /// The caller's buffer: valid for `len` bytes until the I/O completes.
    pub buf: *mut u8,
    /// Bytes.
    pub len: usize,
    /// Its priority (fio's `io_u->ioprio`): the thread's own, or the one cmdprio chose.
    pub prio: IoPrioChoice,
}

impl IoReq {
    /// `len` bytes at `offset` of file `file`, to or from `buf`, at the thread's own priority
    /// (none, unless the job sets one: see [`IoReq::prio`]).
    pub fn new(kind: IoKind, file: usize, offset: u64, buf: *mut u8, len: usize) -> IoReq {
        IoReq { kind, file, offset, buf, len, prio: IoPrioChoice::default() }
    }
}

/// The bytes an I/O moved, or its errno.
pub type IoResult = Result<u64, i32>;

/// What [`Engine::queue`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Completed at once (fio's `FIO_Q_COMPLETED`).
    Done(IoResult),
    /// Queued; it completes in a later [`Engine::reap`] (fio's `FIO_Q_QUEUED`).
    Later,
}

/// How a job thread's engine is set up.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// The job's `ioengine`.
    pub engine: IoEngine,
    /// Its queue-depth options.
    pub depth: Depth,
    /// io_uring's options.
    pub uring: UringOptions,
    /// O_DIRECT.
    pub direct: bool,
    /// `atomic=1`: writes carry `RWF_ATOMIC` (pvsync2, io_uring, libaio).
    pub atomic: bool,
}

impl EngineConfig {
    /// The `RWF_*` flags of a write (`aio_rw_flags`, an SQE's `rw_flags`, `pwritev2`'s flags).
    pub fn write_flags(&self) -> libc::c_int {
        if self.atomic { libc::RWF_ATOMIC } else { 0 }
    }
}

/// A job thread's engine (fio's `struct ioengine_ops`).
pub trait Engine {
    /// Starts `req` as I/O number `slot` (below the queue depth).
    fn queue(&mut self, slot: u32, req: &IoReq) -> Queued;
    /// Submits what was queued since the last commit (nothing, by default: a synchronous
    /// engine completes every I/O in [`Engine::queue`]).
    fn commit(&mut self) -> Result<(), TargetError> {
        Ok(())
    }
    /// Waits for at least `min` completions and takes at most `max`, giving each to `done`;
    /// returns how many it took (none, by default: nothing of a synchronous engine is
    /// outstanding).
    fn reap(&mut self, min: u32, max: u32, done: &mut dyn FnMut(u32, IoResult)) -> Result<u32, TargetError> {
        let _ = (min, max, done);
        Ok(0)
    }
    /// Registers the slots' buffers (buffer `i` for slot `i`), for engines that can
    /// (io_uring's `fixedbufs`); they stay put while the engine lives.
    fn register_buffers(&mut self, bufs: &[(*mut u8, usize)]) -> Result<(), TargetError> {
        let _ = bufs;
        Ok(())
    }
    /// The pause after each I/O when the engine sets it (fio's engines that set the job's
    /// `thinktime` in their `init`: `cpuio`, `exec`); `None`: the job's own.
    fn think(&self) -> Option<Duration> {
        None
    }
    /// Whether the engine ended the job (fio's `td->done`: `net`'s peer closed the link). An
    /// I/O that completes with 0 bytes once it is set is no I/O (fio's `FIO_Q_BUSY`).
    fn done(&self) -> bool {
        false
    }
}

/// A synchronous engine over the target's own calls ([`Target::read`], [`Target::write`]),
/// one I/O at a time in the job thread; what the `null` target (fio's null engine at any
/// depth), and fsimpl for a synchronous engine, run.
pub struct InlineEngine<'a> {
    target: &'a dyn Target,
    files: Vec<FileId>,
}

impl<'a> InlineEngine<'a> {
    /// The engine for `files` of `target`.
    pub fn new(target: &'a dyn Target, files: &[FileId]) -> Self {
        InlineEngine { target, files: files.to_vec() }
    }
}

impl Engine for InlineEngine<'_> {
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        let Some(&f) = self.files.get(req.file) else { return Queued::Done(Err(libc::EBADF)) };
        // SAFETY: the caller keeps `buf` valid for `len` bytes until the I/O completes, which
        // is before this call returns.
        let buf = unsafe { std::slice::from_raw_parts_mut(req.buf, req.len) };
        let r = match req.kind {
            IoKind::Read => self.target.read(f, req.offset, buf),
            IoKind::Write => self.target.write(f, req.offset, buf),
        };
        Queued::Done(r.map(|n| n as u64).map_err(|e| e.errno().unwrap_or(libc::EIO)))
    }
}

/// fio's `null` engine: every I/O completes at once, moving nothing (the buffer is not
/// touched); what the `null` target runs for `ioengine=null`, so that it measures the harness.
pub struct NullEngine;

impl Engine for NullEngine {
    #[inline]
    fn queue(&mut self, _slot: u32, req: &IoReq) -> Queued {
        Queued::Done(Ok(req.len as u64))
    }
}

/// The read/write engine `cfg` names over `files` of `target` (fio's `td_io_init` for a disk
/// engine): fio's null engine never touches the files, whatever the target; a target without
/// engines of its own gets one I/O at a time through its calls ([`InlineEngine`]).
pub fn rw_engine<'a>(
    target: &'a dyn Target,
    cfg: &EngineConfig,
    files: &[FileId],
) -> Result<Box<dyn Engine + 'a>, TargetError> {
    if cfg.engine == IoEngine::Null {
        return Ok(Box::new(NullEngine));
    }
    Ok(match target.engine(cfg, files)? {
        Some(e) => e,
        None => Box::new(InlineEngine::new(target, files)),
    })
}

/// The descriptors of a kernel target's files, for the engines that run on them.
#[derive(Clone, Debug)]
pub struct KernelFds {
    /// One per file, in the engine's file order.
    pub fds: Vec<RawFd>,
    /// Each file's size when the engine was made (what `mmap` maps at least).
    pub sizes: Vec<u64>,
}

/// The engine `cfg` names over a kernel target's descriptors.
pub fn kernel_engine(cfg: &EngineConfig, files: KernelFds) -> Result<Box<dyn Engine>, TargetError> {
    Ok(match cfg.engine {
        IoEngine::Sync | IoEngine::Psync | IoEngine::Vsync | IoEngine::Pvsync | IoEngine::Pvsync2 => {
            Box::new(sync::SyncEngine::new(cfg, files))
        }
        IoEngine::Mmap => Box::new(mmap::MmapEngine::new(files)?),
        IoEngine::IoUring => Box::new(uring::UringEngine::new(cfg, files)?),
        IoEngine::Libaio => Box::new(libaio::AioEngine::new(cfg, files)?),
        IoEngine::Posixaio => Box::new(posixaio::PosixAioEngine::new(cfg, files)),
        IoEngine::Null => Box::new(NullEngine),
        other => {
            return Err(TargetError::Setup(format!(
                "ioengine={} is not a read/write engine: see engines::job_engine",
                other.fio_name()
            )));
        }
    })
}

/// The slots an engine needs for a queue depth.
pub fn slots(depth: &Depth) -> u32 {
    depth.iodepth.max(1)
}

/// The engine of a job whose `ioengine` is not one of the read/write engines — `cpuio`,
/// `exec`, `falloc`, `ftruncate`, the file and directory operations, `page_fault`, `net`,
/// `e4defrag` — for thread `plan` on `files` of `target`; `None` for the others. `abort` ends
/// the waits of `net`.
pub fn job_engine<'a>(
    job: &'a Job,
    plan: &ThreadPlan,
    target: &'a dyn Target,
    files: &[FileId],
    abort: &'a AtomicBool,
) -> Result<Option<Box<dyn Engine + 'a>>, TargetError> {
    let engine = job.control.ioengine;
    let o = &job.engine;
    let paths =
        || -> Result<Vec<PathBuf>, TargetError> { plan.files.iter().map(|f| target.host_path(&f.name)).collect() };
    Ok(Some(match engine {
        IoEngine::Cpuio => Box::new(cpuio::CpuEngine::new(&o.cpu)),
        IoEngine::Exec => {
            let redirect = o.exec.std_redirect.then(|| {
                // fio writes them in its working directory; here in the target's, when it has one.
                let at = |ext: &str| {
                    let name = format!("{}.{ext}", job.name);
                    target.host_path(&name).unwrap_or_else(|_| PathBuf::from(name))
                };
                exec::Redirect { stdout: at("stdout"), stderr: at("stderr") }
            });
            Box::new(exec::ExecEngine::new(&o.exec, &job.name, job.control.runtime, redirect)?)
        }
        IoEngine::Falloc => Box::new(falloc::FallocEngine::new(target, files)),
        IoEngine::Ftruncate => Box::new(ftruncate::FtruncateEngine::new(target, files)),
        IoEngine::PageFault => Box::new(page_fault::PageFaultEngine::new(plan.files.first().map_or(0, |f| f.size))?),
        IoEngine::Net => Box::new(net::NetEngine::new(&net::NetSetup {
            opts: &o.net,
            thread: plan.thread,
            reads: job.rw.reads(),
            writes: job.rw.writes(),
            total: job.size.unwrap_or(0),
            abort,
            runtime: job.control.runtime,
        })?),
        IoEngine::E4defrag => {
            let fds = target.kernel_fds(files)?.ok_or_else(|| TargetError::Unsupported {
                target: target.kind().to_string(),
                what: "ioengine=e4defrag (EXT4_IOC_MOVE_EXT on a kernel ext4 file)".into(),
            })?;
            let donor = target.host_path(o.defrag.donorname.as_deref().unwrap_or_default())?;
            let len = job.file_size().saturating_sub(job.offset);
            Box::new(e4defrag::DefragEngine::new(fds, &donor, o.defrag.inplace, job.offset, len)?)
        }
        e => match fileops::FileOp::of(e, o.stat_type) {
            Some(op) => Box::new(fileops::FileOpEngine::new(op, &paths()?, vec![job.region_len(); plan.files.len()])?),
            None => return Ok(None),
        },
    }))
}
