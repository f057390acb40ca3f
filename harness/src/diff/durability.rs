//! The durability oracle: what a file may hold after a power cut and a remount.
//!
//! The rules (those of `fsync(2)`, and what xfstests' power-fail tests and CrashMonkey check):
//! - data and size made durable — by `fsync`, `fdatasync`, `sync` or a clean unmount — before
//!   the cut are there;
//! - a byte changed since then holds one of the values its block had since then: the durable
//!   one, the newest one, or one in between (a later change may have reached the disk in part,
//!   in any order, block by block) — never anything else: no stale data of freed blocks, no
//!   bytes of another block, no uninitialised memory. A position past EOF reads as zeros, so
//!   zeros are allowed wherever the file was shorter or was truncated since;
//! - the size is one the file could have reached: not below the smallest size it had since the
//!   durable point (so never below the synced size unless a later truncate shrank it), not
//!   above the largest.
//!
//! collapse_range and insert_range move blocks to other file offsets by changing the extent map,
//! a metadata change that commits later (or never, if the power goes first), while the data of
//! a later overwrite goes straight into the moved block. So after a cut the file may have the
//! block layout of any point since the durable one, and a block holds what was written to it
//! under whichever layout. The oracle keeps the layouts apart as *epochs* (one per shift since
//! the durable point) and accepts a file that fits the rules under one of them.
//!
//! [`Durability`] keeps, per file, an undo log of what each op changed (the bytes before it,
//! with its epoch) since the oldest durable point of any observer (a target), the shifts, and
//! the sizes the file had. A power cut is checked with [`Durability::check`] against the file
//! as the target holds it after the remount. The log holds at most [`LOG_LIMIT`] bytes per
//! file; past that the oldest changes are dropped, and the data of observers that would need
//! them is not checked until their next durable point (counted:
//! [`Durability::unchecked_bytes`]), so memory stays bounded on long runs without syncs.
//!
//! The module knows the model ([`Model`]) and ops, nothing of targets: a crash tester drives it
//! the same way.

use super::model::Model;
use workloads::{FallocMode, Op};

/// Undo-log bytes kept per file before the oldest changes are dropped.
pub const LOG_LIMIT: u64 = 256 << 20;

/// One op's change to a file: its bytes before the op, at `offset`, under the layout of
/// `epoch`.
#[derive(Clone, Debug)]
struct Change {
    /// 1-based number of the op that made it.
    op: u64,
    epoch: u64,
    offset: u64,
    /// The bytes before the op (zeros past the file's end then).
    old: Vec<u8>,
}

/// A collapse_range or insert_range: it takes the file from layout `epoch` to `epoch + 1`.
#[derive(Clone, Debug)]
struct Shift {
    op: u64,
    epoch: u64,
    offset: u64,
    len: u64,
    collapse: bool,
    /// Observers that emulated it with reads and writes: on them no block moved, and the two
    /// layouts are one.
    emulated_on: Vec<usize>,
}

/// A durable point: after op `op`, under layout `epoch`.
#[derive(Clone, Copy, Debug, Default)]
struct Mark {
    op: u64,
    epoch: u64,
}

/// What is known about one file since the oldest durable point.
#[derive(Clone, Debug, Default)]
struct FileLog {
    changes: Vec<Change>,
    shifts: Vec<Shift>,
    log_bytes: u64,
    /// The layout now.
    epoch: u64,
    /// Sizes with the op after which the file had them: the first entry is the size at the
    /// oldest durable point, the others each change since.
    sizes: Vec<(u64, u64)>,
    /// The newest op whose change was dropped for memory: observers durable only before it
    /// get their size checked, not their data.
    dropped_upto: u64,
    /// Size before the op being logged (to tell whether a shift happened).
    size_before: u64,
}

