//! The measured op stream of one job thread: fio's offset, size and direction choices, made
//! deterministic.

use rand_chacha::ChaCha8Rng;

use super::dist::Sampler;
use super::job::{BlockSize, Job};
use super::randmap::{Permutation, RandomMap};
use super::value::PPM;
use crate::op::Op;
use crate::rng::{below, between};

/// The ops of one job thread, in order: a deterministic, allocation-free iterator.
///
/// fio's meaning: each loop moves `io_size` bytes, files taken in turn (fio's default
/// `file_service_type=roundrobin`); sequential offsets run from the region start and wrap at its
/// end (reads and writes keep their own position, as fio's `last_pos[ddir]`); random offsets are
/// multiples of the block alignment and, unless `norandommap`, cover each file's region once per
/// pass without repeats, an I/O being cut short where it would run into blocks already done
/// (fio's `mark_random_map`). Mixed jobs pick each I/O's direction by `rwmixread`. After every
/// `fsync=N` (`fdatasync=N`) writes comes an [`Op::Fsync`] ([`Op::Fdatasync`]) of the file just
/// written. After the last loop come `end_fsync` and `fsync_on_close` fsyncs of every file.
/// `time_based` streams loop forever: call [`OpStream::finish`] at the end of the runtime to get
/// those closing ops.
#[derive(Clone, Debug)]
pub struct OpStream {
    rng: ChaCha8Rng,
    cfg: StreamConfig,
    files: Vec<FileState>,
    next_file: usize,
    loop_left: u64,
    loops_left: u32,
    next_tag: u64,
    writes: u64,
    pending: [Option<Op>; 2],
    phase: Phase,
}

/// What the stream needs from the job.
#[derive(Clone, Debug)]
struct StreamConfig {
    random: bool,
    reads: bool,
    writes: bool,
    rwmixread: u64,
    bs_read: BlockSize,
    bs_write: BlockSize,
    align: u64,
    region_start: u64,
    region_len: u64,
    units: u64,
    io_size: u64,
    loops: u32,
    time_based: bool,
    use_map: bool,
    sampler: Option<Sampler>,
    scatter: Option<Permutation>,
    fsync: u64,
    fdatasync: u64,
    end_fsyncs: u32,
}

/// Per-file position and random map.
#[derive(Clone, Debug)]
struct FileState {
    /// Sequential positions within the region, for reads and writes.
    pos: [u64; 2],
    map: Option<RandomMap>,
    /// Uniform order of blocks for this pass, and how far along it is.
    order: Option<Permutation>,
    order_next: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Io,
    /// Emitting the closing fsyncs; the number is how many were emitted.
    End(u32),
    Done,
}

impl OpStream {
    /// The stream of `job` for a thread seeded by `rng`, over `nfiles` files, numbering writes
    /// from `first_tag`.
    pub(crate) fn new(job: &Job, mut rng: ChaCha8Rng, nfiles: u32, first_tag: u64) -> OpStream {
        let align = job.block_align();
        let region_len = job.region_len();
        let units = region_len / align;
        let sampler = if job.rw.is_random() { Sampler::new(job.random_distribution, units) } else { None };
        let scatter = sampler.as_ref().map(|_| Permutation::new(units, &mut rng));
        let use_map = job.uses_random_map();
        let uniform_map = use_map && sampler.is_none();
        let files = (0..nfiles)
            .map(|_| FileState {
                pos: [0, 0],
                map: use_map.then(|| RandomMap::new(units)),
                order: uniform_map.then(|| Permutation::new(units, &mut rng)),
                order_next: 0,
            })
            .collect();
        let end_fsyncs =
            if job.rw.writes() { (u32::from(job.end_fsync) + u32::from(job.fsync_on_close)) * nfiles } else { 0 };
        let cfg = StreamConfig {
            random: job.rw.is_random(),
            reads: job.rw.reads(),
            writes: job.rw.writes(),
            rwmixread: u64::from(job.rwmixread),
            bs_read: job.bs.read.clone(),
            bs_write: job.bs.write.clone(),
            align,
            region_start: job.offset,
            region_len,
            units,
            io_size: job.io_size(),
            loops: job.loops,
            time_based: job.control.time_based,
            use_map,
            sampler,
            scatter,
            fsync: job.fsync,
            fdatasync: job.fdatasync,
            end_fsyncs,
        };
        OpStream {
            rng,
            loop_left: cfg.io_size,
            loops_left: cfg.loops,
            cfg,
            files,
            next_file: 0,
            next_tag: first_tag,
            writes: 0,
            pending: [None, None],
            phase: Phase::Io,
        }
    }

    /// Bytes of reads and writes the stream will issue in all, or `None` when time-based.
    pub fn planned_bytes(&self) -> Option<u64> {
        (!self.cfg.time_based).then(|| self.cfg.io_size * u64::from(self.cfg.loops))
    }

    /// Whether the stream never ends by itself (`time_based`).
    pub fn is_time_based(&self) -> bool {
        self.cfg.time_based
    }

    /// End the I/O now (the runtime is over): the stream still yields a due fsync and then the
    /// closing `end_fsync`/`fsync_on_close` ops, then ends.
    pub fn finish(&mut self) {
        if self.phase == Phase::Io {
            self.phase = Phase::End(0);
        }
    }

