//! Directory blocks (fs/ext4/ext4.h `struct ext4_dir_entry_2`, `struct ext4_dir_entry_tail`;
//! fs/ext4/namei.c): linear directories, read and written; hash-indexed ones (`dx_root`,
//! `dx_node`) read, and turned back into linear ones before the first change (fsimpl keeps
//! no hash index: lookups are in memory).

use crate::core::ondisk::crc32c;
use crate::error::{FsError, Result};

/// `EXT4_FT_UNKNOWN`.
pub const EXT4_FT_UNKNOWN: u8 = 0;
/// `EXT4_FT_REG_FILE`.
pub const EXT4_FT_REG_FILE: u8 = 1;
/// `EXT4_FT_DIR`.
pub const EXT4_FT_DIR: u8 = 2;
/// `EXT4_FT_DIR_CSUM`: the file type of the checksum tail.
pub const EXT4_FT_DIR_CSUM: u8 = 0xDE;
/// `EXT4_NAME_LEN`.
pub const EXT4_NAME_LEN: usize = 255;
/// Size of `struct ext4_dir_entry_tail`.
pub const TAIL_SIZE: usize = 12;

crate::ondisk! {
    /// `struct ext4_dir_entry_2` (fs/ext4/ext4.h): the fixed part of a directory entry; the
    /// name follows, and `rec_len` reaches the next entry.
    pub struct ext4_dir_entry_2 [8] le {
        /// Inode number, 0 for an unused entry.
        inode @ 0: u32,
        /// Length of this record.
        rec_len @ 4: u16,
        /// Name length.
        name_len @ 6: u8,
        /// `EXT4_FT_*`.
        file_type @ 7: u8,
    }
}

crate::ondisk! {
    /// `struct ext4_dir_entry_tail` (fs/ext4/ext4.h): a fake entry at the end of a leaf
    /// block holding its checksum.
    pub struct ext4_dir_entry_tail [12] le {
        /// Zero.
        det_reserved_zero1 @ 0: u32,
        /// 12.
        det_rec_len @ 4: u16,
        /// Zero.
        det_reserved_zero2 @ 6: u8,
        /// `EXT4_FT_DIR_CSUM`.
        det_reserved_ft @ 7: u8,
        /// crc32c(inode seed, block up to the tail).
        det_checksum @ 8: u32,
    }
}

/// `EXT4_DIR_REC_LEN`: bytes an entry with a name of `name_len` needs.
pub fn rec_len_for(name_len: usize) -> usize {
    (8 + name_len + 3) & !3
}

/// A live entry of a directory block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u32,
    /// `EXT4_FT_*`.
    pub file_type: u8,
    /// The name.
    pub name: Vec<u8>,
    /// Byte offset of the entry in its block.
    pub offset: usize,
}

/// Where the records of a leaf end: before the checksum tail with metadata_csum.
pub fn records_end(block_size: usize, csum: bool) -> usize {
    if csum { block_size - TAIL_SIZE } else { block_size }
}

/// Whether the block is an htree interior node (`struct dx_node`): one empty entry spanning
/// the block.
pub fn is_dx_node(b: &[u8]) -> bool {
    let d = ext4_dir_entry_2::decode(b);
    d.inode == 0 && d.rec_len as usize == b.len()
}

/// Parses a leaf block (`ext4_check_dir_entry` on each record): the live entries, in order.
/// `what` names the block in errors.
pub fn parse_block(b: &[u8], csum: bool, what: &str) -> Result<Vec<DirEntry>> {
    let end = records_end(b.len(), csum);
    let mut out = Vec::new();
    let mut at = 0;
    while at < end {
        let d = ext4_dir_entry_2::decode(&b[at..]);
        let rec = d.rec_len as usize;
        let bad = if rec < 12 || !rec.is_multiple_of(4) {
            Some("rec_len is too small or unaligned")
        } else if at + rec > end {
            Some("rec_len runs past the block")
        } else if rec < rec_len_for(d.name_len as usize) {
            Some("rec_len is shorter than the name")
        } else {
            None
        };
        if let Some(problem) = bad {
            return Err(FsError::Corrupt { what: format!("{what}: directory entry at byte {at}: {problem}") });
        }
        if d.inode != 0 {
            out.push(DirEntry {
                ino: d.inode,
                file_type: d.file_type,
                name: b[at + 8..at + 8 + d.name_len as usize].to_vec(),
                offset: at,
            });
        }
        at += rec;
    }
    Ok(out)
}

/// `ext4_dirblock_csum_verify`.
pub fn csum_ok(b: &[u8], seed: u32) -> bool {
    let end = b.len() - TAIL_SIZE;
    let t = ext4_dir_entry_tail::decode(&b[end..]);
    t.det_rec_len as usize == TAIL_SIZE
        && t.det_reserved_ft == EXT4_FT_DIR_CSUM
        && t.det_checksum == crc32c(seed, &b[..end])
}

