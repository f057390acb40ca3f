//! fio's `rate`, `rate_iops` and `rate_process`: when a job thread may issue its next I/O of
//! one direction (fio's `usec_for_io`). `rate` (bytes per second) wins over `rate_iops`, as
//! in fio's `__setup_rate`; `poisson` draws each gap from an exponential distribution with
//! the same mean, as `rate_process=poisson` does.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
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

    /// Whether the next I/O must wait (the thread is ahead of the rate).
    pub fn ahead(&self) -> bool {
        self.next > Instant::now()
    }

    /// Sleeps until an I/O of `len` bytes may go, then books its share of the rate; false,
    /// the I/O not to go, when that is after `until` (the runtime's end: fio's `rate_ddir`
    /// then sleeps only to it) or a flag of `stop` is set meanwhile.
    pub fn wait(&mut self, len: u64, until: Option<Instant>, stop: &[&AtomicBool]) -> bool {
        let now = Instant::now();
        if self.next > now {
            let late = until.is_some_and(|u| self.next > u);
            let to = if late { until.unwrap_or(self.next) } else { self.next };
            if !usec_sleep(to.saturating_duration_since(now), stop) || late {
                return false;
            }
        }
        let mean_ns = match (self.bytes_per_sec, self.iops) {
            (Some(bps), _) => (u128::from(len) * 1_000_000_000 / u128::from(bps)) as f64,
            (None, Some(iops)) => 1e9 / iops as f64,
            (None, None) => 0.0,
        };
        let gap = if self.poisson { mean_ns * -self.uniform().ln() } else { mean_ns };
        self.next += Duration::from_nanos(gap as u64);
        true
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

/// Sleeps `d`, in slices of at most 100 ms so that a flag of `stop` ends it early, as fio's
/// `usec_sleep` checks `td->terminate`; true when it slept the whole of `d`.
pub fn usec_sleep(d: Duration, stop: &[&AtomicBool]) -> bool {
    const SLICE: Duration = Duration::from_millis(100);
    let end = Instant::now() + d;
    loop {
        if stop.iter().any(|f| f.load(Relaxed)) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SLICE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_win_over_iops_and_poisson_keeps_the_mean() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(4096 * 1000), Some(10), RateProcess::Linear, t0, 1).unwrap();
        p.next = t0 - Duration::from_secs(3600); // no sleeping in the test
        let from = p.next;
        assert!(p.wait(4096, None, &[]));
        assert_eq!(p.next - from, Duration::from_millis(1));
        let mut q = Pacer::new(None, Some(1000), RateProcess::Poisson, t0, 7).unwrap();
        q.next = t0 - Duration::from_secs(3600);
        let from = q.next;
        for _ in 0..20_000 {
            q.wait(4096, None, &[]);
        }
        let mean_us = (q.next - from).as_micros() as f64 / 20_000.0;
        assert!((mean_us - 1000.0).abs() < 30.0, "mean gap {mean_us} us");
        assert!(Pacer::new(None, Some(0), RateProcess::Linear, t0, 1).is_none());
    }

    #[test]
    fn a_wait_past_the_runtime_or_told_to_stop_lets_no_io_go() {
        let t0 = Instant::now();
        let mut p = Pacer::new(None, Some(1), RateProcess::Linear, t0, 1).unwrap();
        assert!(p.wait(4096, Some(t0), &[]), "the first I/O goes at once");
        // The next may go a second later: after a runtime that ends now.
        assert!(!p.wait(4096, Some(Instant::now()), &[]));
        let told = AtomicBool::new(true);
        assert!(!p.wait(4096, None, &[&told]));
        assert!(!usec_sleep(Duration::from_secs(3600), &[&told]));
        assert!(usec_sleep(Duration::ZERO, &[]));
    }
}
