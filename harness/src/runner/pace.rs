//! fio's `rate`, `rate_iops` and `rate_process`: when a job thread may issue its next I/O of
//! one direction (fio's `usec_for_io`). `rate` (bytes per second) wins over `rate_iops`, as
//! in fio's `__setup_rate`; `poisson` draws each gap from an exponential distribution with
//! the same mean, as `rate_process=poisson` does. The job thread waits as fio's `rate_ddir`
//! does: in `io_submit_mode=inline` after its I/O in flight completed (`io_u_quiesce`), under
//! `offload` while its submitting threads go on.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use workloads::fio::{PerDir, RateProcess};

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
        matches!(self.wait_with(len, until, |d| Ok::<bool, ()>(usec_sleep(d, stop))), Ok(true))
    }

    /// [`Pacer::wait`] with the waiting done by `sleep`, which gets how long and says whether
    /// it waited all of it (an offloading job thread takes its workers' completions meanwhile).
    pub fn wait_with<E>(
        &mut self,
        len: u64,
        until: Option<Instant>,
        sleep: impl FnOnce(Duration) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let now = Instant::now();
        if self.next > now {
            let late = until.is_some_and(|u| self.next > u);
            let to = if late { until.unwrap_or(self.next) } else { self.next };
            if !sleep(to.saturating_duration_since(now))? || late {
                return Ok(false);
            }
        }
        let mean_ns = match (self.bytes_per_sec, self.iops) {
            (Some(bps), _) => (u128::from(len) * 1_000_000_000 / u128::from(bps)) as f64,
            (None, Some(iops)) => 1e9 / iops as f64,
            (None, None) => 0.0,
        };
        let gap = if self.poisson { mean_ns * -self.uniform().ln() } else { mean_ns };
        self.next += Duration::from_nanos(gap as u64);
        Ok(true)
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

/// fio's `rate_min` and `rate_iops_min` (`__check_min_rate`): after a 2 s settle, each
/// `rate_cycle` the bandwidth (or, without `rate_min`, the IOPS) of each direction that has
/// done I/O must reach its minimum, or the job fails.
pub struct MinRate {
    /// `rate_min=` per direction (read, write), bytes per second.
    bytes: [Option<u64>; 2],
    /// `rate_iops_min=` per direction.
    iops: [Option<u64>; 2],
    cycle: Duration,
    start: Instant,
    /// Per direction: when the last cycle started, and the bytes and I/Os done by then.
    last: [Option<(Instant, u64, u64)>; 2],
}

impl MinRate {
    /// The check of a job with these minimums, from `start`; `None` when it has none.
    pub fn new(
        bytes: PerDir<Option<u64>>,
        iops: PerDir<Option<u64>>,
        cycle: Duration,
        start: Instant,
    ) -> Option<MinRate> {
        let (bytes, iops) = ([bytes.read, bytes.write], [iops.read, iops.write]);
        (bytes.iter().chain(&iops).any(Option::is_some)).then_some(MinRate {
            bytes,
            iops,
            cycle,
            start,
            last: [None; 2],
        })
    }

    /// Checks at `now` (the last completion), with `done` the (bytes, I/Os) each direction
    /// completed so far; why the job fails, if a direction's last cycle fell short.
    pub fn check(&mut self, now: Instant, done: [(u64, u64); 2]) -> Result<(), String> {
        const SETTLE: Duration = Duration::from_secs(2);
        if now.saturating_duration_since(self.start) < SETTLE {
            return Ok(());
        }
        for (d, &(bytes, ios)) in done.iter().enumerate() {
            if bytes == 0 || (self.bytes[d].is_none() && self.iops[d].is_none()) {
                continue;
            }
            if let Some((at, b0, n0)) = self.last[d].filter(|&(_, b0, n0)| b0 > 0 || n0 > 0) {
                let spent = now.saturating_duration_since(at).as_millis() as u64;
                if spent < self.cycle.as_millis() as u64 || spent == 0 {
                    continue;
                }
                match (self.bytes[d], self.iops[d]) {
                    (Some(min), _) if (bytes - b0) * 1000 / spent < min => {
                        return Err(format!("rate_min={min}B/s not met, got {}B/s", (bytes - b0) * 1000 / spent));
                    }
                    (None, Some(min)) if (ios - n0) * 1000 / spent < min => {
                        return Err(format!("rate_iops_min={min} not met, got {} IOPS", (ios - n0) * 1000 / spent));
                    }
                    _ => {}
                }
            }
            self.last[d] = Some((now, bytes, ios));
        }
        Ok(())
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
    fn a_minimum_rate_is_checked_per_cycle_after_two_seconds() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let min = PerDir { read: Some(1024), write: None, trim: None };
        let mut m = MinRate::new(min, PerDir::default(), Duration::from_secs(1), t0).unwrap();
        assert_eq!(m.check(at(1_000), [(4096, 1), (0, 0)]), Ok(()), "settling");
        assert_eq!(m.check(at(2_000), [(4096, 1), (0, 0)]), Ok(()), "the first check only marks");
        assert_eq!(m.check(at(2_500), [(4096, 1), (0, 0)]), Ok(()), "half a cycle");
        assert_eq!(m.check(at(3_000), [(8192, 2), (0, 0)]), Ok(()), "4096 B in 1 s");
        let e = m.check(at(4_000), [(8192, 2), (0, 0)]).unwrap_err();
        assert_eq!(e, "rate_min=1024B/s not met, got 0B/s");
        let iops = PerDir { read: None, write: Some(10), trim: None };
        let mut m = MinRate::new(PerDir::default(), iops, Duration::from_secs(1), t0).unwrap();
        m.check(at(2_000), [(0, 0), (4096, 1)]).unwrap();
        assert_eq!(m.check(at(3_000), [(0, 0), (8192, 2)]).unwrap_err(), "rate_iops_min=10 not met, got 1 IOPS");
        assert!(MinRate::new(PerDir::default(), PerDir::default(), Duration::from_secs(1), t0).is_none());
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
