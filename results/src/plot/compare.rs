//! Two runs compared: per job, the change from run A to run B of every target × op's IOPS, p50
//! and p99, as horizontal bars — green where B is better (more IOPS, lower latency), red where
//! it is worse, the percentage beside each bar.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::throughput::draw_header;
use super::ticks::LabelledTicks;
use super::{Chart, FONT, msg};
use crate::compare::JobComparison;
use crate::units;

const ROW_HEIGHT: u32 = 26;
const HEADER_HEIGHT: u32 = 80;
const AXIS_HEIGHT: u32 = 70;

/// Better (B over A) in green, worse in red.
const BETTER: RGBColor = RGBColor(44, 160, 44);
const WORSE: RGBColor = RGBColor(214, 39, 40);

/// One bar: what, the percentage change, whether the change is for the better, and the values.
struct Bar {
    label: String,
    change_pct: f64,
    better: bool,
    text: String,
}

/// The chart.
pub(crate) struct CompareChart {
    title: String,
    bars: Vec<Bar>,
}

impl CompareChart {
    /// The chart of one job's comparison.
    pub(crate) fn new(job: &JobComparison) -> Self {
        let mut bars = Vec::new();
        for d in &job.ops {
            let metrics = [
                ("IOPS", d.a.iops, d.b.iops, true, units::si as fn(f64) -> String),
                ("p50", d.a.lat_ns.p50 as f64, d.b.lat_ns.p50 as f64, false, units::latency),
                ("p99", d.a.lat_ns.p99 as f64, d.b.lat_ns.p99 as f64, false, units::latency),
            ];
            for (metric, va, vb, higher_is_better, fmt) in metrics {
                if va <= 0.0 || !va.is_finite() || !vb.is_finite() {
                    continue;
                }
                let change_pct = (vb - va) / va * 100.0;
                bars.push(Bar {
                    label: format!("{} {} {metric}", d.target, d.op),
                    change_pct,
                    better: (change_pct > 0.0) == higher_is_better,
                    text: format!("{} ({} → {})", units::percent_change(va, vb), fmt(va), fmt(vb)),
                });
            }
        }
        CompareChart { title: format!("{}: run B against run A", job.job), bars }
    }

    /// Whether there is anything to draw.
    pub(crate) fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }
}

impl Chart for CompareChart {
    fn size(&self) -> (u32, u32) {
        (1200, HEADER_HEIGHT + AXIS_HEIGHT + ROW_HEIGHT * self.bars.len().max(1) as u32 + 20)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let (header, body) = root.split_vertically(HEADER_HEIGHT);
        draw_header(
            &header,
            &self.title,
            "change from A to B; green: B better (more IOPS, lower latency), red: B worse",
        )?;
        // Symmetric around 0, at least ±10%, room for the labels.
        let reach = self.bars.iter().map(|b| b.change_pct.abs()).fold(10.0, f64::max) * 1.9;
        let n = self.bars.len().max(1) as f64;
        let rows = LabelledTicks::new(
            0f64..n,
            self.bars.iter().enumerate().map(|(i, b)| (n - i as f64 - 0.5, b.label.clone())).collect(),
        );
        let mut chart = ChartBuilder::on(&body)
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(230)
            .build_cartesian_2d(-reach..reach, rows)
            .map_err(msg)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("change from A to B (%)")
            .x_label_formatter(&|x| format!("{}%", units::trimmed(x.round())))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(msg)?;
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (0.0, n)], BLACK.stroke_width(1))))
            .map_err(msg)?;
        for (i, bar) in self.bars.iter().enumerate() {
            let y = n - i as f64 - 0.5;
            let c = if bar.better { BETTER } else { WORSE };
            let x = bar.change_pct.clamp(-reach, reach);
            chart
                .draw_series(std::iter::once(Rectangle::new([(0.0, y - 0.35), (x, y + 0.35)], c.filled())))
                .map_err(msg)?;
            let (anchor, at) = if x >= 0.0 { (HPos::Left, x + reach * 0.01) } else { (HPos::Right, x - reach * 0.01) };
            let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(anchor, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(bar.text.clone(), (at, y), style))).map_err(msg)?;
        }
        Ok(())
    }
}
