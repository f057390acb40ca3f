//! Kernel services the other layers build on: hashed wait queues for bit locks
//! (`kernel/sched/wait_bit.c`), completions, workqueues (`kernel/workqueue.c`) and
//! per-CPU shards (`lib/percpu_counter.c`) and the XArray (`lib/xarray.c`). Nothing here
//! knows about filesystems.

pub mod percpu;
pub mod wait;
pub mod workqueue;
pub mod xarray;

/// Locks a mutex, taking the data of one whose holder panicked: every user here keeps its
/// data consistent at each unlock, so a panic elsewhere does not make it unusable.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read-locks, as [`lock`] does.
pub fn read<T>(m: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

/// Write-locks, as [`lock`] does.
pub fn write<T>(m: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}
