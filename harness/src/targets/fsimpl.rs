//! The `bh` and `iomap` targets: the fsimpl model over a backing file, a block device or RAM.

use super::cleanup::{self, CleanupGuard};
use super::faults::FaultSpec;
use super::safety::{Destroy, check_destroy};
use super::{Capabilities, DiskCheck, FileId, IoMode, PowerControl, RemountKind, Result, Target, TargetError};
use fsimpl::dev::{Backing as DevBacking, BlockDev, DevConfig, Engine, FaultDev, FaultPlan, FaultStats, PowerCut};
use fsimpl::mm::FolioPool;
use fsimpl::{Backend, Fh, FormatOptions, Fs, FsError, MountOptions};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use vocab::target::{Backing as SpecBacking, DevEngine, FsimplSpec};
use vocab::{AopsParams, FallocMode, Size, TargetSpec};

/// Settings a job brings for fsimpl targets; the spec's own parameters win.
#[derive(Clone, Debug, Default)]
pub struct FsimplDefaults {
    /// The job's `aops_*` options.
    pub aops: AopsParams,
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
    fs: Arc<Fs>,
    notices: Vec<String>,
    faults: Option<Faults>,
    /// Deletes the temporary image file (when the target has one) after `fs` is dropped.
    _image: Option<CleanupGuard>,
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
    /// The device faults asked for (re-armed with each new power cut).
    plan: FaultPlan,
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

fn setup_err(spec: &FsimplSpec) -> impl Fn(String) -> TargetError + '_ {
    move |m| TargetError::Setup(format!("target {}: {m}", TargetSpec::Fsimpl(spec.clone())))
}

/// What a `bh` or `iomap` spec (and the job's `aops_*` options) ask for, resolved against
/// fsimpl's defaults and this machine; making the target from it is [`FsimplTarget::create`].
/// Resolving touches nothing.
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
    /// `backing=`.
    pub backing: SpecBacking,
    /// `faults=`.
    pub faults: FaultSpec,
    /// The spec with every default written out (the engine as asked; [`FsimplTarget`] records
    /// the one the device took).
    pub normal: FsimplSpec,
}

