//! Latency recording: one [`OpRecorder`] per worker thread × op kind on the hot path, finished
//! into an [`OpRecord`] that merges across threads.
//!
//! Like fio's per-thread `clat` stats, each op's completion latency goes into an HdrHistogram
//! (1 ns to 1 h, 3 significant digits). The recorder also keeps one histogram per second of the
//! run, from which come the interval logs (`.hlog`) and the throughput-over-time data (fio's
//! bandwidth log).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::error::ResultsError;

/// Lowest latency tracked, in nanoseconds.
pub const LOWEST_NS: u64 = 1;
/// Highest latency tracked, in nanoseconds (one hour); longer ops are counted as one hour.
pub const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;
/// Significant decimal digits kept by every histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Length of one accounting interval: one second.
pub const INTERVAL_NS: u64 = 1_000_000_000;

/// A fresh histogram with the crate's bounds (1 ns .. 1 h, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that the hdrhistogram crate accepts; this cannot fail.
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS).expect("constant histogram bounds are valid")
}

/// One second of one op kind: how many ops completed in it, their bytes, and their latencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalSample {
    /// Index of the second since the start of the job × target (`[second, second + 1)` s).
    pub second: u64,
    /// Ops completed in this second.
    pub ops: u64,
    /// Bytes those ops moved.
    pub bytes: u64,
    /// The latencies, as (value in ns, count) pairs of non-empty histogram buckets.
    pub latencies: Vec<(u64, u64)>,
}

impl IntervalSample {
    /// The latencies of this second as a histogram.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        for &(value, count) in &self.latencies {
            h.saturating_record_n(value, count);
        }
        h
    }
}

/// The hot-path recorder of one op kind in one worker thread.
///
/// `record` costs one histogram increment and a comparison; once per second of the run it moves
/// the second's histogram into the totals (the only allocation, never one per op).
///
/// Every recorder of one job × target must count time from the same epoch (the instant the
/// target's measurement started) so that their seconds line up when merged.
#[derive(Debug, Clone)]
pub struct OpRecorder {
    total: Histogram<u64>,
    current: Histogram<u64>,
    current_second: u64,
    current_end_ns: u64,
    current_bytes: u64,
    bytes: u64,
    intervals: Vec<IntervalSample>,
    /// Submission latency (fio's slat), for I/Os an asynchronous engine queued.
    slat: Option<Histogram<u64>>,
    /// Total latency (fio's lat: submission plus completion), for the same I/Os.
    lat: Option<Histogram<u64>>,
}

