//! The divergence report: one screen for a person (which op, which targets agree with the
//! model, where the bytes differ, with hex dumps and who wrote the wrong bytes) and
//! `divergence.json` for tools.

use super::divergence::{Check, DataMismatch, Divergence, Mismatch, Shift, shifts_of};
use super::durability::Violation;
use super::model::Outcome;
use serde_json::{Value, json};
use std::fmt::Write as _;
use workloads::{FallocMode, Op, pattern};

/// Freed folio memory under `poison=1`.
const POISON: u8 = 0xaa;
/// Writers named per byte run, at most.
const ORIGINS_KEPT: usize = 3;
/// Bytes of a differing run used to name its writer.
const RUN_FOR_ORIGIN: usize = 16;

/// An op on one line, fsx style: `write 0x1000 thru 0x1fff (0x1000 bytes) tag 7`.
pub fn op_line(op: &Op) -> String {
    let range = |offset: u64, len: u64| match len {
        0 => format!("0x{offset:x} (0 bytes)"),
        _ => format!("0x{offset:x} thru 0x{:x} (0x{len:x} bytes)", offset + len - 1),
    };
    let file = |f: u32| if f == 0 { String::new() } else { format!(" in file {f}") };
    match *op {
        Op::Read { file: f, offset, len } => format!("read {}{}", range(offset, len), file(f)),
        Op::Write { file: f, offset, len, tag } => format!("write {} tag {tag}{}", range(offset, len), file(f)),
        Op::Truncate { file: f, size } => format!("truncate to 0x{size:x}{}", file(f)),
        Op::Fallocate { file: f, mode, offset, len } => {
            format!("{} {}{}", mode_name(mode), range(offset, len), file(f))
        }
        Op::Fsync { file: f } => format!("fsync{}", file(f)),
        Op::Fdatasync { file: f } => format!("fdatasync{}", file(f)),
        Op::Remount => "remount".into(),
        Op::DropCaches => "drop_caches".into(),
        Op::PowerCut { after_writes: 0 } => "power cut".into(),
        Op::PowerCut { after_writes } => format!("power cut after {after_writes} more device writes"),
    }
}

/// fsx's name for a fallocate mode.
pub fn mode_name(mode: FallocMode) -> &'static str {
    match mode {
        FallocMode::Allocate => "fallocate",
        FallocMode::KeepSize => "fallocate keep_size",
        FallocMode::PunchHole => "punch_hole",
        FallocMode::ZeroRange => "zero_range",
        FallocMode::ZeroRangeKeepSize => "zero_range keep_size",
        FallocMode::CollapseRange => "collapse_range",
        FallocMode::InsertRange => "insert_range",
    }
}

/// `EINVAL`, `EIO`, ... for the errnos file ops give.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EINVAL => "EINVAL",
        libc::EIO => "EIO",
        libc::ENOSPC => "ENOSPC",
        libc::EFBIG => "EFBIG",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::ENOENT => "ENOENT",
        libc::EUCLEAN => "EUCLEAN",
        libc::ESTALE => "ESTALE",
        libc::EPERM => "EPERM",
        libc::EROFS => "EROFS",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

fn outcome_text(o: Outcome) -> String {
    match o {
        Ok(n) => format!("returned {n}"),
        Err(e) => format!("failed with {} ({})", errno_name(e), std::io::Error::from_raw_os_error(e)),
    }
}

fn outcome_json(o: Outcome) -> Value {
    match o {
        Ok(n) => json!({"ok": n}),
        Err(e) => json!({"errno": e, "error": errno_name(e)}),
    }
}

/// Where bytes found at a file offset came from, as far as the trace tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// All zeros: a hole, a zeroed range, or never written.
    Zeros,
    /// All 0xaa: freed page-cache memory (`poison=1`), never written or zeroed.
    Poison,
    /// An earlier write put exactly these bytes here (its fsx pattern matches).
    Write {
        /// 1-based op number of the write in the trace.
        op_number: u64,
        /// The write.
        op: Op,
        /// How many bytes of the run matched (all of those it covers).
        matched: usize,
    },
    /// No write of the trace put these bytes at this offset.
    Unknown,
}

