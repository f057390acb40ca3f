//! What a job with `verify=` writes, and how a read checks it (fio's `verify.c`).
//!
//! Each write is cut into units of `verify_interval` bytes (the write's own size by default).
//! With `verify=pattern` a unit is `verify_pattern` repeated and is compared byte for byte.
//! Otherwise a unit starts with a header — magic `0xacca`, the checksum kind, the unit's length
//! and file offset, the seed of its payload, the write's number, and a crc32c of the header —
//! then the checksum of the payload (`md5`, `crc32c`, `sha1`, `sha256`, `xxhash`; none for
//! `meta`), then the payload: random bytes from the seed (or `verify_pattern`). A read checks
//! the header against where it read and the checksum against the payload it got, so any block
//! written by the job verifies whoever wrote it last, and a flipped byte anywhere shows.
//!
//! ```
//! use workloads::fio::VerifyKind;
//! use workloads::verify::{Verifier, fill, check};
//!
//! let v = Verifier { kind: VerifyKind::Crc32c, pattern: None, interval: None };
//! let mut block = vec![0u8; 4096];
//! fill(&v, &mut block, 8192, 7);
//! assert!(check(&v, &block, 8192).is_ok());
//! block[100] ^= 1;
//! let e = check(&v, &block, 8192).unwrap_err();
//! assert_eq!(e.offset, 8192);
//! assert!(e.to_string().starts_with("crc32c of the data: expected 0x"), "{e}");
//! ```

use std::fmt::{self, Write as _};

use md5::Digest as _;

use crate::fio::{Verify, VerifyKind};
use crate::rng::fill_random;

/// fio's `VERIFY_MAGIC`.
const MAGIC: u16 = 0xacca;
/// Bytes of the header.
pub const HEADER: usize = 32;

/// How a job's writes are made checkable: its `verify=`, `verify_pattern=` and
/// `verify_interval=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    /// `verify=`.
    pub kind: VerifyKind,
    /// `verify_pattern=`.
    pub pattern: Option<Vec<u8>>,
    /// `verify_interval=`.
    pub interval: Option<u64>,
}

impl Verifier {
    /// The verifier of a job's verify options.
    pub fn of(v: &Verify) -> Verifier {
        Verifier { kind: v.kind, pattern: v.pattern.clone(), interval: v.interval }
    }

    /// Bytes of a unit of a `len`-byte I/O.
    pub fn unit(&self, len: usize) -> usize {
        self.interval.map_or(len, |i| i as usize).clamp(1, len.max(1))
    }

    fn sum_len(&self) -> usize {
        match self.kind {
            VerifyKind::Md5 => 16,
            VerifyKind::Sha1 => 20,
            VerifyKind::Sha256 => 32,
            VerifyKind::Crc32c | VerifyKind::Xxhash => 4,
            VerifyKind::Crc64 => 8,
            VerifyKind::Meta | VerifyKind::Pattern | VerifyKind::None => 0,
        }
    }
}

/// A block that does not hold what was written there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// File offset of the unit that failed.
    pub offset: u64,
    /// What was checked ("header magic", "md5 of the data", ...).
    pub what: String,
    /// What was expected, printed.
    pub expected: String,
    /// What was found, printed.
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, found {}", self.what, self.expected, self.found)
    }
}

/// Fills `buf`, to be written at file offset `offset` by the write numbered `numberio`.
pub fn fill(v: &Verifier, buf: &mut [u8], offset: u64, numberio: u64) {
    let unit = v.unit(buf.len());
    for (i, u) in buf.chunks_mut(unit).enumerate() {
        let at = offset + (i * unit) as u64;
        if v.kind == VerifyKind::Pattern {
            fill_pattern(u, v.pattern.as_deref().unwrap_or(&[0]), at);
            continue;
        }
        let seed = mix(at ^ numberio.rotate_left(32));
        let head = HEADER + v.sum_len();
        if u.len() < head {
            // A unit too small for a header (a short tail): its bytes still come from the seed.
            fill_random(u, seed);
            continue;
        }
        let (hdr, rest) = u.split_at_mut(HEADER);
        let (sum, payload) = rest.split_at_mut(v.sum_len());
        match &v.pattern {
            Some(p) => fill_pattern(payload, p, at + head as u64),
            None => fill_random(payload, seed),
        }
        write_header(hdr, v.kind, u32::try_from(unit).unwrap_or(u32::MAX), at, seed, numberio);
        sum.copy_from_slice(&checksum(v.kind, payload)[..v.sum_len()]);
    }
}

