//! Targets: what a workload runs on. The two fsimpl backends, the `null` target, and kernel
//! filesystems (a directory, or an ext4/xfs/tmpfs mount the harness makes).

use std::collections::BTreeMap;
use vocab::FallocMode;

pub mod cleanup;
pub mod dir;
pub mod faults;
pub mod fusedev;
pub(crate) mod host;
mod kernel_counters;
mod kernel_files;
mod kernel_io;
pub mod kernel_spec;
pub mod mount;
pub mod safety;

pub use cleanup::install_signal_cleanup;
pub use dir::DirTarget;
pub use kernel_spec::{KERNEL_KINDS, kernel_availability, kernel_target};
pub use mount::{Device, MountConfig, MountKind, MountTarget};

/// An open file on a target. Stays valid across [`Target::remount`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// How a target performs a remount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemountKind {
    /// Unmount and mount again from the device (fsimpl, ext4, xfs).
    Real,
    /// Close the files and drop the page cache (a plain directory).
    CloseAndDropCaches,
    /// Nothing to unmount to: the data lives in memory (tmpfs, null). A no-op.
    None,
}

/// What a power-cut schedule asks of a target's device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerControl {
    /// Keep an undo log of the writes since the last flush from now on (what a cut undoes),
    /// starting empty: writes before now count as having reached the media.
    Log,
    /// Stop keeping the log (no cut can come until the next [`PowerControl::Log`]).
    Idle,
    /// Cut now: the writes since the last flush (those logged) are undone.
    CutNow,
    /// Cut right after the nth device write bio from now (1: the next one).
    CutAfterWrites(u64),
}

/// What a target can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// fallocate modes that work (probed on kernel targets).
    pub fallocate: Vec<FallocMode>,
    /// What remount does.
    pub remount: RemountKind,
    /// Whether `drop_caches` does anything.
    pub drop_caches: bool,
    /// Whether O_DIRECT (`direct=1`) is available.
    pub direct: bool,
    /// Whether the target stores data (false for `null`, whose reads return zeros).
    pub stores_data: bool,
}

/// How files are opened and I/O is done (from the job: `ioengine`, `direct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IoMode {
    /// io_uring instead of psync.
    pub uring: bool,
    /// O_DIRECT.
    pub direct: bool,
}

/// What a target operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The operation failed with an errno, as a syscall would.
    #[error("{op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Os {
        /// The operation ("write", "fallocate", ...).
        op: &'static str,
        /// The errno.
        errno: i32,
    },
    /// The target cannot do this at all (e.g. collapse_range on tmpfs).
    #[error("{target} does not support {what}")]
    Unsupported {
        /// The target kind.
        target: String,
        /// What it cannot do.
        what: String,
    },
    /// Setting the target up or tearing it down failed; the message says what to do.
    #[error("{0}")]
    Setup(String),
}

impl TargetError {
    /// The errno of a failed operation; EOPNOTSUPP for unsupported ones.
    pub fn errno(&self) -> Option<i32> {
        match self {
            TargetError::Os { errno, .. } => Some(*errno),
            TargetError::Unsupported { .. } => Some(libc::EOPNOTSUPP),
            TargetError::Setup(_) => None,
        }
    }
}

/// Result of a target operation.
pub type Result<T, E = TargetError> = std::result::Result<T, E>;

/// A check of a target's filesystem image that needs it unmounted (`aopsbench diff --check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum DiskCheck {
    /// `e2fsck -fn` on the image finds nothing wrong.
    E2fsck,
    /// The kernel mounts the image (a read-only loop mount) and reads every file as the model
    /// has it.
    Kernel,
}

impl DiskCheck {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            DiskCheck::E2fsck => "e2fsck",
            DiskCheck::Kernel => "kernel mount",
        }
    }
}

