//! What each file may hold after a crash: the durability promises of the ops that returned
//! before the cut, as [`Durability`] (the rules `aopsbench diff` holds power cuts to) states
//! them for one observer, the crashed device.
//!
//! Per file: the content the last completed sync (fsync, fdatasync, or a remount, which syncs
//! everything) made durable, then every later op up to the one running at the cut. A file
//! after the crash must exist, its size must lie between the smallest and the largest size
//! since that sync, and each byte must hold a value its block had since (written data, the
//! zeros of a punch, zero_range or truncate, or a hole): bytes from before the sync are a lost
//! fsync; bytes no op put there are stale or foreign data. collapse_range and insert_range move
//! blocks by changing extents in a transaction while a later overwrite of a moved block goes to
//! it in place (data=ordered orders only new allocations): the file may show the block layout
//! of any point since the sync, with the blocks' data under it.

use workloads::{Op, pattern};

use crate::diff::durability::{Durability, Violation};
use crate::diff::{Model, ModelError};

/// What a crashed file shows that its ops did not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The file is gone.
    Missing,
    /// Its size is outside what the ops allow.
    Size {
        /// Size found.
        found: u64,
        /// Smallest size allowed.
        min: u64,
        /// Largest size allowed.
        max: u64,
    },
    /// Bytes `[offset, offset + len)` match no allowed version (the first such run).
    Data {
        /// First byte.
        offset: u64,
        /// Bytes.
        len: u64,
    },
}

/// The durability promises of an op stream, walked forward through crash points.
pub struct Oracle<'a> {
    ops: &'a [Op],
    model: Model,
    rules: Durability,
    write_buf: Vec<u8>,
    /// Ops applied to the model (begun by the cut).
    started: usize,
    /// Ops that returned before the cut.
    completed: usize,
    /// Per file, the last completed sync (0: none since the workload started).
    synced_by: Vec<u64>,
}

impl<'a> Oracle<'a> {
    /// `files` empty files, before any of `ops`; collapse/insert aligned to `block`.
    pub fn new(ops: &'a [Op], files: u32, block: u64) -> Self {
        Oracle {
            ops,
            model: Model::new(files, block, 0),
            rules: Durability::new(files, 1),
            write_buf: Vec::new(),
            started: 0,
            completed: 0,
            synced_by: vec![0; files as usize],
        }
    }

