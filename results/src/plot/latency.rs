//! Latency percentile curves of one op, targets overlaid, on a "nines" axis — the picture
//! HdrHistogram's plotter and hdr-plot draw.

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::legend::{self, Entry};
use super::ticks::{LabelledTicks, LogTicks, log_range};
use super::{Chart, FONT, color, msg};
use crate::units;

/// Nines shown on the x axis at least (99.99%), and at most (99.9999%).
const MIN_NINES: f64 = 4.0;
const MAX_NINES: f64 = 6.0;

struct Curve {
    label: String,
    color: RGBColor,
    /// Dashed (a comparison's earlier run) or solid.
    dashed: bool,
    /// (nines, latency in ns)
    points: Vec<(f64, f64)>,
}

/// The chart.
pub(crate) struct LatencyChart {
    title: String,
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

/// One curve of a [`LatencyChart`]: a label (the target, and the run in a comparison), a
/// colour index, whether it is dashed, and the latencies in ns.
pub(crate) struct CurveInput {
    pub(crate) label: String,
    pub(crate) color: usize,
    pub(crate) dashed: bool,
    pub(crate) histogram: Histogram<u64>,
}

impl LatencyChart {
    /// One curve per input.
    pub(crate) fn new(title: String, inputs: &[CurveInput]) -> Self {
        let most_nines = inputs.iter().map(|c| (c.histogram.len().max(1) as f64).log10()).fold(0.0, f64::max);
        let x_max = most_nines.clamp(MIN_NINES, MAX_NINES) + 0.1;
        let mut lo = f64::INFINITY;
        let mut hi: f64 = 0.0;
        let curves = inputs
            .iter()
            .map(|c| {
                let h = &c.histogram;
                let mut points: Vec<(f64, f64)> = h
                    .iter_quantiles(5)
                    .filter(|v| v.quantile_iterated_to() < 1.0)
                    .map(|v| (nines(v.quantile_iterated_to()), v.value_iterated_to() as f64))
                    .filter(|(x, _)| *x <= x_max)
                    .collect();
                let last_x = points.last().map_or(0.0, |p| p.0);
                let end = (h.len().max(1) as f64).log10().min(x_max).max(last_x);
                points.push((end, h.max() as f64));
                for &(_, y) in &points {
                    lo = lo.min(y);
                    hi = hi.max(y);
                }
                Curve {
                    label: format!(
                        "{}  p50 {}  p99 {}  max {}",
                        c.label,
                        units::latency(h.value_at_quantile(0.5) as f64),
                        units::latency(h.value_at_quantile(0.99) as f64),
                        units::latency(h.max() as f64)
                    ),
                    color: color(c.color),
                    dashed: c.dashed,
                    points,
                }
            })
            .collect();
        let (lo, hi) = log_range(lo, hi);
        LatencyChart { title, x_max, y_range: (lo, hi), curves }
    }

    /// The percentile chart of one op of a job: one curve per target.
    pub(crate) fn of_op(job: &str, op: &str, inputs: &[CurveInput]) -> Self {
        Self::new(format!("{job}: {op} latency by percentile (lower is better)"), inputs)
    }
}

impl Chart for LatencyChart {
    fn size(&self) -> (u32, u32) {
        (1200, 720 + legend::height(self.curves.len()))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        // The legend goes under the chart: over it, it would hide the flat top of a curve.
        let (plot, under) = root.split_vertically(720);
        let entries: Vec<Entry> = self
            .curves
            .iter()
            .map(|c| Entry {
                label: c.label.clone(),
                color: c.color,
                dash: if c.dashed { legend::DASHES[1] } else { legend::DASHES[0] },
            })
            .collect();
        legend::draw(&under, (90, 4), &entries)?;
        let mut ticks = vec![0.0, 2f64.log10()];
        let mut n = 1.0;
        while n < self.x_max {
            ticks.push(n);
            n += 1.0;
        }
        let x_axis = LabelledTicks::new(0f64..self.x_max, ticks.into_iter().map(|x| (x, nines_label(x))).collect());
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, (FONT, 26))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d(x_axis, LogTicks::labelled(self.y_range.0, self.y_range.1, units::latency_tick))
            .map_err(msg)?;
        chart
            .configure_mesh()
            .x_desc("percentile (axis: log of 1/(1 − p))")
            .y_desc("latency (log scale)")
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.15))
            .draw()
            .map_err(msg)?;
        for (curve, entry) in self.curves.iter().zip(&entries) {
            let c = curve.color;
            let (dash, gap) = entry.dash;
            chart
                .draw_series(DashedLineSeries::new(curve.points.iter().copied(), dash, gap, c.stroke_width(2)))
                .map_err(msg)?;
            if curve.points.len() < 3 {
                // A handful of samples (one fsync) makes no line: mark the points.
                chart.draw_series(curve.points.iter().map(|&p| Circle::new(p, 5, c.filled()))).map_err(msg)?;
            }
        }
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
