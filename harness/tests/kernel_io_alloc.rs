//! A kernel target's reads, writes and fsyncs allocate nothing once warm (counted per thread by
//! a global allocator wrapper): psync and io_uring, buffered and O_DIRECT, from aligned and
//! unaligned buffers.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::*;

use fsimpl::buf::AlignedBuf;
use harness::targets::{DirTarget, IoMode, Target};

#[test]
fn the_counter_counts_this_threads_allocations() {
    assert_eq!(allocations_during(|| ()), 0);
    assert_eq!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 100]))), 1);
}

#[test]
fn warm_reads_writes_and_fsyncs_allocate_nothing() {
    let uring = match io_uring::IoUring::new(2) {
        Ok(_) => vec![false, true],
        Err(e) => {
            println!("skipped: the io_uring half: io_uring unavailable ({e})");
            vec![false]
        }
    };
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let t = DirTarget::new(tmp.path()).unwrap();
    let direct = if t.capabilities().direct {
        vec![false, true]
    } else {
        println!("skipped: the O_DIRECT half: the filesystem of /var/tmp refuses O_DIRECT");
        vec![false]
    };
    let mut aligned = AlignedBuf::zeroed(16384);
    let mut unaligned_store = vec![5u8; 16385];
    for &uring in &uring {
        for &direct in &direct {
            let mode = IoMode { uring, direct };
            t.set_io_mode(mode).unwrap();
            let f = t.open(&format!("f-{uring}-{direct}"), true).unwrap();
            let unaligned = &mut unaligned_store[1..];
            // Warm up: this thread's ring and bounce buffer.
            t.write(f, 0, unaligned).unwrap();
            t.read(f, 0, unaligned).unwrap();
            let n = allocations_during(|| {
                for i in 0..200u64 {
                    let off = (i % 16) * 16384;
                    assert_eq!(t.write(f, off, &aligned).unwrap(), 16384);
                    assert_eq!(t.write(f, off, unaligned).unwrap(), 16384);
                    assert_eq!(t.read(f, off, &mut aligned).unwrap(), 16384);
                    assert_eq!(t.read(f, off, unaligned).unwrap(), 16384);
                    assert!(t.size(f).unwrap() >= off + 16384);
                }
                t.fsync(f).unwrap();
                t.fdatasync(f).unwrap();
            });
            assert_eq!(n, 0, "{mode:?}: allocations in 1000 warm ops");
            println!("{mode:?}: 0 allocations in 800 reads/writes, 200 sizes, fsync, fdatasync");
            t.close(f).unwrap();
        }
    }
}
