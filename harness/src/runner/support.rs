//! What of a job the runner does not run yet: each such option is refused with one line
//! naming it, never silently ignored.

use workloads::Job;
use workloads::fio::EngineFiles;

/// The options of `job` the runner cannot honour, as `option=value` texts.
pub fn unsupported(job: &Job) -> Vec<String> {
    let mut out = Vec::new();
    let c = &job.control;
    if c.flow != 0 {
        out.push("flow".into());
    }
    if job.fill_device {
        out.push("fill_device".into());
    }
    // The engines that work on names hold no file open (filecreate closes what it creates).
    let files = job.control.ioengine.files();
    if job.openfiles.is_some_and(|n| n < job.files_per_thread()) && files == EngineFiles::Open {
        out.push("openfiles".into());
    }
    if job.unlink && matches!(files, EngineFiles::Names(_)) {
        out.push(format!("unlink with ioengine={}", job.control.ioengine.fio_name()));
    }
    out
}
