//! The running journal (fs/jbd2/journal.c, transaction.c, commit.c, checkpoint.c).
//!
//! - A [`Handle`] (`handle_t`, `jbd2_journal_start`) joins the running transaction with a
//!   number of credits: the most metadata blocks it may dirty. `start` waits while the running
//!   transaction is being locked for commit, has it committed when it would grow past
//!   `j_max_transaction_buffers` (a quarter of the journal), and checkpoints when the log has
//!   less room than that (`add_transaction_credits`, `__jbd2_log_wait_for_space`).
//! - [`Handle::dirty_metadata`] (`jbd2_journal_get_write_access` + `_dirty_metadata`) puts a
//!   [`MetaBuffer`] on the transaction's list; a buffer already there costs no lock.
//!   [`Handle::revoke`] (`jbd2_journal_revoke`) records a freed metadata block so that replay
//!   does not write an older copy over its new owner. [`Handle::add_inode`]
//!   (`jbd2_journal_inode_ranged_write` / `_wait`) puts a file's byte range on the
//!   transaction's ordered-data list.
//! - The commit (`jbd2_journal_commit_transaction`): lock the transaction and wait for its
//!   handles; copy its buffers as they are then (the frozen copies the log is written from,
//!   so that the next transaction may change them meanwhile); submit the ordered data that
//!   must be written; write revoke blocks, descriptors and the logged blocks; wait for the
//!   ordered data; then the commit block with a cache flush before and after it
//!   (`REQ_PREFLUSH | REQ_FUA`). The copies go on the checkpoint list; the filesystem's
//!   commit callback runs (`j_commit_callback`: blocks freed in the transaction become free).
//! - Who commits: with a commit thread (`kjournald2`, on a reused pool worker), the thread,
//!   when asked (fsync, sync, a full transaction) and when the running transaction is older
//!   than the commit interval. Without one (fsimpl's `flusher=inline`), the thread that needs
//!   the commit runs it itself, and nothing commits on a timer.
//! - The checkpoint (`jbd2_log_do_checkpoint`) writes committed blocks home, flushes, and
//!   moves the log tail in the journal superblock (`jbd2_cleanup_journal_tail`), which frees
//!   log space; the log wraps from its end to `s_first`.
//! - [`Journal::complete_transaction`] is `jbd2_complete_transaction`, what fsync waits on.
//!
//! Waits go through the kernel's wait queues (`j_wait_transaction_locked`,
//! `j_wait_done_commit`, `j_wait_updates`, `j_wait_commit`), which flush the waiter's plug
//! before it sleeps: a commit waiting for ordered data never waits for I/O its own waiter
//! holds back.

use super::format::*;
use super::{JournalMap, tid_geq, tid_gt};
use crate::buf::AlignedBuf;
use crate::core::buffer::MetaBuffer;
use crate::core::io;
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::kernel::lock;
use crate::kernel::wait::WaitQueue;
use crate::kernel::workqueue::{KThread, kthread_run};
use crate::stats::{Ev, Stats};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The ordered-data hooks of the layer above (`j_submit_inode_data_buffers` and
/// `j_finish_inode_data_buffers`, which ext4 points at its writeback of the inode's range).
pub trait JournalData: Send + Sync {
    /// Starts writeback of the dirty data of bytes `[start, end)` of inode `ino` without
    /// allocating blocks (`ext4_normal_submit_inode_data_buffers`: `ext4_do_writepages`
    /// with `can_map = 0`). Errors stay in the mapping for the next fsync, as jbd2 leaves
    /// them.
    fn submit_inode_data(&self, ino: u64, start: u64, end: u64);
    /// Waits for the writeback of bytes `[start, end)` of inode `ino`
    /// (`jbd2_journal_finish_inode_data_buffers`: `filemap_fdatawait_range_keep_errors`).
    fn finish_inode_data(&self, ino: u64, start: u64, end: u64);
}

/// What the filesystem does once a transaction is committed (`j_commit_callback`).
pub type CommitCallback = Box<dyn Fn(u32) + Send + Sync>;

/// Journal settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// Commit the running transaction once it is this old (`j_commit_interval`, the `commit=`
    /// mount option, 5 s by default); `None`: only when asked (fsync, sync, a full
    /// transaction, unmount).
    pub commit_interval: Option<Duration>,
    /// Run a commit thread (`kjournald2`); without one, commits run in the threads that need
    /// them and the commit interval is not kept.
    pub thread: bool,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions { commit_interval: Some(Duration::from_secs(5)), thread: true }
    }
}

/// A file range on a transaction's ordered-data list (`struct jbd2_inode`'s
/// `i_dirty_start`/`i_dirty_end` and `i_flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct JInode {
    start: u64,
    end: u64,
    /// `JI_WRITE_DATA`: the commit writes the range before waiting for it; else only waits
    /// (`JI_WAIT_DATA`, for data writeback submits itself).
    write: bool,
}

/// A transaction (`transaction_t`).
struct Transaction {
    tid: u32,
    /// Open handles (`t_updates`).
    updates: u32,
    /// Credits reserved by open handles and not yet used (part of `t_outstanding_credits`).
    reserved: u32,
    /// Home block → its buffer (`t_buffers`).
    buffers: BTreeMap<u64, Arc<MetaBuffer>>,
    /// Revoked blocks (the transaction's revoke table).
    revokes: BTreeSet<u64>,
    /// Ordered data (`t_inode_list`).
    inodes: BTreeMap<u64, JInode>,
    start: Instant,
}

