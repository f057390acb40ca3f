//! `report.html`: one or more runs on one self-contained page — no network, no script: the
//! styles are inline and every chart is an inline SVG drawn by [`crate::plot`] (the same charts
//! as `plots/`, scaled to the page).
//!
//! Per run: what ran (`run.json`: command, kernel, machine, targets, job definitions), then per
//! job, its targets side by side — throughput and latency per op (rows of one op together),
//! latency percentile curves, throughput and latency (p50, p99, max) over time, the key
//! counters with each target's ratio to the first, and every counter. With several runs, each
//! later run is compared with the first, as `aopsbench compare` does, with the comparison
//! charts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::atomic::write_atomic;
use crate::compare::compare_runs;
use crate::error::ResultsError;
use crate::plot::{self, Kind, NamedChart};
use crate::report::{CounterView, ordered_ops, ratio_text};
use crate::run_dir::RunDir;
use crate::summary::JobSummary;
use crate::table::{Align, Table, html_escape as esc};
use crate::units;

const STYLE: &str = include_str!("report.css");

/// The report of `runs` (the first is the reference of the comparisons) as one HTML document.
pub fn report(runs: &[RunDir]) -> Result<String, ResultsError> {
    let mut page = String::new();
    let title = match runs {
        [one] => format!("aopsbench report: {}", one.path.display()),
        _ => format!("aopsbench report: {} runs", runs.len()),
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    page.push_str(&contents(runs));
    for (i, run) in runs.iter().enumerate() {
        page.push_str(&run_section(i, runs.len(), run)?);
    }
    for (i, run) in runs.iter().enumerate().skip(1) {
        page.push_str(&comparison_section(&runs[0], run, i)?);
    }
    let version = runs.first().map_or("", |r| r.summary.aopsbench_version.as_str());
    let _ = write!(
        page,
        "<footer>Written by aopsbench {}. Each chart is also in the run directory's <code>plots/</code> as SVG \
         and PNG (<code>aopsbench plot</code>); the numbers are in <code>summary.json</code>, \
         <code>latency.csv</code>, <code>throughput.csv</code>, <code>fio.json</code> and \
         <code>hdr/</code>.</footer>\n</main>\n</body>\n</html>\n",
        esc(version)
    );
    Ok(page)
}

/// Load the runs in `dirs`, write their report to `out` (atomically) and return its size.
pub fn write_report(dirs: &[PathBuf], out: &Path) -> Result<usize, ResultsError> {
    let runs = dirs.iter().map(|d| RunDir::load(d)).collect::<Result<Vec<_>, _>>()?;
    let page = report(&runs)?;
    write_atomic(out, page.as_bytes())?;
    Ok(page.len())
}

/// A run's letter in a report of several: A, B, … Z, then R27, R28, ….
fn letter(i: usize) -> String {
    match u8::try_from(i).ok().filter(|&i| i < 26) {
        Some(i) => char::from(b'A' + i).to_string(),
        None => format!("R{}", i + 1),
    }
}

fn run_heading(i: usize, n: usize, run: &RunDir) -> String {
    if n == 1 { format!("Run {}", run.path.display()) } else { format!("Run {}: {}", letter(i), run.path.display()) }
}

fn contents(runs: &[RunDir]) -> String {
    let mut out = String::from("<nav>\n<ul>\n");
    for (i, run) in runs.iter().enumerate() {
        let _ = write!(out, "<li><a href=\"#r{i}\">{}</a>: jobs ", esc(&run_heading(i, runs.len(), run)));
        let jobs: Vec<String> = run
            .summary
            .jobs
            .iter()
            .enumerate()
            .map(|(k, j)| format!("<a href=\"#r{i}-j{k}\">{}</a>", esc(&j.job)))
            .collect();
        out.push_str(&jobs.join(", "));
        out.push_str("</li>\n");
    }
    for i in 1..runs.len() {
        let _ = writeln!(out, "<li><a href=\"#c{i}\">{} against A</a></li>", letter(i));
    }
    out.push_str("</ul>\n</nav>\n");
    out
}

/// A `run.json` value on one line: strings as they are, arrays space-separated, objects as
/// `key=value` pairs.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(" "),
        Value::Object(map) => map.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn metadata(run: &RunDir) -> String {
    let mut out = String::from("<dl class=\"meta\">\n");
    let mut row = |key: &str, value: &str| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(key), esc(value));
    };
    row("aopsbench", &run.summary.aopsbench_version);
    if let Value::Object(map) = &run.run {
        for (key, value) in map.iter().filter(|(k, _)| !matches!(k.as_str(), "jobs" | "job_text")) {
            row(key, &value_text(value));
        }
    }
    out.push_str("</dl>\n");
    if let Some(texts) = run.run.get("job_text").and_then(Value::as_array) {
        for t in texts {
            let source = t.get("source").map(value_text).unwrap_or_default();
            let text = t.get("text").map(value_text).unwrap_or_default();
            let _ = writeln!(
                out,
                "<details><summary>job file: {}</summary><pre>{}</pre></details>",
                esc(&source),
                esc(&text)
            );
        }
    }
    out
}

