//! Journal recovery (fs/jbd2/recovery.c, `jbd2_journal_recover`): three passes over the log
//! from `s_start` — find the last complete transaction (`PASS_SCAN`), gather revoke records
//! (`PASS_REVOKE`), and write every logged block that no later revoke cancels to its home
//! location (`PASS_REPLAY`) — then flush.

use super::format::*;
use super::{JournalMap, tid_geq, tid_gt};
use crate::core::io;
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use std::collections::{BTreeMap, HashMap};

/// What recovery did (`struct recovery_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// First transaction found.
    pub start_transaction: u32,
    /// One past the last complete transaction.
    pub end_transaction: u32,
    /// Blocks written home.
    pub nr_replays: u64,
    /// Revoke records read.
    pub nr_revokes: u64,
    /// Logged blocks skipped because a revoke cancels them.
    pub nr_revoke_hits: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Scan,
    Revoke,
    Replay,
}

/// Reads log blocks with a read-ahead window (`do_readahead`, 128 KiB).
struct LogReader<'a> {
    dev: &'a dyn BlockDev,
    map: &'a JournalMap,
    window: HashMap<u32, Vec<u8>>,
}

impl LogReader<'_> {
    fn read(&mut self, lblk: u32) -> Result<Vec<u8>> {
        if lblk >= self.map.maxlen {
            return Err(FsError::Corrupt { what: format!("journal block {lblk} is past the journal's end") });
        }
        if let Some(b) = self.window.remove(&lblk) {
            return Ok(b);
        }
        self.window.clear();
        let bs = self.map.block_size as usize;
        let pblk = self.map.bmap(lblk)?;
        // The physically contiguous run from here, up to 128 KiB and the journal's end.
        let mut n = 1;
        while n < (128 << 10) / bs && lblk + (n as u32) < self.map.maxlen {
            if self.map.bmap(lblk + n as u32)? != pblk + n as u64 {
                break;
            }
            n += 1;
        }
        let buf = io::read_blocks(self.dev, self.map.block_size, pblk, n)?;
        for i in 1..n {
            self.window.insert(lblk + i as u32, buf[i * bs..(i + 1) * bs].to_vec());
        }
        Ok(buf[..bs].to_vec())
    }
}

/// Recovers the journal described by `jsb` (whose `s_start` is not 0): replays complete
/// transactions into their home blocks on `dev` and flushes. Returns what it did; the caller
/// then starts the log afresh at `end_transaction`.
pub fn jbd2_journal_recover(dev: &dyn BlockDev, map: &JournalMap, jsb: &journal_superblock_t) -> Result<RecoveryInfo> {
    let mut info = RecoveryInfo::default();
    let mut reader = LogReader { dev, map, window: HashMap::new() };
    let mut revoked: HashMap<u64, u32> = HashMap::new();
    let mut replay: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for pass in [Pass::Scan, Pass::Revoke, Pass::Replay] {
        do_one_pass(&mut reader, jsb, &mut info, pass, &mut revoked, &mut replay)?;
    }
    info.nr_replays = replay.len() as u64;
    io::write_blocks(dev, map.block_size, replay.iter().map(|(&b, d)| (b, d.as_slice())))?;
    io::flush(dev)?;
    Ok(info)
}

fn wrap(map: &JournalMap, first: u32, b: u32) -> u32 {
    if b >= map.maxlen { b - (map.maxlen - first) } else { b }
}

fn read_tag_block(jsb: &journal_superblock_t, tag: &[u8]) -> u64 {
    let lo = u32::from_be_bytes(tag[0..4].try_into().expect("4 bytes")) as u64;
    if jsb.s_feature_incompat & INCOMPAT_64BIT != 0 {
        lo | (u32::from_be_bytes(tag[8..12].try_into().expect("4 bytes")) as u64) << 32
    } else {
        lo
    }
}

/// The tags of a descriptor block: (home block, flags, offset of the tag).
fn tags(jsb: &journal_superblock_t, b: &[u8]) -> Vec<(u64, u32, usize)> {
    let tag_bytes = jsb.tag_bytes();
    let size = if jsb.has_csum() { b.len() - BLOCK_TAIL_SIZE } else { b.len() };
    let mut out = Vec::new();
    let mut at = journal_header_t::SIZE;
    while at + tag_bytes <= size {
        // t_flags: the low 16 bits at bytes 6..8 in every tag format.
        let flags = u16::from_be_bytes([b[at + 6], b[at + 7]]) as u32;
        out.push((read_tag_block(jsb, &b[at..]), flags, at));
        at += tag_bytes;
        if flags & JBD2_FLAG_SAME_UUID == 0 {
            at += 16;
        }
        if flags & JBD2_FLAG_LAST_TAG != 0 {
            break;
        }
    }
    out
}

