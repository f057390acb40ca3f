//! The reference every target is checked against: each file as a plain byte vector (fsx's
//! `good_buf`), with the results and errors Linux gives for each op.

use workloads::{FallocMode, Op};

/// What an op returned: bytes moved (reads and writes; 0 for other ops), or an errno.
pub type Outcome = Result<u64, i32>;

/// The largest file the model holds (its bytes live in memory, as do those of the fsimpl
/// targets on `backing=mem`).
pub const MODEL_MAX_FILE: u64 = 1 << 30;

/// An op the model will not hold.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// The op would make a file larger than [`MODEL_MAX_FILE`].
    #[error(
        "{op} makes file {file} {size} bytes long: the in-memory model holds files up to 1 GiB (use a smaller --file-len, or trim the trace)"
    )]
    TooLarge {
        /// The op, described.
        op: String,
        /// The file.
        file: u32,
        /// The size it would reach.
        size: u64,
    },
    /// The op names a file the model was not made with.
    #[error("{op}: no file {file} (the stream was set up with {files} file(s))")]
    NoFile {
        /// The op, described.
        op: String,
        /// The file index.
        file: u32,
        /// How many files there are.
        files: usize,
    },
}

/// The files' expected contents.
#[derive(Clone, Debug)]
pub struct Model {
    files: Vec<Vec<u8>>,
    /// Alignment of collapse_range and insert_range (the largest block size of the targets).
    block: u64,
}

impl Model {
    /// `files` empty files; collapse/insert ranges must be aligned to `block`; `reserve` bytes
    /// of room per file up front, so that growing to it never reallocates.
    pub fn new(files: u32, block: u64, reserve: u64) -> Model {
        let reserve = reserve.min(MODEL_MAX_FILE) as usize;
        Model { files: (0..files).map(|_| Vec::with_capacity(reserve)).collect(), block: block.max(1) }
    }

    /// How many files there are.
    pub fn files(&self) -> u32 {
        self.files.len() as u32
    }

    /// The size of `file`.
    pub fn size(&self, file: u32) -> u64 {
        self.files.get(file as usize).map_or(0, |d| d.len() as u64)
    }

    /// All of `file`'s bytes.
    pub fn bytes(&self, file: u32) -> &[u8] {
        self.files.get(file as usize).map_or(&[], Vec::as_slice)
    }

    /// What a read of `len` bytes at `offset` returns (short at EOF).
    pub fn read(&self, file: u32, offset: u64, len: u64) -> &[u8] {
        let data = self.bytes(file);
        let start = offset.min(data.len() as u64) as usize;
        let end = offset.saturating_add(len).min(data.len() as u64) as usize;
        &data[start..end]
    }

