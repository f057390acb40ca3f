//! fio's log files — `write_lat_log`, `write_bw_log`, `write_iops_log`, `write_hist_log` —
//! in fio's own formats, so that `fio2gnuplot`, `fiologparser.py` and `fiologparser_hist.py`
//! read them (fio's `stat.c` `add_lat_sample`/`add_bw_sample`/`add_iops_sample`/
//! `add_clat_sample`, `iolog.c` `flush_samples`/`flush_hist_samples`).
//!
//! Every line starts with the time in milliseconds since the job started:
//! - `_lat`, `_clat`, `_slat`, `_bw`, `_iops`: `time, value, ddir, bs[, offset], prio`, the
//!   priority being 1 for an I/O of the real-time class and 0 otherwise, or with `log_prio` the
//!   I/O's priority as the kernel packs it (`0x2000`; `iolog.c` `flush_samples`). Without
//!   `log_avg_msec` one line per I/O (latencies in ns, bandwidth in KiB/s of that I/O as fio
//!   computes it from its clat, iops 1); with it one line per window and data direction (the
//!   mean latency, the window's KiB/s and IOPS; bs 0).
//! - `_clat_hist`: `time, ddir, bs, bin0, ..., bin1855`: the completion latencies of the window
//!   in fio's 1856 log-linear bins (`plat_val_to_idx`), every `log_hist_msec`.

use std::fmt::Write;

/// Bits of a bin group (fio's `FIO_IO_U_PLAT_BITS`).
pub const PLAT_BITS: u32 = 6;
/// Bins per group (`FIO_IO_U_PLAT_VAL`).
pub const PLAT_VAL: u64 = 1 << PLAT_BITS;
/// Groups (`FIO_IO_U_PLAT_GROUP_NR`).
pub const PLAT_GROUP_NR: u64 = 29;
/// Bins of a latency histogram (`FIO_IO_U_PLAT_NR`).
pub const PLAT_NR: usize = (PLAT_GROUP_NR * PLAT_VAL) as usize;

/// The bin of a latency in ns (fio's `plat_val_to_idx`): exact below 128, then 64 bins per
/// power of two.
pub fn plat_val_to_idx(val: u64) -> usize {
    let msb = if val == 0 { 0 } else { 63 - val.leading_zeros() };
    if msb <= PLAT_BITS {
        return val as usize;
    }
    let error_bits = msb - PLAT_BITS;
    let base = u64::from(error_bits + 1) << PLAT_BITS;
    let offset = (PLAT_VAL - 1) & (val >> error_bits);
    ((base + offset) as usize).min(PLAT_NR - 1)
}

/// Which logs a job writes and how (fio's `write_*_log`, `log_avg_msec`, `log_hist_msec`,
/// `log_offset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogConfig {
    /// `_lat`, `_clat` and `_slat` logs.
    pub lat: bool,
    /// `_bw` log.
    pub bw: bool,
    /// `_iops` log.
    pub iops: bool,
    /// `_clat_hist` log.
    pub hist: bool,
    /// Averaging window in ms (0: one line per I/O).
    pub avg_msec: u64,
    /// Histogram window in ms (0: no histogram lines, as fio).
    pub hist_msec: u64,
    /// Each line carries the I/O's offset.
    pub offset: bool,
    /// `log_prio`: the priority column is the I/O's priority, not whether it is real-time.
    pub prio: bool,
}

impl LogConfig {
    /// Whether any log is written.
    pub fn any(&self) -> bool {
        self.lat || self.bw || self.iops || self.hist
    }

    /// The logs written, as fio's file suffixes (`lat` gives `lat`, `clat` and `slat`).
    pub fn suffixes(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.lat {
            out.extend(["lat", "clat", "slat"]);
        }
        if self.bw {
            out.push("bw");
        }
        if self.iops {
            out.push("iops");
        }
        if self.hist {
            out.push("clat_hist");
        }
        out
    }
}

