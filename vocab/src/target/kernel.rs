//! The kernel target specs: a directory, or an ext4, xfs or tmpfs mount the harness makes.
//!
//! Parameters are `:`-separated, so a value cannot hold a `:`; several mount options go
//! comma-separated in one `opts=` (`opts=noatime,buffered_iomap`), as `mount -o` takes them,
//! and several mkfs options space-separated in one `mkfs_opts=` (quote the whole `--target`
//! argument: `'xfs:mkfs_opts=-b size=1024 -m reflink=0'`). An ext4 or xfs target can sit on
//! a device the harness serves itself (`dev=logged`), which takes `faults=` as fsimpl targets
//! do (without `enospc=`, an fsimpl allocator fault).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::SpecError;
use super::faults::{Fault, FaultList};
use crate::error::ValueError;
use crate::size::Size;

/// Which filesystem a mount target makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountKind {
    /// ext4 on a loop device.
    Ext4,
    /// XFS on a loop device.
    Xfs,
    /// tmpfs (no device).
    Tmpfs,
}

impl MountKind {
    /// Every kind.
    pub const ALL: [MountKind; 3] = [MountKind::Ext4, MountKind::Xfs, MountKind::Tmpfs];

    /// The target kind and filesystem type: "ext4", "xfs", "tmpfs".
    pub fn name(self) -> &'static str {
        match self {
            MountKind::Ext4 => "ext4",
            MountKind::Xfs => "xfs",
            MountKind::Tmpfs => "tmpfs",
        }
    }

    /// Whether it lives on a loop device over an image file (made with mkfs).
    pub fn has_device(self) -> bool {
        self != MountKind::Tmpfs
    }

    /// The parameters its spec takes.
    pub fn params(self) -> &'static [&'static str] {
        if self.has_device() { MountSpec::DEVICE_PARAMS } else { MountSpec::TMPFS_PARAMS }
    }
}

impl fmt::Display for MountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MountKind {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        MountKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| ValueError::new("expected ext4, xfs or tmpfs"))
    }
}

/// What an ext4 or xfs target's loop device sits on (`dev=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// `image` (the default without `faults=`): a sparse image file.
    #[default]
    Image,
    /// `logged` (the default with `faults=`): a device the harness serves itself through FUSE;
    /// every write, discard and flush is logged, faults can be injected and crash states
    /// rebuilt.
    Logged,
}

impl Device {
    /// The `dev=` value: "image", "logged".
    pub fn name(self) -> &'static str {
        match self {
            Device::Image => "image",
            Device::Logged => "logged",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Device {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s {
            "image" => Ok(Device::Image),
            "logged" => Ok(Device::Logged),
            _ => Err(ValueError::new(
                "expected image (a loop device on an image file) or logged (a device aopsbench serves through FUSE, \
                 logging writes and flushes)",
            )),
        }
    }
}

/// The filesystem block size `mkfs_opts` asks for (mkfs.ext4 `-b 1024`, mkfs.xfs
/// `-b size=1024`), else 4096; an error when the value after `-b` is not a power-of-two size.
pub fn mkfs_block_size(mkfs_opts: &[String]) -> Result<u64, ValueError> {
    let mut words = mkfs_opts.iter();
    while let Some(w) = words.next() {
        if w == "-b" {
            let v = words.next().map(String::as_str).unwrap_or_default();
            let v = v.strip_prefix("size=").unwrap_or(v);
            return v
                .parse::<Size>()
                .ok()
                .map(Size::bytes)
                .filter(|b| b.is_power_of_two())
                .ok_or_else(|| ValueError::new(format!("'-b {v}' is not a block size (e.g. -b 4096, -b size=4096)")));
        }
    }
    Ok(4096)
}

/// The smallest filesystem `mkfs.xfs` makes.
pub const XFS_MIN_SIZE: u64 = 300 << 20;
/// The smallest mount target.
pub const MIN_MOUNT_SIZE: u64 = 1 << 20;

/// An `ext4`, `xfs` or `tmpfs` spec. `None` and empty fields take the harness's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    /// The filesystem.
    pub kind: MountKind,
    /// `opts=`: mount options, comma-separated as `mount -o` takes them.
    pub opts: Option<String>,
    /// `size=`: image size (ext4, xfs) or tmpfs size.
    pub size: Option<Size>,
    /// `backing=`: the directory for the image file (ext4, xfs).
    pub backing: Option<PathBuf>,
    /// `mkfs_opts=`: extra mkfs arguments, space-separated.
    pub mkfs_opts: Vec<String>,
    /// `dev=`: what the loop device sits on (ext4, xfs); [`MountSpec::device`] gives the one
    /// used.
    pub dev: Option<Device>,
    /// `faults=`: faults the served device injects (ext4, xfs; needs [`Device::Logged`]).
    pub faults: FaultList,
}

