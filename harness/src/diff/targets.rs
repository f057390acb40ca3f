//! The targets of a diff: specs with diff's defaults, built fresh for every run and for every
//! shrink attempt.

use super::DiffError;
use crate::targets::{self, Destroy, FsimplDefaults, PoolCache, Target, TargetSpec};

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
}

/// `bytes` with a fio suffix when it is a whole number of MiB or KiB.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b.is_multiple_of(1 << 20) => format!("{}m", b >> 20),
        b if b >= 1 << 10 && b.is_multiple_of(1 << 10) => format!("{}k", b >> 10),
        b => b.to_string(),
    }
}

/// diff's targets when none are given: bh and iomap at 1k blocks (four buffer heads or
/// bitmap bits per page, partial blocks inside a page) and at 4k (bh with large folios, as ext4
/// has them since Linux 6.16).
pub const DEFAULT_TARGETS: [&str; 4] =
    ["bh:block_size=1k", "bh:block_size=4k:large_folios=1", "iomap:block_size=1k", "iomap:block_size=4k"];

/// The default targets as specs.
pub fn default_specs() -> Vec<TargetSpec> {
    DEFAULT_TARGETS.iter().map(|s| TargetSpec::parse(s).expect("valid spec")).collect()
}

/// `specs` with the seeded bug `name` switched on in every bh or iomap target whose backend
/// holds it (and that has no bug of its own); refused when no target gets it.
pub fn with_bug(mut specs: Vec<TargetSpec>, name: &str) -> Result<Vec<TargetSpec>, DiffError> {
    let bug = fsimpl::bugs::Bug::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = fsimpl::bugs::Bug::ALL.iter().map(|b| b.name()).collect();
        DiffError::Refused {
            target: format!("--bug {name}"),
            why: format!("no such seeded bug (known: {})", names.join(", ")),
        }
    })?;
    let mut given = 0;
    for spec in &mut specs {
        let fits = match bug.backend() {
            Some(b) => spec.kind == b.name(),
            None => spec.kind == "bh" || spec.kind == "iomap",
        };
        if fits && spec.get("bug").is_none() {
            spec.params.push(("bug".into(), name.into()));
            given += 1;
        }
    }
    if given == 0 {
        let kind = bug.backend().map_or("bh or iomap", |b| b.name());
        return Err(DiffError::Option {
            option: format!("--bug {name}"),
            why: format!("no {kind} target without a bug of its own to switch it on in: give one with --target"),
        });
    }
    Ok(specs)
}

/// `specs` with `faults=powercut=armed` on every bh and iomap target that has no `faults=`, so
/// that `--powercut-every` can cut their power.
pub fn with_power_cuts(mut specs: Vec<TargetSpec>) -> Vec<TargetSpec> {
    for spec in &mut specs {
        if spec.kind == "bh" || spec.kind == "iomap" {
            spec.default_param("faults", "powercut=armed");
        }
    }
    specs
}

/// The block size of a target: fsimpl's `block_size` (default 4096); a kernel filesystem's
/// `-b` in `mkfs_opts` (mkfs.ext4 `-b 1024`, mkfs.xfs `-b size=1024`), else 4096.
pub fn block_size_of(spec: &TargetSpec) -> Result<u64, DiffError> {
    let bad = |why: String| DiffError::Refused { target: spec.to_string(), why };
    match spec.kind.as_str() {
        "bh" | "iomap" => Ok(spec.size("block_size").map_err(|e| bad(e.to_string()))?.unwrap_or(4096)),
        _ => {
            let opts = spec.get("mkfs_opts").unwrap_or_default();
            let mut words = opts.split_whitespace();
            while let Some(w) = words.next() {
                if w == "-b" {
                    let v = words.next().unwrap_or_default();
                    let v = v.strip_prefix("size=").unwrap_or(v);
                    return targets::parse_size(v)
                        .filter(|b| b.is_power_of_two())
                        .ok_or_else(|| bad(format!("mkfs_opts: '-b {v}' is not a block size")));
                }
            }
            Ok(4096)
        }
    }
}

