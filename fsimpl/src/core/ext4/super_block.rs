//! The superblock (`struct ext4_super_block`, fs/ext4/ext4.h): 1024 bytes at byte 1024 of the
//! device, with backups at the start of groups 1 and the powers of 3, 5 and 7 (sparse_super).

use crate::core::ondisk::crc32c;

/// `EXT4_SUPER_MAGIC`.
pub const EXT4_SUPER_MAGIC: u16 = 0xEF53;
/// Byte offset of the primary superblock on the device.
pub const SUPERBLOCK_OFFSET: u64 = 1024;

// Feature flags (fs/ext4/ext4.h, `EXT4_FEATURE_*`).
/// `EXT4_FEATURE_COMPAT_HAS_JOURNAL`.
pub const COMPAT_HAS_JOURNAL: u32 = 0x0004;
/// `EXT4_FEATURE_COMPAT_EXT_ATTR`.
pub const COMPAT_EXT_ATTR: u32 = 0x0008;
/// `EXT4_FEATURE_COMPAT_RESIZE_INODE`.
pub const COMPAT_RESIZE_INODE: u32 = 0x0010;
/// `EXT4_FEATURE_COMPAT_DIR_INDEX`.
pub const COMPAT_DIR_INDEX: u32 = 0x0020;
/// `EXT4_FEATURE_COMPAT_SPARSE_SUPER2`.
pub const COMPAT_SPARSE_SUPER2: u32 = 0x0200;
/// `EXT4_FEATURE_COMPAT_FAST_COMMIT`.
pub const COMPAT_FAST_COMMIT: u32 = 0x0400;
/// `EXT4_FEATURE_COMPAT_ORPHAN_FILE`.
pub const COMPAT_ORPHAN_FILE: u32 = 0x1000;

/// `EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER`.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
/// `EXT4_FEATURE_RO_COMPAT_LARGE_FILE`.
pub const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
/// `EXT4_FEATURE_RO_COMPAT_HUGE_FILE`.
pub const RO_COMPAT_HUGE_FILE: u32 = 0x0008;
/// `EXT4_FEATURE_RO_COMPAT_GDT_CSUM`.
pub const RO_COMPAT_GDT_CSUM: u32 = 0x0010;
/// `EXT4_FEATURE_RO_COMPAT_DIR_NLINK`.
pub const RO_COMPAT_DIR_NLINK: u32 = 0x0020;
/// `EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE`.
pub const RO_COMPAT_EXTRA_ISIZE: u32 = 0x0040;
/// `EXT4_FEATURE_RO_COMPAT_QUOTA`.
pub const RO_COMPAT_QUOTA: u32 = 0x0100;
/// `EXT4_FEATURE_RO_COMPAT_BIGALLOC`.
pub const RO_COMPAT_BIGALLOC: u32 = 0x0200;
/// `EXT4_FEATURE_RO_COMPAT_METADATA_CSUM`.
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x0400;
/// `EXT4_FEATURE_RO_COMPAT_ORPHAN_PRESENT`.
pub const RO_COMPAT_ORPHAN_PRESENT: u32 = 0x10000;

/// `EXT4_FEATURE_INCOMPAT_FILETYPE`.
pub const INCOMPAT_FILETYPE: u32 = 0x0002;
/// `EXT4_FEATURE_INCOMPAT_RECOVER`: the journal needs recovery.
pub const INCOMPAT_RECOVER: u32 = 0x0004;
/// `EXT4_FEATURE_INCOMPAT_JOURNAL_DEV`.
pub const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
/// `EXT4_FEATURE_INCOMPAT_META_BG`.
pub const INCOMPAT_META_BG: u32 = 0x0010;
/// `EXT4_FEATURE_INCOMPAT_EXTENTS`.
pub const INCOMPAT_EXTENTS: u32 = 0x0040;
/// `EXT4_FEATURE_INCOMPAT_64BIT`.
pub const INCOMPAT_64BIT: u32 = 0x0080;
/// `EXT4_FEATURE_INCOMPAT_MMP`.
pub const INCOMPAT_MMP: u32 = 0x0100;
/// `EXT4_FEATURE_INCOMPAT_FLEX_BG`.
pub const INCOMPAT_FLEX_BG: u32 = 0x0200;
/// `EXT4_FEATURE_INCOMPAT_EA_INODE`.
pub const INCOMPAT_EA_INODE: u32 = 0x0400;
/// `EXT4_FEATURE_INCOMPAT_CSUM_SEED`.
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// `EXT4_FEATURE_INCOMPAT_LARGEDIR`.
pub const INCOMPAT_LARGEDIR: u32 = 0x4000;
/// `EXT4_FEATURE_INCOMPAT_INLINE_DATA`.
pub const INCOMPAT_INLINE_DATA: u32 = 0x8000;
/// `EXT4_FEATURE_INCOMPAT_ENCRYPT`.
pub const INCOMPAT_ENCRYPT: u32 = 0x10000;
/// `EXT4_FEATURE_INCOMPAT_CASEFOLD`.
pub const INCOMPAT_CASEFOLD: u32 = 0x20000;

