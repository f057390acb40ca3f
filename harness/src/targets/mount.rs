//! `ext4`, `xfs`, `tmpfs`: a filesystem the harness makes, mounts, and removes again.
//!
//! ext4 and xfs:
//! 1. a sparse image file `<backing>/aopsbench-<kind>-<pid>-<n>.img`;
//! 2. a loop device over it, `losetup --find --show --direct-io=on`: the loop device does
//!    O_DIRECT on the image, so the image's own page cache neither doubles the caching nor
//!    delays device I/O — closer to the real devices the kernel series measured on. Where the
//!    backing filesystem refuses O_DIRECT, loop I/O is buffered (the kernel falls back, or a
//!    second `losetup` runs without `--direct-io`); [`MountTarget::loop_direct_io`] says which;
//! 3. mkfs on the loop device: `mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0` (no
//!    background inode-table zeroing adding device writes to a measurement), `mkfs.xfs -f -q`,
//!    then `mkfs_opts=`;
//! 4. `mount -t KIND [-o OPTS]` on a fresh `<tmp>/aopsbench-<kind>-<pid>-<n>.mnt`.
//!
//! tmpfs: `mount -t tmpfs -o size=SIZE[,OPTS]` on a fresh mount point.
//!
//! Each step registers its undo with [`cleanup`]: a teardown, a failed creation, or a Ctrl-C
//! (once the binary called [`install_signal_cleanup`](super::cleanup::install_signal_cleanup))
//! unmounts (retrying while busy, then detaching lazily), detaches the loop device, and deletes
//! the image and the mount point. External programs run in their own process group, so a Ctrl-C
//! at the terminal does not kill a mkfs or a mount halfway; the cleanup waits for it instead.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use vocab::target::{FaultList, MountSpec, mkfs_block_size};
use vocab::{FallocMode, Size};

use super::cleanup::{self, CleanupGuard, remove_file};
use super::faults::FaultSpec;
use super::fusedev::{self, DevState, FaultWatch, FuseMount};
use super::host;
use super::kernel_counters::KernelCounters;
use super::kernel_files::KernelFiles;
use super::{Capabilities, FileId, IoMode, RemountKind, Result, Target, TargetError};

/// Image or tmpfs size when `size=` is not given.
pub const DEFAULT_SIZE: u64 = 1 << 30;
pub use vocab::target::XFS_MIN_SIZE;
/// Where images live when `backing=` is not given.
pub const DEFAULT_BACKING: &str = "/var/tmp";

/// `ioctl(2)` request detaching a loop device (`<linux/loop.h>`), as `losetup -d` does.
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;

/// How long an unmount retries while the filesystem is busy.
const UMOUNT_RETRIES: u32 = 20;
const UMOUNT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Tells apart the images and mount points of one process.
static SEQ: AtomicU64 = AtomicU64::new(0);

pub use vocab::target::{Device, MountKind};

