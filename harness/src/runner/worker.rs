//! One job thread: runs its op stream against the target through the job's engine at the job's
//! queue depth, as fio's `do_io` does, and records each op.
//!
//! The loop fills the queue (up to `iodepth`, submitting every `iodepth_batch_submit` I/Os,
//! refilling once it drains to `iodepth_low`), then reaps between
//! `iodepth_batch_complete_min` and `_max` completions. A synchronous engine completes each
//! I/O as it is queued: its latency is one number (fio's clat = lat). A queued I/O gets fio's
//! three: slat (issue to submitted), clat (submitted to completed), lat (their sum). Ops that
//! are not reads or writes (fsync, fdatasync, trims, truncates) wait for the I/O in flight and
//! run in the job thread, as fio quiesces before a sync. A short write is resubmitted for the
//! rest, as fio does. Each read and write goes out with its priority (the thread's, or the one
//! cmdprio picks), which the logs and the per-priority latencies record.
//!
//! Under `io_submit_mode=offload` the job thread hands each read and write to its pool of
//! submitting threads ([`super::offload`]) instead of its engine, and takes their completions.

use super::lat_target::{LatTarget, Step};
use super::offload::{Completion, Workqueue};
use super::openfiles::OpenFiles;
use super::pace::{MinRate, Pacer};
use super::prio::PrioRecorder;
use super::{Progress, describe};
use crate::engines::{Engine, EngineConfig, IoKind, IoReq, IoResult, Queued, rw_engine};
use crate::targets::{FileId, IoMode, PowerControl, Target, TargetError};
use fsimpl::buf::AlignedBuf;
use results::fio_log::{FioLogger, LogConfig, LogSample, ThreadLogs};
use results::prio::ThreadPrios;
use results::{CpuUsage, DepthStats, ErrorStats, OpRecord, OpRecorder, ThreadStats};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};
use vocab::LatencyTarget;
use workloads::buffers::Filler;
use workloads::fio::{ContinueOnError, Depth, Dir, ErrorType, IgnoreError, IoEngine};
use workloads::verify::{self, Mismatch, Verifier};
use workloads::{Job, Op, OpKind, ThreadPlan};

/// Buffers for reads and writes: page-aligned (so O_DIRECT works), written data from a fixed
/// pseudo-random fill like fio's default buffer.
pub struct Buffers {
    buf: AlignedBuf,
}

impl Buffers {
    /// Buffers for I/Os of up to `len` bytes (grown if an op needs more).
    pub fn new(len: usize) -> Self {
        let mut b = Buffers { buf: AlignedBuf::zeroed(0) };
        b.grow(len);
        b
    }

    fn grow(&mut self, len: usize) {
        if self.buf.len() >= len {
            return;
        }
        self.buf = random_buf(len);
    }

    fn get(&mut self, len: usize) -> &mut [u8] {
        self.grow(len);
        &mut self.buf[..len]
    }
}

/// An aligned buffer of `len` bytes of fio-like random data (a fixed xorshift fill).
fn random_buf(len: usize) -> AlignedBuf {
    let mut buf = AlignedBuf::zeroed(len);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    buf
}

/// Runs one op; returns the bytes it moved (reads: bytes read; writes: bytes written).
pub fn execute(target: &dyn Target, fids: &[FileId], op: &Op, bufs: &mut Buffers) -> Result<u64, TargetError> {
    let fid = |file: u32| fids.get(file as usize).copied().ok_or(TargetError::Os { op: "lookup", errno: libc::EBADF });
    Ok(match *op {
        Op::Read { file, offset, len } => target.read(fid(file)?, offset, bufs.get(len as usize))? as u64,
        Op::Write { file, offset, len, .. } => {
            // A short write is resubmitted for the rest, as fio does; the second call reports
            // what stopped the first (ENOSPC, EIO).
            let (f, data) = (fid(file)?, bufs.get(len as usize));
            let mut done = 0;
            while done < data.len() {
                match target.write(f, offset + done as u64, &data[done..])? {
                    0 => return Err(TargetError::Os { op: "write", errno: libc::EIO }),
                    n => done += n,
                }
            }
            done as u64
        }
        Op::Truncate { file, size } => {
            target.truncate(fid(file)?, size)?;
            0
        }
        Op::Fallocate { file, mode, offset, len } => {
            target.fallocate(fid(file)?, mode, offset, len)?;
            0
        }
        Op::Fsync { file } => {
            target.fsync(fid(file)?)?;
            0
        }
        Op::Fdatasync { file } => {
            target.fdatasync(fid(file)?)?;
            0
        }
        Op::Remount => {
            target.remount()?;
            0
        }
        Op::DropCaches => {
            target.drop_caches()?;
            0
        }
        // A power cut and the mount after it, where the target can lose power.
        Op::PowerCut { after_writes } => {
            target.power(PowerControl::Log)?;
            target.power(match after_writes {
                0 => PowerControl::CutNow,
                n => PowerControl::CutAfterWrites(n),
            })?;
            target.reboot()?;
            0
        }
    })
}

