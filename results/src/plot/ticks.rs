//! A linear f64 axis with ticks at chosen positions and a label for each, e.g. the "nines"
//! of a percentile axis or the target names under bars.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;

/// The axis.
#[derive(Clone)]
pub(crate) struct LabelledTicks {
    inner: RangedCoordf64,
    ticks: Vec<(f64, String)>,
}

impl LabelledTicks {
    /// An axis over `range` with these (position, label) ticks.
    pub(crate) fn new(range: Range<f64>, ticks: Vec<(f64, String)>) -> Self {
        LabelledTicks { inner: range.into(), ticks }
    }
}

impl Ranged for LabelledTicks {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.iter().map(|(x, _)| *x).collect()
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

impl ValueFormatter<f64> for LabelledTicks {
    fn format(value: &f64) -> String {
        format!("{value}")
    }

    fn format_ext(&self, value: &f64) -> String {
        self.ticks
            .iter()
            .find(|(x, _)| (x - value).abs() < 1e-9)
            .map_or_else(|| Self::format(value), |(_, label)| label.clone())
    }
}

/// A logarithmic f64 axis (latencies) with ticks at 1, 2 and 5 × 10^k, or at the powers of ten
/// alone when the range spans many decades, each labelled by a function of its value (e.g.
/// `2µs` for 2000 on an axis in nanoseconds).
#[derive(Clone)]
pub(crate) struct LogTicks {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    label: fn(f64) -> String,
}

impl LogTicks {
    /// An axis over `lo..hi` (both > 0) with plain numbers as labels.
    #[cfg(test)]
    pub(crate) fn new(lo: f64, hi: f64) -> Self {
        Self::labelled(lo, hi, super::axis_number)
    }

    /// An axis over `lo..hi` (both > 0), ticks labelled by `label`.
    pub(crate) fn labelled(lo: f64, hi: f64, label: fn(f64) -> String) -> Self {
        let lo = lo.max(f64::MIN_POSITIVE);
        let hi = hi.max(lo * 10.0);
        let decades = |steps: &[f64]| -> Vec<f64> {
            let mut ticks = Vec::new();
            let mut decade = 10f64.powf(lo.log10().floor());
            while decade <= hi {
                for s in steps {
                    let t = decade * s;
                    if t >= lo && t <= hi {
                        ticks.push(t);
                    }
                }
                decade *= 10.0;
            }
            ticks
        };
        let mut ticks = decades(&[1.0, 2.0, 5.0]);
        if ticks.len() > 14 {
            ticks = decades(&[1.0]);
        }
        LogTicks { lo, hi, ticks, label }
    }
}

impl Ranged for LogTicks {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.lo.log10(), self.hi.log10());
        let v = value.max(f64::MIN_POSITIVE).log10();
        let frac = (v - a) / (b - a);
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for LogTicks {
    fn format(value: &f64) -> String {
        super::axis_number(*value)
    }

    fn format_ext(&self, value: &f64) -> String {
        (self.label)(*value)
    }
}

/// The range of a log axis for values in `lo..=hi` (latencies in ns, so at least 1): a margin
/// each side, and at least a decade, the values in its middle. Empty input (`lo` infinite)
/// gives 1..10.
pub(crate) fn log_range(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() || hi <= 0.0 {
        return (1.0, 10.0);
    }
    let (mut lo, mut hi) = ((lo * 0.8).max(1.0), (hi * 1.25).max(1.0));
    if hi / lo < 10.0 {
        let widen = (10.0 / (hi / lo)).sqrt();
        lo = (lo / widen).max(1.0);
        hi = hi.max(lo * 10.0).max(hi * widen);
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_1_2_5() {
        assert_eq!(LogTicks::new(1.5, 120.0).ticks, [2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(LogTicks::new(1.0, 1e9).ticks.len(), 10);
    }

    #[test]
    fn a_log_range_spans_a_decade_around_its_values() {
        let (lo, hi) = log_range(40e6, 40e6);
        assert!((hi / lo - 10.0).abs() < 1e-9 && lo < 40e6 && hi > 40e6, "{lo}..{hi}");
        assert!(((40e6 / lo) - (hi / 40e6)).abs() < 1e-6, "centred: {lo}..{hi}");
        assert_eq!(log_range(f64::INFINITY, 0.0), (1.0, 10.0));
        assert_eq!(log_range(1.0, 1e6), (1.0, 1.25e6));
        let (lo, hi) = log_range(2.0, 3.0);
        assert!(lo == 1.0 && hi >= 10.0, "{lo}..{hi}");
    }
}
