//! The typed values of fio's options: directions, block sizes, engines, distributions, verify
//! and buffer contents, error policies and logs.

use std::time::Duration;

/// An I/O direction, as fio's `ddir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Reads.
    Read,
    /// Writes.
    Write,
    /// Trims (`FALLOC_FL_PUNCH_HOLE` on files, as fio does on Linux).
    Trim,
}

impl Dir {
    /// fio's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Read => "read",
            Dir::Write => "write",
            Dir::Trim => "trim",
        }
    }
}

/// A value per I/O direction, as fio's `read,write,trim` option lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerDir<T> {
    /// For reads.
    pub read: T,
    /// For writes.
    pub write: T,
    /// For trims.
    pub trim: T,
}

impl<T> PerDir<T> {
    /// The same value for every direction.
    pub fn all(v: T) -> Self
    where
        T: Clone,
    {
        PerDir { read: v.clone(), write: v.clone(), trim: v }
    }

    /// The value for `dir`.
    pub fn get(&self, dir: Dir) -> &T {
        match dir {
            Dir::Read => &self.read,
            Dir::Write => &self.write,
            Dir::Trim => &self.trim,
        }
    }
}

/// fio's `rw=`: which directions, sequential or random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadWrite {
    /// `read`: sequential reads.
    Read,
    /// `write`: sequential writes.
    Write,
    /// `trim`: sequential trims.
    Trim,
    /// `randread`.
    RandRead,
    /// `randwrite`.
    RandWrite,
    /// `randtrim`.
    RandTrim,
    /// `rw` / `readwrite`: sequential mixed reads and writes.
    ReadWrite,
    /// `randrw`: random mixed reads and writes.
    RandRw,
    /// `trimwrite`: each block trimmed, then written.
    TrimWrite,
    /// `randtrimwrite`: the same at random offsets.
    RandTrimWrite,
}

impl ReadWrite {
    /// Every pattern, for parsing.
    pub const ALL: [ReadWrite; 10] = [
        ReadWrite::Read,
        ReadWrite::Write,
        ReadWrite::Trim,
        ReadWrite::RandRead,
        ReadWrite::RandWrite,
        ReadWrite::RandTrim,
        ReadWrite::ReadWrite,
        ReadWrite::RandRw,
        ReadWrite::TrimWrite,
        ReadWrite::RandTrimWrite,
    ];

    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            ReadWrite::Read => "read",
            ReadWrite::Write => "write",
            ReadWrite::Trim => "trim",
            ReadWrite::RandRead => "randread",
            ReadWrite::RandWrite => "randwrite",
            ReadWrite::RandTrim => "randtrim",
            ReadWrite::ReadWrite => "rw",
            ReadWrite::RandRw => "randrw",
            ReadWrite::TrimWrite => "trimwrite",
            ReadWrite::RandTrimWrite => "randtrimwrite",
        }
    }

    /// Random offsets rather than sequential ones.
    pub fn is_random(self) -> bool {
        matches!(
            self,
            ReadWrite::RandRead
                | ReadWrite::RandWrite
                | ReadWrite::RandTrim
                | ReadWrite::RandRw
                | ReadWrite::RandTrimWrite
        )
    }

    /// The job reads.
    pub fn reads(self) -> bool {
        matches!(self, ReadWrite::Read | ReadWrite::RandRead | ReadWrite::ReadWrite | ReadWrite::RandRw)
    }

    /// The job writes.
    pub fn writes(self) -> bool {
        matches!(
            self,
            ReadWrite::Write
                | ReadWrite::RandWrite
                | ReadWrite::ReadWrite
                | ReadWrite::RandRw
                | ReadWrite::TrimWrite
                | ReadWrite::RandTrimWrite
        )
    }

    /// The job trims.
    pub fn trims(self) -> bool {
        matches!(self, ReadWrite::Trim | ReadWrite::RandTrim | ReadWrite::TrimWrite | ReadWrite::RandTrimWrite)
    }

    /// The directions it uses.
    pub fn dirs(self) -> impl Iterator<Item = Dir> {
        [(self.reads(), Dir::Read), (self.writes(), Dir::Write), (self.trims(), Dir::Trim)]
            .into_iter()
            .filter_map(|(on, d)| on.then_some(d))
    }
}

