//! Shared by the fuzz tests: the case count, and mutations of valid inputs.

#![allow(dead_code)]

/// Cases per property: `default`, or `PROPTEST_CASES` for a long run.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Tokens that parsers trip on: separators, signs, huge and odd numbers, suffixes, control and
/// non-ASCII characters.
const TOKENS: &[&str] = &[
    "\n",
    "\r\n",
    "=",
    "==",
    "[",
    "]",
    "[global]\n",
    ":",
    ",",
    "/",
    "%",
    "-",
    "+",
    ".",
    "0",
    "-1",
    "1",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "0x",
    "0xffffffffffffffff",
    "07777",
    "k",
    "K",
    "m",
    "g",
    "t",
    "p",
    "ki",
    "KiB",
    "1e309",
    "NaN",
    "inf",
    "\0",
    "é",
    "\u{feff}",
    "\"",
    "'",
    "{",
    "}",
    "#",
    ";",
    " ",
    "\t",
    "null",
    "true",
    "[]",
    "{}",
    "\\",
    "$",
    "${",
    "4k/50:64k/50",
    "0/0",
    "100%",
    "1:",
    "skip ",
    "keep_size",
    "*",
    "--",
    "--name=x",
    "randrw",
    "zipf:0",
    "pareto:",
    "normal:-1",
];

/// Applies `edits` to `text`: each `(kind, at, arg)` inserts a token, deletes a span,
/// duplicates a span, or replaces a run of digits with an extreme number, at byte `at`
/// (modulo the length). The result is valid UTF-8 (invalid sequences become U+FFFD).
pub fn mutate(text: &str, edits: &[(u8, u32, u32)]) -> String {
    let mut b = text.as_bytes().to_vec();
    for &(kind, at, arg) in edits {
        let at = if b.is_empty() { 0 } else { at as usize % (b.len() + 1) };
        match kind % 5 {
            0 | 1 => {
                let tok = TOKENS[arg as usize % TOKENS.len()].as_bytes();
                b.splice(at..at, tok.iter().copied());
            }
            2 => {
                let end = (at + 1 + arg as usize % 16).min(b.len());
                b.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + 1 + arg as usize % 64).min(b.len());
                let span: Vec<u8> = b[at.min(end)..end].to_vec();
                b.splice(at..at, span);
            }
            _ => {
                let start = b[..at].iter().rposition(|c| !c.is_ascii_digit()).map_or(0, |p| p + 1);
                let end = at + b[at..].iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len() - at);
                let n = ["0", "18446744073709551615", "4294967295", "9999999999999", "1"][arg as usize % 5];
                b.splice(start..end, n.bytes());
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Asserts an error message is one non-empty line, free of control characters but tabs (which could
/// break the line or drive the terminal).
pub fn one_line(what: &str, message: &str) {
    assert!(!message.trim().is_empty(), "{what}: empty error message");
    let bad = message.chars().find(|&c| c.is_control() && c != '\t');
    assert!(bad.is_none(), "{what}: error is not one plain line: {message:?}");
}

/// Asserts a job-file error is one plain line per problem (a file's problems are all listed).
pub fn plain_lines(what: &str, message: &str) {
    for line in message.split('\n') {
        one_line(what, line);
    }
}
