//! The key counters per target: one small bar panel per counter (their magnitudes differ by
//! orders), one bar per target in the target's colour, the exact value above each bar.

use plotters::coord::Shift;
use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ticks::LabelledTicks;
use super::{Chart, FONT, axis_number, color, msg};
use crate::report::key_counters_of;
use crate::summary::JobSummary;
use crate::units;

const COLUMNS: usize = 4;
const PANEL_HEIGHT: u32 = 300;
const HEADER_HEIGHT: u32 = 90;

/// The chart.
pub(crate) struct CountersChart {
    title: String,
    targets: Vec<String>,
    /// (counter, value per target)
    counters: Vec<(String, Vec<Option<u64>>)>,
}

impl CountersChart {
    pub(crate) fn new(job: &JobSummary) -> Self {
        CountersChart {
            title: format!("{}: counters per target", job.job),
            targets: job.targets.iter().map(|t| t.target.clone()).collect(),
            counters: key_counters_of(job)
                .into_iter()
                .map(|c| (c.to_string(), job.targets.iter().map(|t| t.stats.get(c).copied()).collect()))
                .collect(),
        }
    }

    fn rows(&self) -> usize {
        self.counters.len().div_ceil(COLUMNS).max(1)
    }
}

/// A counter value for a label: bytes in IEC units, counts exact below 100k.
fn value_label(counter: &str, v: u64) -> String {
    if counter.contains("bytes") {
        let v = v as f64;
        if v >= 1024.0 * 1024.0 * 1024.0 {
            format!("{:.2} GiB", v / (1024.0 * 1024.0 * 1024.0))
        } else if v >= units::MIB {
            format!("{:.1} MiB", v / units::MIB)
        } else if v >= 1024.0 {
            format!("{:.1} KiB", v / 1024.0)
        } else {
            format!("{v} B")
        }
    } else if v < 100_000 {
        v.to_string()
    } else {
        units::si(v as f64)
    }
}

/// The y unit of a panel: (axis description, value per unit).
fn axis_unit(counter: &str, max: u64) -> (&'static str, f64) {
    if !counter.contains("bytes") {
        return ("count", 1.0);
    }
    let max = max as f64;
    if max >= 1024.0 * units::MIB {
        ("GiB", 1024.0 * units::MIB)
    } else if max >= units::MIB {
        ("MiB", units::MIB)
    } else if max >= 1024.0 {
        ("KiB", 1024.0)
    } else {
        ("bytes", 1.0)
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    counter: &str,
    targets: &[String],
    values: &[Option<u64>],
) -> Result<(), String> {
    let n = targets.len().max(1) as f64;
    let max = values.iter().flatten().copied().max().unwrap_or(0);
    let (unit, per_unit) = axis_unit(counter, max);
    let y_max = max.max(1) as f64 / per_unit * 1.2;
    let x_axis =
        LabelledTicks::new(0f64..n, targets.iter().enumerate().map(|(i, t)| (i as f64 + 0.5, t.clone())).collect());
    let mut chart = ChartBuilder::on(area)
        .caption(counter, (FONT, 17))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(x_axis, 0f64..y_max)
        .map_err(msg)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(unit)
        .y_label_formatter(&|y| axis_number(*y))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(msg)?;
    for (i, value) in values.iter().enumerate() {
        let x0 = i as f64 + 0.15;
        let x1 = i as f64 + 0.85;
        let c = color(i);
        match value {
            Some(v) => {
                chart
                    .draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x1, *v as f64 / per_unit)], c.filled())))
                    .map_err(msg)?;
                let label = value_label(counter, *v);
                let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
                chart
                    .draw_series(std::iter::once(Text::new(label, (i as f64 + 0.5, *v as f64 / per_unit), style)))
                    .map_err(msg)?;
            }
            None => {
                let grey = BLACK.mix(0.5);
                let style =
                    TextStyle::from((FONT, 13).into_font()).color(&grey).pos(Pos::new(HPos::Center, VPos::Bottom));
                chart.draw_series(std::iter::once(Text::new("n/a", (i as f64 + 0.5, 0.0), style))).map_err(msg)?;
            }
        }
    }
    Ok(())
}

impl Chart for CountersChart {
    fn size(&self) -> (u32, u32) {
        (1400, HEADER_HEIGHT + PANEL_HEIGHT * self.rows() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let (header, body) = root.split_vertically(HEADER_HEIGHT);
        let title_style = TextStyle::from((FONT, 26).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        header
            .draw(&Text::new(self.title.as_str(), (header.dim_in_pixel().0 as i32 / 2, 10), title_style))
            .map_err(msg)?;
        // Legend: a coloured square and the target name, side by side.
        let mut x = 30;
        for (i, t) in self.targets.iter().enumerate() {
            header.draw(&Rectangle::new([(x, 55), (x + 18, 73)], color(i).filled())).map_err(msg)?;
            let style = TextStyle::from((FONT, 17).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            header.draw(&Text::new(t.as_str(), (x + 26, 64), style)).map_err(msg)?;
            x += 60 + 11 * t.chars().count() as i32;
        }
        let panels = body.split_evenly((self.rows(), COLUMNS));
        for ((counter, values), area) in self.counters.iter().zip(panels.iter()) {
            draw_panel(area, counter, &self.targets, values)?;
        }
        Ok(())
    }
}
