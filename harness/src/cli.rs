//! The command line.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Storage benchmarking and differential testing of Linux buffered I/O: ext4's buffer_head
/// and iomap paths, modelled in user space, side by side with real kernel filesystems.
#[derive(Parser, Debug)]
#[command(name = "aopsbench", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run fio-style jobs on several targets and record latency, throughput and counters.
    Run(RunArgs),
    /// Draw the plots of a run directory (SVG and PNG).
    Plot {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Compare two runs: per target and op, the deltas in IOPS, bandwidth, latency and counters.
    Compare {
        /// The earlier run.
        run_a: PathBuf,
        /// The later run.
        run_b: PathBuf,
        /// Print markdown instead of a terminal table.
        #[arg(long)]
        markdown: bool,
    },
    /// Check a run against a baseline (exit 1 on a regression), or write a baseline.
    Gate(GateArgs),
    /// List the target kinds and whether each can run here.
    Targets,
}

/// Targets to run on.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// A target: KIND[:key=value...], e.g. bh:block_size=1024, iomap:backing=mem,
    /// ext4:opts=noatime. Repeatable.
    #[arg(long = "target", value_name = "SPEC")]
    pub target: Vec<String>,
    /// Targets without parameters, comma-separated: e.g. bh,iomap,tmpfs.
    #[arg(long = "targets", value_name = "KINDS")]
    pub targets: Vec<String>,
}

/// `aopsbench run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Job files (fio syntax), or names of built-in jobs (quick, seqwrite, randwrite, randrw,
    /// append-fsync, ext4-iomap-matrix). Default: quick.
    pub jobs: Vec<String>,
    /// Where the targets come from.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// The run directory (default: runs/<UTC time>-<job>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Treat unsupported job options as warnings instead of errors.
    #[arg(long)]
    pub lenient: bool,
    /// Skip drawing the plots at the end.
    #[arg(long)]
    pub no_plot: bool,
    /// Format a target's backing= device or file even when it is mounted, active swap, holds
    /// a filesystem or partition table, or data that is not an aopsbench image.
    #[arg(long)]
    pub force_destroy: bool,
    /// fio options on the command line, after `--`: e.g. -- --name=r --rw=randread --bs=4k --size=1g
    #[arg(last = true, value_name = "FIO_OPTIONS")]
    pub fio_args: Vec<String>,
}

/// `aopsbench gate`.
#[derive(Args, Debug)]
pub struct GateArgs {
    /// The run directory to check (or to take the baseline from).
    pub run_dir: PathBuf,
    /// The baseline to check against.
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline", required_unless_present = "write_baseline")]
    pub baseline: Option<PathBuf>,
    /// Write the run's counters and timing ratios as a baseline instead of checking.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Relative tolerance for timing ratios.
    #[arg(long, default_value_t = results::DEFAULT_TOLERANCE)]
    pub tolerance: f64,
}
