//! A violation on one screen and as JSON, in the style of a diff divergence: where the cut
//! was, which ops had returned, the file, range, what the sync made durable against what the
//! crash state holds, and which op of the trace put those bytes there.

use std::fmt::Write as _;

use serde_json::{Value, json};
use workloads::Op;

use super::Violation;
use super::oracle::Finding;
use crate::diff::divergence::shifts_of;
use crate::diff::report::{Origin, op_line, origins};

fn op_text(ops: &[Op], number: u64) -> String {
    match number {
        0 => "none (the files as created)".into(),
        n => match ops.get(n as usize - 1) {
            Some(op) => format!("op {n} ({})", op_line(op)),
            None => format!("op {n}"),
        },
    }
}

/// Who put the found bytes there, as far as the trace tells.
fn found_origins(v: &Violation, ops: &[Op], block: u64) -> Vec<Origin> {
    let (Some(file), Some(Finding::Data { offset, .. })) = (v.file, &v.finding) else { return Vec::new() };
    let start = (offset - v.window) as usize;
    let bytes = &v.found[start..(start + 16).min(v.found.len())];
    let upto = v.started.min(ops.len());
    let shifts = shifts_of(&ops[..upto], block);
    origins(&ops[..upto], &shifts, upto as u64, file, *offset, bytes)
}

/// What the finding means, in words.
fn meaning(v: &Violation, origins: &[Origin]) -> String {
    match (&v.finding, origins.first()) {
        (Some(Finding::Data { .. }), Some(Origin::Write { op_number, .. })) if *op_number <= v.synced_by => format!(
            "LOST FSYNC: the crash state holds bytes of op {op_number}, which later ops replaced before the sync by \
             op {} returned",
            v.synced_by
        ),
        (Some(Finding::Data { .. }), Some(Origin::Zeros)) => {
            "LOST DATA: zeros where the synced content has data (a synced write did not survive)".into()
        }
        (Some(Finding::Data { .. }), _) => "STALE DATA: bytes no op of the trace wrote there were exposed".into(),
        (Some(Finding::Size { found, min, max }), _) if found < min => {
            format!("LOST SIZE: the file is 0x{found:x} bytes, the sync made 0x{min:x} durable (at most 0x{max:x})")
        }
        (Some(Finding::Size { found, max, .. }), _) => {
            format!("SIZE: the file is 0x{found:x} bytes, larger than any size the ops gave it (0x{max:x})")
        }
        (Some(Finding::Missing), _) => "MISSING: the file was created and made durable before the workload".into(),
        (None, _) => v.kind.as_str().to_string(),
    }
}

fn hex_rows(out: &mut String, window: u64, expected: &[u8], found: &[u8]) {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ");
    for (row, (e, f)) in expected.chunks(16).zip(found.chunks(16)).enumerate() {
        let off = window + row as u64 * 16;
        let _ = writeln!(out, "  0x{off:08x}  synced  {}", hex(e));
        if e != f {
            let _ = writeln!(out, "              crash   {}", hex(f));
        }
    }
}

/// The one-screen report of `v`; `ops` the stream that was recorded, `spec` the target,
/// `block` its block size.
pub fn render(v: &Violation, ops: &[Op], spec: &str, block: u64) -> String {
    let mut out = String::new();
    let p = &v.point;
    let _ = writeln!(out, "CRASH VIOLATION ({}) at crash point {} of {} on {spec}", v.kind.as_str(), v.number, v.of);
    let kept = match p.how {
        super::How::Flush => "nothing written after it".to_string(),
        how => format!("{} ({} of {} kept)", how.text(), p.kept.len(), p.unflushed),
    };
    let _ = writeln!(out, "  the cut:  log record {}; every write before record {} kept, then {kept}", p.at, p.durable);
    let _ = writeln!(
        out,
        "  ops returned before it: {}",
        if v.completed == 0 { "none".into() } else { format!("1 to {}", v.completed) }
    );
    if v.started > v.completed {
        let _ = writeln!(out, "  running:  {}", op_text(ops, v.started as u64));
    }
    if let Some(file) = v.file {
        let _ = writeln!(out, "  file {file}: last synced by {}", op_text(ops, v.synced_by));
    }
    let origins = found_origins(v, ops, block);
    let _ = writeln!(out, "  {}", meaning(v, &origins));
    if let Some(Finding::Data { offset, len }) = &v.finding {
        let _ = writeln!(
            out,
            "  0x{len:x} bytes at 0x{offset:x}..0x{:x} match no content the ops allow there",
            offset + len
        );
        hex_rows(&mut out, v.window, &v.expected, &v.found);
        let said: Vec<String> = origins.iter().map(Origin::text).collect();
        let _ = writeln!(out, "  crash state has at 0x{offset:x}: {}", said.join("; or "));
    }
    if let Some(msg) = &v.message {
        let _ = writeln!(out, "  {msg}");
    }
    out
}

/// `v` as JSON.
pub fn to_json(v: &Violation, ops: &[Op], block: u64) -> Value {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let origins = found_origins(v, ops, block);
    let finding = match &v.finding {
        None => Value::Null,
        Some(Finding::Missing) => json!({"missing": true}),
        Some(Finding::Size { found, min, max }) => json!({"found": found, "min": min, "max": max}),
        Some(Finding::Data { offset, len }) => json!({
            "offset": offset, "len": len, "window_offset": v.window,
            "synced_hex": hex(&v.expected), "found_hex": hex(&v.found),
            "found_origin": origins.iter().map(Origin::json).collect::<Vec<_>>(),
        }),
    };
    json!({
        "kind": v.kind,
        "meaning": meaning(v, &origins),
        "point": {"number": v.number, "of": v.of, "log_record": v.point.at, "durable_before": v.point.durable,
                  "how": v.point.how, "kept": v.point.kept, "unflushed": v.point.unflushed},
        "ops_returned": v.completed,
        "running_op": (v.started > v.completed).then_some(v.started),
        "file": v.file,
        "synced_by_op": v.synced_by,
        "finding": finding,
        "message": v.message,
    })
}
