//! fio's latency target search (`latency_target`, `latency_window`, `latency_percentile`,
//! `latency_run`): the highest queue depth at which `latency_percentile` percent of a
//! window's I/Os complete within `latency_target`, as fio's `io_u.c` finds it.
//!
//! The depth starts at 1 (`lat_target_init`). At the end of each window (`lat_target_check`)
//! a depth that met the target goes up (`lat_target_success`: doubled while no depth has
//! failed, else halfway to the lowest that failed) and one that did not goes down
//! (`__lat_target_failed`: halfway to the highest that met it, the I/O in flight completed
//! first). With `latency_percentile=100` one I/O over the target is a failure at once, and at
//! depth 1 the job fails (fio's `lat_fatal`, ETIMEDOUT). Once a window that met the target
//! leaves the depth where it was, the job runs one more window at that depth with its
//! statistics and runtime started afresh (what it reports), and ends when that one meets the
//! target too (`latency_run` keeps searching for the whole run instead).

use std::time::{Duration, Instant};

use vocab::LatencyTarget;

/// What the job thread must do after a step of the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing: go on at [`LatTarget::depth`].
    Go,
    /// The depth went down: complete the I/O in flight before queuing more (fio's
    /// `io_u_quiesce`).
    Quiesce,
    /// The depth settled: complete the I/O in flight, then start the job's statistics and
    /// runtime afresh for the final window (fio's `reset_all_stats`).
    FinalRun,
    /// The final window met the target too: the job is done (fio's `td->done`).
    Done,
    /// An I/O at depth 1 went over a 100-percent target: the job fails (fio's `lat_fatal`).
    Fatal,
}

/// The state of one job thread's search (fio's `td->latency_*`).
#[derive(Clone, Debug)]
pub struct LatTarget {
    target_ns: u64,
    window: Duration,
    percentile: f64,
    run: bool,
    /// Whether completions are judged at all (fio skips it under `disable_lat`).
    judged: bool,
    /// The job's `iodepth`, the most the search goes to.
    iodepth: u32,
    /// fio's `latency_qd`, `latency_qd_high`, `latency_qd_low`, `latency_stable_count`.
    qd: u32,
    qd_high: u32,
    qd_low: u32,
    stable: u32,
    /// fio's `latency_end_run`: the final window at the settled depth is running.
    end_run: bool,
    /// I/Os completed, and how many when the window started (fio's `io_blocks` and
    /// `latency_ios`).
    ios: u64,
    window_ios: u64,
    /// I/Os of the window over the target (fio's `latency_failed`).
    failed: u64,
    /// When the window started (fio's `latency_ts`).
    window_start: Instant,
}

impl LatTarget {
    /// fio's `lat_target_init`, at `now`, for a job of `iodepth` whose latencies are recorded
    /// (`judged`: not `disable_lat`).
    pub fn new(cfg: &LatencyTarget, judged: bool, iodepth: u32, now: Instant) -> LatTarget {
        LatTarget {
            target_ns: cfg.target.as_nanos().min(u128::from(u64::MAX)) as u64,
            window: cfg.window,
            percentile: cfg.percentile,
            run: cfg.run,
            judged,
            iodepth: iodepth.max(1),
            qd: 1,
            qd_high: iodepth.max(1),
            qd_low: 1,
            stable: 0,
            end_run: false,
            ios: 0,
            window_ios: 0,
            failed: 0,
            window_start: now,
        }
    }

    /// The queue depth to run at now (fio's `latency_qd`).
    pub fn depth(&self) -> u32 {
        self.qd
    }

    /// `latency_target`.
    pub fn target(&self) -> Duration {
        Duration::from_nanos(self.target_ns)
    }

    /// An I/O completed at `now` with latency `lat_ns` (fio's lat: issue to completion), as
    /// fio's `account_io_completion` judges it: over the target, it fails the window (at once
    /// with a 100-percent target, `lat_target_failed`).
    pub fn completed(&mut self, lat_ns: u64, now: Instant) -> Step {
        self.ios += 1;
        if !self.judged || lat_ns <= self.target_ns {
            return Step::Go;
        }
        if self.percentile >= 100.0 {
            return self.failed_now(now);
        }
        self.failed += 1;
        Step::Go
    }

