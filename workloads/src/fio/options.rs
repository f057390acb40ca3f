//! The option table: each supported fio option (and aopsbench's `aops_*` ones) applied to a
//! [`Job`].

use std::time::Duration;

use vocab::{AopsParams, KbBase, TimeUnit};

use super::fio_names::FIO_OPTIONS;
use super::job::Job;
use super::prio::{self, IOPRIO_MAX_PRIO_HINT};
use super::types::{
    BlockSize, CpusPolicy, DedupeMode, ExitWhat, FileService, IoEngine, NumaMemPolicy, PerDir, Prealloc,
    RandomDistribution, RandomGenerator, RateProcess, ReadWrite, RwSequencer, SubmitMode, VerifyKind, Zone, ZoneMode,
};
use super::value::{self, PPM};

/// Why an option could not be applied.
#[derive(Debug)]
pub(crate) enum OptionError {
    /// An option fio has and aopsbench does not.
    Unsupported,
    /// An option of engines that need hardware: their names, and what it is for.
    HardwareEngine { engines: &'static str, why: &'static str },
    /// Not an option of fio or aopsbench; `hint` is ` (did you mean 'x'?)` or empty.
    Unknown { hint: String },
    /// The value does not parse; `expected` says what would.
    BadValue { expected: String },
}

/// Every option name accepted (aliases included) but the engines' own
/// ([`super::engine_opts::NAMES`]); [`supported`] gives both.
pub const SUPPORTED: &[&str] = &[
    "name",
    "description",
    "thread",
    "filename",
    "filename_format",
    "directory",
    "rw",
    "readwrite",
    "rw_sequencer",
    "rwmixread",
    "rwmixwrite",
    "bs",
    "blocksize",
    "bsrange",
    "blocksize_range",
    "bssplit",
    "blockalign",
    "ba",
    "size",
    "filesize",
    "io_size",
    "io_limit",
    "number_ios",
    "offset",
    "offset_increment",
    "nrfiles",
    "nr_files",
    "openfiles",
    "file_service_type",
    "numjobs",
    "iodepth",
    "iodepth_batch",
    "iodepth_batch_submit",
    "iodepth_batch_complete",
    "iodepth_batch_complete_min",
    "iodepth_batch_complete_max",
    "iodepth_low",
    "fixedbufs",
    "registerfiles",
    "sqthread_poll",
    "hipri",
    "prio",
    "prioclass",
    "priohint",
    "cmdprio_percentage",
    "cmdprio_class",
    "cmdprio",
    "cmdprio_hint",
    "cmdprio_bssplit",
    "ioengine",
    "direct",
    "buffered",
    "atomic",
    "fsync",
    "fdatasync",
    "end_fsync",
    "fsync_on_close",
    "overwrite",
    "fallocate",
    "create_on_open",
    "create_serialize",
    "unlink",
    "invalidate",
    "fill_device",
    "fill_fs",
    "runtime",
    "timeout",
    "time_based",
    "ramp_time",
    "loops",
    "randrepeat",
    "randseed",
    "random_distribution",
    "random_sequence_stride",
    "random_generator",
    "norandommap",
    "zonemode",
    "zonesize",
    "zonerange",
    "zoneskip",
    "kb_base",
    "rate",
    "rate_iops",
    "rate_process",
    "rate_min",
    "ratemin",
    "rate_iops_min",
    "rate_cycle",
    "ratecycle",
    "io_submit_mode",
    "thinktime",
    "stonewall",
    "wait_for_previous",
    "new_group",
    "wait_for",
    "startdelay",
    "exitall",
    "exit_what",
    "group_reporting",
    "cpus_allowed",
    "cpus_allowed_policy",
    "numa_cpu_nodes",
    "numa_mem_policy",
    "continue_on_error",
    "error_dump",
    "ignore_error",
    "gtod_reduce",
    "disable_lat",
    "disable_clat",
    "disable_slat",
    "clat_percentiles",
    "lat_percentiles",
    "percentile_list",
    "latency_target",
    "latency_window",
    "latency_percentile",
    "latency_run",
    "write_lat_log",
    "write_bw_log",
    "write_iops_log",
    "write_hist_log",
    "log_avg_msec",
    "log_hist_msec",
    "per_job_logs",
    "log_offset",
    "log_prio",
    "flow",
    "flow_id",
    "flow_sleep",
    "flow_watermark",
    "verify",
    "verify_pattern",
    "verify_interval",
    "verify_backlog",
    "verify_fatal",
    "do_verify",
    "verify_only",
    "verify_dump",
    "verify_async",
    "verify_write_sequence",
    "buffer_pattern",
    "refill_buffers",
    "scramble_buffers",
    "buffer_compress_percentage",
    "buffer_compress_chunk",
    "dedupe_percentage",
    "dedupe_mode",
    "dedupe_working_set_percentage",
    "dedupe_global",
    "steadystate",
    "ss",
    "steadystate_duration",
    "ss_dur",
    "steadystate_ramp_time",
    "ss_ramp",
    "steadystate_check_interval",
    "ss_interval",
    "threads",
    "block",
    "numruns",
    "dir",
    "aops_block_size",
    "aops_max_folio",
    "aops_large_folios",
    "aops_cache",
    "aops_writeback",
    "aops_dirty_background_ratio",
    "aops_dirty_ratio",
];

