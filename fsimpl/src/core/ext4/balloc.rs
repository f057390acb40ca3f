//! Filesystem geometry and block groups (fs/ext4/balloc.c): where each group's superblock
//! backup, descriptors, bitmaps and inode table are, and the block bitmap of a group whose
//! bitmap was never written (`ext4_init_block_bitmap`).

use super::group_desc::ext4_group_desc;
use super::super_block::*;
use crate::error::{FsError, Result};

/// The numbers every other part derives positions from (what `ext4_sb_info` caches from the
/// superblock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks_count: u64,
    /// First block of group 0 (1 with 1 KiB blocks).
    pub first_data_block: u64,
    /// Blocks per group.
    pub blocks_per_group: u64,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Bytes per on-disk inode.
    pub inode_size: u32,
    /// Number of groups.
    pub groups: u64,
    /// Bytes per group descriptor.
    pub desc_size: usize,
    /// Blocks of group descriptors (in each group holding a superblock backup).
    pub gdt_blocks: u64,
    /// Reserved descriptor blocks for online resize.
    pub reserved_gdt: u64,
    /// Groups per flex group (1 without flex_bg).
    pub groups_per_flex: u64,
    /// metadata_csum is on.
    pub csum: bool,
    /// `s_csum_seed`.
    pub csum_seed: u32,
    /// First non-reserved inode.
    pub first_ino: u32,
}

impl Geometry {
    /// Checks the superblock and derives the geometry (the checks of `ext4_fill_super`).
    pub fn from_sb(sb: &ext4_super_block, dev_bytes: u64) -> Result<Geometry> {
        let bad = |what: String| Err(FsError::Corrupt { what });
        if sb.s_magic != EXT4_SUPER_MAGIC {
            return Err(FsError::Corrupt {
                what: "no ext4 superblock (bad magic): format the device with mkfs.ext4 or fsimpl first".into(),
            });
        }
        let bs = sb.block_size();
        if ![1024, 2048, 4096].contains(&bs) {
            return bad(format!("block size {bs}: fsimpl handles 1024, 2048 and 4096"));
        }
        let unknown = sb.s_feature_incompat & !INCOMPAT_SUPPORTED;
        if unknown != 0 {
            return Err(FsError::Unsupported { what: incompat_name(unknown) });
        }
        if !sb.has_incompat(INCOMPAT_EXTENTS) {
            return Err(FsError::Unsupported { what: "ext4 images without the extent feature (block-mapped files)" });
        }
        let ro = sb.s_feature_ro_compat & !RO_COMPAT_SUPPORTED;
        if ro != 0 {
            return Err(FsError::Unsupported { what: ro_compat_name(ro) });
        }
        if sb.has_compat(COMPAT_FAST_COMMIT) || sb.has_compat(COMPAT_ORPHAN_FILE) {
            return Err(FsError::Unsupported { what: "ext4 fast_commit and orphan_file features" });
        }
        if sb.s_log_cluster_size != sb.s_log_block_size {
            return Err(FsError::Unsupported { what: "bigalloc (clusters larger than blocks)" });
        }
        if sb.metadata_csum() && sb.s_checksum_type != EXT4_CRC32C_CHKSUM {
            return bad(format!("unknown metadata checksum type {}", sb.s_checksum_type));
        }
        let blocks_count = sb.blocks_count();
        let bpg = sb.s_blocks_per_group as u64;
        let ipg = sb.s_inodes_per_group;
        let inode_size = if sb.s_rev_level == 0 { 128 } else { sb.s_inode_size as u32 };
        let desc_size = sb.desc_size() as usize;
        if bpg == 0 || bpg > 8 * bs as u64 || ipg == 0 || ipg > 8 * bs {
            return bad(format!("{bpg} blocks and {ipg} inodes per group do not fit a {bs}-byte bitmap"));
        }
        if !(128..=bs).contains(&inode_size) || !inode_size.is_power_of_two() {
            return bad(format!("inode size {inode_size}"));
        }
        if !(32..=64).contains(&desc_size) || !desc_size.is_power_of_two() {
            return bad(format!("group descriptor size {desc_size}"));
        }
        let first = sb.s_first_data_block as u64;
        if first != (bs == 1024) as u64 || blocks_count <= first {
            return bad(format!("first data block {first} with {blocks_count} blocks"));
        }
        if blocks_count * bs as u64 > dev_bytes {
            return bad(format!(
                "the filesystem has {} bytes but the device only {dev_bytes}",
                blocks_count * bs as u64
            ));
        }
        let groups = (blocks_count - first).div_ceil(bpg);
        if groups * ipg as u64 != sb.s_inodes_count as u64 {
            return bad(format!("{} inodes is not {groups} groups of {ipg}", sb.s_inodes_count));
        }
        let groups_per_flex =
            if sb.has_incompat(INCOMPAT_FLEX_BG) { 1u64 << sb.s_log_groups_per_flex.min(31) } else { 1 };
        Ok(Geometry {
            block_size: bs,
            blocks_count,
            first_data_block: first,
            blocks_per_group: bpg,
            inodes_per_group: ipg,
            inode_size,
            groups,
            desc_size,
            gdt_blocks: (groups * desc_size as u64).div_ceil(bs as u64),
            reserved_gdt: if sb.has_compat(COMPAT_RESIZE_INODE) { sb.s_reserved_gdt_blocks as u64 } else { 0 },
            groups_per_flex,
            csum: sb.metadata_csum(),
            csum_seed: sb.csum_seed(),
            first_ino: if sb.s_rev_level == 0 { 11 } else { sb.s_first_ino },
        })
    }

