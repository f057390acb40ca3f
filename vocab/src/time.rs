//! Times as fio writes them: `30`, `30s`, `500ms`, `2m`, `1h`.

use std::time::Duration;

use crate::error::ValueError;

/// The unit of a time written without one: fio's options differ (`runtime` counts seconds,
/// `thinktime` microseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds (`runtime`, `ramp_time`, `startdelay`).
    Seconds,
    /// Milliseconds (`log_avg_msec`).
    Millis,
    /// Microseconds (`thinktime`).
    Micros,
}

impl TimeUnit {
    fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Millis => "milliseconds",
            TimeUnit::Micros => "microseconds",
        }
    }

    fn nanos(self) -> u128 {
        match self {
            TimeUnit::Seconds => 1_000_000_000,
            TimeUnit::Millis => 1_000_000,
            TimeUnit::Micros => 1_000,
        }
    }
}

/// A time with fio's suffixes (`ns`/`nsec`, `us`/`usec`, `ms`/`msec`, `s`/`sec`, `m`/`min`,
/// `h`, `d`, any case); without one, in `default` units. A decimal fraction is allowed
/// (`1.5s`), and fio's arithmetic in parentheses (`(3600/4)s`, microseconds at the finest).
pub fn parse_time(s: &str, default: TimeUnit) -> Result<Duration, ValueError> {
    let s = s.trim();
    if s.starts_with('(') {
        let implied = (default.nanos() / 1000) as u64;
        let us = crate::expr::evaluate(s, crate::expr::Quantity::Micros { implied })?;
        return Ok(Duration::from_micros(us));
    }
    let expected =
        || ValueError::new(format!("expected a time such as 30, 30s, 500ms, 2m, 1h (no unit: {})", default.name()));
    let end = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(expected());
    }
    let nanos_per: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" => default.nanos(),
        "ns" | "nsec" => 1,
        "us" | "usec" => 1_000,
        "ms" | "msec" => 1_000_000,
        "s" | "sec" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return Err(expected()),
    };
    let too_large = || ValueError::new("time too large");
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
    let mut nanos = whole.checked_mul(nanos_per).ok_or_else(too_large)?;
    // The fraction, digit by digit, to the nanosecond.
    let mut scale = nanos_per;
    for d in frac.bytes().take(30) {
        scale /= 10;
        nanos += u128::from(d - b'0') * scale;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_large())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// A time in seconds unless it says otherwise, for clap's `value_parser`.
pub fn parse_seconds(s: &str) -> Result<Duration, ValueError> {
    parse_time(s, TimeUnit::Seconds)
}

/// A duration in the form [`parse_time`] reads back (always with a unit): `3s`, `1500ms`, `7us`.
pub fn format_time(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_units_and_defaults() {
        assert_eq!(parse_time("30", TimeUnit::Seconds), Ok(Duration::from_secs(30)));
        assert_eq!(parse_time("30", TimeUnit::Micros), Ok(Duration::from_micros(30)));
        assert_eq!(parse_time("250", TimeUnit::Millis), Ok(Duration::from_millis(250)));
        assert_eq!(parse_time("2m", TimeUnit::Seconds), Ok(Duration::from_secs(120)));
        assert_eq!(parse_time("500ms", TimeUnit::Seconds), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("1.5", TimeUnit::Seconds), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_time("0.5s", TimeUnit::Seconds), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("1H", TimeUnit::Seconds), Ok(Duration::from_secs(3600)));
        for bad in ["5x", "", ".", "1.2.3", "-1", "s"] {
            assert!(parse_time(bad, TimeUnit::Seconds).is_err(), "{bad}");
        }
        assert_eq!(parse_time("99999999999999999999999d", TimeUnit::Seconds).unwrap_err().expected, "time too large");
    }

    #[test]
    fn times_format_back_to_themselves() {
        for d in
            [Duration::from_secs(3), Duration::from_millis(1500), Duration::from_micros(7), Duration::from_nanos(9)]
        {
            assert_eq!(parse_time(&format_time(d), TimeUnit::Micros), Ok(d));
        }
    }
}
