//! What one job thread does: its files, the layout before measurement, and its op stream.

use super::job::{Job, RunControl};
use super::prio::{CmdPrio, ThreadPrio};
use super::stream::OpStream;
use super::types::Prealloc;
use crate::op::{FallocMode, Op};
use crate::rng::seeded;

/// A file a job thread uses, named as fio names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// `jobname.thread.filenum` (under `directory/` when given), or a `filename=` entry.
    /// Relative to the target's root.
    pub name: String,
    /// Its size: `offset` plus the I/O region.
    pub size: u64,
}

/// One job thread (of `numjobs`), ready to run.
#[derive(Clone, Debug)]
pub struct ThreadPlan {
    /// The job's name.
    pub job_name: String,
    /// The job's position among the jobs.
    pub job_index: u32,
    /// This thread's index, `0..numjobs`.
    pub thread: u32,
    /// Its files; [`Op`] `file` fields index this list.
    pub files: Vec<FileSpec>,
    /// Ops that make the files what the job expects before measurement, as fio's "laying out
    /// IO file": preallocation per `fallocate=` as [`Op::Fallocate`] (or [`Op::Truncate`] for
    /// `fallocate=truncate`); for jobs that read or have `overwrite=1`, the whole file written
    /// (in 1 MiB writes, or the largest block size if bigger) and fsynced. Files shared through
    /// `filename=` are laid out by thread 0 only.
    pub layout: Vec<Op>,
    /// `create_on_open`: create the files when first used rather than before measurement (the
    /// layout is then empty for write-only jobs, as in fio).
    pub create_on_open: bool,
    /// The measured ops.
    pub ops: OpStream,
    /// Pacing and run control.
    pub control: RunControl,
    /// The largest read, write or trim the stream issues (what an I/O buffer must hold).
    pub max_bs: u64,
    /// The job's seed ([`Job::seed`]); with the job index and the thread index it fixes the
    /// stream. Record it to rerun a `randrepeat=0` job (as `randseed=`).
    pub seed: u64,
    /// The thread's I/O priority and the per-I/O choice of cmdprio (seeded like the stream).
    pub prio: ThreadPrio,
}

/// Size of the writes that lay a file out.
const LAYOUT_CHUNK: u64 = 1 << 20;

impl Job {
    /// One plan per thread (`numjobs` of them). Each thread's stream is ChaCha8 seeded from
    /// [`Job::seed`], the job index and the thread index.
    pub fn threads(&self) -> Vec<ThreadPlan> {
        (0..self.numjobs).map(|t| self.thread(t)).collect()
    }

    /// The files of thread `thread`: `filename=` entries (shared by every thread, sized for
    /// the last one), else named by `filename_format` (fio's `$jobname.$jobnum.$filenum` by
    /// default), under `directory=`.
    pub fn files(&self, thread: u32) -> Vec<FileSpec> {
        match &self.filename {
            Some(names) => {
                let size = self.file_size();
                names.split(':').map(|n| FileSpec { name: n.to_string(), size }).collect()
            }
            None => {
                let size = self.thread_file_size(thread);
                (0..self.nrfiles)
                    .map(|i| {
                        let base = self.file_name(thread, i);
                        let name = match &self.directory {
                            Some(dir) => format!("{dir}/{base}"),
                            None => base,
                        };
                        FileSpec { name, size }
                    })
                    .collect()
            }
        }
    }

    /// fio's `make_filename`: `filename_format` with `$jobname`, `$jobnum` (the thread),
    /// `$filenum` and `$clientuid` (empty: there is no client/server mode) replaced.
    fn file_name(&self, thread: u32, file: u32) -> String {
        match &self.filename_format {
            None => format!("{}.{thread}.{file}", self.name),
            Some(f) => f
                .replace("$jobname", &self.name)
                .replace("$jobnum", &thread.to_string())
                .replace("$filenum", &file.to_string())
                .replace("$clientuid", ""),
        }
    }

    fn thread(&self, thread: u32) -> ThreadPlan {
        let files = self.files(thread);
        let shared_elsewhere = self.filename.is_some() && thread > 0;
        let layout = if shared_elsewhere { Vec::new() } else { self.layout(&files) };
        let first_tag = 1 + layout.iter().filter(|op| matches!(op, Op::Write { .. })).count() as u64;
        let rng = seeded(b"aopsfio1", self.seed(), u64::from(self.index), u64::from(thread));
        ThreadPlan {
            job_name: self.name.clone(),
            job_index: self.index,
            thread,
            ops: OpStream::new(self, thread, rng, files.len() as u32, first_tag),
            files,
            layout,
            create_on_open: self.create_on_open,
            control: self.control.clone(),
            max_bs: self.max_bs(),
            seed: self.seed(),
            prio: self.thread_prio(thread),
        }
    }

    /// Thread `thread`'s priorities: `prio`/`prioclass`/`priohint`, and cmdprio over the
    /// directions the job does (fio's `td_read`, `td_write`).
    fn thread_prio(&self, thread: u32) -> ThreadPrio {
        let job = self.control.prio.value();
        let cmdprio = CmdPrio::new(&self.control.cmdprio, self.rw.reads(), self.rw.writes(), job.unwrap_or_default());
        ThreadPrio::new(job, cmdprio, self.seed(), self.index, thread)
    }

    /// fio's `extend_file`: preallocate, and write the file out when the job reads or trims it
    /// or overwrites it. Nothing for `verify_only` (the files hold what an earlier job wrote)
    /// or `fill_device` (the file grows until the filesystem is full).
    fn layout(&self, files: &[FileSpec]) -> Vec<Op> {
        let full_layout = self.rw.reads() || self.rw.trims() || self.overwrite;
        if (self.create_on_open && !full_layout) || self.verify.only || self.fill_device {
            return Vec::new();
        }
        let chunk = LAYOUT_CHUNK.max(self.max_bs());
        let mut ops = Vec::new();
        let mut tag = 1;
        for (i, spec) in files.iter().enumerate() {
            let file = i as u32;
            let size = spec.size;
            match self.fallocate {
                Prealloc::None => {}
                Prealloc::Native | Prealloc::Posix => {
                    ops.push(Op::Fallocate { file, mode: FallocMode::Allocate, offset: 0, len: size });
                }
                Prealloc::Keep => ops.push(Op::Fallocate { file, mode: FallocMode::KeepSize, offset: 0, len: size }),
                Prealloc::Truncate => ops.push(Op::Truncate { file, size }),
            }
            if full_layout {
                let mut offset = 0;
                while offset < size {
                    let len = chunk.min(size - offset);
                    ops.push(Op::Write { file, offset, len, tag });
                    tag += 1;
                    offset += len;
                }
                ops.push(Op::Fsync { file });
            }
        }
        ops
    }
}
