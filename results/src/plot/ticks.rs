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
        LabelledTicks {
            inner: range.into(),
            ticks,
        }
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
