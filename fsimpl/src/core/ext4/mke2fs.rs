//! fsimpl's own mkfs (what e2fsprogs' `mke2fs` does for `mkfs.ext4` with this machine's
//! defaults, without `resize_inode`): groups with flex_bg placement of bitmaps and inode
//! tables, sparse superblock backups, a journal (`ext2fs_add_journal_inode`), the root
//! directory and lost+found, every checksum. As `mke2fs` does on a device that cannot zero by
//! discard, only the inode table in use is zeroed (`lazy_itable_init`: the others are zeroed
//! before their first inode is handed out) and only the journal's superblock is written (the
//! log is checksummed with the new filesystem's UUID, so stale blocks never pass for it). Used where no `mkfs.ext4` is wanted (RAM
//! devices in tests); the harness's `mkfs_opts=` runs the real `mkfs.ext4`.

use super::balloc::{self, Geometry};
use super::dir;
use super::extents::{ExtentTree, Loc, TreeAlloc};
use super::group_desc::*;
use super::inode::*;
use super::super_block::*;
use crate::core::extent::Extent;
use crate::core::io;
use crate::core::jbd2::format::{JBD2_MAGIC_NUMBER, JBD2_SUPERBLOCK_V2, journal_superblock_t};
use crate::dev::BlockDev;
use crate::error::{FsError, Result};
use std::collections::BTreeMap;

/// What to format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MkfsOptions {
    /// Block size: 1024, 2048 or 4096.
    pub block_size: u32,
    /// Bytes of disk per inode (`-i`, default 16384).
    pub inode_ratio: u64,
    /// Journal blocks (`-J size=`); `None`: `ext2fs_default_journal_size`.
    pub journal_blocks: Option<u64>,
}

impl Default for MkfsOptions {
    fn default() -> Self {
        MkfsOptions { block_size: 4096, inode_ratio: 16384, journal_blocks: None }
    }
}

/// The volume label of the images fsimpl makes (`mkfs.ext4 -L aopsbench`), by which the
/// harness knows it may overwrite them.
pub const AOPSBENCH_LABEL: &[u8; 16] = b"aopsbench\0\0\0\0\0\0\0";

const INODE_SIZE: u32 = 256;
const LOG_GROUPS_PER_FLEX: u8 = 4;
const LPF_INO: u32 = 11;
const JOURNAL_INO: u32 = 8;

/// `ext2fs_default_journal_size`: journal blocks for a filesystem of `blocks` blocks.
pub fn default_journal_blocks(blocks: u64) -> Option<u64> {
    Some(match blocks {
        b if b < 2048 => return None,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    })
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // SAFETY: getrandom writes at most N bytes into the buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), N, 0) };
    if n != N as isize {
        // No entropy source: a time-based value still differs between runs.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t >> ((i % 16) * 8)) as u8 ^ i as u8;
        }
    }
    b
}

/// Blocks in use while laying out, and a cursor to place metadata.
struct Layout {
    used: Vec<bool>,
    /// Where a tree block with no goal of its own goes from (the file being laid out).
    file_goal: u64,
}

impl Layout {
    fn take(&mut self, b: u64, n: u64) {
        for i in b..b + n {
            self.used[i as usize] = true;
        }
    }
    /// The first run of `n` free blocks at or after `from`.
    fn find(&self, from: u64, n: u64) -> Option<u64> {
        let mut run = 0;
        for b in from..self.used.len() as u64 {
            if self.used[b as usize] {
                run = 0;
            } else {
                run += 1;
                if run == n {
                    return Some(b + 1 - n);
                }
            }
        }
        None
    }
    fn alloc(&mut self, from: u64, n: u64) -> Result<u64> {
        let b = self.find(from, n).ok_or(FsError::NoSpace { what: "mkfs: room for the metadata" })?;
        self.take(b, n);
        Ok(b)
    }
}

impl TreeAlloc for Layout {
    fn alloc_node(&mut self, goal: Option<u64>) -> Result<u64> {
        self.alloc(goal.unwrap_or(self.file_goal), 1)
    }
    fn free_node(&mut self, _pblk: u64) {
        unreachable!("mkfs frees no tree blocks");
    }
}

