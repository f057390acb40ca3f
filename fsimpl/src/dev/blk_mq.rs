//! The request queue (`block/blk-mq.c`): bios become the device's requests.
//!
//! [`Disk::submit_bio`] splits a bio at the queue's limits (`bio_split_to_limits`:
//! `max_sectors_kb`, `max_segments` of at most `max_segment_size`), then, for each piece,
//! merges it into the last request of the submitting thread's plug when it continues it on
//! the device (`blk_attempt_plug_merge`), or takes a tag — sleeping when all `nr_requests`
//! are in flight (`blk_mq_get_tag`) — and makes a new request. Without a plug a request goes
//! to the driver at once; with one it waits in the plug until the plug is flushed
//! (`blk_finish_plug`, or before the thread sleeps), or until the plug holds
//! `BLK_MAX_REQUEST_COUNT` requests or a large one (`blk_add_rq_to_plug`).
//!
//! The driver ([`BlkMqOps`]) performs each request and calls [`QueueCore::end_request`] from
//! whatever context it completes in: that counts it (the I/O-size histogram counts
//! requests, as `/sys/block/*/stat` does) and ends every bio whose last piece it carried.

use super::bio::{Bio, BioOp, bio_endio};
use super::check::check_bio;
use super::limits::QueueLimits;
use super::stats::{Counters, DevStats};
use super::{BlockDev, DevError};
use crate::kernel::lock;
use crate::kernel::wait::{Completion, WaitQueue};
use std::cell::{RefCell, UnsafeCell};
use std::sync::Arc;
use std::sync::Mutex;

/// Requests a plug holds before it is flushed (`BLK_MAX_REQUEST_COUNT`).
pub const BLK_MAX_REQUEST_COUNT: usize = 32;
/// A plug is flushed before a request is added after one of this many bytes
/// (`BLK_PLUG_FLUSH_SIZE`).
pub const BLK_PLUG_FLUSH_SIZE: u64 = 128 << 10;

/// A byte range of one bio that a request carries.
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    bio: *mut Bio,
    /// Offset of the piece inside the bio's data.
    pub bio_off: u64,
    /// Length.
    pub len: u64,
}

/// One request to the device (`struct request`): contiguous on the device, made of bio
/// pieces, within the queue's limits.
#[derive(Debug, Default)]
pub struct Request {
    /// Read, write or flush.
    pub op: Option<BioOp>,
    /// Force unit access.
    pub fua: bool,
    /// Device byte offset.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Physical segments, as the limits count them.
    pub nr_segments: u32,
    pieces: Vec<Piece>,
    /// The memory of the request as iovecs, filled by [`Request::build_iovecs`]; the driver
    /// may trim it as transfers complete.
    pub iovecs: Vec<libc::iovec>,
    /// Bytes the driver has transferred so far.
    pub done: u64,
}

// SAFETY: a request is touched only by whoever holds its tag; its bio pointers stay valid until
// the request ends (the bio is freed only after its last piece ends).
unsafe impl Send for Request {}

impl Request {
    /// Builds `iovecs` from the pieces' memory (`blk_rq_map_sg`).
    pub fn build_iovecs(&mut self) {
        self.iovecs.clear();
        for p in &self.pieces {
            // SAFETY: the bio lives until this request ends.
            let bio = unsafe { &*p.bio };
            let (mut skip, mut left) = (p.bio_off, p.len);
            for seg in bio.segs() {
                if left == 0 {
                    break;
                }
                let sl = seg.len() as u64;
                if skip >= sl {
                    skip -= sl;
                    continue;
                }
                let n = (sl - skip).min(left);
                let base = seg.ptr().wrapping_add(skip as usize);
                match self.iovecs.last_mut() {
                    Some(v) if (v.iov_base as *mut u8).wrapping_add(v.iov_len) == base => v.iov_len += n as usize,
                    _ => self.iovecs.push(libc::iovec { iov_base: base.cast(), iov_len: n as usize }),
                }
                skip = 0;
                left -= n;
            }
        }
    }
}

/// What a driver does with requests (`struct blk_mq_ops`).
pub trait BlkMqOps: Send + Sync {
    /// The engine's name.
    fn name(&self) -> &'static str;
    /// Whether I/O bypasses the host page cache.
    fn is_direct(&self) -> bool;
    /// Starts request `tag` (`queue_rq`); it ends with [`QueueCore::end_request`], from any
    /// thread, possibly before this returns.
    fn queue_rq(&self, core: &QueueCore, tag: u32);
}

/// The shared state of a request queue: limits, tags, the requests, counters.
pub struct QueueCore {
    limits: QueueLimits,
    rqs: Box<[UnsafeCell<Request>]>,
    free_tags: Mutex<Vec<u32>>,
    tag_wait: WaitQueue,
    counters: Counters,
}

