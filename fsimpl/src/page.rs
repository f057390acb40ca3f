//! Page geometry (`asm/page.h`, `MAX_PAGECACHE_ORDER`): the sizes every layer agrees on.

/// Size of a page.
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// Highest folio order the page cache allocates (2 MiB folios with 4 KiB pages).
pub const MAX_FOLIO_ORDER: usize = 9;
