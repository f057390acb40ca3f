//! fio job files: parsing, resolution into typed [`Job`]s, and per-thread op streams.
//!
//! The language is fio's (`parse`, `subst`): `[global]` and job sections, comments (also after
//! a value: `numjobs=4 ; four threads`), `include FILE`, `${VAR}` from the environment, the
//! keywords `$pagesize`, `$mb_memory`, `$ncpus`, arithmetic in parentheses (`(1+2)*4k`),
//! `kb_base`, every size and time suffix fio takes. Every problem of a file is listed (file:line
//! each); an option fio has and aopsbench does not is told apart from an unknown one, and "did
//! you mean" is offered only for a close option of the same kind that takes the value given.
//!
//! Supported options: [`supported_options`] (fio's names and aliases, and aopsbench's own `aops_*`
//! options, [`vocab::AopsParams`]). Among them: `rw` with modifiers (`randread:8`, `write:4k`) and
//! `rw_sequencer`, trims (`trim`, `randtrim`, `trimwrite`, `randtrimwrite`: punch hole, as fio on
//! files), per-direction `bs`/`bsrange`/`bssplit` with a trim part, `random_distribution` (`zipf`,
//! `pareto`, `normal`/`gauss` with a center, `zoned`, `zoned_abs`), `random_generator`,
//! `zonemode=strided` with `zonesize`/`zonerange`/`zoneskip` (`zbd` is refused: it needs a zoned
//! block device), `io_size`, `number_ios`, `filename_format`, `openfiles`, `file_service_type`,
//! `offset_increment`, the engines (`sync`, `psync`, `vsync`, `pvsync`, `pvsync2`, `posixaio`,
//! `mmap`, `libaio`, `io_uring`, `null`) with `iodepth` and its batch options,
//! `rate`/`rate_iops`/`rate_process`/`rate_min`/`rate_iops_min`/`rate_cycle`, `io_submit_mode`,
//! `stonewall`/`new_group`/`wait_for`/`startdelay`/`exitall`/`exit_what`, `cpus_allowed(_policy)`,
//! I/O priorities (`prio`, `prioclass`, `priohint`, and `cmdprio_*` of `libaio` and `io_uring`),
//! `continue_on_error`/`ignore_error`, the latency switches, the latency target search
//! (`latency_target`, `latency_window`, `latency_percentile`, `latency_run`), fio's log files,
//! `flow`, `verify` and its options, and the buffer-content options (`buffer_pattern`,
//! `refill_buffers`, `scramble_buffers`, `buffer_compress_*`, `dedupe_percentage`, `dedupe_mode`,
//! `dedupe_working_set_percentage`, `dedupe_global`: see [`crate::buffers`]), and steady-state
//! detection (`steadystate`/`ss`, `ss_dur`, `ss_ramp`, `ss_interval`: [`SteadyState`]).
//!
//! Where this differs from fio: `bs`, `bsrange` and `bssplit` set one thing and the last one
//! given wins (fio lets bssplit win whatever the order); a non-uniform `random_distribution`
//! with the random map on drifts toward uniform as the map fills, as in fio — add
//! `norandommap` for the pure distribution (fio's own zipf example does); every random choice
//! comes from ChaCha8 whatever `random_generator` says (a note says so); an unset `${VAR}` is
//! an error rather than an empty value; a latency limit with a unit (`ss=lat:200us`) is that
//! time, where fio 3.42 reads it as that many nanoseconds (a bare number is nanoseconds in both);
//! `zonemode=strided` with random offsets takes only the uniform distribution (fio draws the
//! others over the whole file, past the zone).

mod dist;
mod engine_opts;
mod error;
mod file;
mod fio_names;
mod job;
mod options;
mod parse;
mod plan;
mod prio;
mod randmap;
mod steadystate;
mod stream;
mod subst;
mod types;
mod value;

pub use engine_opts::{
    CpuMode, CpuOptions, DefragOptions, EngineOptions, ExecOptions, NetOptions, NetProtocol, StatType,
};
pub use error::{JobError, JobWarning, Location};
pub use file::{JobFile, JobFileBuilder};
pub use job::{DEFAULT_PERCENTILES, DEFAULT_RANDSEED, Job, RunControl};
pub use options::supported as supported_options;
pub use plan::{FileSpec, ThreadPlan};
pub use prio::{
    BsPrio, CmdPrio, CmdPrioOptions, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_RT, IOPRIO_MAX_PRIO_HINT, IoPrio,
    IoPrioChoice, JobPrio, ThreadPrio,
};
pub use steadystate::{SsLimit, SsMetric, SteadyState};
pub use stream::{Io, OpStream};
pub use subst::HostFacts;
pub use types::{
    BlockSize, BsShare, BufferFill, ContinueOnError, CpusPolicy, Dedupe, DedupeMode, Depth, Dir, EngineFiles,
    ErrorType, ExitWhat, FileService, IgnoreError, IoEngine, Latencies, Logs, NamesSetup, NumaMemPolicy, PerDir,
    Prealloc, RandomDistribution, RandomGenerator, RateProcess, ReadWrite, RwSequencer, Start, Strided, SubmitMode,
    UringOptions, Verify, VerifyKind, Zone, ZoneMode,
};
