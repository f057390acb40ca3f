//! Group descriptors (`struct ext4_group_desc`, fs/ext4/ext4.h): where each block group's
//! bitmaps and inode table are, its free counts and flags, and the checksums of its bitmaps.

use crate::core::ondisk::crc32c;

/// `EXT4_BG_INODE_UNINIT`: the inode bitmap is not initialised (all free).
pub const EXT4_BG_INODE_UNINIT: u16 = 0x0001;
/// `EXT4_BG_BLOCK_UNINIT`: the block bitmap is not initialised (only the group's own metadata
/// in use; `ext4_init_block_bitmap` computes it).
pub const EXT4_BG_BLOCK_UNINIT: u16 = 0x0002;
/// `EXT4_BG_INODE_ZEROED`: the inode table is zeroed.
pub const EXT4_BG_INODE_ZEROED: u16 = 0x0004;

/// `EXT4_MIN_DESC_SIZE`.
pub const EXT4_MIN_DESC_SIZE: usize = 32;
/// `EXT4_MIN_DESC_SIZE_64BIT`.
pub const EXT4_MIN_DESC_SIZE_64BIT: usize = 64;

crate::ondisk! {
    /// `struct ext4_group_desc` (fs/ext4/ext4.h): one block group's descriptor, 32 bytes, or
    /// 64 with the 64bit feature (the `_hi` halves). Little-endian.
    pub struct ext4_group_desc [64] le {
        /// Block bitmap block (low).
        bg_block_bitmap_lo @ 0x00: u32,
        /// Inode bitmap block (low).
        bg_inode_bitmap_lo @ 0x04: u32,
        /// Inode table block (low).
        bg_inode_table_lo @ 0x08: u32,
        /// Free blocks count (low).
        bg_free_blocks_count_lo @ 0x0C: u16,
        /// Free inodes count (low).
        bg_free_inodes_count_lo @ 0x0E: u16,
        /// Directories count (low).
        bg_used_dirs_count_lo @ 0x10: u16,
        /// `EXT4_BG_*` flags.
        bg_flags @ 0x12: u16,
        /// Exclude bitmap for snapshots (low).
        bg_exclude_bitmap_lo @ 0x14: u32,
        /// crc32c(seed + block bitmap), low 16 bits.
        bg_block_bitmap_csum_lo @ 0x18: u16,
        /// crc32c(seed + inode bitmap), low 16 bits.
        bg_inode_bitmap_csum_lo @ 0x1A: u16,
        /// Unused inodes at the end of the table (low).
        bg_itable_unused_lo @ 0x1C: u16,
        /// crc16 of the descriptor (`ext4_group_desc_csum`).
        bg_checksum @ 0x1E: u16,
        /// Block bitmap block (high).
        bg_block_bitmap_hi @ 0x20: u32,
        /// Inode bitmap block (high).
        bg_inode_bitmap_hi @ 0x24: u32,
        /// Inode table block (high).
        bg_inode_table_hi @ 0x28: u32,
        /// Free blocks count (high).
        bg_free_blocks_count_hi @ 0x2C: u16,
        /// Free inodes count (high).
        bg_free_inodes_count_hi @ 0x2E: u16,
        /// Directories count (high).
        bg_used_dirs_count_hi @ 0x30: u16,
        /// Unused inodes (high).
        bg_itable_unused_hi @ 0x32: u16,
        /// Exclude bitmap (high).
        bg_exclude_bitmap_hi @ 0x34: u32,
        /// Block bitmap checksum, high 16 bits.
        bg_block_bitmap_csum_hi @ 0x38: u16,
        /// Inode bitmap checksum, high 16 bits.
        bg_inode_bitmap_csum_hi @ 0x3A: u16,
        /// Padding.
        bg_reserved @ 0x3C: u32,
    }
}

/// Offset just past `bg_block_bitmap_csum_hi` (`EXT4_BG_BLOCK_BITMAP_CSUM_HI_END`).
const BLOCK_BITMAP_CSUM_HI_END: usize = 0x3A;
/// Offset just past `bg_inode_bitmap_csum_hi` (`EXT4_BG_INODE_BITMAP_CSUM_HI_END`).
const INODE_BITMAP_CSUM_HI_END: usize = 0x3C;