impl Transaction {
    fn outstanding(&self) -> u32 {
        self.buffers.len() as u32 + self.reserved
    }
}

/// A committed transaction waiting for checkpoint.
struct CpTransaction {
    tid: u32,
    /// First log block of the transaction.
    log_start: u32,
    /// Blocks whose newest committed copy this transaction holds.
    blocks: BTreeMap<u64, Arc<[u8]>>,
}

/// What `j_state_lock` protects.
struct JState {
    jsb: journal_superblock_t,
    /// The journal superblock as read (fields fsimpl does not declare are kept).
    jsb_raw: Vec<u8>,
    running: Option<Transaction>,
    /// The running transaction is being locked: new handles wait (`T_LOCKED`).
    locked: bool,
    /// The transaction being written, if any.
    committing: Option<u32>,
    /// Next transaction id to hand out (`j_transaction_sequence`).
    transaction_sequence: u32,
    /// Last committed transaction (`j_commit_sequence`).
    commit_sequence: u32,
    /// Highest transaction a commit was asked for (`j_commit_request`).
    commit_request: u32,
    /// Next log block to write (`j_head`).
    head: u32,
    /// Oldest live log block (`j_tail`) and its transaction (`j_tail_sequence`), as on disk.
    tail: u32,
    tail_sequence: u32,
    /// Free log blocks (`j_free`).
    free: u32,
    /// Log blocks the committing transaction takes.
    committing_blocks: u32,
    /// The on-disk superblock says the log is empty (`JBD2_FLUSHED`).
    flushed: bool,
    checkpoint: VecDeque<CpTransaction>,
    /// Home block → the transaction whose checkpoint list holds its newest copy.
    cp_owner: HashMap<u64, u32>,
    /// The journal failed (`JBD2_ABORT`): every later handle fails.
    aborted: Option<String>,
    /// The commit thread is asked to stop.
    shutdown: bool,
}

/// The journal of a mounted filesystem (`journal_t`).
pub struct Journal {
    dev: Arc<dyn BlockDev>,
    map: JournalMap,
    opts: JournalOptions,
    /// `j_max_transaction_buffers`.
    max_transaction: u32,
    /// First log block (`j_first`, the superblock's `s_first`).
    first: u32,
    state: Mutex<JState>,
    /// Handles waiting for a locked transaction to be switched out, or for room.
    wait_transaction_locked: WaitQueue,
    /// Waiters for a commit to finish.
    wait_done_commit: WaitQueue,
    /// The commit waiting for the locked transaction's handles.
    wait_updates: WaitQueue,
    /// The commit thread's wait: woken by commit requests, new transactions and shutdown.
    wait_commit: WaitQueue,
    /// Held by whoever checkpoints (`j_checkpoint_mutex`).
    checkpoint_mutex: Mutex<()>,
    /// Held by whoever commits: the thread, or a caller when no thread runs.
    commit_mutex: Mutex<()>,
    /// Counters: commits (`meta_writes`), journal and checkpoint blocks.
    stats: Arc<Stats>,
    data: OnceLock<Arc<dyn JournalData>>,
    commit_callback: OnceLock<CommitCallback>,
    thread: Mutex<Option<KThread>>,
}

/// A handle on the running transaction (`handle_t`). Dropping it stops it
/// (`jbd2_journal_stop`).
pub struct Handle<'j> {
    j: &'j Journal,
    tid: u32,
    credits: u32,
    used: u32,
}

