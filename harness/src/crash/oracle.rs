//! What each file may hold after a crash: the durability promises of the ops that returned
//! before the cut.
//!
//! Per file, the versions since its last completed sync (fsync, fdatasync, or a remount,
//! which syncs everything): the content the sync made durable, then the content after each
//! later op that changed the file, up to the op that was running at the cut. A file after the
//! crash must exist, its size must lie between the smallest and the largest size of those
//! versions, and each byte must be that byte of one of them (zero past a version's end: a hole
//! reads as zeros). Bytes from before the sync are a lost fsync; bytes no op put there are
//! stale or foreign data. Mixing versions per byte is allowed (writeback goes block by block,
//! in any order), so nothing legal is flagged.
//!
//! One more thing is legal: collapse_range and insert_range move blocks by changing extents
//! in a transaction, and a later overwrite of a moved block goes to its block in place
//! (data=ordered orders only new allocations). If the shift's transaction is lost and the
//! overwrite's data landed, the new bytes show at the offset the block had before the shift.
//! Transactions commit in order, so the shifts lost are a suffix of those since the sync: any
//! byte of a version after them may show at its offset mapped back through such a suffix
//! (written data, and the zeros of a punch, zero_range or truncate in a moved block alike).

use std::collections::VecDeque;

use workloads::{Op, pattern};

use crate::diff::{Model, ModelError};

/// A file's content after an op.
#[derive(Clone, Debug)]
pub struct Version {
    /// The op (1-based; 0: before the workload, an empty file).
    pub after_op: u64,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Version {
    /// Byte `x`, zero past the end.
    fn byte(&self, x: usize) -> u8 {
        self.bytes.get(x).copied().unwrap_or(0)
    }
}

/// A file as it may be after the crash.
#[derive(Clone, Debug, Default)]
pub struct FileOracle {
    /// Versions from the durable one on (never empty).
    pub versions: VecDeque<Version>,
    /// The last completed sync of the file (0: none since the workload started).
    pub synced_by: u64,
}

/// A collapse_range (`collapse`) or insert_range of `[offset, offset + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shift {
    op: u64,
    collapse: bool,
    offset: u64,
    len: u64,
}

impl Shift {
    /// Where the byte at `x` before the shift is after it (`None`: collapsed away).
    fn forward(&self, x: u64) -> Option<u64> {
        match self.collapse {
            true if x >= self.offset + self.len => Some(x - self.len),
            true if x >= self.offset => None,
            false if x >= self.offset => Some(x + self.len),
            _ => Some(x),
        }
    }
}

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
    write_buf: Vec<u8>,
    /// Ops applied to the model (begun by the cut).
    started: usize,
    /// Ops that returned before the cut.
    completed: usize,
    files: Vec<FileOracle>,
}

/// Whether `op` changes file content or size (when it succeeds).
fn changes_file(op: &Op) -> bool {
    matches!(op, Op::Write { .. } | Op::Truncate { .. } | Op::Fallocate { .. })
}

impl<'a> Oracle<'a> {
    /// `files` empty files, before any of `ops`; collapse/insert aligned to `block`.
    pub fn new(ops: &'a [Op], files: u32, block: u64) -> Self {
        let empty = FileOracle { versions: VecDeque::from([Version { after_op: 0, bytes: Vec::new() }]), synced_by: 0 };
        Oracle {
            ops,
            model: Model::new(files, block, 0),
            write_buf: Vec::new(),
            started: 0,
            completed: 0,
            files: vec![empty; files as usize],
        }
    }

