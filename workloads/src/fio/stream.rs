//! The measured op stream of one job thread: fio's offset, size and direction choices, made
//! deterministic.

use rand_chacha::ChaCha8Rng;

use super::dist::Sampler;
use super::job::Job;
use super::randmap::{Permutation, RandomMap};
use super::types::{BlockSize, Dir, FileService, IoEngine, PerDir, ReadWrite, RwSequencer, Strided};
use super::value::PPM;
use crate::op::{FallocMode, Op};
use crate::rng::{below, between};

/// One op of a stream, with what the runner must do beyond issuing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Io {
    /// The op.
    pub op: Op,
    /// A read that checks the verify data of an earlier write (`verify=`).
    pub verify: bool,
    /// The I/O starts a new pass over its file: drop the file's cached pages first (fio's
    /// `loop_cache_invalidate` when a time_based job wraps, or `td_io_open_file` when a loop
    /// reopens it; only with `invalidate` and buffered I/O).
    pub invalidate: bool,
    /// With `openfiles` below the number of files: a file whose pass is done, to close (once
    /// its I/O in flight completed) before this op, as fio's `td_io_close_file` when
    /// `fill_io_u` finds nothing left in it.
    pub close: Option<u32>,
}

/// Verify pieces kept before an automatic verify pass (bounds memory of long verify jobs).
const MAX_PIECES: usize = 1 << 22;

/// The ops of one job thread, in order: a deterministic, allocation-free iterator (a verify
/// job keeps the list of what it wrote, as fio's io pieces).
///
/// fio's meaning: each loop moves `io_size` bytes, files taken in turn (`file_service_type`,
/// roundrobin by default); sequential offsets run from the region start and wrap at its end
/// (reads, writes and trims keep their own position, as fio's `last_pos[ddir]`), skipping
/// `rw=write:N` bytes after each I/O; random offsets are multiples of the block alignment and,
/// unless `norandommap`, cover each file's region once per pass without repeats, an I/O being
/// cut short where it would run into blocks already done (fio's `mark_random_map`); with
/// `rw=randread:N` a new random offset comes every N I/Os, sequential (or identical, with
/// `rw_sequencer=identical`) in between. Mixed jobs pick each I/O's direction by `rwmixread`;
/// trims are [`FallocMode::PunchHole`], as fio trims files on Linux; `trimwrite` trims a range
/// and then writes it. After every `fsync=N` (`fdatasync=N`) writes comes an [`Op::Fsync`]
/// ([`Op::Fdatasync`]) of the file just written. `number_ios` ends the I/O early. With
/// `verify`, the writes are read back and checked ([`Io::verify`]): after every
/// `verify_backlog` writes, else after the last; `verify_only` turns the writes into those
/// reads; a job that only reads checks every read. After the last loop come `end_fsync` and `fsync_on_close` fsyncs of every file.
/// With `zonemode=strided`, offsets follow fio's zones (`setup_strided_zone`): `zonesize`
/// bytes in each `zonerange` before the next, `zoneskip` further on.
/// `time_based` streams loop forever: call [`OpStream::finish`] at the end of the runtime to get
/// the verify reads and the closing ops.
#[derive(Clone, Debug)]
pub struct OpStream {
    rng: ChaCha8Rng,
    cfg: StreamConfig,
    files: Vec<FileState>,
    /// The file in service and I/Os left on it before the next is chosen.
    cur_file: usize,
    cur_left: u64,
    loop_left: u64,
    loops_left: u32,
    ios: u64,
    next_tag: u64,
    writes: u64,
    /// I/Os issued so far per direction (fio's `io_issues`): where a `sequence` is.
    issued: [u64; 3],
    /// Files open, under `openfiles`.
    nr_open: usize,
    /// A file whose pass ended, to close before the next op.
    closing: Option<u32>,
    /// `rw=randread:N`: I/Os left before a new random offset, and where the last one went.
    seq_left: u64,
    last: Option<(usize, u64, u64)>,
    pending: [Option<Op>; 3],
    /// Written pieces not yet verified (file, offset, len).
    pieces: Vec<(u32, u64, u64)>,
    verify_next: usize,
    /// Reading the pending pieces back (a backlog came due).
    draining: bool,
    /// `zonemode=strided`: bytes of I/O in the current zone (fio's `td->zone_bytes`, one
    /// count for the thread).
    zone_bytes: u64,
    /// `zonemode=strided`: I/Os issued when the zones last started over, so that a restart
    /// that places no I/O ends the stream rather than spinning.
    zones_restarted_at: Option<u64>,
    /// `zonemode=strided`: fio's `td->o.loops` once the job started, each a start over when
    /// the files run out (fio's `keep_running`).
    restarts_left: u32,
    /// `zonemode=strided`: bytes issued since the zones last started over (fio's
    /// `bytes_issued` of one `do_io`).
    pass_issued: u64,
    /// Bytes of reads, writes and trims issued (fio's `io_bytes`).
    bytes_issued: u64,
    phase: Phase,
}

