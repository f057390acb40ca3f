//! The subcommands.

pub mod crash;
pub mod diff;
pub mod report;
pub mod run;
pub mod targets;