/// Writes the tail and its checksum (`ext4_initialize_dirent_tail`, `ext4_dirblock_csum_set`).
pub fn set_csum(b: &mut [u8], seed: u32) {
    let end = b.len() - TAIL_SIZE;
    let c = crc32c(seed, &b[..end]);
    ext4_dir_entry_tail {
        det_reserved_zero1: 0,
        det_rec_len: TAIL_SIZE as u16,
        det_reserved_zero2: 0,
        det_reserved_ft: EXT4_FT_DIR_CSUM,
        det_checksum: c,
    }
    .encode(&mut b[end..]);
}

/// Makes `b` an empty leaf: one unused entry over all of it (before the tail).
pub fn init_block(b: &mut [u8], csum: bool) {
    b.fill(0);
    let end = records_end(b.len(), csum);
    ext4_dir_entry_2 { inode: 0, rec_len: end as u16, name_len: 0, file_type: 0 }.encode(b);
}

/// Makes `b` the first block of a linear directory: `.` and `..` (`ext4_init_dot_dotdot`).
pub fn init_dot_dotdot(b: &mut [u8], ino: u32, parent: u32, csum: bool) {
    b.fill(0);
    let end = records_end(b.len(), csum);
    ext4_dir_entry_2 { inode: ino, rec_len: 12, name_len: 1, file_type: EXT4_FT_DIR }.encode(b);
    b[8] = b'.';
    ext4_dir_entry_2 { inode: parent, rec_len: (end - 12) as u16, name_len: 2, file_type: EXT4_FT_DIR }
        .encode(&mut b[12..]);
    b[20..22].copy_from_slice(b"..");
}

/// `add_dirent_to_buf`: puts an entry into the first record of the block with room for it,
/// splitting that record. Returns the entry's offset, or `None` when the block is full.
pub fn add_entry(b: &mut [u8], csum: bool, ino: u32, file_type: u8, name: &[u8]) -> Option<usize> {
    let end = records_end(b.len(), csum);
    let need = rec_len_for(name.len());
    let mut at = 0;
    while at < end {
        let d = ext4_dir_entry_2::decode(&b[at..]);
        let rec = d.rec_len as usize;
        if rec == 0 {
            return None;
        }
        let used = if d.inode == 0 { 0 } else { rec_len_for(d.name_len as usize) };
        if rec >= used + need {
            let new_at = if used == 0 {
                at
            } else {
                ext4_dir_entry_2 { rec_len: used as u16, ..d }.encode(&mut b[at..]);
                at + used
            };
            let new_rec = rec - used;
            ext4_dir_entry_2 { inode: ino, rec_len: new_rec as u16, name_len: name.len() as u8, file_type }
                .encode(&mut b[new_at..]);
            b[new_at + 8..new_at + 8 + name.len()].copy_from_slice(name);
            b[new_at + 8 + name.len()..new_at + new_rec].fill(0);
            return Some(new_at);
        }
        at += rec;
    }
    None
}

/// `ext4_generic_delete_entry`: removes the entry at `offset`, folding its record into the
/// previous one, or marking it unused when it is the first of the block.
pub fn delete_entry(b: &mut [u8], csum: bool, offset: usize) {
    let end = records_end(b.len(), csum);
    let mut at = 0;
    let mut prev: Option<usize> = None;
    while at < end {
        let d = ext4_dir_entry_2::decode(&b[at..]);
        if at == offset {
            match prev {
                Some(p) => {
                    let pd = ext4_dir_entry_2::decode(&b[p..]);
                    ext4_dir_entry_2 { rec_len: pd.rec_len + d.rec_len, ..pd }.encode(&mut b[p..]);
                }
                None => ext4_dir_entry_2 { inode: 0, ..d }.encode(&mut b[at..]),
            }
            return;
        }
        prev = Some(at);
        at += (d.rec_len as usize).max(12);
    }
    debug_assert!(false, "no entry at {offset}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_split_and_delete_round_trip() {
        let mut b = vec![0u8; 1024];
        init_dot_dotdot(&mut b, 2, 2, true);
        let names: Vec<String> = (0..40).map(|i| format!("file.{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(add_entry(&mut b, true, 20 + i as u32, EXT4_FT_REG_FILE, n.as_bytes()).is_some());
        }
        set_csum(&mut b, 99);
        assert!(csum_ok(&b, 99));
        let got = parse_block(&b, true, "t").unwrap();
        assert_eq!(got.len(), 42);
        assert_eq!(got[2].name, b"file.0");
        // Full at some point.
        let mut n = 0;
        while add_entry(&mut b, true, 1000, EXT4_FT_REG_FILE, b"padding-name-xx").is_some() {
            n += 1;
        }
        assert!(n < 100);
        let victim = parse_block(&b, true, "t").unwrap()[5].clone();
        delete_entry(&mut b, true, victim.offset);
        let after = parse_block(&b, true, "t").unwrap();
        assert!(!after.iter().any(|e| e.offset == victim.offset));
        assert!(add_entry(&mut b, true, 7, EXT4_FT_REG_FILE, b"x").is_some(), "the freed room is reused");
    }

    #[test]
    fn a_corrupt_record_is_an_error() {
        let mut b = vec![0u8; 1024];
        init_block(&mut b, true);
        b[4] = 3;
        assert!(parse_block(&b, true, "dir block 7").unwrap_err().to_string().contains("dir block 7"));
    }
}