/// A job thread's view of the run.
pub struct Worker<'a> {
    pub target: &'a dyn Target,
    pub fids: &'a [FileId],
    /// The thread's file names, for verify failures.
    pub names: &'a [String],
    /// `verify=`: how writes are filled and verify reads checked.
    pub verifier: Option<Verifier>,
    /// `verify_dump`: a failed unit and its expected bytes go to files (fio's).
    pub verify_dump: bool,
    pub measure_from: Instant,
    /// Added to every completion time: the measured time of earlier repetitions, so that
    /// pooled repetitions follow one another on one clock (0 for a single run).
    pub time_offset_ns: u64,
    pub stop: Option<Instant>,
    /// Set when `exitall` stops this job (another thread ended): finish as if the runtime were up.
    pub exit: &'a AtomicBool,
    pub progress: &'a Progress,
    pub abort: &'a AtomicBool,
    /// fio's log files the job writes.
    pub logs: LogConfig,
    /// `continue_on_error=`: the kinds of error counted and gone on after.
    pub continue_on_error: ContinueOnError,
    /// `ignore_error=`: the errnos of each kind gone on after.
    pub ignore_error: &'a IgnoreError,
    /// `error_dump`: print each error gone on after.
    pub error_dump: bool,
    /// The thread's place in its `flow`, if the job has one.
    pub flow: Option<super::flow::Member<'a>>,
    /// `fill_device`: a write failing with ENOSPC or EDQUOT ends the job, without error.
    pub fill_device: bool,
    /// `openfiles`: at most this many of the thread's files open at once.
    pub openfiles: Option<u32>,
    /// What the steady-state checks read of this thread (jobs with `ss_dur`).
    pub steadystate: Option<&'a super::steadystate::SsCounters>,
    /// `latency_target` and its options, when the job sets a target: the queue depth is
    /// searched for ([`LatTarget`]).
    pub latency_target: Option<LatencyTarget>,
    /// The job records its I/Os' total latency (not `disable_lat`), which the search judges.
    pub lat_recorded: bool,
}

/// What a job thread measured.
pub struct ThreadOutput {
    /// Latency records per op kind.
    pub records: BTreeMap<String, OpRecord>,
    /// CPU use and depth maps.
    pub stats: ThreadStats,
    /// fio's log texts (empty when the job writes none).
    pub logs: ThreadLogs,
    /// Latencies by I/O priority.
    pub prios: ThreadPrios,
    /// When its I/O was done, before its engine is closed (fio's `update_runtime` after
    /// `do_io`; `io_destroy` alone can take tens of milliseconds).
    pub ended: Instant,
    /// When its measurement started: [`Worker::measure_from`], or later when the
    /// `latency_target` search started the statistics afresh for its final window.
    pub measure_from: Instant,
}

/// Why a job thread stopped early.
#[derive(Debug)]
pub enum Failure {
    /// An op failed: where, and the target's error.
    Target(String, TargetError),
    /// A verify read found other bytes than were written.
    Verify {
        /// The file.
        file: String,
        /// What did not match.
        mismatch: Box<Mismatch>,
        /// Under `verify_dump`: where the units received and expected went, or why not.
        dumped: Option<String>,
    },
}

/// fio's `dump_verify_buffers`: the unit read (`found`, at file offset `at` of `file`) and the
/// unit written, regenerated, go to `NAME.AT.received` and `NAME.AT.expected` in the current
/// directory; what was written, or why it could not be.
fn dump_verify_buffers(v: &Verifier, file: &str, found: &[u8], at: u64) -> String {
    let base = std::path::Path::new(file).file_name().map_or_else(|| file.into(), |b| b.to_string_lossy());
    let expected = verify::expected_unit(v, found, at);
    let mut written = Vec::new();
    for (kind, data) in [("received", found), ("expected", &expected[..])] {
        let name = format!("{base}.{at}.{kind}");
        if let Err(e) = std::fs::write(&name, data) {
            return format!("verify_dump could not write {name}: {e}");
        }
        written.push(name);
    }
    format!("received and expected data dumped as {}", written.join(" and "))
}

impl Failure {
    fn target(where_: String, e: TargetError) -> Failure {
        Failure::Target(where_, e)
    }
}

/// The calling thread's CPU use so far (`getrusage(RUSAGE_THREAD)`, as fio reads its
/// threads' in `update_rusage_stat`).
fn thread_cpu() -> CpuUsage {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage to write.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return CpuUsage::default();
    }
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    CpuUsage {
        usr_ns: ns(ru.ru_utime),
        sys_ns: ns(ru.ru_stime),
        ctx: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
        majf: ru.ru_majflt as u64,
        minf: ru.ru_minflt as u64,
    }
}

/// One I/O slot of the queue: its buffer and the I/O in it.
struct Slot {
    buf: AlignedBuf,
    kind: OpKind,
    req: IoReq,
    /// Bytes done so far (a short write is resubmitted for the rest).
    done: u64,
    /// fio's `start_time`: when the job thread issued it.
    issued: Instant,
    /// fio's `issue_time`: when the engine took it (submitted, for an engine that queues).
    submitted: Instant,
    /// Whether the engine queued it (it then has a slat).
    queued: bool,
    /// The op, for error messages.
    op: Op,
    n: u64,
    /// A verify read.
    verify: bool,
}

/// An I/O's latencies as fio accounts them (`account_io_completion`, `add_slat_sample`).
#[derive(Clone, Copy, Debug)]
enum Latency {
    /// Completed inside the engine's `queue` in the job thread: one number (clat = lat).
    Inline(u64),
    /// Queued by the engine: slat (issued to submitted) and clat (submitted to completed).
    Queued { slat: u64, clat: u64 },
    /// Run by an offload worker's synchronous engine: clat from when that engine took it, lat
    /// from when the job thread issued it, so including its wait in the workqueue; no slat.
    Offloaded { clat: u64, lat: u64 },
}

impl Latency {
    /// fio's lat: from issue to completion.
    fn lat(self) -> u64 {
        match self {
            Latency::Inline(lat) | Latency::Offloaded { lat, .. } => lat,
            Latency::Queued { slat, clat } => slat.saturating_add(clat),
        }
    }

    /// fio's clat: from submission to completion.
    fn clat(self) -> u64 {
        match self {
            Latency::Inline(clat) | Latency::Queued { clat, .. } | Latency::Offloaded { clat, .. } => clat,
        }
    }
}

