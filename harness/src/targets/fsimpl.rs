//! The `bh` and `iomap` targets: the fsimpl model over a backing file, a block device or RAM.

use super::faults::{FaultSpec, format_faults, parse_faults};
use super::safety::{Destroy, check_destroy};
use super::spec::TargetSpec;
use super::{Capabilities, DiskCheck, FileId, IoMode, RemountKind, Result, Target, TargetError};
use fsimpl::dev::{Backing, BlockDev, DevConfig, Engine, FaultDev, FaultStats};
use fsimpl::mm::{FolioPool, WritebackMode};
use fsimpl::{Backend, Fh, FormatOptions, Fs, FsError, MountOptions};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use workloads::FallocMode;

/// Settings a job brings for fsimpl targets (its `aops_*` options); the spec's own
/// parameters win.
#[derive(Clone, Debug, Default)]
pub struct FsimplDefaults {
    /// `aops_block_size`.
    pub block_size: Option<u64>,
    /// `aops_max_folio`.
    pub max_folio: Option<u64>,
    /// `aops_large_folios`.
    pub large_folios: Option<bool>,
    /// `aops_cache`.
    pub cache: Option<u64>,
    /// `aops_writeback`.
    pub writeback: Option<WritebackMode>,
    /// `aops_dirty_background_ratio`.
    pub dirty_background_ratio: Option<u32>,
    /// `aops_dirty_ratio`.
    pub dirty_ratio: Option<u32>,
    /// Device size the job needs (its files), when the spec gives none.
    pub device_bytes: Option<u64>,
}

/// Page-cache pools kept across mounts, by size, so their memory is faulted in once per run.
#[derive(Default)]
pub struct PoolCache {
    pools: Mutex<HashMap<u64, Arc<FolioPool>>>,
}

impl PoolCache {
    fn get(&self, bytes: u64) -> Result<Arc<FolioPool>> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pools.get(&bytes)
            && p.free_bytes() == p.bytes()
            && Arc::strong_count(p) == 1
        {
            return Ok(p.clone());
        }
        let pool = Arc::new(FolioPool::new(bytes).map_err(|e| TargetError::Setup(e.to_string()))?);
        pools.insert(bytes, pool.clone());
        Ok(pool)
    }
}

/// A `bh` or `iomap` target.
pub struct FsimplTarget {
    kind: &'static str,
    spec: String,
    fs: Fs,
    notices: Vec<String>,
    faults: Option<Faults>,
    _image: Option<tempfile::TempPath>,
    /// Unmount cleanly at teardown: the image outlives the run (`image=`, `backing=PATH`)
    /// and no faults were injected.
    clean_unmount: bool,
    /// The image file or block device, when there is one (not RAM).
    image_path: Option<PathBuf>,
}

/// The faults of a target made with `faults=`: the device that injects them and the counts
/// at the last counter reset.
struct Faults {
    dev: Arc<FaultDev>,
    /// Ops that failed with ENOSPC while an allocation limit was set.
    enospc: AtomicU64,
    base: Mutex<(FaultStats, u64)>,
}

fn fs_err(op: &'static str) -> impl Fn(FsError) -> TargetError {
    move |e| match e {
        FsError::Unsupported { what } => TargetError::Unsupported { target: "fsimpl".into(), what: what.into() },
        e => TargetError::Os { op, errno: e.errno() },
    }
}

fn setup_err(spec: &TargetSpec) -> impl Fn(String) -> TargetError + '_ {
    move |m| TargetError::Setup(format!("target {spec}: {m}"))
}

/// What a `bh` or `iomap` spec (and the job's `aops_*` options) ask for, checked; making the
/// target from it is [`FsimplTarget::create`]. Parsing touches nothing.
#[derive(Clone, Debug)]
pub struct FsimplConfig {
    /// The backend.
    pub backend: Backend,
    /// Filesystem block size.
    pub block_size: u64,
    /// Mount options (backend, folios, cache, writeback, seeded bug, poisoning, allocator faults).
    pub opts: MountOptions,
    /// Device size for a file or RAM backing.
    pub size: u64,
    /// The engine asked for (RAM backings always use the mem engine).
    pub engine: Engine,
    /// `backing=`: None for a temporary image file.
    pub backing: Option<String>,
    /// `faults=`.
    pub faults: FaultSpec,
    /// `image=`: an existing ext4 image or block device to mount instead of formatting one.
    pub image: Option<String>,
    /// `mkfs_opts=`: format with `mkfs.ext4` and these options (space-separated) instead of
    /// fsimpl's own mkfs.
    pub mkfs_opts: Option<Vec<String>>,
}

