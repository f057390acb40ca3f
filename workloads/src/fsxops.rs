//! Import of xfstests fsx `.fsxops` replay logs (`fsx --replay-ops`).
//!
//! fsx writes one op per line (`logdump` in `ltp/fsx.c`):
//!
//! ```text
//! [skip] NAME ARG0 ARG1 ARG2 [ARG3] [keep_size] [unshare] [close_open] [*]
//! ```
//!
//! with numbers in C `strtoul(.., 0)` form (`0x` hex, leading-`0` octal, decimal). For most ops
//! ARG0 is the offset, ARG1 the length and ARG2 the file size before the op; `truncate 0x0 SIZE
//! OLDSIZE`. Lines starting with `#` are comments; `skip` entries were not run and give no op
//! (but keep their op number). The mapping:
//!
//! | fsx | op |
//! |---|---|
//! | `read`, `mapread`, `read_dontcache` | [`Op::Read`] |
//! | `write`, `mapwrite`, `write_dontcache` | [`Op::Write`], tag = the entry's op number |
//! | `truncate` | [`Op::Truncate`] to ARG1 |
//! | `fallocate` \[`keep_size`\] | [`FallocMode::Allocate`] ([`FallocMode::KeepSize`]) |
//! | `punch_hole` | [`FallocMode::PunchHole`] |
//! | `zero_range` \[`keep_size`\] | [`FallocMode::ZeroRange`] ([`FallocMode::ZeroRangeKeepSize`]) |
//! | `collapse_range`, `insert_range` | [`FallocMode::CollapseRange`], [`FallocMode::InsertRange`] |
//! | `fsync` | [`Op::Fsync`] |
//!
//! The op number of an entry (its 1-based position among the entries, skipped ones included) is
//! what fsx's log dump prints for it. `close_open` (close and reopen the file) and the `*`
//! overlap marker change no data and are dropped; so is the RWF_DONTCACHE flag of the
//! `_dontcache` ops (the data is the same). Zero-length ops are dropped, as fsx skips them.
//! `copy_range`, `clone_range`, `dedupe_range`, `exchange_range`, `write_atomic` and `unshare`
//! are refused as not supported yet.

use crate::op::{FallocMode, Op};

/// A `.fsxops` line that cannot be imported.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsxOpsError {
    /// A line fsx itself would reject.
    #[error("{source_name}:{line}: {message}")]
    Parse {
        /// The log's name (usually its path).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A valid fsx op that aopsbench cannot run yet.
    #[error("{source_name}:{line}: {what} is not supported yet: remove the line or mark it 'skip'")]
    NotSupportedYet {
        /// The log's name.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// The op or flag.
        what: String,
    },
}

/// A `.fsxops` log, imported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsxLog {
    /// The ops, all on file 0.
    pub ops: Vec<Op>,
    /// Entries that give no op: marked `skip` (fsx did not run them) or of length zero.
    pub skipped: u64,
}

/// The ops of a `.fsxops` log, and how many of its entries give none.
pub fn parse(text: &str, source_name: &str) -> Result<FsxLog, FsxOpsError> {
    let mut ops = Vec::new();
    let mut skipped_entries = 0u64;
    let mut op_number = 0u64;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let printable = |s: String| crate::text::printable(&s).into_owned();
        let parse_err = |message: String| FsxOpsError::Parse {
            source_name: source_name.to_string(),
            line,
            message: printable(message),
        };
        let unsupported = |what: String| FsxOpsError::NotSupportedYet {
            source_name: source_name.to_string(),
            line,
            what: printable(what),
        };
        let mut words = raw.split_whitespace().peekable();
        match words.peek() {
            None => continue,
            Some(w) if w.starts_with('#') => continue,
            Some(_) => {}
        }
        op_number += 1;
        let skipped = words.next_if_eq(&"skip").is_some();
        let Some(name) = words.next() else {
            return Err(parse_err("'skip' needs an op after it".into()));
        };
        let nargs = match name {
            "read" | "mapread" | "read_dontcache" | "write" | "mapwrite" | "write_dontcache" | "truncate"
            | "fallocate" | "punch_hole" | "zero_range" | "collapse_range" | "insert_range" | "fsync"
            | "write_atomic" => 3,
            "copy_range" | "clone_range" | "dedupe_range" | "exchange_range" => 4,
            _ => return Err(parse_err(format!("unknown fsx op '{name}'"))),
        };
        let mut args = [0u64; 4];
        for (k, arg) in args.iter_mut().take(nargs).enumerate() {
            let word = words.next().ok_or_else(|| parse_err(format!("'{name}' needs {nargs} numbers, found {k}")))?;
            *arg = strtoul(word).ok_or_else(|| parse_err(format!("'{word}' is not a number")))?;
        }
        let mut keep_size = false;
        for flag in words {
            match flag {
                "keep_size" => keep_size = true,
                "close_open" | "*" => {}
                "unshare" if !skipped => return Err(unsupported("fallocate unshare".into())),
                "unshare" => {}
                other => return Err(parse_err(format!("unknown flag '{other}'"))),
            }
        }
        if skipped {
            skipped_entries += 1;
            continue;
        }
        let [offset, len, _, _] = args;
        let file = 0;
        let range = |mode| Op::Fallocate { file, mode, offset, len };
        let op = match name {
            "copy_range" | "clone_range" | "dedupe_range" | "exchange_range" | "write_atomic" => {
                return Err(unsupported(name.to_string()));
            }
            "truncate" => Op::Truncate { file, size: args[1] },
            "fsync" => Op::Fsync { file },
            _ if len == 0 => {
                skipped_entries += 1;
                continue;
            }
            "read" | "mapread" | "read_dontcache" => Op::Read { file, offset, len },
            "write" | "mapwrite" | "write_dontcache" => Op::Write { file, offset, len, tag: op_number },
            "fallocate" if keep_size => range(FallocMode::KeepSize),
            "fallocate" => range(FallocMode::Allocate),
            "punch_hole" => range(FallocMode::PunchHole),
            "zero_range" if keep_size => range(FallocMode::ZeroRangeKeepSize),
            "zero_range" => range(FallocMode::ZeroRange),
            "collapse_range" => range(FallocMode::CollapseRange),
            _ => range(FallocMode::InsertRange),
        };
        ops.push(op);
    }
    Ok(FsxLog { ops, skipped: skipped_entries })
}

/// C's `strtoul(s, &end, 0)` with `*end == 0` required: `0x` hex, leading-`0` octal, decimal.
fn strtoul(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_numbers() {
        assert_eq!(strtoul("0x1c4a5"), Some(0x1c4a5));
        assert_eq!(strtoul("010"), Some(8));
        assert_eq!(strtoul("0"), Some(0));
        assert_eq!(strtoul("12"), Some(12));
        assert_eq!(strtoul("0x"), None);
        assert_eq!(strtoul("12k"), None);
    }
}
