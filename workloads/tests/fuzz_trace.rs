//! Fuzzing the JSON-lines trace reader with arbitrary text and mutations of a valid trace:
//! no panic, every error one line naming the line.

mod common;

use common::{cases, mutate, one_line};
use proptest::prelude::*;

const VALID: &str = include_str!("fsxops/basic.jsonl");

fn check(text: &str) {
    match workloads::trace::read_jsonl(text, "fuzz.jsonl") {
        Err(e) => {
            let m = e.to_string();
            one_line("trace", &m);
            assert!(m.starts_with("fuzz.jsonl:"), "{m}");
        }
        Ok(ops) => {
            // What was read writes back and reads again the same.
            let mut out = Vec::new();
            workloads::trace::write_jsonl(&mut out, &ops).unwrap();
            let again = workloads::trace::read_jsonl(&String::from_utf8(out).unwrap(), "again").unwrap();
            assert_eq!(again, ops);
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
    fn json_like_text_never_panics(text in "(\\{\"op\":\"(write|read|fallocate|truncate|remount|fsync)\"(,\"[a-z]{1,6}\":(-?[0-9]{1,22}|\"[a-z_]{0,12}\"|null|\\[\\]))*\\}\n){0,4}") {
        check(&text);
    }

    #[test]
    fn mutated_traces_never_panic(edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..10)) {
        check(&mutate(VALID, &edits));
    }
}