/// `rw_sequencer=`: what the `:N` of `rw=randread:N` does between new random offsets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RwSequencer {
    /// `sequential`: the next N-1 I/Os follow on sequentially.
    #[default]
    Sequential,
    /// `identical`: the same offset N times.
    Identical,
}

/// One bssplit entry: `size` gets `ppm` parts per million of the I/Os.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BsShare {
    /// Block size in bytes.
    pub size: u64,
    /// Share of I/Os in parts per million (all shares of a split add up to 1 000 000).
    pub ppm: u64,
}

/// How a direction picks each I/O's size (`bs=`, `bsrange=` or `bssplit=`; the last given wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockSize {
    /// `bs=SIZE`.
    Fixed(u64),
    /// `bsrange=MIN-MAX`: uniform multiples of `min` from `min` to `max`.
    Range {
        /// Smallest size.
        min: u64,
        /// Largest size.
        max: u64,
    },
    /// `bssplit=SIZE/PCT:...`.
    Split(Vec<BsShare>),
}

impl BlockSize {
    /// The smallest size this can yield.
    pub fn min(&self) -> u64 {
        match self {
            BlockSize::Fixed(n) => *n,
            BlockSize::Range { min, .. } => *min,
            BlockSize::Split(v) => v.iter().map(|s| s.size).min().unwrap_or(0),
        }
    }
    /// The largest size this can yield.
    pub fn max(&self) -> u64 {
        match self {
            BlockSize::Fixed(n) => *n,
            BlockSize::Range { max, .. } => *max,
            BlockSize::Split(v) => v.iter().map(|s| s.size).max().unwrap_or(0),
        }
    }
    /// Every size it names.
    pub(crate) fn sizes(&self) -> Vec<u64> {
        match self {
            BlockSize::Fixed(n) => vec![*n],
            BlockSize::Range { min, max } => vec![*min, *max],
            BlockSize::Split(v) => v.iter().map(|s| s.size).collect(),
        }
    }
}

/// fio's `ioengine=`: how a job thread issues its I/O. The harness runs each on every target:
/// on a kernel target with the syscalls the engine names, on fsimpl as io_uring serves
/// buffered I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoEngine {
    /// `sync`: `read(2)`/`write(2)` after `lseek(2)`.
    Sync,
    /// `psync`: `pread(2)`/`pwrite(2)`.
    Psync,
    /// `vsync`: `readv(2)`/`writev(2)` after `lseek(2)`.
    Vsync,
    /// `pvsync`: `preadv(2)`/`pwritev(2)`.
    Pvsync,
    /// `pvsync2`: `preadv2(2)`/`pwritev2(2)` (with `RWF_HIPRI` under `hipri`).
    Pvsync2,
    /// `posixaio`: `aio_read(3)`/`aio_write(3)` at the queue depth.
    Posixaio,
    /// `mmap`: the file mapped, bytes copied in and out.
    Mmap,
    /// `libaio`: Linux AIO, `io_setup(2)`/`io_submit(2)`/`io_getevents(2)`, at the queue depth.
    Libaio,
    /// `io_uring`, at the queue depth.
    IoUring,
    /// `null`: no I/O; measures the harness itself.
    Null,
    /// `cpuio`: burns CPU (`cpuload`, `cpuchunks`, `cpumode`) and moves nothing.
    Cpuio,
    /// `exec`: runs `program` in the background for the job's runtime.
    Exec,
    /// `falloc`: each write is `fallocate(2)` of its range, each read `FALLOC_FL_KEEP_SIZE`.
    Falloc,
    /// `ftruncate`: each write is `ftruncate(2)` to its offset.
    Ftruncate,
    /// `filecreate`: each file's first I/O is its `open(O_CREAT)`, the latency measured.
    Filecreate,
    /// `filestat`: each file's first I/O is a `stat(2)` (`stat_type`) of it.
    Filestat,
    /// `filedelete`: each file's first I/O is its `unlink(2)`.
    Filedelete,
    /// `dircreate`: each file's first I/O is a `mkdir(2)` of that name.
    Dircreate,
    /// `dirstat`: each file's first I/O is a `stat(2)` of a directory made before the run.
    Dirstat,
    /// `dirdelete`: each file's first I/O is an `rmdir(2)` of a directory made before the run.
    Dirdelete,
    /// `page_fault`: reads and writes copy from and to anonymous memory, faulting its pages in.
    PageFault,
    /// `net`: reads and writes are `recv(2)`/`send(2)` on a TCP, UDP, UNIX or vsock socket.
    Net,
    /// `e4defrag`: each write moves its range to a donor file with `EXT4_IOC_MOVE_EXT`.
    E4defrag,
}

