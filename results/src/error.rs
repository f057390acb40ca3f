//! The one error type of the crate.

use std::path::PathBuf;

/// What went wrong while writing, reading, plotting, comparing or gating a run directory.
///
/// Every variant names the file involved and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// A file or directory could not be created, written, renamed or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The output directory of a new run already holds files.
    #[error("{path}: already holds files; choose a new --out directory or remove this one")]
    OutputExists {
        /// The directory.
        path: PathBuf,
    },
    /// A file the run directory must hold is absent.
    #[error("{path}: missing; {hint}")]
    Missing {
        /// The absent file.
        path: PathBuf,
        /// What its absence means and what to do.
        hint: String,
    },
    /// A JSON file could not be encoded or did not parse into the expected schema.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A CSV file could not be written or read.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: csv::Error,
    },
    /// An HdrHistogram interval log could not be written or decoded.
    #[error("{path}: HdrHistogram interval log: {message}")]
    HistogramLog {
        /// The `.hlog` file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Histograms could not be combined (different bounds or precision).
    #[error("cannot merge latency histograms: {message}")]
    Merge {
        /// What the hdrhistogram crate said.
        message: String,
    },
    /// The same job × target was handed to the run writer twice.
    #[error("job {job:?} already has a target named {target:?}; give each target of a job a distinct name")]
    DuplicateTarget {
        /// The job.
        job: String,
        /// The repeated target name.
        target: String,
    },
    /// A name cannot be used (empty, or a control character in it).
    #[error("{what} name {name:?} is not usable: {reason}")]
    BadName {
        /// Which kind of name: job, target or op.
        what: &'static str,
        /// The offending name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A chart could not be drawn or saved.
    #[error("{path}: drawing the chart failed: {message}")]
    Plot {
        /// The image being drawn.
        path: PathBuf,
        /// What plotters said.
        message: String,
    },
    /// The embedded font could not be registered with plotters.
    #[error("the embedded DejaVu Sans font could not be loaded; the crate's fonts/ file is damaged")]
    Font,
    /// The gate tolerance is not a finite, non-negative fraction.
    #[error("tolerance {value} is not usable: give a non-negative fraction such as 0.1 for 10%")]
    BadTolerance {
        /// The tolerance given.
        value: f64,
    },
    /// Two runs compared have no job in common.
    #[error("{a} and {b} have no job in common ({a_jobs} against {b_jobs}): compare two runs of the same jobs")]
    NothingInCommon {
        /// Run A.
        a: PathBuf,
        /// Run B.
        b: PathBuf,
        /// Run A's jobs, comma-separated.
        a_jobs: String,
        /// Run B's jobs.
        b_jobs: String,
    },
    /// A baseline file is not one this version can read.
    #[error("{path}: not an aopsbench baseline ({reason}); write one with `aopsbench gate --write-baseline`")]
    BadBaseline {
        /// The baseline file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
}

/// Attach a path to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ResultsError {
    let path = path.into();
    move |source| ResultsError::Io { path, source }
}
