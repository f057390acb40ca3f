//! Job-file parsing: golden resolutions of every shipped job, malformed files with their exact
//! error lines, the README's jobs, command-line options and --lenient.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vocab::WritebackMode;
use workloads::fio::{BlockSize, IoEngine, Prealloc, ReadWrite};
use workloads::{Job, JobError, JobFile, JobFileBuilder, Op, jobs};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The golden text of a job file: each job in canonical form, then what its threads do.
fn describe(file: &JobFile) -> String {
    let mut out = String::new();
    for job in &file.jobs {
        out.push_str(&job.to_fio());
        for plan in job.threads() {
            let mut layout: BTreeMap<&str, usize> = BTreeMap::new();
            for op in &plan.layout {
                *layout.entry(op.kind().as_str()).or_default() += 1;
            }
            let files: Vec<String> = plan.files.iter().map(|f| format!("{} ({} bytes)", f.name, f.size)).collect();
            let _ = writeln!(out, "# thread {}: files {}", plan.thread, files.join(", "));
            let _ = writeln!(
                out,
                "# layout {layout:?}; planned bytes {:?}; seed {:#x}",
                plan.ops.planned_bytes(),
                plan.seed
            );
            for op in plan.ops.clone().take(4) {
                let _ = writeln!(out, "#   {}", workloads::trace::to_line(&op));
            }
        }
        out.push('\n');
    }
    out
}

/// Compare with `tests/golden/NAME`; `UPDATE_GOLDEN=1` rewrites the file instead.
fn check_golden(name: &str, actual: &str) {
    let path = crate_dir().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()));
    assert_eq!(actual, expected, "{} differs (UPDATE_GOLDEN=1 rewrites it after review)", path.display());
}

#[test]
fn every_shipped_job_matches_its_golden_resolution() {
    for (name, text) in jobs::BUILTIN {
        let file = JobFile::parse(text, &format!("{name}.fio"), false).unwrap_or_else(|e| panic!("{e}"));
        assert!(file.warnings.is_empty(), "{name}: {:?}", file.warnings);
        check_golden(&format!("{name}.txt"), &describe(&file));
    }
}

/// The golden text of an option test file: each job in canonical form, then the first ops of
/// thread 0 with their verify flag.
fn describe_options(file: &JobFile) -> String {
    let mut out = String::new();
    for note in &file.notes {
        let _ = writeln!(out, "# note: {note}");
    }
    for job in &file.jobs {
        out.push_str(&job.to_fio());
        let plan = job.threads().remove(0);
        let files: Vec<String> = plan.files.iter().map(|f| format!("{} ({} bytes)", f.name, f.size)).collect();
        let _ = writeln!(
            out,
            "# files {}; layout ops {}; planned bytes {:?}",
            files.join(", "),
            plan.layout.len(),
            plan.ops.planned_bytes()
        );
        let mut ops = plan.ops.clone();
        for _ in 0..12 {
            let Some(io) = ops.next_io() else { break };
            let v = if io.verify { " verify" } else { "" };
            let _ = writeln!(out, "#   {}{v}", workloads::trace::to_line(&io.op));
        }
        out.push('\n');
    }
    out
}