    /// Moves to a cut where ops `1..=started` had begun and `1..=completed` had returned.
    /// Neither may go back.
    pub fn advance(&mut self, started: usize, completed: usize) -> Result<(), ModelError> {
        let started = started.min(self.ops.len());
        while self.started < started {
            let op = &self.ops[self.started];
            self.started += 1;
            if let Op::Write { offset, len, tag, .. } = *op {
                self.write_buf.resize(len as usize, 0);
                pattern::fill(tag, offset, &mut self.write_buf);
            }
            let outcome = self.model.apply(op, &self.write_buf)?;
            if let (Some(f), Ok(_)) = (op.file(), outcome)
                && changes_file(op)
                && let Some(file) = self.files.get_mut(f as usize)
            {
                let bytes = self.model.bytes(f).to_vec();
                file.versions.push_back(Version { after_op: self.started as u64, bytes });
            }
        }
        let completed = completed.min(self.started);
        while self.completed < completed {
            let op = &self.ops[self.completed];
            self.completed += 1;
            let number = self.completed as u64;
            match *op {
                Op::Fsync { file } | Op::Fdatasync { file } => {
                    if let Some(f) = self.files.get_mut(file as usize) {
                        sync(f, number);
                    }
                }
                Op::Remount => self.files.iter_mut().for_each(|f| sync(f, number)),
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

    /// What `file` may hold.
    pub fn file(&self, file: u32) -> &FileOracle {
        &self.files[file as usize]
    }

    /// Checks what the crashed `file` holds (`None`: it is missing).
    pub fn check(&self, file: u32, found: Option<&[u8]>) -> Option<Finding> {
        let f = self.file(file);
        let Some(found) = found else { return Some(Finding::Missing) };
        let sizes = f.versions.iter().map(|v| v.bytes.len() as u64);
        let (min, max) = (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0));
        let size = found.len() as u64;
        if size < min || size > max {
            return Some(Finding::Size { found: size, min, max });
        }
        let shifts = self.shifts(file);
        // A version after shifts whose transactions were lost may show at the offsets its
        // bytes had before them: for each suffix of the shifts before it, map back.
        let ghost_allows = |x: u64, b: u8| {
            f.versions.iter().any(|v| {
                let before: Vec<&Shift> = shifts.iter().filter(|s| s.op <= v.after_op).collect();
                (0..before.len()).any(|i| {
                    let y = before[i..].iter().try_fold(x, |y, s| s.forward(y));
                    y.is_some_and(|y| v.byte(y as usize) == b)
                })
            })
        };
        let allowed = |x: usize| {
            f.versions.iter().any(|v| v.byte(x) == found[x]) || (!shifts.is_empty() && ghost_allows(x as u64, found[x]))
        };
        let start = (0..found.len()).find(|&x| !allowed(x))?;
        let end = (start..found.len()).find(|&x| allowed(x)).unwrap_or(found.len());
        Some(Finding::Data { offset: start as u64, len: (end - start) as u64 })
    }
}

impl Oracle<'_> {
    /// The collapse_range and insert_range ops on `file` since its durable version that
    /// succeeded (each made a version), oldest first.
    fn shifts(&self, file: u32) -> Vec<Shift> {
        use workloads::FallocMode::{CollapseRange, InsertRange};
        let f = self.file(file);
        f.versions
            .iter()
            .skip(1)
            .filter_map(|v| match self.ops.get(v.after_op as usize - 1) {
                Some(&Op::Fallocate { mode, offset, len, .. }) if matches!(mode, CollapseRange | InsertRange) => {
                    Some(Shift { op: v.after_op, collapse: mode == CollapseRange, offset, len })
                }
                _ => None,
            })
            .collect()
    }
}

/// Sync op `number` made the file's content at that moment durable.
fn sync(f: &mut FileOracle, number: u64) {
    while f.versions.len() > 1 && f.versions[1].after_op <= number {
        f.versions.pop_front();
    }
    f.synced_by = number;
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
        assert_eq!(o.file(0).synced_by, 2);
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
        assert_eq!(o.file(1).versions.len(), 1, "the collapse past EOF failed");
        assert_eq!(o.file(1).synced_by, 2);
        assert_eq!(o.file(0).synced_by, 2);
        assert_eq!(o.check(1, Some(&bytes(1, 0, 5))), Some(Finding::Size { found: 5, min: 10, max: 10 }));
    }
}
