//! Workloads for aopsbench: fio job files, fsx-style op mixes, deterministic op streams and op
//! traces. Every target runs the same [`Op`]s, so a run repeats exactly and two targets can be
//! compared op by op.
//!
//! - [`fio`]: [`JobFile::parse`] reads fio's job-file syntax (and fio-style command-line
//!   options through [`JobFileBuilder`]) into typed [`Job`]s; [`Job::threads`] gives each job
//!   thread its files, its layout ops and its measured [`OpStream`] (ChaCha8, seeded from
//!   randseed, job and thread).
//! - [`fsx`]: [`FsxConfig::stream`] generates the fsx-style random mix of reads, writes,
//!   truncates, fallocate modes, fsyncs, remounts and cache drops, biased toward EOF and block
//!   and folio boundaries; [`Mix::Swarm`] varies the mix phase by phase ([`swarm`]).
//! - [`pattern`]: the bytes a write puts down, fsx style, so a wrong byte names its writer.
//! - [`trace`]: ops as JSON lines; [`fsxops`]: import of xfstests fsx `.fsxops` logs.
//! - [`jobs`]: the job files shipped in `workloads/jobs/`.
//! - [`verify`]: what a `verify=` job writes and how its reads are checked.
//! - [`buffers`]: what the other jobs' writes hold: fio's random, compressible and
//!   deduplicable buffers.
//!
//! ```
//! use workloads::{JobFile, Op};
//!
//! let text = "[global]\nsize=1m\n\n[rand]\nrw=randwrite\nbs=4k\nfsync=64\n";
//! let file = JobFile::parse(text, "example.fio", false)?;
//! let plan = file.jobs[0].threads().remove(0);
//! assert_eq!(plan.files[0].name, "rand.0.0");
//!
//! // 256 random 4k writes cover the 1 MiB file once, with an fsync after every 64th.
//! let ops: Vec<Op> = plan.ops.collect();
//! let writes = ops.iter().filter(|op| matches!(op, Op::Write { .. })).count();
//! let fsyncs = ops.iter().filter(|op| matches!(op, Op::Fsync { .. })).count();
//! assert_eq!((writes, fsyncs), (256, 4));
//!
//! // The same job file gives the same stream.
//! let again: Vec<Op> = JobFile::parse(text, "example.fio", false)?.jobs[0].threads().remove(0).ops.collect();
//! assert_eq!(ops, again);
//! # Ok::<(), workloads::JobError>(())
//! ```
#![deny(missing_docs)]

pub mod buffers;
pub mod fio;
pub mod fsx;
pub mod fsxops;
pub mod jobs;
mod op;
pub mod pattern;
mod rng;
pub mod swarm;
mod text;
pub mod trace;
pub mod verify;

pub use fio::{FileSpec, Job, JobError, JobFile, JobFileBuilder, JobWarning, OpStream, ThreadPlan};
pub use fsx::{FsxConfig, FsxError, FsxStream, FsxWeights, Mix};
pub use op::{FallocMode, Op, OpKind};
pub use swarm::{Phase, Swarm};