/// Incompatible features fsimpl understands: an image with any other is refused.
pub const INCOMPAT_SUPPORTED: u32 = INCOMPAT_FILETYPE
    | INCOMPAT_RECOVER
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | INCOMPAT_FLEX_BG
    | INCOMPAT_CSUM_SEED
    | INCOMPAT_LARGEDIR;
/// Read-only-compatible features fsimpl can write with: any other makes fsimpl refuse the
/// image (it would not keep them up to date).
pub const RO_COMPAT_SUPPORTED: u32 = RO_COMPAT_SPARSE_SUPER
    | RO_COMPAT_LARGE_FILE
    | RO_COMPAT_HUGE_FILE
    | RO_COMPAT_DIR_NLINK
    | RO_COMPAT_EXTRA_ISIZE
    | RO_COMPAT_METADATA_CSUM;

/// `EXT4_VALID_FS`: cleanly unmounted.
pub const EXT4_VALID_FS: u16 = 0x0001;
/// `EXT4_ERROR_FS`: errors detected.
pub const EXT4_ERROR_FS: u16 = 0x0002;
/// `EXT4_CRC32C_CHKSUM`.
pub const EXT4_CRC32C_CHKSUM: u8 = 1;
/// `EXT3_JNL_BACKUP_BLOCKS`: `s_jnl_blocks` holds a copy of the journal inode's `i_block`.
pub const EXT3_JNL_BACKUP_BLOCKS: u8 = 1;

