//! `fio.json`: the run in fio's `--output-format=json+` schema, so fio's JSON consumers
//! (`fio_jsonplus_clat2csv`, fio-plot, dashboards) read it unchanged.
//!
//! One fio job per aopsbench job × target, named `job@target`. Op kinds map onto fio's data
//! directions the way fio itself files them: `read` → `read`, `write` → `write`, `punch_hole` →
//! `trim` (fio trims regular files with `FALLOC_FL_PUNCH_HOLE`), `fsync` and `fdatasync` →
//! `sync`. Every op kind, including those fio has no direction for (`trunc`, `remount`, ...), is
//! also under the job's `aopsbench` key, with the target's counters.
//!
//! Latencies as fio defines them: for an I/O an asynchronous engine queued, `slat_ns` (issue to
//! submission), `clat_ns` (submission to completion) and `lat_ns` (their sum); for a
//! synchronous engine `clat_ns` and `lat_ns` hold the same numbers and `slat_ns` is empty, as
//! under fio.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::recorder::{INTERVAL_NS, OpRecord};
use crate::thread_stats::{DEPTH_BUCKETS, JobStats};
use vocab::{Latencies, quantile_of};

/// The percentiles fio prints by default (`percentile_list`).
pub use vocab::FIO_PERCENTILES;

/// fio's key for a percentile: six decimals (`"99.990000"`).
pub fn percentile_key(p: f64) -> String {
    format!("{p:.6}")
}

/// What one fio job (one aopsbench job × target) is built from.
#[derive(Debug, Clone, Copy)]
pub struct FioJobInput<'a> {
    /// aopsbench job name.
    pub job: &'a str,
    /// Target name.
    pub target: &'a str,
    /// Target spec.
    pub spec: &'a str,
    /// Wall time of the measurement.
    pub runtime_ns: u64,
    /// Records per op kind.
    pub ops: &'a BTreeMap<String, OpRecord>,
    /// The target's counters.
    pub counters: &'a BTreeMap<String, u64>,
    /// The job's options as `key=value` pairs (its canonical fio section), echoed as fio does.
    pub options: &'a [(String, String)],
    /// CPU use, queue depths, errors, latency switches and disk.
    pub stats: &'a JobStats,
    /// When the job started (fio's `job_start`, ms since the epoch).
    pub started: SystemTime,
}

