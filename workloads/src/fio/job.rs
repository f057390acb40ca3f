//! A resolved fio job: every supported option as a typed field, global options inherited.

use std::fmt::Write as _;
use std::time::Duration;

use super::error::{JobError, JobWarning, Location};
use super::options;
use super::parse::{self, Entry, GLOBAL};
use vocab::{AopsParams, Percentiles, format_time};

use super::value::{PPM, format_size};

/// A value per I/O direction, as fio's `read,write` option lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerDir<T> {
    /// For reads.
    pub read: T,
    /// For writes.
    pub write: T,
}

impl<T> PerDir<T> {
    /// The value for reads (`write == false`) or writes.
    pub fn get(&self, write: bool) -> &T {
        if write { &self.write } else { &self.read }
    }
}

/// fio's `rw=`: which directions, sequential or random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadWrite {
    /// `read`: sequential reads.
    Read,
    /// `write`: sequential writes.
    Write,
    /// `randread`.
    RandRead,
    /// `randwrite`.
    RandWrite,
    /// `rw` / `readwrite`: sequential mixed reads and writes.
    ReadWrite,
    /// `randrw`: random mixed reads and writes.
    RandRw,
}

impl ReadWrite {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            ReadWrite::Read => "read",
            ReadWrite::Write => "write",
            ReadWrite::RandRead => "randread",
            ReadWrite::RandWrite => "randwrite",
            ReadWrite::ReadWrite => "rw",
            ReadWrite::RandRw => "randrw",
        }
    }
    /// Random offsets rather than sequential ones.
    pub fn is_random(self) -> bool {
        matches!(self, ReadWrite::RandRead | ReadWrite::RandWrite | ReadWrite::RandRw)
    }
    /// The job reads.
    pub fn reads(self) -> bool {
        !matches!(self, ReadWrite::Write | ReadWrite::RandWrite)
    }
    /// The job writes.
    pub fn writes(self) -> bool {
        !matches!(self, ReadWrite::Read | ReadWrite::RandRead)
    }
}

/// One bssplit entry: `size` gets `ppm` parts per million of the I/Os.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BsShare {
    /// Block size in bytes.
    pub size: u64,
    /// Share of I/Os in parts per million (all shares of a split add up to 1 000 000).
    pub ppm: u64,
}

/// How a direction picks each I/O's size (`bs=`, `bsrange=` or `bssplit=`; the last given wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockSize {
    /// `bs=SIZE`.
    Fixed(u64),
    /// `bsrange=MIN-MAX`: uniform multiples of `min` from `min` to `max`.
    Range {
        /// Smallest size.
        min: u64,
        /// Largest size.
        max: u64,
    },
    /// `bssplit=SIZE/PCT:...`.
    Split(Vec<BsShare>),
}

impl BlockSize {
    /// The smallest size this can yield.
    pub fn min(&self) -> u64 {
        match self {
            BlockSize::Fixed(n) => *n,
            BlockSize::Range { min, .. } => *min,
            BlockSize::Split(v) => v.iter().map(|s| s.size).min().unwrap_or(0),
        }
    }
    /// The largest size this can yield.
    pub fn max(&self) -> u64 {
        match self {
            BlockSize::Fixed(n) => *n,
            BlockSize::Range { max, .. } => *max,
            BlockSize::Split(v) => v.iter().map(|s| s.size).max().unwrap_or(0),
        }
    }
    fn sizes(&self) -> Vec<u64> {
        match self {
            BlockSize::Fixed(n) => vec![*n],
            BlockSize::Range { min, max } => vec![*min, *max],
            BlockSize::Split(v) => v.iter().map(|s| s.size).collect(),
        }
    }
}

/// fio's `ioengine=`. The harness maps these onto its own I/O paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoEngine {
    /// `psync`: pread/pwrite.
    Psync,
    /// `sync`: read/write after lseek (the harness may treat it as psync).
    Sync,
    /// `io_uring`.
    IoUring,
    /// `null`: no I/O; measures the harness itself.
    Null,
}

impl IoEngine {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            IoEngine::Psync => "psync",
            IoEngine::Sync => "sync",
            IoEngine::IoUring => "io_uring",
            IoEngine::Null => "null",
        }
    }
}

