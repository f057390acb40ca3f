//! fio's value syntax: sizes, times, booleans, ranges, per-direction lists, bssplit.
//!
//! Each parser returns the value or the "expected ..." half of an error message.

use std::time::Duration;

use super::job::{BlockSize, BsShare, PerDir};

/// Parts per million: the unit of bssplit shares.
pub(crate) const PPM: u64 = 1_000_000;

const SIZE_EXPECTED: &str =
    "expected a size such as 4096, 4k, 64k, 1m, 2g (k/m/g/t/p are powers of 1024, as fio's default kb_base)";

/// A size with fio's suffixes at fio's default `kb_base=1024`: `k`, `m`, `g`, `t`, `p`
/// (optionally followed by `b`) are powers of 1024; `ki`, `mi`, ... (`kib`, `mib`, ...) are
/// powers of 1000 — backwards from IEC, as fio keeps it for old scripts. Case-insensitive.
/// Decimal or `0x` hexadecimal digits.
pub(crate) fn size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.ends_with('%') {
        return Err("percentage sizes need an existing file or device; give a size such as 1g".into());
    }
    let (digits, suffix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        let end = hex.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(hex.len());
        (u64::from_str_radix(&hex[..end], 16).ok(), &hex[end..])
    } else {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        (s[..end].parse::<u64>().ok(), &s[end..])
    };
    let n = digits.ok_or_else(|| SIZE_EXPECTED.to_string())?;
    let suffix = suffix.to_ascii_lowercase();
    let mut unit = suffix.as_str();
    if unit.len() > 1 || unit == "b" {
        unit = unit.strip_suffix('b').unwrap_or(unit);
    }
    let (letter, decimal) = match unit.strip_suffix('i') {
        Some(l) if !l.is_empty() => (l, true),
        _ => (unit, false),
    };
    let power = match letter {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(SIZE_EXPECTED.into()),
    };
    let base: u64 = if decimal { 1000 } else { 1024 };
    base.checked_pow(power).and_then(|mult| n.checked_mul(mult)).ok_or_else(|| "size too large".to_string())
}

/// A size that must be above zero.
pub(crate) fn nonzero_size(s: &str) -> Result<u64, String> {
    match size(s)? {
        0 => Err("expected a size above zero".into()),
        n => Ok(n),
    }
}

/// A size formatted the way [`size`] reads it back: the largest exact power-of-1024 suffix.
pub(crate) fn format_size(n: u64) -> String {
    const SUFFIXES: [(&str, u32); 5] = [("p", 5), ("t", 4), ("g", 3), ("m", 2), ("k", 1)];
    for (suffix, power) in SUFFIXES {
        let unit = 1024u64.pow(power);
        if n != 0 && n.is_multiple_of(unit) {
            return format!("{}{suffix}", n / unit);
        }
    }
    n.to_string()
}

/// The unit a time value has when written without one.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TimeUnit {
    Seconds,
    Micros,
}

/// A time with fio's suffixes: `us`/`usec`, `ms`/`msec`, `s`/`sec`, `m`/`min`, `h`, `d`.
pub(crate) fn time(s: &str, default: TimeUnit) -> Result<Duration, String> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let expected = || {
        let unit = match default {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Micros => "microseconds",
        };
        format!("expected a time such as 30, 30s, 500ms, 2m, 1h (no unit: {unit})")
    };
    let n: u64 = s[..end].parse().map_err(|_| expected())?;
    let micros_per = match (s[end..].to_ascii_lowercase().as_str(), default) {
        ("", TimeUnit::Seconds) => 1_000_000,
        ("", TimeUnit::Micros) => 1,
        ("us" | "usec", _) => 1,
        ("ms" | "msec", _) => 1_000,
        ("s" | "sec", _) => 1_000_000,
        ("m" | "min", _) => 60_000_000,
        ("h", _) => 3_600_000_000,
        ("d", _) => 86_400_000_000,
        _ => return Err(expected()),
    };
    n.checked_mul(micros_per).map(Duration::from_micros).ok_or_else(|| "time too large".to_string())
}

