//! A mounted ext4 filesystem's metadata (`struct ext4_sb_info` and what hangs off it):
//! mount with journal recovery (`ext4_fill_super`, `ext4_load_journal`), the block groups
//! with their descriptors and bitmaps, the inode-table buffers, the root directory, and
//! unmount (`ext4_put_super`). The journaled operations on files are in [`super::ops`], the
//! allocator in [`super::mballoc`].
//!
//! Locks, as ext4 takes them (outermost first): a journal handle is started before the
//! inode's `i_data_sem` (which the caller holds around the operations on one file); then the
//! root directory (its `i_rwsem`), the locality group's mutex, a group's lock
//! (`ext4_lock_group`: its bitmaps, descriptor, free extents and preallocation list), a
//! preallocation's lock, and innermost a buffer's lock (`lock_buffer`). The journal's own
//! lock (`j_state_lock`) is taken only with none of these held. Free-space and free-inode
//! totals are per-CPU counters (`s_freeclusters_counter`, `s_dirtyclusters_counter`,
//! `s_freeinodes_counter`), summed when read exactly.

use super::balloc::{self, Geometry};
use super::dir;
use super::extents::{ExtentTree, Loc};
use super::group_desc::*;
use super::inode::*;
use super::mballoc::{MbState, Pa};
use super::super_block::*;
use crate::core::buffer::MetaBuffer;
use crate::core::extent::{Extent, ExtentMap};
use crate::core::inode::InodeInfo;
use crate::core::io;
use crate::core::jbd2::format::journal_superblock_t;
use crate::core::jbd2::recovery::{RecoveryInfo, jbd2_journal_recover};
use crate::core::jbd2::{self, Handle, Journal, JournalData, JournalMap, JournalOptions};
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::kernel::lock;
use crate::kernel::percpu::PercpuCounter;
use crate::rangeset::RangeSet;
use crate::stats::Stats;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// How to mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ext4Options {
    /// Journal settings (commit thread, commit interval).
    pub journal: JournalOptions,
    /// ENOSPC once this many blocks are in use or reserved (fault injection).
    pub alloc_limit: Option<u64>,
}

/// One block group in memory, behind its lock (`ext4_lock_group`): the descriptor, the
/// bitmaps' buffers, and the allocator's view of the group (`struct ext4_group_info`).
pub(crate) struct GroupInfo {
    /// The descriptor (its bytes live in the descriptor table's buffer too).
    pub gd: ext4_group_desc,
    /// The block bitmap (always loaded; computed for `BLOCK_UNINIT`).
    pub bb: Arc<MetaBuffer>,
    /// The inode bitmap, once loaded.
    pub ib: Option<Arc<MetaBuffer>>,
    /// Free blocks as the allocator sees them (the buddy): free in the bitmap, less
    /// preallocations and blocks freed by transactions not yet committed.
    pub free: RangeSet,
    /// Preallocations carved from this group (`bb_prealloc_list`).
    pub pa: Vec<Arc<Pa>>,
}

/// A block group.
pub(crate) struct Group {
    pub info: Mutex<GroupInfo>,
    /// `bb_free`, readable without the lock to skip groups that cannot satisfy a request.
    pub bb_free: AtomicU64,
    /// First block of the inode table (fixed at mount).
    pub itable: u64,
    /// The inode table's blocks, read on first use (`sb_bread` of the table).
    itable_bufs: OnceLock<Box<[OnceLock<Arc<MetaBuffer>>]>>,
}

impl Group {
    /// `ext4_lock_group`.
    pub fn lock(&self) -> MutexGuard<'_, GroupInfo> {
        lock(&self.info)
    }
}

/// The root directory in memory.
pub(crate) struct RootDir {
    pub disk: DiskInode,
    /// Its blocks, in logical order, with their physical block.
    pub blocks: Vec<(u64, Vec<u8>)>,
    /// Name → (block index, byte offset, inode number, file type).
    pub names: HashMap<Vec<u8>, (usize, usize, u32, u8)>,
    /// Hash-indexed (`EXT4_INDEX_FL`): read only until made linear.
    pub indexed: bool,
}

/// The superblock in memory (`sbi->s_es` and its buffer).
pub(crate) struct SbState {
    pub sb: ext4_super_block,
    pub raw: Vec<u8>,
}

