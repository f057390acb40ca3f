//! A mounted ext4 filesystem's metadata (`struct ext4_sb_info` and what hangs off it):
//! mount with journal recovery (`ext4_fill_super`, `ext4_load_journal`), the group
//! descriptors and bitmaps, inode-table I/O, the root directory, and unmount
//! (`ext4_put_super`). The journaled operations on files are in [`super::ops`].

use super::balloc::{self, Geometry};
use super::dir;
use super::extents::{ExtentTree, Loc};
use super::group_desc::*;
use super::inode::*;
use super::mballoc::Mballoc;
use super::super_block::*;
use crate::core::extent::{Extent, ExtentMap};
use crate::core::inode::Inode;
use crate::core::io;
use crate::core::jbd2::format::journal_superblock_t;
use crate::core::jbd2::recovery::{RecoveryInfo, jbd2_journal_recover};
use crate::core::jbd2::{self, Handle, Journal, JournalData, JournalMap, JournalOptions};
use crate::core::rangeset::RangeSet;
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use crate::stats::Stats;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// How to mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ext4Options {
    /// Journal settings (commit interval).
    pub journal: JournalOptions,
    /// ENOSPC once this many blocks are in use or reserved (fault injection).
    pub alloc_limit: Option<u64>,
}

/// One block group in memory (`struct ext4_group_info` with its descriptor and bitmaps).
pub(crate) struct Group {
    pub gd: ext4_group_desc,
    /// The block bitmap (always loaded; computed for `BLOCK_UNINIT`).
    pub bb: Vec<u8>,
    /// The inode bitmap, once loaded.
    pub ib: Option<Vec<u8>>,
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

/// Everything behind the metadata lock.
pub(crate) struct Meta {
    pub sb: ext4_super_block,
    pub sb_raw: Vec<u8>,
    pub groups: Vec<Group>,
    pub mb: Mballoc,
    /// Cached inode-table blocks.
    pub itable: HashMap<u64, Vec<u8>>,
    pub root: RootDir,
    pub free_inodes: u64,
    /// Next `i_generation` for a new inode.
    pub next_generation: u32,
}

/// A mounted ext4 filesystem's metadata: what fsimpl's core calls to read and change the
/// disk (`struct ext4_sb_info`).
pub struct Ext4 {
    pub(crate) dev: Arc<dyn BlockDev>,
    /// Geometry.
    pub geo: Geometry,
    /// The journal.
    pub journal: Arc<Journal>,
    pub(crate) meta: Mutex<Meta>,
    /// What recovery did at mount, if the journal needed it.
    pub recovery: Option<RecoveryInfo>,
}

/// A regular file found at mount.
pub struct FoundFile {
    /// Its name in the root directory (UTF-8 checked).
    pub name: String,
    /// The inode, with its extents and sizes.
    pub inode: Inode,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds since the epoch, for timestamps.
pub(crate) fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32)
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
    /// thread.
    pub fn mount(dev: Arc<dyn BlockDev>, opts: Ext4Options, stats: Arc<Stats>) -> Result<(Arc<Ext4>, Vec<FoundFile>)> {
        let (sb, _) = read_super(dev.as_ref())?;
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
        let groups = read_group_descs(dev.as_ref(), &geo)?;
        let (jmap, jsb_raw) = journal_location(dev.as_ref(), &geo, &groups, sb.s_journal_inum)?;
        let mut jsb = journal_superblock_t::decode(&jsb_raw);
        check_jsb(&jsb, &geo, &jmap)?;
        let mut recovery = None;
        if jsb.s_start != 0 {
            let info = jbd2_journal_recover(dev.as_ref(), &jmap, &jsb)?;
            jsb.s_sequence = info.end_transaction;
            jsb.s_start = 0;
            recovery = Some(info);
        }
        // Everything again, as recovery left it.
        let (mut sb, sb_raw) = read_super(dev.as_ref())?;
        let geo = Geometry::from_sb(&sb, dev.size())?;
        if sb.s_last_orphan != 0 {
            return Err(FsError::Unsupported {
                what: "images with orphan inodes (an unfinished truncate or unlink): mount with the kernel or run \
                       e2fsck first",
            });
        }
        let gds = read_group_descs(dev.as_ref(), &geo)?;
        let mut groups = Vec::with_capacity(gds.len());
        let mut free = RangeSet::new();
        let bitmaps = read_block_bitmaps(dev.as_ref(), &geo, &sb, &gds)?;
        let mut free_inodes = 0;
        for (g, (gd, bb)) in gds.into_iter().zip(bitmaps).enumerate() {
            let g = g as u64;
            let start = geo.group_first_block(g);
            let n = geo.group_blocks(g);
            let mut i = 0;
            while i < n {
                if balloc::test_bit(&bb, i) {
                    i += 1;
                    continue;
                }
                let s = i;
                while i < n && !balloc::test_bit(&bb, i) {
                    i += 1;
                }
                free.insert(start + s, i - s);
            }
            free_inodes += gd.free_inodes(geo.desc_size);
            groups.push(Group { gd, bb, ib: None });
        }
        let mb = Mballoc::new(geo, free);
        let mut meta = Meta {
            sb,
            sb_raw: sb_raw.clone(),
            groups,
            mb,
            itable: HashMap::new(),
            root: RootDir { disk: DiskInode::default(), blocks: Vec::new(), names: HashMap::new(), indexed: false },
            free_inodes,
            next_generation: now(),
        };
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
        meta.sb = sb;
        let fs = Ext4 { dev, geo, journal, meta: Mutex::new(meta), recovery };
        let files = {
            let mut m = lock(&fs.meta);
            fs.read_root(&mut m)?;
            let mut files = fs.read_files(&mut m)?;
            let file_blocks = files.iter().map(|f| f.inode.extents.blocks() + f.inode.disk.tree.node_blocks()).sum();
            m.mb.set_limit(opts.alloc_limit, file_blocks);
            let tid = fs.journal.last_committed();
            for f in &mut files {
                f.inode.disk.i_sync_tid = tid;
                f.inode.disk.i_datasync_tid = tid;
            }
            fs.commit_super(&mut m)?;
            files
        };
        fs.journal.start_thread();
        Ok((Arc::new(fs), files))
    }

