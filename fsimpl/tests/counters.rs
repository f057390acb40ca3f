//! Exact counters for known cases: what each backend does to map, read and write.

use fsimpl::aops::BufferHead;
use fsimpl::dev::{BlockDev, MemDev};
use fsimpl::mm::WritebackMode;
use fsimpl::{Backend, FormatOptions, Fs, MountOptions};
use std::sync::Arc;

const MIB: u64 = 1 << 20;

fn mount(backend: Backend, large_folios: bool, block_size: u32) -> Fs {
    let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(256 * MIB).unwrap());
    let opts = MountOptions {
        backend,
        large_folios,
        cache_bytes: 64 * MIB,
        writeback: WritebackMode::Off,
        ..MountOptions::default()
    };
    Fs::format_and_mount(dev, &FormatOptions { block_size, slot_bytes: None }, opts).unwrap()
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
fn writeback_of_1mib_of_contiguous_delalloc_allocates_once_and_writes_once() {
    for backend in [Backend::BufferHead, Backend::Iomap] {
        let fs = mount(backend, false, 4096);
        let f = fs.create("f").unwrap();
        fs.write(f, 0, &data(MIB, 3)).unwrap();
        fs.reset_stats();
        fs.sync_file_range(f, 0, MIB).unwrap();
        let s = fs.stats();
        assert_eq!(s.writeback_map, 1, "{backend:?}: one allocating map_blocks call");
        assert_eq!(s.dev.writes, 1, "{backend:?}");
        assert_eq!(s.dev.write_bytes, MIB, "{backend:?}");
        assert_eq!(s.writeback_ios, 1, "{backend:?}");
        // iomap allocated unwritten and converts at completion; buffer_head allocated written.
        let want_end_io = if backend == Backend::Iomap { 1 } else { 0 };
        assert_eq!(s.end_io_map, want_end_io, "{backend:?}");
        assert_eq!(fs.stat(f).unwrap().disksize, MIB, "{backend:?}");
    }
}

#[test]
fn a_fully_dirty_2mib_folio_carries_128_bytes_with_iomap_and_512_buffer_heads_with_bh() {
    // Fill a 2 MiB folio through readahead, then dirty it in 64 KiB pieces so the iomap
    // backend has to track blocks (its state appears on the first partial write).
    for (backend, want) in
        [(Backend::Iomap, 128u64), (Backend::BufferHead, 512 * std::mem::size_of::<BufferHead>() as u64)]
    {
        let fs = mount(backend, true, 4096);
        let f = fs.create("f").unwrap();
        fs.write(f, 0, &data(2 * MIB, 1)).unwrap();
        fs.fsync(f).unwrap();
        fs.remount().unwrap();
        let mut buf = vec![0; 2 * MIB as usize];
        fs.read(f, 0, &mut buf).unwrap();
        fs.reset_stats();
        assert_eq!(fs.stats().folio_private_bytes, 0, "{backend:?}: clean folio read by readahead");
        for i in 0..32 {
            fs.write(f, i * 65536, &data(65536, 2)).unwrap();
        }
        let s = fs.stats();
        assert_eq!(s.folios_alloc.iter().sum::<u64>(), 0, "{backend:?}: the 2 MiB folio was reused");
        assert_eq!(s.folio_private_bytes, want, "{backend:?}");
        assert!(backend != Backend::Iomap || s.folio_private_bytes <= 128);
    }
}

#[test]
fn readahead_of_a_contiguous_1mib_file_is_one_device_read() {
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
        assert_eq!(s.dev.reads, 1, "{backend:?} lf={lf}");
        assert_eq!(s.dev.read_bytes, MIB);
        let maps = if backend == Backend::Iomap { s.iomap_begin } else { s.readahead_map };
        assert_eq!(maps, 1, "{backend:?} lf={lf}: mapping per extent on the read side");
    }
}
