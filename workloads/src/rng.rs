//! Seeding and the few random draws the generators make.
//!
//! Draws are built on `next_u64` of ChaCha8 only (no `rand` distributions), so a stream depends
//! on nothing but its seed and this file.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A ChaCha8 generator keyed by a domain name and three numbers (seed, job, thread...).
pub(crate) fn seeded(domain: &[u8; 8], a: u64, b: u64, c: u64) -> ChaCha8Rng {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(domain);
    seed[8..16].copy_from_slice(&a.to_le_bytes());
    seed[16..24].copy_from_slice(&b.to_le_bytes());
    seed[24..32].copy_from_slice(&c.to_le_bytes());
    ChaCha8Rng::from_seed(seed)
}

/// Uniform in `0..n` (Lemire's multiply-shift with rejection). `n == 0` yields 0.
#[inline]
pub(crate) fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// Uniform in `lo..=hi`.
#[inline]
pub(crate) fn between(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    debug_assert!(lo <= hi);
    match (hi - lo).checked_add(1) {
        Some(span) => lo + below(rng, span),
        None => rng.next_u64(),
    }
}

/// Uniform in `[0, 1)` with 53 bits.
#[inline]
pub(crate) fn unit_f64(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A raw 64-bit draw.
#[inline]
pub(crate) fn next_u64(rng: &mut ChaCha8Rng) -> u64 {
    rng.next_u64()
}

/// Bytes from a xorshift64* stream seeded by `seed` (fio's `__fill_random_buf`: a buffer's
/// random bytes from one seed).
pub(crate) fn fill_random(buf: &mut [u8], seed: u64) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
}

/// SplitMix64's finaliser: a cheap, good 64-bit mix.
#[inline]
pub(crate) const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut rng = seeded(b"testtest", 1, 2, 3);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[below(&mut rng, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(below(&mut rng, 0), 0);
        assert_eq!(between(&mut rng, 5, 5), 5);
    }

    #[test]
    fn same_key_same_numbers_other_key_other_numbers() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = seeded(b"testtest", 1, 2, 3);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = seeded(b"testtest", 1, 2, 3);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = seeded(b"testtest", 1, 2, 4);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