/// The fio job object for one job × target; `groupid` is its index in the run.
pub fn fio_job(input: FioJobInput<'_>, groupid: usize) -> Value {
    let runtime_ms = input.runtime_ns / 1_000_000;
    let mut job = Map::new();
    job.insert("jobname".into(), json!(format!("{}@{}", input.job, input.target)));
    job.insert("groupid".into(), json!(groupid));
    let job_start = input.started.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    job.insert("job_start".into(), json!(job_start));
    job.insert("error".into(), json!(0));
    job.insert("eta".into(), json!(0));
    job.insert("elapsed".into(), json!(input.runtime_ns.div_ceil(1_000_000_000)));
    let mut options = Map::new();
    options.insert("name".into(), json!(input.job));
    for (k, v) in input.options {
        options.insert(k.clone(), json!(v));
    }
    options.insert("aopsbench_target".into(), json!(input.spec));
    job.insert("job options".into(), Value::Object(options));
    let pick = |names: &[&str]| -> Option<OpRecord> {
        let found: Vec<&OpRecord> = names.iter().filter_map(|n| input.ops.get(*n)).collect();
        if found.is_empty() { None } else { OpRecord::merged(found).ok() }
    };
    let lat = &input.stats.latencies;
    for (ddir, names) in [("read", &["read"][..]), ("write", &["write"][..]), ("trim", &["punch_hole"][..])] {
        let record = pick(names);
        job.insert(ddir.into(), ddir_block(record.as_ref(), input.runtime_ns, lat));
    }
    job.insert("sync".into(), sync_block(pick(&["fsync", "fdatasync"]).as_ref(), lat));
    job.insert("job_runtime".into(), json!(runtime_ms));
    let t = &input.stats.threads;
    let cpu_pct = |ns: u64| if input.runtime_ns > 0 { ns as f64 * 100.0 / input.runtime_ns as f64 } else { 0.0 };
    job.insert("usr_cpu".into(), json!(cpu_pct(t.cpu.usr_ns)));
    job.insert("sys_cpu".into(), json!(cpu_pct(t.cpu.sys_ns)));
    job.insert("ctx".into(), json!(t.cpu.ctx));
    job.insert("majf".into(), json!(t.cpu.majf));
    job.insert("minf".into(), json!(t.cpu.minf));
    let ios: Vec<&OpRecord> = ["read", "write", "punch_hole"].iter().filter_map(|n| input.ops.get(*n)).collect();
    let all = OpRecord::merged(ios).unwrap_or_default();
    let level_keys: Vec<String> =
        (0..DEPTH_BUCKETS).map(|i| if i < 6 { (1u32 << i).to_string() } else { format!(">={}", 1 << i) }).collect();
    let map_keys: Vec<String> = (0..DEPTH_BUCKETS)
        .map(|i| match i {
            0 => "0".to_string(),
            1..=5 => (1u32 << (i + 1)).to_string(),
            _ => format!(">={}", 1 << i),
        })
        .collect();
    let d = &t.depth;
    let submits: u64 = d.submit.iter().sum();
    let completes: u64 = d.complete.iter().sum();
    // Over the I/Os issued (fio's `total_io_u`), ramp included as fio's.
    let issued: u64 = d.level.iter().sum();
    job.insert("iodepth_level".into(), depth_dist(&d.level, issued, &level_keys));
    job.insert("iodepth_submit".into(), depth_dist(&d.submit, submits, &map_keys));
    job.insert("iodepth_complete".into(), depth_dist(&d.complete, completes, &map_keys));
    // fio buckets each I/O's clat (`io_u_mark_latency`), nothing when clat is disabled.
    let bucketed = if lat.clat { all.histogram.clone() } else { crate::recorder::new_histogram() };
    for (key, value) in latency_buckets(&bucketed) {
        job.insert(key.into(), value);
    }
    if let Some(ss) = &input.stats.steadystate {
        job.insert("steadystate".into(), ss.fio_json());
    }
    if input.stats.continue_on_error {
        job.insert("total_err".into(), json!(t.errors.total));
        job.insert("first_error".into(), json!(t.errors.first));
    }
    if t.latency_depth != 0 {
        // fio's show_thread_status_json: the target in ns, the window in us, as fio keeps them.
        let lt = &input.stats.latency_target;
        job.insert("latency_depth".into(), json!(t.latency_depth));
        job.insert("latency_target".into(), json!(lt.target.as_nanos() as u64));
        job.insert("latency_percentile".into(), json!(lt.percentile));
        job.insert("latency_window".into(), json!(lt.window.as_micros() as u64));
    }
    let other: Map<String, Value> =
        input.ops.iter().map(|(op, r)| (op.clone(), ddir_block(Some(r), input.runtime_ns, lat))).collect();
    job.insert(
        "aopsbench".into(),
        json!({
            "job": input.job,
            "target": input.target,
            "spec": input.spec,
            "runtime_ns": input.runtime_ns,
            "counters": input.counters,
            "ops": other,
        }),
    );
    Value::Object(job)
}

/// The whole `fio.json` document around the jobs, with the `disk_util` of the block devices
/// the targets sit on (one entry per device, over every job that ran on it).
pub fn fio_document(aopsbench_version: &str, when: SystemTime, jobs: Vec<Value>, disks: &[DiskUtilEntry]) -> Value {
    let since_epoch = when.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut doc = json!({
        "fio version": format!("aopsbench-{aopsbench_version}"),
        "timestamp": since_epoch.as_secs(),
        "timestamp_ms": since_epoch.as_millis() as u64,
        "time": ctime(since_epoch.as_secs()),
        "global options": {},
        "jobs": jobs,
    });
    if !disks.is_empty()
        && let Some(map) = doc.as_object_mut()
    {
        map.insert("disk_util".into(), Value::Array(disks.iter().map(disk_util).collect()));
    }
    doc
}

/// A block device's statistics over one job, for fio.json's `disk_util`.
pub type DiskUtilEntry = crate::thread_stats::DiskUtil;

/// fio's `disk_util` object of one device (`json_object_add_disk_utils`, without the
/// `aggr_*` fields of devices under a stacked one).
fn disk_util(d: &DiskUtilEntry) -> Value {
    json!({
        "name": d.name,
        "read_ios": d.read_ios,
        "write_ios": d.write_ios,
        "read_merges": d.read_merges,
        "write_merges": d.write_merges,
        "read_ticks": d.read_ticks,
        "write_ticks": d.write_ticks,
        "in_queue": d.in_queue,
        "util": d.util(),
    })
}