/// What the stream needs from the job.
#[derive(Clone, Debug)]
struct StreamConfig {
    rw: ReadWrite,
    random: bool,
    rwmixread: u64,
    bs: PerDir<BlockSize>,
    align: u64,
    region_start: u64,
    region_len: u64,
    units: u64,
    io_size: u64,
    loops: u32,
    time_based: bool,
    fill_device: bool,
    number_ios: Option<u64>,
    seq_nr: u64,
    seq_add: i64,
    sequencer: RwSequencer,
    file_service: FileService,
    file_sampler: Option<Sampler>,
    use_map: bool,
    sampler: Option<Sampler>,
    scatter: Option<Permutation>,
    /// `random_distribution=sequence`: its blocks, and `random_sequence_stride`.
    sequence: Option<(Vec<u64>, bool)>,
    fsync: u64,
    fdatasync: u64,
    end_fsyncs: u32,
    verify: bool,
    verify_backlog: u64,
    verify_only: bool,
    /// A read-only job with `verify=` checks every block it reads (fio verifies the reads of a
    /// job that does not also write, in `do_io`): data an earlier job wrote with the same
    /// `verify=`.
    verify_reads: bool,
    /// `invalidate` with buffered I/O: each new pass over a file drops its cache.
    invalidate: bool,
    /// `openfiles`, when below the number of files: at most this many open at once.
    open_limit: Option<usize>,
    /// `zonemode=strided` (random offsets then fall in the zone: `units` counts its blocks).
    strided: Option<Strided>,
    /// Where each file ends, counted from the region start (fio's `real_file_size`).
    file_end: u64,
    /// `io_size` was given: a strided job whose file ran out starts over until it is done
    /// (fio's `keep_running`).
    io_size_given: bool,
    /// fio's `size` (the job's `size`, at most the regions of its files): what `keep_running`
    /// measures a job without `io_size` against.
    size: u64,
    /// With an engine whose I/O is queued (fio's `FIO_Q_QUEUED`), `do_io` stops after `size`
    /// bytes issued and `keep_running` starts the job over: a strided job's zones then start
    /// again from the region start. A synchronous engine's I/O is not counted there, and its
    /// zones go on (time_based jobs never stop there either).
    pass_bytes: Option<u64>,
    /// The largest block size.
    max_bs: u64,
}

/// Per-file position and random map.
#[derive(Clone, Debug)]
struct FileState {
    /// Sequential positions within the region, per direction.
    pos: [u64; 3],
    /// Bytes done this loop (`file_service_type=sequential`).
    done: u64,
    map: Option<RandomMap>,
    /// Uniform order of blocks for this pass, and how far along it is.
    order: Option<Permutation>,
    order_next: u64,
    /// A new pass started: the next I/O to the file drops its cache first.
    invalidate: bool,
    /// Open (only tracked under `openfiles`).
    open: bool,
    /// `zonemode=strided`: where the current zone starts, from the region start (fio's
    /// `f->file_offset` less the start offset).
    zone: u64,
    /// `zonemode=strided`: the file ran out (fio's `fio_file_set_done`).
    zone_done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Io,
    /// Reading back what was written (the final verify pass).
    Verify,
    /// Emitting the closing fsyncs; the number is how many were emitted.
    End(u32),
    Done,
}

fn dir_index(d: Dir) -> usize {
    match d {
        Dir::Read => 0,
        Dir::Write => 1,
        Dir::Trim => 2,
    }
}

