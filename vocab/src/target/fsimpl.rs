//! The `bh` and `iomap` target specs.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::SpecError;
use super::faults::FaultList;
use crate::aops::{AopsParams, Backend, Flusher};
use crate::error::ValueError;
use crate::flag::parse_bool;
use crate::size::Size;

/// What the fsimpl device sits on (`backing=`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Backing {
    /// `mem`: RAM.
    Mem,
    /// `tempfile` (the default): an image file in the temporary directory, deleted afterwards.
    TempFile,
    /// A block device or an image file at this path.
    Path(PathBuf),
}

impl FromStr for Backing {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "" => Err(ValueError::new("expected mem, tempfile, or the path of a block device or image file")),
            "mem" => Ok(Backing::Mem),
            "tempfile" => Ok(Backing::TempFile),
            path => Ok(Backing::Path(path.into())),
        }
    }
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backing::Mem => f.write_str("mem"),
            Backing::TempFile => f.write_str("tempfile"),
            Backing::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// How the fsimpl device does its I/O (`engine=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DevEngine {
    /// `uring`: io_uring with a queue depth (the default; psync when io_uring is unavailable).
    #[default]
    Uring,
    /// `psync`: pread/pwrite.
    Psync,
    /// `mem`: RAM (what `backing=mem` always uses).
    Mem,
}

impl FromStr for DevEngine {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "uring" => Ok(DevEngine::Uring),
            "psync" => Ok(DevEngine::Psync),
            "mem" => Ok(DevEngine::Mem),
            _ => Err(ValueError::new("expected uring or psync (mem with backing=mem)")),
        }
    }
}

impl fmt::Display for DevEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DevEngine::Uring => "uring",
            DevEngine::Psync => "psync",
            DevEngine::Mem => "mem",
        })
    }
}

/// The largest device queue depth (`qd=`).
pub const MAX_QD: u32 = 4096;

/// A `bh` or `iomap` spec: the fsimpl backend over a file, a block device or RAM. `None`
/// leaves a parameter to the job's `aops_*` options or fsimpl's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsimplSpec {
    /// `bh` or `iomap`.
    pub backend: Backend,
    /// `block_size`, `max_folio`, `large_folios` (bh only), `cache`, `writeback`, the dirty
    /// ratios.
    pub aops: AopsParams,
    /// `backing=`.
    pub backing: Option<Backing>,
    /// `size=`: the device size for a file or RAM backing.
    pub size: Option<Size>,
    /// `engine=`.
    pub engine: Option<DevEngine>,
    /// `qd=`: the io_uring engine's queue depth.
    pub qd: Option<u32>,
    /// `poison=`: fill freed folio memory with the poison byte.
    pub poison: Option<bool>,
    /// `bug=`: a seeded bug by name (fsimpl knows the names).
    pub bug: Option<String>,
    /// `faults=`.
    pub faults: FaultList,
    /// `flusher=`: who does background writeback and completion work.
    pub flusher: Option<Flusher>,
    /// `dioread_nolock=` (bh only): ext4's default since 5.6, writeback allocates unwritten
    /// extents and converts them at I/O completion; 0 allocates written ones.
    pub dioread_nolock: Option<bool>,
    /// `ra_kb=`: the readahead window in KiB (`read_ahead_kb`; default: the device's).
    pub ra_kb: Option<u32>,
    /// `image=`: mount this existing ext4 image or block device instead of formatting one.
    pub image: Option<PathBuf>,
    /// `mkfs_opts=`: format with `mkfs.ext4` and these options (space-separated) instead of
    /// fsimpl's own mkfs.
    pub mkfs_opts: Option<String>,
    /// `commit=`: seconds between journal commits (ext4's `commit=`); 0: only when asked.
    pub commit: Option<u64>,
}

/// The largest `ra_kb=`.
pub const MAX_RA_KB: u32 = 1 << 20;

