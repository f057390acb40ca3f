//! bh vs bh with large folios vs iomap, on the paths the kernel series measured.

use bench::{CONFIGS, mem_fs};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fsimpl::mm::WritebackMode;
use fsimpl::{Fh, Fs};

const MIB: u64 = 1 << 20;
/// Bytes per iteration.
const SPAN: u64 = 64 * MIB;
const SIZES: [(&str, usize); 3] = [("4k", 4096), ("64k", 65536), ("1m", 1 << 20)];

fn fresh_file(fs: &Fs) -> Fh {
    let _ = fs.unlink("f");
    fs.create("f").expect("create")
}

fn write_span(fs: &Fs, f: Fh, buf: &[u8]) {
    let mut pos = 0;
    while pos < SPAN {
        fs.write(f, pos, buf).expect("write");
        pos += buf.len() as u64;
    }
}

/// Buffered write into the cache, writeback off: the "cache" rows of the kernel's tables.
fn write_cache(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_cache");
    g.throughput(Throughput::Bytes(SPAN));
    g.sample_size(20);
    for (name, backend, lf) in CONFIGS {
        let fs = mem_fs(backend, lf, WritebackMode::Off, 2 * SPAN + 64 * MIB, 2 * SPAN);
        for (bs_name, bs) in SIZES {
            let buf = vec![0x5a; bs];
            g.bench_with_input(BenchmarkId::new(name, bs_name), &bs, |b, _| {
                b.iter_batched(|| fresh_file(&fs), |f| write_span(&fs, f, &buf), BatchSize::PerIteration)
            });
        }
    }
    g.finish();
}

/// Buffered read of data already in the cache.
fn read_cached(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_cached");
    g.throughput(Throughput::Bytes(SPAN));
    g.sample_size(20);
    for (name, backend, lf) in CONFIGS {
        let fs = mem_fs(backend, lf, WritebackMode::Off, 2 * SPAN + 64 * MIB, 2 * SPAN);
        let f = fresh_file(&fs);
        write_span(&fs, f, &vec![0x5a; 1 << 20]);
        fs.fsync(f).expect("fsync");
        for (bs_name, bs) in SIZES {
            let mut buf = vec![0; bs];
            g.bench_with_input(BenchmarkId::new(name, bs_name), &bs, |b, _| {
                b.iter(|| {
                    let mut pos = 0;
                    while pos < SPAN {
                        fs.read(f, pos, &mut buf).expect("read");
                        pos += bs as u64;
                    }
                })
            });
        }
    }
    g.finish();
}

/// Write plus writeback (fsync at the end) to the `mem` device.
fn write_writeback_mem(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_writeback_mem");
    g.throughput(Throughput::Bytes(SPAN));
    g.sample_size(20);
    for (name, backend, lf) in CONFIGS {
        let fs = mem_fs(backend, lf, WritebackMode::On, 2 * SPAN + 64 * MIB, 2 * SPAN);
        for (bs_name, bs) in SIZES {
            let buf = vec![0x5a; bs];
            g.bench_with_input(BenchmarkId::new(name, bs_name), &bs, |b, _| {
                b.iter_batched(
                    || fresh_file(&fs),
                    |f| {
                        write_span(&fs, f, &buf);
                        fs.fsync(f).expect("fsync");
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, write_cache, read_cached, write_writeback_mem);
criterion_main!(benches);