thread_local! {
    /// This thread is committing (`current == journal->j_task`, or an inline commit): the
    /// ordered-data waits of a commit may run completion work that starts handles, and
    /// those must never wait for a commit themselves.
    static COMMITTING: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as committing while it lives.
struct CommittingGuard;

impl CommittingGuard {
    fn enter() -> Self {
        COMMITTING.set(true);
        CommittingGuard
    }
}

impl Drop for CommittingGuard {
    fn drop(&mut self) {
        COMMITTING.set(false);
    }
}

fn aborted_error(why: &str) -> FsError {
    FsError::Io {
        source: crate::dev::DevError::Io {
            op: "journal",
            offset: 0,
            source: std::io::Error::other(format!("the journal was aborted: {why}; unmount and run e2fsck")),
        },
    }
}

impl Journal {
    /// Loads the journal (`jbd2_journal_load` after recovery): the superblock `jsb_raw`
    /// (1024 bytes as read) says an empty log (`s_start == 0`). Sets the features the
    /// filesystem asks for (`jbd2_journal_set_features`: csum v3 with metadata_csum, 64bit).
    pub fn load(
        dev: Arc<dyn BlockDev>,
        map: JournalMap,
        jsb_raw: &[u8],
        incompat: u32,
        opts: JournalOptions,
        stats: Arc<Stats>,
    ) -> Result<Journal> {
        let mut jsb = journal_superblock_t::decode(jsb_raw);
        debug_assert_eq!(jsb.s_start, 0, "recovery empties the log first");
        jsb.s_feature_incompat |= incompat;
        if jsb.has_csum() {
            jsb.s_checksum_type = JBD2_CRC32C_CHKSUM;
        }
        let first = jsb.s_first;
        let maxlen = map.maxlen;
        if first == 0 || first >= maxlen || maxlen < 1024 {
            return Err(FsError::Corrupt { what: format!("journal geometry: first {first}, length {maxlen}") });
        }
        // `jbd2_journal_get_max_txn_bufs`: a quarter of the log.
        let max_transaction = (maxlen - first) / 4;
        let seq = jsb.s_sequence;
        let state = JState {
            jsb,
            jsb_raw: jsb_raw[..1024].to_vec(),
            running: None,
            locked: false,
            committing: None,
            transaction_sequence: seq,
            commit_sequence: seq.wrapping_sub(1),
            commit_request: seq.wrapping_sub(1),
            head: first,
            tail: first,
            tail_sequence: seq,
            free: maxlen - first,
            committing_blocks: 0,
            flushed: true,
            checkpoint: VecDeque::new(),
            cp_owner: HashMap::new(),
            aborted: None,
            shutdown: false,
        };
        Ok(Journal {
            dev,
            map,
            opts,
            max_transaction,
            first,
            state: Mutex::new(state),
            wait_transaction_locked: WaitQueue::new(),
            wait_done_commit: WaitQueue::new(),
            wait_updates: WaitQueue::new(),
            wait_commit: WaitQueue::new(),
            checkpoint_mutex: Mutex::new(()),
            commit_mutex: Mutex::new(()),
            stats,
            data: OnceLock::new(),
            commit_callback: OnceLock::new(),
            thread: Mutex::new(None),
        })
    }

    /// Sets the ordered-data hooks the commit calls (once per mount).
    pub fn set_data_hook(&self, data: Arc<dyn JournalData>) {
        let _ = self.data.set(data);
    }

    /// Sets what runs after each commit (once per mount).
    pub fn set_commit_callback(&self, f: CommitCallback) {
        let _ = self.commit_callback.set(f);
    }

    /// Starts the commit thread (`jbd2_journal_start_thread`) on a pool worker, when the
    /// journal has one.
    pub fn start_thread(self: &Arc<Self>) -> Result<()> {
        if !self.opts.thread {
            return Ok(());
        }
        let j = Arc::clone(self);
        let t = kthread_run(move || j.kjournald2())
            .map_err(|e| FsError::invalid(format!("cannot start the journal thread: {e}")))?;
        *lock(&self.thread) = Some(t);
        Ok(())
    }

    /// Whether a commit thread (`kjournald2`) runs for this journal.
    pub fn has_commit_thread(&self) -> bool {
        lock(&self.thread).is_some()
    }

    /// The block size.
    pub fn block_size(&self) -> u32 {
        self.map.block_size
    }

    /// Most credits one transaction may hold (`j_max_transaction_buffers`).
    pub fn max_transaction_buffers(&self) -> u32 {
        self.max_transaction
    }

    /// The running transaction's id, if there is one.
    pub fn running_tid(&self) -> Option<u32> {
        lock(&self.state).running.as_ref().map(|t| t.tid)
    }

    /// The last committed transaction (`j_commit_sequence`).
    pub fn last_committed(&self) -> u32 {
        lock(&self.state).commit_sequence
    }

    /// Whether transaction `tid` is committed (`jbd2_transaction_committed`).
    pub fn committed(&self, tid: u32) -> bool {
        tid_geq(lock(&self.state).commit_sequence, tid)
    }

    fn has_thread(&self) -> bool {
        self.opts.thread && lock(&self.thread).is_some()
    }

    /// `jbd2_journal_start`: a handle with `credits` on the running transaction.
    pub fn start(&self, credits: u32) -> Result<Handle<'_>> {
        let credits = credits.max(1);
        if credits > self.max_transaction {
            return Err(FsError::NoSpace { what: "journal: an operation needs more credits than a transaction holds" });
        }
        let committing_here = COMMITTING.get();
        let mut st = lock(&self.state);
        loop {
            if let Some(why) = &st.aborted {
                return Err(aborted_error(why));
            }
            if st.locked && !committing_here {
                drop(st);
                self.wait_transaction_locked.wait_event(|| {
                    let s = lock(&self.state);
                    !s.locked || s.aborted.is_some()
                });
                st = lock(&self.state);
                continue;
            }
            if st.running.is_none() {
                let tid = st.transaction_sequence;
                st.transaction_sequence = tid.wrapping_add(1);
                st.running = Some(Transaction {
                    tid,
                    updates: 0,
                    reserved: 0,
                    buffers: BTreeMap::new(),
                    revokes: BTreeSet::new(),
                    inodes: BTreeMap::new(),
                    start: Instant::now(),
                });
                // The commit thread arms the transaction's expiry (`t_expires`).
                if self.opts.commit_interval.is_some() && self.opts.thread {
                    drop(st);
                    self.wait_commit.wake_up_all();
                    st = lock(&self.state);
                    continue;
                }
            }
            let t = st.running.as_ref().expect("running transaction");
            let needed = t.outstanding() + credits;
            // Too large: commit it. While another commit is being written (its ordered data
            // may wait for the caller), the transaction may grow up to twice the limit rather
            // than wait; a thread that is itself committing never waits.
            if needed > self.max_transaction
                && !committing_here
                && (st.committing.is_none() || needed > 2 * self.max_transaction)
            {
                let tid = t.tid;
                drop(st);
                self.commit_for_room(tid)?;
                st = lock(&self.state);
                continue;
            }
            // Room in the log for the running transaction with this handle's credits.
            let need = self.log_blocks_for(needed, 0);
            if self.space_left(&st) < need && !committing_here {
                drop(st);
                let progressed = self.do_checkpoint(false)?;
                st = lock(&self.state);
                if !progressed && self.space_left(&st) < need {
                    if st.committing.is_none() && st.checkpoint.is_empty() {
                        return Err(FsError::NoSpace { what: "journal: the log is too small for this transaction" });
                    }
                    let seq = st.commit_sequence;
                    drop(st);
                    self.wait_done_commit.wait_event(|| {
                        let s = lock(&self.state);
                        s.commit_sequence != seq || s.committing.is_none() || s.aborted.is_some()
                    });
                    st = lock(&self.state);
                }
                continue;
            }
            let t = st.running.as_mut().expect("running transaction");
            t.updates += 1;
            t.reserved += credits;
            return Ok(Handle { j: self, tid: t.tid, credits, used: 0 });
        }
    }

    /// A handle found transaction `tid` full: has it committed — by the commit thread, or
    /// here when there is none — and returns once it is no longer the running one.
    fn commit_for_room(&self, tid: u32) -> Result<()> {
        if !self.has_thread() {
            return self.commit_upto(tid);
        }
        {
            let mut st = lock(&self.state);
            if tid_gt(tid, st.commit_request) {
                st.commit_request = tid;
            }
        }
        self.wait_commit.wake_up_all();
        self.wait_transaction_locked.wait_event(|| {
            let s = lock(&self.state);
            s.aborted.is_some() || s.running.as_ref().is_none_or(|t| t.tid != tid)
        });
        Ok(())
    }

    /// `jbd2_log_space_left`: free log blocks, less what the committing transaction takes
    /// and a margin.
    fn space_left(&self, st: &JState) -> u32 {
        st.free.saturating_sub(32 + st.committing_blocks)
    }

    /// Log blocks a transaction of `buffers` blocks and `revokes` revokes takes.
    fn log_blocks_for(&self, buffers: u32, revokes: u32) -> u32 {
        let bs = self.map.block_size as usize;
        let per_desc = ((bs - journal_header_t::SIZE - BLOCK_TAIL_SIZE - 16) / 16) as u32;
        let per_revoke = ((bs - jbd2_journal_revoke_header_t::SIZE - BLOCK_TAIL_SIZE) / 8) as u32;
        buffers + buffers.div_ceil(per_desc.max(1)) + revokes.div_ceil(per_revoke) + 1
    }

    /// `jbd2_complete_transaction`: commits transaction `tid` if it is not yet, and waits.
    /// Returns whether a commit was needed (false: the fast path, nothing to wait for).
    pub fn complete_transaction(&self, tid: u32) -> Result<bool> {
        {
            let mut st = lock(&self.state);
            if tid_geq(st.commit_sequence, tid) {
                return Ok(false);
            }
            if tid_gt(tid, st.commit_request) {
                st.commit_request = tid;
            }
        }
        if !self.has_thread() {
            self.commit_upto(tid)?;
            return Ok(true);
        }
        self.wait_commit.wake_up_all();
        self.wait_done_commit.wait_event(|| {
            let s = lock(&self.state);
            tid_geq(s.commit_sequence, tid) || s.aborted.is_some()
        });
        if let Some(why) = &lock(&self.state).aborted {
            return Err(aborted_error(why));
        }
        Ok(true)
    }

    /// Commits here, in this thread, until transaction `tid` is committed.
    fn commit_upto(&self, tid: u32) -> Result<()> {
        while !self.committed(tid) {
            self.commit_or_abort(Some(tid))?;
            if let Some(why) = &lock(&self.state).aborted {
                return Err(aborted_error(why));
            }
        }
        Ok(())
    }

    /// Commits everything running and waits (`jbd2_journal_force_commit`). Returns whether
    /// there was anything to commit.
    pub fn force_commit(&self) -> Result<bool> {
        let tid = {
            let st = lock(&self.state);
            match &st.running {
                Some(t) => t.tid,
                None => return Ok(false),
            }
        };
        self.complete_transaction(tid)
    }

    /// The commit thread (`kjournald2`): commits what is asked for, and the running
    /// transaction once it is older than the commit interval.
    fn kjournald2(self: Arc<Self>) {
        let _committing = CommittingGuard::enter();
        loop {
            let (due, expiry, armed) = {
                let st = lock(&self.state);
                if st.shutdown {
                    return;
                }
                match st.running.as_ref() {
                    Some(t) if st.aborted.is_none() => {
                        let asked = tid_geq(st.commit_request, t.tid);
                        let expiry = self.opts.commit_interval.map(|i| t.start + i);
                        (asked || expiry.is_some_and(|e| Instant::now() >= e), expiry, Some(t.tid))
                    }
                    _ => (false, None, None),
                }
            };
            if due {
                // A failure aborts the journal; waiters see it.
                let _ = self.commit_or_abort(None);
                continue;
            }
            // Woken to commit, to stop, or to arm the expiry of a new transaction.
            let timed = self.opts.commit_interval.is_some();
            let woken = || {
                let s = lock(&self.state);
                s.shutdown
                    || s.running.as_ref().is_some_and(|t| {
                        s.aborted.is_none() && (tid_geq(s.commit_request, t.tid) || (timed && armed != Some(t.tid)))
                    })
            };
            match expiry {
                Some(e) => {
                    self.wait_commit.wait_event_timeout(e.saturating_duration_since(Instant::now()), woken);
                }
                None => self.wait_commit.wait_event(woken),
            }
        }
    }

    /// Stops the commit thread without committing (a crash, or before the final commit).
    pub fn stop_thread(&self) {
        lock(&self.state).shutdown = true;
        self.wait_commit.wake_up_all();
        if let Some(t) = lock(&self.thread).take() {
            t.join();
        }
        lock(&self.state).shutdown = false;
    }

    /// Commits the running transaction (only if it is no later than `upto`); a failure
    /// aborts the journal (`jbd2_journal_abort`): every later handle and fsync fails, as
    /// ext4 does once its journal is aborted.
    fn commit_or_abort(&self, upto: Option<u32>) -> Result<()> {
        let _committing = (!COMMITTING.get()).then(CommittingGuard::enter);
        self.commit_transaction(upto).inspect_err(|e| {
            let mut s = lock(&self.state);
            s.aborted.get_or_insert_with(|| e.to_string());
            s.locked = false;
            s.committing = None;
            s.committing_blocks = 0;
            drop(s);
            self.wake_all();
        })
    }

    fn wake_all(&self) {
        self.wait_transaction_locked.wake_up_all();
        self.wait_done_commit.wake_up_all();
        self.wait_updates.wake_up_all();
    }

    /// `jbd2_journal_commit_transaction`.
    fn commit_transaction(&self, upto: Option<u32>) -> Result<()> {
        let _one_at_a_time = lock(&self.commit_mutex);
        // T_LOCKED: no new handles; wait for the open ones.
        let tid = {
            let mut st = lock(&self.state);
            let Some(tid) = st.running.as_ref().map(|t| t.tid) else { return Ok(()) };
            if upto.is_some_and(|u| tid_gt(tid, u)) {
                return Ok(());
            }
            st.locked = true;
            tid
        };
        self.wait_updates.wait_event(|| lock(&self.state).running.as_ref().is_none_or(|t| t.updates == 0));
        let mut st = lock(&self.state);
        let t = st.running.take().expect("the locked transaction");
        debug_assert_eq!(t.tid, tid);
        // The buffers as this transaction left them: the log is written from these copies
        // while the next transaction changes the buffers.
        let frozen: Vec<(u64, Arc<[u8]>)> = t
            .buffers
            .iter()
            .map(|(&b, buf)| {
                let copy = Arc::<[u8]>::from(&buf.lock()[..]);
                buf.clear_transaction(tid);
                (b, copy)
            })
            .collect();
        st.locked = false;
        st.committing = Some(tid);
        st.committing_blocks = self.log_blocks_for(frozen.len() as u32, t.revokes.len() as u32);
        let flushed = st.flushed;
        drop(st);
        self.wait_transaction_locked.wake_up_all();

        if frozen.is_empty() && t.revokes.is_empty() {
            // Nothing to log: the transaction only had handles that changed nothing.
            self.finish_commit(tid, t.revokes, frozen, None);
            return Ok(());
        }
        if flushed {
            // The on-disk log says empty: point it at this transaction before writing it.
            self.update_sb_log_tail(false)?;
        }
        // Ordered data: submit what must be written (`journal_submit_data_buffers`).
        let data = self.data.get().cloned();
        if let Some(data) = &data {
            for (&ino, r) in t.inodes.iter().filter(|(_, r)| r.write) {
                data.submit_inode_data(ino, r.start, r.end);
            }
        }
        let (mut log, log_start) = self.build_log(tid, &t.revokes, &frozen)?;
        let bs = self.map.block_size as usize;
        let n = log.len() / bs;
        let blocks: Vec<u64> = (0..n as u32).map(|i| self.map.bmap(self.wrap(log_start + i))).collect::<Result<_>>()?;
        let (body, commit) = log.split_at_mut((n - 1) * bs);
        // Revoke, descriptor and logged blocks.
        io::write_buf(self.dev.as_ref(), self.map.block_size, body, &blocks[..n - 1])?;
        // Wait for the ordered data (`journal_finish_inode_data_buffers`).
        if let Some(data) = &data {
            for (&ino, r) in &t.inodes {
                data.finish_inode_data(ino, r.start, r.end);
            }
        }
        // The commit block, with PREFLUSH | FUA.
        io::flush(self.dev.as_ref())?;
        io::write_buf(self.dev.as_ref(), self.map.block_size, commit, &blocks[n - 1..])?;
        io::flush(self.dev.as_ref())?;
        self.stats.inc(Ev::MetaWrites);
        self.stats.add(Ev::JournalBlocks, n as u64);
        self.finish_commit(tid, t.revokes, frozen, Some((log_start, n as u32)));
        Ok(())
    }

    /// T_FINISHED: the copies go on the checkpoint list (revoked blocks' older copies off
    /// it), waiters are woken, the filesystem's callback runs.
    fn finish_commit(&self, tid: u32, revokes: BTreeSet<u64>, frozen: Vec<(u64, Arc<[u8]>)>, log: Option<(u32, u32)>) {
        let mut st = lock(&self.state);
        if let Some((log_start, n)) = log {
            st.head = self.wrap(log_start + n);
            st.free -= n;
            for b in &revokes {
                // A revoked block's older copies must never be written home: it may be data now.
                if let Some(owner) = st.cp_owner.remove(b)
                    && let Some(cp) = st.checkpoint.iter_mut().find(|c| c.tid == owner)
                {
                    cp.blocks.remove(b);
                }
            }
            let mut blocks = BTreeMap::new();
            for (b, data) in frozen {
                if let Some(owner) = st.cp_owner.insert(b, tid)
                    && let Some(cp) = st.checkpoint.iter_mut().find(|c| c.tid == owner)
                {
                    cp.blocks.remove(&b);
                }
                blocks.insert(b, data);
            }
            st.checkpoint.push_back(CpTransaction { tid, log_start, blocks });
        }
        st.commit_sequence = tid;
        st.committing = None;
        st.committing_blocks = 0;
        drop(st);
        self.wait_done_commit.wake_up_all();
        self.wait_transaction_locked.wake_up_all();
        if let Some(cb) = self.commit_callback.get() {
            cb(tid);
        }
    }

    fn wrap(&self, b: u32) -> u32 {
        if b >= self.map.maxlen { b - (self.map.maxlen - self.first) } else { b }
    }

    /// Log blocks in use from `tail` to `head` around the ring (`live` says whether any
    /// transaction is in the log when the two meet).
    fn used(&self, tail: u32, head: u32, live: bool) -> u32 {
        let span = self.map.maxlen - self.first;
        match (head + span - tail) % span {
            0 if live => span,
            n => n,
        }
    }

    /// The transaction's log blocks, in order, in one buffer: revoke blocks, then
    /// descriptors each followed by the blocks it describes, then the commit block. Returns
    /// them and the first log block they go to.
    fn build_log(&self, tid: u32, revokes: &BTreeSet<u64>, frozen: &[(u64, Arc<[u8]>)]) -> Result<(AlignedBuf, u32)> {
        let (jsb, start, have) = {
            let st = lock(&self.state);
            (st.jsb, st.head, st.free)
        };
        let bs = self.map.block_size as usize;
        let seed = jsb.csum_seed();
        let csum = jsb.has_csum();
        let tail = if csum { BLOCK_TAIL_SIZE } else { 0 };
        let nblocks = self.log_blocks_for(frozen.len() as u32, revokes.len() as u32) as usize;
        let mut log = AlignedBuf::zeroed(nblocks * bs);
        let mut at_block = 0;
        let header = |b: &mut [u8], kind: u32| {
            journal_header_t { h_magic: JBD2_MAGIC_NUMBER, h_blocktype: kind, h_sequence: tid }.encode(b);
        };
        // `jbd2_journal_write_revoke_records`.
        let record = if jsb.s_feature_incompat & INCOMPAT_64BIT != 0 { 8 } else { 4 };
        let mut revoked = revokes.iter().peekable();
        while revoked.peek().is_some() {
            let b = &mut log[at_block * bs..(at_block + 1) * bs];
            at_block += 1;
            header(b, JBD2_REVOKE_BLOCK);
            let mut at = jbd2_journal_revoke_header_t::SIZE;
            while at + record <= bs - tail
                && let Some(&blk) = revoked.next()
            {
                if record == 8 {
                    b[at..at + 8].copy_from_slice(&blk.to_be_bytes());
                } else {
                    b[at..at + 4].copy_from_slice(&(blk as u32).to_be_bytes());
                }
                at += record;
            }
            b[12..16].copy_from_slice(&(at as u32).to_be_bytes());
            if csum {
                let c = block_tail_csum(seed, b);
                b[bs - 4..].copy_from_slice(&c.to_be_bytes());
            }
        }
        // Descriptors and logged blocks.
        let tag_bytes = jsb.tag_bytes();
        let mut bufs = frozen.iter().peekable();
        while bufs.peek().is_some() {
            let desc_at = at_block;
            at_block += 1;
            let mut tags: Vec<(usize, journal_block_tag3_t)> = Vec::new();
            let mut at = journal_header_t::SIZE;
            let mut space_left = bs - journal_header_t::SIZE;
            for (blk, data) in bufs.by_ref() {
                let copy = &mut log[at_block * bs..(at_block + 1) * bs];
                at_block += 1;
                copy.copy_from_slice(data);
                let mut flags = 0;
                if copy[..4] == JBD2_MAGIC_NUMBER.to_be_bytes() {
                    copy[..4].fill(0);
                    flags |= JBD2_FLAG_ESCAPE;
                }
                if !tags.is_empty() {
                    flags |= JBD2_FLAG_SAME_UUID;
                }
                let tag = journal_block_tag3_t {
                    t_blocknr: *blk as u32,
                    t_flags: flags,
                    t_blocknr_high: (*blk >> 32) as u32,
                    t_checksum: if csum { tag_csum(seed, tid, copy) } else { 0 },
                };
                let first = tags.is_empty();
                tags.push((at, tag));
                at += tag_bytes;
                space_left -= tag_bytes;
                if first {
                    at += 16;
                    space_left -= 16;
                }
                if space_left < tag_bytes + 16 + tail {
                    break;
                }
            }
            let desc = &mut log[desc_at * bs..(desc_at + 1) * bs];
            header(desc, JBD2_DESCRIPTOR_BLOCK);
            let last = tags.len() - 1;
            for (i, (at, mut tag)) in tags.into_iter().enumerate() {
                if i == last {
                    tag.t_flags |= JBD2_FLAG_LAST_TAG;
                }
                self.encode_tag(&jsb, &tag, &mut desc[at..]);
                if i == 0 {
                    desc[at + tag_bytes..at + tag_bytes + 16].copy_from_slice(&jsb.s_uuid);
                }
            }
            if csum {
                let c = block_tail_csum(seed, desc);
                desc[bs - 4..].copy_from_slice(&c.to_be_bytes());
            }
        }
        // The commit block.
        let c = &mut log[at_block * bs..(at_block + 1) * bs];
        at_block += 1;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        commit_header {
            h_magic: JBD2_MAGIC_NUMBER,
            h_blocktype: JBD2_COMMIT_BLOCK,
            h_sequence: tid,
            h_commit_sec: now.as_secs(),
            h_commit_nsec: now.subsec_nanos(),
            ..Default::default()
        }
        .encode(c);
        if csum {
            let sum = commit_csum(seed, c);
            c[16..20].copy_from_slice(&sum.to_be_bytes());
        }
        debug_assert_eq!(at_block, nblocks, "the log takes the blocks log_blocks_for counts");
        if at_block as u32 > have {
            return Err(FsError::NoSpace { what: "journal: the log is full" });
        }
        Ok((log, start))
    }

    fn encode_tag(&self, jsb: &journal_superblock_t, tag: &journal_block_tag3_t, out: &mut [u8]) {
        if jsb.s_feature_incompat & INCOMPAT_CSUM_V3 != 0 {
            tag.encode(out);
            return;
        }
        // journal_block_tag_t: blocknr, csum16, flags16, blocknr_high.
        out[0..4].copy_from_slice(&tag.t_blocknr.to_be_bytes());
        out[4..6].copy_from_slice(&(tag.t_checksum as u16).to_be_bytes());
        out[6..8].copy_from_slice(&(tag.t_flags as u16).to_be_bytes());
        if jsb.s_feature_incompat & INCOMPAT_64BIT != 0 {
            out[8..12].copy_from_slice(&tag.t_blocknr_high.to_be_bytes());
        }
    }

    /// `jbd2_journal_update_sb_log_tail`: writes the journal superblock with the current
    /// tail (`s_start`, `s_sequence`), or as empty (`s_start == 0`) when nothing is live;
    /// `fua` adds a cache flush after it.
    fn update_sb_log_tail(&self, fua: bool) -> Result<()> {
        let raw = {
            let mut st = lock(&self.state);
            let (start, seq) = if st.committing.is_some() || !st.checkpoint.is_empty() {
                (st.tail, st.tail_sequence)
            } else {
                (0, st.transaction_sequence)
            };
            st.jsb.s_start = start;
            st.jsb.s_sequence = seq;
            let mut raw = st.jsb_raw.clone();
            st.jsb.encode(&mut raw);
            if st.jsb.has_csum() {
                let c = journal_superblock_t::csum(&raw);
                raw[0xFC..0x100].copy_from_slice(&c.to_be_bytes());
            }
            st.jsb_raw = raw.clone();
            st.flushed = start == 0;
            raw
        };
        let mut block = AlignedBuf::zeroed(self.map.block_size as usize);
        block[..1024].copy_from_slice(&raw);
        io::write_buf(self.dev.as_ref(), self.map.block_size, &mut block[..], &[self.map.bmap(0)?])?;
        self.stats.inc(Ev::JournalBlocks);
        if fua {
            io::flush(self.dev.as_ref())?;
        }
        Ok(())
    }

    /// `jbd2_log_do_checkpoint`: writes the newest committed copy of the blocks of the
    /// oldest transactions home (all of them with `all`, else until a transaction's worth of
    /// log is free), flushes, and moves the tail. Returns whether log space was freed.
    fn do_checkpoint(&self, all: bool) -> Result<bool> {
        let _cp = lock(&self.checkpoint_mutex);
        let span = self.map.maxlen - self.first;
        let (writes, n) = {
            let st = lock(&self.state);
            if st.checkpoint.is_empty() {
                return Ok(false);
            }
            let mut writes: Vec<(u64, Arc<[u8]>)> = Vec::new();
            let mut n = 0;
            for (i, cp) in st.checkpoint.iter().enumerate() {
                writes.extend(cp.blocks.iter().map(|(&b, d)| (b, d.clone())));
                n = i + 1;
                let tail = st.checkpoint.get(i + 1).map_or(st.head, |c| c.log_start);
                let live = n < st.checkpoint.len() || st.committing.is_some();
                let free = span - self.used(tail, st.head, live);
                if !all && free >= 2 * self.max_transaction + 32 {
                    break;
                }
            }
            (writes, n)
        };
        io::write_blocks(self.dev.as_ref(), self.map.block_size, writes.iter().map(|(b, d)| (*b, &d[..])))?;
        io::flush(self.dev.as_ref())?;
        self.stats.add(Ev::CheckpointBlocks, writes.len() as u64);
        {
            let mut st = lock(&self.state);
            for _ in 0..n {
                let cp = st.checkpoint.pop_front().expect("checkpointed transaction");
                for b in cp.blocks.keys() {
                    if st.cp_owner.get(b) == Some(&cp.tid) {
                        st.cp_owner.remove(b);
                    }
                }
            }
            let (tail, seq) = match st.checkpoint.front() {
                Some(cp) => (cp.log_start, cp.tid),
                None => (st.head, st.commit_sequence.wrapping_add(1)),
            };
            st.tail = tail;
            st.tail_sequence = seq;
        }
        // `jbd2_cleanup_journal_tail`: the home blocks are durable; now the tail moves on
        // disk, and only then is the log space free.
        self.update_sb_log_tail(true)?;
        let mut st = lock(&self.state);
        let live = !st.checkpoint.is_empty() || st.committing.is_some();
        st.free = span - self.used(st.tail, st.head, live);
        drop(st);
        self.wait_transaction_locked.wake_up_all();
        Ok(true)
    }

    /// Commits the running transaction, checkpoints everything and marks the log empty
    /// (`jbd2_journal_flush`, and `jbd2_journal_destroy` at unmount). Stops the thread.
    pub fn flush_and_stop(&self) -> Result<()> {
        self.force_commit()?;
        self.stop_thread();
        // A transaction started after the last commit (by nobody, normally) is committed
        // here, in this thread.
        if lock(&self.state).running.is_some() {
            self.commit_or_abort(None)?;
        }
        if let Some(why) = &lock(&self.state).aborted {
            return Err(aborted_error(why));
        }
        self.do_checkpoint(true)?;
        let mut st = lock(&self.state);
        st.tail = st.head;
        st.tail_sequence = st.transaction_sequence;
        drop(st);
        self.update_sb_log_tail(true)
    }

    fn running_mut<'a>(&self, st: &'a mut MutexGuard<'_, JState>, tid: u32) -> &'a mut Transaction {
        let t = st.running.as_mut().expect("a handle keeps its transaction running");
        debug_assert_eq!(t.tid, tid);
        t
    }
}

