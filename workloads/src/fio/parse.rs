//! fio's job-file syntax and command-line options, turned into a flat list of entries, as
//! fio's `__parse_jobs_ini` reads them.
//!
//! Job file: `[section]` headers, `key=value` or bare `key` lines, `include FILE` (its options
//! join the current section; a relative name is looked up beside the including file when it is
//! not found as given), and comments: a line whose first non-blank is `;` or `#`, and anything
//! after a `;` or `#` on a line (fio's `strip_blank_end`: `numjobs=4 ; four threads` is
//! `numjobs=4`). Command line: `--key=value` or `--key`; `--name=x` starts a new job as in fio,
//! options before the first `--name` are global.
//!
//! Every problem is collected, not only the first, so a file's errors can all be listed.

use std::path::{Path, PathBuf};

use super::error::{JobError, Location};

/// One line of meaning: a section start or an option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `[name]` (or `--name=name`): starts a job, or the global defaults when `name` is "global".
    Section { name: String, at: Location },
    /// `key=value` or a bare `key` (value `None`).
    Option { key: String, value: Option<String>, at: Location },
}

/// The section name that holds defaults rather than a job.
pub(crate) const GLOBAL: &str = "global";

/// Includes may nest this deep (a deeper chain is taken for a loop).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Splits a job file into entries; problems go to `errors`.
pub(crate) fn job_file(text: &str, source: &str, errors: &mut Vec<JobError>) -> Vec<Entry> {
    let mut entries = Vec::new();
    lines(text, source, 0, &mut false, &mut entries, errors);
    entries
}

/// The lines of `text` (named `source`); `depth` is the include depth (included files hold
/// options only).
fn lines(
    text: &str,
    source: &str,
    depth: usize,
    in_section: &mut bool,
    entries: &mut Vec<Entry>,
    errors: &mut Vec<JobError>,
) {
    for (i, raw) in text.lines().enumerate() {
        let at = Location::File { source: source.to_string(), line: i + 1 };
        if let Some(c) = control_char(raw) {
            errors.push(JobError::Syntax { at, message: control_message(c) });
            continue;
        }
        let line = strip_comment(raw);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if depth > 0 {
                errors.push(JobError::Syntax {
                    at,
                    message: format!("section header '{line}' in an included file: included files hold options only"),
                });
                continue;
            }
            let Some(name) = rest.strip_suffix(']') else {
                errors.push(JobError::Syntax { at, message: format!("section header '{line}' has no closing ']'") });
                continue;
            };
            let name = name.trim();
            if name.is_empty() || name.contains(['[', ']']) {
                errors.push(JobError::Syntax {
                    at,
                    message: format!("bad section header '{line}': expected [jobname] or [global]"),
                });
                continue;
            }
            entries.push(Entry::Section { name: name.to_string(), at });
            *in_section = true;
            continue;
        }
        if let Some(file) = line.strip_prefix("include").filter(|r| r.starts_with([' ', '\t'])).map(str::trim) {
            if !*in_section {
                errors.push(JobError::Syntax {
                    at,
                    message: "include comes before any section: put it under [global] or a [jobname] section".into(),
                });
                continue;
            }
            if depth >= MAX_INCLUDE_DEPTH {
                errors.push(JobError::Syntax {
                    at,
                    message: format!(
                        "include {file}: includes nest deeper than {MAX_INCLUDE_DEPTH} (an include loop?)"
                    ),
                });
                continue;
            }
            let path = include_path(file, source);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let name = path.display().to_string();
                    lines(&text, &name, depth + 1, in_section, entries, errors);
                }
                Err(e) => errors.push(JobError::Syntax {
                    at,
                    message: format!("include {file}: cannot read {}: {e}", path.display()),
                }),
            }
            continue;
        }
        let (key, value) = split_option(line);
        if key.is_empty() || key.contains(char::is_whitespace) {
            errors.push(JobError::Syntax {
                at,
                message: format!("cannot read '{line}': expected key=value, a bare key, [section] or a comment"),
            });
            continue;
        }
        if !*in_section {
            errors.push(JobError::Syntax {
                at,
                message: format!(
                    "option '{key}' comes before any section: put it under [global] or a [jobname] section"
                ),
            });
            continue;
        }
        entries.push(Entry::Option { key, value, at });
    }
}

/// fio's `strip_blank_front` and `strip_blank_end`: blanks trimmed, and the line cut at the
/// first `;` or `#` (a whole-line comment becomes empty).
fn strip_comment(raw: &str) -> &str {
    let cut = raw.find([';', '#']).unwrap_or(raw.len());
    raw[..cut].trim()
}

/// Where `include FILE` in `source` looks: `FILE` as given when it exists, else beside
/// `source` (fio's rule).
fn include_path(file: &str, source: &str) -> PathBuf {
    let given = PathBuf::from(file);
    if given.exists() || given.is_absolute() {
        return given;
    }
    match Path::new(source).parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.join(file),
        None => given,
    }
}

