//! What a fio job's writes hold when it does not verify (fio's `io_u.c`: `fill_io_buffer`,
//! `get_buf_state`, `save_buf_state`; `dedupe.c`: `init_dedupe_working_set_seeds`).
//!
//! Each job thread has a buffer state ([`BufState`], fio's `buf_state`): a stream of seeds
//! that every new buffer draws from. Without `refill_buffers` each queue slot is filled once
//! and a write only gets `scramble_buffers`' few bytes; with it (which
//! `buffer_compress_percentage` below 100 and `dedupe_percentage` turn on) every write is
//! filled anew. With compression or dedupe asked for, a buffer is filled in chunks of
//! `buffer_compress_chunk` (at most the smallest write), each from its own seed: the first
//! `100 - buffer_compress_percentage` percent random, the rest zeros (or `buffer_pattern`).
//!
//! With `dedupe_percentage=P`, P in 100 buffers (a draw per buffer) are made from an earlier
//! state rather than the stream's next one, chunks and compression included, so each is a
//! byte-exact copy of a buffer the thread writes elsewhere:
//! - `dedupe_mode=repeat`: from `buf_state_prev`, the state the last unique buffer left. That
//!   is where the next unique buffer starts, so a duplicate matches the unique buffer written
//!   after it.
//! - `dedupe_mode=working_set`: from one of `dedupe_working_set_percentage` of `size=` worth of
//!   states (in blocks of the smallest write), drawn uniformly. They are the states the
//!   thread's first unique buffers start from; with `dedupe_global`, those of every job thread
//!   of the file in turn (fio's `tnumber_to_td` order, an equal share each), so jobs writing
//!   different files share duplicate blocks.
//!
//! The seeds are aopsbench's (SplitMix64 states, ChaCha8 draws), fixed by the job's seed, its
//! index and the thread's: the same job file writes the same bytes.
//!
//! ```
//! use std::collections::HashSet;
//! use workloads::JobFile;
//! use workloads::buffers::Filler;
//!
//! let text = "[d]\nrw=write\nbs=4k\nsize=4m\nrandseed=1\ndedupe_percentage=25\n";
//! let job = JobFile::parse(text, "d.fio", false)?.jobs.remove(0);
//! let mut filler = Filler::new(&job, 0);
//! let mut blocks = HashSet::new();
//! for n in 0..1024u64 {
//!     let mut block = vec![0u8; 4096];
//!     filler.write(&mut block, n * 4096);
//!     blocks.insert(block);
//! }
//! // About a quarter of the writes repeat an earlier buffer.
//! assert!((720..=810).contains(&blocks.len()), "{}", blocks.len());
//! # Ok::<(), workloads::JobError>(())
//! ```

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use crate::fio::{Dedupe, DedupeMode, Job};
use crate::rng::{between, fill_random, next_u64, seeded, splitmix64};

/// A thread's buffer state (fio's `frand_state` `buf_state`): a stream of seeds, each filling
/// a buffer or a chunk of one. Copying it and drawing from the copy makes the same bytes again
/// (fio's `frand_copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufState(u64);

impl BufState {
    /// The state thread `thread` of `job` starts from (fio's `init_rand_seed` of `buf_state`).
    pub fn first(job: &Job, thread: u32) -> BufState {
        BufState(next_u64(&mut seeded(b"aopsbuf1", job.seed(), u64::from(job.index), u64::from(thread))))
    }

    /// The next seed (fio's `__get_next_seed`).
    #[inline]
    fn next_seed(&mut self) -> u64 {
        let seed = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        seed
    }
}

/// Every job thread of a job file in fio's order (fio's `thread_number` threads, which
/// `tnumber_to_td` walks), as the states they start from: what `dedupe_global` working sets
/// are drawn from. Set on each job when its file is read ([`RunThreads::of_file`]); empty for a
/// job made otherwise, which then draws from its own threads only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunThreads {
    /// The index of the job's first thread among them.
    first: u32,
    /// Each thread's first [`BufState`].
    states: Arc<[BufState]>,
}

