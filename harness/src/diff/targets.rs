//! The targets of a diff: specs with diff's defaults, built fresh for every run and for every
//! shrink attempt.

use super::DiffError;
use crate::targets::{self, Destroy, DiskCheck, FsimplDefaults, PoolCache, Target, TargetSpec};
use vocab::target::{Backing, Fault, FaultList, FsimplSpec};
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

/// diff's targets when none are given: bh and iomap at 1k blocks (four buffer heads or
/// bitmap bits per page, partial blocks inside a page) and at 4k (bh with large folios, as ext4
/// has them since Linux 6.16).
pub const DEFAULT_TARGETS: [&str; 4] =
    ["bh:block_size=1k", "bh:block_size=4k:large_folios=1", "iomap:block_size=1k", "iomap:block_size=4k"];

/// The default targets as specs.
pub fn default_specs() -> Vec<TargetSpec> {
    DEFAULT_TARGETS.iter().map(|s| s.parse().expect("valid spec")).collect()
}

/// `specs` with the seeded bug `name` switched on in every bh or iomap target whose backend
/// holds it (and that has no bug of its own); refused when no target gets it.
pub fn with_bug(mut specs: Vec<TargetSpec>, name: &str) -> Result<Vec<TargetSpec>, DiffError> {
    let option = format!("--bug {name}");
    let bug = fsimpl::bugs::Bug::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = fsimpl::bugs::Bug::ALL.iter().map(|b| b.name()).collect();
        DiffError::Option { option: option.clone(), why: format!("no such seeded bug (known: {})", names.join(", ")) }
    })?;
    let mut given = 0;
    for spec in &mut specs {
        if let TargetSpec::Fsimpl(f) = spec
            && bug.backend().is_none_or(|b| b == f.backend)
            && f.bug.is_none()
        {
            f.bug = Some(name.to_string());
            given += 1;
        }
    }
    if given == 0 {
        let kind = bug.backend().map_or("bh or iomap", |b| b.name());
        let why = format!("no {kind} target without a bug of its own to switch it on in: give one with --target");
        return Err(DiffError::Option { option, why });
    }
    Ok(specs)
}

/// `specs` with `faults=powercut=armed` on every bh and iomap target that has no `faults=`, so
/// that diff's power cut ops can cut their power.
pub fn with_power_cuts(mut specs: Vec<TargetSpec>) -> Vec<TargetSpec> {
    for spec in &mut specs {
        if let TargetSpec::Fsimpl(f) = spec
            && f.faults.is_empty()
        {
            f.faults = FaultList(vec![Fault::PowercutArmed]);
        }
    }
    specs
}

/// Whether a spec's target can lose power (`faults=powercut=...`).
pub fn can_lose_power(spec: &TargetSpec) -> bool {
    matches!(spec, TargetSpec::Fsimpl(f) if f.faults.0.iter().any(|x| matches!(x, Fault::Powercut(_) | Fault::PowercutArmed)))
}

/// diff's page cache and largest folio for an fsimpl spec with files up to `file_len`: half the
/// file (at least 2m, fsimpl's smallest) so that reclaim and background writeback run, and
/// folios of up to a quarter of the cache, so that a path that holds one folio while it
/// allocates the next always finds memory, as it does in a kernel whose memory is many folios.
fn fill_cache_defaults(f: &mut FsimplSpec, file_len: u64) {
    let cache = f.aops.cache.get_or_insert(Size((file_len / 2 / (2 << 20) * (2 << 20)).max(2 << 20))).bytes();
    f.aops.max_folio.get_or_insert(Size((cache / 4).clamp(4 << 10, 2 << 20).next_power_of_two()));
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
    /// memory reads 0xaa, so exposed uninitialised memory shows at once), `flusher=inline` (the
    /// flusher's work runs on the writer's thread when it crosses the background threshold,
    /// so no thread decides when writeback and its completion run, and a divergence replays
    /// and shrinks exactly), `backing=mem`, a page cache of half the largest file (at least 2m:
    /// small against the file, so that reclaim and background writeback run), folios of up to
    /// a quarter of the cache, and a device of `max(64m, 4 × file_len)`, each unless the spec
    /// gives it. The `null` target stores no data and is refused.
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
                fill_cache_defaults(f, file_len);
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

    /// The largest block size among the targets.
    pub fn max_block_size(&self) -> u64 {
        self.block_sizes.iter().copied().max().unwrap_or(4096)
    }

    /// The smallest block size among the targets.
    pub fn min_block_size(&self) -> u64 {
        self.block_sizes.iter().copied().min().unwrap_or(4096)
    }

    /// Each target's block size, in order.
    pub fn block_sizes(&self) -> &[u64] {
        &self.block_sizes
    }

    /// The alignment of collapse/insert ranges the model takes: the smallest block size. A
    /// target with larger blocks gets the ranges it cannot take emulated.
    pub fn range_align(&self) -> u64 {
        self.min_block_size()
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
        assert_eq!(
            set.specs()[0].to_string(),
            "bh:max_folio=512k:cache=2m:backing=mem:size=64m:poison=1:flusher=inline"
        );
        assert_eq!(set.specs()[1].get("poison").as_deref(), Some("0"));
        assert_eq!((set.min_block_size(), set.max_block_size(), set.range_align()), (1024, 4096, 1024));
        assert_eq!(set.names(), ["bh", "iomap"]);
        let set = TargetSet::new(vec!["bh".parse().unwrap()], 12 << 20).unwrap();
        assert_eq!(set.specs()[0].get("cache").as_deref(), Some("6m"));
    }

    #[test]
    fn bugs_go_to_the_targets_whose_backend_holds_them() {
        let bugs = |specs: &[TargetSpec]| specs.iter().map(|s| s.get("bug")).collect::<Vec<_>>();
        let specs = with_bug(default_specs(), "iomap_wb_drop_tail").unwrap();
        let drop_tail = Some("iomap_wb_drop_tail".to_string());
        assert_eq!(bugs(&specs), [None, None, drop_tail.clone(), drop_tail]);
        let specs = with_bug(default_specs(), "punch_leaves_cached_partial").unwrap();
        assert!(bugs(&specs).iter().all(|b| b.as_deref() == Some("punch_leaves_cached_partial")));
        let e = with_bug(vec!["iomap".parse().unwrap()], "bh_skip_rmw").unwrap_err();
        assert!(e.to_string().starts_with("--bug bh_skip_rmw: no bh target"), "{e}");
        assert!(with_bug(default_specs(), "nope").unwrap_err().to_string().contains("no such seeded bug"));
        let cut = with_power_cuts(vec!["bh:faults=read=9".parse().unwrap(), "iomap".parse().unwrap()]);
        assert_eq!(cut[0].get("faults").as_deref(), Some("read=9"));
        assert_eq!(cut[1].get("faults").as_deref(), Some("powercut=armed"));
        assert!(!can_lose_power(&cut[0]) && can_lose_power(&cut[1]));
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