fn do_one_pass(
    r: &mut LogReader<'_>,
    jsb: &journal_superblock_t,
    info: &mut RecoveryInfo,
    pass: Pass,
    revoked: &mut HashMap<u64, u32>,
    replay: &mut BTreeMap<u64, Vec<u8>>,
) -> Result<()> {
    let seed = jsb.csum_seed();
    let csum = jsb.has_csum();
    let first = jsb.s_first;
    let mut next_commit_id = jsb.s_sequence;
    let mut next_log_block = jsb.s_start;
    if pass == Pass::Scan {
        info.start_transaction = next_commit_id;
    }
    loop {
        if pass != Pass::Scan && tid_geq(next_commit_id, info.end_transaction) {
            break;
        }
        let b = r.read(next_log_block)?;
        next_log_block = wrap(r.map, first, next_log_block + 1);
        let h = journal_header_t::decode(&b);
        if h.h_magic != JBD2_MAGIC_NUMBER || h.h_sequence != next_commit_id {
            break;
        }
        match h.h_blocktype {
            JBD2_DESCRIPTOR_BLOCK => {
                if csum && block_tail_csum(seed, &b) != u32::from_be_bytes(b[b.len() - 4..].try_into().expect("4")) {
                    if pass != Pass::Scan {
                        return Err(FsError::Corrupt {
                            what: format!("journal descriptor block checksum mismatch in transaction {next_commit_id}"),
                        });
                    }
                    // A stale block from an older use of the log: the log ends here.
                    break;
                }
                let t = tags(jsb, &b);
                if pass != Pass::Replay {
                    next_log_block = wrap(r.map, first, next_log_block + t.len() as u32);
                    continue;
                }
                for (blocknr, flags, at) in t {
                    let io_block = next_log_block;
                    next_log_block = wrap(r.map, first, next_log_block + 1);
                    let mut data = r.read(io_block)?;
                    if revoked.get(&blocknr).is_some_and(|&rt| tid_geq(rt, next_commit_id)) {
                        info.nr_revoke_hits += 1;
                        continue;
                    }
                    if csum {
                        let c = tag_csum(seed, next_commit_id, &data);
                        let ok = if jsb.s_feature_incompat & INCOMPAT_CSUM_V3 != 0 {
                            journal_block_tag3_t::decode(&b[at..]).t_checksum == c
                        } else {
                            u16::from_be_bytes([b[at + 4], b[at + 5]]) == c as u16
                        };
                        if !ok {
                            return Err(FsError::Corrupt {
                                what: format!(
                                    "journal: checksum mismatch recovering block {blocknr} of transaction \
                                     {next_commit_id}"
                                ),
                            });
                        }
                    }
                    if flags & JBD2_FLAG_ESCAPE != 0 {
                        data[..4].copy_from_slice(&JBD2_MAGIC_NUMBER.to_be_bytes());
                    }
                    replay.insert(blocknr, data);
                }
            }
            JBD2_COMMIT_BLOCK => {
                if pass == Pass::Scan && csum {
                    let stored = commit_header::decode(&b).h_chksum0;
                    if commit_csum(seed, &b) != stored {
                        // A torn commit: the transaction did not happen (synchronous commit).
                        info.end_transaction = next_commit_id;
                        break;
                    }
                }
                next_commit_id = next_commit_id.wrapping_add(1);
            }
            JBD2_REVOKE_BLOCK => {
                if pass == Pass::Scan
                    && csum
                    && block_tail_csum(seed, &b) != u32::from_be_bytes(b[b.len() - 4..].try_into().expect("4"))
                {
                    break;
                }
                if pass == Pass::Revoke {
                    scan_revoke_records(jsb, &b, next_commit_id, revoked, info)?;
                }
            }
            _ => break,
        }
    }
    if pass == Pass::Scan {
        if info.end_transaction == 0 || tid_gt(info.end_transaction, next_commit_id) {
            info.end_transaction = next_commit_id;
        }
    } else if info.end_transaction != next_commit_id {
        return Err(FsError::Corrupt {
            what: format!(
                "journal recovery pass ended at transaction {next_commit_id}, expected {}",
                info.end_transaction
            ),
        });
    }
    Ok(())
}

/// `scan_revoke_records`: every block in the record is revoked up to `sequence`.
fn scan_revoke_records(
    jsb: &journal_superblock_t,
    b: &[u8],
    sequence: u32,
    revoked: &mut HashMap<u64, u32>,
    info: &mut RecoveryInfo,
) -> Result<()> {
    let h = jbd2_journal_revoke_header_t::decode(b);
    let csum_size = if jsb.has_csum() { BLOCK_TAIL_SIZE } else { 0 };
    let max = h.r_count as usize;
    if max > b.len() - csum_size {
        return Err(FsError::Corrupt { what: format!("journal revoke block of transaction {sequence} is too long") });
    }
    let record_len = if jsb.s_feature_incompat & INCOMPAT_64BIT != 0 { 8 } else { 4 };
    let mut at = jbd2_journal_revoke_header_t::SIZE;
    while at + record_len <= max {
        let blocknr = if record_len == 4 {
            u32::from_be_bytes(b[at..at + 4].try_into().expect("4")) as u64
        } else {
            u64::from_be_bytes(b[at..at + 8].try_into().expect("8"))
        };
        at += record_len;
        // `jbd2_journal_set_revoke`: keep the newest sequence.
        let e = revoked.entry(blocknr).or_insert(sequence);
        if tid_gt(sequence, *e) {
            *e = sequence;
        }
        info.nr_revokes += 1;
    }
    Ok(())
}
