//! The ranks of an MPI job (`mpirun`, `mpiexec`, `srun`), through rsmpi: [`World`] is
//! [`Ranks`] over `MPI_COMM_WORLD`. Only the main thread calls MPI (`MPI_THREAD_FUNNELED`).
//!
//! - [`Ranks::all_gather`] and [`Ranks::gather`]: the lengths first (`MPI_Allgather` /
//!   `MPI_Gather` of one count per rank), then the bytes (`MPI_Allgatherv` / `MPI_Gatherv`).
//! - [`Ranks::reduce`]: a binomial tree of `MPI_Send`/`MPI_Recv` (the messages' lengths vary,
//!   which a user operation of `MPI_Reduce` cannot take).
//! - [`Ranks::notice_failure`]: a zero-byte `MPI_Isend` to every other rank on a tag of its
//!   own, freed at once (`MPI_Request_free`); [`Ranks::failure_noticed`] is an `MPI_Iprobe`
//!   for it.
//! - [`Ranks::abort`]: `MPI_Abort`, which ends every rank; the launcher's exit status is the
//!   code.

use crate::launcher::Launched;
use crate::ranks::{Ranks, Reduced};
use ::mpi::Count;
use ::mpi::datatype::PartitionMut;
use ::mpi::environment::{Threading, Universe};
use ::mpi::raw::AsRaw;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;
use std::sync::Mutex;

/// The tag of a failure notice.
const FAILURE_TAG: i32 = 0x0a05;
/// The tag of a partial result going up the reduction tree.
const REDUCE_TAG: i32 = 0x0a06;

/// `MPI_COMM_WORLD`, with every rank's host name.
pub struct World {
    /// Finalized when taken ([`Ranks::finish`]).
    universe: Mutex<Option<Universe>>,
    world: SimpleCommunicator,
    rank: u32,
    size: u32,
    hosts: Vec<String>,
}

// SAFETY: MPI is initialised with MPI_THREAD_FUNNELED and only the main thread calls it: the
// commands call `Ranks` from the main thread only. The communicator handle itself is a plain
// integer or pointer that MPI does not tie to a thread.
unsafe impl Send for World {}
unsafe impl Sync for World {}

impl World {
    /// Initialises MPI (the launcher `launched` started this process) and learns every rank's
    /// host.
    pub fn init(launched: &Launched) -> Result<World, String> {
        let (universe, _) = ::mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
            format!("started by {launched}, but MPI_Init_thread failed (or MPI was initialised twice)")
        })?;
        let world = universe.world();
        let (rank, size) = (world.rank() as u32, world.size() as u32);
        let mut w = World { universe: Mutex::new(Some(universe)), world, rank, size, hosts: Vec::new() };
        let me = crate::ranks::hostname();
        w.hosts = w.all_gather(me.as_bytes()).into_iter().map(|h| String::from_utf8_lossy(&h).into_owned()).collect();
        Ok(w)
    }
}

/// Counts and displacements for the byte lengths `lens`.
fn partition(lens: &[Count]) -> (Vec<Count>, usize) {
    let mut displs = Vec::with_capacity(lens.len());
    let mut at: i64 = 0;
    for &n in lens {
        displs.push(at as Count);
        at += i64::from(n);
    }
    (displs, at as usize)
}

/// `buf` cut into `lens`-long pieces.
fn split(buf: &[u8], lens: &[Count]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(lens.len());
    let mut at = 0;
    for &n in lens {
        out.push(buf[at..at + n as usize].to_vec());
        at += n as usize;
    }
    out
}

/// The length of `mine` as an MPI count; a message of 2 GiB or more cannot be sent in one.
fn count_of(mine: &[u8]) -> Count {
    Count::try_from(mine.len()).unwrap_or_else(|_| {
        eprintln!("aopsbench: a result of {} bytes is too large for one MPI message (2 GiB)", mine.len());
        std::process::abort()
    })
}