/// One thread's log texts, by fio's suffix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadLogs {
    /// `_lat`: issue to completion.
    pub lat: String,
    /// `_clat`: submission to completion.
    pub clat: String,
    /// `_slat`: issue to submission (queued I/O only).
    pub slat: String,
    /// `_bw`.
    pub bw: String,
    /// `_iops`.
    pub iops: String,
    /// `_clat_hist`.
    pub clat_hist: String,
}

impl ThreadLogs {
    /// The text of the log with fio's `suffix`.
    pub fn get(&self, suffix: &str) -> &str {
        match suffix {
            "lat" => &self.lat,
            "clat" => &self.clat,
            "slat" => &self.slat,
            "bw" => &self.bw,
            "iops" => &self.iops,
            "clat_hist" => &self.clat_hist,
            _ => "",
        }
    }

    /// Appends a later repetition's lines (its times follow these).
    pub fn append(&mut self, later: &ThreadLogs) {
        self.lat.push_str(&later.lat);
        self.clat.push_str(&later.clat);
        self.slat.push_str(&later.slat);
        self.bw.push_str(&later.bw);
        self.iops.push_str(&later.iops);
        self.clat_hist.push_str(&later.clat_hist);
    }
}

/// A latency sum over a window.
#[derive(Clone, Copy, Default)]
struct Mean {
    sum: u128,
    n: u64,
}

impl Mean {
    fn add(&mut self, v: u64) {
        self.sum += u128::from(v);
        self.n += 1;
    }
}

/// The averaging window of one data direction.
#[derive(Clone, Copy, Default)]
struct AvgWindow {
    lat: Mean,
    clat: Mean,
    slat: Mean,
}

/// One I/O, as the logs see it.
#[derive(Clone, Copy, Debug)]
pub struct LogSample {
    /// Completion time, ns since the job started.
    pub at_ns: u64,
    /// fio's data direction: 0 read, 1 write, 2 trim.
    pub ddir: u8,
    /// Bytes of the I/O.
    pub bs: u64,
    /// File offset of the I/O.
    pub offset: u64,
    /// Issue to submission, for queued I/O.
    pub slat_ns: Option<u64>,
    /// Submission to completion.
    pub clat_ns: u64,
    /// Issue to completion.
    pub lat_ns: u64,
    /// The I/O's priority as the kernel packs it (fio's `io_u->ioprio`; 0: none).
    pub prio: u16,
}

/// One thread's logger: fed every completed read, write and trim, writes fio's lines.
pub struct FioLogger {
    cfg: LogConfig,
    logs: ThreadLogs,
    /// Averaged lat windows per ddir and fio's `avg_last` (ms).
    avg: [AvgWindow; 3],
    avg_last: u64,
    /// bw/iops windows: index of the open window, bytes and I/Os per ddir in it, and which
    /// directions the thread has done I/O in.
    rate_window: u64,
    bytes: [u64; 3],
    ios: [u64; 3],
    seen: [bool; 3],
    /// Histogram windows per ddir: counts, fio's `hist_last` (ms), the last I/O's size.
    hist: [Vec<u64>; 3],
    hist_last: [Option<u64>; 3],
    hist_bs: [u64; 3],
}

impl FioLogger {
    /// A logger writing what `cfg` asks for.
    pub fn new(cfg: LogConfig) -> FioLogger {
        let bins = || if cfg.hist && cfg.hist_msec > 0 { vec![0; PLAT_NR] } else { Vec::new() };
        FioLogger {
            cfg,
            logs: ThreadLogs::default(),
            avg: [AvgWindow::default(); 3],
            avg_last: 0,
            rate_window: 0,
            bytes: [0; 3],
            ios: [0; 3],
            seen: [false; 3],
            hist: [bins(), bins(), bins()],
            hist_last: [None; 3],
            hist_bs: [0; 3],
        }
    }

    /// Logs one completed I/O.
    pub fn add(&mut self, s: &LogSample) {
        let d = usize::from(s.ddir.min(2));
        let ms = s.at_ns / 1_000_000;
        if self.cfg.avg_msec == 0 {
            self.per_io(s, ms);
        } else {
            self.close_rate_windows(ms);
            self.bytes[d] += s.bs;
            self.ios[d] += 1;
            self.seen[d] = true;
            if self.cfg.lat {
                self.add_avg(d, s, ms);
            }
        }
        if self.cfg.hist && self.cfg.hist_msec > 0 {
            self.add_hist(d, s, ms);
        }
    }