/// What broke the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The size is one the file never could have had.
    Size {
        /// The file.
        file: u32,
        /// What the target has.
        actual: u64,
        /// The smallest size allowed (the durable one, or smaller if a truncate since made it so).
        min: u64,
        /// The largest allowed.
        max: u64,
        /// The size at the durable point.
        durable: u64,
    },
    /// Bytes hold a value their block never had since the durable point.
    Data {
        /// The file.
        file: u32,
        /// The first such byte (under the layout that explains the most bytes).
        offset: u64,
        /// How many such bytes follow one another from `offset`.
        run: u64,
        /// How many such bytes in all.
        bad_bytes: u64,
        /// Up to 16 of the target's bytes from `offset`.
        actual: Vec<u8>,
        /// The durable bytes there, under the durable layout.
        durable: Vec<u8>,
        /// The newest bytes there (the model now).
        newest: Vec<u8>,
        /// Whether the file changed there since the durable point (false: the bytes were
        /// synced and never touched again, so they are lost data).
        changed_since: bool,
    },
}

/// Bytes of a violation's excerpt.
const EXCERPT: usize = 16;

/// The byte range `op` may change in a file of `size` bytes: `[start, end)`, or `None`.
fn changed_range(op: &Op, size: u64) -> Option<(u64, u64)> {
    let r = match *op {
        Op::Write { offset, len, .. } => (offset, offset.saturating_add(len)),
        Op::Truncate { size: new, .. } => (new.min(size), new.max(size)),
        Op::Fallocate { mode, offset, len, .. } => match mode {
            FallocMode::Allocate | FallocMode::KeepSize => return None,
            FallocMode::PunchHole | FallocMode::ZeroRangeKeepSize => (offset, offset.saturating_add(len).min(size)),
            FallocMode::ZeroRange => (offset, offset.saturating_add(len)),
            FallocMode::CollapseRange => (offset, size),
            FallocMode::InsertRange => (offset, size.saturating_add(len)),
        },
        _ => return None,
    };
    (r.0 < r.1).then_some(r)
}

/// The old bytes of `[start, end)` of `bytes`, zeros past its end.
fn old_bytes(bytes: &[u8], start: u64, end: u64) -> Vec<u8> {
    let have = (bytes.len() as u64).clamp(start, end);
    let mut old = Vec::with_capacity((end - start) as usize);
    if have > start {
        old.extend_from_slice(&bytes[start as usize..have as usize]);
    }
    old.resize((end - start) as usize, 0);
    old
}

/// A piece of a version's bytes placed in some layout: `len` bytes from `src` of the version
/// at file offset `pos`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    src: u64,
    pos: u64,
    len: u64,
}

/// `pieces` moved by one shift, forward (to the layout after it) or back. Blocks a collapse
/// removed (forward) or an insert added (back) have no place on the other side.
fn move_pieces(pieces: Vec<Piece>, s: &Shift, forward: bool) -> Vec<Piece> {
    // Below `offset` nothing moves; `[offset, gone_end)` has no place; from `gone_end` on,
    // positions move by `delta`.
    let (gone_end, delta): (u64, i64) = match (s.collapse, forward) {
        (true, true) => (s.offset + s.len, -(s.len as i64)),
        (true, false) => (s.offset, s.len as i64),
        (false, true) => (s.offset, s.len as i64),
        (false, false) => (s.offset + s.len, -(s.len as i64)),
    };
    let mut out = Vec::with_capacity(pieces.len() + 1);
    for p in pieces {
        let end = p.pos + p.len;
        if p.pos < s.offset {
            let n = end.min(s.offset) - p.pos;
            out.push(Piece { len: n, ..p });
        }
        if end > gone_end {
            let from = p.pos.max(gone_end);
            let n = end - from;
            out.push(Piece { src: p.src + (from - p.pos), pos: from.wrapping_add_signed(delta), len: n });
        }
    }
    out
}

/// Where the bytes `[offset, offset + len)` of a version made under layout `version_epoch`
/// sit under layout `layout`, through `shifts` (those since the observer's durable point).
fn place(shifts: &[&Shift], version_epoch: u64, offset: u64, len: u64, layout: u64) -> Vec<Piece> {
    let mut pieces = vec![Piece { src: 0, pos: offset, len }];
    let (lo, hi) = (version_epoch.min(layout), version_epoch.max(layout));
    let path = shifts.iter().filter(|s| (lo..hi).contains(&s.epoch));
    if layout > version_epoch {
        for s in path {
            pieces = move_pieces(pieces, s, true);
        }
    } else {
        for s in path.rev() {
            pieces = move_pieces(pieces, s, false);
        }
    }
    pieces
}

