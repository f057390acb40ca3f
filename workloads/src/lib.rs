//! workloads
#![deny(missing_docs)]
