//! The fsx-style random op mix (xfstests `ltp/fsx.c`), biased toward where buffered-I/O bugs
//! live: the bytes around EOF, block boundaries and folio boundaries.
//!
//! [`FsxConfig::stream`] gives a deterministic [`FsxStream`] of ops on file 0; each op's number
//! (from 1) is its tag, so written bytes name their op as fsx's do (see [`crate::pattern`]).
//!
//! The generator tracks the file size its ops produce and makes every op valid for it:
//! writes, fallocate, punch_hole and zero_range stay within `max_file_len`; collapse_range
//! takes a block-aligned range ending before EOF; insert_range a block-aligned offset before EOF
//! and a length that keeps the file within `max_file_len`. Reads may cross or start at EOF
//! (short reads are part of what is checked). Ops whose kind cannot be valid in the current
//! state (collapse on a file of one block) are not drawn; when no kind with weight can be, a
//! write is. The one EINVAL a target may still return: collapse_range/insert_range on a target
//! whose block size is larger than `block_size` (keep the hint at least the target's block size).
//!
//! [`Mix::Fixed`] draws every op from one set of weights and one geometry, as fsx does.
//! [`Mix::Swarm`] is swarm testing (Groce et al., "Swarm Testing", ISSTA 2012): the stream runs
//! in phases, and each phase draws its own weights (some kinds off entirely), geometry (small
//! files and ops, or the largest), alignment and boundary bias, so that a run spends long
//! stretches on mixes a fixed one dilutes. A swarm stream is also biased toward op sequences:
//! an extending write inside the already written EOF block followed by fsync, remount or a
//! cache drop, and ops that come back to the block or folio of recent writes after an fsync,
//! truncate, remount or fallocate.

use rand_chacha::ChaCha8Rng;

use crate::op::{FallocMode, Op, OpKind};
use crate::rng::{below, between, seeded};
use crate::swarm::{Phase, Swarm};

/// A bad fsx configuration or weight list.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsxError {
    /// A field out of range.
    #[error("fsx {field}: {message}")]
    BadConfig {
        /// The field name.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A weight list that does not parse.
    #[error("bad fsx weights '{text}': {message}")]
    BadWeights {
        /// The text given.
        text: String,
        /// What is wrong.
        message: String,
    },
}

/// How often each op kind is drawn, relative to the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsxWeights([u32; OpKind::COUNT]);

impl Default for FsxWeights {
    /// Every kind, reads and writes most often, remount and drop_caches rarely.
    fn default() -> Self {
        let mut w = FsxWeights([0; OpKind::COUNT]);
        for (kind, weight) in [
            (OpKind::Read, 10),
            (OpKind::Write, 20),
            (OpKind::Trunc, 5),
            (OpKind::Fallocate, 4),
            (OpKind::PunchHole, 4),
            (OpKind::ZeroRange, 4),
            (OpKind::CollapseRange, 2),
            (OpKind::InsertRange, 2),
            (OpKind::Fsync, 2),
            (OpKind::Fdatasync, 1),
            (OpKind::Remount, 1),
            (OpKind::DropCaches, 1),
        ] {
            w.0[kind.index()] = weight;
        }
        w
    }
}

impl FsxWeights {
    /// All zero.
    pub fn none() -> Self {
        FsxWeights([0; OpKind::COUNT])
    }

    /// The weight of `kind`.
    pub fn get(&self, kind: OpKind) -> u32 {
        self.0[kind.index()]
    }

    /// Set the weight of `kind`.
    pub fn set(&mut self, kind: OpKind, weight: u32) -> &mut Self {
        self.0[kind.index()] = weight;
        self
    }

    /// `self` with `kind` weighted `weight`.
    pub fn with(mut self, kind: OpKind, weight: u32) -> Self {
        self.set(kind, weight);
        self
    }