    /// Gives the journal the ordered-data hook of the layer above.
    pub fn start(&self, data: Arc<dyn JournalData>) {
        self.journal.set_data_hook(data);
    }

    /// Block size.
    pub fn block_size(&self) -> u32 {
        self.geo.block_size
    }

    /// `ext4_put_super`: commits and checkpoints the journal, leaves it empty, writes the
    /// superblock clean with its free counts. Preallocations are dropped (they are in memory
    /// only).
    pub fn unmount(&self) -> Result<()> {
        self.journal.flush_and_stop()?;
        let mut m = lock(&self.meta);
        m.mb.discard_all_preallocations();
        m.sb.s_feature_incompat &= !INCOMPAT_RECOVER;
        m.sb.s_state |= EXT4_VALID_FS;
        self.commit_super(&mut m)?;
        io::flush(self.dev.as_ref())
    }

    /// A crash: stops the journal thread, writes nothing.
    pub fn forget(&self) {
        self.journal.stop_thread();
    }

    /// `ext4_commit_super`: the primary superblock with current free counts and checksum,
    /// written in place (not through the journal, as ext4 does for these fields).
    pub(crate) fn commit_super(&self, m: &mut Meta) -> Result<()> {
        let free_blocks = m.mb.free_blocks() + m.mb.pending_frees();
        m.sb.set_free_blocks_count(free_blocks);
        m.sb.s_free_inodes_count = m.free_inodes as u32;
        m.sb.s_wtime = now();
        let mut raw = m.sb_raw.clone();
        m.sb.encode_csum(&mut raw);
        m.sb_raw = raw.clone();
        let mut block = vec![0u8; 1024];
        block.copy_from_slice(&raw);
        io::write_blocks(self.dev.as_ref(), 1024, [(1, block.as_slice())])?;
        Ok(())
    }