/// fio's `fallocate=`: how files are preallocated before the job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prealloc {
    /// `none`: no preallocation.
    None,
    /// `native` (fio's default on Linux): `fallocate(fd, 0, ...)`.
    Native,
    /// `posix`: `posix_fallocate`, which on Linux is `fallocate(fd, 0, ...)` too.
    Posix,
    /// `keep`: `fallocate(fd, FALLOC_FL_KEEP_SIZE, ...)`.
    Keep,
    /// `truncate`: `ftruncate` to the final size instead of allocating.
    Truncate,
}

impl Prealloc {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            Prealloc::None => "none",
            Prealloc::Native => "native",
            Prealloc::Posix => "posix",
            Prealloc::Keep => "keep",
            Prealloc::Truncate => "truncate",
        }
    }
}

/// fio's `random_distribution=`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RandomDistribution {
    /// `random`: uniform.
    Uniform,
    /// `zipf:θ`: block of rank k is hit with probability ∝ 1/k^θ.
    Zipf(f64),
    /// `pareto:h`: fio's pareto with power ln(h)/ln(1-h).
    Pareto(f64),
    /// `normal:σ`: Gaussian around the middle, σ in percent of the region.
    Normal(f64),
}

/// How a job runs, rather than which ops it issues: what the harness honours.
#[derive(Clone, Debug, PartialEq)]
pub struct RunControl {
    /// `runtime=`: stop after this long (with `time_based`), or at most this long.
    pub runtime: Option<Duration>,
    /// `time_based`: run for `runtime` even when the I/O is done (the op stream never ends).
    pub time_based: bool,
    /// `ramp_time=`: run this long before recording.
    pub ramp_time: Option<Duration>,
    /// `rate_iops=`: cap on I/Os per second per direction.
    pub rate_iops: PerDir<Option<u64>>,
    /// `thinktime=`: pause after each I/O.
    pub thinktime: Duration,
    /// `iodepth=`: I/Os in flight (io_uring).
    pub iodepth: u32,
    /// `ioengine=`.
    pub ioengine: IoEngine,
    /// `direct=1` (or `buffered=0`): O_DIRECT.
    pub direct: bool,
    /// `stonewall`: wait for earlier jobs to finish before starting.
    pub stonewall: bool,
    /// `new_group`: start a new reporting group.
    pub new_group: bool,
    /// `group_reporting`: report the job's threads together.
    pub group_reporting: bool,
    /// `percentile_list=`: which latency percentiles to report.
    pub percentile_list: Percentiles,
}

/// One job section, resolved: fio's defaults, then `[global]` options, then its own.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Job {
    /// Section name (or `name=`).
    pub name: String,
    /// Position among the jobs (0-based); part of the random seed.
    pub index: u32,
    /// Where the job's section starts.
    pub defined_at: Location,
    /// `description=`.
    pub description: Option<String>,
    /// `filename=`: files shared by all threads, `:`-separated; `None`: fio's names.
    pub filename: Option<String>,
    /// `directory=`: prefix of fio-named files.
    pub directory: Option<String>,
    /// `rw=`.
    pub rw: ReadWrite,
    /// `rwmixread=` (or 100 - `rwmixwrite=`): percent of reads in mixed jobs.
    pub rwmixread: u32,
    /// `bs=` / `bsrange=` / `bssplit=`.
    pub bs: PerDir<BlockSize>,
    /// `blockalign=`: alignment of random offsets (default: the smallest block size).
    pub blockalign: PerDir<Option<u64>>,
    /// `size=`: bytes of I/O per thread per loop (and file size when `filesize` is unset).
    pub size: Option<u64>,
    /// `filesize=`: size of each file.
    pub filesize: Option<u64>,
    /// `offset=`: where the I/O region starts in each file.
    pub offset: u64,
    /// `nrfiles=`: files per thread (the count of `filename=` entries when given).
    pub nrfiles: u32,
    /// `numjobs=`: threads running this job.
    pub numjobs: u32,
    /// `fsync=N`: fsync after every N writes (0: never).
    pub fsync: u64,
    /// `fdatasync=N`: fdatasync after every N writes (0: never).
    pub fdatasync: u64,
    /// `end_fsync`: fsync every file when the job's I/O is done.
    pub end_fsync: bool,
    /// `fsync_on_close`: fsync every file when it is closed (at the end of the job).
    pub fsync_on_close: bool,
    /// `overwrite`: lay files out in full before the job writes over them.
    pub overwrite: bool,
    /// `fallocate=`.
    pub fallocate: Prealloc,
    /// `create_on_open`: create files when the job opens them rather than before it starts.
    pub create_on_open: bool,
    /// `loops=`: passes over the region.
    pub loops: u32,
    /// `randrepeat`: same random sequence every run (fio's default).
    pub randrepeat: bool,
    /// `randseed=`: the seed (overrides randrepeat).
    pub randseed: Option<u64>,
    /// `random_distribution=`.
    pub random_distribution: RandomDistribution,
    /// `norandommap`: random offsets may repeat and need not cover the region.
    pub norandommap: bool,
    /// Pacing and run control.
    pub control: RunControl,
    /// `aops_*` options: fsimpl's parameters, which a target spec's own override.
    pub aops: AopsParams,
    /// Per-run seed used when `randrepeat=0` and no `randseed`.
    pub(crate) nonce: u64,
}

