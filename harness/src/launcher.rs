//! Which launcher started this process, read from the environment each one gives its tasks:
//! Open MPI's `mpirun` (`OMPI_COMM_WORLD_SIZE`/`_RANK`), MPICH's and Intel MPI's Hydra
//! `mpiexec` (`PMI_SIZE`/`PMI_RANK`), a PMIx launcher such as `prterun` (`PMIX_RANK` with
//! `OMPI_COMM_WORLD_SIZE`), or Slurm's `srun` (`SLURM_STEP_NUM_TASKS`/`SLURM_PROCID`; a batch
//! script itself has `SLURM_NTASKS` but no step, so it is not taken for a task).
//!
//! A build without the `mpi` feature uses this to refuse a start as one of several tasks, which
//! would otherwise be N independent runs writing over each other's results.

use std::fmt;

/// A launcher that started this process as one of `size` tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launched {
    /// What started it: "mpirun (Open MPI)", "mpiexec (Hydra: MPICH, Intel MPI)", "srun (Slurm)".
    pub by: &'static str,
    /// This task's rank.
    pub rank: u32,
    /// How many tasks were started.
    pub size: u32,
}

impl fmt::Display for Launched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as task {} of {}", self.by, self.rank, self.size)
    }
}

/// The launcher that started this process as one of several tasks, from the variables `env`
/// gives (`std::env::var`, or a map in tests); `None` when started alone.
pub fn detect(env: impl Fn(&str) -> Option<String>) -> Option<Launched> {
    let num = |name: &str| env(name).and_then(|v| v.trim().parse::<u32>().ok());
    let found = [
        ("mpirun (Open MPI)", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
        ("mpiexec (Hydra: MPICH, Intel MPI)", "PMI_SIZE", "PMI_RANK"),
        ("srun (Slurm)", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
    ]
    .into_iter()
    .find_map(|(by, size, rank)| Some(Launched { by, size: num(size)?, rank: num(rank).unwrap_or(0) }));
    found.filter(|l| l.size > 1)
}

/// [`detect`] on this process's environment.
pub fn detect_here() -> Option<Launched> {
    detect(|name| std::env::var(name).ok())
}

/// The one line a build without MPI gives when started as one of several tasks.
pub fn refusal(launched: &Launched) -> String {
    format!(
        "started by {launched}, but this aopsbench was built without MPI: each task would run alone and write over \
         the others' results; build with `cargo build --release --features mpi` (needs an MPI library, e.g. apt-get \
         install openmpi-bin libopenmpi-dev libclang-dev) and start that binary"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn each_launcher_is_recognised() {
        let open_mpi = detect(env(&[("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_RANK", "2")])).unwrap();
        assert_eq!(open_mpi, Launched { by: "mpirun (Open MPI)", rank: 2, size: 4 });
        let hydra = detect(env(&[("PMI_SIZE", "3"), ("PMI_RANK", "0"), ("PMI_FD", "5")])).unwrap();
        assert_eq!((hydra.by, hydra.size), ("mpiexec (Hydra: MPICH, Intel MPI)", 3));
        // srun: what Slurm sets in each task of a step.
        let srun = detect(env(&[
            ("SLURM_JOB_ID", "77"),
            ("SLURM_STEP_ID", "0"),
            ("SLURM_NTASKS", "16"),
            ("SLURM_STEP_NUM_TASKS", "16"),
            ("SLURM_PROCID", "9"),
        ]))
        .unwrap();
        assert_eq!(srun.to_string(), "srun (Slurm) as task 9 of 16");
    }

    #[test]
    fn alone_is_not_launched() {
        assert_eq!(detect(env(&[])), None);
        // One task of mpirun -np 1, or srun -n 1: nobody to write over.
        assert_eq!(detect(env(&[("OMPI_COMM_WORLD_SIZE", "1"), ("OMPI_COMM_WORLD_RANK", "0")])), None);
        // The batch script of an sbatch job: the job's task count, but no step.
        assert_eq!(detect(env(&[("SLURM_JOB_ID", "77"), ("SLURM_NTASKS", "16"), ("SLURM_PROCID", "0")])), None);
        assert_eq!(detect(env(&[("PMI_SIZE", "lots")])), None);
    }

    #[test]
    fn the_refusal_says_how_to_build() {
        let l = Launched { by: "srun (Slurm)", rank: 1, size: 2 };
        let line = refusal(&l);
        assert!(line.contains("--features mpi") && line.contains("srun (Slurm) as task 1 of 2"), "{line}");
        assert!(!line.contains('\n'));
    }
}