/// Formats `dev` as ext4. Destroys what was there.
pub fn mke2fs(dev: &dyn BlockDev, opts: &MkfsOptions) -> Result<()> {
    let bs = opts.block_size;
    if ![1024, 2048, 4096].contains(&bs) {
        return Err(FsError::invalid(format!("block size {bs}: use 1024, 2048 or 4096")));
    }
    let first_data_block = (bs == 1024) as u64;
    let bpg = 8 * bs as u64;
    let mut blocks = dev.size() / bs as u64;
    let too_small = || {
        FsError::invalid(format!(
            "device of {} bytes is too small for ext4 with {bs}-byte blocks (at least 4 MiB)",
            dev.size()
        ))
    };
    let mut groups = (blocks - first_data_block).div_ceil(bpg);
    // A last group too small for its own metadata is dropped, as mke2fs does.
    let inodes_per_block = (bs / INODE_SIZE) as u64;
    let overhead_guess = 2 + 16 + 50;
    if groups > 1
        && !(blocks - first_data_block).is_multiple_of(bpg)
        && (blocks - first_data_block) % bpg < overhead_guess
    {
        groups -= 1;
        blocks = first_data_block + groups * bpg;
    }
    let journal = opts.journal_blocks.or_else(|| default_journal_blocks(blocks)).ok_or_else(too_small)?;
    let want_inodes = (blocks * bs as u64 / opts.inode_ratio).max(16);
    let mut ipg = want_inodes.div_ceil(groups);
    ipg = ipg.next_multiple_of(inodes_per_block.max(8)).next_multiple_of(8).min(8 * bs as u64);
    let ipg = ipg as u32;
    let desc_size = 64usize;
    let gdt_blocks = (groups * desc_size as u64).div_ceil(bs as u64);
    let mut sb = ext4_super_block {
        s_inodes_count: (groups * ipg as u64) as u32,
        s_first_data_block: first_data_block as u32,
        s_log_block_size: (bs / 1024).trailing_zeros(),
        s_log_cluster_size: (bs / 1024).trailing_zeros(),
        s_blocks_per_group: bpg as u32,
        s_clusters_per_group: bpg as u32,
        s_inodes_per_group: ipg,
        s_max_mnt_count: -1,
        s_magic: EXT4_SUPER_MAGIC,
        s_state: EXT4_VALID_FS,
        s_errors: 1,
        s_rev_level: 1,
        s_first_ino: 11,
        s_inode_size: INODE_SIZE as u16,
        s_feature_compat: COMPAT_HAS_JOURNAL | COMPAT_EXT_ATTR | COMPAT_DIR_INDEX,
        s_feature_incompat: INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG,
        s_feature_ro_compat: RO_COMPAT_SPARSE_SUPER
            | RO_COMPAT_LARGE_FILE
            | RO_COMPAT_HUGE_FILE
            | RO_COMPAT_DIR_NLINK
            | RO_COMPAT_EXTRA_ISIZE
            | RO_COMPAT_METADATA_CSUM,
        s_uuid: random_bytes(),
        s_journal_inum: JOURNAL_INO,
        s_volume_name: *AOPSBENCH_LABEL,
        s_def_hash_version: 1,
        s_jnl_backup_type: EXT3_JNL_BACKUP_BLOCKS,
        s_desc_size: desc_size as u16,
        s_default_mount_opts: 0x000C,
        s_min_extra_isize: 32,
        s_want_extra_isize: 32,
        s_flags: 1,
        s_log_groups_per_flex: LOG_GROUPS_PER_FLEX,
        s_checksum_type: EXT4_CRC32C_CHKSUM,
        ..Default::default()
    };
    let hs: [u8; 16] = random_bytes();
    sb.s_hash_seed = std::array::from_fn(|i| u32::from_le_bytes(hs[4 * i..4 * i + 4].try_into().expect("4")));
    sb.s_blocks_count_lo = blocks as u32;
    sb.s_blocks_count_hi = (blocks >> 32) as u32;
    let r = blocks / 20;
    sb.s_r_blocks_count_lo = r as u32;
    sb.s_r_blocks_count_hi = (r >> 32) as u32;
    let t = super::fs::now();
    sb.s_mkfs_time = t;
    sb.s_wtime = t;
    sb.s_lastcheck = t;
    let geo = Geometry::from_sb(&sb, dev.size())?;
    let ds = desc_size;

    let mut lay = Layout { used: vec![false; blocks as usize], file_goal: first_data_block };
    if first_data_block == 1 {
        lay.take(0, 1);
    }
    for g in 0..groups {
        lay.take(geo.group_first_block(g), geo.base_meta_blocks(&sb, g));
    }
    // flex_bg: each flex group's bitmaps and inode tables packed from its first group on.
    let flex = 1u64 << LOG_GROUPS_PER_FLEX;
    let itb = geo.itable_blocks();
    let mut gds = vec![ext4_group_desc::default(); groups as usize];
    for f in 0..groups.div_ceil(flex) {
        let g0 = f * flex;
        let members: Vec<u64> = (g0..(g0 + flex).min(groups)).collect();
        let start = geo.group_first_block(g0);
        let bb0 =
            lay.alloc(start, members.len() as u64).or_else(|_| lay.alloc(first_data_block, members.len() as u64))?;
        let ib0 = lay.alloc(bb0, members.len() as u64)?;
        let mut it = ib0;
        for (i, &g) in members.iter().enumerate() {
            it = lay.alloc(it, itb)?;
            gds[g as usize].set_locations(bb0 + i as u64, ib0 + i as u64, it);
        }
    }
    // The journal, from the middle group on (`get_midpoint_journal_block`).
    let mid = geo.group_first_block(groups / 2);
    let jstart = lay.find(mid, journal).or_else(|| lay.find(first_data_block, journal)).ok_or_else(too_small)?;
    lay.take(jstart, journal);
    lay.file_goal = jstart;
    let mut jtree = ExtentTree::new(bs);
    jtree.set_range(0, journal, &[Extent { lblk: 0, len: journal, pblk: jstart, unwritten: false }], &mut lay)?;
    // Root directory and lost+found.
    let root_blk = lay.alloc(first_data_block, 1)?;
    let lpf_n = {
        let mut n = 1u64;
        let mut size = 0u64;
        for _ in 1..12 {
            size += bs as u64;
            if size >= 16 * 1024 && size >= 2 * bs as u64 {
                break;
            }
            n += 1;
        }
        n
    };
    let lpf_blk = lay.alloc(root_blk + 1, lpf_n)?;

    let seed = geo.csum_seed;
    let mut writes: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let block = || vec![0u8; bs as usize];
    // Inodes.
    let mut itable: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut put_inode = |ino: u32, mut raw: ext4_inode, tree: Option<&ExtentTree>| {
        let (g, idx) = geo.group_of_inode(ino);
        let byte = idx as u64 * INODE_SIZE as u64;
        let blk = gds[g as usize].inode_table(ds) + byte / bs as u64;
        let off = (byte % bs as u64) as usize;
        if let Some(tree) = tree {
            let mut ib = [0u8; 60];
            tree.encode(Loc::Root, &mut ib, None);
            raw.i_block = ib;
        }
        let b = itable.entry(blk).or_insert_with(|| vec![0u8; bs as usize]);
        raw.encode_csum(ext4_inode::csum_seed(seed, ino, raw.i_generation), &mut b[off..off + INODE_SIZE as usize]);
    };
    let per512 = bs as u64 / 512;
    // An extent-mapped inode of `mode` (type included) as mke2fs writes it.
    let new_inode = |mode: u16, links: u16, size: u64, blocks_512: u64| {
        let mut raw = ext4_inode {
            i_mode: mode,
            i_links_count: links,
            i_atime: t,
            i_ctime: t,
            i_mtime: t,
            i_crtime: t,
            i_flags: EXT4_EXTENTS_FL,
            i_extra_isize: 32,
            ..Default::default()
        };
        raw.set_size(size);
        raw.set_blocks_512(blocks_512);
        raw
    };
    let dir_inode =
        |mode: u16, links: u16, nblocks: u64| new_inode(S_IFDIR | mode, links, nblocks * bs as u64, nblocks * per512);
    // Inode 1 (bad blocks): empty, with times, as mke2fs writes it.
    let mut bad = ext4_inode { i_atime: t, i_ctime: t, i_mtime: t, ..Default::default() };
    bad.i_extra_isize = 0;
    put_inode(1, bad, None);
    let mut rtree = ExtentTree::new(bs);
    rtree.set_range(0, 1, &[Extent { lblk: 0, len: 1, pblk: root_blk, unwritten: false }], &mut lay)?;
    put_inode(EXT4_ROOT_INO, dir_inode(0o755, 3, 1), Some(&rtree));
    let mut ltree = ExtentTree::new(bs);
    ltree.set_range(0, lpf_n, &[Extent { lblk: 0, len: lpf_n, pblk: lpf_blk, unwritten: false }], &mut lay)?;
    put_inode(LPF_INO, dir_inode(0o700, 2, lpf_n), Some(&ltree));
    let jraw = new_inode(S_IFREG | 0o600, 1, journal * bs as u64, (journal + jtree.node_blocks()) * per512);
    put_inode(JOURNAL_INO, jraw, Some(&jtree));
    let jseed = ext4_inode::csum_seed(seed, JOURNAL_INO, 0);
    for b in jtree.node_pblks().collect::<Vec<_>>() {
        let mut buf = block();
        jtree.encode(Loc::Block(b), &mut buf, Some(jseed));
        writes.insert(b, buf);
    }
    // s_jnl_blocks: a copy of the journal inode's i_block, then i_size_high and i_size.
    let mut ib = [0u8; 60];
    jtree.encode(Loc::Root, &mut ib, None);
    for i in 0..15 {
        sb.s_jnl_blocks[i] = u32::from_le_bytes(ib[4 * i..4 * i + 4].try_into().expect("4"));
    }
    sb.s_jnl_blocks[15] = ((journal * bs as u64) >> 32) as u32;
    sb.s_jnl_blocks[16] = (journal * bs as u64) as u32;
    // Directory blocks.
    let rseed = ext4_inode::csum_seed(seed, EXT4_ROOT_INO, 0);
    let mut rb = block();
    dir::init_dot_dotdot(&mut rb, EXT4_ROOT_INO, EXT4_ROOT_INO, true);
    dir::add_entry(&mut rb, true, LPF_INO, dir::EXT4_FT_DIR, b"lost+found").expect("room in a new block");
    dir::set_csum(&mut rb, rseed);
    writes.insert(root_blk, rb);
    let lseed = ext4_inode::csum_seed(seed, LPF_INO, 0);
    for i in 0..lpf_n {
        let mut b = block();
        if i == 0 {
            dir::init_dot_dotdot(&mut b, LPF_INO, EXT4_ROOT_INO, true);
        } else {
            dir::init_block(&mut b, true);
        }
        dir::set_csum(&mut b, lseed);
        writes.insert(lpf_blk + i, b);
    }
    // Journal superblock; the rest of the journal is zeroed below.
    let mut jsb_block = block();
    journal_superblock_t {
        h_magic: JBD2_MAGIC_NUMBER,
        h_blocktype: JBD2_SUPERBLOCK_V2,
        s_blocksize: bs,
        s_maxlen: journal as u32,
        s_first: 1,
        s_sequence: 1,
        s_uuid: sb.s_uuid,
        s_nr_users: 1,
        ..Default::default()
    }
    .encode(&mut jsb_block);

    // Bitmaps, descriptors, counts.
    let used_inodes = 11u64;
    let mut free_blocks_total = 0;
    for g in 0..groups {
        let start = geo.group_first_block(g);
        let n = geo.group_blocks(g);
        let mut bb = block();
        for i in 0..n {
            if lay.used[(start + i) as usize] {
                balloc::set_bits(&mut bb, i, 1);
            }
        }
        balloc::set_bits(&mut bb, n, 8 * bs as u64 - n);
        let free = balloc::count_free(&geo, g, &bb);
        free_blocks_total += free;
        let gd = &mut gds[g as usize];
        gd.set_free_blocks(free);
        let mut ibm = block();
        balloc::set_bits(&mut ibm, ipg as u64, 8 * bs as u64 - ipg as u64);
        let used_here = if g == 0 { used_inodes } else { 0 };
        balloc::set_bits(&mut ibm, 0, used_here);
        gd.set_free_inodes(ipg as u64 - used_here);
        gd.set_used_dirs(if g == 0 { 2 } else { 0 });
        gd.set_itable_unused(ipg as u64 - used_here);
        gd.bg_flags = if g == 0 { EXT4_BG_INODE_ZEROED } else { EXT4_BG_INODE_UNINIT };
        // BLOCK_UNINIT where the bitmap is what `ext4_init_block_bitmap` computes.
        let computed = balloc::init_block_bitmap(&geo, &sb, g, gd);
        if g != groups - 1 && computed == bb {
            gd.bg_flags |= EXT4_BG_BLOCK_UNINIT;
        }
        gd.set_block_bitmap_csum(seed, &bb[..geo.block_bitmap_bytes()], ds);
        gd.set_inode_bitmap_csum(seed, &ibm[..geo.inode_bitmap_bytes()], ds);
        if gd.bg_flags & EXT4_BG_BLOCK_UNINIT == 0 {
            writes.insert(gd.block_bitmap(ds), bb);
        }
        if gd.bg_flags & EXT4_BG_INODE_UNINIT == 0 {
            writes.insert(gd.inode_bitmap(ds), ibm);
        }
    }
    sb.set_free_blocks_count(free_blocks_total);
    sb.s_free_inodes_count = (groups * ipg as u64 - used_inodes) as u32;
    sb.s_overhead_clusters = 0;
    let mut gdt = vec![0u8; (gdt_blocks * bs as u64) as usize];
    for (g, gd) in gds.iter().enumerate() {
        gd.encode_csum(seed, g as u32, &mut gdt[g * ds..(g + 1) * ds], ds);
    }

    // Zero the inode table in use, then write everything.
    let zero_run = |start: u64, n: u64| -> Result<()> {
        let chunk = (1u64 << 20) / bs as u64;
        let z = vec![0u8; (chunk * bs as u64) as usize];
        let mut at = 0;
        while at < n {
            let k = (n - at).min(chunk);
            let list: Vec<(u64, &[u8])> = (0..k)
                .map(|i| (start + at + i, &z[(i * bs as u64) as usize..((i + 1) * bs as u64) as usize]))
                .collect();
            io::write_blocks(dev, bs, list)?;
            at += k;
        }
        Ok(())
    };
    zero_run(gds[0].inode_table(ds), itb)?;
    writes.insert(jstart, jsb_block);
    for (b, d) in itable {
        writes.insert(b, d);
    }
    for g in 0..groups {
        if !bg_has_super(&sb, g) {
            continue;
        }
        let start = geo.group_first_block(g);
        for i in 0..gdt_blocks {
            let at = (i * bs as u64) as usize;
            writes.insert(start + 1 + i, gdt[at..at + bs as usize].to_vec());
        }
        if g == 0 {
            continue;
        }
        let mut copy = vec![0u8; bs as usize];
        let mut backup = sb;
        backup.s_block_group_nr = g as u16;
        backup.encode_csum(&mut copy[..1024]);
        writes.insert(start, copy);
    }
    // Block 0 (4 KiB blocks) or 1 (1 KiB) holds the primary superblock at byte 1024.
    let mut raw = vec![0u8; 1024];
    sb.encode_csum(&mut raw);
    if bs == 1024 {
        writes.insert(1, raw);
    } else {
        let mut b0 = block();
        b0[1024..2048].copy_from_slice(&raw);
        writes.insert(0, b0);
    }
    io::write_blocks(dev, bs, writes.iter().map(|(&b, d)| (b, d.as_slice())))?;
    io::flush(dev)
}