impl Origin {
    /// In words.
    pub fn text(&self) -> String {
        match self {
            Origin::Zeros => "zeros (a hole, a zeroed range, or never written)".into(),
            Origin::Poison => "0xaa: freed page-cache memory (poison), never written or zeroed".into(),
            Origin::Write { op_number, op, matched } => {
                let bytes = if *matched == 1 { "1 byte matches" } else { "bytes match" };
                let bytes = if *matched == 1 { bytes.to_string() } else { format!("{matched} {bytes}") };
                format!("written by op {op_number} ({}): {bytes} its pattern", op_line(op))
            }
            Origin::Unknown => "no write of the trace put these bytes here (corrupted or misplaced data)".into(),
        }
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        match self {
            Origin::Zeros => json!({"origin": "zeros"}),
            Origin::Poison => json!({"origin": "poison"}),
            Origin::Write { op_number, op, matched } => {
                json!({"origin": "write", "op_number": op_number, "op": op, "matched": matched})
            }
            Origin::Unknown => json!({"origin": "unknown"}),
        }
    }
}

/// Who put `bytes` at `offset` of `file` as seen after op `upto` (1-based) of `ops`: walks
/// the ops back from there, undoing the data moves of collapse/insert (`shifts`), and names
/// the writes whose fsx pattern ([`pattern::byte_at`]) gives exactly these bytes at the offset
/// they had then — most recent first. Truncates and punches are not undone, so stale data
/// that should be gone is named too.
pub fn origins(ops: &[Op], shifts: &[Shift], upto: u64, file: u32, offset: u64, bytes: &[u8]) -> Vec<Origin> {
    if bytes.is_empty() {
        return vec![Origin::Unknown];
    }
    // A run this long is uniform by chance with probability 2^-24 or less.
    let uniform = |b: u8| bytes.iter().all(|&x| x == b);
    let fallback = if uniform(0) {
        Origin::Zeros
    } else if uniform(POISON) {
        Origin::Poison
    } else {
        Origin::Unknown
    };
    if bytes.len() >= 4 && fallback != Origin::Unknown {
        return vec![fallback];
    }
    let mut found = Vec::new();
    let mut pos = Some(offset);
    let mut shift_idx = shifts.len();
    let upto = (upto as usize).min(ops.len());
    for j in (0..upto).rev() {
        let Some(p) = pos else { break };
        let number = j as u64 + 1;
        if let Op::Write { file: f, offset: w, len, tag } = ops[j]
            && f == file
            && (w..w + len).contains(&p)
        {
            let k = bytes.len().min((w + len - p) as usize);
            if (0..k).all(|i| pattern::byte_at(tag, p + i as u64) == bytes[i]) {
                found.push(Origin::Write { op_number: number, op: ops[j].clone(), matched: k });
                if found.len() == ORIGINS_KEPT {
                    break;
                }
            }
        }
        while shift_idx > 0 && shifts[shift_idx - 1].op_number >= number {
            shift_idx -= 1;
            let s = shifts[shift_idx];
            if s.op_number != number || s.file != file {
                continue;
            }
            // Where position p was before this op.
            pos = if s.collapse {
                Some(if p >= s.offset { p + s.len } else { p })
            } else if p >= s.offset + s.len {
                Some(p - s.len)
            } else if p >= s.offset {
                None // inside the inserted hole: nothing was there before
            } else {
                Some(p)
            };
        }
    }
    if found.is_empty() {
        found.push(fallback);
    }
    found
}

/// The bytes from the first difference of a data mismatch on, up to [`RUN_FOR_ORIGIN`] of
/// them: (offset, expected bytes, actual bytes), from the hex windows.
fn first_run(d: &DataMismatch) -> Option<(u64, &[u8], &[u8])> {
    let &(off, _) = d.runs.first()?;
    let a = off.checked_sub(d.window)? as usize;
    let b = (a + RUN_FOR_ORIGIN).min(d.actual.len());
    (a < b).then(|| (off, &d.expected[a..b], &d.actual[a..b]))
}

fn check_text(check: Check, op_number: u64) -> String {
    match check {
        Check::Op => "this op: its result, its read data or the file size after it".into(),
        Check::Periodic => format!("the whole-file check after op {op_number} (every --check-every ops)"),
        Check::Remount => "the whole-file check after this remount".into(),
        Check::End => format!("the final whole-file check (after op {op_number})"),
        Check::PowerCut => "the durability check after a power cut during this op and a remount: what was \
                            synced must be there, later bytes old or new, the size not below the synced one"
            .into(),
    }
}

