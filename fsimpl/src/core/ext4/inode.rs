//! On-disk inodes (`struct ext4_inode`, fs/ext4/ext4.h) and their checksum.

use super::extents::ExtentTree;
use super::mballoc::Pa;
use crate::core::ondisk::crc32c;
use std::sync::Arc;

/// `EXT4_GOOD_OLD_INODE_SIZE`.
pub const EXT4_GOOD_OLD_INODE_SIZE: usize = 128;
/// `EXT4_N_BLOCKS`: words of `i_block`.
pub const EXT4_N_BLOCKS: usize = 15;

/// `S_IFMT`.
pub const S_IFMT: u16 = 0o170000;
/// `S_IFREG`.
pub const S_IFREG: u16 = 0o100000;
/// `S_IFDIR`.
pub const S_IFDIR: u16 = 0o040000;

/// `EXT4_INDEX_FL`: hash-indexed directory.
pub const EXT4_INDEX_FL: u32 = 0x0000_1000;
/// `EXT4_HUGE_FILE_FL`: `i_blocks` counts filesystem blocks, not sectors.
pub const EXT4_HUGE_FILE_FL: u32 = 0x0004_0000;
/// `EXT4_EXTENTS_FL`: `i_block` holds an extent tree.
pub const EXT4_EXTENTS_FL: u32 = 0x0008_0000;
/// `EXT4_INLINE_DATA_FL`.
pub const EXT4_INLINE_DATA_FL: u32 = 0x1000_0000;

/// Inode of the root directory (`EXT4_ROOT_INO`).
pub const EXT4_ROOT_INO: u32 = 2;

crate::ondisk! {
    /// `struct ext4_inode` (fs/ext4/ext4.h): 128 bytes, then `i_extra_isize` more (the
    /// `*_extra` fields, `i_crtime`, the high half of the checksum). Little-endian.
    pub struct ext4_inode [160] le {
        /// File mode.
        i_mode @ 0x00: u16,
        /// Low 16 bits of the owner uid.
        i_uid @ 0x02: u16,
        /// Size in bytes (low).
        i_size_lo @ 0x04: u32,
        /// Access time.
        i_atime @ 0x08: u32,
        /// Inode change time.
        i_ctime @ 0x0C: u32,
        /// Modification time.
        i_mtime @ 0x10: u32,
        /// Deletion time.
        i_dtime @ 0x14: u32,
        /// Low 16 bits of the group id.
        i_gid @ 0x18: u16,
        /// Links count.
        i_links_count @ 0x1A: u16,
        /// Blocks count (low), in 512-byte sectors unless `EXT4_HUGE_FILE_FL`.
        i_blocks_lo @ 0x1C: u32,
        /// `EXT4_*_FL` flags.
        i_flags @ 0x20: u32,
        /// `l_i_version`.
        i_version @ 0x24: u32,
        /// The extent tree's root (or block map), 60 bytes.
        i_block @ 0x28: [u8; 60],
        /// File version (NFS).
        i_generation @ 0x64: u32,
        /// Extended attribute block (low).
        i_file_acl_lo @ 0x68: u32,
        /// Size in bytes (high).
        i_size_high @ 0x6C: u32,
        /// Obsolete fragment address.
        i_obso_faddr @ 0x70: u32,
        /// Blocks count (high) (`osd2.linux2.l_i_blocks_high`).
        i_blocks_high @ 0x74: u16,
        /// Extended attribute block (high).
        i_file_acl_high @ 0x76: u16,
        /// High 16 bits of the owner uid.
        i_uid_high @ 0x78: u16,
        /// High 16 bits of the group id.
        i_gid_high @ 0x7A: u16,
        /// crc32c(uuid + inum + inode), low 16 bits.
        i_checksum_lo @ 0x7C: u16,
        /// Reserved.
        l_i_reserved @ 0x7E: u16,
        /// Bytes of the inode beyond the first 128 in use.
        i_extra_isize @ 0x80: u16,
        /// crc32c(uuid + inum + inode), high 16 bits.
        i_checksum_hi @ 0x82: u16,
        /// Extra change time (nsec << 2 | epoch).
        i_ctime_extra @ 0x84: u32,
        /// Extra modification time.
        i_mtime_extra @ 0x88: u32,
        /// Extra access time.
        i_atime_extra @ 0x8C: u32,
        /// File creation time.
        i_crtime @ 0x90: u32,
        /// Extra creation time.
        i_crtime_extra @ 0x94: u32,
        /// High 32 bits of the version.
        i_version_hi @ 0x98: u32,
        /// Project id.
        i_projid @ 0x9C: u32,
    }
}