    /// Moves to a cut where ops `1..=started` had begun and `1..=completed` had returned.
    /// Neither may go back.
    pub fn advance(&mut self, started: usize, completed: usize) -> Result<(), ModelError> {
        let started = started.min(self.ops.len());
        while self.started < started {
            let op = &self.ops[self.started];
            self.started += 1;
            let n = self.started as u64;
            if let Op::Write { offset, len, tag, .. } = *op {
                self.write_buf.resize(len as usize, 0);
                pattern::fill(tag, offset, &mut self.write_buf);
            }
            self.rules.before(n, op, &self.model);
            let _outcome = self.model.apply(op, &self.write_buf)?;
            self.rules.after(n, op, &self.model);
        }
        let completed = completed.min(self.started);
        while self.completed < completed {
            let op = &self.ops[self.completed];
            self.completed += 1;
            let n = self.completed as u64;
            match *op {
                Op::Fsync { file } | Op::Fdatasync { file } => {
                    self.rules.durable(0, file, n);
                    if let Some(s) = self.synced_by.get_mut(file as usize) {
                        *s = n;
                    }
                }
                Op::Remount => {
                    self.rules.all_durable(0, n);
                    self.synced_by.iter_mut().for_each(|s| *s = n);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Ops begun by the cut.
    pub fn started(&self) -> usize {
        self.started
    }

    /// Ops returned before the cut.
    pub fn completed(&self) -> usize {
        self.completed
    }

    /// The last completed sync of `file` (0: none since the workload started).
    pub fn synced_by(&self, file: u32) -> u64 {
        self.synced_by[file as usize]
    }

    /// Bytes `[from, to)` of `file` as its last sync left them.
    pub fn durable_bytes(&self, file: u32, from: u64, to: u64) -> Vec<u8> {
        self.rules.durable_bytes(0, file, &self.model, from, to)
    }

    /// Checks what the crashed `file` holds (`None`: it is missing).
    pub fn check(&self, file: u32, found: Option<&[u8]>) -> Option<Finding> {
        let Some(found) = found else { return Some(Finding::Missing) };
        match self.rules.check(0, file, &self.model, found) {
            Ok(()) => None,
            Err(Violation::Size { actual, min, max, .. }) => Some(Finding::Size { found: actual, min, max }),
            Err(Violation::Data { offset, run, .. }) => Some(Finding::Data { offset, len: run }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(tag: u64, offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        pattern::fill(tag, offset, &mut v);
        v
    }

    #[test]
    fn synced_data_must_survive_and_later_writes_may_or_may_not() {
        let ops = [
            Op::Write { file: 0, offset: 0, len: 100, tag: 1 },
            Op::Fsync { file: 0 },
            Op::Write { file: 0, offset: 50, len: 100, tag: 3 },
            Op::Write { file: 0, offset: 0, len: 10, tag: 4 },
        ];
        let mut o = Oracle::new(&ops, 1, 4096);
        // Cut while the fsync runs: the empty file, or the first write's bytes.
        o.advance(2, 1).unwrap();
        assert_eq!(o.check(0, Some(&[])), None);
        assert_eq!(o.check(0, Some(&bytes(1, 0, 100))), None);
        assert_eq!(o.check(0, None), Some(Finding::Missing));
        // After the fsync returned and during op 4: the synced 100 bytes at least.
        o.advance(4, 3).unwrap();
        assert_eq!(o.synced_by(0), 2);
        assert_eq!(o.check(0, Some(&[])), Some(Finding::Size { found: 0, min: 100, max: 150 }));
        let mut found = bytes(1, 0, 100);
        assert_eq!(o.check(0, Some(&found)), None);
        found[50..].copy_from_slice(&bytes(3, 50, 50));
        found[..10].copy_from_slice(&bytes(4, 0, 10));
        assert_eq!(o.check(0, Some(&found)), None, "any mix of the versions since the sync");
        // Bytes no op wrote there: stale.
        found[20..30].fill(0xee);
        assert_eq!(o.check(0, Some(&found)), Some(Finding::Data { offset: 20, len: 10 }));
    }

    /// Found by `aopsbench crash` on ext4 (seed 1): the insert's transaction lost, the
    /// overwrite of the moved block landed in place, at the block's old offset.
    #[test]
    fn an_overwrite_after_a_lost_insert_may_show_at_the_old_offset() {
        let ops = [
            Op::Write { file: 0, offset: 0x25000, len: 1, tag: 132 },
            Op::Fdatasync { file: 0 },
            Op::Fallocate { file: 0, mode: workloads::FallocMode::InsertRange, offset: 0, len: 4096 },
            Op::Write { file: 0, offset: 0x26000, len: 1, tag: 153 },
        ];
        let mut o = Oracle::new(&ops, 1, 4096);
        o.advance(4, 4).unwrap();
        let mut found = vec![0; 0x25001];
        found[0x25000] = pattern::byte_at(153, 0x26000);
        assert_eq!(o.check(0, Some(&found)), None);
        found[0x25000] = pattern::byte_at(153, 0x25000);
        assert_eq!(o.check(0, Some(&found)), Some(Finding::Data { offset: 0x25000, len: 1 }));
    }

    #[test]
    fn a_remount_syncs_every_file_and_failed_ops_change_nothing() {
        let ops = [
            Op::Write { file: 1, offset: 0, len: 10, tag: 1 },
            Op::Remount,
            Op::Fallocate { file: 1, mode: workloads::FallocMode::CollapseRange, offset: 0, len: 4096 },
        ];
        let mut o = Oracle::new(&ops, 2, 4096);
        o.advance(3, 3).unwrap();
        assert_eq!((o.synced_by(0), o.synced_by(1)), (2, 2));
        // The collapse past EOF failed: the size cannot have changed.
        assert_eq!(o.check(1, Some(&bytes(1, 0, 5))), Some(Finding::Size { found: 5, min: 10, max: 10 }));
        assert_eq!(o.check(1, Some(&bytes(1, 0, 10))), None);
        assert_eq!(o.durable_bytes(1, 8, 12), [bytes(1, 8, 2), vec![0, 0]].concat());
    }
}
