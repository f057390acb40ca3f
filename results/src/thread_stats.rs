//! What fio reports of a job besides its latency histograms (its `struct thread_stat`): CPU
//! use (`usr_cpu`, `sys_cpu`, `ctx`, `majf`, `minf`), the queue-depth distributions
//! (`iodepth_level`, `iodepth_submit`, `iodepth_complete`), the errors a job went on after
//! (`total_err`, `first_error`), and the statistics of a block-device target's disk
//! (`disk_util`). [`JobStats`] carries them, with the job's latency switches, into
//! [`crate::TargetResult`].

use serde::{Deserialize, Serialize};
use vocab::{Latencies, LatencyTarget};

/// Buckets of fio's depth maps (`FIO_IO_U_MAP_NR`).
pub const DEPTH_BUCKETS: usize = 7;

/// CPU use of a job's threads (`getrusage`), summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// User time, ns.
    pub usr_ns: u64,
    /// System time, ns.
    pub sys_ns: u64,
    /// Context switches, voluntary and involuntary (fio's `ctx`).
    pub ctx: u64,
    /// Major page faults.
    pub majf: u64,
    /// Minor page faults.
    pub minf: u64,
}

impl CpuUsage {
    /// `self` plus `o`.
    pub fn add(&mut self, o: &CpuUsage) {
        self.usr_ns += o.usr_ns;
        self.sys_ns += o.sys_ns;
        self.ctx += o.ctx;
        self.majf += o.majf;
        self.minf += o.minf;
    }

    /// What was used between `earlier` and `self` (two readings of one thread).
    pub fn since(&self, earlier: &CpuUsage) -> CpuUsage {
        CpuUsage {
            usr_ns: self.usr_ns.saturating_sub(earlier.usr_ns),
            sys_ns: self.sys_ns.saturating_sub(earlier.sys_ns),
            ctx: self.ctx.saturating_sub(earlier.ctx),
            majf: self.majf.saturating_sub(earlier.majf),
            minf: self.minf.saturating_sub(earlier.minf),
        }
    }
}

/// fio's queue-depth maps: how deep the queue was when I/Os were submitted (`io_u_map`), and
/// how many I/Os each submit call sent (`io_u_submit`) and each reap took (`io_u_complete`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthStats {
    /// I/Os by queue depth at submission: 1, 2, 4, 8, 16, 32, >=64.
    pub level: [u64; DEPTH_BUCKETS],
    /// Submit calls by I/Os sent: 0, 4, 8, 16, 32, 64, >=64 (fio's labels; 1–4 count as 4).
    pub submit: [u64; DEPTH_BUCKETS],
    /// Reaps by I/Os taken, bucketed as `submit`.
    pub complete: [u64; DEPTH_BUCKETS],
}

impl DepthStats {
    /// `io_u_mark_depth`: `nr` I/Os went out with `cur_depth` I/Os in flight (theirs included).
    #[inline]
    pub fn mark_depth(&mut self, cur_depth: u32, nr: u64) {
        let i = match cur_depth {
            0 | 1 => 0,
            2..=3 => 1,
            4..=7 => 2,
            8..=15 => 3,
            16..=31 => 4,
            32..=63 => 5,
            _ => 6,
        };
        self.level[i] += nr;
    }

    /// `io_u_mark_submit`: one submit call sent `nr` I/Os.
    #[inline]
    pub fn mark_submit(&mut self, nr: u32) {
        self.submit[map_bucket(nr)] += 1;
    }

    /// `io_u_mark_complete`: one reap took `nr` I/Os.
    #[inline]
    pub fn mark_complete(&mut self, nr: u32) {
        self.complete[map_bucket(nr)] += 1;
    }

    /// `self` plus `o`.
    pub fn add(&mut self, o: &DepthStats) {
        for i in 0..DEPTH_BUCKETS {
            self.level[i] += o.level[i];
            self.submit[i] += o.submit[i];
            self.complete[i] += o.complete[i];
        }
    }
}

/// fio's `__io_u_mark_map`.
fn map_bucket(nr: u32) -> usize {
    match nr {
        0 => 0,
        1..=4 => 1,
        5..=8 => 2,
        9..=16 => 3,
        17..=32 => 4,
        33..=64 => 5,
        _ => 6,
    }
}

/// Errors a job counted and went on after (`continue_on_error`, `ignore_error`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorStats {
    /// How many.
    pub total: u64,
    /// The errno of the first (0: none).
    pub first: i32,
}

