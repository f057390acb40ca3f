//! `{rank}` and `{host}` in a target's paths: one `--target` serves every rank of a
//! many-host run (`mpirun`/`srun`), each on its own device or directory, as IOR's `-o
//! /scratch/{rank}` habit has it.

use std::path::{Path, PathBuf};

use super::{Backing, TargetSpec};

/// The placeholder for the MPI rank (0 when not under MPI).
pub const RANK: &str = "{rank}";
/// The placeholder for the host name.
pub const HOST: &str = "{host}";

impl TargetSpec {
    /// The spec with [`RANK`] and [`HOST`] in its paths (`backing=`, `path=`) replaced by
    /// `rank` and `host`; everything else as it was.
    pub fn for_rank(&self, rank: u32, host: &str) -> TargetSpec {
        let fill = |p: &Path| -> PathBuf {
            match p.to_str() {
                Some(s) => s.replace(RANK, &rank.to_string()).replace(HOST, host).into(),
                None => p.to_path_buf(),
            }
        };
        let mut spec = self.clone();
        match &mut spec {
            TargetSpec::Fsimpl(f) => {
                if let Some(Backing::Path(p)) = &mut f.backing {
                    *p = fill(p);
                }
            }
            TargetSpec::Dir { path } => *path = fill(path),
            TargetSpec::Mount(m) => {
                if let Some(p) = &mut m.backing {
                    *p = fill(p);
                }
            }
            TargetSpec::Null => {}
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_the_rank_and_host() {
        let t = |s: &str| s.parse::<TargetSpec>().unwrap().for_rank(3, "node7").to_string();
        assert_eq!(t("iomap:backing=/scratch/{host}/img-{rank}:size=1g"), "iomap:backing=/scratch/node7/img-3:size=1g");
        assert_eq!(t("ext4:backing=/var/tmp/{rank}:opts={rank}"), "ext4:opts={rank}:backing=/var/tmp/3");
        assert_eq!(t("dir:path=/mnt/{host}-{rank}"), "dir:path=/mnt/node7-3");
        assert_eq!(t("bh:backing=mem"), "bh:backing=mem");
        assert_eq!(t("null"), "null");
    }
}