/// fio's engines that aopsbench does not run, and why.
const OTHER_ENGINES: &[(&str, &str)] = &[
    ("io_uring_cmd", "it passes NVMe commands through to a character device"),
    ("solarisaio", "it is Solaris's"),
    ("windowsaio", "it is Windows's"),
    ("splice", "aopsbench does not run it (vmsplice/splice through a pipe); no fio example uses it"),
    ("sg", "it needs a SCSI generic device"),
    ("libzbc", "it needs a zoned block device"),
    ("netsplice", "aopsbench's net engine does not splice: use ioengine=net"),
    ("rdma", "it needs RDMA hardware"),
    ("rados", "it needs a Ceph cluster"),
    ("rbd", "it needs a Ceph cluster"),
    ("http", "it needs an HTTP/S3/Swift server"),
    ("gfapi", "it needs a GlusterFS volume"),
    ("gfapi_async", "it needs a GlusterFS volume"),
    ("libhdfs", "it needs HDFS"),
    ("mtd", "it needs an MTD flash device"),
    ("external", "it loads an engine from a shared object"),
    ("cpp_null", "it is an external engine (a C++ shared object built from fio's examples) that fio loads"),
    ("libpmem", "it needs persistent memory"),
    ("dev-dax", "it needs a DAX device"),
    ("ime_psync", "it needs DDN's IME"),
    ("ime_psyncv", "it needs DDN's IME"),
    ("ime_aio", "it needs DDN's IME"),
    ("libiscsi", "it needs an iSCSI target"),
    ("nbd", "it needs an NBD server"),
    ("libcufile", "it needs an NVIDIA GPU"),
    ("libhipfile", "it needs an AMD GPU"),
    ("dfs", "it needs a DAOS pool"),
    ("nfs", "it needs an NFS server (libnfs)"),
    ("xnvme", "it needs an NVMe device (xNVMe)"),
    ("spdk", "it needs SPDK and an NVMe device"),
    ("libblkio", "it needs a libblkio driver (virtio-blk, NVMe)"),
    ("binject", "it needs the binject block driver"),
    ("guasi", "it needs the GUASI library"),
];

/// Options applied before the others of their section, whatever their place: `kb_base`
/// changes how every size reads (fio gives it parse priority too).
pub(crate) fn priority(key: &str) -> u8 {
    u8::from(!key.eq_ignore_ascii_case("kb_base"))
}

