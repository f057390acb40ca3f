//! results
#![deny(missing_docs)]
