//! What a diff exercised in the fsimpl targets, from their counters: the paths where classes
//! of bugs live (reclaim, background writeback, read-before-write, partial-block zeroing,
//! unwritten conversion, per-folio state, the flusher's work, folios of more than 64 blocks),
//! and a named hint for each path a target never took.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One target's counters at the end of a run.
#[derive(Clone, Debug)]
pub struct TargetCounters {
    /// Its short name in the diff.
    pub name: String,
    /// Its kind (`bh`, `iomap`, `tmpfs`, ...).
    pub kind: String,
    /// Its normalised spec.
    pub spec: String,
    /// Its counters.
    pub counters: BTreeMap<String, u64>,
}

/// A path and how a run shows it.
struct Path {
    /// Column header.
    header: &'static str,
    /// The counter.
    counter: &'static str,
    /// What to say when a target never took it.
    never: &'static str,
}

const PATHS: [Path; 7] = [
    Path {
        header: "reclaimed",
        counter: "evicted_folios",
        never: "reclaim never ran: lower cache= (below the largest file) or raise --file-len",
    },
    Path {
        header: "flusher",
        counter: "flusher_passes",
        never: "the flusher never ran: lower cache= or raise --file-len (dirty data stayed under \
                dirty_background_ratio of the cache and reclaim never woke it)",
    },
    Path {
        header: "wb passes",
        counter: "writeback_passes",
        never: "background writeback never ran: lower cache= or raise --file-len (dirty data stayed under \
                dirty_background_ratio of the cache)",
    },
    Path {
        header: "rmw reads",
        counter: "rmw_reads",
        never: "no write read a block before overwriting part of it: use byte-aligned ops (--align 1) and \
                remount or drop_caches in the mix",
    },
    Path {
        header: "part. zero",
        counter: "partial_block_zeroes",
        never: "no partial block was zeroed: use byte-aligned ops (--align 1)",
    },
    Path {
        header: "unwr. conv",
        counter: "end_io_map",
        never: "no unwritten extent was converted: give fallocate weight (--weights)",
    },
    Path {
        header: "folio states",
        counter: "private_allocs",
        never: "no per-folio state was allocated (buffer heads, or iomap's bitmaps of a partly uptodate or \
                dirty folio): use byte-aligned ops smaller than a folio",
    },
];

/// Bitmaps of more than this many bits span more than one machine word.
const WORD_BITS: u64 = 64;

/// The fsimpl spec of a target, if its spec reads as one.
fn fsimpl_spec(t: &TargetCounters) -> Option<vocab::target::FsimplSpec> {
    match t.spec.parse::<vocab::TargetSpec>() {
        Ok(vocab::TargetSpec::Fsimpl(f)) => Some(f),
        _ => None,
    }
}

fn block_size(t: &TargetCounters) -> u64 {
    fsimpl_spec(t).and_then(|f| f.aops.block_size).map_or(4096, vocab::Size::bytes)
}

/// Whether the target may use large folios (iomap always; bh with `large_folios=1`).
fn large_folios(t: &TargetCounters) -> bool {
    t.kind == "iomap" || fsimpl_spec(t).and_then(|f| f.aops.large_folios).unwrap_or(false)
}

/// The largest folio a target allocated, in bytes (0: none).
fn largest_folio(c: &BTreeMap<String, u64>) -> u64 {
    (0..=fsimpl::stats::MAX_FOLIO_ORDER)
        .rev()
        .find(|o| c.get(&format!("folios_order{o}")).copied().unwrap_or(0) > 0)
        .map_or(0, |o| 4096 << o)
}

fn size_text(bytes: u64) -> String {
    vocab::Size(bytes).to_string()
}

/// The coverage table of the fsimpl targets among `targets`, and one line per path a target
/// never took; empty when there is no fsimpl target.
pub fn render(targets: &[TargetCounters]) -> String {
    let fsimpl: Vec<&TargetCounters> = targets.iter().filter(|t| t.kind == "bh" || t.kind == "iomap").collect();
    if fsimpl.is_empty() {
        return String::new();
    }
    let width = fsimpl.iter().map(|t| t.name.len()).max().unwrap_or(0).max(8);
    let mut out = String::new();
    let _ = write!(out, "  {:<width$}", "coverage");
    for p in &PATHS {
        let _ = write!(out, " {:>12}", p.header);
    }
    let _ = writeln!(out, " {:>18}", "largest folio");
    let mut never = Vec::new();
    for t in &fsimpl {
        let _ = write!(out, "  {:<width$}", t.name);
        for p in &PATHS {
            let n = t.counters.get(p.counter).copied().unwrap_or(0);
            let _ = write!(out, " {n:>12}");
            if n == 0 {
                never.push(format!("{}: {}", t.name, p.never));
            }
        }
        let largest = largest_folio(&t.counters);
        let blocks = largest / block_size(t);
        let _ = writeln!(out, " {:>18}", format!("{} ({blocks} blocks)", size_text(largest)));
        if large_folios(t) && blocks <= WORD_BITS {
            never.push(format!(
                "{}: no folio held more than {WORD_BITS} blocks (per-block bitmaps past one word never ran): raise \
                 --op-len and --file-len to 1m or more",
                t.name
            ));
        }
    }
    for line in never {
        let _ = writeln!(out, "  not exercised: {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, kind: &str, spec: &str, counters: &[(&str, u64)]) -> TargetCounters {
        TargetCounters {
            name: name.into(),
            kind: kind.into(),
            spec: spec.into(),
            counters: counters.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn paths_never_taken_are_named_with_what_to_change() {
        let all: Vec<(&str, u64)> = PATHS.iter().map(|p| (p.counter, 7)).chain([("folios_order7", 1)]).collect();
        let targets = [
            target("iomap", "iomap", "iomap:block_size=1k:max_folio=2m:flusher=thread", &all),
            target(
                "bh",
                "bh",
                "bh:block_size=4k:large_folios=0:flusher=inline",
                &[("rmw_reads", 3), ("folios_order0", 9)],
            ),
            target("tmpfs", "tmpfs", "tmpfs", &[]),
        ];
        let out = render(&targets);
        assert!(out.contains("512k (512 blocks)") && out.contains("4k (1 blocks)"), "{out}");
        assert!(!out.contains("not exercised: iomap"), "{out}");
        assert!(out.contains("not exercised: bh: reclaim never ran: lower cache="), "{out}");
        assert!(!out.contains("bh: no folio held"), "bh without large folios is not asked for them: {out}");
        assert!(out.contains("not exercised: bh: the flusher never ran"), "{out}");
        assert!(!out.contains("tmpfs"), "{out}");
        let small = [target("iomap", "iomap", "iomap:block_size=4k", &[("folios_order4", 1)])];
        assert!(render(&small).contains("iomap: no folio held more than 64 blocks"));
        assert!(render(&small).contains("iomap: the flusher never ran: lower cache="));
        assert_eq!(render(&targets[2..]), "");
    }
}
