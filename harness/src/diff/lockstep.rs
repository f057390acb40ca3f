//! Lockstep: each op on the model and then on every target, compared at once — the result or
//! errno, the file size and any data read — with whole files compared every K ops, after every
//! remount and at the end.
//!
//! A fallocate mode a target lacks (or a collapse/insert range finer than its blocks) is
//! emulated on that target ([`super::emulate`]) and counted; the model and the other targets
//! run the real op.
//!
//! A target whose power is cut (`faults=powercut=N`, or an [`Op::PowerCut`]) is rebooted at once —
//! mounted from what its device kept — and its files are checked against the durability rules
//! ([`Durability`]); a file that breaks them is a divergence, one that keeps them is rewritten
//! to the model's content and synced, and the run goes on.
//!
//! The loop allocates nothing per op once warm: write data goes through one reused buffer
//! (filled by [`workloads::pattern::fill`]), reads and whole-file checks through another, and
//! only what the op read (or, at a whole-file check, the file) is read back.

use super::DiffError;
use super::coverage::TargetCounters;
use super::divergence::{Check, DataMismatch, Divergence, Kind, Mismatch, Verdict};
use super::durability::Durability;
use super::model::{MODEL_MAX_FILE, Model, ModelError, Outcome};
use super::power::CUT_WINDOW;
use super::targets::TargetSet;
use crate::runner::{Buffers, execute};
use crate::targets::{DiskCheck, FileId, PowerControl, RemountKind, Target, TargetError};
use std::collections::VecDeque;
use workloads::{FallocMode, Op, OpKind, pattern};

/// Whole-file checks read files in pieces of this size.
pub(super) const CHUNK: u64 = 1 << 20;
/// How many differing runs a data mismatch lists.
const RUNS_KEPT: usize = 4;
/// Buffers are made this large up front at most (larger ops grow them once).
const PRESIZE: u64 = 16 << 20;
/// Differing runs closer than this are one region.
const MERGE_GAP: u64 = 16;
/// Bytes of context in a data mismatch's hex windows.
const WINDOW: u64 = 48;

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Ops run, per [`OpKind::index`].
    pub ran: [u64; OpKind::COUNT],
    /// Per target (by name), ops emulated, per kind.
    pub emulated: Vec<(String, [u64; OpKind::COUNT])>,
    /// Whole-file checks done.
    pub whole_checks: u64,
    /// Per target (by name), power cuts it was rebooted from and checked after.
    pub power_cuts: Vec<(String, u64)>,
    /// Bytes the durability rules gave up checking to bound memory (long runs without syncs).
    pub durability_unchecked: u64,
}

impl Stats {
    /// Ops run in all.
    pub fn total_ran(&self) -> u64 {
        self.ran.iter().sum()
    }

    /// Ops emulated in all, over every target.
    pub fn total_emulated(&self) -> u64 {
        self.emulated.iter().map(|(_, e)| e.iter().sum::<u64>()).sum()
    }

    /// Power cuts in all, over every target.
    pub fn total_power_cuts(&self) -> u64 {
        self.power_cuts.iter().map(|(_, n)| n).sum()
    }
}

/// Position of a mode in `FallocMode`'s declaration order.
fn mode_index(m: FallocMode) -> usize {
    match m {
        FallocMode::Allocate => 0,
        FallocMode::KeepSize => 1,
        FallocMode::PunchHole => 2,
        FallocMode::ZeroRange => 3,
        FallocMode::ZeroRangeKeepSize => 4,
        FallocMode::CollapseRange => 5,
        FallocMode::InsertRange => 6,
    }
}

const MODES: [FallocMode; 7] = [
    FallocMode::Allocate,
    FallocMode::KeepSize,
    FallocMode::PunchHole,
    FallocMode::ZeroRange,
    FallocMode::ZeroRangeKeepSize,
    FallocMode::CollapseRange,
    FallocMode::InsertRange,
];

/// Fault counters of power cuts: the durability rules judge what a cut does, so these never
/// explain a divergence away.
const POWER_CUT_COUNTERS: [&str; 3] = ["fault_power_cuts", "fault_reverted_bytes", "fault_dropped_writes"];