/// A short unique name per spec: the kind, plus the parameters that tell it apart from the
/// other specs of its kind (`bh`, `bh:bug=bh_skip_rmw`); `#n` when even those repeat.
pub fn short_names(specs: &[TargetSpec]) -> Vec<String> {
    let mut names: Vec<String> = specs
        .iter()
        .map(|s| {
            let same_kind: Vec<&TargetSpec> = specs.iter().filter(|o| o.kind == s.kind).collect();
            let mut name = s.kind.clone();
            for (k, v) in &s.params {
                let common = same_kind.iter().all(|o| o.get(k) == Some(v.as_str()));
                if !common && s.get(k) == Some(v.as_str()) {
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
    /// memory reads 0xaa, so exposed uninitialised memory shows at once), `backing=mem`, a
    /// page cache of half the largest file (at least 2m, fsimpl's smallest: small against the
    /// file, so that reclaim and background writeback run), folios of up to a quarter of the
    /// cache, and a device of `max(64m, 4 × file_len)`, each unless the spec gives it. The `null` target stores no
    /// data and is refused.
    pub fn new(specs: Vec<TargetSpec>, file_len: u64) -> Result<TargetSet, DiffError> {
        if specs.is_empty() {
            return Err(DiffError::Refused { target: "(none)".into(), why: "give at least one target".into() });
        }
        let mut prepared = Vec::with_capacity(specs.len());
        let mut block_sizes = Vec::with_capacity(specs.len());
        for mut spec in specs {
            if spec.kind == "null" {
                return Err(DiffError::Refused {
                    target: spec.to_string(),
                    why: "the null target stores no data (its reads return zeros), so there is nothing to compare: \
                          diff bh, iomap, tmpfs, ext4, xfs or dir targets"
                        .into(),
                });
            }
            if spec.kind == "bh" || spec.kind == "iomap" {
                spec.default_param("poison", "1");
                spec.default_param("backing", "mem");
                let cache = (file_len / 2 / (2 << 20) * (2 << 20)).max(2 << 20);
                spec.default_param("cache", size_text(cache));
                // Folios of up to a quarter of the cache: a path that holds one folio while it
                // allocates the next always finds memory, as it does in a kernel whose memory
                // is many folios.
                let cache = spec.size("cache").ok().flatten().unwrap_or(cache);
                spec.default_param("max_folio", size_text((cache / 4).clamp(4 << 10, 2 << 20).next_power_of_two()));
                spec.default_param(
                    "size",
                    size_text(file_len.saturating_mul(4).next_multiple_of(1 << 20).max(64 << 20)),
                );
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
        let specs = vec![TargetSpec::parse("bh").unwrap(), TargetSpec::parse("iomap:poison=0:block_size=1k").unwrap()];
        let set = TargetSet::new(specs, 256 << 10).unwrap();
        assert_eq!(set.specs()[0].to_string(), "bh:poison=1:backing=mem:cache=2m:max_folio=512k:size=64m");
        assert_eq!(set.specs()[1].get("poison"), Some("0"));
        assert_eq!((set.min_block_size(), set.max_block_size(), set.range_align()), (1024, 4096, 1024));
        assert_eq!(set.names(), ["bh", "iomap"]);
        let set = TargetSet::new(vec![TargetSpec::parse("bh").unwrap()], 12 << 20).unwrap();
        assert_eq!(set.specs()[0].get("cache"), Some("6m"));
    }

    #[test]
    fn bugs_go_to_the_targets_whose_backend_holds_them() {
        let specs = with_bug(default_specs(), "iomap_wb_drop_tail").unwrap();
        let bugs: Vec<Option<&str>> = specs.iter().map(|s| s.get("bug")).collect();
        assert_eq!(bugs, [None, None, Some("iomap_wb_drop_tail"), Some("iomap_wb_drop_tail")]);
        let specs = with_bug(default_specs(), "punch_leaves_cached_partial").unwrap();
        assert!(specs.iter().all(|s| s.get("bug") == Some("punch_leaves_cached_partial")));
        let e = with_bug(vec![TargetSpec::parse("iomap").unwrap()], "bh_skip_rmw").unwrap_err();
        assert!(e.to_string().contains("no bh target"), "{e}");
        assert!(with_bug(default_specs(), "nope").unwrap_err().to_string().contains("no such seeded bug"));
        let cut =
            with_power_cuts(vec![TargetSpec::parse("bh:faults=read=9").unwrap(), TargetSpec::parse("iomap").unwrap()]);
        assert_eq!((cut[0].get("faults"), cut[1].get("faults")), (Some("read=9"), Some("powercut=armed")));
    }

    #[test]
    fn names_keep_what_tells_specs_of_a_kind_apart() {
        let specs: Vec<TargetSpec> = ["bh:poison=1", "iomap", "bh:bug=bh_skip_rmw:poison=1", "bh:poison=1"]
            .iter()
            .map(|s| TargetSpec::parse(s).unwrap())
            .collect();
        assert_eq!(short_names(&specs), ["bh", "iomap", "bh:bug=bh_skip_rmw", "bh#2"]);
    }

    #[test]
    fn null_is_refused_and_kernel_block_sizes_come_from_mkfs_opts() {
        let e = TargetSet::new(vec![TargetSpec::parse("null").unwrap()], 1 << 20).err().unwrap();
        assert!(e.to_string().contains("stores no data"), "{e}");
        let xfs = TargetSpec::parse("xfs:mkfs_opts=-b size=1024 -m reflink=0").unwrap();
        assert_eq!(block_size_of(&xfs).unwrap(), 1024);
        assert_eq!(block_size_of(&TargetSpec::parse("ext4:mkfs_opts=-b 2048").unwrap()).unwrap(), 2048);
        assert_eq!(block_size_of(&TargetSpec::parse("tmpfs").unwrap()).unwrap(), 4096);
    }
}
