//! The seam between the shared filesystem core and a buffered-I/O implementation: the
//! address-space operations (`struct address_space_operations`), plus the buffered write entry
//! (ext4's `generic_perform_write` with `write_begin`/`write_end`, or
//! `iomap_file_buffered_write`) and the zeroing helpers each layer brings.
//!
//! Two implementations: [`BufferHeadAops`] (ext4's `ext4_da_aops` over `fs/buffer.c`) and
//! [`IomapAops`] (`ext4_iomap_aops` over `fs/iomap/buffered-io.c`).

pub mod buffer_head;
pub mod iomap;

pub use buffer_head::{BufferHead, BufferHeadAops};
pub use iomap::{IomapAops, IomapFolioState};

use crate::error::Result;
use crate::mm::{AddressSpaceOps, Ctx};

/// What a backend brings besides its address-space operations: the buffered write entry and
/// the zeroing helpers the filesystem calls (`generic_perform_write` with `write_begin` /
/// `write_end` or `iomap_file_buffered_write`; `ext4_block_zero_page_range` or
/// `iomap_zero_range`).
pub trait BufferedIo: AddressSpaceOps {
    /// Buffered write of `data` at file offset `pos`; returns the bytes written, short only
    /// when an error stopped it after some progress (then the error is dropped, as
    /// `generic_perform_write` does).
    fn write_iter(&self, cx: &mut Ctx<'_, Self>, pos: u64, data: &[u8]) -> Result<usize>;

    /// Zeroes `[pos, pos + len)` through the cache where data could be (`iomap_zero_range`,
    /// ext4's `ext4_block_zero_page_range`): partial blocks of punch, zero_range and
    /// truncate.
    fn zero_range(&self, cx: &mut Ctx<'_, Self>, pos: u64, len: u64) -> Result<()>;

    /// Zeroes from `pos` to the end of its block (`ext4_block_truncate_page`,
    /// `iomap_truncate_page`).
    fn truncate_page(&self, cx: &mut Ctx<'_, Self>, pos: u64) -> Result<()> {
        let bs = cx.block_size() as u64;
        let off = pos % bs;
        if off == 0 {
            return Ok(());
        }
        self.zero_range(cx, pos, bs - off)
    }
}