impl ErrorStats {
    /// Counts one error of `errno`.
    pub fn count(&mut self, errno: i32) {
        if self.total == 0 {
            self.first = errno;
        }
        self.total += 1;
    }

    /// `self` plus `o` (the first error of `self` stays first).
    pub fn add(&mut self, o: &ErrorStats) {
        if self.total == 0 {
            self.first = o.first;
        }
        self.total += o.total;
    }
}

/// One thread's (or a job's, summed) statistics besides latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// CPU use.
    pub cpu: CpuUsage,
    /// Queue depths.
    pub depth: DepthStats,
    /// Errors gone on after.
    pub errors: ErrorStats,
    /// The queue depth the thread ran at in the end (fio's `latency_qd`): what the
    /// `latency_target` search settled on, else the job's `iodepth`; 0: not known.
    pub latency_depth: u32,
}

impl ThreadStats {
    /// `self` plus `o`; the latency depth is `o`'s (fio's report of several threads gives the
    /// last one's).
    pub fn add(&mut self, o: &ThreadStats) {
        self.cpu.add(&o.cpu);
        self.depth.add(&o.depth);
        self.errors.add(&o.errors);
        if o.latency_depth != 0 {
            self.latency_depth = o.latency_depth;
        }
    }
}

/// fio's `disk_util` entry of one block device (`struct disk_util_stat`): deltas of
/// `/sys/block/<dev>/stat` over the job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskUtil {
    /// Device name (`sda`, `loop3`).
    pub name: String,
    /// Reads completed.
    pub read_ios: u64,
    /// Writes completed.
    pub write_ios: u64,
    /// Reads merged.
    pub read_merges: u64,
    /// Writes merged.
    pub write_merges: u64,
    /// Time spent reading, ms.
    pub read_ticks: u64,
    /// Time spent writing, ms.
    pub write_ticks: u64,
    /// Weighted time with I/O in flight, ms.
    pub in_queue: u64,
    /// Time the device had I/O in flight, ms.
    pub io_ticks: u64,
    /// Time the statistics cover, ms.
    pub time_ms: u64,
}

impl DiskUtil {
    /// Share of the time the device was busy, percent (fio's `util`).
    pub fn util(&self) -> f64 {
        if self.time_ms == 0 { 0.0 } else { (self.io_ticks as f64 * 100.0 / self.time_ms as f64).min(100.0) }
    }

    /// `self` plus `o` (the same device over another job).
    pub fn add(&mut self, o: &DiskUtil) {
        self.read_ios += o.read_ios;
        self.write_ios += o.write_ios;
        self.read_merges += o.read_merges;
        self.write_merges += o.write_merges;
        self.read_ticks += o.read_ticks;
        self.write_ticks += o.write_ticks;
        self.in_queue += o.in_queue;
        self.io_ticks += o.io_ticks;
        self.time_ms += o.time_ms;
    }
}

/// What a job × target reports besides its op records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobStats {
    /// CPU, depths and errors of the job's threads.
    pub threads: ThreadStats,
    /// The job's latency switches: what is reported (fio.json's blocks, the table's columns).
    pub latencies: Latencies,
    /// `continue_on_error` was set: fio.json then has `total_err` and `first_error`.
    pub continue_on_error: bool,
    /// The job's `latency_target` options (fio.json's `latency_target`, `latency_window`,
    /// `latency_percentile`; the depth found is [`ThreadStats::latency_depth`]).
    pub latency_target: LatencyTarget,
    /// The disk of a block-device target.
    pub disk: Option<DiskUtil>,
    /// What steady-state detection found (jobs with `ss_dur`).
    pub steadystate: Option<crate::SteadyStateStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_buckets_are_fios() {
        let mut d = DepthStats::default();
        for depth in [1, 2, 3, 4, 31, 32, 63, 64, 1000] {
            d.mark_depth(depth, 1);
        }
        assert_eq!(d.level, [1, 2, 1, 0, 1, 2, 2]);
        for nr in [0, 1, 4, 5, 32, 33, 64, 65] {
            d.mark_submit(nr);
        }
        assert_eq!(d.submit, [1, 2, 1, 0, 1, 2, 1]);
    }

    #[test]
    fn the_first_error_stays_first() {
        let mut a = ErrorStats::default();
        let mut b = ErrorStats::default();
        b.count(5);
        b.count(28);
        a.add(&b);
        a.count(12);
        assert_eq!((a.total, a.first), (3, 5));
    }
}
