//! fio's `exec` engine (engines/exec.c): runs `program` in the background for the job's
//! runtime. Each I/O moves nothing: the first starts the program, the later ones wait 50 ms
//! (fio's `usleep(thinktime)`) and, once the runtime is up, send SIGTERM and give the program
//! `grace_time` seconds; the job's end sends SIGKILL to what still runs.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use workloads::fio::ExecOptions;

use super::{Engine, IoReq, Queued};
use crate::targets::TargetError;

/// The pause of each I/O and after it (fio's `fio_exec_init` sets `thinktime` to 50 ms).
const PAUSE: Duration = Duration::from_millis(50);

/// An `exec` job thread: the program it started.
pub struct ExecEngine {
    child: Child,
    started: Instant,
    runtime: Option<Duration>,
    grace: Duration,
    terminated: bool,
    /// The first I/O is the start itself (fio forks on it).
    first: bool,
}

/// Where the program's output goes with `std_redirect`: `JOB.stdout` and `JOB.stderr`.
pub struct Redirect {
    /// `JOB.stdout`.
    pub stdout: PathBuf,
    /// `JOB.stderr`.
    pub stderr: PathBuf,
}

impl ExecEngine {
    /// Starts `o.program` for job `job` that runs for `runtime`; its output goes to
    /// `redirect` when given (`std_redirect=1`), else to aopsbench's own.
    pub fn new(
        o: &ExecOptions,
        job: &str,
        runtime: Option<Duration>,
        redirect: Option<Redirect>,
    ) -> Result<Self, TargetError> {
        let program = o.program.clone().unwrap_or_default();
        let args = expand(o.arguments.as_deref().unwrap_or(""), runtime, job);
        // fio splits "program arguments" at spaces (exec_background) and execvp's the result.
        let line = format!("{program} {args}");
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        let name = words.next().unwrap_or_default();
        let mut cmd = Command::new(name);
        cmd.args(words).stdin(Stdio::null());
        if let Some(r) = redirect {
            let create = |p: &PathBuf| {
                File::create(p).map_err(|e| TargetError::Setup(format!("exec: cannot create {}: {e}", p.display())))
            };
            cmd.stdout(create(&r.stdout)?).stderr(create(&r.stderr)?);
        }
        let child = cmd.spawn().map_err(|e| TargetError::Setup(format!("exec: cannot run program={program}: {e}")))?;
        Ok(ExecEngine {
            child,
            started: Instant::now(),
            runtime,
            grace: Duration::from_secs(o.grace_time),
            terminated: false,
            first: true,
        })
    }

    /// The program's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then up to `grace` for the program to end.
    fn terminate(&mut self) {
        if self.terminated {
            return;
        }
        self.terminated = true;
        signal(&self.child, libc::SIGTERM);
        let until = Instant::now() + self.grace;
        while Instant::now() < until {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
        }
    }
}

/// fio's `expand_variables`: `%r` is the runtime in whole seconds, `%n` the job's name.
fn expand(args: &str, runtime: Option<Duration>, job: &str) -> String {
    let secs = runtime.map_or(0, |r| r.as_secs());
    args.replace("%r", &secs.to_string()).replace("%n", job)
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid; it has not been reaped (we hold its Child).
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

impl Engine for ExecEngine {
    fn queue(&mut self, _slot: u32, _req: &IoReq) -> Queued {
        if std::mem::take(&mut self.first) {
            return Queued::Done(Ok(0));
        }
        std::thread::sleep(PAUSE);
        if self.runtime.is_some_and(|r| self.started.elapsed() > r) {
            self.terminate();
        }
        Queued::Done(Ok(0))
    }
    fn think(&self) -> Option<Duration> {
        Some(PAUSE)
    }
}

impl Drop for ExecEngine {
    /// fio's `fio_exec_cleanup` sends SIGKILL; the program first gets its SIGTERM and grace
    /// time if the runtime ended between two I/Os. The child is reaped.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            if matches!(self.child.try_wait(), Ok(None)) {
                signal(&self.child, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_expand_runtime_and_name() {
        assert_eq!(expand("%r -n %n", Some(Duration::from_secs(10)), "sleep"), "10 -n sleep");
        assert_eq!(expand("x", None, "j"), "x");
    }

    fn req() -> IoReq {
        IoReq::new(super::super::IoKind::Read, 0, 0, std::ptr::null_mut(), 0)
    }

    #[test]
    fn the_program_runs_with_its_output_redirected() {
        let dir = tempfile::tempdir().unwrap();
        let o = ExecOptions {
            program: Some("/bin/echo".into()),
            arguments: Some("hello  %n".into()),
            grace_time: 1,
            std_redirect: true,
        };
        let redirect = Redirect { stdout: dir.path().join("j.stdout"), stderr: dir.path().join("j.stderr") };
        let mut e = ExecEngine::new(&o, "j", Some(Duration::from_secs(5)), Some(redirect)).unwrap();
        assert_eq!(e.queue(0, &req()), Queued::Done(Ok(0)), "exec moves no bytes");
        assert!(e.child.wait().unwrap().success());
        drop(e);
        assert_eq!(std::fs::read_to_string(dir.path().join("j.stdout")).unwrap(), "hello j\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("j.stderr")).unwrap(), "");
    }

    #[test]
    fn past_the_runtime_an_io_sends_sigterm() {
        use std::os::unix::process::ExitStatusExt;
        let o = ExecOptions {
            program: Some("sleep".into()),
            arguments: Some("30".into()),
            grace_time: 5,
            std_redirect: false,
        };
        let mut e = ExecEngine::new(&o, "s", Some(Duration::ZERO), None).unwrap();
        e.queue(0, &req());
        e.queue(0, &req());
        assert_eq!(e.child.try_wait().unwrap().and_then(|s| s.signal()), Some(libc::SIGTERM));
    }

    #[test]
    fn a_missing_program_is_one_clear_error() {
        let o = ExecOptions {
            program: Some("/nonexistent/prog".into()),
            arguments: None,
            grace_time: 1,
            std_redirect: false,
        };
        let err = ExecEngine::new(&o, "s", None, None).err().unwrap().to_string();
        assert!(err.starts_with("exec: cannot run program=/nonexistent/prog: "), "{err}");
    }
}
