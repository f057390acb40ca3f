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
    let expected = [
        "counters-exact",
        "counters-randrw",
        "latency-exact-fsync",
        "latency-exact-read",
        "latency-randrw-fsync",
        "latency-randrw-read",
        "latency-randrw-write",
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
    let latency = std::fs::read_to_string(dir.path().join("plots/latency-randrw-read.svg")).unwrap();
    for text in ["99.99%", "99.9%", "90%", "50%", "latency (µs, log scale)", "percentile", "bh", "iomap"] {
        assert!(latency.contains(text), "latency chart lacks {text:?}");
    }
    let throughput = std::fs::read_to_string(dir.path().join("plots/throughput-randrw.svg")).unwrap();
    for text in ["MiB/s", "IOPS", "time since start (s)", "bh read", "iomap write"] {
        assert!(throughput.contains(text), "throughput chart lacks {text:?}");
    }
    let counters = std::fs::read_to_string(dir.path().join("plots/counters-randrw.svg")).unwrap();
    for text in ["map_blocks", "dev_writes", "42000", "folio_private_bytes_peak"] {
        assert!(counters.contains(text), "counters chart lacks {text:?}");
    }
}

#[test]
fn plotting_refuses_an_unfinished_run() {
    let dir = tempfile::tempdir().unwrap();
    results::RunWriter::create(dir.path(), "0.1.0", &serde_json::json!({})).unwrap();
    let err = results::plot(dir.path()).unwrap_err();
    assert!(err.to_string().contains("summary.json"), "{err}");
}