/// Apply `key[=value]` to `job`.
pub(crate) fn apply(job: &mut Job, key: &str, value: Option<&str>) -> Result<(), OptionError> {
    let bad = |expected: String| OptionError::BadValue { expected };
    let key_lc = key.to_ascii_lowercase();
    let kb = job.kb_base;
    // Options that take no value.
    let flag = || value::boolean(value).map_err(bad);
    // Options that need one.
    let text = || value.filter(|v| !v.is_empty()).ok_or_else(|| bad("this option needs a value (key=value)".into()));
    let size = |s: &str| value::size(s, kb);
    let nonzero = |s: &str| value::nonzero_size(s, kb);
    let count = |lo: u64, hi: u64| -> Result<u64, OptionError> { value::int_in(text()?, lo, hi).map_err(bad) };
    let c = &mut job.control;
    match key_lc.as_str() {
        "name" => job.name = text()?.to_string(),
        "description" => job.description = Some(text()?.to_string()),
        "thread" => c.thread = flag()?,
        "filename" => {
            let names = text()?;
            if names.split(':').any(str::is_empty) {
                return Err(bad("expected file names separated by ':'".into()));
            }
            job.filename = Some(names.to_string());
        }
        "filename_format" => job.filename_format = Some(text()?.to_string()),
        "directory" => job.directory = Some(text()?.trim_end_matches('/').to_string()),
        "rw" | "readwrite" => {
            let v = text()?;
            let (pattern, modifier) = match v.split_once(':') {
                Some((p, m)) => (p, Some(m)),
                None => (v, None),
            };
            let rw = ReadWrite::ALL
                .into_iter()
                .find(|rw| rw.fio_name().eq_ignore_ascii_case(pattern.trim()))
                .or_else(|| pattern.trim().eq_ignore_ascii_case("readwrite").then_some(ReadWrite::ReadWrite))
                .ok_or_else(|| {
                    bad("expected read, write, trim, randread, randwrite, randtrim, rw (readwrite), randrw, trimwrite \
                         or randtrimwrite, optionally with :N"
                        .into())
                })?;
            job.rw = rw;
            job.rw_seq_nr = 1;
            job.rw_seq_add = 0;
            if let Some(m) = modifier {
                let (back, m) = match m.trim().strip_prefix('-') {
                    Some(rest) if !rw.is_random() => (true, rest),
                    _ => (false, m),
                };
                let n = size(m).map_err(|e| bad(format!("the :N after the pattern: {e}")))?;
                if back {
                    job.rw_seq_add =
                        -i64::try_from(n).map_err(|_| bad("the :N after the pattern is too large".into()))?;
                } else if rw.is_random() {
                    if !(1..=u64::from(u32::MAX)).contains(&n) {
                        return Err(bad("the :N of a random pattern counts I/Os per new offset, from 1".into()));
                    }
                    job.rw_seq_nr = n;
                } else {
                    job.rw_seq_add =
                        i64::try_from(n).map_err(|_| bad("the :N after the pattern is too large".into()))?;
                }
            }
        }
        "rw_sequencer" => {
            job.rw_sequencer = match text()?.to_ascii_lowercase().as_str() {
                "sequential" => RwSequencer::Sequential,
                "identical" => RwSequencer::Identical,
                _ => return Err(bad("expected sequential or identical".into())),
            }
        }
        "rwmixread" => job.rwmixread = value::percent(text()?).map_err(bad)?,
        "rwmixwrite" => job.rwmixread = 100 - value::percent(text()?).map_err(bad)?,
        "bs" | "blocksize" => {
            job.bs = value::per_dir(text()?, &job.bs, |s| nonzero(s).map(BlockSize::Fixed)).map_err(bad)?;
        }
        "bsrange" | "blocksize_range" => {
            job.bs = value::per_dir(text()?, &job.bs, |s| value::size_range(s, kb)).map_err(bad)?;
        }
        "bssplit" => job.bs = value::per_dir(text()?, &job.bs, |s| value::bssplit(s, kb)).map_err(bad)?,
        "blockalign" | "ba" => {
            job.blockalign = value::per_dir(text()?, &job.blockalign, |s| nonzero(s).map(Some)).map_err(bad)?;
        }
        "size" => job.size = Some(nonzero(text()?).map_err(bad)?),
        "filesize" => {
            let v = text()?;
            if v.contains(['-', ':']) && !v.starts_with('(') {
                return Err(bad("file size ranges are not supported; give one size".into()));
            }
            job.filesize = Some(nonzero(v).map_err(bad)?);
        }
        "io_size" | "io_limit" => job.io_size = Some(nonzero(text()?).map_err(bad)?),
        "number_ios" => job.number_ios = Some(value::integer(text()?).map_err(bad)?).filter(|&n| n > 0),
        "offset" => job.offset = size(text()?).map_err(bad)?,
        "offset_increment" => job.offset_increment = size(text()?).map_err(bad)?,
        "nrfiles" | "nr_files" => job.nrfiles = count(1, 1 << 20)? as u32,
        "openfiles" => job.openfiles = Some(count(1, 1 << 20)? as u32),
        "file_service_type" => job.file_service = file_service(text()?).map_err(bad)?,
        "numjobs" => job.numjobs = count(1, 4096)? as u32,
        "iodepth" => c.depth.iodepth = count(1, 65536)? as u32,
        "iodepth_batch" | "iodepth_batch_submit" => c.depth.batch_submit = count(0, 65536)? as u32,
        "iodepth_batch_complete" | "iodepth_batch_complete_min" => {
            c.depth.batch_complete_min = count(0, 65536)? as u32;
        }
        "iodepth_batch_complete_max" => c.depth.batch_complete_max = count(0, 65536)? as u32,
        "iodepth_low" => c.depth.iodepth_low = count(0, 65536)? as u32,
        "fixedbufs" => c.uring.fixedbufs = flag()?,
        "registerfiles" => c.uring.registerfiles = flag()?,
        "sqthread_poll" => c.uring.sqthread_poll = flag()?,
        "hipri" => c.uring.hipri = flag()?,
        "prio" => c.prio.level = Some(count(0, 7)? as u8),
        "prioclass" => c.prio.class = Some(count(0, 3)? as u8),
        "priohint" => c.prio.hint = Some(count(0, u64::from(IOPRIO_MAX_PRIO_HINT))? as u16),
        "cmdprio_percentage" => {
            let cur = c.cmdprio.percentage.unwrap_or_default();
            c.cmdprio.percentage = Some(per_dir_int(text()?, &cur, 0, 100).map_err(bad)?);
        }
        "cmdprio_class" => {
            let cur = c.cmdprio.class.unwrap_or_default();
            c.cmdprio.class = Some(per_dir_int(text()?, &cur, 1, 3).map_err(bad)?);
        }
        "cmdprio" => {
            let cur = c.cmdprio.level.unwrap_or_default();
            c.cmdprio.level = Some(per_dir_int(text()?, &cur, 0, 7).map_err(bad)?);
        }
        "cmdprio_hint" => {
            let cur = c.cmdprio.hint.unwrap_or_default();
            c.cmdprio.hint = Some(per_dir_int(text()?, &cur, 0, u64::from(IOPRIO_MAX_PRIO_HINT)).map_err(bad)?);
        }
        "cmdprio_bssplit" => c.cmdprio.bssplit = Some(prio::parse_bssplit(text()?, kb).map_err(bad)?),
        "ioengine" => c.ioengine = engine(text()?).map_err(bad)?,
        "direct" => c.direct = flag()?,
        "buffered" => c.direct = !flag()?,
        "atomic" => c.atomic = flag()?,
        "fsync" => job.fsync = value::integer(text()?).map_err(bad)?,
        "fdatasync" => job.fdatasync = value::integer(text()?).map_err(bad)?,
        "end_fsync" => job.end_fsync = flag()?,
        "fsync_on_close" => job.fsync_on_close = flag()?,
        "overwrite" => job.overwrite = flag()?,
        "fallocate" => {
            job.fallocate = match text()?.to_ascii_lowercase().as_str() {
                "none" | "0" => Prealloc::None,
                "native" => Prealloc::Native,
                "posix" | "1" => Prealloc::Posix,
                "keep" => Prealloc::Keep,
                "truncate" => Prealloc::Truncate,
                _ => return Err(bad("expected none, native, posix, keep or truncate".into())),
            };
        }
        "create_on_open" => job.create_on_open = flag()?,
        // aopsbench lays the files of a group's jobs out one job after another, fio's default
        // (create_serialize=1); with 0 fio lays them out at once, which changes no measurement.
        "create_serialize" => {
            flag()?;
        }
        "unlink" => job.unlink = flag()?,
        "invalidate" => job.invalidate = flag()?,
        "fill_device" | "fill_fs" => job.fill_device = flag()?,
        "runtime" | "timeout" => c.runtime = Some(value::time(text()?, TimeUnit::Seconds).map_err(bad)?),
        "time_based" => c.time_based = flag()?,
        "ramp_time" => c.ramp_time = Some(value::time(text()?, TimeUnit::Seconds).map_err(bad)?),
        "loops" => job.loops = count(1, u64::from(u32::MAX))? as u32,
        "randrepeat" => job.randrepeat = flag()?,
        "randseed" => job.randseed = Some(value::integer(text()?).map_err(bad)?),
        "random_distribution" => job.random_distribution = distribution(text()?, kb).map_err(bad)?,
        "random_sequence_stride" => job.random_sequence_stride = flag()?,
        "random_generator" => {
            job.random_generator = match text()?.to_ascii_lowercase().as_str() {
                "tausworthe" => RandomGenerator::Tausworthe,
                "lfsr" => RandomGenerator::Lfsr,
                "tausworthe64" => RandomGenerator::Tausworthe64,
                _ => return Err(bad("expected tausworthe, lfsr or tausworthe64".into())),
            }
        }
        "norandommap" => job.norandommap = flag()?,
        "zonemode" => {
            job.zonemode = match text()?.to_ascii_lowercase().as_str() {
                "none" => ZoneMode::None,
                "strided" => ZoneMode::Strided,
                "zbd" => {
                    return Err(bad(
                        "fio zonemode 'zbd' is not supported by aopsbench: it needs a zoned block device \
                                    (use none or strided)"
                            .into(),
                    ));
                }
                _ => return Err(bad("expected none, strided or zbd".into())),
            }
        }
        "zonesize" => job.zonesize = size(text()?).map_err(bad)?,
        "zonerange" => job.zonerange = size(text()?).map_err(bad)?,
        "zoneskip" => job.zoneskip = size(text()?).map_err(bad)?,
        "kb_base" => job.kb_base = text()?.parse::<KbBase>().map_err(|e| bad(e.expected))?,
        "rate_iops" => {
            c.rate_iops = value::per_dir(text()?, &c.rate_iops, |s| value::integer(s).map(|n| (n > 0).then_some(n)))
                .map_err(bad)?;
        }
        "rate" => c.rate = value::per_dir(text()?, &c.rate, |s| size(s).map(|n| (n > 0).then_some(n))).map_err(bad)?,
        "rate_min" | "ratemin" => {
            c.rate_min = value::per_dir(text()?, &c.rate_min, |s| size(s).map(|n| (n > 0).then_some(n))).map_err(bad)?
        }
        "rate_iops_min" => {
            c.rate_iops_min =
                value::per_dir(text()?, &c.rate_iops_min, |s| value::integer(s).map(|n| (n > 0).then_some(n)))
                    .map_err(bad)?;
        }
        "rate_cycle" | "ratecycle" => c.rate_cycle = Duration::from_millis(count(1, u64::from(u32::MAX))?),
        "rate_process" => {
            c.rate_process = match text()?.to_ascii_lowercase().as_str() {
                "linear" => RateProcess::Linear,
                "poisson" => RateProcess::Poisson,
                _ => return Err(bad("expected linear or poisson".into())),
            }
        }
        "io_submit_mode" => {
            c.submit_mode = match text()?.to_ascii_lowercase().as_str() {
                "inline" => SubmitMode::Inline,
                "offload" => SubmitMode::Offload,
                _ => return Err(bad("expected inline or offload".into())),
            }
        }
        "thinktime" => c.thinktime = value::time(text()?, TimeUnit::Micros).map_err(bad)?,
        "stonewall" | "wait_for_previous" => c.start.stonewall = flag()?,
        "new_group" => c.start.new_group = flag()?,
        "wait_for" => c.start.wait_for = Some(text()?.to_string()),
        "startdelay" => c.start.delay = time_range(text()?).map_err(bad)?,
        "exitall" => c.start.exitall = flag()?,
        "exit_what" => {
            c.start.exit_what = match text()?.to_ascii_lowercase().as_str() {
                "group" => ExitWhat::Group,
                "stonewall" => ExitWhat::Stonewall,
                "all" => ExitWhat::All,
                _ => return Err(bad("expected group, stonewall or all".into())),
            }
        }
        "group_reporting" => c.group_reporting = flag()?,
        "cpus_allowed" => c.cpus_allowed = Some(cpu_list(text()?).map_err(bad)?),
        "numa_cpu_nodes" => c.numa_cpu_nodes = Some(node_list(text()?).map_err(bad)?),
        "numa_mem_policy" => c.numa_mem_policy = mem_policy(text()?).map_err(bad)?,
        "cpus_allowed_policy" => {
            c.cpus_policy = match text()?.to_ascii_lowercase().as_str() {
                "shared" => CpusPolicy::Shared,
                "split" => CpusPolicy::Split,
                _ => return Err(bad("expected shared or split".into())),
            }
        }
        "error_dump" => c.error_dump = flag()?,
        "continue_on_error" => {
            let (read, write, verify) = match text()?.to_ascii_lowercase().as_str() {
                "none" | "0" => (false, false, false),
                "read" => (true, false, false),
                "write" => (false, true, false),
                "io" => (true, true, false),
                "verify" => (false, false, true),
                "all" | "1" => (true, true, true),
                _ => return Err(bad("expected none, read, write, io, verify or all".into())),
            };
            c.continue_on_error = super::types::ContinueOnError { read, write, verify };
        }
        "ignore_error" => c.ignore_error = ignore_errors(text()?).map_err(bad)?,
        "gtod_reduce" => {
            if flag()? {
                c.latencies.gtod_reduce();
            }
        }
        "disable_lat" => c.latencies.lat = !flag()?,
        "disable_clat" => c.latencies.clat = !flag()?,
        "disable_slat" => c.latencies.slat = !flag()?,
        "clat_percentiles" => c.latencies.clat_percentiles = flag()?,
        "lat_percentiles" => c.latencies.lat_percentiles = flag()?,
        "percentile_list" => {
            c.latencies.percentile_list = text()?.parse().map_err(|e: vocab::ValueError| bad(e.expected))?
        }
        "latency_target" => c.latency_target.target = value::time(text()?, TimeUnit::Micros).map_err(bad)?,
        "latency_window" => c.latency_target.window = value::time(text()?, TimeUnit::Micros).map_err(bad)?,
        "latency_percentile" => c.latency_target.percentile = percentile(text()?).map_err(bad)?,
        "latency_run" => c.latency_target.run = flag()?,
        "write_lat_log" => c.logs.lat = Some(log_name(value)),
        "write_bw_log" => c.logs.bw = Some(log_name(value)),
        "write_iops_log" => c.logs.iops = Some(log_name(value)),
        "write_hist_log" => c.logs.hist = Some(log_name(value)),
        "log_avg_msec" => c.logs.avg_msec = count(0, 86_400_000)?,
        "log_hist_msec" => c.logs.hist_msec = count(0, 86_400_000)?,
        "per_job_logs" => c.logs.per_job = flag()?,
        "log_offset" => c.logs.offset = flag()?,
        "log_prio" => c.logs.prio = flag()?,
        // fio's FLOW_MAX_WEIGHT is 1000.
        "flow" => c.flow = count(0, 1000)? as u32,
        "flow_id" => c.flow_id = count(0, u64::from(u32::MAX))? as u32,
        "flow_sleep" => c.flow_sleep = Duration::from_micros(count(0, u64::from(u32::MAX))?),
        "steadystate" | "ss" => c.steadystate.set_criterion(text()?, kb).map_err(bad)?,
        "steadystate_duration" | "ss_dur" => {
            c.steadystate.duration = value::time(text()?, TimeUnit::Seconds).map_err(bad)?;
        }
        "steadystate_ramp_time" | "ss_ramp" => {
            c.steadystate.ramp = value::time(text()?, TimeUnit::Seconds).map_err(bad)?;
        }
        "steadystate_check_interval" | "ss_interval" => {
            c.steadystate.interval = value::time(text()?, TimeUnit::Seconds).map_err(bad)?;
        }
        // Soft-deprecated in fio: accepted and ignored there too.
        "flow_watermark" => {}
        // The options of fio's tiobench profile (profiles/tiobench.c), which fio takes in any
        // job: checked as fio types them and kept; without `--profile=tiobench` they change
        // nothing there either.
        "threads" | "block" | "numruns" => {
            let n = count(0, u64::from(u32::MAX))?;
            job.profile_options.push((key_lc.clone(), n.to_string()));
        }
        "dir" => job.profile_options.push((key_lc.clone(), text()?.to_string())),
        "verify" => job.verify.kind = verify_kind(text()?).map_err(bad)?,
        "verify_pattern" => job.verify.pattern = Some(pattern(text()?).map_err(bad)?),
        "verify_interval" => job.verify.interval = Some(nonzero(text()?).map_err(bad)?),
        "verify_backlog" => job.verify.backlog = value::integer(text()?).map_err(bad)?,
        "verify_fatal" => job.verify.fatal = flag()?,
        "do_verify" => job.verify.do_verify = flag()?,
        "verify_only" => job.verify.only = flag()?,
        "verify_dump" => job.verify.dump = flag()?,
        "verify_async" => job.verify.async_threads = count(0, 1024)? as u32,
        "verify_write_sequence" => job.verify.write_sequence = flag()?,
        "buffer_pattern" => job.buffers.pattern = Some(pattern(text()?).map_err(bad)?),
        "refill_buffers" => job.buffers.refill = Some(flag()?),
        "scramble_buffers" => job.buffers.scramble = flag()?,
        "buffer_compress_percentage" => job.buffers.compress_percentage = value::percent(text()?).map_err(bad)?,
        "buffer_compress_chunk" => job.buffers.compress_chunk = nonzero(text()?).map_err(bad)?,
        "dedupe_percentage" => {
            job.buffers.dedupe.percentage = value::percent(text()?).map_err(bad)?;
            // fio's str_dedupe_cb: duplicates need new contents for every write.
            job.buffers.refill = Some(true);
        }
        "dedupe_mode" => {
            job.buffers.dedupe.mode = match text()?.to_ascii_lowercase().as_str() {
                "repeat" => DedupeMode::Repeat,
                "working_set" => DedupeMode::WorkingSet,
                _ => return Err(bad("expected repeat or working_set".into())),
            }
        }
        "dedupe_working_set_percentage" => {
            job.buffers.dedupe.working_set_percentage = value::percent(text()?).map_err(bad)?;
        }
        "dedupe_global" => job.buffers.dedupe.global = flag()?,
        aops if aops.strip_prefix("aops_").is_some_and(|k| AopsParams::KEYS.contains(&k)) => {
            job.aops.set(&aops["aops_".len()..], value).map_err(|e| bad(e.expected))?;
        }
        other if super::engine_opts::NAMES.contains(&other) => {
            if let Some(Err(e)) = job.engine.apply(other, value) {
                return Err(bad(e));
            }
        }
        "md_per_io_size" | "pi_act" | "pi_chk" | "apptag" | "apptag_mask" => {
            return Err(OptionError::HardwareEngine {
                engines: "io_uring_cmd and xnvme engines",
                why: "sets NVMe end-to-end protection information, on an NVMe device",
            });
        }
        other if FIO_OPTIONS.binary_search(&other).is_ok() => return Err(OptionError::Unsupported),
        _ => return Err(OptionError::Unknown { hint: suggestion(&key_lc, value) }),
    }
    Ok(())
}

