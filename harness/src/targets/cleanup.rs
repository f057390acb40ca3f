//! Undoing what the harness makes on the machine — mounts, loop devices, image files — when
//! their owner tears down, on error, and on SIGINT/SIGTERM/SIGHUP.
//!
//! Every step that makes something [`register`]s its undo and keeps the [`CleanupGuard`]; the
//! guard runs the undo when dropped or [`CleanupGuard::run`]. [`install_signal_cleanup`] (called
//! once by the binary at start) makes a signal run every registered undo, newest first, and exit
//! with status 130.
//!
//! Each undo runs exactly once: whoever removes it from the registry runs it. Steps that must
//! not interleave with the signal cleanup (setting a mount up, a remount's unmount and mount,
//! creating a file on a kernel target) run inside [`section`]: the signal cleanup waits for
//! running sections (up to [`SECTION_WAIT`]) and no section starts after it began. Undos must
//! tolerate finding their object already gone.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use super::{Result, TargetError};

/// How long the signal cleanup waits for running sections before undoing anyway.
pub const SECTION_WAIT: Duration = Duration::from_secs(30);

/// An undo action.
type Undo = Box<dyn FnOnce() -> Result<()> + Send>;

/// The process-global registry.
struct Registry {
    next_id: u64,
    /// Pending undos by registration order, with what they undo.
    undos: BTreeMap<u64, (String, Undo)>,
    /// Sections and undos running now.
    busy: usize,
    /// The signal cleanup has begun: no new section may start.
    shutting_down: bool,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { next_id: 0, undos: BTreeMap::new(), busy: 0, shutting_down: false });

/// Signalled when `busy` drops.
static IDLE: Condvar = Condvar::new();

fn registry() -> MutexGuard<'static, Registry> {
    // Every update leaves the registry whole; a panic elsewhere does not poison its meaning.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `undo` for something just made (`what` names it in error messages).
pub fn register(what: impl Into<String>, undo: impl FnOnce() -> Result<()> + Send + 'static) -> CleanupGuard {
    let mut reg = registry();
    let id = reg.next_id;
    reg.next_id += 1;
    reg.undos.insert(id, (what.into(), Box::new(undo)));
    CleanupGuard { id: Some(id) }
}

/// Owns one registered undo: runs it on [`CleanupGuard::run`] or when dropped (printing a
/// warning line if it fails), unless the signal cleanup ran it first.
#[must_use = "dropping the guard undoes at once"]
#[derive(Debug)]
pub struct CleanupGuard {
    id: Option<u64>,
}

impl CleanupGuard {
    /// Runs the undo now, if nobody has yet.
    pub fn run(mut self) -> Result<()> {
        self.run_once()
    }

    fn run_once(&mut self) -> Result<()> {
        let Some(id) = self.id.take() else { return Ok(()) };
        let taken = {
            let mut reg = registry();
            let taken = reg.undos.remove(&id);
            if taken.is_some() {
                reg.busy += 1;
            }
            taken
        };
        let Some((what, undo)) = taken else { return Ok(()) };
        let res = undo().map_err(|e| TargetError::Setup(format!("cleanup of {what}: {e}")));
        registry().busy -= 1;
        IDLE.notify_all();
        res
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Err(e) = self.run_once() {
            eprintln!("warning: {e}");
        }
    }
}

/// Runs `f` as one step the signal cleanup must not interrupt: it waits for `f` to finish.
/// Refused once the signal cleanup has begun.
pub fn section<T>(f: impl FnOnce() -> T) -> Result<T> {
    {
        let mut reg = registry();
        if reg.shutting_down {
            return Err(TargetError::Setup("interrupted: cleaning up after a signal".into()));
        }
        reg.busy += 1;
    }
    let out = f();
    registry().busy -= 1;
    IDLE.notify_all();
    Ok(out)
}