/// `mine`, or when it is empty an empty slice at a real address: an empty `Vec`'s slice sits at
/// address 1, which Open MPI reads as `MPI_IN_PLACE` (refused from a rank that is not the root
/// of a gather).
fn send_buf(mine: &[u8]) -> &[u8] {
    static NOTHING: [u8; 1] = [0];
    if mine.is_empty() { &NOTHING[..0] } else { mine }
}

impl Ranks for World {
    fn rank(&self) -> u32 {
        self.rank
    }

    fn size(&self) -> u32 {
        self.size
    }

    fn host_of(&self, rank: u32) -> &str {
        self.hosts.get(rank as usize).map_or("?", String::as_str)
    }

    fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        let mut lens: Vec<Count> = vec![0; self.size as usize];
        self.world.all_gather_into(&count_of(mine), &mut lens[..]);
        let (displs, total) = partition(&lens);
        // At least one byte: an empty receive buffer would share the dangling address of an
        // empty send buffer, which MPI refuses (send and receive buffers must differ).
        let mut buf = vec![0u8; total.max(1)];
        {
            let mut p = PartitionMut::new(&mut buf[..total], &lens[..], &displs[..]);
            self.world.all_gather_varcount_into(send_buf(mine), &mut p);
        }
        split(&buf, &lens)
    }

    fn gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        let root = self.world.process_at_rank(0);
        let n = count_of(mine);
        if self.rank != 0 {
            root.gather_into(&n);
            root.gather_varcount_into(send_buf(mine));
            return Vec::new();
        }
        let mut lens: Vec<Count> = vec![0; self.size as usize];
        root.gather_into_root(&n, &mut lens[..]);
        let (displs, total) = partition(&lens);
        // At least one byte: an empty receive buffer would share the dangling address of an
        // empty send buffer, which MPI refuses (send and receive buffers must differ).
        let mut buf = vec![0u8; total.max(1)];
        {
            let mut p = PartitionMut::new(&mut buf[..total], &lens[..], &displs[..]);
            root.gather_varcount_into_root(send_buf(mine), &mut p);
        }
        split(&buf, &lens)
    }

    fn reduce(&self, mine: Vec<u8>, merge: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Vec<u8>) -> Reduced {
        let mut acc = mine;
        let mut mask = 1u32;
        while mask < self.size {
            if self.rank & mask != 0 {
                let parent = self.world.process_at_rank((self.rank - mask) as i32);
                let _ = count_of(&acc);
                parent.send_with_tag(&acc[..], REDUCE_TAG);
                return Reduced::Sent(acc.len());
            }
            let child = self.rank + mask;
            if child < self.size {
                let (theirs, _) = self.world.process_at_rank(child as i32).receive_vec_with_tag::<u8>(REDUCE_TAG);
                acc = merge(acc, theirs);
            }
            mask <<= 1;
        }
        Reduced::Root(acc)
    }

    fn notice_failure(&self) {
        static NOTHING: [u8; 0] = [];
        for rank in (0..self.size).filter(|&r| r != self.rank) {
            // SAFETY: a zero-length send from a static buffer; the request is freed at once,
            // which MPI allows for a send still in progress (MPI 3.1, 3.7.3).
            unsafe {
                let mut request = std::mem::zeroed();
                ::mpi::ffi::MPI_Isend(
                    NOTHING.as_ptr().cast(),
                    0,
                    u8::equivalent_datatype().as_raw(),
                    rank as i32,
                    FAILURE_TAG,
                    self.world.as_raw(),
                    &mut request,
                );
                ::mpi::ffi::MPI_Request_free(&mut request);
            }
        }
    }

    fn failure_noticed(&self) -> bool {
        self.world.any_process().immediate_probe_with_tag(FAILURE_TAG).is_some()
    }

    fn barrier(&self) {
        self.world.barrier();
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    fn finish(&self) {
        let universe = self.universe.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(universe);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_come_back_in_rank_order() {
        let lens = [3, 0, 2];
        let (displs, total) = partition(&lens);
        assert_eq!((displs, total), (vec![0, 3, 3], 5));
        assert_eq!(split(b"abcde", &lens), vec![b"abc".to_vec(), vec![], b"de".to_vec()]);
    }
}
