//! What of a job the runner does not run yet: each such option is refused with one line
//! naming it, never silently ignored.

use workloads::Job;
use workloads::fio::EngineFiles;

/// The options of `job` the runner cannot honour, as `option=value` texts.
pub fn unsupported(job: &Job) -> Vec<String> {
    let mut out = Vec::new();
    if job.unlink && matches!(job.control.ioengine.files(), EngineFiles::Names(_)) {
        out.push(format!("unlink with ioengine={}", job.control.ioengine.fio_name()));
    }
    out
}