/// Hex rows of a data mismatch: model and target bytes, 16 a row, differences marked.
fn hex_dump(out: &mut String, d: &DataMismatch) {
    let (target, width) = ("target", 6);
    let _ = writeln!(out, "  {:>10}  {:<width$}  0  1  2  3  4  5  6  7   8  9  a  b  c  d  e  f", "offset", "");
    let hex = |bytes: &[u8]| {
        let mut s = String::new();
        for (i, b) in bytes.iter().enumerate() {
            let sep = if i == 8 {
                "  "
            } else if i == 0 {
                ""
            } else {
                " "
            };
            let _ = write!(s, "{sep}{b:02x}");
        }
        s
    };
    for (row, (e, a)) in d.expected.chunks(16).zip(d.actual.chunks(16)).enumerate() {
        let off = d.window + row as u64 * 16;
        let _ = writeln!(out, "  0x{off:08x}  {:<width$}  {}", "model", hex(e));
        if e != a {
            let _ = writeln!(out, "  {:>10}  {:<width$}  {}", "", target, hex(a));
            let marks: String = e
                .iter()
                .zip(a)
                .enumerate()
                .map(|(i, (x, y))| {
                    let sep = if i == 8 {
                        "  "
                    } else if i == 0 {
                        ""
                    } else {
                        " "
                    };
                    format!("{sep}{}", if x != y { "^^" } else { "  " })
                })
                .collect();
            let _ = writeln!(out, "  {:>10}  {:<width$}  {}", "", "", marks.trim_end());
        }
    }
}

fn runs_text(d: &DataMismatch) -> String {
    let runs: Vec<String> = d.runs.iter().map(|(o, l)| format!("0x{o:x}..0x{:x}", o + l)).collect();
    let more = if d.regions > d.runs.len() as u64 { ", ..." } else { "" };
    let s = if d.regions == 1 { "" } else { "s" };
    format!(
        "0x{:x} bytes differ in file {}, in {} region{s}: {}{more}",
        d.differing,
        d.file,
        d.regions,
        runs.join(", ")
    )
}

/// The one-screen report of `d`; `ops` is the stream up to the divergence (for naming
/// writers).
pub fn render(d: &Divergence, ops: &[Op]) -> String {
    let ops = &ops[..(d.op_number as usize).min(ops.len())];
    let shifts = shifts_of(ops, d.range_align);
    let mut out = String::new();
    let op = d.op.as_ref().map_or_else(|| "no op".to_string(), op_line);
    let _ = writeln!(out, "DIVERGENCE at op {}: {op}", d.op_number);
    let _ = writeln!(out, "  found by:  {}", check_text(d.check, d.op_number));
    let agree: Vec<&str> = d.verdicts.iter().filter(|v| v.mismatch.is_none()).map(|v| v.target.as_str()).collect();
    let differ: Vec<String> = d
        .verdicts
        .iter()
        .filter_map(|v| v.mismatch.as_ref().map(|m| format!("{} ({})", v.target, m.kind().as_str())))
        .collect();
    let emulated: Vec<&str> = d.verdicts.iter().filter(|v| v.emulated).map(|v| v.target.as_str()).collect();
    let _ =
        writeln!(out, "  agree with the model: {}", if agree.is_empty() { "none".into() } else { agree.join(", ") });
    let _ = writeln!(out, "  differ from it:       {}", differ.join(", "));
    if !emulated.is_empty() {
        let _ = writeln!(out, "  emulated on:          {} (reads, writes and truncates)", emulated.join(", "));
    }
    if agree.is_empty() && d.verdicts.len() > 1 {
        let _ = writeln!(out, "  (every target differs the same way from the model: check the model too)");
    }
    for v in d.verdicts.iter().filter(|v| v.mismatch.is_some() && !v.faults.is_empty()) {
        let faults: Vec<String> = v.faults.iter().map(|(k, n)| format!("{k}={n}")).collect();
        let _ = writeln!(out, "  injected into {}: {}", v.target, faults.join(", "));
    }
    if d.explained_by_faults() {
        let _ = writeln!(out, "  EXPECTED: every differing target had faults injected, which explain it (not a bug)");
    }
    for v in &d.verdicts {
        let Some(m) = &v.mismatch else { continue };
        let _ = writeln!(out);
        match m {
            Mismatch::Result { expected, actual } => {
                let _ = writeln!(
                    out,
                    "{}: {} — the model {}",
                    v.target,
                    outcome_text(*actual),
                    outcome_text(*expected).replace("returned", "returns").replace("failed", "fails")
                );
            }
            Mismatch::Size { file, expected, actual } => {
                let _ = writeln!(out, "{}: file {file} is 0x{actual:x} bytes, the model says 0x{expected:x}", v.target);
            }
            Mismatch::Durability(violation) => durability_text(&mut out, &v.target, violation, ops, &shifts, d),
            Mismatch::Disk { check, problem } => {
                let _ = writeln!(out, "{}: {}: {problem}", v.target, check.name());
            }
            Mismatch::Data(data) => {
                let _ = writeln!(out, "{}: {}", v.target, runs_text(data));
                hex_dump(&mut out, data);
                if let Some((off, want, got)) = first_run(data) {
                    let said = |o: Vec<Origin>| o.iter().map(Origin::text).collect::<Vec<_>>().join("; or ");
                    let got_from = origins(ops, &shifts, d.op_number, data.file, off, got);
                    let want_from = origins(ops, &shifts, d.op_number, data.file, off, want);
                    let _ = writeln!(out, "  target has at 0x{off:x}: {}", said(got_from));
                    let _ = writeln!(out, "  model has at 0x{off:x}:  {}", said(want_from));
                }
            }
        }
    }
    out
}

