//! A device that misbehaves on purpose: [`FaultDev`] wraps any [`BlockDev`] and perturbs what
//! passes through it as a [`FaultPlan`] says — the role `dm-flakey`, `dm-dust` and
//! `dm-log-writes` play under xfstests, and raft-engine's perturbing file system plays in its
//! tests. The engine below stays generic; only the wrapper misbehaves.
//!
//! Faults, counted per bio from the moment the plan is armed ([`FaultDev::arm`]):
//! - the Nth read or write bio (1-based) fails with EIO, once or from then on ([`NthBio`]);
//! - any bio touching a bad device byte range fails with EIO ([`FaultPlan::bad_ranges`]);
//! - a short write ([`ShortWrite`]): the first bytes of the Nth write bio reach the device and
//!   the bio fails with EIO. A block device never completes a bio partly without an error (a
//!   partial completion is always `bi_status != 0`, `blk_update_request` with an error), so a
//!   short write is a torn write that the filesystem sees as a failed one;
//! - a power cut ([`PowerCut`]): every write since the last completed flush is undone, and
//!   later writes and flushes are dropped until [`FaultDev::power_on`].
//!
//! The power cut keeps an undo log while armed: before a write reaches the device, the bytes it
//! overwrites are read and kept (once per byte range between two flushes); a flush forgets
//! them; [`FaultDev::power_cut`] writes them back and flushes. The log costs a device read per
//! write and memory for every byte written since the last flush; with a power cut armed, bios
//! go through the wrapper one batch at a time.
//!
//! ```
//! use fsimpl::dev::{BlockDev, FaultDev, FaultPlan, MemDev, NthBio};
//! use std::sync::Arc;
//!
//! let plan = FaultPlan { read: Some(NthBio::once(2)), ..FaultPlan::default() };
//! let dev = FaultDev::new(Arc::new(MemDev::new(1 << 20)?), plan)?;
//! assert_eq!(dev.fault_stats().failed_reads, 0);
//! # Ok::<(), fsimpl::dev::DevError>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{BioBatch, BioOp, BlockDev, Counters, DevError, DevStats};
use crate::buf::AlignedBuf;
use crate::core::RangeSet;

/// Granularity of the undo log and of short writes: a sector.
const SECTOR: u64 = 512;

/// The Nth bio of one direction fails with EIO: only that one, or it and every later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NthBio {
    /// 1-based bio number, counted from when the plan was armed.
    pub n: u64,
    /// Every later bio fails too (a device that died), not only the Nth.
    pub sticky: bool,
}

impl NthBio {
    /// Only the Nth bio fails.
    pub fn once(n: u64) -> Self {
        NthBio { n, sticky: false }
    }

    /// The Nth bio and every later one fail.
    pub fn from_then_on(n: u64) -> Self {
        NthBio { n, sticky: true }
    }

    fn hits(&self, ordinal: u64) -> bool {
        if self.sticky { ordinal >= self.n } else { ordinal == self.n }
    }
}

/// The Nth write bio lands only partly: its first `landed` bytes reach the device (all of it
/// if the bio is shorter), then it fails with EIO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortWrite {
    /// 1-based write bio number.
    pub n: u64,
    /// Bytes that land; a multiple of 512 (and of the device's direct-I/O alignment).
    pub landed: u64,
}

/// When the power goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerCut {
    /// Only when [`FaultDev::power_cut`] is called; the undo log is kept from arming on.
    OnDemand,
    /// Right after the Nth write bio (1-based) completes; later bios of its batch are dropped.
    AfterWrite(u64),
}

/// Device bytes `[start, end)` where every bio fails (a bad patch of media).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// What a [`FaultDev`] does wrong. The default does nothing wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Fail a read bio.
    pub read: Option<NthBio>,
    /// Fail a write bio.
    pub write: Option<NthBio>,
    /// Device byte ranges where every read and write fails with EIO.
    pub bad_ranges: Vec<BadRange>,
    /// A torn write.
    pub short_write: Option<ShortWrite>,
    /// A power cut.
    pub power_cut: Option<PowerCut>,
}

impl FaultPlan {
    /// Whether the plan does anything.
    pub fn is_empty(&self) -> bool {
        *self == FaultPlan::default()
    }