// SAFETY: each request slot is accessed only by the holder of its tag (see `rq_mut`); the
// rest is behind locks or atomics.
unsafe impl Sync for QueueCore {}
unsafe impl Send for QueueCore {}

impl QueueCore {
    fn new(limits: QueueLimits) -> Self {
        let n = limits.nr_requests.max(1);
        QueueCore {
            limits,
            rqs: (0..n).map(|_| UnsafeCell::new(Request::default())).collect(),
            free_tags: Mutex::new((0..n).rev().collect()),
            tag_wait: WaitQueue::new(),
            counters: Counters::default(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &QueueLimits {
        &self.limits
    }

    /// The request of `tag`.
    ///
    /// # Safety
    /// The caller holds `tag` (took it, or was handed it by `queue_rq`) and nobody else uses
    /// the request meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn rq_mut(&self, tag: u32) -> &mut Request {
        // SAFETY: by the contract, the tag holder has the request to itself.
        unsafe { &mut *self.rqs[tag as usize].get() }
    }

    /// Takes a free tag, sleeping until one is free (`blk_mq_get_tag`).
    fn get_tag(&self) -> u32 {
        if let Some(t) = lock(&self.free_tags).pop() {
            return t;
        }
        let mut tag = None;
        self.tag_wait.wait_event(|| {
            tag = lock(&self.free_tags).pop();
            tag.is_some()
        });
        tag.expect("wait_event returned with a tag")
    }

    fn put_tag(&self, tag: u32) {
        lock(&self.free_tags).push(tag);
        self.tag_wait.wake_up_all();
    }

    /// Ends request `tag` with `status` (`blk_mq_end_request`): counts it, ends the bios it
    /// completes, frees the tag.
    pub fn end_request(&self, tag: u32, status: Result<(), i32>) {
        // SAFETY: the driver hands back a tag it was given; nobody else touches the request.
        let rq = unsafe { self.rq_mut(tag) };
        match rq.op {
            Some(BioOp::Read) => self.counters.read(rq.len),
            Some(BioOp::Write) => self.counters.write(rq.len),
            Some(BioOp::Flush) => self.counters.flush(),
            None => {}
        }
        if status.is_err() {
            self.counters.error();
        }
        for p in rq.pieces.drain(..) {
            // SAFETY: the bio lives until its last piece ends, which is at most this one.
            let bio = unsafe { &*p.bio };
            if let Err(e) = status {
                bio.set_error(e);
            }
            if bio.piece_done() {
                // SAFETY: the last piece owns the bio `submit_bio` leaked into the pieces.
                bio_endio(unsafe { Box::from_raw(p.bio) });
            }
        }
        rq.op = None;
        rq.iovecs.clear();
        rq.done = 0;
        self.put_tag(tag);
    }
}

/// A request-based block device: the queue and its driver (`struct gendisk` with its
/// `request_queue`).
pub struct Disk {
    core: Arc<QueueCore>,
    ops: Box<dyn BlkMqOps>,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk").field("engine", &self.ops.name()).field("limits", &self.core.limits).finish()
    }
}

impl Disk {
    /// A device with `limits` whose driver `make_ops` builds around the queue.
    pub fn new(limits: QueueLimits, make_ops: impl FnOnce(Arc<QueueCore>) -> Box<dyn BlkMqOps>) -> Disk {
        let core = Arc::new(QueueCore::new(limits));
        let ops = make_ops(core.clone());
        Disk { core, ops }
    }

    fn dispatch(&self, tag: u32) {
        self.ops.queue_rq(&self.core, tag);
    }