/// A target in the lockstep, with its open files.
pub(super) struct Member {
    pub(super) name: String,
    pub(super) target: Box<dyn Target>,
    pub(super) fids: Vec<FileId>,
    pub(super) remount: RemountKind,
    /// Its block size: collapse/insert ranges not aligned to it are emulated.
    pub(super) block: u64,
    /// Per fallocate mode: it cannot do it, so it is emulated.
    pub(super) lacks: [bool; 7],
    /// Whether its power can be cut, and the cuts seen so far.
    pub(super) can_cut: bool,
    pub(super) cuts_seen: u64,
    /// Whether its device keeps an undo log now.
    pub(super) logging: bool,
    /// A power cut op asked for a cut during the next op, after this many device writes.
    pub(super) pending_cut: Option<u64>,
}

/// The model and the targets, one op at a time.
pub struct Lockstep {
    pub(super) members: Vec<Member>,
    pub(super) model: Model,
    /// Alignment of collapse/insert ranges the model takes: the smallest block size.
    pub(super) range_align: u64,
    pub(super) check_every: u64,
    pub(super) since_check: u64,
    pub(super) op_number: u64,
    pub(super) last_op: Option<Op>,
    pub(super) write_buf: Vec<u8>,
    pub(super) read_buf: Vec<u8>,
    pub(super) exec_bufs: Buffers,
    pub(super) emulate_buf: Vec<u8>,
    /// Per member, how it differs at the current check.
    pub(super) found: Vec<Option<Mismatch>>,
    /// Per member, whether the current op was emulated on it.
    pub(super) emulated_now: Vec<bool>,
    /// The durability rules, when some target can lose power.
    pub(super) durability: Option<Durability>,
    pub(super) stats: Stats,
    /// Image checks after remounts and at the end.
    pub(super) disk_checks: Vec<DiskCheck>,
}

/// The name of diff's file `i` on every target.
pub fn file_name(i: u32) -> String {
    format!("aopsbench-diff.{i}")
}

pub(super) fn target_err(target: &str, what: &str) -> impl Fn(TargetError) -> DiffError {
    move |source| DiffError::Target { target: target.to_string(), what: what.to_string(), source }
}

/// An errno as an [`Outcome`]; setup failures (a remount that cannot mount) stop the run.
pub(super) fn outcome(r: Result<u64, TargetError>, target: &str, op: &Op) -> Result<Outcome, DiffError> {
    match r {
        Ok(n) => Ok(Ok(n)),
        Err(e) => match e.errno() {
            Some(errno) => Ok(Err(errno)),
            None => Err(target_err(target, &super::report::op_line(op))(e)),
        },
    }
}

impl Lockstep {
    /// Builds the targets of `set` afresh, checks they store data, probes what they can do and
    /// opens `files` empty files on each. Whole files are compared every `check_every` ops
    /// (0: only after remounts and at the end); the model reserves `reserve` bytes per file.
    pub fn new(set: &TargetSet, files: u32, check_every: u64, reserve: u64) -> Result<Lockstep, DiffError> {
        let targets = set.build()?;
        let mut members = Vec::with_capacity(targets.len());
        for ((target, name), &block) in targets.into_iter().zip(set.names()).zip(set.block_sizes()) {
            let caps = target.capabilities();
            if !caps.stores_data {
                return Err(DiffError::Refused {
                    target: name.clone(),
                    why: "it stores no data (reads return zeros), so there is nothing to compare".into(),
                });
            }
            let lacks = MODES.map(|m| !caps.fallocate.contains(&m));
            let mut fids = Vec::with_capacity(files as usize);
            for i in 0..files {
                let fname = file_name(i);
                let fid = target.open(&fname, true).map_err(target_err(name, &format!("open {fname}")))?;
                // A directory target may hold the file from an earlier run: start empty.
                target.truncate(fid, 0).map_err(target_err(name, &format!("truncate {fname}")))?;
                fids.push(fid);
            }
            let can_cut = target.can_cut_power();
            let cuts_seen = target.power_cuts();
            members.push(Member {
                name: name.clone(),
                target,
                fids,
                remount: caps.remount,
                block,
                lacks,
                can_cut,
                cuts_seen,
                logging: false,
                pending_cut: None,
            });
        }
        let n = members.len();
        let durability = members.iter().any(|m| m.can_cut).then(|| Durability::new(files, n));
        let stats = Stats {
            emulated: members.iter().map(|m| (m.name.clone(), [0; OpKind::COUNT])).collect(),
            power_cuts: members.iter().filter(|m| m.can_cut).map(|m| (m.name.clone(), 0)).collect(),
            ..Stats::default()
        };
        let range_align = set.range_align();
        Ok(Lockstep {
            members,
            model: Model::new(files, range_align, reserve),
            range_align,
            check_every,
            since_check: 0,
            op_number: 0,
            last_op: None,
            write_buf: vec![0; reserve.min(PRESIZE) as usize],
            read_buf: vec![0; reserve.min(PRESIZE) as usize],
            exec_bufs: Buffers::new(0),
            emulate_buf: Vec::new(),
            found: (0..n).map(|_| None).collect(),
            emulated_now: vec![false; n],
            durability,
            stats,
            disk_checks: set.disk_checks().to_vec(),
        })
    }

