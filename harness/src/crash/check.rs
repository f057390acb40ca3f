//! Checking one crash state on the real kernel: the FUSE server serves it on its `crash`
//! file, a fresh loop device attaches there, the filesystem mounts (journal or log recovery
//! runs, its writes landing in the state's copy-on-write store), every file is read back,
//! the filesystem unmounts, and `e2fsck -fn` or `xfs_repair -n` checks what is left.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::CrashError;
use super::record::file_name;
use crate::targets::cleanup;
use crate::targets::fusedev::{self, DevState, ExtentMap, FuseMount};
use crate::targets::mount::{
    MountKind, UndoStack, attach_loop, detach_loops_of, make_unique, mount_fs, remove_dir, unmount,
};
use crate::targets::{Result as TResult, TargetError};

/// What a crash state showed.
#[derive(Clone, Debug)]
pub enum Seen {
    /// It mounted: each file's bytes (`None`: missing; `Err`: an errno reading it), and what
    /// fsck found after the unmount (`None`: clean).
    Mounted {
        /// Per file.
        files: Vec<Result<Option<Vec<u8>>, i32>>,
        /// fsck's complaint.
        fsck: Option<String>,
    },
    /// The mount failed (the message, with the kernel's log line when there is one).
    Unmountable(String),
}

/// Time spent per phase, summed over the states checked.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// States checked.
    pub states: u64,
    /// Building the extent map.
    pub build: Duration,
    /// Attaching and detaching loop devices.
    pub loop_dev: Duration,
    /// Mounting (with recovery).
    pub mount: Duration,
    /// Reading the files.
    pub read: Duration,
    /// Unmounting.
    pub umount: Duration,
    /// fsck.
    pub fsck: Duration,
}

impl Timings {
    /// Everything.
    pub fn total(&self) -> Duration {
        self.build + self.loop_dev + self.mount + self.read + self.umount + self.fsck
    }
}

/// Mounts crash states of one recording, one at a time.
pub struct Checker {
    kind: MountKind,
    mount_args: Vec<OsString>,
    state: Arc<DevState>,
    fuse: FuseMount,
    mountpoint: PathBuf,
    losetup: PathBuf,
    mount: PathBuf,
    fsck: (PathBuf, Vec<&'static str>),
    /// Time per phase.
    pub timings: Timings,
    undo: UndoStack,
}

fn program(name: &str, package: &str) -> Result<PathBuf, CrashError> {
    crate::targets::host::require_program(name, package)
        .map_err(|why| CrashError::Setup { source: TargetError::Setup(why) })
}

impl Checker {
    /// Serves `state`'s crash file and prepares a mount point; `opts` are the target's mount
    /// options.
    pub fn new(kind: MountKind, opts: Option<&str>, state: Arc<DevState>) -> Result<Checker, CrashError> {
        let losetup = program("losetup", "mount")?;
        let mount = program("mount", "mount")?;
        let fsck = match kind {
            MountKind::Xfs => (program("xfs_repair", "xfsprogs")?, vec!["-n"]),
            _ => (program("e2fsck", "e2fsprogs")?, vec!["-f", "-n"]),
        };
        let setup = |source| CrashError::Setup { source };
        let mut undo = UndoStack::default();
        let fuse = fusedev::mount(Arc::clone(&state), kind, &mut undo).map_err(setup)?;
        let mountpoint = make_unique(&std::env::temp_dir(), kind, "crash", |p| std::fs::create_dir(p))
            .map_err(|e| setup(TargetError::Setup(format!("cannot make a mount point: {e}"))))?;
        let mp = mountpoint.clone();
        undo.push(cleanup::register(format!("mount point {}", mp.display()), move || remove_dir(&mp)));
        let crash = fuse.crash_path();
        undo.push(cleanup::register(format!("loop devices of {}", crash.display()), move || detach_loops_of(&crash)));
        let mp = mountpoint.clone();
        undo.push(cleanup::register(format!("mount {}", mp.display()), move || unmount(&mp, true)));
        let mut mount_args: Vec<OsString> = vec!["-t".into(), kind.name().into()];
        if let Some(opts) = opts {
            mount_args.extend(["-o".into(), opts.into()]);
        }
        Ok(Checker {
            kind,
            mount_args,
            state,
            fuse,
            mountpoint,
            losetup,
            mount,
            fsck,
            timings: Timings::default(),
            undo,
        })
    }

    /// Mounts `map` as the device, reads `files` files, unmounts, runs fsck.
    pub fn check(&mut self, map: ExtentMap, files: u32, built_in: Duration) -> Result<Seen, CrashError> {
        self.timings.build += built_in;
        self.timings.states += 1;
        self.state.set_crash_state(map);
        let crash = self.fuse.crash_path();
        let seen =
            cleanup::section(|| self.check_section(&crash, files)).map_err(|source| CrashError::Setup { source })?;
        let t = Instant::now();
        detach_loops_of(&crash).map_err(|source| CrashError::Setup { source })?;
        self.timings.loop_dev += t.elapsed();
        seen
    }

    fn check_section(&mut self, crash: &Path, files: u32) -> Result<Seen, CrashError> {
        let setup = |source| CrashError::Setup { source };
        let t = Instant::now();
        let dev = match attach_loop(&self.losetup, crash, true) {
            Ok(dev) => dev,
            Err(_) => {
                detach_loops_of(crash).map_err(setup)?;
                attach_loop(&self.losetup, crash, false).map_err(setup)?
            }
        };
        self.timings.loop_dev += t.elapsed();

        let t = Instant::now();
        let mut args = self.mount_args.clone();
        args.extend([dev.path.clone().into_os_string(), self.mountpoint.clone().into_os_string()]);
        let mounted = mount_fs(&self.mount, &args, self.kind, Some(&dev.name));
        self.timings.mount += t.elapsed();
        if let Err(e) = mounted {
            return Ok(Seen::Unmountable(e.to_string()));
        }

        let t = Instant::now();
        let contents = (0..files)
            .map(|i| match std::fs::read(self.mountpoint.join(file_name(i))) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
            })
            .collect();
        self.timings.read += t.elapsed();

        let t = Instant::now();
        unmount(&self.mountpoint, false).map_err(setup)?;
        self.timings.umount += t.elapsed();

        let t = Instant::now();
        let fsck = run_fsck(&self.fsck.0, &self.fsck.1, &dev.path).map_err(setup)?;
        self.timings.fsck += t.elapsed();
        Ok(Seen::Mounted { files: contents, fsck })
    }

    /// Unmounts the crash filesystem, detaches its loop devices, unmounts the FUSE server.
    pub fn teardown(self) -> Result<(), CrashError> {
        self.undo.unwind().map_err(|source| CrashError::Setup { source })
    }
}

/// Runs a read-only fsck of `dev`; `None` when it found nothing, else its first lines.
fn run_fsck(program: &Path, args: &[&str], dev: &Path) -> TResult<Option<String>> {
    use std::os::unix::process::CommandExt;
    let out = Command::new(program)
        .args(args)
        .arg(dev)
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .map_err(|e| TargetError::Setup(format!("cannot run {}: {e}", program.display())))?;
    if out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).take(12).collect();
    Ok(Some(format!("{} exited with {}: {}", program.display(), out.status, lines.join(" | "))))
}
