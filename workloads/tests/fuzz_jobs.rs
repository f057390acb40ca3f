//! Fuzzing the job-file parser (and fio options on the command line) with arbitrary text and
//! with mutations of the shipped jobs: no panic, every error one line, and a job that parses
//! plans its threads and starts its op streams without panicking.

mod common;

use common::{cases, mutate, one_line, plain_lines};
use proptest::prelude::*;
use workloads::fio::supported_options;
use workloads::{JobFile, jobs};

/// Parses `text`; on success, exercises what a run does with the jobs, bounded in memory.
fn check(text: &str) {
    for lenient in [false, true] {
        match JobFile::parse(text, "fuzz.fio", lenient) {
            Err(e) => plain_lines("job file", &e.to_string()),
            Ok(file) => exercise(&file),
        }
    }
}

fn exercise(file: &JobFile) {
    for w in &file.warnings {
        one_line("warning", &w.to_string());
    }
    for job in &file.jobs {
        let _ = job.to_fio();
        // A run's planning, for jobs small enough to plan here: the random map takes a bit per
        // block, every thread its own.
        let threads = u64::from(job.numjobs.max(1)) * u64::from(job.files_per_thread());
        let map_blocks = if job.uses_random_map() { job.region_len() / job.block_align().max(1) } else { 0 };
        if threads > 64 || map_blocks.saturating_mul(threads) > 1 << 24 {
            continue;
        }
        for plan in job.threads() {
            let _ = plan.ops.planned_bytes();
            for op in plan.ops.take(64) {
                let _ = workloads::trace::to_line(&op);
            }
        }
    }
}

/// Option lines, some valid and some not, from the supported names.
fn option_line() -> impl Strategy<Value = String> {
    (prop::sample::select(supported_options().collect::<Vec<_>>()), "[ -~]{0,24}")
        .prop_map(|(name, value)| format!("{name}={value}\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(3000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_shipped_jobs_never_panic(
        job in prop::sample::select(jobs::BUILTIN),
        edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..10),
    ) {
        check(&mutate(job.1, &edits));
    }

    #[test]
    fn random_option_lines_never_panic(lines in prop::collection::vec(option_line(), 0..12), section in "[a-z]{1,4}") {
        check(&format!("[global]\nsize=1m\n[{section}]\n{}", lines.concat()));
    }

    #[test]
    fn command_line_options_never_panic(args in prop::collection::vec(
        prop_oneof![
            option_line().prop_map(|l| format!("--{}", l.trim_end())),
            "\\PC{0,20}",
            Just("--name=j".to_string()),
        ],
        0..8,
    )) {
        match JobFile::from_args(&args, false) {
            Err(e) => plain_lines("command line", &e.to_string()),
            Ok(file) => exercise(&file),
        }
    }
}