    /// What the run did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Per fallocate mode that some target cannot do: the mode and those targets (it is
    /// emulated on them).
    pub fn unsupported_modes(&self) -> Vec<(FallocMode, String)> {
        MODES
            .iter()
            .filter_map(|&m| {
                let who: Vec<&str> =
                    self.members.iter().filter(|t| t.lacks[mode_index(m)]).map(|t| t.name.as_str()).collect();
                (!who.is_empty()).then(|| (m, who.join(", ")))
            })
            .collect()
    }

    /// One line per target whose remount is not a real unmount and mount.
    pub fn remount_notes(&self) -> Vec<String> {
        self.members
            .iter()
            .filter_map(|m| match m.remount {
                RemountKind::Real => None,
                RemountKind::CloseAndDropCaches => {
                    Some(format!("{}: remount closes the files and drops the page cache", m.name))
                }
                RemountKind::None => Some(format!("{}: remount does nothing (the data lives in memory)", m.name)),
            })
            .collect()
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Every target's counters now (fsimpl's stats, a kernel target's device counters).
    pub fn counters(&self) -> Vec<TargetCounters> {
        self.members
            .iter()
            .map(|m| TargetCounters {
                name: m.name.clone(),
                kind: m.target.kind().to_string(),
                spec: m.target.spec().to_string(),
                counters: m.target.counters(),
            })
            .collect()
    }

    /// Whether member `i` runs `op` emulated.
    fn emulates(&self, i: usize, op: &Op) -> bool {
        let Op::Fallocate { mode, offset, len, .. } = *op else { return false };
        let m = &self.members[i];
        if m.lacks[mode_index(mode)] {
            return true;
        }
        let ranged = matches!(mode, FallocMode::CollapseRange | FallocMode::InsertRange);
        let aligned = |b: u64| offset.is_multiple_of(b) && len.is_multiple_of(b);
        ranged && aligned(self.range_align) && !aligned(m.block)
    }

    /// Runs one op everywhere; returns the divergence it shows, if any.
    pub fn step(&mut self, op: &Op) -> Result<Option<Box<Divergence>>, DiffError> {
        self.op_number += 1;
        let n = self.op_number;
        self.last_op = Some(op.clone());
        let kind = op.kind().index();
        if let Op::Write { file, offset, len, tag } = *op {
            let end = offset.saturating_add(len);
            if end > MODEL_MAX_FILE {
                return Err(ModelError::TooLarge { op: super::report::op_line(op), file, size: end }.into());
            }
            let len = len as usize;
            if self.write_buf.len() < len {
                self.write_buf.resize(len, 0);
            }
            pattern::fill(tag, offset, &mut self.write_buf[..len]);
        }
        if let Some(d) = &mut self.durability {
            d.before(n, op, &self.model);
        }
        let expected = self.model.apply(op, &self.write_buf)?;
        if let Some(d) = &mut self.durability {
            d.after(n, op, &self.model);
        }
        self.stats.ran[kind] += 1;
        let mut diverged = false;
        for i in 0..self.members.len() {
            let emulated = self.emulates(i, op);
            self.emulated_now[i] = emulated;
            if emulated {
                self.stats.emulated[i].1[kind] += 1;
            }
            let cuts = self.members[i].cuts_seen;
            let actual = self.run_op(i, op, expected, emulated)?;
            if let (true, Some(d), Some(file)) = (emulated, &mut self.durability, op.file()) {
                // It moved bytes, not blocks.
                d.emulated(i, file, n);
            }
            let m = match self.members[i].can_cut && self.members[i].target.power_cuts() > cuts {
                // The power went during the op: what it returned does not count; what the
                // device kept is checked instead.
                true => self.after_power_cut(i)?,
                false => {
                    self.note_durable(i, op, actual);
                    self.compare(i, op, expected, actual)?
                }
            };
            diverged |= m.is_some();
            self.found[i] = m;
        }
        if diverged {
            let durability = self.found.iter().flatten().any(|m| m.kind() == Kind::Durability);
            return Ok(Some(self.divergence(if durability { Check::PowerCut } else { Check::Op })));
        }
        self.since_check += 1;
        let check = match op {
            Op::Remount => Check::Remount,
            _ if self.check_every > 0 && self.since_check >= self.check_every => Check::Periodic,
            _ => return Ok(None),
        };
        self.check_whole(check)
    }

    /// The final whole-file check.
    pub fn finish(&mut self) -> Result<Option<Box<Divergence>>, DiffError> {
        self.check_whole(Check::End)
    }

    /// Runs `ops` until a divergence or the end, then the final check. `keep_going(ops so
    /// far)` is asked every 1024 ops; when it says no, the run ends there (with the final check).
    pub fn run(
        &mut self,
        ops: impl IntoIterator<Item = Op>,
        mut keep_going: impl FnMut(u64) -> bool,
    ) -> Result<Option<Box<Divergence>>, DiffError> {
        // Ops read ahead, to start the undo logs a window before each power cut.
        let mut ahead: VecDeque<Op> = VecDeque::with_capacity(CUT_WINDOW + 1);
        let mut ops = ops.into_iter();
        let mut cuts_ahead = 0usize;
        loop {
            while ahead.len() <= CUT_WINDOW {
                let Some(op) = ops.next() else { break };
                cuts_ahead += usize::from(matches!(op, Op::PowerCut { .. }));
                ahead.push_back(op);
            }
            let Some(op) = ahead.pop_front() else { break };
            if cuts_ahead > 0 && self.durability.is_some() {
                self.start_power_logs()?;
            }
            cuts_ahead -= usize::from(matches!(op, Op::PowerCut { .. }));
            if let Some(d) = self.step(&op)? {
                return Ok(Some(d));
            }
            if self.op_number.is_multiple_of(1024) && !keep_going(self.op_number) {
                break;
            }
        }
        self.finish()
    }

    /// Removes diff's files and tears the targets down.
    pub fn close(mut self) -> Result<(), DiffError> {
        self.remove_files();
        for m in &self.members {
            m.target.teardown().map_err(target_err(&m.name, "teardown"))?;
        }
        Ok(())
    }

    /// Closes and unlinks diff's files on every target (best effort: a directory target
    /// should not keep them).
    fn remove_files(&mut self) {
        let files = self.model.files();
        for m in &mut self.members {
            for fid in m.fids.drain(..) {
                let _ = m.target.close(fid);
            }
            for i in 0..files {
                let _ = m.target.unlink(&file_name(i));
            }
        }
    }

    fn divergence(&mut self, check: Check) -> Box<Divergence> {
        let verdicts = self
            .members
            .iter()
            .zip(self.found.iter_mut())
            .zip(&self.emulated_now)
            .map(|((m, f), &emulated)| Verdict {
                target: m.name.clone(),
                spec: m.target.spec().to_string(),
                mismatch: f.take(),
                faults: m
                    .target
                    .counters()
                    .into_iter()
                    .filter(|(k, v)| k.starts_with("fault_") && *v > 0 && !POWER_CUT_COUNTERS.contains(&k.as_str()))
                    .collect(),
                emulated: emulated && check == Check::Op,
            })
            .collect();
        Box::new(Divergence {
            op_number: self.op_number,
            op: self.last_op.clone(),
            check,
            verdicts,
            range_align: self.range_align,
        })
    }

    /// Runs `op` on member `i` (emulated or not); returns what it returned. A power cut that
    /// the previous op planned comes during this one.
    fn run_op(&mut self, i: usize, op: &Op, expected: Outcome, emulated: bool) -> Result<Outcome, DiffError> {
        if let Op::PowerCut { after_writes } = *op {
            return self.cut(i, after_writes);
        }
        let planned = self.members[i].pending_cut.take();
        if let Some(n) = planned {
            let m = &self.members[i];
            m.target.power(PowerControl::CutAfterWrites(n)).map_err(target_err(&m.name, "cut the power"))?;
        }
        let m = &self.members[i];
        let t = m.target.as_ref();
        let fid =
            |file: u32| m.fids.get(file as usize).copied().ok_or(TargetError::Os { op: "lookup", errno: libc::EBADF });
        let actual = match *op {
            Op::Read { file, offset, len } => {
                // No file grows past the model's limit, so a longer read returns no more.
                let len = len.min(MODEL_MAX_FILE) as usize;
                if self.read_buf.len() < len {
                    self.read_buf.resize(len, 0);
                }
                let r = fid(file).and_then(|f| t.read(f, offset, &mut self.read_buf[..len]));
                outcome(r.map(|n| n as u64), &m.name, op)?
            }
            Op::Write { file, offset, len, .. } => {
                let r = fid(file).and_then(|f| t.write(f, offset, &self.write_buf[..len as usize]));
                outcome(r.map(|n| n as u64), &m.name, op)?
            }
            // The emulation runs valid ops only; an invalid one fails as the model says.
            Op::Fallocate { file, mode, offset, len } if emulated => match expected {
                Err(_) => expected,
                Ok(_) => {
                    let r = fid(file)
                        .and_then(|f| super::emulate::fallocate(t, f, mode, offset, len, &mut self.emulate_buf));
                    outcome(r.map(|_| 0), &m.name, op)?
                }
            },
            _ => outcome(execute(t, &m.fids, op, &mut self.exec_bufs).map(|_| 0), &m.name, op)?,
        };
        // Fewer writes than planned: the power goes at the end of the op.
        if planned.is_some() && m.target.power_cuts() == m.cuts_seen {
            m.target.power(PowerControl::CutNow).map_err(target_err(&m.name, "cut the power"))?;
        }
        Ok(actual)
    }

    /// Compares what member `i` returned for `op` with the model: the result, the data read
    /// and the file size.
    fn compare(
        &mut self,
        i: usize,
        op: &Op,
        expected: Outcome,
        actual: Outcome,
    ) -> Result<Option<Mismatch>, DiffError> {
        if actual != expected {
            return Ok(Some(Mismatch::Result { expected, actual }));
        }
        if let (Op::Read { file, offset, .. }, Ok(n)) = (op, actual) {
            let want = self.model.read(*file, *offset, n);
            let got = &self.read_buf[..n as usize];
            if want != got {
                let mut scan = None;
                scan_diff(&mut scan, *file, *offset, want, got);
                return Ok(scan.map(Mismatch::Data));
            }
        }
        match op.file() {
            Some(file) => self.check_size(i, file),
            None => {
                for file in 0..self.model.files() {
                    if let Some(m) = self.check_size(i, file)? {
                        return Ok(Some(m));
                    }
                }
                Ok(None)
            }
        }
    }

    fn check_size(&self, i: usize, file: u32) -> Result<Option<Mismatch>, DiffError> {
        let m = &self.members[i];
        let size = m.target.size(m.fids[file as usize]).map_err(target_err(&m.name, "fstat"))?;
        let expected = self.model.size(file);
        Ok((size != expected).then_some(Mismatch::Size { file, expected, actual: size }))
    }

    /// Compares every file of every target with the model; after a remount and at the
    /// end, also checks the images (`--check`).
    fn check_whole(&mut self, check: Check) -> Result<Option<Box<Divergence>>, DiffError> {
        self.since_check = 0;
        self.stats.whole_checks += 1;
        let mut diverged = false;
        let mut cut = false;
        for i in 0..self.members.len() {
            let cuts = self.members[i].cuts_seen;
            let mut m = self.compare_files(i)?;
            // A cut `faults=powercut=N` planned came during the check (its reads made
            // writeback run): the device is judged, not what was read.
            if self.members[i].can_cut && self.members[i].target.power_cuts() > cuts {
                m = self.after_power_cut(i)?;
                cut = true;
            }
            diverged |= m.is_some();
            self.found[i] = m;
        }
        if !diverged && matches!(check, Check::Remount | Check::End) && !self.disk_checks.is_empty() {
            let expect: Vec<(String, Vec<u8>)> =
                (0..self.model.files()).map(|f| (file_name(f), self.model.bytes(f).to_vec())).collect();
            for i in 0..self.members.len() {
                for &c in &self.disk_checks {
                    let member = &self.members[i];
                    match member.target.check_disk(c, &expect) {
                        Ok(None) | Err(TargetError::Unsupported { .. }) => {}
                        Ok(Some(problem)) => {
                            self.found[i] = Some(Mismatch::Disk { check: c, problem });
                            diverged = true;
                            break;
                        }
                        Err(e) => return Err(target_err(&member.name, "check")(e)),
                    }
                }
            }
        }
        let check = if cut && self.found.iter().flatten().any(|m| m.kind() == Kind::Durability) {
            Check::PowerCut
        } else {
            check
        };
        Ok(diverged.then(|| self.divergence(check)))
    }

    /// Member `i`'s files against the model: sizes, then bytes, a chunk at a time.
    fn compare_files(&mut self, i: usize) -> Result<Option<Mismatch>, DiffError> {
        for file in 0..self.model.files() {
            if let Some(m) = self.check_size(i, file)? {
                return Ok(Some(m));
            }
            let member = &self.members[i];
            let fid = member.fids[file as usize];
            let want = self.model.bytes(file);
            let size = want.len() as u64;
            let chunk = CHUNK.min(size) as usize;
            if self.read_buf.len() < chunk {
                self.read_buf.resize(chunk, 0);
            }
            let mut scan = None;
            let mut off = 0u64;
            while off < size {
                let len = CHUNK.min(size - off) as usize;
                let buf = &mut self.read_buf[..len];
                let n = match member.target.read(fid, off, buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let actual = outcome(Err(e), &member.name, &Op::Read { file, offset: off, len: len as u64 })?;
                        return Ok(Some(Mismatch::Result { expected: Ok(len as u64), actual }));
                    }
                };
                if n == 0 {
                    return Ok(Some(Mismatch::Result { expected: Ok(len as u64), actual: Ok(0) }));
                }
                let expected = &want[off as usize..off as usize + n];
                if expected != &buf[..n] {
                    scan_diff(&mut scan, file, off, expected, &buf[..n]);
                }
                off += n as u64;
            }
            if let Some(d) = scan {
                return Ok(Some(Mismatch::Data(d)));
            }
        }
        Ok(None)
    }
}