    /// Parse `kind=weight,kind=weight,...` (kind names as [`OpKind::as_str`]); kinds not named
    /// weigh 0. `default` alone gives the default weights.
    pub fn parse(text: &str) -> Result<Self, FsxError> {
        // The text is echoed escaped, so that the error stays one line whatever it holds.
        let err = |message: String| FsxError::BadWeights { text: text.escape_debug().to_string(), message };
        if text.trim() == "default" {
            return Ok(Self::default());
        }
        let mut w = Self::none();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, weight) =
                item.split_once('=').ok_or_else(|| err(format!("'{}' is not kind=weight", item.escape_debug())))?;
            let kind = OpKind::from_name(name.trim()).ok_or_else(|| {
                let names: Vec<&str> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                err(format!("unknown op kind '{}'; kinds are {}", name.trim().escape_debug(), names.join(", ")))
            })?;
            let weight = weight
                .trim()
                .parse()
                .map_err(|_| err(format!("weight '{}' is not a whole number", weight.trim().escape_debug())))?;
            w.set(kind, weight);
        }
        Ok(w)
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|&w| u64::from(w)).sum()
    }
}

/// The knobs of the fsx-style mix. Defaults are fsx's (256 KiB file, 64 KiB ops, byte aligned)
/// plus 4 KiB blocks, 16 KiB folios and a 30% boundary bias of ±4 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsxConfig {
    /// Seed of the op stream (fsx `-S`).
    pub seed: u64,
    /// Number of ops (fsx `-N`); `None`: never ends.
    pub ops: Option<u64>,
    /// Relative frequency of each op kind.
    pub weights: FsxWeights,
    /// Upper bound on the file size (fsx `-l`).
    pub max_file_len: u64,
    /// Upper bound on an op's length (fsx `-o`).
    pub max_op_len: u64,
    /// Alignment of offsets and lengths: 1 for byte-aligned (fsx's default), the block size for
    /// block-aligned ops (fsx `-r`/`-w`/`-t`).
    pub align: u64,
    /// Block size of the targets: boundary bias, and the alignment of collapse/insert ranges.
    pub block_size: u64,
    /// The largest block size of the targets: a swarm phase aligns collapse/insert ranges to
    /// it or to `block_size` (so that targets with larger blocks, which emulate the finer
    /// ranges, run most of them for real). Ignored by a fixed mix; at most `block_size` means
    /// `block_size`.
    pub coarse_block_size: u64,
    /// Folio size to bias toward (e.g. the largest folio of an iomap target).
    pub folio_size: u64,
    /// Percent of offsets and lengths snapped near EOF or a block or folio boundary.
    pub boundary_percent: u32,
    /// How far from the boundary a snapped point may land (± bytes).
    pub boundary_jitter: u64,
    /// One mix for the whole stream, or a new one per phase.
    pub mix: Mix,
    /// A power cut ([`Op::PowerCut`]) every this many ops on average, slipped in between the
    /// others (drawn apart, so that the other ops are those of the stream without cuts), and
    /// one after every [`SYNC_CUT_ODDS`]th fsync or fdatasync or so — right after a sync is
    /// where a sync that did not make its data durable loses it; `None`: only those the
    /// weights draw.
    pub power_cut_every: Option<u64>,
}

/// How the op mix varies over a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mix {
    /// One mix for the whole stream: the config's weights, lengths and alignment (fsx's way).
    #[default]
    Fixed,
    /// Swarm testing: each phase draws its own mix within the config's bounds.
    Swarm(Swarm),
}

impl Default for FsxConfig {
    fn default() -> Self {
        FsxConfig {
            seed: 1,
            ops: Some(10_000),
            weights: FsxWeights::default(),
            max_file_len: 256 << 10,
            max_op_len: 64 << 10,
            align: 1,
            block_size: 4096,
            coarse_block_size: 4096,
            folio_size: 16 << 10,
            boundary_percent: 30,
            boundary_jitter: 4,
            mix: Mix::Fixed,
            power_cut_every: None,
        }
    }
}