/// fio's queue-depth options with its defaults and clamps applied.
#[derive(Clone, Copy, Debug)]
struct Queue {
    depth: u32,
    submit: u32,
    complete_min: u32,
    complete_max: u32,
    low: u32,
}

impl Queue {
    fn new(d: &Depth) -> Queue {
        let depth = d.iodepth.max(1);
        // fio's fixup_options: a batch of 0 (or above iodepth) is iodepth; the most to reap
        // is at least the least, so by default one (td_io_getevents reaps at least one).
        let complete_min = d.batch_complete_min.min(depth);
        Queue {
            depth,
            submit: if d.batch_submit == 0 { depth } else { d.batch_submit.min(depth) },
            complete_min,
            complete_max: d.batch_complete_max.max(complete_min).clamp(1, depth),
            low: if d.iodepth_low == 0 { depth } else { d.iodepth_low.min(depth) },
        }
    }

    /// The queue of a job thread that offloads its I/O: up to `iodepth` out, each completion
    /// taken as it comes (the batch and low-water options are the engines', and fio's
    /// workers run at depth 1).
    fn offloaded(d: &Depth) -> Queue {
        let depth = d.iodepth.max(1);
        Queue { depth, submit: 1, complete_min: 1, complete_max: depth, low: depth }
    }
}

/// A job thread's I/O buffers, made before its clock starts (fio's `init_io_u`): one per queue
/// slot, as large as its largest I/O, filled when the job writes; and what its writes hold.
pub struct IoBuffers {
    bufs: Vec<AlignedBuf>,
    len: usize,
    filler: Filler,
}

impl IoBuffers {
    /// The buffers of `plan` at the queue depth of `depth`, filled by `filler`.
    pub fn new(plan: &ThreadPlan, depth: &Depth, mut filler: Filler) -> IoBuffers {
        let len = (plan.max_bs as usize).max(512);
        let bufs = (0..Queue::new(depth).depth)
            .map(|_| {
                let mut buf = AlignedBuf::zeroed(len);
                filler.initial(&mut buf);
                buf
            })
            .collect();
        IoBuffers { bufs, len, filler }
    }
}

/// The state of one job thread's run.
struct Run<'a, 'w> {
    /// The submitting threads, under `io_submit_mode=offload`. First, so that it is dropped
    /// first: its workers are joined before the slots' buffers they may still use are freed.
    offload: Option<Workqueue<'a>>,
    w: &'w Worker<'a>,
    thread: u32,
    engine: Box<dyn Engine + 'w>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    inflight: u32,
    /// Writes among `inflight`: a verify read waits for them (fio verifies completed writes).
    writes_inflight: u32,
    unsubmitted: Vec<u32>,
    recorders: Vec<Option<OpRecorder>>,
    sync_bufs: Buffers,
    /// Set by a completion that failed: where and why.
    failed: Option<Failure>,
    /// Completions of the last reap (kept to reuse its memory).
    reaped: Vec<(u32, IoResult)>,
    /// Bytes and ops not yet added to the shared progress.
    unpublished: (u64, u64),
    /// Bytes and I/Os completed per direction (read, write): what `rate_min` checks.
    done: [(u64, u64); 2],
    /// When the last I/O completed: the clock the runtime is checked against.
    last_now: Instant,
    /// fio's depth maps of this thread.
    depth: DepthStats,
    /// fio's log files, when the job writes any.
    logger: Option<FioLogger>,
    /// Errors counted and gone on after (`continue_on_error`).
    errors: ErrorStats,
    /// A `fill_device` write found the filesystem full: the job ends.
    filled: bool,
    /// The thread's open files (`openfiles`).
    files: OpenFiles,
    /// The engine's setup, to make it again when the open files change.
    cfg: EngineConfig,
    /// Latencies by priority, where cmdprio chooses one per I/O.
    prios: PrioRecorder,
    /// Completions of the last offloaded reap (kept to reuse its memory).
    offloaded: Vec<Completion>,
    /// When the measurement started (records before it are ramp time) and when the runtime
    /// ends: the worker's, until the `latency_target` search starts them afresh.
    measure_from: Instant,
    stop: Option<Instant>,
    /// The thread's CPU use when the measurement started.
    cpu_before: CpuUsage,
    /// The `latency_target` search, and a step a completion asked for (done at the top of
    /// the loop, outside the reap).
    lat: Option<LatTarget>,
    lat_step: Step,
    /// The latency of the I/O that made the search fail at depth 1 (`Step::Fatal`).
    lat_fatal_ns: u64,
    /// What the thread's writes hold (unless it verifies).
    filler: Filler,
}

impl<'a, 'w> Run<'a, 'w> {
    /// Records a finished op of `kind`.
    #[inline]
    fn record(&mut self, kind: OpKind, end: Instant, latency: Latency, bytes: u64) {
        let w = self.w;
        if end < self.measure_from {
            return;
        }
        if let Some(search) = self.lat.as_mut()
            && matches!(kind, OpKind::Read | OpKind::Write | OpKind::PunchHole)
        {
            // fio's account_io_completion judges each read, write and trim against the target.
            match search.completed(latency.lat(), end) {
                Step::Go => {}
                Step::Fatal => {
                    self.lat_step = Step::Fatal;
                    self.lat_fatal_ns = latency.lat();
                }
                step if self.lat_step == Step::Go => self.lat_step = step,
                _ => {}
            }
        }
        let at = w.time_offset_ns + end.duration_since(self.measure_from).as_nanos() as u64;
        let rec = self.recorders[kind.index()].get_or_insert_with(OpRecorder::new);
        match latency {
            Latency::Inline(lat) => rec.record(at, lat, bytes),
            Latency::Queued { slat, clat } => rec.record_queued(at, slat, clat, bytes),
            Latency::Offloaded { clat, lat } => rec.record_waited(at, clat, lat, bytes),
        }
        // fio's steady state counts reads, writes and trims (DDIR_RWDIR_CNT), with their clat.
        if let Some(ss) = w.steadystate
            && matches!(kind, OpKind::Read | OpKind::Write | OpKind::PunchHole)
        {
            ss.add(bytes, latency.clat());
        }
        // Progress is published every 64 ops: no shared write per op.
        self.unpublished.0 += bytes;
        self.unpublished.1 += 1;
        if self.unpublished.1 >= 64 {
            self.publish();
        }
    }

