//! `--seeds A..B`: a range of seeds for a differential-testing campaign, both ends included
//! (as the shell's `{A..B}`), and which of them each rank of a many-host campaign takes.

use std::fmt;
use std::str::FromStr;

use crate::ValueError;

/// The seeds `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// The first seed.
    pub first: u64,
    /// The last seed (included).
    pub last: u64,
}

impl SeedRange {
    /// How many seeds.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never empty: `A..B` needs `A <= B`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The seeds rank `rank` of `ranks` takes, in order: every `ranks`-th from `first +
    /// rank`. The ranks' shares are disjoint and cover the range; a seed's owner is
    /// [`SeedRange::owner`].
    pub fn owned_by(&self, rank: u32, ranks: u32) -> impl Iterator<Item = u64> + use<> {
        let ranks = u64::from(ranks.max(1));
        let start = self.first.checked_add(u64::from(rank)).filter(|&s| s <= self.last);
        let last = self.last;
        std::iter::successors(start, move |&s| s.checked_add(ranks).filter(|&n| n <= last))
    }

    /// The rank of `ranks` that takes `seed`.
    pub fn owner(&self, seed: u64, ranks: u32) -> u32 {
        ((seed - self.first) % u64::from(ranks.max(1))) as u32
    }
}

impl FromStr for SeedRange {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::new(format!("'{s}': expected a seed range FIRST..LAST, both included, e.g. 1..1000"));
        let (a, b) = s.split_once("..").ok_or_else(bad)?;
        let (first, last) = (a.trim().parse::<u64>().map_err(|_| bad())?, b.trim().parse::<u64>().map_err(|_| bad())?);
        if first > last {
            return Err(ValueError::new(format!("'{s}': the first seed is above the last; give FIRST..LAST")));
        }
        Ok(SeedRange { first, last })
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_share_the_range_without_overlap() {
        let r: SeedRange = "10..20".parse().unwrap();
        assert_eq!((r.len(), r.to_string()), (11, "10..20".to_string()));
        let shares: Vec<Vec<u64>> = (0..3).map(|k| r.owned_by(k, 3).collect()).collect();
        assert_eq!(shares, vec![vec![10, 13, 16, 19], vec![11, 14, 17, 20], vec![12, 15, 18]]);
        for (k, share) in shares.iter().enumerate() {
            assert!(share.iter().all(|&s| r.owner(s, 3) == k as u32));
        }
        assert_eq!(r.owned_by(0, 1).count(), 11);
        // More ranks than seeds: the last ranks get none.
        let one: SeedRange = "5..5".parse().unwrap();
        assert_eq!(one.owned_by(1, 4).count(), 0);
        let top = SeedRange { first: u64::MAX - 1, last: u64::MAX };
        assert_eq!(top.owned_by(0, 1).collect::<Vec<_>>(), vec![u64::MAX - 1, u64::MAX]);
    }

    #[test]
    fn bad_ranges_say_what_to_give() {
        assert_eq!(
            "1-5".parse::<SeedRange>().unwrap_err().expected,
            "'1-5': expected a seed range FIRST..LAST, both included, e.g. 1..1000"
        );
        assert!("5..1".parse::<SeedRange>().unwrap_err().expected.contains("above the last"));
        assert!("1..x".parse::<SeedRange>().is_err());
    }
}
