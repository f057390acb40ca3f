//! One job × target's result as bytes, for sending between hosts (MPI ranks) and back.
//!
//! [`encode`] and [`decode`] are exact inverses: every histogram bucket, interval, counter and
//! name survives, so a result merged from decoded parts is the result merged from the
//! originals. Histograms travel as their non-empty buckets, `(value, count)` with values
//! delta-coded, in LEB128 varints: the same idea as HdrHistogram's V2 encoding (zig-zag LEB128
//! of the counts array), without inflating a 270 KiB counts array per interval to build it.
//!
//! ```text
//! "AOPSBENCH-RESULT/5"  job  target  spec  started(ns since the epoch)  runtime_ns
//! counters: n, (name, value)*
//! stats: cpu(usr_ns sys_ns ctx majf minf)  depth(level[7] submit[7] complete[7])
//!        errors(total, first errno as u32)  latency_depth  continue_on_error  latencies(JSON)
//!        latency_target(JSON)  disk: 0 | 1, JSON
//! ops: n, (name, bytes, buckets(whole run), slat, lat, intervals: n, (second, ops, bytes, buckets)*)*
//! slat, lat: 0 (a synchronous engine) | 1, buckets
//! buckets: n, (value − previous value, count)*      strings: length, UTF-8 bytes
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::Histogram;

use crate::recorder::{IntervalSample, OpRecord, new_histogram};
use crate::run_dir::TargetResult;
use crate::thread_stats::{CpuUsage, DEPTH_BUCKETS, DepthStats, ErrorStats, JobStats, ThreadStats};

/// The first bytes of every encoded result; the number is the format's version.
pub const MAGIC: &[u8] = b"AOPSBENCH-RESULT/5";

/// Why bytes did not decode into a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes do not start with [`MAGIC`]: another program's message, or another version.
    #[error("not an aopsbench result of this version (every rank must run the same aopsbench build)")]
    Magic,
    /// The bytes end inside a field.
    #[error("truncated result: it ends inside {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A field holds a value it cannot hold.
    #[error("damaged result: {what}")]
    Damaged {
        /// What is wrong.
        what: String,
    },
}

/// `result` as bytes.
pub fn encode(result: &TargetResult) -> Vec<u8> {
    let TargetResult { job, target, spec, started, runtime_ns, ops, counters, stats } = result;
    let mut w = Writer(Vec::with_capacity(1024));
    w.0.extend_from_slice(MAGIC);
    w.str(job);
    w.str(target);
    w.str(spec);
    w.u64(started.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    w.u64(*runtime_ns);
    w.u64(counters.len() as u64);
    for (name, value) in counters {
        w.str(name);
        w.u64(*value);
    }
    w.stats(stats);
    w.u64(ops.len() as u64);
    for (name, record) in ops {
        let OpRecord { histogram, bytes, intervals, slat, lat } = record;
        w.str(name);
        w.u64(*bytes);
        w.buckets(&buckets_of(histogram));
        for queued in [slat, lat] {
            match queued {
                None => w.u64(0),
                Some(h) => {
                    w.u64(1);
                    w.buckets(&buckets_of(h));
                }
            }
        }
        w.u64(intervals.len() as u64);
        for IntervalSample { second, ops, bytes, latencies } in intervals {
            w.u64(*second);
            w.u64(*ops);
            w.u64(*bytes);
            w.buckets(&normalized(latencies));
        }
    }
    w.0
}

/// The result `bytes` hold.
pub fn decode(bytes: &[u8]) -> Result<TargetResult, WireError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(WireError::Magic)?;
    let mut r = Reader(rest);
    let job = r.str("the job name")?;
    let target = r.str("the target name")?;
    let spec = r.str("the target spec")?;
    let started = UNIX_EPOCH + Duration::from_nanos(r.u64("the start time")?);
    let runtime_ns = r.u64("the runtime")?;
    let mut counters = BTreeMap::new();
    for _ in 0..r.len("the counters")? {
        let name = r.str("a counter name")?;
        counters.insert(name, r.u64("a counter")?);
    }
    let stats = r.stats()?;
    let mut ops = BTreeMap::new();
    for _ in 0..r.len("the ops")? {
        let name = r.str("an op name")?;
        let bytes = r.u64("an op's bytes")?;
        let histogram = r.histogram()?;
        let slat = r.queued("an op's slat")?;
        let lat = r.queued("an op's lat")?;
        let mut intervals = Vec::new();
        for _ in 0..r.len("the intervals")? {
            let second = r.u64("an interval's second")?;
            let ops = r.u64("an interval's ops")?;
            let bytes = r.u64("an interval's bytes")?;
            intervals.push(IntervalSample { second, ops, bytes, latencies: r.buckets()? });
        }
        ops.insert(name, OpRecord { histogram, bytes, intervals, slat, lat });
    }
    if !r.0.is_empty() {
        return Err(WireError::Damaged { what: format!("{} bytes after the end", r.0.len()) });
    }
    Ok(TargetResult { job, target, spec, started, runtime_ns, ops, counters, stats })
}