    /// One line per I/O in each log (fio's `add_log_sample` without `log_avg_msec`).
    fn per_io(&mut self, s: &LogSample, ms: u64) {
        let (cfg, l) = (self.cfg, &mut self.logs);
        let prio = Prio(cfg.prio, s.prio);
        let line = |out: &mut String, v: u64| {
            let _ = if cfg.offset {
                writeln!(out, "{ms}, {v}, {}, {}, {}, {prio}", s.ddir, s.bs, s.offset)
            } else {
                writeln!(out, "{ms}, {v}, {}, {}, {prio}", s.ddir, s.bs)
            };
        };
        if cfg.lat {
            line(&mut l.lat, s.lat_ns);
            line(&mut l.clat, s.clat_ns);
            if let Some(slat) = s.slat_ns {
                line(&mut l.slat, slat);
            }
        }
        if cfg.bw {
            // fio's add_bw_sample: bytes over the I/O's clat, in bytes per ms (KB/s).
            let rate = (s.bs * 1_000_000).checked_div(s.clat_ns).unwrap_or(0);
            line(&mut l.bw, rate);
        }
        if cfg.iops {
            line(&mut l.iops, 1);
        }
    }

    /// An averaged line: `time, value, ddir, 0[, 0], prio` (fio's window samples have
    /// priority 0).
    fn avg_line(out: &mut String, cfg: LogConfig, ms: u64, v: u64, ddir: usize) {
        let prio = Prio(cfg.prio, 0);
        let _ = if cfg.offset {
            writeln!(out, "{ms}, {v}, {ddir}, 0, 0, {prio}")
        } else {
            writeln!(out, "{ms}, {v}, {ddir}, 0, {prio}")
        };
    }

    /// fio's `__add_stat_to_log` path: samples join their direction's window; once a sample
    /// comes `log_avg_msec` after `avg_last`, every direction's mean is written at its time.
    fn add_avg(&mut self, d: usize, s: &LogSample, ms: u64) {
        let w = &mut self.avg[d];
        w.lat.add(s.lat_ns);
        w.clat.add(s.clat_ns);
        if let Some(slat) = s.slat_ns {
            w.slat.add(slat);
        }
        if ms < self.avg_last {
            return;
        }
        let window = ms - self.avg_last;
        if window < self.cfg.avg_msec {
            return;
        }
        self.flush_avg(ms);
        self.avg_last = ms - (window - self.cfg.avg_msec);
    }

    fn flush_avg(&mut self, ms: u64) {
        let cfg = self.cfg;
        for (d, w) in self.avg.iter_mut().enumerate() {
            for (m, out) in [(w.lat, &mut self.logs.lat), (w.clat, &mut self.logs.clat), (w.slat, &mut self.logs.slat)]
            {
                if m.n > 0 {
                    Self::avg_line(out, cfg, ms, (m.sum / u128::from(m.n)) as u64, d);
                }
            }
            *w = AvgWindow::default();
        }
    }

    /// Writes the bw/iops lines of every window that ended before `ms` (fio's timer-driven
    /// `add_bw_samples`/`add_iops_samples`, each direction the thread does I/O in).
    fn close_rate_windows(&mut self, ms: u64) {
        let avg = self.cfg.avg_msec;
        while ms >= (self.rate_window + 1) * avg {
            self.rate_window += 1;
            self.flush_rate(self.rate_window * avg, avg);
        }
    }

    fn flush_rate(&mut self, at_ms: u64, len_ms: u64) {
        let cfg = self.cfg;
        for d in 0..3 {
            if !self.seen[d] {
                continue;
            }
            if self.cfg.bw {
                let kib_s = self.bytes[d] * 1000 / len_ms / 1024;
                Self::avg_line(&mut self.logs.bw, cfg, at_ms, kib_s, d);
            }
            if self.cfg.iops {
                Self::avg_line(&mut self.logs.iops, cfg, at_ms, self.ios[d] * 1000 / len_ms, d);
            }
        }
        self.bytes = [0; 3];
        self.ios = [0; 3];
    }

