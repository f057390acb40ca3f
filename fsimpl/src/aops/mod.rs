//! The two buffered-I/O implementations behind the page cache's address-space operations:
//! [`BufferHeadAops`] (ext4's `ext4_da_aops` over `fs/buffer.c`) and [`IomapAops`]
//! (`ext4_iomap_aops` over `fs/iomap/buffered-io.c`). Each implements
//! [`AddressSpaceOps`](crate::mm::AddressSpaceOps) and [`BufferedIo`], the buffered write
//! entry and zeroing helpers the filesystem calls (`generic_perform_write` with
//! `write_begin` / `write_end`, or `iomap_file_buffered_write`).

pub mod buffer;
pub mod buffer_head;
pub mod iomap;

pub use buffer::{BufferHead, BufferHeads};
pub use buffer_head::BufferHeadAops;
pub use iomap::{IomapAops, IomapFolioState};

use crate::dev::Bio;
use crate::error::Result;
use crate::mm::page_alloc::{FolioPool, PAGE_SHIFT};
use crate::mm::{AddressSpaceOps, Inode, Sb};
use std::sync::Arc;

/// Most blocks one writeback allocation maps (`MAX_WRITEPAGES_EXTENT_LEN`, fs/ext4/inode.c:
/// "don't go larger than mballoc is willing to allocate"): the run `mpage_prepare_extent_to_map`
/// gathers on the buffer_head path, and the length `ext4_iomap_map_writeback_range` asks
/// `ext4_map_blocks` for on the iomap path.
pub const MAX_WRITEPAGES_EXTENT_LEN: u64 = 2048;

/// What a backend brings besides its address-space operations.
pub trait BufferedIo: AddressSpaceOps {
    /// Buffered write of `data` at file offset `pos` (`generic_perform_write`,
    /// `iomap_file_buffered_write`), with `i_rwsem` held exclusive; returns the bytes
    /// written, short only when an error stopped it after some progress (then the error is
    /// dropped, as `generic_perform_write` does).
    fn write_iter(&self, sb: &Sb<Self>, inode: &Arc<Inode<Self::Private>>, pos: u64, data: &[u8]) -> Result<usize>;

    /// Zeroes `[pos, pos + len)` through the cache where data could be (`iomap_zero_range`,
    /// ext4's `ext4_block_zero_page_range`): partial blocks of punch, zero_range and
    /// truncate.
    fn zero_range(&self, sb: &Sb<Self>, inode: &Arc<Inode<Self::Private>>, pos: u64, len: u64) -> Result<()>;

    /// Zeroes from `pos` to the end of its block (`ext4_block_truncate_page`,
    /// `iomap_truncate_page`).
    fn truncate_page(&self, sb: &Sb<Self>, inode: &Arc<Inode<Self::Private>>, pos: u64) -> Result<()> {
        let bs = u64::from(sb.block_size());
        let off = pos % bs;
        if off == 0 {
            return Ok(());
        }
        self.zero_range(sb, inode, pos, bs - off)
    }
}

/// The folio order the write path asks for (`fgf_set_order`): the write's size, rounded down.
pub(crate) fn write_order(len: usize) -> usize {
    let shift = usize::BITS - 1 - len.max(1).leading_zeros();
    shift.saturating_sub(PAGE_SHIFT) as usize
}

/// The folio pieces a bio's memory covers, in order: `(head pfn, offset in the folio,
/// length)` (`bio_for_each_folio_all`).
pub(crate) fn bio_folios(pool: &FolioPool, bio: &Bio, mut f: impl FnMut(u32, usize, usize)) {
    for seg in bio.segs() {
        let (mut ptr, mut left) = (seg.ptr(), seg.len());
        while left > 0 {
            let (pfn, off) = pool.folio_of_ptr(ptr);
            let n = left.min((crate::mm::PAGE_SIZE << pool.order(pfn)) - off);
            f(pfn, off, n);
            ptr = ptr.wrapping_add(n);
            left -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_order_follows_fgf_set_order() {
        assert_eq!(write_order(4096), 0);
        assert_eq!(write_order(6000), 0);
        assert_eq!(write_order(8192), 1);
        assert_eq!(write_order(64 << 10), 4);
        assert_eq!(write_order(1 << 20), 8);
        assert_eq!(write_order(100), 0);
    }
}
