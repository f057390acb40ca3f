//! On-disk metadata: a superblock, then two alternating metadata slots.
//!
//! ```text
//! byte 0          superblock (4 KiB): geometry, checksummed
//! byte 4096       slot 0: header (64 bytes) + payload (inode table with extents)
//! 4096 + S        slot 1
//! 4096 + 2S       data blocks
//! ```
//!
//! A sync writes the whole inode table (with `i_disksize` as the size) into the slot not
//! holding the newest generation, with generation + 1, then flushes. Mount takes the valid slot
//! with the highest generation, so a torn sync leaves the previous state intact — the role the
//! journal plays for ext4. Free space is rebuilt from the extent maps at mount.

use super::extent::Extent;
use super::inode::{Ino, InodeInfo};
use crate::buf::AlignedBuf;
use crate::dev::{BioOp, BlockDev};
use crate::error::{FsError, Result};

const SB_MAGIC: &[u8; 8] = b"AOPSBFS1";
const SLOT_MAGIC: &[u8; 8] = b"AOPSMETA";
const VERSION: u32 = 1;
/// Bytes of the superblock area.
pub const SB_BYTES: u64 = 4096;
const SLOT_HEADER: usize = 64;

/// Geometry of a formatted device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Filesystem block size: 1024, 2048 or 4096.
    pub block_size: u32,
    /// Device size at format time.
    pub dev_bytes: u64,
    /// Bytes of each metadata slot.
    pub slot_bytes: u64,
    /// First data block.
    pub first_data: u64,
    /// One past the last data block.
    pub end_block: u64,
}

impl Superblock {
    /// Lays out a device of `dev_bytes` with `block_size` blocks. The slots get 1/128 of the
    /// device, at least 256 KiB and at most 64 MiB, unless `slot_bytes` says otherwise.
    pub fn plan(dev_bytes: u64, block_size: u32, slot_bytes: Option<u64>) -> Result<Superblock> {
        if ![1024, 2048, 4096].contains(&block_size) {
            return Err(FsError::invalid(format!("block size {block_size}: use 1024, 2048 or 4096")));
        }
        let slot = slot_bytes.unwrap_or((dev_bytes / 128).clamp(256 << 10, 64 << 20)).next_multiple_of(SB_BYTES);
        let data_start = SB_BYTES + 2 * slot;
        let first_data = data_start.div_ceil(block_size as u64);
        let end_block = dev_bytes / block_size as u64;
        if end_block < first_data + 16 {
            return Err(FsError::invalid(format!(
                "device of {dev_bytes} bytes is too small: needs at least {} bytes",
                (first_data + 16) * block_size as u64
            )));
        }
        Ok(Superblock { block_size, dev_bytes, slot_bytes: slot, first_data, end_block })
    }

    /// Byte offset of slot `i` (0 or 1).
    pub fn slot_offset(&self, i: usize) -> u64 {
        SB_BYTES + i as u64 * self.slot_bytes
    }

    fn encode(&self, b: &mut [u8]) {
        b[..SB_BYTES as usize].fill(0);
        b[0..8].copy_from_slice(SB_MAGIC);
        put32(b, 8, VERSION);
        put32(b, 12, self.block_size);
        put64(b, 16, self.dev_bytes);
        put64(b, 24, self.slot_bytes);
        put64(b, 32, self.first_data);
        put64(b, 40, self.end_block);
        let crc = crc32fast::hash(&b[..48]);
        put32(b, 48, crc);
    }

    fn decode(b: &[u8]) -> Result<Superblock> {
        if &b[0..8] != SB_MAGIC {
            return Err(FsError::Corrupt { what: "no aopsbench superblock (format the device first)".into() });
        }
        if crc32fast::hash(&b[..48]) != get32(b, 48) {
            return Err(FsError::Corrupt { what: "superblock checksum mismatch".into() });
        }
        if get32(b, 8) != VERSION {
            return Err(FsError::Corrupt { what: format!("format version {} is not {VERSION}", get32(b, 8)) });
        }
        let sb = Superblock {
            block_size: get32(b, 12),
            dev_bytes: get64(b, 16),
            slot_bytes: get64(b, 24),
            first_data: get64(b, 32),
            end_block: get64(b, 40),
        };
        Superblock::plan(sb.dev_bytes, sb.block_size, Some(sb.slot_bytes))
            .ok()
            .filter(|p| *p == sb)
            .ok_or_else(|| FsError::Corrupt { what: "superblock geometry is inconsistent".into() })
    }
}

