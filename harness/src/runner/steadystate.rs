//! fio's steady-state detection (`steadystate.c`). Every check interval (1 s by default) a
//! monitor thread — fio's helper thread calling `steadystate_check` — samples each report's
//! throughput and mean completion latency since the last check: one job thread's, or with
//! `group_reporting` the sum over the threads of its reporting group ([`ReportUnit`]). After
//! `ss_ramp` (plus one interval) the samples go into a window of `ss_dur / ss_interval`; once
//! it is full, each new sample judges it — the largest deviation from the window's mean
//! ([`deviation`], `steadystate_deviation`) or the least-squares slope ([`slope`],
//! `steadystate_slope`) — and when that is under the limit, steady state is attained: the
//! report's threads are told to stop, as if their runtime were up (`fio_mark_td_terminate`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use results::SteadyStateStats;
use workloads::Job;
use workloads::fio::{SsMetric, SteadyState};

use super::group::{ReportUnit, report_units};

/// A job thread's I/O so far, for the checks (fio's `td->io_blocks`, `td->io_bytes` and the
/// sum and count of its `clat_stat`): written by its thread alone, read by the monitor; on
/// cache lines of its own, so that threads counting side by side do not share one.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct SsCounters {
    ios: AtomicU64,
    bytes: AtomicU64,
    clat_ns: AtomicU64,
    clat_samples: AtomicU64,
}

/// One reading of [`SsCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    ios: u64,
    bytes: u64,
    clat_ns: u64,
    clat_samples: u64,
}

impl SsCounters {
    /// A read, write or trim of `bytes` completed after `clat_ns` (its clat; a synchronous
    /// engine's whole latency). Only the owning thread calls it: plain stores, no locked adds.
    #[inline]
    pub fn add(&self, bytes: u64, clat_ns: u64) {
        let bump = |a: &AtomicU64, n: u64| a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
        bump(&self.ios, 1);
        bump(&self.bytes, bytes);
        bump(&self.clat_ns, clat_ns);
        bump(&self.clat_samples, 1);
    }

    fn read(&self) -> Counts {
        Counts {
            ios: self.ios.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            clat_ns: self.clat_ns.load(Relaxed),
            clat_samples: self.clat_samples.load(Relaxed),
        }
    }
}

/// A job thread as the monitor sees it: its counters, and whether it is running (fio checks a
/// `td` between `TD_SETTING_UP` and `TD_EXITED`).
#[derive(Debug, Default)]
pub struct SsThread {
    /// What it did so far.
    pub counters: SsCounters,
    /// When its measured phase starts (fio's `td->epoch`, reset after `ramp_time`).
    epoch: OnceLock<Instant>,
    ended: AtomicBool,
}

impl SsThread {
    /// The thread starts, measuring from `epoch`.
    pub fn start(&self, epoch: Instant) {
        let _ = self.epoch.set(epoch);
    }

    /// The thread ended.
    pub fn end(&self) {
        self.ended.store(true, Relaxed);
    }

    /// Its epoch, while it runs at `now`.
    fn running(&self, now: Instant) -> Option<Instant> {
        self.epoch.get().copied().filter(|&e| now >= e && !self.ended.load(Relaxed))
    }
}

/// One check's sample of a report (fio's `group_iops`, `group_bw`, `group_lat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// I/Os per second.
    pub iops: u64,
    /// Bytes per second.
    pub bw: u64,
    /// Mean clat over the interval, ns.
    pub lat: u64,
}

impl Sample {
    fn of(&self, metric: SsMetric) -> u64 {
        match metric {
            SsMetric::Iops => self.iops,
            SsMetric::Bw => self.bw,
            SsMetric::Lat => self.lat,
        }
    }
}

/// fio's `steadystate_slope` on a full window `ys` (oldest first, one per interval):
/// the least-squares slope against 0, 1, ... n-1 — as fio, from integer sums, `x` taken as
/// evenly spaced — and the criterion: the slope, or with `percent` the slope in percent of
/// the window's mean (fio's integer mean).
pub fn slope(ys: &[u64], percent: bool) -> (f64, f64) {
    let n = ys.len() as u64;
    let sum_x = n * n.saturating_sub(1) / 2;
    let sum_x_sq = n.saturating_sub(1) * n * (2 * n).saturating_sub(1) / 6;
    let sum_y = ys.iter().fold(0u64, |s, &y| s.wrapping_add(y));
    let sum_xy = ys.iter().enumerate().fold(0u64, |s, (i, &y)| s.wrapping_add((i as u64).wrapping_mul(y)));
    let slope = (sum_xy as f64 - sum_x as f64 * sum_y as f64 / n as f64)
        / (sum_x_sq as f64 - sum_x as f64 * sum_x as f64 / n as f64);
    let criterion = if percent { 100.0 * slope / (sum_y / n.max(1)) as f64 } else { slope };
    (slope, criterion)
}

