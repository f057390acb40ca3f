//! fio's value syntax: sizes, times, booleans, ranges, per-direction lists, bssplit.
//!
//! Each parser returns the value or the "expected ..." half of an error message. Sizes, times,
//! booleans and percentages are the shared vocabulary's ([`vocab`]); the rest is the job file's own.

use std::time::Duration;

use vocab::{KbBase, Size, TimeUnit};

use super::types::{BlockSize, BsShare, PerDir};

/// Parts per million: the unit of bssplit shares.
pub(crate) const PPM: u64 = 1_000_000;

/// A size with fio's suffixes under `kb` (see [`vocab::Size`]).
pub(crate) fn size(s: &str, kb: KbBase) -> Result<u64, String> {
    Size::parse_with(s, kb).map(Size::bytes).map_err(|e| e.expected)
}

/// A size that must be above zero.
pub(crate) fn nonzero_size(s: &str, kb: KbBase) -> Result<u64, String> {
    match size(s, kb)? {
        0 => Err("expected a size above zero".into()),
        n => Ok(n),
    }
}

/// A size in the form [`size`] reads back.
pub(crate) fn format_size(n: u64) -> String {
    Size(n).to_string()
}

/// A time with fio's suffixes; `default` is the unit of a bare number.
pub(crate) fn time(s: &str, default: TimeUnit) -> Result<Duration, String> {
    vocab::parse_time(s, default).map_err(|e| e.expected)
}

/// fio's booleans (see [`vocab::parse_bool`]).
pub(crate) fn boolean(v: Option<&str>) -> Result<bool, String> {
    vocab::parse_bool(v).map_err(|e| e.expected)
}

/// A percentage 0..=100, with or without `%`.
pub(crate) fn percent(s: &str) -> Result<u32, String> {
    vocab::parse_percent(s).map_err(|e| e.expected)
}

/// A plain non-negative integer (decimal or `0x` hex).
pub(crate) fn integer(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| "expected a whole number".into())
}

/// An integer in `lo..=hi`.
pub(crate) fn int_in(s: &str, lo: u64, hi: u64) -> Result<u64, String> {
    match integer(s) {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {lo} to {hi}")),
    }
}

/// fio's per-direction list `read[,write[,trim]]`: each part sets its direction and an empty
/// part keeps the current value; the last part, unless the text ends with a comma, also sets
/// the directions after it (`bs=8k,32k` is 8k reads, 32k writes and trims; `bs=8k,32k,` leaves
/// trims as they were).
pub(crate) fn per_dir<T: Clone>(
    s: &str,
    current: &PerDir<T>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<PerDir<T>, String> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() > 3 {
        return Err("expected read[,write[,trim]]".into());
    }
    let mut out = current.clone();
    let mut last: Option<T> = None;
    for (i, slot) in [&mut out.read, &mut out.write, &mut out.trim].into_iter().enumerate() {
        match parts.get(i) {
            Some(p) if p.trim().is_empty() => last = None,
            Some(p) => {
                let v = parse(p)?;
                *slot = v.clone();
                last = Some(v);
            }
            None => {
                if let Some(v) = &last {
                    *slot = v.clone();
                }
            }
        }
    }
    Ok(out)
}

/// `min-max` or `min:max` sizes, as bsrange takes them.
pub(crate) fn size_range(s: &str, kb: KbBase) -> Result<BlockSize, String> {
    let (lo, hi) = s.split_once(['-', ':']).ok_or_else(|| "expected a range such as 4k-64k".to_string())?;
    let (min, max) = (nonzero_size(lo, kb)?, nonzero_size(hi, kb)?);
    if min > max {
        return Err("expected the smaller size first, such as 4k-64k".into());
    }
    Ok(if min == max { BlockSize::Fixed(min) } else { BlockSize::Range { min, max } })
}

