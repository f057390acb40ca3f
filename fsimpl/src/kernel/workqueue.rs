//! Workqueues (`kernel/workqueue.c`): work items run on a process-wide pool of worker threads
//! (the unbound `worker_pool`'s kworkers), created when work finds no idle worker and reused
//! afterwards, so that mounting and unmounting start no threads once the pool is warm. An
//! ordered workqueue (`alloc_ordered_workqueue`) runs its items one at a time in order — what
//! ext4's `ext4-rsv-conversion` and XFS's `xfs-conv` queues are to I/O completion work that
//! may sleep. [`kthread_run`] gives a long-running function (the flusher) a pool worker.
//!
//! An *inline* queue ([`Workqueue::inline`], fsimpl's `flusher=inline` mode, which runs no
//! background thread) only collects its items: they run in the thread that next needs them
//! — one about to wait for a folio's writeback ([`run_inline_work`]), one flushing the queue,
//! or one returning from a filesystem call. The kernel's rule that nobody waits for writeback
//! holding a lock its completion work takes (`i_data_sem`, the XFS ilock) is what makes
//! running them there safe.

use super::lock;
use super::wait::Completion;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

/// A work item.
pub type Work = Box<dyn FnOnce() + Send>;

/// How long a worker stays idle before it exits (`IDLE_WORKER_TIMEOUT`, 300 s).
const IDLE_WORKER_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Default)]
struct PoolState {
    worklist: VecDeque<Work>,
    nr_idle: usize,
}

/// The shared pool (`struct worker_pool`).
#[derive(Default)]
struct WorkerPool {
    state: Mutex<PoolState>,
    more: Condvar,
}

fn pool() -> &'static WorkerPool {
    static POOL: OnceLock<WorkerPool> = OnceLock::new();
    POOL.get_or_init(WorkerPool::default)
}

impl WorkerPool {
    /// Hands `work` to an idle worker, or to a new one (`create_worker`).
    fn run(&'static self, work: Work) -> std::io::Result<()> {
        let mut st = lock(&self.state);
        if st.nr_idle > st.worklist.len() {
            st.worklist.push_back(work);
            drop(st);
            self.more.notify_one();
            return Ok(());
        }
        drop(st);
        std::thread::Builder::new().name("kworker".into()).spawn(move || {
            work();
            self.worker_thread();
        })?;
        Ok(())
    }

    /// An idle worker's loop (`worker_thread`): takes work as it comes, exits after
    /// [`IDLE_WORKER_TIMEOUT`] without any.
    fn worker_thread(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some(work) = st.worklist.pop_front() {
                drop(st);
                work();
                st = lock(&self.state);
                continue;
            }
            st.nr_idle += 1;
            let (g, timeout) = self.more.wait_timeout(st, IDLE_WORKER_TIMEOUT).unwrap_or_else(|p| p.into_inner());
            st = g;
            st.nr_idle -= 1;
            if timeout.timed_out() && st.worklist.is_empty() {
                return;
            }
        }
    }
}

/// A function running on a pool worker until it returns (`kthread_run` / `kthread_stop`'s
/// wait, over the pool so that the thread is reused).
pub struct KThread {
    done: Arc<Completion>,
}

/// Runs `f` on a pool worker.
pub fn kthread_run(f: impl FnOnce() + Send + 'static) -> std::io::Result<KThread> {
    let done = Arc::new(Completion::new());
    let d = done.clone();
    pool().run(Box::new(move || {
        f();
        d.complete();
    }))?;
    Ok(KThread { done })
}

impl KThread {
    /// Waits until the function has returned.
    pub fn join(self) {
        self.done.wait();
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Work>,
    /// A thread is draining the queue: the thread, while it runs an item.
    active: bool,
    runner: Option<ThreadId>,
    /// An inline queue is on the pending list.
    pending: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when the queue goes idle.
    idle: Condvar,
    inline: bool,
}

/// Inline queues with items to run, and how many.
static INLINE_PENDING: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());
static NR_INLINE_PENDING: AtomicUsize = AtomicUsize::new(0);

