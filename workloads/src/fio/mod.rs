//! fio job files: parsing, resolution into typed [`Job`]s, and per-thread op streams.
//!
//! Supported options (aliases in parentheses): `name`, `description`, `thread` (accepted; runs
//! are always threads), `filename`, `directory`, `rw` (`readwrite`), `rwmixread`, `rwmixwrite`,
//! `bs` (`blocksize`), `bsrange` (`blocksize_range`), `bssplit`, `blockalign` (`ba`), `size`,
//! `filesize`, `offset`, `nrfiles` (`nr_files`), `numjobs`, `iodepth`, `ioengine` (psync, sync,
//! io_uring, null), `direct`, `buffered`, `fsync`, `fdatasync`, `end_fsync`, `fsync_on_close`,
//! `overwrite`, `fallocate` (none, native, posix, keep, truncate), `create_on_open`, `runtime`
//! (`timeout`), `time_based`, `ramp_time`, `loops`, `randrepeat`, `randseed`,
//! `random_distribution` (random, zipf:θ, pareto:h, normal:σ), `norandommap`, `rate_iops`,
//! `thinktime`, `stonewall` (`wait_for_previous`), `new_group`, `group_reporting`,
//! `percentile_list`, and aopsbench's own `aops_*` options ([`vocab::AopsParams`]).
//!
//! Where this differs from fio: `bs`, `bsrange` and `bssplit` set one thing and the last one
//! given wins (fio lets bssplit win whatever the order); a non-uniform `random_distribution`
//! with the random map on drifts toward uniform as the map fills, as in fio — add
//! `norandommap` for the pure distribution (fio's own zipf example does).

mod dist;
mod error;
mod job;
mod options;
mod parse;
mod plan;
mod randmap;
mod stream;
mod value;

pub use error::{JobError, JobWarning, Location};
pub use job::{
    BlockSize, BsShare, DEFAULT_RANDSEED, IoEngine, Job, JobFile, JobFileBuilder, PerDir, Prealloc, RandomDistribution,
    ReadWrite, RunControl,
};
pub use options::SUPPORTED as SUPPORTED_OPTIONS;
pub use plan::{FileSpec, ThreadPlan};
pub use stream::OpStream;