impl FsimplConfig {
    /// Reads and checks the spec's parameters, the job's settings filling in what it leaves out.
    pub fn parse(spec: &TargetSpec, defaults: &FsimplDefaults) -> Result<FsimplConfig> {
        let err = setup_err(spec);
        let backend = if spec.kind == "bh" { Backend::BufferHead } else { Backend::Iomap };
        let block_size = spec.size("block_size")?.or(defaults.block_size).unwrap_or(4096);
        if ![1024, 2048, 4096].contains(&block_size) {
            return Err(err(format!("block_size={block_size}: use 1024, 2048 or 4096")));
        }
        let max_folio = spec.size("max_folio")?.or(defaults.max_folio).unwrap_or(2 << 20);
        if !max_folio.is_power_of_two() || !(4096..=2 << 20).contains(&max_folio) {
            return Err(err(format!("max_folio={max_folio}: use a power of two from 4k to 2m")));
        }
        let large_folios = match spec.get("large_folios") {
            Some("1" | "true" | "on") => true,
            Some("0" | "false" | "off") => false,
            Some(v) => return Err(err(format!("large_folios={v}: use 1 or 0"))),
            None => defaults.large_folios.unwrap_or(false),
        };
        let memory = physical_memory();
        let cache = spec.size("cache")?.or(defaults.cache).unwrap_or(1 << 30);
        if cache > memory {
            return Err(err(format!(
                "cache={cache} is more than this machine's memory ({memory} bytes): lower cache= (or aops_cache=)"
            )));
        }
        let writeback = match spec.get("writeback") {
            Some(v) => v.parse::<WritebackMode>().map_err(&err)?,
            None => defaults.writeback.unwrap_or_default(),
        };
        let page_poison = match spec.get("poison") {
            Some("1" | "true" | "on") => true,
            Some("0" | "false" | "off") | None => false,
            Some(v) => return Err(err(format!("poison={v}: use 1 or 0"))),
        };
        let bug = match spec.get("bug") {
            None => None,
            Some(name) => Some(fsimpl::bugs::Bug::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = fsimpl::bugs::Bug::ALL.iter().map(|b| b.name()).collect();
                err(format!("bug={name}: no such seeded bug (known: {})", names.join(", ")))
            })?),
        };
        let size = spec.size("size")?.or(defaults.device_bytes).unwrap_or(8 << 30).max(64 << 20) / 4096 * 4096;
        let backing = spec.get("backing").map(str::to_string);
        if backing.as_deref() == Some("mem") && size > memory {
            return Err(err(format!(
                "size={size} with backing=mem is more than this machine's memory ({memory} bytes): lower size=, \
                 or back the device with a file or a block device"
            )));
        }
        let engine = match spec.get("engine").unwrap_or("uring") {
            "uring" => {
                let qd = spec.size("qd")?.unwrap_or(64);
                Engine::Uring { queue_depth: qd.clamp(1, 4096) as u32 }
            }
            "psync" => Engine::Psync,
            other => return Err(err(format!("engine={other}: use uring or psync"))),
        };
        let faults = match spec.get("faults") {
            Some(v) => parse_faults(v, block_size).map_err(&err)?,
            None => FaultSpec::default(),
        };
        let image = spec.get("image").map(str::to_string);
        let mkfs_opts = spec.get("mkfs_opts").map(|o| o.split_whitespace().map(str::to_string).collect::<Vec<_>>());
        if image.is_some() {
            for p in ["backing", "size", "mkfs_opts", "block_size"] {
                if spec.get(p).is_some() {
                    return Err(err(format!("image= mounts an existing filesystem: drop {p}= (it is the image's)")));
                }
            }
        }
        if mkfs_opts.is_some() && backing.as_deref() == Some("mem") {
            return Err(err(
                "mkfs_opts= runs mkfs.ext4, which needs a file or block device: drop backing=mem".to_string()
            ));
        }
        // ext4's `commit=`: seconds between journal commits; 0: only when asked.
        let commit_interval = match spec.get("commit") {
            None => Some(std::time::Duration::from_secs(5)),
            Some(v) => match v.parse::<u64>() {
                Ok(0) => None,
                Ok(n) if n <= 86400 => Some(std::time::Duration::from_secs(n)),
                _ => return Err(err(format!("commit={v}: give seconds from 0 (only on fsync and sync) to 86400"))),
            },
        };
        let mut opts = MountOptions {
            backend,
            large_folios,
            max_folio: max_folio as u32,
            cache_bytes: cache,
            writeback,
            bug,
            page_poison,
            faults: faults.fs,
            commit_interval,
            ..MountOptions::default()
        };
        if let Some(r) = defaults.dirty_background_ratio {
            opts.dirty_background_ratio = r;
        }
        if let Some(r) = defaults.dirty_ratio {
            opts.dirty_ratio = r;
        }
        Ok(FsimplConfig { backend, block_size, opts, size, engine, backing, faults, image, mkfs_opts })
    }
}

