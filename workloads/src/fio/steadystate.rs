//! fio's steady-state options: `steadystate` (`ss`: what is watched and how far it may
//! stray), `steadystate_duration` (`ss_dur`: the window; 0 turns detection off),
//! `steadystate_ramp_time` (`ss_ramp`) and `steadystate_check_interval` (`ss_interval`, which
//! fio 3.33 does not have yet; 3.42 does), read as fio's `str_steadystate_cb` and checked as its
//! `fixup_options`.

use std::time::Duration;

use vocab::{KbBase, Size, TimeUnit, format_time};

/// What steady state watches (fio's `FIO_SS_IOPS`, `FIO_SS_BW`, `FIO_SS_LAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsMetric {
    /// I/Os per second, every direction together.
    Iops,
    /// Bytes per second, every direction together.
    Bw,
    /// Mean completion latency (clat), ns.
    Lat,
}

impl SsMetric {
    /// fio's name of it.
    pub fn fio_name(self) -> &'static str {
        match self {
            SsMetric::Iops => "iops",
            SsMetric::Bw => "bw",
            SsMetric::Lat => "lat",
        }
    }
}

/// How far the window's samples may stray (fio's `ss_limit`, with `FIO_SS_PCT`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SsLimit {
    /// Percent of the window's mean (`iops:10%`).
    Percent(f64),
    /// In the metric's unit: I/Os per second, bytes per second or ns (`iops:50`, `bw:1m`,
    /// `lat:200us`).
    Absolute(f64),
}

impl SsLimit {
    /// The number, whatever its kind.
    pub fn value(self) -> f64 {
        match self {
            SsLimit::Percent(v) | SsLimit::Absolute(v) => v,
        }
    }

    /// Whether it is a percentage of the mean.
    pub fn is_percent(self) -> bool {
        matches!(self, SsLimit::Percent(_))
    }
}

/// A job's steady-state detection: when, over a window of `duration`, samples taken every
/// `interval` (after `ramp`) stay within `limit` — each sample's distance from the window's
/// mean, or the least-squares slope of the samples with `slope` — the job ends as if its
/// runtime were up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteadyState {
    /// What is sampled.
    pub metric: SsMetric,
    /// Judge the slope (`iops_slope`, ...) rather than the largest deviation from the mean.
    pub slope: bool,
    /// The limit.
    pub limit: SsLimit,
    /// `ss_dur`: the window; zero: no detection (fio's default).
    pub duration: Duration,
    /// `ss_ramp`: how long after the job's start (after `ramp_time`) sampling begins.
    pub ramp: Duration,
    /// `ss_interval`: time between samples (1 s by default; one value for the whole run).
    pub interval: Duration,
}

impl Default for SteadyState {
    /// fio's defaults: `ss=iops_slope:0.01%`, off (`ss_dur=0`), no ramp, 1 s interval.
    fn default() -> Self {
        SteadyState {
            metric: SsMetric::Iops,
            slope: true,
            limit: SsLimit::Percent(0.01),
            duration: Duration::ZERO,
            ramp: Duration::ZERO,
            interval: Duration::from_secs(1),
        }
    }
}

/// The criteria fio knows, with what each sets.
const CRITERIA: [(&str, SsMetric, bool); 6] = [
    ("iops", SsMetric::Iops, false),
    ("iops_slope", SsMetric::Iops, true),
    ("bw", SsMetric::Bw, false),
    ("bw_slope", SsMetric::Bw, true),
    ("lat", SsMetric::Lat, false),
    ("lat_slope", SsMetric::Lat, true),
];

impl SteadyState {
    /// Whether detection is on (`ss_dur` above zero).
    pub fn enabled(&self) -> bool {
        !self.duration.is_zero()
    }

    /// Samples in the window (`ss_dur / ss_interval`; [`SteadyState::check`] makes it whole
    /// and at least 2).
    pub fn intervals(&self) -> usize {
        (self.duration.as_nanos() / self.interval.as_nanos().max(1)) as usize
    }

    /// fio's name of the criterion: `iops`, `iops_slope`, `bw`, ...
    pub fn criterion_name(&self) -> String {
        format!("{}{}", self.metric.fio_name(), if self.slope { "_slope" } else { "" })
    }

    /// `steadystate=` as it reads back: `iops:10%`, `bw_slope:1048576`, `lat:200us`.
    pub fn criterion_text(&self) -> String {
        let limit = match (self.limit, self.metric) {
            (SsLimit::Percent(v), _) => format!("{v}%"),
            (SsLimit::Absolute(v), SsMetric::Iops) => v.to_string(),
            (SsLimit::Absolute(v), SsMetric::Bw) => (v as u64).to_string(),
            (SsLimit::Absolute(v), SsMetric::Lat) => format_time(Duration::from_nanos(v as u64)),
        };
        format!("{}:{limit}", self.criterion_name())
    }

