//! The vocabulary aopsbench's parts share: each value a user writes — in a job file, on the
//! command line, in a target spec — has one type here, read and checked once ([`FromStr`]
//! or a `parse_*` function) and printed back the way it reads ([`Display`](std::fmt::Display)).
//! The job parser (`workloads`), the command line (clap's `value_parser`), the targets
//! (`harness`), the filesystem model (`fsimpl`) and the run files (`results`) all use these
//! types, so a value is never re-printed to text and parsed again.
//!
//! - [`Size`] (fio's suffixes, [`KbBase`]), [`parse_time`] / [`format_time`], [`parse_bool`],
//!   [`parse_percent`];
//! - [`FallocMode`], [`WritebackMode`], [`Backend`], [`AopsParams`] (fsimpl's parameters, one
//!   [`AopsParams::validate`]);
//! - [`Percentiles`] (fio's `percentile_list`), [`Latencies`] (fio's latency switches),
//!   [`LatencyTarget`] (fio's `latency_target` search);
//!   [`SeedRange`] (`--seeds 1..1000`);
//! - [`TargetSpec`]: `bh:block_size=1k:backing=mem`, `ext4:opts=noatime`, `dir:path=/mnt`, ...
//!
//! ```
//! use vocab::{Size, TargetSpec, WritebackMode};
//!
//! let spec: TargetSpec = "bh:cache=64m:writeback=off:block_size=1024".parse()?;
//! let TargetSpec::Fsimpl(bh) = &spec else { unreachable!() };
//! assert_eq!(bh.aops.cache, Some(Size(64 << 20)));
//! assert_eq!(bh.aops.writeback, Some(WritebackMode::Off));
//! // Printed in a fixed order, sizes in their shortest exact form; it reads back the same.
//! assert_eq!(spec.to_string(), "bh:block_size=1k:cache=64m:writeback=off");
//! assert_eq!(spec.to_string().parse::<TargetSpec>()?, spec);
//! # Ok::<(), vocab::SpecError>(())
//! ```
#![deny(missing_docs)]

mod aops;
mod error;
mod expr;
mod falloc;
mod flag;
mod lat_target;
mod latencies;
mod percentiles;
mod seeds;
mod size;
pub mod target;
mod time;

pub use aops::{AopsParams, BLOCK_SIZES, Backend, FOLIO_RANGE, Flusher, MIN_CACHE, WritebackMode};
pub use error::ValueError;
pub use falloc::FallocMode;
pub use flag::{parse_bool, parse_percent};
pub use lat_target::LatencyTarget;
pub use latencies::{Latencies, LatencyKind};
pub use percentiles::{FIO_PERCENTILES, MAX_PERCENTILES, Percentiles, quantile_of};
pub use seeds::SeedRange;
pub use size::{KbBase, Size, parse_bytes};
pub use target::{SpecError, TargetSpec};
pub use time::{TimeUnit, format_time, parse_seconds, parse_time};