    /// Adds what was done since the last call to the shared progress.
    fn publish(&mut self) {
        let (bytes, ops) = std::mem::take(&mut self.unpublished);
        self.w.progress.bytes.fetch_add(bytes, Relaxed);
        self.w.progress.ops.fetch_add(ops, Relaxed);
    }

    /// A completion of `slot`, at `now`.
    fn complete(&mut self, slot: u32, r: IoResult, now: Instant) {
        self.last_now = self.last_now.max(now);
        let s = &mut self.slots[slot as usize];
        match r {
            Ok(n) if s.req.kind == IoKind::Write && n > 0 && s.done + n < s.req.len as u64 => {
                // Short write: the rest goes again from this slot.
                s.done += n;
                let rest = IoReq {
                    offset: s.req.offset + s.done,
                    // SAFETY: within the slot's buffer.
                    buf: unsafe { s.buf.as_mut_ptr().add(s.done as usize) },
                    len: s.req.len - s.done as usize,
                    ..s.req
                };
                match self.engine.queue(slot, &rest) {
                    Queued::Done(r) => self.complete(slot, r, Instant::now()),
                    Queued::Later => self.unsubmitted.push(slot),
                }
                return;
            }
            Ok(0) if s.req.kind == IoKind::Write => {
                self.error(slot, ErrorType::Write, TargetError::Os { op: "write", errno: libc::EIO });
            }
            Ok(n) => match self.w.verifier.as_ref().filter(|_| s.verify) {
                Some(v) => match verify::check(v, &s.buf[..(s.done + n) as usize], s.req.offset) {
                    Ok(()) => self.finish_ok(slot, n, now),
                    Err(_)
                        if self.w.continue_on_error.non_fatal(self.w.ignore_error, ErrorType::Verify, libc::EILSEQ) =>
                    {
                        // fio's verify failure is EILSEQ, a verify error.
                        self.errors.count(libc::EILSEQ);
                    }
                    Err(mismatch) => {
                        let file = self.w.names.get(s.req.file).cloned().unwrap_or_default();
                        if self.failed.is_none() {
                            let dumped = self.w.verify_dump.then(|| {
                                let unit = v.unit((s.done + n) as usize);
                                let from = (mismatch.offset - s.req.offset) as usize;
                                dump_verify_buffers(v, &file, &s.buf[from..from + unit], mismatch.offset)
                            });
                            self.failed = Some(Failure::Verify { file, mismatch: Box::new(mismatch), dumped });
                        }
                    }
                },
                None => self.finish_ok(slot, n, now),
            },
            Err(errno) => {
                let (op, kind) =
                    if s.req.kind == IoKind::Write { ("write", ErrorType::Write) } else { ("read", ErrorType::Read) };
                self.error(slot, kind, TargetError::Os { op, errno });
            }
        }
        if self.slots[slot as usize].req.kind == IoKind::Write {
            self.writes_inflight -= 1;
        }
        self.inflight -= 1;
        self.free.push(slot);
    }

    /// Records a successful completion of `slot` (`n` bytes in its last piece).
    fn finish_ok(&mut self, slot: u32, n: u64, now: Instant) {
        let s = &self.slots[slot as usize];
        let (kind, issued, submitted, bytes) = (s.kind, s.issued, s.submitted, s.done + n);
        let ns = |from: Instant, to: Instant| to.saturating_duration_since(from).as_nanos() as u64;
        let lat = ns(issued, now);
        let latency = match (s.queued, self.offload.is_some()) {
            (true, _) => Latency::Queued { slat: ns(issued, submitted), clat: ns(submitted, now) },
            (false, true) => Latency::Offloaded { clat: ns(submitted, now), lat },
            (false, false) => Latency::Inline(lat),
        };
        self.record(kind, now, latency, bytes);
        if let Some(d) = match kind {
            OpKind::Read => Some(0),
            OpKind::Write => Some(1),
            _ => None,
        } {
            self.done[d].0 += bytes;
            self.done[d].1 += 1;
        }
        let prio = self.slots[slot as usize].req.prio;
        if now >= self.w.measure_from {
            let clat = match latency {
                Latency::Inline(lat) => lat,
                Latency::Queued { clat, .. } | Latency::Offloaded { clat, .. } => clat,
            };
            self.prios.record(kind, prio.index, clat, lat);
        }
        if let Some(logger) = self.logger.as_mut().filter(|_| now >= self.w.measure_from) {
            let (clat, slat) = match latency {
                Latency::Inline(lat) => (lat, None),
                Latency::Queued { slat, clat } => (clat, Some(slat)),
                Latency::Offloaded { clat, .. } => (clat, None),
            };
            logger.add(&LogSample {
                at_ns: self.w.time_offset_ns + now.duration_since(self.w.measure_from).as_nanos() as u64,
                ddir: u8::from(kind == OpKind::Write),
                bs: bytes,
                offset: self.slots[slot as usize].req.offset,
                slat_ns: slat,
                clat_ns: clat,
                lat_ns: lat,
                prio: prio.prio.0,
            });
        }
    }