/// How an engine uses the job's files (fio's `FIO_DISKLESSIO` and the file engines' own
/// `open_file`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineFiles {
    /// The files are opened (created) and laid out before the run; the engine does I/O on them.
    Open,
    /// No files: the engine works on something else (CPU, memory, a program, a socket).
    None,
    /// The engine works on the files' names; before the run, regular files are laid out and
    /// closed (`Layout`), directories made (`Dirs`), or nothing done (`Nothing`).
    Names(NamesSetup),
}

/// What a name-based engine needs before the run (see [`EngineFiles::Names`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamesSetup {
    /// Nothing: the engine creates them (`filecreate`, `dircreate`).
    Nothing,
    /// Regular files laid out at their size, then closed (`filestat`, `filedelete`).
    Layout,
    /// A directory per name (fio's `setup_dirs`: `dirstat`, `dirdelete`).
    Dirs,
}

impl IoEngine {
    /// Every engine aopsbench runs.
    pub const ALL: [IoEngine; 23] = [
        IoEngine::Sync,
        IoEngine::Psync,
        IoEngine::Vsync,
        IoEngine::Pvsync,
        IoEngine::Pvsync2,
        IoEngine::Posixaio,
        IoEngine::Mmap,
        IoEngine::Libaio,
        IoEngine::IoUring,
        IoEngine::Null,
        IoEngine::Cpuio,
        IoEngine::Exec,
        IoEngine::Falloc,
        IoEngine::Ftruncate,
        IoEngine::Filecreate,
        IoEngine::Filestat,
        IoEngine::Filedelete,
        IoEngine::Dircreate,
        IoEngine::Dirstat,
        IoEngine::Dirdelete,
        IoEngine::PageFault,
        IoEngine::Net,
        IoEngine::E4defrag,
    ];

    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            IoEngine::Sync => "sync",
            IoEngine::Psync => "psync",
            IoEngine::Vsync => "vsync",
            IoEngine::Pvsync => "pvsync",
            IoEngine::Pvsync2 => "pvsync2",
            IoEngine::Posixaio => "posixaio",
            IoEngine::Mmap => "mmap",
            IoEngine::Libaio => "libaio",
            IoEngine::IoUring => "io_uring",
            IoEngine::Null => "null",
            IoEngine::Cpuio => "cpuio",
            IoEngine::Exec => "exec",
            IoEngine::Falloc => "falloc",
            IoEngine::Ftruncate => "ftruncate",
            IoEngine::Filecreate => "filecreate",
            IoEngine::Filestat => "filestat",
            IoEngine::Filedelete => "filedelete",
            IoEngine::Dircreate => "dircreate",
            IoEngine::Dirstat => "dirstat",
            IoEngine::Dirdelete => "dirdelete",
            IoEngine::PageFault => "page_fault",
            IoEngine::Net => "net",
            IoEngine::E4defrag => "e4defrag",
        }
    }

    /// How the engine uses the job's files.
    pub fn files(self) -> EngineFiles {
        match self {
            IoEngine::Cpuio | IoEngine::Exec | IoEngine::PageFault | IoEngine::Net => EngineFiles::None,
            IoEngine::Filecreate | IoEngine::Dircreate => EngineFiles::Names(NamesSetup::Nothing),
            IoEngine::Filestat | IoEngine::Filedelete => EngineFiles::Names(NamesSetup::Layout),
            IoEngine::Dirstat | IoEngine::Dirdelete => EngineFiles::Names(NamesSetup::Dirs),
            _ => EngineFiles::Open,
        }
    }

    /// Whether the engine moves no bytes of its own (fio's `FIO_NOIO`: `cpuio`, `exec`): its
    /// "I/Os" count, with their latency, and no bytes.
    pub fn moves_nothing(self) -> bool {
        matches!(self, IoEngine::Cpuio | IoEngine::Exec)
    }

    /// Whether the engine does the job's reads and writes on its files (fio's disk engines:
    /// `sync` to `io_uring`, and `null`), rather than work of its own (`cpuio`, `exec`, `net`,
    /// the file and directory operations, ...).
    pub fn is_read_write(self) -> bool {
        matches!(
            self,
            IoEngine::Sync
                | IoEngine::Psync
                | IoEngine::Vsync
                | IoEngine::Pvsync
                | IoEngine::Pvsync2
                | IoEngine::Posixaio
                | IoEngine::Mmap
                | IoEngine::Libaio
                | IoEngine::IoUring
                | IoEngine::Null
        )
    }

    /// Whether I/Os are queued and completed later (iodepth applies), as fio's engines without
    /// `FIO_SYNCIO`.
    pub fn is_async(self) -> bool {
        matches!(self, IoEngine::Posixaio | IoEngine::Libaio | IoEngine::IoUring)
    }
}