/// Bytes of RAM in this machine (`sysconf(_SC_PHYS_PAGES)`); unlimited if it cannot say.
fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    match (u64::try_from(pages), u64::try_from(page)) {
        (Ok(p), Ok(s)) if p > 0 && s > 0 => p.saturating_mul(s),
        _ => u64::MAX,
    }
}

impl FsimplTarget {
    /// Formats and mounts a fresh filesystem as `spec` says, refusing to overwrite a `backing=`
    /// that holds something (see [`super::safety`]).
    pub fn create(spec: &TargetSpec, defaults: &FsimplDefaults, pools: &PoolCache) -> Result<FsimplTarget> {
        Self::create_with(spec, defaults, pools, Destroy::Refuse)
    }

    /// [`FsimplTarget::create`], with `--force-destroy` given or not.
    pub fn create_with(
        spec: &TargetSpec,
        defaults: &FsimplDefaults,
        pools: &PoolCache,
        destroy: Destroy,
    ) -> Result<FsimplTarget> {
        let err = setup_err(spec);
        let FsimplConfig { backend, mut block_size, opts, size, engine, backing, faults, image: user_image, mkfs_opts } =
            FsimplConfig::parse(spec, defaults)?;
        let kind = backend.name();
        let mut image = None;
        let backing = match (user_image.as_deref(), backing.as_deref()) {
            (Some(path), _) => existing_image(path).map_err(&err)?,
            (None, backing) => match backing {
                Some("mem") => Backing::Mem { size },
                Some(path) if std::path::Path::new(path).metadata().is_ok_and(|m| is_block_device(&m)) => {
                    check_destroy(path.as_ref(), destroy)?;
                    Backing::BlockDevice { path: path.into() }
                }
                Some(path) if path.starts_with("/dev/") && !std::path::Path::new(path).exists() => {
                    return Err(err(format!(
                        "no such device {path}: give an existing block device, or a path outside /dev \
                     for an image file"
                    )));
                }
                Some(path) => {
                    check_destroy(path.as_ref(), destroy)?;
                    Backing::File { path: path.into(), size }
                }
                None => {
                    let tmp = tempfile::Builder::new()
                        .prefix("aopsbench-")
                        .suffix(".img")
                        .tempfile_in(std::env::temp_dir())
                        .map_err(|e| {
                            err(format!("cannot create a backing file in {}: {e}", std::env::temp_dir().display()))
                        })?
                        .into_temp_path();
                    let path: PathBuf = tmp.to_path_buf();
                    image = Some(tmp);
                    Backing::File { path, size }
                }
            },
        };
        if let Some(opts) = &mkfs_opts {
            run_mkfs_ext4(&backing, block_size, opts).map_err(&err)?;
        }
        if user_image.is_some() || mkfs_opts.is_some() {
            // The block size is the image's.
            block_size = image_block_size(&backing).map_err(&err)? as u64;
        }
        let engine = if matches!(backing, Backing::Mem { .. }) { Engine::Mem } else { engine };
        let image_path = match &backing {
            Backing::File { path, .. } | Backing::BlockDevice { path } => Some(path.clone()),
            Backing::Mem { .. } => None,
        };
        let cfg = DevConfig { engine, backing, direct: true, min_io_align: block_size as u32 };
        let opened = fsimpl::dev::open(&cfg).map_err(|e| err(e.to_string()))?;
        // With faults, the device is wrapped; the plan is armed once the filesystem is mounted.
        let fault_dev = match faults.is_empty() {
            true => None,
            false => {
                Some(Arc::new(FaultDev::new(opened.dev.clone(), Default::default()).map_err(|e| err(e.to_string()))?))
            }
        };
        let dev: Arc<dyn BlockDev> = match &fault_dev {
            Some(f) => f.clone(),
            None => opened.dev,
        };
        if user_image.is_none() && mkfs_opts.is_none() {
            Fs::format(dev.as_ref(), &FormatOptions { block_size: block_size as u32, ..FormatOptions::default() })
                .map_err(|e| err(format!("format: {e}")))?;
        }
        let pool = pools.get(opts.cache_bytes)?;
        let fs = Fs::mount_with_pool(dev, opts, pool).map_err(|e| err(format!("mount: {e}")))?;
        if let Some(f) = &fault_dev {
            f.arm(faults.plan.clone()).map_err(|e| err(e.to_string()))?;
        }
        let mut normal = TargetSpec { kind: kind.into(), params: vec![] };
        normal.params.push(("block_size".into(), block_size.to_string()));
        normal.params.push(("max_folio".into(), opts.max_folio.to_string()));
        if backend == Backend::BufferHead {
            normal.params.push(("large_folios".into(), (opts.large_folios as u8).to_string()));
        }
        normal.params.push(("cache".into(), opts.cache_bytes.to_string()));
        normal.params.push(("writeback".into(), format!("{:?}", opts.writeback).to_lowercase()));
        match &user_image {
            Some(p) => normal.params.push(("image".into(), p.clone())),
            None => normal.params.push(("backing".into(), spec.get("backing").unwrap_or("tempfile").to_string())),
        }
        if let Some(o) = &mkfs_opts {
            normal.params.push(("mkfs_opts".into(), o.join(" ")));
        }
        if opts.commit_interval != MountOptions::default().commit_interval {
            normal.params.push(("commit".into(), opts.commit_interval.map_or(0, |d| d.as_secs()).to_string()));
        }
        normal.params.push(("engine".into(), fs.device().engine_name().to_string()));
        if opts.page_poison {
            normal.params.push(("poison".into(), "1".into()));
        }
        if let Some(b) = opts.bug {
            normal.params.push(("bug".into(), b.name().into()));
        }
        if !faults.is_empty() {
            normal.params.push(("faults".into(), format_faults(&faults, block_size)));
        }
        let clean_unmount = image.is_none() && fault_dev.is_none() && spec.get("backing") != Some("mem");
        let faults = fault_dev.map(|dev| Faults { dev, enospc: AtomicU64::new(0), base: Mutex::default() });
        Ok(FsimplTarget {
            kind,
            spec: normal.to_string(),
            fs,
            notices: opened.notices,
            faults,
            _image: image,
            clean_unmount,
            image_path,
        })
    }

