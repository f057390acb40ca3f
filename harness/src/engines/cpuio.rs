//! fio's `cpuio` engine (engines/cpu.c): each I/O burns a CPU for `cpuchunks` microseconds
//! and moves nothing; the thread then idles for the share `cpuload` leaves (fio sets the job's
//! `thinktime` so), so that the thread uses `cpuload` percent of a CPU.

use std::hint::black_box;
use std::time::{Duration, Instant};

use workloads::fio::{CpuMode, CpuOptions};

use super::{Engine, IoReq, Queued};

/// Numbers `qsort` mode sorts per I/O (fio's `qsort_size`: 256 Ki 32-bit integers).
const QSORT_LEN: usize = 256 << 10;

/// A `cpuio` job thread.
pub struct CpuEngine {
    load: u32,
    chunk: Duration,
    mode: CpuMode,
    /// `qsort` mode's numbers (fio's `qsort_data`, filled once by `mwc32`).
    data: Vec<i32>,
}

impl CpuEngine {
    /// The engine for `o` (`cpuload` is 1..=100, checked when the job was read).
    pub fn new(o: &CpuOptions) -> Self {
        let data = match o.mode {
            CpuMode::Noop => Vec::new(),
            CpuMode::Qsort => {
                let mut m = Mwc { w: 521_288_629, z: 362_436_069 };
                (0..QSORT_LEN).map(|_| m.next() as i32).collect()
            }
        };
        CpuEngine { load: o.load.clamp(1, 100), chunk: Duration::from_micros(o.chunk_us), mode: o.mode, data }
    }

    /// fio's `do_qsort`: sort, sort backwards, sort the bytes, sort backwards again, with the C
    /// library's `qsort` and fio's comparators (the work is libc's, as in fio); the chunk becomes
    /// the time that took, so the idle time keeps `cpuload`.
    fn qsort(&mut self) {
        let start = Instant::now();
        let n = self.data.len();
        let p = self.data.as_mut_ptr().cast::<libc::c_void>();
        // SAFETY: qsort over our own vector, as n 4-byte or 4n 1-byte elements, with
        // comparators that read only the two elements they are given.
        unsafe {
            libc::qsort(p, n, 4, Some(cmp_i32));
            libc::qsort(p, n, 4, Some(cmp_i32_rev));
            libc::qsort(p, n * 4, 1, Some(cmp_i8));
            libc::qsort(p, n, 4, Some(cmp_i32_rev));
        }
        black_box(&self.data);
        self.chunk = start.elapsed();
    }
}

/// fio's `stress_qsort_cmp_1`.
extern "C" fn cmp_i32(a: *const libc::c_void, b: *const libc::c_void) -> libc::c_int {
    // SAFETY: qsort hands two valid, aligned i32 element pointers.
    let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
    a.cmp(&b) as libc::c_int
}

/// fio's `stress_qsort_cmp_2`: backwards.
extern "C" fn cmp_i32_rev(a: *const libc::c_void, b: *const libc::c_void) -> libc::c_int {
    cmp_i32(b, a)
}

/// fio's `stress_qsort_cmp_3`: the bytes as signed 8-bit values.
extern "C" fn cmp_i8(a: *const libc::c_void, b: *const libc::c_void) -> libc::c_int {
    // SAFETY: qsort hands two valid byte pointers.
    let (a, b) = unsafe { (*a.cast::<i8>(), *b.cast::<i8>()) };
    libc::c_int::from(a) - libc::c_int::from(b)
}

/// fio's `mwc32`: Marsaglia's multiply-with-carry generator.
struct Mwc {
    w: u32,
    z: u32,
}

impl Mwc {
    fn next(&mut self) -> u32 {
        self.z = 36969u32.wrapping_mul(self.z & 65535).wrapping_add(self.z >> 16);
        self.w = 18000u32.wrapping_mul(self.w & 65535).wrapping_add(self.w >> 16);
        (self.z << 16).wrapping_add(self.w)
    }
}

impl Engine for CpuEngine {
    fn queue(&mut self, _slot: u32, _req: &IoReq) -> Queued {
        match self.mode {
            // fio's usec_spin: busy until the chunk has passed.
            CpuMode::Noop => {
                let start = Instant::now();
                while start.elapsed() < self.chunk {
                    std::hint::spin_loop();
                }
            }
            CpuMode::Qsort => self.qsort(),
        }
        Queued::Done(Ok(0))
    }
    /// fio's `fio_cpuio_init`: `thinktime = cpucycle * (100 - cpuload) / cpuload`.
    fn think(&self) -> Option<Duration> {
        Some(self.chunk * (100 - self.load) / self.load)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_burns_its_time_and_leaves_the_rest_idle() {
        let o = CpuOptions { load: 25, chunk_us: 2_000, mode: CpuMode::Noop };
        let mut e = CpuEngine::new(&o);
        let req = IoReq::new(super::super::IoKind::Read, 0, 0, std::ptr::null_mut(), 4096);
        let start = Instant::now();
        assert_eq!(e.queue(0, &req), Queued::Done(Ok(0)), "cpuio moves no bytes");
        assert!(start.elapsed() >= Duration::from_millis(2));
        assert_eq!(e.think(), Some(Duration::from_millis(6)), "75% idle of a 2 ms chunk at cpuload=25");
    }

    #[test]
    fn qsort_sorts_fios_numbers_and_times_the_chunk() {
        let o = CpuOptions { load: 50, chunk_us: 50_000, mode: CpuMode::Qsort };
        let mut e = CpuEngine::new(&o);
        assert_eq!(e.data.len(), QSORT_LEN);
        e.qsort();
        assert!(e.data.windows(2).all(|w| w[0] >= w[1]), "the last sort is backwards");
        assert_eq!(e.think(), Some(e.chunk), "at 50% the idle time equals the measured sort");
    }
}