fn run_section(i: usize, n: usize, run: &RunDir) -> Result<String, ResultsError> {
    let mut out = format!("<section id=\"r{i}\">\n<h2>{}</h2>\n", esc(&run_heading(i, n, run)));
    out.push_str(&metadata(run));
    for (k, job) in run.summary.jobs.iter().enumerate() {
        out.push_str(&job_section(&format!("r{i}-j{k}"), run, job)?);
    }
    out.push_str("</section>\n");
    Ok(out)
}

/// Per op, one row per target: the targets of an op side by side.
fn ops_table(job: &JobSummary) -> Table {
    let mut t = Table::new(&[
        ("op", Align::Left),
        ("target", Align::Left),
        ("ops", Align::Right),
        ("IOPS", Align::Right),
        ("MiB/s", Align::Right),
        ("mean", Align::Right),
        ("p50", Align::Right),
        ("p90", Align::Right),
        ("p99", Align::Right),
        ("p99.9", Align::Right),
        ("p99.99", Align::Right),
        ("max", Align::Right),
    ]);
    for op in ordered_ops(job.targets.iter().flat_map(|t| t.ops.keys())) {
        for target in &job.targets {
            let Some(s) = target.ops.get(op) else { continue };
            let l = &s.lat_ns;
            t.push(vec![
                op.clone(),
                target.target.clone(),
                s.count.to_string(),
                units::si(s.iops),
                if s.bytes > 0 { units::mib_per_s(s.bw()) } else { String::from("-") },
                units::latency(l.mean),
                units::latency(l.p50 as f64),
                units::latency(l.p90 as f64),
                units::latency(l.p99 as f64),
                units::latency(l.p99_9 as f64),
                units::latency(l.p99_99 as f64),
                units::latency(l.max as f64),
            ]);
        }
    }
    t
}

fn targets_table(job: &JobSummary) -> Table {
    let mut t = Table::new(&[("target", Align::Left), ("spec", Align::Left), ("measured", Align::Right)]);
    for target in &job.targets {
        t.push(vec![target.target.clone(), target.spec.clone(), format!("{:.3} s", target.runtime_ns as f64 / 1e9)]);
    }
    t
}

/// The key counters, one column per target and one ratio column per other target; rows zero
/// on every target last and muted.
fn counters_table(view: &CounterView<'_>) -> Option<Table> {
    let reference = view.reference()?;
    let mut columns: Vec<(String, Align)> = vec![("counter".into(), Align::Left)];
    columns.extend(view.targets.iter().map(|(_, t)| (t.target.clone(), Align::Right)));
    columns.extend(view.targets.iter().skip(1).map(|(_, t)| (format!("{} ÷ {reference}", t.target), Align::Right)));
    let borrowed: Vec<(&str, Align)> = columns.iter().map(|(c, a)| (c.as_str(), *a)).collect();
    let mut table = Table::new(&borrowed);
    let show = |v: Option<u64>| v.map_or_else(|| String::from("-"), |v| v.to_string());
    for (counter, values) in &view.rows {
        let mut row = vec![counter.to_string()];
        row.extend(values.iter().map(|v| show(*v)));
        row.extend(values.iter().skip(1).map(|v| ratio_text(*v, values[0])));
        table.push(row);
    }
    for counter in &view.all_zero {
        let mut row = vec![counter.to_string()];
        row.extend(view.targets.iter().map(|(_, t)| show(t.stats.get(*counter).copied())));
        row.extend(view.targets.iter().skip(1).map(|_| String::from("zero everywhere")));
        table.push(row);
    }
    Some(table)
}

