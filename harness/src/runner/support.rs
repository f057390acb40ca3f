//! What of a job the runner does not run yet: each such option is refused with one line
//! naming it, never silently ignored.

use workloads::Job;

/// The options of `job` the runner cannot honour, as `option=value` texts.
pub fn unsupported(job: &Job) -> Vec<String> {
    let mut out = Vec::new();
    if job.openfiles.is_some_and(|n| n < job.files_per_thread()) {
        out.push("openfiles".into());
    }
    out
}
