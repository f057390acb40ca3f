//! Fuzzing the `.fsxops` importer and the fsx weight list with arbitrary text and mutations
//! of valid logs: no panic, every error one line naming the line.

mod common;

use common::{cases, mutate, one_line};
use proptest::prelude::*;
use workloads::{FsxWeights, fsxops};

const LOGS: &[&str] = &[include_str!("fsxops/basic.fsxops"), include_str!("fsxops/dontcache.fsxops")];

fn check(text: &str) {
    match fsxops::parse(text, "fuzz.fsxops") {
        Err(e) => {
            let m = e.to_string();
            one_line("fsxops", &m);
            assert!(m.starts_with("fuzz.fsxops:"), "{m}");
        }
        Ok(log) => {
            for op in &log.ops {
                let _ = workloads::trace::to_line(op);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(3000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn fsx_like_lines_never_panic(lines in prop::collection::vec(
        "(skip )?(read|write|mapread|mapwrite|truncate|fallocate|punch_hole|zero_range|collapse_range|insert_range|fsync|copy_range|[a-z_]{1,8})( (0x[0-9a-f]{0,18}|0[0-7]{0,24}|[0-9]{1,22}|-[0-9]{1,3}|[a-z_*]{1,10})){0,6}",
        0..8,
    )) {
        check(&lines.join("\n"));
    }

    #[test]
    fn mutated_logs_never_panic(
        log in prop::sample::select(LOGS),
        edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..10),
    ) {
        check(&mutate(log, &edits));
    }

    #[test]
    fn fsx_weight_lists_never_panic(text in "\\PC{0,80}", edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..6)) {
        for t in [text.clone(), mutate("read=4,write=4,truncate=1,punch_hole=1,fsync=1", &edits)] {
            if let Err(e) = FsxWeights::parse(&t) {
                one_line("fsx weights", &e.to_string());
            }
        }
    }
}
