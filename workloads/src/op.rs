//! The operation type every stream yields and every target runs.

use serde::{Deserialize, Serialize};

/// One operation on a target, as one line of a trace (serde JSON, internally tagged "op",
/// snake_case).
///
/// `file` indexes the thread's file list (`ThreadPlan::files`; file 0 for fsx streams and
/// imported `.fsxops` logs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `pread(2)` of `len` bytes at `offset`; short past EOF.
    Read {
        /// Index into the thread's file list.
        file: u32,
        /// Byte offset in the file.
        offset: u64,
        /// Bytes to read.
        len: u64,
    },
    /// `pwrite(2)` of `len` bytes at `offset`. Data written is
    /// [`pattern::fill`](crate::pattern::fill)`(tag, offset, buf)` (fsx style), so a wrong byte
    /// says who wrote it. fsx streams set `tag` to the op number; fio plans number their writes
    /// from 1 per thread, layout writes first. The harness may fill fio writes with a fixed random
    /// buffer instead, as fio does.
    Write {
        /// Index into the thread's file list.
        file: u32,
        /// Byte offset in the file.
        offset: u64,
        /// Bytes to write.
        len: u64,
        /// Who wrote it: the op number (fsx) or sequence number (fio streams).
        tag: u64,
    },
    /// `ftruncate(2)` to `size`.
    Truncate {
        /// Index into the thread's file list.
        file: u32,
        /// New file size in bytes.
        size: u64,
    },
    /// `fallocate(2)` with `mode` over `offset..offset + len`.
    Fallocate {
        /// Index into the thread's file list.
        file: u32,
        /// Which fallocate operation.
        mode: FallocMode,
        /// Start of the range.
        offset: u64,
        /// Length of the range.
        len: u64,
    },
    /// `fsync(2)`.
    Fsync {
        /// Index into the thread's file list.
        file: u32,
    },
    /// `fdatasync(2)`.
    Fdatasync {
        /// Index into the thread's file list.
        file: u32,
    },
    /// Unmount and mount the target again (all files; data must survive as last synced —
    /// targets sync on unmount, so all written data must survive).
    Remount,
    /// Drop clean page cache (`echo 3 > /proc/sys/vm/drop_caches`, or fsimpl's cache shrink).
    DropCaches,
    /// The power goes, on targets whose device can lose it (fsimpl's with `faults=powercut=`):
    /// right after the device's `after_writes`th write from now (0: at once; the cut may then
    /// come during a later op), undoing what was written since the last flush; then the
    /// target is mounted again from what the device kept. Other targets go on.
    PowerCut {
        /// Device write bios to let through before the cut (0: cut now).
        after_writes: u64,
    },
}

pub use vocab::FallocMode;