/// fio's `steadystate_deviation` on a full window `ys`: the largest distance of a sample from
/// the window's mean, and the criterion: that distance, or with `percent` that distance in
/// percent of the mean.
pub fn deviation(ys: &[u64], percent: bool) -> (f64, f64) {
    let sum_y = ys.iter().fold(0u64, |s, &y| s.wrapping_add(y));
    let mean = sum_y as f64 / ys.len() as f64;
    let dev = ys.iter().fold(0.0f64, |d, &y| d.max((y as f64 - mean).abs()));
    (dev, if percent { 100.0 * dev / mean } else { dev })
}

/// A report's window of samples and what was judged of it (fio's `struct steadystate_data`).
#[derive(Clone, Debug)]
pub struct Window {
    ss: SteadyState,
    samples: VecDeque<Sample>,
    slope: f64,
    deviation: f64,
    criterion: f64,
    attained: bool,
}

impl Window {
    /// An empty window for `ss`.
    pub fn new(ss: SteadyState) -> Window {
        Window {
            ss,
            samples: VecDeque::with_capacity(ss.intervals() + 1),
            slope: 0.0,
            deviation: 0.0,
            criterion: 0.0,
            attained: false,
        }
    }

    /// Takes a sample, the oldest falling out of a full window; true when the full window is
    /// then within the limit (steady state attained; the window keeps it).
    pub fn add(&mut self, s: Sample) -> bool {
        self.samples.push_back(s);
        if self.samples.len() > self.ss.intervals() {
            self.samples.pop_front();
        }
        if self.samples.len() < self.ss.intervals() {
            return false;
        }
        let ys: Vec<u64> = self.samples.iter().map(|s| s.of(self.ss.metric)).collect();
        let (pct, limit) = (self.ss.limit.is_percent(), self.ss.limit.value());
        let within = if self.ss.slope {
            (self.slope, self.criterion) = slope(&ys, pct);
            self.criterion.abs() < limit
        } else {
            (self.deviation, self.criterion) = deviation(&ys, pct);
            self.criterion < limit
        };
        self.attained |= within;
        within
    }

    /// Whether steady state was attained.
    pub fn attained(&self) -> bool {
        self.attained
    }

    /// What fio reports of it: the window oldest first, zeros for the samples not taken.
    pub fn stats(&self) -> SteadyStateStats {
        let n = self.ss.intervals();
        let series = |f: fn(&Sample) -> u64| {
            let mut v: Vec<u64> = self.samples.iter().map(f).collect();
            v.resize(n, 0);
            v
        };
        SteadyStateStats {
            criterion_name: self.ss.criterion_name(),
            limit: self.ss.limit.value(),
            percent: self.ss.limit.is_percent(),
            duration_s: self.ss.duration.as_secs(),
            attained: self.attained,
            criterion: self.criterion,
            max_deviation: self.deviation,
            slope: self.slope,
            iops: series(|s| s.iops),
            bw: series(|s| s.bw),
            lat_ns: series(|s| s.lat),
        }
    }
}

/// What the monitor keeps of a thread between checks (fio's `ss->prev_*` and
/// `FIO_SS_RAMP_OVER`).
#[derive(Clone, Copy, Debug, Default)]
struct Prev {
    ramp_over: bool,
    time: Option<Instant>,
    counts: Counts,
}

/// The steady-state checks of a run group's jobs.
pub struct Monitor {
    interval: Duration,
    /// Per job, per thread.
    threads: Vec<Vec<SsThread>>,
    /// The reports with detection on, each with its options.
    units: Vec<(ReportUnit, SteadyState)>,
    finished: Mutex<bool>,
    wake: Condvar,
}

impl Monitor {
    /// The checks of `jobs` (one run group); `None` when no job has `ss_dur`.
    pub fn new(jobs: &[&Job]) -> Option<Monitor> {
        let enabled = |ji: usize| jobs[ji].control.steadystate.enabled();
        let units: Vec<(ReportUnit, SteadyState)> = report_units(jobs.iter().copied())
            .into_iter()
            .filter(|u| enabled(u.parts[0].0))
            .map(|u| {
                let ss = jobs[u.parts[0].0].control.steadystate;
                (u, ss)
            })
            .collect();
        let (_, first) = units.first()?;
        Some(Monitor {
            interval: first.interval,
            threads: jobs.iter().map(|j| (0..j.numjobs.max(1)).map(|_| SsThread::default()).collect()).collect(),
            units,
            finished: Mutex::new(false),
            wake: Condvar::new(),
        })
    }