impl Default for OpRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl OpRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        OpRecorder {
            total: new_histogram(),
            current: new_histogram(),
            current_second: 0,
            current_end_ns: INTERVAL_NS,
            current_bytes: 0,
            bytes: 0,
            intervals: Vec::new(),
            slat: None,
            lat: None,
        }
    }

    /// Record one I/O an asynchronous engine queued: its submission latency `slat_ns` (issue to
    /// submitted) and completion latency `clat_ns` (submitted to completed), as fio defines
    /// them; the total is their sum. `clat_ns` goes where [`OpRecorder::record`] puts latency.
    #[inline]
    pub fn record_queued(&mut self, at_ns: u64, slat_ns: u64, clat_ns: u64, bytes: u64) {
        self.slat.get_or_insert_with(new_histogram).saturating_record(slat_ns);
        self.lat_mut().saturating_record(slat_ns.saturating_add(clat_ns));
        self.record_clat(at_ns, clat_ns, bytes);
    }

    /// Record one I/O that waited before a synchronous engine took it (fio's
    /// `io_submit_mode=offload`: queued to a submitting thread): its completion latency
    /// `clat_ns` from when the engine took it, its total `lat_ns` from when it was issued, and
    /// no submission latency, as fio accounts a synchronous engine's I/O.
    #[inline]
    pub fn record_waited(&mut self, at_ns: u64, clat_ns: u64, lat_ns: u64, bytes: u64) {
        self.lat_mut().saturating_record(lat_ns);
        self.record_clat(at_ns, clat_ns, bytes);
    }

    /// The total latencies, started on the first op recorded apart from its clat: the ops
    /// recorded before completed at once, so their total latency is their clat.
    fn lat_mut(&mut self) -> &mut Histogram<u64> {
        let (total, current) = (&self.total, &self.current);
        self.lat.get_or_insert_with(|| {
            let mut l = total.clone();
            let _ = l.add(current);
            l
        })
    }

    /// Record one completed op: it completed `at_ns` after the epoch, took `latency_ns`, and
    /// moved `bytes` (0 for ops that move no data, such as fsync).
    ///
    /// Latencies above one hour are counted as one hour. Completion times must not go back by
    /// more than a second; an op completing in an earlier second than the last one recorded is
    /// counted in the current second.
    #[inline]
    pub fn record(&mut self, at_ns: u64, latency_ns: u64, bytes: u64) {
        // Once a thread has queued I/O, an op that completed at once counts in its total too.
        if let Some(lat) = &mut self.lat {
            lat.saturating_record(latency_ns);
        }
        self.record_clat(at_ns, latency_ns, bytes);
    }

    #[inline]
    fn record_clat(&mut self, at_ns: u64, latency_ns: u64, bytes: u64) {
        if at_ns >= self.current_end_ns {
            self.roll_to(at_ns / INTERVAL_NS);
        }
        self.current.saturating_record(latency_ns);
        self.current_bytes += bytes;
    }

    /// Ops recorded so far.
    pub fn count(&self) -> u64 {
        self.total.len() + self.current.len()
    }

    /// Close the current second and hand back the totals.
    pub fn finish(mut self) -> OpRecord {
        self.close_current();
        OpRecord { histogram: self.total, bytes: self.bytes, intervals: self.intervals, slat: self.slat, lat: self.lat }
    }

    fn roll_to(&mut self, second: u64) {
        self.close_current();
        self.current_second = second;
        self.current_end_ns = second.saturating_add(1).saturating_mul(INTERVAL_NS);
    }

    fn close_current(&mut self) {
        if self.current.is_empty() {
            return;
        }
        let latencies = self.current.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        self.intervals.push(IntervalSample {
            second: self.current_second,
            ops: self.current.len(),
            bytes: self.current_bytes,
            latencies,
        });
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.total.add(&self.current);
        self.bytes += self.current_bytes;
        self.current.reset();
        self.current_bytes = 0;
    }
}

/// Everything recorded for one op kind: the whole-run histogram, the bytes moved and the
/// per-second samples. Produced by [`OpRecorder::finish`], merged across threads with
/// [`OpRecord::merge`].
#[derive(Debug, Clone)]
pub struct OpRecord {
    /// Completion latency of every op, in nanoseconds (fio's clat; for a synchronous op also
    /// its whole latency).
    pub histogram: Histogram<u64>,
    /// Bytes moved by all ops.
    pub bytes: u64,
    /// Per-second samples, sorted by second, one per second that saw an op.
    pub intervals: Vec<IntervalSample>,
    /// Submission latency of queued I/Os (fio's slat); `None` for synchronous engines.
    pub slat: Option<Histogram<u64>>,
    /// Total latency of queued I/Os (fio's lat); `None` for synchronous engines, whose total
    /// is [`OpRecord::histogram`].
    pub lat: Option<Histogram<u64>>,
}

impl Default for OpRecord {
    fn default() -> Self {
        OpRecord { histogram: new_histogram(), bytes: 0, intervals: Vec::new(), slat: None, lat: None }
    }
}

impl OpRecord {
    /// Ops recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Total latency: [`OpRecord::lat`] when the ops were queued, else the completion latency.
    pub fn total_latency(&self) -> &Histogram<u64> {
        self.lat.as_ref().unwrap_or(&self.histogram)
    }