    fn check(&self) -> Result<(), DevError> {
        let bad = |m: String| Err(DevError::BadRequest(m));
        for (what, nth) in [("read", self.read), ("write", self.write)] {
            if nth.is_some_and(|n| n.n == 0) {
                return bad(format!("fault plan: {what} bio numbers start at 1"));
            }
        }
        if let Some(s) = self.short_write {
            if s.n == 0 {
                return bad("fault plan: short write bio numbers start at 1".into());
            }
            if !s.landed.is_multiple_of(SECTOR) {
                return bad(format!("fault plan: a short write lands {} bytes, not a multiple of 512", s.landed));
            }
        }
        if self.power_cut == Some(PowerCut::AfterWrite(0)) {
            return bad("fault plan: power cut after write 0: write bio numbers start at 1".into());
        }
        if let Some(r) = self.bad_ranges.iter().find(|r| r.start >= r.end) {
            return bad(format!("fault plan: bad range {}..{} is empty", r.start, r.end));
        }
        Ok(())
    }
}

/// Faults a [`FaultDev`] injected, and what its power cuts did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Read bios failed by [`FaultPlan::read`].
    pub failed_reads: u64,
    /// Write bios failed by [`FaultPlan::write`].
    pub failed_writes: u64,
    /// Bios failed because they touched a bad range.
    pub bad_range_ios: u64,
    /// Torn writes.
    pub short_writes: u64,
    /// Power cuts.
    pub power_cuts: u64,
    /// Bytes written back from the undo log by power cuts.
    pub reverted_bytes: u64,
    /// Write bios dropped while the power was off.
    pub dropped_writes: u64,
}

impl FaultStats {
    /// Every fault, as `(name, count)` pairs (for a target's counters).
    pub fn to_pairs(&self) -> [(&'static str, u64); 7] {
        [
            ("fault_failed_reads", self.failed_reads),
            ("fault_failed_writes", self.failed_writes),
            ("fault_bad_range_ios", self.bad_range_ios),
            ("fault_short_writes", self.short_writes),
            ("fault_power_cuts", self.power_cuts),
            ("fault_reverted_bytes", self.reverted_bytes),
            ("fault_dropped_writes", self.dropped_writes),
        ]
    }
}

#[derive(Debug, Default)]
struct FaultCounters {
    failed_reads: AtomicU64,
    failed_writes: AtomicU64,
    bad_range_ios: AtomicU64,
    short_writes: AtomicU64,
    power_cuts: AtomicU64,
    reverted_bytes: AtomicU64,
    dropped_writes: AtomicU64,
}

/// What happens to one bio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Goes to the device as it is.
    Pass,
    /// Fails with EIO without reaching the device.
    Fail,
    /// Its first bytes reach the device, then it fails with EIO.
    Short(u64),
    /// Power is off: dropped, reported done.
    Drop,
}

/// The wrapper's mutable state.
#[derive(Default)]
struct State {
    plan: FaultPlan,
    /// Read and write bios seen since the plan was armed.
    reads: u64,
    writes: u64,
    /// The power is off: writes and flushes are dropped.
    off: bool,
    /// Old contents of what was written since the last flush: (device byte offset, bytes).
    undo: Vec<(u64, AlignedBuf)>,
    /// Sectors already in `undo`.
    saved: RangeSet,
}

impl State {
    fn logging(&self) -> bool {
        self.plan.power_cut.is_some()
    }

    /// The fate of a bio that is number `ordinal` of its direction.
    fn fate(&self, op: BioOp, offset: u64, len: u64, ordinal: u64) -> (Fate, Option<&'static str>) {
        if self.off {
            return match op {
                BioOp::Write => (Fate::Drop, None),
                BioOp::Read => (Fate::Pass, None),
            };
        }
        if self.plan.bad_ranges.iter().any(|r| offset < r.end && r.start < offset + len) {
            return (Fate::Fail, Some("range"));
        }
        match op {
            BioOp::Read if self.plan.read.is_some_and(|n| n.hits(ordinal)) => (Fate::Fail, Some("read")),
            BioOp::Write if self.plan.write.is_some_and(|n| n.hits(ordinal)) => (Fate::Fail, Some("write")),
            BioOp::Write => match self.plan.short_write {
                Some(s) if s.n == ordinal => (Fate::Short(s.landed.min(len)), Some("short")),
                _ => (Fate::Pass, None),
            },
            BioOp::Read => (Fate::Pass, None),
        }
    }
}

