//! I/O priorities of a job thread: its own, set as fio's `backend.c` sets it with
//! `ioprio_set(2)` before the engine starts, and the latencies it keeps per priority when
//! cmdprio chooses one per I/O (fio's `add_clat_sample` into `ts->clat_prio`).

use results::new_histogram;
use results::prio::{PrioLat, ThreadPrios};
use workloads::OpKind;
use workloads::fio::{IoPrio, ThreadPrio};

/// `IOPRIO_WHO_PROCESS`: `who` is a task; 0 is the calling one.
const IOPRIO_WHO_PROCESS: libc::c_long = 1;

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, prio)`: the calling thread's I/O priority (a job
/// thread's, as fio's `thread=1` jobs set theirs). Err is the errno (EPERM for the real-time
/// class without `CAP_SYS_ADMIN` or `CAP_SYS_NICE`).
pub fn set_thread_ioprio(prio: IoPrio) -> Result<(), i32> {
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    let r =
        unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0 as libc::c_long, prio.0 as libc::c_long) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)) }
}

/// `ioprio_get(IOPRIO_WHO_PROCESS, 0)`: the calling thread's I/O priority.
pub fn thread_ioprio() -> Result<IoPrio, i32> {
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0 as libc::c_long) };
    if r < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
    }
    Ok(IoPrio(r as u16))
}

/// The latencies of one thread by priority, per direction that has cmdprio.
pub struct PrioRecorder {
    /// The thread's own priority (0: none).
    own: u16,
    /// Total latencies rather than completion latencies (`lat_percentiles`).
    lat_percentiles: bool,
    /// Reads, writes: one entry per priority of [`workloads::fio::CmdPrio::clat_prios`].
    dirs: [Option<Vec<PrioLat>>; 2],
}

impl PrioRecorder {
    /// The recorder of a thread with priorities `prio`.
    pub fn new(prio: &ThreadPrio, lat_percentiles: bool) -> PrioRecorder {
        let list = |dir| {
            let values = prio.cmdprio.as_ref()?.clat_prios(dir)?;
            Some(values.iter().map(|p| PrioLat { ioprio: p.0, histogram: new_histogram() }).collect())
        };
        PrioRecorder {
            own: prio.job.unwrap_or_default().0,
            lat_percentiles,
            dirs: [list(workloads::fio::Dir::Read), list(workloads::fio::Dir::Write)],
        }
    }

    /// Records a completed read or write that went out with priority `index` of its
    /// direction's list; `clat` and `lat` as fio's.
    #[inline]
    pub fn record(&mut self, kind: OpKind, index: u16, clat: u64, lat: u64) {
        let d = match kind {
            OpKind::Read => 0,
            OpKind::Write => 1,
            _ => return,
        };
        if let Some(e) = self.dirs[d].as_mut().and_then(|l| l.get_mut(usize::from(index))) {
            e.histogram.saturating_record(if self.lat_percentiles { lat } else { clat });
        }
    }

    /// What the thread measured.
    pub fn finish(self) -> ThreadPrios {
        ThreadPrios { ioprio: self.own, dirs: self.dirs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_priority_reaches_the_kernel() {
        // In a thread of its own, as a job thread: the others keep theirs.
        let got = std::thread::spawn(|| {
            let before = thread_ioprio();
            let set = set_thread_ioprio(IoPrio::new(3, 0, 0));
            let idle = thread_ioprio();
            let set_be = set_thread_ioprio(IoPrio::new(2, 7, 0));
            (before, set, idle, set_be, thread_ioprio())
        })
        .join()
        .unwrap();
        assert_eq!(got.1, Ok(()));
        assert_eq!(got.2, Ok(IoPrio(0x6000)), "idle class");
        assert_eq!((got.3, got.4), (Ok(()), Ok(IoPrio(0x4007))), "best effort, level 7");
        assert_eq!(thread_ioprio(), got.0, "the test's own thread is untouched");
    }
}
