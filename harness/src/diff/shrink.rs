//! Shrinking a diverging trace: delta debugging (Zeller's ddmin) drops ops, runs of ops that
//! only mattered for the writeback they caused become one fsync or remount, then lengths,
//! offsets and sizes are made smaller, as long as the trace still diverges the same way.
//! Each attempt is one call of the caller's test (which replays on freshly built targets).

use std::time::Instant;
use workloads::{FallocMode, Op};

/// When to stop trying.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Stop starting attempts after this moment.
    pub deadline: Instant,
    /// Stop after this many attempts.
    pub max_attempts: u64,
}

/// The smallest trace found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The ops.
    pub ops: Vec<Op>,
    /// Replays tried.
    pub attempts: u64,
    /// Whether shrinking ran to its end (false: the budget ran out first).
    pub complete: bool,
}

struct Shrinker<'a, E> {
    test: &'a mut dyn FnMut(&[Op]) -> Result<bool, E>,
    budget: Budget,
    attempts: u64,
    out_of_budget: bool,
    /// Alignment of collapse/insert offsets and lengths.
    align: u64,
}

impl<E> Shrinker<'_, E> {
    /// Whether `ops` still diverges the same way (false once the budget is spent).
    fn holds(&mut self, ops: &[Op]) -> Result<bool, E> {
        if self.attempts >= self.budget.max_attempts || Instant::now() >= self.budget.deadline {
            self.out_of_budget = true;
            return Ok(false);
        }
        self.attempts += 1;
        (self.test)(ops)
    }

    /// The shortest suffix of `ops`, of 1, 2, 4... ops, that still diverges (else `ops`):
    /// a divergence usually needs only the ops shortly before it, and trying short suffixes
    /// first costs about one replay of the whole trace, where ddmin's first halves of a
    /// 20,000-op trace each cost half of one.
    fn suffix(&mut self, ops: Vec<Op>) -> Result<Vec<Op>, E> {
        let mut len = 1;
        while len < ops.len() && !self.out_of_budget {
            if self.holds(&ops[ops.len() - len..])? {
                return Ok(ops[ops.len() - len..].to_vec());
            }
            len *= 2;
        }
        Ok(ops)
    }

    /// ddmin: the trace split in `n` parts; keep one part, or drop one, when that still
    /// diverges; otherwise split finer.
    fn ddmin(&mut self, mut ops: Vec<Op>) -> Result<Vec<Op>, E> {
        let mut n = 2usize;
        while ops.len() >= 2 && !self.out_of_budget {
            let parts = split(ops.len(), n);
            let mut reduced = false;
            for &(a, b) in &parts {
                if self.holds(&ops[a..b])? {
                    ops = ops[a..b].to_vec();
                    n = 2;
                    reduced = true;
                    break;
                }
            }
            if !reduced && n > 2 {
                for &(a, b) in &parts {
                    let rest: Vec<Op> = ops[..a].iter().chain(&ops[b..]).cloned().collect();
                    if self.holds(&rest)? {
                        ops = rest;
                        n = (n - 1).max(2);
                        reduced = true;
                        break;
                    }
                }
            }
            if !reduced {
                if n >= ops.len() {
                    break;
                }
                n = (2 * n).min(ops.len());
            }
        }
        Ok(ops)
    }

    /// Replaces runs of ops by one sync op — an fsync of a file the run touched, or a
    /// remount — where the trace still diverges: writes that mattered only because together
    /// they passed the dirty threshold and started writeback (or reclaim) give way to the
    /// sync that does the same in one op. Wide runs first, non-overlapping at each width;
    /// returns whether any was replaced.
    fn sync_runs(&mut self, ops: &mut Vec<Op>) -> Result<bool, E> {
        let mut changed = false;
        let mut width = ops.len() / 2;
        while width >= 2 && !self.out_of_budget {
            let mut a = 0;
            while a + width <= ops.len() && !self.out_of_budget {
                let mut replaced = false;
                for sync in syncs_for(&ops[a..a + width]) {
                    let trial: Vec<Op> =
                        ops[..a].iter().cloned().chain([sync]).chain(ops[a + width..].iter().cloned()).collect();
                    if self.holds(&trial)? {
                        *ops = trial;
                        changed = true;
                        replaced = true;
                        break;
                    }
                }
                a += if replaced { 1 } else { width };
            }
            width /= 2;
        }
        Ok(changed)
    }

    /// Makes each number of each op smaller while the divergence holds; returns whether any
    /// changed.
    fn shrink_numbers(&mut self, ops: &mut [Op]) -> Result<bool, E> {
        let mut changed = false;
        for i in 0..ops.len() {
            for field in 0..2 {
                while !self.out_of_budget {
                    let Some(value) = get(&ops[i], field, self.align) else { break };
                    let mut improved = false;
                    for v in candidates(value.value, value.min, value.unit) {
                        let mut trial = ops.to_vec();
                        set(&mut trial[i], field, v);
                        if self.holds(&trial)? {
                            ops[i] = trial[i].clone();
                            changed = true;
                            improved = true;
                            break;
                        }
                    }
                    if !improved {
                        break;
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// The sync ops that may stand for `run`: an fsync of each file it touches (the last touched
/// first), then a remount; none when the run holds a power cut (a sync cannot stand for one).
fn syncs_for(run: &[Op]) -> Vec<Op> {
    if run.iter().any(|op| matches!(op, Op::PowerCut { .. })) {
        return Vec::new();
    }
    let mut files: Vec<u32> = Vec::new();
    for file in run.iter().rev().filter_map(Op::file) {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    files.into_iter().map(|file| Op::Fsync { file }).chain([Op::Remount]).collect()
}

/// `n` contiguous parts of `0..len`, as (start, end).
fn split(len: usize, n: usize) -> Vec<(usize, usize)> {
    (0..n).map(|k| (k * len / n, (k + 1) * len / n)).filter(|(a, b)| a < b).collect()
}

/// A number of an op that can shrink: its value, its floor and its step.
struct Field {
    value: u64,
    min: u64,
    unit: u64,
}

/// Field 0 is the length (the size of a truncate), field 1 the offset.
fn get(op: &Op, field: u8, align: u64) -> Option<Field> {
    let plain = |value, min| Some(Field { value, min, unit: 1 });
    match (op, field) {
        (&Op::Read { len, .. } | &Op::Write { len, .. }, 0) => plain(len, 1),
        (&Op::Read { offset, .. } | &Op::Write { offset, .. }, 1) => plain(offset, 0),
        (&Op::Truncate { size, .. }, 0) => plain(size, 0),
        (&Op::Fallocate { mode: FallocMode::CollapseRange | FallocMode::InsertRange, len, .. }, 0) => {
            Some(Field { value: len, min: align, unit: align })
        }
        (&Op::Fallocate { mode: FallocMode::CollapseRange | FallocMode::InsertRange, offset, .. }, 1) => {
            Some(Field { value: offset, min: 0, unit: align })
        }
        (&Op::Fallocate { len, .. }, 0) => plain(len, 1),
        (&Op::Fallocate { offset, .. }, 1) => plain(offset, 0),
        (&Op::PowerCut { after_writes }, 0) => plain(after_writes, 0),
        _ => None,
    }
}

fn set(op: &mut Op, field: u8, v: u64) {
    match (op, field) {
        (Op::Read { len, .. } | Op::Write { len, .. } | Op::Fallocate { len, .. }, 0) => *len = v,
        (Op::Truncate { size, .. }, 0) => *size = v,
        (Op::PowerCut { after_writes }, 0) => *after_writes = v,
        (Op::Read { offset, .. } | Op::Write { offset, .. } | Op::Fallocate { offset, .. }, 1) => *offset = v,
        _ => {}
    }
}

/// Smaller values to try for `value`, the most ambitious first: the floor, round numbers
/// (64K, 4K, 1K, 512 multiples below it), then `value` minus halving steps — all multiples
/// of `unit`.
fn candidates(value: u64, min: u64, unit: u64) -> Vec<u64> {
    let unit = unit.max(1);
    let mut out = Vec::new();
    let mut push = |v: u64| {
        if v >= min && v < value && v.is_multiple_of(unit) && !out.contains(&v) {
            out.push(v);
        }
    };
    push(min);
    for round in [64 << 10, 4096, 1024, 512] {
        push(value / round * round);
    }
    let mut step = (value - min.min(value)) / 2;
    while step >= unit {
        push((value - step) / unit * unit);
        step /= 2;
    }
    push(value.saturating_sub(unit));
    out
}

/// Shrinks `ops`, which `test` says diverges, to a smaller trace that `test` still accepts:
/// the shortest suffix of a power-of-two length that does, then ddmin over the ops, runs replaced by a sync, then smaller numbers, repeated while any
/// helps. `align` is the step
/// of collapse/insert ranges. An error from `test` stops shrinking and is returned.
pub fn shrink<E>(
    ops: Vec<Op>,
    align: u64,
    budget: Budget,
    test: &mut dyn FnMut(&[Op]) -> Result<bool, E>,
) -> Result<Shrunk, E> {
    let mut s = Shrinker { test, budget, attempts: 0, out_of_budget: false, align: align.max(1) };
    let mut ops = s.suffix(ops)?;
    loop {
        ops = s.ddmin(ops)?;
        // A sync in place of a run, or smaller numbers, may let more ops go: another round
        // while they change.
        let synced = s.sync_runs(&mut ops)?;
        if s.out_of_budget {
            break;
        }
        let smaller = s.shrink_numbers(&mut ops)?;
        if !(synced || smaller) || s.out_of_budget {
            break;
        }
    }
    Ok(Shrunk { ops, attempts: s.attempts, complete: !s.out_of_budget })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget() -> Budget {
        Budget { deadline: Instant::now() + Duration::from_secs(60), max_attempts: 100_000 }
    }

    fn w(offset: u64, len: u64, tag: u64) -> Op {
        Op::Write { file: 0, offset, len, tag }
    }

    #[test]
    fn ddmin_keeps_the_ops_that_matter_and_numbers_shrink() {
        // "Diverges" when a write tagged 7 is followed (anywhere later) by a remount and a
        // read reaching past 5000.
        let mut ops: Vec<Op> = (1..=500).map(|t| w(t * 10, 100, t)).collect();
        ops.insert(300, Op::Remount);
        ops.push(Op::Read { file: 0, offset: 4000, len: 3000 });
        let mut test = |ops: &[Op]| -> Result<bool, ()> {
            let seven = ops.iter().position(|o| matches!(o, Op::Write { tag: 7, .. }));
            let remount = ops.iter().rposition(|o| matches!(o, Op::Remount));
            let read = ops.iter().rposition(|o| matches!(o, Op::Read { offset, len, .. } if offset + len > 5000));
            Ok(matches!((seven, remount, read), (Some(a), Some(b), Some(c)) if a < b && b < c))
        };
        let shrunk = shrink(ops, 4096, budget(), &mut test).unwrap();
        assert!(shrunk.complete);
        assert_eq!(shrunk.ops.len(), 3, "{:?}", shrunk.ops);
        assert_eq!(shrunk.ops[0], w(0, 1, 7));
        assert_eq!(shrunk.ops[1], Op::Remount);
        assert_eq!(shrunk.ops[2], Op::Read { file: 0, offset: 4000, len: 1001 });
    }

    #[test]
    fn a_run_of_writes_that_only_started_writeback_becomes_one_fsync() {
        // "Diverges" when the block written by tag 7 reached the disk before a read: by a
        // sync after it, or by 20 later writes (the dirty threshold) — as a lost i_disksize
        // update shows only once writeback allocated the EOF block.
        let mut ops: Vec<Op> = (1..=40).map(|t| w(t * 100, 10, t)).collect();
        ops.push(Op::Read { file: 0, offset: 0, len: 1 });
        let mut test = |ops: &[Op]| -> Result<bool, ()> {
            let Some(seven) = ops.iter().position(|o| matches!(o, Op::Write { tag: 7, .. })) else { return Ok(false) };
            let after = &ops[seven + 1..];
            let written = after.iter().any(|o| matches!(o, Op::Fsync { file: 0 } | Op::Remount))
                || after.iter().filter(|o| matches!(o, Op::Write { .. })).count() >= 20;
            Ok(written && matches!(ops.last(), Some(Op::Read { .. })))
        };
        let shrunk = shrink(ops, 4096, budget(), &mut test).unwrap();
        assert!(shrunk.complete);
        assert_eq!(shrunk.ops, vec![w(0, 1, 7), Op::Fsync { file: 0 }, Op::Read { file: 0, offset: 0, len: 1 }]);
    }

    #[test]
    fn a_short_suffix_is_tried_before_ddmin_halves_the_trace() {
        // "Diverges" when the trace ends with a write tagged 9990 and a remount; every attempt
        // is counted by the ops it replays.
        let mut ops: Vec<Op> = (1..=10_000).map(|t| w(t, 1, t)).collect();
        ops.insert(9990, Op::Remount);
        let mut replayed = 0usize;
        let mut test = |ops: &[Op]| -> Result<bool, ()> {
            replayed += ops.len();
            let at = ops.iter().position(|o| matches!(o, Op::Write { tag: 9990, .. }));
            Ok(at.is_some_and(|a| ops[a + 1..].contains(&Op::Remount)))
        };
        let shrunk = shrink(ops, 4096, budget(), &mut test).unwrap();
        assert_eq!(shrunk.ops, vec![w(0, 1, 9990), Op::Remount]);
        assert!(replayed < 1000, "{replayed} ops replayed");
    }

    #[test]
    fn candidates_stay_aligned_and_below() {
        let c = candidates(40960, 4096, 4096);
        assert!(c.iter().all(|v| v % 4096 == 0 && *v < 40960 && *v >= 4096), "{c:?}");
        assert_eq!(c[0], 4096);
        assert!(candidates(5, 5, 1).is_empty());
        assert_eq!(candidates(1, 0, 1), vec![0]);
    }

    #[test]
    fn an_exhausted_budget_stops_with_what_it_has() {
        let ops: Vec<Op> = (1..=100).map(|t| w(t, 1, t)).collect();
        let b = Budget { deadline: Instant::now() + Duration::from_secs(60), max_attempts: 3 };
        let shrunk = shrink(ops, 4096, b, &mut |_: &[Op]| -> Result<bool, ()> { Ok(false) }).unwrap();
        assert!(!shrunk.complete);
        assert_eq!(shrunk.attempts, 3);
        assert_eq!(shrunk.ops.len(), 100);
    }
}