impl FsxConfig {
    /// Check the configuration and start its stream.
    pub fn stream(&self) -> Result<FsxStream, FsxError> {
        let bad = |field, message: &str| Err(FsxError::BadConfig { field, message: message.to_string() });
        if self.align == 0 || !self.align.is_power_of_two() {
            return bad("align", "must be a power of two (1 for byte-aligned ops)");
        }
        if !self.block_size.is_power_of_two() || self.block_size < 512 {
            return bad("block_size", "must be a power of two, at least 512");
        }
        if !self.coarse_block_size.is_power_of_two() {
            return bad("coarse_block_size", "must be a power of two");
        }
        if !self.folio_size.is_power_of_two() {
            return bad("folio_size", "must be a power of two");
        }
        if self.max_op_len < self.align {
            return bad("max_op_len", "must be at least align");
        }
        if self.max_file_len < 2 * self.align {
            return bad("max_file_len", "must be at least twice align");
        }
        if self.boundary_percent > 100 {
            return bad("boundary_percent", "must be from 0 to 100");
        }
        if self.weights.total() == 0 {
            return bad("weights", "every weight is 0: give at least one op kind a weight");
        }
        if let Mix::Swarm(s) = &self.mix
            && s.phase_ops == 0
        {
            return bad("phase_ops", "a swarm phase needs at least one op");
        }
        if self.power_cut_every == Some(0) {
            return bad("power_cut_every", "give a number of ops from 1 (or none for no power cuts)");
        }
        let phase = Phase::fixed(self);
        Ok(FsxStream {
            rng: seeded(b"aopsfsx1", self.seed, 0, 0),
            swarm_rng: seeded(b"aopsswrm", self.seed, 0, 0),
            cut_rng: seeded(b"aopscut1", self.seed, 0, 0),
            range_align: self.block_size.max(phase.align),
            phase,
            phase_number: 0,
            cfg: self.clone(),
            file_size: 0,
            op_number: 0,
            follow_up: None,
            anchor: None,
            last_write: None,
            after_sync: false,
        })
    }
}

/// Where a swarm stream keeps coming back to for a few ops: the block and folio of a range.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    start: u64,
    end: u64,
    ops_left: u32,
}

/// The fsx-style op stream: an iterator of [`Op`] on file 0.
#[derive(Clone, Debug)]
pub struct FsxStream {
    rng: ChaCha8Rng,
    /// Draws of the phases (apart, so that a fixed mix draws exactly what it always did).
    swarm_rng: ChaCha8Rng,
    /// Draws of the power cuts slipped in (apart, for the same reason).
    cut_rng: ChaCha8Rng,
    cfg: FsxConfig,
    /// The mix in force.
    phase: Phase,
    /// Which phase it is (0 for a fixed mix).
    phase_number: u64,
    /// Alignment of collapse/insert ranges.
    range_align: u64,
    file_size: u64,
    op_number: u64,
    /// An op kind to emit next (swarm: fsync, remount... after an extending EOF-block write).
    follow_up: Option<OpKind>,
    /// Where the next few offsets are drawn near (swarm).
    anchor: Option<Anchor>,
    /// The last write's range.
    last_write: Option<(u64, u64)>,
    /// The last op was an fsync or fdatasync.
    after_sync: bool,
}

impl FsxStream {
    /// The file size after the ops yielded so far (the generator's model).
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// How many ops were yielded (the tag of the last one).
    pub fn ops_done(&self) -> u64 {
        self.op_number
    }

    /// The mix in force (for a swarm stream, the phase of the op yielded last).
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Whether `kind` can be valid in the current state.
    fn possible(&self, kind: OpKind) -> bool {
        let ra = self.range_align;
        let p = &self.phase;
        match kind {
            OpKind::CollapseRange => p.max_op_len >= ra && self.collapse_end() >= ra,
            OpKind::InsertRange => p.max_op_len >= ra && self.file_size > 0 && self.file_size + ra <= p.max_file_len,
            _ => true,
        }
    }

    /// The largest range end a collapse may have: a multiple of the range alignment below EOF.
    fn collapse_end(&self) -> u64 {
        match self.file_size {
            0 => 0,
            size => (size - 1) / self.range_align * self.range_align,
        }
    }

