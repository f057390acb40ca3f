//! jbd2's on-disk format (include/linux/jbd2.h): the journal superblock, block headers,
//! descriptor tags, commit and revoke blocks, and their checksums (v3: crc32c). Every field
//! is big-endian.

use crate::core::ondisk::crc32c;

/// `JBD2_MAGIC_NUMBER`.
pub const JBD2_MAGIC_NUMBER: u32 = 0xc03b3998;
/// `JBD2_DESCRIPTOR_BLOCK`.
pub const JBD2_DESCRIPTOR_BLOCK: u32 = 1;
/// `JBD2_COMMIT_BLOCK`.
pub const JBD2_COMMIT_BLOCK: u32 = 2;
/// `JBD2_SUPERBLOCK_V1`.
pub const JBD2_SUPERBLOCK_V1: u32 = 3;
/// `JBD2_SUPERBLOCK_V2`.
pub const JBD2_SUPERBLOCK_V2: u32 = 4;
/// `JBD2_REVOKE_BLOCK`.
pub const JBD2_REVOKE_BLOCK: u32 = 5;

/// `JBD2_FEATURE_COMPAT_CHECKSUM` (v1 checksums, not written by fsimpl).
pub const COMPAT_CHECKSUM: u32 = 0x1;
/// `JBD2_FEATURE_INCOMPAT_REVOKE`.
pub const INCOMPAT_REVOKE: u32 = 0x1;
/// `JBD2_FEATURE_INCOMPAT_64BIT`.
pub const INCOMPAT_64BIT: u32 = 0x2;
/// `JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT`.
pub const INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
/// `JBD2_FEATURE_INCOMPAT_CSUM_V2`.
pub const INCOMPAT_CSUM_V2: u32 = 0x8;
/// `JBD2_FEATURE_INCOMPAT_CSUM_V3`.
pub const INCOMPAT_CSUM_V3: u32 = 0x10;
/// `JBD2_FEATURE_INCOMPAT_FAST_COMMIT`.
pub const INCOMPAT_FAST_COMMIT: u32 = 0x20;
/// Incompatible features fsimpl reads.
pub const INCOMPAT_SUPPORTED: u32 = INCOMPAT_REVOKE | INCOMPAT_64BIT | INCOMPAT_CSUM_V3 | INCOMPAT_CSUM_V2;

/// `JBD2_CRC32C_CHKSUM`.
pub const JBD2_CRC32C_CHKSUM: u8 = 4;

/// `JBD2_FLAG_ESCAPE`: the block began with the magic number, zeroed in the log.
pub const JBD2_FLAG_ESCAPE: u32 = 1;
/// `JBD2_FLAG_SAME_UUID`: no UUID follows the tag.
pub const JBD2_FLAG_SAME_UUID: u32 = 2;
/// `JBD2_FLAG_LAST_TAG`.
pub const JBD2_FLAG_LAST_TAG: u32 = 8;

crate::ondisk! {
    /// `journal_header_t` (include/linux/jbd2.h): heads every journal metadata block.
    pub struct journal_header_t [12] be {
        /// `JBD2_MAGIC_NUMBER`.
        h_magic @ 0: u32,
        /// Block type.
        h_blocktype @ 4: u32,
        /// Transaction id.
        h_sequence @ 8: u32,
    }
}

crate::ondisk! {
    /// `journal_superblock_t` (include/linux/jbd2.h): the first block of the journal.
    pub struct journal_superblock_t [1024] be {
        /// `journal_header_t.h_magic`.
        h_magic @ 0x0: u32,
        /// `JBD2_SUPERBLOCK_V2`.
        h_blocktype @ 0x4: u32,
        /// Unused in a superblock.
        h_sequence @ 0x8: u32,
        /// Journal block size.
        s_blocksize @ 0xC: u32,
        /// Blocks in the journal.
        s_maxlen @ 0x10: u32,
        /// First block of log information.
        s_first @ 0x14: u32,
        /// First commit id expected in the log.
        s_sequence @ 0x18: u32,
        /// Block of the start of the log; 0 when the journal is empty (clean).
        s_start @ 0x1C: u32,
        /// Error value, as set by `jbd2_journal_abort`.
        s_errno @ 0x20: i32,
        /// Compatible features.
        s_feature_compat @ 0x24: u32,
        /// Incompatible features.
        s_feature_incompat @ 0x28: u32,
        /// Read-only-compatible features.
        s_feature_ro_compat @ 0x2C: u32,
        /// Journal UUID.
        s_uuid @ 0x30: [u8; 16],
        /// Filesystems sharing the log.
        s_nr_users @ 0x40: u32,
        /// Block of a dynamic superblock copy.
        s_dynsuper @ 0x44: u32,
        /// Limit of journal blocks per transaction.
        s_max_transaction @ 0x48: u32,
        /// Limit of data blocks per transaction.
        s_max_trans_data @ 0x4C: u32,
        /// `JBD2_CRC32C_CHKSUM`.
        s_checksum_type @ 0x50: u8,
        /// Fast-commit blocks.
        s_num_fc_blks @ 0x54: u32,
        /// Block of the oldest transaction's head, when known.
        s_head @ 0x58: u32,
        /// crc32c of the superblock (`jbd2_superblock_csum`).
        s_checksum @ 0xFC: u32,
        /// UUIDs of the filesystems sharing the log.
        s_users @ 0x100: [u8; 16],
    }
}