/// A mounted ext4 filesystem's metadata: what fsimpl's core calls to read and change the
/// disk (`struct ext4_sb_info`).
pub struct Ext4 {
    pub(crate) dev: Arc<dyn BlockDev>,
    /// Geometry.
    pub geo: Geometry,
    /// The journal.
    pub journal: Arc<Journal>,
    pub(crate) sb: Mutex<SbState>,
    pub(crate) groups: Box<[Group]>,
    /// The group descriptor table's blocks (`s_group_desc`).
    pub(crate) gdt: Box<[Arc<MetaBuffer>]>,
    pub(crate) root: Mutex<RootDir>,
    /// The allocator's filesystem-wide state.
    pub(crate) mb: MbState,
    /// `s_freeinodes_counter`.
    pub(crate) free_inodes: PercpuCounter,
    /// Next `i_generation` for a new inode (`s_next_generation`).
    pub(crate) next_generation: AtomicU32,
    /// `s_want_extra_isize`.
    pub(crate) want_extra_isize: u16,
    /// What recovery did at mount, if the journal needed it.
    pub recovery: Option<RecoveryInfo>,
}

/// A regular file found at mount.
pub struct FoundFile {
    /// Its name in the root directory (UTF-8 checked).
    pub name: String,
    /// The inode: extents, on-disk size, on-disk inode.
    pub info: InodeInfo,
}

/// Seconds since the epoch, for timestamps.
pub(crate) fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32)
}

/// Nanoseconds since the epoch.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Reads the primary superblock: `(decoded, raw 1024 bytes)`, checksum checked.
pub fn read_super(dev: &dyn BlockDev) -> Result<(ext4_super_block, Vec<u8>)> {
    if dev.size() < 2048 {
        return Err(FsError::Corrupt { what: format!("device of {} bytes is too small for ext4", dev.size()) });
    }
    let buf = io::read_blocks(dev, 1024, 1, 1)?;
    let sb = ext4_super_block::decode(&buf);
    if sb.s_magic == EXT4_SUPER_MAGIC && !sb.csum_ok(&buf) {
        return Err(FsError::Corrupt {
            what: "superblock checksum mismatch: the image is damaged; run e2fsck -f on it".into(),
        });
    }
    Ok((sb, buf.to_vec()))
}