    fn pick_kind(&mut self) -> OpKind {
        let weights = OpKind::ALL.map(|k| if self.possible(k) { u64::from(self.phase.weights.get(k)) } else { 0 });
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return OpKind::Write;
        }
        let mut r = below(&mut self.rng, total);
        for (kind, w) in OpKind::ALL.into_iter().zip(weights) {
            if r < w {
                return kind;
            }
            r -= w;
        }
        OpKind::Write
    }

    /// A point in `lo..=hi`: with `boundary_percent` chance near EOF or a block or folio
    /// boundary (± jitter), otherwise uniform.
    fn point(&mut self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            return lo;
        }
        if let Some(p) = self.near_anchor(lo, hi) {
            return p;
        }
        if below(&mut self.rng, 100) >= u64::from(self.phase.boundary_percent) {
            return between(&mut self.rng, lo, hi);
        }
        let base = match below(&mut self.rng, 3) {
            0 => self.file_size,
            1 => self.multiple_in(self.cfg.block_size, lo, hi),
            _ => self.multiple_in(self.cfg.folio_size, lo, hi),
        };
        let j = self.cfg.boundary_jitter;
        let shifted = (base + between(&mut self.rng, 0, 2 * j)).saturating_sub(j);
        shifted.clamp(lo, hi)
    }

    /// A random multiple of `unit` in `lo..=hi`, or a uniform point when there is none.
    fn multiple_in(&mut self, unit: u64, lo: u64, hi: u64) -> u64 {
        let (first, last) = (lo.div_ceil(unit), hi / unit);
        if first > last { between(&mut self.rng, lo, hi) } else { unit * between(&mut self.rng, first, last) }
    }

    /// Swarm: while an anchor is set, half the points fall in the block or folio of its start
    /// or end (so an op comes back to where a write was, after an fsync or truncate).
    fn near_anchor(&mut self, lo: u64, hi: u64) -> Option<u64> {
        let a = self.anchor?;
        if below(&mut self.rng, 2) == 0 {
            return None;
        }
        let base = if below(&mut self.rng, 2) == 0 { a.start } else { a.end };
        let unit = if below(&mut self.rng, 3) == 0 { self.cfg.folio_size } else { self.cfg.block_size };
        let p = base / unit * unit + below(&mut self.rng, unit);
        Some(p.clamp(lo, hi))
    }

    /// An aligned offset in `0..=hi` (hi ≥ 0).
    fn offset(&mut self, hi: u64) -> u64 {
        let a = self.phase.align;
        self.point(0, hi) / a * a
    }

    /// An aligned length in `align..=max_len` (max_len ≥ align), often ending at a boundary.
    fn length(&mut self, offset: u64, max_len: u64) -> u64 {
        let a = self.phase.align;
        let len = if below(&mut self.rng, 100) < u64::from(self.phase.boundary_percent) {
            match below(&mut self.rng, 3) {
                0 => self.point(offset + 1, offset + max_len) - offset,
                1 => between(&mut self.rng, 1, max_len.min(2 * self.cfg.boundary_jitter + 1)),
                _ => {
                    let j = self.cfg.boundary_jitter;
                    (self.cfg.block_size + between(&mut self.rng, 0, 2 * j)).saturating_sub(j)
                }
            }
        } else {
            between(&mut self.rng, 1, max_len)
        };
        (len.clamp(1, max_len) / a * a).max(a)
    }

    /// offset and length of a range op within `max_file_len`.
    fn range_within_max(&mut self) -> (u64, u64) {
        let max = self.phase.max_file_len;
        let offset = self.offset(max - self.phase.align);
        let len = self.length(offset, self.phase.max_op_len.min(max - offset));
        (offset, len)
    }

    /// Swarm: a write that starts inside the already written EOF block and extends the file
    /// (`offset` at or before EOF, in its block; the end past EOF), if there is such a block.
    fn eof_block_write(&mut self) -> Option<(u64, u64)> {
        let (size, a, bs) = (self.file_size, self.phase.align, self.cfg.block_size);
        let block_start = size / bs * bs;
        let first = block_start.div_ceil(a) * a;
        let last = size / a * a;
        if size == 0 || first > last || last + a > self.phase.max_file_len {
            return None;
        }
        let offset = a * between(&mut self.rng, first / a, last / a);
        let room = self.phase.max_op_len.min(self.phase.max_file_len - offset);
        let min_len = (size + 1 - offset).div_ceil(a) * a;
        if min_len > room {
            return None;
        }
        let len = between(&mut self.rng, min_len, room.min(min_len + 2 * bs)) / a * a;
        Some((offset, len.max(min_len)))
    }

    fn make(&mut self, kind: OpKind, tag: u64) -> Op {
        let file = 0;
        let ra = self.range_align;
        let (max_file, max_op, align) = (self.phase.max_file_len, self.phase.max_op_len, self.phase.align);
        match kind {
            OpKind::Read => {
                let hi = self.file_size.min(max_file - align);
                let offset = self.offset(hi);
                let len = self.length(offset, max_op.min(max_file - offset));
                Op::Read { file, offset, len }
            }
            OpKind::Write => {
                let eof_write = match self.phase.sequence_bias {
                    true if below(&mut self.rng, 100) < EOF_BLOCK_WRITE_PERCENT => self.eof_block_write(),
                    _ => None,
                };
                let (offset, len) = match eof_write {
                    Some(w) => {
                        if below(&mut self.rng, 2) == 0 {
                            self.follow_up = self.durability_kind();
                        }
                        w
                    }
                    None => self.range_within_max(),
                };
                self.file_size = self.file_size.max(offset + len);
                self.last_write = Some((offset, offset + len));
                Op::Write { file, offset, len, tag }
            }
            OpKind::Trunc => {
                let size = self.offset(max_file);
                self.file_size = size;
                Op::Truncate { file, size }
            }
            OpKind::Fallocate | OpKind::PunchHole | OpKind::ZeroRange => {
                let keep = below(&mut self.rng, 2) == 0;
                let mode = match (kind, keep) {
                    (OpKind::Fallocate, false) => FallocMode::Allocate,
                    (OpKind::Fallocate, true) => FallocMode::KeepSize,
                    (OpKind::ZeroRange, false) => FallocMode::ZeroRange,
                    (OpKind::ZeroRange, true) => FallocMode::ZeroRangeKeepSize,
                    _ => FallocMode::PunchHole,
                };
                let (offset, len) = self.range_within_max();
                if !mode.keeps_size() {
                    self.file_size = self.file_size.max(offset + len);
                }
                Op::Fallocate { file, mode, offset, len }
            }
            OpKind::CollapseRange => {
                let end = self.collapse_end();
                let offset = ra * between(&mut self.rng, 0, end / ra - 1);
                let max_blocks = ((end - offset) / ra).min(max_op / ra);
                let len = ra * between(&mut self.rng, 1, max_blocks);
                self.file_size -= len;
                Op::Fallocate { file, mode: FallocMode::CollapseRange, offset, len }
            }
            OpKind::InsertRange => {
                let offset = ra * between(&mut self.rng, 0, (self.file_size - 1) / ra);
                let room = max_op.min(max_file - self.file_size);
                let len = ra * between(&mut self.rng, 1, room / ra);
                self.file_size += len;
                Op::Fallocate { file, mode: FallocMode::InsertRange, offset, len }
            }
            OpKind::Fsync => Op::Fsync { file },
            OpKind::Fdatasync => Op::Fdatasync { file },
            OpKind::Remount => Op::Remount,
            OpKind::DropCaches => Op::DropCaches,
            OpKind::PowerCut => Op::PowerCut { after_writes: below(&mut self.rng, MAX_CUT_WRITES + 1) },
        }
    }
}