/// A place to run a workload. Thread-safe: job threads share one target, each on its own
/// files (or on shared ones, when the job says so).
pub trait Target: Send + Sync {
    /// The kind: "bh", "iomap", "null", "dir", "ext4", "xfs", "tmpfs".
    fn kind(&self) -> &str;
    /// The spec it was made from, normalised (e.g. `bh:block_size=4096:backing=mem`).
    fn spec(&self) -> &str;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// Sets how later opens and I/O work (the job's `ioengine` and `direct`).
    fn set_io_mode(&self, mode: IoMode) -> Result<()>;
    /// Sets how I/O on the open file `f` alone runs: fio opens each job's files with that
    /// job's flags, so jobs with different `direct=` run on one target at once. By default the
    /// whole target's mode ([`Target::set_io_mode`]), for targets whose files all go one way
    /// (fsimpl does buffered I/O only; `null` moves nothing).
    fn set_file_io_mode(&self, f: FileId, mode: IoMode) -> Result<()> {
        let _ = f;
        self.set_io_mode(mode)
    }
    /// Opens a file by name, creating it (empty) if `create` and it does not exist.
    fn open(&self, name: &str, create: bool) -> Result<FileId>;
    /// Closes a file.
    fn close(&self, f: FileId) -> Result<()>;
    /// Removes a file by name.
    fn unlink(&self, name: &str) -> Result<()>;
    /// `pread(2)`: short at EOF.
    fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize>;
    /// `pwrite(2)`.
    fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize>;
    /// `ftruncate(2)`.
    fn truncate(&self, f: FileId, size: u64) -> Result<()>;
    /// `fallocate(2)`.
    fn fallocate(&self, f: FileId, mode: FallocMode, off: u64, len: u64) -> Result<()>;
    /// `fsync(2)`.
    fn fsync(&self, f: FileId) -> Result<()>;
    /// `fdatasync(2)`.
    fn fdatasync(&self, f: FileId) -> Result<()>;
    /// The file's size (`fstat`).
    fn size(&self, f: FileId) -> Result<u64>;
    /// Unmounts and mounts again (see [`RemountKind`]); open files stay usable.
    fn remount(&self) -> Result<()>;
    /// Drops clean cached data.
    fn drop_caches(&self) -> Result<()>;
    /// Drops one file's cached data (fio's `file_invalidate_cache` when a pass over the file
    /// starts again); by default the whole cache, for targets without a per-file drop.
    fn invalidate(&self, f: FileId) -> Result<()> {
        let _ = f;
        self.drop_caches()
    }
    /// Counters since the last reset (fsimpl's stats; a kernel target's block-device and
    /// process I/O counters), as integers by name.
    fn counters(&self) -> BTreeMap<String, u64>;
    /// Restarts the counters.
    fn reset_counters(&self);
    /// Whether the target's power can be cut: its device keeps an undo log (fsimpl targets with
    /// `faults=powercut=...`).
    fn can_cut_power(&self) -> bool {
        false
    }
    /// Power cuts so far.
    fn power_cuts(&self) -> u64 {
        0
    }
    /// Drives the power of a target that [`can_cut_power`](Target::can_cut_power).
    fn power(&self, ctl: PowerControl) -> Result<()> {
        let _ = ctl;
        Err(TargetError::Unsupported { target: self.kind().into(), what: "power cuts".into() })
    }
    /// After a power cut: powers the device on and mounts from what it kept, writing nothing
    /// first (dirty data is lost). Does nothing while the power is on.
    fn reboot(&self) -> Result<()> {
        Ok(())
    }
    /// The statistics of the block device the target's files are on since the counters were
    /// reset (fio.json's `disk_util`); `None` when there is none (fsimpl, null, tmpfs).
    fn disk_util(&self) -> Option<results::DiskUtil> {
        None
    }
    /// The engine a job thread runs on `files` (fio's `ioengine`, queue depth and options);
    /// `None`: one I/O at a time through [`Target::read`] and [`Target::write`]
    /// ([`crate::engines::InlineEngine`]).
    fn engine(
        &self,
        cfg: &crate::engines::EngineConfig,
        files: &[FileId],
    ) -> Result<Option<Box<dyn crate::engines::Engine>>> {
        let _ = (cfg, files);
        Ok(None)
    }
    /// The host path of the file `name`, for the engines that work on paths rather than open
    /// files (fio's `filecreate`, `filestat`, `dircreate`, ..., `e4defrag`'s donor): kernel
    /// targets have one; fsimpl and `null` keep their files in no host directory.
    fn host_path(&self, name: &str) -> Result<std::path::PathBuf> {
        let _ = name;
        Err(TargetError::Unsupported {
            target: self.kind().to_string(),
            what: "paths in a host directory (its files live in no kernel filesystem)".into(),
        })
    }
    /// The descriptors of `files`, on a kernel target (`None` elsewhere), for engines that call
    /// the kernel on them directly (`e4defrag`'s ioctl).
    fn kernel_fds(&self, files: &[FileId]) -> Result<Option<crate::engines::KernelFds>> {
        let _ = files;
        Ok(None)
    }
    /// One-line notices from setting the target up (e.g. a fallback it took).
    fn notices(&self) -> Vec<String> {
        Vec::new()
    }
    /// Tears the target down (unmount, detach, delete); errors say what was left behind.
    /// Dropping a target tears it down too, silently.
    /// Unmounts, checks the on-disk image as `check` says — `expect` lists files (name,
    /// bytes) the image must hold — and mounts again. `Ok(Some(problem))`: the check failed
    /// (one line); `Err(Unsupported)`: the target has no image to check.
    fn check_disk(&self, check: DiskCheck, expect: &[(String, Vec<u8>)]) -> Result<Option<String>> {
        let _ = expect;
        Err(TargetError::Unsupported { target: self.kind().to_string(), what: format!("--check {}", check.name()) })
    }
    fn teardown(&self) -> Result<()> {
        Ok(())
    }
}