impl Ext4 {
    /// `ext4_fill_super`: reads the superblock, recovers the journal if it needs it, reads the
    /// group descriptors, bitmaps, root directory and every regular file in it; marks the
    /// filesystem mounted (needs_recovery set, not clean) and starts the journal's commit
    /// thread when it has one.
    pub fn mount(dev: Arc<dyn BlockDev>, opts: Ext4Options, stats: Arc<Stats>) -> Result<(Arc<Ext4>, Vec<FoundFile>)> {
        let (sb, sb_raw) = read_super(dev.as_ref())?;
        let geo = Geometry::from_sb(&sb, dev.size())?;
        if !sb.has_compat(COMPAT_HAS_JOURNAL) || sb.s_journal_inum == 0 {
            return Err(FsError::Unsupported { what: "ext4 images without a journal (mkfs.ext4 -O ^has_journal)" });
        }
        if sb.s_state & EXT4_ERROR_FS != 0 {
            return Err(FsError::Corrupt {
                what: "the filesystem is marked as having errors: run e2fsck -f on it first".into(),
            });
        }
        // The journal inode's extents, from the descriptors as they are on disk now.
        let (gdt_blocks, gds) = read_group_descs(dev.as_ref(), &geo)?;
        let (jmap, jsb_raw) = journal_location(dev.as_ref(), &geo, &gds, sb.s_journal_inum)?;
        let mut jsb = journal_superblock_t::decode(&jsb_raw);
        check_jsb(&jsb, &geo, &jmap)?;
        let mut recovery = None;
        if jsb.s_start != 0 {
            let info = jbd2_journal_recover(dev.as_ref(), &jmap, &jsb)?;
            jsb.s_sequence = info.end_transaction;
            jsb.s_start = 0;
            recovery = Some(info);
        }
        // Everything again, as recovery left it, if it wrote anything.
        let (mut sb, sb_raw, geo, gdt_blocks, gds) = if recovery.is_some() {
            let (sb, sb_raw) = read_super(dev.as_ref())?;
            let geo = Geometry::from_sb(&sb, dev.size())?;
            let (gdt_blocks, gds) = read_group_descs(dev.as_ref(), &geo)?;
            (sb, sb_raw, geo, gdt_blocks, gds)
        } else {
            (sb, sb_raw, geo, gdt_blocks, gds)
        };
        if sb.s_last_orphan != 0 {
            return Err(FsError::Unsupported {
                what: "images with orphan inodes (an unfinished truncate or unlink): mount with the kernel or run \
                       e2fsck first",
            });
        }
        let bitmaps = read_block_bitmaps(dev.as_ref(), &geo, &sb, &gds)?;
        let mut groups = Vec::with_capacity(gds.len());
        let mut free_total = 0;
        let mut free_inodes = 0;
        for (g, (gd, bb)) in gds.into_iter().zip(bitmaps).enumerate() {
            let g = g as u64;
            let start = geo.group_first_block(g);
            let n = geo.group_blocks(g);
            let mut free = RangeSet::new();
            // `ext4_mb_generate_buddy`: the free extents of the bitmap.
            let mut i = balloc::find_next_zero_bit(&bb, 0, n);
            while i < n {
                let used = balloc::find_next_bit(&bb, i, n);
                free.insert(start + i, used - i);
                i = balloc::find_next_zero_bit(&bb, used, n);
            }
            free_total += free.total();
            free_inodes += gd.free_inodes(geo.desc_size);
            let bb_free = AtomicU64::new(free.total());
            let bb = MetaBuffer::new(gd.block_bitmap(geo.desc_size), bb.into());
            groups.push(Group {
                itable: gd.inode_table(geo.desc_size),
                info: Mutex::new(GroupInfo { gd, bb, ib: None, free, pa: Vec::new() }),
                bb_free,
                itable_bufs: OnceLock::new(),
            });
        }
        let journal_inc = (jbd2::format::INCOMPAT_64BIT * sb.has_incompat(INCOMPAT_64BIT) as u32)
            | (jbd2::format::INCOMPAT_CSUM_V3 * sb.metadata_csum() as u32);
        let mut raw = jsb_raw.clone();
        jsb.encode(&mut raw);
        let journal = Arc::new(Journal::load(dev.clone(), jmap, &raw, journal_inc, opts.journal, stats)?);
        // `ext4_setup_super`: mounted, not clean, the journal may need recovery from now on.
        sb.s_feature_incompat |= INCOMPAT_RECOVER;
        sb.s_state &= !EXT4_VALID_FS;
        sb.s_mnt_count = sb.s_mnt_count.wrapping_add(1);
        sb.s_mtime = now();
        let want_extra_isize = sb.s_want_extra_isize.max(32).min(geo.inode_size as u16 - 128);
        let fs = Arc::new(Ext4 {
            mb: MbState::new(&geo, free_total),
            dev,
            geo,
            journal,
            sb: Mutex::new(SbState { sb, raw: sb_raw }),
            groups: groups.into_boxed_slice(),
            gdt: gdt_blocks,
            root: Mutex::new(RootDir {
                disk: DiskInode::default(),
                blocks: Vec::new(),
                names: HashMap::new(),
                indexed: false,
            }),
            free_inodes: PercpuCounter::new(free_inodes as i64),
            next_generation: AtomicU32::new(now()),
            want_extra_isize,
            recovery,
        });
        fs.read_root()?;
        let mut files = fs.read_files()?;
        let file_blocks = files.iter().map(|f| f.info.extents.blocks() + f.info.disk.tree.node_blocks()).sum();
        fs.mb.set_limit(opts.alloc_limit, file_blocks);
        let tid = fs.journal.last_committed();
        for f in &mut files {
            f.info.disk.i_sync_tid = tid;
            f.info.disk.i_datasync_tid = tid;
        }
        fs.commit_super()?;
        // `ext4_journal_commit_callback`: blocks freed by a transaction become free once it
        // has committed.
        let weak = Arc::downgrade(&fs);
        fs.journal.set_commit_callback(Box::new(move |tid| {
            if let Some(fs) = weak.upgrade() {
                fs.process_freed_data(tid);
            }
        }));
        fs.journal.start_thread()?;
        Ok((fs, files))
    }

    /// Gives the journal the ordered-data hooks of the layer above.
    pub fn start(&self, data: Arc<dyn JournalData>) {
        self.journal.set_data_hook(data);
    }