/// What the unit `found`, read at file offset `at`, should hold: written again from the write
/// number in its header, as fio's `__dump_verify_buffers` regenerates it from the header's seed.
pub fn expected_unit(v: &Verifier, found: &[u8], at: u64) -> Vec<u8> {
    let numberio = found.get(24..28).map_or(0, |b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    let mut out = vec![0; found.len()];
    fill(v, &mut out, at, numberio);
    out
}

/// Checks `buf`, read from file offset `offset`: the first unit that fails, if any.
pub fn check(v: &Verifier, buf: &[u8], offset: u64) -> Result<(), Mismatch> {
    let unit = v.unit(buf.len());
    for (i, u) in buf.chunks(unit).enumerate() {
        let at = offset + (i * unit) as u64;
        let bad =
            |what: &str, expected: String, found: String| Mismatch { offset: at, what: what.into(), expected, found };
        if v.kind == VerifyKind::Pattern {
            let p = v.pattern.as_deref().unwrap_or(&[0]);
            if let Some((j, &b)) = u.iter().enumerate().find(|&(j, &b)| b != pattern_byte(p, at + j as u64)) {
                let want = pattern_byte(p, at + j as u64);
                return Err(bad(&format!("pattern byte {j}"), format!("{want:#04x}"), format!("{b:#04x}")));
            }
            continue;
        }
        let head = HEADER + v.sum_len();
        if u.len() < head {
            continue;
        }
        let (hdr, rest) = u.split_at(HEADER);
        let (sum, payload) = rest.split_at(v.sum_len());
        let magic = u16::from_le_bytes([hdr[0], hdr[1]]);
        if magic != MAGIC {
            return Err(bad("header magic", format!("{MAGIC:#06x}"), format!("{magic:#06x}")));
        }
        let hcrc = u32::from_le_bytes(hdr[28..32].try_into().unwrap_or_default());
        let want_hcrc = crc32c::crc32c(&hdr[..28]);
        if hcrc != want_hcrc {
            return Err(bad("header crc32c", format!("{want_hcrc:#010x}"), format!("{hcrc:#010x}")));
        }
        let len = u32::from_le_bytes(hdr[4..8].try_into().unwrap_or_default()) as usize;
        if len != unit {
            return Err(bad("header length", unit.to_string(), len.to_string()));
        }
        let off = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or_default());
        if off != at {
            return Err(bad("header offset", at.to_string(), off.to_string()));
        }
        let kind = hdr[2];
        if kind != kind_byte(v.kind) {
            return Err(bad("header verify kind", kind_byte(v.kind).to_string(), kind.to_string()));
        }
        if v.kind == VerifyKind::Meta {
            continue;
        }
        let got = checksum(v.kind, payload);
        if got[..v.sum_len()] != *sum {
            let name = format!("{} of the data", v.kind.fio_name());
            return Err(bad(&name, hex(sum), hex(&got[..v.sum_len()])));
        }
    }
    Ok(())
}

fn kind_byte(k: VerifyKind) -> u8 {
    k as u8
}

fn write_header(hdr: &mut [u8], kind: VerifyKind, len: u32, offset: u64, seed: u64, numberio: u64) {
    hdr[0..2].copy_from_slice(&MAGIC.to_le_bytes());
    hdr[2] = kind_byte(kind);
    hdr[3] = 0;
    hdr[4..8].copy_from_slice(&len.to_le_bytes());
    hdr[8..16].copy_from_slice(&offset.to_le_bytes());
    hdr[16..24].copy_from_slice(&seed.to_le_bytes());
    hdr[24..28].copy_from_slice(&(numberio as u32).to_le_bytes());
    let crc = crc32c::crc32c(&hdr[..28]);
    hdr[28..32].copy_from_slice(&crc.to_le_bytes());
}

