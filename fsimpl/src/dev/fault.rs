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
//! write and memory for every byte written since the last flush; with a power cut armed (or a
//! bio to perturb), bios go through the wrapper one at a time, each waited for.
//!
//! Like `dm-flakey`, the wrapper is a bio-based device stacked on the one it wraps: a bio it
//! lets through is cloned to the device underneath, and ends when the clone does. Its counters
//! are those of the device underneath, plus the bios it failed itself.
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

use super::bio::{BioEndIo, bio_endio};
use super::sync::{read_at, submit_bio_wait, write_at};
use super::{Bio, BioOp, BlockDev, DevError, DevStats, QueueLimits};
use crate::buf::AlignedBuf;
use crate::rangeset::RangeSet;

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
                BioOp::Read => (Fate::Pass, None),
                _ => (Fate::Drop, None),
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
            _ => (Fate::Pass, None),
        }
    }
}

/// A [`BlockDev`] that injects the faults of a [`FaultPlan`] into the device it wraps.
pub struct FaultDev {
    inner: Arc<dyn BlockDev>,
    state: Mutex<State>,
    faults: FaultCounters,
    /// Bios failed here, which never reached the device.
    injected_errors: AtomicU64,
}

/// Ends the original bio when its clone, sent to the device underneath, ends (dm's
/// `clone_endio`).
struct CloneEnd;

impl BioEndIo for CloneEnd {
    fn bio_end_io(&self, clone: Box<Bio>) {
        // SAFETY: `private` holds the original bio, leaked in `FaultDev::pass` for this clone.
        let orig = unsafe { Box::from_raw(clone.private as *mut Bio) };
        if let Err(e) = clone.status() {
            orig.set_error(e);
        }
        bio_endio(orig);
    }
}

/// A bio over the first `len` bytes of `bio`'s memory.
fn clone_prefix(bio: &Bio, len: u64) -> Box<Bio> {
    let mut c = Bio::new(bio.op, bio.offset);
    c.fua = bio.fua;
    let mut left = len;
    for seg in bio.segs() {
        if left == 0 {
            break;
        }
        let n = (seg.len() as u64).min(left);
        // SAFETY: the memory is the original bio's, valid until it ends, which is after the
        // clone ends.
        unsafe { c.add_seg(seg.ptr(), n as usize) };
        left -= n;
    }
    c
}

impl FaultDev {
    /// Wraps `inner`, with `plan` armed at once.
    pub fn new(inner: Arc<dyn BlockDev>, plan: FaultPlan) -> Result<FaultDev, DevError> {
        let dev = FaultDev {
            inner,
            state: Mutex::new(State::default()),
            faults: FaultCounters::default(),
            injected_errors: AtomicU64::new(0),
        };
        dev.arm(plan)?;
        Ok(dev)
    }