/// The mkfs program of `kind`, its package, and the options always given; `None` for tmpfs.
fn mkfs_of(kind: MountKind) -> Option<(&'static str, &'static str, &'static [&'static str])> {
    match kind {
        MountKind::Ext4 => {
            Some(("mkfs.ext4", "e2fsprogs", &["-F", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0"]))
        }
        MountKind::Xfs => Some(("mkfs.xfs", "xfsprogs", &["-f", "-q"])),
        MountKind::Tmpfs => None,
    }
}

/// What to make: the parameters of an `ext4`, `xfs` or `tmpfs` target spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountConfig {
    /// The filesystem.
    pub kind: MountKind,
    /// Mount options, comma-separated as `mount -o` takes them (`opts=noatime,buffered_iomap`).
    pub opts: Option<String>,
    /// Image size (ext4, xfs) or tmpfs size, bytes.
    pub size: u64,
    /// Directory for the image file (ext4, xfs).
    pub backing: PathBuf,
    /// Extra mkfs arguments, appended to the defaults (ext4, xfs).
    pub mkfs_opts: Vec<String>,
    /// What the loop device sits on (ext4, xfs): [`Device::Logged`] is a device aopsbench
    /// serves itself through FUSE ([`super::fusedev`]).
    pub device: Device,
    /// Faults the served device injects (`faults=`; needs [`Device::Logged`]).
    pub faults: FaultList,
}

impl MountConfig {
    /// The defaults for `kind`: no options, [`DEFAULT_SIZE`], [`DEFAULT_BACKING`].
    pub fn new(kind: MountKind) -> Self {
        MountConfig {
            kind,
            opts: None,
            size: DEFAULT_SIZE,
            backing: DEFAULT_BACKING.into(),
            mkfs_opts: Vec::new(),
            device: Device::Image,
            faults: FaultList::default(),
        }
    }

    /// What a spec asks for, the defaults filling in what it leaves out.
    pub fn from_spec(spec: &MountSpec) -> Self {
        let d = MountConfig::new(spec.kind);
        MountConfig {
            kind: spec.kind,
            opts: spec.opts.clone(),
            size: spec.size.map_or(d.size, Size::bytes),
            backing: spec.backing.clone().unwrap_or(d.backing),
            mkfs_opts: spec.mkfs_opts.clone(),
            device: spec.device(),
            faults: spec.faults.clone(),
        }
    }

    /// The normalised spec, every default written out:
    /// `ext4:opts=noatime:size=1g:backing=/var/tmp[:dev=logged][:faults=...]`.
    pub fn spec(&self) -> MountSpec {
        let device = self.kind.has_device();
        MountSpec {
            kind: self.kind,
            opts: self.opts.clone(),
            size: Some(Size(self.size)),
            backing: device.then(|| self.backing.clone()),
            mkfs_opts: if device { self.mkfs_opts.clone() } else { Vec::new() },
            // dev=image is the default unless faults= is given; written out when it is, so that
            // checking the spec refuses faults on an image.
            dev: (self.device == Device::Logged || !self.faults.is_empty()).then_some(self.device),
            faults: self.faults.clone(),
        }
    }

    /// The filesystem block size `mkfs_opts` asks for ([`mkfs_block_size`]; 4096 when its `-b`
    /// is not a size, which mkfs then refuses): the unit of `faults=range=` and of crash
    /// reports.
    pub fn block_size(&self) -> u64 {
        mkfs_block_size(&self.mkfs_opts).unwrap_or(4096)
    }

    /// Refuses what cannot work, before anything is made: faults without the served device,
    /// xfs's least size, a backing that is not a directory.
    fn check(&self) -> Result<()> {
        let name = self.kind.name();
        self.spec().validate().map_err(|e| TargetError::Setup(format!("{name} target: {e}")))?;
        if self.kind.has_device() && !self.backing.is_dir() {
            return Err(TargetError::Setup(format!(
                "{name} target: backing={} is not a directory: give an existing directory for the image",
                self.backing.display()
            )));
        }
        Ok(())
    }
}

/// The device of a `dev=logged` target and the FUSE mount serving it.
#[derive(Debug)]
struct Logged {
    state: Arc<DevState>,
    _fuse: FuseMount,
    /// Reports injected faults and the kernel's reaction (when `faults=` is given).
    watch: Mutex<Option<FaultWatch>>,
}

/// The programs that make a filesystem on a loop device.
struct DeviceTools {
    mkfs: PathBuf,
    /// Options always given to mkfs.
    mkfs_defaults: &'static [&'static str],
    losetup: PathBuf,
}

/// A loop device the target attached.
#[derive(Debug, Clone)]
pub(crate) struct LoopDev {
    /// `/dev/loopN`.
    pub(crate) path: PathBuf,
    /// `loopN`.
    pub(crate) name: String,
    /// Whether the loop device does O_DIRECT on the image.
    pub(crate) direct_io: bool,
}

/// A filesystem the harness made and mounted: ext4 or xfs on a loop device over an image file,
/// or tmpfs. Torn down (files closed, unmounted, loop device detached, image and mount point
/// deleted) by [`MountTarget::teardown`] or on drop.
///
/// A remount of ext4 or xfs is a real `umount` and `mount` of the same loop device, the files
/// closed before and reopened after ([`RemountKind::Real`]). tmpfs keeps its data only while
/// mounted, so its remount does nothing ([`RemountKind::None`]), nor does its drop_caches.
///
/// Counters: the loop device's `/sys/block/loopN/stat` (none for tmpfs) and `/proc/self/io`.
#[derive(Debug)]
pub struct MountTarget {
    kind: MountKind,
    spec: String,
    mountpoint: PathBuf,
    loop_dev: Option<LoopDev>,
    image: Option<PathBuf>,
    /// The `mount` command, for remounts.
    mount_cmd: (PathBuf, Vec<OsString>),
    files: Arc<KernelFiles>,
    counters: KernelCounters,
    /// The served device (`dev=logged`).
    logged: Option<Logged>,
    /// Undos of everything made, oldest first; empty once torn down.
    undo: Mutex<UndoStack>,
}

impl MountTarget {
    /// Makes and mounts the filesystem `cfg` describes. Refuses, with the line saying what to
    /// do, when not root, when mkfs, losetup or mount is missing, or without loop devices.
    pub fn create(cfg: MountConfig) -> Result<Self> {
        let (mount, device_tools) = Self::tools(&cfg)?;
        cleanup::section(|| Self::build(cfg, mount, device_tools))?
    }

    /// Checks, making nothing, that the filesystem `cfg` describes can be made here: the
    /// settings, root, the programs and loop devices it needs, FUSE for `dev=logged` (what
    /// [`MountTarget::create`] refuses before it makes anything).
    pub fn check(cfg: &MountConfig) -> Result<()> {
        Self::tools(cfg).map(drop)
    }

    /// The `mount` program and, for a filesystem on a device, mkfs and losetup.
    fn tools(cfg: &MountConfig) -> Result<(PathBuf, Option<DeviceTools>)> {
        cfg.check()?;
        let name = cfg.kind.name();
        if !host::is_root() {
            return Err(TargetError::Setup(format!("{name} targets need root: run as root or use dir:path=DIR")));
        }
        let setup = |e: String| TargetError::Setup(e);
        let mount = host::require_program("mount", "mount").map_err(setup)?;
        let device_tools = match mkfs_of(cfg.kind) {
            Some((mkfs, package, mkfs_defaults)) => {
                let mkfs = host::require_program(mkfs, package).map_err(setup)?;
                let losetup = host::require_program("losetup", "mount").map_err(setup)?;
                host::require_loop_devices().map_err(setup)?;
                Some(DeviceTools { mkfs, mkfs_defaults, losetup })
            }
            None => None,
        };
        if cfg.device == Device::Logged {
            fusedev::require_fuse(cfg.kind)?;
        }
        Ok((mount, device_tools))
    }

    /// Makes everything, registering each undo as it goes; on failure the undos made so far run.
    fn build(cfg: MountConfig, mount: PathBuf, device_tools: Option<DeviceTools>) -> Result<Self> {
        let kind = cfg.kind;
        let mut undo = UndoStack::default();
        let mountpoint = make_unique(&std::env::temp_dir(), kind, "mnt", |p| std::fs::create_dir(p))
            .map_err(|e| TargetError::Setup(format!("{} target: cannot make a mount point: {e}", kind.name())))?;
        let mp = mountpoint.clone();
        undo.push(cleanup::register(format!("mount point {}", mp.display()), move || remove_dir(&mp)));

        let mut logged = None;
        let (loop_dev, image, mount_args) = match device_tools {
            Some(tools) => {
                let backing = std::fs::canonicalize(&cfg.backing).map_err(|e| {
                    TargetError::Setup(format!("{} target: backing={}: {e}", kind.name(), cfg.backing.display()))
                })?;
                let image = match cfg.device {
                    Device::Image => {
                        let image = make_unique(&backing, kind, "img", |p| make_image(p, cfg.size)).map_err(|e| {
                            TargetError::Setup(format!(
                                "{} target: cannot make an image in {}: {e}",
                                kind.name(),
                                backing.display()
                            ))
                        })?;
                        let img = image.clone();
                        undo.push(cleanup::register(format!("image {}", img.display()), move || remove_file(&img)));
                        image
                    }
                    Device::Logged => {
                        let state = DevState::new(cfg.size, &backing).map_err(|e| {
                            TargetError::Setup(format!(
                                "{} target: cannot make the device's write log in {}: {e}",
                                kind.name(),
                                backing.display()
                            ))
                        })?;
                        let fuse = fusedev::mount(Arc::clone(&state), kind, &mut undo)?;
                        let image = fuse.dev_path();
                        logged = Some(Logged { state, _fuse: fuse, watch: Mutex::new(None) });
                        image
                    }
                };

                // Registered before attaching, so that a device attached by a losetup that
                // then fails is detached too.
                let img = image.clone();
                undo.push(cleanup::register(format!("loop device of {}", img.display()), move || {
                    detach_loops_of(&img)
                }));
                let dev = match attach_loop(&tools.losetup, &image, true) {
                    Ok(dev) => dev,
                    Err(_) => {
                        // The backing filesystem may refuse O_DIRECT: buffered loop I/O then.
                        detach_loops_of(&image)?;
                        attach_loop(&tools.losetup, &image, false)?
                    }
                };

                let mut args: Vec<OsString> = tools.mkfs_defaults.iter().map(OsString::from).collect();
                args.extend(cfg.mkfs_opts.iter().map(OsString::from));
                args.push(dev.path.clone().into());
                run(&tools.mkfs, &args, "")?;

                let mut mount_args: Vec<OsString> = vec!["-t".into(), kind.name().into()];
                if let Some(opts) = &cfg.opts {
                    mount_args.extend(["-o".into(), opts.into()]);
                }
                mount_args.extend([dev.path.clone().into_os_string(), mountpoint.clone().into_os_string()]);
                (Some(dev), Some(image), mount_args)
            }
            None => {
                let opts = match &cfg.opts {
                    Some(o) => format!("size={},{o}", cfg.size),
                    None => format!("size={}", cfg.size),
                };
                let args = ["-t", "tmpfs", "-o", &opts, "aopsbench"].map(OsString::from);
                let mut mount_args = args.to_vec();
                mount_args.push(mountpoint.clone().into_os_string());
                (None, None, mount_args)
            }
        };
        mount_fs(&mount, &mount_args, kind, loop_dev.as_ref().map(|d| d.name.as_str()))?;
        let mp = mountpoint.clone();
        undo.push(cleanup::register(format!("mount {}", mp.display()), move || unmount(&mp, true)));

        let files = Arc::new(KernelFiles::new(&mountpoint)?);
        let to_close = Arc::clone(&files);
        undo.push(cleanup::register(format!("files under {}", mountpoint.display()), move || to_close.close_all()));

        if let Some(l) = &logged {
            // Bios are counted, and crash points chosen, from the freshly mounted filesystem on (after
            // the probes of KernelFiles).
            l.state.arm(FaultSpec::new(&cfg.faults, cfg.block_size()).plan);
            if let (false, Some(dev)) = (cfg.faults.is_empty(), &loop_dev) {
                *l.watch.lock().unwrap_or_else(|e| e.into_inner()) = Some(FaultWatch::start(
                    Arc::clone(&l.state),
                    &dev.name,
                    &format!("{} on {}", kind.name(), dev.name),
                ));
            }
        }
        let counters = KernelCounters::new(loop_dev.as_ref().map(|d| format!("/sys/block/{}/stat", d.name).into()));
        Ok(MountTarget {
            kind,
            spec: vocab::TargetSpec::Mount(cfg.spec()).to_string(),
            mountpoint,
            loop_dev,
            image,
            mount_cmd: (mount, mount_args),
            files,
            counters,
            logged,
            undo: Mutex::new(undo),
        })
    }

    /// The device aopsbench serves under the loop device (`dev=logged`): its write log, crash
    /// states and faults.
    pub fn logged_device(&self) -> Option<&Arc<DevState>> {
        self.logged.as_ref().map(|l| &l.state)
    }

    /// Where the filesystem is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The loop device (`/dev/loopN`), `None` for tmpfs.
    pub fn loop_device(&self) -> Option<&Path> {
        self.loop_dev.as_ref().map(|d| d.path.as_path())
    }

    /// Whether the loop device does O_DIRECT on the image; `None` for tmpfs.
    pub fn loop_direct_io(&self) -> Option<bool> {
        self.loop_dev.as_ref().map(|d| d.direct_io)
    }

    /// The image file, `None` for tmpfs.
    pub fn image(&self) -> Option<&Path> {
        self.image.as_deref()
    }

    fn lock_undo(&self) -> MutexGuard<'_, UndoStack> {
        self.undo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the files, unmounts, detaches the loop device, deletes the image and the mount
    /// point. Tries every step; gives the failures. Later calls do nothing.
    pub fn teardown(&self) -> Result<()> {
        if let Some(watch) = self.logged.as_ref().and_then(|l| l.watch.lock().unwrap_or_else(|e| e.into_inner()).take())
        {
            eprintln!("aopsbench: {}", watch.finish(is_read_only(&self.mountpoint)));
        }
        let stack = std::mem::take(&mut *self.lock_undo());
        stack.unwind()
    }
}

impl Drop for MountTarget {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("warning: {} target teardown: {e}", self.kind.name());
        }
    }
}

