//! fsimpl: one filesystem core, two address-space-operations backends (buffer_head and iomap).
#![deny(missing_docs)]

pub mod dev;