impl RunThreads {
    /// Sets each job's view of `jobs`' threads, when one of them draws a global working set.
    pub(crate) fn of_file(jobs: &mut [Job]) {
        if !jobs.iter().any(|j| j.buffers.dedupe.global && j.buffers.dedupe.uses_working_set()) {
            return;
        }
        let states: Arc<[BufState]> =
            jobs.iter().flat_map(|j| (0..j.numjobs).map(move |t| BufState::first(j, t))).collect();
        let mut first = 0;
        for job in jobs {
            job.run_threads = RunThreads { first, states: states.clone() };
            first += job.numjobs;
        }
    }
}

/// Which state a buffer is filled from (fio's `get_buf_state` returns a pointer to one).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `buf_state`: a new buffer.
    Next,
    /// `buf_state_ret`: a copy of an earlier state, for a duplicate.
    Copy,
}

/// The number of blocks of a job's working set (fio's `num_unique_pages`):
/// `dedupe_working_set_percentage` of `size=`, in blocks of the smallest write.
pub fn working_set_blocks(job: &Job) -> u64 {
    let d = &job.buffers.dedupe;
    let size = job.size.unwrap_or(0);
    size.saturating_mul(u64::from(d.working_set_percentage)) / 100 / job.bs.write.min().max(1)
}

/// fio's `min_not_zero`.
fn min_not_zero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, b) => b,
        (a, 0) => a,
        (a, b) => a.min(b),
    }
}

/// One job thread's write contents: fio's `buf_state`, `buf_state_prev`, `dedupe_state`,
/// `dedupe_working_set_index_state` and `dedupe_working_set_states`, with the job's buffer
/// options as fio's `fixup_options` leaves them.
#[derive(Clone, Debug)]
pub struct Filler {
    /// fio's `buf_state`.
    state: BufState,
    /// fio's `buf_state_prev`: where the last unique buffer left `state`.
    prev: BufState,
    /// fio's `buf_state_ret`: the copy a duplicate is filled from.
    copy: BufState,
    /// fio's `dedupe_state`: which buffers are duplicates.
    dedupe_rng: ChaCha8Rng,
    /// fio's `dedupe_working_set_index_state`: which working-set state a duplicate takes.
    index_rng: ChaCha8Rng,
    /// fio's `dedupe_working_set_states` (empty unless `dedupe_mode=working_set`).
    working_set: Vec<BufState>,
    dedupe: Dedupe,
    /// `buffer_compress_percentage`, 0 when it was 100 (fio's `fixup_options` zeroes the
    /// buffers instead: `zero`).
    compress: u32,
    zero: bool,
    /// `buffer_compress_chunk`.
    chunk: u64,
    /// The smallest write (fio's `min_bs[DDIR_WRITE]`): the unit of the compression chunks.
    min_write: u64,
    pattern: Option<Vec<u8>>,
    /// fio's `TD_F_REFILL_BUFFERS`.
    refill: bool,
    /// fio's `TD_F_SCRAMBLE_BUFFERS` without `TD_F_COMPRESS`.
    scramble: bool,
    /// The job writes (fio's `td_write`): the slots are filled when made.
    writes: bool,
}

impl Filler {
    /// The contents of thread `thread` of `job` (fio's `setup_random_seeds` and
    /// `init_dedupe_working_set_seeds`).
    pub fn new(job: &Job, thread: u32) -> Filler {
        let b = &job.buffers;
        let (seed, index, t) = (job.seed(), u64::from(job.index), u64::from(thread));
        let state = BufState::first(job, thread);
        let (compress, zero) = if b.compress_percentage >= 100 { (0, true) } else { (b.compress_percentage, false) };
        Filler {
            state,
            prev: state,
            copy: state,
            dedupe_rng: seeded(b"aopsdedu", seed, index, t),
            index_rng: seeded(b"aopsdwsi", seed, index, t),
            working_set: working_set(job, thread, state),
            dedupe: b.dedupe,
            compress,
            zero,
            chunk: b.compress_chunk,
            min_write: job.bs.write.min().max(1),
            pattern: b.pattern.clone(),
            refill: b.refills(),
            scramble: b.scramble && b.pattern.is_none() && !b.shapes_contents(),
            writes: job.rw.writes(),
        }
    }

    /// Fills a queue slot's buffer as it is made (fio's `init_io_u`: a job that writes fills
    /// each one).
    pub fn initial(&mut self, buf: &mut [u8]) {
        if self.writes {
            self.fill_io_buffer(buf);
        }
    }

