//! The buffered read path (`filemap_read`), shared by both backends: find or read ahead the
//! folios of the range, bring them uptodate, copy out.

use super::AddressSpaceOps;
use super::readahead;
use super::{PAGE_SHIFT, WritebackMode};
use crate::error::{FsError, Result};
use crate::mm::Ctx;

/// Reads up to `buf.len()` bytes at `pos`; short at EOF (`filemap_read`).
pub fn filemap_read<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, pos: u64, buf: &mut [u8]) -> Result<usize> {
    let i_size = cx.i_size();
    if pos >= i_size || buf.is_empty() {
        return Ok(0);
    }
    let end = i_size.min(pos + buf.len() as u64);
    let last_index = (end - 1) >> PAGE_SHIFT;
    let fs = cx.fs;
    let mut p = pos;
    while p < end {
        let index = p >> PAGE_SHIFT;
        let req = last_index + 1 - index;
        let start = match cx.mapping.folio_start(index) {
            Some(s) => s,
            None => {
                readahead::sync_ra(cx, index, req)?;
                cx.mapping.folio_start(index).ok_or(FsError::NoMemory)?
            }
        };
        // Hold the folio across the readahead and the read below, which allocate folios
        // and so may reclaim (`filemap_get_pages` holds its folio batch).
        cx.folio(start).get();
        let filled = fill_folio(cx, start, p, end, req);
        let f = cx.folio(start);
        f.put();
        filled?;
        let off = (p - f.pos()) as usize;
        let n = (f.end_pos().min(end) - p) as usize;
        let at = (p - pos) as usize;
        buf[at..at + n].copy_from_slice(&f.data()[off..off + n]);
        f.set_referenced(true);
        if fs.opts.writeback == WritebackMode::DontCache && f.dropbehind() && !f.dirty() && !f.locked() {
            let f = cx.folio(start);
            if f.private.is_none() || fs.aops.release_folio(f) {
                cx.delete_folio(start);
            }
        }
        p += n as u64;
    }
    cx.mapping.ra.prev_index = last_index;
    Ok((end - pos) as usize)
}

/// Starts the next readahead window if the folio at `start` carries the marker, and brings
/// the part of it at `[p, end)` uptodate.
fn fill_folio<A: AddressSpaceOps>(cx: &mut Ctx<'_, A>, start: u64, p: u64, end: u64, req: u64) -> Result<()> {
    if cx.folio(start).readahead_mark() {
        cx.folio(start).set_readahead_mark(false);
        readahead::async_ra(cx, req)?;
    }
    let fs = cx.fs;
    let f = cx.folio(start);
    let off = (p - f.pos()) as usize;
    let n = (f.end_pos().min(end) - p) as usize;
    if !f.uptodate() && !fs.aops.is_partially_uptodate(f, off, n) {
        fs.aops.read_folio(cx, start)?;
    }
    Ok(())
}