    /// Add `other` (another thread's record of the same op kind and epoch) into `self`.
    pub fn merge(&mut self, other: &OpRecord) -> Result<(), ResultsError> {
        let merge = |e: hdrhistogram::errors::AdditionError| ResultsError::Merge { message: format!("{e:?}") };
        // A synchronous record's total latency is its completion latency: merged with a
        // queued one, it counts in the total as fio's sum_stat counts every thread's lat.
        if self.lat.is_some() || other.lat.is_some() {
            let mine = self.lat.get_or_insert_with(|| self.histogram.clone());
            mine.add(other.lat.as_ref().unwrap_or(&other.histogram)).map_err(merge)?;
        }
        self.histogram.add(&other.histogram).map_err(merge)?;
        if let Some(t) = &other.slat {
            self.slat.get_or_insert_with(new_histogram).add(t).map_err(merge)?;
        }
        self.bytes += other.bytes;
        let mut merged = Vec::with_capacity(self.intervals.len() + other.intervals.len());
        let mut a = std::mem::take(&mut self.intervals).into_iter().peekable();
        let mut b = other.intervals.iter().cloned().peekable();
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.second == y.second => {
                    let (mut x, y) = (a.next(), b.next());
                    if let (Some(x), Some(y)) = (x.as_mut(), y) {
                        x.ops += y.ops;
                        x.bytes += y.bytes;
                        x.latencies.extend(y.latencies);
                    }
                    x
                }
                (Some(x), Some(y)) if x.second < y.second => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            merged.extend(next);
        }
        self.intervals = merged;
        Ok(())
    }

    /// Merge several records (e.g. one per worker thread) into one.
    pub fn merged<'a>(records: impl IntoIterator<Item = &'a OpRecord>) -> Result<OpRecord, ResultsError> {
        let mut total = OpRecord::default();
        for r in records {
            total.merge(r)?;
        }
        Ok(total)
    }
}

/// One worker thread's recorders, one per op kind, looked up by op name.
///
/// A recorder is created the first time its op kind is seen; after that `record` does a short
/// linear search over a dozen names and no allocation.
#[derive(Debug, Clone, Default)]
pub struct RecorderSet {
    ops: Vec<(String, OpRecorder)>,
}

impl RecorderSet {
    /// No op kinds yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The recorder of `op`, created on first use.
    pub fn recorder(&mut self, op: &str) -> &mut OpRecorder {
        let index = match self.ops.iter().position(|(name, _)| name == op) {
            Some(i) => i,
            None => {
                self.ops.push((op.to_string(), OpRecorder::new()));
                self.ops.len() - 1
            }
        };
        &mut self.ops[index].1
    }

    /// Record one `op` (see [`OpRecorder::record`]).
    #[inline]
    pub fn record(&mut self, op: &str, at_ns: u64, latency_ns: u64, bytes: u64) {
        self.recorder(op).record(at_ns, latency_ns, bytes);
    }

    /// Finish every recorder.
    pub fn finish(self) -> BTreeMap<String, OpRecord> {
        self.ops.into_iter().map(|(name, r)| (name, r.finish())).collect()
    }
}