/// A durability violation, for a person: what the rules allowed and what the target kept.
fn durability_text(out: &mut String, target: &str, v: &Violation, ops: &[Op], shifts: &[Shift], d: &Divergence) {
    match v {
        Violation::Size { file, actual, min, max, durable } => {
            let _ = writeln!(
                out,
                "{target}: after the power cut file {file} is 0x{actual:x} bytes; it was 0x{durable:x} when last \
                 made durable and may be 0x{min:x} to 0x{max:x}"
            );
        }
        Violation::Data { file, offset, bad_bytes, actual, durable, newest, changed_since, .. } => {
            let what = if *changed_since {
                "a value no op since the last sync put there"
            } else {
                "synced data lost: nothing changed these bytes after they were made durable"
            };
            let _ = writeln!(
                out,
                "{target}: after the power cut file {file} holds at 0x{offset:x} {what} (0x{bad_bytes:x} such bytes)"
            );
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, "  target has: {}", hex(actual));
            let _ = writeln!(out, "  durable:    {}", hex(durable));
            let _ = writeln!(out, "  newest:     {}", hex(newest));
            let said = |o: Vec<Origin>| o.iter().map(Origin::text).collect::<Vec<_>>().join("; or ");
            let _ = writeln!(
                out,
                "  target has at 0x{offset:x}: {}",
                said(origins(ops, shifts, d.op_number, *file, *offset, actual))
            );
        }
    }
}