/// The durability rules for the files of a run, for several observers (targets), each with
/// its own durable points.
#[derive(Clone, Debug)]
pub struct Durability {
    files: Vec<FileLog>,
    /// Per observer, per file: the last durable point (op 0: at the start, an empty file).
    marks: Vec<Vec<Mark>>,
    /// Bytes whose data check was given up for memory.
    unchecked: std::cell::Cell<u64>,
}

impl Durability {
    /// `files` empty files, durable at the start, watched by `observers` targets.
    pub fn new(files: u32, observers: usize) -> Durability {
        let log = FileLog { sizes: vec![(0, 0)], ..FileLog::default() };
        Durability {
            files: vec![log; files as usize],
            marks: vec![vec![Mark::default(); files as usize]; observers],
            unchecked: std::cell::Cell::new(0),
        }
    }

    /// Logs what op number `op_number` is about to change; call before applying it to `model`.
    pub fn before(&mut self, op_number: u64, op: &Op, model: &Model) {
        let Some(file) = op.file() else { return };
        let Some(log) = self.files.get_mut(file as usize) else { return };
        let bytes = model.bytes(file);
        log.size_before = bytes.len() as u64;
        let Some((start, end)) = changed_range(op, bytes.len() as u64) else { return };
        let old = old_bytes(bytes, start, end);
        log.log_bytes += old.len() as u64;
        log.changes.push(Change { op: op_number, epoch: log.epoch, offset: start, old });
        if log.log_bytes > LOG_LIMIT {
            log.drop_oldest_half();
        }
    }

    /// Records the size `op_number` left its file with, and a shift it made; call after
    /// applying it to `model`.
    pub fn after(&mut self, op_number: u64, op: &Op, model: &Model) {
        let Some(file) = op.file() else { return };
        let Some(log) = self.files.get_mut(file as usize) else { return };
        let size = model.size(file);
        if let Op::Fallocate { mode, offset, len, .. } = *op {
            let collapse = mode == FallocMode::CollapseRange;
            let moved = match mode {
                FallocMode::CollapseRange => size + len == log.size_before,
                FallocMode::InsertRange => log.size_before + len == size,
                _ => false,
            };
            if moved {
                log.shifts.push(Shift { op: op_number, epoch: log.epoch, offset, len, collapse, emulated_on: vec![] });
                log.epoch += 1;
            }
        }
        if log.sizes.last().is_none_or(|&(_, s)| s != size) {
            log.sizes.push((op_number, size));
        }
    }

    /// `observer` ran op `op_number` (a collapse or insert, the last op applied) emulated, with
    /// reads, writes and truncates: on it the op moved bytes, not blocks.
    pub fn emulated(&mut self, observer: usize, file: u32, op_number: u64) {
        let Some(log) = self.files.get_mut(file as usize) else { return };
        if let Some(s) = log.shifts.last_mut().filter(|s| s.op == op_number) {
            s.emulated_on.push(observer);
        }
    }

    /// `observer`'s `file` is durable as it was after op `op_number` (an fsync, fdatasync or
    /// sync that returned, a clean unmount; later ops may have been applied already, as when a
    /// crash tester cuts during the op after a sync); forgets what no observer needs any more.
    pub fn durable(&mut self, observer: usize, file: u32, op_number: u64) {
        let Some(log) = self.files.get(file as usize) else { return };
        let epoch = log.epoch - log.shifts.iter().filter(|s| s.op > op_number).count() as u64;
        let Some(m) = self.marks.get_mut(observer).and_then(|m| m.get_mut(file as usize)) else { return };
        if op_number >= m.op {
            *m = Mark { op: op_number, epoch };
        }
        let oldest = self.marks.iter().map(|m| m[file as usize].op).min().unwrap_or(op_number);
        self.files[file as usize].forget_before(oldest);
    }

    /// Every file of `observer` is durable after op `op_number` (a sync, a clean remount).
    pub fn all_durable(&mut self, observer: usize, op_number: u64) {
        for file in 0..self.files.len() as u32 {
            self.durable(observer, file, op_number);
        }
    }