    /// Block size.
    pub fn block_size(&self) -> u32 {
        self.geo.block_size
    }

    /// `ext4_journal_start`: a handle with `credits` on the running transaction.
    pub fn journal_start(&self, credits: u32) -> Result<Handle<'_>> {
        self.journal.start(credits)
    }

    /// `ext4_put_super`: commits and checkpoints the journal, leaves it empty, writes the
    /// superblock clean with its free counts. Preallocations are dropped (they are in memory
    /// only).
    pub fn unmount(&self) -> Result<()> {
        self.journal.flush_and_stop()?;
        self.discard_all_preallocations();
        {
            let mut s = lock(&self.sb);
            s.sb.s_feature_incompat &= !INCOMPAT_RECOVER;
            s.sb.s_state |= EXT4_VALID_FS;
        }
        self.commit_super()?;
        io::flush(self.dev.as_ref())
    }

    /// A crash: stops the journal thread, writes nothing.
    pub fn forget(&self) {
        self.journal.stop_thread();
    }

    /// `ext4_commit_super`: the primary superblock with current free counts and checksum,
    /// written in place (not through the journal, as ext4 does for these fields).
    pub(crate) fn commit_super(&self) -> Result<()> {
        let free_blocks = self.mb.free_clusters.sum_positive() as u64 + self.mb.free_pending.load(Relaxed);
        let free_inodes = self.free_inodes.sum_positive() as u32;
        let raw = {
            let mut s = lock(&self.sb);
            s.sb.set_free_blocks_count(free_blocks);
            s.sb.s_free_inodes_count = free_inodes;
            s.sb.s_wtime = now();
            let mut raw = s.raw.clone();
            s.sb.encode_csum(&mut raw);
            s.raw = raw.clone();
            raw
        };
        io::write_blocks(self.dev.as_ref(), 1024, [(1, &raw[..1024])])?;
        Ok(())
    }

    /// Reads the root directory (`ext4_iget(EXT4_ROOT_INO)` and its blocks).
    fn read_root(&self) -> Result<()> {
        let disk = self.read_inode(EXT4_ROOT_INO)?;
        if !disk.raw.is_dir() {
            return Err(FsError::Corrupt { what: "inode 2 (the root) is not a directory".into() });
        }
        let indexed = disk.raw.i_flags & EXT4_INDEX_FL != 0;
        let mut blocks = Vec::new();
        let nblocks = disk.raw.size() / self.geo.block_size as u64;
        let mut names = HashMap::new();
        for e in disk.tree.extents() {
            for i in 0..e.len as u64 {
                let lblk = e.lblk as u64 + i;
                if lblk >= nblocks {
                    break;
                }
                if lblk != blocks.len() as u64 {
                    return Err(FsError::Corrupt { what: format!("root directory has a hole at block {lblk}") });
                }
                let pblk = e.pblk + i;
                let b = io::read_blocks(self.dev.as_ref(), self.geo.block_size, pblk, 1)?.to_vec();
                blocks.push((pblk, b));
            }
        }
        if blocks.len() as u64 != nblocks {
            return Err(FsError::Corrupt { what: "root directory is shorter than its size".into() });
        }
        for (i, (pblk, b)) in blocks.iter().enumerate() {
            let dx = indexed && (i == 0 || dir::is_dx_node(b));
            let what = format!("root directory block {pblk}");
            if self.geo.csum && !dx && !dir::csum_ok(b, disk.csum_seed) {
                return Err(FsError::Corrupt { what: format!("{what}: checksum mismatch") });
            }
            let entries = if dx && i == 0 {
                // dx_root: only "." and ".." are entries; the rest is the index.
                dir::parse_block(&b[..24], false, &what).unwrap_or_default()
            } else if dx {
                Vec::new()
            } else {
                dir::parse_block(b, self.geo.csum, &what)?
            };
            for e in entries {
                if e.name == b"." || e.name == b".." {
                    continue;
                }
                names.insert(e.name, (i, e.offset, e.ino, e.file_type));
            }
        }
        *lock(&self.root) = RootDir { disk, blocks, names, indexed };
        Ok(())
    }

    /// Reads every regular file of the root directory (`ext4_iget`).
    fn read_files(&self) -> Result<Vec<FoundFile>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let entries: Vec<(Vec<u8>, u32, u8)> =
            lock(&self.root).names.iter().map(|(n, &(_, _, ino, ft))| (n.clone(), ino, ft)).collect();
        for (name, ino, ft) in entries {
            if ft != dir::EXT4_FT_REG_FILE && ft != dir::EXT4_FT_UNKNOWN {
                continue;
            }
            let disk = self.read_inode(ino)?;
            if !disk.raw.is_reg() {
                continue;
            }
            let Ok(name) = String::from_utf8(name) else { continue };
            if !seen.insert(ino) || disk.raw.i_links_count > 1 {
                return Err(FsError::Unsupported { what: "hard links (a file with more than one name)" });
            }
            let mut extents = ExtentMap::new();
            for e in disk.tree.extents() {
                extents.insert(Extent { lblk: e.lblk as u64, len: e.len as u64, pblk: e.pblk, unwritten: e.unwritten });
            }
            let mut info = InodeInfo::new(ino as u64, name.clone());
            info.i_disksize = disk.raw.size();
            info.extents = extents;
            info.disk = disk;
            out.push(FoundFile { name, info });
        }
        out.sort_by_key(|f| f.info.ino);
        Ok(out)
    }

    /// Where inode `ino` is: its group, the block of the table it is in, and its byte offset
    /// there.
    fn inode_location(&self, ino: u32) -> Result<(u64, u64, usize)> {
        if ino == 0 || ino as u64 > self.geo.groups * self.geo.inodes_per_group as u64 {
            return Err(FsError::Corrupt { what: format!("inode number {ino} is out of range") });
        }
        let (g, idx) = self.geo.group_of_inode(ino);
        let byte = idx as u64 * self.geo.inode_size as u64;
        let bs = self.geo.block_size as u64;
        Ok((g, byte / bs, (byte % bs) as usize))
    }

    /// Block `i` of group `g`'s inode table, read on first use (`__ext4_get_inode_loc`'s
    /// `sb_getblk` + read).
    pub(crate) fn itable_buffer(&self, g: u64, i: u64) -> Result<&Arc<MetaBuffer>> {
        let grp = &self.groups[g as usize];
        let bufs = grp.itable_bufs.get_or_init(|| (0..self.geo.itable_blocks()).map(|_| OnceLock::new()).collect());
        let cell = &bufs[i as usize];
        if let Some(b) = cell.get() {
            return Ok(b);
        }
        let blk = grp.itable + i;
        let data = io::read_blocks(self.dev.as_ref(), self.geo.block_size, blk, 1)?;
        let _ = cell.set(MetaBuffer::new(blk, data.to_vec().into()));
        Ok(cell.get().expect("just set"))
    }

    /// `__ext4_iget`: reads inode `ino`, checks its checksum, reads its extent tree.
    pub(crate) fn read_inode(&self, ino: u32) -> Result<DiskInode> {
        let (g, i, off) = self.inode_location(ino)?;
        let isz = self.geo.inode_size as usize;
        let buf = self.itable_buffer(g, i)?;
        let raw = buf.lock()[off..off + isz].to_vec();
        let di = ext4_inode::decode_sized(&raw);
        let seed = ext4_inode::csum_seed(self.geo.csum_seed, ino, di.i_generation);
        if self.geo.csum && !ext4_inode::csum_ok(seed, &raw) {
            return Err(FsError::Corrupt {
                what: format!(
                    "inode {ino} checksum mismatch (inode table block {}): run e2fsck -f on the image",
                    buf.blocknr()
                ),
            });
        }
        if di.i_flags & EXT4_INLINE_DATA_FL != 0 || di.i_flags & EXT4_EXTENTS_FL == 0 {
            return Err(FsError::Unsupported { what: "inodes without an extent tree (inline data or block maps)" });
        }
        let what = format!("inode {ino}");
        let dev = self.dev.clone();
        let bs = self.geo.block_size;
        let blocks = self.geo.blocks_count;
        let tree = ExtentTree::decode(&di.i_block, bs, self.geo.csum.then_some(seed), &what, &mut |b| {
            if b >= blocks {
                return Err(FsError::Corrupt { what: format!("{what}: extent block {b} is past the end") });
            }
            Ok(io::read_blocks(dev.as_ref(), bs, b, 1)?.to_vec())
        })?;
        Ok(DiskInode { raw: di, tree, csum_seed: seed, i_sync_tid: 0, i_datasync_tid: 0, prealloc: Vec::new() })
    }

    /// `ext4_do_update_inode`: encodes `disk.raw` into its table block's buffer (keeping the
    /// bytes fsimpl does not model), with its checksum, and journals the buffer.
    pub(crate) fn write_inode(&self, h: &mut Handle<'_>, ino: u32, disk: &mut DiskInode) -> Result<()> {
        let mut i_block = [0u8; 60];
        disk.tree.encode(Loc::Root, &mut i_block, None);
        disk.raw.i_block = i_block;
        let (g, i, off) = self.inode_location(ino)?;
        let isz = self.geo.inode_size as usize;
        let buf = self.itable_buffer(g, i)?;
        {
            let mut b = buf.lock();
            if self.geo.csum {
                disk.raw.encode_csum(disk.csum_seed, &mut b[off..off + isz]);
            } else {
                let mut full = [0u8; ext4_inode::SIZE];
                let n = isz.min(ext4_inode::SIZE);
                full[..n].copy_from_slice(&b[off..off + n]);
                disk.raw.encode(&mut full);
                b[off..off + n].copy_from_slice(&full[..n]);
            }
        }
        h.dirty_metadata(buf);
        disk.i_sync_tid = h.tid();
        Ok(())
    }

    /// Zeroes inode `ino`'s bytes in its table buffer (a new inode starts from zeroes).
    pub(crate) fn clear_inode(&self, ino: u32) -> Result<()> {
        let (g, i, off) = self.inode_location(ino)?;
        let isz = self.geo.inode_size as usize;
        self.itable_buffer(g, i)?.lock()[off..off + isz].fill(0);
        Ok(())
    }

    /// Journals the tree blocks `disk.tree` changed (the root is written with the inode).
    pub(crate) fn write_tree(&self, h: &mut Handle<'_>, disk: &mut DiskInode) {
        let seed = self.geo.csum.then_some(disk.csum_seed);
        for loc in disk.tree.take_dirty() {
            if let Loc::Block(b) = loc {
                let mut buf = vec![0u8; self.geo.block_size as usize];
                disk.tree.encode(loc, &mut buf, seed);
                h.dirty_block(b, buf);
            }
        }
    }

    /// Writes group `g`'s descriptor (with its checksum) into the descriptor table's buffer
    /// (`ext4_group_desc_csum_set`); the caller holds the group's lock and journals
    /// [`Ext4::gdt_buffer`] once it lets go of it.
    pub(crate) fn set_gd(&self, g: u64, gd: &ext4_group_desc) {
        let (_, off) = self.geo.desc_location(g);
        let ds = self.geo.desc_size;
        let mut b = self.gdt_buffer(g).lock();
        gd.encode_csum(self.geo.csum_seed, g as u32, &mut b[off..off + ds], ds);
    }

    /// The descriptor table block holding group `g`'s descriptor.
    pub(crate) fn gdt_buffer(&self, g: u64) -> &Arc<MetaBuffer> {
        &self.gdt[(g / self.geo.descs_per_block()) as usize]
    }

    /// Updates the block bitmap's checksum in group `g`'s descriptor (`ext4_block_bitmap_csum_set`);
    /// the caller holds the group's lock.
    pub(crate) fn block_bitmap_csum_set(&self, gi: &mut GroupInfo) {
        if self.geo.csum {
            let n = self.geo.block_bitmap_bytes();
            let b = gi.bb.lock();
            gi.gd.set_block_bitmap_csum(self.geo.csum_seed, &b[..n], self.geo.desc_size);
        }
    }

    /// Updates the inode bitmap's checksum in the descriptor (`ext4_inode_bitmap_csum_set`).
    pub(crate) fn inode_bitmap_csum_set(&self, gi: &mut GroupInfo) {
        if self.geo.csum {
            let n = self.geo.inode_bitmap_bytes();
            let ib = gi.ib.as_ref().expect("inode bitmap loaded");
            let b = ib.lock();
            gi.gd.set_inode_bitmap_csum(self.geo.csum_seed, &b[..n], self.geo.desc_size);
        }
    }
}