/// fio's `fallocate=`: how files are preallocated before the job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prealloc {
    /// `none`: no preallocation.
    None,
    /// `native` (fio's default on Linux): `fallocate(fd, 0, ...)`.
    Native,
    /// `posix`: `posix_fallocate`, which on Linux is `fallocate(fd, 0, ...)` too.
    Posix,
    /// `keep`: `fallocate(fd, FALLOC_FL_KEEP_SIZE, ...)`.
    Keep,
    /// `truncate`: `ftruncate` to the final size instead of allocating.
    Truncate,
}

impl Prealloc {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            Prealloc::None => "none",
            Prealloc::Native => "native",
            Prealloc::Posix => "posix",
            Prealloc::Keep => "keep",
            Prealloc::Truncate => "truncate",
        }
    }
}

/// One zone of a `zoned` or `zoned_abs` distribution: `access_ppm` of the I/Os go to the next
/// `size` of the region.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Zone {
    /// Share of the I/Os, parts per million.
    pub access_ppm: u64,
    /// Share of the region (`zoned`, parts per million) or bytes (`zoned_abs`).
    pub size: u64,
}

/// fio's `zonemode=`: how `zonesize`, `zonerange` and `zoneskip` shape the offsets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZoneMode {
    /// `none` (the default): the zone options are not used; `zonesize` is refused with it, as
    /// fio 3.33's `fixup_options` refuses it.
    #[default]
    None,
    /// `strided`: `zonesize` bytes of I/O in one zone of `zonerange` bytes, then on to the
    /// next zone, `zoneskip` bytes after the end of this one (fio's `setup_strided_zone_mode`).
    Strided,
}

impl ZoneMode {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            ZoneMode::None => "none",
            ZoneMode::Strided => "strided",
        }
    }
}

/// `zonemode=strided` with its sizes resolved as fio's `fixup_options` does (`zonerange`
/// defaults to `zonesize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strided {
    /// `zonesize`: bytes of I/O done in a zone before moving on.
    pub size: u64,
    /// `zonerange`: the size of a zone; the I/O stays within it (wrapping back to its start
    /// when `size` is larger).
    pub range: u64,
    /// `zoneskip`: bytes between the end of a zone and the start of the next.
    pub skip: u64,
}

/// fio's `random_distribution=`.
#[derive(Clone, Debug, PartialEq)]
pub enum RandomDistribution {
    /// `random`: uniform.
    Uniform,
    /// `zipf:θ[:center]`: block of rank k is hit with probability ∝ 1/k^θ.
    Zipf {
        /// θ.
        theta: f64,
        /// Where the hottest block sits, as a fraction of the region; `None`: scattered.
        center: Option<f64>,
    },
    /// `pareto:h[:center]`: fio's pareto with power ln(h)/ln(1-h).
    Pareto {
        /// h.
        h: f64,
        /// Where the hottest block sits, as a fraction of the region; `None`: scattered.
        center: Option<f64>,
    },
    /// `normal:σ[:center]` (`gauss`): Gaussian, σ in percent of the region.
    Normal {
        /// σ in percent.
        dev: f64,
        /// The mean, as a fraction of the region (0.5 by default).
        center: f64,
    },
    /// `zoned:A/S:...`: A percent of the I/Os to the next S percent of the region.
    Zoned(Vec<Zone>),
    /// `zoned_abs:A/SIZE:...`: A percent of the I/Os to the next SIZE bytes.
    ZonedAbs(Vec<Zone>),
    /// `sequence:B,B,...`: these blocks in this order, over and over (fio's
    /// `__get_next_rand_offset_sequence`); with `random_sequence_stride`, the pattern moves on
    /// by its length after each round.
    Sequence(Vec<u32>),
}