impl OpStream {
    /// The stream of `job`'s thread `thread`, seeded by `rng`, over `nfiles` files, numbering
    /// writes from `first_tag`.
    pub(crate) fn new(job: &Job, thread: u32, mut rng: ChaCha8Rng, nfiles: u32, first_tag: u64) -> OpStream {
        let align = job.block_align();
        let region_len = job.region_len();
        let strided = job.strided();
        // fio's last_block: a strided job's random offsets fall within the zone.
        let units = strided.map_or(region_len, |z| z.range) / align;
        let sampler = if job.rw.is_random() { Sampler::new(&job.random_distribution, units, align) } else { None };
        let scatter = sampler.as_ref().filter(|s| !s.positional()).map(|_| Permutation::new(units, &mut rng));
        let use_map = job.uses_random_map();
        let uniform_map = use_map && sampler.is_none();
        let files = (0..nfiles)
            .map(|_| FileState {
                pos: [0; 3],
                done: 0,
                map: use_map.then(|| RandomMap::new(units)),
                order: uniform_map.then(|| Permutation::new(units, &mut rng)),
                order_next: 0,
                invalidate: false,
                open: false,
                zone: 0,
                zone_done: false,
            })
            .collect();
        let end_fsyncs =
            if job.rw.writes() { (u32::from(job.end_fsync) + u32::from(job.fsync_on_close)) * nfiles } else { 0 };
        let file_sampler = match job.file_service {
            FileService::Zipf(theta) => {
                Sampler::new(&super::types::RandomDistribution::Zipf { theta, center: Some(0.0) }, u64::from(nfiles), 1)
            }
            FileService::Pareto(h) => {
                Sampler::new(&super::types::RandomDistribution::Pareto { h, center: Some(0.0) }, u64::from(nfiles), 1)
            }
            FileService::Normal(dev) if dev > 0.0 => {
                Sampler::new(&super::types::RandomDistribution::Normal { dev, center: 0.5 }, u64::from(nfiles), 1)
            }
            _ => None,
        };
        let v = &job.verify;
        let cfg = StreamConfig {
            rw: job.rw,
            random: job.rw.is_random(),
            rwmixread: u64::from(job.rwmixread),
            bs: job.bs.clone(),
            align,
            region_start: job.thread_offset(thread),
            region_len,
            units,
            io_size: job.io_size(),
            loops: job.loops,
            time_based: job.control.time_based,
            fill_device: job.fill_device,
            number_ios: job.number_ios,
            seq_nr: job.rw_seq_nr.max(1),
            seq_add: job.rw_seq_add,
            sequencer: job.rw_sequencer,
            file_service: job.file_service,
            file_sampler,
            use_map,
            sampler,
            scatter,
            sequence: match (&job.random_distribution, job.rw.is_random()) {
                (super::types::RandomDistribution::Sequence(b), true) => {
                    Some((b.iter().map(|&b| u64::from(b)).collect(), job.random_sequence_stride))
                }
                _ => None,
            },
            fsync: job.fsync,
            fdatasync: job.fdatasync,
            end_fsyncs,
            verify: v.enabled() && (v.do_verify || v.only) && job.rw.writes(),
            verify_backlog: v.backlog,
            verify_only: v.only,
            verify_reads: v.enabled() && job.rw.reads() && !job.rw.writes(),
            invalidate: job.invalidate && !job.control.direct,
            open_limit: job.openfiles.map(|n| n as usize).filter(|&n| n < nfiles as usize),
            strided,
            file_end: match job.filename {
                Some(_) => job.file_size(),
                None => job.thread_file_size(thread),
            }
            .saturating_sub(job.thread_offset(thread)),
            io_size_given: job.io_size.is_some(),
            size: fio_size(job),
            pass_bytes: {
                let e = job.control.ioengine;
                let queued = e.is_async() || (e == IoEngine::Null && job.control.depth.iodepth > 1);
                // fio's do_io lets a random write job without the map go on to io_size.
                let size = match job.rw.writes() && job.rw.is_random() && job.norandommap {
                    true => fio_size(job).max(job.io_size()),
                    false => fio_size(job),
                };
                (queued && !job.control.time_based).then_some(size)
            },
            max_bs: job.max_bs(),
        };
        let cur_left = service_nr(cfg.file_service);
        OpStream {
            rng,
            loop_left: cfg.io_size,
            loops_left: cfg.loops,
            cfg,
            files,
            cur_file: 0,
            cur_left,
            ios: 0,
            next_tag: first_tag,
            writes: 0,
            issued: [0; 3],
            nr_open: 0,
            closing: None,
            seq_left: 0,
            last: None,
            pending: [None, None, None],
            pieces: Vec::new(),
            verify_next: 0,
            draining: false,
            zone_bytes: 0,
            zones_restarted_at: None,
            restarts_left: job.loops.saturating_sub(1),
            pass_issued: 0,
            bytes_issued: 0,
            phase: Phase::Io,
        }
    }

    /// Bytes of reads, writes and trims the stream will issue in all, or `None` when time-based
    /// or ended by `number_ios`.
    pub fn planned_bytes(&self) -> Option<u64> {
        (!self.cfg.time_based && !self.cfg.fill_device && self.cfg.number_ios.is_none()).then(|| {
            let io = self.cfg.io_size * u64::from(self.cfg.loops);
            let verify = if self.cfg.verify && !self.cfg.verify_only { io } else { 0 };
            let trimwrite = if matches!(self.cfg.rw, ReadWrite::TrimWrite | ReadWrite::RandTrimWrite) { io } else { 0 };
            io + verify + trimwrite
        })
    }

