//! Non-uniform block choice for `random_distribution=` (fio's `lib/zipf.c`, `lib/gauss.c`).
//!
//! Each sampler yields a *rank* in `0..n` (rank 0 hottest for zipf and pareto, the middle for
//! normal); the stream scatters ranks over the region with a keyed permutation, as fio hashes
//! them, so hot blocks are spread over the file rather than packed at its start.

use rand_chacha::ChaCha8Rng;

use super::job::RandomDistribution;
use crate::rng::unit_f64;

/// A sampler of ranks in `0..n`.
#[derive(Clone, Debug)]
pub(crate) enum Sampler {
    /// Zipf by rejection-inversion (Hörmann & Derflinger 1996): exact P(k) ∝ k^-θ.
    Zipf(Zipf),
    /// fio's pareto: rank = (n - 1) · u^(ln h / ln(1 - h)).
    Pareto { n: u64, power: f64 },
    /// Gaussian around n/2 with σ = ceil(n · dev / 100) blocks (at most n/2), redrawn when
    /// outside the region.
    Normal { n: u64, sigma: f64 },
}

impl Sampler {
    /// The sampler for `dist` over `n` blocks, or `None` for the uniform distribution.
    pub(crate) fn new(dist: RandomDistribution, n: u64) -> Option<Sampler> {
        match dist {
            RandomDistribution::Uniform => None,
            RandomDistribution::Zipf(theta) => Some(Sampler::Zipf(Zipf::new(n, theta))),
            RandomDistribution::Pareto(h) => Some(Sampler::Pareto { n, power: h.ln() / (1.0 - h).ln() }),
            RandomDistribution::Normal(dev) => {
                let sigma = ((n as f64 * dev) / 100.0).ceil().min((n / 2).max(1) as f64);
                Some(Sampler::Normal { n, sigma })
            }
        }
    }

    /// One rank in `0..n`.
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> u64 {
        match self {
            Sampler::Zipf(z) => z.sample(rng) - 1,
            Sampler::Pareto { n, power } => {
                let r = ((n - 1) as f64 * unit_f64(rng).powf(*power)) as u64;
                r.min(n - 1)
            }
            Sampler::Normal { n, sigma } => loop {
                // Box-Muller.
                let u1 = 1.0 - unit_f64(rng);
                let u2 = unit_f64(rng);
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let x = (*n / 2) as f64 + z * sigma;
                if x >= 0.0 && x < *n as f64 {
                    break x as u64;
                }
            },
        }
    }
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
        let s = Sampler::new(RandomDistribution::Normal(10.0), 1000).unwrap();
        let within: usize = (0..10_000).filter(|_| s.sample(&mut rng).abs_diff(500) <= 100).count();
        // ±1σ holds 68.3% of a Gaussian.
        assert!((6600..7060).contains(&within), "{within}");
    }
}
