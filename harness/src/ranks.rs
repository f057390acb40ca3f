//! The processes one command runs as: one ([`One`]), or every rank of an MPI job (the `mpi`
//! feature's `mpi::World`), behind one trait, [`Ranks`], so that `run` and `diff` are written
//! once.
//!
//! Every rank runs the same command and meets the others at *sync points*, [`Ranks::agree`]:
//! each says how its last step went, and all learn the first failure of any rank. A rank that
//! fails between two sync points tears its targets down as the error unwinds, then
//! [`fail_together`] brings its failure to the sync point the others wait at, so nobody waits
//! for it forever; then every rank, clean, meets once more and rank 0 prints one line naming
//! the rank, its host and the reason, and ends the job with status 2 (`MPI_Abort`).

use std::sync::OnceLock;

/// A failure of some rank, as every rank learns it at a sync point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rank {rank} on {host}: {reason}{}", others_note(*.others))]
pub struct RankFailure {
    /// The lowest rank that failed.
    pub rank: u32,
    /// Its host.
    pub host: String,
    /// What it said.
    pub reason: String,
    /// How many other ranks failed at the same sync point.
    pub others: u32,
}

fn others_note(others: u32) -> String {
    match others {
        0 => String::new(),
        1 => " (and 1 other rank failed)".into(),
        n => format!(" (and {n} other ranks failed)"),
    }
}

/// What [`Ranks::reduce`] leaves a rank with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reduced {
    /// Rank 0: every rank's bytes, merged.
    Root(Vec<u8>),
    /// Another rank: it sent this many bytes up the tree.
    Sent(usize),
}

/// The ranks of one command.
pub trait Ranks: Send + Sync {
    /// This process's rank, from 0.
    fn rank(&self) -> u32;
    /// How many ranks there are.
    fn size(&self) -> u32;
    /// The host name of `rank`.
    fn host_of(&self, rank: u32) -> &str;
    /// Every rank's bytes, to every rank, in rank order. Collective: every rank calls it.
    fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>>;
    /// Every rank's bytes, to rank 0, in rank order; other ranks get nothing. Collective.
    fn gather(&self, mine: &[u8]) -> Vec<Vec<u8>>;
    /// Every rank's bytes, merged pairwise by `merge` up a binomial tree (rank r receives
    /// from r + 1, r + 2, r + 4, ... below its lowest set bit, then sends to its parent), as
    /// `MPI_Reduce` does with a user operation: rank 0 gets the whole, after log2(N) merges.
    /// `merge` must be associative and commutative. Collective.
    fn reduce(&self, mine: Vec<u8>, merge: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Vec<u8>) -> Reduced;
    /// Tells the other ranks, without waiting for them, that this one failed: they see it at
    /// [`Ranks::failure_noticed`] and can stop early instead of finishing their part first.
    fn notice_failure(&self);
    /// Whether another rank has said it failed.
    fn failure_noticed(&self) -> bool;
    /// Waits until every rank has called it. Collective.
    fn barrier(&self);
    /// Ends every rank's process with `code` (`MPI_Abort`).
    fn abort(&self, code: i32) -> !;
    /// Finishes MPI (`MPI_Finalize`); a no-op for one process.
    fn finish(&self) {}

    /// This process's host name.
    fn host(&self) -> &str {
        self.host_of(self.rank())
    }

    /// Whether this is rank 0, which writes the results.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// `host-rank`, as result directories and messages name a rank.
    fn label(&self) -> String {
        format!("{}-{}", self.host(), self.rank())
    }

    /// A sync point: every rank says how its step went (`Err` with a one-line reason); all
    /// get `Err` with the lowest failed rank when any failed. Collective.
    fn agree(&self, mine: Result<(), String>) -> Result<(), RankFailure> {
        let status = match &mine {
            Ok(()) => Vec::new(),
            Err(reason) if reason.is_empty() => b"failed".to_vec(),
            Err(reason) => reason.as_bytes().to_vec(),
        };
        let all = self.all_gather(&status);
        let mut failed = all.iter().enumerate().filter(|(_, s)| !s.is_empty());
        let Some((rank, reason)) = failed.next() else { return Ok(()) };
        Err(RankFailure {
            rank: rank as u32,
            host: self.host_of(rank as u32).to_string(),
            reason: String::from_utf8_lossy(reason).into_owned(),
            others: failed.count() as u32,
        })
    }
}

/// One process: no launcher, or a launcher that started one task.
#[derive(Debug, Clone)]
pub struct One {
    host: String,
}

impl One {
    /// This machine, as rank 0 of 1.
    pub fn new() -> One {
        One { host: hostname() }
    }
}

impl Default for One {
    fn default() -> Self {
        One::new()
    }
}