/// `d` as JSON (the body of `divergence.json`).
pub fn to_json(d: &Divergence, ops: &[Op]) -> Value {
    let ops = &ops[..(d.op_number as usize).min(ops.len())];
    let shifts = shifts_of(ops, d.range_align);
    let targets: Vec<Value> = d
        .verdicts
        .iter()
        .map(|v| {
            let detail = match &v.mismatch {
                None => Value::Null,
                Some(Mismatch::Result { expected, actual }) => {
                    json!({"expected": outcome_json(*expected), "actual": outcome_json(*actual)})
                }
                Some(Mismatch::Size { file, expected, actual }) => {
                    json!({"file": file, "expected": expected, "actual": actual})
                }
                Some(Mismatch::Durability(Violation::Size { file, actual, min, max, durable })) => {
                    json!({"file": file, "actual_size": actual, "min_size": min, "max_size": max, "durable_size": durable})
                }
                Some(Mismatch::Durability(Violation::Data {
                    file,
                    offset,
                    run: _,
                    bad_bytes,
                    actual,
                    durable,
                    newest,
                    changed_since,
                })) => json!({
                    "file": file,
                    "offset": offset,
                    "bad_bytes": bad_bytes,
                    "actual_hex": hex_string(actual),
                    "durable_hex": hex_string(durable),
                    "newest_hex": hex_string(newest),
                    "changed_since_durable": changed_since,
                    "actual_origin": origins(ops, &shifts, d.op_number, *file, *offset, actual).iter().map(Origin::json).collect::<Vec<_>>(),
                }),
                Some(Mismatch::Disk { check, problem }) => json!({"check": check.name(), "problem": problem}),
                Some(Mismatch::Data(data)) => {
                    let (got_from, want_from) = match first_run(data) {
                        Some((off, want, got)) => (
                            origins(ops, &shifts, d.op_number, data.file, off, got),
                            origins(ops, &shifts, d.op_number, data.file, off, want),
                        ),
                        None => (vec![], vec![]),
                    };
                    json!({
                        "file": data.file,
                        "regions": data.runs,
                        "region_count": data.regions,
                        "differing_bytes": data.differing,
                        "window_offset": data.window,
                        "expected_hex": hex_string(&data.expected),
                        "actual_hex": hex_string(&data.actual),
                        "actual_origin": got_from.iter().map(Origin::json).collect::<Vec<_>>(),
                        "expected_origin": want_from.iter().map(Origin::json).collect::<Vec<_>>(),
                    })
                }
            };
            json!({
                "target": v.target,
                "spec": v.spec,
                "injected_faults": v.faults.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "agrees": v.mismatch.is_none(),
                "emulated": v.emulated,
                "kind": v.mismatch.as_ref().map(|m| m.kind()),
                "detail": detail,
            })
        })
        .collect();
    json!({
        "op_number": d.op_number,
        "op": d.op,
        "op_text": d.op.as_ref().map(op_line),
        "found_by": d.check,
        "signature": signature_json(d),
        "targets": targets,
    })
}

/// The signature as JSON: `[{"target": "iomap", "kind": "data"}]`.
pub fn signature_json(d: &Divergence) -> Value {
    Value::Array(d.signature().into_iter().map(|(t, k)| json!({"target": t, "kind": k})).collect())
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(tag: u64, offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        pattern::fill(tag, offset, &mut v);
        v
    }

    #[test]
    fn ops_read_like_fsx() {
        assert_eq!(
            op_line(&Op::Write { file: 0, offset: 4096, len: 4096, tag: 7 }),
            "write 0x1000 thru 0x1fff (0x1000 bytes) tag 7"
        );
        let op = Op::Fallocate { file: 1, mode: FallocMode::ZeroRangeKeepSize, offset: 0, len: 16 };
        assert_eq!(op_line(&op), "zero_range keep_size 0x0 thru 0xf (0x10 bytes) in file 1");
        assert_eq!(errno_name(libc::EINVAL), "EINVAL");
    }

    #[test]
    fn writers_are_named_through_collapses() {
        let ops = vec![
            Op::Write { file: 0, offset: 0, len: 8192, tag: 1 },
            Op::Write { file: 0, offset: 8192, len: 8192, tag: 2 },
            Op::Fallocate { file: 0, mode: FallocMode::CollapseRange, offset: 0, len: 4096 },
            Op::Write { file: 0, offset: 0, len: 100, tag: 4 },
        ];
        let shifts = [Shift { op_number: 3, file: 0, collapse: true, offset: 0, len: 4096 }];
        // Bytes now at 5000 were written by op 2 at 9096.
        let got = origins(&ops, &shifts, 4, 0, 5000, &data(2, 9096, 16));
        assert!(matches!(got[..], [Origin::Write { op_number: 2, matched: 16, .. }]), "{got:?}");
        // Stale bytes of op 1 at 50 under op 4's write: op 1 is named, not op 4.
        let got = origins(&ops, &shifts, 4, 0, 50, &data(1, 50 + 4096, 16));
        assert!(matches!(got[..], [Origin::Write { op_number: 1, .. }]), "{got:?}");
        assert_eq!(origins(&ops, &shifts, 4, 0, 50, &[0xaa; 8]), vec![Origin::Poison]);
        assert_eq!(origins(&ops, &shifts, 4, 0, 50, &[0; 8]), vec![Origin::Zeros]);
        assert_eq!(origins(&ops, &shifts, 4, 0, 50, &[1, 2, 3]), vec![Origin::Unknown]);
    }
}
