//! The aopsbench harness: targets, the runner, the differential checker.

pub mod target;
