//! The command line.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use vocab::{SeedRange, TargetSpec, parse_bytes, parse_seconds};

/// Storage benchmarking and differential testing of Linux buffered I/O: ext4's buffer_head
/// and iomap paths, modelled in user space, side by side with real kernel filesystems.
#[derive(Parser, Debug)]
#[command(name = "aopsbench", version, about, propagate_version = true, arg_required_else_help = true)]
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
    /// Draw the plots of a run directory (SVG and PNG, in RUNDIR/plots/).
    Plot {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Write one self-contained HTML page of one or more runs (tables, charts, what ran; the
    /// later runs compared with the first).
    Report(ReportArgs),
    /// Compare two runs: per target and op, the deltas in IOPS, bandwidth, latency and counters.
    Compare {
        /// The earlier run.
        run_a: PathBuf,
        /// The later run.
        run_b: PathBuf,
        /// Print markdown instead of a terminal table.
        #[arg(long)]
        markdown: bool,
        /// Also draw the comparison charts (SVG and PNG) into DIR.
        #[arg(long, value_name = "DIR")]
        plots: Option<PathBuf>,
    },
    /// Check a run against a baseline (exit 1 on a regression), or write a baseline.
    Gate(GateArgs),
    /// List the target kinds and whether each can run here.
    Targets,
    /// Run a generated fsx-style op stream on several targets and an in-memory model in
    /// lockstep, comparing after every op; on a divergence, report it, write the trace and a
    /// minimal trace shrunk by delta debugging, and exit 1.
    Diff(Box<DiffArgs>),
    /// Replay a trace (trace.jsonl, or an xfstests fsx .fsxops log) with diff's checks; exit 1
    /// on a divergence.
    Replay(Box<ReplayArgs>),
    /// Crash consistency of a kernel filesystem: run an op stream on ext4 or xfs over a device
    /// aopsbench serves (FUSE under a loop device), then mount the device as a power cut could
    /// leave it — at every flush and at random points between — and check that fsynced data
    /// survived, no stale data shows, and fsck is clean; on a violation, report it, shrink the
    /// stream and exit 1.
    Crash(Box<CrashArgs>),
}

/// `aopsbench crash`.
#[derive(Args, Debug)]
pub struct CrashArgs {
    /// The filesystem: an ext4 or xfs spec (dev=logged is implied), e.g. ext4:opts=barrier=0,
    /// 'xfs:mkfs_opts=-b size=1024'.
    #[arg(long = "target", value_name = "SPEC", default_value = "ext4:size=512m")]
    pub target: TargetSpec,
    /// Replay this trace (trace.jsonl, minimal.jsonl or an fsx .fsxops log) instead of
    /// generating an fsx stream.
    #[arg(long, value_name = "FILE", conflicts_with = "job")]
    pub trace: Option<PathBuf>,
    /// Run a fio job (a job file or a built-in job name) instead of the fsx mix: the first
    /// job's first thread, its layout and then up to --ops of its ops; files up to 16m.
    #[arg(long, value_name = "JOB")]
    pub job: Option<String>,
    /// Seed of the op stream and of the random crash points.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Number of ops of the generated stream.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub ops: u64,
    /// Largest file size (fsx -l).
    #[arg(long, value_name = "B", value_parser = parse_bytes, default_value = "256k")]
    pub file_len: u64,
    /// Largest op length (fsx -o).
    #[arg(long, value_name = "B", value_parser = parse_bytes, default_value = "64k")]
    pub op_len: u64,
    /// Alignment of offsets and lengths (fsx -r/-w/-t).
    #[arg(long, value_name = "B", value_parser = parse_bytes, default_value = "1")]
    pub align: u64,
    /// Op weights, kind=weight comma-separated, as for diff.
    #[arg(long, value_name = "KIND=W,...")]
    pub weights: Option<String>,
    /// Random crash points per stretch between two flushes (alternately a random subset and an
    /// in-order prefix of the writes since the flush); points at every flush are always taken.
    #[arg(long, value_name = "R", default_value_t = 2)]
    pub random_points: u32,
    /// Check at most this many crash points, spread evenly over the log.
    #[arg(long, value_name = "N")]
    pub max_points: Option<usize>,
    /// Stop checking crash points after this long (seconds, or 30s, 5m, 1h); the summary says
    /// how many were covered.
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub duration: Option<std::time::Duration>,
    /// Where the files of a violation go (trace.jsonl, violation.json, minimal.jsonl); default
    /// runs/crash-<UTC time>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Longest time to spend shrinking a violating stream (0: do not shrink).
    #[arg(long, value_name = "S", value_parser = parse_seconds, default_value = "300")]
    pub shrink_time: std::time::Duration,
}

/// `KEY=VALUE`, for `--set`.
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE (e.g. runtime=3)")),
    }
}

/// Checks shared by `diff` and `replay`.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// Compare whole files every K ops (and after every remount and at the end); 0: only after
    /// remounts and at the end.
    #[arg(long, value_name = "K", default_value_t = crate::diff::DEFAULT_CHECK_EVERY)]
    pub check_every: u64,
    /// Where the files of a divergence go (trace.jsonl, divergence.json, minimal.jsonl). diff:
    /// default runs/diff-<UTC time>; replay writes them only when given.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Longest time to spend shrinking a diverging trace.
    #[arg(long, value_name = "S", value_parser = parse_seconds, default_value = "120")]
    pub shrink_time: std::time::Duration,
    /// Write a `backing=` device or file even when it holds a filesystem or other data.
    #[arg(long)]
    pub force_destroy: bool,
    /// Also check the fsimpl targets' ext4 images after every remount and at the end:
    /// `e2fsck` (`e2fsck -fn` finds nothing), `kernel` (the kernel mounts the image and reads
    /// every file as the model has it; root). Comma-separated, or repeat the flag.
    #[arg(long = "check", value_name = "CHECK", value_delimiter = ',')]
    pub disk_checks: Vec<crate::targets::DiskCheck>,
}