/// Where the journal of the ext4 image on `dev` is (for tools and tests that look at the
/// log), and its superblock as read.
pub fn journal_of(dev: &dyn BlockDev) -> Result<(JournalMap, journal_superblock_t)> {
    let (sb, _) = read_super(dev)?;
    let geo = Geometry::from_sb(&sb, dev.size())?;
    let (_, gds) = read_group_descs(dev, &geo)?;
    let (map, raw) = journal_location(dev, &geo, &gds, sb.s_journal_inum)?;
    Ok((map, journal_superblock_t::decode(&raw)))
}

/// The descriptor table's blocks.
type GdtBuffers = Box<[Arc<MetaBuffer>]>;

/// Reads the primary group descriptor table, checking each descriptor's checksum: the
/// table's blocks as buffers, and the descriptors.
fn read_group_descs(dev: &dyn BlockDev, geo: &Geometry) -> Result<(GdtBuffers, Vec<ext4_group_desc>)> {
    let first = geo.first_data_block + 1;
    let buf = io::read_blocks(dev, geo.block_size, first, geo.gdt_blocks as usize)?;
    let ds = geo.desc_size;
    let gds = (0..geo.groups)
        .map(|g| {
            let raw = &buf[g as usize * ds..(g as usize + 1) * ds];
            let gd = ext4_group_desc::decode_sized(raw, ds);
            if geo.csum && ext4_group_desc::csum(geo.csum_seed, g as u32, raw, ds) != gd.bg_checksum {
                return Err(FsError::Corrupt {
                    what: format!("group descriptor {g} checksum mismatch: run e2fsck -f on the image"),
                });
            }
            let last = geo.blocks_count;
            for (what, b) in [("block bitmap", gd.block_bitmap(ds)), ("inode bitmap", gd.inode_bitmap(ds))] {
                if b >= last || b <= geo.first_data_block {
                    return Err(FsError::Corrupt { what: format!("group {g}: {what} at block {b} is out of range") });
                }
            }
            if gd.inode_table(ds) + geo.itable_blocks() > last {
                return Err(FsError::Corrupt { what: format!("group {g}: inode table is out of range") });
            }
            Ok(gd)
        })
        .collect::<Result<Vec<_>>>()?;
    let bs = geo.block_size as usize;
    let blocks = (0..geo.gdt_blocks)
        .map(|i| MetaBuffer::new(first + i, buf[i as usize * bs..(i as usize + 1) * bs].into()))
        .collect();
    Ok((blocks, gds))
}