    /// Reads `steadystate=CRITERION:LIMIT` (fio's `str_steadystate_cb`): the limit is a
    /// percentage of the mean with `%`; else I/Os per second (a number), bytes per second (a
    /// size, under `kb`) or a latency — a bare number counts nanoseconds, as fio compares it,
    /// and a time with a unit is that time (`200us`; fio 3.42 reads `200us` as 200 ns).
    pub(crate) fn set_criterion(&mut self, s: &str, kb: KbBase) -> Result<(), String> {
        let (name, limit) = s.split_once(':').ok_or_else(|| {
            "expected a criterion and its limit, such as iops:10% or bw_slope:1% (fio needs the limit too)".to_string()
        })?;
        let (_, metric, slope) = CRITERIA
            .into_iter()
            .find(|(n, ..)| n.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| "expected iops, iops_slope, bw, bw_slope, lat or lat_slope, then :LIMIT".to_string())?;
        let limit = limit.trim();
        let number = |t: &str, what: &str| match t.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            _ => Err(format!("the limit after '{name}:' must be {what}")),
        };
        let limit = match limit.strip_suffix('%') {
            Some(pct) => SsLimit::Percent(number(pct, "a percentage of 0 or more, such as 10%")?),
            None => SsLimit::Absolute(match metric {
                SsMetric::Iops => number(limit, "I/Os per second (a number of 0 or more) or a percentage such as 10%")?,
                SsMetric::Bw => Size::parse_with(limit, kb).map(|s| s.bytes() as f64).map_err(|_| {
                    format!("the limit after '{name}:' must be bytes per second (a size such as 1m) or a percentage")
                })?,
                SsMetric::Lat => match number(limit, "") {
                    Ok(ns) => ns,
                    Err(_) => vocab::parse_time(limit, TimeUnit::Micros).map(|d| d.as_nanos() as f64).map_err(|_| {
                        format!(
                            "the limit after '{name}:' must be a latency (nanoseconds, or a time such as 200us) or a \
                             percentage"
                        )
                    })?,
                },
            }),
        };
        self.metric = metric;
        self.slope = slope;
        self.limit = limit;
        Ok(())
    }

    /// What fio's `fixup_options` refuses of one job: an interval under 1 s, a window that
    /// is not a whole number (at least 2) of intervals.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.interval < Duration::from_secs(1) {
            return Err(format!(
                "steadystate_check_interval={} is under 1s, the least fio takes",
                format_time(self.interval)
            ));
        }
        if !self.duration.as_nanos().is_multiple_of(self.interval.as_nanos()) || self.duration <= self.interval {
            return Err(format!(
                "steadystate_duration={} must be a multiple of steadystate_check_interval={} and longer (fio takes \
                 one sample per interval, at least two per window)",
                format_time(self.duration),
                format_time(self.interval)
            ));
        }
        Ok(())
    }

    /// The options that differ from fio's defaults, as `(key, value)` pairs that read back.
    pub(crate) fn fio_options(&self) -> Vec<(&'static str, String)> {
        let d = SteadyState::default();
        let mut out = Vec::new();
        if (self.metric, self.slope, self.limit) != (d.metric, d.slope, d.limit) {
            out.push(("steadystate", self.criterion_text()));
        }
        for (k, v, default) in [
            ("steadystate_duration", self.duration, d.duration),
            ("steadystate_ramp_time", self.ramp, d.ramp),
            ("steadystate_check_interval", self.interval, d.interval),
        ] {
            if v != default {
                out.push((k, format_time(v)));
            }
        }
        out
    }

    /// What must be the same for every job of a reporting group (fio's
    /// `td_steadystate_init`: criterion, limit, window and ramp), as text for a message.
    pub(crate) fn group_key(&self) -> String {
        if !self.enabled() {
            return "no steady-state detection (ss_dur=0)".into();
        }
        format!(
            "ss={}, ss_dur={}, ss_ramp={}",
            self.criterion_text(),
            format_time(self.duration),
            format_time(self.ramp)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> Result<SteadyState, String> {
        let mut ss = SteadyState::default();
        ss.set_criterion(s, KbBase::Binary).map(|()| ss)
    }

    #[test]
    fn criteria_and_limits_read_as_fio_reads_them() {
        let ss = parsed("iops:10%").unwrap();
        assert_eq!((ss.metric, ss.slope, ss.limit), (SsMetric::Iops, false, SsLimit::Percent(10.0)));
        let ss = parsed("bw_slope:1m").unwrap();
        assert_eq!((ss.metric, ss.slope, ss.limit), (SsMetric::Bw, true, SsLimit::Absolute(1048576.0)));
        assert_eq!(parsed("lat:500").unwrap().limit, SsLimit::Absolute(500.0));
        assert_eq!(parsed("lat_slope:200us").unwrap().limit, SsLimit::Absolute(200_000.0));
        assert_eq!(parsed("IOPS_SLOPE:0.5").unwrap().limit, SsLimit::Absolute(0.5));
        for text in ["iops:10%", "bw_slope:1048576", "lat:200us", "iops_slope:0.01%", "lat_slope:5%"] {
            assert_eq!(parsed(text).unwrap().criterion_text(), text);
        }
        assert!(parsed("iops").unwrap_err().contains("criterion and its limit"));
        assert!(parsed("tput:5%").unwrap_err().contains("expected iops, iops_slope"));
        assert!(parsed("iops:-1").unwrap_err().contains("0 or more"));
        assert!(parsed("iops:x%").unwrap_err().contains("percentage"));
        assert!(parsed("bw:fast").unwrap_err().contains("bytes per second"));
        assert!(parsed("lat:soon").unwrap_err().contains("a latency"));
    }

    #[test]
    fn the_window_is_whole_intervals() {
        let ss = |dur: u64, interval: u64| SteadyState {
            duration: Duration::from_secs(dur),
            interval: Duration::from_secs(interval),
            ..SteadyState::default()
        };
        assert_eq!(ss(30, 1).check(), Ok(()));
        assert_eq!(ss(300, 10).intervals(), 30);
        assert!(ss(30, 7).check().unwrap_err().contains("multiple"));
        assert!(ss(10, 10).check().unwrap_err().contains("longer"));
        let fast = SteadyState { interval: Duration::from_millis(500), ..ss(10, 1) };
        assert!(fast.check().unwrap_err().contains("under 1s"));
        assert_eq!(ss(0, 7).check(), Ok(()));
    }
}