/// A duration formatted the way [`time`] reads it back (always with a unit).
pub(crate) fn format_time(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1_000) {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

/// fio's booleans: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`; no value means true.
pub(crate) fn boolean(v: Option<&str>) -> Result<bool, String> {
    match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        _ => Err("expected 1 or 0 (or true/false, yes/no, on/off)".into()),
    }
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

/// A percentage 0..=100, with or without `%`.
pub(crate) fn percent(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t.strip_suffix('%').unwrap_or(t);
    int_in(t, 0, 100).map(|n| n as u32).map_err(|_| "expected a percentage from 0 to 100".into())
}

/// fio's per-direction list `read[,write[,trim]]`: one value applies to both directions; an
/// empty part keeps the current value. A trim part is refused (no trim workloads here).
pub(crate) fn per_dir<T: Clone>(
    s: &str,
    current: &PerDir<T>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<PerDir<T>, String> {
    let parts: Vec<&str> = s.split(',').collect();
    match parts.as_slice() {
        [one] => {
            let v = parse(one)?;
            Ok(PerDir { read: v.clone(), write: v })
        }
        [r, w] => Ok(PerDir {
            read: if r.trim().is_empty() { current.read.clone() } else { parse(r)? },
            write: if w.trim().is_empty() { current.write.clone() } else { parse(w)? },
        }),
        [_, _, t] if t.trim().is_empty() => per_dir(&s[..s.rfind(',').unwrap_or(s.len())], current, parse),
        _ => Err("expected read[,write]: trim values are not supported".into()),
    }
}

/// `min-max` or `min:max` sizes, as bsrange takes them.
pub(crate) fn size_range(s: &str) -> Result<BlockSize, String> {
    let (lo, hi) = s.split_once(['-', ':']).ok_or_else(|| "expected a range such as 4k-64k".to_string())?;
    let (min, max) = (nonzero_size(lo)?, nonzero_size(hi)?);
    if min > max {
        return Err("expected the smaller size first, such as 4k-64k".into());
    }
    Ok(if min == max { BlockSize::Fixed(min) } else { BlockSize::Range { min, max } })
}

/// One direction of bssplit: `size/percent:size/percent...`. Entries without a percentage share
/// what is left equally, as in fio; the shares must come to 100.
pub(crate) fn bssplit(s: &str) -> Result<BlockSize, String> {
    const EXPECTED: &str = "expected size/percent entries joined by ':', such as 4k/50:64k/50";
    let mut sizes = Vec::new();
    let mut given: Vec<Option<f64>> = Vec::new();
    for entry in s.split(':') {
        let (size_text, pct_text) = match entry.split_once('/') {
            Some((a, b)) => (a, Some(b.trim())),
            None => (entry, None),
        };
        sizes.push(nonzero_size(size_text).map_err(|e| format!("{e}; {EXPECTED}"))?);
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

    #[test]
    fn sizes_follow_fio_kb_base_1024() {
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("4k"), Ok(4096));
        assert_eq!(size("4K"), Ok(4096));
        assert_eq!(size("4kb"), Ok(4096));
        assert_eq!(size("1m"), Ok(1 << 20));
        assert_eq!(size("1MiB"), Ok(1_000_000));
        assert_eq!(size("1mi"), Ok(1_000_000));
        assert_eq!(size("2g"), Ok(2 << 30));
        assert_eq!(size("0x1000"), Ok(4096));
        assert_eq!(size("512b"), Ok(512));
        assert!(size("4q").is_err());
        assert!(size("").is_err());
        assert!(size("1.5m").is_err());
        assert!(size("50%").unwrap_err().contains("percentage"));
        assert!(size("99999999p").unwrap_err().contains("too large"));
    }

    #[test]
    fn sizes_format_back_to_themselves() {
        for n in [0, 1, 512, 4096, 6144, 1 << 20, 3 << 30, 1_000_000] {
            assert_eq!(size(&format_size(n)), Ok(n), "{n}");
        }
        assert_eq!(format_size(65536), "64k");
    }

    #[test]
    fn times_have_units_and_defaults() {
        assert_eq!(time("30", TimeUnit::Seconds), Ok(Duration::from_secs(30)));
        assert_eq!(time("30", TimeUnit::Micros), Ok(Duration::from_micros(30)));
        assert_eq!(time("2m", TimeUnit::Seconds), Ok(Duration::from_secs(120)));
        assert_eq!(time("500ms", TimeUnit::Seconds), Ok(Duration::from_millis(500)));
        assert!(time("5x", TimeUnit::Seconds).is_err());
        for d in [Duration::from_secs(3), Duration::from_millis(1500), Duration::from_micros(7)] {
            assert_eq!(time(&format_time(d), TimeUnit::Micros), Ok(d));
        }
    }

    #[test]
    fn per_direction_lists() {
        let cur = PerDir { read: 1u64, write: 2 };
        assert_eq!(per_dir("4k", &cur, size), Ok(PerDir { read: 4096, write: 4096 }));
        assert_eq!(per_dir("4k,8k", &cur, size), Ok(PerDir { read: 4096, write: 8192 }));
        assert_eq!(per_dir(",8k", &cur, size), Ok(PerDir { read: 1, write: 8192 }));
        assert_eq!(per_dir("4k,", &cur, size), Ok(PerDir { read: 4096, write: 2 }));
        assert!(per_dir("4k,8k,16k", &cur, size).is_err());
    }

    #[test]
    fn bssplit_shares() {
        let split = |s| match bssplit(s) {
            Ok(BlockSize::Split(v)) => v.iter().map(|e| (e.size, e.ppm)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(split("4k/50:64k/50"), vec![(4096, 500_000), (65536, 500_000)]);
        assert_eq!(split("4k/10:8k:16k"), vec![(4096, 100_000), (8192, 450_000), (16384, 450_000)]);
        assert_eq!(split("4k/33.3:8k/33.3:16k/33.4").iter().map(|e| e.1).sum::<u64>(), PPM);
        assert!(bssplit("4k/50:64k/40").unwrap_err().contains("not 100"));
        assert!(bssplit("4k/70:64k/40").unwrap_err().contains("more than 100"));
        assert!(bssplit("4k/x").is_err());
    }

    #[test]
    fn ranges_and_bools() {
        assert_eq!(size_range("4k-64k"), Ok(BlockSize::Range { min: 4096, max: 65536 }));
        assert_eq!(size_range("4k:4k"), Ok(BlockSize::Fixed(4096)));
        assert!(size_range("64k-4k").is_err());
        assert_eq!(boolean(None), Ok(true));
        assert_eq!(boolean(Some("off")), Ok(false));
        assert!(boolean(Some("maybe")).is_err());
        assert_eq!(percent("70%"), Ok(70));
        assert!(percent("101").is_err());
    }
}