/// Every new option of the job-file language in `tests/options/*.fio`, resolved to
/// `tests/options/*.txt` (`UPDATE_GOLDEN=1` rewrites them after review). The keywords stand for
/// a fixed machine and `${AOPSBENCH_GOLDEN_RW}` is given, so the text is the same everywhere.
#[test]
fn every_new_option_matches_its_golden_resolution() {
    let dir = crate_dir().join("tests/options");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut checked = 0;
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "fio")) {
        let text = std::fs::read_to_string(path).unwrap();
        let host = workloads::fio::HostFacts { pagesize: 4096, mb_memory: 2048, ncpus: 4 };
        let file = JobFileBuilder::new(false)
            .host(host)
            .env_var("AOPSBENCH_GOLDEN_RW", "randwrite")
            .text(&text, path.to_str().unwrap())
            .unwrap()
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let actual = describe_options(&file).replace(dir.to_str().unwrap(), "tests/options");
        let golden = path.with_extension("txt");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap();
        assert_eq!(actual, expected, "{} differs (UPDATE_GOLDEN=1 rewrites it after review)", golden.display());
        // The canonical form reads back to the same jobs.
        let canonical: String = file.jobs.iter().map(Job::to_fio).collect();
        let again = JobFile::parse(&canonical, "canonical", false).unwrap_or_else(|e| panic!("{e}"));
        let again: String = again.jobs.iter().map(Job::to_fio).collect();
        assert_eq!(again, canonical);
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[test]
fn every_file_in_jobs_dir_is_built_in_and_identical() {
    let mut on_disk = 0;
    for entry in std::fs::read_dir(crate_dir().join("jobs")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(jobs::builtin(&name), Some(text.as_str()), "{name} is not in jobs::BUILTIN");
        on_disk += 1;
    }
    assert_eq!(on_disk, jobs::BUILTIN.len());
    assert_eq!(jobs::builtin("quick.fio"), jobs::builtin(jobs::DEFAULT));
    assert_eq!(jobs::builtin("nonesuch"), None);
}

#[test]
fn shipped_jobs_say_what_the_issue_asks() {
    let parse = |name: &str| JobFile::parse(jobs::builtin(name).unwrap(), name, false).unwrap().jobs;
    let quick = parse("quick");
    assert_eq!(quick.len(), 2);
    for (job, bs) in quick.iter().zip([4096, 1 << 20]) {
        assert_eq!(job.rw, ReadWrite::Write);
        assert_eq!(job.bs.write, BlockSize::Fixed(bs));
        assert_eq!(job.aops.writeback, Some(WritebackMode::Off));
        assert!(job.aops.cache.unwrap().bytes() >= job.io_size(), "quick must stay in the cache");
        assert!(!job.control.direct);
    }
    assert!(quick.iter().map(Job::io_size).sum::<u64>() <= 512 << 20, "quick must stay small");

    let matrix = parse("ext4-iomap-matrix");
    let mut cases: Vec<(u64, u64, bool)> = matrix.iter().map(|j| (j.bs.write.max(), j.fsync, j.overwrite)).collect();
    cases.sort();
    let mut want = Vec::new();
    for bs in [4096, 65536, 1 << 20] {
        for fsync in [0, 1] {
            for overwrite in [false, true] {
                want.push((bs, fsync, overwrite));
            }
        }
    }
    assert_eq!(cases, want);
    for job in &matrix {
        assert_eq!(job.control.ioengine, IoEngine::Psync);
        assert_eq!(job.fallocate, Prealloc::None);
        assert!(job.control.start.stonewall);
    }
    let append = parse("append-fsync");
    assert!(append.iter().all(|j| j.fsync == 1 && j.rw == ReadWrite::Write));
    assert!(parse("randrw").iter().all(|j| j.rw == ReadWrite::RandRw && j.rwmixread == 70));
    assert!(parse("randwrite").iter().all(|j| j.rw == ReadWrite::RandWrite));
    assert!(parse("seqwrite").iter().all(|j| j.rw == ReadWrite::Write && j.end_fsync));
}

#[test]
fn canonical_form_reads_back_to_the_same_job() {
    for (name, text) in jobs::BUILTIN {
        for job in JobFile::parse(text, name, false).unwrap().jobs {
            let canonical = job.to_fio();
            let again = JobFile::parse(&canonical, "canonical", false).unwrap_or_else(|e| panic!("{e}\n{canonical}"));
            assert_eq!(again.jobs.len(), 1);
            assert_eq!(again.jobs[0].to_fio(), canonical);
            let ops: Vec<Op> = job.threads()[0].ops.clone().take(1000).collect();
            let mut job2 = again.jobs[0].clone();
            job2.index = job.index;
            let ops2: Vec<Op> = job2.threads()[0].ops.clone().take(1000).collect();
            assert_eq!(ops, ops2, "{name}/{}", job.name);
        }
    }
}

#[test]
fn malformed_files_fail_with_their_exact_error_line() {
    let dir = crate_dir().join("tests/malformed");
    let mut checked = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "fio")) {
        let name = path.file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let err = JobFile::parse(&text, name, false).expect_err(name);
        let want = path.with_extension("err");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&want, format!("{err}\n")).unwrap();
        }
        let expected = std::fs::read_to_string(&want).unwrap();
        assert_eq!(format!("{err}\n"), expected, "{}", path.display());
        let lines = err.to_string().lines().count();
        assert!(lines == 1 || matches!(err, JobError::Several { .. }), "one line per problem: {err}");
        checked += 1;
    }
    assert_eq!(checked, 70);
}

#[test]
fn lenient_turns_unsupported_options_into_warnings_only() {
    let text = "[job]\nsize=1m\nmax_open_zones=32\nsg_write_mode=verify\n";
    let file = JobFile::parse(text, "l.fio", true).unwrap();
    let warnings: Vec<String> = file.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "l.fio:3: ignoring fio option 'max_open_zones', which aopsbench does not support (--lenient)",
            "l.fio:4: ignoring fio option 'sg_write_mode', which aopsbench does not support (--lenient)"
        ]
    );
    // An option fio does not have either stays an error: it is a typo, not a fio habit.
    let err = JobFile::parse("[job]\nsize=1m\niodepht=4\n", "l.fio", true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "l.fio:3: unknown option 'iodepht' (did you mean 'iodepth'?): neither fio nor aopsbench has it"
    );
    // A bad value stays an error.
    let err = JobFile::parse("[job]\nsize=1m\nrw=fast\n", "l.fio", true).unwrap_err();
    assert!(matches!(err, JobError::BadValue { .. }));
}