    /// An I/O of `slot` failed: counted and gone on after when `continue_on_error` and
    /// `ignore_error` say so (fio's `io_completed`: the I/O is then not accounted), else the
    /// thread stops.
    fn error(&mut self, slot: u32, kind: ErrorType, e: TargetError) {
        if let TargetError::Os { errno, .. } = e
            && self.w.continue_on_error.non_fatal(self.w.ignore_error, kind, errno)
        {
            if self.w.error_dump {
                // fio's io_u_log_error.
                let s = &self.slots[slot as usize];
                let file = self.w.names.get(s.req.file).map_or("(null)", String::as_str);
                eprintln!(
                    "aopsbench: thread {}: I/O error on file {file}: {}: {} offset={}, buflen={} (gone on after: \
                     continue_on_error)",
                    self.thread,
                    std::io::Error::from_raw_os_error(errno),
                    if s.req.kind == IoKind::Write { "write" } else { "read" },
                    s.req.offset,
                    s.req.len
                );
            }
            self.errors.count(errno);
            return;
        }
        // fio's io_u_should_fail path for fill_device: ENOSPC (or EDQUOT) on a write is the end
        // of the job, not an error (fio_mark_td_terminate).
        if let TargetError::Os { errno: libc::ENOSPC | libc::EDQUOT, .. } = e
            && self.w.fill_device
            && kind == ErrorType::Write
        {
            self.filled = true;
            return;
        }
        self.fail(slot, e);
    }

    fn fail(&mut self, slot: u32, e: TargetError) {
        let s = &self.slots[slot as usize];
        if self.failed.is_none() {
            self.failed = Some(Failure::target(format!("thread {}, op {} ({})", self.thread, s.n, describe(&s.op)), e));
        }
    }

    /// Submits what was queued and stamps its submission time.
    fn commit(&mut self) -> Result<(), Failure> {
        if self.unsubmitted.is_empty() {
            return Ok(());
        }
        self.engine.commit().map_err(|e| Failure::target(format!("thread {}, submitting I/O", self.thread), e))?;
        let n = self.unsubmitted.len() as u32;
        self.depth.mark_submit(n);
        self.depth.mark_depth(self.inflight, u64::from(n));
        let now = Instant::now();
        for &slot in &self.unsubmitted {
            self.slots[slot as usize].submitted = now;
        }
        self.unsubmitted.clear();
        Ok(())
    }

    /// Reaps at least `min` completions.
    fn reap(&mut self, min: u32, max: u32) -> Result<(), Failure> {
        if self.inflight == 0 {
            return Ok(());
        }
        if self.offload.is_some() {
            return self.reap_offloaded(|wq, done| wq.reap(min, max, done).map(drop));
        }
        let mut got: Vec<(u32, IoResult)> = Vec::new();
        std::mem::swap(&mut got, &mut self.reaped);
        got.clear();
        let thread = self.thread;
        self.engine
            .reap(min.min(self.inflight), max, &mut |slot, r| got.push((slot, r)))
            .map_err(|e| Failure::target(format!("thread {thread}, reaping I/O"), e))?;
        self.depth.mark_complete(got.len() as u32);
        for &(slot, r) in &got {
            self.complete(slot, r, Instant::now());
        }
        std::mem::swap(&mut got, &mut self.reaped);
        Ok(())
    }