/// Reads every group's block bitmap (computing those of `BLOCK_UNINIT` groups), checking
/// checksums; contiguous bitmaps (flex_bg puts them side by side) are read together.
fn read_block_bitmaps(
    dev: &dyn BlockDev,
    geo: &Geometry,
    sb: &ext4_super_block,
    gds: &[ext4_group_desc],
) -> Result<Vec<Vec<u8>>> {
    let ds = geo.desc_size;
    let bs = geo.block_size as usize;
    let mut out: Vec<Option<Vec<u8>>> = vec![None; gds.len()];
    let mut wanted: Vec<(u64, usize)> = Vec::new();
    for (g, gd) in gds.iter().enumerate() {
        if gd.bg_flags & EXT4_BG_BLOCK_UNINIT != 0 {
            out[g] = Some(balloc::init_block_bitmap(geo, sb, g as u64, gd));
        } else {
            wanted.push((gd.block_bitmap(ds), g));
        }
    }
    wanted.sort();
    let mut i = 0;
    while i < wanted.len() {
        let mut j = i + 1;
        while j < wanted.len() && wanted[j].0 == wanted[j - 1].0 + 1 && j - i < 256 {
            j += 1;
        }
        let buf = io::read_blocks(dev, geo.block_size, wanted[i].0, j - i)?;
        for (k, &(blk, g)) in wanted[i..j].iter().enumerate() {
            let b = buf[k * bs..(k + 1) * bs].to_vec();
            if geo.csum && !gds[g].block_bitmap_csum_ok(geo.csum_seed, &b[..geo.block_bitmap_bytes()], ds) {
                return Err(FsError::Corrupt {
                    what: format!(
                        "group {g}: block bitmap (block {blk}) checksum mismatch: run e2fsck -f on the image"
                    ),
                });
            }
            out[g] = Some(b);
        }
        i = j;
    }
    Ok(out.into_iter().map(|b| b.expect("every group has a bitmap")).collect())
}