/// The seed fio jobs use with `randrepeat=1` and no `randseed` (fio's FIO_RANDSEED).
pub const DEFAULT_RANDSEED: u64 = 0xb189_9bed;

/// Random maps larger than this many blocks are refused (norandommap or a larger blockalign
/// avoids them): 2^32 bits is 512 MiB of map per file.
const MAX_MAP_BLOCKS: u64 = 1 << 32;

/// Largest file a job may ask for: 16 TiB, ext4's limit with 4 KiB blocks (and fsimpl's). The
/// layout of a larger one would not even fit in memory as a list of writes.
const MAX_FILE_SIZE: u64 = 1 << 44;

impl Job {
    /// fio's defaults, before any option.
    pub(crate) fn fio_defaults() -> Job {
        Job {
            name: GLOBAL.to_string(),
            index: 0,
            defined_at: Location::Arg { index: 0 },
            description: None,
            filename: None,
            directory: None,
            rw: ReadWrite::Read,
            rwmixread: 50,
            bs: PerDir { read: BlockSize::Fixed(4096), write: BlockSize::Fixed(4096) },
            blockalign: PerDir::default(),
            size: None,
            filesize: None,
            offset: 0,
            nrfiles: 1,
            numjobs: 1,
            fsync: 0,
            fdatasync: 0,
            end_fsync: false,
            fsync_on_close: false,
            overwrite: false,
            fallocate: Prealloc::Native,
            create_on_open: false,
            loops: 1,
            randrepeat: true,
            randseed: None,
            random_distribution: RandomDistribution::Uniform,
            norandommap: false,
            control: RunControl {
                runtime: None,
                time_based: false,
                ramp_time: None,
                rate_iops: PerDir::default(),
                thinktime: Duration::ZERO,
                iodepth: 1,
                ioengine: IoEngine::Psync,
                direct: false,
                stonewall: false,
                new_group: false,
                group_reporting: false,
                percentile_list: Percentiles::default(),
            },
            aops: AopsParams::default(),
            nonce: 0,
        }
    }

    /// The seed of this job's random streams: `randseed`, else fio's fixed seed with
    /// `randrepeat=1`, else a per-run value chosen when the job file was read.
    pub fn seed(&self) -> u64 {
        match (self.randseed, self.randrepeat) {
            (Some(seed), _) => seed,
            (None, true) => DEFAULT_RANDSEED,
            (None, false) => self.nonce,
        }
    }

    /// The block sizes of the directions this job uses.
    fn used_bs(&self) -> impl Iterator<Item = &BlockSize> {
        let r = self.rw.reads().then_some(&self.bs.read);
        let w = self.rw.writes().then_some(&self.bs.write);
        r.into_iter().chain(w)
    }

    /// The smallest block size the job issues.
    pub fn min_bs(&self) -> u64 {
        self.used_bs().map(BlockSize::min).min().unwrap_or(4096)
    }

    /// The largest block size the job issues.
    pub fn max_bs(&self) -> u64 {
        self.used_bs().map(BlockSize::max).max().unwrap_or(4096)
    }

