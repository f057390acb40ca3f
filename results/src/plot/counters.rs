//! The key counters per target: one small bar panel per counter (their magnitudes differ by
//! orders), one bar per target in the target's colour, the exact value above each bar and, for
//! the other targets, their ratio to the first (the reference: `bh` in `--targets bh,iomap`).
//! Counters that are zero on every target get no panel; the header names them, and the
//! targets that have none of the counters (e.g. a tmpfs mount, without a block device).

use plotters::coord::Shift;
use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ticks::LabelledTicks;
use super::{Chart, FONT, axis_number, color, msg};
use crate::report::{CounterView, ratio_text};
use crate::summary::JobSummary;
use crate::units;

const COLUMNS: usize = 4;
const PANEL_HEIGHT: u32 = 300;

/// The chart.
pub(crate) struct CountersChart {
    title: String,
    /// (name, colour index) of the targets drawn.
    targets: Vec<(String, usize)>,
    /// (counter, value per target)
    counters: Vec<(String, Vec<Option<u64>>)>,
    /// Lines under the legend: what is not drawn, and what the ratios are to.
    notes: Vec<String>,
}

impl CountersChart {
    pub(crate) fn new(job: &JobSummary) -> Self {
        let view = CounterView::of(job);
        let mut notes = Vec::new();
        if let Some(reference) = view.reference().filter(|_| view.targets.len() > 1) {
            notes.push(format!("(n×) beside a value: that value ÷ {reference}'s"));
        }
        if !view.all_zero.is_empty() {
            notes.push(format!("zero on every target, not drawn: {}", view.all_zero.join(", ")));
        }
        if !view.without.is_empty() {
            notes.push(format!("no such counters: {}", view.without.join(", ")));
        }
        CountersChart {
            title: format!("{}: counters per target", job.job),
            targets: view.targets.iter().map(|(i, t)| (t.target.clone(), *i)).collect(),
            counters: view.rows.iter().map(|(c, v)| (c.to_string(), v.clone())).collect(),
            notes,
        }
    }

    fn header_height(&self) -> u32 {
        90 + 20 * self.notes.len() as u32
    }

    fn rows(&self) -> usize {
        self.counters.len().div_ceil(COLUMNS).max(1)
    }

    /// Whether there is nothing to draw: no target has a key counter that is not zero.
    pub(crate) fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }
}

/// A counter value for a label: bytes in IEC units, counts exact below 100k.
fn value_label(counter: &str, v: u64) -> String {
    if counter.contains("bytes") {
        units::iec_bytes(v as f64)
    } else if v < 100_000 {
        v.to_string()
    } else {
        units::si(v as f64)
    }
}

/// The y unit of a panel: (axis description, value per unit).
fn axis_unit(counter: &str, max: u64) -> (&'static str, f64) {
    if counter.contains("bytes") { units::bytes_axis_unit(max as f64) } else { ("count", 1.0) }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    counter: &str,
    targets: &[(String, usize)],
    values: &[Option<u64>],
) -> Result<(), String> {
    let n = targets.len().max(1) as f64;
    let max = values.iter().flatten().copied().max().unwrap_or(0);
    let (unit, per_unit) = axis_unit(counter, max);
    let y_max = max.max(1) as f64 / per_unit * 1.3;
    let x_axis = LabelledTicks::new(
        0f64..n,
        targets.iter().enumerate().map(|(i, (t, _))| (i as f64 + 0.5, t.clone())).collect(),
    );
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
        let c = color(targets[i].1);
        match value {
            Some(v) => {
                let top = *v as f64 / per_unit;
                chart.draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x1, top)], c.filled()))).map_err(msg)?;
                let mut label = value_label(counter, *v);
                let ratio = ratio_text(Some(*v), values[0]);
                if i > 0 && ratio != "-" {
                    label = format!("{label} ({ratio})");
                }
                let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
                chart.draw_series(std::iter::once(Text::new(label, (i as f64 + 0.5, top), style))).map_err(msg)?;
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
        (1400, self.header_height() + PANEL_HEIGHT * self.rows() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let (header, body) = root.split_vertically(self.header_height());
        let title_style = TextStyle::from((FONT, 26).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        header
            .draw(&Text::new(self.title.as_str(), (header.dim_in_pixel().0 as i32 / 2, 10), title_style))
            .map_err(msg)?;
        // Legend: a coloured square and the target name, side by side.
        let mut x = 30;
        for (t, ci) in &self.targets {
            header.draw(&Rectangle::new([(x, 50), (x + 18, 68)], color(*ci).filled())).map_err(msg)?;
            let style = TextStyle::from((FONT, 17).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            header.draw(&Text::new(t.as_str(), (x + 26, 59), style)).map_err(msg)?;
            x += 60 + 11 * t.chars().count() as i32;
        }
        let grey = BLACK.mix(0.6);
        let note_style = TextStyle::from((FONT, 15).into_font()).color(&grey).pos(Pos::new(HPos::Left, VPos::Top));
        for (i, note) in self.notes.iter().enumerate() {
            header.draw(&Text::new(note.as_str(), (30, 78 + 20 * i as i32), note_style.clone())).map_err(msg)?;
        }
        let panels = body.split_evenly((self.rows(), COLUMNS));
        for ((counter, values), area) in self.counters.iter().zip(panels.iter()) {
            draw_panel(area, counter, &self.targets, values)?;
        }
        Ok(())
    }
}