    /// Checks `actual`, `file`'s bytes on `observer` after a power cut and a remount, against
    /// the rules; `model` is the state after the last op.
    pub fn check(&self, observer: usize, file: u32, model: &Model, actual: &[u8]) -> Result<(), Violation> {
        let log = &self.files[file as usize];
        let mark = self.marks[observer][file as usize];
        // Sizes since the mark: the one at the mark and every later one.
        let at_mark = log.sizes.iter().rposition(|&(op, _)| op <= mark.op).unwrap_or(0);
        let sizes = &log.sizes[at_mark..];
        let durable = sizes[0].1;
        let (min, max) = sizes.iter().fold((u64::MAX, 0), |(lo, hi), &(_, s)| (lo.min(s), hi.max(s)));
        let size = actual.len() as u64;
        if size < min || size > max {
            return Err(Violation::Size { file, actual: size, min, max, durable });
        }
        if log.dropped_upto > mark.op {
            self.unchecked.set(self.unchecked.get() + size);
            return Ok(());
        }
        let changes: Vec<&Change> = log.changes.iter().filter(|c| c.op > mark.op).collect();
        let shifts: Vec<&Shift> =
            log.shifts.iter().filter(|s| s.op > mark.op && !s.emulated_on.contains(&observer)).collect();
        // The newest bytes, with zeros far enough past EOF to cover any layout's view.
        let moved: u64 = shifts.iter().map(|s| s.len).sum();
        let mut newest = model.bytes(file).to_vec();
        newest.resize(newest.len().max((size + moved) as usize), 0);
        // Layouts this observer can have: one per shift that moved its blocks.
        let layouts: Vec<u64> = std::iter::once(mark.epoch).chain(shifts.iter().map(|s| s.epoch + 1)).collect();
        let place = |version_epoch, offset, len, layout| place(&shifts, version_epoch, offset, len, layout);
        // The layout under which the fewest bytes break the rules.
        let mut best: Option<(u64, Vec<bool>)> = None;
        for &layout in &layouts {
            let mut ok = vec![false; actual.len()];
            let mut accept = |bytes: &[u8], pieces: Vec<Piece>| {
                for p in pieces {
                    let end = (p.pos + p.len).min(size);
                    for x in p.pos..end {
                        let x = x as usize;
                        ok[x] |= actual[x] == bytes[p.src as usize + x - p.pos as usize];
                    }
                }
            };
            accept(&newest, place(log.epoch, 0, newest.len() as u64, layout));
            for c in &changes {
                accept(&c.old, place(c.epoch, c.offset, c.old.len() as u64, layout));
            }
            if ok.iter().all(|&g| g) {
                return Ok(());
            }
            let bad = ok.iter().filter(|&&g| !g).count() as u64;
            if best.as_ref().is_none_or(|(b, _)| bad < *b) {
                best = Some((bad, ok));
            }
        }
        let (bad_bytes, ok) = best.expect("at least the newest layout");
        let first = ok.iter().position(|&g| !g).expect("a bad byte");
        let run = ok[first..].iter().position(|&g| g).unwrap_or(ok.len() - first) as u64;
        let to = (first + EXCERPT).min(actual.len());
        let changed_since = !shifts.is_empty()
            || changes.iter().any(|c| (c.offset..c.offset + c.old.len() as u64).contains(&(first as u64)));
        Err(Violation::Data {
            file,
            offset: first as u64,
            run,
            bad_bytes,
            actual: actual[first..to].to_vec(),
            durable: self.durable_bytes(observer, file, model, first as u64, to as u64),
            newest: (first..to).map(|x| newest[x]).collect(),
            changed_since,
        })
    }