crate::ondisk! {
    /// `struct ext4_super_block` (fs/ext4/ext4.h): the filesystem's geometry, features and
    /// counters. All fields little-endian.
    pub struct ext4_super_block [1024] le {
        /// Inodes count.
        s_inodes_count @ 0x00: u32,
        /// Blocks count (low 32 bits).
        s_blocks_count_lo @ 0x04: u32,
        /// Reserved blocks count (low).
        s_r_blocks_count_lo @ 0x08: u32,
        /// Free blocks count (low).
        s_free_blocks_count_lo @ 0x0C: u32,
        /// Free inodes count.
        s_free_inodes_count @ 0x10: u32,
        /// First data block: 1 with 1 KiB blocks, else 0.
        s_first_data_block @ 0x14: u32,
        /// Block size is 1024 << this.
        s_log_block_size @ 0x18: u32,
        /// Cluster size is 1024 << this (bigalloc).
        s_log_cluster_size @ 0x1C: u32,
        /// Blocks per group.
        s_blocks_per_group @ 0x20: u32,
        /// Clusters per group.
        s_clusters_per_group @ 0x24: u32,
        /// Inodes per group.
        s_inodes_per_group @ 0x28: u32,
        /// Mount time.
        s_mtime @ 0x2C: u32,
        /// Write time.
        s_wtime @ 0x30: u32,
        /// Mount count.
        s_mnt_count @ 0x34: u16,
        /// Maximal mount count.
        s_max_mnt_count @ 0x36: i16,
        /// Magic signature, `EXT4_SUPER_MAGIC`.
        s_magic @ 0x38: u16,
        /// File system state (`EXT4_VALID_FS`, `EXT4_ERROR_FS`).
        s_state @ 0x3A: u16,
        /// Behaviour when detecting errors.
        s_errors @ 0x3C: u16,
        /// Minor revision level.
        s_minor_rev_level @ 0x3E: u16,
        /// Time of last check.
        s_lastcheck @ 0x40: u32,
        /// Max time between checks.
        s_checkinterval @ 0x44: u32,
        /// OS.
        s_creator_os @ 0x48: u32,
        /// Revision level.
        s_rev_level @ 0x4C: u32,
        /// Default uid for reserved blocks.
        s_def_resuid @ 0x50: u16,
        /// Default gid for reserved blocks.
        s_def_resgid @ 0x52: u16,
        /// First non-reserved inode.
        s_first_ino @ 0x54: u32,
        /// Size of an inode structure.
        s_inode_size @ 0x58: u16,
        /// Block group of this superblock.
        s_block_group_nr @ 0x5A: u16,
        /// Compatible feature set.
        s_feature_compat @ 0x5C: u32,
        /// Incompatible feature set.
        s_feature_incompat @ 0x60: u32,
        /// Read-only-compatible feature set.
        s_feature_ro_compat @ 0x64: u32,
        /// 128-bit volume UUID.
        s_uuid @ 0x68: [u8; 16],
        /// Volume name.
        s_volume_name @ 0x78: [u8; 16],
        /// Directory where last mounted.
        s_last_mounted @ 0x88: [u8; 64],
        /// Compression.
        s_algorithm_usage_bitmap @ 0xC8: u32,
        /// Blocks to preallocate for files.
        s_prealloc_blocks @ 0xCC: u8,
        /// Blocks to preallocate for directories.
        s_prealloc_dir_blocks @ 0xCD: u8,
        /// Reserved GDT blocks per group for online growth.
        s_reserved_gdt_blocks @ 0xCE: u16,
        /// UUID of the journal superblock.
        s_journal_uuid @ 0xD0: [u8; 16],
        /// Inode number of the journal file.
        s_journal_inum @ 0xE0: u32,
        /// Device number of an external journal.
        s_journal_dev @ 0xE4: u32,
        /// Start of the list of inodes to delete (orphans).
        s_last_orphan @ 0xE8: u32,
        /// HTREE hash seed.
        s_hash_seed @ 0xEC: [u32; 4],
        /// Default hash version.
        s_def_hash_version @ 0xFC: u8,
        /// Journal backup type.
        s_jnl_backup_type @ 0xFD: u8,
        /// Group descriptor size (64bit).
        s_desc_size @ 0xFE: u16,
        /// Default mount options.
        s_default_mount_opts @ 0x100: u32,
        /// First metablock group.
        s_first_meta_bg @ 0x104: u32,
        /// When the filesystem was created.
        s_mkfs_time @ 0x108: u32,
        /// Backup of the journal inode's `i_block` (15 words), `i_size_high` and `i_size`.
        s_jnl_blocks @ 0x10C: [u32; 17],
        /// Blocks count (high 32 bits).
        s_blocks_count_hi @ 0x150: u32,
        /// Reserved blocks count (high).
        s_r_blocks_count_hi @ 0x154: u32,
        /// Free blocks count (high).
        s_free_blocks_count_hi @ 0x158: u32,
        /// All inodes have at least this many extra bytes.
        s_min_extra_isize @ 0x15C: u16,
        /// New inodes should reserve this many extra bytes.
        s_want_extra_isize @ 0x15E: u16,
        /// Miscellaneous flags.
        s_flags @ 0x160: u32,
        /// RAID stride.
        s_raid_stride @ 0x164: u16,
        /// Seconds to wait in MMP checking.
        s_mmp_update_interval @ 0x166: u16,
        /// Block for multi-mount protection.
        s_mmp_block @ 0x168: u64,
        /// Blocks on all data disks (N * stride).
        s_raid_stripe_width @ 0x170: u32,
        /// FLEX_BG group size is 1 << this.
        s_log_groups_per_flex @ 0x174: u8,
        /// Metadata checksum algorithm (`EXT4_CRC32C_CHKSUM`).
        s_checksum_type @ 0x175: u8,
        /// Encryption level.
        s_encryption_level @ 0x176: u8,
        /// Lifetime kilobytes written.
        s_kbytes_written @ 0x178: u64,
        /// Inode number of the active snapshot.
        s_snapshot_inum @ 0x180: u32,
        /// Sequential id of the active snapshot.
        s_snapshot_id @ 0x184: u32,
        /// Reserved blocks of the active snapshot.
        s_snapshot_r_blocks_count @ 0x188: u64,
        /// Inode of the on-disk snapshot list.
        s_snapshot_list @ 0x190: u32,
        /// Number of filesystem errors.
        s_error_count @ 0x194: u32,
        /// First time an error happened.
        s_first_error_time @ 0x198: u32,
        /// Inode involved in the first error.
        s_first_error_ino @ 0x19C: u32,
        /// Block involved in the first error.
        s_first_error_block @ 0x1A0: u64,
        /// Function where the first error happened.
        s_first_error_func @ 0x1A8: [u8; 32],
        /// Line where the first error happened.
        s_first_error_line @ 0x1C8: u32,
        /// Most recent time of an error.
        s_last_error_time @ 0x1CC: u32,
        /// Inode involved in the last error.
        s_last_error_ino @ 0x1D0: u32,
        /// Line where the last error happened.
        s_last_error_line @ 0x1D4: u32,
        /// Block involved in the last error.
        s_last_error_block @ 0x1D8: u64,
        /// Function where the last error happened.
        s_last_error_func @ 0x1E0: [u8; 32],
        /// Default mount options (text).
        s_mount_opts @ 0x200: [u8; 64],
        /// User quota inode.
        s_usr_quota_inum @ 0x240: u32,
        /// Group quota inode.
        s_grp_quota_inum @ 0x244: u32,
        /// Overhead clusters.
        s_overhead_clusters @ 0x248: u32,
        /// Groups with sparse_super2 backups.
        s_backup_bgs @ 0x24C: [u32; 2],
        /// Encryption algorithms in use.
        s_encrypt_algos @ 0x254: [u8; 4],
        /// Salt for string2key.
        s_encrypt_pw_salt @ 0x258: [u8; 16],
        /// lost+found inode.
        s_lpf_ino @ 0x268: u32,
        /// Project quota inode.
        s_prj_quota_inum @ 0x26C: u32,
        /// crc32c(uuid) when the csum_seed feature is set.
        s_checksum_seed @ 0x270: u32,
        /// High bits of `s_wtime`.
        s_wtime_hi @ 0x274: u8,
        /// High bits of `s_mtime`.
        s_mtime_hi @ 0x275: u8,
        /// High bits of `s_mkfs_time`.
        s_mkfs_time_hi @ 0x276: u8,
        /// High bits of `s_lastcheck`.
        s_lastcheck_hi @ 0x277: u8,
        /// High bits of `s_first_error_time`.
        s_first_error_time_hi @ 0x278: u8,
        /// High bits of `s_last_error_time`.
        s_last_error_time_hi @ 0x279: u8,
        /// Error code of the first error.
        s_first_error_errcode @ 0x27A: u8,
        /// Error code of the last error.
        s_last_error_errcode @ 0x27B: u8,
        /// Filename charset encoding.
        s_encoding @ 0x27C: u16,
        /// Filename charset encoding flags.
        s_encoding_flags @ 0x27E: u16,
        /// Orphan file inode.
        s_orphan_file_inum @ 0x280: u32,
        /// crc32c of the superblock (`ext4_superblock_csum`).
        s_checksum @ 0x3FC: u32,
    }
}