    /// Splits `bio` at the limits (`bio_split_to_limits`): the pieces, each as
    /// `(offset in the bio, length, physical segments)`.
    fn split(&self, bio: &Bio) -> Vec<(u64, u64, u32)> {
        let l = &self.core.limits;
        let max_bytes = l.max_bytes();
        let max_segs = l.max_segments.max(1);
        let seg_size = u64::from(l.max_segment_size.max(4096));
        let mut pieces = Vec::with_capacity(1);
        let (mut start, mut len, mut nsegs) = (0u64, 0u64, 0u32);
        for seg in bio.segs() {
            let mut left = seg.len() as u64;
            while left > 0 {
                let n = left.min(seg_size).min(max_bytes - len);
                if nsegs == max_segs || n == 0 {
                    pieces.push((start, len, nsegs));
                    (start, len, nsegs) = (start + len, 0, 0);
                    continue;
                }
                len += n;
                nsegs += 1;
                left -= n;
                if len == max_bytes {
                    pieces.push((start, len, nsegs));
                    (start, len, nsegs) = (start + len, 0, 0);
                }
            }
        }
        if len > 0 || pieces.is_empty() {
            pieces.push((start, len, nsegs));
        }
        pieces
    }
}

/// A thread's plug (`struct blk_plug`): requests held back so that adjacent ones merge.
struct PlugList {
    depth: u32,
    rqs: Vec<(*const Disk, u32)>,
}

thread_local! {
    static PLUG: RefCell<PlugList> = const { RefCell::new(PlugList { depth: 0, rqs: Vec::new() }) };
}

/// Holds back this thread's requests until dropped (`blk_start_plug` / `blk_finish_plug`).
/// Plugs nest; the outermost one flushes.
pub struct BlkPlug {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Starts plugging this thread's I/O (`blk_start_plug`).
pub fn blk_start_plug() -> BlkPlug {
    crate::kernel::wait::set_sched_submit_work(blk_flush_plug);
    PLUG.with_borrow_mut(|p| p.depth += 1);
    BlkPlug { _not_send: std::marker::PhantomData }
}

impl Drop for BlkPlug {
    fn drop(&mut self) {
        let last = PLUG.with_borrow_mut(|p| {
            p.depth -= 1;
            p.depth == 0
        });
        if last {
            blk_flush_plug();
        }
    }
}

/// Sends the requests held in this thread's plug to their drivers (`blk_flush_plug`): at the
/// end of the plug, and before the thread sleeps.
pub fn blk_flush_plug() {
    loop {
        let rqs = PLUG.with_borrow_mut(|p| std::mem::take(&mut p.rqs));
        if rqs.is_empty() {
            return;
        }
        for (disk, tag) in rqs {
            // SAFETY: a plugged request's disk is alive: plugs are flushed before the code
            // that submitted to the disk returns (and before it sleeps).
            unsafe { &*disk }.dispatch(tag);
        }
    }
}

impl Disk {
    /// Adds a new request to the plug, or dispatches it when there is none
    /// (`blk_add_rq_to_plug`).
    fn plug_or_dispatch(&self, tag: u32) {
        enum Then {
            Dispatch,
            Plugged,
            FlushThenPlug,
        }
        let then = PLUG.with_borrow_mut(|p| {
            if p.depth == 0 {
                return Then::Dispatch;
            }
            let big_last = p.rqs.last().is_some_and(|&(d, t)| {
                // SAFETY: a plugged request's disk is alive (see `blk_flush_plug`), and this
                // thread holds its tag.
                unsafe { (*d).core.rq_mut(t).len >= BLK_PLUG_FLUSH_SIZE }
            });
            if p.rqs.len() >= BLK_MAX_REQUEST_COUNT || big_last {
                return Then::FlushThenPlug;
            }
            p.rqs.push((self as *const Disk, tag));
            Then::Plugged
        });
        match then {
            Then::Dispatch => self.dispatch(tag),
            Then::Plugged => {}
            Then::FlushThenPlug => {
                blk_flush_plug();
                PLUG.with_borrow_mut(|p| p.rqs.push((self as *const Disk, tag)));
            }
        }
    }

    /// Merges a piece at the back of the plug's last request when it continues it
    /// (`blk_attempt_plug_merge` → `bio_attempt_back_merge`).
    fn try_plug_merge(&self, piece: Piece, op: BioOp, offset: u64, nsegs: u32) -> bool {
        let l = &self.core.limits;
        PLUG.with_borrow_mut(|p| {
            if p.depth == 0 {
                return false;
            }
            let Some(&(d, tag)) = p.rqs.last() else { return false };
            if !std::ptr::eq(d, self) {
                return false;
            }
            // SAFETY: this thread holds the tag of every request in its plug.
            let rq = unsafe { self.core.rq_mut(tag) };
            let fits = rq.op == Some(op)
                && op != BioOp::Flush
                && !rq.fua
                && rq.offset + rq.len == offset
                && rq.len + piece.len <= l.max_bytes()
                && rq.nr_segments + nsegs <= l.max_segments;
            if fits {
                rq.pieces.push(piece);
                rq.len += piece.len;
                rq.nr_segments += nsegs;
            }
            fits
        })
    }
}

impl BlockDev for Disk {
    fn engine_name(&self) -> &'static str {
        self.ops.name()
    }

    fn size(&self) -> u64 {
        self.core.limits.size
    }

    fn is_direct(&self) -> bool {
        self.ops.is_direct()
    }

    fn limits(&self) -> QueueLimits {
        self.core.limits
    }

