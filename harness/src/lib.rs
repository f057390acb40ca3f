//! The aopsbench harness: targets, the runner, the differential checker.

pub mod cli;
pub mod commands;
pub mod crash;
pub mod diff;
pub mod engines;
pub mod launcher;
pub mod machine;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod ranks;
pub mod runner;
pub mod targets;