impl ext4_super_block {
    /// Blocks count.
    pub fn blocks_count(&self) -> u64 {
        self.s_blocks_count_lo as u64 | (self.hi(self.s_blocks_count_hi) << 32)
    }
    /// Reserved blocks count.
    pub fn r_blocks_count(&self) -> u64 {
        self.s_r_blocks_count_lo as u64 | (self.hi(self.s_r_blocks_count_hi) << 32)
    }
    /// Free blocks count (`ext4_free_blocks_count`).
    pub fn free_blocks_count(&self) -> u64 {
        self.s_free_blocks_count_lo as u64 | (self.hi(self.s_free_blocks_count_hi) << 32)
    }
    /// Sets the free blocks count (`ext4_free_blocks_count_set`).
    pub fn set_free_blocks_count(&mut self, n: u64) {
        self.s_free_blocks_count_lo = n as u32;
        if self.has_incompat(INCOMPAT_64BIT) {
            self.s_free_blocks_count_hi = (n >> 32) as u32;
        }
    }
    fn hi(&self, v: u32) -> u64 {
        if self.has_incompat(INCOMPAT_64BIT) { v as u64 } else { 0 }
    }
    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        1024u32.checked_shl(self.s_log_block_size).unwrap_or(0)
    }
    /// Group descriptor size (`EXT4_DESC_SIZE`).
    pub fn desc_size(&self) -> u32 {
        if self.has_incompat(INCOMPAT_64BIT) { self.s_desc_size as u32 } else { 32 }
    }
    /// Whether an incompatible feature is set.
    pub fn has_incompat(&self, f: u32) -> bool {
        self.s_feature_incompat & f != 0
    }
    /// Whether a read-only-compatible feature is set.
    pub fn has_ro_compat(&self, f: u32) -> bool {
        self.s_feature_ro_compat & f != 0
    }
    /// Whether a compatible feature is set.
    pub fn has_compat(&self, f: u32) -> bool {
        self.s_feature_compat & f != 0
    }
    /// `ext4_has_metadata_csum`.
    pub fn metadata_csum(&self) -> bool {
        self.has_ro_compat(RO_COMPAT_METADATA_CSUM)
    }
    /// The seed of every metadata checksum (`sbi->s_csum_seed`): crc32c of the UUID, or the
    /// stored seed with the csum_seed feature.
    pub fn csum_seed(&self) -> u32 {
        if self.has_incompat(INCOMPAT_CSUM_SEED) { self.s_checksum_seed } else { crc32c(!0, &self.s_uuid) }
    }

    /// `ext4_superblock_csum`: crc32c(~0) of the 1020 bytes before `s_checksum`.
    pub fn csum(raw: &[u8]) -> u32 {
        crc32c(!0, &raw[..0x3FC])
    }

    /// Encodes into `raw` (1024 bytes, the superblock as read, so that fields not declared
    /// keep their value) and sets the checksum (`ext4_superblock_csum_set`).
    pub fn encode_csum(&self, raw: &mut [u8]) {
        self.encode(raw);
        if self.metadata_csum() {
            let c = Self::csum(raw);
            raw[0x3FC..0x400].copy_from_slice(&c.to_le_bytes());
        }
    }

    /// `ext4_superblock_csum_verify`.
    pub fn csum_ok(&self, raw: &[u8]) -> bool {
        !self.metadata_csum() || Self::csum(raw) == self.s_checksum
    }
}