    /// First block of group `g` (`ext4_group_first_block_no`).
    pub fn group_first_block(&self, g: u64) -> u64 {
        self.first_data_block + g * self.blocks_per_group
    }

    /// Blocks in group `g` (the last one may be short).
    pub fn group_blocks(&self, g: u64) -> u64 {
        (self.blocks_count - self.group_first_block(g)).min(self.blocks_per_group)
    }

    /// The group of block `b` and its offset in it (`ext4_get_group_no_and_offset`).
    pub fn group_of_block(&self, b: u64) -> (u64, u64) {
        let r = b - self.first_data_block;
        (r / self.blocks_per_group, r % self.blocks_per_group)
    }

    /// The group of inode `ino` and its index in the group's table.
    pub fn group_of_inode(&self, ino: u32) -> (u64, u32) {
        let i = ino - 1;
        ((i / self.inodes_per_group) as u64, i % self.inodes_per_group)
    }

    /// Blocks of inode table per group.
    pub fn itable_blocks(&self) -> u64 {
        (self.inodes_per_group as u64 * self.inode_size as u64).div_ceil(self.block_size as u64)
    }

    /// Descriptors per block.
    pub fn descs_per_block(&self) -> u64 {
        self.block_size as u64 / self.desc_size as u64
    }

    /// The block holding group `g`'s descriptor in the primary table, and the byte offset.
    pub fn desc_location(&self, g: u64) -> (u64, usize) {
        let block = self.first_data_block + 1 + g / self.descs_per_block();
        (block, (g % self.descs_per_block()) as usize * self.desc_size)
    }

    /// Blocks at the start of group `g` taken by its superblock backup, descriptors and
    /// reserved descriptors (`ext4_num_base_meta_clusters`).
    pub fn base_meta_blocks(&self, sb: &ext4_super_block, g: u64) -> u64 {
        if bg_has_super(sb, g) { 1 + self.gdt_blocks + self.reserved_gdt } else { 0 }
    }

    /// Bytes of a block bitmap that are checksummed (`EXT4_CLUSTERS_PER_GROUP / 8`).
    pub fn block_bitmap_bytes(&self) -> usize {
        (self.blocks_per_group / 8) as usize
    }

    /// Bytes of an inode bitmap that are checksummed (`EXT4_INODES_PER_GROUP / 8`).
    pub fn inode_bitmap_bytes(&self) -> usize {
        (self.inodes_per_group / 8) as usize
    }

    /// The flex group of group `g`.
    pub fn flex_group(&self, g: u64) -> u64 {
        g / self.groups_per_flex
    }
}

fn incompat_name(bits: u32) -> &'static str {
    match bits.trailing_zeros() {
        0 => "ext4 compression",
        3 => "an external journal device (journal_dev)",
        4 => "meta_bg",
        8 => "multi-mount protection (mmp)",
        10 => "large extended attributes in inodes (ea_inode)",
        12 => "dirdata",
        15 => "inline_data",
        16 => "encryption",
        17 => "casefold",
        _ => "an unknown incompatible ext4 feature",
    }
}

fn ro_compat_name(bits: u32) -> &'static str {
    match bits.trailing_zeros() {
        4 => "gdt_csum (uninit_bg) without metadata_csum",
        8 => "quota",
        9 => "bigalloc",
        11 => "replica",
        12 => "read-only images",
        13 => "project quota",
        14 => "shared blocks",
        15 => "verity",
        16 => "orphan_present",
        _ => "an unknown read-only-compatible ext4 feature",
    }
}

/// Bit `i` of a bitmap.
pub fn test_bit(b: &[u8], i: u64) -> bool {
    b[(i / 8) as usize] & (1 << (i % 8)) != 0
}