/// One direction of bssplit: `size/percent:size/percent...`. Entries without a percentage share
/// what is left equally, as in fio; the shares must come to 100.
pub(crate) fn bssplit(s: &str, kb: KbBase) -> Result<BlockSize, String> {
    const EXPECTED: &str = "expected size/percent entries joined by ':', such as 4k/50:64k/50";
    let mut sizes = Vec::new();
    let mut given: Vec<Option<f64>> = Vec::new();
    for entry in s.split(':') {
        let (size_text, pct_text) = match entry.split_once('/') {
            Some((a, b)) => (a, Some(b.trim())),
            None => (entry, None),
        };
        sizes.push(nonzero_size(size_text, kb).map_err(|e| format!("{e}; {EXPECTED}"))?);
        given.push(match pct_text {
            None | Some("") => None,
            Some(p) => match p.strip_suffix('%').unwrap_or(p).parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Some(v),
                _ => return Err(EXPECTED.into()),
            },
        });
    }
    let fixed: f64 = given.iter().flatten().sum();
    let open = given.iter().filter(|g| g.is_none()).count();
    if fixed > 100.0 + 1e-9 {
        return Err(format!("the percentages add up to {fixed}, more than 100"));
    }
    if open == 0 && (fixed - 100.0).abs() > 1e-9 {
        return Err(format!("the percentages add up to {fixed}, not 100"));
    }
    let rest = if open == 0 { 0.0 } else { (100.0 - fixed) / open as f64 };
    let mut shares: Vec<BsShare> = sizes
        .iter()
        .zip(&given)
        .map(|(&size, g)| BsShare { size, ppm: (g.unwrap_or(rest) * 1e4).round() as u64 })
        .collect();
    // Rounding may leave the total a few ppm off: settle it on the largest share.
    let total: u64 = shares.iter().map(|s| s.ppm).sum();
    if let Some(largest) = shares.iter_mut().max_by_key(|s| s.ppm) {
        largest.ppm = (largest.ppm + PPM).saturating_sub(total);
    }
    shares.retain(|s| s.ppm > 0);
    if shares.is_empty() {
        return Err(EXPECTED.into());
    }
    Ok(BlockSize::Split(shares))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sz(s: &str) -> Result<u64, String> {
        size(s, KbBase::Binary)
    }

    #[test]
    fn per_direction_lists() {
        let cur = PerDir { read: 1u64, write: 2, trim: 3 };
        let pd = |r, w, t| PerDir { read: r, write: w, trim: t };
        assert_eq!(per_dir("4k", &cur, sz), Ok(pd(4096, 4096, 4096)));
        assert_eq!(per_dir("4k,8k", &cur, sz), Ok(pd(4096, 8192, 8192)));
        assert_eq!(per_dir("4k,8k,", &cur, sz), Ok(pd(4096, 8192, 3)));
        assert_eq!(per_dir(",8k", &cur, sz), Ok(pd(1, 8192, 8192)));
        assert_eq!(per_dir(",8k,", &cur, sz), Ok(pd(1, 8192, 3)));
        assert_eq!(per_dir("4k,", &cur, sz), Ok(pd(4096, 2, 3)));
        assert_eq!(per_dir("4k,8k,16k", &cur, sz), Ok(pd(4096, 8192, 16384)));
        assert!(per_dir("4k,8k,16k,1", &cur, sz).is_err());
    }

    #[test]
    fn bssplit_shares() {
        let split = |s| match bssplit(s, KbBase::Binary) {
            Ok(BlockSize::Split(v)) => v.iter().map(|e| (e.size, e.ppm)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(split("4k/50:64k/50"), vec![(4096, 500_000), (65536, 500_000)]);
        assert_eq!(split("4k/10:8k:16k"), vec![(4096, 100_000), (8192, 450_000), (16384, 450_000)]);
        assert_eq!(split("4k/33.3:8k/33.3:16k/33.4").iter().map(|e| e.1).sum::<u64>(), PPM);
        let kb = KbBase::Binary;
        assert!(bssplit("4k/50:64k/40", kb).unwrap_err().contains("not 100"));
        assert!(bssplit("4k/70:64k/40", kb).unwrap_err().contains("more than 100"));
        assert!(bssplit("4k/x", kb).is_err());
    }

    #[test]
    fn ranges_and_bools() {
        let kb = KbBase::Binary;
        assert_eq!(size_range("4k-64k", kb), Ok(BlockSize::Range { min: 4096, max: 65536 }));
        assert_eq!(size_range("4k:4k", kb), Ok(BlockSize::Fixed(4096)));
        assert!(size_range("64k-4k", kb).is_err());
        assert_eq!(size_range("4000-8k", KbBase::Decimal), Ok(BlockSize::Range { min: 4000, max: 8000 }));
    }
}