/// A power cut lets at most this many device writes through first.
const MAX_CUT_WRITES: u64 = 4;
/// With power cuts on, one fsync or fdatasync in this many is followed by a cut.
pub const SYNC_CUT_ODDS: u64 = 16;

/// Percent of a swarm stream's writes that extend the file from inside its EOF block.
const EOF_BLOCK_WRITE_PERCENT: u64 = 15;
/// Percent of the ops after which a swarm stream comes back to the last write's block or folio.
const REVISIT_PERCENT: u64 = 50;

impl FsxStream {
    /// A durability or cache op the phase allows (fsync, fdatasync, remount, drop_caches),
    /// drawn by weight; `None` when it allows none.
    fn durability_kind(&mut self) -> Option<OpKind> {
        let kinds = [OpKind::Fsync, OpKind::Fdatasync, OpKind::Remount, OpKind::DropCaches];
        let total: u64 = kinds.iter().map(|&k| u64::from(self.phase.weights.get(k))).sum();
        let mut r = below(&mut self.rng, total);
        for k in kinds {
            let w = u64::from(self.phase.weights.get(k));
            if r < w {
                return Some(k);
            }
            r -= w;
        }
        None
    }

    /// Swarm: starts the next phase when this op begins one; returns the truncate that brings
    /// the file within a smaller phase's bound, if it needs one.
    fn next_phase(&mut self) -> Option<Op> {
        let Mix::Swarm(swarm) = &self.cfg.mix else { return None };
        if !(self.op_number - 1).is_multiple_of(swarm.phase_ops) {
            return None;
        }
        let first = self.op_number == 1;
        self.phase_number = (self.op_number - 1) / swarm.phase_ops;
        self.phase = swarm.draw(&self.cfg, &mut self.swarm_rng, (!first).then_some(&self.phase));
        self.range_align = self.phase.range_block.max(self.phase.align);
        self.anchor = None;
        self.follow_up = None;
        if self.file_size <= self.phase.max_file_len {
            return None;
        }
        let a = self.phase.align;
        let size = between(&mut self.swarm_rng, 0, self.phase.max_file_len) / a * a;
        self.file_size = size;
        Some(Op::Truncate { file: 0, size })
    }

