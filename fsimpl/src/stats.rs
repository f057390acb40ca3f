//! Counters: the deterministic half of every measurement.
//!
//! Every counter is exact and reproducible for a seeded workload on one configuration.

use crate::dev::DevStats;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use crate::page::MAX_FOLIO_ORDER;

/// Who called `map_blocks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapCaller {
    /// The buffer_head write path's per-block `get_block` (`ext4_da_get_block_prep`), and
    /// `block_read_full_folio`'s per-buffer lookups.
    GetBlock,
    /// iomap's `iomap_begin`, once per extent.
    IomapBegin,
    /// Writeback allocation and mapping (`mpage_map_and_submit_extent`, `writeback_range`).
    Writeback,
    /// Unwritten-to-written conversion at I/O completion (`ext4_end_io`, `iomap_finish_ioends`).
    EndIo,
    /// The buffer_head readahead path's mapping (`ext4_mpage_readpages`).
    Readahead,
    /// fallocate, punch, zero and the like.
    Other,
}

/// Live counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) map_blocks: AtomicU64,
    pub(crate) get_block: AtomicU64,
    pub(crate) iomap_begin: AtomicU64,
    pub(crate) writeback_map: AtomicU64,
    pub(crate) end_io_map: AtomicU64,
    pub(crate) readahead_map: AtomicU64,
    pub(crate) other_map: AtomicU64,
    pub(crate) rmw_reads: AtomicU64,
    pub(crate) rmw_read_bytes: AtomicU64,
    pub(crate) zeroed_bytes: AtomicU64,
    pub(crate) partial_block_zeroes: AtomicU64,
    pub(crate) folio_private_allocs: AtomicU64,
    pub(crate) writeback_passes: AtomicU64,
    pub(crate) folios_alloc: [AtomicU64; MAX_FOLIO_ORDER + 1],
    pub(crate) folios_freed: AtomicU64,
    pub(crate) folio_private_bytes: Gauge,
    pub(crate) cache_bytes: Gauge,
    pub(crate) dirty_bytes: Gauge,
    pub(crate) writeback_ios: AtomicU64,
    pub(crate) writeback_bytes: AtomicU64,
    pub(crate) writeback_folios: AtomicU64,
    pub(crate) writeback_merges: AtomicU64,
    pub(crate) ioends: AtomicU64,
    pub(crate) readahead_windows: AtomicU64,
    pub(crate) evicted_folios: AtomicU64,
    pub(crate) forced_writebacks: AtomicU64,
    pub(crate) meta_writes: AtomicU64,
}

/// A level that goes up and down, with its peak.
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicU64,
    peak: AtomicU64,
}