    /// Reads the root directory (`ext4_iget(EXT4_ROOT_INO)` and its blocks).
    fn read_root(&self, m: &mut Meta) -> Result<()> {
        let disk = self.read_inode(m, EXT4_ROOT_INO)?;
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
        m.root = RootDir { disk, blocks, names, indexed };
        Ok(())
    }

    /// Reads every regular file of the root directory (`ext4_iget`).
    fn read_files(&self, m: &mut Meta) -> Result<Vec<FoundFile>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let entries: Vec<(Vec<u8>, u32, u8)> =
            m.root.names.iter().map(|(n, &(_, _, ino, ft))| (n.clone(), ino, ft)).collect();
        for (name, ino, ft) in entries {
            if ft != dir::EXT4_FT_REG_FILE && ft != dir::EXT4_FT_UNKNOWN {
                continue;
            }
            let disk = self.read_inode(m, ino)?;
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
            let mut inode = Inode::new(ino as u64, name.clone());
            inode.i_size = disk.raw.size();
            inode.i_disksize = inode.i_size;
            inode.extents = extents;
            inode.disk = disk;
            out.push(FoundFile { name, inode });
        }
        out.sort_by_key(|f| f.inode.ino);
        Ok(out)
    }

    /// Where inode `ino` is: its table block and byte offset in it.
    pub(crate) fn inode_location(&self, m: &Meta, ino: u32) -> Result<(u64, usize)> {
        if ino == 0 || ino as u64 > self.geo.groups * self.geo.inodes_per_group as u64 {
            return Err(FsError::Corrupt { what: format!("inode number {ino} is out of range") });
        }
        let (g, idx) = self.geo.group_of_inode(ino);
        let table = m.groups[g as usize].gd.inode_table(self.geo.desc_size);
        let byte = idx as u64 * self.geo.inode_size as u64;
        Ok((table + byte / self.geo.block_size as u64, (byte % self.geo.block_size as u64) as usize))
    }

    /// The cached inode-table block `blk`, read if needed.
    pub(crate) fn itable_block<'m>(&self, m: &'m mut Meta, blk: u64) -> Result<&'m mut Vec<u8>> {
        match m.itable.entry(blk) {
            std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(e) => {
                Ok(e.insert(io::read_blocks(self.dev.as_ref(), self.geo.block_size, blk, 1)?.to_vec()))
            }
        }
    }

    /// `__ext4_iget`: reads inode `ino`, checks its checksum, reads its extent tree.
    pub(crate) fn read_inode(&self, m: &mut Meta, ino: u32) -> Result<DiskInode> {
        let (blk, off) = self.inode_location(m, ino)?;
        let isz = self.geo.inode_size as usize;
        let seed_fs = self.geo.csum_seed;
        let csum = self.geo.csum;
        let raw = self.itable_block(m, blk)?[off..off + isz].to_vec();
        let di = ext4_inode::decode_sized(&raw);
        let seed = ext4_inode::csum_seed(seed_fs, ino, di.i_generation);
        if csum && !ext4_inode::csum_ok(seed, &raw) {
            return Err(FsError::Corrupt {
                what: format!("inode {ino} checksum mismatch (inode table block {blk}): run e2fsck -f on the image"),
            });
        }
        if di.i_flags & EXT4_INLINE_DATA_FL != 0 || di.i_flags & EXT4_EXTENTS_FL == 0 {
            return Err(FsError::Unsupported { what: "inodes without an extent tree (inline data or block maps)" });
        }
        let what = format!("inode {ino}");
        let dev = self.dev.clone();
        let bs = self.geo.block_size;
        let blocks = self.geo.blocks_count;
        let tree = ExtentTree::decode(&di.i_block, bs, csum.then_some(seed), &what, &mut |b| {
            if b >= blocks {
                return Err(FsError::Corrupt { what: format!("{what}: extent block {b} is past the end") });
            }
            Ok(io::read_blocks(dev.as_ref(), bs, b, 1)?.to_vec())
        })?;
        Ok(DiskInode { raw: di, tree, csum_seed: seed, i_sync_tid: 0, i_datasync_tid: 0 })
    }

    /// `ext4_do_update_inode`: encodes `disk.raw` into its table block (keeping the bytes
    /// fsimpl does not model) and journals the block.
    pub(crate) fn write_inode(&self, m: &mut Meta, h: &mut Handle<'_>, ino: u32, disk: &mut DiskInode) -> Result<()> {
        let mut i_block = [0u8; 60];
        disk.tree.encode(Loc::Root, &mut i_block, None);
        disk.raw.i_block = i_block;
        let (blk, off) = self.inode_location(m, ino)?;
        let isz = self.geo.inode_size as usize;
        let seed = disk.csum_seed;
        let csum = self.geo.csum;
        let raw = disk.raw;
        let b = self.itable_block(m, blk)?;
        if csum {
            raw.encode_csum(seed, &mut b[off..off + isz]);
        } else {
            let mut full = b[off..off + isz].to_vec();
            raw.encode(&mut full);
            b[off..off + isz].copy_from_slice(&full[..isz]);
        }
        h.dirty_metadata(blk, b);
        disk.i_sync_tid = h.tid();
        Ok(())
    }

    /// Journals the tree blocks `disk.tree` changed (the root is written with the inode).
    pub(crate) fn write_tree(&self, h: &mut Handle<'_>, disk: &mut DiskInode) -> bool {
        let mut root = false;
        let seed = self.geo.csum.then_some(disk.csum_seed);
        for loc in disk.tree.take_dirty() {
            match loc {
                Loc::Root => root = true,
                Loc::Block(b) => {
                    let mut buf = vec![0u8; self.geo.block_size as usize];
                    disk.tree.encode(loc, &mut buf, seed);
                    h.dirty_metadata(b, &buf);
                }
            }
        }
        root
    }

    /// Journals group `g`'s descriptor (its whole descriptor block), with checksums.
    pub(crate) fn dirty_gd(&self, m: &mut Meta, h: &mut Handle<'_>, g: u64) {
        let (blk, _) = self.geo.desc_location(g);
        let ds = self.geo.desc_size;
        let per = self.geo.descs_per_block();
        let first = g / per * per;
        let mut buf = vec![0u8; self.geo.block_size as usize];
        for i in 0..per {
            let gi = first + i;
            if gi >= self.geo.groups {
                break;
            }
            let at = (i as usize) * ds;
            m.groups[gi as usize].gd.encode_csum(self.geo.csum_seed, gi as u32, &mut buf[at..at + ds], ds);
        }
        h.dirty_metadata(blk, &buf);
    }

    /// Journals group `g`'s block bitmap, updating its checksum in the descriptor.
    pub(crate) fn dirty_block_bitmap(&self, m: &mut Meta, h: &mut Handle<'_>, g: u64) {
        let ds = self.geo.desc_size;
        let n = self.geo.block_bitmap_bytes();
        let grp = &mut m.groups[g as usize];
        if self.geo.csum {
            grp.gd.set_block_bitmap_csum(self.geo.csum_seed, &grp.bb[..n], ds);
        }
        let blk = grp.gd.block_bitmap(ds);
        h.dirty_metadata(blk, &grp.bb);
    }

    /// Journals group `g`'s inode bitmap, updating its checksum in the descriptor.
    pub(crate) fn dirty_inode_bitmap(&self, m: &mut Meta, h: &mut Handle<'_>, g: u64) {
        let ds = self.geo.desc_size;
        let n = self.geo.inode_bitmap_bytes();
        let grp = &mut m.groups[g as usize];
        let ib = grp.ib.as_ref().expect("inode bitmap loaded");
        if self.geo.csum {
            grp.gd.set_inode_bitmap_csum(self.geo.csum_seed, &ib[..n], ds);
        }
        let blk = grp.gd.inode_bitmap(ds);
        h.dirty_metadata(blk, ib);
    }

    /// Marks `[pblk, pblk + len)` (inside one group) in use in the bitmap
    /// (`ext4_mb_mark_diskspace_used`), and journals bitmap and descriptor.
    pub(crate) fn mark_used(&self, m: &mut Meta, h: &mut Handle<'_>, pblk: u64, len: u64) {
        let (g, off) = self.geo.group_of_block(pblk);
        debug_assert!(off + len <= self.geo.group_blocks(g), "allocation crosses a group");
        let ds = self.geo.desc_size;
        let grp = &mut m.groups[g as usize];
        debug_assert!((off..off + len).all(|i| !balloc::test_bit(&grp.bb, i)), "block {pblk}+{len} already in use");
        balloc::set_bits(&mut grp.bb, off, len);
        if grp.gd.bg_flags & EXT4_BG_BLOCK_UNINIT != 0 {
            grp.gd.bg_flags &= !EXT4_BG_BLOCK_UNINIT;
        }
        let free = grp.gd.free_blocks(ds) - len;
        grp.gd.set_free_blocks(free);
        self.dirty_block_bitmap(m, h, g);
        self.dirty_gd(m, h, g);
    }

    /// Clears `[pblk, pblk + len)` in the bitmaps (`ext4_free_blocks`), group by group; the
    /// allocator may reuse them once this transaction commits.
    pub(crate) fn mark_free(&self, m: &mut Meta, h: &mut Handle<'_>, pblk: u64, len: u64) {
        let ds = self.geo.desc_size;
        let mut at = pblk;
        let end = pblk + len;
        while at < end {
            let (g, off) = self.geo.group_of_block(at);
            let n = (end - at).min(self.geo.group_blocks(g) - off);
            let grp = &mut m.groups[g as usize];
            debug_assert!((off..off + n).all(|i| balloc::test_bit(&grp.bb, i)), "freeing free block {at}+{n}");
            balloc::clear_bits(&mut grp.bb, off, n);
            let free = grp.gd.free_blocks(ds) + n;
            grp.gd.set_free_blocks(free);
            self.dirty_block_bitmap(m, h, g);
            self.dirty_gd(m, h, g);
            m.mb.free_blocks_in(h.tid(), at, n);
            at += n;
        }
    }
}

/// Where the journal of the ext4 image on `dev` is (for tools and tests that look at the
/// log), and its superblock as read.
pub fn journal_of(dev: &dyn BlockDev) -> Result<(JournalMap, journal_superblock_t)> {
    let (sb, _) = read_super(dev)?;
    let geo = Geometry::from_sb(&sb, dev.size())?;
    let gds = read_group_descs(dev, &geo)?;
    let (map, raw) = journal_location(dev, &geo, &gds, sb.s_journal_inum)?;
    Ok((map, journal_superblock_t::decode(&raw)))
}

/// Reads the primary group descriptor table and checks each descriptor's checksum.
fn read_group_descs(dev: &dyn BlockDev, geo: &Geometry) -> Result<Vec<ext4_group_desc>> {
    let buf = io::read_blocks(dev, geo.block_size, geo.first_data_block + 1, geo.gdt_blocks as usize)?;
    let ds = geo.desc_size;
    (0..geo.groups)
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
        .collect()
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
    if jsb.has_csum() {
        let mut raw = vec![0u8; 1024];
        jsb.encode(&mut raw);
        // The checksum covers bytes fsimpl does not declare: checked by the caller's raw copy.
    }
    Ok(())
}