    /// fio's `lat_target_check`: at the end of a window, the depth met the target or not.
    pub fn check(&mut self, now: Instant) -> Step {
        if now.saturating_duration_since(self.window_start) < self.window {
            return Step::Go;
        }
        let ios = self.ios - self.window_ios;
        // fio's success rate; a window without I/O (0/0) fails, as in fio.
        let success = (ios as f64 - self.failed as f64) / ios as f64 * 100.0;
        match (success >= self.percentile, self.qd) {
            (true, _) => self.success(now),
            // At depth 1 fio's __lat_target_failed returns before starting a new window: the
            // same window is judged again at the next check, its I/Os adding up.
            (false, 1) => Step::Go,
            (false, _) => self.failed_now(now),
        }
    }

    /// fio's `lat_target_success`.
    fn success(&mut self, now: Instant) -> Step {
        let qd = self.qd;
        self.qd_low = self.qd;
        if self.qd + 1 == self.qd_high {
            // Stuck one below a depth that failed: after three successes in a row, try it
            // again (fio's "naive heuristic").
            self.stable += 1;
            if self.stable >= 3 {
                self.qd_high += 1;
                self.stable = 0;
            }
        }
        // Double while no depth failed; else bisect toward the lowest that did.
        self.qd = if self.qd_high != self.iodepth { (self.qd + self.qd_high) / 2 } else { self.qd * 2 };
        self.qd = self.qd.min(self.iodepth);
        let mut step = Step::Go;
        if !self.run && self.qd == qd {
            step = if self.end_run {
                Step::Done
            } else {
                self.end_run = true;
                Step::FinalRun
            };
        }
        self.new_window(now);
        step
    }

    /// fio's `__lat_target_failed`: the depth goes down, halfway to the highest that met the
    /// target; at depth 1 there is nowhere to go, and a completion over a 100-percent target
    /// is fatal.
    fn failed_now(&mut self, now: Instant) -> Step {
        if self.qd == 1 {
            return Step::Fatal;
        }
        self.qd_high = self.qd;
        if self.qd == self.qd_low {
            self.qd_low -= 1;
        }
        self.qd = (self.qd + self.qd_low) / 2;
        self.stable = 0;
        self.new_window(now);
        Step::Quiesce
    }

    /// fio's `lat_new_cycle`.
    fn new_window(&mut self, now: Instant) {
        self.window_start = now;
        self.window_ios = self.ios;
        self.failed = 0;
    }