/// Offset of `i_checksum_lo` (`osd2.linux2.l_i_checksum_lo`).
const CSUM_LO: usize = 0x7C;
/// Offset of `i_checksum_hi`.
const CSUM_HI: usize = 0x82;

impl ext4_inode {
    /// `i_size` (`ext4_isize`).
    pub fn size(&self) -> u64 {
        self.i_size_lo as u64 | (self.i_size_high as u64) << 32
    }
    /// Sets `i_size` (`ext4_isize_set`).
    pub fn set_size(&mut self, size: u64) {
        self.i_size_lo = size as u32;
        self.i_size_high = (size >> 32) as u32;
    }
    /// `i_blocks` in 512-byte units (`ext4_inode_blocks`, huge_file: the high half counts).
    pub fn blocks_512(&self, block_size: u32) -> u64 {
        let n = self.i_blocks_lo as u64 | (self.i_blocks_high as u64) << 32;
        if self.i_flags & EXT4_HUGE_FILE_FL != 0 { n * (block_size as u64 / 512) } else { n }
    }
    /// Sets `i_blocks` from a count of 512-byte units (`ext4_inode_blocks_set`).
    pub fn set_blocks_512(&mut self, n: u64) {
        self.i_flags &= !EXT4_HUGE_FILE_FL;
        self.i_blocks_lo = n as u32;
        self.i_blocks_high = (n >> 32) as u16;
    }
    /// Whether this is a regular file.
    pub fn is_reg(&self) -> bool {
        self.i_mode & S_IFMT == S_IFREG
    }
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.i_mode & S_IFMT == S_IFDIR
    }
    /// The extended-attribute block.
    pub fn file_acl(&self) -> u64 {
        self.i_file_acl_lo as u64 | (self.i_file_acl_high as u64) << 32
    }

    /// `ei->i_csum_seed`: crc32c(fs seed, inode number, generation).
    pub fn csum_seed(fs_seed: u32, ino: u32, generation: u32) -> u32 {
        crc32c(crc32c(fs_seed, &ino.to_le_bytes()), &generation.to_le_bytes())
    }

    /// `ext4_inode_csum` over `raw` (the whole on-disk inode, `inode_size` bytes), the
    /// checksum fields taken as zero; `i_checksum_hi` counts only if `i_extra_isize` covers it.
    pub fn csum(seed: u32, raw: &[u8]) -> u32 {
        let mut c = crc32c(seed, &raw[..CSUM_LO]);
        c = crc32c(c, &[0, 0]);
        c = crc32c(c, &raw[CSUM_LO + 2..EXT4_GOOD_OLD_INODE_SIZE]);
        if raw.len() > EXT4_GOOD_OLD_INODE_SIZE {
            c = crc32c(c, &raw[EXT4_GOOD_OLD_INODE_SIZE..CSUM_HI]);
            let mut rest = CSUM_HI;
            if Self::has_csum_hi(raw) {
                c = crc32c(c, &[0, 0]);
                rest += 2;
            }
            c = crc32c(c, &raw[rest..]);
        }
        c
    }

    fn has_csum_hi(raw: &[u8]) -> bool {
        let extra = u16::from_le_bytes([raw[0x80], raw[0x81]]) as usize;
        raw.len() > EXT4_GOOD_OLD_INODE_SIZE && EXT4_GOOD_OLD_INODE_SIZE + extra >= CSUM_HI + 2
    }

    /// Encodes into `raw` (the inode as read, `inode_size` bytes) and sets its checksum
    /// (`ext4_inode_csum_set`). Fields past `i_extra_isize` are not written.
    pub fn encode_csum(&self, seed: u32, raw: &mut [u8]) {
        let mut full = [0u8; Self::SIZE];
        let n = raw.len().min(Self::SIZE);
        full[..n].copy_from_slice(&raw[..n]);
        self.encode(&mut full);
        let keep = (EXT4_GOOD_OLD_INODE_SIZE + self.i_extra_isize as usize).min(n);
        raw[..keep].copy_from_slice(&full[..keep]);
        let c = Self::csum(seed, raw);
        raw[CSUM_LO..CSUM_LO + 2].copy_from_slice(&(c as u16).to_le_bytes());
        if Self::has_csum_hi(raw) {
            raw[CSUM_HI..CSUM_HI + 2].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
        }
    }

    /// `ext4_inode_csum_verify`: the stored checksum matches (an all-zero inode, never used,
    /// passes as e2fsprogs allows).
    pub fn csum_ok(seed: u32, raw: &[u8]) -> bool {
        let c = Self::csum(seed, raw);
        let mut stored = u16::from_le_bytes([raw[CSUM_LO], raw[CSUM_LO + 1]]) as u32;
        let mut got = c & 0xffff;
        if Self::has_csum_hi(raw) {
            stored |= (u16::from_le_bytes([raw[CSUM_HI], raw[CSUM_HI + 1]]) as u32) << 16;
            got = c;
        }
        stored == got || raw[..EXT4_GOOD_OLD_INODE_SIZE].iter().all(|&b| b == 0)
    }

    /// Decodes `raw` (`inode_size` bytes); fields past `i_extra_isize` read as zero.
    pub fn decode_sized(raw: &[u8]) -> Self {
        let mut full = [0u8; Self::SIZE];
        let n = raw.len().min(Self::SIZE);
        full[..n].copy_from_slice(&raw[..n]);
        let extra = u16::from_le_bytes([full[0x80], full[0x81]]) as usize;
        if n > EXT4_GOOD_OLD_INODE_SIZE {
            let end = (EXT4_GOOD_OLD_INODE_SIZE + extra).min(Self::SIZE);
            full[end..].fill(0);
        } else {
            full[EXT4_GOOD_OLD_INODE_SIZE..].fill(0);
        }
        Self::decode(&full)
    }
}

