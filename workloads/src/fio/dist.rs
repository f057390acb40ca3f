//! Non-uniform block choice for `random_distribution=` (fio's `lib/zipf.c`, `lib/gauss.c`).
//!
//! Each sampler yields a *rank* in `0..n` (rank 0 hottest for zipf and pareto, the middle for
//! normal); the stream scatters ranks over the region with a keyed permutation, as fio hashes
//! them, so hot blocks are spread over the file rather than packed at its start.

use rand_chacha::ChaCha8Rng;

use super::types::{RandomDistribution, Zone};
use super::value::PPM;
use crate::rng::{below, unit_f64};

/// A sampler of ranks in `0..n`.
#[derive(Clone, Debug)]
pub(crate) enum Sampler {
    /// Zipf by rejection-inversion (Hörmann & Derflinger 1996): exact P(k) ∝ k^-θ. With a
    /// center, rank 0 sits at that fraction of the region and ranks follow it (wrapping).
    Zipf(Zipf, Option<u64>),
    /// fio's pareto: rank = (n - 1) · u^(ln h / ln(1 - h)); a center as for zipf.
    Pareto { n: u64, power: f64, center: Option<u64> },
    /// Gaussian around `mean` with σ = ceil(n · dev / 100) blocks (at most n/2), redrawn when
    /// outside the region.
    Normal { n: u64, mean: f64, sigma: f64 },
    /// fio's zoned distributions (`zone_split`): a zone by its access share, then a uniform
    /// block within it. Entries are (cumulative access ppm, first block, blocks).
    Zoned(Vec<(u64, u64, u64)>),
}

impl Sampler {
    /// The sampler for `dist` over `n` blocks, or `None` for the uniform distribution.
    /// `align` is the block size in bytes (for `zoned_abs` sizes).
    pub(crate) fn new(dist: &RandomDistribution, n: u64, align: u64) -> Option<Sampler> {
        let at = |c: Option<f64>| c.map(|c| ((n as f64 * c) as u64).min(n.saturating_sub(1)));
        match *dist {
            // A sequence is not drawn: the stream takes its blocks in order.
            RandomDistribution::Uniform | RandomDistribution::Sequence(_) => None,
            RandomDistribution::Zipf { theta, center } => Some(Sampler::Zipf(Zipf::new(n, theta), at(center))),
            RandomDistribution::Pareto { h, center } => {
                Some(Sampler::Pareto { n, power: h.ln() / (1.0 - h).ln(), center: at(center) })
            }
            RandomDistribution::Normal { dev, center } => {
                let sigma = ((n as f64 * dev) / 100.0).ceil().min((n / 2).max(1) as f64);
                Some(Sampler::Normal { n, mean: (n as f64 * center).floor(), sigma })
            }
            RandomDistribution::Zoned(ref zones) => Some(Sampler::Zoned(zoned(zones, n, |z| n * z.size / PPM))),
            RandomDistribution::ZonedAbs(ref zones) => Some(Sampler::Zoned(zoned(zones, n, |z| z.size / align.max(1)))),
        }
    }

    /// Whether a sample is a block position already (zones, a center), rather than a rank the
    /// stream scatters over the region.
    pub(crate) fn positional(&self) -> bool {
        matches!(self, Sampler::Zoned(_) | Sampler::Zipf(_, Some(_)) | Sampler::Pareto { center: Some(_), .. })
            || matches!(self, Sampler::Normal { .. })
    }

    /// One rank in `0..n`.
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> u64 {
        match self {
            Sampler::Zipf(z, center) => around(z.sample(rng) - 1, *center, z.n),
            Sampler::Pareto { n, power, center } => {
                let r = ((n - 1) as f64 * unit_f64(rng).powf(*power)) as u64;
                around(r.min(n - 1), *center, *n)
            }
            Sampler::Normal { n, mean, sigma } => loop {
                // Box-Muller.
                let u1 = 1.0 - unit_f64(rng);
                let u2 = unit_f64(rng);
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let x = mean + z * sigma;
                if x >= 0.0 && x < *n as f64 {
                    break x as u64;
                }
            },
            Sampler::Zoned(zones) => {
                let r = below(rng, PPM);
                let &(_, first, len) = zones.iter().find(|z| r < z.0).or(zones.last()).unwrap_or(&(PPM, 0, 1));
                first + below(rng, len.max(1))
            }
        }
    }
}

