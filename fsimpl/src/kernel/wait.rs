//! Waiting: hashed wait queues for bits of an atomic flag word (`wait_on_bit`,
//! `folio_wait_bit` over `folio_wait_table`), plain wait queues (`wait_event` /
//! `wake_up_all`) and completions (`struct completion`).
//!
//! A bit waiter sets a *waiters* bit in the same word before it sleeps, so that the thread
//! that clears the bit it waits for sees — in the value its atomic read-modify-write returns —
//! that someone must be woken, and takes the queue's lock only then (`PG_waiters`).

use super::lock;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

static SUBMIT_WORK: OnceLock<fn()> = OnceLock::new();

/// Registers what a thread must do before it sleeps (`sched_submit_work`): the block layer
/// flushes the thread's plug, so that nobody sleeps on I/O it is itself holding back.
pub fn set_sched_submit_work(f: fn()) {
    let _ = SUBMIT_WORK.set(f);
}

/// Runs the registered pre-sleep work.
fn sched_submit_work() {
    if let Some(f) = SUBMIT_WORK.get() {
        f();
    }
}

/// A wait queue: a lock and a condition (`wait_queue_head_t`). The lock counts the sleepers,
/// so that a wake-up with nobody asleep costs no system call (`waitqueue_active`).
#[derive(Debug, Default)]
pub struct WaitQueue {
    sleepers: Mutex<u32>,
    cv: Condvar,
}

impl WaitQueue {
    /// A new queue.
    pub const fn new() -> Self {
        WaitQueue { sleepers: Mutex::new(0), cv: Condvar::new() }
    }

    /// Sleeps until `cond` holds (`wait_event`). `cond` is evaluated with the queue's lock
    /// held, so a waker that changes the state and then calls [`WaitQueue::wake_up_all`]
    /// is never missed.
    pub fn wait_event(&self, mut cond: impl FnMut() -> bool) {
        if cond() {
            return;
        }
        sched_submit_work();
        let mut g = lock(&self.sleepers);
        while !cond() {
            *g += 1;
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
            *g -= 1;
        }
    }

    /// Sleeps until `cond` holds or `timeout` passes (`wait_event_timeout`); returns whether
    /// `cond` held.
    pub fn wait_event_timeout(&self, timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
        if cond() {
            return true;
        }
        sched_submit_work();
        let deadline = std::time::Instant::now() + timeout;
        let mut g = lock(&self.sleepers);
        loop {
            if cond() {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            *g += 1;
            g = self.cv.wait_timeout(g, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
            *g -= 1;
        }
    }

    /// Wakes every sleeper (`wake_up_all`).
    pub fn wake_up_all(&self) {
        let g = lock(&self.sleepers);
        if *g > 0 {
            self.cv.notify_all();
        }
    }
}

const WAIT_TABLE_BITS: u32 = 8;
static WAIT_TABLE: [WaitQueue; 1 << WAIT_TABLE_BITS] = [const { WaitQueue::new() }; 1 << WAIT_TABLE_BITS];

/// The hashed queue for the flag word at `key` (`folio_waitqueue`).
fn bucket(key: &AtomicU32) -> &'static WaitQueue {
    let addr = key as *const AtomicU32 as usize;
    let h = (addr >> 6).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (usize::BITS - WAIT_TABLE_BITS);
    &WAIT_TABLE[h]
}

/// Sleeps until `done(flags)` holds for the flag word `flags`, setting `waiters` in it first
/// (`folio_wait_bit_common`). `done` sees the current value and may act on it (a lock
/// attempt, say) as long as it returns true only when it succeeded.
pub fn wait_on_bit(flags: &AtomicU32, waiters: u32, mut done: impl FnMut(&AtomicU32) -> bool) {
    if done(flags) {
        return;
    }
    sched_submit_work();
    let q = bucket(flags);
    let mut g = lock(&q.sleepers);
    loop {
        flags.fetch_or(waiters, SeqCst);
        if done(flags) {
            return;
        }
        *g += 1;
        g = q.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        *g -= 1;
    }
}

/// Wakes the waiters of the flag word `flags` if `old` — the value the caller's atomic
/// update returned — had `waiters` set (`folio_wake_bit`). The waiters bit is cleared; a
/// waiter that must sleep again sets it again.
pub fn wake_up_bit(flags: &AtomicU32, old: u32, waiters: u32) {
    if old & waiters == 0 {
        return;
    }
    let q = bucket(flags);
    let g = lock(&q.sleepers);
    flags.fetch_and(!waiters, SeqCst);
    if *g > 0 {
        q.cv.notify_all();
    }
}

/// A one-shot event (`struct completion`): `complete` once, `wait` until it has been.
#[derive(Debug, Default)]
pub struct Completion {
    /// Done, and how many sleep waiting for it.
    state: Mutex<(bool, u32)>,
    cv: Condvar,
}

impl Completion {
    /// Not yet complete.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks it complete and wakes the waiters (`complete`).
    pub fn complete(&self) {
        let mut s = lock(&self.state);
        s.0 = true;
        if s.1 > 0 {
            self.cv.notify_all();
        }
    }

    /// Sleeps until it is complete (`wait_for_completion`).
    pub fn wait(&self) {
        if self.is_done() {
            return;
        }
        sched_submit_work();
        let mut s = lock(&self.state);
        while !s.0 {
            s.1 += 1;
            s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
            s.1 -= 1;
        }
    }

    /// Whether it is complete (`completion_done`).
    pub fn is_done(&self) -> bool {
        lock(&self.state).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const LOCKED: u32 = 1;
    const WAITERS: u32 = 2;

    fn lock_bit(f: &AtomicU32) {
        wait_on_bit(f, WAITERS, |f| f.fetch_or(LOCKED, SeqCst) & LOCKED == 0);
    }

    fn unlock_bit(f: &AtomicU32) {
        let old = f.fetch_and(!LOCKED, SeqCst);
        wake_up_bit(f, old, WAITERS);
    }

    #[test]
    fn a_bit_lock_excludes_and_wakes() {
        let flags = Arc::new(AtomicU32::new(0));
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (flags, count) = (flags.clone(), count.clone());
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        lock_bit(&flags);
                        // A non-atomic read-modify-write, safe only under the bit lock.
                        let v = count.load(SeqCst);
                        count.store(v + 1, SeqCst);
                        unlock_bit(&flags);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count.load(SeqCst), 8000);
        assert_eq!(flags.load(SeqCst) & LOCKED, 0);
    }

    #[test]
    fn a_completion_wakes_its_waiter() {
        let c = Arc::new(Completion::new());
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.wait());
        c.complete();
        t.join().unwrap();
        assert!(c.is_done());
    }
}
