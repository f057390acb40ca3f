//! The data written by [`Op::Write`](crate::Op::Write): fsx-style bytes that name their writer.
//!
//! fsx (`gendata` in xfstests `ltp/fsx.c`) fills a write of op number `n` with `n % 256`, mixed
//! with a per-offset pattern, so that a bad byte in a read says "operation# (mod 256) for the
//! bad data may be ...". Here every byte of a write with tag `t` at file offset `o` is
//!
//! ```text
//! byte = ROW[o % 256] ^ salt(o / 256) ^ (t % 256)
//! ```
//!
//! - `ROW` is a fixed random 256-byte row, so data shifted by a few bytes does not match;
//! - `salt` is a hash of the 256-byte chunk number, so data shifted by whole pages or folios
//!   (a wrong folio index) does not match either, even inside one large write;
//! - `t % 256` names the writer: [`tag_residue`] recovers it from any single byte and offset.
//!
//! The offset is the one the byte was *written* at. After `collapse_range`/`insert_range` moved
//! data, pass the offset it had when it was written (the model that tracks the shift knows it).
//! A zero byte may also be a hole or a zeroed range: fsx's "check HOLE and EXTEND ops" caveat.

use crate::rng::splitmix64;

/// The fixed per-offset row (256 bytes), the same in every build.
const ROW: [u8; 256] = {
    let mut row = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        row[i] = (splitmix64(0xF5C0_0000 + i as u64) >> 24) as u8;
        i += 1;
    }
    row
};

/// The salt of 256-byte chunk `chunk` (file offset / 256).
#[inline]
fn salt(chunk: u64) -> u8 {
    (splitmix64(chunk ^ 0xA0B5_0000_0000_0000) >> 56) as u8
}

/// Fill `buf` with the bytes a write tagged `tag` puts at `file_offset..file_offset + buf.len()`.
///
/// Cheap: one hash per 256 bytes and a vectorised XOR of the fixed row (several GB/s).
pub fn fill(tag: u64, file_offset: u64, buf: &mut [u8]) {
    let t = tag as u8;
    let mut offset = file_offset;
    let mut rest = buf;
    while !rest.is_empty() {
        let in_row = (offset & 255) as usize;
        let n = (256 - in_row).min(rest.len());
        let c = t ^ salt(offset >> 8);
        let (head, tail) = rest.split_at_mut(n);
        for (dst, src) in head.iter_mut().zip(&ROW[in_row..in_row + n]) {
            *dst = src ^ c;
        }
        offset += n as u64;
        rest = tail;
    }
}

/// The byte a write tagged `tag` puts at `file_offset`.
#[inline]
pub fn byte_at(tag: u64, file_offset: u64) -> u8 {
    ROW[(file_offset & 255) as usize] ^ salt(file_offset >> 8) ^ tag as u8
}

/// `tag % 256` of the write that put `byte` at `file_offset` (if a write did).
#[inline]
pub fn tag_residue(byte: u8, file_offset: u64) -> u8 {
    byte ^ ROW[(file_offset & 255) as usize] ^ salt(file_offset >> 8)
}

/// Whether a write tagged `tag` could have put `byte` at `file_offset`.
#[inline]
pub fn could_have_written(tag: u64, byte: u8, file_offset: u64) -> bool {
    byte_at(tag, file_offset) == byte
}

/// The tags in `1..=max_tag` that could have written `byte` at `file_offset`: every tag
/// congruent to [`tag_residue`] modulo 256, in increasing order. (Tags start at 1: fsx streams
/// and fio streams number their ops from 1.)
pub fn possible_tags(byte: u8, file_offset: u64, max_tag: u64) -> impl Iterator<Item = u64> {
    let residue = u64::from(tag_residue(byte, file_offset));
    let first = if residue == 0 { 256 } else { residue };
    (0u64..).map(move |k| first + 256 * k).take_while(move |&t| t <= max_tag)
}

/// The tag residue shared by every byte of `buf` read at `file_offset`, or `None` when the
/// bytes disagree (mixed writers, zeros, or data from elsewhere). A whole run agreeing is
/// strong evidence: 16 bytes agree by chance with probability 2^-120.
pub fn run_residue(buf: &[u8], file_offset: u64) -> Option<u8> {
    let (&first, rest) = buf.split_first()?;
    let residue = tag_residue(first, file_offset);
    rest.iter().zip(file_offset + 1..).all(|(&b, o)| tag_residue(b, o) == residue).then_some(residue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_matches_byte_at_across_chunks() {
        for &(tag, offset, len) in &[(1u64, 0u64, 1000usize), (300, 255, 3), (7, 4093, 9000)] {
            let mut buf = vec![0u8; len];
            fill(tag, offset, &mut buf);
            for (i, &b) in buf.iter().enumerate() {
                assert_eq!(b, byte_at(tag, offset + i as u64), "tag {tag} offset {offset} +{i}");
                assert_eq!(tag_residue(b, offset + i as u64), tag as u8);
            }
        }
    }

    #[test]
    fn fill_is_independent_of_how_the_write_is_split() {
        let mut whole = vec![0u8; 5000];
        fill(9, 1234, &mut whole);
        let mut parts = vec![0u8; 5000];
        let (a, b) = parts.split_at_mut(1777);
        fill(9, 1234, a);
        fill(9, 1234 + 1777, b);
        assert_eq!(whole, parts);
    }

    #[test]
    fn shifted_data_does_not_match() {
        // The same write seen one page (or one byte) away must differ: a misplaced folio shows.
        let mut a = vec![0u8; 4096];
        let mut b = vec![0u8; 4096];
        fill(5, 0, &mut a);
        fill(5, 4096, &mut b);
        assert_ne!(a, b);
        assert_eq!(run_residue(&a, 0), Some(5));
        assert_eq!(run_residue(&a, 4096), None);
        assert_eq!(run_residue(&a, 1), None);
    }

    #[test]
    fn possible_tags_name_the_writer() {
        let b = byte_at(700, 12345);
        let tags: Vec<u64> = possible_tags(b, 12345, 1000).collect();
        assert_eq!(tags, vec![700 - 512, 700 - 256, 700, 956]);
        assert!(could_have_written(700, b, 12345));
        assert!(!could_have_written(701, b, 12345));
        let b0 = byte_at(256, 3);
        assert_eq!(possible_tags(b0, 3, 600).collect::<Vec<_>>(), vec![256, 512]);
    }
}
