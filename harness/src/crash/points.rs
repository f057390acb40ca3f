//! Crash points: the device states a power cut could leave, chosen from the write log.
//!
//! A volatile write cache keeps, at a power cut, every write completed before the last
//! completed flush, and any of the later ones (it may have written back some, in any order).
//! So a crash point is a log position `at` (the records before it had happened), the last flush
//! before it (every write before that flush is kept), and which writes since that flush
//! survive:
//! - at every flush: none of the later writes — the state the flush made durable, checked at the
//!   latest moment before the next write (so that every op that returned meanwhile is held to
//!   its promise);
//! - between flushes, a bounded number of random points: an in-order prefix of the writes since
//!   the flush (a device without a volatile cache), or a random subset of them (one with it);
//! - right after each sync op (fsync, fdatasync, remount) returned, if writes since the last
//!   flush are still unflushed (a filesystem mounted without barriers): a random subset of them.

use crate::targets::fusedev::Record;

/// How the writes since the last flush were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Right after a flush completed: none of the later writes.
    Flush,
    /// The first writes since the flush, in order.
    Prefix,
    /// A random subset of the writes since the flush.
    Subset,
    /// A random subset of the writes since the flush, right after a sync (fsync, fdatasync,
    /// remount) returned with writes not yet flushed: where a missing flush loses data.
    AfterSync,
}

impl How {
    /// In words.
    pub fn text(self) -> &'static str {
        match self {
            How::Flush => "at a flush",
            How::Prefix => "an in-order prefix of the writes since the last flush",
            How::Subset => "a random subset of the writes since the last flush",
            How::AfterSync => "a random subset of the writes since the last flush, right after a sync returned",
        }
    }
}

/// One device state to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// The cut: records before this log position had happened.
    pub at: usize,
    /// Every write before this log position is kept (the last completed flush, or where the
    /// workload started).
    pub durable: usize,
    /// Log positions (in `durable..at`) of the later writes that survive.
    pub kept: Vec<usize>,
    /// Writes in `durable..at` in all.
    pub unflushed: usize,
    /// How `kept` was chosen.
    pub how: How,
}

/// SplitMix64: a small deterministic generator for the choices.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed ^ 0x6372_6173_6870_7473)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is below 2^-40 for the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The crash points of `log` after position `from` (where the workload started): one at
/// every flush, up to `random` per stretch between flushes, alternating random subsets and
/// prefixes, and one after each op `is_sync` says syncs that returned with writes unflushed;
/// in log order. Deterministic for a `seed`.
pub fn choose(log: &[Record], from: usize, random: u32, seed: u64, is_sync: impl Fn(u64) -> bool) -> Vec<CrashPoint> {
    let mut rng = SplitMix::new(seed);
    let is_write = |i: usize| matches!(log[i], Record::Write { .. });
    let next_write = |i: usize| (i..log.len()).find(|&j| is_write(j)).unwrap_or(log.len());
    let mut points = Vec::new();
    // Stretches: from `durable` (a flush's position, or `from`) to the next flush.
    let mut durable = from;
    loop {
        let end = (durable + 1..log.len()).find(|&j| matches!(log[j], Record::Flush { .. }));
        let stop = end.unwrap_or(log.len());
        let first = if durable == from && !matches!(log.get(durable), Some(Record::Flush { .. })) {
            durable
        } else {
            durable + 1
        };
        let writes: Vec<usize> = (first..stop).filter(|&j| is_write(j)).collect();
        for r in 0..random {
            if writes.is_empty() {
                break;
            }
            let how = if r % 2 == 0 { How::Subset } else { How::Prefix };
            // The cut comes after write j completes (j < len: a prefix that is not all).
            let n = writes.len() as u64;
            let j = match how {
                How::Prefix if n < 2 => continue,
                How::Prefix => 1 + rng.below(n - 1) as usize,
                _ => 1 + rng.below(n) as usize,
            };
            let at = writes.get(j).copied().unwrap_or(stop);
            let kept: Vec<usize> = match how {
                How::Prefix => writes[..j].to_vec(),
                _ => writes[..j].iter().copied().filter(|_| rng.next_u64() & 1 == 1).collect(),
            };
            points.push(CrashPoint { at, durable, kept, unflushed: j, how });
        }
        let Some(flush) = end else { break };
        // The flush's own point, unless another flush follows before any write: that one's
        // point has the same state and holds more ops to their promises.
        let after = next_write(flush);
        let next_flush = (flush + 1..log.len()).find(|&j| matches!(log[j], Record::Flush { .. }));
        if next_flush.is_none_or(|f| f > after) {
            points.push(CrashPoint { at: after, durable: flush, kept: Vec::new(), unflushed: 0, how: How::Flush });
        }
        durable = flush;
    }
    // After each sync that returned with unflushed writes.
    let mut durable = from;
    let mut unflushed: Vec<usize> = Vec::new();
    for (i, r) in log.iter().enumerate().skip(from) {
        match *r {
            Record::Flush { .. } => {
                durable = i;
                unflushed.clear();
            }
            Record::Write { .. } => unflushed.push(i),
            Record::OpDone { op } if is_sync(op) && !unflushed.is_empty() => {
                let kept = unflushed.iter().copied().filter(|_| rng.next_u64() & 1 == 1).collect();
                let at = next_write(i);
                points.push(CrashPoint { at, durable, kept, unflushed: unflushed.len(), how: How::AfterSync });
            }
            Record::OpDone { .. } => {}
        }
    }
    points.sort_by_key(|p| (p.at, p.durable));
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::fusedev::Source;

    fn w(offset: u64) -> Record {
        Record::Write { offset, len: 512, src: Source::Zero, op: 1 }
    }
    const F: Record = Record::Flush { op: 1 };
    const D: Record = Record::OpDone { op: 1 };

    #[test]
    fn a_point_at_each_flush_and_random_ones_between() {
        //           0     1     2  3  4  5      6  7  8
        let log = [w(0), w(512), F, D, F, w(1024), D, F, w(0)];
        let points = choose(&log, 0, 0, 1, |_| false);
        let flush: Vec<(usize, usize)> = points.iter().map(|p| (p.at, p.durable)).collect();
        // The flush at 2 is followed by another before any write: only the one at 4 counts,
        // checked just before the write at 5.
        assert_eq!(flush, vec![(5, 4), (8, 7)]);
        assert!(points.iter().all(|p| p.how == How::Flush && p.kept.is_empty()));

        let points = choose(&log, 0, 2, 7, |_| false);
        for p in &points {
            assert!(p.kept.iter().all(|&k| k >= p.durable && k < p.at && matches!(log[k], Record::Write { .. })));
            if p.how == How::Prefix {
                assert_eq!(p.kept.len(), p.unflushed);
                assert!(p.unflushed < 2, "a prefix leaves out at least one write");
            }
        }
        assert!(points.iter().any(|p| p.how == How::Subset && p.durable == 0), "{points:?}");
        assert!(points.windows(2).all(|w| w[0].at <= w[1].at), "in log order");
        assert_eq!(choose(&log, 0, 2, 7, |_| false), points, "deterministic");
        // The op that returned at 3 and 6 synced: after 6, the write at 5 is unflushed.
        let after: Vec<_> = choose(&log, 0, 0, 1, |_| true).into_iter().filter(|p| p.how == How::AfterSync).collect();
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!((after[0].at, after[0].durable, after[0].unflushed), (8, 4, 1));
    }
}
