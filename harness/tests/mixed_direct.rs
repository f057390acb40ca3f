//! Jobs with different `direct=` at once on one kernel target: fio opens each job's files with
//! that job's flags, and so does aopsbench (`Target::set_file_io_mode`). fsimpl, which models
//! buffered I/O only, refuses the direct one.

use std::path::Path;

use harness::runner::Progress;
use harness::runner::group::{check_group, groups, run_group};
use harness::targets::{DirTarget, IoMode, Target, TargetSpec};
use workloads::JobFile;

/// A dir target in /var/tmp (disk-backed on most systems, so O_DIRECT works), or `None` with
/// one line when its filesystem refuses O_DIRECT.
fn direct_dir() -> Option<(tempfile::TempDir, DirTarget)> {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let t = DirTarget::new(tmp.path()).unwrap();
    if !t.capabilities().direct {
        println!("skipped: O_DIRECT refused by the filesystem of /var/tmp");
        return None;
    }
    Some((tmp, t))
}

/// The open descriptors of this process on files under `dir`: (file name, O_DIRECT set).
fn open_under(dir: &Path) -> Vec<(String, bool)> {
    let dir = std::fs::canonicalize(dir).unwrap();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(path) = std::fs::read_link(e.path()) else { continue };
        if path.parent() != Some(dir.as_path()) {
            continue;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name())).unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| i64::from_str_radix(f.trim(), 8).ok())
            .unwrap_or(0);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, flags & i64::from(libc::O_DIRECT) != 0));
    }
    out.sort();
    out
}

#[test]
fn each_file_keeps_the_mode_it_was_set_to() {
    let Some((_tmp, t)) = direct_dir() else { return };
    let (a, b) = (t.open("a", true).unwrap(), t.open("b", true).unwrap());
    t.set_file_io_mode(a, IoMode { uring: false, direct: true }).unwrap();
    // O_DIRECT refuses a misaligned write; the buffered file takes it.
    let e = t.write(a, 100, &[1; 10]).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    assert_eq!(t.write(b, 100, &[1; 10]).unwrap(), 10);
    // A remount reopens each file its own way.
    t.remount().unwrap();
    assert_eq!(t.write(a, 100, &[1; 10]).unwrap_err().errno(), Some(libc::EINVAL));
    assert_eq!(t.write(b, 100, &[1; 10]).unwrap(), 10);
}

#[test]
fn a_direct_and_a_buffered_job_run_at_once_each_opened_its_way() {
    let Some((tmp, t)) = direct_dir() else { return };
    let text = "[global]\nsize=1m\nbs=4k\nrw=randwrite\n[dio]\ndirect=1\nioengine=libaio\niodepth=8\n[buffered]\n";
    let jobs = JobFile::parse(text, "mixed.fio", false).unwrap().jobs;
    let g = groups(&jobs);
    assert_eq!(g.len(), 1, "both jobs in one group");
    check_group(&g[0], &TargetSpec::parse(t.spec()).unwrap()).unwrap();
    let out = run_group(&g[0], &t, &[Progress::default(), Progress::default()], &[0, 0]).unwrap();
    for (o, name) in out.iter().zip(["dio", "buffered"]) {
        assert_eq!(o.ops["write"].bytes, 1 << 20, "{name}");
    }
    // The group's files stay open after it: the direct job's with O_DIRECT, the other's without.
    assert_eq!(open_under(tmp.path()), [("buffered.0.0".to_string(), false), ("dio.0.0".to_string(), true)]);
}

#[test]
fn fsimpl_refuses_the_direct_job_of_a_mixed_group_with_one_line() {
    let text = "[global]\nsize=1m\nrw=write\n[dio]\ndirect=1\n[buffered]\n";
    let jobs = JobFile::parse(text, "mixed.fio", false).unwrap().jobs;
    let g = groups(&jobs);
    let spec = TargetSpec::parse("bh").unwrap();
    let e = check_group(&g[0], &spec).unwrap_err().to_string();
    assert!(e.contains("job dio") && e.contains("fsimpl models buffered I/O only"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}