/// The non-empty buckets of `h`, as [`IntervalSample::latencies`] holds them.
pub fn buckets_of(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
}

/// `(value, count)` pairs sorted by value, equal values added up: the same histogram as
/// `latencies` (which merged threads leave unsorted and repeated).
pub fn normalized(latencies: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut v = latencies.to_vec();
    v.sort_unstable_by_key(|&(value, _)| value);
    v.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 += later.1;
        }
        same
    });
    v
}

struct Writer(Vec<u8>);

impl Writer {
    /// LEB128.
    fn u64(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.0.push((x as u8) | 0x80);
            x >>= 7;
        }
        self.0.push(x as u8);
    }

    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn stats(&mut self, stats: &JobStats) {
        let JobStats { threads, latencies, continue_on_error, latency_target, disk, steadystate } = stats;
        let ThreadStats { cpu, depth, errors, latency_depth } = threads;
        let CpuUsage { usr_ns, sys_ns, ctx, majf, minf } = cpu;
        for x in [usr_ns, sys_ns, ctx, majf, minf] {
            self.u64(*x);
        }
        let DepthStats { level, submit, complete } = depth;
        for x in level.iter().chain(submit).chain(complete) {
            self.u64(*x);
        }
        let ErrorStats { total, first } = errors;
        self.u64(*total);
        self.u64(u64::from(*first as u32));
        self.u64(u64::from(*latency_depth));
        self.u64(u64::from(*continue_on_error));
        self.str(&serde_json::to_string(latencies).expect("latency switches serialise"));
        self.str(&serde_json::to_string(latency_target).expect("latency target serialises"));
        match disk {
            None => self.u64(0),
            Some(d) => {
                self.u64(1);
                self.str(&serde_json::to_string(d).expect("disk statistics serialise"));
            }
        }
        match steadystate {
            None => self.u64(0),
            Some(s) => {
                self.u64(1);
                self.str(&serde_json::to_string(s).expect("steady-state statistics serialise"));
            }
        }
    }

    /// Buckets in ascending value order (as histograms iterate them), values delta-coded.
    fn buckets(&mut self, buckets: &[(u64, u64)]) {
        self.u64(buckets.len() as u64);
        let mut previous = 0;
        for &(value, count) in buckets {
            self.u64(value.wrapping_sub(previous));
            self.u64(count);
            previous = value;
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let mut x = 0u64;
        for (i, &b) in self.0.iter().enumerate().take(10) {
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(WireError::Damaged { what: format!("{what} overflows 64 bits") });
            }
            x |= bits << (7 * i);
            if b & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(x);
            }
        }
        Err(WireError::Truncated { what })
    }

    /// A count of items that follow, each at least one byte long.
    fn len(&mut self, what: &'static str) -> Result<usize, WireError> {
        let n = self.u64(what)?;
        if n > self.0.len() as u64 {
            return Err(WireError::Truncated { what });
        }
        Ok(n as usize)
    }

    fn str(&mut self, what: &'static str) -> Result<String, WireError> {
        let n = self.len(what)?;
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(s.to_vec()).map_err(|_| WireError::Damaged { what: format!("{what} is not UTF-8") })
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self, what: &'static str) -> Result<T, WireError> {
        let text = self.str(what)?;
        serde_json::from_str(&text).map_err(|e| WireError::Damaged { what: format!("{what}: {e}") })
    }

    fn depths(&mut self) -> Result<[u64; DEPTH_BUCKETS], WireError> {
        let mut out = [0; DEPTH_BUCKETS];
        for x in &mut out {
            *x = self.u64("a queue-depth bucket")?;
        }
        Ok(out)
    }

    fn stats(&mut self) -> Result<JobStats, WireError> {
        let mut cpu = CpuUsage::default();
        for x in [&mut cpu.usr_ns, &mut cpu.sys_ns, &mut cpu.ctx, &mut cpu.majf, &mut cpu.minf] {
            *x = self.u64("the CPU use")?;
        }
        let depth = DepthStats { level: self.depths()?, submit: self.depths()?, complete: self.depths()? };
        let total = self.u64("the error count")?;
        let first = self.u64("the first error")? as u32 as i32;
        let latency_depth = u32::try_from(self.u64("the latency depth")?)
            .map_err(|_| WireError::Damaged { what: "the latency depth overflows 32 bits".into() })?;
        let continue_on_error = self.u64("continue_on_error")? != 0;
        let latencies = self.json("the latency switches")?;
        let latency_target = self.json("the latency target")?;
        let disk = match self.u64("the disk flag")? {
            0 => None,
            1 => Some(self.json("the disk statistics")?),
            n => return Err(WireError::Damaged { what: format!("the disk flag: {n}") }),
        };
        let steadystate = match self.u64("the steady-state flag")? {
            0 => None,
            1 => Some(self.json("the steady-state statistics")?),
            n => return Err(WireError::Damaged { what: format!("the steady-state flag: {n}") }),
        };
        let threads = ThreadStats { cpu, depth, errors: ErrorStats { total, first }, latency_depth };
        Ok(JobStats { threads, latencies, continue_on_error, latency_target, disk, steadystate })
    }

    /// A histogram sent as its buckets.
    fn histogram(&mut self) -> Result<Histogram<u64>, WireError> {
        let mut h = new_histogram();
        for (value, count) in self.buckets()? {
            h.saturating_record_n(value, count);
        }
        Ok(h)
    }

    /// A histogram only queued I/Os have (see [`OpRecord::slat`]).
    fn queued(&mut self, what: &'static str) -> Result<Option<Histogram<u64>>, WireError> {
        match self.u64(what)? {
            0 => Ok(None),
            1 => self.histogram().map(Some),
            n => Err(WireError::Damaged { what: format!("{what}: flag {n}") }),
        }
    }

    fn buckets(&mut self) -> Result<Vec<(u64, u64)>, WireError> {
        let n = self.len("the latency buckets")?;
        let mut out = Vec::with_capacity(n);
        let mut previous = 0u64;
        for _ in 0..n {
            let value = previous.wrapping_add(self.u64("a latency value")?);
            if !out.is_empty() && value <= previous {
                return Err(WireError::Damaged { what: "latency values out of order".into() });
            }
            out.push((value, self.u64("a latency count")?));
            previous = value;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::OpRecorder;
    use crate::thread_stats::DiskUtil;

    fn sample() -> TargetResult {
        let mut read = OpRecorder::new();
        let mut fsync = OpRecorder::new();
        for i in 0..5000u64 {
            read.record(i * 700_000, 1 + i * i % 9_000_000, 4096);
        }
        fsync.record(5, 3_600_000_000_000, 0);
        // An asynchronous engine's queued writes: slat and lat besides clat.
        let mut write = OpRecorder::new();
        for i in 0..300u64 {
            write.record_queued(i * 1_000_000, 500 + i, 20_000 + 7 * i, 4096);
        }
        // Two threads merged: their intervals' buckets come unsorted and repeated.
        let mut read = read.finish();
        let mut other = OpRecorder::new();
        other.record(10, 9_000_000, 4096);
        other.record(20, 1, 4096);
        read.merge(&other.finish()).unwrap();
        TargetResult {
            job: "randread".into(),
            target: "iomap".into(),
            spec: "iomap:backing=/mnt/n1/img-3".into(),
            started: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            runtime_ns: 3_500_000_001,
            ops: [
                ("read".to_string(), read),
                ("fsync".to_string(), fsync.finish()),
                ("write".to_string(), write.finish()),
            ]
            .into(),
            counters: [("dev_reads".to_string(), 12), ("map_blocks".to_string(), u64::MAX)].into(),
            stats: JobStats {
                threads: ThreadStats {
                    cpu: CpuUsage { usr_ns: 1_234_567, sys_ns: 89, ctx: 4, majf: 0, minf: 77 },
                    depth: DepthStats { level: [1, 2, 3, 4, 5, 6, 7], submit: [0; 7], complete: [9; 7] },
                    errors: ErrorStats { total: 2, first: -5 },
                    latency_depth: 12,
                },
                latencies: vocab::Latencies { lat_percentiles: true, ..Default::default() },
                continue_on_error: true,
                latency_target: vocab::LatencyTarget {
                    target: Duration::from_micros(500),
                    window: Duration::from_secs(5),
                    percentile: 99.9,
                    run: true,
                },
                disk: Some(DiskUtil {
                    name: "loop3".into(),
                    read_ios: 10,
                    io_ticks: 7,
                    time_ms: 9,
                    ..Default::default()
                }),
                steadystate: Some(crate::SteadyStateStats {
                    criterion_name: "bw_slope".into(),
                    limit: 1.5,
                    percent: true,
                    duration_s: 3,
                    attained: true,
                    criterion: -0.25,
                    slope: -1.0,
                    iops: vec![1, 2, 0],
                    bw: vec![4096, 8192, 0],
                    ..Default::default()
                }),
            },
        }
    }

    fn same(a: &TargetResult, b: &TargetResult) {
        assert_eq!(
            (&a.job, &a.target, &a.spec, a.started, a.runtime_ns),
            (&b.job, &b.target, &b.spec, b.started, b.runtime_ns)
        );
        assert_eq!(a.counters, b.counters);
        assert_eq!(a.stats, b.stats);
        assert_eq!(a.ops.keys().collect::<Vec<_>>(), b.ops.keys().collect::<Vec<_>>());
        for (op, x) in &a.ops {
            let y = &b.ops[op];
            assert_eq!(buckets_of(&x.histogram), buckets_of(&y.histogram), "{op}");
            assert_eq!(x.slat.as_ref().map(buckets_of), y.slat.as_ref().map(buckets_of), "{op} slat");
            assert_eq!(x.lat.as_ref().map(buckets_of), y.lat.as_ref().map(buckets_of), "{op} lat");
            assert_eq!(x.bytes, y.bytes);
            assert_eq!(x.intervals.len(), y.intervals.len());
            for (i, j) in x.intervals.iter().zip(&y.intervals) {
                assert_eq!((i.second, i.ops, i.bytes), (j.second, j.ops, j.bytes));
                assert_eq!(normalized(&i.latencies), j.latencies);
            }
        }
    }

    #[test]
    fn a_result_survives_the_trip() {
        let r = sample();
        let bytes = encode(&r);
        same(&r, &decode(&bytes).unwrap());
        // 5000 reads over 4 seconds: far smaller than the V2-deflate histograms of the hlog.
        assert!(bytes.len() < 40_000, "{}", bytes.len());
    }

    #[test]
    fn damaged_bytes_are_refused_not_misread() {
        let bytes = encode(&sample());
        assert_eq!(decode(b"AOPSBENCH-RESULT/2").unwrap_err(), WireError::Magic);
        for cut in [MAGIC.len(), MAGIC.len() + 3, bytes.len() / 2, bytes.len() - 1] {
            assert!(matches!(decode(&bytes[..cut]), Err(WireError::Truncated { .. })), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), WireError::Damaged { what: "1 bytes after the end".into() });
    }
}