/// Runs `mount args` for a `kind` filesystem on loop device `dev`; on failure, the error adds
/// the last thing the kernel logged meanwhile about `kind` on `dev` or on no device (e.g.
/// "ext4: Unknown parameter 'buffered_iomap'"), or points at `dmesg`.
pub(crate) fn mount_fs(mount: &Path, args: &[OsString], kind: MountKind, dev: Option<&str>) -> Result<()> {
    let mut log = KernelLog::from_now();
    run(mount, args, "").map(drop).map_err(|e| {
        let said = log.since(|line| {
            let lower = line.to_ascii_lowercase();
            let about_dev = match dev {
                Some(dev) => lower.contains(&format!("({dev})")),
                None => false,
            };
            lower.contains(kind.name()) && (about_dev || !lower.contains("(loop"))
        });
        let hint = match said.last() {
            Some(line) => format!(" (kernel log: {line})"),
            None => " (`dmesg` says why: an option this kernel does not know?)".to_string(),
        };
        TargetError::Setup(format!("{e}{hint}"))
    })
}

/// The kernel log from some point on (`/dev/kmsg`, readable by root).
pub(crate) struct KernelLog(Option<std::fs::File>);

impl KernelLog {
    /// Starts reading at the end of the log; an unreadable log gives nothing later.
    pub(crate) fn from_now() -> Self {
        use std::io::Seek;
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg");
        KernelLog(file.ok().and_then(|mut f| f.seek(std::io::SeekFrom::End(0)).ok().map(|_| f)))
    }

