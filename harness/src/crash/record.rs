//! Recording: the op stream run on a kernel filesystem over the logged device, each op tagged
//! in the log and its return marked, its result checked against the model as it goes.

use std::sync::Arc;

use workloads::{Op, pattern};

use super::CrashError;
use crate::diff::Model;
use crate::diff::report::op_line;
use crate::runner::{Buffers, execute};
use crate::targets::fusedev::{DevState, Record};
use crate::targets::{Device, FileId, MountConfig, MountTarget, Target, TargetError};

/// The name of the crash campaign's file `i`.
pub fn file_name(i: u32) -> String {
    format!("aopsbench-crash.{i}")
}

/// What a recorded run left: the device's log (its data kept by `state`).
pub struct Recording {
    /// The served device, its log and data.
    pub state: Arc<DevState>,
    /// The log.
    pub log: Vec<Record>,
    /// Where the workload started in the log.
    pub armed_at: usize,
    /// The target's normalised spec.
    pub spec: String,
}

impl Recording {
    /// Writes, flushes and bytes written in the workload's part of the log.
    pub fn counts(&self) -> (u64, u64, u64) {
        let mut c = (0, 0, 0);
        for r in &self.log[self.armed_at..] {
            match r {
                Record::Write { len, .. } => {
                    c.0 += 1;
                    c.2 += len;
                }
                Record::Flush { .. } => c.1 += 1,
                Record::OpDone { .. } => {}
            }
        }
        c
    }
}

/// Makes the filesystem `cfg` describes on a logged device, creates `files` empty files and
/// makes them durable (a remount), then runs `ops`, each tagged in the log; tears the
/// filesystem down and gives the log. An op whose result differs from the model's stops the
/// recording: that is a bug for `aopsbench diff`, not a crash-consistency one.
pub fn record(cfg: &MountConfig, ops: &[Op], files: u32) -> Result<Recording, CrashError> {
    let mut cfg = cfg.clone();
    cfg.device = Device::Logged;
    let target = MountTarget::create(cfg).map_err(|source| CrashError::Setup { source })?;
    let spec = target.spec().to_string();
    let state = Arc::clone(target.logged_device().expect("dev=logged targets serve their device"));
    let setup = |what: String| move |source: TargetError| CrashError::Target { what, source };
    let mut fids: Vec<FileId> = Vec::with_capacity(files as usize);
    for i in 0..files {
        fids.push(target.open(&file_name(i), true).map_err(setup(format!("create {}", file_name(i))))?);
    }
    // The files exist on the device before the first crash point.
    target.remount().map_err(setup("remount after creating the files".into()))?;
    state.arm(Default::default());

    let mut model = Model::new(files, cfg_block(&target), 0);
    let mut data = Vec::new();
    let mut bufs = Buffers::new(0);
    let mut read_buf = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let number = i as u64 + 1;
        if let Op::Write { offset, len, tag, .. } = *op {
            data.resize(len as usize, 0);
            pattern::fill(tag, offset, &mut data);
        }
        let expected = model.apply(op, &data)?;
        state.set_op(number);
        let fid =
            |file: u32| fids.get(file as usize).copied().ok_or(TargetError::Os { op: "lookup", errno: libc::EBADF });
        let actual = match *op {
            Op::Write { file, offset, .. } => fid(file).and_then(|f| target.write(f, offset, &data)).map(|n| n as u64),
            Op::Read { file, offset, len } => {
                read_buf.resize(len.min(crate::diff::MODEL_MAX_FILE) as usize, 0);
                let r = fid(file).and_then(|f| target.read(f, offset, &mut read_buf));
                r.map(|n| {
                    read_buf.truncate(n);
                    n as u64
                })
            }
            _ => execute(&target, &fids, op, &mut bufs),
        };
        state.op_done(number);
        let actual = match actual {
            Ok(n) => Ok(n),
            Err(e) => match e.errno() {
                Some(errno) => Err(errno),
                None => return Err(setup(format!("op {number} ({})", op_line(op)))(e)),
            },
        };
        let wrong_data = matches!(*op, Op::Read { file, offset, .. }
            if actual.is_ok() && model.read(file, offset, read_buf.len() as u64) != read_buf.as_slice());
        if actual != expected || wrong_data {
            return Err(CrashError::LiveDiverged {
                op_number: number,
                op: op_line(op),
                why: if wrong_data {
                    "it read other bytes than were written".into()
                } else {
                    format!("it returned {actual:?}, the model says {expected:?}")
                },
            });
        }
    }
    state.set_op(0);
    drop(fids);
    target.teardown().map_err(setup("teardown".into()))?;
    let log = state.records();
    let armed_at = state.armed_at();
    Ok(Recording { state, log, armed_at, spec })
}

/// The block size of a target, for the model's collapse/insert alignment.
fn cfg_block(target: &MountTarget) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(target.mountpoint()).map(|m| m.blksize()).unwrap_or(4096)
}