/// The metadata a slot holds.
#[derive(Clone, Debug, Default)]
pub struct MetaState {
    /// Generation of the slot it came from (0 after format).
    pub generation: u64,
    /// Next inode number to hand out.
    pub next_ino: Ino,
    /// Every inode, with `i_disksize` as its size.
    pub inodes: Vec<InodeInfo>,
}

/// Serialises the inode table into `out` (cleared first). Sizes written are `i_disksize`.
pub fn encode_payload<'a>(next_ino: Ino, inodes: impl Iterator<Item = &'a InodeInfo>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&next_ino.to_le_bytes());
    let count_at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    for ino in inodes {
        count += 1;
        out.extend_from_slice(&ino.ino.to_le_bytes());
        out.extend_from_slice(&(ino.name.len() as u32).to_le_bytes());
        out.extend_from_slice(ino.name.as_bytes());
        out.extend_from_slice(&ino.i_disksize.to_le_bytes());
        out.extend_from_slice(&(ino.extents.len() as u64).to_le_bytes());
        for e in ino.extents.iter() {
            out.extend_from_slice(&e.lblk.to_le_bytes());
            out.extend_from_slice(&e.len.to_le_bytes());
            out.extend_from_slice(&e.pblk.to_le_bytes());
            out.push(e.unwritten as u8);
        }
    }
    out[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
}

/// Parses a payload written by [`encode_payload`].
pub fn decode_payload(p: &[u8]) -> Result<(Ino, Vec<InodeInfo>)> {
    let mut r = Reader { b: p, at: 0 };
    let next_ino = r.u64()?;
    let count = r.u64()?;
    let mut inodes = Vec::new();
    for _ in 0..count {
        let ino = r.u64()?;
        let name_len = r.u32()? as usize;
        let name = String::from_utf8(r.bytes(name_len)?.to_vec())
            .map_err(|_| FsError::Corrupt { what: format!("inode {ino} name is not UTF-8") })?;
        let mut inode = InodeInfo::new(ino, name);
        inode.i_disksize = r.u64()?;
        let n_ext = r.u64()?;
        for _ in 0..n_ext {
            let (lblk, len, pblk) = (r.u64()?, r.u64()?, r.u64()?);
            let unwritten = r.bytes(1)?[0] != 0;
            if len == 0 || overlaps(&inode, lblk, len) {
                return Err(FsError::Corrupt { what: format!("inode {ino} has a bad extent at {lblk}") });
            }
            inode.extents.insert(Extent { lblk, len, pblk, unwritten });
        }
        inodes.push(inode);
    }
    Ok((next_ino, inodes))
}

fn overlaps(inode: &InodeInfo, lblk: u64, len: u64) -> bool {
    let mut any = false;
    inode.extents.for_each_in(lblk, len, |_| any = true);
    any
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| FsError::Corrupt { what: "metadata payload is truncated".into() })?;
        self.at += n;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8 bytes")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4 bytes")))
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// One synchronous read or write of `buf` at device byte `offset`.
pub fn dev_io(dev: &dyn BlockDev, op: BioOp, offset: u64, buf: &mut [u8]) -> Result<()> {
    match op {
        BioOp::Read => crate::dev::read_at(dev, offset, buf)?,
        _ => crate::dev::write_at(dev, offset, buf)?,
    }
    Ok(())
}

/// Writes a fresh superblock and an empty generation-1 slot 0; invalidates slot 1.
pub fn format(dev: &dyn BlockDev, sb: &Superblock) -> Result<()> {
    let mut buf = AlignedBuf::zeroed(SB_BYTES as usize);
    sb.encode(&mut buf);
    dev_io(dev, BioOp::Write, 0, &mut buf)?;
    let mut zero = AlignedBuf::zeroed(SB_BYTES as usize);
    dev_io(dev, BioOp::Write, sb.slot_offset(1), &mut zero)?;
    let mut payload = Vec::new();
    encode_payload(1, std::iter::empty(), &mut payload);
    write_slot(dev, sb, 1, &payload)?;
    dev.flush()?;
    Ok(())
}

/// Reads and checks the superblock.
pub fn read_superblock(dev: &dyn BlockDev) -> Result<Superblock> {
    let mut buf = AlignedBuf::zeroed(SB_BYTES as usize);
    dev_io(dev, BioOp::Read, 0, &mut buf)?;
    let sb = Superblock::decode(&buf)?;
    if dev.size() < sb.dev_bytes {
        return Err(FsError::Corrupt {
            what: format!("device has {} bytes, the filesystem {}", dev.size(), sb.dev_bytes),
        });
    }
    Ok(sb)
}

/// The slot that generation `generation` goes to.
pub fn slot_for(generation: u64) -> usize {
    (generation % 2) as usize
}

