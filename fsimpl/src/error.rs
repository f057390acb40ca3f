//! Typed errors of the filesystem model, each mapping to the errno a kernel would return.

use crate::dev::DevError;

/// What a filesystem operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// No file of that name (ENOENT).
    #[error("no such file: {name}")]
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// A file of that name exists (EEXIST).
    #[error("file exists: {name}")]
    Exists {
        /// The name.
        name: String,
    },
    /// No free space for data or metadata (ENOSPC).
    #[error("no space left on device: {what}")]
    NoSpace {
        /// What could not be allocated.
        what: &'static str,
    },
    /// An invalid argument (EINVAL): misaligned collapse_range, range past EOF, ...
    #[error("invalid argument: {what}")]
    Invalid {
        /// What was wrong.
        what: String,
    },
    /// A file would grow past the largest size the format supports (EFBIG).
    #[error("file too large: {size} bytes")]
    TooLarge {
        /// The size asked for.
        size: u64,
    },
    /// This backend or device cannot do the operation (EOPNOTSUPP).
    #[error("operation not supported: {what}")]
    Unsupported {
        /// The operation.
        what: &'static str,
    },
    /// The device failed a request (EIO and friends).
    #[error("I/O error: {source}")]
    Io {
        /// The device error.
        #[from]
        source: DevError,
    },
    /// A read of the file's data from the device failed: the folio at that file offset did
    /// not come uptodate (`filemap_read_folio` returns EIO).
    #[error("I/O error reading the file at byte {pos}")]
    ReadError {
        /// File offset of the folio that could not be read.
        pos: u64,
    },
    /// The operation would have to wait (for device I/O, memory or a lock) and was asked not
    /// to (`IOCB_NOWAIT`: EAGAIN).
    #[error("operation would block")]
    WouldBlock,
    /// An earlier writeback failed; reported once, by the next fsync (errseq).
    #[error("writeback error on an earlier write (errno {errno})")]
    WritebackError {
        /// The errno writeback failed with.
        errno: i32,
    },
    /// The on-disk metadata cannot be used.
    #[error("corrupt filesystem: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
    /// The page cache is full of data that cannot be written back or dropped (ENOMEM).
    #[error("out of page-cache memory: raise the cache size")]
    NoMemory,
    /// A stale handle: the file was unlinked or the filesystem remounted (ESTALE).
    #[error("stale file handle")]
    Stale,
}

impl FsError {
    /// The errno a kernel would return for this error.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound { .. } => libc::ENOENT,
            FsError::Exists { .. } => libc::EEXIST,
            FsError::NoSpace { .. } => libc::ENOSPC,
            FsError::Invalid { .. } => libc::EINVAL,
            FsError::TooLarge { .. } => libc::EFBIG,
            FsError::Unsupported { .. } => libc::EOPNOTSUPP,
            FsError::Io { source } => match source {
                DevError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
                _ => libc::EIO,
            },
            FsError::ReadError { .. } => libc::EIO,
            FsError::WouldBlock => libc::EAGAIN,
            FsError::WritebackError { errno } => *errno,
            FsError::Corrupt { .. } => libc::EUCLEAN,
            FsError::NoMemory => libc::ENOMEM,
            FsError::Stale => libc::ESTALE,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        FsError::Invalid { what: what.into() }
    }
}

/// Result of a filesystem operation.
pub type Result<T, E = FsError> = std::result::Result<T, E>;