    /// Bytes `[from, to)` of `file` as `observer` last made them durable (zeros past the end),
    /// at the offsets of the durable layout; `model` is the state after the last op.
    pub fn durable_bytes(&self, observer: usize, file: u32, model: &Model, from: u64, to: u64) -> Vec<u8> {
        let log = &self.files[file as usize];
        let mark = self.marks[observer][file as usize];
        let shifts: Vec<&Shift> =
            log.shifts.iter().filter(|s| s.op > mark.op && !s.emulated_on.contains(&observer)).collect();
        let mut out: Vec<Option<u8>> = vec![None; (to - from) as usize];
        let mut fill = |bytes: &[u8], pieces: Vec<Piece>| {
            for p in pieces {
                for x in p.pos.max(from)..(p.pos + p.len).min(to) {
                    let slot = &mut out[(x - from) as usize];
                    slot.get_or_insert(bytes.get((p.src + x - p.pos) as usize).copied().unwrap_or(0));
                }
            }
        };
        // The oldest change since the mark that covers a byte holds its durable value; a byte
        // no change covered is as it is now.
        for c in log.changes.iter().filter(|c| c.op > mark.op) {
            fill(&c.old, place(&shifts, c.epoch, c.offset, c.old.len() as u64, mark.epoch));
        }
        let newest = model.bytes(file);
        fill(newest, place(&shifts, log.epoch, 0, to.max(newest.len() as u64), mark.epoch));
        out.into_iter().map(|b| b.unwrap_or(0)).collect()
    }

    /// Bytes whose data check was given up to keep the undo log within [`LOG_LIMIT`].
    pub fn unchecked_bytes(&self) -> u64 {
        self.unchecked.get()
    }
}

impl FileLog {
    /// Drops the changes, shifts and sizes before `oldest` (no observer can crash back there).
    fn forget_before(&mut self, oldest: u64) {
        let keep = self.changes.partition_point(|c| c.op <= oldest);
        if keep > 0 {
            self.log_bytes -= self.changes[..keep].iter().map(|c| c.old.len() as u64).sum::<u64>();
            self.changes.drain(..keep);
        }
        let keep = self.shifts.partition_point(|s| s.op <= oldest);
        self.shifts.drain(..keep);
        let at = self.sizes.iter().rposition(|&(op, _)| op <= oldest).unwrap_or(0);
        self.sizes.drain(..at);
    }