    /// Applies `op`; `data` is what a write puts down (its `len` bytes). Returns what the op
    /// must return on every target.
    pub fn apply(&mut self, op: &Op, data: &[u8]) -> Result<Outcome, ModelError> {
        let too_large = |file, size| ModelError::TooLarge { op: super::report::op_line(op), file, size };
        let Some(file) = op.file() else { return Ok(Ok(0)) };
        let files = self.files.len();
        let block = self.block;
        let Some(bytes) = self.files.get_mut(file as usize) else {
            return Err(ModelError::NoFile { op: super::report::op_line(op), file, files });
        };
        let size = bytes.len() as u64;
        Ok(match *op {
            Op::Read { offset, len, .. } => Ok(len.min(size.saturating_sub(offset))),
            Op::Write { offset, len, .. } => {
                if len == 0 {
                    return Ok(Ok(0));
                }
                let end = offset.saturating_add(len);
                if end > MODEL_MAX_FILE {
                    return Err(too_large(file, end));
                }
                if end > size {
                    bytes.resize(end as usize, 0);
                }
                bytes[offset as usize..end as usize].copy_from_slice(&data[..len as usize]);
                Ok(len)
            }
            Op::Truncate { size: new, .. } => {
                if new > MODEL_MAX_FILE {
                    return Err(too_large(file, new));
                }
                bytes.resize(new as usize, 0);
                Ok(0)
            }
            Op::Fallocate { mode, offset, len, .. } => {
                if len == 0 {
                    return Ok(Err(libc::EINVAL));
                }
                let end = offset.saturating_add(len);
                let grows = !mode.keeps_size() && !matches!(mode, FallocMode::CollapseRange | FallocMode::InsertRange);
                if grows && end > MODEL_MAX_FILE {
                    return Err(too_large(file, end));
                }
                match mode {
                    FallocMode::Allocate => {
                        if end > size {
                            bytes.resize(end as usize, 0);
                        }
                    }
                    FallocMode::KeepSize => {}
                    FallocMode::PunchHole | FallocMode::ZeroRangeKeepSize => {
                        let stop = end.min(size) as usize;
                        if (offset as usize) < stop {
                            bytes[offset as usize..stop].fill(0);
                        }
                    }
                    FallocMode::ZeroRange => {
                        if end > size {
                            bytes.resize(end as usize, 0);
                        }
                        bytes[offset as usize..end as usize].fill(0);
                    }
                    FallocMode::CollapseRange => {
                        // ext4_collapse_range / xfs_collapse_file_space.
                        if !offset.is_multiple_of(block) || !len.is_multiple_of(block) || end >= size {
                            return Ok(Err(libc::EINVAL));
                        }
                        bytes.copy_within(end as usize.., offset as usize);
                        bytes.truncate((size - len) as usize);
                    }
                    FallocMode::InsertRange => {
                        // ext4_insert_range / xfs_insert_file_space.
                        if !offset.is_multiple_of(block) || !len.is_multiple_of(block) || offset >= size {
                            return Ok(Err(libc::EINVAL));
                        }
                        if size.saturating_add(len) > MODEL_MAX_FILE {
                            return Err(too_large(file, size.saturating_add(len)));
                        }
                        bytes.resize((size + len) as usize, 0);
                        bytes.copy_within(offset as usize..size as usize, (offset + len) as usize);
                        bytes[offset as usize..(offset + len) as usize].fill(0);
                    }
                }
                Ok(0)
            }
            Op::Fsync { .. } | Op::Fdatasync { .. } | Op::Remount | Op::DropCaches | Op::PowerCut { .. } => Ok(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn falloc(mode: FallocMode, offset: u64, len: u64) -> Op {
        Op::Fallocate { file: 0, mode, offset, len }
    }

    #[test]
    fn writes_reads_and_truncates() {
        let mut m = Model::new(1, 4096, 0);
        assert_eq!(m.apply(&Op::Write { file: 0, offset: 10, len: 3, tag: 1 }, b"abc"), Ok(Ok(3)));
        assert_eq!(m.bytes(0), b"\0\0\0\0\0\0\0\0\0\0abc");
        assert_eq!(m.apply(&Op::Read { file: 0, offset: 11, len: 10 }, &[]), Ok(Ok(2)));
        assert_eq!(m.read(0, 11, 10), b"bc");
        assert_eq!(m.apply(&Op::Read { file: 0, offset: 100, len: 10 }, &[]), Ok(Ok(0)));
        assert_eq!(m.apply(&Op::Truncate { file: 0, size: 11 }, &[]), Ok(Ok(0)));
        assert_eq!(m.bytes(0).len(), 11);
        assert_eq!(m.apply(&Op::Truncate { file: 0, size: 12 }, &[]), Ok(Ok(0)));
        assert_eq!(&m.bytes(0)[10..], b"a\0");
    }

    #[test]
    fn fallocate_modes_follow_linux() {
        let mut m = Model::new(1, 4, 0);
        m.apply(&Op::Write { file: 0, offset: 0, len: 12, tag: 1 }, b"abcdefghijkl").unwrap().unwrap();
        assert_eq!(m.apply(&falloc(FallocMode::PunchHole, 10, 100), &[]), Ok(Ok(0)));
        assert_eq!(m.bytes(0), b"abcdefghij\0\0");
        assert_eq!(m.apply(&falloc(FallocMode::KeepSize, 0, 100), &[]), Ok(Ok(0)));
        assert_eq!(m.size(0), 12);
        assert_eq!(m.apply(&falloc(FallocMode::CollapseRange, 4, 4), &[]), Ok(Ok(0)));
        assert_eq!(m.bytes(0), b"abcdij\0\0");
        assert_eq!(m.apply(&falloc(FallocMode::CollapseRange, 4, 4), &[]), Ok(Err(libc::EINVAL)), "reaches EOF");
        assert_eq!(m.apply(&falloc(FallocMode::CollapseRange, 1, 4), &[]), Ok(Err(libc::EINVAL)), "unaligned");
        assert_eq!(m.apply(&falloc(FallocMode::InsertRange, 4, 4), &[]), Ok(Ok(0)));
        assert_eq!(m.bytes(0), b"abcd\0\0\0\0ij\0\0");
        assert_eq!(m.apply(&falloc(FallocMode::InsertRange, 12, 4), &[]), Ok(Err(libc::EINVAL)), "at EOF");
        assert_eq!(m.apply(&falloc(FallocMode::ZeroRange, 1, 15), &[]), Ok(Ok(0)));
        assert_eq!(m.bytes(0), b"a\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert_eq!(m.apply(&falloc(FallocMode::Allocate, 0, 20), &[]), Ok(Ok(0)));
        assert_eq!(m.size(0), 20);
        assert_eq!(m.apply(&falloc(FallocMode::ZeroRangeKeepSize, 0, 0), &[]), Ok(Err(libc::EINVAL)));
    }

    #[test]
    fn files_past_the_limit_are_refused() {
        let mut m = Model::new(1, 4096, 0);
        let e = m.apply(&Op::Truncate { file: 0, size: MODEL_MAX_FILE + 1 }, &[]).unwrap_err();
        assert!(e.to_string().contains("up to 1 GiB"), "{e}");
        assert!(matches!(m.apply(&Op::Fsync { file: 3 }, &[]), Err(ModelError::NoFile { file: 3, .. })));
        m.apply(&Op::Write { file: 0, offset: 0, len: 1, tag: 1 }, &[1]).unwrap().unwrap();
        let insert = Op::Fallocate { file: 0, mode: FallocMode::InsertRange, offset: 0, len: u64::MAX - 4095 };
        assert!(matches!(m.apply(&insert, &[]), Ok(Err(libc::EINVAL)) | Err(ModelError::TooLarge { .. })));
    }
}
