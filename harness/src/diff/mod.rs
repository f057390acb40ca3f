//! Differential testing: one op stream on several targets and an in-memory model in lockstep,
//! compared after every op; on a divergence, a report and a trace shrunk by delta debugging.
//!
//! - [`model`]: the reference ([`Model`]), a byte vector per file.
//! - [`targets`]: [`TargetSet`], the specs with diff's defaults, built afresh per run.
//! - [`lockstep`]: [`Lockstep`] runs each op on the model and every target and compares;
//!   [`emulate`] stands in for fallocate modes a target lacks; power cuts and what follows
//!   them are in `power`.
//! - [`divergence`]: what a divergence holds.
//! - [`durability`]: [`Durability`], what a file may hold after a power cut.
//! - [`coverage`]: what the fsimpl targets' paths did, from their counters.
//! - [`report`]: the one-screen report and `divergence.json`, naming who wrote wrong bytes.
//! - [`shrink`]: ddmin over ops, then smaller numbers.
//! - [`FlipTarget`]: a target that corrupts one byte, for proving the above.
//!
//! [`replay`] runs a trace on fresh targets; [`investigate`] turns a divergence into the files
//! `trace.jsonl`, `divergence.json` and `minimal.jsonl`.

pub mod coverage;
pub mod divergence;
pub mod durability;
pub mod emulate;
mod flip;
pub mod lockstep;
pub mod model;
mod power;
pub mod report;
pub mod shrink;
pub mod targets;

pub use divergence::{Check, Divergence, Kind, Mismatch, Signature};
pub use durability::{Durability, Violation};
pub use flip::FlipTarget;
pub use lockstep::{Lockstep, Stats};
pub use model::{MODEL_MAX_FILE, Model, ModelError};
pub use power::CUT_WINDOW;
pub use shrink::{Budget, Shrunk};
pub use targets::TargetSet;

use crate::targets::TargetError;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use workloads::Op;