    /// Whether the stream never ends by itself (`time_based`).
    pub fn is_time_based(&self) -> bool {
        self.cfg.time_based
    }

    /// End the I/O now (the runtime is over): the stream still yields a due fsync, the verify
    /// reads of what was written, and then the closing `end_fsync`/`fsync_on_close` ops.
    pub fn finish(&mut self) {
        if self.phase == Phase::Io {
            self.phase = Phase::Verify;
        }
    }

    /// End the job now, as fio's `fio_mark_td_terminate` does (a `fill_device` job's write hit
    /// ENOSPC): no more reads or writes, no verify pass, only the closing
    /// `end_fsync`/`fsync_on_close` ops.
    pub fn terminate(&mut self) {
        self.pending = [None, None, None];
        self.pieces.clear();
        self.verify_next = 0;
        self.draining = false;
        if matches!(self.phase, Phase::Io | Phase::Verify) {
            self.phase = Phase::End(0);
        }
    }

    /// `op`, the last one drawn, does not go (its rate wait outlasted the runtime, as fio's
    /// `rate_ddir` gives up): a write of it is not read back by the verify pass.
    pub fn withdraw(&mut self, op: &Op) {
        if let Op::Write { file, offset, len, .. } = *op
            && self.pieces.last() == Some(&(file, offset, len))
        {
            self.pieces.pop();
        }
    }

    /// The next op and whether it verifies (see [`Io`]).
    pub fn next_io(&mut self) -> Option<Io> {
        // The file the last op finished: closed before the next one.
        let close = self.closing.take();
        let mut io = self.next_op()?;
        io.close = close;
        Some(io)
    }

    fn next_op(&mut self) -> Option<Io> {
        if let Some(op) = self.take_pending() {
            return Some(Io { op, verify: false, invalidate: false, close: None });
        }
        // verify_backlog: once enough writes are pending, read all of them back.
        let pending = self.pieces.len() - self.verify_next;
        let backlog = self.cfg.verify_backlog > 0 && pending as u64 >= self.cfg.verify_backlog;
        if self.phase == Phase::Io && self.cfg.verify && (self.draining || backlog || pending >= MAX_PIECES) {
            self.draining = true;
            if let Some(io) = self.verify_read() {
                return Some(io);
            }
        }
        loop {
            match self.phase {
                Phase::Io if self.cfg.number_ios.is_some_and(|n| self.ios >= n) => self.phase = Phase::Verify,
                Phase::Io if self.loop_left == 0 => self.end_loop(),
                Phase::Io => {
                    if let Some(io) = self.next_rw() {
                        return Some(io);
                    }
                }
                Phase::Verify => match self.verify_read() {
                    Some(io) => return Some(io),
                    None => self.phase = Phase::End(0),
                },
                Phase::End(k) if k < self.cfg.end_fsyncs => {
                    self.phase = Phase::End(k + 1);
                    return Some(Io {
                        op: Op::Fsync { file: k % self.files.len() as u32 },
                        verify: false,
                        invalidate: false,
                        close: None,
                    });
                }
                Phase::End(_) | Phase::Done => {
                    self.phase = Phase::Done;
                    return None;
                }
            }
        }
    }

    /// The next verify read of a written piece, if any is left.
    fn verify_read(&mut self) -> Option<Io> {
        let Some(&(file, offset, len)) = self.pieces.get(self.verify_next) else {
            self.draining = false;
            return None;
        };
        self.verify_next += 1;
        if self.verify_next == self.pieces.len() {
            self.pieces.clear();
            self.verify_next = 0;
            self.draining = false;
        }
        Some(Io { op: Op::Read { file, offset, len }, verify: true, invalidate: false, close: None })
    }

    fn take_pending(&mut self) -> Option<Op> {
        self.pending.iter_mut().find_map(Option::take)
    }

    /// Start the next loop, or move to the verify pass and closing ops after the last. A
    /// strided job's zones go on where they were: fio's `do_io` runs all its loops' bytes in
    /// one go (`io_issue_bytes_exceeded` counts `size` times `loops`).
    fn end_loop(&mut self) {
        if !self.cfg.time_based {
            self.loops_left -= 1;
            if self.loops_left == 0 {
                self.phase = Phase::Verify;
                return;
            }
        }
        self.loop_left = self.cfg.io_size;
        if self.cfg.strided.is_some() {
            return;
        }
        for f in 0..self.files.len() {
            self.new_pass(f);
        }
    }

