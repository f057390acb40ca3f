//! fio's dedupe options end to end on a directory: the files jobs write hold the duplicate
//! 4 KiB blocks fio's would — the share `dedupe_percentage` asks for, repeats only of
//! working-set blocks with `dedupe_mode=working_set`, blocks shared between two jobs' files
//! with `dedupe_global` and none without — the same counts for the same seed.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use harness::runner::Progress;
use harness::runner::group::{groups, run_group};
use harness::targets::{self, FsimplDefaults, PoolCache, TargetSpec};
use workloads::JobFile;

const BS: usize = 4096;

/// Runs the jobs of `text` together on a directory; returns it.
fn run(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = TargetSpec::parse(&format!("dir:path={}", dir.path().display())).unwrap();
    let t = targets::build(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap();
    let jobs = JobFile::parse(text, "dedupe.fio", false).unwrap_or_else(|e| panic!("{e}")).jobs;
    let g = groups(&jobs);
    assert_eq!(g.len(), 1);
    let progress: Vec<Progress> = jobs.iter().map(|_| Progress::default()).collect();
    run_group(&g[0], t.as_ref(), &progress, &vec![0; jobs.len()]).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// How often each 4 KiB block of `file` occurs in it.
fn blocks(file: &Path) -> HashMap<Vec<u8>, usize> {
    let data = std::fs::read(file).unwrap();
    assert_eq!(data.len() % BS, 0);
    let mut count = HashMap::new();
    for b in data.chunks(BS) {
        *count.entry(b.to_vec()).or_default() += 1;
    }
    count
}

/// Blocks that are copies of another: all blocks less the distinct ones.
fn duplicates(count: &HashMap<Vec<u8>, usize>) -> usize {
    count.values().sum::<usize>() - count.len()
}

/// Whether `dups` of `n` buffers is within four standard deviations of `p` percent (fio draws
/// each buffer's fate alone, with probability p/100).
fn near(dups: usize, n: usize, p: f64) -> bool {
    let mean = n as f64 * p / 100.0;
    (dups as f64 - mean).abs() <= 4.0 * (mean * (1.0 - p / 100.0)).sqrt()
}

const JOB: &str = "[global]\nrw=write\nbs=4k\nsize=8m\nrandseed=7\nioengine=libaio\niodepth=8\n";

#[test]
fn repeat_duplicates_the_share_asked() {
    let dir = run(&format!("{JOB}dedupe_percentage=30\n[r]\n"));
    let count = blocks(&dir.path().join("r.0.0"));
    let dups = duplicates(&count);
    assert_eq!(dups, 641);
    assert!(near(dups, 2048, 30.0), "{dups}");
    // Without dedupe_percentage every block is its own (fio's scramble_buffers).
    let dir = run(&format!("{JOB}[p]\n"));
    assert_eq!(duplicates(&blocks(&dir.path().join("p.0.0"))), 0);
}

#[test]
fn working_set_repeats_only_working_set_blocks() {
    // 10% of 8 MiB: a working set of 204 blocks, written as the job's first unique ones.
    let ws = "dedupe_mode=working_set\ndedupe_percentage=40\ndedupe_working_set_percentage=10\n\
              buffer_compress_percentage=50\n";
    let dir = run(&format!("{JOB}{ws}[w]\n"));
    let count = blocks(&dir.path().join("w.0.0"));
    let repeated = count.values().filter(|&&n| n > 1).count();
    let dups = duplicates(&count);
    assert_eq!((count.len(), repeated, dups), (1207, 198, 841));
    assert!(repeated <= 204, "{repeated} blocks repeat: more than the working set");
    assert!(near(dups, 2048, 40.0), "{dups}");
    // A duplicate is byte-exact, compression included: half of each 512-byte chunk is zeros.
    assert!(count.keys().all(|b| b.chunks(512).all(|c| c[256..].iter().all(|&x| x == 0))));
}

#[test]
fn dedupe_global_shares_blocks_between_files() {
    let shared = |global: &str| {
        let text = format!(
            "{JOB}dedupe_mode=working_set\ndedupe_percentage=50\ndedupe_working_set_percentage=50\n{global}[a]\n[b]\n"
        );
        let dir = run(&text);
        let a: HashSet<Vec<u8>> = blocks(&dir.path().join("a.0.0")).into_keys().collect();
        let b = blocks(&dir.path().join("b.0.0"));
        b.iter().filter(|(blk, _)| a.contains(*blk)).map(|(_, n)| n).sum::<usize>()
    };
    assert_eq!(shared(""), 0);
    assert_eq!(shared("dedupe_global=1\n"), 1157);
}
