//! Charts: written, not empty, PNGs decode to sane images with drawn text.

mod common;

use std::path::Path;

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>, png::ColorType) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type)
}

#[test]
fn plots_are_written_and_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path());
    let written = results::plot(dir.path()).unwrap();
    let mut names: Vec<String> =
        written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    // Job `exact` has only zero counters on one target: no counters chart.
    let expected = [
        "counters-randrw",
        "latency-exact-fsync",
        "latency-exact-read",
        "latency-randrw-fsync",
        "latency-randrw-read",
        "latency-randrw-write",
        "latency_over_time-exact",
        "latency_over_time-randrw",
        "throughput-exact",
        "throughput-randrw",
    ];
    let mut want: Vec<String> = expected.iter().flat_map(|n| [format!("{n}.png"), format!("{n}.svg")]).collect();
    want.sort();
    assert_eq!(names, want);

    for path in &written {
        assert!(path.starts_with(dir.path().join("plots")));
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 2_000, "{} is only {} bytes", path.display(), bytes.len());
        if path.extension().unwrap() == "svg" {
            let svg = String::from_utf8(bytes).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains("<text"), "{} has no text", path.display());
        } else {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            let (w, h, pixels, color) = decode_png(path);
            assert_eq!(color, png::ColorType::Rgb);
            assert!((800..=2000).contains(&w) && (300..=1500).contains(&h), "{w}×{h}");
            // Not blank: many distinct colours (anti-aliased text and lines on white).
            let mut colours: Vec<[u8; 3]> = pixels.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
            colours.sort_unstable();
            colours.dedup();
            assert!(colours.len() > 50, "{} has {} colours", path.display(), colours.len());
        }
    }
    let svg = |name: &str| std::fs::read_to_string(dir.path().join("plots").join(name)).unwrap();
    let latency = svg("latency-randrw-read.svg");
    for text in ["99.99%", "99.9%", "90%", "50%", "latency (log scale)", "percentile", "bh", "iomap", ">\n2µs\n<"] {
        assert!(latency.contains(text), "latency chart lacks {text:?}");
    }
    let throughput = svg("throughput-randrw.svg");
    for text in ["MiB/s", "IOPS", "time since start (s)", "bh read", "iomap write", "the last interval holds"] {
        assert!(throughput.contains(text), "throughput chart lacks {text:?}");
    }
    let over_time = svg("latency_over_time-randrw.svg");
    for text in ["read latency", "write latency", "fsync latency", "p50", "p99", "max", ">\n10µs\n<"] {
        assert!(over_time.contains(text), "latency-over-time chart lacks {text:?}");
    }
    let counters = svg("counters-randrw.svg");
    for text in ["map_blocks", "dev_writes", "42000", "folio_private_bytes_peak", "90 (0.0021×)", "64.0 MiB"] {
        assert!(counters.contains(text), "counters chart lacks {text:?}");
    }
    // iomap_begin is 0 on bh and 88 on iomap: drawn; nothing here is zero everywhere.
    assert!(counters.contains("iomap_begin") && !counters.contains("zero on every target"), "{counters}");
    // No axis shows raw nanoseconds or bytes.
    for file in ["latency-randrw-read.svg", "latency_over_time-randrw.svg", "counters-randrw.svg"] {
        let text = svg(file);
        for raw in ["ns, log", ">\n1000000\n<", ">\n10.0M\n<", "(bytes)"] {
            assert!(!text.contains(raw), "{file} has {raw:?}");
        }
    }
}