/// fio's `FIO_OPT_INT` with a value per direction (`cmdprio_*`): `READ[,WRITE]`, each from
/// `lo` to `hi`.
fn per_dir_int<T>(s: &str, current: &PerDir<T>, lo: u64, hi: u64) -> Result<PerDir<T>, String>
where
    T: Copy + TryFrom<u64>,
{
    value::per_dir(s, current, |p| {
        value::int_in(p, lo, hi)
            .and_then(|n| T::try_from(n).map_err(|_| format!("expected a whole number from {lo} to {hi}")))
    })
}

/// A log's name prefix: the value, or fio's default `jobname` stand-in when bare.
fn log_name(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("").to_string()
}

/// `ioengine=`: an engine aopsbench runs, or why not.
fn engine(s: &str) -> Result<IoEngine, String> {
    let name = s.trim().to_ascii_lowercase();
    if let Some(e) = IoEngine::ALL.into_iter().find(|e| e.fio_name() == name) {
        return Ok(e);
    }
    let runs: Vec<&str> = IoEngine::ALL.iter().map(|e| e.fio_name()).collect();
    match OTHER_ENGINES.iter().find(|(n, _)| *n == name) {
        Some((n, why)) => Err(format!("fio ioengine '{n}' is not supported by aopsbench: {why}")),
        None => Err(format!("aopsbench runs {}", runs.join(", "))),
    }
}