/// What stops a diff from running (as opposed to a divergence, which is a finding).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// A command-line option that cannot be used.
    #[error("{option}: {why}")]
    Option {
        /// The option as given (`--bug nope`).
        option: String,
        /// Why, and what to do.
        why: String,
    },
    /// A target cannot take part.
    #[error("target {target}: {why}")]
    Refused {
        /// The target.
        target: String,
        /// Why, and what to do.
        why: String,
    },
    /// Setting a target up failed (the message names the target and what to do).
    #[error("{source}")]
    Setup {
        /// The failure.
        #[source]
        source: TargetError,
    },
    /// An op that cannot be compared (a remount that cannot mount), or a teardown that failed.
    #[error("{target}: {what}: {source}")]
    Target {
        /// The target.
        target: String,
        /// What was being done.
        what: String,
        /// The failure.
        #[source]
        source: TargetError,
    },
    /// The model will not hold the stream.
    #[error(transparent)]
    Model(#[from] ModelError),
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

/// How many files `ops` use (the largest file index + 1; at least 1).
pub fn files_of(ops: &[Op]) -> u32 {
    ops.iter().filter_map(Op::file).max().map_or(1, |f| f + 1)
}

/// The largest file size `ops` ask for: the ends of writes, truncates and size-changing
/// fallocates (for sizing the model and the fsimpl devices; reads grow nothing).
pub fn extent_of(ops: &[Op]) -> u64 {
    ops.iter()
        .map(|op| match *op {
            Op::Write { offset, len, .. } => offset.saturating_add(len),
            Op::Fallocate { mode, offset, len, .. } if !mode.keeps_size() => offset.saturating_add(len),
            Op::Truncate { size, .. } => size,
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// What a replay found.
pub struct Replayed {
    /// The divergence, if any.
    pub divergence: Option<Box<Divergence>>,
    /// What ran, what was emulated, the power cuts.
    pub stats: Stats,
    /// Time in the lockstep loop (setup excluded).
    pub elapsed: Duration,
}

/// Runs `ops` on freshly built targets of `set` (and the model) with `files` files, whole
/// files compared every `check_every` ops, until a divergence or the end; tears down after.
pub fn replay(set: &TargetSet, ops: &[Op], files: u32, check_every: u64) -> Result<Replayed, DiffError> {
    let mut ls = Lockstep::new(set, files, check_every, extent_of(ops))?;
    let t0 = Instant::now();
    let divergence = ls.run(ops.iter().cloned(), |_| true)?;
    let elapsed = t0.elapsed();
    let stats = ls.stats().clone();
    ls.close()?;
    Ok(Replayed { divergence, stats, elapsed })
}

/// A divergence to investigate.
pub struct Found<'a> {
    /// The targets it was found on.
    pub set: &'a TargetSet,
    /// The stream up to and including the diverging op.
    pub ops: Vec<Op>,
    /// How many files the stream uses.
    pub files: u32,
    /// The whole-file check interval it ran with.
    pub check_every: u64,
    /// What was found.
    pub divergence: Box<Divergence>,
    /// Extra fields for `divergence.json` (command, seed, ...).
    pub context: Value,
}

/// What [`investigate`] made.
pub struct Investigation {
    /// The one-screen report of the divergence.
    pub screen: String,
    /// The shrunk trace.
    pub minimal: Vec<Op>,
    /// Its divergence (`None` when the trace did not reproduce on a replay).
    pub minimal_divergence: Option<Box<Divergence>>,
    /// Replays tried while shrinking.
    pub attempts: u64,
    /// Whether shrinking finished within its budget.
    pub complete: bool,
    /// Whether replaying the whole trace on fresh targets gave the same divergence.
    pub reproduced: bool,
    /// The command that replays `minimal.jsonl`.
    pub replay_command: String,
}

/// `s` quoted for a POSIX shell when it needs to be.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_=:,./+-@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) { s.to_string() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

/// The `aopsbench replay` command for `trace` on `set`.
pub fn replay_command(set: &TargetSet, trace: &Path, check_every: u64) -> String {
    let mut cmd = format!("aopsbench replay {}", shell_quote(&trace.display().to_string()));
    for spec in set.specs() {
        cmd.push_str(" --target ");
        cmd.push_str(&shell_quote(&spec.to_string()));
    }
    if check_every != DEFAULT_CHECK_EVERY {
        cmd.push_str(&format!(" --check-every {check_every}"));
    }
    cmd
}

/// Whole files are compared every this many ops unless told otherwise.
pub const DEFAULT_CHECK_EVERY: u64 = 64;

fn write_json(path: &Path, value: &Value) -> Result<(), DiffError> {
    let err = |source| DiffError::Output { path: path.to_path_buf(), source };
    let text = serde_json::to_string_pretty(value).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text + "\n").map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn save_trace(path: &Path, ops: &[Op]) -> Result<(), DiffError> {
    workloads::trace::save_jsonl(path, ops).map_err(|source| DiffError::Output { path: path.to_path_buf(), source })
}

/// Writes `out/trace.jsonl` and `out/divergence.json`, shrinks the trace by replaying on fresh
/// targets until `budget` runs out, writes `out/minimal.jsonl`, and completes
/// `divergence.json` with the minimal trace's divergence. `on_attempt(attempt, ops tried)`
/// is called before each replay.
pub fn investigate(
    found: Found<'_>,
    out: &Path,
    budget: Budget,
    on_attempt: &mut dyn FnMut(u64, usize),
) -> Result<Investigation, DiffError> {
    std::fs::create_dir_all(out).map_err(|source| DiffError::Output { path: out.to_path_buf(), source })?;
    let trace_path = out.join("trace.jsonl");
    let minimal_path = out.join("minimal.jsonl");
    let json_path = out.join("divergence.json");
    save_trace(&trace_path, &found.ops)?;
    let d = &found.divergence;
    let screen = report::render(d, &found.ops);
    let replay_cmd = replay_command(found.set, &minimal_path, found.check_every);
    let mut doc = json!({
        "aopsbench_version": env!("CARGO_PKG_VERSION"),
        "context": found.context,
        "targets": found.set.names().iter().zip(found.set.specs()).map(|(n, s)| json!({"name": n, "spec": s.to_string()})).collect::<Vec<_>>(),
        "check_every": found.check_every,
        "range_align": found.set.range_align(),
        "trace": {"file": "trace.jsonl", "ops": found.ops.len()},
        "divergence": report::to_json(d, &found.ops),
        "replay": replay_cmd,
    });
    write_json(&json_path, &doc)?;

    let want = d.signature();
    let mut attempt = 0u64;
    let mut last: Option<Box<Divergence>> = None;
    let mut test = |ops: &[Op], check_every: u64| -> Result<bool, DiffError> {
        attempt += 1;
        on_attempt(attempt, ops.len());
        let r = replay(found.set, ops, found.files, check_every)?;
        match r.divergence {
            Some(dv) if dv.signature() == want => {
                last = Some(dv);
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let reproduced = test(&found.ops, found.check_every)?;
    // A whole-file check reads the files, so it changes what the cache holds, and where the
    // periodic ones fall moves as ops go: a trace that diverges the same way with the final
    // check alone shrinks further, and is replayed with --check-every 0.
    let check_every = match reproduced && found.check_every != 0 && test(&found.ops, 0)? {
        true => 0,
        false => found.check_every,
    };
    let shrunk = if reproduced {
        shrink::shrink(found.ops.clone(), found.set.range_align(), budget, &mut |ops| test(ops, check_every))?
    } else {
        Shrunk { ops: found.ops.clone(), attempts: 0, complete: false }
    };
    save_trace(&minimal_path, &shrunk.ops)?;
    // `last` is the divergence of the last trace that held: the minimal one.
    let minimal_divergence = if reproduced { last } else { None };
    let replay_cmd = replay_command(found.set, &minimal_path, check_every);
    doc["replay"] = json!(replay_cmd);
    doc["minimal"] = json!({
        "file": "minimal.jsonl",
        "ops": shrunk.ops.len(),
        "check_every": check_every,
        "attempts": shrunk.attempts + 1,
        "complete": shrunk.complete,
        "reproduced": reproduced,
        "divergence": minimal_divergence.as_ref().map(|m| report::to_json(m, &shrunk.ops)),
    });
    write_json(&json_path, &doc)?;
    Ok(Investigation {
        screen,
        minimal: shrunk.ops,
        minimal_divergence,
        attempts: shrunk.attempts + 1,
        complete: shrunk.complete,
        reproduced,
        replay_command: replay_cmd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("iomap:bug=iomap_wb_drop_tail"), "iomap:bug=iomap_wb_drop_tail");
        assert_eq!(shell_quote("xfs:mkfs_opts=-b size=1024"), "'xfs:mkfs_opts=-b size=1024'");
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn files_and_extent_of_a_trace() {
        let ops = [
            Op::Write { file: 2, offset: 10, len: 5, tag: 1 },
            Op::Truncate { file: 0, size: 100 },
            Op::Remount,
            Op::Read { file: 0, offset: 0, len: 1 << 40 },
        ];
        assert_eq!(files_of(&ops), 3);
        assert_eq!(extent_of(&ops), 100);
        assert_eq!(files_of(&[]), 1);
    }
}