/// A [`BlockDev`] that injects the faults of a [`FaultPlan`] into the device it wraps.
pub struct FaultDev {
    inner: Arc<dyn BlockDev>,
    state: Mutex<State>,
    counters: Counters,
    faults: FaultCounters,
}

impl FaultDev {
    /// Wraps `inner`, with `plan` armed at once.
    pub fn new(inner: Arc<dyn BlockDev>, plan: FaultPlan) -> Result<FaultDev, DevError> {
        let dev = FaultDev {
            inner,
            state: Mutex::new(State::default()),
            counters: Counters::default(),
            faults: FaultCounters::default(),
        };
        dev.arm(plan)?;
        Ok(dev)
    }

    /// The device underneath.
    pub fn inner(&self) -> &Arc<dyn BlockDev> {
        &self.inner
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere does not break it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the plan and starts counting bios from zero (e.g. once a filesystem has been
    /// formatted and mounted, so that bio numbers count the workload's I/O only). The undo log
    /// starts empty.
    pub fn arm(&self, plan: FaultPlan) -> Result<(), DevError> {
        plan.check()?;
        let mut st = self.lock();
        st.plan = plan;
        st.reads = 0;
        st.writes = 0;
        st.undo.clear();
        st.saved = RangeSet::new();
        Ok(())
    }

    /// Cuts the power now: writes since the last flush are undone on the device, which is
    /// then flushed; from then on writes and flushes are dropped (reads still see the
    /// device) until [`FaultDev::power_on`]. Needs a plan with a [`PowerCut`]. Cutting an
    /// already cut device does nothing.
    pub fn power_cut(&self) -> Result<(), DevError> {
        let mut st = self.lock();
        if !st.logging() {
            return Err(DevError::BadRequest(
                "power cut without an undo log: arm a fault plan with a power cut first".into(),
            ));
        }
        self.cut_locked(&mut st)
    }

    fn cut_locked(&self, st: &mut State) -> Result<(), DevError> {
        if st.off {
            return Ok(());
        }
        let undo = std::mem::take(&mut st.undo);
        st.saved = RangeSet::new();
        st.off = true;
        self.faults.power_cuts.fetch_add(1, Relaxed);
        let mut batch = BioBatch::new();
        for (offset, mut old) in undo.into_iter().rev() {
            batch.clear();
            batch.start(BioOp::Write, offset);
            // SAFETY: `old` lives until the batch has completed, below.
            unsafe { batch.add_seg(old.as_mut_ptr(), old.len()) };
            self.inner.submit(&mut batch)?;
            if let Some((_, errno)) = batch.first_error() {
                return Err(io_error("write", offset, errno));
            }
            self.faults.reverted_bytes.fetch_add(old.len() as u64, Relaxed);
        }
        self.inner.flush()
    }

    /// Cuts the power right after the `n`th write bio from now (1: the next one), keeping the
    /// undo log gathered so far. Needs a plan with a [`PowerCut`].
    pub fn cut_after_writes(&self, n: u64) -> Result<(), DevError> {
        let mut st = self.lock();
        if !st.logging() {
            return Err(DevError::BadRequest(
                "power cut without an undo log: arm a fault plan with a power cut first".into(),
            ));
        }
        st.plan.power_cut = Some(PowerCut::AfterWrite(st.writes + n.max(1)));
        Ok(())
    }

    /// Whether the power is off.
    pub fn is_cut(&self) -> bool {
        self.lock().off
    }

    /// Powers the device on after a cut: writes reach it again. The plan stays armed, and bio
    /// numbers keep counting.
    pub fn power_on(&self) {
        self.lock().off = false;
    }

    /// The faults injected so far.
    pub fn fault_stats(&self) -> FaultStats {
        let f = &self.faults;
        FaultStats {
            failed_reads: f.failed_reads.load(Relaxed),
            failed_writes: f.failed_writes.load(Relaxed),
            bad_range_ios: f.bad_range_ios.load(Relaxed),
            short_writes: f.short_writes.load(Relaxed),
            power_cuts: f.power_cuts.load(Relaxed),
            reverted_bytes: f.reverted_bytes.load(Relaxed),
            dropped_writes: f.dropped_writes.load(Relaxed),
        }
    }

    fn count_fault(&self, why: &str) {
        let c = match why {
            "read" => &self.faults.failed_reads,
            "write" => &self.faults.failed_writes,
            "range" => &self.faults.bad_range_ios,
            _ => &self.faults.short_writes,
        };
        c.fetch_add(1, Relaxed);
    }

    /// Keeps the current contents of the sectors of `[offset, offset + len)` not yet in the
    /// undo log.
    fn save_old(&self, st: &mut State, offset: u64, len: u64) -> Result<(), DevError> {
        let (first, end) = (offset / SECTOR, (offset + len).div_ceil(SECTOR));
        let mut at = first;
        let mut batch = BioBatch::new();
        while at < end {
            if let Some((s, l)) = st.saved.find(at) {
                at = s + l;
                continue;
            }
            let gap_end = st.saved.next_from(at).unwrap_or(end).min(end);
            let (byte, bytes) = (at * SECTOR, (gap_end - at) * SECTOR);
            let mut old = AlignedBuf::zeroed(bytes as usize);
            batch.clear();
            batch.start(BioOp::Read, byte);
            // SAFETY: `old` outlives the batch, which completes below.
            unsafe { batch.add_seg(old.as_mut_ptr(), old.len()) };
            self.inner.submit(&mut batch)?;
            if let Some((_, errno)) = batch.first_error() {
                return Err(io_error("read", byte, errno));
            }
            st.undo.push((byte, old));
            st.saved.insert(at, gap_end - at);
            at = gap_end;
        }
        Ok(())
    }

    /// The slow path: some bio of `batch` is perturbed (or the undo log is kept). The bios
    /// that reach the device go in one sub-batch; statuses are mapped back.
    fn submit_perturbed(&self, st: &mut State, batch: &mut BioBatch) -> Result<(), DevError> {
        let mut fates = Vec::with_capacity(batch.len());
        let mut cut_after: Option<usize> = None;
        for (i, bio) in batch.bios().iter().enumerate() {
            if cut_after.is_some() {
                fates.push(match bio.op {
                    BioOp::Write => Fate::Drop,
                    BioOp::Read => Fate::Pass,
                });
                continue;
            }
            let ordinal = match bio.op {
                BioOp::Read => {
                    st.reads += 1;
                    st.reads
                }
                BioOp::Write => {
                    st.writes += 1;
                    st.writes
                }
            };
            let (fate, why) = st.fate(bio.op, bio.offset, bio.len, ordinal);
            if let Some(why) = why {
                self.count_fault(why);
            }
            if bio.op == BioOp::Write && !st.off && st.plan.power_cut == Some(PowerCut::AfterWrite(ordinal)) {
                cut_after = Some(i);
            }
            fates.push(fate);
        }
        let mut sub = BioBatch::new();
        let mut sub_of = Vec::with_capacity(batch.len());
        for (i, fate) in fates.iter_mut().enumerate() {
            let bio = batch.bios()[i];
            let len = match *fate {
                Fate::Pass => bio.len,
                Fate::Short(n) if n > 0 => n,
                _ => {
                    sub_of.push(None);
                    continue;
                }
            };
            // Without the old contents the write could not be undone: it fails instead.
            if bio.op == BioOp::Write && st.logging() && self.save_old(st, bio.offset, len).is_err() {
                *fate = Fate::Fail;
                sub_of.push(None);
                continue;
            }
            sub.start(bio.op, bio.offset);
            let mut left = len;
            for seg in batch.segs(i) {
                if left == 0 {
                    break;
                }
                let n = (seg.len() as u64).min(left);
                // SAFETY: the segment belongs to `batch`, whose memory the caller keeps valid
                // until this submit returns; the sub-batch completes before that.
                unsafe { sub.add_seg(seg.ptr(), n as usize) };
                left -= n;
            }
            sub_of.push(Some(sub.len() - 1));
        }
        if !sub.is_empty() {
            // A refused batch (a filesystem bug: misaligned or out of range) is not counted.
            self.inner.submit(&mut sub)?;
        }
        for (i, fate) in fates.iter().enumerate() {
            let bio = batch.bios()[i];
            match bio.op {
                BioOp::Read => self.counters.read(bio.len),
                BioOp::Write => self.counters.write(bio.len),
            }
            let status = match (*fate, sub_of[i]) {
                (Fate::Drop, _) => {
                    self.faults.dropped_writes.fetch_add(1, Relaxed);
                    Ok(())
                }
                (Fate::Pass, Some(j)) => sub.status(j),
                (Fate::Fail | Fate::Short(_), _) | (Fate::Pass, None) => Err(libc::EIO),
            };
            if status.is_err() {
                self.counters.error();
            }
            batch.set_status(i, status);
        }
        if cut_after.is_some() {
            self.cut_locked(st)?;
        }
        Ok(())
    }
}

fn io_error(op: &'static str, offset: u64, errno: i32) -> DevError {
    DevError::Io { op, offset, source: std::io::Error::from_raw_os_error(errno) }
}

impl BlockDev for FaultDev {
    fn engine_name(&self) -> &'static str {
        self.inner.engine_name()
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn is_direct(&self) -> bool {
        self.inner.is_direct()
    }

    fn submit(&self, batch: &mut BioBatch) -> Result<(), DevError> {
        let mut st = self.lock();
        let (mut reads, mut writes) = (st.reads, st.writes);
        let mut clean = !st.logging() && !st.off;
        for bio in batch.bios() {
            if !clean {
                break;
            }
            let ordinal = match bio.op {
                BioOp::Read => {
                    reads += 1;
                    reads
                }
                BioOp::Write => {
                    writes += 1;
                    writes
                }
            };
            clean = st.fate(bio.op, bio.offset, bio.len, ordinal).0 == Fate::Pass;
        }
        if !clean {
            // Held across the device I/O: the undo log must match what reached the device,
            // and a power cut must not race a write.
            return self.submit_perturbed(&mut st, batch);
        }
        st.reads = reads;
        st.writes = writes;
        drop(st);
        self.inner.submit(batch)?;
        for (i, bio) in batch.bios().iter().enumerate() {
            match bio.op {
                BioOp::Read => self.counters.read(bio.len),
                BioOp::Write => self.counters.write(bio.len),
            }
            if batch.status(i).is_err() {
                self.counters.error();
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), DevError> {
        self.counters.flush();
        let mut st = self.lock();
        if st.off {
            return Ok(());
        }
        self.inner.flush().inspect_err(|_| self.counters.error())?;
        st.undo.clear();
        st.saved = RangeSet::new();
        Ok(())
    }

    fn stats(&self) -> DevStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::MemDev;
    use crate::dev::testutil;

    fn mem(size: u64) -> Arc<dyn BlockDev> {
        Arc::new(MemDev::new(size).unwrap())
    }

    /// One bio of `len` bytes at `offset` from `buf`; returns its status.
    fn io(dev: &dyn BlockDev, op: BioOp, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
        let mut batch = BioBatch::new();
        batch.start(op, offset);
        // SAFETY: `buf` outlives the batch.
        unsafe { batch.add_seg(buf.as_mut_ptr(), buf.len()) };
        dev.submit(&mut batch).unwrap();
        batch.status(0)
    }

    fn read_back(dev: &dyn BlockDev, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        io(dev, BioOp::Read, offset, &mut buf).unwrap();
        buf
    }

    #[test]
    fn an_empty_plan_passes_the_engine_suite() {
        testutil::engine_suite("mem", &|size| Arc::new(FaultDev::new(mem(size), FaultPlan::default()).unwrap()));
    }

    #[test]
    fn the_nth_read_and_write_fail_once_or_from_then_on() {
        let plan =
            FaultPlan { read: Some(NthBio::once(2)), write: Some(NthBio::from_then_on(3)), ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        let mut b = vec![7u8; 4096];
        let writes: Vec<_> = (0..4).map(|i| io(&dev, BioOp::Write, i * 4096, &mut b).is_ok()).collect();
        assert_eq!(writes, [true, true, false, false]);
        let reads: Vec<_> = (0..3).map(|i| io(&dev, BioOp::Read, i * 4096, &mut b).is_ok()).collect();
        assert_eq!(reads, [true, false, true]);
        let f = dev.fault_stats();
        assert_eq!((f.failed_reads, f.failed_writes), (1, 2));
        let s = dev.stats();
        assert_eq!((s.reads, s.writes, s.errors), (3, 4, 3));
        // The failed writes never reached the device.
        assert_eq!(read_back(dev.inner().as_ref(), 2 * 4096, 4096), vec![0u8; 4096]);
        assert_eq!(read_back(dev.inner().as_ref(), 4096, 4096), vec![7u8; 4096]);
        // Re-arming restarts the count.
        dev.arm(FaultPlan { read: Some(NthBio::once(1)), ..FaultPlan::default() }).unwrap();
        assert_eq!(io(&dev, BioOp::Write, 0, &mut b), Ok(()));
        assert_eq!(io(&dev, BioOp::Read, 0, &mut b), Err(libc::EIO));
    }

    #[test]
    fn bios_touching_a_bad_range_fail_and_others_in_the_batch_do_not() {
        let plan = FaultPlan { bad_ranges: vec![BadRange { start: 8192, end: 8704 }], ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        let mut a = vec![1u8; 4096];
        let mut b = vec![2u8; 4096];
        let mut batch = BioBatch::new();
        for (off, buf) in [(4096u64, &mut a), (8192, &mut b)] {
            batch.start(BioOp::Write, off);
            // SAFETY: the buffers outlive the batch.
            unsafe { batch.add_seg(buf.as_mut_ptr(), 4096) };
        }
        dev.submit(&mut batch).unwrap();
        assert_eq!((batch.status(0), batch.status(1)), (Ok(()), Err(libc::EIO)));
        assert_eq!(read_back(dev.inner().as_ref(), 4096, 4096), vec![1u8; 4096]);
        assert_eq!(read_back(dev.inner().as_ref(), 8192, 4096), vec![0u8; 4096]);
        // Reads touching the range fail too; ones next to it do not.
        let mut r = vec![0u8; 1024];
        assert_eq!(io(&dev, BioOp::Read, 8192 - 512, &mut r), Err(libc::EIO));
        assert_eq!(io(&dev, BioOp::Read, 8192 - 1024, &mut r), Ok(()));
        assert_eq!(io(&dev, BioOp::Read, 8704, &mut r), Ok(()));
        assert_eq!(dev.fault_stats().bad_range_ios, 2);
    }

    #[test]
    fn a_short_write_lands_its_first_bytes_and_fails() {
        let plan = FaultPlan { short_write: Some(ShortWrite { n: 2, landed: 1024 }), ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        let mut b = vec![9u8; 4096];
        assert_eq!(io(&dev, BioOp::Write, 0, &mut b), Ok(()));
        assert_eq!(io(&dev, BioOp::Write, 8192, &mut b), Err(libc::EIO));
        let back = read_back(&dev, 8192, 4096);
        assert!(back[..1024].iter().all(|&x| x == 9) && back[1024..].iter().all(|&x| x == 0));
        assert_eq!(dev.fault_stats().short_writes, 1);
        // Landing more than the bio holds writes all of it, and still fails.
        let plan = FaultPlan { short_write: Some(ShortWrite { n: 1, landed: 1 << 20 }), ..FaultPlan::default() };
        dev.arm(plan).unwrap();
        assert_eq!(io(&dev, BioOp::Write, 16384, &mut b), Err(libc::EIO));
        assert_eq!(read_back(&dev, 16384, 4096), vec![9u8; 4096]);
    }

    #[test]
    fn a_power_cut_undoes_writes_since_the_last_flush_and_drops_later_ones() {
        let plan = FaultPlan { power_cut: Some(PowerCut::OnDemand), ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        let mut old = vec![1u8; 8192];
        io(&dev, BioOp::Write, 0, &mut old).unwrap();
        dev.flush().unwrap();
        let mut new = vec![2u8; 4096];
        io(&dev, BioOp::Write, 4096, &mut new).unwrap();
        // Twice over the same range, and a write straddling saved and unsaved sectors.
        io(&dev, BioOp::Write, 4096, &mut new).unwrap();
        let mut wide = vec![3u8; 8192];
        io(&dev, BioOp::Write, 4096, &mut wide).unwrap();
        assert_eq!(read_back(&dev, 8192, 4096), vec![3u8; 4096]);
        dev.power_cut().unwrap();
        assert!(dev.is_cut());
        assert_eq!(read_back(&dev, 0, 8192), vec![1u8; 8192]);
        assert_eq!(read_back(&dev, 8192, 4096), vec![0u8; 4096]);
        // Power off: writes and flushes are dropped.
        io(&dev, BioOp::Write, 0, &mut new).unwrap();
        dev.flush().unwrap();
        assert_eq!(read_back(&dev, 0, 4096), vec![1u8; 4096]);
        dev.power_on();
        io(&dev, BioOp::Write, 0, &mut new).unwrap();
        assert_eq!(read_back(&dev, 0, 4096), vec![2u8; 4096]);
        let f = dev.fault_stats();
        assert_eq!((f.power_cuts, f.reverted_bytes, f.dropped_writes), (1, 8192, 1));
    }

    #[test]
    fn a_power_cut_after_the_nth_write_drops_the_rest_of_its_batch() {
        let plan = FaultPlan { power_cut: Some(PowerCut::AfterWrite(2)), ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        let mut bufs = [vec![4u8; 4096], vec![5u8; 4096], vec![6u8; 4096]];
        let mut batch = BioBatch::new();
        for (i, b) in bufs.iter_mut().enumerate() {
            batch.start(BioOp::Write, i as u64 * 4096);
            // SAFETY: the buffers outlive the batch.
            unsafe { batch.add_seg(b.as_mut_ptr(), 4096) };
        }
        dev.submit(&mut batch).unwrap();
        assert_eq!(batch.first_error(), None);
        assert!(dev.is_cut());
        // All three are gone: two undone, one dropped.
        assert_eq!(read_back(&dev, 0, 3 * 4096), vec![0u8; 3 * 4096]);
        let f = dev.fault_stats();
        assert_eq!((f.power_cuts, f.reverted_bytes, f.dropped_writes), (1, 8192, 1));
    }

    #[test]
    fn a_cut_set_for_later_keeps_the_undo_log_of_earlier_writes() {
        let plan = FaultPlan { power_cut: Some(PowerCut::OnDemand), ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        let mut b = vec![7u8; 4096];
        io(&dev, BioOp::Write, 0, &mut b).unwrap();
        dev.cut_after_writes(2).unwrap();
        io(&dev, BioOp::Write, 4096, &mut b).unwrap();
        assert!(!dev.is_cut());
        io(&dev, BioOp::Write, 8192, &mut b).unwrap();
        assert!(dev.is_cut());
        assert_eq!(read_back(&dev, 0, 3 * 4096), vec![0u8; 3 * 4096], "all three writes undone");
        let idle = FaultDev::new(mem(1 << 20), FaultPlan::default()).unwrap();
        assert!(matches!(idle.cut_after_writes(1), Err(DevError::BadRequest(_))));
    }

    #[test]
    fn bad_plans_are_refused() {
        let msg = |plan: FaultPlan| match FaultDev::new(mem(1 << 20), plan) {
            Err(DevError::BadRequest(m)) => m,
            _ => panic!("accepted"),
        };
        assert_eq!(
            msg(FaultPlan { read: Some(NthBio::once(0)), ..FaultPlan::default() }),
            "fault plan: read bio numbers start at 1"
        );
        assert!(
            msg(FaultPlan { short_write: Some(ShortWrite { n: 1, landed: 100 }), ..FaultPlan::default() })
                .contains("not a multiple of 512")
        );
        assert!(
            msg(FaultPlan { bad_ranges: vec![BadRange { start: 5, end: 5 }], ..FaultPlan::default() })
                .contains("is empty")
        );
        let dev = FaultDev::new(mem(1 << 20), FaultPlan::default()).unwrap();
        assert!(matches!(dev.power_cut(), Err(DevError::BadRequest(_))));
    }
}
