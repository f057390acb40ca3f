//! fio's latencies per I/O priority (`struct clat_prio_stat`, `stat.c`). With cmdprio a
//! thread keeps, per direction, the completion latencies (the total latencies under
//! `lat_percentiles`) of each priority its I/Os went out with; a report sums its threads'
//! as fio's `sum_clat_prio_stats` does, and `fio.json` lists them under `prios` when two or
//! more have samples (`add_ddir_status_json`).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::recorder::OpRecord;

/// The latencies of the I/Os of one priority.
#[derive(Clone, Debug, PartialEq)]
pub struct PrioLat {
    /// The priority as the kernel packs it: class in bits 13-15, hint in 3-12, level in 0-2.
    pub ioprio: u16,
    /// Completion latencies (total latencies under `lat_percentiles`), ns.
    pub histogram: Histogram<u64>,
}

impl PrioLat {
    /// `IOPRIO_PRIO_CLASS`.
    pub fn class(&self) -> u16 {
        self.ioprio >> 13
    }

    /// `IOPRIO_PRIO_LEVEL`.
    pub fn level(&self) -> u16 {
        self.ioprio & 7
    }

    /// `IOPRIO_PRIO_HINT`.
    pub fn hint(&self) -> u16 {
        (self.ioprio >> 3) & 0x3ff
    }
}

/// Per direction, reads then writes: the priorities in fio's order, each with its latencies.
pub type DirPrios = [Vec<PrioLat>; 2];

/// What one thread measured by priority.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadPrios {
    /// The thread's own priority (fio's `td->ioprio`: `prio`, `prioclass`, `priohint`; 0
    /// when none is set).
    pub ioprio: u16,
    /// Per direction, the latencies by priority when cmdprio chose per I/O (fio's
    /// `ts->clat_prio`, the thread's own priority first); `None`: every I/O had `ioprio`.
    pub dirs: [Option<Vec<PrioLat>>; 2],
}

impl ThreadPrios {
    /// Adds a later repetition of the same thread.
    pub fn add(&mut self, later: &ThreadPrios) {
        for (mine, theirs) in self.dirs.iter_mut().zip(&later.dirs) {
            match (mine.as_mut(), theirs) {
                (Some(m), Some(t)) => add_all(m, t),
                (None, Some(t)) => *mine = Some(t.clone()),
                _ => {}
            }
        }
    }
}

/// fio's `alloc_or_get_clat_prio_index` and `clat_prio_stat_add_samples`: `h` joins the entry
/// of `ioprio`, appended if the list has none.
fn add_into(list: &mut Vec<PrioLat>, ioprio: u16, h: &Histogram<u64>) {
    match list.iter_mut().find(|p| p.ioprio == ioprio) {
        // Both histograms have the crate's bounds, so adding cannot fail.
        Some(p) => {
            let _ = p.histogram.add(h);
        }
        None => list.push(PrioLat { ioprio, histogram: h.clone() }),
    }
}

/// Adds every entry of `other` to `list` by priority.
pub fn add_all(list: &mut Vec<PrioLat>, other: &[PrioLat]) {
    for p in other {
        add_into(list, p.ioprio, &p.histogram);
    }
}

/// The per-priority latencies of one report of `threads` (each with its records per op
/// kind), as fio's `init_per_prio_stats` and `sum_clat_prio_stats` make them: `None` when fio
/// leaves them out, every thread having the same priority and none cmdprio. A thread without
/// cmdprio in a direction adds all its I/Os of that direction under its own priority: its
/// `read` or `write` completion latencies, or its total latencies under `lat_percentiles`.
pub fn report_prios<'a>(
    threads: impl IntoIterator<Item = (&'a ThreadPrios, &'a BTreeMap<String, OpRecord>)>,
    lat_percentiles: bool,
) -> Option<DirPrios> {
    let threads: Vec<_> = threads.into_iter().collect();
    let first = threads.first()?.0.ioprio;
    let differ = threads.iter().any(|(p, _)| p.ioprio != first);
    let cmdprio = threads.iter().any(|(p, _)| p.dirs.iter().any(Option::is_some));
    if !differ && !cmdprio {
        return None;
    }
    let mut out: DirPrios = [Vec::new(), Vec::new()];
    for (prios, records) in threads {
        for (d, op) in ["read", "write"].into_iter().enumerate() {
            match &prios.dirs[d] {
                Some(list) => add_all(&mut out[d], list),
                None => {
                    let empty = OpRecord::default();
                    let r = records.get(op).unwrap_or(&empty);
                    let h = if lat_percentiles { r.total_latency() } else { &r.histogram };
                    add_into(&mut out[d], prios.ioprio, h);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{OpRecorder, new_histogram};

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn records(read_lat: &[u64]) -> BTreeMap<String, OpRecord> {
        let mut r = OpRecorder::new();
        for &l in read_lat {
            r.record(1, l, 4096);
        }
        BTreeMap::from([("read".to_string(), r.finish())])
    }

    #[test]
    fn one_priority_everywhere_gives_no_per_priority_stats() {
        let t = ThreadPrios { ioprio: 0x6000, dirs: [None, None] };
        let r = records(&[100]);
        assert_eq!(report_prios([(&t, &r), (&t, &r)], false), None);
    }

    #[test]
    fn threads_of_different_priorities_sum_by_priority() {
        let a = ThreadPrios { ioprio: 0x6000, dirs: [None, None] };
        let b = ThreadPrios { ioprio: 0x2000, dirs: [None, None] };
        let (ra, rb) = (records(&[100, 200]), records(&[300]));
        let p = report_prios([(&a, &ra), (&b, &rb), (&a, &ra)], false).unwrap();
        let read: Vec<(u16, u64)> = p[0].iter().map(|e| (e.ioprio, e.histogram.len())).collect();
        assert_eq!(read, [(0x6000, 4), (0x2000, 1)]);
        assert_eq!(p[1].iter().map(|e| e.histogram.len()).sum::<u64>(), 0, "no writes");
    }

    #[test]
    fn cmdprio_threads_keep_their_entries_in_order() {
        let c = ThreadPrios {
            ioprio: 0,
            dirs: [
                Some(vec![
                    PrioLat { ioprio: 0, histogram: hist(&[5]) },
                    PrioLat { ioprio: 0x2001, histogram: hist(&[1, 2]) },
                ]),
                None,
            ],
        };
        let plain = ThreadPrios::default();
        let (rc, rp) = (records(&[5, 1, 2]), records(&[7]));
        let p = report_prios([(&c, &rc), (&plain, &rp)], false).unwrap();
        let read: Vec<(u16, u64)> = p[0].iter().map(|e| (e.ioprio, e.histogram.len())).collect();
        assert_eq!(read, [(0, 2), (0x2001, 2)]);
        let mut again = c.clone();
        again.add(&c);
        assert_eq!(again.dirs[0].as_ref().unwrap()[1].histogram.len(), 4);
        let e = &p[0][1];
        assert_eq!((e.class(), e.level(), e.hint()), (1, 1, 0));
    }
}