/// The on-disk half of an inode in memory (the part of `struct ext4_inode_info` that
/// mirrors `struct ext4_inode`): the inode as last written, its extent tree, the
/// transactions fsync must wait for, and its block preallocations.
#[derive(Clone, Debug)]
pub struct DiskInode {
    /// The on-disk inode as fsimpl last wrote (or read) it.
    pub raw: ext4_inode,
    /// The extent tree.
    pub tree: ExtentTree,
    /// `ei->i_csum_seed`.
    pub csum_seed: u32,
    /// Last transaction that changed the inode (`i_sync_tid`).
    pub i_sync_tid: u32,
    /// Last transaction that changed what fdatasync must make durable: size and blocks
    /// (`i_datasync_tid`).
    pub i_datasync_tid: u32,
    /// The inode's preallocations (`i_prealloc_list`); deleted ones are dropped lazily.
    pub prealloc: Vec<Arc<Pa>>,
}

impl Default for DiskInode {
    fn default() -> Self {
        DiskInode {
            raw: ext4_inode::default(),
            tree: ExtentTree::new(4096),
            csum_seed: 0,
            i_sync_tid: 0,
            i_datasync_tid: 0,
            prealloc: Vec::new(),
        }
    }
}

impl ext4_inode {
    /// Sets the modification and change times to `ns` nanoseconds since the epoch
    /// (`inode_set_mtime_to_ts` / `ctime`, encoded as `EXT4_INODE_SET_XTIME` does: seconds,
    /// and in the extra field the nanoseconds shifted by 2 above the epoch bits).
    pub fn set_mtime_ctime(&mut self, ns: u64) {
        let (sec, nsec) = ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32);
        let extra = (nsec << 2) | (((sec - sec as i32 as i64) >> 32) as u32 & 3);
        self.i_mtime = sec as u32;
        self.i_ctime = sec as u32;
        self.i_mtime_extra = extra;
        self.i_ctime_extra = extra;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_ext4_h() {
        crate::core::ondisk::check_layout("ext4_inode", ext4_inode::SIZE, ext4_inode::offsets());
    }

    #[test]
    fn checksum_round_trips_and_detects_a_flip() {
        let mut raw = vec![0u8; 256];
        let ino = ext4_inode { i_mode: S_IFREG | 0o644, i_extra_isize: 32, i_links_count: 1, ..Default::default() };
        let seed = ext4_inode::csum_seed(0x1234, 12, 0);
        ino.encode_csum(seed, &mut raw);
        assert!(ext4_inode::csum_ok(seed, &raw));
        raw[200] ^= 1;
        assert!(!ext4_inode::csum_ok(seed, &raw));
        assert!(ext4_inode::csum_ok(seed, &[0u8; 256]), "an all-zero inode passes");
    }
}