    /// The filesystem.
    pub fn fs(&self) -> &Fs {
        &self.fs
    }

    /// The fault device, when the target was made with `faults=`.
    pub fn fault_dev(&self) -> Option<&Arc<FaultDev>> {
        self.faults.as_ref().map(|f| &f.dev)
    }

    /// Cuts the power now (the device keeps an undo log only with `faults=powercut=N`):
    /// writes since the last flush are undone, later ones dropped until [`Target::remount`].
    pub fn power_cut(&self) -> Result<()> {
        let Some(f) = &self.faults else {
            return Err(TargetError::Setup(format!("target {}: a power cut needs faults=powercut=N", self.spec)));
        };
        f.dev.power_cut().map_err(|e| TargetError::Setup(format!("target {}: power cut: {e}", self.spec)))
    }

    /// Counts an op that failed with ENOSPC under an allocation limit.
    fn note<T>(&self, r: Result<T>) -> Result<T> {
        if let (Some(f), Err(TargetError::Os { errno: libc::ENOSPC, .. })) = (&self.faults, &r)
            && self.fs.options().faults.alloc_limit.is_some()
        {
            f.enospc.fetch_add(1, Relaxed);
        }
        r
    }
}

/// The backing of `image=PATH`: an existing ext4 image file or block device, not in use.
fn existing_image(path: &str) -> std::result::Result<Backing, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!("image={path}: {e}: give an existing ext4 image or block device (or backing= for a new one)")
    })?;
    super::safety::check_not_in_use(path.as_ref()).map_err(|e| e.to_string())?;
    if is_block_device(&meta) {
        Ok(Backing::BlockDevice { path: path.into() })
    } else if meta.is_file() {
        Ok(Backing::File { path: path.into(), size: meta.len() / 4096 * 4096 })
    } else {
        Err(format!("image={path} is neither a file nor a block device"))
    }
}