    /// fio's `add_clat_sample` histogram path: once a sample comes `log_hist_msec` after the
    /// direction's `hist_last`, the window's bins are written at its time.
    fn add_hist(&mut self, d: usize, s: &LogSample, ms: u64) {
        self.hist[d][plat_val_to_idx(s.clat_ns)] += 1;
        self.hist_bs[d] = s.bs;
        let last = *self.hist_last[d].get_or_insert(ms);
        let window = ms.saturating_sub(last);
        if window < self.cfg.hist_msec {
            return;
        }
        let out = &mut self.logs.clat_hist;
        let _ = write!(out, "{ms}, {d}, {}", s.bs);
        for c in self.hist[d].iter_mut() {
            let _ = write!(out, ", {c}");
            *c = 0;
        }
        out.push('\n');
        self.hist_last[d] = Some(ms - (window - self.cfg.hist_msec));
    }

    /// Flushes what is left at the end of a measurement of `runtime_ns` (fio's
    /// `finalize_logs`) and returns the texts.
    pub fn finish(mut self, runtime_ns: u64) -> ThreadLogs {
        if self.cfg.avg_msec > 0 {
            let end_ms = runtime_ns / 1_000_000;
            self.close_rate_windows(end_ms);
            let start = self.rate_window * self.cfg.avg_msec;
            if end_ms > start && (self.bytes.iter().any(|&b| b > 0) || self.ios.iter().any(|&n| n > 0)) {
                self.flush_rate(end_ms, end_ms - start);
            }
            if self.cfg.lat {
                self.flush_avg(end_ms.max(self.avg_last));
            }
        }
        self.logs
    }
}

/// A line's priority column: with `log_prio` (`.0`) the priority as `0x%04x`, else 1 for the
/// real-time class and 0 otherwise (fio's `flush_samples`).
struct Prio(bool, u16);

impl std::fmt::Display for Prio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Prio(true, p) => write!(f, "0x{p:04x}"),
            Prio(false, p) => write!(f, "{}", u8::from(p >> 13 == 1)),
        }
    }
}

