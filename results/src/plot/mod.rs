//! `aopsbench plot RUNDIR`: SVG and PNG charts in `RUNDIR/plots/`, drawn from the files of the
//! run directory alone.
//!
//! Per job:
//! - `latency-JOB-OP.{svg,png}` — latency percentile curves, one per target, on a "nines" axis
//!   (x = log10(1/(1−p)): 50%, 90%, 99%, 99.9%, 99.99%), latency on a log axis;
//! - `throughput-JOB.{svg,png}` — bandwidth and IOPS per interval, one line per target × op;
//! - `latency_over_time-JOB.{svg,png}` — p50, p99 and max per interval, one panel per op;
//! - `counters-JOB.{svg,png}` — one bar panel per key counter, one bar per target, ratios to
//!   the first target; counters zero everywhere are listed, not drawn.
//!
//! Two runs compared ([`plot_comparison`]), per job common to both:
//! - `compare-JOB.{svg,png}` — the change of IOPS, p50 and p99 of every target × op;
//! - `compare_latency-JOB-OP.{svg,png}` — both runs' percentile curves (A dashed, B solid).
//!
//! The file name prefixes differ before their first `-`, so no job or op name can make two
//! charts share a file. Every axis carries a unit (`µs`/`ms` on latency ticks, MiB/s, KiB, …).
//! Text is drawn with DejaVu Sans embedded in the crate, so no system font is needed.

mod compare;
mod counters;
mod font;
mod latency;
mod latency_time;
mod legend;
mod throughput;
mod ticks;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::atomic::{create_atomic_via_path, write_atomic};
use crate::compare::{Comparison, compare_runs};
use crate::error::{ResultsError, io_err};
use crate::report::ordered_ops;
use crate::run_dir::{PLOTS_DIR, RunDir, file_part};
use crate::summary::JobSummary;

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

/// What a chart shows (where the HTML report places it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Latency percentile curves of one op.
    Percentiles,
    /// Bandwidth and IOPS over time.
    Throughput,
    /// p50, p99 and max over time.
    LatencyOverTime,
    /// The key counters.
    Counters,
    /// Two runs: the changes of IOPS and latency.
    Compare,
    /// Two runs: the percentile curves of one op.
    CompareLatency,
}

enum AnyChart {
    Latency(latency::LatencyChart),
    Throughput(throughput::ThroughputChart),
    LatencyTime(latency_time::LatencyTimeChart),
    Counters(counters::CountersChart),
    Compare(compare::CompareChart),
}

/// A chart with its file name (without extension) and what it shows.
pub(crate) struct NamedChart {
    /// File name without extension, e.g. `latency-randrw-read`.
    pub(crate) name: String,
    /// What it shows.
    pub(crate) kind: Kind,
    chart: AnyChart,
}

impl Chart for AnyChart {
    fn size(&self) -> (u32, u32) {
        match self {
            AnyChart::Latency(c) => c.size(),
            AnyChart::Throughput(c) => c.size(),
            AnyChart::LatencyTime(c) => c.size(),
            AnyChart::Counters(c) => c.size(),
            AnyChart::Compare(c) => c.size(),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        match self {
            AnyChart::Latency(c) => c.draw(root),
            AnyChart::Throughput(c) => c.draw(root),
            AnyChart::LatencyTime(c) => c.draw(root),
            AnyChart::Counters(c) => c.draw(root),
            AnyChart::Compare(c) => c.draw(root),
        }
    }
}

impl NamedChart {
    fn new(name: String, kind: Kind, chart: AnyChart) -> Self {
        NamedChart { name, kind, chart }
    }

    /// The chart as an SVG document.
    pub(crate) fn svg(&self) -> Result<String, ResultsError> {
        font::register()?;
        let err = |message: String| ResultsError::Plot { path: PathBuf::from(format!("{}.svg", self.name)), message };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.chart.size()).into_drawing_area();
            self.chart.draw(&root).map_err(err)?;
            root.present().map_err(|e| err(e.to_string()))?;
        }
        Ok(svg)
    }

    /// Write `dir/NAME.svg` and `dir/NAME.png`, each atomically.
    fn save(&self, dir: &Path) -> Result<[PathBuf; 2], ResultsError> {
        let svg_path = dir.join(format!("{}.svg", self.name));
        let png_path = dir.join(format!("{}.png", self.name));
        write_atomic(&svg_path, self.svg()?.as_bytes())?;
        create_atomic_via_path(&png_path, |tmp| {
            let err = |message: String| ResultsError::Plot { path: png_path.clone(), message };
            let root = BitMapBackend::new(tmp, self.chart.size()).into_drawing_area();
            self.chart.draw(&root).map_err(err)?;
            root.present().map_err(|e| err(e.to_string()))
        })?;
        Ok([svg_path, png_path])
    }
}