impl FsimplConfig {
    /// Resolves the spec's parameters (already checked when it was read), the job's settings
    /// filling in what it leaves out, and checks what depends on this machine (memory) and on
    /// fsimpl (bug names).
    pub fn parse(spec: &FsimplSpec, defaults: &FsimplDefaults) -> Result<FsimplConfig> {
        let err = setup_err(spec);
        let aops = spec.aops.or(defaults.aops);
        aops.validate("").map_err(|e| err(e.expected))?;
        let d = MountOptions::default();
        let block_size = aops.block_size.map_or(4096, Size::bytes);
        let memory = physical_memory();
        let cache = aops.cache.map_or(d.cache_bytes, Size::bytes);
        if cache > memory {
            return Err(err(format!(
                "cache={} is more than this machine's memory ({memory} bytes): lower cache= (or aops_cache=)",
                Size(cache)
            )));
        }
        let bug = match &spec.bug {
            None => None,
            Some(name) => Some(fsimpl::bugs::Bug::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = fsimpl::bugs::Bug::ALL.iter().map(|b| b.name()).collect();
                err(format!("bug={name}: no such seeded bug (known: {})", names.join(", ")))
            })?),
        };
        let size = spec.size.map(Size::bytes).or(defaults.device_bytes).unwrap_or(8 << 30).max(64 << 20) / 4096 * 4096;
        let backing = spec.backing.clone().unwrap_or(SpecBacking::TempFile);
        if backing == SpecBacking::Mem && size > memory {
            return Err(err(format!(
                "size={} with backing=mem is more than this machine's memory ({memory} bytes): lower size=, \
                 or back the device with a file or a block device",
                Size(size)
            )));
        }
        let engine = match spec.engine.unwrap_or_default() {
            DevEngine::Uring => Engine::Uring { queue_depth: spec.qd.unwrap_or(64) },
            DevEngine::Psync => Engine::Psync,
            DevEngine::Mem => Engine::Mem,
        };
        let faults = FaultSpec::new(&spec.faults, block_size);
        let opts = MountOptions {
            backend: spec.backend,
            large_folios: aops.large_folios.unwrap_or(d.large_folios),
            max_folio: aops.max_folio.map_or(d.max_folio, |m| m.0 as u32),
            cache_bytes: cache,
            writeback: aops.writeback.unwrap_or(d.writeback),
            dirty_background_ratio: aops.dirty_background_ratio.unwrap_or(d.dirty_background_ratio),
            dirty_ratio: aops.dirty_ratio.unwrap_or(d.dirty_ratio),
            bug,
            page_poison: spec.poison.unwrap_or(false),
            faults: faults.fs,
            flusher: spec.flusher.unwrap_or(d.flusher),
            dioread_nolock: spec.dioread_nolock.unwrap_or(d.dioread_nolock),
            readahead_kb: spec.ra_kb.or(d.readahead_kb),
            commit_interval: match spec.commit {
                None => d.commit_interval,
                Some(0) => None,
                Some(s) => Some(std::time::Duration::from_secs(s)),
            },
            ..d
        };
        let normal = FsimplSpec {
            backend: spec.backend,
            aops: AopsParams {
                block_size: Some(Size(block_size)),
                max_folio: Some(Size(u64::from(opts.max_folio))),
                large_folios: Some(opts.large_folios),
                cache: Some(Size(cache)),
                writeback: Some(opts.writeback),
                ..aops
            },
            backing: Some(backing.clone()),
            engine: Some(spec.engine.unwrap_or_default()),
            poison: opts.page_poison.then_some(true),
            ..spec.clone()
        };
        Ok(FsimplConfig { backend: spec.backend, block_size, opts, size, engine, backing, faults, normal })
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
    pub fn create(spec: &FsimplSpec, defaults: &FsimplDefaults, pools: &PoolCache) -> Result<FsimplTarget> {
        Self::create_with(spec, defaults, pools, Destroy::Refuse)
    }

    /// [`FsimplTarget::create`], with `--force-destroy` given or not.
    pub fn create_with(
        spec: &FsimplSpec,
        defaults: &FsimplDefaults,
        pools: &PoolCache,
        destroy: Destroy,
    ) -> Result<FsimplTarget> {
        let err = setup_err(spec);
        let FsimplConfig { backend, mut block_size, opts, size, engine, backing, faults, mut normal } =
            FsimplConfig::parse(spec, defaults)?;
        let mut image = None;
        let user_backing = backing != SpecBacking::TempFile && backing != SpecBacking::Mem;
        let backing = match (&spec.image, backing) {
            (Some(path), _) => existing_image(path).map_err(&err)?,
            (None, backing) => match backing {
                SpecBacking::Mem => DevBacking::Mem { size },
                SpecBacking::Path(path) => given_backing(spec, path, size, destroy)?,
                SpecBacking::TempFile => {
                    let (path, guard) = temporary_image(backend.name()).map_err(&err)?;
                    image = Some(guard);
                    DevBacking::File { path, size }
                }
            },
        };
        let mkfs_opts: Option<Vec<String>> =
            spec.mkfs_opts.as_ref().map(|o| o.split_whitespace().map(str::to_string).collect());
        if let Some(o) = &mkfs_opts {
            run_mkfs_ext4(&backing, block_size, o).map_err(&err)?;
        }
        let formatted_elsewhere = spec.image.is_some() || mkfs_opts.is_some();
        if formatted_elsewhere {
            // The block size is the image's.
            block_size = u64::from(image_block_size(&backing).map_err(&err)?);
            normal.aops.block_size = Some(Size(block_size));
            if spec.image.is_some() {
                normal.backing = None;
            }
        }
        let engine = if matches!(backing, DevBacking::Mem { .. }) { Engine::Mem } else { engine };
        let image_path = match &backing {
            DevBacking::File { path, .. } | DevBacking::BlockDevice { path } => Some(path.clone()),
            DevBacking::Mem { .. } => None,
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
        if !formatted_elsewhere {
            Fs::format(dev.as_ref(), &FormatOptions { block_size: block_size as u32, ..FormatOptions::default() })
                .map_err(|e| err(format!("format: {e}")))?;
        }
        let pool = pools.get(opts.cache_bytes)?;
        let fs = Fs::mount_with_pool(dev, opts, pool).map_err(|e| err(format!("mount: {e}")))?;
        if let Some(f) = &fault_dev {
            // `powercut=armed`: the harness starts the undo log when it plans a cut.
            let mut plan = faults.plan.clone();
            if plan.power_cut == Some(PowerCut::OnDemand) {
                plan.power_cut = None;
            }
            f.arm(plan).map_err(|e| err(e.to_string()))?;
        }
        // The engine the device took (psync when io_uring is unavailable, mem for RAM).
        normal.engine = Some(match fs.device().engine_name() {
            "psync" => DevEngine::Psync,
            "mem" => DevEngine::Mem,
            _ => DevEngine::Uring,
        });
        let clean_unmount = (user_backing || spec.image.is_some()) && fault_dev.is_none();
        let plan = faults.plan.clone();
        let faults = fault_dev.map(|dev| Faults { dev, plan, enospc: AtomicU64::new(0), base: Mutex::default() });
        Ok(FsimplTarget {
            kind: backend.name(),
            spec: TargetSpec::Fsimpl(normal).to_string(),
            fs: Arc::new(fs),
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

/// The device a `backing=PATH` names, checked, making and opening nothing: a block device or a
/// file (either refused when it holds something, unless `destroy`; see [`check_destroy`]); a
/// path under `/dev` that does not exist is refused rather than made an image file there.
pub(crate) fn given_backing(spec: &FsimplSpec, path: PathBuf, size: u64, destroy: Destroy) -> Result<DevBacking> {
    if path.metadata().is_ok_and(|m| is_block_device(&m)) {
        check_destroy(&path, destroy)?;
        return Ok(DevBacking::BlockDevice { path });
    }
    if path.starts_with("/dev/") && !path.exists() {
        return Err(setup_err(spec)(format!(
            "no such device {}: give an existing block device, or a path outside /dev for an image file",
            path.display()
        )));
    }
    check_destroy(&path, destroy)?;
    Ok(DevBacking::File { path, size })
}

/// Whether an fsimpl target can do the I/O `mode` asks for: buffered I/O only, as fsimpl models
/// the page cache (io_uring or psync both come to the same buffered ops).
pub(crate) fn check_io_mode(kind: &str, mode: IoMode) -> Result<()> {
    if mode.direct {
        return Err(TargetError::Unsupported {
            target: kind.into(),
            what: "direct=1 (fsimpl models buffered I/O only: run O_DIRECT jobs on a kernel target)".into(),
        });
    }
    Ok(())
}

/// A new, empty image file `<tmp>/aopsbench-<kind>-<pid>-<random>.img` for a target without a
/// `backing=`, and the guard that deletes it: when the target is dropped or torn down, and on
/// Ctrl-C or SIGTERM (see [`cleanup`]). Made inside a cleanup section, so that a signal cannot
/// fall between the file's creation and its undo's registration.
fn temporary_image(kind: &str) -> std::result::Result<(PathBuf, CleanupGuard), String> {
    let dir = std::env::temp_dir();
    cleanup::section(|| {
        let file = tempfile::Builder::new()
            .prefix(&format!("aopsbench-{kind}-{}-", std::process::id()))
            .suffix(".img")
            .tempfile_in(&dir)
            .map_err(|e| format!("cannot create a backing file in {}: {e}", dir.display()))?;
        let (_, path) = file.keep().map_err(|e| format!("cannot keep the backing file: {e}"))?;
        let undo = path.clone();
        let guard = cleanup::register(format!("image {}", path.display()), move || cleanup::remove_file(&undo));
        Ok((path, guard))
    })
    .map_err(|e| e.to_string())?
}

/// The backing of `image=PATH`: an existing ext4 image file or block device, not in use.
fn existing_image(path: &std::path::Path) -> std::result::Result<DevBacking, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "image={}: {e}: give an existing ext4 image or block device (or backing= for a new one)",
            path.display()
        )
    })?;
    super::safety::check_not_in_use(path).map_err(|e| e.to_string())?;
    if is_block_device(&meta) {
        Ok(DevBacking::BlockDevice { path: path.into() })
    } else if meta.is_file() {
        Ok(DevBacking::File { path: path.into(), size: meta.len() / 4096 * 4096 })
    } else {
        Err(format!("image={} is neither a file nor a block device", path.display()))
    }
}