/// fio's `random_generator=`. aopsbench draws every random choice with ChaCha8 (seeded, so a
/// job repeats exactly); each generator fio offers gives uniform offsets, and the random map
/// makes every block come once per pass as `lfsr` guarantees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RandomGenerator {
    /// `tausworthe` (fio's default).
    #[default]
    Tausworthe,
    /// `lfsr`.
    Lfsr,
    /// `tausworthe64`.
    Tausworthe64,
}

impl RandomGenerator {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            RandomGenerator::Tausworthe => "tausworthe",
            RandomGenerator::Lfsr => "lfsr",
            RandomGenerator::Tausworthe64 => "tausworthe64",
        }
    }
}

/// fio's `file_service_type=`: which of a thread's files the next I/O goes to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FileService {
    /// `roundrobin[:N]` (the default): each file in turn, N I/Os each.
    RoundRobin(u64),
    /// `sequential[:N]`: one file to its end before the next.
    Sequential(u64),
    /// `random[:N]`: a file at random, N I/Os each.
    Random(u64),
    /// `zipf:θ`: files by a zipf distribution.
    Zipf(f64),
    /// `pareto:h`.
    Pareto(f64),
    /// `normal:σ` (`gauss`).
    Normal(f64),
}

impl Default for FileService {
    fn default() -> Self {
        FileService::RoundRobin(1)
    }
}

/// fio's `verify=`: what a write puts in each block so that a later read can check it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerifyKind {
    /// No verification (the default).
    #[default]
    None,
    /// `md5`.
    Md5,
    /// `crc32c` (and `crc32c-intel`, the same sum).
    Crc32c,
    /// `crc64`: fio's `fio_crc64`, the reflected Jones polynomial with no init or final xor
    /// (CRC-64/REDIS).
    Crc64,
    /// `sha1`.
    Sha1,
    /// `sha256`.
    Sha256,
    /// `xxhash` (xxh32, as fio's).
    Xxhash,
    /// `pattern`: the block holds `verify_pattern` repeated, compared byte for byte.
    Pattern,
    /// `meta`: the header only (offset, write number), its own crc32c.
    Meta,
}

impl VerifyKind {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            VerifyKind::None => "0",
            VerifyKind::Md5 => "md5",
            VerifyKind::Crc32c => "crc32c",
            VerifyKind::Crc64 => "crc64",
            VerifyKind::Sha1 => "sha1",
            VerifyKind::Sha256 => "sha256",
            VerifyKind::Xxhash => "xxhash",
            VerifyKind::Pattern => "pattern",
            VerifyKind::Meta => "meta",
        }
    }
}

/// The verify options of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verify {
    /// `verify=`.
    pub kind: VerifyKind,
    /// `verify_pattern=`: the bytes of `verify=pattern` (and of the payload of the others).
    pub pattern: Option<Vec<u8>>,
    /// `verify_interval=`: bytes per verified unit (default: the write's size).
    pub interval: Option<u64>,
    /// `verify_backlog=N`: verify after every N writes rather than at the end.
    pub backlog: u64,
    /// `verify_fatal`: stop at the first failure (aopsbench always stops a job at one: the
    /// error names file, offset, expected and found).
    pub fatal: bool,
    /// `do_verify` (default 1): run the verify reads after writing.
    pub do_verify: bool,
    /// `verify_only`: do not write; only read and verify what an earlier run wrote.
    pub only: bool,
    /// `verify_dump`: on a failure, write the unit read and the unit expected to files
    /// `NAME.OFFSET.received` and `NAME.OFFSET.expected` in the current directory, as fio.
    pub dump: bool,
    /// `verify_write_sequence` (default 1): fio checks each header's write number. aopsbench
    /// checks the header's offset, length and checksum but not the write number, as fio
    /// with `verify_write_sequence=0`; the value is kept to echo it.
    pub write_sequence: bool,
    /// `verify_async=N`: fio checks verify reads in N threads of their own; aopsbench checks
    /// them in the job's thread (the same checks), and keeps N to echo it.
    pub async_threads: u32,
}

