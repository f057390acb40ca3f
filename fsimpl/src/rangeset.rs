//! A set of disjoint, merged block ranges: free space for the allocator, delayed-allocation
//! reservations for an inode (the `delayed` part of ext4's extent-status tree).

use std::collections::BTreeMap;

/// Disjoint half-open ranges `[start, start + len)`, adjacent ranges merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: BTreeMap<u64, u64>,
    total: u64,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of blocks in the set.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Number of separate ranges.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The range containing `at`, as `(start, len)`.
    pub fn find(&self, at: u64) -> Option<(u64, u64)> {
        let (&s, &l) = self.ranges.range(..=at).next_back()?;
        (at < s + l).then_some((s, l))
    }

    /// The start of the first range at or after `at` (a range containing `at` counts).
    pub fn next_from(&self, at: u64) -> Option<u64> {
        if self.find(at).is_some() {
            return Some(at);
        }
        self.ranges.range(at..).next().map(|(&s, _)| s)
    }

    /// Iterates over `(start, len)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&s, &l)| (s, l))
    }

    /// Iterates over the ranges that start at or after `at`.
    pub fn iter_from(&self, at: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.range(at..).map(|(&s, &l)| (s, l))
    }

    /// Adds `[start, start + len)`, which must not overlap the set; merges with neighbours.
    pub fn insert(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        debug_assert!(self.overlap(start, len) == 0, "insert of {start}+{len} overlaps");
        let mut s = start;
        let mut l = len;
        if let Some((&ps, &pl)) = self.ranges.range(..start).next_back()
            && ps + pl == start
        {
            self.ranges.remove(&ps);
            s = ps;
            l += pl;
        }
        if let Some(&nl) = self.ranges.get(&(start + len)) {
            self.ranges.remove(&(start + len));
            l += nl;
        }
        self.ranges.insert(s, l);
        self.total += len;
    }

    /// How many blocks of `[start, start + len)` are in the set.
    pub fn overlap(&self, start: u64, len: u64) -> u64 {
        let end = start + len;
        let mut n = 0;
        let first = self.ranges.range(..start).next_back().map(|(&s, _)| s).unwrap_or(start);
        for (&s, &l) in self.ranges.range(first..end) {
            let a = s.max(start);
            let b = (s + l).min(end);
            if b > a {
                n += b - a;
            }
        }
        n
    }

    /// Removes `[start, start + len)` from the set, splitting ranges; returns the number of
    /// blocks that were in the set, and calls `removed(start, len)` for each piece removed.
    pub fn remove_with(&mut self, start: u64, len: u64, mut removed: impl FnMut(u64, u64)) -> u64 {
        let end = start + len;
        let mut n = 0;
        let first = self.ranges.range(..start).next_back().map(|(&s, _)| s).unwrap_or(start);
        let hits: Vec<(u64, u64)> = self.ranges.range(first..end).map(|(&s, &l)| (s, l)).collect();
        for (s, l) in hits {
            let a = s.max(start);
            let b = (s + l).min(end);
            if b <= a {
                continue;
            }
            self.ranges.remove(&s);
            if s < a {
                self.ranges.insert(s, a - s);
            }
            if b < s + l {
                self.ranges.insert(b, s + l - b);
            }
            removed(a, b - a);
            n += b - a;
        }
        self.total -= n;
        n
    }

    /// Removes `[start, start + len)`; returns how many blocks were in the set.
    pub fn remove(&mut self, start: u64, len: u64) -> u64 {
        self.remove_with(start, len, |_, _| {})
    }

    /// Moves every range at or after `from` by `delta` blocks (collapse: negative; insert:
    /// positive). Ranges must not straddle `from`, and a move must not overlap ranges below.
    pub fn shift_from(&mut self, from: u64, delta: i64) {
        let moved: Vec<(u64, u64)> = self.ranges.range(from..).map(|(&s, &l)| (s, l)).collect();
        for (s, _) in &moved {
            self.ranges.remove(s);
        }
        self.total -= moved.iter().map(|&(_, l)| l).sum::<u64>();
        for (s, l) in moved {
            self.insert(s.checked_add_signed(delta).expect("shift stays in range"), l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_and_remove_splits() {
        let mut s = RangeSet::new();
        s.insert(10, 5);
        s.insert(20, 5);
        s.insert(15, 5);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(10, 15)]);
        assert_eq!(s.total(), 15);
        let mut pieces = vec![];
        assert_eq!(s.remove_with(12, 3, |a, l| pieces.push((a, l))), 3);
        assert_eq!(pieces, vec![(12, 3)]);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(10, 2), (15, 10)]);
        assert_eq!(s.find(16), Some((15, 10)));
        assert_eq!(s.find(12), None);
        assert_eq!(s.next_from(12), Some(15));
        assert_eq!(s.overlap(0, 100), 12);
        assert_eq!(s.remove(0, 100), 12);
        assert!(s.is_empty());
    }

    #[test]
    fn shift_moves_ranges_after_a_point() {
        let mut s = RangeSet::new();
        s.insert(0, 2);
        s.insert(10, 2);
        s.shift_from(5, -8);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(0, 4)]);
        s.insert(10, 2);
        s.shift_from(10, 3);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(0, 4), (13, 2)]);
        assert_eq!(s.total(), 6);
    }
}
