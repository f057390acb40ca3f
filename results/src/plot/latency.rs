//! Latency percentile curves of one op, targets overlaid, on a "nines" axis — the picture
//! HdrHistogram's plotter and hdr-plot draw.

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::ticks::{LabelledTicks, LogTicks};
use super::{Chart, FONT, color, msg};
use crate::units;

/// Nines shown on the x axis at least (99.99%), and at most (99.9999%).
const MIN_NINES: f64 = 4.0;
const MAX_NINES: f64 = 6.0;

struct Curve {
    label: String,
    color: RGBColor,
    /// (nines, latency in the chart's unit)
    points: Vec<(f64, f64)>,
}

/// The chart.
pub(crate) struct LatencyChart {
    title: String,
    unit: &'static str,
    x_max: f64,
    y_range: (f64, f64),
    curves: Vec<Curve>,
}

/// x position of percentile `q` (0..1): log10(1/(1−q)).
fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// The x-axis label of a key point.
fn nines_label(x: f64) -> String {
    let p = (1.0 - 10f64.powf(-x)) * 100.0;
    if x < 1e-9 {
        String::from("0%")
    } else {
        let s = format!("{p:.4}");
        format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

impl LatencyChart {
    /// One curve per (target name, colour index, histogram in ns).
    pub(crate) fn new(job: &str, op: &str, inputs: &[(String, usize, Histogram<u64>)]) -> Self {
        let median_p50 = {
            let mut p50s: Vec<u64> = inputs.iter().map(|(_, _, h)| h.value_at_quantile(0.5)).collect();
            p50s.sort_unstable();
            p50s.get(p50s.len() / 2).copied().unwrap_or(1) as f64
        };
        let (unit, per_unit) = units::latency_axis_unit(median_p50);
        let most_nines = inputs.iter().map(|(_, _, h)| (h.len().max(1) as f64).log10()).fold(0.0, f64::max);
        let x_max = most_nines.clamp(MIN_NINES, MAX_NINES) + 0.1;
        let mut lo = f64::INFINITY;
        let mut hi: f64 = 0.0;
        let curves = inputs
            .iter()
            .map(|(target, ci, h)| {
                let mut points: Vec<(f64, f64)> = h
                    .iter_quantiles(5)
                    .filter(|v| v.quantile_iterated_to() < 1.0)
                    .map(|v| (nines(v.quantile_iterated_to()), v.value_iterated_to() as f64 / per_unit))
                    .filter(|(x, _)| *x <= x_max)
                    .collect();
                let last_x = points.last().map_or(0.0, |p| p.0);
                let end = (h.len().max(1) as f64).log10().min(x_max).max(last_x);
                points.push((end, h.max() as f64 / per_unit));
                for &(_, y) in &points {
                    lo = lo.min(y);
                    hi = hi.max(y);
                }
                Curve {
                    label: format!(
                        "{target}  p50 {}  p99 {}  max {}",
                        units::latency(h.value_at_quantile(0.5) as f64),
                        units::latency(h.value_at_quantile(0.99) as f64),
                        units::latency(h.max() as f64)
                    ),
                    color: color(*ci),
                    points,
                }
            })
            .collect();
        let floor = 1.0 / per_unit;
        let lo = if lo.is_finite() { (lo * 0.8).max(floor) } else { floor };
        let hi = (hi * 1.25).max(lo * 10.0);
        LatencyChart {
            title: format!("{job}: {op} latency by percentile (lower is better)"),
            unit,
            x_max,
            y_range: (lo, hi),
            curves,
        }
    }
}

impl Chart for LatencyChart {
    fn size(&self) -> (u32, u32) {
        (1200, 720)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let mut ticks = vec![0.0, 2f64.log10()];
        let mut n = 1.0;
        while n < self.x_max {
            ticks.push(n);
            n += 1.0;
        }
        let x_axis = LabelledTicks::new(0f64..self.x_max, ticks.into_iter().map(|x| (x, nines_label(x))).collect());
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 26))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(x_axis, LogTicks::new(self.y_range.0, self.y_range.1))
            .map_err(msg)?;
        chart
            .configure_mesh()
            .x_desc("percentile (axis: log of 1/(1 − p))")
            .y_desc(format!("latency ({}, log scale)", self.unit))
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.15))
            .draw()
            .map_err(msg)?;
        for curve in &self.curves {
            let c = curve.color;
            chart
                .draw_series(LineSeries::new(curve.points.iter().copied(), c.stroke_width(2)))
                .map_err(msg)?
                .label(curve.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 16))
            .draw()
            .map_err(msg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(2f64.log10()), "50%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(4.0), "99.99%");
    }
}
