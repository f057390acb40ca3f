//! jbd2, the journal under ext4 (fs/jbd2/): its on-disk format ([`format`]), recovery by
//! replay ([`recovery`]), and the running journal ([`Journal`]) with transactions, handles
//! and credits, a commit thread (kjournald2), ordered data, checkpoint and wrap.
//!
//! The journal knows blocks, not files: its users (`core::ext4`) hand it metadata blocks
//! through a [`Handle`], and the layer above the core tells it, through [`JournalData`],
//! how to wait for the data of a file before a commit that references new blocks of it
//! (data=ordered).

pub mod format;
mod journal;
pub mod recovery;

pub use journal::{Handle, Journal, JournalData, JournalOptions};

use crate::error::{FsError, Result};

/// Where the journal's blocks are: logical journal block → physical block, from the journal
/// inode's extents (`jbd2_journal_bmap`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalMap {
    /// Block size.
    pub block_size: u32,
    /// Blocks in the journal.
    pub maxlen: u32,
    /// `(first logical block, first physical block, length)`, in logical order.
    pub extents: Vec<(u32, u64, u32)>,
}

impl JournalMap {
    /// The physical block of journal block `lblk`.
    pub fn bmap(&self, lblk: u32) -> Result<u64> {
        let i = self.extents.partition_point(|&(l, _, _)| l <= lblk);
        match i.checked_sub(1).map(|i| self.extents[i]) {
            Some((l, p, n)) if lblk < l + n => Ok(p + (lblk - l) as u64),
            _ => Err(FsError::Corrupt { what: format!("journal block {lblk} is not mapped by the journal inode") }),
        }
    }
}

/// `tid_gt`: `x` is after `y`, modulo wrap.
pub fn tid_gt(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) > 0
}

/// `tid_geq`.
pub fn tid_geq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) >= 0
}
