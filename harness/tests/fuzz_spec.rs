//! Fuzzing the target-spec parser with arbitrary text and mutations of valid specs: parsing a
//! spec, resolving an fsimpl target's parameters (`FsimplConfig`) or a kernel target's
//! (`MountConfig`, its faults in bytes), `faults=` lists and sizes never panic, every error is
//! one line, and a spec prints back to itself. Nothing is created: a spec is only read (making
//! a target from a fuzzed `backing=` could write anywhere).

use harness::targets::faults::FaultSpec;
use harness::targets::{FsimplConfig, FsimplDefaults, MountConfig, TargetSpec};
use proptest::prelude::*;
use vocab::Size;
use vocab::target::FaultList;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn one_line(what: &str, message: &str) {
    assert!(!message.trim().is_empty(), "{what}: empty error message");
    let bad = message.chars().find(|&c| c.is_control() && c != '\t');
    assert!(bad.is_none(), "{what}: error is not one plain line: {message:?}");
}

const VALID: &[&str] = &[
    "bh",
    "iomap:backing=mem",
    "bh:block_size=1024:max_folio=64k:large_folios=1:cache=64m:writeback=dontcache:engine=psync:qd=8",
    "iomap:size=1g:poison=1:bug=skip_unwritten_conversion",
    "bh:backing=mem:faults=read=5,write=10+,range=1000-1010,short=3@8k,enospc=100,powercut=50",
    "ext4:opts=noatime,data=ordered:size=512m:backing=/var/tmp:mkfs_opts=-b 1024",
    "xfs:size=300m",
    "ext4:size=256m:mkfs_opts=-b 65536:dev=logged:faults=read=5,write=10+,range=1000-1010,short=3@8k,powercut=50",
    "xfs:dev=image",
    "tmpfs:size=64m",
    "dir:path=/tmp",
    "null",
];

const TOKENS: &[&str] = &[
    ":",
    "::",
    "=",
    "==",
    ",",
    "-",
    "+",
    "@",
    "0",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "k",
    "m",
    "g",
    "t",
    "p",
    "KiB",
    "b",
    "\n",
    "\r",
    "\0",
    "é",
    " ",
    "mem",
    "dev=",
    "logged",
    "image",
    "-b ",
    "faults=",
    "read=",
    "write=",
    "range=",
    "short=",
    "enospc=",
    "powercut=",
    "1-0",
    "0-18446744073709551615",
    "@4096",
    "+",
    "block_size=",
    "size=",
    "backing=",
    "cache=",
    "qd=",
    "bh:",
    "iomap:",
];

/// Inserts tokens, deletes spans and duplicates spans of `text` (see the workloads fuzzers).
fn mutate(text: &str, edits: &[(u8, u32, u32)]) -> String {
    let mut b = text.as_bytes().to_vec();
    for &(kind, at, arg) in edits {
        let at = if b.is_empty() { 0 } else { at as usize % (b.len() + 1) };
        match kind % 3 {
            0 => {
                let tok = TOKENS[arg as usize % TOKENS.len()].as_bytes();
                b.splice(at..at, tok.iter().copied());
            }
            1 => {
                let end = (at + 1 + arg as usize % 8).min(b.len());
                b.drain(at.min(end)..end);
            }
            _ => {
                let end = (at + 1 + arg as usize % 24).min(b.len());
                let span: Vec<u8> = b[at.min(end)..end].to_vec();
                b.splice(at..at, span);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Everything that reads a spec, short of making the target.
fn check(text: &str) {
    match text.parse::<TargetSpec>() {
        Err(e) => one_line("spec", &e.to_string()),
        Ok(spec) => {
            let printed = spec.to_string();
            assert_eq!(printed.parse::<TargetSpec>().ok(), Some(spec.clone()), "{printed} does not read back");
            for (_, v) in spec.params() {
                if let Err(e) = v.parse::<Size>() {
                    one_line("size", &e.to_string());
                }
                if let Err(e) = v.parse::<FaultList>() {
                    one_line("faults", &e.to_string());
                }
            }
            if let TargetSpec::Fsimpl(f) = &spec
                && let Err(e) = FsimplConfig::parse(f, &FsimplDefaults::default())
            {
                one_line("fsimpl spec", &e.to_string());
            }
            if let TargetSpec::Mount(m) = &spec {
                // What a kernel target is made from: its config, printed back in full, and the
                // served device's faults in bytes.
                let cfg = MountConfig::from_spec(m);
                let full = TargetSpec::Mount(cfg.spec());
                assert_eq!(
                    full.to_string().parse::<TargetSpec>().ok(),
                    Some(full.clone()),
                    "{full} does not read back"
                );
                let plan = FaultSpec::new(&cfg.faults, cfg.block_size()).plan;
                assert!(plan.bad_ranges.iter().all(|r| r.start < r.end), "{text}: {plan:?}");
            }
        }
    }
    // `--targets a,b`: each comma-separated item is a spec.
    for item in text.split(',') {
        if let Err(e) = item.parse::<TargetSpec>() {
            one_line("--targets", &e.to_string());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(3000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,120}") {
        check(&text);
    }

    #[test]
    fn spec_like_text_never_panics(
        kind in prop::sample::select(&["bh", "iomap", "null", "dir", "ext4", "xfs", "tmpfs", "btrfs", ""][..]),
        params in prop::collection::vec(("[a-z_]{0,12}", "[ -9;-~]{0,20}"), 0..6),
    ) {
        let text = params.iter().fold(kind.to_string(), |s, (k, v)| format!("{s}:{k}={v}"));
        check(&text);
    }

    #[test]
    fn mutated_valid_specs_never_panic(
        spec in prop::sample::select(VALID),
        edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..8),
    ) {
        check(&mutate(spec, &edits));
    }

    #[test]
    fn fault_lists_never_panic(
        items in prop::collection::vec(
            ("(read|write|range|short|enospc|powercut|[a-z]{0,6})", "[0-9+@km,-]{0,24}"),
            0..6,
        ),
        bs in prop::sample::select(&[1024u64, 2048, 4096][..]),
    ) {
        let text: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match text.join(",").parse::<FaultList>() {
            Err(e) => one_line("faults", &e.to_string()),
            Ok(list) => {
                assert_eq!(list.to_string().parse::<FaultList>().ok(), Some(list.clone()));
                let _ = FaultSpec::new(&list, bs);
            }
        }
    }
}