    /// Swarm: after an op that ends a state (fsync, remount, truncate, fallocate...), the next
    /// few ops come back to the block or folio of the last write.
    fn after(&mut self, op: &Op) {
        if !self.phase.sequence_bias {
            return;
        }
        if let Some(a) = &mut self.anchor {
            a.ops_left -= 1;
            if a.ops_left == 0 {
                self.anchor = None;
            }
        }
        let revisit = !matches!(op, Op::Read { .. } | Op::Write { .. });
        if revisit && below(&mut self.rng, 100) < REVISIT_PERCENT {
            let (start, end) = self.last_write.unwrap_or((self.file_size, self.file_size));
            self.anchor = Some(Anchor { start, end, ops_left: between(&mut self.rng, 1, 4) as u32 });
        }
    }
}

impl Iterator for FsxStream {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if self.cfg.ops.is_some_and(|n| self.op_number >= n) {
            return None;
        }
        self.op_number += 1;
        if let Some(op) = self.next_phase() {
            return Some(op);
        }
        if let Some(every) = self.cfg.power_cut_every {
            let odds = if self.after_sync { SYNC_CUT_ODDS.min(every) } else { every };
            self.after_sync = false;
            if below(&mut self.cut_rng, odds) == 0 {
                return Some(Op::PowerCut { after_writes: below(&mut self.cut_rng, MAX_CUT_WRITES + 1) });
            }
        }
        let kind = match self.follow_up.take() {
            Some(k) => k,
            None => self.pick_kind(),
        };
        let op = self.make(kind, self.op_number);
        self.after(&op);
        self.after_sync = matches!(op, Op::Fsync { .. } | Op::Fdatasync { .. });
        Some(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse() {
        let w = FsxWeights::parse("write=3, read=1").unwrap();
        assert_eq!(w.get(OpKind::Write), 3);
        assert_eq!(w.get(OpKind::Remount), 0);
        assert_eq!(FsxWeights::parse("default").unwrap(), FsxWeights::default());
        let e = FsxWeights::parse("wrte=3").unwrap_err();
        assert!(e.to_string().starts_with("bad fsx weights 'wrte=3': unknown op kind 'wrte'"), "{e}");
        assert!(FsxWeights::parse("write=x").is_err());
    }

    #[test]
    fn bad_configs_are_refused() {
        let cfg = FsxConfig { align: 3, ..FsxConfig::default() };
        assert_eq!(cfg.stream().unwrap_err().to_string(), "fsx align: must be a power of two (1 for byte-aligned ops)");
        let cfg = FsxConfig { weights: FsxWeights::none(), ..FsxConfig::default() };
        assert!(cfg.stream().is_err());
    }
}
