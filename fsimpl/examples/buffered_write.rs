//! Buffered-write throughput of one backend: `TOTAL` bytes in `BS` writes into a fresh file.
//!
//! ```text
//! cargo run --release -p fsimpl --example buffered_write -- BACKEND BS TOTAL WRITEBACK DEVICE
//!   BACKEND   bh | bh-lf | iomap
//!   BS        write size, e.g. 4k, 64k, 1m
//!   TOTAL     bytes to write, e.g. 1g
//!   WRITEBACK off (cache only) | on | dontcache
//!   DEVICE    mem | PATH (a file, through io_uring with O_DIRECT)
//! ```
//! Prints MiB/s of the write phase; with writeback on, the final fsync is included.

use fsimpl::dev::{Backing, BlockDev, DevConfig, Engine, MemDev};
use fsimpl::mm::WritebackMode;
use fsimpl::{Backend, FormatOptions, Fs, MountOptions};
use std::sync::Arc;
use std::time::Instant;

fn size(s: &str) -> u64 {
    let (n, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    n.parse::<u64>().expect("a size like 4k, 1m or 1g") * mult
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!(
            "usage: buffered_write BACKEND(bh|bh-lf|iomap) BS TOTAL WRITEBACK(off|on|dontcache) DEVICE(mem|PATH)"
        );
        std::process::exit(2);
    }
    let (backend, large_folios) = match args[0].as_str() {
        "bh" => (Backend::BufferHead, false),
        "bh-lf" => (Backend::BufferHead, true),
        "iomap" => (Backend::Iomap, true),
        other => {
            eprintln!("unknown backend {other}: use bh, bh-lf or iomap");
            std::process::exit(2);
        }
    };
    let bs = size(&args[1]) as usize;
    let total = size(&args[2]);
    let writeback: WritebackMode = args[3].parse().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let dev_size = total + total / 4 + (64 << 20);
    let dev: Arc<dyn BlockDev> = if args[4] == "mem" {
        Arc::new(MemDev::new(dev_size).expect("mem device"))
    } else {
        let cfg = DevConfig {
            engine: Engine::Uring { queue_depth: 64 },
            backing: Backing::File { path: args[4].clone().into(), size: dev_size },
            direct: true,
            min_io_align: 4096,
        };
        let opened = fsimpl::dev::open(&cfg).expect("open device");
        for n in &opened.notices {
            eprintln!("{n}");
        }
        opened.dev
    };
    let cache = if writeback == WritebackMode::Off { total + (256 << 20) } else { 1 << 30 };
    let opts = MountOptions { backend, large_folios, cache_bytes: cache, writeback, ..MountOptions::default() };
    let fs = Fs::format_and_mount(dev.clone(), &FormatOptions::default(), opts).expect("mount");
    let buf: Vec<u8> = (0..bs).map(|i| (i * 7) as u8).collect();
    // PROFILE_REPEAT=N writes the file N more times first (unlinking it each time), so that a
    // profiler sees the write path rather than the mount.
    let repeat: u32 = std::env::var("PROFILE_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    for _ in 0..repeat {
        let f = fs.create("warm").unwrap();
        for pos in (0..total).step_by(bs) {
            fs.write(f, pos, &buf).unwrap();
        }
        fs.unlink("warm").unwrap();
    }
    let f = fs.create("f").unwrap();
    fs.reset_stats();
    let t = Instant::now();
    let mut pos = 0;
    while pos < total {
        fs.write(f, pos, &buf).unwrap();
        pos += bs as u64;
    }
    if writeback != WritebackMode::Off {
        fs.fsync(f).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    let s = fs.stats();
    println!(
        "{} bs={} total={} writeback={} device={} ({}): {:.0} MiB/s in {:.3} s | map_blocks={} get_block={} iomap_begin={} dev_writes={} dev_write_MiB={} folios={:?}",
        args[0],
        args[1],
        args[2],
        args[3],
        args[4],
        dev.engine_name(),
        total as f64 / (1 << 20) as f64 / secs,
        secs,
        s.map_blocks,
        s.get_block,
        s.iomap_begin,
        s.dev.writes,
        s.dev.write_bytes >> 20,
        s.folios_alloc
    );
}