impl MountSpec {
    /// The parameters an ext4 or xfs spec takes.
    pub const DEVICE_PARAMS: &'static [&'static str] = &["opts", "size", "backing", "mkfs_opts", "dev", "faults"];
    /// The parameters a tmpfs spec takes.
    pub const TMPFS_PARAMS: &'static [&'static str] = &["opts", "size"];

    /// A spec with every parameter left to its default.
    pub fn new(kind: MountKind) -> Self {
        MountSpec {
            kind,
            opts: None,
            size: None,
            backing: None,
            mkfs_opts: Vec::new(),
            dev: None,
            faults: FaultList::default(),
        }
    }

    /// The device the loop device sits on: `dev=` if given, else [`Device::Logged`] when
    /// `faults=` asks for faults (only the served device injects them), else
    /// [`Device::Image`].
    pub fn device(&self) -> Device {
        self.dev.unwrap_or(if self.faults.is_empty() { Device::Image } else { Device::Logged })
    }

    /// The filesystem block size: [`mkfs_block_size`] of `mkfs_opts` (the unit of
    /// `faults=range=`).
    pub fn block_size(&self) -> Result<u64, ValueError> {
        mkfs_block_size(&self.mkfs_opts)
    }

    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<(), ValueError> {
        match key {
            "opts" if value.is_empty() => {
                return Err(ValueError::new("expected mount options (or leave opts= out)"));
            }
            "opts" => self.opts = Some(value.to_string()),
            "size" => self.size = Some(value.parse()?),
            "backing" if value.is_empty() => return Err(ValueError::new("expected a directory for the image")),
            "backing" => self.backing = Some(value.into()),
            "mkfs_opts" => self.mkfs_opts = value.split_whitespace().map(str::to_string).collect(),
            "dev" => self.dev = Some(value.parse()?),
            _faults => self.faults = value.parse()?,
        }
        Ok(())
    }

    /// How the parameters fit together (checked by [`TargetSpec`](super::TargetSpec)'s `FromStr`).
    pub fn validate(&self) -> Result<(), SpecError> {
        if !self.kind.has_device() && (self.dev.is_some() || !self.faults.is_empty()) {
            return Err(SpecError::Invalid {
                message: format!("{} has no device: dev= and faults= are for ext4 and xfs", self.kind),
            });
        }
        if !self.faults.is_empty() {
            if self.device() != Device::Logged {
                return Err(SpecError::Invalid {
                    message: "faults= needs the device aopsbench serves: use dev=logged, not dev=image".into(),
                });
            }
            let bad_faults = |expected: String| SpecError::BadValue {
                key: "faults".into(),
                value: self.faults.to_string(),
                expected,
            };
            if self.faults.0.iter().any(|f| matches!(f, Fault::PowercutArmed)) {
                return Err(bad_faults(
                    "powercut=armed is for bh and iomap targets (diff's power cut ops); give powercut=N".into(),
                ));
            }
            if self.faults.0.iter().any(|f| matches!(f, Fault::Enospc(_))) {
                return Err(bad_faults(
                    "enospc= is an fsimpl allocator fault; fill a kernel filesystem with a smaller size= instead"
                        .into(),
                ));
            }
            // Block ranges and torn writes count in filesystem blocks.
            let block_size = self.block_size().map_err(|e| SpecError::BadValue {
                key: "mkfs_opts".into(),
                value: self.mkfs_opts.join(" "),
                expected: e.expected,
            })?;
            self.faults.check_block_size(block_size).map_err(|e| bad_faults(e.expected))?;
        }
        let Some(size) = self.size else { return Ok(()) };
        if self.kind == MountKind::Xfs && size.0 < XFS_MIN_SIZE {
            return Err(SpecError::Invalid {
                message: format!("size={size} is too small: mkfs.xfs needs at least 300m"),
            });
        }
        if size.0 < MIN_MOUNT_SIZE {
            return Err(SpecError::Invalid { message: format!("size={size} is too small: give at least 1m") });
        }
        Ok(())
    }

    /// The parameters that are set, as text, in [`MountKind::params`] order.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(o) = &self.opts {
            v.push(("opts", o.clone()));
        }
        if let Some(s) = self.size {
            v.push(("size", s.to_string()));
        }
        if let Some(b) = &self.backing {
            v.push(("backing", b.display().to_string()));
        }
        if !self.mkfs_opts.is_empty() {
            v.push(("mkfs_opts", self.mkfs_opts.join(" ")));
        }
        if let Some(d) = self.dev {
            v.push(("dev", d.to_string()));
        }
        if !self.faults.is_empty() {
            v.push(("faults", self.faults.to_string()));
        }
        v
    }
}