/// The journal inode's extents and the journal superblock (as read, 1024 bytes).
fn journal_location(
    dev: &dyn BlockDev,
    geo: &Geometry,
    gds: &[ext4_group_desc],
    ino: u32,
) -> Result<(JournalMap, Vec<u8>)> {
    let (g, idx) = geo.group_of_inode(ino);
    let table = gds.get(g as usize).ok_or(FsError::Corrupt { what: "journal inode out of range".into() })?;
    let byte = idx as u64 * geo.inode_size as u64;
    let blk = table.inode_table(geo.desc_size) + byte / geo.block_size as u64;
    let off = (byte % geo.block_size as u64) as usize;
    let buf = io::read_blocks(dev, geo.block_size, blk, 1)?;
    let raw = &buf[off..off + geo.inode_size as usize];
    let di = ext4_inode::decode_sized(raw);
    let seed = ext4_inode::csum_seed(geo.csum_seed, ino, di.i_generation);
    if geo.csum && !ext4_inode::csum_ok(seed, raw) {
        return Err(FsError::Corrupt { what: format!("journal inode {ino} checksum mismatch: run e2fsck -f") });
    }
    if di.i_flags & EXT4_EXTENTS_FL == 0 {
        return Err(FsError::Unsupported { what: "a journal inode mapped by blocks rather than extents" });
    }
    let bs = geo.block_size;
    let tree = ExtentTree::decode(&di.i_block, bs, geo.csum.then_some(seed), "journal inode", &mut |b| {
        Ok(io::read_blocks(dev, bs, b, 1)?.to_vec())
    })?;
    let maxlen = (di.size() / bs as u64) as u32;
    let extents: Vec<(u32, u64, u32)> = tree.extents().iter().map(|e| (e.lblk, e.pblk, e.len)).collect();
    let map = JournalMap { block_size: bs, maxlen, extents };
    let first = map.bmap(0)?;
    let jsb = io::read_blocks(dev, bs, first, 1)?[..1024].to_vec();
    Ok((map, jsb))
}

