//! fio's job-file syntax and command-line options, turned into a flat list of entries.
//!
//! Job file: `[section]` headers, `key=value` or bare `key` lines, whole-line comments starting
//! with `;` or `#`, blank lines. Command line: `--key=value` or `--key`; `--name=x` starts a new
//! job as in fio, options before the first `--name` are global.

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

/// Split a job file into entries.
pub(crate) fn job_file(text: &str, source: &str) -> Result<Vec<Entry>, JobError> {
    let mut entries = Vec::new();
    let mut in_section = false;
    for (i, raw) in text.lines().enumerate() {
        let at = Location::File { source: source.to_string(), line: i + 1 };
        if let Some(c) = control_char(raw) {
            return Err(JobError::Syntax { at, message: control_message(c) });
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| JobError::Syntax {
                at: at.clone(),
                message: format!("section header '{line}' has no closing ']'"),
            })?;
            let name = name.trim();
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(JobError::Syntax {
                    at,
                    message: format!("bad section header '{line}': expected [jobname] or [global]"),
                });
            }
            entries.push(Entry::Section { name: name.to_string(), at });
            in_section = true;
            continue;
        }
        let (key, value) = split_option(line);
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(JobError::Syntax {
                at,
                message: format!("cannot read '{line}': expected key=value, a bare key, [section] or a comment"),
            });
        }
        if !in_section {
            return Err(JobError::Syntax {
                at,
                message: format!(
                    "option '{key}' comes before any section: put it under [global] or a [jobname] section"
                ),
            });
        }
        entries.push(Entry::Option { key, value, at });
    }
    Ok(entries)
}

/// Split fio-style command-line options into entries.
pub(crate) fn args<S: AsRef<str>>(args: &[S]) -> Result<Vec<Entry>, JobError> {
    let mut entries = vec![Entry::Section { name: GLOBAL.to_string(), at: Location::Arg { index: 1 } }];
    for (i, arg) in args.iter().enumerate() {
        let at = Location::Arg { index: i + 1 };
        let arg = arg.as_ref();
        if let Some(c) = control_char(arg) {
            return Err(JobError::Syntax { at, message: control_message(c) });
        }
        let Some(option) = arg.strip_prefix("--").filter(|o| !o.is_empty()) else {
            return Err(JobError::Syntax { at, message: format!("expected --option=value, found '{arg}'") });
        };
        let (key, value) = split_option(option);
        if key == "name" {
            let name = value.unwrap_or_default();
            if name.is_empty() {
                return Err(JobError::BadValue {
                    at,
                    option: key,
                    value: String::new(),
                    expected: "expected a job name, such as --name=write-4k".into(),
                });
            }
            entries.push(Entry::Section { name, at });
        } else {
            entries.push(Entry::Option { key, value, at });
        }
    }
    Ok(entries)
}

/// The first control character of `text` other than a tab (a stray carriage return, an escape
/// sequence): refused, so that no error echoes it and breaks its line or the terminal.
fn control_char(text: &str) -> Option<char> {
    text.chars().find(|&c| c.is_control() && c != '\t')
}

fn control_message(c: char) -> String {
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

    #[test]
    fn sections_options_and_comments() {
        let text = "; comment\n[global]\nbs = 4k\n# another\n\n[job1]\ntime_based\n";
        let entries = job_file(text, "t.fio").unwrap();
        assert_eq!(
            entries,
            vec![
                Entry::Section { name: "global".into(), at: at(2) },
                Entry::Option { key: "bs".into(), value: Some("4k".into()), at: at(3) },
                Entry::Section { name: "job1".into(), at: at(6) },
                Entry::Option { key: "time_based".into(), value: None, at: at(7) },
            ]
        );
    }

    #[test]
    fn control_characters_are_refused() {
        let e = job_file("[global]\nbs=4k\rx\n", "t.fio").unwrap_err();
        assert_eq!(e.to_string(), "t.fio:2: holds the control character U+000D: job files and options are plain text");
        assert!(job_file("[global]\r\nbs\t=\t4k\r\n", "t.fio").is_ok(), "CRLF and tabs are fine");
        assert!(args(&["--bs=4k\u{1b}[31m"]).unwrap_err().to_string().contains("U+001B"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = job_file("[global\n", "t.fio").unwrap_err();
        assert_eq!(e.to_string(), "t.fio:1: section header '[global' has no closing ']'");
        let e = job_file("bs=4k\n", "t.fio").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.fio:1: option 'bs' comes before any section: put it under [global] or a [jobname] section"
        );
    }

    #[test]
    fn command_line_names_start_jobs() {
        let entries = args(&["--bs=4k", "--name=a", "--rw=write", "--time_based"]).unwrap();
        assert_eq!(entries.len(), 5);
        assert!(matches!(&entries[2], Entry::Section { name, at: Location::Arg { index: 2 } } if name == "a"));
        let e = args(&["bs=4k"]).unwrap_err();
        assert_eq!(e.to_string(), "command line argument 1: expected --option=value, found 'bs=4k'");
    }
}
