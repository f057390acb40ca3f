//! Counters: the deterministic half of every measurement.
//!
//! With the inline flusher every counter is exact and reproducible for a seeded workload on
//! one configuration; with the flusher thread the work is the same but its split over time
//! (and so what merges and what is reclaimed) depends on timing.
//!
//! Event counters live in per-CPU shards (`vm_event_states`, summed on read), so that threads
//! on independent files do not write one cache line; levels with peaks (page-cache bytes,
//! dirty bytes) are global gauges, updated per folio.

use crate::dev::DevStats;
use crate::kernel::percpu::PerCpu;
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

/// An event counter (`enum vm_event_item`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Ev {
    /// All `map_blocks` calls.
    MapBlocks,
    /// ... from `get_block`.
    GetBlock,
    /// ... from `iomap_begin`.
    IomapBegin,
    /// ... from writeback.
    WritebackMap,
    /// ... from I/O completion.
    EndIoMap,
    /// ... from the buffer_head readahead path.
    ReadaheadMap,
    /// ... from elsewhere.
    OtherMap,
    /// Read-before-write reads.
    RmwReads,
    /// Their bytes.
    RmwReadBytes,
    /// Bytes zeroed in folios.
    ZeroedBytes,
    /// Zeroings of part of a block.
    PartialBlockZeroes,
    /// Folios freed.
    FoliosFreed,
    /// Bios writeback submitted.
    WritebackIos,
    /// Their bytes.
    WritebackBytes,
    /// Folios written back.
    WritebackFolios,
    /// Folios whose blocks joined an open writeback I/O.
    WritebackMerges,
    /// iomap ioends completed.
    Ioends,
    /// Readahead windows read.
    ReadaheadWindows,
    /// Of them, started by a reader reaching the readahead marker.
    AsyncReadahead,
    /// Clean folios reclaimed.
    EvictedFolios,
    /// Writebacks done by a writer or an allocation because the cache was full of dirty data.
    ForcedWritebacks,
    /// Journal commits: transactions written to the log (jbd2's commits).
    MetaWrites,
    /// Journal blocks written: descriptors, logged metadata, revoke and commit blocks, and
    /// journal superblock updates.
    JournalBlocks,
    /// Metadata blocks written to their home location by journal checkpoints.
    CheckpointBlocks,
    /// The flusher's writeback passes over the dirty inodes (`writeback_sb_inodes`):
    /// background, periodic and for reclaim.
    WritebackPasses,
    /// Times the flusher ran its work (`wb_do_writeback` after a wake-up, or a periodic
    /// pass): on its thread, or on a writer's with the inline flusher.
    FlusherPasses,
    /// Per-folio private states attached (buffer heads, iomap folio states).
    PrivateAllocs,
    /// Times a writer was paused by dirty throttling.
    DirtyPauses,
    /// Bios submitted (requests are counted by the device).
    Bios,
}

const NR_EVENTS: usize = Ev::Bios as usize + 1;

/// One shard: the events, then folio allocations by order.
#[derive(Debug)]
struct Shard {
    ev: [AtomicU64; NR_EVENTS],
    folios_alloc: [AtomicU64; MAX_FOLIO_ORDER + 1],
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            ev: std::array::from_fn(|_| AtomicU64::new(0)),
            folios_alloc: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Live counters.
#[derive(Debug, Default)]
pub struct Stats {
    shards: PerCpu<Shard>,
    pub(crate) folio_private_bytes: Gauge,
    pub(crate) cache_bytes: Gauge,
    pub(crate) dirty_bytes: Gauge,
    pub(crate) writeback_inflight_bytes: Gauge,
    /// The filesystem's block size (set at mount), for telling partial-block zeroings.
    block_size: AtomicU64,
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

impl Stats {
    /// Adds `n` to event `e` on this CPU's shard (`count_vm_events`).
    #[inline]
    pub(crate) fn add(&self, e: Ev, n: u64) {
        self.shards.this().ev[e as usize].fetch_add(n, Relaxed);
    }

    /// Counts one event.
    #[inline]
    pub(crate) fn inc(&self, e: Ev) {
        self.add(e, 1)
    }

    fn sum(&self, e: Ev) -> u64 {
        self.shards.iter().map(|s| s.ev[e as usize].load(Relaxed)).sum()
    }

    /// Counts one `map_blocks` call by `caller`.
    pub(crate) fn map_call(&self, caller: MapCaller) {
        self.inc(Ev::MapBlocks);
        self.inc(match caller {
            MapCaller::GetBlock => Ev::GetBlock,
            MapCaller::IomapBegin => Ev::IomapBegin,
            MapCaller::Writeback => Ev::WritebackMap,
            MapCaller::EndIo => Ev::EndIoMap,
            MapCaller::Readahead => Ev::ReadaheadMap,
            MapCaller::Other => Ev::OtherMap,
        });
    }

    /// Sets the block size zeroings are judged against (at mount).
    pub(crate) fn set_block_size(&self, block_size: u32) {
        self.block_size.store(u64::from(block_size), Relaxed);
    }

    /// Counts `n` bytes zeroed at file position `pos`: a partial-block zeroing when the range
    /// does not start and end on block boundaries.
    pub(crate) fn zeroed(&self, pos: u64, n: usize) {
        self.add(Ev::ZeroedBytes, n as u64);
        let bs = self.block_size.load(Relaxed).max(1);
        if n > 0 && (!pos.is_multiple_of(bs) || !(pos + n as u64).is_multiple_of(bs)) {
            self.inc(Ev::PartialBlockZeroes);
        }
    }