impl Handle<'_> {
    /// The transaction this handle belongs to.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// `jbd2_journal_get_write_access` + `jbd2_journal_dirty_metadata`: `buf` (changed by the
    /// caller, its lock let go) is part of this transaction. A buffer new to the transaction
    /// uses a credit; a revoke of its block in this transaction is cancelled
    /// (`jbd2_journal_cancel_revoke`). One already on the transaction takes no lock.
    pub fn dirty_metadata(&mut self, buf: &Arc<MetaBuffer>) {
        if buf.on_transaction(self.tid) {
            return;
        }
        let mut st = lock(&self.j.state);
        let t = self.j.running_mut(&mut st, self.tid);
        let b = buf.blocknr();
        t.revokes.remove(&b);
        if t.buffers.insert(b, buf.clone()).is_none() {
            self.used += 1;
            debug_assert!(self.used <= self.credits, "handle used {} of {} credits", self.used, self.credits);
            t.reserved = t.reserved.saturating_sub(1);
        }
        buf.set_transaction(self.tid);
    }

    /// [`Handle::dirty_metadata`] for block `blocknr` with contents `data` that only the
    /// caller keeps (a tree node, a directory block): a buffer of its own.
    pub fn dirty_block(&mut self, blocknr: u64, data: impl Into<Box<[u8]>>) {
        self.dirty_metadata(&MetaBuffer::new(blocknr, data.into()));
    }

    /// `jbd2_journal_revoke` (with `jbd2_journal_forget`): block `blocknr` was freed; replay
    /// must not write older copies of it.
    pub fn revoke(&mut self, blocknr: u64) {
        let mut st = lock(&self.j.state);
        st.jsb.s_feature_incompat |= INCOMPAT_REVOKE;
        let t = self.j.running_mut(&mut st, self.tid);
        if let Some(buf) = t.buffers.remove(&blocknr) {
            buf.clear_transaction(self.tid);
            t.reserved += 1;
        }
        t.revokes.insert(blocknr);
    }

    /// `jbd2_journal_inode_ranged_write` (`write`) / `jbd2_journal_inode_ranged_wait`: the
    /// commit of this transaction writes (with `write`) and waits for bytes
    /// `[start, end)` of inode `ino` (data=ordered).
    pub fn add_inode(&mut self, ino: u64, start: u64, end: u64, write: bool) {
        let mut st = lock(&self.j.state);
        let t = self.j.running_mut(&mut st, self.tid);
        t.inodes
            .entry(ino)
            .and_modify(|r| {
                r.start = r.start.min(start);
                r.end = r.end.max(end);
                r.write |= write;
            })
            .or_insert(JInode { start, end, write });
    }

    /// `jbd2_journal_extend`: `n` more credits for this handle.
    pub fn extend(&mut self, n: u32) {
        let mut st = lock(&self.j.state);
        let t = self.j.running_mut(&mut st, self.tid);
        t.reserved += n;
        self.credits += n;
    }

    /// Credits this handle has not used yet (`jbd2_handle_buffer_credits`).
    pub fn credits_left(&self) -> u32 {
        self.credits - self.used.min(self.credits)
    }
}

impl Drop for Handle<'_> {
    /// `jbd2_journal_stop`: unused credits go back; the commit waiting for open handles
    /// may proceed.
    fn drop(&mut self) {
        let mut st = lock(&self.j.state);
        let mut last = false;
        if let Some(t) = st.running.as_mut()
            && t.tid == self.tid
        {
            t.updates -= 1;
            t.reserved = t.reserved.saturating_sub(self.credits - self.used.min(self.credits));
            last = t.updates == 0 && st.locked;
        }
        drop(st);
        // Only a commit locking the transaction waits for the last handle.
        if last {
            self.j.wait_updates.wake_up_all();
        }
    }
}