/// A depth map as percentages (`stat_calc_dist`: a non-zero bucket below 0.1% shows 0.1).
fn depth_dist(map: &[u64; DEPTH_BUCKETS], total: u64, keys: &[String]) -> Value {
    let pct = |n: u64| {
        if total == 0 {
            return 0.0;
        }
        let p = n as f64 * 100.0 / total as f64;
        if p < 0.1 && n > 0 { 0.1 } else { p }
    };
    Value::Object(keys.iter().zip(map).map(|(k, &n)| (k.clone(), json!(pct(n)))).collect())
}

/// fio's per-direction block (`read`, `write`, `trim`): a latency `disable_*lat` turns off is
/// an empty block (N = 0), percentiles per `clat_percentiles`/`lat_percentiles` with the
/// job's `percentile_list` (`add_ddir_lat_json`).
fn ddir_block(record: Option<&OpRecord>, runtime_ns: u64, lat: &Latencies) -> Value {
    let empty = OpRecord::default();
    let r = record.unwrap_or(&empty);
    let ios = r.count();
    let secs = runtime_ns as f64 / 1e9;
    let (iops, bw_bytes) =
        if ios > 0 && secs > 0.0 { (ios as f64 / secs, (r.bytes as f64 / secs) as u64) } else { (0.0, 0) };
    let runtime_ms = if ios > 0 { runtime_ns / 1_000_000 } else { 0 };
    let (bw_samples, iops_samples) = per_second_samples(r, runtime_ns);
    let bw_stats = sample_stats(&bw_samples);
    let iops_stats = sample_stats(&iops_samples);
    let empty_h = crate::recorder::new_histogram();
    let slat = match &r.slat {
        Some(h) if lat.slat => h,
        _ => &empty_h,
    };
    let clat = if lat.clat { &r.histogram } else { &empty_h };
    let total = if lat.lat { r.total_latency() } else { &empty_h };
    let list = lat.percentile_list.as_slice();
    let clat_p = lat.clat && lat.clat_percentiles;
    let lat_p = lat.lat && lat.lat_percentiles;
    json!({
        "io_bytes": r.bytes,
        "io_kbytes": r.bytes / 1024,
        "bw_bytes": bw_bytes,
        "bw": bw_bytes / 1024,
        "iops": iops,
        "runtime": runtime_ms,
        "total_ios": ios,
        "short_ios": 0,
        "drop_ios": 0,
        "slat_ns": latency_block(slat, None),
        "clat_ns": latency_block(clat, clat_p.then_some(list)),
        "lat_ns": latency_block(total, lat_p.then_some(list)),
        "bw_min": bw_stats.min as u64,
        "bw_max": bw_stats.max as u64,
        "bw_agg": if bw_bytes > 0 { 100.0 } else { 0.0 },
        "bw_mean": bw_stats.mean,
        "bw_dev": bw_stats.stddev,
        "bw_samples": bw_samples.len(),
        "iops_min": iops_stats.min as u64,
        "iops_max": iops_stats.max as u64,
        "iops_mean": iops_stats.mean,
        "iops_stddev": iops_stats.stddev,
        "iops_samples": iops_samples.len(),
    })
}

/// fio's `sync` block: fsync and fdatasync latencies (fio records them as clat).
fn sync_block(record: Option<&OpRecord>, lat: &Latencies) -> Value {
    let empty = OpRecord::default();
    let r = record.unwrap_or(&empty);
    let empty_h = crate::recorder::new_histogram();
    let h = if lat.clat { &r.histogram } else { &empty_h };
    let p = lat.clat_percentiles || lat.lat_percentiles;
    json!({
        "total_ios": r.count(),
        "lat_ns": latency_block(h, p.then_some(lat.percentile_list.as_slice())),
    })
}

/// `min`, `max`, `mean`, `stddev`, `N`; with a percentile list and samples, `percentile` and
/// json+ `bins` (`add_ddir_lat_json`).
fn latency_block(h: &Histogram<u64>, percentiles: Option<&[f64]>) -> Value {
    let n = h.len();
    let mut block = Map::new();
    block.insert("min".into(), json!(if n > 0 { h.min() } else { 0 }));
    block.insert("max".into(), json!(if n > 0 { h.max() } else { 0 }));
    block.insert("mean".into(), json!(h.mean()));
    block.insert("stddev".into(), json!(h.stdev()));
    block.insert("N".into(), json!(n));
    if let Some(list) = percentiles.filter(|_| n > 0) {
        let p: Map<String, Value> =
            list.iter().map(|&p| (percentile_key(p), json!(h.value_at_quantile(quantile_of(p))))).collect();
        block.insert("percentile".into(), Value::Object(p));
        let b: Map<String, Value> =
            h.iter_recorded().map(|v| (v.value_iterated_to().to_string(), json!(v.count_at_value()))).collect();
        block.insert("bins".into(), Value::Object(b));
    }
    Value::Object(block)
}

