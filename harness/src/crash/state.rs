//! Building a crash point's device state from the write log, virtually: an [`ExtentMap`] of
//! the durable writes plus the surviving later ones, served by the FUSE server over the log's
//! data (no image copy). Points come in log order, so the durable part is built once,
//! incrementally, and each point costs a clone of the map and its few extra writes.

use super::points::CrashPoint;
use crate::targets::fusedev::{ExtentMap, Record};

/// The device states of crash points taken in log order.
pub struct StateBuilder<'a> {
    log: &'a [Record],
    /// Every write before `pos` applied.
    pos: usize,
    durable: ExtentMap,
}

impl<'a> StateBuilder<'a> {
    /// Over `log`, starting from a zeroed device.
    pub fn new(log: &'a [Record]) -> Self {
        StateBuilder { log, pos: 0, durable: ExtentMap::new() }
    }

    fn apply(map: &mut ExtentMap, r: &Record) {
        if let Record::Write { offset, len, src, .. } = *r {
            map.insert(offset, offset + len, src);
        }
    }

    /// The device as `point` leaves it: every write before `point.durable`, then the kept ones
    /// in log order. Points must come with `durable` never going back.
    pub fn state(&mut self, point: &CrashPoint) -> ExtentMap {
        debug_assert!(point.durable >= self.pos, "crash points out of order");
        let upto = point.durable.min(self.log.len());
        for r in &self.log[self.pos.min(upto)..upto] {
            Self::apply(&mut self.durable, r);
        }
        self.pos = self.pos.max(upto);
        let mut map = self.durable.clone();
        for &k in &point.kept {
            Self::apply(&mut map, &self.log[k]);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::super::points::How;
    use super::*;
    use crate::targets::fusedev::Source;

    fn w(offset: u64, len: u64, data: u64) -> Record {
        Record::Write { offset, len, src: Source::Log(data), op: 1 }
    }

    /// A hand-made log: two writes, a flush, an overwrite, a discard, a flush, a write.
    #[test]
    fn states_keep_the_durable_writes_and_the_chosen_later_ones() {
        let log = [
            w(0, 4096, 0),
            w(4096, 4096, 4096),
            Record::Flush { op: 1 },
            w(0, 1024, 8192),
            Record::Write { offset: 4096, len: 4096, src: Source::Zero, op: 2 },
            Record::Flush { op: 2 },
            w(8192, 512, 9216),
        ];
        let point = |durable, kept: Vec<usize>, at| CrashPoint { at, durable, unflushed: 0, kept, how: How::Subset };
        let mut b = StateBuilder::new(&log);
        // Nothing durable, the second write kept alone.
        assert_eq!(
            b.state(&point(0, vec![1], 2)).pieces(0, 8192),
            vec![(0, 4096, Source::Zero), (4096, 8192, Source::Log(4096))]
        );
        // After the first flush: both writes; the discard kept, the overwrite lost.
        assert_eq!(
            b.state(&point(2, vec![4], 5)).pieces(0, 8192),
            vec![(0, 4096, Source::Log(0)), (4096, 8192, Source::Zero)]
        );
        // After the second flush, the last write lost: the overwrite's first KiB is there.
        let s = b.state(&point(5, vec![], 6));
        assert_eq!(
            s.pieces(0, 9216),
            vec![
                (0, 1024, Source::Log(8192)),
                (1024, 4096, Source::Log(1024)),
                (4096, 8192, Source::Zero),
                (8192, 9216, Source::Zero)
            ]
        );
        // The builder's durable map is not changed by what a point kept.
        assert_eq!(b.state(&point(5, vec![6], 7)).pieces(8192, 8704), vec![(8192, 8704, Source::Log(9216))]);
        assert_eq!(b.state(&point(5, vec![], 7)).pieces(8192, 8704), vec![(8192, 8704, Source::Zero)]);
    }
}