/// The charts of one job of a run, in the order the report shows them.
pub(crate) fn job_charts(run: &RunDir, job: &JobSummary) -> Result<Vec<NamedChart>, ResultsError> {
    let mut charts = Vec::new();
    let mut over_time = Vec::new();
    for op in ordered_ops(job.targets.iter().flat_map(|t| t.ops.keys())) {
        let mut curves = Vec::new();
        let mut intervals = Vec::new();
        for (i, t) in job.targets.iter().enumerate() {
            if t.ops.get(op).is_some_and(|s| s.count > 0) {
                let logged = run.intervals(&job.job, &t.target, op)?;
                let histogram = crate::hdr::total_of(&logged).map_err(|message| ResultsError::HistogramLog {
                    path: run.hlog_path(&job.job, &t.target, op),
                    message,
                })?;
                curves.push(latency::CurveInput { label: t.target.clone(), color: i, dashed: false, histogram });
                intervals.push((t.target.clone(), i, logged));
            }
        }
        if curves.is_empty() {
            continue;
        }
        let name = format!("latency-{}-{}", file_part(&job.job), file_part(op));
        charts.push(NamedChart::new(
            name,
            Kind::Percentiles,
            AnyChart::Latency(latency::LatencyChart::of_op(&job.job, op, &curves)),
        ));
        over_time.push((op.clone(), intervals));
    }
    let jp = file_part(&job.job);
    charts.push(NamedChart::new(
        format!("throughput-{jp}"),
        Kind::Throughput,
        AnyChart::Throughput(throughput::ThroughputChart::new(run, job)),
    ));
    let chart = latency_time::LatencyTimeChart::new(&job.job, over_time);
    if !chart.is_empty() {
        charts.push(NamedChart::new(
            format!("latency_over_time-{jp}"),
            Kind::LatencyOverTime,
            AnyChart::LatencyTime(chart),
        ));
    }
    let chart = counters::CountersChart::new(job);
    if !chart.is_empty() {
        charts.push(NamedChart::new(format!("counters-{jp}"), Kind::Counters, AnyChart::Counters(chart)));
    }
    Ok(charts)
}

/// The charts of `cmp`, the comparison of run B with run A: per job common to both, the
/// changes, then the percentile curves of each op both have.
pub(crate) fn comparison_charts(a: &RunDir, b: &RunDir, cmp: &Comparison) -> Result<Vec<NamedChart>, ResultsError> {
    let mut charts = Vec::new();
    for job in &cmp.jobs {
        let jp = file_part(&job.job);
        let chart = compare::CompareChart::new(job);
        if !chart.is_empty() {
            charts.push(NamedChart::new(format!("compare-{jp}"), Kind::Compare, AnyChart::Compare(chart)));
        }
        let Some(jb) = b.summary.job(&job.job) else { continue };
        let mut ops: Vec<&String> = job.ops.iter().map(|d| &d.op).collect();
        ops = ordered_ops(ops);
        for op in ops {
            let mut curves = Vec::new();
            for d in job.ops.iter().filter(|d| &d.op == op && d.a.count > 0 && d.b.count > 0) {
                let color = jb.targets.iter().position(|t| t.target == d.target).unwrap_or(0);
                for (run, label, dashed) in [(a, "A", true), (b, "B", false)] {
                    let histogram = run.histogram(&job.job, &d.target, op)?;
                    curves.push(latency::CurveInput {
                        label: format!("{} ({label})", d.target),
                        color,
                        dashed,
                        histogram,
                    });
                }
            }
            if curves.is_empty() {
                continue;
            }
            let title = format!("{}: {op} latency by percentile, A dashed, B solid", job.job);
            charts.push(NamedChart::new(
                format!("compare_latency-{jp}-{}", file_part(op)),
                Kind::CompareLatency,
                AnyChart::Latency(latency::LatencyChart::new(title, &curves)),
            ));
        }
    }
    Ok(charts)
}

/// Draw the charts of the run in `run_dir` into `run_dir/plots/`; returns the files written.
pub fn plot(run_dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    plot_run(&RunDir::load(run_dir)?)
}

/// Draw the charts of a loaded run into its `plots/` directory; returns the files written.
pub fn plot_run(run: &RunDir) -> Result<Vec<PathBuf>, ResultsError> {
    let dir = run.path.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut written = Vec::new();
    for job in &run.summary.jobs {
        for chart in job_charts(run, job)? {
            written.extend(chart.save(&dir)?);
        }
    }
    Ok(written)
}

/// Draw the charts comparing run B (`b_dir`) with run A (`a_dir`) into `out_dir`; returns the
/// files written.
pub fn plot_comparison(a_dir: &Path, b_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    let (a, b) = (RunDir::load(a_dir)?, RunDir::load(b_dir)?);
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let mut written = Vec::new();
    for chart in comparison_charts(&a, &b, &compare_runs(&a, &b))? {
        written.extend(chart.save(out_dir)?);
    }
    Ok(written)
}

/// An axis number without trailing zeros: `0.5`, `2`, `150`, `12k`, `1.5M`.
pub(crate) fn axis_number(v: f64) -> String {
    for (per, suffix) in [(1e9f64, "G"), (1e6, "M"), (1e3, "k")] {
        if v.abs() >= per.max(10_000.0) {
            return format!("{}{suffix}", crate::units::trimmed((v / per * 100.0).round() / 100.0));
        }
    }
    crate::units::trimmed(v)
}

/// Turn a plotters drawing error into a message.
pub(crate) fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
