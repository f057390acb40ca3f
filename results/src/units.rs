//! Compact, fio-like number formatting: `12.3k` IOPS, `48.1` MiB/s, `1.23µs`.

/// Bytes in a MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// Three significant digits, without a trailing `.0` mess: 1.23, 12.3, 123, 1234.
fn three_digits(x: f64) -> String {
    let a = x.abs();
    if a >= 99.95 {
        format!("{x:.0}")
    } else if a >= 9.995 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A count or rate with an SI suffix, as fio prints IOPS: `950`, `12.3k`, `1.20M`.
pub fn si(x: f64) -> String {
    if !x.is_finite() {
        return String::from("-");
    }
    let a = x.abs();
    if a < 999.5 {
        if x.fract() == 0.0 { format!("{x:.0}") } else { three_digits(x) }
    } else if a < 999_500.0 {
        format!("{}k", three_digits(x / 1e3))
    } else if a < 999_500_000.0 {
        format!("{}M", three_digits(x / 1e6))
    } else {
        format!("{}G", three_digits(x / 1e9))
    }
}

/// A bandwidth in MiB/s with three significant digits (`48.1`, `1234`).
pub fn mib_per_s(bytes_per_s: f64) -> String {
    three_digits(bytes_per_s / MIB)
}

/// A latency in nanoseconds in the largest unit that keeps it ≥ 1: `812ns`, `1.23µs`, `45.6ms`, `1.20s`.
pub fn latency(ns: f64) -> String {
    if !ns.is_finite() {
        return String::from("-");
    }
    let a = ns.abs();
    if a < 999.5 {
        format!("{ns:.0}ns")
    } else if a < 999_500.0 {
        format!("{}µs", three_digits(ns / 1e3))
    } else if a < 999_500_000.0 {
        format!("{}ms", three_digits(ns / 1e6))
    } else {
        format!("{}s", three_digits(ns / 1e9))
    }
}

/// A relative change as a signed percentage: `+6.5%`, `-12%`, `0%`; `new` when the old value is 0.
pub fn percent_change(old: f64, new: f64) -> String {
    if old == 0.0 {
        return if new == 0.0 { String::from("0%") } else { String::from("new") };
    }
    let pct = (new - old) / old * 100.0;
    if pct == 0.0 {
        String::from("0%")
    } else if pct.abs() < 9.95 {
        format!("{pct:+.1}%")
    } else {
        format!("{pct:+.0}%")
    }
}

/// The unit a latency axis should use for values around `typical_ns`: (name, ns per unit).
pub fn latency_axis_unit(typical_ns: f64) -> (&'static str, f64) {
    if typical_ns < 1e3 {
        ("ns", 1.0)
    } else if typical_ns < 1e6 {
        ("µs", 1e3)
    } else if typical_ns < 1e9 {
        ("ms", 1e6)
    } else {
        ("s", 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fio_like() {
        assert_eq!(si(950.0), "950");
        assert_eq!(si(12_345.0), "12.3k");
        assert_eq!(si(1_204_000.0), "1.20M");
        assert_eq!(si(12.5), "12.5");
        assert_eq!(latency(812.0), "812ns");
        assert_eq!(latency(1_234.0), "1.23µs");
        assert_eq!(latency(45_600_000.0), "45.6ms");
        assert_eq!(latency(1_200_000_000.0), "1.20s");
        assert_eq!(mib_per_s(50_436_000.0), "48.1");
        assert_eq!(percent_change(100.0, 106.5), "+6.5%");
        assert_eq!(percent_change(100.0, 80.0), "-20%");
        assert_eq!(percent_change(0.0, 5.0), "new");
    }
}
