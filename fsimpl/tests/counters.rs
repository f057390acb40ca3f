//! Exact counters for known cases: what each backend does to map, read and write.

use fsimpl::aops::BufferHead;
use fsimpl::dev::{BlockDev, MemDev};
use fsimpl::mm::WritebackMode;
use fsimpl::{Backend, Flusher, FormatOptions, Fs, MountOptions};
use std::sync::Arc;

const MIB: u64 = 1 << 20;

fn mount(backend: Backend, large_folios: bool, block_size: u32) -> Fs {
    let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(256 * MIB).unwrap());
    let opts = MountOptions {
        backend,
        large_folios,
        cache_bytes: 64 * MIB,
        writeback: WritebackMode::Off,
        flusher: Flusher::Inline,
        ..MountOptions::default()
    };
    Fs::format_and_mount(dev, &FormatOptions { block_size, ..FormatOptions::default() }, opts).unwrap()
}

fn data(len: u64, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn bh_maps_one_block_per_get_block_call() {
    for (bs, calls) in [(4096, 256), (1024, 1024)] {
        let fs = mount(Backend::BufferHead, false, bs);
        let f = fs.create("f").unwrap();
        fs.reset_stats();
        fs.write(f, 0, &data(MIB, 1)).unwrap();
        let s = fs.stats();
        assert_eq!(s.get_block, calls, "block size {bs}");
        assert_eq!(s.map_blocks, calls);
        assert_eq!(s.iomap_begin, 0);
        assert_eq!(s.dev.reads + s.dev.writes, 0, "a write into the cache does no I/O");
        assert_eq!(s.folios_alloc[0], 256);
    }
}

#[test]
fn iomap_maps_a_1mib_write_into_an_empty_file_with_one_call() {
    let fs = mount(Backend::Iomap, true, 4096);
    let f = fs.create("f").unwrap();
    fs.reset_stats();
    fs.write(f, 0, &data(MIB, 1)).unwrap();
    let s = fs.stats();
    assert!(s.iomap_begin <= 2, "iomap_begin = {}", s.iomap_begin);
    assert_eq!(s.iomap_begin, 1);
    assert_eq!(s.get_block, 0);
    assert_eq!(s.folios_alloc[8], 1, "one 1 MiB folio");
    assert_eq!(s.folio_private_bytes_peak, 0, "a write covering the whole folio needs no state");
}

#[test]
fn a_100_byte_write_into_a_written_uncached_block_reads_that_block_once() {
    for backend in [Backend::BufferHead, Backend::Iomap] {
        let fs = mount(backend, false, 4096);
        let f = fs.create("f").unwrap();
        fs.write(f, 0, &data(16384, 7)).unwrap();
        fs.fsync(f).unwrap();
        fs.remount().unwrap();
        fs.reset_stats();
        fs.write(f, 4096 + 1000, &[0xab; 100]).unwrap();
        let s = fs.stats();
        assert_eq!(s.dev.reads, 1, "{backend:?}");
        assert_eq!(s.dev.read_bytes, 4096, "{backend:?}");
        assert_eq!(s.rmw_reads, 1, "{backend:?}");
        let mut back = vec![0; 16384];
        fs.read(f, 0, &mut back).unwrap();
        let mut want = data(16384, 7);
        want[5096..5196].fill(0xab);
        assert_eq!(back, want, "{backend:?}");
    }
}

#[test]
fn writeback_of_1mib_of_contiguous_delalloc_allocates_once_and_writes_one_bio() {
    for (backend, lf, requests) in
        [(Backend::BufferHead, false, 2), (Backend::BufferHead, true, 1), (Backend::Iomap, true, 1)]
    {
        let fs = mount(backend, lf, 4096);
        let f = fs.create("f").unwrap();
        fs.write(f, 0, &data(MIB, 3)).unwrap();
        fs.reset_stats();
        fs.sync_file_range(f, 0, MIB).unwrap();
        let s = fs.stats();
        let case = format!("{backend:?} lf={lf}");
        assert_eq!(s.writeback_map, 1, "{case}: one allocating map_blocks call");
        assert_eq!(s.writeback_ios, 1, "{case}: one bio");
        assert_eq!(s.dev.write_bytes, MIB, "{case}");
        // The block layer splits the bio at the loop device's limits (`bio_split_to_limits`):
        // 256 order-0 folios at scattered addresses are 256 segments, over `max_segments`
        // (128), so two requests; a 1 MiB folio is 16 segments of 64 KiB, one request.
        assert_eq!(s.dev.writes, requests, "{case}");
        // Both allocate unwritten extents and convert them when the write completes: iomap
        // always, buffer_head as ext4 does with dioread_nolock (`mpage_map_one_extent`).
        assert_eq!(s.end_io_map, 1, "{case}");
        assert_eq!(fs.stat(f).unwrap().disksize, MIB, "{case}");
    }
}

#[test]
fn buffer_head_without_dioread_nolock_allocates_written_extents() {
    let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(256 * MIB).unwrap());
    let opts = MountOptions {
        backend: Backend::BufferHead,
        dioread_nolock: false,
        writeback: WritebackMode::Off,
        flusher: Flusher::Inline,
        cache_bytes: 64 * MIB,
        ..MountOptions::default()
    };
    let fs = Fs::format_and_mount(dev, &FormatOptions::default(), opts).unwrap();
    let f = fs.create("f").unwrap();
    fs.write(f, 0, &data(MIB, 3)).unwrap();
    fs.reset_stats();
    fs.sync_file_range(f, 0, MIB).unwrap();
    let s = fs.stats();
    assert_eq!((s.writeback_map, s.end_io_map), (1, 0), "nodioread_nolock: written extents, nothing to convert");
}

