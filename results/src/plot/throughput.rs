//! Throughput over time (fio's bandwidth and IOPS logs, drawn): MiB/s of the ops that move data
//! on top, IOPS of every op below, one line per target × op, one point per second. The colour
//! says the target (as in the latency charts), the dash pattern says the op.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::{Chart, FONT, axis_number, color, msg};
use crate::report::ordered_ops;
use crate::run_dir::RunDir;
use crate::summary::JobSummary;
use crate::units::MIB;

/// (dash, gap) in pixels per op: solid, dashed, dotted, long-dashed.
const DASHES: [(u32, u32); 4] = [(10_000, 0), (12, 6), (3, 4), (22, 6)];

struct Line {
    label: String,
    color: RGBColor,
    dash: (u32, u32),
    /// (seconds since start, value)
    points: Vec<(f64, f64)>,
}

/// The chart.
pub(crate) struct ThroughputChart {
    title: String,
    x_max: f64,
    bandwidth: Vec<Line>,
    iops: Vec<Line>,
}

impl ThroughputChart {
    pub(crate) fn new(run: &RunDir, job: &JobSummary) -> Self {
        let mut bandwidth = Vec::new();
        let mut iops = Vec::new();
        let mut x_max: f64 = 1.0;
        let ops = ordered_ops(job.targets.iter().flat_map(|t| t.ops.keys()));
        for (ti, t) in job.targets.iter().enumerate() {
            for op in ordered_ops(t.ops.keys()) {
                let s = &t.ops[op];
                let oi = ops.iter().position(|o| *o == op).unwrap_or(0);
                let dash = DASHES[oi % DASHES.len()];
                let rows: Vec<_> = run.throughput_of(&job.job, &t.target).filter(|r| &r.op == op).collect();
                if rows.is_empty() {
                    continue;
                }
                let at = |r: &crate::run_dir::ThroughputRow| (r.second as f64) + r.duration_ns as f64 / 2e9;
                if let Some(last) = rows.last() {
                    x_max = x_max.max(last.second as f64 + last.duration_ns as f64 / 1e9);
                }
                let label = format!("{} {op}", t.target);
                let c = color(ti);
                if s.bytes > 0 {
                    bandwidth.push(Line {
                        label: label.clone(),
                        color: c,
                        dash,
                        points: rows.iter().map(|r| (at(r), r.bytes_per_second() / MIB)).collect(),
                    });
                }
                iops.push(Line { label, color: c, dash, points: rows.iter().map(|r| (at(r), r.iops())).collect() });
            }
        }
        ThroughputChart { title: format!("{}: throughput per second", job.job), x_max, bandwidth, iops }
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    x_max: f64,
    lines: &[Line],
) -> Result<(), String> {
    let y_max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max).max(1e-9) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(msg)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc(y_desc)
        .x_label_formatter(&|x| axis_number(*x))
        .y_label_formatter(&|y| axis_number(*y))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.15))
        .draw()
        .map_err(msg)?;
    for line in lines {
        let c = line.color;
        let (dash, gap) = line.dash;
        chart
            .draw_series(DashedLineSeries::new(line.points.iter().copied(), dash, gap, c.stroke_width(2)))
            .map_err(msg)?
            .label(line.label.as_str())
            .legend(move |(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 20, y)], dash.min(20), gap, c.stroke_width(3))
            });
        chart.draw_series(line.points.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(msg)?;
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 15))
            .draw()
            .map_err(msg)?;
    }
    Ok(())
}

impl Chart for ThroughputChart {
    fn size(&self) -> (u32, u32) {
        if self.bandwidth.is_empty() { (1200, 480) } else { (1200, 900) }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let root = root.titled(&self.title, (FONT, 26)).map_err(msg)?;
        if self.bandwidth.is_empty() {
            return draw_panel(&root, "operations per second", "IOPS", self.x_max, &self.iops);
        }
        let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
        draw_panel(&top, "bandwidth", "MiB/s", self.x_max, &self.bandwidth)?;
        draw_panel(&bottom, "operations per second", "IOPS", self.x_max, &self.iops)
    }
}