/// `verify=`.
fn verify_kind(s: &str) -> Result<VerifyKind, String> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "0" | "none" => VerifyKind::None,
        "md5" => VerifyKind::Md5,
        "crc32c" | "crc32c-intel" => VerifyKind::Crc32c,
        "crc64" => VerifyKind::Crc64,
        "sha1" => VerifyKind::Sha1,
        "sha256" => VerifyKind::Sha256,
        "xxhash" => VerifyKind::Xxhash,
        "pattern" => VerifyKind::Pattern,
        "meta" => VerifyKind::Meta,
        "crc32" | "crc16" | "crc7" | "sha224" | "sha384" | "sha512" | "sha3-224" | "sha3-256" | "sha3-384"
        | "sha3-512" | "null" | "pattern_hdr" => {
            return Err(format!(
                "verify={s} is not supported by aopsbench: use md5, crc32c, crc32c-intel, crc64, sha1, sha256, \
                 xxhash, pattern or meta"
            ));
        }
        _ => return Err("expected md5, crc32c, crc32c-intel, crc64, sha1, sha256, xxhash, pattern or meta".into()),
    })
}

/// fio's pattern syntax (`verify_pattern`, `buffer_pattern`): `0x` hex bytes, a decimal
/// number (its bytes, little-endian, as few as hold it), a `"string"`, or several joined.
fn pattern(s: &str) -> Result<Vec<u8>, String> {
    const EXPECTED: &str = "expected bytes such as 0xdeadbeef, \"text\" or 170, joined in any order";
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').ok_or_else(|| EXPECTED.to_string())?;
            out.extend_from_slice(&after.as_bytes()[..end]);
            rest = &after[end + 1..];
        } else if rest.starts_with('\'') {
            return Err("patterns read from a file ('name') are not supported by aopsbench; give the bytes".into());
        } else if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            let end = hex.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(hex.len());
            let digits = &hex[..end];
            if digits.is_empty() {
                return Err(EXPECTED.into());
            }
            let padded = if digits.len() % 2 == 1 { format!("0{digits}") } else { digits.to_string() };
            for i in (0..padded.len()).step_by(2) {
                out.push(u8::from_str_radix(&padded[i..i + 2], 16).map_err(|_| EXPECTED.to_string())?);
            }
            rest = &hex[end..];
        } else {
            let end = rest.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(rest.len());
            let n: i64 = rest[..end].parse().map_err(|_| EXPECTED.to_string())?;
            let bytes = n.to_le_bytes();
            let len = if n < 0 { 8 } else { (8 - (n.leading_zeros() as usize) / 8).max(1) };
            out.extend_from_slice(&bytes[..len]);
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    if out.is_empty() {
        return Err(EXPECTED.into());
    }
    Ok(out)
}

