//! Lockstep: each op on the model and then on every target, compared at once — the result or
//! errno, the file size and any data read — with whole files compared every K ops, after every
//! remount and at the end.
//!
//! The loop allocates nothing per op once warm: write data goes through one reused buffer
//! (filled by [`workloads::pattern::fill`]), reads and whole-file checks through another, and
//! only what the op read (or, at a whole-file check, the file) is read back.

use super::DiffError;
use super::model::{MODEL_MAX_FILE, Model, ModelError, Outcome};
use super::targets::TargetSet;
use crate::runner::{Buffers, execute};
use crate::targets::{DiskCheck, FileId, RemountKind, Target, TargetError};
use serde::Serialize;
use workloads::{FallocMode, Op, OpKind, pattern};

/// Whole-file checks read files in pieces of this size.
const CHUNK: u64 = 1 << 20;
/// How many differing runs a data mismatch lists.
const RUNS_KEPT: usize = 4;
/// Buffers are made this large up front at most (larger ops grow them once).
const PRESIZE: u64 = 16 << 20;
/// Differing runs closer than this are one region.
const MERGE_GAP: u64 = 16;
/// Bytes of context in a data mismatch's hex windows.
const WINDOW: u64 = 48;

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
    /// Faults injected into this target so far (its non-zero `fault_*` counters): a
    /// divergence they explain is expected, not a bug.
    pub faults: Vec<(String, u64)>,
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
    /// Which ops the run skipped: replaying the trace with them tells where each byte was
    /// written ([`shifts_of`]), for naming writers.
    pub rules: SkipRules,
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

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Ops run, per [`OpKind::index`].
    pub ran: [u64; OpKind::COUNT],
    /// Ops skipped on every target, per kind.
    pub skipped: [u64; OpKind::COUNT],
    /// Why each kind was first skipped.
    pub skip_reasons: [Option<String>; OpKind::COUNT],
    /// Whole-file checks done.
    pub whole_checks: u64,
}

impl Stats {
    /// Ops run in all.
    pub fn total_ran(&self) -> u64 {
        self.ran.iter().sum()
    }

    /// Ops skipped in all.
    pub fn total_skipped(&self) -> u64 {
        self.skipped.iter().sum()
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

/// Why an op is skipped on every target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Some target cannot do this fallocate mode.
    Unsupported(FallocMode),
    /// A collapse/insert range fits the smaller block sizes only.
    Unaligned,
}

/// Which ops a set of targets cannot all run: fallocate modes some target lacks, and
/// collapse/insert ranges aligned to the smallest block size but not to the largest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkipRules {
    /// Per fallocate mode (in declaration order): some target cannot do it.
    pub unsupported: [bool; 7],
    /// The smallest block size of the targets.
    pub min_block: u64,
    /// The largest.
    pub max_block: u64,
}

impl SkipRules {
    /// Why `op` is skipped, if it is.
    pub fn skip(&self, op: &Op) -> Option<Skip> {
        let Op::Fallocate { mode, offset, len, .. } = *op else { return None };
        if self.unsupported[mode_index(mode)] {
            return Some(Skip::Unsupported(mode));
        }
        let ranged = matches!(mode, FallocMode::CollapseRange | FallocMode::InsertRange);
        let aligned = |b: u64| offset.is_multiple_of(b) && len.is_multiple_of(b);
        (ranged && aligned(self.min_block) && !aligned(self.max_block)).then_some(Skip::Unaligned)
    }
}

