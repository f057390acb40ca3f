//! The targets of a diff: specs with diff's defaults, built fresh for every run and for every
//! shrink attempt.

use super::DiffError;
use crate::targets::{self, Destroy, DiskCheck, FsimplDefaults, PoolCache, Target, TargetSpec};
use vocab::target::Backing;
use vocab::{Flusher, Size};

/// Wraps target `i` of a set as it is built (e.g. in a [`super::FlipTarget`]).
pub type Wrapper = dyn Fn(usize, Box<dyn Target>) -> Box<dyn Target>;

/// The targets a diff runs on, as specs, with how to build them afresh.
pub struct TargetSet {
    specs: Vec<TargetSpec>,
    names: Vec<String>,
    block_sizes: Vec<u64>,
    pools: PoolCache,
    wrap: Option<Box<Wrapper>>,
    destroy: Destroy,
    disk_checks: Vec<DiskCheck>,
}

/// The block size of a target: fsimpl's `block_size` (default 4096); a kernel filesystem's
/// `-b` in `mkfs_opts` (mkfs.ext4 `-b 1024`, mkfs.xfs `-b size=1024`), else 4096.
pub fn block_size_of(spec: &TargetSpec) -> Result<u64, DiffError> {
    match spec {
        TargetSpec::Fsimpl(f) => Ok(f.aops.block_size.map_or(4096, Size::bytes)),
        TargetSpec::Mount(m) => {
            m.block_size().map_err(|e| DiffError::Refused { target: spec.to_string(), why: format!("mkfs_opts: {e}") })
        }
        TargetSpec::Null | TargetSpec::Dir { .. } => Ok(4096),
    }
}

/// A short unique name per spec: the kind, plus the parameters that tell it apart from the
/// other specs of its kind (`bh`, `bh:bug=bh_skip_rmw`); `#n` when even those repeat.
pub fn short_names(specs: &[TargetSpec]) -> Vec<String> {
    let mut names: Vec<String> = specs
        .iter()
        .map(|s| {
            let same_kind: Vec<&TargetSpec> = specs.iter().filter(|o| o.kind() == s.kind()).collect();
            let mut name = s.kind().to_string();
            for (k, v) in s.params() {
                let common = same_kind.iter().all(|o| o.get(k).as_ref() == Some(&v));
                if !common {
                    name.push_str(&format!(":{k}={v}"));
                }
            }
            name
        })
        .collect();
    for i in 0..names.len() {
        let dups = names[..i].iter().filter(|n| **n == names[i]).count();
        if dups > 0 {
            names[i] = format!("{}#{}", names[i], dups + 1);
        }
    }
    names
}

impl TargetSet {
    /// The targets of `specs` with diff's defaults: for fsimpl targets `poison=1` (freed folio
    /// memory reads 0xaa, so exposed uninitialised memory shows at once), `flusher=inline` (no
    /// thread decides when writeback and its completion run, so a divergence replays and
    /// shrinks exactly), `backing=mem`, a
    /// page cache of `max(4m, file_len)` (small enough that reclaim runs) and a device of
    /// `max(64m, 4 × file_len)`, each unless the spec gives it. The `null` target stores no
    /// data and is refused.
    pub fn new(specs: Vec<TargetSpec>, file_len: u64) -> Result<TargetSet, DiffError> {
        if specs.is_empty() {
            return Err(DiffError::Refused { target: "(none)".into(), why: "give at least one target".into() });
        }
        let mut prepared = Vec::with_capacity(specs.len());
        let mut block_sizes = Vec::with_capacity(specs.len());
        for mut spec in specs {
            if spec == TargetSpec::Null {
                return Err(DiffError::Refused {
                    target: spec.to_string(),
                    why: "the null target stores no data (its reads return zeros), so there is nothing to compare: \
                          diff bh, iomap, tmpfs, ext4, xfs or dir targets"
                        .into(),
                });
            }
            if let TargetSpec::Fsimpl(f) = &mut spec {
                f.poison.get_or_insert(true);
                f.flusher.get_or_insert(Flusher::Inline);
                f.backing.get_or_insert(Backing::Mem);
                f.aops.cache.get_or_insert(Size(file_len.next_multiple_of(2 << 20).max(4 << 20)));
                f.size.get_or_insert(Size(file_len.saturating_mul(4).next_multiple_of(1 << 20).max(64 << 20)));
            }
            block_sizes.push(block_size_of(&spec)?);
            prepared.push(spec);
        }
        let names = short_names(&prepared);
        Ok(TargetSet {
            specs: prepared,
            names,
            block_sizes,
            pools: PoolCache::default(),
            wrap: None,
            destroy: Destroy::Refuse,
            disk_checks: Vec::new(),
        })
    }

