//! `report.html`: one self-contained page per run (or several runs compared), checked as text
//! and, when Chromium is installed, rendered headless: every chart drawn, no console error, no
//! network, and a screenshot to look at.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Two runs, `a` and `b` (iomap's latencies halved in b, and its job defined with bs=8k).
fn two_runs(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    common::write_run(&a);
    common::write_run_scaled(&b, 0.5);
    let run_json = b.join("run.json");
    let text = std::fs::read_to_string(&run_json).unwrap().replace("bs=4k", "bs=8k");
    std::fs::write(&run_json, text).unwrap();
    (a, b)
}

fn chart_names(page: &str) -> Vec<String> {
    page.match_indices("<figure class=\"chart\" data-chart=\"")
        .map(|(i, m)| {
            let rest = &page[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn one_run_on_one_page() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let out = dir.path().join("report.html");
    results::html::write_report(&[dir.path().to_path_buf()], &out).unwrap();
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    // Self-contained: no script, nothing fetched.
    for external in ["<script", "src=", "href=\"http", "url(", "@import", "<link"] {
        assert!(!page.contains(external), "the page holds {external:?}");
    }
    // The same charts as plots/, inline, each with its file name.
    let mut written: Vec<String> = results::plot(dir.path())
        .unwrap()
        .iter()
        .filter(|p| p.extension().unwrap() == "svg")
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut shown = chart_names(&page);
    shown.sort();
    assert_eq!(shown, written);
    assert_eq!(page.matches("<svg ").count(), shown.len());
    for text in [
        "<h3>job randrw</h3>",
        "<dt>kernel</dt><dd>6.18.0-test</dd>",
        "<dt>command</dt><dd>aopsbench run</dd>",
        "job file: randrw.fio",
        "<th class=\"num\">p99.9</th>",
        "<td>read</td><td>bh</td>",
        "<td>read</td><td>iomap</td>",
        "<th class=\"num\">iomap ÷ bh</th>",
        "<td>map_blocks</td><td class=\"num\">42000</td><td class=\"num\">90</td><td class=\"num\">0.0021×</td>",
        "every counter",
        "bs=4k",
    ] {
        assert!(page.contains(text), "the page lacks {text:?}");
    }
    // Job `exact`'s counters are zero everywhere: listed, muted, no chart.
    assert!(page.contains("<tr class=\"muted\"><td>dev_reads</td>"), "zero rows are marked");
}

#[test]
fn several_runs_are_compared_with_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_runs(dir.path());
    let out = dir.path().join("both.html");
    results::html::write_report(&[a, b], &out).unwrap();
    let page = std::fs::read_to_string(&out).unwrap();
    for text in [
        "<h2>Run A: ",
        "<h2>Run B: ",
        "<h2>B against A</h2>",
        "warning: job randrw: defined differently: A has bs=4k; B has bs=8k",
        "3.53µs→1.76µs -50%",
    ] {
        assert!(page.contains(text), "the page lacks {text:?}");
    }
    let charts = chart_names(&page);
    for name in ["compare-randrw", "compare_latency-randrw-read", "latency-randrw-read"] {
        assert!(charts.iter().any(|c| c == name), "no chart {name} in {charts:?}");
    }
}

#[test]
fn a_missing_run_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = results::html::write_report(&[dir.path().join("nope")], &dir.path().join("r.html")).unwrap_err();
    assert!(err.to_string().contains("nope: missing; give the directory a run wrote"), "{err}");
    assert!(!dir.path().join("r.html").exists());
}

/// Chromium's flags for a headless, offline, throw-away session.
fn chromium(profile: &Path) -> Option<Command> {
    let program = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()))?;
    let mut c = Command::new(program);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    c.arg(format!("--user-data-dir={}", profile.display()));
    Some(c)
}

/// Appended to a copy of the page: measures every chart once the page has loaded, and what
/// it fetched, and writes the result into the DOM for `--dump-dom`. Its console line proves
/// that console output reaches the log the test reads.
const CHECKER: &str = r#"<script>
console.log("aopsbench-check: console captured");
window.addEventListener("load", () => {
  const figures = [...document.querySelectorAll("figure.chart")];
  const bad = figures.filter(f => {
    const svg = f.querySelector("svg");
    if (!svg) return true;
    const box = svg.getBoundingClientRect(), drawn = svg.getBBox();
    const marks = svg.querySelectorAll("path, polyline, polygon, line, rect, circle, text").length;
    return !(box.width > 300 && box.height > 150 && drawn.width > 300 && drawn.height > 150 && marks > 20);
  }).map(f => f.dataset.chart);
  const out = document.createElement("pre");
  out.id = "aopsbench-check";
  out.textContent = "charts=" + figures.length + " bad=" + JSON.stringify(bad) +
    " fetched=" + performance.getEntriesByType("resource").length + " height=" + document.documentElement.scrollHeight;
  document.body.appendChild(out);
});
</script>"#;

#[test]
fn chromium_renders_every_chart_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut probe) = chromium(&dir.path().join("profile-probe")) else {
        println!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let (a, b) = two_runs(dir.path());
    let page_path = dir.path().join("report.html");
    results::html::write_report(&[a, b], &page_path).unwrap();
    let page = std::fs::read_to_string(&page_path).unwrap();
    let expected = chart_names(&page).len();
    assert!(expected >= 15, "{expected} charts");

    // 1. The page with the checker: every chart measured, the console read.
    let check_path = dir.path().join("check.html");
    std::fs::write(&check_path, page.replace("</body>", &format!("{CHECKER}\n</body>"))).unwrap();
    let out = probe
        .args(["--virtual-time-budget=5000", "--window-size=1300,1000", "--dump-dom"])
        .arg(format!("file://{}", check_path.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    let result = dom
        .split("<pre id=\"aopsbench-check\">")
        .nth(1)
        .and_then(|r| r.split("</pre>").next())
        .unwrap_or_else(|| panic!("the checker did not run; chromium said:\n{log}"));
    assert!(result.starts_with(&format!("charts={expected} bad=[] fetched=0 ")), "{result}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.iter().any(|l| l.contains("aopsbench-check: console captured")), "console not captured:\n{log}");
    let errors: Vec<&&str> = console.iter().filter(|l| !l.contains("aopsbench-check")).collect();
    assert!(errors.is_empty(), "console messages: {errors:#?}");

    // 2. A screenshot of the page as it is, whole, to look at.
    let height: u32 = result.rsplit("height=").next().and_then(|h| h.trim().parse().ok()).unwrap();
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let mut camera = chromium(&dir.path().join("profile-shot")).unwrap();
    let out = camera
        .arg(format!("--window-size=1300,{}", height.min(30_000)))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page_path.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&shot).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes)).read_info().unwrap();
    assert_eq!(decoder.info().width, 1300);
    assert!(decoder.info().height > 5_000, "a long page: {}", decoder.info().height);
    println!("screenshot: {}", shot.display());
}
