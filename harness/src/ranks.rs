//! The processes one command runs as: one ([`One`]), or every rank of an MPI job (the `mpi`
//! feature's `mpi::World`), behind one trait, [`Ranks`], so that `run` and `diff` are written
//! once.
//!
//! Every rank runs the same command and meets the others at *sync points*, [`Ranks::agree`]:
//! each says how its last step went, and all learn the first failure of any rank. A rank that
//! fails between two sync points tears its targets down as the error unwinds, then
//! [`fail_together`] brings its failure to the sync point the others wait at, so nobody waits
//! for it forever; then every rank, clean, meets once more and rank 0 prints one line naming
//! the rank, its host and the reason, and ends the job (`MPI_Abort`) with the status one host
//! would have ended with: 1 for a problem found (data that did not verify), 2 for a rank that
//! could not run.

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
    /// The exit status the job ends with: 1 if every failed rank found a problem, else 2.
    pub status: u8,
}

/// What a rank that failed tells the others at a sync point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The exit status it would end with on its own: 1 found a problem, 2 could not run.
    pub status: u8,
    /// Why, on one line.
    pub reason: String,
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

    /// A sync point: every rank says how its step went; all get `Err` when any failed,
    /// naming the lowest rank among those with the highest status (a rank that could not run
    /// before one that found a problem). Collective.
    fn agree(&self, mine: Result<(), Failed>) -> Result<(), RankFailure> {
        // Nothing for success; else the status byte, then the reason.
        let said = match &mine {
            Ok(()) => Vec::new(),
            Err(Failed { status, reason }) => {
                let reason = if reason.is_empty() { "failed" } else { reason };
                [&[(*status).max(1)], reason.as_bytes()].concat()
            }
        };
        let all = self.all_gather(&said);
        let failed: Vec<(usize, u8, &[u8])> = all
            .iter()
            .enumerate()
            .filter_map(|(rank, s)| s.split_first().map(|(status, reason)| (rank, *status, reason)))
            .collect();
        let status = failed.iter().map(|f| f.1).max();
        let Some((rank, status, reason)) = failed.iter().find(|f| Some(f.1) == status) else { return Ok(()) };
        Err(RankFailure {
            rank: *rank as u32,
            host: self.host_of(*rank as u32).to_string(),
            reason: String::from_utf8_lossy(reason).into_owned(),
            others: failed.len() as u32 - 1,
            status: *status,
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
/// (with the `mpi` feature), else one process. `Err` holds the line to print, if any: without
/// the feature, a start as one of several tasks is refused, and task 0 alone says why (so that
/// N tasks print one line, not N).
pub fn start() -> Result<&'static dyn Ranks, Option<String>> {
    let launched = crate::launcher::detect_here();
    let ranks: Box<dyn Ranks> = match launched {
        None => Box::new(One::new()),
        #[cfg(feature = "mpi")]
        Some(l) => {
            crate::targets::cleanup::set_hasty();
            Box::new(crate::mpi::World::init(&l).map_err(Some)?)
        }
        #[cfg(not(feature = "mpi"))]
        Some(l) => return Err((l.rank == 0).then(|| crate::launcher::refusal(&l))),
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
/// line and ends the job with the agreed status; the others wait to be ended. `status` is
/// the exit status this rank's own failure would end a one-host run with.
pub fn fail_together(error: &anyhow::Error, one_line: &str, status: u8) -> ! {
    let ranks = current();
    let failure = match error.chain().find_map(|e| e.downcast_ref::<RankFailure>()) {
        Some(f) => f.clone(),
        None => {
            ranks.notice_failure();
            match ranks.agree(Err(Failed { status, reason: one_line.to_string() })) {
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
        ranks.abort(i32::from(failure.status));
    }
    loop {
        std::thread::park();
    }
}

/// Finishes MPI (see [`Ranks::finish`]) at the end of a command that went well: every target
/// is torn down and every result written by now, so a launcher that ends this rank from here
/// on cuts nothing short, and ends it quietly. (Open MPI's mpirun ends every rank still running
/// as soon as one exits non-zero, as rank 0 does after a campaign that found a divergence.)
pub fn finish_quietly() {
    quiet_on_termination();
    current().finish();
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

    fn said(status: u8, reason: &str) -> Vec<u8> {
        [&[status], reason.as_bytes()].concat()
    }

    #[test]
    fn agreement_names_the_lowest_failed_rank() {
        let ok = Three(vec![vec![], vec![], vec![]]);
        assert_eq!(ok.agree(Ok(())), Ok(()));
        let bad = Three(vec![vec![], said(2, "ext4: mount needs root"), said(2, "ENOSPC")]);
        let f = bad.agree(Ok(())).unwrap_err();
        assert_eq!(f.to_string(), "rank 1 on n1: ext4: mount needs root (and 1 other rank failed)");
        assert_eq!(f.status, 2);
        let alone = One::new().agree(Err(Failed { status: 2, reason: String::new() })).unwrap_err();
        assert_eq!((alone.reason.as_str(), alone.status), ("failed", 2));
        assert_eq!(bad.label(), "n1-1");
    }

    #[test]
    fn a_rank_that_could_not_run_outranks_a_problem_found() {
        let found = Three(vec![said(1, "verify: file f offset 0: bad"), vec![], vec![]]);
        let f = found.agree(Ok(())).unwrap_err();
        assert_eq!((f.rank, f.status, f.others), (0, 1, 0));
        let both = Three(vec![said(1, "verify: bad"), vec![], said(2, "ENOSPC")]);
        let f = both.agree(Ok(())).unwrap_err();
        assert_eq!((f.rank, f.status, f.reason.as_str(), f.others), (2, 2, "ENOSPC", 1));
    }
}