/// `aopsbench diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Where the targets come from (default: bh and iomap, plus tmpfs when it can be mounted).
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Seed of the op stream (fsx -S).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// A campaign: every seed from A to B (both included), each a stream of --ops ops
    /// (default 10000) on fresh targets; every divergence is shrunk and reported. Under MPI
    /// (mpirun/srun) the ranks share the seeds (rank r takes A+r, A+r+N, ...).
    #[arg(long, value_name = "A..B", conflicts_with = "seed")]
    pub seeds: Option<SeedRange>,
    /// Number of ops (fsx -N); default 10000, or no limit with --duration (with --seeds: per
    /// seed, default 10000).
    #[arg(long, value_name = "N")]
    pub ops: Option<u64>,
    /// Stop after this long (seconds, or 30s, 5m, 1h); with --seeds, the whole campaign: no
    /// seed starts after it and the running one is cut, and the summary says what each host
    /// covered.
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub duration: Option<std::time::Duration>,
    /// Largest file size (fsx -l).
    #[arg(long, value_name = "B", value_parser = parse_bytes, default_value = "256k")]
    pub file_len: u64,
    /// Largest op length (fsx -o).
    #[arg(long, value_name = "B", value_parser = parse_bytes, default_value = "64k")]
    pub op_len: u64,
    /// Alignment of offsets and lengths (fsx -r/-w/-t): 1 for byte-aligned ops.
    #[arg(long, value_name = "B", value_parser = parse_bytes, default_value = "1")]
    pub align: u64,
    /// Op weights, kind=weight comma-separated (kinds: read, write, trunc, fallocate,
    /// punch_hole, zero_range, collapse_range, insert_range, fsync, fdatasync, remount,
    /// drop_caches); kinds not named are not drawn. Default: every kind.
    #[arg(long, value_name = "KIND=W,...")]
    pub weights: Option<String>,
    /// Checks and report files.
    #[command(flatten)]
    pub check: CheckArgs,
}

/// `aopsbench replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The trace: trace.jsonl / minimal.jsonl (one JSON op per line) or an fsx .fsxops log.
    pub trace: PathBuf,
    /// Where the targets come from (default: bh and iomap, plus tmpfs when it can be mounted).
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Checks and report files (written only with --out).
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Targets to run on.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// A target: KIND[:key=value...], e.g. bh:block_size=1k, iomap:backing=mem,
    /// ext4:opts=noatime. Repeatable.
    #[arg(long = "target", value_name = "SPEC")]
    pub target: Vec<TargetSpec>,
    /// Targets without parameters, comma-separated: e.g. bh,iomap,tmpfs.
    #[arg(long = "targets", value_name = "KINDS", value_delimiter = ',')]
    pub targets: Vec<TargetSpec>,
}

impl TargetArgs {
    /// The targets of `--targets` lists, then of `--target`s, in the order given.
    pub fn specs(&self) -> Vec<TargetSpec> {
        self.targets.iter().chain(&self.target).cloned().collect()
    }
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
    /// Treat fio options that aopsbench does not support as warnings instead of errors.
    #[arg(long)]
    pub lenient: bool,
    /// Force a fio option in every job, after the job file is read: e.g. --set runtime=3
    /// --set size=64m to shorten a real job file in CI. Repeatable; recorded in run.json.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
    pub set: Vec<(String, String)>,
    /// Skip drawing the plots at the end.
    #[arg(long)]
    pub no_plot: bool,
    /// Skip writing report.html at the end.
    #[arg(long)]
    pub no_report: bool,
    /// Run every job N times, the targets taking turns, and pool each target's samples: timing
    /// ratios between targets steady, as drift of the machine falls on all of them.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Format a target's backing= device or file even when it is mounted, active swap, holds
    /// a filesystem or partition table, or data that is not an aopsbench image.
    #[arg(long)]
    pub force_destroy: bool,
    /// fio options on the command line, after `--`: e.g. -- --name=r --rw=randread --bs=4k --size=1g
    #[arg(last = true, value_name = "FIO_OPTIONS")]
    pub fio_args: Vec<String>,
}

/// `aopsbench report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run directories; the first is the one the others are compared with.
    #[arg(required = true, value_name = "RUNDIR")]
    pub run_dirs: Vec<PathBuf>,
    /// Where to write the page (default: report.html in the last run directory).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `aopsbench gate`.
#[derive(Args, Debug)]
pub struct GateArgs {
    /// The run directory to check (or to take the baseline from).
    pub run_dir: PathBuf,
    /// The baseline to check against.
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline")]
    pub baseline: Option<PathBuf>,
    /// Write the run's counters and timing ratios as a baseline instead of checking.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Relative tolerance for timing ratios.
    #[arg(long, default_value_t = results::DEFAULT_TOLERANCE)]
    pub tolerance: f64,
}
