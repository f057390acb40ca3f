//! The kernel's reaction to injected faults, reported as it comes: each fault the device
//! injects, and each line the kernel logs about the loop device (`I/O error, dev loop3`,
//! `EXT4-fs error (device loop3)`, `Remounting filesystem read-only`, `XFS (loop3): log I/O
//! error`), one stderr line each while the workload runs; a summary when the target goes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::DevState;
use crate::targets::mount::KernelLog;

/// How often the watcher looks.
const POLL: Duration = Duration::from_millis(50);

/// What the watcher saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    faults: usize,
    kernel_lines: usize,
    read_only: bool,
}

/// A thread printing injected faults and the kernel's lines about one loop device.
#[derive(Debug)]
pub struct FaultWatch {
    label: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultWatch {
    /// Starts watching `state`'s faults and the kernel log about `loop_name` (`loop3`);
    /// lines are prefixed with `label` (the target's spec).
    pub fn start(state: Arc<DevState>, loop_name: &str, label: &str) -> FaultWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut log = KernelLog::from_now();
        let (dev, label_t) = (loop_name.to_string(), label.to_string());
        let (stop_t, seen_t) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = std::thread::Builder::new()
            .name("aopsbench-faults".into())
            .spawn(move || {
                let mut printed = 0;
                loop {
                    let last = stop_t.load(Ordering::SeqCst);
                    let events = state.fault_events();
                    for e in &events[printed.min(events.len())..] {
                        eprintln!("aopsbench: {label_t}: injected: {e}");
                    }
                    printed = events.len();
                    let lines = log.since(|line| mentions(line, &dev));
                    let mut s = seen_t.lock().unwrap_or_else(|e| e.into_inner());
                    s.faults = printed;
                    for line in &lines {
                        eprintln!("aopsbench: {label_t}: kernel: {line}");
                        let lower = line.to_ascii_lowercase();
                        s.read_only |=
                            lower.contains("read-only") || lower.contains("shut down") || lower.contains("shutdown");
                    }
                    s.kernel_lines += lines.len();
                    drop(s);
                    if last {
                        break;
                    }
                    std::thread::sleep(POLL);
                }
            })
            .ok();
        FaultWatch { label: label.to_string(), stop, seen, thread }
    }

    /// Stops watching (after a last look) and gives the summary line; `read_only`: the
    /// filesystem is mounted read-only now.
    pub fn finish(mut self, read_only: bool) -> String {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let s = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let ro = if s.read_only || read_only { "; the filesystem went read-only or shut down" } else { "" };
        format!(
            "{}: {} fault(s) injected; the kernel logged {} line(s) about the device{ro}",
            self.label, s.faults, s.kernel_lines
        )
    }
}

impl Drop for FaultWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether a kernel log line is about loop device `dev`: `loop3`, `(loop3)`, `dev loop3,`.
fn mentions(line: &str, dev: &str) -> bool {
    line.match_indices(dev).any(|(i, _)| {
        let after = line[i + dev.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_digit()) && !line[..i].ends_with(|c: char| c.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn lines_about_the_device_and_no_other() {
        assert!(mentions("EXT4-fs (loop3): Remounting filesystem read-only", "loop3"));
        assert!(mentions("I/O error, dev loop3, sector 2048 op 0x1:(WRITE)", "loop3"));
        assert!(!mentions("I/O error, dev loop31, sector 2048", "loop3"));
        assert!(!mentions("EXT4-fs (loop13): mounted", "loop3"));
    }
}
