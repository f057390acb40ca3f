//! A resolved fio job: every supported option as a typed field, global options inherited.

use std::fmt::Write as _;
use std::time::Duration;

use vocab::{AopsParams, KbBase, LatencyTarget, format_time};

use super::engine_opts::{EngineOptions, NetProtocol};
use super::error::Location;
use super::parse::GLOBAL;
use super::prio::{CmdPrioOptions, JobPrio};
use super::steadystate::SteadyState;
use super::types::{
    BlockSize, BufferFill, ContinueOnError, CpusPolicy, Depth, ExitWhat, FileService, IgnoreError, IoEngine, Latencies,
    Logs, NumaMemPolicy, PerDir, Prealloc, RandomDistribution, RandomGenerator, RateProcess, ReadWrite, RwSequencer,
    Start, Strided, SubmitMode, UringOptions, Verify, VerifyKind, ZoneMode,
};
use super::value::{PPM, format_size};
use crate::buffers::{RunThreads, working_set_blocks};

/// fio's default `percentile_list`.
pub use vocab::FIO_PERCENTILES as DEFAULT_PERCENTILES;

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
    /// `rate=`: cap on bytes per second per direction.
    pub rate: PerDir<Option<u64>>,
    /// `rate_process=`.
    pub rate_process: RateProcess,
    /// `rate_min=` (`ratemin`): the least bytes per second per direction over each
    /// `rate_cycle`, below which the job fails.
    pub rate_min: PerDir<Option<u64>>,
    /// `rate_iops_min=`: the same in I/Os per second (when `rate_min` is not set).
    pub rate_iops_min: PerDir<Option<u64>>,
    /// `rate_cycle=` (`ratecycle`): the window of the minimum rates.
    pub rate_cycle: Duration,
    /// `io_submit_mode=`: the job thread submits its I/O, or a pool of `iodepth` threads does.
    pub submit_mode: SubmitMode,
    /// `thinktime=`: pause after each I/O.
    pub thinktime: Duration,
    /// `ioengine=`.
    pub ioengine: IoEngine,
    /// `iodepth=` and its batching options.
    pub depth: Depth,
    /// io_uring's own options.
    pub uring: UringOptions,
    /// `direct=1` (or `buffered=0`): O_DIRECT.
    pub direct: bool,
    /// `atomic=1`: each write is atomic (`RWF_ATOMIC`), with the engines that can ask for it.
    pub atomic: bool,
    /// `prio=`, `prioclass=`, `priohint=`: the job threads' I/O priority.
    pub prio: JobPrio,
    /// `cmdprio_*` (of `libaio` and `io_uring`): per-I/O priorities.
    pub cmdprio: CmdPrioOptions,
    /// `stonewall`, `new_group`, `wait_for`, `startdelay`, `exitall`.
    pub start: Start,
    /// `group_reporting`: report the job's threads together.
    pub group_reporting: bool,
    /// `thread`: fio's threads rather than processes (aopsbench always runs threads).
    pub thread: bool,
    /// `cpus_allowed=`: the CPUs the job's threads may run on.
    pub cpus_allowed: Option<Vec<usize>>,
    /// `cpus_allowed_policy=`.
    pub cpus_policy: CpusPolicy,
    /// `numa_cpu_nodes=`: the job's threads run on the CPUs of these NUMA nodes.
    pub numa_cpu_nodes: Option<Vec<usize>>,
    /// `numa_mem_policy=`.
    pub numa_mem_policy: NumaMemPolicy,
    /// `continue_on_error=`.
    pub continue_on_error: ContinueOnError,
    /// `ignore_error=`: errnos counted and gone on after, for reads, writes and verifies.
    pub ignore_error: IgnoreError,
    /// `error_dump` (default 1): each error gone on after is also printed, as fio's
    /// `io_u_log_error`.
    pub error_dump: bool,
    /// Which latencies are recorded and reported, and which percentiles (`percentile_list`).
    pub latencies: Latencies,
    /// fio's log files.
    pub logs: Logs,
    /// `flow=`: this job's weight in its flow group (0: not in one; at most 1000, as fio).
    pub flow: u32,
    /// `flow_id=`: the flow group.
    pub flow_id: u32,
    /// `flow_sleep=`: how long a thread held back by its flow waits, after its I/O in flight
    /// completed, before it tries again (zero: it waits until another thread of the flow
    /// issues an I/O).
    pub flow_sleep: Duration,
    /// `steadystate=` and its window: end the job once its throughput or latency settles.
    pub steadystate: SteadyState,
    /// `latency_target`, `latency_window`, `latency_percentile`, `latency_run`: the search
    /// for the highest queue depth that meets a latency target.
    pub latency_target: LatencyTarget,
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
    /// Options of fio's `tiobench` and `act` profiles given in the job (`threads=1`): fio
    /// takes them in any job (its `add_profile_options` puts them among the others), where
    /// they change nothing unless fio runs with `--profile`; kept to echo them.
    pub profile_options: Vec<(String, String)>,
    /// `filename=`: files shared by all threads, `:`-separated; `None`: fio's names.
    pub filename: Option<String>,
    /// `filename_format=`: how files are named (`$jobname`, `$jobnum`, `$filenum`,
    /// `$clientuid`); `None`: `$jobname.$jobnum.$filenum`.
    pub filename_format: Option<String>,
    /// `directory=`: prefix of fio-named files.
    pub directory: Option<String>,
    /// `rw=`.
    pub rw: ReadWrite,
    /// `rw=write:N`: bytes skipped after each sequential I/O (negative: back, as
    /// `rw=read:-8k` reads a file backwards).
    pub rw_seq_add: i64,
    /// `rw=randread:N`: I/Os per new random offset.
    pub rw_seq_nr: u64,
    /// `rw_sequencer=`.
    pub rw_sequencer: RwSequencer,
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
    /// `io_size=` (`io_limit`): bytes of I/O per loop when not the region's size.
    pub io_size: Option<u64>,
    /// `number_ios=`: stop after this many I/Os.
    pub number_ios: Option<u64>,
    /// `offset=`: where the I/O region starts in each file.
    pub offset: u64,
    /// `offset_increment=`: added to `offset` once per thread number.
    pub offset_increment: u64,
    /// `nrfiles=`: files per thread (the count of `filename=` entries when given).
    pub nrfiles: u32,
    /// `openfiles=`: files open at once (default: all).
    pub openfiles: Option<u32>,
    /// `file_service_type=`.
    pub file_service: FileService,
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
    /// `unlink`: remove the job's files when it is done.
    pub unlink: bool,
    /// `invalidate` (default 1): drop the files' cached pages before the job starts.
    pub invalidate: bool,
    /// `fill_device` (`fill_fs`): write until the filesystem is full (ENOSPC ends the job).
    pub fill_device: bool,
    /// `loops=`: passes over the region.
    pub loops: u32,
    /// `randrepeat`: same random sequence every run (fio's default).
    pub randrepeat: bool,
    /// `randseed=`: the seed (overrides randrepeat).
    pub randseed: Option<u64>,
    /// `random_distribution=`.
    pub random_distribution: RandomDistribution,
    /// `random_sequence_stride`: a `sequence` distribution moves on by its length each round.
    pub random_sequence_stride: bool,
    /// `random_generator=`.
    pub random_generator: RandomGenerator,
    /// `norandommap`: random offsets may repeat and need not cover the region.
    pub norandommap: bool,
    /// `zonemode=`.
    pub zonemode: ZoneMode,
    /// `zonesize=`: with `zonemode=strided`, bytes of I/O per zone (0: unset).
    pub zonesize: u64,
    /// `zonerange=`: with `zonemode=strided`, the size of a zone (0: `zonesize`).
    pub zonerange: u64,
    /// `zoneskip=`: with `zonemode=strided`, bytes skipped between zones.
    pub zoneskip: u64,
    /// `kb_base=`: what `k`, `m`, `KiB`, ... mean in this job's sizes.
    pub kb_base: KbBase,
    /// `verify=` and its options.
    pub verify: Verify,
    /// What write buffers hold.
    pub buffers: BufferFill,
    /// Pacing and run control.
    pub control: RunControl,
    /// `aops_*` options: fsimpl's parameters, which a target spec's own override.
    pub aops: AopsParams,
    /// The options of engines that are not read/write I/O (`cpuio`, `exec`, `net`, ...).
    pub engine: EngineOptions,
    /// Per-run seed used when `randrepeat=0` and no `randseed`.
    pub(crate) nonce: u64,
    /// The job file's threads, for `dedupe_global` working sets.
    pub(crate) run_threads: RunThreads,
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
            profile_options: Vec::new(),
            filename: None,
            filename_format: None,
            directory: None,
            rw: ReadWrite::Read,
            rw_seq_add: 0,
            rw_seq_nr: 1,
            rw_sequencer: RwSequencer::Sequential,
            rwmixread: 50,
            bs: PerDir::all(BlockSize::Fixed(4096)),
            blockalign: PerDir::default(),
            size: None,
            filesize: None,
            io_size: None,
            number_ios: None,
            offset: 0,
            offset_increment: 0,
            nrfiles: 1,
            openfiles: None,
            file_service: FileService::default(),
            numjobs: 1,
            fsync: 0,
            fdatasync: 0,
            end_fsync: false,
            fsync_on_close: false,
            overwrite: false,
            fallocate: Prealloc::Native,
            create_on_open: false,
            unlink: false,
            invalidate: true,
            fill_device: false,
            loops: 1,
            randrepeat: true,
            randseed: None,
            random_distribution: RandomDistribution::Uniform,
            random_sequence_stride: false,
            random_generator: RandomGenerator::Tausworthe,
            norandommap: false,
            zonemode: ZoneMode::None,
            zonesize: 0,
            zonerange: 0,
            zoneskip: 0,
            kb_base: KbBase::Binary,
            verify: Verify::default(),
            buffers: BufferFill { scramble: true, compress_chunk: 512, ..BufferFill::default() },
            control: RunControl {
                runtime: None,
                time_based: false,
                ramp_time: None,
                rate_iops: PerDir::default(),
                rate: PerDir::default(),
                rate_process: RateProcess::Linear,
                rate_min: PerDir::default(),
                rate_iops_min: PerDir::default(),
                rate_cycle: Duration::from_millis(1000),
                submit_mode: SubmitMode::Inline,
                thinktime: Duration::ZERO,
                ioengine: IoEngine::Psync,
                depth: Depth {
                    iodepth: 1,
                    batch_submit: 1,
                    batch_complete_min: 1,
                    batch_complete_max: 0,
                    iodepth_low: 0,
                },
                uring: UringOptions::default(),
                direct: false,
                atomic: false,
                prio: JobPrio::default(),
                cmdprio: CmdPrioOptions::default(),
                start: Start::default(),
                group_reporting: false,
                thread: false,
                cpus_allowed: None,
                cpus_policy: CpusPolicy::Shared,
                numa_cpu_nodes: None,
                numa_mem_policy: NumaMemPolicy::Default,
                continue_on_error: ContinueOnError::default(),
                error_dump: true,
                ignore_error: IgnoreError::default(),
                latencies: Latencies::default(),
                logs: Logs { per_job: true, ..Logs::default() },
                flow: 0,
                flow_id: 0,
                flow_sleep: Duration::ZERO,
                steadystate: SteadyState::default(),
                latency_target: LatencyTarget::default(),
            },
            aops: AopsParams::default(),
            engine: EngineOptions::default(),
            nonce: 0,
            run_threads: RunThreads::default(),
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
        self.rw.dirs().map(|d| self.bs.get(d))
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
        self.rw.dirs().filter_map(|d| *self.blockalign.get(d)).min().unwrap_or_else(|| self.min_bs())
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
        if self.fill_device && self.size.is_none() && self.filesize.is_none() {
            // fio's fixup_options sets size to -1 when none is given: as large as a file gets,
            // so the filesystem fills first.
            return MAX_FILE_SIZE - self.offset.min(MAX_FILE_SIZE);
        }
        match (self.filesize, self.size) {
            (Some(f), _) => f,
            (None, Some(s)) => s / u64::from(self.files_per_thread()),
            // cpuio and exec need no size (fio's FIO_NOIO engines): one block, over and over.
            (None, None) if self.control.ioengine.moves_nothing() => self.max_bs(),
            (None, None) => 0,
        }
    }

    /// Bytes of I/O per thread per loop: `io_size` if given; else every file's region once;
    /// with `filesize` given, `size` if given too (fio's total, which may wrap over the files or
    /// cover part of them).
    pub fn io_size(&self) -> u64 {
        if let Some(n) = self.io_size {
            return n;
        }
        let regions = self.region_len() * u64::from(self.files_per_thread());
        match (self.filesize, self.size) {
            (Some(_), Some(size)) => size,
            _ => regions,
        }
    }

    /// Where thread `thread`'s region starts in each file: `offset + offset_increment ×
    /// thread`.
    pub fn thread_offset(&self, thread: u32) -> u64 {
        self.offset.saturating_add(self.offset_increment.saturating_mul(u64::from(thread)))
    }

    /// Size of each file of thread `thread`: its offset plus the region.
    pub fn thread_file_size(&self, thread: u32) -> u64 {
        self.thread_offset(thread).saturating_add(self.region_len())
    }

    /// Size of each file (of the last thread, the largest): offset plus the region.
    pub fn file_size(&self) -> u64 {
        self.thread_file_size(self.numjobs.saturating_sub(1))
    }

    /// Whether the random map is in use (random offsets without `norandommap`, not a
    /// `sequence`, whose blocks come as listed).
    pub fn uses_random_map(&self) -> bool {
        self.rw.is_random() && !self.norandommap && !matches!(self.random_distribution, RandomDistribution::Sequence(_))
    }

    /// The strided zones the job's offsets follow, as fio's `fixup_options` resolves them:
    /// `zonemode=strided` with `zonerange` defaulting to `zonesize`, and none when more than
    /// one file is open at once (`openfiles` above 1: strided works on one file in fio).
    pub fn strided(&self) -> Option<Strided> {
        let one_open = self.openfiles.is_none_or(|n| n <= 1);
        (self.zonemode == ZoneMode::Strided && self.zonesize > 0 && one_open).then_some(Strided {
            size: self.zonesize,
            range: if self.zonerange == 0 { self.zonesize } else { self.zonerange },
            skip: self.zoneskip,
        })
    }

    /// What the engines' own `init` refuse in fio (engines/cpu.c, exec.c, net.c, e4defrag.c,
    /// page_fault.c), and what fio's `check_engine_ops` refuses under `io_submit_mode=offload`.
    fn check_engine(&self) -> Result<(), String> {
        let e = &self.engine;
        match self.control.ioengine {
            IoEngine::IoUring if self.control.submit_mode == SubmitMode::Offload => {
                // fio's FIO_NO_OFFLOAD: "io_uring: can't be used with offloaded submit".
                Err("ioengine=io_uring cannot be used with io_submit_mode=offload, as in fio: use a synchronous \
                     engine, libaio or posixaio"
                    .into())
            }
            engine @ (IoEngine::Sync | IoEngine::Vsync) if self.control.submit_mode == SubmitMode::Offload => {
                Err(format!(
                    "ioengine={} seeks the file's one shared offset before each read or write: the threads of \
                     io_submit_mode=offload would race on it (as fio's do); use psync or pvsync",
                    engine.fio_name()
                ))
            }
            engine if self.control.submit_mode == SubmitMode::Offload && !engine.is_read_write() => Err(format!(
                "io_submit_mode=offload hands reads and writes to submitting threads; ioengine={} does work of its \
                 own: use io_submit_mode=inline",
                engine.fio_name()
            )),
            IoEngine::Cpuio if e.cpu.load == 0 => Err("ioengine=cpuio needs cpuload= (percent of a CPU to use)".into()),
            IoEngine::Exec if e.exec.program.is_none() => Err("ioengine=exec needs program= (what to run)".into()),
            IoEngine::E4defrag if e.defrag.donorname.as_deref().is_none_or(str::is_empty) => {
                Err("ioengine=e4defrag needs donorname= (the donor file)".into())
            }
            IoEngine::PageFault if self.files_per_thread() > 1 => {
                Err("ioengine=page_fault maps one region: nrfiles and filename= name one file".into())
            }
            IoEngine::PageFault if self.offset != 0 => Err("ioengine=page_fault does not take offset=".into()),
            IoEngine::Net => self.check_net(),
            // fio's fixup_options: only engines with FIO_ATOMICWRITES.
            e if self.control.atomic && !matches!(e, IoEngine::Pvsync2 | IoEngine::IoUring | IoEngine::Libaio) => {
                Err(format!(
                    "atomic=1: ioengine={} does not support atomic writes (as in fio): use pvsync2, io_uring or libaio",
                    e.fio_name()
                ))
            }
            _ => Ok(()),
        }?;
        let cmdprio = &self.control.cmdprio;
        if let Some(first) = cmdprio.given().first()
            && !matches!(self.control.ioengine, IoEngine::Libaio | IoEngine::IoUring)
        {
            // fio: "Bad option <cmdprio_percentage=20>": the engine has no such option.
            return Err(format!(
                "{first} is an option of ioengine=libaio and io_uring (fio's cmdprio), not of ioengine={}: fio \
                 refuses it too (Bad option)",
                self.control.ioengine.fio_name()
            ));
        }
        cmdprio.check()
    }

    /// fio 3.33's `fixup_options` checks of the zone options, and what strided zones need.
    fn check_zones(&self) -> Result<(), String> {
        match (self.zonemode, self.zonesize) {
            (ZoneMode::None, n) if n > 0 => {
                return Err("zonesize needs zonemode=strided (fio 3.33 refuses zonesize with zonemode=none, the \
                            default)"
                    .into());
            }
            (ZoneMode::Strided, 0) => return Err("zonemode=strided needs zonesize= (bytes of I/O per zone)".into()),
            _ => {}
        }
        let Some(z) = self.strided() else { return Ok(()) };
        if self.rw.is_random() && self.random_distribution != RandomDistribution::Uniform {
            return Err(format!(
                "zonemode=strided draws random offsets uniformly within each zone: use random_distribution=random, \
                 not {} (fio draws it over the whole file, past the zone)",
                distribution_text(&self.random_distribution)
            ));
        }
        if self.rw.is_random() && z.range < self.block_align() {
            return Err(format!(
                "zonemode=strided: random offsets need a zone of at least one block ({}), and zonerange is {}",
                format_size(self.block_align()),
                format_size(z.range)
            ));
        }
        if self.control.direct
            && let Some(bad) = [z.range, z.skip].into_iter().find(|s| s % 512 != 0)
        {
            return Err(format!("direct=1 needs zonerange and zoneskip in multiples of 512, found {bad}"));
        }
        Ok(())
    }

    /// fio's `fio_netio_init` checks.
    fn check_net(&self) -> Result<(), String> {
        let n = &self.engine.net;
        if self.rw.is_random() {
            return Err("ioengine=net cannot do random I/O: use rw=read or rw=write".into());
        }
        match n.protocol {
            NetProtocol::Unix if n.port != 0 => return Err("ioengine=net protocol=unix takes no port=".into()),
            NetProtocol::Unix => {}
            _ if n.port == 0 => return Err(format!("ioengine=net protocol={} needs port=", n.protocol.fio_name())),
            _ => {}
        }
        let stream = matches!(n.protocol, NetProtocol::Tcp | NetProtocol::TcpV6 | NetProtocol::Vsock);
        if !stream {
            if n.listen {
                return Err("listen is for protocol=tcp, tcpv6 or vsock (a udp or unix reader listens anyway)".into());
            }
            if self.rw.reads() && self.rw.writes() {
                return Err(format!(
                    "ioengine=net protocol={}: a datagram job either reads or writes, not both",
                    n.protocol.fio_name()
                ));
            }
            if n.protocol == NetProtocol::Unix && n.hostname.is_none() {
                return Err("ioengine=net protocol=unix needs hostname= (the socket's path)".into());
            }
        } else if !n.listen && n.hostname.is_none() {
            return Err("ioengine=net needs hostname= (the peer) or listen".into());
        }
        if self.rw.trims() {
            return Err("ioengine=net reads or writes; it cannot trim".into());
        }
        Ok(())
    }

    /// Check the options fit together; called once the job section is complete.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.check_engine()?;
        let sizeless = self.control.ioengine.moves_nothing();
        if self.size.is_none() && self.filesize.is_none() && !self.fill_device && !sizeless {
            return Err("no size: set size= (I/O per thread) or filesize= (per file)".into());
        }
        if self.fill_device && (self.rw.is_random() || !self.rw.writes()) {
            return Err("fill_device writes sequentially until the filesystem is full: use rw=write".into());
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
        let last = self.thread_offset(self.numjobs.saturating_sub(1));
        if last.checked_add(region).is_none_or(|end| end > MAX_FILE_SIZE) {
            return Err(format!(
                "each file would reach byte {} (offset {} + region {}), past 16t, the largest file ext4 and \
                 aopsbench support: lower size=, filesize=, offset= or offset_increment=",
                last as u128 + region as u128,
                format_size(last),
                format_size(region)
            ));
        }
        self.check_zones()?;
        if self.control.time_based && self.control.runtime.is_none() {
            return Err("time_based needs runtime= (how long to run)".into());
        }
        if self.control.direct {
            let mut sizes: Vec<u64> = self.used_bs().flat_map(BlockSize::sizes).collect();
            sizes.push(self.block_align());
            sizes.push(self.offset);
            sizes.push(self.offset_increment);
            if let Some(bad) = sizes.into_iter().find(|s| s % 512 != 0) {
                return Err(format!(
                    "direct=1 needs block sizes, blockalign and offset in multiples of 512, found {bad}"
                ));
            }
        }
        if let RandomDistribution::Sequence(blocks) = &self.random_distribution
            && let Some(b) = blocks.iter().find(|&&b| u64::from(b) >= region / self.block_align())
        {
            // fio: "sequence access block ... out of bounds".
            return Err(format!(
                "random_distribution=sequence: block {b} is past the {} blocks of {} in each file's region",
                region / self.block_align(),
                format_size(self.block_align())
            ));
        }
        if self.uses_random_map() && region / self.block_align() > MAX_MAP_BLOCKS {
            return Err(format!(
                "the random map would track {} blocks per file: add norandommap or a larger blockalign",
                region / self.block_align()
            ));
        }
        let v = &self.verify;
        if v.kind == VerifyKind::Pattern && v.pattern.is_none() {
            return Err("verify=pattern needs verify_pattern= (the bytes to write and check)".into());
        }
        if v.enabled() && self.rw.trims() {
            return Err("verify does not go with trims: trimmed blocks read back as zeros".into());
        }
        if v.only && !v.enabled() {
            return Err("verify_only needs verify= (how the data was written)".into());
        }
        if let Some(i) = v.interval
            && self.used_bs().flat_map(BlockSize::sizes).any(|s| s % i != 0)
        {
            return Err(format!("verify_interval={} must divide every block size", format_size(i)));
        }
        if self.fill_device && self.control.time_based {
            return Err("fill_device writes until the filesystem is full: leave out time_based".into());
        }
        self.control.steadystate.check()?;
        self.check_dedupe()?;
        self.aops.validate("aops_").map_err(|e| e.expected)
    }

    /// fio's `fixup_options` checks of a dedupe working set, and one of aopsbench's own: a
    /// working set of no blocks (fio would draw from an empty array).
    fn check_dedupe(&self) -> Result<(), String> {
        let d = &self.buffers.dedupe;
        if !d.uses_working_set() {
            return Ok(());
        }
        if self.size.is_none() {
            return Err(
                "dedupe_mode=working_set needs size=: the working set is dedupe_working_set_percentage of it".into()
            );
        }
        let files = self.files_per_thread();
        if files != 1 {
            return Err(format!(
                "dedupe_mode=working_set works on one file per job, not {files}: set nrfiles=1 or one filename="
            ));
        }
        if d.working_set_percentage + d.percentage > 100 {
            return Err(format!(
                "dedupe_percentage={} cannot be reached: the working set (dedupe_working_set_percentage={} of size=) \
                 is written as unique blocks too, and the two add up to {}, over 100: lower either",
                d.percentage,
                d.working_set_percentage,
                d.percentage + d.working_set_percentage
            ));
        }
        if working_set_blocks(self) == 0 {
            return Err(format!(
                "dedupe_working_set_percentage={} of size={} is less than one {} block, so the working set would be \
                 empty: raise dedupe_working_set_percentage or size=",
                d.working_set_percentage,
                format_size(self.size.unwrap_or(0)),
                format_size(self.bs.write.min())
            ));
        }
        Ok(())
    }

    /// The job as a canonical fio section: every basic option explicit, the others when not
    /// fio's default, sizes with exact suffixes at fio's default `kb_base=1024` (so `kb_base`
    /// itself is not written). Reading it back gives the same job (apart from its location,
    /// index and `kb_base`).
    pub fn to_fio(&self) -> String {
        let mut s = format!("[{}]\n", self.name);
        let mut opt = |k: &str, v: String| {
            let _ = writeln!(s, "{k}={v}");
        };
        let yes = |b: bool| if b { "1".to_string() } else { "0".to_string() };
        let d = Job::fio_defaults();
        if let Some(desc) = &self.description {
            opt("description", desc.clone());
        }
        for (k, v) in &self.profile_options {
            opt(k, v.clone());
        }
        if let Some(f) = &self.filename {
            opt("filename", f.clone());
        }
        if let Some(f) = &self.filename_format {
            opt("filename_format", f.clone());
        }
        if let Some(dir) = &self.directory {
            opt("directory", dir.clone());
        }
        let modifier = match (self.rw.is_random(), self.rw_seq_nr, self.rw_seq_add) {
            (true, n, _) if n > 1 => format!(":{n}"),
            (false, _, add) if add > 0 => format!(":{}", format_size(add as u64)),
            (false, _, add) if add < 0 => format!(":-{}", format_size(add.unsigned_abs())),
            _ => String::new(),
        };
        opt("rw", format!("{}{modifier}", self.rw.fio_name()));
        if self.rw_sequencer == RwSequencer::Identical {
            opt("rw_sequencer", "identical".into());
        }
        opt("rwmixread", self.rwmixread.to_string());
        write_block_sizes(&self.bs, &mut opt);
        let align = |a: Option<u64>| a.map(format_size).unwrap_or_default();
        if self.blockalign != PerDir::default() {
            opt(
                "blockalign",
                format!(
                    "{},{},{}",
                    align(self.blockalign.read),
                    align(self.blockalign.write),
                    align(self.blockalign.trim)
                ),
            );
        }
        if let Some(n) = self.size {
            opt("size", format_size(n));
        }
        if let Some(n) = self.filesize {
            opt("filesize", format_size(n));
        }
        if let Some(n) = self.io_size {
            opt("io_size", format_size(n));
        }
        if let Some(n) = self.number_ios {
            opt("number_ios", n.to_string());
        }
        opt("offset", format_size(self.offset));
        if self.offset_increment > 0 {
            opt("offset_increment", format_size(self.offset_increment));
        }
        if self.filename.is_none() {
            opt("nrfiles", self.nrfiles.to_string());
        }
        if let Some(n) = self.openfiles {
            opt("openfiles", n.to_string());
        }
        if self.file_service != d.file_service {
            opt("file_service_type", file_service_text(self.file_service));
        }
        opt("numjobs", self.numjobs.to_string());
        let c = &self.control;
        opt("ioengine", c.ioengine.fio_name().into());
        for (k, v) in self.engine.to_fio() {
            opt(k, v);
        }
        opt("iodepth", c.depth.iodepth.to_string());
        let dd = &d.control.depth;
        for (k, v, default) in [
            ("iodepth_batch_submit", c.depth.batch_submit, dd.batch_submit),
            ("iodepth_batch_complete_min", c.depth.batch_complete_min, dd.batch_complete_min),
            ("iodepth_batch_complete_max", c.depth.batch_complete_max, dd.batch_complete_max),
            ("iodepth_low", c.depth.iodepth_low, dd.iodepth_low),
        ] {
            if v != default {
                opt(k, v.to_string());
            }
        }
        for (k, v) in [
            ("fixedbufs", c.uring.fixedbufs),
            ("registerfiles", c.uring.registerfiles),
            ("sqthread_poll", c.uring.sqthread_poll),
            ("hipri", c.uring.hipri),
        ] {
            if v {
                opt(k, "1".into());
            }
        }
        opt("direct", yes(c.direct));
        if c.atomic {
            opt("atomic", "1".into());
        }
        for (k, v) in [
            ("prioclass", c.prio.class.map(u16::from)),
            ("prio", c.prio.level.map(u16::from)),
            ("priohint", c.prio.hint),
        ] {
            if let Some(v) = v {
                opt(k, v.to_string());
            }
        }
        for (k, v) in c.cmdprio.to_fio() {
            opt(k, v);
        }
        opt("fsync", self.fsync.to_string());
        opt("fdatasync", self.fdatasync.to_string());
        opt("end_fsync", yes(self.end_fsync));
        opt("fsync_on_close", yes(self.fsync_on_close));
        opt("overwrite", yes(self.overwrite));
        opt("fallocate", self.fallocate.fio_name().into());
        opt("create_on_open", yes(self.create_on_open));
        for (k, v, default) in [
            ("unlink", self.unlink, d.unlink),
            ("invalidate", self.invalidate, d.invalidate),
            ("fill_device", self.fill_device, d.fill_device),
        ] {
            if v != default {
                opt(k, yes(v));
            }
        }
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
        opt("random_distribution", distribution_text(&self.random_distribution));
        if self.random_sequence_stride {
            opt("random_sequence_stride", "1".into());
        }
        if self.random_generator != d.random_generator {
            opt("random_generator", self.random_generator.fio_name().into());
        }
        opt("norandommap", yes(self.norandommap));
        if self.zonemode != ZoneMode::None {
            opt("zonemode", self.zonemode.fio_name().into());
        }
        for (k, v) in [("zonesize", self.zonesize), ("zonerange", self.zonerange), ("zoneskip", self.zoneskip)] {
            if v > 0 {
                opt(k, format_size(v));
            }
        }
        let rate = |r: Option<u64>| r.map(|n| n.to_string()).unwrap_or_default();
        if c.rate_iops != PerDir::default() {
            opt(
                "rate_iops",
                format!("{},{},{}", rate(c.rate_iops.read), rate(c.rate_iops.write), rate(c.rate_iops.trim)),
            );
        }
        if c.rate != PerDir::default() {
            opt("rate", format!("{},{},{}", rate(c.rate.read), rate(c.rate.write), rate(c.rate.trim)));
        }
        if c.rate_process == RateProcess::Poisson {
            opt("rate_process", "poisson".into());
        }
        if c.rate_min != PerDir::default() {
            opt("rate_min", format!("{},{},{}", rate(c.rate_min.read), rate(c.rate_min.write), rate(c.rate_min.trim)));
        }
        if c.rate_iops_min != PerDir::default() {
            let m = c.rate_iops_min;
            opt("rate_iops_min", format!("{},{},{}", rate(m.read), rate(m.write), rate(m.trim)));
        }
        if c.rate_cycle != d.control.rate_cycle {
            opt("rate_cycle", c.rate_cycle.as_millis().to_string());
        }
        if c.submit_mode == SubmitMode::Offload {
            opt("io_submit_mode", "offload".into());
        }
        opt("thinktime", format_time(c.thinktime));
        opt("stonewall", yes(c.start.stonewall));
        opt("new_group", yes(c.start.new_group));
        if let Some(w) = &c.start.wait_for {
            opt("wait_for", w.clone());
        }
        if c.start.delay != (Duration::ZERO, Duration::ZERO) {
            let (lo, hi) = c.start.delay;
            let text = if lo == hi { format_time(lo) } else { format!("{}-{}", format_time(lo), format_time(hi)) };
            opt("startdelay", text);
        }
        if c.start.exitall {
            opt("exitall", "1".into());
        }
        if c.start.exit_what != ExitWhat::Group {
            opt("exit_what", c.start.exit_what.fio_name().into());
        }
        opt("group_reporting", yes(c.group_reporting));
        if c.thread {
            opt("thread", "1".into());
        }
        if let Some(cpus) = &c.cpus_allowed {
            opt("cpus_allowed", cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
        }
        if c.cpus_policy == CpusPolicy::Split {
            opt("cpus_allowed_policy", "split".into());
        }
        if let Some(nodes) = &c.numa_cpu_nodes {
            opt("numa_cpu_nodes", nodes.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
        }
        if c.numa_mem_policy != NumaMemPolicy::Default {
            opt("numa_mem_policy", c.numa_mem_policy.fio_text());
        }
        if !c.error_dump {
            opt("error_dump", "0".into());
        }
        let e = c.continue_on_error;
        match (e.read, e.write, e.verify) {
            (false, false, false) => {}
            (true, false, false) => opt("continue_on_error", "read".into()),
            (false, true, false) => opt("continue_on_error", "write".into()),
            (true, true, false) => opt("continue_on_error", "io".into()),
            (false, false, true) => opt("continue_on_error", "verify".into()),
            (true, true, true) => opt("continue_on_error", "all".into()),
            // Not one of fio's values: the nearest it has.
            (_, _, true) => opt("continue_on_error", "all".into()),
        }
        if c.ignore_error != IgnoreError::default() {
            let list = |v: &Vec<i32>| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            opt(
                "ignore_error",
                format!(
                    "{}:{}:{}",
                    list(&c.ignore_error.read),
                    list(&c.ignore_error.write),
                    list(&c.ignore_error.verify)
                ),
            );
        }
        let (l, dl) = (&c.latencies, &d.control.latencies);
        for (k, v, default) in [
            ("disable_slat", !l.slat, !dl.slat),
            ("disable_clat", !l.clat, !dl.clat),
            ("disable_lat", !l.lat, !dl.lat),
            ("clat_percentiles", l.clat_percentiles, dl.clat_percentiles),
            ("lat_percentiles", l.lat_percentiles, dl.lat_percentiles),
        ] {
            if v != default {
                opt(k, yes(v));
            }
        }
        opt("percentile_list", l.percentile_list.to_string());
        let (lt, dlt) = (&c.latency_target, &d.control.latency_target);
        for (k, v, default) in [("latency_target", lt.target, dlt.target), ("latency_window", lt.window, dlt.window)] {
            if v != default {
                opt(k, format_time(v));
            }
        }
        if lt.percentile != dlt.percentile {
            opt("latency_percentile", lt.percentile.to_string());
        }
        if lt.run {
            opt("latency_run", "1".into());
        }
        let logs = &c.logs;
        for (k, v) in [
            ("write_lat_log", &logs.lat),
            ("write_bw_log", &logs.bw),
            ("write_iops_log", &logs.iops),
            ("write_hist_log", &logs.hist),
        ] {
            if let Some(v) = v {
                opt(k, v.clone());
            }
        }
        if logs.avg_msec > 0 {
            opt("log_avg_msec", logs.avg_msec.to_string());
        }
        if logs.hist_msec > 0 {
            opt("log_hist_msec", logs.hist_msec.to_string());
        }
        if !logs.per_job {
            opt("per_job_logs", "0".into());
        }
        if logs.offset {
            opt("log_offset", "1".into());
        }
        if logs.prio {
            opt("log_prio", "1".into());
        }
        if c.flow != 0 {
            opt("flow", c.flow.to_string());
        }
        if c.flow_id != 0 {
            opt("flow_id", c.flow_id.to_string());
        }
        if !c.flow_sleep.is_zero() {
            opt("flow_sleep", c.flow_sleep.as_micros().to_string());
        }
        for (k, v) in c.steadystate.fio_options() {
            opt(k, v);
        }
        let v = &self.verify;
        if v.enabled() {
            opt("verify", v.kind.fio_name().into());
        }
        if let Some(p) = &v.pattern {
            opt("verify_pattern", hex(p));
        }
        if let Some(i) = v.interval {
            opt("verify_interval", format_size(i));
        }
        if v.backlog > 0 {
            opt("verify_backlog", v.backlog.to_string());
        }
        if v.fatal {
            opt("verify_fatal", "1".into());
        }
        if !v.do_verify {
            opt("do_verify", "0".into());
        }
        if v.only {
            opt("verify_only", "1".into());
        }
        if v.dump {
            opt("verify_dump", "1".into());
        }
        if v.async_threads > 0 {
            opt("verify_async", v.async_threads.to_string());
        }
        if !v.write_sequence {
            opt("verify_write_sequence", "0".into());
        }
        let b = &self.buffers;
        if let Some(p) = &b.pattern {
            opt("buffer_pattern", hex(p));
        }
        if let Some(refill) = b.refill {
            opt("refill_buffers", yes(refill));
        }
        if !b.scramble {
            opt("scramble_buffers", "0".into());
        }
        if b.compress_percentage > 0 {
            opt("buffer_compress_percentage", b.compress_percentage.to_string());
        }
        if b.compress_chunk != d.buffers.compress_chunk {
            opt("buffer_compress_chunk", format_size(b.compress_chunk));
        }
        let (dd, ddef) = (&b.dedupe, &d.buffers.dedupe);
        if dd.percentage > 0 {
            opt("dedupe_percentage", dd.percentage.to_string());
        }
        if dd.mode != ddef.mode {
            opt("dedupe_mode", dd.mode.fio_name().into());
        }
        if dd.working_set_percentage != ddef.working_set_percentage {
            opt("dedupe_working_set_percentage", dd.working_set_percentage.to_string());
        }
        if dd.global {
            opt("dedupe_global", "1".into());
        }
        for (k, v) in self.aops.pairs() {
            opt(&format!("aops_{k}"), v);
        }
        s
    }
}

/// `0x` and the bytes in hexadecimal, as `verify_pattern` and `buffer_pattern` read them back.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `random_distribution=` as it reads back.
fn distribution_text(d: &RandomDistribution) -> String {
    let zones = |z: &[super::types::Zone], abs: bool| {
        z.iter()
            .map(|z| {
                let size = if abs { format_size(z.size) } else { ppm_text(z.size) };
                format!("{}/{size}", ppm_text(z.access_ppm))
            })
            .collect::<Vec<_>>()
            .join(":")
    };
    match d {
        RandomDistribution::Uniform => "random".into(),
        RandomDistribution::Zipf { theta, center: None } => format!("zipf:{theta}"),
        RandomDistribution::Zipf { theta, center: Some(c) } => format!("zipf:{theta}:{c}"),
        RandomDistribution::Pareto { h, center: None } => format!("pareto:{h}"),
        RandomDistribution::Pareto { h, center: Some(c) } => format!("pareto:{h}:{c}"),
        RandomDistribution::Normal { dev, center } => format!("normal:{dev}:{center}"),
        RandomDistribution::Zoned(z) => format!("zoned:{}", zones(z, false)),
        RandomDistribution::ZonedAbs(z) => format!("zoned_abs:{}", zones(z, true)),
        RandomDistribution::Sequence(b) => {
            format!("sequence:{}", b.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
        }
    }
}

/// Parts per million as a percentage.
fn ppm_text(ppm: u64) -> String {
    (ppm as f64 / (PPM as f64 / 100.0)).to_string()
}

/// `file_service_type=` as it reads back.
fn file_service_text(f: FileService) -> String {
    match f {
        FileService::RoundRobin(n) => format!("roundrobin:{n}"),
        FileService::Sequential(n) => format!("sequential:{n}"),
        FileService::Random(n) => format!("random:{n}"),
        FileService::Zipf(t) => format!("zipf:{t}"),
        FileService::Pareto(h) => format!("pareto:{h}"),
        FileService::Normal(s) => format!("normal:{s}"),
    }
}

/// bs=/bsrange=/bssplit= lines for every direction, read back to the same [`BlockSize`]s.
fn write_block_sizes(bs: &PerDir<BlockSize>, opt: &mut impl FnMut(&str, String)) {
    fn text(b: &BlockSize) -> (&'static str, String) {
        match b {
            BlockSize::Fixed(n) => ("bs", format_size(*n)),
            BlockSize::Range { min, max } => ("bsrange", format!("{}-{}", format_size(*min), format_size(*max))),
            BlockSize::Split(v) => {
                let parts: Vec<String> =
                    v.iter().map(|s| format!("{}/{}", format_size(s.size), ppm_text(s.ppm))).collect();
                ("bssplit", parts.join(":"))
            }
        }
    }
    let all = [text(&bs.read), text(&bs.write), text(&bs.trim)];
    if all.iter().all(|t| *t == all[0]) {
        let (k, v) = all[0].clone();
        opt(k, v);
        return;
    }
    for (i, (k, v)) in all.into_iter().enumerate() {
        let mut parts = [String::new(), String::new(), String::new()];
        parts[i] = v;
        opt(k, parts.join(","));
    }
}
