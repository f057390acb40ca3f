//! Legends drawn beside a chart rather than over its data, and the dash patterns that tell
//! series of one colour apart.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FONT, msg};

/// (dash, gap) in pixels: solid, dashed, dotted, long-dashed.
pub(crate) const DASHES: [(u32, u32); 4] = [(10_000, 0), (12, 6), (3, 4), (22, 6)];

/// One line of a legend.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) label: String,
    pub(crate) color: RGBColor,
    pub(crate) dash: (u32, u32),
}

/// Width of a legend column holding these labels, in pixels.
pub(crate) fn width(entries: &[Entry]) -> u32 {
    let longest = entries.iter().map(|e| e.label.chars().count()).max().unwrap_or(0) as u32;
    (longest * 9 + 60).clamp(120, 420)
}

/// Height of a legend of `n` entries drawn by [`draw`], in pixels.
pub(crate) fn height(n: usize) -> u32 {
    ROW * n as u32 + 8
}

const ROW: u32 = 24;

/// Draws the entries top-down in `area` (a column beside the chart, or a strip under it),
/// from (`left`, `top`).
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (left, top): (i32, i32),
    entries: &[Entry],
) -> Result<(), String> {
    let style = TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, e) in entries.iter().enumerate() {
        let y = top + (ROW * i as u32) as i32;
        let (dash, gap) = e.dash;
        area.draw(&DashedPathElement::new(
            vec![(left + 8, y), (left + 38, y)],
            dash.min(30),
            gap,
            e.color.stroke_width(3),
        ))
        .map_err(msg)?;
        area.draw(&Text::new(e.label.as_str(), (left + 46, y), style.clone())).map_err(msg)?;
    }
    Ok(())
}