impl Default for Verify {
    fn default() -> Self {
        Verify {
            kind: VerifyKind::None,
            pattern: None,
            interval: None,
            backlog: 0,
            fatal: false,
            do_verify: true,
            only: false,
            dump: false,
            write_sequence: true,
            async_threads: 0,
        }
    }
}

impl Verify {
    /// Whether writes carry verify data and reads may check it.
    pub fn enabled(&self) -> bool {
        self.kind != VerifyKind::None
    }
}

/// What write buffers hold (`buffer_pattern`, `refill_buffers`, `scramble_buffers`,
/// `buffer_compress_percentage`, the `dedupe_*` options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BufferFill {
    /// `buffer_pattern=`: the bytes, repeated.
    pub pattern: Option<Vec<u8>>,
    /// `refill_buffers`: new contents for every write; `None` when not given (fio's
    /// `fio_option_is_set`), which `buffer_compress_percentage` below 100 turns on
    /// ([`BufferFill::refills`]).
    pub refill: Option<bool>,
    /// `scramble_buffers` (fio's default 1): a few bytes of each write changed, so that no two
    /// writes are identical.
    pub scramble: bool,
    /// `buffer_compress_percentage=`: this percentage of each chunk is zeros.
    pub compress_percentage: u32,
    /// `buffer_compress_chunk=`: the chunk the percentage applies to (default 512).
    pub compress_chunk: u64,
    /// `dedupe_percentage=` and the options that go with it.
    pub dedupe: Dedupe,
}

impl BufferFill {
    /// Whether each write gets new contents (fio's `TD_F_REFILL_BUFFERS`): `refill_buffers`
    /// when given, else on with a `buffer_compress_percentage` below 100 (fio's
    /// `fixup_options`; `dedupe_percentage` sets `refill_buffers` itself, as fio's
    /// `str_dedupe_cb`).
    pub fn refills(&self) -> bool {
        self.refill.unwrap_or(self.compress_percentage > 0 && self.compress_percentage < 100)
    }

    /// fio's `TD_F_COMPRESS`: `buffer_compress_percentage` or `dedupe_percentage` given, which
    /// turns `scramble_buffers` off (a scrambled buffer would neither compress nor dedupe as
    /// asked).
    pub fn shapes_contents(&self) -> bool {
        self.compress_percentage > 0 || self.dedupe.percentage > 0
    }
}

/// `dedupe_mode=`: where the contents of a write chosen to be a duplicate come from (fio's
/// `enum dedupe_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DedupeMode {
    /// `repeat` (fio's default): the buffer is made again from the state the last unique one
    /// left (fio's `buf_state_prev`).
    #[default]
    Repeat,
    /// `working_set`: from one of a fixed set of states, drawn at random (fio's
    /// `dedupe_working_set_states`).
    WorkingSet,
}

impl DedupeMode {
    /// fio's name for it.
    pub fn fio_name(self) -> &'static str {
        match self {
            DedupeMode::Repeat => "repeat",
            DedupeMode::WorkingSet => "working_set",
        }
    }
}

/// fio's dedupe options: `dedupe_percentage`, `dedupe_mode`, `dedupe_working_set_percentage`,
/// `dedupe_global`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dedupe {
    /// `dedupe_percentage=`: the share of write buffers that repeat earlier contents (0: none).
    pub percentage: u32,
    /// `dedupe_mode=`.
    pub mode: DedupeMode,
    /// `dedupe_working_set_percentage=` (fio's default 5): the working set is this share of
    /// `size=`, in blocks of the smallest write.
    pub working_set_percentage: u32,
    /// `dedupe_global`: the jobs with it draw their working sets from every job thread's
    /// buffers, so their files share duplicate blocks.
    pub global: bool,
}

impl Default for Dedupe {
    fn default() -> Self {
        Dedupe { percentage: 0, mode: DedupeMode::Repeat, working_set_percentage: 5, global: false }
    }
}

impl Dedupe {
    /// Whether writes are drawn from a working set (fio's `init_dedupe_working_set_seeds`
    /// makes one only then).
    pub fn uses_working_set(&self) -> bool {
        self.percentage > 0 && self.mode == DedupeMode::WorkingSet
    }
}