/// `startdelay=T` or `T1-T2` (drawn per thread).
fn time_range(s: &str) -> Result<(Duration, Duration), String> {
    let t = |s: &str| value::time(s, TimeUnit::Seconds);
    match s.split_once('-') {
        Some((a, b)) if !s.starts_with('(') => {
            let (lo, hi) = (t(a)?, t(b)?);
            if lo > hi {
                return Err("expected the shorter time first, such as 1-5".into());
            }
            Ok((lo, hi))
        }
        _ => {
            let d = t(s)?;
            Ok((d, d))
        }
    }
}

/// `cpus_allowed=`: CPU numbers and ranges, `0-3,6`.
fn cpu_list(s: &str) -> Result<Vec<usize>, String> {
    const EXPECTED: &str = "expected CPU numbers and ranges such as 0-3,6";
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (a.trim().parse::<usize>(), b.trim().parse::<usize>());
        let (Ok(a), Ok(b)) = (a, b) else { return Err(EXPECTED.into()) };
        if a > b || b >= 4096 {
            return Err(EXPECTED.into());
        }
        cpus.extend(a..=b);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err(EXPECTED.into());
    }
    Ok(cpus)
}

/// A NUMA node list (`0-1,3`), as libnuma's `numa_parse_nodestring` reads one.
fn node_list(s: &str) -> Result<Vec<usize>, String> {
    cpu_list(s).map_err(|_| "expected NUMA node numbers and ranges such as 0-1,3".into())
}

/// `numa_mem_policy=MODE[:NODES]` (fio's `str_numa_mpol_cb`).
fn mem_policy(s: &str) -> Result<NumaMemPolicy, String> {
    let (mode, nodes) = match s.split_once(':') {
        Some((m, n)) => (m, Some(n)),
        None => (s, None),
    };
    Ok(match (mode, nodes) {
        ("default", None) => NumaMemPolicy::Default,
        ("local", None) => NumaMemPolicy::Local,
        ("default" | "local", Some(_)) => return Err(format!("'{mode}' takes no node list (as fio)")),
        ("prefer", Some(n)) => {
            NumaMemPolicy::Prefer(n.trim().parse().map_err(|_| "'prefer' takes one node, e.g. prefer:0 (as fio)")?)
        }
        ("prefer", None) => return Err("'prefer' needs one node, e.g. prefer:0 (as fio)".into()),
        ("bind", Some(n)) => NumaMemPolicy::Bind(node_list(n)?),
        ("bind", None) => return Err("'bind' needs a node list, e.g. bind:0-1 (as fio)".into()),
        ("interleave", n) => NumaMemPolicy::Interleave(n.map(node_list).transpose()?),
        _ => return Err("expected default, prefer:N, bind:NODES, interleave[:NODES] or local".into()),
    })
}

/// `ignore_error=READ:WRITE:VERIFY`, each a `,`-separated list of errno names or numbers (as
/// fio's `str_ignore_error_cb`, the lists go to reads, writes and verifies in turn: a single
/// list is for reads).
fn ignore_errors(s: &str) -> Result<super::types::IgnoreError, String> {
    let list = |l: &str| -> Result<Vec<i32>, String> {
        l.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                errno_of(e).ok_or_else(|| format!("'{e}' is not an errno name or number (such as EIO, ENOSPC or 5)"))
            })
            .collect()
    };
    let parts: Vec<&str> = s.split(':').collect();
    use super::types::IgnoreError;
    Ok(match parts.as_slice() {
        [r] => IgnoreError { read: list(r)?, ..IgnoreError::default() },
        [r, w] => IgnoreError { read: list(r)?, write: list(w)?, ..IgnoreError::default() },
        [r, w, v] => IgnoreError { read: list(r)?, write: list(w)?, verify: list(v)? },
        _ => return Err("expected READ:WRITE:VERIFY lists of errnos".into()),
    })
}

/// An errno by name or number.
fn errno_of(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (n > 0).then_some(n);
    }
    const NAMES: &[(&str, i32)] = &[
        ("EPERM", libc::EPERM),
        ("ENOENT", libc::ENOENT),
        ("EINTR", libc::EINTR),
        ("EIO", libc::EIO),
        ("ENXIO", libc::ENXIO),
        ("EBADF", libc::EBADF),
        ("EAGAIN", libc::EAGAIN),
        ("ENOMEM", libc::ENOMEM),
        ("EACCES", libc::EACCES),
        ("EFAULT", libc::EFAULT),
        ("EBUSY", libc::EBUSY),
        ("EEXIST", libc::EEXIST),
        ("ENODEV", libc::ENODEV),
        ("EINVAL", libc::EINVAL),
        ("EFBIG", libc::EFBIG),
        ("ENOSPC", libc::ENOSPC),
        ("EROFS", libc::EROFS),
        ("EILSEQ", libc::EILSEQ),
        ("EOPNOTSUPP", libc::EOPNOTSUPP),
        ("ETIMEDOUT", libc::ETIMEDOUT),
        ("EDQUOT", libc::EDQUOT),
        ("ENODATA", libc::ENODATA),
        ("EBADMSG", libc::EBADMSG),
    ];
    NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|(_, e)| *e)
}

/// `latency_percentile=`: a percentage from 0 to 100, fractions allowed (fio's float option
/// with `minfp` 0 and `maxfp` 100).
fn percentile(s: &str) -> Result<f64, String> {
    let t = s.trim();
    match t.strip_suffix('%').unwrap_or(t).parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err("expected a percentage from 0 to 100, such as 99.9".into()),
    }
}