/// Rank `r` placed at `center` (wrapping over `n`), or left as a rank.
fn around(r: u64, center: Option<u64>, n: u64) -> u64 {
    match center {
        Some(c) => (c + r) % n.max(1),
        None => r,
    }
}

/// The zones as (cumulative access ppm, first block, blocks) over `n` blocks; a zone past the
/// end is cut to the region, an empty one skipped.
fn zoned(zones: &[Zone], n: u64, blocks_of: impl Fn(&Zone) -> u64) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::with_capacity(zones.len());
    let (mut cum, mut first) = (0, 0);
    for z in zones {
        cum += z.access_ppm;
        let len = blocks_of(z).min(n - first.min(n));
        if len > 0 && z.access_ppm > 0 {
            out.push((cum, first, len));
        }
        first += len;
    }
    if out.is_empty() {
        out.push((PPM, 0, n.max(1)));
    }
    // Shares of zones cut away go to the last one.
    if let Some(last) = out.last_mut() {
        last.0 = PPM;
    }
    out
}

/// Zipf over `1..=n` with exponent θ > 0 by rejection-inversion; O(1) per sample, no table.
#[derive(Clone, Debug)]
pub(crate) struct Zipf {
    n: u64,
    theta: f64,
    h_x1: f64,
    h_n: f64,
    s: f64,
}

impl Zipf {
    pub(crate) fn new(n: u64, theta: f64) -> Zipf {
        let mut z = Zipf { n, theta, h_x1: 0.0, h_n: 0.0, s: 0.0 };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(n as f64 + 0.5);
        z.s = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// One value in `1..=n`.
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> u64 {
        loop {
            let u = self.h_n + unit_f64(rng) * (self.h_x1 - self.h_n);
            let x = self.h_integral_inverse(u);
            let k = ((x + 0.5) as u64).clamp(1, self.n);
            if k as f64 - x <= self.s || u >= self.h_integral(k as f64 + 0.5) - self.h(k as f64) {
                return k;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.theta * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.theta) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.theta)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1 + x) / x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 { x.ln_1p() / x } else { 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x)) }
}

/// (e^x - 1) / x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 { x.exp_m1() / x } else { 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    /// The exact zipf probability of rank k.
    fn zipf_p(n: u64, theta: f64, k: u64) -> f64 {
        let norm: f64 = (1..=n).map(|i| (i as f64).powf(-theta)).sum();
        (k as f64).powf(-theta) / norm
    }

    #[test]
    fn zipf_matches_the_exact_probabilities() {
        let mut rng = seeded(b"testzipf", 0, 0, 0);
        for theta in [0.8, 1.0, 1.2] {
            let z = Zipf::new(1000, theta);
            let mut counts = [0u32; 4];
            let draws = 200_000;
            for _ in 0..draws {
                let k = z.sample(&mut rng);
                assert!((1..=1000).contains(&k));
                if k <= 3 {
                    counts[k as usize] += 1;
                }
            }
            for k in 1..=3u64 {
                let got = f64::from(counts[k as usize]) / draws as f64;
                let want = zipf_p(1000, theta, k);
                assert!((got - want).abs() < 0.01 + want * 0.05, "θ={theta} k={k}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn normal_centres_on_the_middle() {
        let mut rng = seeded(b"testnorm", 0, 0, 0);
        let s = Sampler::new(&RandomDistribution::Normal { dev: 10.0, center: 0.5 }, 1000, 4096).unwrap();
        let within: usize = (0..10_000).filter(|_| s.sample(&mut rng).abs_diff(500) <= 100).count();
        // ±1σ holds 68.3% of a Gaussian.
        assert!((6600..7060).contains(&within), "{within}");
    }

    #[test]
    fn zones_get_their_share() {
        let mut rng = seeded(b"testzone", 0, 0, 0);
        let zones = vec![Zone { access_ppm: 600_000, size: 100_000 }, Zone { access_ppm: 400_000, size: 900_000 }];
        let s = Sampler::new(&RandomDistribution::Zoned(zones), 1000, 4096).unwrap();
        let hot: usize = (0..10_000).filter(|_| s.sample(&mut rng) < 100).count();
        assert!((5800..6200).contains(&hot), "{hot}");
        let abs = vec![Zone { access_ppm: 1_000_000, size: 40960 }];
        let s = Sampler::new(&RandomDistribution::ZonedAbs(abs), 1000, 4096).unwrap();
        assert!((0..1000).all(|_| s.sample(&mut rng) < 10));
    }
}