/// Merge the finished recorders of several threads into one record per op kind.
pub fn merge_threads(
    threads: impl IntoIterator<Item = BTreeMap<String, OpRecord>>,
) -> Result<BTreeMap<String, OpRecord>, ResultsError> {
    let mut merged: BTreeMap<String, OpRecord> = BTreeMap::new();
    for thread in threads {
        for (op, record) in thread {
            match merged.get_mut(&op) {
                Some(total) => total.merge(&record)?,
                None => {
                    merged.insert(op, record);
                }
            }
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_split_and_totals_kept() {
        let mut r = OpRecorder::new();
        r.record(10, 100, 4096);
        r.record(999_999_999, 200, 4096);
        r.record(1_000_000_000, 300, 4096);
        r.record(3_500_000_000, 400, 0);
        assert_eq!(r.count(), 4);
        let rec = r.finish();
        assert_eq!(rec.count(), 4);
        assert_eq!(rec.bytes, 3 * 4096);
        let secs: Vec<_> = rec.intervals.iter().map(|i| (i.second, i.ops, i.bytes)).collect();
        assert_eq!(secs, vec![(0, 2, 8192), (1, 1, 4096), (3, 1, 0)]);
        assert_eq!(rec.intervals[0].latencies, vec![(100, 1), (200, 1)]);
        assert_eq!(rec.histogram.max(), 400);
    }

    #[test]
    fn merge_adds_seconds_and_histograms() {
        let mut a = OpRecorder::new();
        let mut b = OpRecorder::new();
        a.record(0, 10, 1);
        a.record(2_000_000_000, 20, 1);
        b.record(500, 30, 2);
        b.record(1_000_000_000, 40, 2);
        let mut m = a.finish();
        m.merge(&b.finish()).unwrap();
        assert_eq!(m.count(), 4);
        assert_eq!(m.bytes, 6);
        let secs: Vec<_> = m.intervals.iter().map(|i| (i.second, i.ops, i.bytes)).collect();
        assert_eq!(secs, vec![(0, 2, 3), (1, 1, 2), (2, 1, 1)]);
        assert_eq!(m.intervals[0].histogram().len(), 2);
    }

    #[test]
    fn a_synchronous_record_counts_in_the_merged_total_latency() {
        for (mut m, other) in [(sync_rec(), queued_rec()), (queued_rec(), sync_rec())] {
            m.merge(&other).unwrap();
            let lat = m.lat.as_ref().expect("a queued thread gives the merge a total latency");
            assert_eq!(lat.len(), 3, "every I/O has a total latency");
            assert_eq!(lat.value_at_quantile(0.5), m.histogram.value_at_quantile(0.5));
            assert_eq!(m.slat.as_ref().map(|h| h.len()), Some(1), "slat is the queued I/O's only");
        }
        let mut two = sync_rec();
        two.merge(&sync_rec()).unwrap();
        assert!(two.lat.is_none(), "synchronous threads merged stay synchronous");
        // One thread: ops completed at once before and after queued ones all count in lat.
        let mut r = OpRecorder::new();
        r.record(0, 1_000, 4096);
        r.record_queued(5, 100, 500_000, 4096);
        r.record(10, 2_000, 4096);
        let r = r.finish();
        assert_eq!(r.lat.as_ref().map(|h| h.len()), Some(3));
        assert_eq!(r.count(), 3);
    }

    fn sync_rec() -> OpRecord {
        let mut r = OpRecorder::new();
        r.record(0, 1_000, 4096);
        r.record(10, 2_000, 4096);
        r.finish()
    }

    fn queued_rec() -> OpRecord {
        let mut r = OpRecorder::new();
        r.record_queued(0, 100, 500_000, 4096);
        r.finish()
    }

    #[test]
    fn recorder_set_merges_threads() {
        let mut t1 = RecorderSet::new();
        let mut t2 = RecorderSet::new();
        t1.record("read", 0, 10, 4096);
        t1.record("fsync", 0, 1000, 0);
        t2.record("read", 5, 20, 4096);
        let m = merge_threads([t1.finish(), t2.finish()]).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["fsync", "read"]);
        assert_eq!(m["read"].count(), 2);
        assert_eq!(m["read"].bytes, 8192);
        assert_eq!(m["fsync"].count(), 1);
    }

    #[test]
    fn a_waited_io_has_clat_and_lat_apart_and_no_slat() {
        let mut r = OpRecorder::new();
        r.record_waited(10, 1_000, 5_000, 4096);
        let rec = r.finish();
        assert!(rec.slat.is_none());
        assert_eq!(rec.histogram.len(), 1);
        assert_eq!(rec.histogram.max(), rec.histogram.highest_equivalent(1_000));
        assert_eq!(rec.total_latency().max(), rec.total_latency().highest_equivalent(5_000));
    }

    #[test]
    fn over_one_hour_saturates() {
        let mut r = OpRecorder::new();
        r.record(0, u64::MAX, 0);
        let rec = r.finish();
        assert_eq!(rec.count(), 1);
        assert!(rec.histogram.max() >= HIGHEST_NS);
    }
}