#[test]
fn global_sections_and_fio_value_syntax() {
    let text = "\
; comment
# comment too
[global]
size=8m
bs=4k,64k
rw=randrw
rwmixwrite=30
blockalign=8k
runtime=2m
ramp_time=500ms
thinktime=250
rate_iops=100,200
percentile_list=50:99:99.9
randseed=0x10
aops_cache=512m
aops_max_folio=64k
aops_large_folios=0
aops_dirty_background_ratio=10
aops_dirty_ratio=20

[a]
bssplit=,4k/50:16k/50
ioengine=io_uring
iodepth=32
direct=1
numjobs=2
nrfiles=3
directory=/mnt/x/

[global]
size=4m

[b]
rw=write
buffered=1
filename=one:two
fallocate=keep
";
    let file = JobFile::parse(text, "g.fio", false).unwrap();
    let [a, b] = &file.jobs[..] else { panic!("two jobs") };
    assert_eq!(a.size, Some(8 << 20));
    assert_eq!(a.rwmixread, 70);
    assert_eq!(a.bs.read, BlockSize::Fixed(4096));
    assert!(matches!(&a.bs.write, BlockSize::Split(v) if v.len() == 2));
    assert_eq!(a.blockalign.write, Some(8192));
    assert_eq!(a.control.runtime, Some(std::time::Duration::from_secs(120)));
    assert_eq!(a.control.ramp_time, Some(std::time::Duration::from_millis(500)));
    assert_eq!(a.control.thinktime, std::time::Duration::from_micros(250));
    assert_eq!(a.control.rate_iops.read, Some(100));
    assert_eq!(a.control.rate_iops.write, Some(200));
    assert_eq!(a.control.latencies.percentile_list.as_slice(), [50.0, 99.0, 99.9]);
    assert_eq!(a.control.ioengine, IoEngine::IoUring);
    assert_eq!(a.control.depth.iodepth, 32);
    assert!(a.control.direct);
    assert_eq!(a.seed(), 16);
    assert_eq!(a.aops.cache, Some(vocab::Size(512 << 20)));
    assert_eq!(a.aops.max_folio, Some(vocab::Size(65536)));
    assert_eq!(a.aops.large_folios, Some(false));
    assert_eq!(a.aops.dirty_ratio, Some(20));
    let plans = a.threads();
    assert_eq!(plans.len(), 2);
    let names: Vec<&str> = plans[1].files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["/mnt/x/a.1.0", "/mnt/x/a.1.1", "/mnt/x/a.1.2"]);
    // size is per thread, divided among the files (rounded down to blockalign).
    assert_eq!(plans[0].files[0].size, (8 << 20) / 3 / 8192 * 8192);

    assert_eq!(b.size, Some(4 << 20), "the second [global] applies to later jobs");
    assert!(!b.control.direct);
    let plan = &b.threads()[0];
    let names: Vec<&str> = plan.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(plan.files[0].size, 2 << 20);
    assert_eq!(
        plan.layout,
        [
            Op::Fallocate { file: 0, mode: workloads::FallocMode::KeepSize, offset: 0, len: 2 << 20 },
            Op::Fallocate { file: 1, mode: workloads::FallocMode::KeepSize, offset: 0, len: 2 << 20 },
        ]
    );
}

#[test]
fn command_line_options_act_as_fio_does() {
    let file = JobFile::from_args(&["--size=1m", "--name=a", "--rw=randread", "--name=b", "--bs=64k"], false).unwrap();
    assert_eq!(file.jobs.len(), 2);
    assert_eq!((file.jobs[0].name.as_str(), file.jobs[0].rw), ("a", ReadWrite::RandRead));
    assert_eq!(file.jobs[1].size, Some(1 << 20), "options before --name are global");
    assert_eq!(file.jobs[1].rw, ReadWrite::Read, "job options do not leak into the next job");
    assert_eq!(file.jobs[1].index, 1);

    // Command-line defaults first, then a job file whose own options win.
    let text = "[global]\nbs=8k\n[c]\nrw=write\n";
    let file = JobFileBuilder::new(false)
        .args(&["--size=2m", "--bs=4k"])
        .unwrap()
        .text(text, "c.fio")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(file.jobs[0].size, Some(2 << 20));
    assert_eq!(file.jobs[0].bs.write, BlockSize::Fixed(8192));

    let err = JobFile::from_args(&["--name=a", "--size=1m", "--bogus"], false).unwrap_err();
    assert_eq!(err.to_string(), "command line argument 3: unknown option 'bogus': neither fio nor aopsbench has it");
    let err = JobFile::from_args(&["--name="], false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line argument 1: bad value '' for option 'name': expected a job name, such as --name=write-4k"
    );
}

/// Code blocks marked `ini` or `fio` in a README.
fn readme_jobs(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```ini") || l.starts_with("```fio") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_job_the_readmes_show_parses() {
    let mut count = 0;
    for readme in [crate_dir().join("README.md"), crate_dir().join("../README.md")] {
        for (i, block) in readme_jobs(&readme).iter().enumerate() {
            let name = format!("{} block {}", readme.display(), i + 1);
            let file = JobFile::parse(block, &name, false).unwrap_or_else(|e| panic!("{e}"));
            assert!(!file.jobs.is_empty());
            count += 1;
        }
    }
    assert!(count >= 1, "workloads/README.md shows at least one job");
}