    /// Thread `thread` of job `job`, to count into (`None` for a job without detection).
    pub fn thread(&self, job: usize, thread: usize) -> Option<&SsThread> {
        self.threads.get(job)?.get(thread)
    }

    /// Checks every interval from `t0` until [`Monitor::finish`], telling the threads of a
    /// report that attains steady state to stop (`told`, per job and thread). Returns each
    /// report's outcome with the thread that carries it: the report's last (fio keeps a
    /// reporting group's window in its last `td`).
    pub fn run(&self, t0: Instant, told: &[Vec<AtomicBool>]) -> Vec<((usize, usize), SteadyStateStats)> {
        let mut windows: Vec<Window> = self.units.iter().map(|(_, ss)| Window::new(*ss)).collect();
        let mut prev: Vec<Vec<Prev>> = self.threads.iter().map(|t| vec![Prev::default(); t.len()]).collect();
        let mut tick = 1u32;
        while self.sleep_until(t0 + self.interval * tick) {
            self.check(&mut windows, &mut prev, told);
            // fio's helper thread skips the checks it fell behind on (`eval_timer`).
            let behind = (t0.elapsed().as_nanos() / self.interval.as_nanos()) as u32;
            tick = (tick + 1).max(behind + 1);
        }
        self.units
            .iter()
            .zip(&windows)
            .map(|((u, _), w)| (*u.parts.last().expect("a report has a thread"), w.stats()))
            .collect()
    }