    /// The job's statistics and clock started afresh at `now` (the final window).
    pub fn restart_window(&mut self, now: Instant) {
        self.new_window(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search on a device whose every I/O takes `lat(depth)`: `per_window` I/Os per
    /// window of 1 s; returns the depth of each window and how the search ended.
    fn search(cfg: LatencyTarget, iodepth: u32, lat: impl Fn(u32) -> Duration) -> (Vec<u32>, Step) {
        let t0 = Instant::now();
        let mut s = LatTarget::new(&cfg, true, iodepth, t0);
        let mut depths = Vec::new();
        let mut now = t0;
        for _ in 0..200 {
            depths.push(s.depth());
            let mut step = Step::Go;
            // Each window: ten I/Os at the window's depth, then its end.
            for _ in 0..10 {
                now += cfg.window / 10;
                step = s.completed(lat(s.depth()).as_nanos() as u64, now);
                if step != Step::Go {
                    break;
                }
            }
            if step == Step::Go {
                step = s.check(now);
            }
            match step {
                Step::Done | Step::Fatal => return (depths, step),
                Step::Go | Step::Quiesce | Step::FinalRun => {}
            }
        }
        panic!("the search did not end: {depths:?}");
    }

    fn cfg(target_us: u64, percentile: f64) -> LatencyTarget {
        LatencyTarget {
            target: Duration::from_micros(target_us),
            window: Duration::from_secs(1),
            percentile,
            run: false,
        }
    }

    #[test]
    fn depth_doubles_then_bisects_to_the_highest_that_meets_the_target() {
        // 100 us per queued I/O: depths up to 10 meet a 1 ms target.
        let lat = |qd: u32| Duration::from_micros(100 * u64::from(qd));
        let (depths, end) = search(cfg(1000, 99.9), 128, lat);
        // 1, 2, 4, 8 meet it; 16 fails (down to 12), 12 fails (10), 10 meets it (11), 11
        // fails (10), 10 meets it and stays: the final window at 10, then done.
        assert_eq!(depths, [1, 2, 4, 8, 16, 12, 10, 11, 10, 10]);
        assert_eq!(end, Step::Done);
    }

    #[test]
    fn a_device_that_never_slows_settles_at_iodepth() {
        let (depths, end) = search(cfg(1000, 100.0), 8, |_| Duration::from_micros(10));
        assert_eq!(depths, [1, 2, 4, 8, 8]);
        assert_eq!(end, Step::Done);
    }

    #[test]
    fn a_percentile_tolerates_a_share_of_slow_ios() {
        // One I/O in ten over the target at every depth: 90% meet it.
        let slow_tenth = std::cell::Cell::new(0u32);
        let lat = |_: u32| {
            slow_tenth.set(slow_tenth.get() + 1);
            if slow_tenth.get().is_multiple_of(10) { Duration::from_millis(5) } else { Duration::from_micros(10) }
        };
        let (depths, end) = search(cfg(1000, 90.0), 4, lat);
        assert_eq!((depths, end), (vec![1, 2, 4, 4], Step::Done));
        // 95% is not met even at depth 1, where there is nowhere lower to go: fio judges the
        // same growing window again at every check, and the depth stays 1.
        let t0 = Instant::now();
        let c = cfg(1000, 95.0);
        let mut s = LatTarget::new(&c, true, 4, t0);
        for i in 1..=1000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            let lat = if i.is_multiple_of(10) { 5_000_000 } else { 10_000 };
            assert_eq!(s.completed(lat, now), Step::Go);
            assert_eq!(s.check(now), Step::Go);
            assert_eq!(s.depth(), 1);
        }
    }

    #[test]
    fn a_hundred_percent_target_fails_at_the_first_slow_io() {
        // Every I/O over the target: at depth 1 that is fio's lat_fatal.
        let (depths, end) = search(cfg(1000, 100.0), 64, |_| Duration::from_millis(2));
        assert_eq!((depths, end), (vec![1], Step::Fatal));
        // Slow from depth 8: each slow I/O at once ramps down, the window starting over.
        let lat = |qd: u32| if qd >= 8 { Duration::from_millis(2) } else { Duration::from_micros(50) };
        let (depths, end) = search(cfg(1000, 100.0), 64, lat);
        // 8 fails at its first I/O (down to 6); 6 meets it (up to 7); 7 meets it, one below
        // the depth that failed: it stays, the final window, done.
        assert_eq!((depths, end), (vec![1, 2, 4, 8, 6, 7, 7], Step::Done));
    }

    #[test]
    fn latency_run_keeps_searching() {
        let mut c = cfg(1000, 99.9);
        c.run = true;
        let t0 = Instant::now();
        let mut s = LatTarget::new(&c, true, 4, t0);
        let mut now = t0;
        for _ in 0..20 {
            now += Duration::from_secs(1);
            s.completed(10_000, now);
            assert_ne!(s.check(now), Step::Done);
        }
        assert_eq!(s.depth(), 4);
    }

    #[test]
    fn without_recorded_latencies_every_window_meets_the_target() {
        let t0 = Instant::now();
        let mut s = LatTarget::new(&cfg(1, 100.0), false, 2, t0);
        assert_eq!(s.completed(1_000_000, t0), Step::Go);
        assert_eq!(s.check(t0 + Duration::from_secs(1)), Step::Go);
        assert_eq!(s.depth(), 2);
    }
}
