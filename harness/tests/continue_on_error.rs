//! `continue_on_error` and `ignore_error` as fio honours them (`td_non_fatal_error`): an error
//! of a kind the job goes on after, with an errno in that kind's list (EIO and EILSEQ by
//! default), is counted (fio.json `total_err`, `first_error`) and the job goes on; any other
//! stops it.

use std::path::Path;
use std::process::{Command, Output};

/// Runs a random read job with `extra` on fsimpl whose reads fail with EIO from the 20th on.
fn run(dir: &Path, extra: &str) -> Output {
    let job = dir.join("j.fio");
    std::fs::write(&job, format!("[r]\nrw=randread\nbs=4k\nsize=1m\nrandseed=3\n{extra}\n")).unwrap();
    let out = dir.join(format!("run{}", extra.len()));
    Command::new(env!("CARGO_BIN_EXE_aopsbench"))
        .args(["run", job.to_str().unwrap(), "--target", "bh:backing=mem:faults=read=20+", "--out"])
        .arg(&out)
        .args(["--no-plot", "--no-report"])
        .output()
        .unwrap()
}

fn fio_json(o: &Output, dir: &Path) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.join("fio.json").is_file()).unwrap();
    serde_json::from_str(&std::fs::read_to_string(run.join("fio.json")).unwrap()).unwrap()
}

#[test]
fn read_errors_are_counted_and_gone_on_after() {
    for extra in ["continue_on_error=read", "continue_on_error=all\nignore_error=EIO,ENOSPC"] {
        let tmp = tempfile::tempdir().unwrap();
        let v = fio_json(&run(tmp.path(), extra), tmp.path());
        let job = &v["jobs"][0];
        let (errors, ios) = (job["total_err"].as_u64().unwrap(), job["read"]["total_ios"].as_u64().unwrap());
        assert_eq!(job["first_error"], libc::EIO, "{extra}");
        // Every read of the 256 went: the failed ones counted, the others measured.
        assert!(errors > 0 && ios > 0, "{extra}: {errors} errors, {ios} reads");
        assert_eq!(errors + ios, 256, "{extra}");
    }
}

#[test]
fn other_errors_stop_the_job() {
    // Writes only; reads not covered; EIO not in the read list.
    for extra in ["continue_on_error=write", "", "continue_on_error=read\nignore_error=ENOSPC"] {
        let tmp = tempfile::tempdir().unwrap();
        let o = run(tmp.path(), extra);
        assert_eq!(o.status.code(), Some(2), "{extra}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("read: Input/output error"), "{extra}: {err}");
    }
}