    /// Ends [`Monitor::run`] (every thread of the group ended).
    pub fn finish(&self) {
        *self.finished.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Sleeps until `deadline`; false when finished first.
    fn sleep_until(&self, deadline: Instant) -> bool {
        let mut done = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *done {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            done = self.wake.wait_timeout(done, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// fio's `steadystate_check`: one sample per report whose window-holding thread runs and
    /// one of whose threads is past `ss_ramp` plus an interval; each running thread adds what
    /// it did since the last check, scaled as fio scales it (`rate_time * Δ / (I² / 1000)`,
    /// ms: per second when the check comes one interval after the last).
    fn check(&self, windows: &mut [Window], prev: &mut [Vec<Prev>], told: &[Vec<AtomicBool>]) {
        let interval_ms = self.interval.as_millis() as u64;
        let per = (interval_ms * interval_ms / 1000).max(1);
        for ((unit, ss), window) in self.units.iter().zip(windows.iter_mut()) {
            if window.attained() {
                continue;
            }
            let now = Instant::now();
            let (mut iops, mut bw, mut lat_ns, mut lat_samples, mut ramp_over) = (0u64, 0u64, 0u64, 0u64, 0u32);
            let mut holder_runs = false;
            for (i, &(ji, t)) in unit.parts.iter().enumerate() {
                let Some(epoch) = self.threads[ji][t].running(now) else { continue };
                let p = &mut prev[ji][t];
                // Sampling starts one interval after ss_ramp (fio's FIO_SS_RAMP_OVER).
                if !p.ramp_over && (ss.ramp.is_zero() || now.duration_since(epoch) >= ss.ramp + self.interval) {
                    p.ramp_over = true;
                }
                let c = self.threads[ji][t].counters.read();
                let rate_ms = now.duration_since(p.time.unwrap_or(epoch)).as_millis() as u64;
                p.time = Some(now);
                if p.ramp_over {
                    bw = bw.wrapping_add(rate_ms.wrapping_mul(c.bytes.wrapping_sub(p.counts.bytes)) / per);
                    iops = iops.wrapping_add(rate_ms.wrapping_mul(c.ios.wrapping_sub(p.counts.ios)) / per);
                    lat_ns = lat_ns.wrapping_add(c.clat_ns.wrapping_sub(p.counts.clat_ns));
                    lat_samples = lat_samples.wrapping_add(c.clat_samples.wrapping_sub(p.counts.clat_samples));
                    ramp_over += 1;
                }
                p.counts = c;
                holder_runs |= i + 1 == unit.parts.len();
            }
            // fio judges a reporting group in its last `td`, skipped while that one does not run.
            if !holder_runs || ramp_over == 0 {
                continue;
            }
            let lat = if lat_samples > 0 { (lat_ns as f64 / lat_samples as f64) as u64 } else { 0 };
            if window.add(Sample { iops, bw, lat }) {
                for &(ji, t) in &unit.parts {
                    told[ji][t].store(true, Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::fio::SsLimit;

    fn ss(metric: SsMetric, slope: bool, limit: SsLimit, intervals: u64) -> SteadyState {
        SteadyState { metric, slope, limit, duration: Duration::from_secs(intervals), ..SteadyState::default() }
    }

    fn iops(v: u64) -> Sample {
        Sample { iops: v, bw: v * 4096, lat: 1_000_000 / v.max(1) }
    }

    #[test]
    fn deviation_is_the_largest_distance_from_the_mean() {
        // Mean 100: the farthest sample is 10 away, 10%.
        assert_eq!(deviation(&[90, 100, 110, 100], true), (10.0, 10.0));
        assert_eq!(deviation(&[90, 100, 110, 100], false), (10.0, 10.0));
        // Mean 400: 200 and 600 are 200 away, 50% of the mean.
        assert_eq!(deviation(&[200, 400, 600], true), (200.0, 50.0));
    }

    #[test]
    fn slope_is_the_least_squares_fit() {
        // y = 10x + 100: slope 10; mean 115, so 10 is 8.695...% of it.
        let (s, pct) = slope(&[100, 110, 120, 130], true);
        assert_eq!(s, 10.0);
        assert_eq!(pct, 100.0 * 10.0 / 115.0);
        // Falling: the criterion keeps the sign.
        assert_eq!(slope(&[130, 120, 110, 100], false), (-10.0, -10.0));
        // Flat with noise: Σxy = 0·5 + 1·7 + 2·5 = 17, Σx = 3, Σy = 17, Σx² = 5: (17 − 3·17/3) / (5 − 9/3) = 0.
        assert_eq!(slope(&[5, 7, 5], false), (0.0, 0.0));
        // fio's percentage divides by the integer mean: 7/2 is 3, not 3.5.
        assert_eq!(slope(&[3, 4], true), (1.0, 100.0 / 3.0));
    }

    #[test]
    fn a_window_attains_only_when_full_and_within_the_limit() {
        let mut w = Window::new(ss(SsMetric::Iops, false, SsLimit::Percent(10.0), 3));
        // 1000 then 1300: not full yet, whatever the values.
        assert!(!w.add(iops(1000)));
        assert!(!w.add(iops(1300)));
        // Full: mean 1100, 1300 is 18.2% away.
        assert!(!w.add(iops(1000)));
        assert!(!w.attained());
        // 1000 falls out: 1300, 1000, 1200 (mean 1166.7, 1000 is 14.3% away).
        assert!(!w.add(iops(1200)));
        // 1300 falls out: 1000, 1200, 1100: mean 1100, 100 away is 9.09%: attained.
        assert!(w.add(iops(1100)));
        let st = w.stats();
        assert!(st.attained);
        assert_eq!(st.iops, [1000, 1200, 1100]);
        assert_eq!(st.bw, [1000 * 4096, 1200 * 4096, 1100 * 4096]);
        assert_eq!((st.max_deviation, st.criterion, st.slope), (100.0, 100.0 * 100.0 / 1100.0, 0.0));
        assert_eq!((st.criterion_name.as_str(), st.limit, st.percent, st.duration_s), ("iops", 10.0, true, 3));
    }

    #[test]
    fn slope_windows_judge_the_watched_metric_and_pad_with_zeros() {
        // bw_slope under 1000 B/s per interval: bw grows by 4096 per sample — never.
        let mut w = Window::new(ss(SsMetric::Bw, true, SsLimit::Absolute(1000.0), 4));
        for v in [100, 101, 102] {
            assert!(!w.add(iops(v)));
        }
        assert_eq!(w.stats().bw, [409_600, 413_696, 417_792, 0]);
        assert!(!w.add(iops(103)));
        assert_eq!(w.stats().slope, 4096.0);
        // lat_slope within 50 ns per interval: 1e6/100 .. 1e6/103 falls by ~95 ns a sample.
        let mut w = Window::new(ss(SsMetric::Lat, true, SsLimit::Absolute(50.0), 4));
        for v in [100, 101, 102] {
            w.add(iops(v));
        }
        // 10000, 9900, 9803, 9708: slope −97.3.
        assert!(!w.add(iops(103)));
        // 9900, 9803, 9708, 9708: −67.1.
        assert!(!w.add(iops(103)));
        // 9803, 9708, 9708, 9708: −28.5, under 50.
        assert!(w.add(iops(103)));
        assert_eq!(w.stats().slope, -28.5);
        assert_eq!(w.stats().lat_ns, [9803, 9708, 9708, 9708]);
    }
}
