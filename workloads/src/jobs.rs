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