impl Ranks for One {
    fn rank(&self) -> u32 {
        0
    }
    fn size(&self) -> u32 {
        1
    }
    fn host_of(&self, _rank: u32) -> &str {
        &self.host
    }
    fn all_gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        vec![mine.to_vec()]
    }
    fn gather(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        vec![mine.to_vec()]
    }
    fn reduce(&self, mine: Vec<u8>, _merge: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Vec<u8>) -> Reduced {
        Reduced::Root(mine)
    }
    fn notice_failure(&self) {}
    fn failure_noticed(&self) -> bool {
        false
    }
    fn barrier(&self) {}
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// This machine's host name (`uname -n`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

static RANKS: OnceLock<Box<dyn Ranks>> = OnceLock::new();

/// Starts the ranks of this process: MPI when a launcher started it as one of several tasks
/// (with the `mpi` feature), else one process. Without the feature, a start as one of several
/// tasks is refused with the line to print.
pub fn start() -> Result<&'static dyn Ranks, String> {
    let launched = crate::launcher::detect_here();
    let ranks: Box<dyn Ranks> = match launched {
        None => Box::new(One::new()),
        #[cfg(feature = "mpi")]
        Some(l) => {
            crate::targets::cleanup::set_hasty();
            Box::new(crate::mpi::World::init(&l)?)
        }
        #[cfg(not(feature = "mpi"))]
        Some(l) => return Err(crate::launcher::refusal(&l)),
    };
    Ok(RANKS.get_or_init(|| ranks).as_ref())
}

/// The ranks [`start`] started; one process if it was not called (library use, tests).
pub fn current() -> &'static dyn Ranks {
    RANKS.get_or_init(|| Box::new(One::new())).as_ref()
}

/// Whether this process is one of several ranks.
pub fn many() -> bool {
    current().size() > 1
}

/// What a failed command ends in under several ranks: the failure every rank agreed on, after
/// this rank's targets were torn down (the error that brought us here unwound them).
///
/// A local failure (not one learnt at a sync point) is first told to the others, at the sync
/// point they wait at. Then every rank meets once more (so all are clean); rank 0 prints the
/// line and ends the job with status 2; the others wait to be ended.
pub fn fail_together(error: &anyhow::Error, one_line: &str) -> ! {
    let ranks = current();
    let failure = match error.chain().find_map(|e| e.downcast_ref::<RankFailure>()) {
        Some(f) => f.clone(),
        None => {
            ranks.notice_failure();
            match ranks.agree(Err(one_line.to_string())) {
                Err(f) => f,
                Ok(()) => unreachable!("this rank's own failure is in the agreement"),
            }
        }
    };
    // Cleaned up already: let the job's end (a SIGTERM from the launcher) end this process
    // quietly, without the signal cleanup's "interrupted" line.
    quiet_on_termination();
    ranks.barrier();
    if ranks.is_root() {
        eprintln!("aopsbench: {failure}");
        ranks.abort(2);
    }
    loop {
        std::thread::park();
    }
}

/// SIGTERM and SIGINT end this process at once, without the cleanup handler.
fn quiet_on_termination() {
    // SAFETY: resetting a signal's disposition to its default has no preconditions.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three ranks as one process sees an agreement: every rank's status given.
    struct Three(Vec<Vec<u8>>);

    impl Ranks for Three {
        fn rank(&self) -> u32 {
            1
        }
        fn size(&self) -> u32 {
            3
        }
        fn host_of(&self, rank: u32) -> &str {
            ["n0", "n1", "n2"][rank as usize]
        }
        fn all_gather(&self, _mine: &[u8]) -> Vec<Vec<u8>> {
            self.0.clone()
        }
        fn gather(&self, _mine: &[u8]) -> Vec<Vec<u8>> {
            Vec::new()
        }
        fn reduce(&self, _mine: Vec<u8>, _merge: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Vec<u8>) -> Reduced {
            Reduced::Sent(0)
        }
        fn notice_failure(&self) {}
        fn failure_noticed(&self) -> bool {
            false
        }
        fn barrier(&self) {}
        fn abort(&self, code: i32) -> ! {
            panic!("abort {code}")
        }
    }

    #[test]
    fn agreement_names_the_lowest_failed_rank() {
        let ok = Three(vec![vec![], vec![], vec![]]);
        assert_eq!(ok.agree(Ok(())), Ok(()));
        let bad = Three(vec![vec![], b"ext4: mount needs root".to_vec(), b"ENOSPC".to_vec()]);
        let f = bad.agree(Ok(())).unwrap_err();
        assert_eq!(f.to_string(), "rank 1 on n1: ext4: mount needs root (and 1 other rank failed)");
        assert_eq!(One::new().agree(Err(String::new())).unwrap_err().reason, "failed");
        assert_eq!(bad.label(), "n1-1");
    }
}
