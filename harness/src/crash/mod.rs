//! Crash consistency of kernel filesystems: `aopsbench crash`.
//!
//! 1. [`record`]: an op stream runs on ext4 or xfs over the logged device
//!    ([`crate::targets::fusedev`]); every write and flush is logged with the op running, and
//!    each op's return is marked.
//! 2. [`points`]: crash points are chosen from the log — at every flush, and a bounded number
//!    of random points between flushes (an in-order prefix, or a random subset, of the writes
//!    since the last flush).
//! 3. [`state`]: each point's device state is built virtually (an extent map over the log).
//! 4. [`check`]: it is mounted on a fresh loop device through the FUSE server (recovery runs,
//!    its writes copy-on-write), every file is read, the filesystem is unmounted and checked
//!    by `e2fsck -fn` / `xfs_repair -n`.
//! 5. [`oracle`]: what was read is held to what the ops that returned before the cut promised
//!    (fsynced data and size present, no byte no op wrote); a broken promise is a
//!    [`Violation`], reported like a diff divergence ([`report`]).

pub mod check;
pub mod oracle;
pub mod points;
pub mod record;
pub mod report;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use workloads::Op;

use self::check::{Checker, Seen, Timings};
use self::oracle::{Finding, Oracle};
use self::points::{CrashPoint, How};
use self::record::Recording;
use self::state::StateBuilder;
use crate::diff::ModelError;
use crate::targets::fusedev::Record;
use crate::targets::{MountConfig, TargetError};

/// What stops a crash campaign from running (as opposed to a violation, which is a finding).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrashError {
    /// Setting up or tearing down failed (the message says what to do).
    #[error("{source}")]
    Setup {
        /// The failure.
        #[source]
        source: TargetError,
    },
    /// An op or step on the live target failed in a way that is not an errno to compare.
    #[error("{what}: {source}")]
    Target {
        /// What was being done.
        what: String,
        /// The failure.
        #[source]
        source: TargetError,
    },
    /// The model will not hold the stream.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The live run disagreed with the model before any crash.
    #[error(
        "the live run diverged from the model at op {op_number} ({op}): {why}; that is a bug for `aopsbench diff` \
         with this target, not a crash-consistency one"
    )]
    LiveDiverged {
        /// 1-based op number.
        op_number: u64,
        /// The op.
        op: String,
        /// How.
        why: String,
    },
    /// Writing a report file failed.
    #[error("cannot write {}: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Which crash points to check.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Random points per stretch between flushes.
    pub random: u32,
    /// Seed of the random choices.
    pub seed: u64,
    /// At most this many points, spread evenly over the log.
    pub max_points: Option<usize>,
    /// Stop checking at this moment.
    pub deadline: Option<Instant>,
}

/// What kind of promise a crash state broke: the key of "the same violation" when shrinking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A file is gone.
    Missing,
    /// A file's size is outside what its ops allow.
    Size,
    /// Bytes no allowed version holds: fsynced data lost, or stale data exposed.
    Data,
    /// Reading a file failed.
    Unreadable,
    /// The filesystem does not mount.
    Unmountable,
    /// fsck found the filesystem inconsistent.
    Fsck,
}

impl Kind {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Missing => "missing file",
            Kind::Size => "size",
            Kind::Data => "data",
            Kind::Unreadable => "read error",
            Kind::Unmountable => "does not mount",
            Kind::Fsck => "fsck",
        }
    }
}

/// A crash state that broke a promise.
#[derive(Clone, Debug)]
pub struct Violation {
    /// 1-based number of the point among those chosen.
    pub number: usize,
    /// Points chosen in all.
    pub of: usize,
    /// The point.
    pub point: CrashPoint,
    /// Ops begun by the cut (the last one was running).
    pub started: usize,
    /// Ops that had returned.
    pub completed: usize,
    /// What broke.
    pub kind: Kind,
    /// The file, for file findings.
    pub file: Option<u32>,
    /// The file's last completed sync before the cut (0: none).
    pub synced_by: u64,
    /// The finding in the file.
    pub finding: Option<Finding>,
    /// For a data finding: the durable content around it, and what the crash state holds,
    /// from byte `window` on.
    pub expected: Vec<u8>,
    /// See `expected`.
    pub found: Vec<u8>,
    /// File offset of `expected` and `found`.
    pub window: u64,
    /// What the kernel or fsck said (unmountable, fsck, read error).
    pub message: Option<String>,
}

/// What a campaign did.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The target's normalised spec.
    pub spec: String,
    /// Writes, flushes and bytes written by the workload.
    pub writes: u64,
    /// See `writes`.
    pub flushes: u64,
    /// See `writes`.
    pub bytes: u64,
    /// Points chosen.
    pub points: usize,
    /// Points checked, by how they were chosen: at flushes, prefixes, subsets, after syncs.
    pub checked: [usize; 4],
    /// The first violation.
    pub violation: Option<Box<Violation>>,
    /// Time per phase of the checks.
    pub timings: Timings,
    /// Time recording the workload.
    pub record_time: Duration,
    /// Time checking crash states.
    pub check_time: Duration,
}

impl Campaign {
    /// Points checked in all.
    pub fn total_checked(&self) -> usize {
        self.checked.iter().sum()
    }
}

/// Bytes of context around a data finding.
const WINDOW: u64 = 48;

