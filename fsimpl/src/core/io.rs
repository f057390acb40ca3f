//! Metadata I/O of the core layer, outside the page cache: what `sb_bread`, `submit_bh` and
//! `blkdev_issue_flush` are to ext4 and jbd2. Writes of several blocks are sorted and the
//! physically contiguous ones go out as one bio, as the block layer's plug merges them.

use crate::buf::AlignedBuf;
use crate::dev::{Bio, BioOp, BlockDev, DevError, submit_all_wait};
use crate::error::{FsError, Result};

fn io_error(op: BioOp, offset: u64, errno: i32) -> FsError {
    FsError::Io { source: DevError::Io { op: op.name(), offset, source: std::io::Error::from_raw_os_error(errno) } }
}

/// Reads `n` blocks of `block_size` bytes from block `pblk` (`sb_bread` of a run).
pub fn read_blocks(dev: &dyn BlockDev, block_size: u32, pblk: u64, n: usize) -> Result<AlignedBuf> {
    let bs = u64::from(block_size);
    let end = (pblk + n as u64).checked_mul(bs).filter(|&e| e <= dev.size());
    if end.is_none() {
        return Err(FsError::Corrupt {
            what: format!("block {pblk} (+{n}) lies past the end of the device ({} bytes)", dev.size()),
        });
    }
    let mut buf = AlignedBuf::zeroed(n * block_size as usize);
    crate::dev::read_at(dev, pblk * bs, &mut buf)?;
    Ok(buf)
}

/// Writes each `(block, bytes)` (every slice `block_size` long; a block given twice is
/// written once, with its first bytes) and waits; physically contiguous blocks share one
/// bio. The bytes are staged in aligned memory first (O_DIRECT devices need it).
pub fn write_blocks<'a>(
    dev: &dyn BlockDev,
    block_size: u32,
    blocks: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Result<()> {
    let mut list: Vec<(u64, &[u8])> = blocks.into_iter().collect();
    if list.is_empty() {
        return Ok(());
    }
    list.sort_by_key(|&(b, _)| b);
    list.dedup_by_key(|&mut (b, _)| b);
    let bs = block_size as usize;
    let mut staging = AlignedBuf::zeroed(list.len() * bs);
    for (i, (_, data)) in list.iter().enumerate() {
        staging[i * bs..(i + 1) * bs].copy_from_slice(&data[..bs]);
    }
    let blocks: Vec<u64> = list.iter().map(|&(b, _)| b).collect();
    write_buf(dev, block_size, &mut staging, &blocks)
}

/// Writes block `i` of `buf` (which holds `blocks.len()` blocks of `block_size` bytes, in
/// memory aligned to the block size, e.g. part of an [`AlignedBuf`]) to block `blocks[i]`,
/// and waits: the log writes of a journal commit, straight from the buffer they were built
/// in. Consecutive blocks that are consecutive on the device share a bio.
pub fn write_buf(dev: &dyn BlockDev, block_size: u32, buf: &mut [u8], blocks: &[u64]) -> Result<()> {
    let bs = block_size as usize;
    debug_assert_eq!(buf.len(), blocks.len() * bs);
    let base = buf.as_mut_ptr();
    let mut bios: Vec<Box<Bio>> = Vec::new();
    for (i, &b) in blocks.iter().enumerate() {
        let offset = b * u64::from(block_size);
        // SAFETY: `buf` is borrowed mutably until the bios, all ended when `submit_all_wait`
        // returns, are done with it.
        let seg = unsafe { base.add(i * bs) };
        let merged = match bios.last_mut() {
            Some(bio) if bio.end() == offset => unsafe { bio.add_seg(seg, bs) },
            _ => false,
        };
        if !merged {
            let mut bio = Bio::new(BioOp::Write, offset);
            // SAFETY: as above.
            unsafe { bio.add_seg(seg, bs) };
            bios.push(bio);
        }
    }
    let offsets: Vec<u64> = bios.iter().map(|b| b.offset).collect();
    for (offset, st) in offsets.into_iter().zip(submit_all_wait(dev, bios)?) {
        if let Err(errno) = st {
            return Err(io_error(BioOp::Write, offset, errno));
        }
    }
    Ok(())
}

/// `blkdev_issue_flush`.
pub fn flush(dev: &dyn BlockDev) -> Result<()> {
    dev.flush().map_err(FsError::from)
}