/// `rate_process=`: how `rate=`/`rate_iops=` space the I/Os.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RateProcess {
    /// `linear`: evenly.
    #[default]
    Linear,
    /// `poisson`: exponentially distributed gaps with the same mean.
    Poisson,
}

/// `io_submit_mode=`: who hands the job's I/O to its engine (fio's `IO_MODE_INLINE`,
/// `IO_MODE_OFFLOAD`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SubmitMode {
    /// `inline`: the job thread submits and reaps its I/O itself.
    #[default]
    Inline,
    /// `offload`: the job thread only generates I/O, at its rate, and hands each one to a pool
    /// of `iodepth` submitting threads, each with its own engine (fio's `rate-submit.c`), so
    /// that submission keeps its rate whatever the completions do.
    Offload,
}

/// `numa_mem_policy=`: where the job's threads allocate memory (fio's `str_numa_mpol_cb`,
/// set with `set_mempolicy(2)` as libnuma's calls do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NumaMemPolicy {
    /// `default`: the process's policy.
    #[default]
    Default,
    /// `prefer:N`: node N first (`numa_set_preferred`).
    Prefer(usize),
    /// `bind:NODES`: only these nodes (`numa_set_membind`).
    Bind(Vec<usize>),
    /// `interleave[:NODES]`: round-robin over these nodes, or every online one
    /// (`numa_set_interleave_mask`).
    Interleave(Option<Vec<usize>>),
    /// `local`: the node the thread runs on (`numa_set_localalloc`).
    Local,
}

impl NumaMemPolicy {
    /// fio's text of it.
    pub fn fio_text(&self) -> String {
        let list = |n: &[usize]| n.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        match self {
            NumaMemPolicy::Default => "default".into(),
            NumaMemPolicy::Prefer(n) => format!("prefer:{n}"),
            NumaMemPolicy::Bind(n) => format!("bind:{}", list(n)),
            NumaMemPolicy::Interleave(None) => "interleave".into(),
            NumaMemPolicy::Interleave(Some(n)) => format!("interleave:{}", list(n)),
            NumaMemPolicy::Local => "local".into(),
        }
    }

    /// The nodes it names.
    pub fn nodes(&self) -> &[usize] {
        match self {
            NumaMemPolicy::Prefer(n) => std::slice::from_ref(n),
            NumaMemPolicy::Bind(n) | NumaMemPolicy::Interleave(Some(n)) => n,
            _ => &[],
        }
    }
}

/// `cpus_allowed_policy=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CpusPolicy {
    /// `shared`: every thread may run on every CPU of the set.
    #[default]
    Shared,
    /// `split`: each thread gets one CPU of the set, in turn.
    Split,
}

/// `continue_on_error=`: which kinds of error a job counts and goes on after, rather than
/// stopping (fio's `ERROR_TYPE_READ`, `_WRITE`, `_VERIFY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContinueOnError {
    /// Read errors.
    pub read: bool,
    /// Write errors (and errors of the other ops: syncs, truncates, trims).
    pub write: bool,
    /// Verify failures.
    pub verify: bool,
}

/// The kind of an error, as fio sorts them (`td_error_type`: EILSEQ is a verify error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// A read failed.
    Read,
    /// A write (or another op) failed.
    Write,
    /// A verify read found other bytes than were written.
    Verify,
}

/// `ignore_error=READ:WRITE:VERIFY`: the errnos of each kind a job goes on after; an empty list
/// is fio's default, EIO and EILSEQ.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreError {
    /// Read errnos.
    pub read: Vec<i32>,
    /// Write errnos.
    pub write: Vec<i32>,
    /// Verify errnos.
    pub verify: Vec<i32>,
}

impl ContinueOnError {
    /// Whether an error of `kind` with `errno` is counted and gone on after (fio's
    /// `td_non_fatal_error`): its kind must be in `continue_on_error` and its errno in that
    /// kind's `ignore_error` list.
    pub fn non_fatal(&self, ignore: &IgnoreError, kind: ErrorType, errno: i32) -> bool {
        let (on, list) = match kind {
            ErrorType::Read => (self.read, &ignore.read),
            ErrorType::Write => (self.write, &ignore.write),
            ErrorType::Verify => (self.verify, &ignore.verify),
        };
        const DEFAULT: [i32; 2] = [libc::EIO, libc::EILSEQ];
        on && if list.is_empty() { DEFAULT.contains(&errno) } else { list.contains(&errno) }
    }