/// `mkfs.ext4 -q -F -b BS -L aopsbench OPTS... PATH`: every mkfs option works, the label
/// marks the image as the harness's (options may override it).
fn run_mkfs_ext4(backing: &Backing, block_size: u64, opts: &[String]) -> std::result::Result<(), String> {
    let path = match backing {
        Backing::File { path, size } => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            if f.metadata().map(|m| m.len()).unwrap_or(0) < *size {
                f.set_len(*size).map_err(|e| format!("cannot size {}: {e}", path.display()))?;
            }
            path.clone()
        }
        Backing::BlockDevice { path } => path.clone(),
        Backing::Mem { .. } => return Err("mkfs_opts= needs a file or block device".into()),
    };
    let out = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", &block_size.to_string(), "-L", "aopsbench"])
        .args(opts)
        .arg(&path)
        .output()
        .map_err(|e| format!("mkfs_opts= runs mkfs.ext4, which cannot be started ({e}): install e2fsprogs"))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
        return Err(format!("mkfs.ext4 {} failed: {line}", opts.join(" ")));
    }
    Ok(())
}

/// The block size of the ext4 filesystem on `backing` (its superblock at byte 1024).
fn image_block_size(backing: &Backing) -> std::result::Result<u32, String> {
    let path = match backing {
        Backing::File { path, .. } | Backing::BlockDevice { path } => path,
        Backing::Mem { .. } => return Ok(4096),
    };
    let mut sb = [0u8; 1024];
    std::os::unix::fs::FileExt::read_exact_at(
        &std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        &mut sb,
        1024,
    )
    .map_err(|e| format!("cannot read the superblock of {}: {e}", path.display()))?;
    if sb[56..58] != [0x53, 0xEF] {
        return Err(format!("{} holds no ext4 filesystem (no superblock magic at byte 1080)", path.display()));
    }
    let log = u32::from_le_bytes(sb[24..28].try_into().expect("4 bytes"));
    1024u32
        .checked_shl(log)
        .filter(|b| [1024, 2048, 4096].contains(b))
        .ok_or_else(|| format!("{}: block size 1024 << {log}: fsimpl handles 1024, 2048 and 4096", path.display()))
}

/// Copies a device's bytes into a new image file.
fn export_device(dev: &dyn BlockDev, path: &std::path::Path) -> std::result::Result<(), String> {
    let f = std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.set_len(dev.size()).map_err(|e| e.to_string())?;
    let chunk = 1u64 << 20;
    let mut at = 0;
    while at < dev.size() {
        let n = chunk.min(dev.size() - at);
        let b = fsimpl::core::io::read_blocks(dev, 512, at / 512, (n / 512) as usize).map_err(|e| e.to_string())?;
        std::os::unix::fs::FileExt::write_all_at(&f, &b, at).map_err(|e| e.to_string())?;
        at += n;
    }
    Ok(())
}