/// The collapse_range and insert_range ops of `ops` that moved data (those not skipped and
/// valid for the file's size then), found by replaying `ops` on a model.
pub fn shifts_of(ops: &[Op], rules: &SkipRules) -> Vec<Shift> {
    let mut model = Model::new(super::files_of(ops), rules.max_block, 0);
    let mut data = Vec::new();
    let mut shifts = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if rules.skip(op).is_some() {
            continue;
        }
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

/// A target in the lockstep, with its open files.
struct Member {
    name: String,
    target: Box<dyn Target>,
    fids: Vec<FileId>,
    remount: RemountKind,
}

/// The model and the targets, one op at a time.
pub struct Lockstep {
    members: Vec<Member>,
    model: Model,
    /// Per fallocate mode: which targets cannot do it (none: every target can).
    unsupported: [Option<String>; 7],
    rules: SkipRules,
    check_every: u64,
    since_check: u64,
    op_number: u64,
    last_op: Option<Op>,
    write_buf: Vec<u8>,
    read_buf: Vec<u8>,
    exec_bufs: Buffers,
    /// Per member, how it differs at the current check.
    found: Vec<Option<Mismatch>>,
    stats: Stats,
    /// Image checks after remounts and at the end.
    disk_checks: Vec<DiskCheck>,
}

/// The name of diff's file `i` on every target.
pub fn file_name(i: u32) -> String {
    format!("aopsbench-diff.{i}")
}

fn target_err(target: &str, what: &str) -> impl Fn(TargetError) -> DiffError {
    move |source| DiffError::Target { target: target.to_string(), what: what.to_string(), source }
}

/// An errno as an [`Outcome`]; setup failures (a remount that cannot mount) stop the run.
fn outcome(r: Result<u64, TargetError>, target: &str, op: &Op) -> Result<Outcome, DiffError> {
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
        let mut unsupported: [Option<String>; 7] = Default::default();
        for (target, name) in targets.into_iter().zip(set.names()) {
            let caps = target.capabilities();
            if !caps.stores_data {
                return Err(DiffError::Refused {
                    target: name.clone(),
                    why: "it stores no data (reads return zeros), so there is nothing to compare".into(),
                });
            }
            for m in MODES {
                if !caps.fallocate.contains(&m) {
                    let slot = &mut unsupported[mode_index(m)];
                    *slot = Some(match slot.take() {
                        Some(names) => format!("{names}, {name}"),
                        None => name.clone(),
                    });
                }
            }
            let mut fids = Vec::with_capacity(files as usize);
            for i in 0..files {
                let fname = file_name(i);
                let fid = target.open(&fname, true).map_err(target_err(name, &format!("open {fname}")))?;
                // A directory target may hold the file from an earlier run: start empty.
                target.truncate(fid, 0).map_err(target_err(name, &format!("truncate {fname}")))?;
                fids.push(fid);
            }
            members.push(Member { name: name.clone(), target, fids, remount: caps.remount });
        }
        let found = members.iter().map(|_| None).collect();
        Ok(Lockstep {
            members,
            model: Model::new(files, set.max_block_size(), reserve),
            rules: SkipRules {
                unsupported: unsupported.each_ref().map(Option::is_some),
                min_block: set.min_block_size(),
                max_block: set.max_block_size(),
            },
            unsupported,
            check_every,
            since_check: 0,
            op_number: 0,
            last_op: None,
            write_buf: vec![0; reserve.min(PRESIZE) as usize],
            read_buf: vec![0; reserve.min(PRESIZE) as usize],
            exec_bufs: Buffers::new(0),
            found,
            stats: Stats::default(),
            disk_checks: set.disk_checks().to_vec(),
        })
    }

    /// What the run did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Per fallocate mode that some target cannot do: the mode and those targets.
    pub fn unsupported_modes(&self) -> Vec<(FallocMode, String)> {
        MODES.iter().filter_map(|&m| self.unsupported[mode_index(m)].clone().map(|t| (m, t))).collect()
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

    /// Why an op was skipped, in words.
    fn skip_text(&self, skip: Skip) -> String {
        match skip {
            Skip::Unsupported(mode) => {
                format!("{} cannot do it", self.unsupported[mode_index(mode)].as_deref().unwrap_or("a target"))
            }
            Skip::Unaligned => format!(
                "ranges aligned to {} bytes but not to {} (the largest block size) work on some targets only",
                self.rules.min_block, self.rules.max_block
            ),
        }
    }

    /// Runs one op everywhere; returns the divergence it shows, if any.
    pub fn step(&mut self, op: &Op) -> Result<Option<Box<Divergence>>, DiffError> {
        self.op_number += 1;
        self.last_op = Some(op.clone());
        let kind = op.kind().index();
        if let Some(skip) = self.rules.skip(op) {
            self.stats.skipped[kind] += 1;
            if self.stats.skip_reasons[kind].is_none() {
                self.stats.skip_reasons[kind] = Some(self.skip_text(skip));
            }
            return Ok(None);
        }
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
        let expected = self.model.apply(op, &self.write_buf)?;
        self.stats.ran[kind] += 1;
        let mut diverged = false;
        for i in 0..self.members.len() {
            let m = self.check_op(i, op, expected)?;
            diverged |= m.is_some();
            self.found[i] = m;
        }
        if diverged {
            return Ok(Some(self.divergence(Check::Op)));
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
        for op in ops {
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
            .map(|(m, f)| Verdict {
                target: m.name.clone(),
                spec: m.target.spec().to_string(),
                mismatch: f.take(),
                faults: m.target.counters().into_iter().filter(|(k, v)| k.starts_with("fault_") && *v > 0).collect(),
            })
            .collect();
        Box::new(Divergence { op_number: self.op_number, op: self.last_op.clone(), check, verdicts, rules: self.rules })
    }

    /// Runs `op` on member `i` and compares its result, read data and file size.
    fn check_op(&mut self, i: usize, op: &Op, expected: Outcome) -> Result<Option<Mismatch>, DiffError> {
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
            _ => outcome(execute(t, &m.fids, op, &mut self.exec_bufs).map(|_| 0), &m.name, op)?,
        };
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
        for i in 0..self.members.len() {
            let m = self.compare_files(i)?;
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
    fn shifts_are_the_collapses_and_inserts_that_moved_data() {
        let falloc = |mode, offset, len| Op::Fallocate { file: 0, mode, offset, len };
        let ops = [
            Op::Write { file: 0, offset: 0, len: 5 * 4096, tag: 1 },
            falloc(FallocMode::CollapseRange, 0, 4096),
            falloc(FallocMode::CollapseRange, 0, 1024),
            falloc(FallocMode::CollapseRange, 0, 1 << 20),
            falloc(FallocMode::InsertRange, 4096, 8192),
        ];
        let rules = SkipRules { unsupported: [false; 7], min_block: 1024, max_block: 4096 };
        let shifts = shifts_of(&ops, &rules);
        let numbers: Vec<(u64, bool)> = shifts.iter().map(|s| (s.op_number, s.collapse)).collect();
        // Op 3 is skipped (aligned to 1K, not 4K); op 4 fails (past EOF).
        assert_eq!(numbers, vec![(2, true), (5, false)]);
        assert_eq!(rules.skip(&ops[2]), Some(Skip::Unaligned));
        let no_collapse = SkipRules { unsupported: [false, false, false, false, false, true, false], ..rules };
        assert_eq!(shifts_of(&ops, &no_collapse).len(), 1);
    }

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