/// Whether group `g` holds a superblock backup (`ext4_bg_has_super` with sparse_super: groups
/// 0, 1 and the powers of 3, 5 and 7).
pub fn bg_has_super(sb: &ext4_super_block, g: u64) -> bool {
    if g == 0 {
        return true;
    }
    if sb.has_compat(COMPAT_SPARSE_SUPER2) {
        return sb.s_backup_bgs.contains(&(g as u32));
    }
    if !sb.has_ro_compat(RO_COMPAT_SPARSE_SUPER) || g == 1 {
        return true;
    }
    if g.is_multiple_of(2) {
        return false;
    }
    [3u64, 5, 7].iter().any(|&p| {
        let mut x = p;
        while x < g {
            x *= p;
        }
        x == g
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_ext4_h() {
        crate::core::ondisk::check_layout("ext4_super_block", 1024, ext4_super_block::offsets());
        let off = |n: &str| ext4_super_block::offsets().iter().find(|f| f.0 == n).unwrap().1;
        assert_eq!(off("s_uuid"), 0x68);
        assert_eq!(off("s_jnl_blocks"), 0x10C);
        assert_eq!(off("s_kbytes_written"), 0x178);
        assert_eq!(off("s_checksum_seed"), 0x270);
    }

    #[test]
    fn sparse_super_backups() {
        let sb = ext4_super_block { s_feature_ro_compat: RO_COMPAT_SPARSE_SUPER, ..Default::default() };
        let with: Vec<u64> = (0..100).filter(|&g| bg_has_super(&sb, g)).collect();
        assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27, 49, 81]);
    }
}
