//! Throughput over time (fio's bandwidth and IOPS logs, drawn): bandwidth of the ops that move
//! data on top, IOPS of every op below, one line per target × op. The colour says the target
//! (as in the latency charts), the dash pattern says the op.
//!
//! Each interval of `throughput.csv` is drawn as a step across its span at the rate over that
//! span, so the last interval — which holds the run's tail (see [`crate::intervals`]) — is
//! drawn at its real rate over its real length, never as a cliff.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::legend::{self, DASHES, Entry};
use super::{Chart, FONT, axis_number, color, msg};
use crate::report::ordered_ops;
use crate::run_dir::{RunDir, ThroughputRow};
use crate::summary::JobSummary;
use crate::units;

/// What the steps of an over-time chart spanning `x_max` seconds are, printed under its title:
/// how the last interval is drawn (see [`crate::intervals`]).
pub(crate) fn tail_note(what: &str, x_max: f64) -> String {
    if x_max < 1.0 {
        format!("the run lasted under a second: one interval, drawn as one step of its {what}")
    } else {
        format!(
            "each step is one interval's {what}; the last interval holds the run's tail (0.5–1.5 s long, drawn, not dropped)"
        )
    }
}

struct Line {
    entry: Entry,
    /// Step corners: (seconds since start, value).
    points: Vec<(f64, f64)>,
}

/// The chart.
pub(crate) struct ThroughputChart {
    title: String,
    x_max: f64,
    bandwidth_unit: (&'static str, f64),
    bandwidth: Vec<Line>,
    iops: Vec<Line>,
}

/// The corners of a step line through `rows`: flat across each interval, vertical between.
fn steps(rows: &[&ThroughputRow], value: impl Fn(&ThroughputRow) -> f64) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(rows.len() * 2);
    for r in rows {
        let start = r.second as f64;
        let v = value(r);
        points.push((start, v));
        points.push((start + r.duration_ns as f64 / 1e9, v));
    }
    points
}

impl ThroughputChart {
    pub(crate) fn new(run: &RunDir, job: &JobSummary) -> Self {
        let mut bandwidth = Vec::new();
        let mut iops = Vec::new();
        let mut x_max: f64 = 0.0;
        let mut max_bw: f64 = 0.0;
        let ops = ordered_ops(job.targets.iter().flat_map(|t| t.ops.keys()));
        for (ti, t) in job.targets.iter().enumerate() {
            for op in ordered_ops(t.ops.keys()) {
                let s = &t.ops[op];
                let oi = ops.iter().position(|o| *o == op).unwrap_or(0);
                let rows: Vec<&ThroughputRow> =
                    run.throughput_of(&job.job, &t.target).filter(|r| &r.op == op).collect();
                let Some(last) = rows.last() else { continue };
                x_max = x_max.max(last.second as f64 + last.duration_ns as f64 / 1e9);
                let entry =
                    Entry { label: format!("{} {op}", t.target), color: color(ti), dash: DASHES[oi % DASHES.len()] };
                if s.bytes > 0 {
                    max_bw = rows.iter().map(|r| r.bytes_per_second()).fold(max_bw, f64::max);
                    bandwidth
                        .push(Line { entry: entry.clone(), points: steps(&rows, ThroughputRow::bytes_per_second) });
                }
                iops.push(Line { entry, points: steps(&rows, ThroughputRow::iops) });
            }
        }
        let bandwidth_unit = units::bandwidth_axis_unit(max_bw);
        for line in &mut bandwidth {
            for p in &mut line.points {
                p.1 /= bandwidth_unit.1;
            }
        }
        ThroughputChart {
            title: format!("{}: throughput over time", job.job),
            x_max: if x_max > 0.0 { x_max } else { 1.0 },
            bandwidth_unit,
            bandwidth,
            iops,
        }
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    x_max: f64,
    lines: &[Line],
) -> Result<(), String> {
    let y_max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max).max(1e-9) * 1.1;
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
        let (dash, gap) = line.entry.dash;
        chart
            .draw_series(DashedLineSeries::new(
                line.points.iter().copied(),
                dash,
                gap,
                line.entry.color.stroke_width(2),
            ))
            .map_err(msg)?;
    }
    Ok(())
}

impl Chart for ThroughputChart {
    fn size(&self) -> (u32, u32) {
        if self.bandwidth.is_empty() { (1200, 520) } else { (1200, 940) }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let (header, body) = root.split_vertically(70);
        draw_header(&header, &self.title, &tail_note("rate", self.x_max))?;
        let entries: Vec<Entry> = self.iops.iter().map(|l| l.entry.clone()).collect();
        let (plots, side) = body.split_horizontally(body.dim_in_pixel().0 - legend::width(&entries));
        legend::draw(&side, (0, 40), &entries)?;
        if self.bandwidth.is_empty() {
            return draw_panel(&plots, "operations per second", "IOPS", self.x_max, &self.iops);
        }
        let (top, bottom) = plots.split_vertically(plots.dim_in_pixel().1 / 2);
        let unit = self.bandwidth_unit.0;
        draw_panel(&top, "bandwidth", unit, self.x_max, &self.bandwidth)?;
        draw_panel(&bottom, "operations per second", "IOPS", self.x_max, &self.iops)
    }
}

/// A title and, under it, a smaller grey note.
pub(crate) fn draw_header<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    note: &str,
) -> Result<(), String> {
    let x = area.dim_in_pixel().0 as i32 / 2;
    let title_style = TextStyle::from((FONT, 26).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(title, (x, 8), title_style)).map_err(msg)?;
    let grey = BLACK.mix(0.6);
    let note_style = TextStyle::from((FONT, 15).into_font()).color(&grey).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(note, (x, 44), note_style)).map_err(msg)
}