    /// The granule of random offsets and of the random map: `blockalign` if given, else the
    /// smallest block size.
    pub fn block_align(&self) -> u64 {
        let r = self.rw.reads().then_some(self.blockalign.read).flatten();
        let w = self.rw.writes().then_some(self.blockalign.write).flatten();
        r.into_iter().chain(w).min().unwrap_or_else(|| self.min_bs())
    }

    /// Files per thread.
    pub fn files_per_thread(&self) -> u32 {
        match &self.filename {
            Some(names) => names.split(':').count() as u32,
            None => self.nrfiles,
        }
    }

    /// Length of the I/O region of each file: `filesize`, else `size / nrfiles`, rounded down
    /// to a multiple of the block alignment (fio rounds sizes down to whole blocks too).
    pub fn region_len(&self) -> u64 {
        let raw = self.raw_region_len();
        let align = self.block_align().max(1);
        raw - raw % align
    }

    /// The region before rounding to the block alignment.
    fn raw_region_len(&self) -> u64 {
        match (self.filesize, self.size) {
            (Some(f), _) => f,
            (None, Some(s)) => s / u64::from(self.files_per_thread()),
            (None, None) => 0,
        }
    }

    /// Bytes of I/O per thread per loop: every file's region once; with `filesize` given,
    /// `size` if given too (fio's total, which may wrap over the files or cover part of them).
    pub fn io_size(&self) -> u64 {
        let regions = self.region_len() * u64::from(self.files_per_thread());
        match (self.filesize, self.size) {
            (Some(_), Some(size)) => size,
            _ => regions,
        }
    }

    /// Size of each file: `offset` plus the region.
    pub fn file_size(&self) -> u64 {
        self.offset.saturating_add(self.region_len())
    }

    /// Whether the random map is in use (random offsets without `norandommap`).
    pub fn uses_random_map(&self) -> bool {
        self.rw.is_random() && !self.norandommap
    }

    /// Check the options fit together; called once the job section is complete.
    fn check(&self) -> Result<(), String> {
        if self.size.is_none() && self.filesize.is_none() {
            return Err("no size: set size= (I/O per thread) or filesize= (per file)".into());
        }
        let raw = self.raw_region_len();
        if self.max_bs() > raw {
            return Err(format!(
                "block size {} is larger than the I/O region of each file ({}): raise size= or filesize=, or lower bs=",
                format_size(self.max_bs()),
                format_size(raw)
            ));
        }
        let region = self.region_len();
        if region < self.block_align() {
            return Err(format!(
                "blockalign {} is larger than the I/O region of each file ({})",
                format_size(self.block_align()),
                format_size(raw)
            ));
        }
        if self.offset.checked_add(region).is_none_or(|end| end > MAX_FILE_SIZE) {
            return Err(format!(
                "each file would reach byte {} (offset {} + region {}), past 16t, the largest file ext4 and \
                 aopsbench support: lower size=, filesize= or offset=",
                self.offset as u128 + region as u128,
                format_size(self.offset),
                format_size(region)
            ));
        }
        if self.control.time_based && self.control.runtime.is_none() {
            return Err("time_based needs runtime= (how long to run)".into());
        }
        if self.control.direct {
            let mut sizes: Vec<u64> = self.used_bs().flat_map(BlockSize::sizes).collect();
            sizes.push(self.block_align());
            sizes.push(self.offset);
            if let Some(bad) = sizes.into_iter().find(|s| s % 512 != 0) {
                return Err(format!(
                    "direct=1 needs block sizes, blockalign and offset in multiples of 512, found {bad}"
                ));
            }
        }
        if self.uses_random_map() && region / self.block_align() > MAX_MAP_BLOCKS {
            return Err(format!(
                "the random map would track {} blocks per file: add norandommap or a larger blockalign",
                region / self.block_align()
            ));
        }
        self.aops.validate("aops_").map_err(|e| e.expected)
    }