/// Every counter of every target (the key ones included), by name.
fn all_counters_table(job: &JobSummary) -> Table {
    let mut columns: Vec<(&str, Align)> = vec![("counter", Align::Left)];
    columns.extend(job.targets.iter().map(|t| (t.target.as_str(), Align::Right)));
    let mut table = Table::new(&columns);
    let names: std::collections::BTreeSet<&String> = job.targets.iter().flat_map(|t| t.stats.keys()).collect();
    for name in names {
        let mut row = vec![name.clone()];
        row.extend(job.targets.iter().map(|t| t.stats.get(name).map_or_else(|| String::from("-"), |v| v.to_string())));
        table.push(row);
    }
    table
}

fn figure(chart: &NamedChart) -> Result<String, ResultsError> {
    let svg = chart.svg()?;
    let svg = svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{}\" ", esc(&chart.name)), 1);
    Ok(format!(
        "<figure class=\"chart\" data-chart=\"{0}\">\n{svg}\n<figcaption>plots/{0}.svg, .png</figcaption>\n</figure>\n",
        esc(&chart.name)
    ))
}

fn figures(charts: &[NamedChart], kind: Kind) -> Result<String, ResultsError> {
    charts.iter().filter(|c| c.kind == kind).map(figure).collect()
}

fn job_section(id: &str, run: &RunDir, job: &JobSummary) -> Result<String, ResultsError> {
    let charts = plot::job_charts(run, job)?;
    let mut out = format!("<section id=\"{id}\">\n<h3>job {}</h3>\n", esc(&job.job));
    if let Some(definition) = run.job_definition(&job.job) {
        let _ = writeln!(out, "<details><summary>definition</summary><pre>{}</pre></details>", esc(definition));
    }
    out.push_str(&targets_table(job).to_html(&[]));
    out.push_str("<h4>Throughput and latency</h4>\n<div class=\"scroll\">\n");
    out.push_str(&ops_table(job).to_html(&[]));
    out.push_str("</div>\n");
    out.push_str("<h4>Latency by percentile</h4>\n");
    out.push_str(&figures(&charts, Kind::Percentiles)?);
    out.push_str("<h4>Throughput over time</h4>\n");
    out.push_str(&figures(&charts, Kind::Throughput)?);
    out.push_str("<h4>Latency over time</h4>\n");
    out.push_str(&figures(&charts, Kind::LatencyOverTime)?);
    out.push_str("<h4>Counters</h4>\n");
    let view = CounterView::of(job);
    match counters_table(&view) {
        Some(table) => {
            let zero: Vec<&str> = view.all_zero.clone();
            out.push_str(&table.to_html(&zero));
        }
        None => out.push_str("<p class=\"note\">No target of this job has the key counters.</p>\n"),
    }
    if !view.without.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">No key counters: {}.</p>", esc(&view.without.join(", ")));
    }
    out.push_str(&figures(&charts, Kind::Counters)?);
    out.push_str("<details><summary>every counter</summary>\n<div class=\"scroll\">\n");
    out.push_str(&all_counters_table(job).to_html(&[]));
    out.push_str("</div>\n</details>\n</section>\n");
    Ok(out)
}

fn comparison_section(a: &RunDir, b: &RunDir, i: usize) -> Result<String, ResultsError> {
    let mut out = format!(
        "<section id=\"c{i}\">\n<h2>{} against A</h2>\n<p>A = <code>{}</code>, {} = <code>{}</code>; each cell: A → B \
         and the change.</p>\n",
        letter(i),
        esc(&a.path.display().to_string()),
        letter(i),
        esc(&b.path.display().to_string())
    );
    let cmp = compare_runs(a, b);
    if cmp.jobs.is_empty() {
        out.push_str("<p class=\"note\">No job in common: nothing to compare.</p>\n</section>\n");
        return Ok(out);
    }
    out.push_str("<div class=\"scroll\">\n");
    out.push_str(&cmp.to_html());
    out.push_str("</div>\n");
    let charts = plot::comparison_charts(a, b, &cmp)?;
    out.push_str(&figures(&charts, Kind::Compare)?);
    out.push_str(&figures(&charts, Kind::CompareLatency)?);
    out.push_str("</section>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_letters() {
        assert_eq!(letter(0), "A");
        assert_eq!(letter(25), "Z");
        assert_eq!(letter(26), "R27");
    }

    #[test]
    fn run_json_values_on_one_line() {
        let v: Value = serde_json::json!({"cpus": 2, "cpu": "Xeon"});
        // In the order run.json holds them (serde_json's preserve_order).
        assert_eq!(value_text(&v), "cpus=2, cpu=Xeon");
        assert_eq!(value_text(&serde_json::json!(["aopsbench", "run"])), "aopsbench run");
    }
}
