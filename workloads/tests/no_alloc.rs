//! Op streams allocate nothing per op (counted by a global allocator wrapper, on the thread
//! that drains the stream only: the test harness's own threads allocate when they like).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use workloads::{FsxConfig, JobFile, Op};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while this thread drains a stream.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while draining `ops`.
fn allocations_while(ops: impl Iterator<Item = Op>) -> (u64, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut n = 0u64;
    COUNTING.with(|c| c.set(true));
    for op in ops {
        std::hint::black_box(op);
        n += 1;
    }
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.load(Ordering::Relaxed) - before, n)
}

#[test]
fn streams_allocate_nothing_per_op() {
    let jobs = [
        "rw=randread\nbs=4k\nsize=256m\n",
        "rw=randrw\nbssplit=4k/50:64k/50\nsize=1g\nrandom_distribution=zipf:1.1\nfsync=8\nnrfiles=4\n",
        "rw=write\nbsrange=4k-64k\nsize=256m\nnorandommap\nend_fsync=1\nfdatasync=3\nloops=2\n",
        "rw=randwrite\nbs=4k\nsize=64m\nrandom_distribution=normal:5\nnorandommap\n",
    ];
    for text in jobs {
        let file = JobFile::parse(&format!("[j]\n{text}"), "t", false).unwrap();
        let plan = file.jobs[0].threads().remove(0);
        let (allocs, n) = allocations_while(plan.ops);
        assert!(n > 10_000, "{text}");
        assert_eq!(allocs, 0, "{text}: {allocs} allocations over {n} ops");
    }
    let fsx = FsxConfig { ops: Some(100_000), ..FsxConfig::default() }.stream().unwrap();
    assert_eq!(allocations_while(fsx), (0, 100_000));
}