    /// Drops the oldest half of the log.
    fn drop_oldest_half(&mut self) {
        let mut freed = 0;
        let mut n = 0;
        while n < self.changes.len() && freed < self.log_bytes / 2 {
            freed += self.changes[n].old.len() as u64;
            self.dropped_upto = self.dropped_upto.max(self.changes[n].op);
            n += 1;
        }
        self.log_bytes -= freed;
        self.changes.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `ops` on a model and the oracle (two observers); fsyncs make observer 0 durable.
    fn run(ops: &[Op]) -> (Model, Durability) {
        run_with(ops, false)
    }

    /// [`run`]; with `second`, observer 1 syncs too and emulates collapse and insert.
    fn run_with(ops: &[Op], second: bool) -> (Model, Durability) {
        let mut m = Model::new(1, 1024, 0);
        let mut d = Durability::new(1, 2);
        for (i, op) in ops.iter().enumerate() {
            let n = i as u64 + 1;
            let data: Vec<u8> = match *op {
                Op::Write { len, tag, .. } => vec![tag as u8; len as usize],
                _ => vec![],
            };
            d.before(n, op, &m);
            m.apply(op, &data).unwrap().unwrap();
            d.after(n, op, &m);
            if matches!(op, Op::Fsync { .. }) {
                d.durable(0, 0, n);
                if second {
                    d.durable(1, 0, n);
                }
            }
            if second && matches!(op, Op::Fallocate { .. }) {
                d.emulated(1, 0, n);
            }
        }
        (m, d)
    }

    fn write(offset: u64, len: u64, tag: u64) -> Op {
        Op::Write { file: 0, offset, len, tag }
    }

    #[test]
    fn synced_data_must_be_there_and_later_bytes_may_be_old_or_new() {
        let ops = [write(0, 8, 1), Op::Fsync { file: 0 }, write(4, 8, 2), write(6, 2, 3)];
        let (m, d) = run(&ops);
        // The newest state, the synced state (size 8), and mixes of the versions in between.
        assert_eq!(d.check(0, 0, &m, &[1, 1, 1, 1, 2, 2, 3, 3, 2, 2, 2, 2]), Ok(()));
        assert_eq!(d.check(0, 0, &m, &[1; 8]), Ok(()));
        assert_eq!(d.check(0, 0, &m, &[1, 1, 1, 1, 1, 2, 2, 3, 0, 0]), Ok(()));
        // A synced byte lost.
        let v = d.check(0, 0, &m, &[1, 0, 1, 1, 2, 2, 3, 3, 2, 2, 2, 2]).unwrap_err();
        assert!(matches!(v, Violation::Data { offset: 1, run: 1, bad_bytes: 1, changed_since: false, .. }), "{v:?}");
        // A value the position never had (op 3's byte one position off).
        let v = d.check(0, 0, &m, &[1, 1, 1, 1, 2, 3, 3, 3, 2, 2, 2, 2]).unwrap_err();
        assert!(matches!(v, Violation::Data { offset: 5, changed_since: true, .. }), "{v:?}");
        // Shorter than synced, longer than ever.
        assert!(matches!(d.check(0, 0, &m, &[1; 7]), Err(Violation::Size { actual: 7, min: 8, max: 12, .. })));
        assert!(matches!(d.check(0, 0, &m, &[1; 13]), Err(Violation::Size { .. })));
        // The other observer never synced: anything from the empty file on.
        assert_eq!(d.check(1, 0, &m, &[]), Ok(()));
        assert_eq!(d.check(1, 0, &m, &[0, 0, 1, 1]), Ok(()));
    }

    #[test]
    fn truncates_and_shifts_allow_what_they_moved() {
        let collapse = Op::Fallocate { file: 0, mode: FallocMode::CollapseRange, offset: 0, len: 1024 };
        let ops = [
            write(0, 3072, 1),
            write(1024, 1024, 2),
            Op::Fsync { file: 0 },
            collapse,
            Op::Truncate { file: 0, size: 10 },
        ];
        let (m, d) = run(&ops);
        // Before or after the collapse, truncated or not, down to 10 bytes.
        let synced: Vec<u8> = [vec![1u8; 1024], vec![2; 1024], vec![1; 1024]].concat();
        assert_eq!(d.check(0, 0, &m, &synced), Ok(()));
        assert_eq!(d.check(0, 0, &m, &[2; 10]), Ok(()));
        assert_eq!(d.check(0, 0, &m, &synced[1024..]), Ok(()));
        // Zeros past where the truncate cut, in the block it cut (the tail of the EOF block
        // zeroed and written before the truncate or the collapse committed): block B, at 1024
        // under the durable layout.
        let mut zeroed = synced.clone();
        zeroed[1034..2048].fill(0);
        assert_eq!(d.check(0, 0, &m, &zeroed), Ok(()));
        // Block A was collapsed away, never written: it cannot hold zeros.
        zeroed[10..1024].fill(0);
        assert!(matches!(d.check(0, 0, &m, &zeroed), Err(Violation::Data { offset: 10, .. })));
        assert!(matches!(d.check(0, 0, &m, &[9; 10]), Err(Violation::Data { offset: 0, .. })));
        assert!(matches!(d.check(0, 0, &m, &[2; 9]), Err(Violation::Size { min: 10, .. })));
    }

    #[test]
    fn a_block_written_after_a_shift_may_show_at_its_old_offset() {
        // Blocks A B C synced; insert a block at 1024 (B C move up, uncommitted); overwrite
        // what is now at 2048 (block B) with 9s. After a cut with the old layout, B shows the
        // 9s at its old offset 1024; with the new one, at 2048.
        let insert = Op::Fallocate { file: 0, mode: FallocMode::InsertRange, offset: 1024, len: 1024 };
        let ops = [write(0, 3072, 1), Op::Fsync { file: 0 }, insert, write(2048, 1024, 9)];
        let (m, d) = run(&ops);
        let old_layout: Vec<u8> = [vec![1u8; 1024], vec![9; 1024], vec![1; 1024]].concat();
        assert_eq!(d.check(0, 0, &m, &old_layout), Ok(()));
        assert_eq!(d.check(0, 0, &m, m.bytes(0)), Ok(()));
        // The 9s at an offset no layout puts block B.
        let wrong: Vec<u8> = [vec![1u8; 1024], vec![1; 1024], vec![9; 1024]].concat();
        assert!(matches!(d.check(0, 0, &m, &wrong), Err(Violation::Data { offset: 2048, .. })));
        // A target that emulated the insert moved bytes, not blocks: the 9s were written at
        // 2048 only.
        let (m, d) = run_with(&ops, true);
        assert!(matches!(d.check(1, 0, &m, &old_layout), Err(Violation::Data { offset: 1024, .. })));
        assert_eq!(d.check(1, 0, &m, m.bytes(0)), Ok(()));
        assert_eq!(d.check(0, 0, &m, &old_layout), Ok(()));
    }

    #[test]
    fn a_sync_marked_after_a_later_shift_keeps_the_layout_it_had() {
        // A crash tester marks the fsync of op 2 once op 3, a collapse, has been applied.
        let collapse = Op::Fallocate { file: 0, mode: FallocMode::CollapseRange, offset: 0, len: 1024 };
        let ops = [write(0, 2048, 1), Op::Fsync { file: 0 }, collapse];
        let mut m = Model::new(1, 1024, 0);
        let mut d = Durability::new(1, 1);
        for (i, op) in ops.iter().enumerate() {
            let n = i as u64 + 1;
            let data = vec![n as u8; op.io_bytes() as usize];
            d.before(n, op, &m);
            m.apply(op, &data).unwrap().unwrap();
            d.after(n, op, &m);
        }
        d.durable(0, 0, 2);
        // The synced two blocks, under the layout before the collapse.
        assert_eq!(d.check(0, 0, &m, &[1; 2048]), Ok(()));
        assert_eq!(d.durable_bytes(0, 0, &m, 1020, 1030), vec![1; 10]);
        assert_eq!(d.durable_bytes(0, 0, &m, 2040, 2050), [vec![1; 8], vec![0; 2]].concat());
        assert!(matches!(d.check(0, 0, &m, &[]), Err(Violation::Size { min: 1024, max: 2048, .. })));
    }

    #[test]
    fn pieces_move_with_shifts_both_ways() {
        let p = |src, pos, len| Piece { src, pos, len };
        let collapse = Shift { op: 1, epoch: 0, offset: 100, len: 50, collapse: true, emulated_on: vec![] };
        assert_eq!(move_pieces(vec![p(0, 0, 300)], &collapse, true), vec![p(0, 0, 100), p(150, 100, 150)]);
        assert_eq!(move_pieces(vec![p(0, 0, 300)], &collapse, false), vec![p(0, 0, 100), p(100, 150, 200)]);
        let insert = Shift { collapse: false, ..collapse.clone() };
        assert_eq!(move_pieces(vec![p(0, 120, 10)], &insert, true), vec![p(0, 170, 10)]);
        assert_eq!(move_pieces(vec![p(0, 90, 100)], &insert, false), vec![p(0, 90, 10), p(60, 100, 40)]);
    }

    #[test]
    fn durable_points_forget_the_log_and_memory_stays_bounded() {
        let mut ops = vec![write(0, 4096, 1), Op::Fsync { file: 0 }];
        ops.extend((0..4).map(|i| write(0, 4096, 2 + i)));
        let (m, mut d) = run(&ops);
        assert_eq!(d.files[0].changes.len(), 5, "observer 1 is durable at the start only");
        d.durable(1, 0, 2);
        assert_eq!(d.files[0].changes.len(), 4, "both are durable at op 2");
        d.durable(0, 0, 6);
        d.durable(1, 0, 6);
        assert!(d.files[0].changes.is_empty() && d.files[0].sizes.len() == 1);
        assert!(d.check(0, 0, &m, &[1; 4096]).is_err(), "op 2's bytes are not durable any more");

        let mut f = FileLog { sizes: vec![(0, 0)], ..FileLog::default() };
        for op in 1..=4 {
            f.changes.push(Change { op, epoch: 0, offset: op * 10, old: vec![0; 10] });
            f.log_bytes += 10;
        }
        f.drop_oldest_half();
        assert_eq!((f.changes.len(), f.log_bytes, f.dropped_upto), (2, 20, 2));
    }
}