impl Gauge {
    pub(crate) fn add(&self, n: u64) {
        let v = self.now.fetch_add(n, Relaxed) + n;
        self.peak.fetch_max(v, Relaxed);
    }
    pub(crate) fn sub(&self, n: u64) {
        let prev = self.now.fetch_sub(n, Relaxed);
        debug_assert!(prev >= n, "gauge underflow: {prev} - {n}");
    }
    pub(crate) fn get(&self) -> u64 {
        self.now.load(Relaxed)
    }
    fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }
    fn reset_peak(&self) {
        self.peak.store(self.get(), Relaxed);
    }
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Stats {
    /// Counts one `map_blocks` call by `caller`.
    pub(crate) fn map_call(&self, caller: MapCaller) {
        inc(&self.map_blocks);
        inc(match caller {
            MapCaller::GetBlock => &self.get_block,
            MapCaller::IomapBegin => &self.iomap_begin,
            MapCaller::Writeback => &self.writeback_map,
            MapCaller::EndIo => &self.end_io_map,
            MapCaller::Readahead => &self.readahead_map,
            MapCaller::Other => &self.other_map,
        });
    }

    /// Counts `n` bytes zeroed at file position `pos`: a partial-block zeroing when the range
    /// does not start or end on a block boundary.
    pub(crate) fn zeroed(&self, pos: u64, n: usize, block_size: u32) {
        self.zeroed_bytes.fetch_add(n as u64, Relaxed);
        let bs = u64::from(block_size);
        if n > 0 && (!pos.is_multiple_of(bs) || !(pos + n as u64).is_multiple_of(bs)) {
            inc(&self.partial_block_zeroes);
        }
    }

    /// Counts per-folio state attached to a folio (`create_empty_buffers`, `ifs_alloc`).
    pub(crate) fn private_alloc(&self) {
        inc(&self.folio_private_allocs);
    }

    pub(crate) fn rmw_read(&self, bytes: u64) {
        inc(&self.rmw_reads);
        self.rmw_read_bytes.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn folio_alloc(&self, order: usize, bytes: u64) {
        inc(&self.folios_alloc[order]);
        self.cache_bytes.add(bytes);
    }

    pub(crate) fn folio_free(&self, bytes: u64) {
        inc(&self.folios_freed);
        self.cache_bytes.sub(bytes);
    }

    pub(crate) fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Zeroes the counters and restarts the peaks from the present levels.
    pub(crate) fn reset(&self) {
        for c in [
            &self.map_blocks,
            &self.get_block,
            &self.iomap_begin,
            &self.writeback_map,
            &self.end_io_map,
            &self.readahead_map,
            &self.other_map,
            &self.rmw_reads,
            &self.rmw_read_bytes,
            &self.zeroed_bytes,
            &self.partial_block_zeroes,
            &self.folio_private_allocs,
            &self.writeback_passes,
            &self.folios_freed,
            &self.writeback_ios,
            &self.writeback_bytes,
            &self.writeback_folios,
            &self.writeback_merges,
            &self.ioends,
            &self.readahead_windows,
            &self.evicted_folios,
            &self.forced_writebacks,
            &self.meta_writes,
        ] {
            c.store(0, Relaxed);
        }
        for c in &self.folios_alloc {
            c.store(0, Relaxed);
        }
        self.folio_private_bytes.reset_peak();
        self.cache_bytes.reset_peak();
        self.dirty_bytes.reset_peak();
    }

    pub(crate) fn snapshot(&self, dev: DevStats) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Relaxed);
        StatsSnapshot {
            map_blocks: g(&self.map_blocks),
            get_block: g(&self.get_block),
            iomap_begin: g(&self.iomap_begin),
            writeback_map: g(&self.writeback_map),
            end_io_map: g(&self.end_io_map),
            readahead_map: g(&self.readahead_map),
            other_map: g(&self.other_map),
            rmw_reads: g(&self.rmw_reads),
            rmw_read_bytes: g(&self.rmw_read_bytes),
            zeroed_bytes: g(&self.zeroed_bytes),
            partial_block_zeroes: g(&self.partial_block_zeroes),
            folio_private_allocs: g(&self.folio_private_allocs),
            writeback_passes: g(&self.writeback_passes),
            folios_alloc: std::array::from_fn(|i| g(&self.folios_alloc[i])),
            folios_freed: g(&self.folios_freed),
            folio_private_bytes: self.folio_private_bytes.get(),
            folio_private_bytes_peak: self.folio_private_bytes.peak(),
            cache_bytes: self.cache_bytes.get(),
            cache_bytes_peak: self.cache_bytes.peak(),
            dirty_bytes: self.dirty_bytes.get(),
            dirty_bytes_peak: self.dirty_bytes.peak(),
            writeback_ios: g(&self.writeback_ios),
            writeback_bytes: g(&self.writeback_bytes),
            writeback_folios: g(&self.writeback_folios),
            writeback_merges: g(&self.writeback_merges),
            ioends: g(&self.ioends),
            readahead_windows: g(&self.readahead_windows),
            evicted_folios: g(&self.evicted_folios),
            forced_writebacks: g(&self.forced_writebacks),
            meta_writes: g(&self.meta_writes),
            dev,
        }
    }
}