    /// Fills the buffer of a write at file offset `offset` (fio's `get_io_u`): all of it anew
    /// with `refill_buffers`, else the slot's contents scrambled when `scramble_buffers` is on.
    #[inline]
    pub fn write(&mut self, buf: &mut [u8], offset: u64) {
        if self.refill {
            self.fill_io_buffer(buf);
        } else if self.scramble {
            scramble(buf, offset);
        }
    }

    /// fio's `fill_io_buffer`.
    fn fill_io_buffer(&mut self, buf: &mut [u8]) {
        if self.compress > 0 || self.dedupe.percentage > 0 {
            // A buffer is a duplicate or not as a whole: every chunk from the one state.
            let from = self.buf_state();
            let mut min_write = self.min_write;
            let mut at = 0;
            while at < buf.len() {
                min_write = min_write.min((buf.len() - at) as u64);
                let len = min_not_zero(min_write, self.chunk) as usize;
                let seed = match from {
                    Source::Next => self.state.next_seed(),
                    Source::Copy => self.copy.next_seed(),
                };
                fill_percentage(&mut buf[at..at + len], seed, self.compress, self.pattern.as_deref());
                at += len;
                self.save_buf_state(from);
            }
        } else if let Some(p) = &self.pattern {
            fill_pattern(buf, p);
        } else if self.zero {
            buf.fill(0);
        } else {
            fill_random(buf, self.state.next_seed());
        }
    }

    /// fio's `get_buf_state`: the state the next buffer is filled from.
    fn buf_state(&mut self) -> Source {
        match self.dedupe.percentage {
            0 => return Source::Next,
            100 => {
                self.prev = self.state;
                return Source::Next;
            }
            p if between(&mut self.dedupe_rng, 1, 100) > u64::from(p) => return Source::Next,
            _ => {}
        }
        self.copy = match (self.dedupe.mode, self.working_set.len() as u64) {
            (DedupeMode::WorkingSet, n) if n > 0 => self.working_set[between(&mut self.index_rng, 0, n - 1) as usize],
            // Repeat, or a working set of no blocks (refused when the job is read).
            _ => self.prev,
        };
        Source::Copy
    }

    /// fio's `save_buf_state`, after each chunk: `dedupe_percentage=100` goes back to where
    /// the buffer started (so every chunk of every buffer is the same), a unique buffer moves
    /// `prev` on.
    fn save_buf_state(&mut self, from: Source) {
        if self.dedupe.percentage == 100 {
            self.state = self.prev;
        } else if from == Source::Next {
            self.prev = self.state;
        }
    }
}

/// fio's `init_dedupe_working_set_seeds`: the states of the working set of thread `thread`
/// of `job`, which starts from `state`. Each is where a buffer of the smallest write starts
/// (as many seeds apart as it has compression chunks). With `dedupe_global` the states come
/// from every thread of the file in turn, an equal share each, starting with this one.
fn working_set(job: &Job, thread: u32, mut state: BufState) -> Vec<BufState> {
    if !job.buffers.dedupe.uses_working_set() {
        return Vec::new();
    }
    let n = working_set_blocks(job);
    let min_write = job.bs.write.min().max(1);
    let advance = min_write / min_not_zero(min_write, job.buffers.compress_chunk);
    let global = job.buffers.dedupe.global;
    let (threads, mut at): (Arc<[BufState]>, u32) = match &job.run_threads {
        r if global && !r.states.is_empty() => (r.states.clone(), r.first + thread),
        // A job not read from a file draws from its own threads.
        _ if global => ((0..job.numjobs).map(|t| BufState::first(job, t)).collect(), thread),
        _ => (Arc::from([state]), 0),
    };
    let count = threads.len() as u32;
    let per_thread = (n / u64::from(count)).max(1);
    let mut set = Vec::with_capacity(n as usize);
    for i in 0..n {
        if i > 0 {
            for _ in 0..advance {
                state.next_seed();
            }
            if global && i % per_thread == 0 {
                at = (at + 1) % count;
                state = threads[at as usize];
            }
        }
        set.push(state);
    }
    set
}