    /// Messages logged since [`KernelLog::from_now`] that `wanted` accepts.
    pub(crate) fn since(&mut self, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        use std::io::Read;
        let Some(file) = &mut self.0 else { return Vec::new() };
        let mut lines = Vec::new();
        let mut record = [0u8; 8192];
        loop {
            // One read gives one record: "PRIORITY,SEQ,USEC,FLAGS;MESSAGE\n".
            match file.read(&mut record) {
                Ok(0) => break,
                Ok(n) => {
                    let text = String::from_utf8_lossy(&record[..n]);
                    let message = text.split_once(';').map_or("", |(_, m)| m).lines().next().unwrap_or("");
                    if wanted(message) {
                        lines.push(message.to_string());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue, // records overwritten
                Err(_) => break,                                             // EAGAIN: no more
            }
        }
        lines
    }
}

/// Undos in the order their objects were made.
#[derive(Debug, Default)]
pub(crate) struct UndoStack(Vec<CleanupGuard>);

impl UndoStack {
    pub(crate) fn push(&mut self, guard: CleanupGuard) {
        self.0.push(guard);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every undo, newest first; all failures in one error.
    pub(crate) fn unwind(mut self) -> Result<()> {
        let mut failures = Vec::new();
        while let Some(guard) = self.0.pop() {
            if let Err(e) = guard.run() {
                failures.push(e.to_string());
            }
        }
        if failures.is_empty() { Ok(()) } else { Err(TargetError::Setup(failures.join("; "))) }
    }
}

impl Drop for UndoStack {
    /// Undoes newest first (a Vec would drop oldest first).
    fn drop(&mut self) {
        while let Some(guard) = self.0.pop() {
            drop(guard);
        }
    }
}

/// Makes `<dir>/aopsbench-<kind>-<pid>-<n>.<ext>` with `make`, for the first `n` free.
pub(crate) fn make_unique(
    dir: &Path,
    kind: MountKind,
    ext: &str,
    make: impl Fn(&Path) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("aopsbench-{}-{}-{n}.{ext}", kind.name(), std::process::id()));
        match make(&path) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            other => return other.map(|()| path),
        }
    }
}

