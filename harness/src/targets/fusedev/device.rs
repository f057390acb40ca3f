//! [`DevState`]: the device aopsbench serves to the kernel — its write log, the live view of
//! it, the crash state being served, injected faults, and counters.
//!
//! Every write that reaches the server (offset, length, data) and every flush is appended to
//! an in-order log ([`Record`]), tagged with the workload op that was running ([`DevState::set_op`]);
//! the harness adds a marker when each op returns ([`DevState::op_done`]), so that a crash point
//! tells which ops had completed. Write data goes to an anonymous file in the backing directory
//! (`O_TMPFILE`: nothing to delete, even after `kill -9`). The live device is an [`ExtentMap`]
//! over that file; so is every crash state, which adds a copy-on-write store for what journal
//! recovery writes.
//!
//! Writes and flushes arrive as the block layer sends them to a loop device over a file: a
//! flush (`REQ_PREFLUSH`, or the post-flush of a `REQ_FUA` write — the loop device does not
//! advertise FUA, so `blk-flush` turns a FUA write into a write and a flush) is an `fsync` of
//! the file (`lo_req_flush` → `vfs_fsync`); a discard or write-zeroes is an `fallocate` punching
//! or zeroing the range (`lo_fallocate`), logged as a write of zeros.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use fsimpl::dev::{FaultPlan, FaultStats, NthBio, PowerCut};

use super::extents::{ExtentMap, Source};

/// One event of the log, in the order the server saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// A write of `len` bytes at device byte `offset`; `src` is [`Source::Log`] (its data in
    /// the log's data file) or [`Source::Zero`] (a discard or write-zeroes).
    Write {
        /// Device byte offset.
        offset: u64,
        /// Bytes.
        len: u64,
        /// Where its data is.
        src: Source,
        /// The workload op running when it arrived (0: none).
        op: u64,
    },
    /// A flush: every write before it is durable once it completes.
    Flush {
        /// The workload op running when it arrived (0: none).
        op: u64,
    },
    /// Workload op `op` returned (added by the harness, not the kernel).
    OpDone {
        /// The op's 1-based number.
        op: u64,
    },
}

/// Counters of what the server saw.
#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    read_bytes: AtomicU64,
    writes: AtomicU64,
    write_bytes: AtomicU64,
    zero_ranges: AtomicU64,
    zero_bytes: AtomicU64,
    flushes: AtomicU64,
}

/// A crash state being served: a map over the log plus what was written to it since.
#[derive(Debug, Default)]
struct CrashImage {
    map: ExtentMap,
    /// Bytes written to the crash state (journal recovery, fsck): [`Source::Cow`] positions.
    cow: Vec<u8>,
}

/// What faults the server injects, and where it is in the plan.
#[derive(Debug, Default)]
struct Faults {
    plan: FaultPlan,
    /// Read and write requests seen since arming.
    reads: u64,
    writes: u64,
    /// The power is off: writes and flushes are dropped until [`DevState::power_on`].
    off: bool,
    stats: FaultStats,
    /// One line per injected fault, oldest first.
    events: Vec<String>,
}

impl Faults {
    /// Whether `nth` hits request number `ordinal`.
    fn hits(nth: Option<NthBio>, ordinal: u64) -> bool {
        nth.is_some_and(|n| if n.sticky { ordinal >= n.n } else { ordinal == n.n })
    }

    fn in_bad_range(&self, offset: u64, len: u64) -> bool {
        self.plan.bad_ranges.iter().any(|r| offset < r.end && r.start < offset + len)
    }
}

/// The state behind the served files.
#[derive(Debug)]
struct Inner {
    log: Vec<Record>,
    data: File,
    data_len: u64,
    live: ExtentMap,
    /// Log position when the workload started (crash points come after it).
    armed_at: usize,
    crash: CrashImage,
    faults: Faults,
}

/// The device behind a logged kernel target: write log, live view, crash state, faults.
#[derive(Debug)]
pub struct DevState {
    size: u64,
    inner: Mutex<Inner>,
    op: AtomicU64,
    counters: Counters,
}

/// What a device request comes to.
pub(super) type Reply<T> = Result<T, i32>;