/// Writes `payload` as generation `generation` into its slot. Does not flush.
pub fn write_slot(dev: &dyn BlockDev, sb: &Superblock, generation: u64, payload: &[u8]) -> Result<()> {
    let total = SLOT_HEADER + payload.len();
    if total as u64 > sb.slot_bytes {
        return Err(FsError::NoSpace { what: "metadata slot (too many extents; format with larger slots)" });
    }
    let mut buf = AlignedBuf::zeroed(total.next_multiple_of(SB_BYTES as usize));
    buf[0..8].copy_from_slice(SLOT_MAGIC);
    put64(&mut buf, 8, generation);
    put64(&mut buf, 16, payload.len() as u64);
    put32(&mut buf, 24, crc32fast::hash(payload));
    let hcrc = crc32fast::hash(&buf[..28]);
    put32(&mut buf, 28, hcrc);
    buf[SLOT_HEADER..total].copy_from_slice(payload);
    dev_io(dev, BioOp::Write, sb.slot_offset(slot_for(generation)), &mut buf)
}

/// Reads the valid slot with the highest generation.
pub fn read_newest_slot(dev: &dyn BlockDev, sb: &Superblock) -> Result<MetaState> {
    let mut best: Option<MetaState> = None;
    let mut why = Vec::new();
    for i in 0..2 {
        match read_slot(dev, sb, i) {
            Ok(m) if best.as_ref().is_none_or(|b| m.generation > b.generation) => best = Some(m),
            Ok(_) => {}
            Err(e) => why.push(format!("slot {i}: {e}")),
        }
    }
    best.ok_or_else(|| FsError::Corrupt { what: format!("no valid metadata slot ({})", why.join("; ")) })
}

fn read_slot(dev: &dyn BlockDev, sb: &Superblock, i: usize) -> Result<MetaState> {
    let off = sb.slot_offset(i);
    let mut head = AlignedBuf::zeroed(SB_BYTES as usize);
    dev_io(dev, BioOp::Read, off, &mut head)?;
    if &head[0..8] != SLOT_MAGIC || crc32fast::hash(&head[..28]) != get32(&head, 28) {
        return Err(FsError::Corrupt { what: "bad slot header".into() });
    }
    let generation = get64(&head, 8);
    let len = get64(&head, 16);
    if SLOT_HEADER as u64 + len > sb.slot_bytes || slot_for(generation) != i {
        return Err(FsError::Corrupt { what: "slot header out of range".into() });
    }
    let total = (SLOT_HEADER + len as usize).next_multiple_of(SB_BYTES as usize);
    let mut buf = AlignedBuf::zeroed(total);
    dev_io(dev, BioOp::Read, off, &mut buf)?;
    let payload = &buf[SLOT_HEADER..SLOT_HEADER + len as usize];
    if crc32fast::hash(payload) != get32(&head, 24) {
        return Err(FsError::Corrupt { what: "slot payload checksum mismatch (torn write?)".into() });
    }
    let (next_ino, inodes) = decode_payload(payload)?;
    Ok(MetaState { generation, next_ino, inodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let mut a = InodeInfo::new(3, "file.0.0");
        a.i_disksize = 12345;
        a.extents.insert(Extent { lblk: 0, len: 8, pblk: 700, unwritten: false });
        a.extents.insert(Extent { lblk: 20, len: 4, pblk: 900, unwritten: true });
        let b = InodeInfo::new(4, "é");
        let mut p = Vec::new();
        encode_payload(5, [&a, &b].into_iter(), &mut p);
        let (next, inodes) = decode_payload(&p).unwrap();
        assert_eq!(next, 5);
        assert_eq!(inodes.len(), 2);
        assert_eq!(inodes[0].extents, a.extents);
        assert_eq!(inodes[0].i_disksize, 12345);
        assert_eq!(inodes[1].name, "é");
        assert!(decode_payload(&p[..p.len() - 1]).is_err());
    }

    #[test]
    fn plan_rejects_bad_geometry() {
        assert!(Superblock::plan(1 << 30, 512, None).is_err());
        assert!(Superblock::plan(512 << 10, 4096, None).is_err());
        let sb = Superblock::plan(1 << 30, 1024, None).unwrap();
        assert_eq!(sb.slot_bytes, 8 << 20);
        assert_eq!(sb.first_data, (4096 + 16 * (1 << 20)) / 1024);
        let mut b = vec![0u8; 4096];
        sb.encode(&mut b);
        assert_eq!(Superblock::decode(&b).unwrap(), sb);
        b[20] ^= 1;
        assert!(Superblock::decode(&b).is_err());
    }
}
