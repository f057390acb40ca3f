//! The running journal (fs/jbd2/journal.c, transaction.c, commit.c, checkpoint.c).
//!
//! - A [`Handle`] (`handle_t`, `jbd2_journal_start`) joins the running transaction with a
//!   number of credits: the most metadata blocks it may dirty. `start` waits while the running
//!   transaction is being locked for commit, starts a commit when the transaction would grow
//!   past `j_max_transaction_buffers` (a quarter of the journal), and checkpoints when the log
//!   has less room than that (`add_transaction_credits`, `__jbd2_log_wait_for_space`).
//! - [`Handle::dirty_metadata`] (`jbd2_journal_get_write_access` + `_dirty_metadata`) puts
//!   the block's new contents into the transaction; the copy is what the commit logs (the
//!   kernel's frozen data), so handles of the next transaction may change the block while
//!   this one is written. [`Handle::revoke`] (`jbd2_journal_revoke`) records a freed metadata
//!   block so that replay does not write an older copy over its new owner.
//! - The commit (`jbd2_journal_commit_transaction`), run by the journal's thread
//!   (`kjournald2`) when asked or when the transaction is older than the commit interval:
//!   lock (wait for open handles), wait for ordered data, write revoke blocks, descriptors and
//!   the logged blocks, then the commit block with a cache flush before and after it
//!   (`REQ_PREFLUSH | REQ_FUA`). The committed blocks go on the checkpoint list.
//! - The checkpoint (`jbd2_log_do_checkpoint`) writes committed blocks home, flushes, and
//!   moves the log tail in the journal superblock (`jbd2_cleanup_journal_tail`), which frees
//!   log space; the log wraps from its end to `s_first`.
//! - [`Journal::complete_transaction`] is `jbd2_complete_transaction`, what fsync waits on.

use super::format::*;
use super::{JournalMap, tid_geq, tid_gt};
use crate::core::io;
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::stats::Stats;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The ordered-data hook of the layer above (`j_submit_inode_data_buffers` and
/// `j_finish_inode_data_buffers`, which ext4 points at its writeback of the inode's range).
pub trait JournalData: Send + Sync {
    /// Returns once the data of the blocks newly allocated to inode `ino` in the committing
    /// transaction is on the device (written and waited for; the commit's cache flush makes
    /// it durable). An error is reported and the commit goes on, as jbd2 does.
    fn write_inode_data(&self, ino: u64) -> Result<()>;
}

/// Journal settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// Commit the running transaction once it is this old (`j_commit_interval`, the `commit=`
    /// mount option, 5 s by default); `None`: only when asked (fsync, sync, a full
    /// transaction, unmount), for deterministic counters.
    pub commit_interval: Option<Duration>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions { commit_interval: Some(Duration::from_secs(5)) }
    }
}

