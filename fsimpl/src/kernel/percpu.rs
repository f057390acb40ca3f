//! Per-CPU shards: each thread gets a shard index, spread round robin over as many shards as
//! the machine has CPUs (rounded up to a power of two), so that counters and caches that the
//! kernel keeps per CPU are not one cache line every thread writes.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Number of shards: the CPUs of the machine, rounded up to a power of two, at least 2.
pub fn nr_shards() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()).next_power_of_two().max(2))
}

/// This thread's shard (`smp_processor_id()` for the structures here).
pub fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT.fetch_add(1, Relaxed) & (nr_shards() - 1);
        s.set(v);
        v
    })
}

/// A value padded to its own cache line (`____cacheline_aligned_in_smp`).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct CachePadded<T>(pub T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One `T` per shard (`DEFINE_PER_CPU`).
#[derive(Debug)]
pub struct PerCpu<T> {
    shards: Box<[CachePadded<T>]>,
}

impl<T: Default> Default for PerCpu<T> {
    fn default() -> Self {
        PerCpu { shards: (0..nr_shards()).map(|_| CachePadded(T::default())).collect() }
    }
}

impl<T> PerCpu<T> {
    /// This thread's shard (`this_cpu_ptr`).
    pub fn this(&self) -> &T {
        &self.shards[shard()]
    }

    /// Every shard (`for_each_possible_cpu`).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|s| &s.0)
    }
}

/// A read-mostly value behind a per-CPU reader-writer lock (`percpu_rw_semaphore`): each
/// shard keeps its own copy under its own lock, so readers on different CPUs touch different
/// cache lines; a writer locks every shard and updates every copy.
#[derive(Debug)]
pub struct PercpuRwLock<T> {
    shards: Box<[CachePadded<std::sync::RwLock<T>>]>,
}

impl<T: Clone> PercpuRwLock<T> {
    /// One copy of `value` per shard.
    pub fn new(value: T) -> Self {
        PercpuRwLock { shards: (0..nr_shards()).map(|_| CachePadded(std::sync::RwLock::new(value.clone()))).collect() }
    }

    /// Reads this CPU's copy (`percpu_down_read`).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, T> {
        super::read(&self.shards[shard()])
    }

    /// Changes every copy with `f`, all shards locked (`percpu_down_write`); returns what
    /// `f` returned for the first copy.
    pub fn update<R>(&self, mut f: impl FnMut(&mut T) -> R) -> R {
        let mut guards: Vec<_> = self.shards.iter().map(|s| super::write(s)).collect();
        let mut first = None;
        for g in guards.iter_mut() {
            let r = f(g);
            first.get_or_insert(r);
        }
        first.expect("at least one shard")
    }

    /// Runs `f` once on the first copy with every shard locked and the other copies emptied
    /// (so that what `f` takes out of the first is gone everywhere), then makes every other
    /// copy a clone of it; returns what `f` returned.
    pub fn write_once<R>(&self, f: impl FnOnce(&mut T) -> R) -> R
    where
        T: Default,
    {
        let mut guards: Vec<_> = self.shards.iter().map(|s| super::write(s)).collect();
        let (first, rest) = guards.split_first_mut().expect("at least one shard");
        for g in rest.iter_mut() {
            drop(std::mem::take(&mut **g));
        }
        let r = f(first);
        for g in rest {
            **g = (**first).clone();
        }
        r
    }
}

/// A counter kept per CPU and folded into a global count in batches (`struct
/// percpu_counter`): adding touches only this CPU's shard until it has moved by a batch, a
/// quick read sees the global count (off by at most [`PercpuCounter::error_margin`]), an
/// exact read sums every shard.
#[derive(Debug)]
pub struct PercpuCounter {
    count: std::sync::atomic::AtomicI64,
    shards: PerCpu<std::sync::atomic::AtomicI64>,
    batch: i64,
}

impl PercpuCounter {
    /// A counter holding `v`, with the kernel's batch (`percpu_counter_batch`: twice the
    /// CPUs, at least 32).
    pub fn new(v: i64) -> Self {
        PercpuCounter {
            count: std::sync::atomic::AtomicI64::new(v),
            shards: PerCpu::default(),
            batch: (2 * nr_shards() as i64).max(32),
        }
    }

    /// Adds `n` (`percpu_counter_add`).
    pub fn add(&self, n: i64) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.shards.this();
        let v = s.fetch_add(n, Relaxed) + n;
        if v.abs() >= self.batch {
            let moved = s.swap(0, Relaxed);
            self.count.fetch_add(moved, Relaxed);
        }
    }

    /// Subtracts `n` (`percpu_counter_sub`).
    pub fn sub(&self, n: i64) {
        self.add(-n);
    }

    /// The global count without the shards (`percpu_counter_read`), never below zero
    /// (`percpu_counter_read_positive`).
    pub fn read_positive(&self) -> i64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed).max(0)
    }

    /// The exact value: the global count and every shard (`percpu_counter_sum`).
    pub fn sum(&self) -> i64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.count.load(Relaxed) + self.shards.iter().map(|s| s.load(Relaxed)).sum::<i64>()
    }

    /// [`PercpuCounter::sum`], never below zero (`percpu_counter_sum_positive`).
    pub fn sum_positive(&self) -> i64 {
        self.sum().max(0)
    }

    /// How far [`PercpuCounter::read_positive`] may be from the exact value (a batch per
    /// shard).
    pub fn error_margin(&self) -> i64 {
        self.batch * nr_shards() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_spread_over_the_shards() {
        let n = nr_shards();
        assert!(n.is_power_of_two() && n >= 2);
        let mine = shard();
        assert_eq!(shard(), mine, "a thread keeps its shard");
        let others: Vec<usize> = (0..n).map(|_| std::thread::spawn(shard).join().unwrap()).collect();
        assert!(others.iter().all(|&s| s < n));
    }

    #[test]
    fn a_percpu_counter_sums_exactly_and_reads_within_its_margin() {
        let c = std::sync::Arc::new(PercpuCounter::new(1000));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        if i % 2 == 0 { c.add(3) } else { c.sub(1) }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let want = 1000 + 2 * 3000 - 2 * 1000;
        assert_eq!(c.sum(), want);
        assert!((c.read_positive() - want).abs() <= c.error_margin());
    }

    #[test]
    fn a_percpu_rwlock_updates_every_copy() {
        let l = PercpuRwLock::new(1u32);
        assert_eq!(*l.read(), 1);
        let first = l.update(|v| {
            *v += 1;
            *v
        });
        assert_eq!(first, 2);
        let seen: Vec<u32> = (0..4).map(|_| std::thread::scope(|s| s.spawn(|| *l.read()).join().unwrap())).collect();
        assert!(seen.iter().all(|&v| v == 2));
    }
}
