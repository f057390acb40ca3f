//! `fallocate(2)` modes.

use serde::{Deserialize, Serialize};

/// A `fallocate(2)` mode: what an `Op::Fallocate` asks, what fsimpl does, what a kernel target
/// passes to the syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallocMode {
    /// Mode 0: allocate (unwritten extents), extending the size when the range ends past EOF.
    Allocate,
    /// `FALLOC_FL_KEEP_SIZE`: allocate, never change the size.
    KeepSize,
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`: deallocate; reads return zeros.
    PunchHole,
    /// `FALLOC_FL_ZERO_RANGE`: zero the range (as unwritten extents), extending the size past EOF.
    ZeroRange,
    /// `FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE`.
    ZeroRangeKeepSize,
    /// `FALLOC_FL_COLLAPSE_RANGE`: remove the (block-aligned) range, shifting the tail down.
    CollapseRange,
    /// `FALLOC_FL_INSERT_RANGE`: insert a (block-aligned) hole, shifting the tail up.
    InsertRange,
}

impl FallocMode {
    /// Every mode.
    pub const ALL: [FallocMode; 7] = [
        FallocMode::Allocate,
        FallocMode::KeepSize,
        FallocMode::PunchHole,
        FallocMode::ZeroRange,
        FallocMode::ZeroRangeKeepSize,
        FallocMode::CollapseRange,
        FallocMode::InsertRange,
    ];

    /// The `mode` argument of `fallocate(2)` (values of `<linux/falloc.h>`).
    pub fn linux_flags(self) -> i32 {
        const KEEP_SIZE: i32 = 0x01;
        const PUNCH_HOLE: i32 = 0x02;
        const COLLAPSE_RANGE: i32 = 0x08;
        const ZERO_RANGE: i32 = 0x10;
        const INSERT_RANGE: i32 = 0x20;
        match self {
            FallocMode::Allocate => 0,
            FallocMode::KeepSize => KEEP_SIZE,
            FallocMode::PunchHole => PUNCH_HOLE | KEEP_SIZE,
            FallocMode::ZeroRange => ZERO_RANGE,
            FallocMode::ZeroRangeKeepSize => ZERO_RANGE | KEEP_SIZE,
            FallocMode::CollapseRange => COLLAPSE_RANGE,
            FallocMode::InsertRange => INSERT_RANGE,
        }
    }

    /// Whether this mode never changes the file size.
    pub fn keeps_size(self) -> bool {
        matches!(self, FallocMode::KeepSize | FallocMode::PunchHole | FallocMode::ZeroRangeKeepSize)
    }
}
