//! Op traces: one [`Op`] per line as JSON ("JSON lines"), round-tripping exactly.
//!
//! ```text
//! {"op":"write","file":0,"offset":4096,"len":512,"tag":1}
//! {"op":"fallocate","file":0,"mode":"punch_hole","offset":0,"len":4096}
//! {"op":"remount"}
//! ```

use std::io::{self, BufRead, Write};
use std::path::Path;

use crate::op::Op;

/// A trace line that is not an op, or a read that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A line that does not hold one JSON op.
    #[error(
        "{source_name}:{line}: not an op: {message} (expected one JSON op per line, such as {{\"op\":\"write\",\"file\":0,\"offset\":0,\"len\":4096,\"tag\":1}})"
    )]
    BadLine {
        /// The trace's name (usually its path).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// Reading the trace failed.
    #[error("{source_name}:{line}: cannot read the trace: {error}")]
    Io {
        /// The trace's name.
        source_name: String,
        /// The line being read.
        line: usize,
        /// The error.
        #[source]
        error: io::Error,
    },
}

/// One op as one JSON line (without the newline).
pub fn to_line(op: &Op) -> String {
    let mut line = Vec::with_capacity(96);
    // Writing our own plain enums into a Vec cannot fail.
    if serde_json::to_writer(&mut line, op).is_err() {
        line.clear();
    }
    String::from_utf8(line).unwrap_or_default()
}

/// The op on one JSON line.
pub fn from_line(line: &str) -> Result<Op, serde_json::Error> {
    serde_json::from_str(line)
}

/// Write `ops` as JSON lines.
pub fn write_jsonl<'a, W: Write>(mut out: W, ops: impl IntoIterator<Item = &'a Op>) -> io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut out, op).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Save `ops` to `path` whole or not at all: written to a temporary name beside it, synced,
/// then renamed over `path`.
pub fn save_jsonl<'a>(path: &Path, ops: impl IntoIterator<Item = &'a Op>) -> io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut out = io::BufWriter::new(file);
        write_jsonl(&mut out, ops)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a JSON-lines trace op by op, naming the line of a bad entry. Blank lines are skipped.
#[derive(Debug)]
pub struct TraceReader<R> {
    lines: io::Lines<R>,
    line: usize,
    source_name: String,
}

impl<R: BufRead> TraceReader<R> {
    /// A reader of `input`; `source_name` names it in errors.
    pub fn new(input: R, source_name: &str) -> Self {
        TraceReader { lines: input.lines(), line: 0, source_name: source_name.to_string() }
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Op, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line += 1;
            let text = match self.lines.next()? {
                Ok(text) => text,
                Err(error) => {
                    return Some(Err(TraceError::Io { source_name: self.source_name.clone(), line: self.line, error }));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some(from_line(&text).map_err(|e| TraceError::BadLine {
                source_name: self.source_name.clone(),
                line: self.line,
                message: crate::text::printable(&e.to_string()).into_owned(),
            }));
        }
    }
}

/// Every op of a JSON-lines trace held in memory.
pub fn read_jsonl(text: &str, source_name: &str) -> Result<Vec<Op>, TraceError> {
    TraceReader::new(text.as_bytes(), source_name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::FallocMode;

    #[test]
    fn lines_round_trip() {
        let ops = vec![
            Op::Write { file: 0, offset: u64::MAX - 1, len: 1, tag: 7 },
            Op::Fallocate { file: 2, mode: FallocMode::CollapseRange, offset: 4096, len: 8192 },
            Op::Remount,
        ];
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &ops).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().next(), Some(to_line(&ops[0]).as_str()));
        assert_eq!(read_jsonl(&text, "t").unwrap(), ops);
    }

    #[test]
    fn bad_lines_are_named() {
        let text = "{\"op\":\"remount\"}\n\n{\"op\":\"wrte\"}\n";
        let err = read_jsonl(text, "t.jsonl").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("t.jsonl:3: not an op: unknown variant `wrte`"), "{msg}");
    }

    #[test]
    fn save_replaces_whole() {
        let dir = std::env::temp_dir().join(format!("workloads-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.jsonl");
        save_jsonl(&path, &[Op::DropCaches]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"op\":\"drop_caches\"}\n");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
