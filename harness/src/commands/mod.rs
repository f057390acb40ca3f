//! The subcommands.

pub mod report;
pub mod run;
pub mod targets;