impl FsimplSpec {
    /// The parameters a `bh` spec takes.
    pub const BH_PARAMS: &'static [&'static str] = &[
        "block_size",
        "max_folio",
        "large_folios",
        "cache",
        "writeback",
        "dirty_background_ratio",
        "dirty_ratio",
        "backing",
        "size",
        "engine",
        "qd",
        "poison",
        "bug",
        "faults",
        "flusher",
        "dioread_nolock",
        "ra_kb",
        "image",
        "mkfs_opts",
        "commit",
    ];
    /// The parameters an `iomap` spec takes (large folios are iomap's own).
    pub const IOMAP_PARAMS: &'static [&'static str] = &[
        "block_size",
        "max_folio",
        "cache",
        "writeback",
        "dirty_background_ratio",
        "dirty_ratio",
        "backing",
        "size",
        "engine",
        "qd",
        "poison",
        "bug",
        "faults",
        "flusher",
        "ra_kb",
        "image",
        "mkfs_opts",
        "commit",
    ];

    /// A spec with every parameter left to its default.
    pub fn new(backend: Backend) -> Self {
        FsimplSpec { backend, ..FsimplSpec::default() }
    }

    /// Sets one parameter (a key of [`FsimplSpec::BH_PARAMS`]) from its text.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<(), ValueError> {
        match key {
            "backing" => self.backing = Some(value.parse()?),
            "size" => self.size = Some(value.parse()?),
            "engine" => self.engine = Some(value.parse()?),
            "qd" => {
                self.qd = Some(
                    value
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|q| (1..=MAX_QD).contains(q))
                        .ok_or_else(|| ValueError::new(format!("expected a queue depth from 1 to {MAX_QD}")))?,
                )
            }
            "poison" => self.poison = Some(parse_bool(Some(value))?),
            "bug" if value.is_empty() => return Err(ValueError::new("expected the name of a seeded bug")),
            "bug" => self.bug = Some(value.to_string()),
            "faults" => self.faults = value.parse()?,
            "flusher" => self.flusher = Some(value.parse()?),
            "dioread_nolock" => self.dioread_nolock = Some(parse_bool(Some(value))?),
            "ra_kb" => {
                self.ra_kb = Some(value.trim().parse::<u32>().ok().filter(|kb| *kb <= MAX_RA_KB).ok_or_else(|| {
                    ValueError::new(format!("expected the readahead window in KiB, 0 to {MAX_RA_KB}"))
                })?)
            }
            "image" if value.is_empty() => return Err(ValueError::new("expected the path of an ext4 image or device")),
            "image" => self.image = Some(value.into()),
            "mkfs_opts" => self.mkfs_opts = Some(value.trim().to_string()),
            "commit" => {
                self.commit =
                    Some(
                        value.trim().parse::<u64>().ok().filter(|s| *s <= 86400).ok_or_else(|| {
                            ValueError::new("expected seconds from 0 (only on fsync and sync) to 86400")
                        })?,
                    )
            }
            aops => self.aops.set(aops, Some(value))?,
        }
        Ok(())
    }

    /// How the parameters fit together (checked by [`TargetSpec`](super::TargetSpec)'s `FromStr`).
    pub fn validate(&self) -> Result<(), SpecError> {
        self.aops.validate("").map_err(|e| SpecError::Invalid { message: e.expected })?;
        if self.engine == Some(DevEngine::Mem) && self.backing != Some(Backing::Mem) {
            return Err(SpecError::Invalid { message: "engine=mem needs backing=mem".into() });
        }
        if self.image.is_some() {
            let taken = [
                ("backing", self.backing.is_some()),
                ("size", self.size.is_some()),
                ("mkfs_opts", self.mkfs_opts.is_some()),
                ("block_size", self.aops.block_size.is_some()),
            ];
            if let Some((p, _)) = taken.iter().find(|(_, set)| *set) {
                return Err(SpecError::Invalid {
                    message: format!("image= mounts an existing filesystem: drop {p}= (it is the image's)"),
                });
            }
        }
        if self.mkfs_opts.is_some() && self.backing == Some(Backing::Mem) {
            return Err(SpecError::Invalid {
                message: "mkfs_opts= runs mkfs.ext4, which needs a file or block device: drop backing=mem".into(),
            });
        }
        Ok(())
    }

    /// The parameters that are set, as text, in [`FsimplSpec::BH_PARAMS`] order.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut v = self.aops.pairs();
        if self.backend == Backend::Iomap {
            v.retain(|(k, _)| *k != "large_folios");
        }
        let mut push = |k: &'static str, s: Option<String>| {
            if let Some(s) = s {
                v.push((k, s));
            }
        };
        push("backing", self.backing.as_ref().map(Backing::to_string));
        push("size", self.size.map(|s| s.to_string()));
        push("engine", self.engine.map(|e| e.to_string()));
        push("qd", self.qd.map(|q| q.to_string()));
        push("poison", self.poison.map(|p| if p { "1" } else { "0" }.to_string()));
        push("bug", self.bug.clone());
        push("faults", (!self.faults.is_empty()).then(|| self.faults.to_string()));
        push("flusher", self.flusher.map(|f| f.to_string()));
        push("dioread_nolock", self.dioread_nolock.map(|d| if d { "1" } else { "0" }.to_string()));
        push("ra_kb", self.ra_kb.map(|kb| kb.to_string()));
        push("image", self.image.as_ref().map(|p| p.display().to_string()));
        push("mkfs_opts", self.mkfs_opts.clone());
        push("commit", self.commit.map(|s| s.to_string()));
        v
    }
}
