//! The aopsbench harness: targets, the runner, the differential checker.

pub mod cli;
pub mod commands;
pub mod crash;
pub mod diff;
pub mod engines;
pub mod machine;
pub mod runner;
pub mod targets;