fn check_jsb(jsb: &journal_superblock_t, geo: &Geometry, map: &JournalMap) -> Result<()> {
    use crate::core::jbd2::format::*;
    let bad = |what: String| Err(FsError::Corrupt { what: format!("journal superblock: {what}") });
    if jsb.h_magic != JBD2_MAGIC_NUMBER || ![JBD2_SUPERBLOCK_V1, JBD2_SUPERBLOCK_V2].contains(&jsb.h_blocktype) {
        return bad("bad magic".into());
    }
    if jsb.s_blocksize != geo.block_size || jsb.s_maxlen > map.maxlen {
        return bad(format!(
            "block size {} and length {} do not match the journal inode",
            jsb.s_blocksize, jsb.s_maxlen
        ));
    }
    let unknown = jsb.s_feature_incompat & !INCOMPAT_SUPPORTED;
    if unknown != 0 {
        return Err(FsError::Unsupported { what: "journal features fsimpl does not know (fast commit, async commit)" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ext4::{MkfsOptions, mke2fs};
    use crate::dev::MemDev;

    fn mount(thread: bool) -> Arc<Ext4> {
        let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(64 << 20).unwrap());
        mke2fs(dev.as_ref(), &MkfsOptions::default()).unwrap();
        let opts = Ext4Options { journal: JournalOptions { commit_interval: None, thread }, alloc_limit: None };
        Ext4::mount(dev, opts, Arc::new(Stats::default())).unwrap().0
    }

    /// `flusher=inline`: no commit thread; the thread that asks for a commit runs it, so it
    /// is done when `jbd2_complete_transaction` returns. With the thread, `kjournald2` runs.
    #[test]
    fn the_commit_thread_runs_only_when_asked_for() {
        let fs = mount(false);
        assert!(!fs.journal.has_commit_thread());
        let mut h = fs.journal_start(1).unwrap();
        let tid = h.tid();
        h.dirty_metadata(fs.gdt_buffer(0));
        drop(h);
        assert!(fs.journal.complete_transaction(tid).unwrap());
        assert_eq!(fs.journal.last_committed(), tid);
        assert!(!fs.journal.has_commit_thread());
        fs.unmount().unwrap();

        let fs = mount(true);
        assert!(fs.journal.has_commit_thread());
        fs.unmount().unwrap();
        assert!(!fs.journal.has_commit_thread(), "unmount stops it");
    }
}