/// Joins the low and high halves of a field (`hi` counts only in a 64-byte descriptor).
fn join(lo: u32, hi: u32, desc_size: usize) -> u64 {
    lo as u64 | if desc_size >= EXT4_MIN_DESC_SIZE_64BIT { (hi as u64) << 32 } else { 0 }
}

/// Joins 16-bit halves.
fn join16(lo: u16, hi: u16, desc_size: usize) -> u64 {
    lo as u64 | if desc_size >= EXT4_MIN_DESC_SIZE_64BIT { (hi as u64) << 16 } else { 0 }
}

impl ext4_group_desc {
    /// `ext4_block_bitmap`.
    pub fn block_bitmap(&self, desc_size: usize) -> u64 {
        join(self.bg_block_bitmap_lo, self.bg_block_bitmap_hi, desc_size)
    }
    /// `ext4_inode_bitmap`.
    pub fn inode_bitmap(&self, desc_size: usize) -> u64 {
        join(self.bg_inode_bitmap_lo, self.bg_inode_bitmap_hi, desc_size)
    }
    /// `ext4_inode_table`.
    pub fn inode_table(&self, desc_size: usize) -> u64 {
        join(self.bg_inode_table_lo, self.bg_inode_table_hi, desc_size)
    }
    /// `ext4_free_group_clusters`.
    pub fn free_blocks(&self, desc_size: usize) -> u64 {
        join16(self.bg_free_blocks_count_lo, self.bg_free_blocks_count_hi, desc_size)
    }
    /// `ext4_free_inodes_count`.
    pub fn free_inodes(&self, desc_size: usize) -> u64 {
        join16(self.bg_free_inodes_count_lo, self.bg_free_inodes_count_hi, desc_size)
    }
    /// `ext4_used_dirs_count`.
    pub fn used_dirs(&self, desc_size: usize) -> u64 {
        join16(self.bg_used_dirs_count_lo, self.bg_used_dirs_count_hi, desc_size)
    }
    /// `ext4_itable_unused_count`.
    pub fn itable_unused(&self, desc_size: usize) -> u64 {
        join16(self.bg_itable_unused_lo, self.bg_itable_unused_hi, desc_size)
    }
    /// Sets the block, inode bitmap and inode table locations.
    pub fn set_locations(&mut self, block_bitmap: u64, inode_bitmap: u64, inode_table: u64) {
        self.bg_block_bitmap_lo = block_bitmap as u32;
        self.bg_block_bitmap_hi = (block_bitmap >> 32) as u32;
        self.bg_inode_bitmap_lo = inode_bitmap as u32;
        self.bg_inode_bitmap_hi = (inode_bitmap >> 32) as u32;
        self.bg_inode_table_lo = inode_table as u32;
        self.bg_inode_table_hi = (inode_table >> 32) as u32;
    }
    /// `ext4_free_group_clusters_set`.
    pub fn set_free_blocks(&mut self, n: u64) {
        self.bg_free_blocks_count_lo = n as u16;
        self.bg_free_blocks_count_hi = (n >> 16) as u16;
    }
    /// `ext4_free_inodes_set`.
    pub fn set_free_inodes(&mut self, n: u64) {
        self.bg_free_inodes_count_lo = n as u16;
        self.bg_free_inodes_count_hi = (n >> 16) as u16;
    }
    /// `ext4_used_dirs_set`.
    pub fn set_used_dirs(&mut self, n: u64) {
        self.bg_used_dirs_count_lo = n as u16;
        self.bg_used_dirs_count_hi = (n >> 16) as u16;
    }
    /// `ext4_itable_unused_set`.
    pub fn set_itable_unused(&mut self, n: u64) {
        self.bg_itable_unused_lo = n as u16;
        self.bg_itable_unused_hi = (n >> 16) as u16;
    }

