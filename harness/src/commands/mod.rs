//! The subcommands.

pub mod diff;
pub mod report;
pub mod run;
pub mod targets;
