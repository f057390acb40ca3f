//! fio's `flow` (its `flow.c`): the threads of jobs that share a `flow_id` are kept in the
//! ratio of their `flow=` weights. Each flow has a counter of the I/Os its threads issued
//! (starting at 1, as fio's `flow_get`) and the sum of their weights; before each I/O a thread
//! compares its own count's share of the counter with its weight's share of the sum
//! ([`Member::exceeded`], fio's `flow_threshold_exceeded`) and is held back while it is ahead.
//!
//! A thread held back waits `flow_sleep` after its I/O in flight completed (fio's
//! `io_u_quiesce` and `usleep`); without `flow_sleep` fio tries again at once, in a loop, and
//! only another thread's I/O can change the answer, so aopsbench sleeps until the flow's
//! counter moves (or a thread leaves) instead of spinning.
//!
//! fio counts every job of the file from when it is read (`flow_init_job`). Here the threads of
//! a group that start at once are counted from the group's start, and a thread that waits first
//! (`wait_for`, `startdelay`) from when it starts its I/O: in fio such a thread holds the
//! others of its flow back while it waits (and, without a runtime, for ever).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use workloads::Job;

/// One flow (fio's `struct fio_flow`).
#[derive(Debug)]
pub struct Flow {
    /// I/Os its threads issued, plus one.
    counter: AtomicU64,
    /// The weights of the threads in it.
    total_weight: AtomicU64,
    /// Threads waiting for the counter to move.
    waiters: AtomicU32,
    lock: Mutex<()>,
    moved: Condvar,
}

impl Flow {
    fn new() -> Flow {
        Flow {
            counter: AtomicU64::new(1),
            total_weight: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            lock: Mutex::new(()),
            moved: Condvar::new(),
        }
    }

    /// Wakes the threads waiting for the counter or the weights to change.
    fn wake(&self) {
        if self.waiters.load(SeqCst) > 0 {
            let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.moved.notify_all();
        }
    }
}

/// The flows of a group of jobs run together, by `flow_id`.
#[derive(Debug, Default)]
pub struct Flows {
    by_id: BTreeMap<u32, Flow>,
}

impl Flows {
    /// The flows of `jobs`, with the weight of every thread that starts with the group
    /// already counted (see the module doc for those that wait).
    pub fn new(jobs: &[&Job]) -> Flows {
        let mut by_id: BTreeMap<u32, Flow> = BTreeMap::new();
        for job in jobs.iter().filter(|j| j.control.flow > 0) {
            let flow = by_id.entry(job.control.flow_id).or_insert_with(Flow::new);
            if starts_at_once(job) {
                flow.total_weight.fetch_add(u64::from(job.control.flow) * u64::from(job.numjobs.max(1)), SeqCst);
            }
        }
        Flows { by_id }
    }

    /// The membership of one thread of `job` in its flow, if it has one; a thread that waits
    /// before its I/O adds its weight now (call this when its I/O starts).
    pub fn member(&self, job: &Job) -> Option<Member<'_>> {
        let flow = self.by_id.get(&job.control.flow_id).filter(|_| job.control.flow > 0)?;
        let weight = u64::from(job.control.flow);
        if !starts_at_once(job) {
            flow.total_weight.fetch_add(weight, SeqCst);
            flow.wake();
        }
        Some(Member { flow, weight, counter: AtomicU64::new(0), sleep: job.control.flow_sleep })
    }
}

/// Whether `job`'s threads start their I/O with the group (no `wait_for`, no `startdelay`).
fn starts_at_once(job: &Job) -> bool {
    let s = &job.control.start;
    s.wait_for.is_none() && s.delay == (Duration::ZERO, Duration::ZERO)
}

/// One thread in a flow.
#[derive(Debug)]
pub struct Member<'a> {
    flow: &'a Flow,
    weight: u64,
    /// I/Os this thread issued (fio's `td->flow_counter`).
    counter: AtomicU64,
    /// `flow_sleep`.
    pub sleep: Duration,
}

impl Member<'_> {
    /// fio's `flow_threshold_exceeded`: whether this thread is ahead of its share and must
    /// wait; when not, the I/O it is about to issue is counted.
    pub fn exceeded(&self) -> bool {
        let mine = self.counter.load(SeqCst);
        let counter_ratio = mine as f64 / self.flow.counter.load(SeqCst) as f64;
        let weight_ratio = self.weight as f64 / self.flow.total_weight.load(SeqCst).max(1) as f64;
        if counter_ratio > weight_ratio {
            return true;
        }
        self.flow.counter.fetch_add(1, SeqCst);
        self.counter.store(mine + 1, SeqCst);
        self.flow.wake();
        false
    }

    /// Waits until the flow's counter or weights change (another thread issued an I/O, or
    /// joined or left), `deadline` passes, or `stop` is set.
    pub fn wait_for_others(&self, deadline: Option<Instant>, stop: &[&AtomicBool]) {
        let f = self.flow;
        let seen = (f.counter.load(SeqCst), f.total_weight.load(SeqCst));
        f.waiters.fetch_add(1, SeqCst);
        let mut held = f.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if (f.counter.load(SeqCst), f.total_weight.load(SeqCst)) != seen || stop.iter().any(|s| s.load(SeqCst)) {
                break;
            }
            // The runtime and the stop flags are looked at every 50 ms at most.
            let mut wait = Duration::from_millis(50);
            if let Some(d) = deadline {
                match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => wait = wait.min(left),
                    _ => break,
                }
            }
            held = f.moved.wait_timeout(held, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
        drop(held);
        f.waiters.fetch_sub(1, SeqCst);
    }

    /// fio's `flow_put`: the thread's I/Os and weight leave the flow.
    pub fn leave(&self) {
        let f = self.flow;
        f.counter.fetch_sub(self.counter.swap(0, SeqCst), SeqCst);
        f.total_weight.fetch_sub(self.weight, SeqCst);
        f.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str) -> Vec<Job> {
        workloads::fio::JobFile::parse(text, "t.fio", false).expect("parses").jobs
    }

    /// Two threads taking turns as fio's flow lets them: the counts stay within one I/O of the
    /// weights' ratio at every step.
    #[test]
    fn members_keep_the_ratio_of_their_weights() {
        let jobs = job("[global]\nsize=1m\n[a]\nflow=1\n[b]\nflow=3\n");
        let refs: Vec<&Job> = jobs.iter().collect();
        let flows = Flows::new(&refs);
        let (a, b) = (flows.member(&jobs[0]).unwrap(), flows.member(&jobs[1]).unwrap());
        let (mut na, mut nb) = (0u64, 0u64);
        for _ in 0..4000 {
            // Each tries in turn, as two threads of equal speed would.
            na += u64::from(!a.exceeded());
            nb += u64::from(!b.exceeded());
            assert!(nb <= 3 * na + 3 && 3 * na <= nb + 3, "a {na} b {nb}");
        }
        assert_eq!(na + nb + 1, flows.by_id[&0].counter.load(SeqCst));
        assert!(na >= 900, "a {na}");
        a.leave();
        // Alone in the flow, b is never held back.
        assert!((0..100).all(|_| !b.exceeded()));
        b.leave();
        assert_eq!(flows.by_id[&0].counter.load(SeqCst), 1);
        assert_eq!(flows.by_id[&0].total_weight.load(SeqCst), 0);
    }
}