    /// The job as a canonical fio section: every option explicit, sizes with exact suffixes.
    /// Reading it back gives the same job (apart from its location and index).
    pub fn to_fio(&self) -> String {
        let mut s = format!("[{}]\n", self.name);
        let mut opt = |k: &str, v: String| {
            let _ = writeln!(s, "{k}={v}");
        };
        let yes = |b: bool| if b { "1".to_string() } else { "0".to_string() };
        if let Some(d) = &self.description {
            opt("description", d.clone());
        }
        if let Some(f) = &self.filename {
            opt("filename", f.clone());
        }
        if let Some(d) = &self.directory {
            opt("directory", d.clone());
        }
        opt("rw", self.rw.fio_name().into());
        opt("rwmixread", self.rwmixread.to_string());
        write_block_sizes(&self.bs, &mut opt);
        let align = |a: Option<u64>| a.map(format_size).unwrap_or_default();
        if self.blockalign.read.is_some() || self.blockalign.write.is_some() {
            opt("blockalign", format!("{},{}", align(self.blockalign.read), align(self.blockalign.write)));
        }
        if let Some(n) = self.size {
            opt("size", format_size(n));
        }
        if let Some(n) = self.filesize {
            opt("filesize", format_size(n));
        }
        opt("offset", format_size(self.offset));
        if self.filename.is_none() {
            opt("nrfiles", self.nrfiles.to_string());
        }
        opt("numjobs", self.numjobs.to_string());
        let c = &self.control;
        opt("ioengine", c.ioengine.fio_name().into());
        opt("iodepth", c.iodepth.to_string());
        opt("direct", yes(c.direct));
        opt("fsync", self.fsync.to_string());
        opt("fdatasync", self.fdatasync.to_string());
        opt("end_fsync", yes(self.end_fsync));
        opt("fsync_on_close", yes(self.fsync_on_close));
        opt("overwrite", yes(self.overwrite));
        opt("fallocate", self.fallocate.fio_name().into());
        opt("create_on_open", yes(self.create_on_open));
        if let Some(t) = c.runtime {
            opt("runtime", format_time(t));
        }
        opt("time_based", yes(c.time_based));
        if let Some(t) = c.ramp_time {
            opt("ramp_time", format_time(t));
        }
        opt("loops", self.loops.to_string());
        opt("randrepeat", yes(self.randrepeat));
        if let Some(seed) = self.randseed {
            opt("randseed", seed.to_string());
        }
        opt(
            "random_distribution",
            match self.random_distribution {
                RandomDistribution::Uniform => "random".into(),
                RandomDistribution::Zipf(t) => format!("zipf:{t}"),
                RandomDistribution::Pareto(h) => format!("pareto:{h}"),
                RandomDistribution::Normal(d) => format!("normal:{d}"),
            },
        );
        opt("norandommap", yes(self.norandommap));
        let rate = |r: Option<u64>| r.map(|n| n.to_string()).unwrap_or_default();
        if c.rate_iops.read.is_some() || c.rate_iops.write.is_some() {
            opt("rate_iops", format!("{},{}", rate(c.rate_iops.read), rate(c.rate_iops.write)));
        }
        opt("thinktime", format_time(c.thinktime));
        opt("stonewall", yes(c.stonewall));
        opt("new_group", yes(c.new_group));
        opt("group_reporting", yes(c.group_reporting));
        opt("percentile_list", c.percentile_list.to_string());
        for (k, v) in self.aops.pairs() {
            opt(&format!("aops_{k}"), v);
        }
        s
    }
}

/// bs=/bsrange=/bssplit= lines for both directions, read back to the same [`BlockSize`]s.
fn write_block_sizes(bs: &PerDir<BlockSize>, opt: &mut impl FnMut(&str, String)) {
    fn text(b: &BlockSize) -> (&'static str, String) {
        match b {
            BlockSize::Fixed(n) => ("bs", format_size(*n)),
            BlockSize::Range { min, max } => ("bsrange", format!("{}-{}", format_size(*min), format_size(*max))),
            BlockSize::Split(v) => {
                let parts: Vec<String> = v
                    .iter()
                    .map(|s| format!("{}/{}", format_size(s.size), s.ppm as f64 / (PPM as f64 / 100.0)))
                    .collect();
                ("bssplit", parts.join(":"))
            }
        }
    }
    let (rk, rv) = text(&bs.read);
    let (wk, wv) = text(&bs.write);
    if rk == wk && rv == wv {
        opt(rk, rv);
    } else {
        opt(rk, format!("{rv},"));
        opt(wk, format!(",{wv}"));
    }
}