/// Builds a fresh target from a spec: a newly formatted fsimpl filesystem, a new kernel
/// mount, a directory, or the null target. A `backing=` holding something is refused (see
/// [`safety`]); [`build_with`] takes `--force-destroy`.
pub fn build(spec: &TargetSpec, defaults: &FsimplDefaults, pools: &PoolCache) -> Result<Box<dyn Target>> {
    build_with(spec, defaults, pools, Destroy::Refuse)
}

/// [`build`], overwriting a backing device or file that holds something when `destroy` is
/// [`Destroy::Force`] (`--force-destroy`).
pub fn build_with(
    spec: &TargetSpec,
    defaults: &FsimplDefaults,
    pools: &PoolCache,
    destroy: Destroy,
) -> Result<Box<dyn Target>> {
    match spec {
        TargetSpec::Fsimpl(f) => Ok(Box::new(FsimplTarget::create_with(f, defaults, pools, destroy)?)),
        TargetSpec::Null => Ok(Box::new(NullTarget::new())),
        _ => kernel_target(spec),
    }
}

/// Checks, making nothing, that `spec` can be made on this machine, with the messages making
/// it would give: its parameters (with the job's `defaults`), a `backing=` it would overwrite
/// (unless `destroy`), what a kernel mount needs (root, the mkfs, loop devices). `aopsbench
/// run` checks every target so, and [`check_io`], before the first runs.
pub fn check_spec(spec: &TargetSpec, defaults: &FsimplDefaults, destroy: Destroy) -> Result<()> {
    match spec {
        TargetSpec::Fsimpl(f) => {
            let cfg = FsimplConfig::parse(f, defaults)?;
            match cfg.backing {
                vocab::target::Backing::Path(path) => self::fsimpl::given_backing(f, path, cfg.size, destroy).map(drop),
                vocab::target::Backing::Mem | vocab::target::Backing::TempFile => Ok(()),
            }
        }
        TargetSpec::Null => Ok(()),
        kernel => kernel_spec::check_kernel_target(kernel),
    }
}

/// Checks, making nothing, that a target of `spec` can do the I/O `mode` asks for, as
/// [`Target::set_io_mode`] will: fsimpl does buffered I/O only; a kernel target's
/// `ioengine=io_uring` needs io_uring. What only the made target can tell (whether the
/// filesystem under a `dir:` takes O_DIRECT) is checked when it is made.
pub fn check_io(spec: &TargetSpec, mode: IoMode) -> Result<()> {
    match spec {
        TargetSpec::Fsimpl(_) => self::fsimpl::check_io_mode(spec.kind(), mode),
        TargetSpec::Null => Ok(()),
        _ if mode.uring => kernel_io::probe_io_uring().map_err(kernel_io::uring_unavailable),
        _ => Ok(()),
    }
}

pub mod fsimpl;
pub mod null;

pub use self::fsimpl::{FsimplConfig, FsimplDefaults, FsimplTarget, PoolCache};
pub use null::NullTarget;
pub use safety::Destroy;
pub use vocab::TargetSpec;

/// Whether `kind` can run here, and why not.
pub fn availability(kind: &str) -> (bool, Option<String>) {
    match kind {
        "bh" | "iomap" | "null" => (true, None),
        _ => kernel_availability()
            .into_iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, ok, why)| (ok, why))
            .unwrap_or((false, Some(format!("unknown kind {kind}")))),
    }
}

/// Whether `kind` can run here.
pub fn kernel_available(kind: &str) -> bool {
    availability(kind).0
}