/// `file_service_type=`.
fn file_service(s: &str) -> Result<FileService, String> {
    let (kind, param) = match s.split_once(':') {
        Some((k, p)) => (k, Some(p.trim())),
        None => (s, None),
    };
    let nr = || -> Result<u64, String> {
        match param {
            None => Ok(1),
            Some(p) => p.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| "the :N is I/Os per file, from 1".into()),
        }
    };
    let num = |default: f64| -> Result<f64, String> {
        param.map_or(Ok(default), |p| p.parse::<f64>().map_err(|_| format!("'{p}' is not a number")))
    };
    Ok(match kind.trim().to_ascii_lowercase().as_str() {
        "roundrobin" => FileService::RoundRobin(nr()?),
        "sequential" => FileService::Sequential(nr()?),
        "random" => FileService::Random(nr()?),
        "zipf" => FileService::Zipf(num(1.1)?),
        "pareto" => FileService::Pareto(num(0.2)?),
        "normal" | "gauss" => FileService::Normal(num(0.0)?),
        _ => return Err("expected roundrobin, sequential, random (with :N), zipf, pareto or normal".into()),
    })
}

/// `random`, `zipf[:θ[:center]]`, `pareto[:h[:center]]`, `normal[:σ[:center]]` (or `gauss`),
/// `zoned:A/S:...`, `zoned_abs:A/SIZE:...`, with fio's defaults for a missing parameter.
fn distribution(s: &str, kb: KbBase) -> Result<RandomDistribution, String> {
    let (kind, rest) = match s.split_once([':', '=']) {
        Some((k, p)) => (k.trim().to_ascii_lowercase(), Some(p)),
        None => (s.trim().to_ascii_lowercase(), None),
    };
    if kind == "zoned" || kind == "zoned_abs" {
        return zones(rest.unwrap_or_default(), kind == "zoned_abs", kb);
    }
    if kind == "sequence" {
        return sequence(rest.unwrap_or_default());
    }
    let params: Vec<&str> = rest.map(|r| r.split(':').collect()).unwrap_or_default();
    let num = |i: usize, default: f64| -> Result<f64, String> {
        match params.get(i) {
            None => Ok(default),
            Some(p) => p.trim().parse::<f64>().map_err(|_| format!("'{p}' is not a number")),
        }
    };
    let center = |i: usize| -> Result<Option<f64>, String> {
        match params.get(i) {
            None => Ok(None),
            Some(_) => match num(i, 0.0)? {
                c if (0.0..=1.0).contains(&c) => Ok(Some(c)),
                _ => Err("the center is a fraction of the region, from 0 to 1".into()),
            },
        }
    };
    if params.len() > 2 {
        return Err("expected at most two parameters, such as zipf:1.2:0.25".into());
    }
    match kind.as_str() {
        "random" if params.is_empty() => Ok(RandomDistribution::Uniform),
        "zipf" => match num(0, 1.1)? {
            t if t > 0.0 && t.is_finite() => Ok(RandomDistribution::Zipf { theta: t, center: center(1)? }),
            _ => Err("zipf needs θ above 0, such as zipf:1.2".into()),
        },
        "pareto" => match num(0, 0.2)? {
            h if h > 0.0 && h < 1.0 => Ok(RandomDistribution::Pareto { h, center: center(1)? }),
            _ => Err("pareto needs h between 0 and 1, such as pareto:0.2".into()),
        },
        "normal" | "gauss" => match num(0, 0.0)? {
            0.0 => Ok(RandomDistribution::Uniform),
            d if d > 0.0 && d <= 100.0 => Ok(RandomDistribution::Normal { dev: d, center: center(1)?.unwrap_or(0.5) }),
            _ => Err("normal needs σ in percent of the region, from 0 to 100, such as normal:10".into()),
        },
        _ => {
            Err("expected random, zipf:θ, pareto:h, normal:σ, zoned:A/S:..., zoned_abs:A/SIZE:... or sequence:B,B,..."
                .into())
        }
    }
}

/// fio's `parse_sequence_distribution`: block numbers joined by ',', at most 64 (FIO_SEQ_MAX).
fn sequence(s: &str) -> Result<RandomDistribution, String> {
    const EXPECTED: &str = "expected block numbers joined by ',', such as sequence:2,0,1";
    let blocks = s
        .split(',')
        .map(|b| {
            let b = b.trim();
            match b.bytes().all(|c| c.is_ascii_digit()) && !b.is_empty() {
                true => b.parse::<u32>().map_err(|_| format!("block {b} is too large")),
                false => Err(format!("'{b}' is not a block number: {EXPECTED}")),
            }
        })
        .collect::<Result<Vec<u32>, String>>()?;
    if blocks.len() > 64 {
        return Err(format!("a sequence has at most 64 blocks (fio's FIO_SEQ_MAX), not {}", blocks.len()));
    }
    Ok(RandomDistribution::Sequence(blocks))
}

/// The zones of `zoned` (sizes in percent of the region) or `zoned_abs` (sizes in bytes):
/// the access percentages must add up to 100; `zoned` sizes too.
fn zones(s: &str, absolute: bool, kb: KbBase) -> Result<RandomDistribution, String> {
    let expected = if absolute {
        "expected ACCESS%/SIZE zones joined by ':', such as zoned_abs:60/20g:40/100g"
    } else {
        "expected ACCESS%/REGION% zones joined by ':', such as zoned:60/10:30/20:10/70"
    };
    if s.contains(',') {
        return Err("per-direction zones are not supported by aopsbench: give one zone list for every direction".into());
    }
    let pct = |p: &str| -> Result<u64, String> {
        match p.trim().trim_end_matches('%').parse::<f64>() {
            Ok(v) if (0.0..=100.0).contains(&v) => Ok((v * 1e4).round() as u64),
            _ => Err(expected.to_string()),
        }
    };
    let mut list = Vec::new();
    // Zones whose region percentage is left out (`20/`): fio's zone_split_ddir shares what the
    // others leave of 100% between them.
    let mut no_size = Vec::new();
    for z in s.split(':').filter(|z| !z.trim().is_empty()) {
        let (a, sz) = z.split_once('/').ok_or_else(|| expected.to_string())?;
        let size = if absolute {
            value::nonzero_size(sz, kb)?
        } else if sz.trim().is_empty() {
            no_size.push(list.len());
            0
        } else {
            pct(sz)?
        };
        list.push(Zone { access_ppm: pct(a)?, size });
    }
    if list.is_empty() || list.len() > 256 {
        return Err(format!("{expected} (1 to 256 zones)"));
    }
    let access: u64 = list.iter().map(|z| z.access_ppm).sum();
    if access.abs_diff(PPM) > 10 {
        return Err(format!("the access percentages add up to {}, not 100", access as f64 / 1e4));
    }
    if !no_size.is_empty() {
        let given: u64 = list.iter().map(|z| z.size).sum();
        let share = PPM.saturating_sub(given) / no_size.len() as u64;
        for &i in &no_size {
            list[i].size = share;
        }
        if let Some(&last) = no_size.last() {
            // Whole ppm: the last takes the rounding, so the regions add up to 100%.
            list[last].size += PPM.saturating_sub(given) - share * no_size.len() as u64;
        }
    }
    if !absolute {
        let region: u64 = list.iter().map(|z| z.size).sum();
        if region.abs_diff(PPM) > 10 {
            return Err(format!("the region percentages add up to {}, not 100", region as f64 / 1e4));
        }
        return Ok(RandomDistribution::Zoned(list));
    }
    Ok(RandomDistribution::ZonedAbs(list))
}

