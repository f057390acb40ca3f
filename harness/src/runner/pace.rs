//! fio's `rate`, `rate_iops` and `rate_process`: when a job thread may issue its next I/O of
//! one direction (fio's `usec_for_io`). `rate` (bytes per second) wins over `rate_iops`, as
//! in fio's `__setup_rate`; `poisson` draws each gap from an exponential distribution with
//! the same mean, as `rate_process=poisson` does. The job thread waits until [`Pacer::due`]
//! as fio's `rate_ddir` does: in `io_submit_mode=inline` after its I/O in flight completed
//! (`io_u_quiesce`), under `offload` while its submitting threads go on.

use std::time::{Duration, Instant};

use workloads::fio::RateProcess;

/// The pacing of one direction of one thread.
pub struct Pacer {
    /// `rate=` of the direction, bytes per second.
    bytes_per_sec: Option<u64>,
    /// `rate_iops=` of the direction.
    iops: Option<u64>,
    poisson: bool,
    /// When the next I/O may go.
    next: Instant,
    /// xorshift state for the Poisson gaps (never 0).
    rng: u64,
}

impl Pacer {
    /// The pacer of a direction with these limits, from `start`; `None` when it has none.
    pub fn new(
        bytes_per_sec: Option<u64>,
        iops: Option<u64>,
        process: RateProcess,
        start: Instant,
        seed: u64,
    ) -> Option<Pacer> {
        let (bytes_per_sec, iops) = (bytes_per_sec.filter(|&r| r > 0), iops.filter(|&r| r > 0));
        (bytes_per_sec.is_some() || iops.is_some()).then_some(Pacer {
            bytes_per_sec,
            iops,
            poisson: process == RateProcess::Poisson,
            next: start,
            rng: seed | 1,
        })
    }

    /// When the next I/O of the direction may go (fio's `rate_next_io_time`).
    pub fn due(&self) -> Instant {
        self.next
    }

    /// Books an I/O of `len` bytes issued now: the next may go one gap later (fio's
    /// `usec_for_io`).
    pub fn book(&mut self, len: u64) {
        let mean_ns = match (self.bytes_per_sec, self.iops) {
            (Some(bps), _) => (u128::from(len) * 1_000_000_000 / u128::from(bps)) as f64,
            (None, Some(iops)) => 1e9 / iops as f64,
            (None, None) => 0.0,
        };
        let gap = if self.poisson { mean_ns * -self.uniform().ln() } else { mean_ns };
        self.next += Duration::from_nanos(gap as u64);
    }

    /// A uniform draw in (0, 1].
    fn uniform(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        ((x >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_win_over_iops_and_poisson_keeps_the_mean() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(4096 * 1000), Some(10), RateProcess::Linear, t0, 1).unwrap();
        let from = p.next;
        p.book(4096);
        assert_eq!(p.next - from, Duration::from_millis(1));
        let mut q = Pacer::new(None, Some(1000), RateProcess::Poisson, t0, 7).unwrap();
        let from = q.next;
        for _ in 0..20_000 {
            q.book(4096);
        }
        let mean_us = (q.next - from).as_micros() as f64 / 20_000.0;
        assert!((mean_us - 1000.0).abs() < 30.0, "mean gap {mean_us} us");
        assert!(Pacer::new(None, Some(0), RateProcess::Linear, t0, 1).is_none());
    }
}