/// What a filesystem did since it was mounted or its stats were last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// All `map_blocks` calls.
    pub map_blocks: u64,
    /// Calls from buffer_head `get_block`, one per block written.
    pub get_block: u64,
    /// Calls from `iomap_begin`, one per extent.
    pub iomap_begin: u64,
    /// Calls from writeback (allocation of delalloc, mapping of dirty ranges).
    pub writeback_map: u64,
    /// Unwritten conversions at I/O completion.
    pub end_io_map: u64,
    /// Calls from the buffer_head readahead path.
    pub readahead_map: u64,
    /// Calls from fallocate, punch, zero and truncate.
    pub other_map: u64,
    /// Device reads done to fill a partly written block before a write (read-modify-write).
    pub rmw_reads: u64,
    /// Bytes of those reads.
    pub rmw_read_bytes: u64,
    /// Bytes zeroed in folios (new blocks, holes, EOF tails, punched ranges).
    pub zeroed_bytes: u64,
    /// Zeroings of part of a block (the bytes of a new block outside a write, an EOF tail, the
    /// edges of a punched or zeroed range).
    pub partial_block_zeroes: u64,
    /// Per-folio states attached (buffer heads or iomap folio states allocated).
    pub folio_private_allocs: u64,
    /// Background writeback passes (the flusher's work after a write crossed the background
    /// threshold).
    pub writeback_passes: u64,
    /// Folios allocated, by order (index = order; 0 = 4 KiB, 9 = 2 MiB).
    pub folios_alloc: [u64; MAX_FOLIO_ORDER + 1],
    /// Folios freed (evicted, truncated, dropped).
    pub folios_freed: u64,
    /// Per-folio private state now (buffer heads or iomap folio state), in bytes.
    pub folio_private_bytes: u64,
    /// Peak of `folio_private_bytes`.
    pub folio_private_bytes_peak: u64,
    /// Page-cache bytes now.
    pub cache_bytes: u64,
    /// Peak page-cache bytes.
    pub cache_bytes_peak: u64,
    /// Dirty page-cache bytes now.
    pub dirty_bytes: u64,
    /// Peak dirty bytes.
    pub dirty_bytes_peak: u64,
    /// Device writes submitted by writeback.
    pub writeback_ios: u64,
    /// Bytes written by writeback.
    pub writeback_bytes: u64,
    /// Folios written back.
    pub writeback_folios: u64,
    /// Times a folio's blocks joined an I/O that was already open (merged I/O).
    pub writeback_merges: u64,
    /// iomap ioends completed (after merging); 0 for buffer_head.
    pub ioends: u64,
    /// Readahead windows read.
    pub readahead_windows: u64,
    /// Clean folios evicted under memory pressure.
    pub evicted_folios: u64,
    /// Writebacks forced because the cache was full of dirty data.
    pub forced_writebacks: u64,
    /// Metadata slot writes (syncs).
    pub meta_writes: u64,
    /// The device's counters.
    pub dev: DevStats,
}

impl StatsSnapshot {
    /// Every counter as `(name, value)`, with the names the harness reports.
    pub fn to_pairs(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = vec![
            ("map_blocks".into(), self.map_blocks),
            ("get_block".into(), self.get_block),
            ("iomap_begin".into(), self.iomap_begin),
            ("writeback_map".into(), self.writeback_map),
            ("end_io_map".into(), self.end_io_map),
            ("readahead_map".into(), self.readahead_map),
            ("other_map".into(), self.other_map),
            ("dev_reads".into(), self.dev.reads),
            ("dev_writes".into(), self.dev.writes),
            ("dev_read_bytes".into(), self.dev.read_bytes),
            ("dev_write_bytes".into(), self.dev.write_bytes),
            ("dev_flushes".into(), self.dev.flushes),
            ("dev_errors".into(), self.dev.errors),
            ("rmw_reads".into(), self.rmw_reads),
            ("rmw_read_bytes".into(), self.rmw_read_bytes),
            ("zeroed_bytes".into(), self.zeroed_bytes),
            ("partial_block_zeroes".into(), self.partial_block_zeroes),
            ("folio_private_allocs".into(), self.folio_private_allocs),
            ("writeback_passes".into(), self.writeback_passes),
            ("folios_freed".into(), self.folios_freed),
            ("folio_private_bytes_peak".into(), self.folio_private_bytes_peak),
            ("cache_bytes_peak".into(), self.cache_bytes_peak),
            ("dirty_bytes_peak".into(), self.dirty_bytes_peak),
            ("writeback_ios".into(), self.writeback_ios),
            ("writeback_bytes".into(), self.writeback_bytes),
            ("writeback_folios".into(), self.writeback_folios),
            ("writeback_merges".into(), self.writeback_merges),
            ("ioends".into(), self.ioends),
            ("readahead_windows".into(), self.readahead_windows),
            ("evicted_folios".into(), self.evicted_folios),
            ("forced_writebacks".into(), self.forced_writebacks),
            ("meta_writes".into(), self.meta_writes),
        ];
        for (order, n) in self.folios_alloc.iter().enumerate() {
            v.push((format!("folios_order{order}"), *n));
        }
        v
    }
}

/// `a - b` per field, for device counters taken at two points.
pub(crate) fn dev_delta(a: &DevStats, b: &DevStats) -> DevStats {
    DevStats {
        reads: a.reads - b.reads,
        writes: a.writes - b.writes,
        read_bytes: a.read_bytes - b.read_bytes,
        write_bytes: a.write_bytes - b.write_bytes,
        flushes: a.flushes - b.flushes,
        errors: a.errors - b.errors,
        read_sizes: std::array::from_fn(|i| a.read_sizes[i] - b.read_sizes[i]),
        write_sizes: std::array::from_fn(|i| a.write_sizes[i] - b.write_sizes[i]),
    }
}