    /// Whether any kind of error is gone on after.
    pub fn any(&self) -> bool {
        self.read || self.write || self.verify
    }
}

pub use vocab::Latencies;

/// fio's log files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logs {
    /// `write_lat_log=PREFIX`: `PREFIX_lat.N.log`, `_clat`, `_slat`.
    pub lat: Option<String>,
    /// `write_bw_log=PREFIX`.
    pub bw: Option<String>,
    /// `write_iops_log=PREFIX`.
    pub iops: Option<String>,
    /// `write_hist_log=PREFIX`.
    pub hist: Option<String>,
    /// `log_avg_msec=`: average samples over this window (0: one entry per I/O).
    pub avg_msec: u64,
    /// `log_hist_msec=`: histogram window in ms (0, the default: no histogram lines, as fio).
    pub hist_msec: u64,
    /// `per_job_logs` (default 1): one log per thread rather than per job.
    pub per_job: bool,
    /// `log_offset`: add the I/O's offset to each entry.
    pub offset: bool,
    /// `log_prio`: each entry's priority column is the I/O's priority (`0x2000`), not
    /// whether it was of the real-time class (1 or 0).
    pub prio: bool,
}

/// Queue-depth options of the asynchronous engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depth {
    /// `iodepth=`.
    pub iodepth: u32,
    /// `iodepth_batch_submit=` (`iodepth_batch`): I/Os to gather before submitting (default 1;
    /// 0 is iodepth).
    pub batch_submit: u32,
    /// `iodepth_batch_complete_min=` (`iodepth_batch_complete`): completions to wait for
    /// (default 1).
    pub batch_complete_min: u32,
    /// `iodepth_batch_complete_max=`: most completions to reap at once (default
    /// `iodepth_batch_complete_min`, as fio's).
    pub batch_complete_max: u32,
    /// `iodepth_low=`: refill the queue once it drains to this (default iodepth).
    pub iodepth_low: u32,
}

/// io_uring's own options (`fixedbufs`, `registerfiles`, `sqthread_poll`, `hipri`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringOptions {
    /// `fixedbufs`: buffers registered with the ring.
    pub fixedbufs: bool,
    /// `registerfiles`: files registered with the ring.
    pub registerfiles: bool,
    /// `sqthread_poll`: a kernel thread polls the submission queue.
    pub sqthread_poll: bool,
    /// `hipri`: polled completions (needs O_DIRECT on a device that polls; also
    /// `RWF_HIPRI` for pvsync2).
    pub hipri: bool,
}

/// When a job starts relative to the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Start {
    /// `stonewall` (`wait_for_previous`): after every earlier job ends.
    pub stonewall: bool,
    /// `new_group`: a new reporting group.
    pub new_group: bool,
    /// `wait_for=NAME`: after the job of this name ends.
    pub wait_for: Option<String>,
    /// `startdelay=`: this long after it could start (a range draws per thread).
    pub delay: (Duration, Duration),
    /// `exitall`: when a job ends, others stop (which ones: `exit_what`). fio's flag is
    /// process-wide (`exitall_on_terminate`): set in any section, it holds for every job of
    /// the file, and [`super::JobFile`] gives it to each.
    pub exitall: bool,
    /// `exit_what=`: which jobs `exitall` stops when this job ends.
    pub exit_what: ExitWhat,
}

/// `exit_what=`: the jobs that `exitall` stops when a job ends (fio's
/// `fio_terminate_threads`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExitWhat {
    /// `group`: the jobs of its reporting group (fio's `groupid`: cut at `new_group` and
    /// `stonewall`), started or not.
    #[default]
    Group,
    /// `stonewall`: every job running, whatever its group; the next stonewall group then
    /// starts.
    Stonewall,
    /// `all`: every job, and no later group starts.
    All,
}

impl ExitWhat {
    /// fio's name of it.
    pub fn fio_name(self) -> &'static str {
        match self {
            ExitWhat::Group => "group",
            ExitWhat::Stonewall => "stonewall",
            ExitWhat::All => "all",
        }
    }
}
