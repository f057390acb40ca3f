//! An ordered workqueue (`alloc_ordered_workqueue`): one worker thread running queued work
//! items in order — what ext4's `ext4-rsv-conversion` and XFS's `xfs-conv` queues are to I/O
//! completion work that may sleep.

use super::lock;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// A work item.
pub type Work = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Work>,
    /// Items taken off the queue and not finished yet.
    running: usize,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when work arrives or the queue must stop.
    more: Condvar,
    /// Signalled when the queue goes idle.
    idle: Condvar,
}

/// An ordered workqueue with its worker thread.
pub struct Workqueue {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Workqueue {
    /// Starts a queue whose worker thread is called `name`.
    pub fn new(name: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let worker = std::thread::Builder::new().name(name.into()).spawn(move || worker(&s))?;
        Ok(Workqueue { shared, worker: Some(worker) })
    }

    /// Queues `work` (`queue_work`).
    pub fn queue(&self, work: Work) {
        lock(&self.shared.state).queue.push_back(work);
        self.shared.more.notify_one();
    }

    /// Waits until every item queued so far has run (`flush_workqueue`).
    pub fn flush(&self) {
        let mut st = lock(&self.shared.state);
        while !st.queue.is_empty() || st.running > 0 {
            st = self.shared.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn worker(s: &Shared) {
    let mut st = lock(&s.state);
    loop {
        if let Some(work) = st.queue.pop_front() {
            st.running += 1;
            drop(st);
            work();
            st = lock(&s.state);
            st.running -= 1;
            if st.queue.is_empty() {
                s.idle.notify_all();
            }
            continue;
        }
        if st.stop {
            return;
        }
        st = s.more.wait(st).unwrap_or_else(|p| p.into_inner());
    }
}

impl Drop for Workqueue {
    /// Runs what is queued, then stops the worker (`destroy_workqueue` drains first).
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.more.notify_all();
        if let Some(w) = self.worker.take()
            && w.thread().id() != std::thread::current().id()
        {
            // (Dropped by its own work item: it stops by itself after it.)
            let _ = w.join();
        }
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
