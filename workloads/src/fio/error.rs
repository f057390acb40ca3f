//! Errors and warnings from reading fio job files and command-line options.

use std::fmt;

/// Where an option or section came from: a job file line, or a command-line argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// Line `line` (1-based) of the job file named `source`.
    File {
        /// The name given to [`JobFile::parse`](super::JobFile::parse), usually its path.
        source: String,
        /// 1-based line number.
        line: usize,
    },
    /// Argument `index` (1-based) of the options given as command-line arguments.
    Arg {
        /// 1-based argument number.
        index: usize,
    },
    /// The `index`th (1-based) `--set KEY=VALUE` override.
    Set {
        /// 1-based override number.
        index: usize,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { source, line } => write!(f, "{source}:{line}"),
            Location::Arg { index } => write!(f, "command line argument {index}"),
            Location::Set { index } => write!(f, "--set option {index}"),
        }
    }
}

/// A job file or option list that cannot be used. Each message names where and what, and how
/// to fix it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobError {
    /// A line that is neither a section header, an option, a comment nor blank.
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Location,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An option fio has and aopsbench does not (a warning instead with `--lenient`).
    #[error("{at}: fio option '{option}' is not supported by aopsbench (--lenient turns this into a warning)")]
    UnsupportedOption {
        /// Where.
        at: Location,
        /// The option name as written.
        option: String,
    },
    /// An option of fio engines that need hardware aopsbench does not drive: fio refuses it
    /// under any other engine too.
    #[error(
        "{at}: option '{option}' belongs to fio's {engines} (it {why}): aopsbench runs neither, and fio refuses it \
         with any other ioengine ('Bad option')"
    )]
    HardwareEngineOption {
        /// Where.
        at: Location,
        /// The option name as written.
        option: String,
        /// The engines that have it.
        engines: &'static str,
        /// What it is for.
        why: &'static str,
    },
    /// An option neither fio nor aopsbench has.
    #[error("{at}: unknown option '{option}'{hint}: neither fio nor aopsbench has it")]
    UnknownOption {
        /// Where.
        at: Location,
        /// The option name as written.
        option: String,
        /// ` (did you mean 'x'?)` or empty.
        hint: String,
    },
    /// An option whose value does not parse or is out of range.
    #[error("{at}: bad value '{value}' for option '{option}': {expected}")]
    BadValue {
        /// Where.
        at: Location,
        /// The option name.
        option: String,
        /// The value as written.
        value: String,
        /// What was expected instead.
        expected: String,
    },
    /// A job whose options do not fit together (checked once the job is complete).
    #[error("{at}: job '{job}': {message}")]
    InvalidJob {
        /// The job section header.
        at: Location,
        /// The job name.
        job: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Several of the above, one per line, in the order of the file.
    #[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several {
        /// Each problem.
        errors: Vec<JobError>,
    },
    /// Nothing to run.
    #[error("{source_name}: no jobs defined: add a [jobname] section (or --name=jobname)")]
    NoJobs {
        /// The job file name, or "command line".
        source_name: String,
    },
}

/// An unsupported option that `--lenient` let through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobWarning {
    /// Where.
    pub at: Location,
    /// The option name as written.
    pub option: String,
}

impl fmt::Display for JobWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ignoring fio option '{}', which aopsbench does not support (--lenient)", self.at, self.option)
    }
}