impl DevState {
    /// A zeroed device of `size` bytes, its write data kept in an anonymous file in `dir`.
    pub fn new(size: u64, dir: &Path) -> std::io::Result<Arc<DevState>> {
        let data = tempfile::tempfile_in(dir)?;
        Ok(Arc::new(DevState {
            size,
            inner: Mutex::new(Inner {
                log: Vec::new(),
                data,
                data_len: 0,
                live: ExtentMap::new(),
                armed_at: 0,
                crash: CrashImage::default(),
                faults: Faults::default(),
            }),
            op: AtomicU64::new(0),
            counters: Counters::default(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each update leaves the state whole; a panic elsewhere does not break it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Tags later records with workload op `op` (1-based; 0: none).
    pub fn set_op(&self, op: u64) {
        self.op.store(op, Relaxed);
    }

    /// Marks in the log that op `op` returned.
    pub fn op_done(&self, op: u64) {
        self.lock().log.push(Record::OpDone { op });
    }

    /// Starts the workload: crash points come after this log position, and fault `plan` is
    /// armed, its requests counted from here. Everything logged before counts as durable.
    pub fn arm(&self, plan: FaultPlan) {
        let mut st = self.lock();
        st.armed_at = st.log.len();
        st.faults = Faults { plan, ..Faults::default() };
    }

    /// The log position where the workload started.
    pub fn armed_at(&self) -> usize {
        self.lock().armed_at
    }

    /// A copy of the log.
    pub fn records(&self) -> Vec<Record> {
        self.lock().log.clone()
    }

    /// Reads write data from the log's data file at `pos`.
    pub fn read_log_data(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.lock().data.read_exact_at(buf, pos)
    }

    /// Serves `map` as the crash file's content, with an empty copy-on-write store.
    pub fn set_crash_state(&self, map: ExtentMap) {
        self.lock().crash = CrashImage { map, cow: Vec::new() };
    }

    /// Bytes written to the crash state being served (journal recovery, repairs).
    pub fn crash_cow_bytes(&self) -> u64 {
        self.lock().crash.cow.len() as u64
    }

    /// Turns the power back on after a cut: writes and flushes reach the device again.
    pub fn power_on(&self) {
        self.lock().faults.off = false;
    }

    /// Whether the power is cut.
    pub fn power_off(&self) -> bool {
        self.lock().faults.off
    }

    /// One line per fault injected so far.
    pub fn fault_events(&self) -> Vec<String> {
        self.lock().faults.events.clone()
    }

    /// What the server saw since the last reset, and the faults it injected.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let c = &self.counters;
        let mut out: BTreeMap<String, u64> = [
            ("logged_reads", &c.reads),
            ("logged_read_bytes", &c.read_bytes),
            ("logged_writes", &c.writes),
            ("logged_write_bytes", &c.write_bytes),
            ("logged_zero_ranges", &c.zero_ranges),
            ("logged_zero_bytes", &c.zero_bytes),
            ("logged_flushes", &c.flushes),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.load(Relaxed)))
        .collect();
        let st = self.lock();
        if !st.faults.plan.is_empty() {
            out.extend(st.faults.stats.to_pairs().into_iter().map(|(k, v)| (k.to_string(), v)));
        }
        out
    }

    /// Restarts the counters (not the fault plan's request numbers).
    pub fn reset_counters(&self) {
        let c = &self.counters;
        for a in [&c.reads, &c.read_bytes, &c.writes, &c.write_bytes, &c.zero_ranges, &c.zero_bytes, &c.flushes] {
            a.store(0, Relaxed);
        }
    }

    fn check_range(&self, offset: u64, len: u64) -> Reply<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(libc::EIO),
        }
    }

    /// Copies `[offset, offset + buf.len())` of `map` into `buf`.
    fn fill(inner: &Inner, map: &ExtentMap, cow: &[u8], offset: u64, buf: &mut [u8]) -> Reply<()> {
        for (a, b, src) in map.pieces(offset, offset + buf.len() as u64) {
            let out = &mut buf[(a - offset) as usize..(b - offset) as usize];
            match src {
                Source::Zero => out.fill(0),
                Source::Log(p) => {
                    inner.data.read_exact_at(out, p).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?
                }
                Source::Cow(p) => out.copy_from_slice(&cow[p as usize..p as usize + out.len()]),
            }
        }
        Ok(())
    }

    /// A read of the live device (`FUSE_READ` on `dev`).
    pub(super) fn dev_read(&self, offset: u64, len: u32) -> Reply<Vec<u8>> {
        let len = u64::from(len).min(self.size.saturating_sub(offset));
        let mut st = self.lock();
        st.faults.reads += 1;
        let ordinal = st.faults.reads;
        let faults = &st.faults;
        if !faults.off && (faults.in_bad_range(offset, len) || Faults::hits(faults.plan.read, ordinal)) {
            let why = if faults.in_bad_range(offset, len) { "in a bad range" } else { "the planned read" };
            if faults.in_bad_range(offset, len) {
                st.faults.stats.bad_range_ios += 1;
            } else {
                st.faults.stats.failed_reads += 1;
            }
            st.faults.events.push(format!("read #{ordinal} ({len} bytes at {offset}, {why}) failed with EIO"));
            return Err(libc::EIO);
        }
        let mut buf = vec![0; len as usize];
        let inner = &*st;
        Self::fill(inner, &inner.live, &[], offset, &mut buf)?;
        self.counters.reads.fetch_add(1, Relaxed);
        self.counters.read_bytes.fetch_add(len, Relaxed);
        Ok(buf)
    }

    /// A write to the live device (`FUSE_WRITE` on `dev`); `None` data: zeros (`fallocate`).
    pub(super) fn dev_write(&self, offset: u64, len: u64, data: Option<&[u8]>) -> Reply<()> {
        self.check_range(offset, len)?;
        let op = self.op.load(Relaxed);
        let mut st = self.lock();
        if st.faults.off {
            st.faults.stats.dropped_writes += 1;
            return Ok(());
        }
        st.faults.writes += 1;
        let ordinal = st.faults.writes;
        let mut landed = len;
        let mut failed = None;
        if st.faults.in_bad_range(offset, len) {
            st.faults.stats.bad_range_ios += 1;
            failed = Some("in a bad range");
            landed = 0;
        } else if Faults::hits(st.faults.plan.write, ordinal) {
            st.faults.stats.failed_writes += 1;
            failed = Some("the planned write");
            landed = 0;
        } else if let Some(s) = st.faults.plan.short_write.filter(|s| s.n == ordinal) {
            st.faults.stats.short_writes += 1;
            failed = Some("torn");
            landed = s.landed.min(len);
        }
        if landed > 0 {
            let src = match data {
                Some(data) => {
                    let pos = st.data_len;
                    st.data
                        .write_all_at(&data[..landed as usize], pos)
                        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
                    st.data_len += landed;
                    Source::Log(pos)
                }
                None => Source::Zero,
            };
            st.log.push(Record::Write { offset, len: landed, src, op });
            st.live.insert(offset, offset + landed, src);
            let (n, bytes) = match data {
                Some(_) => (&self.counters.writes, &self.counters.write_bytes),
                None => (&self.counters.zero_ranges, &self.counters.zero_bytes),
            };
            n.fetch_add(1, Relaxed);
            bytes.fetch_add(landed, Relaxed);
        }
        if let Some(why) = failed {
            let kept = if landed > 0 { format!("; its first {landed} bytes landed") } else { String::new() };
            st.faults.events.push(format!("write #{ordinal} ({len} bytes at {offset}, {why}) failed with EIO{kept}"));
            return Err(libc::EIO);
        }
        if st.faults.plan.power_cut == Some(PowerCut::AfterWrite(ordinal)) {
            Self::cut_power(&mut st);
        }
        Ok(())
    }

    /// A power cut now: the live device goes back to what the last flush made durable, and
    /// later writes and flushes are dropped until [`DevState::power_on`].
    fn cut_power(st: &mut Inner) {
        let last_flush = st.log.iter().rposition(|r| matches!(r, Record::Flush { .. })).unwrap_or(0);
        let durable = last_flush.max(st.armed_at);
        let mut map = ExtentMap::new();
        for r in &st.log[..durable] {
            if let Record::Write { offset, len, src, .. } = *r {
                map.insert(offset, offset + len, src);
            }
        }
        let reverted: u64 =
            st.log[durable..].iter().map(|r| if let Record::Write { len, .. } = r { *len } else { 0 }).sum();
        st.live = map;
        st.faults.off = true;
        st.faults.stats.power_cuts += 1;
        st.faults.stats.reverted_bytes += reverted;
        let n = st.faults.writes;
        st.faults.events.push(format!(
            "power cut after write #{n}: {reverted} bytes written since the last flush are lost; later writes \
             are dropped until the next remount"
        ));
    }

    /// A flush of the live device (`FUSE_FSYNC` on `dev`).
    pub(super) fn dev_flush(&self) {
        let op = self.op.load(Relaxed);
        let mut st = self.lock();
        if st.faults.off {
            return;
        }
        st.log.push(Record::Flush { op });
        self.counters.flushes.fetch_add(1, Relaxed);
    }

    /// A read of the crash state being served.
    pub(super) fn crash_read(&self, offset: u64, len: u32) -> Reply<Vec<u8>> {
        let len = u64::from(len).min(self.size.saturating_sub(offset));
        let st = self.lock();
        let mut buf = vec![0; len as usize];
        Self::fill(&st, &st.crash.map, &st.crash.cow, offset, &mut buf)?;
        Ok(buf)
    }

    /// A write to the crash state being served: into its copy-on-write store.
    pub(super) fn crash_write(&self, offset: u64, len: u64, data: Option<&[u8]>) -> Reply<()> {
        self.check_range(offset, len)?;
        let mut st = self.lock();
        let crash = &mut st.crash;
        let src = match data {
            Some(data) => {
                let pos = crash.cow.len() as u64;
                crash.cow.extend_from_slice(data);
                Source::Cow(pos)
            }
            None => Source::Zero,
        };
        crash.map.insert(offset, offset + len, src);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fsimpl::dev::{BadRange, ShortWrite};

    fn dev() -> Arc<DevState> {
        DevState::new(1 << 20, &std::env::temp_dir()).unwrap()
    }

    #[test]
    fn writes_read_back_and_are_logged_in_order_with_their_op() {
        let d = dev();
        d.set_op(7);
        d.dev_write(4096, 5, Some(b"hello")).unwrap();
        d.dev_flush();
        d.dev_write(4098, 2, None).unwrap();
        d.op_done(7);
        assert_eq!(d.dev_read(4094, 9).unwrap(), b"\0\0he\0\0o\0\0");
        let log = d.records();
        assert!(matches!(log[0], Record::Write { offset: 4096, len: 5, src: Source::Log(0), op: 7 }));
        assert_eq!(log[1], Record::Flush { op: 7 });
        assert!(matches!(log[2], Record::Write { offset: 4098, len: 2, src: Source::Zero, op: 7 }));
        assert_eq!(log[3], Record::OpDone { op: 7 });
        let c = d.counters();
        assert_eq!(
            (c["logged_writes"], c["logged_write_bytes"], c["logged_flushes"], c["logged_zero_bytes"]),
            (1, 5, 1, 2)
        );
        assert_eq!(d.dev_write(1 << 20, 1, Some(b"x")), Err(libc::EIO), "past the end");
    }

    #[test]
    fn faults_fail_tear_and_cut_as_planned() {
        let d = dev();
        let plan = FaultPlan {
            write: Some(NthBio::once(2)),
            short_write: Some(ShortWrite { n: 3, landed: 512 }),
            bad_ranges: vec![BadRange { start: 8192, end: 12288 }],
            power_cut: Some(PowerCut::AfterWrite(5)),
            ..FaultPlan::default()
        };
        d.arm(plan);
        d.dev_write(0, 512, Some(&[1; 512])).unwrap();
        assert_eq!(d.dev_write(512, 512, Some(&[2; 512])), Err(libc::EIO), "write 2 fails");
        assert_eq!(d.dev_write(1024, 1024, Some(&[3; 1024])), Err(libc::EIO), "write 3 is torn");
        assert_eq!(d.dev_read(512, 1536).unwrap(), [vec![0; 512], vec![3; 512], vec![0; 512]].concat());
        assert_eq!(d.dev_read(8192, 512), Err(libc::EIO), "a bad range");
        d.dev_flush();
        d.dev_write(4096, 512, Some(&[4; 512])).unwrap();
        d.dev_write(0, 512, Some(&[5; 512])).unwrap(); // write 5: the power goes after it
        assert!(d.power_off());
        d.dev_write(0, 512, Some(&[6; 512])).unwrap(); // dropped
        assert_eq!(d.dev_read(0, 512).unwrap(), vec![1; 512], "back to what the flush kept");
        assert_eq!(d.dev_read(4096, 512).unwrap(), vec![0; 512]);
        let c = d.counters();
        assert_eq!(
            (c["fault_failed_writes"], c["fault_short_writes"], c["fault_bad_range_ios"], c["fault_power_cuts"]),
            (1, 1, 1, 1)
        );
        assert_eq!((c["fault_reverted_bytes"], c["fault_dropped_writes"]), (1024, 1));
        assert_eq!(d.fault_events().len(), 4, "{:?}", d.fault_events());
        d.power_on();
        d.dev_write(0, 512, Some(&[7; 512])).unwrap();
        assert_eq!(d.dev_read(0, 512).unwrap(), vec![7; 512]);
    }
}
