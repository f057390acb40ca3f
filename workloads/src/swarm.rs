//! Swarm testing for the fsx-style mix (Groce, Zhang, Eide, Chen, Regehr: "Swarm Testing",
//! ISSTA 2012): rather than one mix with every op kind for the whole run, a stream runs in
//! phases and each phase draws its own configuration — some op kinds off entirely, the others
//! weighted anew, small or large files and ops, an alignment and a boundary bias. A bug that
//! needs many ops of a few kinds in a row (or the absence of a kind that would repair the state)
//! is found sooner than in a mix that dilutes them.
//!
//! [`Swarm::draw`] makes a [`Phase`]; [`crate::fsx::FsxStream`] switches phases every
//! [`Swarm::phase_ops`] ops.

use rand_chacha::ChaCha8Rng;
use vocab::Size;

use crate::fsx::{FsxConfig, FsxWeights};
use crate::op::OpKind;
use crate::rng::below;

/// What a swarm stream varies from phase to phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swarm {
    /// Ops per phase.
    pub phase_ops: u64,
    /// Draw weights per phase (kinds the config weighs 0 stay off). Off: the config's weights.
    pub weights: bool,
    /// Draw the file and op length bounds per phase, within the config's. Off: the config's.
    pub geometry: bool,
    /// Draw the alignment per phase (byte-aligned most often). Off: the config's.
    pub align: bool,
}

impl Default for Swarm {
    /// Phases of 2000 ops, everything varied.
    fn default() -> Self {
        Swarm { phase_ops: 2000, weights: true, geometry: true, align: true }
    }
}

/// The mix of one phase of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// Weight of each kind.
    pub weights: FsxWeights,
    /// Upper bound on the file size.
    pub max_file_len: u64,
    /// Upper bound on an op's length.
    pub max_op_len: u64,
    /// Alignment of offsets and lengths.
    pub align: u64,
    /// Percent of points snapped near EOF or a boundary.
    pub boundary_percent: u32,
    /// Whether op sequences are biased (EOF-block writes followed by fsync or remount, ops
    /// coming back to a written block after a state change).
    pub sequence_bias: bool,
    /// Alignment of collapse/insert ranges (at least the alignment of the phase).
    pub range_block: u64,
    /// Whether its geometry was drawn from the large class (the largest file; ops of 256k or
    /// the largest), where reclaim, background writeback and large folios run.
    pub large: bool,
}

/// Kinds a phase always keeps: without writes there is nothing to check, without reads
/// nothing is read back between whole-file checks.
const ALWAYS: [OpKind; 2] = [OpKind::Read, OpKind::Write];

impl Phase {
    /// The one phase of a fixed mix: the config as it is.
    pub fn fixed(cfg: &FsxConfig) -> Phase {
        Phase {
            weights: cfg.weights,
            max_file_len: cfg.max_file_len,
            max_op_len: cfg.max_op_len,
            align: cfg.align,
            boundary_percent: cfg.boundary_percent,
            sequence_bias: false,
            range_block: cfg.block_size,
            large: false,
        }
    }

    /// One line: the kinds on and their weights, the bounds, the alignment.
    pub fn describe(&self) -> String {
        let kinds: Vec<String> = OpKind::ALL
            .iter()
            .filter(|&&k| self.weights.get(k) > 0)
            .map(|&k| format!("{k}={}", self.weights.get(k)))
            .collect();
        format!(
            "file up to {}, ops up to {}, align {}, {}% near boundaries; {}",
            Size(self.max_file_len),
            Size(self.max_op_len),
            Size(self.align),
            self.boundary_percent,
            kinds.join(",")
        )
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, choices: &[T]) -> T {
    choices[below(rng, choices.len() as u64) as usize]
}

impl Swarm {
    /// Draws a phase within `cfg`'s bounds, after `previous` (none for the first): each kind
    /// but reads and writes is off with probability 1/2 (the paper's choice) and otherwise
    /// weighs its configured weight times 1, 2 or 4; phases alternate between small geometry
    /// (files up to 64k or 256k, ops up to 16k or 64k) and large (the largest file, ops of 256k
    /// or the largest), the first drawn at random — so that any two phases in a row reach
    /// reclaim and large folios (drawn independently, 5 phases were all small 1 time in 32);
    /// offsets byte-aligned 70% of the time, else aligned to 512, 1k or 4k; collapse/insert
    /// ranges aligned to the coarse block size 3 phases in 4.
    pub fn draw(&self, cfg: &FsxConfig, rng: &mut ChaCha8Rng, previous: Option<&Phase>) -> Phase {
        let mut phase = Phase::fixed(cfg);
        phase.sequence_bias = true;
        if self.weights {
            let mut w = FsxWeights::none();
            for k in OpKind::ALL {
                let base = cfg.weights.get(k);
                let on = ALWAYS.contains(&k) || below(rng, 2) == 0;
                if base > 0 && on {
                    w.set(k, base << below(rng, 3));
                }
            }
            // A config that weighs only kinds the draw turned off keeps its own weights.
            phase.weights = if w == FsxWeights::none() { cfg.weights } else { w };
        }
        if self.align {
            let a = if below(rng, 10) < 7 { 1 } else { pick(rng, &[512, 1024, 4096]) };
            if cfg.max_op_len >= a && cfg.max_file_len >= 2 * a {
                phase.align = a;
            }
        }
        if self.geometry {
            phase.large = match previous {
                Some(p) => !p.large,
                None => below(rng, 2) == 1,
            };
            let (file, op) = if phase.large {
                (cfg.max_file_len, pick(rng, &[256 << 10, cfg.max_op_len]))
            } else {
                (pick(rng, &[64 << 10, 256 << 10]), pick(rng, &[16 << 10, 64 << 10]))
            };
            // Within the config's bounds, and never below what the alignment needs.
            phase.max_file_len = file.min(cfg.max_file_len).max(2 * phase.align);
            phase.max_op_len = op.min(cfg.max_op_len).min(phase.max_file_len).max(phase.align);
        }
        phase.boundary_percent = pick(rng, &[10, 30, 60]);
        // Collapse/insert at the finest block size one phase in four.
        if cfg.coarse_block_size > cfg.block_size && below(rng, 4) != 0 {
            phase.range_block = cfg.coarse_block_size;
        }
        phase
    }
}