/// A new sparse file of `size` bytes.
fn make_image(path: &Path, size: u64) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.set_len(size).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

/// Runs `program args`, in its own process group; its stdout, or an error with the first line
/// of its stderr and `hint`.
pub(crate) fn run(program: &Path, args: &[OsString], hint: &str) -> Result<String> {
    let line = || {
        let mut words = vec![program.display().to_string()];
        words.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    };
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .map_err(|e| TargetError::Setup(format!("cannot run {}: {e}", program.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
        return Err(TargetError::Setup(format!("`{}` failed ({}): {why}{hint}", line(), out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `losetup --find --show [--direct-io=on] IMAGE`.
pub(crate) fn attach_loop(losetup: &Path, image: &Path, direct_io: bool) -> Result<LoopDev> {
    let mut args = ["--find", "--show"].map(OsString::from).to_vec();
    if direct_io {
        args.push("--direct-io=on".into());
    }
    args.push(image.into());
    let out = run(losetup, &args, "")?;
    let path = PathBuf::from(out.trim());
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| n.starts_with("loop"));
    let Some(name) = name else {
        return Err(TargetError::Setup(format!("losetup printed '{}', not a loop device", out.trim())));
    };
    let direct_io = std::fs::read_to_string(format!("/sys/block/{name}/loop/dio")).is_ok_and(|s| s.trim() == "1");
    Ok(LoopDev { path, name, direct_io })
}

/// Detaches every loop device attached to `image` (`LOOP_CLR_FD`, as `losetup -d` does), and
/// waits up to [`DETACH_WAIT`] for the kernel to let go of the image (it finishes a detach
/// after the device's last close, which may lag); a device still in use past that detaches
/// when its last user closes it (a [`cleanup::hasty`] cleanup does not wait). Found through `/sys/block/loop*/loop/backing_file`, so that
/// a device number reused by someone else is never touched.
pub(crate) fn detach_loops_of(image: &Path) -> Result<()> {
    let mut result = Ok(());
    for name in loops_of(image)? {
        result = result.and(detach_loop(&name));
    }
    if cleanup::hasty() {
        return result;
    }
    let deadline = std::time::Instant::now() + DETACH_WAIT;
    while std::time::Instant::now() < deadline && !loops_of(image)?.is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    result
}

/// How long a detach waits for the kernel to release the image.
const DETACH_WAIT: Duration = Duration::from_secs(5);

/// The loop devices (`loopN`) attached to `image`.
fn loops_of(image: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir("/sys/block")
        .map_err(|e| TargetError::Os { op: "losetup -d", errno: super::kernel_io::errno_of(&e) })?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| n.starts_with("loop")) else { continue };
        let Ok(backing) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else { continue };
        let backing = backing.trim_end_matches('\n');
        if Path::new(backing.strip_suffix(" (deleted)").unwrap_or(backing)) == image {
            found.push(name.to_string());
        }
    }
    Ok(found)
}

/// `ioctl(LOOP_CLR_FD)` on `/dev/<name>`; an unattached device is success.
fn detach_loop(name: &str) -> Result<()> {
    let dev = c_path(Path::new("/dev").join(name))?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(dev.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(TargetError::Os { op: "open loop device", errno: super::kernel_io::last_errno() });
    }
    // SAFETY: LOOP_CLR_FD takes no argument; fd is open.
    let r = unsafe { libc::ioctl(fd, LOOP_CLR_FD as _, 0) };
    let errno = super::kernel_io::last_errno();
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
    match r {
        0 => Ok(()),
        _ if errno == libc::ENXIO => Ok(()), // already detached
        _ => Err(TargetError::Os { op: "losetup -d", errno }),
    }
}

/// `umount(2)` of `mountpoint`, retrying while busy; then, if `lazy_last`, a lazy unmount
/// (`MNT_DETACH`: the filesystem goes once its last file closes). Not mounted is success. A
/// [`cleanup::hasty`] cleanup unmounts lazily at once.
pub(crate) fn unmount(mountpoint: &Path, lazy_last: bool) -> Result<()> {
    let path = c_path(mountpoint)?;
    if cleanup::hasty() {
        shutdown_fs(&path);
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } == 0 {
            return Ok(());
        }
    }
    for _ in 0..UMOUNT_RETRIES {
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        match super::kernel_io::last_errno() {
            libc::EINVAL | libc::ENOENT => return Ok(()), // not mounted (any more)
            libc::EBUSY => std::thread::sleep(UMOUNT_RETRY_DELAY),
            errno => return Err(TargetError::Os { op: "umount", errno }),
        }
    }
    // SAFETY: as above.
    if lazy_last && unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    Err(TargetError::Setup(format!(
        "umount {}: still busy after {} tries: a process has files open there (fuser -m {})",
        mountpoint.display(),
        UMOUNT_RETRIES,
        mountpoint.display()
    )))
}

/// `ioctl(FS_IOC_SHUTDOWN)` (`<linux/fs.h>`; ext4's `EXT4_IOC_SHUTDOWN`, xfs's
/// `XFS_IOC_GOINGDOWN`): the filesystem stops taking I/O and drops its dirty data.
const FS_IOC_SHUTDOWN: libc::c_ulong = 0x8004_587d;
/// Shut down without flushing the log either (`FS_SHUTDOWN_FLAGS_NOLOGFLUSH`).
const FS_SHUTDOWN_FLAGS_NOLOGFLUSH: u32 = 2;

/// Shuts the filesystem at `mountpoint` down without writing back what is dirty, as xfstests'
/// `godown` does, so that its unmount takes no time: for a [`cleanup::hasty`] cleanup of an
/// image about to be deleted. Filesystems without the ioctl (tmpfs) are left as they are.
fn shutdown_fs(mountpoint: &CString) {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(mountpoint.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    let flags = FS_SHUTDOWN_FLAGS_NOLOGFLUSH;
    // SAFETY: FS_IOC_SHUTDOWN reads one u32 from the pointer; fd is open.
    unsafe {
        libc::ioctl(fd, FS_IOC_SHUTDOWN as _, &flags as *const u32);
        libc::close(fd);
    }
}

pub(crate) fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(TargetError::Os { op: "rmdir", errno: super::kernel_io::errno_of(&e) })
        }
        _ => Ok(()),
    }
}

/// Whether the filesystem mounted at `mountpoint` is read-only now (`statvfs` `ST_RDONLY`:
/// e.g. ext4 after `errors=remount-ro`).
fn is_read_only(mountpoint: &Path) -> bool {
    let Ok(path) = c_path(mountpoint) else { return false };
    // SAFETY: statvfs fills the zeroed struct for a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statvfs(path.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0 }
}

fn c_path(path: impl AsRef<OsStr>) -> Result<CString> {
    CString::new(path.as_ref().as_bytes()).map_err(|_| TargetError::Os { op: "path", errno: libc::EINVAL })
}

impl Target for MountTarget {
    fn kind(&self) -> &str {
        self.kind.name()
    }
    fn teardown(&self) -> Result<()> {
        MountTarget::teardown(self)
    }

    fn spec(&self) -> &str {
        &self.spec
    }

    fn capabilities(&self) -> Capabilities {
        let on_device = self.kind.has_device();
        Capabilities {
            fallocate: self.files.fallocate_modes(),
            remount: if on_device { RemountKind::Real } else { RemountKind::None },
            drop_caches: on_device,
            direct: self.files.direct_ok(),
            stores_data: true,
        }
    }

    fn set_io_mode(&self, mode: IoMode) -> Result<()> {
        self.files.set_io_mode(self.kind.name(), mode)
    }

    super::kernel_files::delegate_file_ops!();

    /// ext4, xfs: `umount` and `mount` of the same loop device, files closed around it. tmpfs:
    /// nothing (unmounting would lose the data).
    fn remount(&self) -> Result<()> {
        if !self.kind.has_device() {
            return Ok(());
        }
        let undo = self.lock_undo();
        if undo.is_empty() {
            return Err(TargetError::Setup(format!("{}: remount after teardown", self.spec)));
        }
        let (mount, args) = &self.mount_cmd;
        self.files.reopen_around(false, || {
            cleanup::section(|| {
                unmount(&self.mountpoint, false)?;
                if let Some(l) = &self.logged {
                    // After a power cut, the device comes back with what it kept.
                    l.state.power_on();
                }
                mount_fs(mount, args, self.kind, self.loop_dev.as_ref().map(|d| d.name.as_str()))
            })?
        })
    }

    fn invalidate(&self, f: FileId) -> Result<()> {
        // tmpfs keeps its pages: fadvise drops nothing there, as under fio.
        if !self.kind.has_device() {
            return Ok(());
        }
        self.files.invalidate(f)
    }

    fn drop_caches(&self) -> Result<()> {
        if !self.kind.has_device() {
            return Ok(());
        }
        self.files.drop_caches()
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let mut counters = self.counters.deltas();
        if let Some(l) = &self.logged {
            counters.extend(l.state.counters());
        }
        counters
    }

    fn disk_util(&self) -> Option<results::DiskUtil> {
        self.counters.disk_util()
    }

    fn reset_counters(&self) {
        self.counters.reset();
        if let Some(l) = &self.logged {
            l.state.reset_counters();
        }
    }
}
