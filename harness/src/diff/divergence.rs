//! What a divergence is: which check found it, how each target differs from the model, and
//! which collapse/insert ops moved data before it (for naming who wrote wrong bytes).

use super::durability::Violation;
use super::model::{Model, Outcome};
use crate::targets::DiskCheck;
use serde::Serialize;
use workloads::{FallocMode, Op};

/// What found a divergence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The op's own result, its read data or the size after it.
    Op,
    /// The whole-file check every K ops.
    Periodic,
    /// The whole-file check after a remount.
    Remount,
    /// The whole-file check at the end of the stream.
    End,
    /// The durability check after a power cut during this op and a remount.
    PowerCut,
}

/// What way a target diverged: the key of "the same divergence" when shrinking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A different result or errno.
    Error,
    /// A different file size.
    Size,
    /// Different bytes.
    Data,
    /// After a power cut, data or a size the durability rules do not allow.
    Durability,
    /// The image on disk failed a check (`--check e2fsck`, `--check kernel`).
    Disk,
}

impl Kind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Error => "error",
            Kind::Size => "size",
            Kind::Data => "data",
            Kind::Durability => "durability",
            Kind::Disk => "disk",
        }
    }
}

/// Bytes that differ from the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataMismatch {
    /// The file.
    pub file: u32,
    /// The first few regions of differing bytes, (offset, length); differences less than 16
    /// bytes apart are one region.
    pub runs: Vec<(u64, u64)>,
    /// Differing bytes in all (within what was compared).
    pub differing: u64,
    /// Regions in all (only the first few are in `runs`).
    pub regions: u64,
    /// File offset of the windows below.
    pub window: u64,
    /// The model's bytes around the first difference.
    pub expected: Vec<u8>,
    /// The target's bytes there.
    pub actual: Vec<u8>,
}

/// How one target differs from the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The op (or a read of a whole-file check) returned something else.
    Result {
        /// What the model says.
        expected: Outcome,
        /// What the target returned.
        actual: Outcome,
    },
    /// The file has another size.
    Size {
        /// The file.
        file: u32,
        /// The model's size.
        expected: u64,
        /// The target's.
        actual: u64,
    },
    /// Bytes differ.
    Data(DataMismatch),
    /// After a power cut and a remount, the file breaks the durability rules.
    Durability(Violation),
    /// The image failed a check.
    Disk {
        /// Which check.
        check: DiskCheck,
        /// What it found, one line.
        problem: String,
    },
}

impl Mismatch {
    /// The kind of divergence.
    pub fn kind(&self) -> Kind {
        match self {
            Mismatch::Result { .. } => Kind::Error,
            Mismatch::Size { .. } => Kind::Size,
            Mismatch::Data(_) => Kind::Data,
            Mismatch::Durability(_) => Kind::Durability,
            Mismatch::Disk { .. } => Kind::Disk,
        }
    }
}

/// One target at the divergence.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The target's short name.
    pub target: String,
    /// Its spec, as built.
    pub spec: String,
    /// How it differs from the model; `None`: it agrees.
    pub mismatch: Option<Mismatch>,
    /// Faults injected into this target so far (its non-zero `fault_*` counters but those of
    /// power cuts, which the durability rules judge): a divergence they explain is expected,
    /// not a bug.
    pub faults: Vec<(String, u64)>,
    /// The op was emulated on this target (it lacks the fallocate mode, or its blocks are
    /// larger than the range's alignment).
    pub emulated: bool,
}

/// The first point where some target disagreed with the model.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// 1-based position of the op in the stream (for [`Check::End`], the last op).
    pub op_number: u64,
    /// That op (`None` for an end check of an empty stream).
    pub op: Option<Op>,
    /// What found it.
    pub check: Check,
    /// Every target, agreeing or not.
    pub verdicts: Vec<Verdict>,
    /// The alignment of collapse/insert ranges the model takes (an op not aligned to it fails
    /// with EINVAL): replaying the trace with it tells where each byte was written
    /// ([`shifts_of`]), for naming writers.
    pub range_align: u64,
}

/// A collapse_range or insert_range that moved a file's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    /// 1-based op number.
    pub op_number: u64,
    /// The file.
    pub file: u32,
    /// collapse_range (true) or insert_range.
    pub collapse: bool,
    /// Start of the range.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

/// Which targets diverged and how, in target order: "the same divergence" when shrinking.
pub type Signature = Vec<(String, Kind)>;

impl Divergence {
    /// Whether injected faults explain it: every diverging target had faults injected.
    pub fn explained_by_faults(&self) -> bool {
        let mut diverging = self.verdicts.iter().filter(|v| v.mismatch.is_some()).peekable();
        diverging.peek().is_some() && diverging.all(|v| !v.faults.is_empty())
    }

    /// The diverging targets and the kind of each.
    pub fn signature(&self) -> Signature {
        self.verdicts.iter().filter_map(|v| v.mismatch.as_ref().map(|m| (v.target.clone(), m.kind()))).collect()
    }
}

/// The collapse_range and insert_range ops of `ops` that moved data (those valid for the
/// file's size then, with ranges aligned to `range_align`), found by replaying `ops` on a model.
pub fn shifts_of(ops: &[Op], range_align: u64) -> Vec<Shift> {
    let mut model = Model::new(super::files_of(ops), range_align, 0);
    let mut data = Vec::new();
    let mut shifts = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::Write { len, .. } = *op
            && data.len() < len as usize
        {
            data.resize(len as usize, 0);
        }
        match (op, model.apply(op, &data)) {
            (&Op::Fallocate { file, mode, offset, len }, Ok(Ok(_)))
                if matches!(mode, FallocMode::CollapseRange | FallocMode::InsertRange) =>
            {
                let collapse = mode == FallocMode::CollapseRange;
                shifts.push(Shift { op_number: i as u64 + 1, file, collapse, offset, len });
            }
            (_, Err(_)) => break,
            _ => {}
        }
    }
    shifts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_are_the_collapses_and_inserts_that_moved_data() {
        let falloc = |mode, offset, len| Op::Fallocate { file: 0, mode, offset, len };
        let ops = [
            Op::Write { file: 0, offset: 0, len: 5 * 4096, tag: 1 },
            falloc(FallocMode::CollapseRange, 0, 4096),
            falloc(FallocMode::CollapseRange, 0, 1024),
            falloc(FallocMode::CollapseRange, 0, 1 << 20),
            falloc(FallocMode::InsertRange, 4096, 8192),
        ];
        let numbers = |align| shifts_of(&ops, align).iter().map(|s| (s.op_number, s.collapse)).collect::<Vec<_>>();
        // With 4K alignment op 3 fails (aligned to 1K only); op 4 fails (past EOF) either way.
        assert_eq!(numbers(4096), vec![(2, true), (5, false)]);
        assert_eq!(numbers(1024), vec![(2, true), (3, true), (5, false)]);
    }
}
