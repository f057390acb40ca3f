//! A block device aopsbench serves itself, for kernel filesystems: a FUSE filesystem in this
//! process (the `fuser` crate) exposes the device as a file, and a loop device sits on that
//! file — no device-mapper, ublk or nbd needed. What dm-log-writes and dm-flakey do under
//! xfstests, done here:
//!
//! - [`DevState`] logs every write (offset, length, data) and every flush in order, tagged with
//!   the workload op running, and serves the live device from that log;
//! - it injects the faults of a `faults=` plan (the fsimpl grammar, [`super::faults`]);
//! - it serves any crash state built from the log on a second file, `crash`, with a
//!   copy-on-write store for what recovery writes ([`ExtentMap`]), so no image is copied.
//!
//! [`mount`] mounts the server on a fresh directory; the loop devices and filesystems above
//! are the caller's (`ext4:dev=logged`, `aopsbench crash`). Both loop modes deliver every write
//! and turn every `REQ_PREFLUSH` into an fsync of the file: buffered (`lo_write_simple` →
//! `vfs_iter_write`, which `FOPEN_DIRECT_IO` sends straight to the server) and direct
//! (`lo_rw_aio` with `IOCB_DIRECT`); the target takes direct loop I/O, as the other kernel
//! targets do.

pub mod device;
pub mod extents;
mod server;
mod watch;

pub use device::{DevState, Record};
pub use extents::{ExtentMap, Source};
pub use server::{CRASH_NAME, DEV_NAME};
pub use watch::FaultWatch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cleanup;
use super::mount::{MountKind, UndoStack, make_unique, remove_dir};
use super::{Result, TargetError};

/// A FUSE mount of the server for one [`DevState`]. Unmounted by the undo that [`mount`]
/// registered; the server thread ends with it.
pub struct FuseMount {
    dir: PathBuf,
    /// Kept so that the server thread lives as long as the mount; dropping it after the
    /// unmount only detaches the finished thread.
    _session: fuser::BackgroundSession,
}

impl std::fmt::Debug for FuseMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuseMount").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl FuseMount {
    /// Where it is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live device file.
    pub fn dev_path(&self) -> PathBuf {
        self.dir.join(DEV_NAME)
    }

    /// The crash-state file.
    pub fn crash_path(&self) -> PathBuf {
        self.dir.join(CRASH_NAME)
    }
}

/// Whether a logged device can be served here: root, `/dev/fuse`, loop devices. The error
/// says what is missing.
pub fn available() -> std::result::Result<(), String> {
    if !super::host::is_root() {
        return Err("dev=logged needs root (to mount FUSE and attach loop devices)".into());
    }
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse").is_err() {
        return Err("dev=logged needs FUSE: /dev/fuse is missing or not usable (modprobe fuse)".into());
    }
    super::host::require_loop_devices()
}

/// Refuses a `dev=logged` target of `kind` where `/dev/fuse` is missing, saying what to do.
pub(crate) fn require_fuse(kind: MountKind) -> Result<()> {
    if !Path::new("/dev/fuse").exists() {
        return Err(TargetError::Setup(format!(
            "{} target: dev=logged needs FUSE and /dev/fuse is missing (modprobe fuse, or give the container \
             --device /dev/fuse)",
            kind.name()
        )));
    }
    Ok(())
}

/// Serves `state` on a fresh directory `<tmp>/aopsbench-<kind>-<pid>-<n>.fuse`, pushing the
/// undos (remove the directory; unmount) onto `undo`.
pub(crate) fn mount(state: Arc<DevState>, kind: MountKind, undo: &mut UndoStack) -> Result<FuseMount> {
    let name = kind.name();
    require_fuse(kind)?;
    let dir = make_unique(&std::env::temp_dir(), kind, "fuse", |p| std::fs::create_dir(p))
        .map_err(|e| TargetError::Setup(format!("{name} target: cannot make a FUSE mount point: {e}")))?;
    let d = dir.clone();
    undo.push(cleanup::register(format!("FUSE mount point {}", d.display()), move || remove_dir(&d)));

    let mut config = fuser::Config::default();
    config.mount_options = vec![fuser::MountOption::FSName("aopsbench".into())];
    config.n_threads = Some(1);
    // Registered before mounting, so that a mount that half-succeeds is undone too.
    let d = dir.clone();
    undo.push(cleanup::register(format!("FUSE mount {}", d.display()), move || unmount_fuse(&d)));
    let server = server::Server { state };
    let session = fuser::Session::new(server, &dir, &config)
        .and_then(fuser::Session::spawn)
        .map_err(|e| TargetError::Setup(format!("{name} target: cannot mount the FUSE device server: {e}")))?;
    Ok(FuseMount { dir, _session: session })
}

/// Unmounts a FUSE mount of ours; if still busy after the retries, detaches it lazily and
/// aborts its connection (`/sys/fs/fuse/connections/N/abort`), so that its server thread ends
/// and nothing waits on it.
fn unmount_fuse(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let conn = std::fs::metadata(dir).ok().map(|m| libc::minor(m.dev()));
    match super::mount::unmount(dir, false) {
        Ok(()) => Ok(()),
        Err(busy) => {
            let r = super::mount::unmount(dir, true);
            if let Some(conn) = conn {
                let _ = std::fs::write(format!("/sys/fs/fuse/connections/{conn}/abort"), "1");
            }
            r.map_err(|_| busy)
        }
    }
}
