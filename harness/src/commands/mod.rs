//! The subcommands.

pub mod collect;
pub mod crash;
pub mod diff;
pub mod report;
pub mod run;
pub mod targets;