/// Runs `ops` on `cfg`'s filesystem over a logged device, then checks crash points as `plan`
/// says, until the first violation. `progress(checked, of)` is called after each point.
pub fn campaign(
    cfg: &MountConfig,
    ops: &[Op],
    files: u32,
    plan: &Plan,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Campaign, CrashError> {
    let t0 = Instant::now();
    let rec = record::record(cfg, ops, files)?;
    let record_time = t0.elapsed();
    let mut c = check_recording(&rec, cfg, ops, files, plan, progress)?;
    c.record_time = record_time;
    Ok(c)
}

/// Spreads `points` evenly down to `max`.
fn thin(points: Vec<CrashPoint>, max: Option<usize>) -> Vec<CrashPoint> {
    match max {
        Some(max) if points.len() > max && max > 0 => {
            let n = points.len();
            (0..max).map(|i| points[i * n / max].clone()).collect()
        }
        _ => points,
    }
}

/// Checks the crash points of a recording.
pub fn check_recording(
    rec: &Recording,
    cfg: &MountConfig,
    ops: &[Op],
    files: u32,
    plan: &Plan,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Campaign, CrashError> {
    let t0 = Instant::now();
    let is_sync = |op: u64| {
        matches!(ops.get((op as usize).wrapping_sub(1)), Some(Op::Fsync { .. } | Op::Fdatasync { .. } | Op::Remount))
    };
    let points = thin(points::choose(&rec.log, rec.armed_at, plan.random, plan.seed, is_sync), plan.max_points);
    // Ops returned before each log position.
    let mut done_before = Vec::with_capacity(rec.log.len() + 1);
    let mut done = 0usize;
    for r in &rec.log {
        done_before.push(done);
        if matches!(r, Record::OpDone { .. }) {
            done += 1;
        }
    }
    done_before.push(done);

    let (writes, flushes, bytes) = rec.counts();
    let mut campaign = Campaign {
        spec: rec.spec.clone(),
        writes,
        flushes,
        bytes,
        points: points.len(),
        checked: [0; 4],
        violation: None,
        timings: Timings::default(),
        record_time: Duration::ZERO,
        check_time: Duration::ZERO,
    };
    let mut checker = Checker::new(cfg.kind, cfg.opts.as_deref(), Arc::clone(&rec.state))?;
    let mut builder = StateBuilder::new(&rec.log);
    let mut oracle = Oracle::new(ops, files, cfg.block_size());
    let result: Result<(), CrashError> = (|| {
        for (i, p) in points.iter().enumerate() {
            if plan.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let completed = done_before[p.at.min(rec.log.len())];
            oracle.advance((completed + 1).min(ops.len()), completed)?;
            let t = Instant::now();
            let map = builder.state(p);
            let seen = checker.check(map, files, t.elapsed())?;
            campaign.checked[match p.how {
                How::Flush => 0,
                How::Prefix => 1,
                How::Subset => 2,
                How::AfterSync => 3,
            }] += 1;
            progress(i + 1, points.len());
            if let Some(v) = judge(&oracle, &seen, files) {
                campaign.violation =
                    Some(Box::new(Violation { number: i + 1, of: points.len(), point: p.clone(), ..v }));
                break;
            }
        }
        Ok(())
    })();
    campaign.timings = checker.timings.clone();
    let torn = checker.teardown();
    result?;
    torn?;
    campaign.check_time = t0.elapsed();
    Ok(campaign)
}

/// The first broken promise in what a crash state showed.
fn judge(oracle: &Oracle<'_>, seen: &Seen, files: u32) -> Option<Violation> {
    let base = |kind| Violation {
        number: 0,
        of: 0,
        point: CrashPoint { at: 0, durable: 0, kept: Vec::new(), unflushed: 0, how: How::Flush },
        started: oracle.started(),
        completed: oracle.completed(),
        kind,
        file: None,
        synced_by: 0,
        finding: None,
        expected: Vec::new(),
        found: Vec::new(),
        window: 0,
        message: None,
    };
    let (contents, fsck) = match seen {
        Seen::Unmountable(why) => return Some(Violation { message: Some(why.clone()), ..base(Kind::Unmountable) }),
        Seen::Mounted { files, fsck } => (files, fsck),
    };
    for file in 0..files {
        let synced_by = oracle.synced_by(file);
        let with_file = |kind| Violation { file: Some(file), synced_by, ..base(kind) };
        let found = match &contents[file as usize] {
            Err(errno) => {
                let message = Some(format!("reading it failed: {}", std::io::Error::from_raw_os_error(*errno)));
                return Some(Violation { message, ..with_file(Kind::Unreadable) });
            }
            Ok(found) => found.as_deref(),
        };
        let Some(finding) = oracle.check(file, found) else { continue };
        let kind = match finding {
            Finding::Missing => Kind::Missing,
            Finding::Size { .. } => Kind::Size,
            Finding::Data { .. } => Kind::Data,
        };
        let mut v = Violation { finding: Some(finding.clone()), ..with_file(kind) };
        if let (Finding::Data { offset, .. }, Some(found)) = (finding, found) {
            let from = offset.saturating_sub(16) & !15;
            let to = (from + WINDOW).min(found.len() as u64);
            v.window = from;
            v.found = found[from as usize..to as usize].to_vec();
            v.expected = oracle.durable_bytes(file, from, to);
        }
        return Some(v);
    }
    fsck.as_ref().map(|msg| Violation { message: Some(msg.clone()), ..base(Kind::Fsck) })
}
