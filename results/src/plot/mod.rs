//! `aopsbench plot RUNDIR`: SVG and PNG charts in `RUNDIR/plots/`, drawn from the files of the
//! run directory alone.
//!
//! Per job:
//! - `latency-JOB-OP.{svg,png}` — latency percentile curves, one per target, on a "nines" axis
//!   (x = log10(1/(1−p)): 50%, 90%, 99%, 99.9%, 99.99%), latency on a log axis;
//! - `throughput-JOB.{svg,png}` — MiB/s and IOPS per second, one line per target × op;
//! - `counters-JOB.{svg,png}` — one bar panel per key counter, one bar per target.
//!
//! Text is drawn with DejaVu Sans embedded in the crate, so no system font is needed.

mod counters;
mod font;
mod latency;
mod throughput;
mod ticks;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::atomic::{create_atomic_via_path, write_atomic};
use crate::error::{ResultsError, io_err};
use crate::report::{key_counters_of, ordered_ops};
use crate::run_dir::{PLOTS_DIR, RunDir, file_part};

/// The font family every chart uses (the embedded DejaVu Sans).
pub(crate) const FONT: &str = "sans-serif";

/// Line colours, by target (matplotlib's tab10, readable on white).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of the `i`th series.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A chart that can be drawn on any plotters backend.
pub(crate) trait Chart {
    /// Pixel size.
    fn size(&self) -> (u32, u32);
    /// Draw onto `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draw the charts of the run in `run_dir` into `run_dir/plots/`; returns the files written.
pub fn plot(run_dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    plot_run(&RunDir::load(run_dir)?)
}

/// Draw the charts of a loaded run into its `plots/` directory; returns the files written.
pub fn plot_run(run: &RunDir) -> Result<Vec<PathBuf>, ResultsError> {
    font::register()?;
    let dir = run.path.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut written = Vec::new();
    for job in &run.summary.jobs {
        for op in ordered_ops(job.targets.iter().flat_map(|t| t.ops.keys())) {
            let mut curves = Vec::new();
            for (i, t) in job.targets.iter().enumerate() {
                if t.ops.get(op).is_some_and(|s| s.count > 0) {
                    curves.push((t.target.clone(), i, run.histogram(&job.job, &t.target, op)?));
                }
            }
            if curves.is_empty() {
                continue;
            }
            let chart = latency::LatencyChart::new(&job.job, op, &curves);
            let name = format!("latency-{}-{}", file_part(&job.job), file_part(op));
            written.extend(save(&chart, &dir, &name)?);
        }
        let chart = throughput::ThroughputChart::new(run, job);
        let name = format!("throughput-{}", file_part(&job.job));
        written.extend(save(&chart, &dir, &name)?);
        if !key_counters_of(job).is_empty() {
            let chart = counters::CountersChart::new(job);
            let name = format!("counters-{}", file_part(&job.job));
            written.extend(save(&chart, &dir, &name)?);
        }
    }
    Ok(written)
}

/// Write `dir/name.svg` and `dir/name.png`, each atomically.
fn save(chart: &impl Chart, dir: &Path, name: &str) -> Result<[PathBuf; 2], ResultsError> {
    let svg_path = dir.join(format!("{name}.svg"));
    let png_path = dir.join(format!("{name}.png"));
    let plot_err = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| ResultsError::Plot { path, message }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, chart.size()).into_drawing_area();
        chart.draw(&root).map_err(plot_err(&svg_path))?;
        root.present().map_err(|e| plot_err(&svg_path)(e.to_string()))?;
    }
    write_atomic(&svg_path, svg.as_bytes())?;
    create_atomic_via_path(&png_path, |tmp| {
        let root = BitMapBackend::new(tmp, chart.size()).into_drawing_area();
        chart.draw(&root).map_err(plot_err(&png_path))?;
        root.present().map_err(|e| plot_err(&png_path)(e.to_string()))
    })?;
    Ok([svg_path, png_path])
}

/// An axis number without trailing zeros: `0.5`, `2`, `150`, `12k`.
pub(crate) fn axis_number(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        return crate::units::si(v);
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { String::from("0") } else { s.to_string() }
}

/// Turn a plotters drawing error into a message.
pub(crate) fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