/// `e2fsck -fn IMAGE`: `None` when clean, else its first complaints on one line.
fn e2fsck_problem(path: &std::path::Path) -> std::result::Result<Option<String>, String> {
    let out = std::process::Command::new("e2fsck")
        .arg("-fn")
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run e2fsck ({e}): install e2fsprogs"))?;
    if out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Pass ") && !l.starts_with("e2fsck ") && !l.contains("files ("))
        .take(3)
        .collect();
    Ok(Some(format!("e2fsck -fn exits {}: {}", out.status.code().unwrap_or(-1), lines.join(" / "))))
}

/// A read-only loop mount of the image by the kernel; every file of `expect` must read back
/// the same. `None` when it does.
fn kernel_problem(path: &std::path::Path, expect: &[(String, Vec<u8>)]) -> std::result::Result<Option<String>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("a kernel mount needs root: run as root, or drop --check kernel".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("mount")
        .args(["-t", "ext4", "-o", "loop,ro,noload"])
        .arg(path)
        .arg(&mnt)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().replace('\n', " ");
        return Ok(Some(format!("the kernel does not mount the image: {why}")));
    }
    let mut problem = None;
    for (name, want) in expect {
        match std::fs::read(mnt.join(name)) {
            Err(e) => problem = Some(format!("the kernel cannot read {name}: {e}")),
            Ok(got) if got.len() != want.len() => {
                problem = Some(format!("the kernel reads {} bytes of {name}, the model has {}", got.len(), want.len()))
            }
            Ok(got) => {
                if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
                    problem = Some(format!("the kernel reads {name} differently from byte {i} on"));
                }
            }
        }
        if problem.is_some() {
            break;
        }
    }
    let umount = std::process::Command::new("umount").arg(&mnt).status();
    if !umount.is_ok_and(|s| s.success()) {
        return Err(format!("cannot unmount {}", mnt.display()));
    }
    Ok(problem)
}

fn is_block_device(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_block_device()
}

fn fh(f: FileId) -> Fh {
    Fh(f.0)
}

/// The fsimpl fallocate mode for a workload's.
pub fn falloc_mode(m: FallocMode) -> fsimpl::FallocMode {
    match m {
        FallocMode::Allocate => fsimpl::FallocMode::Allocate,
        FallocMode::KeepSize => fsimpl::FallocMode::KeepSize,
        FallocMode::PunchHole => fsimpl::FallocMode::PunchHole,
        FallocMode::ZeroRange => fsimpl::FallocMode::ZeroRange,
        FallocMode::ZeroRangeKeepSize => fsimpl::FallocMode::ZeroRangeKeepSize,
        FallocMode::CollapseRange => fsimpl::FallocMode::CollapseRange,
        FallocMode::InsertRange => fsimpl::FallocMode::InsertRange,
    }
}