/// Runs the items of every inline queue (see the module's doc) in this thread.
pub fn run_inline_work() {
    if NR_INLINE_PENDING.load(SeqCst) == 0 {
        return;
    }
    let queues = std::mem::take(&mut *lock(&INLINE_PENDING));
    NR_INLINE_PENDING.fetch_sub(queues.len(), SeqCst);
    for q in queues {
        lock(&q.state).pending = false;
        if let Some(st) = claim(&q) {
            drain_claimed(&q, st);
        }
    }
}

/// An ordered workqueue: its items run one at a time, in order, on pool workers.
pub struct Workqueue {
    shared: Arc<Shared>,
}

impl Workqueue {
    /// A new queue (`alloc_ordered_workqueue`); `name` is what the kernel would call it.
    pub fn new(_name: &str) -> std::io::Result<Self> {
        Ok(Workqueue { shared: Arc::new(Shared::default()) })
    }

    /// A queue whose items run in the threads that need them (see the module's doc).
    pub fn inline() -> Self {
        Workqueue { shared: Arc::new(Shared { inline: true, ..Shared::default() }) }
    }

    /// Queues `work` (`queue_work`).
    pub fn queue(&self, work: Work) {
        let mut st = lock(&self.shared.state);
        st.queue.push_back(work);
        if self.shared.inline {
            if !st.pending {
                st.pending = true;
                lock(&INLINE_PENDING).push(self.shared.clone());
                NR_INLINE_PENDING.fetch_add(1, SeqCst);
            }
            return;
        }
        if st.active {
            return;
        }
        st.active = true;
        drop(st);
        let s = self.shared.clone();
        if let Err(e) = pool().run(Box::new(move || drain(&s))) {
            // No thread for it: run it here rather than lose completion work.
            eprintln!("fsimpl: cannot start a kworker ({e}); running the work inline");
            drain(&self.shared);
        }
    }

    /// Waits until every item queued so far has run (`flush_workqueue`). From the queue's own
    /// work item it returns at once (the item's own queue cannot drain under it).
    pub fn flush(&self) {
        if self.shared.inline
            && let Some(st) = claim(&self.shared)
        {
            drain_claimed(&self.shared, st);
        }
        let mut st = lock(&self.shared.state);
        while st.active && st.runner != Some(std::thread::current().id()) {
            st = self.shared.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Runs the queue's items until it is empty (a worker's `process_one_work` loop).
fn drain(s: &Shared) {
    drain_claimed(s, lock(&s.state));
}

/// Makes this thread the inline queue's drainer, unless it is idle or another thread is.
fn claim(s: &Shared) -> Option<std::sync::MutexGuard<'_, State>> {
    let mut st = lock(&s.state);
    if st.active || st.queue.is_empty() {
        return None;
    }
    st.active = true;
    Some(st)
}

/// [`drain`] with the state locked and `active` set.
fn drain_claimed<'a>(s: &'a Shared, mut st: std::sync::MutexGuard<'a, State>) {
    while let Some(work) = st.queue.pop_front() {
        st.runner = Some(std::thread::current().id());
        drop(st);
        work();
        st = lock(&s.state);
        st.runner = None;
    }
    st.active = false;
    drop(st);
    s.idle.notify_all();
}

impl Drop for Workqueue {
    /// Runs what is queued first (`destroy_workqueue` drains).
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[test]
    fn work_runs_in_order_and_flush_waits_for_it() {
        let wq = Workqueue::new("test-wq").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..100 {
            let seen = seen.clone();
            wq.queue(Box::new(move || seen.lock().unwrap().push(i)));
        }
        wq.flush();
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        wq.queue(Box::new(move || {
            m.fetch_add(1, SeqCst);
        }));
        drop(wq);
        assert_eq!(n.load(SeqCst), 1, "dropping the queue runs what was queued");
    }
}
