//! Metadata buffers: what `sb_bread` / `sb_getblk` return for ext4's metadata (`struct
//! buffer_head` over the block device's page cache). One block's bytes under their own lock
//! (`lock_buffer`), and a note of the transaction whose list holds the buffer
//! (`jh->b_transaction`), so that a handle dirtying a buffer already on the running
//! transaction takes none of the journal's locks (`jbd2_journal_dirty_metadata`'s fast path).

use crate::kernel::lock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

/// Set in [`MetaBuffer`]'s transaction note when it names one.
const ON_TRANSACTION: u64 = 1 << 32;

/// One metadata block in memory.
#[derive(Debug)]
pub struct MetaBuffer {
    blocknr: u64,
    data: Mutex<Box<[u8]>>,
    /// `ON_TRANSACTION | tid` of the transaction holding it, or 0.
    jtid: AtomicU64,
}

impl MetaBuffer {
    /// A buffer for block `blocknr` holding `data` (`sb_getblk` + the bytes read or made).
    pub fn new(blocknr: u64, data: Box<[u8]>) -> Arc<MetaBuffer> {
        Arc::new(MetaBuffer { blocknr, data: Mutex::new(data), jtid: AtomicU64::new(0) })
    }

    /// The block it holds.
    pub fn blocknr(&self) -> u64 {
        self.blocknr
    }

    /// Its bytes, locked (`lock_buffer`).
    pub fn lock(&self) -> MutexGuard<'_, Box<[u8]>> {
        lock(&self.data)
    }

    /// Whether transaction `tid`'s list holds it.
    pub(crate) fn on_transaction(&self, tid: u32) -> bool {
        self.jtid.load(Relaxed) == ON_TRANSACTION | u64::from(tid)
    }

    /// Notes that transaction `tid`'s list holds it.
    pub(crate) fn set_transaction(&self, tid: u32) {
        self.jtid.store(ON_TRANSACTION | u64::from(tid), Relaxed);
    }

    /// Notes that no running transaction holds it (revoked, or its transaction committed).
    pub(crate) fn clear_transaction(&self, tid: u32) {
        let _ = self.jtid.compare_exchange(ON_TRANSACTION | u64::from(tid), 0, Relaxed, Relaxed);
    }
}