/// What kind of operation an [`Op`] is: the key of per-op reports and fsx weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// [`Op::Read`].
    Read,
    /// [`Op::Write`].
    Write,
    /// [`Op::Truncate`].
    Trunc,
    /// [`Op::Fallocate`] with [`FallocMode::Allocate`] or [`FallocMode::KeepSize`].
    Fallocate,
    /// [`Op::Fallocate`] with [`FallocMode::PunchHole`].
    PunchHole,
    /// [`Op::Fallocate`] with [`FallocMode::ZeroRange`] or [`FallocMode::ZeroRangeKeepSize`].
    ZeroRange,
    /// [`Op::Fallocate`] with [`FallocMode::CollapseRange`].
    CollapseRange,
    /// [`Op::Fallocate`] with [`FallocMode::InsertRange`].
    InsertRange,
    /// [`Op::Fsync`].
    Fsync,
    /// [`Op::Fdatasync`].
    Fdatasync,
    /// [`Op::Remount`].
    Remount,
    /// [`Op::DropCaches`].
    DropCaches,
    /// [`Op::PowerCut`].
    PowerCut,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 13] = [
        OpKind::Read,
        OpKind::Write,
        OpKind::Trunc,
        OpKind::Fallocate,
        OpKind::PunchHole,
        OpKind::ZeroRange,
        OpKind::CollapseRange,
        OpKind::InsertRange,
        OpKind::Fsync,
        OpKind::Fdatasync,
        OpKind::Remount,
        OpKind::DropCaches,
        OpKind::PowerCut,
    ];

    /// How many kinds there are (for arrays indexed by [`OpKind::index`]).
    pub const COUNT: usize = Self::ALL.len();

    /// The stable name used in reports, summaries and fsx weight strings.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Trunc => "trunc",
            OpKind::Fallocate => "fallocate",
            OpKind::PunchHole => "punch_hole",
            OpKind::ZeroRange => "zero_range",
            OpKind::CollapseRange => "collapse_range",
            OpKind::InsertRange => "insert_range",
            OpKind::Fsync => "fsync",
            OpKind::Fdatasync => "fdatasync",
            OpKind::Remount => "remount",
            OpKind::DropCaches => "drop_caches",
            OpKind::PowerCut => "power_cut",
        }
    }

    /// The kind named `name` (as [`OpKind::as_str`] spells it).
    pub fn from_name(name: &str) -> Option<OpKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Position in [`OpKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Op {
    /// The kind of this op, for reports.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Read { .. } => OpKind::Read,
            Op::Write { .. } => OpKind::Write,
            Op::Truncate { .. } => OpKind::Trunc,
            Op::Fallocate { mode, .. } => match mode {
                FallocMode::Allocate | FallocMode::KeepSize => OpKind::Fallocate,
                FallocMode::PunchHole => OpKind::PunchHole,
                FallocMode::ZeroRange | FallocMode::ZeroRangeKeepSize => OpKind::ZeroRange,
                FallocMode::CollapseRange => OpKind::CollapseRange,
                FallocMode::InsertRange => OpKind::InsertRange,
            },
            Op::Fsync { .. } => OpKind::Fsync,
            Op::Fdatasync { .. } => OpKind::Fdatasync,
            Op::Remount => OpKind::Remount,
            Op::DropCaches => OpKind::DropCaches,
            Op::PowerCut { .. } => OpKind::PowerCut,
        }
    }

    /// The file this op touches; `None` for whole-target ops (remount, drop_caches, power cut).
    pub fn file(&self) -> Option<u32> {
        match *self {
            Op::Read { file, .. }
            | Op::Write { file, .. }
            | Op::Truncate { file, .. }
            | Op::Fallocate { file, .. }
            | Op::Fsync { file }
            | Op::Fdatasync { file } => Some(file),
            Op::Remount | Op::DropCaches | Op::PowerCut { .. } => None,
        }
    }

    /// Bytes moved by a read or write (what fio counts as I/O); 0 for other ops.
    pub fn io_bytes(&self) -> u64 {
        match *self {
            Op::Read { len, .. } | Op::Write { len, .. } => len,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_unique_and_round_trip() {
        for (i, kind) in OpKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(OpKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(OpKind::from_name("trim"), None);
    }

    #[test]
    fn fallocate_kinds_follow_the_mode() {
        let op = |mode| Op::Fallocate { file: 0, mode, offset: 0, len: 1 };
        assert_eq!(op(FallocMode::KeepSize).kind(), OpKind::Fallocate);
        assert_eq!(op(FallocMode::PunchHole).kind(), OpKind::PunchHole);
        assert_eq!(op(FallocMode::ZeroRangeKeepSize).kind(), OpKind::ZeroRange);
        assert_eq!(op(FallocMode::InsertRange).kind(), OpKind::InsertRange);
        assert_eq!(FallocMode::PunchHole.linux_flags(), 3);
        assert_eq!(FallocMode::ZeroRangeKeepSize.linux_flags(), 0x11);
    }

    #[test]
    fn json_shape_is_tagged_snake_case() {
        let op = Op::Fallocate { file: 1, mode: FallocMode::ZeroRangeKeepSize, offset: 2, len: 3 };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(json, r#"{"op":"fallocate","file":1,"mode":"zero_range_keep_size","offset":2,"len":3}"#);
        assert_eq!(serde_json::to_string(&Op::DropCaches).unwrap(), r#"{"op":"drop_caches"}"#);
        let cut = Op::PowerCut { after_writes: 3 };
        assert_eq!(serde_json::to_string(&cut).unwrap(), r#"{"op":"power_cut","after_writes":3}"#);
    }
}