    /// Forget what file `f` did: positions and zone back to the region start, map cleared,
    /// new order.
    fn new_pass(&mut self, f: usize) {
        let file = &mut self.files[f];
        file.pos = [0; 3];
        file.zone = 0;
        file.zone_done = false;
        file.done = 0;
        if let Some(map) = &mut file.map {
            map.clear();
        }
        if let Some(order) = &mut file.order {
            order.rekey(&mut self.rng);
        }
        file.order_next = 0;
        file.invalidate = self.cfg.invalidate;
    }

    /// Whether file `f` has nothing left this pass (its random map is full; for
    /// `file_service_type=sequential`, its region is done).
    fn exhausted(&self, f: usize) -> bool {
        let file = &self.files[f];
        if self.cfg.strided.is_some() {
            // Its map covers one zone and the zones clear it (`setup_strided_zone`).
            return file.zone_done;
        }
        let map_full = self.cfg.use_map && file.map.as_ref().is_some_and(RandomMap::is_full);
        let one_by_one = matches!(self.cfg.file_service, FileService::Sequential(_)) || self.cfg.open_limit.is_some();
        let seq_done = one_by_one && file.done >= self.cfg.region_len;
        map_full || seq_done
    }

    /// The file the next I/O goes to, per `file_service_type`; with a random map, skipping
    /// files whose map is full (and starting a new pass on all of them when every map is full).
    fn pick_file(&mut self) -> usize {
        let n = self.files.len();
        if (0..n).all(|f| self.exhausted(f)) {
            for f in 0..n {
                self.new_pass(f);
            }
        }
        if let Some(limit) = self.cfg.open_limit {
            return self.pick_open_file(limit);
        }
        if self.cur_left == 0 || self.exhausted(self.cur_file) {
            self.cur_file = match (self.cfg.file_service, &self.cfg.file_sampler) {
                (_, Some(s)) => s.sample(&mut self.rng) as usize % n,
                (FileService::Random(_), None) => below(&mut self.rng, n as u64) as usize,
                (FileService::Sequential(_), None) => self.cur_file,
                _ => (self.cur_file + usize::from(self.last.is_some())) % n,
            };
            let mut tries = 0;
            while self.exhausted(self.cur_file) && tries < n {
                self.cur_file = (self.cur_file + 1) % n;
                tries += 1;
            }
            self.cur_left = service_nr(self.cfg.file_service);
        }
        self.cur_left = self.cur_left.saturating_sub(1);
        self.cur_file
    }

    /// [`OpStream::pick_file`] under `openfiles`: fio's `get_next_file_rr` and
    /// `get_next_file_rand` — the file in service keeps its turn; otherwise the next by
    /// `file_service_type` among the files with I/O left that are open, or that can be opened
    /// because fewer than `limit` are (a closed one picked at the limit is passed over, as fio's
    /// `-EBUSY`).
    fn pick_open_file(&mut self, limit: usize) -> usize {
        let n = self.files.len();
        let eligible = |s: &Self, f: usize| !s.exhausted(f) && (s.files[f].open || s.nr_open < limit);
        let keep = self.files[self.cur_file].open
            && !self.exhausted(self.cur_file)
            && (self.cur_left > 0 || matches!(self.cfg.file_service, FileService::Sequential(_)));
        if !keep {
            let random = !matches!(self.cfg.file_service, FileService::RoundRobin(_) | FileService::Sequential(_));
            let mut drawn = None;
            for _ in 0..if random { 4 * n } else { 0 } {
                let f = match &self.cfg.file_sampler {
                    Some(s) => s.sample(&mut self.rng) as usize % n,
                    None => below(&mut self.rng, n as u64) as usize,
                };
                if eligible(self, f) {
                    drawn = Some(f);
                    break;
                }
            }
            let from = match self.cfg.file_service {
                FileService::Sequential(_) => self.cur_file,
                _ => self.cur_file + usize::from(self.last.is_some()),
            };
            // Round robin from the next file (and where a draw found nothing eligible).
            self.cur_file = drawn.or_else(|| (0..n).map(|i| (from + i) % n).find(|&f| eligible(self, f))).unwrap_or(0);
            self.cur_left = service_nr(self.cfg.file_service);
            if !self.files[self.cur_file].open {
                self.files[self.cur_file].open = true;
                self.nr_open += 1;
            }
        }
        self.cur_left = self.cur_left.saturating_sub(1);
        self.cur_file
    }

