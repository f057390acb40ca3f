//! The subcommands.

pub mod campaign;
pub mod collect;
pub mod crash;
pub mod diff;
pub mod report;
pub mod run;
pub mod targets;
