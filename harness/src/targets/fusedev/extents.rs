//! [`ExtentMap`]: where each byte range of a virtual device comes from — a write in the log,
//! zeros, or a crash state's copy-on-write store. The live device and every crash state are
//! such a map over the same write log, so a crash state costs a map, never an image copy.

use std::collections::BTreeMap;

/// Where the bytes of a device range come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Zeros: never written, discarded, or written as zeros (`REQ_OP_WRITE_ZEROES`).
    Zero,
    /// The write log's data file, from this byte of it on.
    Log(u64),
    /// A crash state's copy-on-write store, from this byte of it on.
    Cow(u64),
}

impl Source {
    /// The source of the byte `n` bytes further on.
    fn advance(self, n: u64) -> Source {
        match self {
            Source::Zero => Source::Zero,
            Source::Log(p) => Source::Log(p + n),
            Source::Cow(p) => Source::Cow(p + n),
        }
    }
}

/// Disjoint device ranges `[start, end)` and their sources; bytes in no range read as zeros.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtentMap {
    /// start → (end, source of the byte at start).
    map: BTreeMap<u64, (u64, Source)>,
}

impl ExtentMap {
    /// An empty map: the whole device reads as zeros.
    pub fn new() -> Self {
        ExtentMap::default()
    }

    /// How many extents the map holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map holds no extent.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Makes `[start, end)` come from `src` (from `src`'s position on), replacing what was there.
    pub fn insert(&mut self, start: u64, end: u64, src: Source) {
        if start >= end {
            return;
        }
        // An extent starting before `start` and reaching into the range: cut it at `start`,
        // keeping its part past `end`.
        if let Some((&s, &(e, old))) = self.map.range(..start).next_back()
            && e > start
        {
            self.map.insert(s, (start, old));
            if e > end {
                self.map.insert(end, (e, old.advance(end - s)));
            }
        }
        // Extents starting inside the range: drop them, keeping the part past `end` of the last.
        let inside: Vec<u64> = self.map.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            let (e, old) = self.map.remove(&s).unwrap_or((s, Source::Zero));
            if e > end {
                self.map.insert(end, (e, old.advance(end - s)));
            }
        }
        // Join a left neighbour that continues into this range.
        let mut first = start;
        let mut src = src;
        if let Some((&s, &(e, old))) = self.map.range(..start).next_back()
            && e == start
            && old.advance(e - s) == src
        {
            first = s;
            src = old;
        }
        self.map.insert(first, (end, src));
    }

    /// The pieces of `[start, end)`, in order, gaps given as [`Source::Zero`]: (start, end,
    /// source of the byte at start).
    pub fn pieces(&self, start: u64, end: u64) -> Vec<(u64, u64, Source)> {
        let mut out = Vec::new();
        let mut pos = start;
        let from = match self.map.range(..=start).next_back() {
            Some((&s, &(e, _))) if e > start => s,
            _ => start,
        };
        for (&s, &(e, src)) in self.map.range(from..end) {
            if s > pos {
                out.push((pos, s, Source::Zero));
            }
            let a = s.max(pos);
            let b = e.min(end);
            if a < b {
                out.push((a, b, src.advance(a - s)));
                pos = b;
            }
        }
        if pos < end {
            out.push((pos, end, Source::Zero));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The map as a byte-per-byte list, for comparing with a plain model.
    fn flat(m: &ExtentMap, size: u64) -> Vec<Option<(char, u64)>> {
        let mut v = vec![None; size as usize];
        for (a, b, src) in m.pieces(0, size) {
            for x in a..b {
                v[x as usize] = match src.advance(x - a) {
                    Source::Zero => None,
                    Source::Log(p) => Some(('l', p)),
                    Source::Cow(p) => Some(('c', p)),
                };
            }
        }
        v
    }

    #[test]
    fn inserts_overwrite_split_and_join() {
        let mut m = ExtentMap::new();
        m.insert(0, 100, Source::Log(1000));
        m.insert(40, 60, Source::Cow(0));
        assert_eq!(
            m.pieces(0, 120),
            vec![
                (0, 40, Source::Log(1000)),
                (40, 60, Source::Cow(0)),
                (60, 100, Source::Log(1060)),
                (100, 120, Source::Zero)
            ]
        );
        // A write continuing the log extent joins it.
        m.insert(100, 110, Source::Log(1100));
        assert_eq!(m.pieces(90, 110), vec![(90, 110, Source::Log(1090))]);
        assert_eq!(m.len(), 3);
        m.insert(0, 200, Source::Zero);
        assert_eq!(m.pieces(10, 20), vec![(10, 20, Source::Zero)]);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn matches_a_byte_model_on_random_inserts() {
        let mut x = 7u64;
        let mut below = |n: u64| {
            // SplitMix64.
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % n
        };
        let size = 256u64;
        let mut m = ExtentMap::new();
        let mut model: Vec<Option<(char, u64)>> = vec![None; size as usize];
        for i in 0..2000u64 {
            let a = below(size);
            let b = a + below(size - a + 1);
            let (src, tag) = match below(3) {
                0 => (Source::Zero, None),
                1 => (Source::Log(i * 1000), Some('l')),
                _ => (Source::Cow(i * 1000), Some('c')),
            };
            m.insert(a, b, src);
            for x in a..b {
                model[x as usize] = tag.map(|t| (t, i * 1000 + (x - a)));
            }
            assert_eq!(flat(&m, size), model, "after insert {i} of {a}..{b}");
        }
    }
}