/// fio's `__fill_random_buf_percentage` for one chunk: the first `100 - compress` percent
/// random from `seed`, the rest `pattern` (from its start) or zeros.
fn fill_percentage(buf: &mut [u8], seed: u64, compress: u32, pattern: Option<&[u8]>) {
    let random = buf.len() * (100 - compress.min(100) as usize) / 100;
    let (head, tail) = buf.split_at_mut(random);
    fill_random(head, seed);
    match pattern {
        Some(p) => fill_pattern(tail, p),
        None => tail.fill(0),
    }
}

/// fio's `cpy_pattern`: `pattern` repeated from the start of `buf`.
fn fill_pattern(buf: &mut [u8], pattern: &[u8]) {
    if pattern.is_empty() {
        buf.fill(0);
        return;
    }
    for (b, p) in buf.iter_mut().zip(pattern.iter().cycle()) {
        *b = *p;
    }
}

/// fio's `scramble_buffers` (on by default): each 512-byte sector of a write starts with its
/// own offset, so that no two writes are identical and deduplication cannot fold them.
#[inline]
fn scramble(buf: &mut [u8], offset: u64) {
    for (i, sector) in buf.chunks_mut(512).enumerate() {
        let tag = (offset + (i as u64) * 512).to_le_bytes();
        let n = sector.len().min(8);
        sector[..n].copy_from_slice(&tag[..n]);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::fio::JobFile;

    const BS: usize = 4096;

    fn jobs(text: &str) -> Vec<Job> {
        JobFile::parse(text, "t.fio", false).unwrap_or_else(|e| panic!("{e}")).jobs
    }

    /// The blocks `n` writes of thread 0 of `job` hold, as fio's `get_io_u` fills them.
    fn writes(job: &Job, n: usize) -> Vec<Vec<u8>> {
        let mut f = Filler::new(job, 0);
        (0..n)
            .map(|i| {
                let mut b = vec![0u8; BS];
                f.write(&mut b, (i * BS) as u64);
                b
            })
            .collect()
    }

    fn distinct(blocks: &[Vec<u8>]) -> usize {
        blocks.iter().collect::<HashSet<_>>().len()
    }

    /// Whether `dups` duplicates in `n` buffers is within four standard deviations of `p`
    /// percent (a buffer is a duplicate with probability p/100, drawn alone).
    fn near(dups: usize, n: usize, p: f64) -> bool {
        let (mean, sd) = (n as f64 * p / 100.0, (n as f64 * p / 100.0 * (1.0 - p / 100.0)).sqrt());
        (dups as f64 - mean).abs() <= 4.0 * sd
    }

    #[test]
    fn repeat_duplicates_the_share_asked() {
        let job = &jobs("[r]\nrw=write\nbs=4k\nsize=8m\nrandseed=1\ndedupe_percentage=30\n")[0];
        let blocks = writes(job, 2048);
        let dups = blocks.len() - distinct(&blocks);
        assert_eq!(dups, 613);
        assert!(near(dups, 2048, 30.0), "{dups}");
        // A duplicate is made from where the last unique buffer left the state: it is the next
        // unique buffer, so the copies of a block come one after another.
        let mut at: HashMap<&Vec<u8>, Vec<usize>> = HashMap::new();
        for (i, b) in blocks.iter().enumerate() {
            at.entry(b).or_default().push(i);
        }
        assert!(at.values().all(|p| p.windows(2).all(|w| w[1] == w[0] + 1)));
        // No duplicates without dedupe_percentage, and all of them with 100 (every chunk alike,
        // as fio's save_buf_state makes them).
        let plain = &jobs("[p]\nrw=write\nbs=4k\nsize=8m\nrefill_buffers\n")[0];
        assert_eq!(distinct(&writes(plain, 512)), 512);
        let all = &jobs("[a]\nrw=write\nbs=4k\nsize=8m\ndedupe_percentage=100\n")[0];
        let blocks = writes(all, 64);
        assert_eq!(distinct(&blocks), 1);
        assert!(blocks[0].chunks(512).all(|c| c == &blocks[0][..512]));
    }

    /// The block a buffer made from `state` holds (a duplicate of working-set state `state`).
    fn block_from(f: &Filler, state: BufState) -> Vec<u8> {
        let mut g = f.clone();
        g.dedupe.percentage = 0;
        g.state = state;
        let mut b = vec![0u8; BS];
        g.fill_io_buffer(&mut b);
        b
    }

    const WORKING_SET: &str = "[global]\nrw=write\nbs=4k\nsize=8m\nrandseed=2\ndedupe_mode=working_set\n\
                               dedupe_percentage=40\ndedupe_working_set_percentage=10\nbuffer_compress_percentage=50\n";

    #[test]
    fn working_set_duplicates_come_from_the_working_set() {
        let job = &jobs(&format!("{WORKING_SET}[w]\n"))[0];
        let f = Filler::new(job, 0);
        // 10% of 8 MiB in 4 KiB blocks.
        assert_eq!((working_set_blocks(job), f.working_set.len()), (204, 204));
        let set: HashSet<Vec<u8>> = f.working_set.iter().map(|&s| block_from(&f, s)).collect();
        assert_eq!(set.len(), 204);
        let blocks = writes(job, 2048);
        let mut count: HashMap<&Vec<u8>, usize> = HashMap::new();
        for b in &blocks {
            *count.entry(b).or_default() += 1;
        }
        let repeated: Vec<&Vec<u8>> = count.iter().filter(|(_, n)| **n > 1).map(|(b, _)| *b).collect();
        assert!(repeated.iter().all(|b| set.contains(*b)), "a repeated block outside the working set");
        let dups = blocks.len() - count.len();
        assert_eq!((count.len(), repeated.len(), dups), (1271, 200, 777));
        assert!(near(dups, 2048, 40.0), "{dups}");
        // The working set is where the first unique buffers start: the job writes each of them.
        let first = block_from(&f, f.working_set[0]);
        assert!(blocks.contains(&first));
        // A duplicate is a byte-exact copy, compression included: half of each 512-byte chunk
        // is zeros.
        for b in &blocks {
            assert!(b.chunks(512).all(|c| c[256..].iter().all(|&x| x == 0)));
        }
    }

    #[test]
    fn dedupe_global_shares_blocks_between_jobs() {
        let blocks_of = |global: &str| -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
            let js = jobs(&format!("{WORKING_SET}{global}[a]\n[b]\n"));
            (writes(&js[0], 2048), writes(&js[1], 2048))
        };
        let shared = |a: &[Vec<u8>], b: &[Vec<u8>]| {
            let a: HashSet<&Vec<u8>> = a.iter().collect();
            b.iter().filter(|x| a.contains(x)).count()
        };
        let (a, b) = blocks_of("");
        assert_eq!(shared(&a, &b), 0);
        let (a, b) = blocks_of("dedupe_global=1\n");
        assert_eq!(shared(&a, &b), 932);
        // The working set of each job: its own first states, then the other job's (fio's
        // rotation through the threads, an equal share each).
        let js = jobs(&format!("{WORKING_SET}dedupe_global=1\n[a]\n[b]\n"));
        let (fa, fb) = (Filler::new(&js[0], 0), Filler::new(&js[1], 0));
        let (sa, sb) = (BufState::first(&js[0], 0), BufState::first(&js[1], 0));
        assert_eq!((fa.working_set[0], fa.working_set[102]), (sa, sb));
        assert_eq!((fb.working_set[0], fb.working_set[102]), (sb, sa));
        // Without the file, a job draws from its own threads.
        let mut alone = js[0].clone();
        alone.run_threads = RunThreads::default();
        let mut own = sa;
        for _ in 0..102 * 8 {
            own.next_seed();
        }
        assert_eq!(Filler::new(&alone, 0).working_set[102], own);
    }

    #[test]
    fn compression_without_refill_is_not_scrambled() {
        // fio: buffer_compress_percentage turns refill_buffers on unless it is given, and
        // scramble_buffers off.
        let js = jobs("[global]\nrw=write\nsize=1m\nbuffer_compress_percentage=25\n[on]\n[off]\nrefill_buffers=0\n");
        assert!(js[0].buffers.refills() && !js[1].buffers.refills());
        let mut f = Filler::new(&js[1], 0);
        let mut b = vec![0u8; BS];
        f.initial(&mut b);
        let before = b.clone();
        f.write(&mut b, 8192);
        assert_eq!(b, before);
        assert!(b.chunks(512).all(|c| c[384..].iter().all(|&x| x == 0) && c[..384].iter().any(|&x| x != 0)));
    }
}