/// A transaction (`transaction_t`).
struct Transaction {
    tid: u32,
    /// Open handles (`t_updates`).
    updates: u32,
    /// Credits reserved by open handles and not yet used (part of `t_outstanding_credits`).
    reserved: u32,
    /// Home block → the contents to log (`t_buffers`, frozen).
    buffers: BTreeMap<u64, Box<[u8]>>,
    /// Revoked blocks (the transaction's revoke table).
    revokes: BTreeSet<u64>,
    /// Inodes with ordered data (`t_inode_list`).
    inodes: BTreeSet<u64>,
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
    /// Waits of handles, fsyncs and the commit (`j_wait_transaction_locked`,
    /// `j_wait_done_commit`, `j_wait_updates`).
    cond: Condvar,
    /// The commit thread's wait (`j_wait_commit`): woken only by commit requests and
    /// shutdown, so that handles do not wake it.
    kick: Condvar,
    /// Held by whoever checkpoints (`j_checkpoint_mutex`).
    checkpoint_mutex: Mutex<()>,
    /// Held by whoever commits: the thread, or a caller when no thread runs.
    commit_mutex: Mutex<()>,
    /// Counters: commits (`meta_writes`), journal and checkpoint blocks.
    stats: Arc<Stats>,
    data: Mutex<Option<Arc<dyn JournalData>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A handle on the running transaction (`handle_t`). Dropping it stops it
/// (`jbd2_journal_stop`).
pub struct Handle<'j> {
    j: &'j Journal,
    tid: u32,
    credits: u32,
    used: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            cond: Condvar::new(),
            kick: Condvar::new(),
            checkpoint_mutex: Mutex::new(()),
            commit_mutex: Mutex::new(()),
            stats,
            data: Mutex::new(None),
            thread: Mutex::new(None),
        })
    }

    /// Sets the ordered-data hook the commit calls.
    pub fn set_data_hook(&self, data: Arc<dyn JournalData>) {
        *lock(&self.data) = Some(data);
    }

    /// Starts the commit thread (`jbd2_journal_start_thread`). Without it, commits run in
    /// the thread that asks for them.
    pub fn start_thread(self: &Arc<Self>) {
        let j = Arc::clone(self);
        let h = std::thread::Builder::new()
            .name("kjournald2".into())
            .spawn(move || j.kjournald2())
            .expect("spawn the journal thread");
        *lock(&self.thread) = Some(h);
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

    /// `jbd2_journal_start`: a handle with `credits` on the running transaction.
    pub fn start(&self, credits: u32) -> Result<Handle<'_>> {
        let credits = credits.max(1);
        if credits > self.max_transaction {
            return Err(FsError::NoSpace { what: "journal: an operation needs more credits than a transaction holds" });
        }
        let mut st = lock(&self.state);
        loop {
            if let Some(why) = &st.aborted {
                return Err(aborted_error(why));
            }
            if st.locked {
                st = self.wait(st);
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
                    inodes: BTreeSet::new(),
                    start: Instant::now(),
                });
                // The commit thread arms the transaction's expiry (`t_expires`).
                if self.opts.commit_interval.is_some() {
                    self.kick.notify_all();
                }
            }
            let t = st.running.as_ref().expect("running transaction");
            let needed = t.outstanding() + credits;
            if needed > self.max_transaction {
                // Too large: commit it. While another commit is being written (its ordered
                // data may wait for the caller), let the transaction grow up to twice the
                // limit rather than wait for that commit.
                let tid = t.tid;
                if st.committing.is_none() || needed > 2 * self.max_transaction {
                    if tid_gt(tid, st.commit_request) {
                        st.commit_request = tid;
                        self.kick.notify_all();
                    }
                    st = self.wait(st);
                    continue;
                }
            }
            // Room in the log for the running transaction with this handle's credits.
            let need = self.log_blocks_for(needed, 0);
            if self.space_left(&st) < need {
                drop(st);
                let progressed = self.do_checkpoint(false)?;
                st = lock(&self.state);
                if !progressed && self.space_left(&st) < need {
                    if st.committing.is_none() && st.checkpoint.is_empty() {
                        return Err(FsError::NoSpace { what: "journal: the log is too small for this transaction" });
                    }
                    st = self.wait(st);
                }
                continue;
            }
            let t = st.running.as_mut().expect("running transaction");
            t.updates += 1;
            t.reserved += credits;
            return Ok(Handle { j: self, tid: t.tid, credits, used: 0 });
        }
    }

    fn wait<'a>(&self, st: MutexGuard<'a, JState>) -> MutexGuard<'a, JState> {
        self.cond.wait(st).unwrap_or_else(|p| p.into_inner())
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
        let mut st = lock(&self.state);
        if tid_geq(st.commit_sequence, tid) {
            return Ok(false);
        }
        if tid_gt(tid, st.commit_request) {
            st.commit_request = tid;
        }
        if lock(&self.thread).is_none() {
            // No commit thread: commit here.
            drop(st);
            while !self.committed(tid) {
                self.commit_or_abort()?;
            }
            return Ok(true);
        }
        self.kick.notify_all();
        while !tid_geq(st.commit_sequence, tid) {
            if let Some(why) = &st.aborted {
                return Err(aborted_error(why));
            }
            st = self.wait(st);
        }
        Ok(true)
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
        let mut st = lock(&self.state);
        loop {
            if st.shutdown {
                return;
            }
            let due = st.running.as_ref().and_then(|t| {
                let asked = tid_geq(st.commit_request, t.tid);
                let expiry = self.opts.commit_interval.map(|i| t.start + i);
                if asked || expiry.is_some_and(|e| Instant::now() >= e) { Some(Ok(())) } else { expiry.map(Err) }
            });
            match due {
                Some(Ok(())) if st.aborted.is_none() => {
                    drop(st);
                    // A failure aborts the journal; waiters see it.
                    let _ = self.commit_or_abort();
                    st = lock(&self.state);
                }
                Some(Err(expiry)) => {
                    let wait = expiry.saturating_duration_since(Instant::now());
                    st = self.kick.wait_timeout(st, wait).unwrap_or_else(|p| p.into_inner()).0;
                }
                _ => st = self.kick.wait(st).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Stops the commit thread without committing (a crash, or before the final commit).
    pub fn stop_thread(&self) {
        lock(&self.state).shutdown = true;
        self.kick.notify_all();
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
        lock(&self.state).shutdown = false;
    }

    /// Commits; a failure aborts the journal (`jbd2_journal_abort`): every later handle
    /// and fsync fails, as ext4 does once its journal is aborted.
    fn commit_or_abort(&self) -> Result<()> {
        self.commit_transaction().inspect_err(|e| {
            let mut s = lock(&self.state);
            s.aborted.get_or_insert_with(|| e.to_string());
            s.locked = false;
            s.committing = None;
            s.committing_blocks = 0;
            self.cond.notify_all();
        })
    }

    /// `jbd2_journal_commit_transaction`.
    fn commit_transaction(&self) -> Result<()> {
        let _committing = lock(&self.commit_mutex);
        // T_LOCKED: no new handles; wait for the open ones.
        let mut st = lock(&self.state);
        if st.running.is_none() {
            return Ok(());
        }
        st.locked = true;
        while st.running.as_ref().is_some_and(|t| t.updates > 0) {
            st = self.wait(st);
        }
        let t = st.running.take().expect("running transaction");
        st.locked = false;
        st.committing = Some(t.tid);
        st.committing_blocks = self.log_blocks_for(t.buffers.len() as u32, t.revokes.len() as u32);
        let flushed = st.flushed;
        self.cond.notify_all();
        drop(st);

        if t.buffers.is_empty() && t.revokes.is_empty() {
            // Nothing to log: the transaction only had handles that changed nothing.
            let mut st = lock(&self.state);
            st.commit_sequence = t.tid;
            st.committing = None;
            st.committing_blocks = 0;
            self.cond.notify_all();
            return Ok(());
        }
        if flushed {
            // The on-disk log says empty: point it at this transaction before writing it.
            self.update_sb_log_tail(false)?;
        }
        // Ordered data (`journal_submit_data_buffers`, `journal_finish_inode_data_buffers`).
        let data = lock(&self.data).clone();
        if let Some(data) = data {
            for &ino in &t.inodes {
                // An error is reported by the writeback that failed (mapping error); the
                // commit goes on, as jbd2 does.
                let _ = data.write_inode_data(ino);
            }
        }
        let (log, log_start) = self.build_log(&t)?;
        let n = log.len();
        // Revoke, descriptor and logged blocks, then the commit block with PREFLUSH | FUA.
        self.write_log(log_start, &log[..n - 1])?;
        io::flush(self.dev.as_ref())?;
        self.write_log(self.wrap(log_start + n as u32 - 1), &log[n - 1..])?;
        io::flush(self.dev.as_ref())?;
        Stats::bump(&self.stats.meta_writes, 1);
        Stats::bump(&self.stats.journal_blocks, n as u64);

        // T_FINISHED: the blocks go on the checkpoint list.
        let mut st = lock(&self.state);
        st.head = self.wrap(log_start + log.len() as u32);
        st.free -= log.len() as u32;
        for &b in &t.revokes {
            // A revoked block's older copies must never be written home: it may be data now.
            if let Some(owner) = st.cp_owner.remove(&b)
                && let Some(cp) = st.checkpoint.iter_mut().find(|c| c.tid == owner)
            {
                cp.blocks.remove(&b);
            }
        }
        let mut blocks = BTreeMap::new();
        for (b, data) in t.buffers {
            if let Some(owner) = st.cp_owner.insert(b, t.tid)
                && let Some(cp) = st.checkpoint.iter_mut().find(|c| c.tid == owner)
            {
                cp.blocks.remove(&b);
            }
            blocks.insert(b, Arc::<[u8]>::from(data));
        }
        st.checkpoint.push_back(CpTransaction { tid: t.tid, log_start, blocks });
        st.commit_sequence = t.tid;
        st.committing = None;
        st.committing_blocks = 0;
        self.cond.notify_all();
        Ok(())
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

    /// The transaction's log blocks, in order: revoke blocks, then descriptors each followed
    /// by the blocks it describes, then the commit block. Returns them and the first log
    /// block they go to.
    fn build_log(&self, t: &Transaction) -> Result<(Vec<Vec<u8>>, u32)> {
        let (jsb, start) = {
            let st = lock(&self.state);
            (st.jsb, st.head)
        };
        let bs = self.map.block_size as usize;
        let seed = jsb.csum_seed();
        let csum = jsb.has_csum();
        let tail = if csum { BLOCK_TAIL_SIZE } else { 0 };
        let header = |kind: u32| {
            let mut b = vec![0u8; bs];
            journal_header_t { h_magic: JBD2_MAGIC_NUMBER, h_blocktype: kind, h_sequence: t.tid }.encode(&mut b);
            b
        };
        let mut log = Vec::new();
        // `jbd2_journal_write_revoke_records`.
        let record = if jsb.s_feature_incompat & INCOMPAT_64BIT != 0 { 8 } else { 4 };
        let mut revokes = t.revokes.iter().peekable();
        while revokes.peek().is_some() {
            let mut b = header(JBD2_REVOKE_BLOCK);
            let mut at = jbd2_journal_revoke_header_t::SIZE;
            while at + record <= bs - tail
                && let Some(&blk) = revokes.next()
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
                let c = block_tail_csum(seed, &b);
                b[bs - 4..].copy_from_slice(&c.to_be_bytes());
            }
            log.push(b);
        }
        // Descriptors and logged blocks.
        let tag_bytes = jsb.tag_bytes();
        let mut bufs = t.buffers.iter().peekable();
        while bufs.peek().is_some() {
            let mut desc = header(JBD2_DESCRIPTOR_BLOCK);
            let desc_at = log.len();
            log.push(Vec::new());
            let mut at = journal_header_t::SIZE;
            let mut space_left = bs - journal_header_t::SIZE;
            let mut first_tag = true;
            let mut last_tag_at = at;
            for (&blk, data) in bufs.by_ref() {
                let mut copy = data.to_vec();
                let mut flags = 0;
                if copy[..4] == JBD2_MAGIC_NUMBER.to_be_bytes() {
                    copy[..4].fill(0);
                    flags |= JBD2_FLAG_ESCAPE;
                }
                if !first_tag {
                    flags |= JBD2_FLAG_SAME_UUID;
                }
                let tag = journal_block_tag3_t {
                    t_blocknr: blk as u32,
                    t_flags: flags,
                    t_blocknr_high: (blk >> 32) as u32,
                    t_checksum: if csum { tag_csum(seed, t.tid, &copy) } else { 0 },
                };
                self.encode_tag(&jsb, &tag, &mut desc[at..]);
                last_tag_at = at;
                at += tag_bytes;
                space_left -= tag_bytes;
                if first_tag {
                    desc[at..at + 16].copy_from_slice(&jsb.s_uuid);
                    at += 16;
                    space_left -= 16;
                    first_tag = false;
                }
                log.push(copy);
                if space_left < tag_bytes + 16 + tail {
                    break;
                }
            }
            // `JBD2_FLAG_LAST_TAG` on the last tag.
            let f = u16::from_be_bytes([desc[last_tag_at + 6], desc[last_tag_at + 7]]) as u32 | JBD2_FLAG_LAST_TAG;
            desc[last_tag_at + 6..last_tag_at + 8].copy_from_slice(&(f as u16).to_be_bytes());
            if csum {
                let c = block_tail_csum(seed, &desc);
                desc[bs - 4..].copy_from_slice(&c.to_be_bytes());
            }
            log[desc_at] = desc;
        }
        // The commit block.
        let mut c = header(JBD2_COMMIT_BLOCK);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        commit_header {
            h_magic: JBD2_MAGIC_NUMBER,
            h_blocktype: JBD2_COMMIT_BLOCK,
            h_sequence: t.tid,
            h_commit_sec: now.as_secs(),
            h_commit_nsec: now.subsec_nanos(),
            ..Default::default()
        }
        .encode(&mut c);
        if csum {
            let sum = commit_csum(seed, &c);
            c[16..20].copy_from_slice(&sum.to_be_bytes());
        }
        log.push(c);
        let have = lock(&self.state).free;
        if log.len() as u32 > have {
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

    /// Writes consecutive log blocks from log block `start`, wrapping at the end.
    fn write_log(&self, start: u32, blocks: &[Vec<u8>]) -> Result<()> {
        let mut list = Vec::with_capacity(blocks.len());
        for (i, b) in blocks.iter().enumerate() {
            let l = self.wrap(start + i as u32);
            list.push((self.map.bmap(l)?, b.as_slice()));
        }
        io::write_blocks(self.dev.as_ref(), self.map.block_size, list)?;
        Ok(())
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
        let bs = self.map.block_size as usize;
        let mut block = vec![0u8; bs];
        block[..1024].copy_from_slice(&raw);
        io::write_blocks(self.dev.as_ref(), self.map.block_size, [(self.map.bmap(0)?, block.as_slice())])?;
        Stats::bump(&self.stats.journal_blocks, 1);
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
        Stats::bump(&self.stats.checkpoint_blocks, writes.len() as u64);
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
        self.cond.notify_all();
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
            self.commit_or_abort()?;
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
}

impl Handle<'_> {
    /// The transaction this handle belongs to.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// `jbd2_journal_get_write_access` + `jbd2_journal_dirty_metadata`: block `blocknr` now
    /// holds `data` (one block) in this transaction. A block new to the transaction uses a
    /// credit; a revoke of it in this transaction is cancelled (`jbd2_journal_cancel_revoke`).
    pub fn dirty_metadata(&mut self, blocknr: u64, data: &[u8]) {
        let mut st = lock(&self.j.state);
        let t = st.running.as_mut().expect("a handle keeps its transaction running");
        debug_assert_eq!(t.tid, self.tid);
        t.revokes.remove(&blocknr);
        match t.buffers.get_mut(&blocknr) {
            Some(b) => b.copy_from_slice(data),
            None => {
                t.buffers.insert(blocknr, data.into());
                self.used += 1;
                debug_assert!(self.used <= self.credits, "handle used {} of {} credits", self.used, self.credits);
                t.reserved = t.reserved.saturating_sub(1);
            }
        }
    }

    /// `jbd2_journal_revoke` (with `jbd2_journal_forget`): block `blocknr` was freed; replay
    /// must not write older copies of it.
    pub fn revoke(&mut self, blocknr: u64) {
        let mut st = lock(&self.j.state);
        st.jsb.s_feature_incompat |= INCOMPAT_REVOKE;
        let t = st.running.as_mut().expect("a handle keeps its transaction running");
        if t.buffers.remove(&blocknr).is_some() {
            t.reserved += 1;
        }
        t.revokes.insert(blocknr);
    }

    /// `jbd2_journal_inode_ranges_for_write`: the commit of this transaction must wait for
    /// the data of inode `ino` (blocks newly allocated to it, data=ordered).
    pub fn add_inode_write(&mut self, ino: u64) {
        let mut st = lock(&self.j.state);
        let t = st.running.as_mut().expect("a handle keeps its transaction running");
        t.inodes.insert(ino);
    }
}

impl Drop for Handle<'_> {
    /// `jbd2_journal_stop`: unused credits go back; the commit waiting for open handles
    /// may proceed.
    fn drop(&mut self) {
        let mut st = lock(&self.j.state);
        if let Some(t) = st.running.as_mut()
            && t.tid == self.tid
        {
            t.updates -= 1;
            t.reserved = t.reserved.saturating_sub(self.credits - self.used.min(self.credits));
            // Only a commit locking the transaction waits for the last handle.
            if t.updates == 0 && st.locked {
                self.j.cond.notify_all();
            }
        }
    }
}