#[test]
fn a_fully_dirty_2mib_folio_carries_144_bytes_with_iomap_and_512_buffer_heads_with_bh() {
    // Write a 2 MiB folio whole and write it back (iomap gives it its state at writeback,
    // `iomap_writepage_map`), then dirty it in 64 KiB pieces.
    for (backend, want) in
        [(Backend::Iomap, 144u64), (Backend::BufferHead, 512 * std::mem::size_of::<BufferHead>() as u64)]
    {
        let fs = mount(backend, true, 4096);
        let f = fs.create("f").unwrap();
        fs.write(f, 0, &data(2 * MIB, 1)).unwrap();
        fs.fsync(f).unwrap();
        fs.reset_stats();
        for i in 0..32 {
            fs.write(f, i * 65536, &data(65536, 2)).unwrap();
        }
        let s = fs.stats();
        assert_eq!(s.folios_alloc.iter().sum::<u64>(), 0, "{backend:?}: the 2 MiB folio was reused");
        assert_eq!(s.folio_private_bytes, want, "{backend:?}");
    }
}

#[test]
fn readahead_of_a_contiguous_1mib_file_is_one_bio_and_one_mapping() {
    for (backend, lf) in [(Backend::Iomap, true), (Backend::BufferHead, false), (Backend::BufferHead, true)] {
        let fs = mount(backend, lf, 4096);
        let f = fs.create("f").unwrap();
        fs.write(f, 0, &data(MIB, 9)).unwrap();
        fs.fsync(f).unwrap();
        fs.remount().unwrap();
        fs.reset_stats();
        let mut buf = vec![0; MIB as usize];
        assert_eq!(fs.read(f, 0, &mut buf).unwrap(), MIB as usize);
        assert_eq!(buf, data(MIB, 9));
        let s = fs.stats();
        // The first (synchronous) window covers the file in order-0 folios
        // (`page_cache_sync_ra` starts at order 0): one bio of 256 scattered pages, which
        // the block layer splits at `max_segments` (128) into two requests.
        assert_eq!((s.bios, s.readahead_windows), (1, 1), "{backend:?} lf={lf}");
        assert_eq!((s.dev.reads, s.dev.read_bytes), (2, MIB), "{backend:?} lf={lf}");
        let maps = if backend == Backend::Iomap { s.iomap_begin } else { s.readahead_map };
        assert_eq!(maps, 1, "{backend:?} lf={lf}: mapping per extent on the read side");
    }
}

/// A cold sequential read of a 64 MiB file, one page per call, with a loop device's
/// readahead (2560 KiB): the windows ramp as `mm/readahead.c` (Linux 6.18) ramps them —
/// 4 pages (`get_init_ra_size`), then 16, 60, 112, 192, 384 and 640 (`get_next_ra_size`,
/// trimmed to the folio order's alignment), each asynchronous window asking for folios two
/// orders larger (`ra->order += 2`), up to 2 MiB. 31 windows read; the folio orders they use
/// are the fingerprint of that sequence (checked against a separate simulation of the
/// kernel's formulas). Without large folios every window is order-0.
#[test]
fn sequential_readahead_ramps_its_window_and_folio_order_as_the_kernel_does() {
    type FoliosByOrder = &'static [(usize, u64)];
    let cases: [(Backend, bool, FoliosByOrder); 2] = [
        (Backend::Iomap, true, &[(0, 4), (2, 5), (3, 1), (4, 4), (5, 1), (6, 2), (7, 26), (8, 26), (9, 12)]),
        (Backend::BufferHead, false, &[(0, 16384)]),
    ];
    for (backend, lf, orders) in cases {
        let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(256 * MIB).unwrap());
        let opts = MountOptions {
            backend,
            large_folios: lf,
            cache_bytes: 128 * MIB,
            writeback: WritebackMode::Off,
            flusher: Flusher::Inline,
            ..MountOptions::default()
        };
        let fs = Fs::format_and_mount(dev, &FormatOptions::default(), opts).unwrap();
        let f = fs.create("f").unwrap();
        for i in 0..64 {
            fs.write(f, i * MIB, &data(MIB, i as u8)).unwrap();
        }
        fs.fsync(f).unwrap();
        fs.remount().unwrap();
        fs.reset_stats();
        let mut page = vec![0u8; 4096];
        for p in 0..64 * MIB / 4096 {
            assert_eq!(fs.read(f, p * 4096, &mut page).unwrap(), 4096);
        }
        let s = fs.stats();
        // The first window and 30 asynchronous ones read; the marker of the last one starts a
        // window at EOF, which reads nothing.
        assert_eq!(s.readahead_windows, 31, "{backend:?}");
        assert_eq!(s.async_readahead, 31, "{backend:?}: every window after the first started by the marker");
        let got: Vec<(usize, u64)> =
            s.folios_alloc.iter().enumerate().filter(|(_, n)| **n > 0).map(|(o, n)| (o, *n)).collect();
        assert_eq!(got, orders, "{backend:?}: folios by order");
        assert_eq!(s.dev.read_bytes, 64 * MIB, "{backend:?}");
    }
}