    /// `ext4_block_bitmap_csum_set`: crc32c(seed, bitmap) over `clusters_per_group / 8` bytes;
    /// the high half is kept only in a 64-byte descriptor.
    pub fn set_block_bitmap_csum(&mut self, seed: u32, bitmap: &[u8], desc_size: usize) {
        let c = crc32c(seed, bitmap);
        self.bg_block_bitmap_csum_lo = c as u16;
        if desc_size >= BLOCK_BITMAP_CSUM_HI_END {
            self.bg_block_bitmap_csum_hi = (c >> 16) as u16;
        }
    }
    /// `ext4_block_bitmap_csum_verify`.
    pub fn block_bitmap_csum_ok(&self, seed: u32, bitmap: &[u8], desc_size: usize) -> bool {
        let c = crc32c(seed, bitmap);
        let mut want = self.bg_block_bitmap_csum_lo as u32;
        let mut got = c & 0xffff;
        if desc_size >= BLOCK_BITMAP_CSUM_HI_END {
            want |= (self.bg_block_bitmap_csum_hi as u32) << 16;
            got = c;
        }
        want == got
    }
    /// `ext4_inode_bitmap_csum_set`: crc32c(seed, bitmap) over `inodes_per_group / 8` bytes.
    pub fn set_inode_bitmap_csum(&mut self, seed: u32, bitmap: &[u8], desc_size: usize) {
        let c = crc32c(seed, bitmap);
        self.bg_inode_bitmap_csum_lo = c as u16;
        if desc_size >= INODE_BITMAP_CSUM_HI_END {
            self.bg_inode_bitmap_csum_hi = (c >> 16) as u16;
        }
    }
    /// `ext4_inode_bitmap_csum_verify`.
    pub fn inode_bitmap_csum_ok(&self, seed: u32, bitmap: &[u8], desc_size: usize) -> bool {
        let c = crc32c(seed, bitmap);
        let mut want = self.bg_inode_bitmap_csum_lo as u32;
        let mut got = c & 0xffff;
        if desc_size >= INODE_BITMAP_CSUM_HI_END {
            want |= (self.bg_inode_bitmap_csum_hi as u32) << 16;
            got = c;
        }
        want == got
    }

    /// `ext4_group_desc_csum` with metadata_csum: crc32c(seed, group number, descriptor with
    /// `bg_checksum` taken as zero), low 16 bits. `raw` is the encoded descriptor.
    pub fn csum(seed: u32, group: u32, raw: &[u8], desc_size: usize) -> u16 {
        let mut c = crc32c(seed, &group.to_le_bytes());
        c = crc32c(c, &raw[..0x1E]);
        c = crc32c(c, &[0, 0]);
        if desc_size > 0x20 {
            c = crc32c(c, &raw[0x20..desc_size]);
        }
        c as u16
    }

    /// Encodes into `raw` (`desc_size` bytes) with its checksum (`ext4_group_desc_csum_set`).
    pub fn encode_csum(&self, seed: u32, group: u32, raw: &mut [u8], desc_size: usize) {
        let mut full = [0u8; 64];
        full[..desc_size].copy_from_slice(&raw[..desc_size]);
        self.encode(&mut full);
        let c = Self::csum(seed, group, &full, desc_size);
        full[0x1E..0x20].copy_from_slice(&c.to_le_bytes());
        raw[..desc_size].copy_from_slice(&full[..desc_size]);
    }

    /// Decodes a descriptor of `desc_size` bytes (a 32-byte one has no high halves).
    pub fn decode_sized(raw: &[u8], desc_size: usize) -> Self {
        let mut full = [0u8; 64];
        full[..desc_size].copy_from_slice(&raw[..desc_size]);
        Self::decode(&full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_ext4_h() {
        crate::core::ondisk::check_layout("ext4_group_desc", 64, ext4_group_desc::offsets());
    }

    #[test]
    fn counts_join_their_halves_only_in_a_64_byte_descriptor() {
        let mut gd = ext4_group_desc::default();
        gd.set_free_blocks(0x12345);
        assert_eq!(gd.free_blocks(64), 0x12345);
        assert_eq!(gd.free_blocks(32), 0x2345);
    }
}