/// fio's `latency_ns`, `latency_us` and `latency_ms`: the share (percent) of I/Os whose latency
/// falls in each bucket, keyed by the bucket's upper bound (`stat.c`, `stat_calc_lat_n/u/m`).
fn latency_buckets(h: &Histogram<u64>) -> [(&'static str, Value); 3] {
    const BOUNDS: [u64; 10] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];
    const MS_BOUNDS: [u64; 11] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000];
    let total = h.len();
    let mut ns = [0u64; 10];
    let mut us = [0u64; 10];
    let mut ms = [0u64; 12];
    for v in h.iter_recorded() {
        let (lat, n) = (h.highest_equivalent(v.value_iterated_to()), v.count_at_value());
        // `io_u_mark_lat_nsec/usec/msec`: a value goes to the first bound above it.
        let bucket = |bounds: &[u64], x: u64| bounds.iter().position(|&b| x < b).unwrap_or(bounds.len() - 1);
        if lat < 1_000 {
            ns[bucket(&BOUNDS, lat)] += n;
        } else if lat < 1_000_000 {
            us[bucket(&BOUNDS, lat / 1_000)] += n;
        } else {
            let m = lat / 1_000_000;
            let i = MS_BOUNDS.iter().position(|&b| m < b).unwrap_or(MS_BOUNDS.len());
            ms[i] += n;
        }
    }
    // `stat_calc_lat`: a non-empty bucket below 0.01% shows 0.01.
    let pct = |n: u64| {
        if total == 0 {
            return 0.0;
        }
        let p = n as f64 * 100.0 / total as f64;
        if p < 0.01 && n > 0 { 0.01 } else { p }
    };
    let block = |counts: &[u64], keys: &[String]| -> Value {
        Value::Object(keys.iter().zip(counts).map(|(k, &n)| (k.clone(), json!(pct(n)))).collect())
    };
    let keys: Vec<String> = BOUNDS.iter().map(u64::to_string).collect();
    let mut ms_keys: Vec<String> = MS_BOUNDS.iter().map(u64::to_string).collect();
    ms_keys.push(">=2000".into());
    [("latency_ns", block(&ns, &keys)), ("latency_us", block(&us, &keys)), ("latency_ms", block(&ms, &ms_keys))]
}

/// Bandwidth (KiB/s) and IOPS of every whole second of the run, like fio's bw/iops samples.
fn per_second_samples(r: &OpRecord, runtime_ns: u64) -> (Vec<f64>, Vec<f64>) {
    let whole_seconds = runtime_ns / INTERVAL_NS;
    let mut bw = vec![0.0; whole_seconds as usize];
    let mut iops = vec![0.0; whole_seconds as usize];
    for i in &r.intervals {
        if let Some(slot) = usize::try_from(i.second).ok().filter(|&s| s < bw.len()) {
            bw[slot] = (i.bytes / 1024) as f64;
            iops[slot] = i.ops as f64;
        }
    }
    if r.count() == 0 {
        return (Vec::new(), Vec::new());
    }
    (bw, iops)
}

struct SampleStats {
    min: f64,
    max: f64,
    mean: f64,
    stddev: f64,
}

fn sample_stats(samples: &[f64]) -> SampleStats {
    if samples.is_empty() {
        return SampleStats { min: 0.0, max: 0.0, mean: 0.0, stddev: 0.0 };
    }
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var =
        if samples.len() > 1 { samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    SampleStats {
        min: samples.iter().copied().fold(f64::INFINITY, f64::min),
        max: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean,
        stddev: var.sqrt(),
    }
}

/// `ctime(3)`-style UTC time, as fio's `"time"` field: `Sun Nov 23 22:31:00 2025`.
fn ctime(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_matches_libc_format() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_763_937_060), "Sun Nov 23 22:31:00 2025");
        assert_eq!(ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
    }

    #[test]
    fn percentile_keys_as_fio_prints_them() {
        assert_eq!(percentile_key(1.0), "1.000000");
        assert_eq!(percentile_key(99.99), "99.990000");
        assert_eq!(percentile_key(99.95), "99.950000");
    }
}
