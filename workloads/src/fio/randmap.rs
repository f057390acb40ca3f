//! fio's random map (`lib/axmap.c`): which blocks of a file a random job has done this pass,
//! so that random offsets cover the region without repeats; and a keyed permutation that
//! visits every block once in random order.

use rand_chacha::ChaCha8Rng;

use crate::rng::{next_u64, splitmix64};

/// A keyed random permutation of `0..n`: a 4-round Feistel network on the next even power of
/// two, cycle-walking values that fall outside `0..n` (at most 4x domain, so ~4 rounds each).
#[derive(Clone, Debug)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    /// A permutation of `0..n` keyed from `rng`.
    pub(crate) fn new(n: u64, rng: &mut ChaCha8Rng) -> Permutation {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        let keys = [next_u64(rng), next_u64(rng), next_u64(rng), next_u64(rng)];
        Permutation { n, half_bits: bits.div_ceil(2), keys }
    }

    /// New keys: another random order.
    pub(crate) fn rekey(&mut self, rng: &mut ChaCha8Rng) {
        self.keys = [next_u64(rng), next_u64(rng), next_u64(rng), next_u64(rng)];
    }

    /// The `i`-th element (`i < n`) of the permutation.
    #[inline]
    pub(crate) fn apply(&self, i: u64) -> u64 {
        debug_assert!(i < self.n);
        let mut x = i;
        loop {
            x = self.encrypt(x);
            if x < self.n {
                return x;
            }
        }
    }

    #[inline]
    fn encrypt(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (x >> self.half_bits, x & mask);
        for k in self.keys {
            (l, r) = (r, l ^ (splitmix64(r ^ k) & mask));
        }
        (l << self.half_bits) | r
    }
}

/// One bit per block: set when the block was done this pass. A summary level (one bit per full
/// word) keeps "next free block" fast, like fio's axmap.
#[derive(Clone, Debug)]
pub(crate) struct RandomMap {
    n: u64,
    taken: u64,
    words: Vec<u64>,
    full: Vec<u64>,
}

impl RandomMap {
    /// A map of `n` free blocks.
    pub(crate) fn new(n: u64) -> RandomMap {
        let nwords = n.div_ceil(64) as usize;
        let mut map = RandomMap { n, taken: 0, words: vec![0; nwords], full: vec![0; nwords.div_ceil(64)] };
        map.clear();
        map
    }

    /// Every block free again (a new pass).
    pub(crate) fn clear(&mut self) {
        self.words.fill(0);
        self.full.fill(0);
        self.taken = 0;
        // Bits past n count as taken, so full words and the search stay simple.
        let tail = self.n % 64;
        if tail != 0
            && let Some(last) = self.words.last_mut()
        {
            *last = !0u64 << tail;
        }
        let wtail = self.words.len() % 64;
        if wtail != 0
            && let Some(last) = self.full.last_mut()
        {
            *last = !0u64 << wtail;
        }
    }

    /// Every block done.
    pub(crate) fn is_full(&self) -> bool {
        self.taken == self.n
    }

    /// Whether block `b` was done this pass.
    #[inline]
    pub(crate) fn is_taken(&self, b: u64) -> bool {
        self.words[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    /// How many free blocks follow `b` (itself included), up to `max`.
    pub(crate) fn free_run(&self, b: u64, max: u64) -> u64 {
        let mut len = 0;
        while len < max && b + len < self.n && !self.is_taken(b + len) {
            len += 1;
        }
        len
    }

    /// Mark `b..b + len` done (all must be free).
    pub(crate) fn take(&mut self, b: u64, len: u64) {
        for block in b..b + len {
            let w = (block / 64) as usize;
            debug_assert!(self.words[w] & (1 << (block % 64)) == 0);
            self.words[w] |= 1 << (block % 64);
            if self.words[w] == !0 {
                self.full[w / 64] |= 1 << (w % 64);
            }
        }
        self.taken += len;
    }

    /// The first free block at or after `b`, wrapping to the start (fio's `axmap_next_free`).
    /// The map must not be full.
    pub(crate) fn next_free(&self, b: u64) -> u64 {
        debug_assert!(!self.is_full());
        let w = (b / 64) as usize;
        let free_here = !self.words[w] & (!0u64 << (b % 64));
        if free_here != 0 {
            return w as u64 * 64 + u64::from(free_here.trailing_zeros());
        }
        let word = self.next_non_full_word(w + 1).or_else(|| self.next_non_full_word(0));
        match word {
            Some(w) => w as u64 * 64 + u64::from((!self.words[w]).trailing_zeros()),
            None => b, // unreachable while the map is not full
        }
    }

    /// The first word at or after `w` with a free bit.
    fn next_non_full_word(&self, w: usize) -> Option<usize> {
        if w >= self.words.len() {
            return None;
        }
        let s = w / 64;
        let first = !self.full[s] & (!0u64 << (w % 64));
        if first != 0 {
            return Some(s * 64 + first.trailing_zeros() as usize);
        }
        (s + 1..self.full.len())
            .find(|&i| self.full[i] != !0)
            .map(|i| i * 64 + (!self.full[i]).trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    #[test]
    fn permutation_is_a_bijection() {
        let mut rng = seeded(b"testperm", 0, 0, 0);
        for n in [1u64, 2, 3, 5, 64, 100, 1000, 4097] {
            let p = Permutation::new(n, &mut rng);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let v = p.apply(i);
                assert!(!seen[v as usize], "n={n} repeats {v}");
                seen[v as usize] = true;
            }
        }
    }

    #[test]
    fn map_finds_free_blocks_and_fills() {
        let mut map = RandomMap::new(200);
        map.take(0, 130);
        assert_eq!(map.next_free(5), 130);
        assert_eq!(map.free_run(130, 100), 70);
        map.take(131, 69);
        assert_eq!(map.next_free(199), 130);
        assert!(!map.is_full());
        map.take(130, 1);
        assert!(map.is_full());
        map.clear();
        assert_eq!(map.next_free(199), 199);
        assert_eq!(map.free_run(199, 5), 1);
    }
}