crate::ondisk! {
    /// `journal_block_tag3_t` (include/linux/jbd2.h): one logged block in a descriptor,
    /// with csum v3.
    pub struct journal_block_tag3_t [16] be {
        /// Home block number (low).
        t_blocknr @ 0: u32,
        /// `JBD2_FLAG_*`.
        t_flags @ 4: u32,
        /// Home block number (high).
        t_blocknr_high @ 8: u32,
        /// crc32c(seed, sequence, logged block).
        t_checksum @ 12: u32,
    }
}

crate::ondisk! {
    /// `struct commit_header` (include/linux/jbd2.h): the commit block of a transaction.
    pub struct commit_header [60] be {
        /// `JBD2_MAGIC_NUMBER`.
        h_magic @ 0: u32,
        /// `JBD2_COMMIT_BLOCK`.
        h_blocktype @ 4: u32,
        /// Transaction id.
        h_sequence @ 8: u32,
        /// v1 checksum type (0 with v3).
        h_chksum_type @ 12: u8,
        /// v1 checksum size (0 with v3).
        h_chksum_size @ 13: u8,
        /// `h_chksum[0]`: with v3, crc32c of the block (`jbd2_commit_block_csum_set`).
        h_chksum0 @ 16: u32,
        /// Commit time, seconds.
        h_commit_sec @ 48: u64,
        /// Commit time, nanoseconds.
        h_commit_nsec @ 56: u32,
    }
}

crate::ondisk! {
    /// `jbd2_journal_revoke_header_t` (include/linux/jbd2.h): heads a revoke block; block
    /// numbers (8 bytes each with 64bit) follow up to `r_count` bytes.
    pub struct jbd2_journal_revoke_header_t [16] be {
        /// `JBD2_MAGIC_NUMBER`.
        h_magic @ 0: u32,
        /// `JBD2_REVOKE_BLOCK`.
        h_blocktype @ 4: u32,
        /// Transaction id.
        h_sequence @ 8: u32,
        /// Bytes used, header included.
        r_count @ 12: u32,
    }
}

/// Size of `struct jbd2_journal_block_tail`.
pub const BLOCK_TAIL_SIZE: usize = 4;

impl journal_superblock_t {
    /// `jbd2_superblock_csum`: crc32c(~0) of the 1024 bytes, the checksum taken as zero.
    pub fn csum(raw: &[u8]) -> u32 {
        let mut b = [0u8; 1024];
        b.copy_from_slice(&raw[..1024]);
        b[0xFC..0x100].fill(0);
        crc32c(!0, &b)
    }
    /// Whether v2 or v3 checksums are on (`jbd2_journal_has_csum_v2or3`).
    pub fn has_csum(&self) -> bool {
        self.s_feature_incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0
    }
    /// `j_csum_seed`: crc32c(~0, uuid).
    pub fn csum_seed(&self) -> u32 {
        crc32c(!0, &self.s_uuid)
    }
    /// `journal_tag_bytes`.
    pub fn tag_bytes(&self) -> usize {
        if self.s_feature_incompat & INCOMPAT_CSUM_V3 != 0 {
            return 16;
        }
        let mut sz = 12;
        if self.s_feature_incompat & INCOMPAT_CSUM_V2 != 0 {
            sz += 2;
        }
        if self.s_feature_incompat & INCOMPAT_64BIT != 0 { sz } else { sz - 4 }
    }
}

/// `jbd2_descriptor_block_csum_set` / verify: crc32c(seed) of the block, the tail zeroed.
pub fn block_tail_csum(seed: u32, b: &[u8]) -> u32 {
    let end = b.len() - BLOCK_TAIL_SIZE;
    crc32c(crc32c(seed, &b[..end]), &[0; BLOCK_TAIL_SIZE])
}

/// `jbd2_commit_block_csum_set` / verify: crc32c(seed) of the block, `h_chksum[0]` zeroed.
pub fn commit_csum(seed: u32, b: &[u8]) -> u32 {
    let mut c = crc32c(seed, &b[..16]);
    c = crc32c(c, &[0; 4]);
    crc32c(c, &b[20..])
}

/// `jbd2_block_tag_csum_set` / verify: crc32c(seed, be32 sequence, block as logged).
pub fn tag_csum(seed: u32, sequence: u32, b: &[u8]) -> u32 {
    crc32c(crc32c(seed, &sequence.to_be_bytes()), b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_jbd2_h() {
        use crate::core::ondisk::check_layout;
        check_layout("journal_superblock_t", 1024, journal_superblock_t::offsets());
        check_layout("journal_block_tag3_t", 16, journal_block_tag3_t::offsets());
        check_layout("commit_header", 60, commit_header::offsets());
        let mut b = vec![0u8; 60];
        commit_header { h_magic: JBD2_MAGIC_NUMBER, h_commit_sec: 5, ..Default::default() }.encode(&mut b);
        assert_eq!(&b[..4], &[0xc0, 0x3b, 0x39, 0x98], "big-endian");
    }
}