/// The checksum of `data`, in its first bytes (32 at most).
fn checksum(kind: VerifyKind, data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    match kind {
        VerifyKind::Md5 => out[..16].copy_from_slice(&md5::Md5::digest(data)),
        VerifyKind::Sha1 => out[..20].copy_from_slice(&sha1::Sha1::digest(data)),
        VerifyKind::Sha256 => out.copy_from_slice(&sha2::Sha256::digest(data)),
        VerifyKind::Crc32c => out[..4].copy_from_slice(&crc32c::crc32c(data).to_le_bytes()),
        VerifyKind::Crc64 => out[..8].copy_from_slice(&crc64(data).to_le_bytes()),
        VerifyKind::Xxhash => out[..4].copy_from_slice(&xxhash_rust::xxh32::xxh32(data, 0).to_le_bytes()),
        VerifyKind::Meta | VerifyKind::Pattern | VerifyKind::None => {}
    }
    out
}

/// fio's `fio_crc64` (`crc/crc64.c`): the reflected polynomial 0x95AC9329AC4BC9B5 (Jones's
/// 0xAD93D23594C935A9), no initial value and no final xor — CRC-64/REDIS.
fn crc64(data: &[u8]) -> u64 {
    const TABLE: [u64; 256] = {
        let mut t = [0u64; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u64;
            let mut bit = 0;
            while bit < 8 {
                c = if c & 1 == 1 { (c >> 1) ^ 0x95AC_9329_AC4B_C9B5 } else { c >> 1 };
                bit += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    data.iter().fold(0u64, |crc, &b| TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8))
}

/// The pattern's byte at file offset `at` (the pattern repeats from offset 0, so a block holds
/// the same bytes whoever wrote it).
fn pattern_byte(p: &[u8], at: u64) -> u8 {
    p[(at % p.len() as u64) as usize]
}

fn fill_pattern(buf: &mut [u8], p: &[u8], at: u64) {
    for (j, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(p, at + j as u64);
    }
}

/// SplitMix64: a seed for each unit.
fn mix(x: u64) -> u64 {
    crate::rng::splitmix64(x)
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: VerifyKind) -> Verifier {
        Verifier { kind, pattern: None, interval: None }
    }

    #[test]
    fn every_kind_passes_intact_and_catches_a_flip() {
        for kind in [
            VerifyKind::Md5,
            VerifyKind::Crc32c,
            VerifyKind::Crc64,
            VerifyKind::Sha1,
            VerifyKind::Sha256,
            VerifyKind::Xxhash,
            VerifyKind::Meta,
        ] {
            let mut b = vec![0u8; 4096];
            fill(&v(kind), &mut b, 4096, 3);
            assert_eq!(check(&v(kind), &b, 4096), Ok(()), "{kind:?}");
            assert_eq!(check(&v(kind), &b, 8192).unwrap_err().what, "header offset", "{kind:?}: read elsewhere");
            let mut flipped = b.clone();
            flipped[2000] ^= 0x10;
            let caught = check(&v(kind), &flipped, 4096);
            assert_eq!(caught.is_err(), kind != VerifyKind::Meta, "{kind:?}: meta checks the header only");
            let mut hdr = b.clone();
            hdr[9] ^= 1;
            assert_eq!(check(&v(kind), &hdr, 4096).unwrap_err().what, "header crc32c");
        }
    }

    #[test]
    fn crc64_is_fios() {
        // CRC-64/REDIS's check value, and the second entry of fio's crctab64.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64(&[1]), 0x7ad8_70c8_3035_8979);
        assert_eq!(crc64(b""), 0);
    }

    #[test]
    fn patterns_and_intervals() {
        let p = Verifier { kind: VerifyKind::Pattern, pattern: Some(vec![0xaa, 0x55]), interval: Some(1024) };
        let mut b = vec![0u8; 4096];
        fill(&p, &mut b, 1, 9);
        assert_eq!(b[0], 0x55, "the pattern is aligned to the file, not the I/O");
        assert_eq!(check(&p, &b, 1), Ok(()));
        b[3000] = 0;
        let e = check(&p, &b, 1).unwrap_err();
        assert_eq!((e.offset, e.what.as_str()), (2049, "pattern byte 952"));
        assert_eq!(e.to_string(), "pattern byte 952: expected 0x55, found 0x00");
        let c = Verifier { kind: VerifyKind::Md5, pattern: None, interval: Some(1024) };
        let mut b = vec![0u8; 4096];
        fill(&c, &mut b, 0, 1);
        assert_eq!(check(&c, &b[1024..2048], 1024), Ok(()), "each interval checks on its own");
    }
}