impl Target for FsimplTarget {
    fn kind(&self) -> &str {
        self.kind
    }
    fn spec(&self) -> &str {
        &self.spec
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fallocate: vec![
                FallocMode::Allocate,
                FallocMode::KeepSize,
                FallocMode::PunchHole,
                FallocMode::ZeroRange,
                FallocMode::ZeroRangeKeepSize,
                FallocMode::CollapseRange,
                FallocMode::InsertRange,
            ],
            remount: RemountKind::Real,
            drop_caches: true,
            direct: false,
            stores_data: true,
        }
    }
    fn set_io_mode(&self, mode: IoMode) -> Result<()> {
        if mode.direct {
            return Err(TargetError::Unsupported {
                target: self.kind.into(),
                what: "direct=1 (fsimpl models buffered I/O only)".into(),
            });
        }
        Ok(())
    }
    fn open(&self, name: &str, create: bool) -> Result<FileId> {
        let r = if create { self.fs.open_or_create(name) } else { self.fs.open(name) };
        r.map(|f| FileId(f.0)).map_err(fs_err("open"))
    }
    fn close(&self, _f: FileId) -> Result<()> {
        Ok(())
    }
    fn unlink(&self, name: &str) -> Result<()> {
        self.fs.unlink(name).map_err(fs_err("unlink"))
    }
    fn read(&self, f: FileId, off: u64, buf: &mut [u8]) -> Result<usize> {
        self.fs.read(fh(f), off, buf).map_err(fs_err("read"))
    }
    fn write(&self, f: FileId, off: u64, data: &[u8]) -> Result<usize> {
        self.note(self.fs.write(fh(f), off, data).map_err(fs_err("write")))
    }
    fn truncate(&self, f: FileId, size: u64) -> Result<()> {
        self.fs.truncate(fh(f), size).map_err(fs_err("truncate"))
    }
    fn fallocate(&self, f: FileId, mode: FallocMode, off: u64, len: u64) -> Result<()> {
        self.note(self.fs.fallocate(fh(f), falloc_mode(mode), off, len).map_err(fs_err("fallocate")))
    }
    fn fsync(&self, f: FileId) -> Result<()> {
        self.fs.fsync(fh(f)).map_err(fs_err("fsync"))
    }
    fn fdatasync(&self, f: FileId) -> Result<()> {
        self.fs.fdatasync(fh(f)).map_err(fs_err("fdatasync"))
    }
    fn size(&self, f: FileId) -> Result<u64> {
        self.fs.stat(fh(f)).map(|s| s.size).map_err(fs_err("fstat"))
    }
    /// Unmounts and mounts again. After a power cut the unmount could write nothing, so the
    /// device is powered on and the filesystem mounted from what it kept
    /// ([`Fs::crash_and_remount`]); a cut during the unmount itself is handled the same way.
    fn remount(&self) -> Result<()> {
        let cut = self.faults.as_ref().filter(|f| f.dev.is_cut());
        if let Some(f) = cut {
            f.dev.power_on();
            return self.fs.crash_and_remount().map_err(fs_err("remount"));
        }
        self.fs.remount().map_err(fs_err("remount"))?;
        if let Some(f) = self.faults.as_ref().filter(|f| f.dev.is_cut()) {
            f.dev.power_on();
            self.fs.crash_and_remount().map_err(fs_err("remount"))?;
        }
        Ok(())
    }
    fn drop_caches(&self) -> Result<()> {
        self.fs.drop_caches().map_err(fs_err("drop_caches"))
    }
    fn counters(&self) -> BTreeMap<String, u64> {
        let mut c: BTreeMap<String, u64> = self.fs.stats().to_pairs().into_iter().collect();
        if let Some(f) = &self.faults {
            let (base, enospc) = f.base.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let now = f.dev.fault_stats();
            for ((name, v), (_, b)) in now.to_pairs().into_iter().zip(base.to_pairs()) {
                c.insert(name.into(), v - b);
            }
            c.insert("fault_enospc".into(), f.enospc.load(Relaxed) - enospc);
        }
        c
    }
    fn reset_counters(&self) {
        self.fs.reset_stats();
        if let Some(f) = &self.faults {
            *f.base.lock().unwrap_or_else(|p| p.into_inner()) = (f.dev.fault_stats(), f.enospc.load(Relaxed));
        }
    }
    fn notices(&self) -> Vec<String> {
        self.notices.clone()
    }
    fn check_disk(&self, check: DiskCheck, expect: &[(String, Vec<u8>)]) -> Result<Option<String>> {
        let err = |m: String| TargetError::Setup(format!("target {}: --check {}: {m}", self.spec, check.name()));
        let image_path = self.image_path.clone();
        self.fs
            .with_unmounted(|dev| -> std::result::Result<Option<String>, String> {
                // A RAM device is copied to a file for the tools.
                let tmp;
                let path = match &image_path {
                    Some(p) => p.clone(),
                    None => {
                        tmp = tempfile::Builder::new()
                            .prefix("aopsbench-check-")
                            .suffix(".img")
                            .tempfile()
                            .map_err(|e| e.to_string())?;
                        export_device(dev.as_ref(), tmp.path())?;
                        tmp.path().to_path_buf()
                    }
                };
                match check {
                    DiskCheck::E2fsck => e2fsck_problem(&path),
                    DiskCheck::Kernel => kernel_problem(&path, expect),
                }
            })
            .map_err(fs_err("remount"))?
            .map_err(err)
    }
    /// Unmounts cleanly: the image is left consistent (journal checkpointed), which matters
    /// for a user's `image=`.
    fn teardown(&self) -> Result<()> {
        if !self.clean_unmount {
            return Ok(());
        }
        self.fs.unmount_in_place().map_err(fs_err("unmount"))
    }
}