    fn pick_bs(&mut self, dir: Dir) -> u64 {
        match self.cfg.bs.get(dir) {
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
                let rank = sampler.sample(rng).min(cfg.units - 1);
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

    /// The direction of the next I/O.
    fn pick_dir(&mut self) -> Dir {
        let rw = self.cfg.rw;
        match (rw.reads(), rw.writes(), rw.trims()) {
            (true, true, _) => {
                if below(&mut self.rng, 100) >= self.cfg.rwmixread {
                    Dir::Write
                } else {
                    Dir::Read
                }
            }
            (true, false, _) => Dir::Read,
            (false, _, true) => Dir::Trim,
            _ => Dir::Write,
        }
    }

    /// Offset (within the region) and length of the next I/O of `dir` on file `f`.
    fn place(&mut self, f: usize, dir: Dir, bs: u64) -> (u64, u64) {
        let cfg = &self.cfg;
        if !cfg.random {
            let one_file = self.files.len() == 1;
            let file = &mut self.files[f];
            let cursor = &mut file.pos[dir_index(dir)];
            if *cursor >= cfg.region_len {
                *cursor = 0;
                // fio's get_next_seq_offset: a time_based job on one file drops its cache.
                file.invalidate |= cfg.invalidate && cfg.time_based && one_file;
            }
            let pos = *cursor;
            let len = bs.min(cfg.region_len - pos).min(self.loop_left);
            // fio's get_next_seq_offset: skip ahead, or step back and wrap to the end.
            let next = pos as i128 + len as i128 + cfg.seq_add as i128;
            *cursor = if next < 0 { cfg.region_len - len.min(cfg.region_len) } else { next as u64 };
            return (pos, len);
        }
        // rw=randread:N: continue from the last offset until N I/Os have gone there.
        if self.seq_left > 0
            && let Some((lf, lpos, llen)) = self.last
            && lf == f
        {
            self.seq_left -= 1;
            let pos = match cfg.sequencer {
                RwSequencer::Sequential => lpos + llen,
                RwSequencer::Identical => lpos,
            };
            if pos < cfg.region_len {
                let len = bs.min(cfg.region_len - pos).min(self.loop_left);
                if let Some(map) = &mut self.files[f].map {
                    let first = pos / cfg.align;
                    map.take(first, len.div_ceil(cfg.align).min(cfg.units - first));
                }
                return (pos, len);
            }
        }
        let block = self.pick_block(f);
        let cfg = &self.cfg;
        let pos = block * cfg.align;
        let mut len = bs.min(cfg.region_len - pos).min(self.loop_left);
        if let Some(map) = &mut self.files[f].map {
            let run = map.free_run(block, bs.div_ceil(cfg.align));
            len = len.min(run * cfg.align);
            map.take(block, len.div_ceil(cfg.align));
        }
        self.seq_left = cfg.seq_nr - 1;
        (pos, len)
    }

    /// fio's `__get_next_rand_offset_sequence`: the block of the next I/O of `dir` — element
    /// `io_issues % n` of the sequence, plus `n` per round done with `random_sequence_stride` —
    /// or `Err` once past the region (only a stride gets there: the job checked the blocks).
    fn sequence_block(&self, dir: Dir) -> Option<Result<u64, ()>> {
        let (blocks, stride) = self.cfg.sequence.as_ref()?;
        let n = blocks.len().max(1) as u64;
        let count = self.issued[dir_index(dir)];
        let base = blocks.get((count % n) as usize).copied().unwrap_or(0);
        let block = if *stride { (count / n).saturating_mul(n).saturating_add(base) } else { base };
        Some(if block < self.cfg.units { Ok(block) } else { Err(()) })
    }

    /// The next read, write or trim; `None` when there is none now: a strided sequence left
    /// the region, or a strided zone ran out of file (the stream has moved on to its next
    /// phase, loop or zone).
    fn next_rw(&mut self) -> Option<Io> {
        let f = self.pick_file();
        let dir = self.pick_dir();
        let bs = self.pick_bs(dir);
        let (pos, len) = match self.sequence_block(dir) {
            None if self.cfg.strided.is_some() => {
                if self.cfg.pass_bytes.is_some_and(|p| self.pass_issued >= p) && !self.keep_running(false) {
                    return None;
                }
                self.setup_strided_zone(f, dir);
                match self.place_strided(f, dir, bs) {
                    Some(placed) => placed,
                    None => {
                        self.strided_file_done(f);
                        return None;
                    }
                }
            }
            None => self.place(f, dir, bs),
            Some(Err(())) => {
                // A strided sequence ran past the region: the files are done.
                self.phase = Phase::Verify;
                return None;
            }
            Some(Ok(block)) => {
                let pos = block * self.cfg.align;
                (pos, bs.min(self.cfg.region_len - pos).min(self.loop_left))
            }
        };
        self.zone_bytes += len;
        self.pass_issued += len;
        self.bytes_issued += len;
        self.issued[dir_index(dir)] += 1;
        let invalidate = std::mem::take(&mut self.files[f].invalidate);
        self.last = Some((f, pos, len));
        self.loop_left -= len;
        self.ios += 1;
        self.files[f].done += len;
        if self.cfg.open_limit.is_some() && self.exhausted(f) {
            // fio closes a file once fill_io_u finds nothing left in it.
            self.files[f].open = false;
            self.nr_open -= 1;
            self.closing = Some(f as u32);
        }
        let cfg = &self.cfg;
        let file = f as u32;
        let offset = cfg.region_start + pos;
        Some(match dir {
            Dir::Read => Io { op: Op::Read { file, offset, len }, verify: cfg.verify_reads, invalidate, close: None },
            Dir::Trim => {
                if matches!(cfg.rw, ReadWrite::TrimWrite | ReadWrite::RandTrimWrite) {
                    self.pending[0] = Some(self.write(file, offset, len));
                }
                Io {
                    op: Op::Fallocate { file, mode: FallocMode::PunchHole, offset, len },
                    verify: false,
                    invalidate,
                    close: None,
                }
            }
            Dir::Write if cfg.verify_only => {
                Io { op: Op::Read { file, offset, len }, verify: true, invalidate, close: None }
            }
            Dir::Write => Io { op: self.write(file, offset, len), verify: false, invalidate, close: None },
        })
    }

    /// fio's `setup_strided_zone_mode`, before each I/O on file `f`: once `zonesize` bytes
    /// went to the zone, the next zone starts `zonerange + zoneskip` further on (back at the
    /// region start when that is past the file's end); a sequential position that left the
    /// zone goes back to its start (`zonesize` above `zonerange` reads the zone again); and
    /// at each `zonerange` bytes the file's positions and random map start over
    /// (`fio_file_reset`).
    fn setup_strided_zone(&mut self, f: usize, dir: Dir) {
        let Some(z) = self.cfg.strided else { return };
        let d = dir_index(dir);
        let file = &mut self.files[f];
        if self.zone_bytes >= z.size {
            self.zone_bytes = 0;
            file.zone = file.zone.saturating_add(z.range).saturating_add(z.skip);
            if file.zone >= self.cfg.file_end {
                file.zone = 0;
            }
            file.pos[d] = file.zone;
        }
        if file.pos[d] >= file.zone.saturating_add(z.range) {
            file.pos[d] = file.zone;
        }
        if self.zone_bytes.is_multiple_of(z.range) {
            self.reset_zone(f);
        }
    }

    /// fio's `fio_file_reset` for a strided file: positions back to the zone start, the
    /// random map cleared, a new order for it; a `rw=randread:N` run ends.
    fn reset_zone(&mut self, f: usize) {
        let file = &mut self.files[f];
        file.pos = [file.zone; 3];
        if let Some(map) = &mut file.map {
            map.clear();
        }
        if let Some(order) = &mut file.order {
            order.rekey(&mut self.rng);
        }
        file.order_next = 0;
        self.seq_left = 0;
    }

    /// Offset (from the region start) and length of the next I/O of `dir` on file `f` in its
    /// strided zone, as fio's `get_next_offset` finds it; `None` when fio's `fill_io_u` would
    /// fail: the offset is a region's length or more past the zone start, or the I/O runs past
    /// the file's end (fio then closes the file as done).
    fn place_strided(&mut self, f: usize, dir: Dir, bs: u64) -> Option<(u64, u64)> {
        let d = dir_index(dir);
        let zone = self.files[f].zone;
        let pos = if !self.cfg.random {
            let (cfg, one_file) = (&self.cfg, self.files.len() == 1);
            let file = &mut self.files[f];
            // fio's get_next_seq_offset: a time_based job on one file goes back to the zone.
            if cfg.time_based && one_file && file.pos[d] >= cfg.region_len {
                file.pos[d] = zone;
                file.invalidate |= cfg.invalidate;
            }
            file.pos[d]
        } else if self.seq_left > 0
            && let Some((lf, lpos, llen)) = self.last
            && lf == f
        {
            // rw=randread:N: on from the last offset until N I/Os went there.
            self.seq_left -= 1;
            match self.cfg.sequencer {
                RwSequencer::Sequential => lpos + llen,
                RwSequencer::Identical => lpos,
            }
        } else {
            if self.files[f].map.as_ref().is_some_and(RandomMap::is_full) {
                // fio's get_next_rand_block: only a time_based job starts the zone over.
                if !self.cfg.time_based {
                    return None;
                }
                self.reset_zone(f);
            }
            let block = self.pick_block(f);
            self.seq_left = self.cfg.seq_nr - 1;
            zone + block * self.cfg.align
        };
        let cfg = &self.cfg;
        if pos.saturating_sub(zone) >= cfg.region_len || pos.saturating_add(bs) > cfg.file_end {
            return None;
        }
        let mut len = bs.min(self.loop_left);
        let file = &mut self.files[f];
        if !cfg.random {
            // As fio's last_pos, with the rw=read:N skip (backwards: wrapping to the end).
            let next = pos as i128 + len as i128 + cfg.seq_add as i128;
            file.pos[d] = if next < 0 { cfg.region_len - len.min(cfg.region_len) } else { next as u64 };
        } else if let Some(map) = &mut file.map
            && let Some(block) = Some((pos - zone) / cfg.align).filter(|&b| b < cfg.units)
        {
            // fio's mark_random_map, on the zone's map: cut short where blocks are taken.
            let run = map.free_run(block, len.div_ceil(cfg.align).min(cfg.units - block));
            len = len.min(run.max(1) * cfg.align);
            map.take(block, len.div_ceil(cfg.align).min(cfg.units - block));
        }
        Some((pos, len))
    }

    /// Strided file `f` ran out: fio closes it as done (`fio_file_set_done`) and goes on with
    /// the others; once every file is done, [`OpStream::keep_running`] decides.
    fn strided_file_done(&mut self, f: usize) {
        self.files[f].zone_done = true;
        if self.files.iter().all(|file| file.zone_done) {
            self.keep_running(true);
        }
    }

    /// fio's `keep_running` after a strided job's `do_io` stopped (its files done, or `size`
    /// bytes issued by a queued engine): a time_based job, one with `loops` left, or one
    /// short of its `io_size` (or `size`) by a block or more — unless its files are done and
    /// it has no `io_size` — starts over from the region start (`clear_io_state`: zones,
    /// positions and maps); otherwise its I/O ends. Returns whether it goes on.
    fn keep_running(&mut self, files_done: bool) -> bool {
        let limit = if self.cfg.io_size_given { self.cfg.io_size } else { self.cfg.size };
        let again = if self.cfg.time_based {
            true
        } else if self.restarts_left > 0 {
            self.restarts_left -= 1;
            true
        } else {
            let left = limit.saturating_sub(self.bytes_issued);
            left > 0 && left >= self.cfg.max_bs && (self.cfg.io_size_given || !files_done)
        };
        if !again || self.zones_restarted_at == Some(self.ios) {
            // Nothing left, or a start over that placed no I/O: the job's I/O ends.
            self.phase = Phase::Verify;
            return false;
        }
        self.zones_restarted_at = Some(self.ios);
        self.zone_bytes = 0;
        self.pass_issued = 0;
        for f in 0..self.files.len() {
            self.new_pass(f);
        }
        true
    }

    /// A write, with the fsyncs it makes due and its verify piece.
    fn write(&mut self, file: u32, offset: u64, len: u64) -> Op {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.writes += 1;
        let cfg = &self.cfg;
        if cfg.fsync > 0 && self.writes.is_multiple_of(cfg.fsync) {
            self.pending[1] = Some(Op::Fsync { file });
        }
        if cfg.fdatasync > 0 && self.writes.is_multiple_of(cfg.fdatasync) {
            self.pending[2] = Some(Op::Fdatasync { file });
        }
        if cfg.verify {
            self.pieces.push((file, offset, len));
        }
        Op::Write { file, offset, len, tag }
    }
}

/// fio's `td->o.size`: the job's `size`, at most the regions of a thread's files
/// (`setup_files`), which it is when `size` is not given.
fn fio_size(job: &Job) -> u64 {
    let total = job.region_len().saturating_mul(u64::from(job.files_per_thread()));
    job.size.map_or(total, |s| s.min(total))
}

/// I/Os per file before the next is chosen.
fn service_nr(f: FileService) -> u64 {
    match f {
        FileService::RoundRobin(n) | FileService::Random(n) => n,
        FileService::Sequential(_) => u64::MAX,
        FileService::Zipf(_) | FileService::Pareto(_) | FileService::Normal(_) => 1,
    }
}

impl Iterator for OpStream {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        self.next_io().map(|io| io.op)
    }
}