/// The first bit at or after `from` and before `end` whose value is `set` (`end` if none):
/// the kernel's `find_next_bit` / `find_next_zero_bit` (as `mb_find_next_bit`), a word at a
/// time.
fn find_next(b: &[u8], from: u64, end: u64, set: bool) -> u64 {
    let mut i = from;
    while i < end {
        let w = (i / 64) as usize;
        let mut word = [0u8; 8];
        let bytes = b.get(w * 8..).unwrap_or(&[]);
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        let mut v = u64::from_le_bytes(word);
        if !set {
            v = !v;
        }
        v &= u64::MAX << (i % 64);
        if v != 0 {
            return (w as u64 * 64 + u64::from(v.trailing_zeros())).min(end);
        }
        i = (w as u64 + 1) * 64;
    }
    end
}

/// The first set bit in `[from, end)`, or `end` (`find_next_bit`).
pub fn find_next_bit(b: &[u8], from: u64, end: u64) -> u64 {
    find_next(b, from, end, true)
}

/// The first clear bit in `[from, end)`, or `end` (`find_next_zero_bit`).
pub fn find_next_zero_bit(b: &[u8], from: u64, end: u64) -> u64 {
    find_next(b, from, end, false)
}

/// Sets or clears bits `[from, from + n)`, whole bytes at a time in the middle.
fn fill_bits(b: &mut [u8], from: u64, n: u64, set: bool) {
    let end = from + n;
    let mut i = from;
    while i < end {
        if i.is_multiple_of(8) && end - i >= 8 {
            let (s, e) = ((i / 8) as usize, (end / 8) as usize);
            b[s..e].fill(if set { 0xff } else { 0 });
            i = end / 8 * 8;
            continue;
        }
        let m = 1 << (i % 8);
        if set {
            b[(i / 8) as usize] |= m;
        } else {
            b[(i / 8) as usize] &= !m;
        }
        i += 1;
    }
}

/// Sets bits `[from, from + n)`.
pub fn set_bits(b: &mut [u8], from: u64, n: u64) {
    fill_bits(b, from, n, true);
}

/// Clears bits `[from, from + n)`.
pub fn clear_bits(b: &mut [u8], from: u64, n: u64) {
    fill_bits(b, from, n, false);
}

/// `ext4_init_block_bitmap`: the bitmap of a `BLOCK_UNINIT` group — its superblock backup
/// and descriptors, its own bitmaps and inode table when they lie in it, and the bits past
/// the group's last block (`ext4_mark_bitmap_end`).
pub fn init_block_bitmap(geo: &Geometry, sb: &ext4_super_block, g: u64, gd: &ext4_group_desc) -> Vec<u8> {
    let mut b = vec![0u8; geo.block_size as usize];
    let start = geo.group_first_block(g);
    let blocks = geo.group_blocks(g);
    set_bits(&mut b, 0, geo.base_meta_blocks(sb, g));
    let ds = geo.desc_size;
    let in_group = |x: u64| x >= start && x < start + blocks;
    for x in [gd.block_bitmap(ds), gd.inode_bitmap(ds)] {
        if in_group(x) {
            set_bits(&mut b, x - start, 1);
        }
    }
    let it = gd.inode_table(ds);
    for x in it..it + geo.itable_blocks() {
        if in_group(x) {
            set_bits(&mut b, x - start, 1);
        }
    }
    set_bits(&mut b, blocks, 8 * geo.block_size as u64 - blocks);
    b
}

/// Free blocks of a group's bitmap (bits up to the group's size).
pub fn count_free(geo: &Geometry, g: u64, bitmap: &[u8]) -> u64 {
    let n = geo.group_blocks(g);
    let mut free = 0;
    let mut i = find_next_zero_bit(bitmap, 0, n);
    while i < n {
        let used = find_next_bit(bitmap, i, n);
        free += used - i;
        i = find_next_zero_bit(bitmap, used, n);
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word-at-a-time searches and fills agree with bit-by-bit ones.
        #[test]
        fn bit_searches_and_fills_agree_with_single_bits(
            bytes in proptest::collection::vec(any::<u8>(), 1..40),
            a in 0u64..400,
            n in 0u64..400,
            set in any::<bool>(),
        ) {
            let bits = bytes.len() as u64 * 8;
            let from = a.min(bits);
            let end = (from + n).min(bits);
            let naive = |want: bool| (from..end).find(|&i| test_bit(&bytes, i) == want).unwrap_or(end);
            prop_assert_eq!(find_next_bit(&bytes, from, end), naive(true));
            prop_assert_eq!(find_next_zero_bit(&bytes, from, end), naive(false));
            let mut filled = bytes.clone();
            fill_bits(&mut filled, from, end - from, set);
            for i in 0..bits {
                let want = if (from..end).contains(&i) { set } else { test_bit(&bytes, i) };
                prop_assert_eq!(test_bit(&filled, i), want, "bit {}", i);
            }
        }
    }
}
