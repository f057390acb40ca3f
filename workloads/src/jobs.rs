//! The job files shipped in `workloads/jobs/`, built into the binary.

/// (name, text) of every shipped job file; the name is the file name without `.fio`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("quick", include_str!("../jobs/quick.fio")),
    ("seqwrite", include_str!("../jobs/seqwrite.fio")),
    ("randwrite", include_str!("../jobs/randwrite.fio")),
    ("randrw", include_str!("../jobs/randrw.fio")),
    ("append-fsync", include_str!("../jobs/append-fsync.fio")),
    ("ext4-iomap-matrix", include_str!("../jobs/ext4-iomap-matrix.fio")),
];

/// The name of the job `aopsbench run` runs when given none.
pub const DEFAULT: &str = "quick";

/// The text of the shipped job `name` (with or without `.fio`).
pub fn builtin(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".fio").unwrap_or(name);
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// The shipped job whose name is nearest to `name`, when it is near enough to be a typo
/// (`quik` → `quick`), as clap suggests subcommands (Jaro–Winkler similarity above 0.8).
pub fn suggest(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".fio").unwrap_or(name);
    BUILTIN
        .iter()
        .map(|(n, _)| (strsim::jaro_winkler(name, n), *n))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_of_shipped_jobs_are_suggested() {
        assert_eq!(suggest("quik"), Some("quick"));
        assert_eq!(suggest("seqwirte"), Some("seqwrite"));
        assert_eq!(suggest("randwrte.fio"), Some("randwrite"));
        assert_eq!(suggest("append_fsync"), Some("append-fsync"));
        assert_eq!(suggest("mytest.fio"), None);
        assert_eq!(suggest("/etc/fio/jobs/a.fio"), None);
    }
}