/// Runs every registered undo, newest first, after waiting for running sections (at most
/// [`SECTION_WAIT`]); no section starts afterwards. Gives the failures, one line each. For
/// the signal handler, and for a binary that exits by another path.
pub fn run_all() -> Vec<String> {
    let undos = {
        let mut reg = registry();
        reg.shutting_down = true;
        let deadline = Instant::now() + SECTION_WAIT;
        while reg.busy > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            reg = IDLE.wait_timeout(reg, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        std::mem::take(&mut reg.undos)
    };
    let mut failures = Vec::new();
    for (_, (what, undo)) in undos.into_iter().rev() {
        if let Err(e) = undo() {
            failures.push(format!("cleanup of {what}: {e}"));
        }
    }
    failures
}

/// An undo that deletes a file the harness made: `unlink(2)`, finding it gone is fine.
pub(crate) fn remove_file(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(TargetError::Os { op: "unlink", errno: super::kernel_io::errno_of(&e) })
        }
        _ => Ok(()),
    }
}

/// Set when a signal's cleanup has begun.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a signal arrived and its cleanup is under way (the process is about to exit 130):
/// errors the cleanup causes in running jobs (closed files, unmounted targets) are not the
/// run's to report.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// How long a rank of a many-host run, cleaned up after a signal, waits for its launcher to
/// end it before it exits by itself: both Open MPI's `mpirun` and Hydra's `mpiexec` kill
/// every rank as soon as one exits, perhaps in the middle of its cleanup, so a rank that is
/// done lets the others finish theirs (a few milliseconds each, being [`hasty`]). Open MPI
/// ends them first, one second after its SIGTERM.
const LAUNCHER_GRACE: Duration = Duration::from_secs(5);

/// Set for a rank of a many-host (MPI) run: see [`hasty`].
static HASTY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the signal cleanup [`hasty`], and makes it wait [`LAUNCHER_GRACE`] before exiting:
/// for a rank of an MPI job, whose launcher may kill it soon after the signal (Open MPI's
/// `mpirun` sends SIGKILL one second after SIGTERM, `odls_base_sigkill_timeout`).
pub fn set_hasty() {
    HASTY.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a signal's cleanup must not wait on the kernel: unmounts are lazy (`MNT_DETACH`)
/// and a loop device still held by the filesystem being flushed is left to detach itself when
/// it is released (`LOOP_CLR_FD` on a busy device sets `LO_FLAGS_AUTOCLEAR`), so that every
/// undo is done within milliseconds and the kernel finishes the flush after the process is
/// gone, leaving nothing behind.
pub fn hasty() -> bool {
    HASTY.load(std::sync::atomic::Ordering::SeqCst) && interrupted()
}

/// Installs, once per process, a SIGINT/SIGTERM/SIGHUP handler that runs [`run_all`], prints
/// any failure, and exits with status 130 (a rank of an MPI job: see [`set_hasty`]). Call it at the start of the binary.
pub fn install_signal_cleanup() -> Result<()> {
    static INSTALL: Once = Once::new();
    let mut res = Ok(());
    INSTALL.call_once(|| {
        res = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            eprintln!("aopsbench: interrupted; cleaning up");
            for failure in run_all() {
                eprintln!("aopsbench: {failure}");
            }
            if HASTY.load(std::sync::atomic::Ordering::SeqCst) {
                // A rank that exits first makes the launcher kill the others at once, perhaps
                // in the middle of their cleanup: give them time, or the launcher ends us.
                let deadline = std::time::Instant::now() + LAUNCHER_GRACE;
                while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                    std::thread::park_timeout(left);
                }
            }
            std::process::exit(130);
        })
        .map_err(|e| TargetError::Setup(format!("cannot install the Ctrl-C handler: {e}")));
    });
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn counting(hits: &Arc<AtomicU32>) -> impl FnOnce() -> Result<()> + Send + 'static {
        let hits = Arc::clone(hits);
        move || {
            hits.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn a_guard_undoes_once_whether_run_or_dropped() {
        let hits = Arc::new(AtomicU32::new(0));
        let g = register("run", counting(&hits));
        g.run().unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        drop(register("dropped", counting(&hits)));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failing_undo_names_what_it_undoes() {
        let g = register("the image /x.img", || Err(TargetError::Os { op: "unlink", errno: libc::EACCES }));
        let e = g.run().unwrap_err().to_string();
        assert!(e.starts_with("cleanup of the image /x.img: unlink: Permission denied"), "{e}");
    }

    #[test]
    fn a_section_runs_its_step() {
        assert_eq!(section(|| 7).unwrap(), 7);
    }
}