    /// Takes the offload workers' completions that `take` gives, as the workers account them
    /// in fio (each at its depth of 1: one submitted, one completed).
    fn reap_offloaded(
        &mut self,
        take: impl FnOnce(&mut Workqueue<'a>, &mut dyn FnMut(Completion)) -> Result<(), TargetError>,
    ) -> Result<(), Failure> {
        let Some(wq) = self.offload.as_mut() else { return Ok(()) };
        let mut got = std::mem::take(&mut self.offloaded);
        got.clear();
        let r = take(wq, &mut |c| got.push(c));
        for c in &got {
            self.depth.mark_depth(1, 1);
            self.depth.mark_submit(1);
            self.depth.mark_complete(1);
            let s = &mut self.slots[c.slot as usize];
            s.submitted = c.issued;
            s.queued = c.queued;
            self.complete(c.slot, c.result, c.completed);
        }
        self.offloaded = got;
        r.map_err(|e| Failure::target(format!("thread {}, reaping offloaded I/O", self.thread), e))
    }

    /// fio's `usec_sleep` for a job thread that offloads its I/O: it sleeps while its workers
    /// go on, then takes the completions they sent meanwhile (each carries its own times, so
    /// taking it late changes no latency); true when it slept the whole of `d`.
    fn offload_sleep(&mut self, d: Duration, stop: &[&AtomicBool]) -> Result<bool, Failure> {
        let slept = super::pace::usec_sleep(d, stop);
        self.reap_offloaded(|wq, done| wq.reap(0, u32::MAX, done).map(drop))?;
        Ok(slept)
    }

    /// Waits for every I/O in flight.
    fn drain(&mut self) -> Result<(), Failure> {
        self.commit()?;
        while self.inflight > 0 {
            let n = self.inflight;
            self.reap(n, n)?;
        }
        Ok(())
    }

    /// The queue depth to fill to: the job's, or the `latency_target` search's.
    fn depth_limit(&self, q: &Queue) -> u32 {
        self.lat.as_ref().map_or(q.depth, |l| l.depth().clamp(1, q.depth))
    }

    /// fio's `lat_target_check` after each round of the loop, and the steps the completions
    /// asked for; returns whether the search is done (the job's I/O ends).
    fn latency_target_step(&mut self) -> Result<bool, Failure> {
        let Some(search) = self.lat.as_mut() else { return Ok(false) };
        let mut step = std::mem::replace(&mut self.lat_step, Step::Go);
        if step == Step::Go && self.last_now >= self.measure_from {
            step = search.check(self.last_now);
        }
        match step {
            Step::Go => {}
            Step::Quiesce => self.drain()?,
            Step::FinalRun => {
                // fio's io_u_quiesce, then reset_all_stats: the final window at the settled
                // depth is what the job reports, its runtime counted afresh.
                self.drain()?;
                let now = Instant::now();
                let runtime = self.w.stop.map(|s| s.saturating_duration_since(self.w.measure_from));
                self.recorders.iter_mut().for_each(|r| *r = None);
                self.depth = DepthStats::default();
                self.cpu_before = thread_cpu();
                self.measure_from = now;
                self.stop = runtime.map(|r| now + r);
                self.last_now = now;
                if let Some(search) = self.lat.as_mut() {
                    search.restart_window(now);
                }
            }
            Step::Done => return Ok(true),
            Step::Fatal => {
                let lat = Duration::from_nanos(self.lat_fatal_ns);
                return Err(Failure::target(
                    format!(
                        "thread {}: an I/O took {lat:?}, over latency_target={:?} at queue depth 1, where the search \
                         cannot go lower (fio's lat_fatal)",
                        self.thread,
                        search.target()
                    ),
                    TargetError::Os { op: "latency_target", errno: libc::ETIMEDOUT },
                ));
            }
        }
        Ok(false)
    }

    /// fio's `td_io_close_file`: closes `file` once its I/O in flight completed.
    fn close_file(&mut self, file: u32) -> Result<(), Failure> {
        if !self.files.is_open(file) {
            return Ok(());
        }
        self.drain()?;
        let fid = self.files.closed(file);
        let name = self.w.names.get(file as usize).map_or("", String::as_str);
        self.w.target.close(fid).map_err(|e| Failure::target(format!("thread {}, closing {name}", self.thread), e))
    }

    /// fio's `td_io_open_file` under `openfiles`: opens `file` if it is closed (first closing
    /// the file used longest ago, when the limit is reached), with the job's flags, and makes
    /// the engine again over the open files.
    fn ensure_open(&mut self, file: u32) -> Result<(), Failure> {
        if self.files.limit.is_none() || file as usize >= self.files.by_file.len() {
            return Ok(());
        }
        if self.files.is_open(file) {
            self.files.used(file);
            return Ok(());
        }
        self.drain()?;
        if let Some(old) = self.files.to_evict() {
            self.close_file(old)?;
        }
        let (w, thread) = (self.w, self.thread);
        let name = &w.names[file as usize];
        let fail = |e| Failure::target(format!("thread {thread}, opening {name}"), e);
        let fid = w.target.open(name, true).map_err(fail)?;
        let mode = IoMode { uring: self.cfg.engine == IoEngine::IoUring, direct: self.cfg.direct };
        w.target.set_file_io_mode(fid, mode).map_err(fail)?;
        self.files.opened(file, fid);
        let files = self.files.engine_files();
        if let Some(wq) = self.offload.as_mut() {
            wq.reopen(&files).map_err(fail)?;
        }
        self.engine = rw_engine(w.target, &self.cfg, &files).map_err(fail)?;
        let bufs: Vec<(*mut u8, usize)> = self.slots.iter_mut().map(|s| (s.buf.as_mut_ptr(), s.buf.len())).collect();
        self.engine.register_buffers(&bufs).map_err(fail)
    }
}

/// The engine thread `plan` of `job` runs on `fids` of `target` (fio's `td_io_init`, before
/// the job's clock starts): one of [`crate::engines::job_engine`]'s, else the read/write
/// engine ([`rw_engine`]).
pub fn make_engine<'a>(
    job: &'a Job,
    plan: &ThreadPlan,
    target: &'a dyn Target,
    fids: &[FileId],
    cfg: &EngineConfig,
    abort: &'a AtomicBool,
) -> Result<Box<dyn Engine + 'a>, Failure> {
    let setup =
        |e: TargetError| Failure::target(format!("thread {}, engine {}", plan.thread, cfg.engine.fio_name()), e);
    if let Some(e) = crate::engines::job_engine(job, plan, target, fids, abort).map_err(setup)? {
        return Ok(e);
    }
    rw_engine(target, cfg, fids).map_err(setup)
}

