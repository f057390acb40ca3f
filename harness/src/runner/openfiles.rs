//! The files a job thread has open, and where each sits among its engine's files. Without
//! `openfiles` (or with it at least the number of files) every file stays open for the whole
//! run, each at its own index. With `openfiles` below it, files are opened when an I/O first
//! needs them and closed when the op stream says their pass is done (fio's `get_next_file`,
//! `td_io_open_file` and `td_io_close_file`); should an op need a closed file while the limit is
//! reached (a verify read, a closing fsync), the file used longest ago is closed first, so that
//! the limit always holds.

use std::collections::VecDeque;

use crate::targets::FileId;

/// A `FileId` no target hands out: what a closed file's entry holds, so that an op on it fails
/// with EBADF.
pub(super) const CLOSED: FileId = FileId(u64::MAX);

/// The open files of one job thread.
pub struct OpenFiles {
    /// Per file of the thread: its `FileId`, or [`CLOSED`].
    pub by_file: Vec<FileId>,
    /// Per file: its index among the engine's files (valid while open and the engine is
    /// current).
    pub engine_index: Vec<usize>,
    /// `openfiles`, when below the number of files.
    pub limit: Option<usize>,
    /// The open files, the one used longest ago first (only under a limit).
    lru: VecDeque<u32>,
}

impl OpenFiles {
    /// The files `fids` (each at its own engine index), with `limit` when below their number;
    /// those open are taken as used in their order.
    pub fn new(fids: &[FileId], limit: Option<u32>) -> OpenFiles {
        let limit = limit.map(|n| n.max(1) as usize).filter(|&n| n < fids.len());
        let lru = (0..fids.len() as u32).filter(|&f| limit.is_some() && fids[f as usize] != CLOSED).collect();
        OpenFiles { by_file: fids.to_vec(), engine_index: (0..fids.len()).collect(), limit, lru }
    }

    /// Whether `file` is open.
    pub fn is_open(&self, file: u32) -> bool {
        self.by_file.get(file as usize).is_some_and(|&f| f != CLOSED)
    }

    /// Files open now.
    pub fn count(&self) -> usize {
        self.by_file.iter().filter(|&&f| f != CLOSED).count()
    }

    /// Records that `file` was opened as `fid`.
    pub fn opened(&mut self, file: u32, fid: FileId) {
        self.by_file[file as usize] = fid;
        self.lru.push_back(file);
    }

    /// Records that `file` was used (it moves to the back of the eviction order).
    pub fn used(&mut self, file: u32) {
        if self.limit.is_some() && self.lru.back() != Some(&file) {
            self.lru.retain(|&f| f != file);
            self.lru.push_back(file);
        }
    }

    /// Records that `file` was closed; returns the `FileId` it had.
    pub fn closed(&mut self, file: u32) -> FileId {
        self.lru.retain(|&f| f != file);
        std::mem::replace(&mut self.by_file[file as usize], CLOSED)
    }

    /// The file to close before another can open, when the limit is reached.
    pub fn to_evict(&self) -> Option<u32> {
        let limit = self.limit?;
        (self.count() >= limit).then(|| self.lru.front().copied()).flatten()
    }

    /// The open files' `FileId`s in engine order, and each file's engine index set to match.
    pub fn engine_files(&mut self) -> Vec<FileId> {
        let mut fids = Vec::new();
        for (i, &f) in self.by_file.iter().enumerate() {
            if f != CLOSED {
                self.engine_index[i] = fids.len();
                fids.push(f);
            }
        }
        fids
    }
}