/// Splits fio-style command-line options into entries; problems go to `errors`.
pub(crate) fn args<S: AsRef<str>>(args: &[S], errors: &mut Vec<JobError>) -> Vec<Entry> {
    let mut entries = vec![Entry::Section { name: GLOBAL.to_string(), at: Location::Arg { index: 1 } }];
    for (i, arg) in args.iter().enumerate() {
        let at = Location::Arg { index: i + 1 };
        let arg = arg.as_ref();
        if let Some(c) = control_char(arg) {
            errors.push(JobError::Syntax { at, message: control_message(c) });
            continue;
        }
        let Some(option) = arg.strip_prefix("--").filter(|o| !o.is_empty()) else {
            errors.push(JobError::Syntax { at, message: format!("expected --option=value, found '{arg}'") });
            continue;
        };
        let (key, value) = split_option(option);
        if key == "name" {
            let name = value.unwrap_or_default();
            if name.is_empty() {
                errors.push(JobError::BadValue {
                    at,
                    option: key,
                    value: String::new(),
                    expected: "expected a job name, such as --name=write-4k".into(),
                });
                continue;
            }
            entries.push(Entry::Section { name, at });
        } else {
            entries.push(Entry::Option { key, value, at });
        }
    }
    entries
}

/// The first control character of `text` other than a tab (a stray carriage return, an escape
/// sequence): refused, so that no error echoes it and breaks its line or the terminal.
pub(crate) fn control_char(text: &str) -> Option<char> {
    text.chars().find(|&c| c.is_control() && c != '\t')
}

pub(crate) fn control_message(c: char) -> String {
    format!("holds the control character U+{:04X}: job files and options are plain text", c as u32)
}

/// `key=value` → (key, Some(value)); `key` → (key, None). Both trimmed.
fn split_option(text: &str) -> (String, Option<String>) {
    match text.split_once('=') {
        Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
        None => (text.trim().to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize) -> Location {
        Location::File { source: "t.fio".into(), line }
    }

    fn parse(text: &str) -> Result<Vec<Entry>, String> {
        let mut errors = Vec::new();
        let entries = job_file(text, "t.fio", &mut errors);
        match errors.first() {
            Some(e) => Err(e.to_string()),
            None => Ok(entries),
        }
    }

    #[test]
    fn sections_options_and_comments() {
        let text = "; comment\n[global]\nbs = 4k\n# another\n\n[job1] ; the job\ntime_based\nnumjobs=4\t; 4 threads\n";
        let entries = parse(text).unwrap();
        assert_eq!(
            entries,
            vec![
                Entry::Section { name: "global".into(), at: at(2) },
                Entry::Option { key: "bs".into(), value: Some("4k".into()), at: at(3) },
                Entry::Section { name: "job1".into(), at: at(6) },
                Entry::Option { key: "time_based".into(), value: None, at: at(7) },
                Entry::Option { key: "numjobs".into(), value: Some("4".into()), at: at(8) },
            ]
        );
    }

    #[test]
    fn includes_join_the_current_section() {
        let dir = std::env::temp_dir().join(format!("aopsbench-include-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("common.fio"), "bs=8k ; from the include\nsize=1m\n").unwrap();
        std::fs::write(dir.join("sect.fio"), "[nope]\n").unwrap();
        let main = dir.join("main.fio");
        let source = main.to_str().unwrap();
        let mut errors = Vec::new();
        let entries = job_file("[job]\ninclude common.fio\nrw=write\n", source, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let keys: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Option { key, at, .. } => Some(format!("{key}@{at}")),
                _ => None,
            })
            .collect();
        let inc = dir.join("common.fio").display().to_string();
        assert_eq!(keys, [format!("bs@{inc}:1"), format!("size@{inc}:2"), format!("rw@{source}:3")]);
        job_file("[job]\ninclude sect.fio\ninclude missing.fio\n", source, &mut errors);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().contains("in an included file: included files hold options only"));
        assert!(errors[1].to_string().starts_with(&format!("{source}:3: include missing.fio: cannot read")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn control_characters_are_refused() {
        let e = parse("[global]\nbs=4k\rx\n").unwrap_err();
        assert_eq!(e, "t.fio:2: holds the control character U+000D: job files and options are plain text");
        assert!(parse("[global]\r\nbs\t=\t4k\r\n").is_ok(), "CRLF and tabs are fine");
        let mut errors = Vec::new();
        args(&["--bs=4k\u{1b}[31m"], &mut errors);
        assert!(errors[0].to_string().contains("U+001B"));
    }

    #[test]
    fn syntax_errors_name_the_line_and_all_are_listed() {
        assert_eq!(parse("[global\n").unwrap_err(), "t.fio:1: section header '[global' has no closing ']'");
        assert_eq!(
            parse("bs=4k\n").unwrap_err(),
            "t.fio:1: option 'bs' comes before any section: put it under [global] or a [jobname] section"
        );
        let mut errors = Vec::new();
        job_file("[a\n[b]\nx y\nz w\n", "t.fio", &mut errors);
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn command_line_names_start_jobs() {
        let mut errors = Vec::new();
        let entries = args(&["--bs=4k", "--name=a", "--rw=write", "--time_based"], &mut errors);
        assert_eq!(entries.len(), 5);
        assert!(matches!(&entries[2], Entry::Section { name, at: Location::Arg { index: 2 } } if name == "a"));
        args(&["bs=4k"], &mut errors);
        assert_eq!(errors[0].to_string(), "command line argument 1: expected --option=value, found 'bs=4k'");
    }
}