impl<'a> Worker<'a> {
    /// Runs the thread's measured ops through `engine` (made by [`make_engine`] for `cfg`) from
    /// `io` (made by [`IoBuffers::new`]), or through the submitting threads of `offload` for its
    /// reads and writes; returns its records, its CPU use and depth maps and its fio logs, or
    /// on failure where and why.
    pub fn run(
        &self,
        plan: ThreadPlan,
        cfg: &EngineConfig,
        engine: Box<dyn Engine + 'a>,
        io: IoBuffers,
        offload: Option<Workqueue<'a>>,
    ) -> Result<ThreadOutput, Failure> {
        let cpu_before = thread_cpu();
        let thread = plan.thread;
        let q = if offload.is_some() { Queue::offloaded(&cfg.depth) } else { Queue::new(&cfg.depth) };
        let lat = self.latency_target.map(|t| LatTarget::new(&t, self.lat_recorded, q.depth, self.measure_from));
        let setup = |e: TargetError| Failure::target(format!("thread {thread}, engine {}", cfg.engine.fio_name()), e);
        let mut files = OpenFiles::new(self.fids, self.openfiles);
        // `engine` runs on the open files (all, without openfiles), in their order.
        files.engine_files();
        let len = io.len;
        let now = Instant::now();
        let dummy = IoReq::new(IoKind::Read, 0, 0, std::ptr::null_mut(), 0);
        let slots: Vec<Slot> = io
            .bufs
            .into_iter()
            .map(|buf| Slot {
                buf,
                kind: OpKind::Read,
                req: dummy,
                done: 0,
                issued: now,
                submitted: now,
                queued: false,
                op: Op::DropCaches,
                n: 0,
                verify: false,
            })
            .collect();
        debug_assert_eq!(slots.len(), q.depth as usize, "IoBuffers made for another queue depth");
        let mut run = Run {
            w: self,
            thread,
            engine,
            slots,
            free: (0..q.depth).rev().collect(),
            inflight: 0,
            writes_inflight: 0,
            unsubmitted: Vec::with_capacity(q.depth as usize),
            recorders: (0..OpKind::COUNT).map(|_| None).collect(),
            sync_bufs: Buffers::new(len),
            failed: None,
            reaped: Vec::with_capacity(q.depth as usize),
            unpublished: (0, 0),
            done: [(0, 0); 2],
            last_now: now,
            depth: DepthStats::default(),
            logger: self.logs.any().then(|| FioLogger::new(self.logs)),
            errors: ErrorStats::default(),
            filled: false,
            files,
            cfg: *cfg,
            prios: PrioRecorder::new(&plan.prio, plan.control.latencies.lat_percentiles),
            offload,
            offloaded: Vec::with_capacity(q.depth as usize),
            measure_from: self.measure_from,
            stop: self.stop,
            cpu_before,
            lat,
            lat_step: Step::Go,
            lat_fatal_ns: 0,
            filler: io.filler,
        };
        let bufs: Vec<(*mut u8, usize)> = run.slots.iter_mut().map(|s| (s.buf.as_mut_ptr(), s.buf.len())).collect();
        run.engine.register_buffers(&bufs).map_err(setup)?;
        let result = self.io_loop(&mut run, plan, q);
        let mut drained = run.drain();
        if run.files.limit.is_some() && drained.is_ok() {
            // fio's close_and_free_files.
            drained = (0..self.fids.len() as u32).try_for_each(|f| run.close_file(f));
        }
        let ended = Instant::now();
        run.publish();
        result?;
        drained?;
        if let Some(f) = run.failed.take() {
            return Err(f);
        }
        let stats = ThreadStats {
            cpu: thread_cpu().since(&run.cpu_before),
            depth: run.depth,
            errors: run.errors,
            latency_depth: run.depth_limit(&q),
        };
        let records = run
            .recorders
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (OpKind::ALL[i].as_str().to_string(), r.finish())))
            .collect();
        let measured = run.last_now.saturating_duration_since(self.measure_from).as_nanos() as u64;
        let logs = run.logger.take().map(|l| l.finish(self.time_offset_ns + measured)).unwrap_or_default();
        Ok(ThreadOutput { records, stats, logs, prios: run.prios.finish(), ended, measure_from: run.measure_from })
    }

    fn io_loop(&self, run: &mut Run<'_, '_>, plan: ThreadPlan, q: Queue) -> Result<(), Failure> {
        let mut ops = plan.ops;
        let mut priorities = plan.prio;
        let c = &plan.control;
        let pacer =
            |bytes, iops, salt: u64| Pacer::new(bytes, iops, c.rate_process, self.measure_from, plan.seed ^ salt);
        let mut read_pace = pacer(c.rate.read, c.rate_iops.read, 0x5a5a);
        let mut write_pace = pacer(c.rate.write, c.rate_iops.write, 0xa5a5);
        let mut min_rate = MinRate::new(c.rate_min, c.rate_iops_min, c.rate_cycle, Instant::now());
        let thinktime = c.thinktime;
        let mut finished = false;
        let mut n = 0u64;
        // Whether the queue filled up and waits to drain to iodepth_low.
        let mut draining = false;
        loop {
            if self.abort.load(Relaxed) || run.failed.is_some() {
                return Ok(());
            }
            let searched = !finished && run.latency_target_step()?;
            // The clock of the last completion (no clock read of its own per op).
            let ended =
                run.stop.is_some_and(|s| run.last_now >= s) || self.exit.load(Relaxed) || run.engine.done() || searched;
            if !finished && ended {
                // Runtime is up: what remains are the verify reads and the closing ops.
                ops.finish();
                finished = true;
            }
            if std::mem::take(&mut run.filled) {
                // fill_device: the filesystem is full; the I/O in flight completes, then the
                // closing fsyncs (no verify pass), as fio's do_io after a terminate.
                ops.terminate();
                finished = true;
            }
            if draining && run.inflight <= q.low {
                draining = false;
            }
            let depth = run.depth_limit(&q);
            let room = !draining && run.inflight < depth;
            if room
                && !finished
                && let Some(flow) = self.flow.as_ref().filter(|f| f.exceeded())
            {
                // fio's flow_threshold_exceeded: held back while ahead of its share.
                if flow.sleep.is_zero() {
                    run.commit()?;
                    flow.wait_for_others(run.stop, &[self.abort, self.exit]);
                } else {
                    run.drain()?;
                    std::thread::sleep(flow.sleep);
                }
                run.last_now = Instant::now();
                continue;
            }
            let next = if room { ops.next_io() } else { None };
            let Some(io) = next else {
                if !room {
                    draining = q.low < q.depth;
                    run.commit()?;
                    run.reap(q.complete_min.max(1), q.complete_max)?;
                    continue;
                }
                return Ok(());
            };
            if let Some(f) = io.close {
                run.close_file(f)?;
            }
            let op = io.op;
            let kind = op.kind();
            if let Some(f) = op.file() {
                run.ensure_open(f)?;
            }
            if let (Op::Read { len, .. }, Some(p), _) | (Op::Write { len, .. }, _, Some(p)) =
                (&op, &mut read_pace, &mut write_pace)
            {
                let stop = [self.abort, self.exit];
                let go = if run.offload.is_some() {
                    // Under offload fio's rate_ddir does not quiesce: the workers go on while
                    // the job thread sleeps.
                    p.wait_with(*len, run.stop, |d| run.offload_sleep(d, &stop))?
                } else {
                    if p.ahead() {
                        // fio's rate_ddir quiesces (io_u_quiesce) before it sleeps: the I/O in
                        // flight completes first, so its latency holds no rate wait.
                        run.drain()?;
                    }
                    p.wait(*len, run.stop, &stop)
                };
                if !go {
                    // The runtime ended, or the job was told to stop, before the I/O could go.
                    ops.withdraw(&op);
                    run.last_now = Instant::now();
                    continue;
                }
            }
            let (io_kind, file, offset, len) = match op {
                Op::Read { file, offset, len } => (IoKind::Read, file, offset, len),
                Op::Write { file, offset, len, .. } => (IoKind::Write, file, offset, len),
                _ => {
                    // fio quiesces before a sync: the I/O in flight completes first.
                    run.drain()?;
                    let start = Instant::now();
                    match execute(self.target, &run.files.by_file, &op, &mut run.sync_bufs) {
                        Ok(bytes) => {
                            let end = Instant::now();
                            // The runtime is checked against it too: a trim-only job ends.
                            run.last_now = end;
                            let lat = Latency::Inline(end.duration_since(start).as_nanos() as u64);
                            run.record(kind, end, lat, bytes);
                        }
                        Err(TargetError::Os { errno, .. })
                            if self.continue_on_error.non_fatal(self.ignore_error, ErrorType::Write, errno) =>
                        {
                            run.errors.count(errno);
                        }
                        Err(e) => {
                            return Err(Failure::target(
                                format!("thread {}, op {n} ({})", plan.thread, describe(&op)),
                                e,
                            ));
                        }
                    }
                    n += 1;
                    continue;
                }
            };
            if io.invalidate {
                // fio drops the file's cache as it picks the I/O, with I/O still in flight.
                let fid = run.files.by_file.get(file as usize).copied();
                if let Some(fid) = fid {
                    self.target.invalidate(fid).map_err(|e| {
                        Failure::target(format!("thread {}, invalidating file {}", plan.thread, file), e)
                    })?;
                }
            }
            if io.verify && run.writes_inflight > 0 {
                // fio reads back only writes that completed (io_hist is filled at completion).
                run.drain()?;
            }
            let slot = run.free.pop().expect("a free slot while inflight < iodepth");
            let s = &mut run.slots[slot as usize];
            if let Op::Write { tag, .. } = op {
                let buf = &mut s.buf[..len as usize];
                match &self.verifier {
                    Some(v) => verify::fill(v, buf, offset, tag),
                    None => run.filler.write(buf, offset),
                }
            }
            s.verify = io.verify;
            // A file the thread does not track (an engine that works on names): the stream's index.
            let file = run.files.engine_index.get(file as usize).copied().unwrap_or(file as usize);
            // fio's io_u->ioprio: the thread's, unless cmdprio picks one for this I/O.
            let dir = if io_kind == IoKind::Write { Dir::Write } else { Dir::Read };
            let prio = priorities.choose(dir, len);
            s.req = IoReq { kind: io_kind, file, offset, buf: s.buf.as_mut_ptr(), len: len as usize, prio };
            s.kind = kind;
            s.done = 0;
            s.op = op;
            s.n = n;
            s.issued = Instant::now();
            s.submitted = s.issued;
            s.queued = false;
            run.inflight += 1;
            run.writes_inflight += u32::from(io_kind == IoKind::Write);
            let req = s.req;
            if let Some(wq) = run.offload.as_mut() {
                // fio's do_io under offload: workqueue_enqueue, and on to the next I/O.
                wq.enqueue(slot, req).map_err(|e| {
                    Failure::target(format!("thread {}, handing I/O to a submitting thread", plan.thread), e)
                })?;
            } else {
                match run.engine.queue(slot, &req) {
                    Queued::Done(Ok(0)) if run.engine.done() => {
                        // The engine ended the job on this I/O (fio's FIO_Q_BUSY): no I/O.
                        run.inflight -= 1;
                        run.writes_inflight -= u32::from(io_kind == IoKind::Write);
                        run.free.push(slot);
                    }
                    Queued::Done(r) => {
                        // fio's td_io_queue for an I/O completed at once: one submitted, one reaped.
                        run.depth.mark_depth(run.inflight, 1);
                        run.depth.mark_submit(1);
                        run.depth.mark_complete(1);
                        run.complete(slot, r, Instant::now())
                    }
                    Queued::Later => {
                        run.slots[slot as usize].queued = true;
                        run.unsubmitted.push(slot);
                        if run.unsubmitted.len() as u32 >= q.submit {
                            run.commit()?;
                        }
                    }
                }
            }
            n += 1;
            if run.inflight >= depth {
                // The queue is full: reap at least one (fio's wait_for_completions).
                draining = q.low < q.depth;
                run.commit()?;
                run.reap(q.complete_min.max(1), q.complete_max)?;
            }
            let think = run.engine.think().unwrap_or(thinktime);
            if !think.is_zero() {
                run.drain()?;
                super::pace::usec_sleep(think, &[self.abort, self.exit]);
            }
            // fio's do_io checks the minimum rates after each I/O, outside the ramp.
            if let Some(m) = min_rate.as_mut().filter(|_| run.last_now >= run.measure_from)
                && let Err(why) = m.check(run.last_now, run.done)
            {
                let e = TargetError::Os { op: "check_min_rate", errno: libc::EIO };
                return Err(Failure::target(format!("thread {}, {why}", plan.thread), e));
            }
        }
    }
}
