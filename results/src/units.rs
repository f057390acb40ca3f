//! Compact, fio-like number formatting: `12.3k` IOPS, `48.1` MiB/s, `1.23µs`.

/// Bytes in a MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// Three significant digits, without a trailing `.0` mess: 1.23, 12.3, 123, 1234.
pub fn three_digits(x: f64) -> String {
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

/// A latency tick label: the value in the largest unit that keeps it ≥ 1, without trailing
/// zeros: `500ns`, `1µs`, `20µs`, `1.5ms`, `2s`.
pub fn latency_tick(ns: f64) -> String {
    let (unit, per) = latency_axis_unit(ns.abs().max(1.0) * (1.0 + 1e-9));
    format!("{}{unit}", trimmed(ns / per))
}

/// A number with at most three decimals and no trailing zeros: `2`, `0.5`, `1.25`.
pub fn trimmed(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { String::from("0") } else { s.to_string() }
}

/// A byte count in IEC units with three significant digits: `512 B`, `4.00 KiB`, `1.50 MiB`,
/// `256 MiB`, `2.00 GiB`.
pub fn iec_bytes(bytes: f64) -> String {
    let (unit, per) = bytes_axis_unit(bytes);
    if per == 1.0 { format!("{bytes:.0} B") } else { format!("{} {unit}", three_digits(bytes / per)) }
}

/// The IEC unit for byte values up to `max`: (name, bytes per unit).
pub fn bytes_axis_unit(max: f64) -> (&'static str, f64) {
    const KIB: f64 = 1024.0;
    if max >= KIB * MIB {
        ("GiB", KIB * MIB)
    } else if max >= MIB {
        ("MiB", MIB)
    } else if max >= KIB {
        ("KiB", KIB)
    } else {
        ("B", 1.0)
    }
}

/// The unit for a bandwidth axis whose values go up to `max_bytes_per_s`: (name, bytes/s per
/// unit) — KiB/s below 1 MiB/s, MiB/s up to 10 GiB/s, GiB/s above.
pub fn bandwidth_axis_unit(max_bytes_per_s: f64) -> (&'static str, f64) {
    if max_bytes_per_s < MIB {
        ("KiB/s", 1024.0)
    } else if max_bytes_per_s < 10.0 * 1024.0 * MIB {
        ("MiB/s", MIB)
    } else {
        ("GiB/s", 1024.0 * MIB)
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

    #[test]
    fn axis_labels_carry_their_unit() {
        let ticks: Vec<String> = [200.0, 1e3, 2e4, 5e5, 1.5e6, 1e9, 2e10].iter().map(|&v| latency_tick(v)).collect();
        assert_eq!(ticks, ["200ns", "1µs", "20µs", "500µs", "1.5ms", "1s", "20s"]);
        assert_eq!(iec_bytes(512.0), "512 B");
        assert_eq!(iec_bytes(1_048_576.0), "1.00 MiB");
        assert_eq!(iec_bytes(268_435_456.0), "256 MiB");
        assert_eq!(bandwidth_axis_unit(500.0 * MIB), ("MiB/s", MIB));
        assert_eq!(bandwidth_axis_unit(20_000.0 * MIB).0, "GiB/s");
        assert_eq!(bandwidth_axis_unit(1000.0).0, "KiB/s");
        assert_eq!(trimmed(2.0), "2");
        assert_eq!(trimmed(0.25), "0.25");
    }
}