#[test]
fn all_zero_counters_are_named_not_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = results::RunWriter::create(dir.path(), "0.1.0", &serde_json::json!({})).unwrap();
    for (target, map_blocks) in [("bh", 64), ("iomap", 2)] {
        run.add(results::TargetResult {
            job: "w".into(),
            target: target.into(),
            spec: target.into(),
            started: common::start(),
            runtime_ns: 1_000_000_000,
            ops: common::exact_ops(),
            counters: common::counters(&[("map_blocks", map_blocks), ("rmw_reads", 0), ("zeroed_bytes", 0)]),
            stats: Default::default(),
        })
        .unwrap();
    }
    run.add(results::TargetResult {
        job: "w".into(),
        target: "tmpfs".into(),
        spec: "tmpfs".into(),
        started: common::start(),
        runtime_ns: 1_000_000_000,
        ops: common::exact_ops(),
        counters: common::counters(&[("proc_write_bytes", 4096)]),
        stats: Default::default(),
    })
    .unwrap();
    run.finish().unwrap();
    results::plot(dir.path()).unwrap();
    let counters = std::fs::read_to_string(dir.path().join("plots/counters-w.svg")).unwrap();
    assert!(counters.contains("zero on every target, not drawn: rmw_reads, zeroed_bytes"), "{counters}");
    assert!(counters.contains("no such counters: tmpfs"), "{counters}");
    assert!(counters.contains("2 (0.031×)"), "{counters}");
    // One panel: one caption for map_blocks, none for the zero rows.
    assert_eq!(counters.matches(">\nmap_blocks\n<").count(), 1, "{counters}");
    assert!(!counters.contains(">\nrmw_reads\n<"), "{counters}");
}

#[test]
fn a_partial_last_interval_is_drawn_at_its_real_rate() {
    // 2.3 s of 1000 ops/s: the 0.3 s tail joins the second second (1.3 s, 1300 ops), so the
    // last step is at 1000 ops/s, not 300 (the tail's ops over a whole second) or 0.
    let dir = tempfile::tempdir().unwrap();
    let mut run = results::RunWriter::create(dir.path(), "0.1.0", &serde_json::json!({})).unwrap();
    let mut t = results::RecorderSet::new();
    for i in 0..2300u64 {
        t.record("write", i * 1_000_000 + 500_000, 10_000, 4096);
    }
    run.add(results::TargetResult {
        job: "tail".into(),
        target: "bh".into(),
        spec: "bh".into(),
        started: common::start(),
        runtime_ns: 2_300_000_000,
        ops: results::merge_threads([t.finish()]).unwrap(),
        counters: common::counters(&[]),
        stats: Default::default(),
    })
    .unwrap();
    run.finish().unwrap();
    let loaded = results::RunDir::load(dir.path()).unwrap();
    let rows: Vec<(u64, u64, u64)> = loaded.throughput.iter().map(|r| (r.second, r.duration_ns, r.ops)).collect();
    assert_eq!(rows, [(0, 1_000_000_000, 1000), (1, 1_300_000_000, 1300)]);
    assert!(loaded.throughput.iter().all(|r| (r.iops() - 1000.0).abs() < 1e-6));
    results::plot(dir.path()).unwrap();
    assert!(dir.path().join("plots/throughput-tail.png").exists());
}

#[test]
fn two_runs_are_compared_in_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    common::write_run(&a);
    common::write_run_scaled(&b, 0.5);
    let out = dir.path().join("cmp");
    let written = results::plot_comparison(&a, &b, &out).unwrap();
    let mut names: Vec<String> =
        written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut want: Vec<String> = [
        "compare-exact",
        "compare-randrw",
        "compare_latency-exact-fsync",
        "compare_latency-exact-read",
        "compare_latency-randrw-fsync",
        "compare_latency-randrw-read",
        "compare_latency-randrw-write",
    ]
    .iter()
    .flat_map(|n| [format!("{n}.png"), format!("{n}.svg")])
    .collect();
    want.sort();
    assert_eq!(names, want);
    let bars = std::fs::read_to_string(out.join("compare-randrw.svg")).unwrap();
    // iomap's latencies halved in B: p50 -50%, drawn as better.
    for text in ["iomap read p50", "-50%", "change from A to B (%)", "green: B better"] {
        assert!(bars.contains(text), "comparison chart lacks {text:?}");
    }
    let curves = std::fs::read_to_string(out.join("compare_latency-randrw-read.svg")).unwrap();
    for text in ["bh (A)", "bh (B)", "iomap (A)", "iomap (B)", "A dashed, B solid"] {
        assert!(curves.contains(text), "comparison curves lack {text:?}");
    }
}

#[test]
fn plotting_refuses_an_unfinished_run() {
    let dir = tempfile::tempdir().unwrap();
    results::RunWriter::create(dir.path(), "0.1.0", &serde_json::json!({})).unwrap();
    let err = results::plot(dir.path()).unwrap_err();
    assert!(err.to_string().contains("summary.json"), "{err}");
}
