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
/// alone when the range spans many decades.
#[derive(Clone)]
pub(crate) struct LogTicks {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl LogTicks {
    /// An axis over `lo..hi` (both > 0).
    pub(crate) fn new(lo: f64, hi: f64) -> Self {
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
        LogTicks { lo, hi, ticks }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_1_2_5() {
        assert_eq!(LogTicks::new(1.5, 120.0).ticks, [2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(LogTicks::new(1.0, 1e9).ticks.len(), 10);
    }
}