    /// Wraps each target as it is built: `wrap(index, target)`.
    pub fn with_wrapper(mut self, wrap: impl Fn(usize, Box<dyn Target>) -> Box<dyn Target> + 'static) -> Self {
        self.wrap = Some(Box::new(wrap));
        self
    }

    /// Lets targets overwrite a `backing=` that holds data or a filesystem (`--force-destroy`).
    pub fn with_destroy(mut self, destroy: Destroy) -> Self {
        self.destroy = destroy;
        self
    }

    /// Checks of the targets' images after every remount and at the end (`--check`).
    pub fn with_disk_checks(mut self, checks: Vec<DiskCheck>) -> Self {
        self.disk_checks = checks;
        self
    }

    /// The image checks asked for.
    pub fn disk_checks(&self) -> &[DiskCheck] {
        &self.disk_checks
    }

    /// Short unique names (the kind, or the spec as given when kinds repeat).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The specs, with diff's defaults filled in.
    pub fn specs(&self) -> &[TargetSpec] {
        &self.specs
    }

    /// The largest block size among the targets: collapse/insert ranges aligned to it work on
    /// every target.
    pub fn max_block_size(&self) -> u64 {
        self.block_sizes.iter().copied().max().unwrap_or(4096)
    }

    /// The smallest block size among the targets.
    pub fn min_block_size(&self) -> u64 {
        self.block_sizes.iter().copied().min().unwrap_or(4096)
    }

    /// Builds every target afresh: new fsimpl filesystems, new kernel mounts.
    pub fn build(&self) -> Result<Vec<Box<dyn Target>>, DiffError> {
        let mut out = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            let t = targets::build_with(spec, &FsimplDefaults::default(), &self.pools, self.destroy)
                .map_err(|source| DiffError::Setup { source })?;
            out.push(match &self.wrap {
                Some(wrap) => wrap(i, t),
                None => t,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsimpl_specs_get_diff_defaults_unless_given() {
        let specs =
            vec!["bh".parse::<TargetSpec>().unwrap(), "iomap:poison=0:block_size=1k".parse::<TargetSpec>().unwrap()];
        let set = TargetSet::new(specs, 256 << 10).unwrap();
        assert_eq!(set.specs()[0].to_string(), "bh:cache=4m:backing=mem:size=64m:poison=1:flusher=inline");
        assert_eq!(set.specs()[1].get("poison").as_deref(), Some("0"));
        assert_eq!((set.min_block_size(), set.max_block_size()), (1024, 4096));
        assert_eq!(set.names(), ["bh", "iomap"]);
    }

    #[test]
    fn names_keep_what_tells_specs_of_a_kind_apart() {
        let specs: Vec<TargetSpec> = ["bh:poison=1", "iomap", "bh:bug=bh_skip_rmw:poison=1", "bh:poison=1"]
            .iter()
            .map(|s| s.parse::<TargetSpec>().unwrap())
            .collect();
        assert_eq!(short_names(&specs), ["bh", "iomap", "bh:bug=bh_skip_rmw", "bh#2"]);
    }

    #[test]
    fn null_is_refused_and_kernel_block_sizes_come_from_mkfs_opts() {
        let e = TargetSet::new(vec!["null".parse::<TargetSpec>().unwrap()], 1 << 20).err().unwrap();
        assert!(e.to_string().contains("stores no data"), "{e}");
        let xfs = "xfs:mkfs_opts=-b size=1024 -m reflink=0".parse::<TargetSpec>().unwrap();
        assert_eq!(block_size_of(&xfs).unwrap(), 1024);
        assert_eq!(block_size_of(&"ext4:mkfs_opts=-b 2048".parse::<TargetSpec>().unwrap()).unwrap(), 2048);
        assert_eq!(block_size_of(&"tmpfs".parse::<TargetSpec>().unwrap()).unwrap(), 4096);
    }
}