    /// The device underneath.
    pub fn inner(&self) -> &Arc<dyn BlockDev> {
        &self.inner
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::kernel::lock(&self.state)
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
        // A cut planned after more writes has come now: it must not come again when the
        // filesystem mounts after power-on (journal recovery writes).
        if let Some(PowerCut::AfterWrite(_)) = st.plan.power_cut {
            st.plan.power_cut = Some(PowerCut::OnDemand);
        }
        self.faults.power_cuts.fetch_add(1, Relaxed);
        for (offset, old) in undo.into_iter().rev() {
            write_at(self.inner.as_ref(), offset, &old)?;
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
        while at < end {
            if let Some((s, l)) = st.saved.find(at) {
                at = s + l;
                continue;
            }
            let gap_end = st.saved.next_from(at).unwrap_or(end).min(end);
            let (byte, bytes) = (at * SECTOR, (gap_end - at) * SECTOR);
            let mut old = AlignedBuf::zeroed(bytes as usize);
            read_at(self.inner.as_ref(), byte, &mut old)?;
            st.undo.push((byte, old));
            st.saved.insert(at, gap_end - at);
            at = gap_end;
        }
        Ok(())
    }

    /// Sends `bio` to the device underneath as a clone that ends it (`__map_bio`).
    fn pass(&self, bio: Box<Bio>) {
        let mut clone = clone_prefix(&bio, bio.len());
        clone.end_io = Some(Arc::new(CloneEnd));
        clone.private = Box::into_raw(bio) as usize;
        self.inner.submit_bio(clone);
    }

    fn fail(&self, bio: Box<Bio>) {
        self.injected_errors.fetch_add(1, Relaxed);
        bio.set_error(libc::EIO);
        bio_endio(bio);
    }

    /// The slow path, under the state lock: the bio meets its fate, waited for, so that the
    /// undo log matches what reached the device and a power cut cannot race a write. Returns
    /// the bio to end once the lock is dropped.
    fn perturb(&self, st: &mut State, bio: Box<Bio>, fate: Fate, cut_after: bool) -> Box<Bio> {
        let status = match fate {
            Fate::Drop => {
                self.faults.dropped_writes.fetch_add(1, Relaxed);
                Ok(())
            }
            Fate::Fail => Err(libc::EIO),
            Fate::Short(n) => {
                if n > 0 && (!st.logging() || self.save_old(st, bio.offset, n).is_ok()) {
                    let _ = submit_bio_wait(self.inner.as_ref(), clone_prefix(&bio, n));
                }
                Err(libc::EIO)
            }
            Fate::Pass => {
                // Without the old contents the write could not be undone: it fails instead.
                if bio.op == BioOp::Write && st.logging() && self.save_old(st, bio.offset, bio.len()).is_err() {
                    Err(libc::EIO)
                } else {
                    match submit_bio_wait(self.inner.as_ref(), clone_prefix(&bio, bio.len())) {
                        Ok(c) => c.status(),
                        Err(e) => Err(e.errno()),
                    }
                }
            }
        };
        if let Err(e) = status {
            if !matches!(fate, Fate::Pass) {
                self.injected_errors.fetch_add(1, Relaxed);
            }
            bio.set_error(e);
        }
        if cut_after {
            // A cut that cannot write its undo log back leaves the device as it is.
            let _ = self.cut_locked(st);
        }
        bio
    }
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

    fn limits(&self) -> QueueLimits {
        self.inner.limits()
    }

    fn submit_bio(&self, bio: Box<Bio>) {
        if bio.op == BioOp::Flush {
            let status = self.flush().map_err(|e| e.errno());
            if let Err(e) = status {
                bio.set_error(e);
            }
            bio_endio(bio);
            return;
        }
        let mut st = self.lock();
        let ordinal = if bio.op == BioOp::Read {
            st.reads += 1;
            st.reads
        } else {
            st.writes += 1;
            st.writes
        };
        let (fate, why) = st.fate(bio.op, bio.offset, bio.len(), ordinal);
        if let Some(why) = why {
            self.count_fault(why);
        }
        let cut_after = bio.op == BioOp::Write && !st.off && st.plan.power_cut == Some(PowerCut::AfterWrite(ordinal));
        if fate == Fate::Pass && !st.logging() {
            drop(st);
            return self.pass(bio);
        }
        if fate == Fate::Fail && !st.logging() {
            drop(st);
            return self.fail(bio);
        }
        let bio = self.perturb(&mut st, bio, fate, cut_after);
        drop(st);
        bio_endio(bio);
    }

    fn flush(&self) -> Result<(), DevError> {
        let mut st = self.lock();
        if st.off {
            return Ok(());
        }
        self.inner.flush()?;
        st.undo.clear();
        st.saved = RangeSet::new();
        Ok(())
    }

    fn stats(&self) -> DevStats {
        let mut s = self.inner.stats();
        s.errors += self.injected_errors.load(Relaxed);
        s
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

    fn bio(op: BioOp, offset: u64, buf: &mut [u8]) -> Box<Bio> {
        let mut bio = Bio::new(op, offset);
        // SAFETY: the callers keep `buf` until the bio has ended.
        unsafe { bio.add_seg(buf.as_mut_ptr(), buf.len()) };
        bio
    }

    /// One bio of `len` bytes at `offset` from `buf`; returns its status.
    fn io(dev: &dyn BlockDev, op: BioOp, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
        submit_bio_wait(dev, bio(op, offset, buf)).unwrap().status()
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
        assert_eq!((s.reads, s.writes, s.errors), (2, 2, 3), "failed bios never reach the device");
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
        let st =
            crate::dev::submit_all_wait(&dev, vec![bio(BioOp::Write, 4096, &mut a), bio(BioOp::Write, 8192, &mut b)])
                .unwrap();
        assert_eq!(st, [Ok(()), Err(libc::EIO)]);
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
    fn a_power_cut_after_the_nth_write_drops_the_later_ones() {
        let plan = FaultPlan { power_cut: Some(PowerCut::AfterWrite(2)), ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        let mut bufs = [vec![4u8; 4096], vec![5u8; 4096], vec![6u8; 4096]];
        let bios = bufs.iter_mut().enumerate().map(|(i, b)| bio(BioOp::Write, i as u64 * 4096, b)).collect();
        let st = crate::dev::submit_all_wait(&dev, bios).unwrap();
        assert_eq!(st, [Ok(()); 3]);
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
    fn a_cut_now_spends_a_cut_set_for_later() {
        let plan = FaultPlan { power_cut: Some(PowerCut::OnDemand), ..FaultPlan::default() };
        let dev = FaultDev::new(mem(1 << 20), plan).unwrap();
        dev.cut_after_writes(1).unwrap();
        dev.power_cut().unwrap();
        dev.power_on();
        // The write a mount makes after power-on (journal recovery) reaches the device.
        let mut b = vec![8u8; 4096];
        io(&dev, BioOp::Write, 0, &mut b).unwrap();
        assert!(!dev.is_cut());
        assert_eq!(read_back(&dev, 0, 4096), b);
        assert_eq!(dev.fault_stats().power_cuts, 1);
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