/// The jobs of one or more job files and command-line option lists.
#[derive(Clone, Debug, PartialEq)]
pub struct JobFile {
    /// The jobs, in order.
    pub jobs: Vec<Job>,
    /// Unsupported options let through by `--lenient`.
    pub warnings: Vec<JobWarning>,
}

impl JobFile {
    /// Read a job file. `source_name` names it in errors (usually its path); `lenient` turns
    /// unsupported options into [`JobFile::warnings`].
    pub fn parse(text: &str, source_name: &str, lenient: bool) -> Result<JobFile, JobError> {
        JobFileBuilder::new(lenient).text(text, source_name)?.build()
    }

    /// Jobs from fio-style command-line options alone (`--name=x --rw=write --bs=4k ...`).
    pub fn from_args<S: AsRef<str>>(args: &[S], lenient: bool) -> Result<JobFile, JobError> {
        JobFileBuilder::new(lenient).args(args)?.build()
    }
}

/// Reads job files and command-line options in order, the way fio does: options before any
/// `--name` and `[global]` sections set defaults for the jobs after them; each `--name=x` or
/// `[x]` starts a job. Command-line defaults given before a job file apply to its jobs.
#[derive(Debug)]
pub struct JobFileBuilder {
    lenient: bool,
    entries: Vec<Entry>,
    /// The last job file (or "command line") added: named when there are no jobs.
    last_source: String,
}

impl JobFileBuilder {
    /// An empty builder; `lenient` as in [`JobFile::parse`].
    pub fn new(lenient: bool) -> Self {
        JobFileBuilder { lenient, entries: Vec::new(), last_source: "command line".to_string() }
    }

    /// Add fio-style command-line options.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Result<Self, JobError> {
        self.entries.extend(parse::args(args)?);
        self.last_source = "command line".to_string();
        Ok(self)
    }

    /// Add a job file's text; `source_name` names it in errors.
    pub fn text(mut self, text: &str, source_name: &str) -> Result<Self, JobError> {
        self.entries.extend(parse::job_file(text, source_name)?);
        self.last_source = source_name.to_string();
        Ok(self)
    }

    /// Resolve every job.
    pub fn build(self) -> Result<JobFile, JobError> {
        let source_name = self.last_source;
        let mut defaults = Job::fio_defaults();
        defaults.nonce = run_nonce();
        let mut jobs: Vec<Job> = Vec::new();
        let mut warnings = Vec::new();
        // The job being read, or None while reading [global] options.
        let mut current: Option<Job> = None;
        for entry in self.entries {
            match entry {
                Entry::Section { name, at } => {
                    finish(current.take(), &mut jobs)?;
                    if name != GLOBAL {
                        let mut job = defaults.clone();
                        job.name = name;
                        job.index = jobs.len() as u32;
                        job.defined_at = at;
                        current = Some(job);
                    }
                }
                Entry::Option { key, value, at } => {
                    let target = current.as_mut().unwrap_or(&mut defaults);
                    match options::apply(target, &key, value.as_deref()) {
                        Ok(()) => {}
                        Err(options::OptionError::Unsupported { hint }) => {
                            if self.lenient {
                                warnings.push(JobWarning { at, option: key });
                            } else {
                                return Err(JobError::UnsupportedOption { at, option: key, hint });
                            }
                        }
                        Err(options::OptionError::BadValue { expected }) => {
                            return Err(JobError::BadValue {
                                at,
                                option: key,
                                value: value.unwrap_or_default(),
                                expected,
                            });
                        }
                    }
                }
            }
        }
        finish(current, &mut jobs)?;
        if jobs.is_empty() {
            return Err(JobError::NoJobs { source_name });
        }
        Ok(JobFile { jobs, warnings })
    }
}

/// Check a finished job section and add it.
fn finish(job: Option<Job>, jobs: &mut Vec<Job>) -> Result<(), JobError> {
    if let Some(job) = job {
        job.check().map_err(|message| JobError::InvalidJob {
            at: job.defined_at.clone(),
            job: job.name.clone(),
            message,
        })?;
        jobs.push(job);
    }
    Ok(())
}

/// A per-run value for `randrepeat=0` jobs: the clock, mixed.
fn run_nonce() -> u64 {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    crate::rng::splitmix64(now ^ u64::from(std::process::id()))
}
