//! Latency over time: per op kind, each target's p50, p99 and maximum in every interval of the
//! run, read from its `.hlog` — the view in which writeback stalls and throttling show up as
//! spikes of the tail while the median stays flat. Colour says the target, dash the statistic;
//! each interval is a step across its span, intervals without ops are left blank.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::legend::{self, DASHES, Entry};
use super::throughput::{draw_header, tail_note};
use super::ticks::{LogTicks, log_range};
use super::{Chart, FONT, axis_number, color, msg};
use crate::hdr::LoggedInterval;
use crate::units;

/// The statistics drawn per interval: (label, quantile, dash).
const STATS: [(&str, f64, (u32, u32)); 3] =
    [("p50", 0.5, DASHES[0]), ("p99", 0.99, DASHES[1]), ("max", 1.0, DASHES[2])];

const PANEL_HEIGHT: u32 = 380;
const HEADER_HEIGHT: u32 = 70;

/// One statistic of one target: runs of consecutive non-empty intervals as step corners
/// (seconds, ns).
struct Line {
    color: RGBColor,
    dash: (u32, u32),
    segments: Vec<Vec<(f64, f64)>>,
}

struct Panel {
    op: String,
    lines: Vec<Line>,
    y_range: (f64, f64),
}

/// The chart.
pub(crate) struct LatencyTimeChart {
    title: String,
    x_max: f64,
    panels: Vec<Panel>,
    legend: Vec<Entry>,
}

/// Input: per op kind, per target (name, colour index, its intervals).
pub(crate) type OpIntervals = (String, Vec<(String, usize, Vec<LoggedInterval>)>);

impl LatencyTimeChart {
    pub(crate) fn new(job: &str, ops: Vec<OpIntervals>) -> Self {
        let mut x_max: f64 = 0.0;
        let mut targets: Vec<(String, usize)> = Vec::new();
        let mut panels = Vec::new();
        for (op, per_target) in ops {
            let mut lines = Vec::new();
            let (mut lo, mut hi) = (f64::INFINITY, 0f64);
            for (target, ci, intervals) in per_target {
                if !targets.iter().any(|(t, _)| *t == target) {
                    targets.push((target.clone(), ci));
                }
                for (_, q, dash) in STATS {
                    let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
                    let mut open = false;
                    for i in &intervals {
                        let start = i.start.as_secs_f64();
                        let end = start + i.duration.as_secs_f64();
                        x_max = x_max.max(end);
                        if i.histogram.is_empty() {
                            open = false;
                            continue;
                        }
                        let v = if q >= 1.0 { i.histogram.max() } else { i.histogram.value_at_quantile(q) } as f64;
                        let v = v.max(1.0);
                        lo = lo.min(v);
                        hi = hi.max(v);
                        if !open {
                            segments.push(Vec::new());
                            open = true;
                        }
                        if let Some(seg) = segments.last_mut() {
                            seg.push((start, v));
                            seg.push((end, v));
                        }
                    }
                    lines.push(Line { color: color(ci), dash, segments });
                }
            }
            let (lo, hi) = log_range(lo, hi);
            panels.push(Panel { op, lines, y_range: (lo, hi) });
        }
        let mut legend: Vec<Entry> =
            targets.iter().map(|(t, ci)| Entry { label: t.clone(), color: color(*ci), dash: DASHES[0] }).collect();
        let grey = RGBColor(90, 90, 90);
        legend.extend(STATS.iter().map(|(label, _, dash)| Entry {
            label: label.to_string(),
            color: grey,
            dash: *dash,
        }));
        LatencyTimeChart {
            title: format!("{job}: latency over time (p50, p99, max per interval)"),
            x_max: if x_max > 0.0 { x_max } else { 1.0 },
            panels,
            legend,
        }
    }

    /// Whether there is anything to draw.
    pub(crate) fn is_empty(&self) -> bool {
        self.panels.is_empty()
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, x_max: f64, panel: &Panel) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} latency", panel.op), (FONT, 20))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..x_max, LogTicks::labelled(panel.y_range.0, panel.y_range.1, units::latency_tick))
        .map_err(msg)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("latency (log scale)")
        .x_label_formatter(&|x| axis_number(*x))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.15))
        .draw()
        .map_err(msg)?;
    for line in &panel.lines {
        let (dash, gap) = line.dash;
        for seg in &line.segments {
            chart
                .draw_series(DashedLineSeries::new(seg.iter().copied(), dash, gap, line.color.stroke_width(2)))
                .map_err(msg)?;
        }
    }
    Ok(())
}

impl Chart for LatencyTimeChart {
    fn size(&self) -> (u32, u32) {
        (1200, HEADER_HEIGHT + PANEL_HEIGHT * self.panels.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let (header, body) = root.split_vertically(HEADER_HEIGHT);
        draw_header(&header, &self.title, &tail_note("latencies", self.x_max))?;
        let (plots, side) = body.split_horizontally(body.dim_in_pixel().0 - legend::width(&self.legend));
        legend::draw(&side, (0, 40), &self.legend)?;
        let areas = plots.split_evenly((self.panels.len().max(1), 1));
        for (panel, area) in self.panels.iter().zip(areas.iter()) {
            draw_panel(area, self.x_max, panel)?;
        }
        Ok(())
    }
}
