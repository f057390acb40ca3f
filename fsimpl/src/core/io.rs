//! Metadata I/O of the core layer, outside the page cache: what `sb_bread`, `submit_bh` and
//! `blkdev_issue_flush` are to ext4 and jbd2. Writes of several blocks are sorted and the
//! physically contiguous ones go out as one bio, as the block layer's plug merges them.

use crate::buf::AlignedBuf;
use crate::dev::{BioBatch, BioOp, BlockDev, DevError};
use crate::error::{FsError, Result};

fn io_error(op: BioOp, offset: u64, errno: i32) -> FsError {
    FsError::Io {
        source: DevError::Io {
            op: if op == BioOp::Read { "read" } else { "write" },
            offset,
            source: std::io::Error::from_raw_os_error(errno),
        },
    }
}

/// One synchronous read or write of `buf` (aligned memory) at device byte `offset`.
pub fn dev_io(dev: &dyn BlockDev, op: BioOp, offset: u64, buf: &mut AlignedBuf) -> Result<()> {
    let mut batch = BioBatch::new();
    batch.start(op, offset);
    // SAFETY: `buf` is borrowed mutably for the whole call, which submits and waits.
    unsafe { batch.add_seg(buf.as_mut_ptr(), buf.len()) };
    dev.submit(&mut batch)?;
    match batch.first_error() {
        Some((_, errno)) => Err(io_error(op, offset, errno)),
        None => Ok(()),
    }
}

/// Reads `n` blocks of `block_size` bytes from block `pblk`.
pub fn read_blocks(dev: &dyn BlockDev, block_size: u32, pblk: u64, n: usize) -> Result<AlignedBuf> {
    let bs = block_size as u64;
    let end = (pblk + n as u64).checked_mul(bs).filter(|&e| e <= dev.size());
    if end.is_none() {
        return Err(FsError::Corrupt {
            what: format!("block {pblk} (+{n}) lies past the end of the device ({} bytes)", dev.size()),
        });
    }
    let mut buf = AlignedBuf::zeroed(n * block_size as usize);
    dev_io(dev, BioOp::Read, pblk * bs, &mut buf)?;
    Ok(buf)
}

/// Writes each `(block, bytes)` (every slice `block_size` long) and waits; physically
/// contiguous blocks share one bio. Returns the number of bios.
pub fn write_blocks<'a>(
    dev: &dyn BlockDev,
    block_size: u32,
    blocks: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Result<usize> {
    let mut list: Vec<(u64, &[u8])> = blocks.into_iter().collect();
    if list.is_empty() {
        return Ok(0);
    }
    list.sort_by_key(|&(b, _)| b);
    list.dedup_by_key(|&mut (b, _)| b);
    let bs = block_size as usize;
    let mut staging = AlignedBuf::zeroed(list.len() * bs);
    for (i, (_, data)) in list.iter().enumerate() {
        staging[i * bs..(i + 1) * bs].copy_from_slice(&data[..bs]);
    }
    let base = staging.as_mut_ptr();
    let mut batch = BioBatch::new();
    for (i, &(b, _)) in list.iter().enumerate() {
        let offset = b * block_size as u64;
        // SAFETY: `staging` outlives the submission below and nothing else touches it.
        let seg = unsafe { base.add(i * bs) };
        if batch.next_offset(BioOp::Write) != Some(offset) || !unsafe { batch.add_seg(seg, bs) } {
            batch.start(BioOp::Write, offset);
            // SAFETY: as above.
            unsafe { batch.add_seg(seg, bs) };
        }
    }
    dev.submit(&mut batch)?;
    if let Some((i, errno)) = batch.first_error() {
        return Err(io_error(BioOp::Write, batch.bios()[i].offset, errno));
    }
    Ok(batch.len())
}

/// `blkdev_issue_flush`.
pub fn flush(dev: &dyn BlockDev) -> Result<()> {
    dev.flush().map_err(FsError::from)
}