/// `mkfs.ext4 -q -F -b BS -L aopsbench OPTS... PATH`: every mkfs option works, the label
/// marks the image as the harness's (options may override it).
fn run_mkfs_ext4(backing: &DevBacking, block_size: u64, opts: &[String]) -> std::result::Result<(), String> {
    let path = match backing {
        DevBacking::File { path, size } => {
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
        DevBacking::BlockDevice { path } => path.clone(),
        DevBacking::Mem { .. } => return Err("mkfs_opts= needs a file or block device".into()),
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
fn image_block_size(backing: &DevBacking) -> std::result::Result<u32, String> {
    let path = match backing {
        DevBacking::File { path, .. } | DevBacking::BlockDevice { path } => path,
        DevBacking::Mem { .. } => return Ok(4096),
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

impl Target for FsimplTarget {
    fn kind(&self) -> &str {
        self.kind
    }
    fn spec(&self) -> &str {
        &self.spec
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fallocate: FallocMode::ALL.to_vec(),
            remount: RemountKind::Real,
            drop_caches: true,
            direct: false,
            stores_data: true,
        }
    }
    fn set_io_mode(&self, mode: IoMode) -> Result<()> {
        check_io_mode(self.kind, mode)
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
        self.note(self.fs.fallocate(fh(f), mode, off, len).map_err(fs_err("fallocate")))
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
        if self.faults.as_ref().is_some_and(|f| f.dev.is_cut()) {
            return self.reboot();
        }
        self.fs.remount().map_err(fs_err("remount"))?;
        self.reboot()
    }
    fn can_cut_power(&self) -> bool {
        self.faults.as_ref().is_some_and(|f| f.plan.power_cut.is_some())
    }
    fn power_cuts(&self) -> u64 {
        self.faults.as_ref().map_or(0, |f| f.dev.fault_stats().power_cuts)
    }
    /// Logging, idling and cutting re-arm the device's plan (bio numbers of its other faults
    /// count from then on).
    fn power(&self, ctl: PowerControl) -> Result<()> {
        let f = self.faults.as_ref().filter(|f| f.plan.power_cut.is_some()).ok_or_else(|| {
            TargetError::Setup(format!("target {}: a power cut needs faults=powercut=...", self.spec))
        })?;
        let logging = |cut| FaultPlan { power_cut: cut, ..f.plan.clone() };
        let r = match ctl {
            PowerControl::Log => f.dev.arm(logging(Some(PowerCut::OnDemand))),
            PowerControl::Idle => f.dev.arm(logging(None)),
            PowerControl::CutNow => f.dev.power_cut(),
            PowerControl::CutAfterWrites(n) => f.dev.cut_after_writes(n),
        };
        r.map_err(|e| TargetError::Setup(format!("target {}: power: {e}", self.spec)))
    }
    /// Powers the device on after a cut and mounts the filesystem from what it kept
    /// ([`Fs::crash_and_remount`]).
    fn reboot(&self) -> Result<()> {
        match self.faults.as_ref().filter(|f| f.dev.is_cut()) {
            Some(f) => {
                f.dev.power_on();
                self.fs.crash_and_remount().map_err(fs_err("remount"))
            }
            None => Ok(()),
        }
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
    /// An asynchronous engine at a queue depth above 1 runs on [`IoWqEngine`], as io_uring (and
    /// libaio and POSIX AIO, whose buffered I/O blocks in submission or in a helper thread)
    /// would run it on ext4; the synchronous engines do each I/O in the job thread.
    fn engine(
        &self,
        cfg: &crate::engines::EngineConfig,
        files: &[FileId],
    ) -> Result<Option<Box<dyn crate::engines::Engine>>> {
        if !cfg.engine.is_async() {
            return Ok(None);
        }
        let e = crate::engines::iowq::IoWqEngine::new(Arc::clone(&self.fs), cfg, files)?;
        Ok(Some(Box::new(e)))
    }
}
