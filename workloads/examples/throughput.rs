//! How fast the hot paths are: `cargo run -p workloads --release --example throughput`.
//! (Timings are for people, not for tests.)

use std::time::Instant;

use workloads::{FsxConfig, JobFile, pattern};

fn main() {
    let mut buf = vec![0u8; 1 << 20];
    let rounds = 4096u64;
    let start = Instant::now();
    for tag in 0..rounds {
        pattern::fill(tag, tag * 4096 + 17, &mut buf);
        std::hint::black_box(&buf);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("pattern::fill: {:.1} GB/s", (rounds as f64 * buf.len() as f64) / secs / 1e9);

    for (name, text) in [
        ("randread 4k, random map", "rw=randread\nbs=4k\nsize=4g\n"),
        ("randread 4k, norandommap", "rw=randread\nbs=4k\nsize=4g\nnorandommap\n"),
        (
            "randrw zipf bssplit",
            "rw=randrw\nbssplit=4k/50:64k/50\nsize=4g\nrandom_distribution=zipf:1.2\nnorandommap\n",
        ),
        ("write 4k sequential", "rw=write\nbs=4k\nsize=4g\n"),
    ] {
        let file = JobFile::parse(&format!("[j]\n{text}"), name, false).expect("job parses");
        let plan = file.jobs[0].threads().remove(0);
        let start = Instant::now();
        let n = plan.ops.map(std::hint::black_box).count();
        let secs = start.elapsed().as_secs_f64();
        println!("{name}: {n} ops, {:.1} M ops/s ({:.1} ns/op)", n as f64 / secs / 1e6, secs * 1e9 / n as f64);
    }

    let fsx = FsxConfig { ops: Some(2_000_000), ..FsxConfig::default() }.stream().expect("valid config");
    let start = Instant::now();
    let n = fsx.map(std::hint::black_box).count();
    let secs = start.elapsed().as_secs_f64();
    println!("fsx mix: {:.1} M ops/s", n as f64 / secs / 1e6);
}