    fn submit_bio(&self, bio: Box<Bio>) {
        if let Err(e) = check_bio(&bio, &self.core.limits) {
            // A request the device cannot take fails, as `submit_bio_noacct` fails it.
            let _ = e;
            bio.set_error(libc::EINVAL);
            bio_endio(bio);
            return;
        }
        let pieces = if bio.op == BioOp::Flush { vec![(0, 0, 0)] } else { self.split(&bio) };
        bio.set_remaining(pieces.len() as u32);
        let (op, fua, offset) = (bio.op, bio.fua, bio.offset);
        let raw = Box::into_raw(bio);
        for (bio_off, len, nsegs) in pieces {
            let piece = Piece { bio: raw, bio_off, len };
            let at = offset + bio_off;
            if !fua && self.try_plug_merge(piece, op, at, nsegs) {
                continue;
            }
            let tag = self.core.get_tag();
            // SAFETY: we hold the tag just taken.
            let rq = unsafe { self.core.rq_mut(tag) };
            rq.op = Some(op);
            rq.fua = fua;
            rq.offset = at;
            rq.len = len;
            rq.nr_segments = nsegs;
            rq.pieces.clear();
            rq.pieces.push(piece);
            rq.done = 0;
            if op == BioOp::Flush {
                self.dispatch(tag);
            } else {
                self.plug_or_dispatch(tag);
            }
        }
    }

    fn flush(&self) -> Result<(), DevError> {
        let done = Arc::new(WaitBio::default());
        let bio = Bio::with_end_io(BioOp::Flush, 0, done.clone(), 0);
        self.submit_bio(bio);
        match done.wait().status() {
            Ok(()) => Ok(()),
            Err(errno) => {
                Err(DevError::Io { op: "flush", offset: 0, source: std::io::Error::from_raw_os_error(errno) })
            }
        }
    }

    fn stats(&self) -> DevStats {
        self.core.counters.snapshot()
    }
}

/// The end_io of a bio someone waits for (`submit_bio_wait`'s completion).
#[derive(Default)]
pub struct WaitBio {
    bio: Mutex<Option<Box<Bio>>>,
    done: Completion,
}

impl super::bio::BioEndIo for WaitBio {
    fn bio_end_io(&self, bio: Box<Bio>) {
        *lock(&self.bio) = Some(bio);
        self.done.complete();
    }
}

impl WaitBio {
    /// Sleeps until the bio ends and gives it back.
    pub fn wait(&self) -> Box<Bio> {
        self.done.wait();
        lock(&self.bio).take().expect("a completed bio")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::MemDev;

    fn seg_bio(op: BioOp, offset: u64, mem: &mut [u8], seg: usize, gap: usize) -> Box<Bio> {
        let mut bio = Bio::new(op, offset);
        let mut at = 0;
        while at + seg <= mem.len() {
            // SAFETY: `mem` outlives the bio in these tests.
            if !unsafe { bio.add_seg(mem.as_mut_ptr().add(at), seg) } {
                break;
            }
            at += seg + gap;
        }
        bio
    }

    #[test]
    fn a_bio_splits_at_max_segments_and_max_sectors() {
        let dev = MemDev::new(64 << 20).unwrap();
        let disk = dev.disk();
        // 256 separate 4 KiB segments: two requests of 128 segments.
        let mut mem = vec![0u8; 256 * 8192];
        let bio = seg_bio(BioOp::Write, 0, &mut mem, 4096, 4096);
        assert_eq!(bio.segs().len(), 256);
        assert_eq!(disk.split(&bio), vec![(0, 512 << 10, 128), (512 << 10, 512 << 10, 128)]);
        // 4 MiB of contiguous memory: 64 KiB segments, cut at 1280 KiB.
        let mut big = vec![0u8; 4 << 20];
        let bio = seg_bio(BioOp::Write, 0, &mut big, 4 << 20, 0);
        let p = disk.split(&bio);
        assert_eq!(p.iter().map(|x| x.1).collect::<Vec<_>>(), vec![1280 << 10, 1280 << 10, 1280 << 10, 256 << 10]);
        assert_eq!(p[0].2, 20);
    }

    #[test]
    fn plugged_adjacent_bios_merge_into_one_request() {
        let dev = MemDev::new(64 << 20).unwrap();
        let mut mem = vec![7u8; 1 << 20];
        {
            let _plug = blk_start_plug();
            for i in 0..8u64 {
                let chunk = &mut mem[(i as usize) * 65536..(i as usize + 1) * 65536];
                let mut bio = Bio::new(BioOp::Write, i * 65536);
                // SAFETY: `mem` outlives the plug, which completes these (inline on RAM).
                unsafe { bio.add_seg(chunk.as_mut_ptr(), 65536) };
                dev.submit_bio(bio);
            }
            assert_eq!(dev.stats().writes, 0, "held in the plug");
        }
        let s = dev.stats();
        assert_eq!((s.writes, s.write_bytes), (1, 512 << 10), "one request of eight bios");
        let mut back = vec![0u8; 1 << 20];
        crate::dev::read_at(&dev, 0, &mut back[..512 << 10]).unwrap();
        assert!(back[..512 << 10].iter().all(|&b| b == 7));
    }
}