    fn take_pending(&mut self) -> Option<Op> {
        for slot in &mut self.pending {
            if let Some(op) = slot.take() {
                return Some(op);
            }
        }
        None
    }

    /// Start the next loop, or move to the closing ops after the last.
    fn end_loop(&mut self) {
        if !self.cfg.time_based {
            self.loops_left -= 1;
            if self.loops_left == 0 {
                self.phase = Phase::End(0);
                return;
            }
        }
        self.loop_left = self.cfg.io_size;
        for f in 0..self.files.len() {
            self.new_pass(f);
        }
    }

    /// Forget what file `f` did: positions back to the region start, map cleared, new order.
    fn new_pass(&mut self, f: usize) {
        let file = &mut self.files[f];
        file.pos = [0, 0];
        if let Some(map) = &mut file.map {
            map.clear();
        }
        if let Some(order) = &mut file.order {
            order.rekey(&mut self.rng);
        }
        file.order_next = 0;
    }

    /// The next file in turn; with a random map, skipping files whose map is full (and
    /// starting a new pass on all of them when every map is full).
    fn pick_file(&mut self) -> usize {
        let n = self.files.len();
        if self.cfg.use_map {
            if self.files.iter().all(|f| f.map.as_ref().is_some_and(RandomMap::is_full)) {
                for f in 0..n {
                    self.new_pass(f);
                }
            }
            while self.files[self.next_file].map.as_ref().is_some_and(RandomMap::is_full) {
                self.next_file = (self.next_file + 1) % n;
            }
        }
        let f = self.next_file;
        self.next_file = (f + 1) % n;
        f
    }

    fn pick_bs(&mut self, write: bool) -> u64 {
        let bs = if write { &self.cfg.bs_write } else { &self.cfg.bs_read };
        match bs {
            BlockSize::Fixed(n) => *n,
            BlockSize::Range { min, max } => min * between(&mut self.rng, 1, max / min),
            BlockSize::Split(shares) => {
                let mut r = below(&mut self.rng, PPM);
                for share in shares {
                    if r < share.ppm {
                        return share.size;
                    }
                    r -= share.ppm;
                }
                shares.last().map_or(4096, |s| s.size)
            }
        }
    }

    /// A random block of file `f` (a free one when the map is in use).
    fn pick_block(&mut self, f: usize) -> u64 {
        let cfg = &self.cfg;
        let rng = &mut self.rng;
        let file = &mut self.files[f];
        match (&cfg.sampler, &file.map) {
            (Some(sampler), map) => {
                let rank = sampler.sample(rng);
                let block = cfg.scatter.as_ref().map_or(rank, |p| p.apply(rank));
                match map {
                    Some(map) if map.is_taken(block) => map.next_free(block),
                    _ => block,
                }
            }
            (None, Some(map)) => loop {
                let Some(order) = &file.order else {
                    break map.next_free(0);
                };
                let block = order.apply(file.order_next);
                file.order_next += 1;
                if !map.is_taken(block) {
                    break block;
                }
            },
            (None, None) => below(rng, cfg.units),
        }
    }

    /// The next read or write.
    fn next_io(&mut self) -> Op {
        let f = self.pick_file();
        let write = match (self.cfg.reads, self.cfg.writes) {
            (true, true) => below(&mut self.rng, 100) >= self.cfg.rwmixread,
            (_, writes) => writes,
        };
        let bs = self.pick_bs(write);
        let block = if self.cfg.random { self.pick_block(f) } else { 0 };
        let cfg = &self.cfg;
        let (pos, len) = if cfg.random {
            let pos = block * cfg.align;
            let mut len = bs.min(cfg.region_len - pos).min(self.loop_left);
            if let Some(map) = &mut self.files[f].map {
                let run = map.free_run(block, bs.div_ceil(cfg.align));
                len = len.min(run * cfg.align);
                map.take(block, len.div_ceil(cfg.align));
            }
            (pos, len)
        } else {
            let cursor = &mut self.files[f].pos[usize::from(write)];
            if *cursor >= cfg.region_len {
                *cursor = 0;
            }
            let pos = *cursor;
            let len = bs.min(cfg.region_len - pos).min(self.loop_left);
            *cursor += len;
            (pos, len)
        };
        self.loop_left -= len;
        let file = f as u32;
        let offset = cfg.region_start + pos;
        if !write {
            return Op::Read { file, offset, len };
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        self.writes += 1;
        if cfg.fsync > 0 && self.writes.is_multiple_of(cfg.fsync) {
            self.pending[0] = Some(Op::Fsync { file });
        }
        if cfg.fdatasync > 0 && self.writes.is_multiple_of(cfg.fdatasync) {
            self.pending[1] = Some(Op::Fdatasync { file });
        }
        Op::Write { file, offset, len, tag }
    }
}

impl Iterator for OpStream {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if let Some(op) = self.take_pending() {
            return Some(op);
        }
        loop {
            match self.phase {
                Phase::Io if self.loop_left == 0 => self.end_loop(),
                Phase::Io => return Some(self.next_io()),
                Phase::End(k) if k < self.cfg.end_fsyncs => {
                    self.phase = Phase::End(k + 1);
                    return Some(Op::Fsync { file: k % self.files.len() as u32 });
                }
                Phase::End(_) | Phase::Done => {
                    self.phase = Phase::Done;
                    return None;
                }
            }
        }
    }
}