    pub(crate) fn rmw_read(&self, bytes: u64) {
        self.inc(Ev::RmwReads);
        self.add(Ev::RmwReadBytes, bytes);
    }

    pub(crate) fn folio_alloc(&self, order: usize, bytes: u64) {
        self.shards.this().folios_alloc[order].fetch_add(1, Relaxed);
        self.cache_bytes.add(bytes);
    }

    pub(crate) fn folio_free(&self, bytes: u64) {
        self.inc(Ev::FoliosFreed);
        self.cache_bytes.sub(bytes);
    }

    /// Zeroes the counters and restarts the peaks from the present levels.
    pub(crate) fn reset(&self) {
        for s in self.shards.iter() {
            for c in s.ev.iter().chain(&s.folios_alloc) {
                c.store(0, Relaxed);
            }
        }
        self.folio_private_bytes.reset_peak();
        self.cache_bytes.reset_peak();
        self.dirty_bytes.reset_peak();
        self.writeback_inflight_bytes.reset_peak();
    }

    pub(crate) fn snapshot(&self, dev: DevStats) -> StatsSnapshot {
        let g = |e| self.sum(e);
        StatsSnapshot {
            map_blocks: g(Ev::MapBlocks),
            get_block: g(Ev::GetBlock),
            iomap_begin: g(Ev::IomapBegin),
            writeback_map: g(Ev::WritebackMap),
            end_io_map: g(Ev::EndIoMap),
            readahead_map: g(Ev::ReadaheadMap),
            other_map: g(Ev::OtherMap),
            rmw_reads: g(Ev::RmwReads),
            rmw_read_bytes: g(Ev::RmwReadBytes),
            zeroed_bytes: g(Ev::ZeroedBytes),
            partial_block_zeroes: g(Ev::PartialBlockZeroes),
            folios_alloc: std::array::from_fn(|i| self.shards.iter().map(|s| s.folios_alloc[i].load(Relaxed)).sum()),
            folios_freed: g(Ev::FoliosFreed),
            folio_private_bytes: self.folio_private_bytes.get(),
            folio_private_bytes_peak: self.folio_private_bytes.peak(),
            cache_bytes: self.cache_bytes.get(),
            cache_bytes_peak: self.cache_bytes.peak(),
            dirty_bytes: self.dirty_bytes.get(),
            dirty_bytes_peak: self.dirty_bytes.peak(),
            writeback_ios: g(Ev::WritebackIos),
            writeback_bytes: g(Ev::WritebackBytes),
            writeback_folios: g(Ev::WritebackFolios),
            writeback_merges: g(Ev::WritebackMerges),
            ioends: g(Ev::Ioends),
            readahead_windows: g(Ev::ReadaheadWindows),
            async_readahead: g(Ev::AsyncReadahead),
            evicted_folios: g(Ev::EvictedFolios),
            forced_writebacks: g(Ev::ForcedWritebacks),
            meta_writes: g(Ev::MetaWrites),
            journal_blocks: g(Ev::JournalBlocks),
            checkpoint_blocks: g(Ev::CheckpointBlocks),
            writeback_passes: g(Ev::WritebackPasses),
            flusher_passes: g(Ev::FlusherPasses),
            private_allocs: g(Ev::PrivateAllocs),
            dirty_pauses: g(Ev::DirtyPauses),
            bios: g(Ev::Bios),
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
    /// Bios submitted by writeback.
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
    /// Readahead windows started by a reader reaching the readahead marker (asynchronous).
    pub async_readahead: u64,
    /// Clean folios evicted under memory pressure.
    pub evicted_folios: u64,
    /// Writebacks forced because the cache was full of dirty data.
    pub forced_writebacks: u64,
    /// Journal commits: transactions written to the log (jbd2's commits).
    pub meta_writes: u64,
    /// Journal blocks written: descriptors, logged metadata, revoke and commit blocks, and
    /// journal superblock updates.
    pub journal_blocks: u64,
    /// Metadata blocks written to their home location by journal checkpoints.
    pub checkpoint_blocks: u64,
    /// The flusher's writeback passes over the dirty inodes.
    pub writeback_passes: u64,
    /// Times the flusher ran its work (on its thread or inline).
    pub flusher_passes: u64,
    /// Per-folio private states attached.
    pub private_allocs: u64,
    /// Times a writer was paused by dirty throttling.
    pub dirty_pauses: u64,
    /// Bios submitted (the device counts the requests they became).
    pub bios: u64,
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
            ("async_readahead".into(), self.async_readahead),
            ("evicted_folios".into(), self.evicted_folios),
            ("forced_writebacks".into(), self.forced_writebacks),
            ("meta_writes".into(), self.meta_writes),
            ("journal_blocks".into(), self.journal_blocks),
            ("checkpoint_blocks".into(), self.checkpoint_blocks),
            ("writeback_passes".into(), self.writeback_passes),
            ("flusher_passes".into(), self.flusher_passes),
            ("private_allocs".into(), self.private_allocs),
            ("dirty_pauses".into(), self.dirty_pauses),
            ("bios".into(), self.bios),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_on_read() {
        let s = std::sync::Arc::new(Stats::default());
        let t: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.map_call(MapCaller::GetBlock);
                    }
                })
            })
            .collect();
        for t in t {
            t.join().unwrap();
        }
        let snap = s.snapshot(DevStats::default());
        assert_eq!((snap.map_blocks, snap.get_block), (4000, 4000));
        s.reset();
        assert_eq!(s.snapshot(DevStats::default()).map_blocks, 0);
    }
}