impl Drop for Lockstep {
    /// A run that ends early (an error) removes its files too; the targets tear themselves
    /// down when dropped.
    fn drop(&mut self) {
        if self.members.iter().any(|m| !m.fids.is_empty()) {
            self.remove_files();
        }
    }
}

/// Adds the differences between `expected` and `actual` (both at file offset `base`) to
/// `acc`: the first few runs, the count, and hex windows around the first difference.
fn scan_diff(acc: &mut Option<DataMismatch>, file: u32, base: u64, expected: &[u8], actual: &[u8]) {
    let mut i = 0;
    while i < expected.len() {
        if expected[i] == actual[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < expected.len() && expected[i] != actual[i] {
            i += 1;
        }
        let (off, len) = (base + start as u64, (i - start) as u64);
        let d = acc.get_or_insert_with(|| {
            let from = (off.saturating_sub(16) & !15).max(base);
            let to = (from + WINDOW).min(base + expected.len() as u64);
            let (a, b) = ((from - base) as usize, (to - base) as usize);
            DataMismatch {
                file,
                runs: Vec::new(),
                differing: 0,
                regions: 0,
                window: from,
                expected: expected[a..b].to_vec(),
                actual: actual[a..b].to_vec(),
            }
        });
        d.differing += len;
        let kept = d.runs.len();
        match d.runs.last_mut() {
            // Bytes that agree by chance inside a bad region do not split it.
            Some(last) if off - (last.0 + last.1) < MERGE_GAP => last.1 = off + len - last.0,
            _ => {
                d.regions += 1;
                if kept < RUNS_KEPT {
                    d.runs.push((off, len));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_keep_the_first_runs_and_count_all() {
        let expected = vec![0u8; 100];
        let mut actual = expected.clone();
        for i in [20, 21, 22, 50, 70, 90, 98, 99] {
            actual[i] = 1;
        }
        let mut acc = None;
        scan_diff(&mut acc, 0, 1000, &expected[..55], &actual[..55]);
        scan_diff(&mut acc, 0, 1055, &expected[55..], &actual[55..]);
        let d = acc.unwrap();
        assert_eq!(d.runs, vec![(1020, 3), (1050, 1), (1070, 1), (1090, 10)]);
        assert_eq!((d.differing, d.regions), (8, 4));
        assert_eq!(d.window, 1000);
        assert_eq!(d.expected.len(), 48);
        assert_eq!(d.actual[20], 1);
    }
}