/// Every option name accepted, the engines' own included, for "did you mean".
pub fn supported() -> impl Iterator<Item = &'static str> {
    SUPPORTED.iter().chain(super::engine_opts::NAMES).copied()
}

/// ` (did you mean 'x'?)` for a near miss of a supported option of the same kind — an
/// `aops_` option for an `aops_` typo, a fio option otherwise — that takes the value given;
/// else empty.
pub(crate) fn suggestion(key: &str, value: Option<&str>) -> String {
    let aops = key.starts_with("aops_");
    supported()
        .filter(|s| s.starts_with("aops_") == aops)
        .map(|s| (edit_distance(key, s), s))
        .filter(|&(d, s)| d <= 2 && d < s.len() / 3 + 1)
        .filter(|&(_, s)| apply(&mut Job::fio_defaults(), s, value).is_ok())
        .min()
        .map(|(_, s)| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default()
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_for_close_typos_of_the_same_kind_only() {
        assert_eq!(suggestion("iodepht", Some("4")), " (did you mean 'iodepth'?)");
        assert_eq!(suggestion("runtim", Some("30")), " (did you mean 'runtime'?)");
        assert_eq!(suggestion("runtim", Some("fast")), "", "runtime does not take 'fast'");
        assert_eq!(suggestion("aops_cach", Some("64m")), " (did you mean 'aops_cache'?)");
        assert_eq!(suggestion("aops_bs", Some("4k")), "");
        assert_eq!(suggestion("zonemod", Some("zbd")), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn fio_names_are_sorted_for_lookup() {
        assert!(FIO_OPTIONS.windows(2).all(|w| w[0] < w[1]));
        for s in supported().filter(|s| !s.starts_with("aops_")) {
            assert!(FIO_OPTIONS.binary_search(&s).is_ok(), "{s} is not a fio option");
        }
    }

    #[test]
    fn distributions() {
        let d = |s| distribution(s, KbBase::Binary);
        assert_eq!(d("zipf:1.2"), Ok(RandomDistribution::Zipf { theta: 1.2, center: None }));
        assert_eq!(d("zipf"), Ok(RandomDistribution::Zipf { theta: 1.1, center: None }));
        assert_eq!(d("zipf:1.2:0.25"), Ok(RandomDistribution::Zipf { theta: 1.2, center: Some(0.25) }));
        assert_eq!(d("pareto:0.3"), Ok(RandomDistribution::Pareto { h: 0.3, center: None }));
        assert_eq!(d("normal:5"), Ok(RandomDistribution::Normal { dev: 5.0, center: 0.5 }));
        assert_eq!(d("gauss:5:0.1"), Ok(RandomDistribution::Normal { dev: 5.0, center: 0.1 }));
        assert_eq!(d("random"), Ok(RandomDistribution::Uniform));
        assert_eq!(d("sequence:2, 0,1"), Ok(RandomDistribution::Sequence(vec![2, 0, 1])));
        assert!(d("sequence:2,-1").unwrap_err().contains("'-1' is not a block number"));
        assert!(d("sequence:").unwrap_err().contains("'' is not a block number"));
        let long = format!("sequence:{}", ["1"; 65].join(","));
        assert!(distribution(&long, KbBase::Binary).unwrap_err().contains("at most 64"));
        let Ok(RandomDistribution::Zoned(z)) = d("zoned:60/10:30/20:8/30:2/40") else { panic!() };
        assert_eq!((z.len(), z[0].access_ppm, z[0].size), (4, 600_000, 100_000));
        let Ok(RandomDistribution::ZonedAbs(z)) = d("zoned_abs=60/20G:30/100G:10/500g") else { panic!() };
        assert_eq!(z[1].size, 100 << 30);
        assert!(d("zoned:50/5:40/95").unwrap_err().contains("add up to 90"));
        assert!(d("zoned:60/10:40/10").unwrap_err().contains("region percentages add up to 20"));
        // fio's examples/rand-zones.fio: the last zone's region is what the others leave.
        let Ok(RandomDistribution::Zoned(z)) = d("zoned:50/5:30/15:20/") else { panic!() };
        assert_eq!(z.iter().map(|z| z.size).collect::<Vec<_>>(), [50_000, 150_000, 800_000]);
        let Ok(RandomDistribution::Zoned(z)) = d("zoned:40/10:30/:30/") else { panic!() };
        assert_eq!(z.iter().map(|z| z.size).collect::<Vec<_>>(), [100_000, 450_000, 450_000]);
        assert!(d("pareto:1.5").is_err());
    }

    #[test]
    fn patterns_read_as_fio_writes_them() {
        assert_eq!(pattern("0xdeadbeef"), Ok(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(pattern("0xaa555aa5"), Ok(vec![0xaa, 0x55, 0x5a, 0xa5]));
        assert_eq!(pattern("\"abcd\""), Ok(b"abcd".to_vec()));
        assert_eq!(pattern("0xff\"ab\"170"), Ok(vec![0xff, b'a', b'b', 170]));
        assert!(pattern("'file'").unwrap_err().contains("not supported"));
        assert!(pattern("").is_err());
    }

    #[test]
    fn engines_say_why_not() {
        assert_eq!(engine("libaio"), Ok(IoEngine::Libaio));
        assert_eq!(
            engine("rdma"),
            Err("fio ioengine 'rdma' is not supported by aopsbench: it needs RDMA hardware".into())
        );
        assert!(engine("frob").unwrap_err().starts_with("aopsbench runs sync, psync"));
    }
}
