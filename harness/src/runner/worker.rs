//! One job thread: runs its op stream against the target and records each op.

use super::{Progress, describe, interval, sleep_until};
use crate::targets::{FileId, PowerControl, Target, TargetError};
use fsimpl::buf::AlignedBuf;
use results::{OpRecord, OpRecorder};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;
use workloads::{Op, OpKind, ThreadPlan};

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
        let mut buf = AlignedBuf::zeroed(len);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        self.buf = buf;
    }

    fn get(&mut self, len: usize) -> &mut [u8] {
        self.grow(len);
        &mut self.buf[..len]
    }
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
    pub measure_from: Instant,
    pub stop: Option<Instant>,
    pub progress: &'a Progress,
    pub abort: &'a AtomicBool,
}

impl Worker<'_> {
    /// Runs the thread's measured ops; on failure returns where and why.
    pub fn run(&self, plan: ThreadPlan) -> Result<BTreeMap<String, OpRecord>, (String, TargetError)> {
        let mut recorders: Vec<Option<OpRecorder>> = (0..OpKind::COUNT).map(|_| None).collect();
        let mut bufs = Buffers::new(1 << 20);
        let mut ops = plan.ops;
        let read_gap = super::interval(plan.control.rate_iops.read);
        let write_gap = interval(plan.control.rate_iops.write);
        let thinktime = plan.control.thinktime;
        let (mut next_read, mut next_write) = (self.measure_from, self.measure_from);
        let mut finished = false;
        let mut n = 0u64;
        while let Some(op) = ops.next() {
            if self.abort.load(Relaxed) {
                break;
            }
            let kind = op.kind();
            match (kind, read_gap, write_gap) {
                (OpKind::Read, Some(g), _) => {
                    sleep_until(next_read);
                    next_read += g;
                }
                (OpKind::Write, _, Some(g)) => {
                    sleep_until(next_write);
                    next_write += g;
                }
                _ => {}
            }
            let start = Instant::now();
            let bytes = execute(self.target, self.fids, &op, &mut bufs)
                .map_err(|e| (format!("thread {}, op {n} ({})", plan.thread, describe(&op)), e))?;
            let end = Instant::now();
            if end >= self.measure_from {
                let at = end.duration_since(self.measure_from).as_nanos() as u64;
                let lat = end.duration_since(start).as_nanos() as u64;
                recorders[kind.index()].get_or_insert_with(OpRecorder::new).record(at, lat, bytes);
                self.progress.bytes.fetch_add(bytes, Relaxed);
                self.progress.ops.fetch_add(1, Relaxed);
            }
            n += 1;
            if !finished && self.stop.is_some_and(|s| end >= s) {
                // Runtime is up: what remains are the closing ops (end_fsync, fsync_on_close).
                ops.finish();
                finished = true;
            }
            if !thinktime.is_zero() {
                std::thread::sleep(thinktime);
            }
        }
        Ok(recorders
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (OpKind::ALL[i].as_str().to_string(), r.finish())))
            .collect())
    }
}
