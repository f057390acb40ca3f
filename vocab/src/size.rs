//! Sizes as fio writes them: `4096`, `4k`, `64KiB`, `1m`, `0x1000`.

use std::fmt;
use std::str::FromStr;

use crate::error::ValueError;

/// fio's `kb_base`: what the unit prefixes mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KbBase {
    /// `kb_base=1024`, fio's default: `k`, `m`, `g`, ... are powers of 1024 and `ki`, `mi`, ...
    /// (`KiB`, `MiB`, ...) powers of 1000 — backwards from IEC, as fio keeps it for old scripts.
    #[default]
    Binary,
    /// `kb_base=1000`: `k`, `m`, `g`, ... are powers of 1000 and `KiB`, `MiB`, ... powers of 1024.
    Decimal,
}

impl KbBase {
    /// The base a plain prefix (`k`) multiplies by.
    pub fn base(self) -> u64 {
        match self {
            KbBase::Binary => 1024,
            KbBase::Decimal => 1000,
        }
    }
}

impl FromStr for KbBase {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.trim() {
            "1024" => Ok(KbBase::Binary),
            "1000" => Ok(KbBase::Decimal),
            _ => Err(ValueError::new("expected 1024 or 1000")),
        }
    }
}

/// A number of bytes. Reads fio's sizes (at the default `kb_base=1024`, see [`KbBase`]) and
/// prints in the shortest exact form, which reads back the same: `4k`, `1g`, `4097`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

const SIZE_EXPECTED: &str =
    "expected a size such as 4096, 4k, 64k, 1m, 2g (k/m/g/t/p are powers of 1024, as fio's default kb_base)";

impl Size {
    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// A size with fio's suffixes under `kb_base`: `k`, `m`, `g`, `t`, `p`, optionally followed
    /// by `b`, and the IEC forms `ki`, `kib`, ... (see [`KbBase`]); any case. Decimal or `0x`
    /// hexadecimal digits, or fio's arithmetic in parentheses (`(1+2)*4k`). A percentage (fio's
    /// `size=50%`) is refused: it needs an existing file.
    pub fn parse_with(s: &str, kb_base: KbBase) -> Result<Size, ValueError> {
        let s = s.trim();
        if s.starts_with('(') {
            return crate::expr::evaluate(s, crate::expr::Quantity::Bytes).map(Size);
        }
        if s.ends_with('%') {
            return Err(ValueError::new("percentage sizes need an existing file or device; give a size such as 1g"));
        }
        let (digits, suffix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            let end = hex.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(hex.len());
            (u64::from_str_radix(&hex[..end], 16).ok(), &hex[end..])
        } else {
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            (s[..end].parse::<u64>().ok(), &s[end..])
        };
        let n = digits.ok_or_else(|| ValueError::new(SIZE_EXPECTED))?;
        let mult = multiplier(suffix.trim(), kb_base).ok_or_else(|| ValueError::new(SIZE_EXPECTED))?;
        n.checked_mul(mult).map(Size).ok_or_else(|| ValueError::new("size too large"))
    }
}

/// fio's `get_mult_bytes`: the multiplier of a size suffix, `None` if it is not one.
pub(crate) fn multiplier(suffix: &str, kb_base: KbBase) -> Option<u64> {
    let suffix = suffix.to_ascii_lowercase();
    let mut unit = suffix.as_str();
    if unit.len() > 1 || unit == "b" {
        unit = unit.strip_suffix('b').unwrap_or(unit);
    }
    let (letter, iec) = match unit.strip_suffix('i') {
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
        _ => return None,
    };
    let base = match (kb_base, iec) {
        (KbBase::Binary, false) | (KbBase::Decimal, true) => 1024u64,
        (KbBase::Binary, true) | (KbBase::Decimal, false) => 1000,
    };
    base.checked_pow(power)
}

impl FromStr for Size {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Size, ValueError> {
        Size::parse_with(s, KbBase::Binary)
    }
}

impl fmt::Display for Size {
    /// The largest power-of-1024 suffix that divides exactly: `64k`, `3g`, `6144` is `6k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SUFFIXES: [(&str, u32); 5] = [("p", 5), ("t", 4), ("g", 3), ("m", 2), ("k", 1)];
        let n = self.0;
        for (suffix, power) in SUFFIXES {
            let unit = 1024u64.pow(power);
            if n != 0 && n.is_multiple_of(unit) {
                return write!(f, "{}{suffix}", n / unit);
            }
        }
        write!(f, "{n}")
    }
}

impl From<Size> for u64 {
    fn from(s: Size) -> u64 {
        s.0
    }
}

/// A size in bytes, for clap's `value_parser` on `u64` fields.
pub fn parse_bytes(s: &str) -> Result<u64, ValueError> {
    s.parse::<Size>().map(Size::bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(s: &str) -> Result<u64, ValueError> {
        parse_bytes(s)
    }

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
        assert!(size("50%").unwrap_err().expected.contains("percentage"));
        assert!(size("99999999p").unwrap_err().expected.contains("too large"));
    }

    #[test]
    fn kb_base_1000_swaps_the_prefixes() {
        let d = |s| Size::parse_with(s, KbBase::Decimal).map(Size::bytes);
        assert_eq!(d("4k"), Ok(4000));
        assert_eq!(d("4KiB"), Ok(4096));
        assert_eq!(d("1m"), Ok(1_000_000));
        assert_eq!(d("512"), Ok(512));
        assert_eq!("1000".parse::<KbBase>(), Ok(KbBase::Decimal));
        assert!("1001".parse::<KbBase>().is_err());
    }

    #[test]
    fn sizes_print_in_the_shortest_exact_form_and_read_back() {
        for n in [0, 1, 512, 4096, 4097, 6144, 1 << 20, 3 << 30, 1_000_000, 1 << 50] {
            assert_eq!(size(&Size(n).to_string()), Ok(n), "{n}");
        }
        assert_eq!(Size(65536).to_string(), "64k");
        assert_eq!(Size(1536 << 20).to_string(), "1536m");
        assert_eq!(Size(4097).to_string(), "4097");
    }
}