/// The file name fio gives a log: `PREFIX_SUFFIX.N.log`, or `PREFIX_SUFFIX.log` without
/// `per_job_logs` (fio's `setup_log` names in `init.c`; N is fio's thread number, from 1 across
/// the whole job file).
pub fn log_file_name(prefix: &str, suffix: &str, thread_number: Option<u32>) -> String {
    match thread_number {
        Some(n) => format!("{prefix}_{suffix}.{n}.log"),
        None => format!("{prefix}_{suffix}.log"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, ddir: u8, lat: u64) -> LogSample {
        LogSample {
            at_ns: at_ms * 1_000_000,
            ddir,
            bs: 4096,
            offset: 8192,
            slat_ns: None,
            clat_ns: lat,
            lat_ns: lat,
            prio: 0,
        }
    }

    #[test]
    fn plat_bins_match_fio() {
        // Exact below 128; 64 bins per power of two above; the last bin catches the rest.
        assert_eq!(plat_val_to_idx(0), 0);
        assert_eq!(plat_val_to_idx(127), 127);
        assert_eq!(plat_val_to_idx(128), 128);
        assert_eq!(plat_val_to_idx(129), 128);
        assert_eq!(plat_val_to_idx(130), 129);
        assert_eq!(plat_val_to_idx(256), 192);
        assert_eq!(plat_val_to_idx(u64::MAX), PLAT_NR - 1);
    }

    #[test]
    fn per_io_lines_are_fios() {
        let cfg = LogConfig { lat: true, bw: true, iops: true, ..LogConfig::default() };
        let mut l = FioLogger::new(cfg);
        l.add(&sample(3, 0, 251_809));
        l.add(&LogSample { slat_ns: Some(500), offset: 4096, ..sample(4, 1, 1000) });
        let logs = l.finish(5_000_000);
        assert_eq!(logs.lat, "3, 251809, 0, 4096, 0\n4, 1000, 1, 4096, 0\n");
        assert_eq!(logs.slat, "4, 500, 1, 4096, 0\n");
        // fio's 4k read in 251809 ns: 16266 (bytes per ms).
        assert_eq!(logs.bw, "3, 16266, 0, 4096, 0\n4, 4096000, 1, 4096, 0\n");
        assert_eq!(logs.iops, "3, 1, 0, 4096, 0\n4, 1, 1, 4096, 0\n");
        let with_offset = LogConfig { offset: true, ..cfg };
        let mut l = FioLogger::new(with_offset);
        l.add(&sample(3, 0, 7));
        assert_eq!(l.finish(4_000_000).lat, "3, 7, 0, 4096, 8192, 0\n");
    }

    #[test]
    fn the_priority_column_is_fios() {
        let cfg = LogConfig { lat: true, ..LogConfig::default() };
        let mut l = FioLogger::new(cfg);
        l.add(&LogSample { prio: 0x2000, ..sample(1, 0, 5) });
        l.add(&LogSample { prio: 0x6000, ..sample(2, 0, 6) });
        assert_eq!(l.finish(3_000_000).clat, "1, 5, 0, 4096, 1\n2, 6, 0, 4096, 0\n", "1 for the RT class");
        let mut l = FioLogger::new(LogConfig { prio: true, ..cfg });
        l.add(&LogSample { prio: 0x2001, ..sample(1, 0, 5) });
        l.add(&sample(2, 0, 6));
        assert_eq!(l.finish(3_000_000).clat, "1, 5, 0, 4096, 0x2001\n2, 6, 0, 4096, 0x0000\n");
        let mut l = FioLogger::new(LogConfig { prio: true, avg_msec: 10, ..cfg });
        l.add(&LogSample { prio: 0x2001, ..sample(1, 0, 5) });
        assert_eq!(l.finish(20_000_000).clat, "20, 5, 0, 0, 0x0000\n", "a window's line has priority 0");
    }

    #[test]
    fn averaged_windows() {
        let cfg = LogConfig { lat: true, bw: true, iops: true, avg_msec: 500, ..LogConfig::default() };
        let mut l = FioLogger::new(cfg);
        for ms in 0..1200 {
            l.add(&sample(ms, 0, 1000 + ms % 2));
        }
        let logs = l.finish(1_250_000_000);
        // 500 reads of 4 KiB per 500 ms: 1000 IOPS, 4000 KiB/s; the tail of 50 reads in 250 ms.
        assert_eq!(logs.iops, "500, 1000, 0, 0, 0\n1000, 1000, 0, 0, 0\n1250, 800, 0, 0, 0\n");
        assert_eq!(logs.bw, "500, 4000, 0, 0, 0\n1000, 4000, 0, 0, 0\n1250, 3200, 0, 0, 0\n");
        let lines: Vec<&str> = logs.lat.lines().collect();
        assert_eq!(lines, ["500, 1000, 0, 0, 0", "1000, 1000, 0, 0, 0", "1250, 1000, 0, 0, 0"]);
    }

    #[test]
    fn hist_lines_have_fios_columns() {
        let cfg = LogConfig { hist: true, hist_msec: 100, ..LogConfig::default() };
        let mut l = FioLogger::new(cfg);
        for ms in 0..=250 {
            l.add(&sample(ms, 1, 300));
        }
        let logs = l.finish(251_000_000);
        let lines: Vec<&str> = logs.clat_hist.lines().collect();
        assert_eq!(lines.len(), 2);
        let cols: Vec<u64> = lines[0].split(", ").map(|c| c.parse().unwrap()).collect();
        assert_eq!(cols.len(), 3 + PLAT_NR);
        assert_eq!(&cols[..3], &[100, 1, 4096]);
        assert_eq!(cols[3 + plat_val_to_idx(300)], 101);
        assert_eq!(cols[3..].iter().sum::<u64>(), 101);
    }
}
