//! Target specs: `KIND[:key=value[:key=value...]]`, as `--target` takes them. [`TargetSpec`]
//! reads one ([`FromStr`]), checking every parameter, and prints it back ([`fmt::Display`]) in
//! a fixed parameter order that reads back the same.

mod faults;
mod fsimpl;
mod kernel;
pub mod placeholders;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use faults::{Fault, FaultList};
pub use fsimpl::{Backing, DevEngine, FsimplSpec, MAX_QD};
pub use kernel::{Device, MIN_MOUNT_SIZE, MountKind, MountSpec, XFS_MIN_SIZE, mkfs_block_size};

use crate::aops::Backend;

/// Where a workload runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// `bh` or `iomap`: fsimpl.
    Fsimpl(FsimplSpec),
    /// `null`: discards writes, reads zeros.
    Null,
    /// `dir:path=DIR`: files in a directory of any mounted filesystem.
    Dir {
        /// The directory.
        path: PathBuf,
    },
    /// `ext4`, `xfs` or `tmpfs`: a mount the harness makes.
    Mount(MountSpec),
}

/// Every kind, with the parameters it takes and what it is (for messages and `aopsbench
/// targets`).
pub const KINDS: &[(&str, &[&str], &str)] = &[
    ("bh", FsimplSpec::BH_PARAMS, "fsimpl, ext4's buffer_head aops"),
    ("iomap", FsimplSpec::IOMAP_PARAMS, "fsimpl, ext4's iomap aops with large folios"),
    ("null", &[], "discards writes, reads zeros: measures the harness itself"),
    ("dir", &["path"], "files in a directory of any mounted filesystem"),
    (
        "ext4",
        MountSpec::DEVICE_PARAMS,
        "an ext4 loop mount the harness makes (root; dev=logged: on a device it serves through FUSE)",
    ),
    (
        "xfs",
        MountSpec::DEVICE_PARAMS,
        "an xfs loop mount the harness makes (root, mkfs.xfs; dev=logged: on a device it serves through FUSE)",
    ),
    ("tmpfs", MountSpec::TMPFS_PARAMS, "a tmpfs mount the harness makes (root)"),
];

/// A target spec that cannot be used: one line saying what and how to fix it (the spec itself
/// is named by the caller).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The text holds a control character.
    #[error("target '{escaped}' holds the control character U+{code:04X}: give KIND[:key=value...] as plain text")]
    ControlChar {
        /// The spec with control characters escaped.
        escaped: String,
        /// The first control character.
        code: u32,
    },
    /// Not a kind of target.
    #[error("unknown target kind '{kind}': use one of {known}")]
    UnknownKind {
        /// The kind as written.
        kind: String,
        /// The kinds there are, comma-separated.
        known: String,
    },
    /// A parameter without `=`.
    #[error("parameter '{param}' is not key=value (e.g. {kind}:{example}=...)")]
    NotKeyValue {
        /// The target kind.
        kind: String,
        /// The parameter as written.
        param: String,
        /// A parameter the kind takes.
        example: &'static str,
    },
    /// A parameter the kind does not take.
    #[error("unknown parameter '{key}' for {kind} (valid: {valid})")]
    UnknownParam {
        /// The target kind.
        kind: String,
        /// The parameter name as written.
        key: String,
        /// The parameters the kind takes, comma-separated.
        valid: String,
    },
    /// A parameter given twice.
    #[error("parameter '{key}' given twice")]
    Repeated {
        /// The parameter name.
        key: String,
    },
    /// A value that does not parse or is out of range.
    #[error("{key}={value}: {expected}")]
    BadValue {
        /// The parameter name.
        key: String,
        /// The value as written.
        value: String,
        /// What would be accepted.
        expected: String,
    },
    /// Parameters that do not fit together, or a missing one.
    #[error("{message}")]
    Invalid {
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl TargetSpec {
    /// Reads `KIND[:key=value...]` (the same as [`str::parse`]).
    pub fn parse(text: &str) -> Result<TargetSpec, SpecError> {
        text.parse()
    }

    /// The kind: "bh", "iomap", "null", "dir", "ext4", "xfs", "tmpfs".
    pub fn kind(&self) -> &'static str {
        match self {
            TargetSpec::Fsimpl(f) => f.backend.name(),
            TargetSpec::Null => "null",
            TargetSpec::Dir { .. } => "dir",
            TargetSpec::Mount(m) => m.kind.name(),
        }
    }

    /// Whether it is an fsimpl target (`bh` or `iomap`).
    pub fn is_fsimpl(&self) -> bool {
        matches!(self, TargetSpec::Fsimpl(_))
    }

    /// The parameters that are set, as `(key, value)` text, in the order they print.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        match self {
            TargetSpec::Fsimpl(f) => f.params(),
            TargetSpec::Null => Vec::new(),
            TargetSpec::Dir { path } => vec![("path", path.display().to_string())],
            TargetSpec::Mount(m) => m.params(),
        }
    }

    /// The value of parameter `key` as text, if set.
    pub fn get(&self, key: &str) -> Option<String> {
        self.params().into_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl FromStr for TargetSpec {
    type Err = SpecError;

    /// Reads `KIND[:key=value...]`: the kind, then each parameter once, each value checked.
    fn from_str(text: &str) -> Result<TargetSpec, SpecError> {
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(SpecError::ControlChar { escaped: text.escape_debug().to_string(), code: c as u32 });
        }
        let mut parts = text.split(':');
        let kind = parts.next().unwrap_or_default().trim();
        let (Some(&(kind, allowed, _)), Some(mut spec)) = (KINDS.iter().find(|(k, _, _)| *k == kind), blank(kind))
        else {
            let known: Vec<&str> = KINDS.iter().map(|(k, _, _)| *k).collect();
            return Err(SpecError::UnknownKind { kind: kind.to_string(), known: known.join(", ") });
        };
        let mut seen: Vec<&str> = Vec::new();
        for p in parts {
            let Some((key, value)) = p.split_once('=') else {
                return Err(SpecError::NotKeyValue {
                    kind: kind.to_string(),
                    param: p.to_string(),
                    example: allowed.first().copied().unwrap_or("key"),
                });
            };
            if !allowed.contains(&key) {
                let valid = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
                return Err(SpecError::UnknownParam { kind: kind.to_string(), key: key.to_string(), valid });
            }
            if seen.contains(&key) {
                return Err(SpecError::Repeated { key: key.to_string() });
            }
            seen.push(key);
            let bad = |e: crate::ValueError| SpecError::BadValue {
                key: key.to_string(),
                value: value.to_string(),
                expected: e.expected,
            };
            match &mut spec {
                TargetSpec::Fsimpl(f) => f.set(key, value).map_err(bad)?,
                TargetSpec::Mount(m) => m.set(key, value).map_err(bad)?,
                TargetSpec::Dir { path } if value.is_empty() => {
                    return Err(bad(crate::ValueError::new("expected a directory")));
                }
                TargetSpec::Dir { path } => *path = value.into(),
                TargetSpec::Null => {}
            }
        }
        match &spec {
            TargetSpec::Fsimpl(f) => f.validate()?,
            TargetSpec::Mount(m) => m.validate()?,
            TargetSpec::Dir { path } if path.as_os_str().is_empty() => {
                return Err(SpecError::Invalid {
                    message: "dir target: missing path= (the directory to use: dir:path=/mnt/test)".into(),
                });
            }
            TargetSpec::Dir { .. } | TargetSpec::Null => {}
        }
        Ok(spec)
    }
}

/// The spec of `kind` with no parameters set.
fn blank(kind: &str) -> Option<TargetSpec> {
    Some(match kind {
        "bh" => TargetSpec::Fsimpl(FsimplSpec::new(Backend::BufferHead)),
        "iomap" => TargetSpec::Fsimpl(FsimplSpec::new(Backend::Iomap)),
        "null" => TargetSpec::Null,
        "dir" => TargetSpec::Dir { path: PathBuf::new() },
        mount => TargetSpec::Mount(MountSpec::new(mount.parse().ok()?)),
    })
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        for (k, v) in self.params() {
            write!(f, ":{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size::Size;

    fn spec(s: &str) -> TargetSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        s.parse::<TargetSpec>().unwrap_err().to_string()
    }

    #[test]
    fn specs_parse_typed_and_print_back() {
        let s = spec("bh:block_size=1024:backing=mem:qd=8");
        let TargetSpec::Fsimpl(f) = &s else { panic!("{s:?}") };
        assert_eq!(f.aops.block_size, Some(Size(1024)));
        assert_eq!(f.backing, Some(Backing::Mem));
        assert_eq!(s.to_string(), "bh:block_size=1k:backing=mem:qd=8");
        assert_eq!(s.get("qd").as_deref(), Some("8"));
        for text in [
            "bh",
            "iomap:cache=64m:writeback=dontcache:poison=1:bug=x:faults=read=5,write=10+:engine=psync",
            "bh:large_folios=1:max_folio=64k:backing=/dev/sdz:size=1g",
            "ext4:opts=noatime,data=ordered:size=512m:backing=/var/tmp:mkfs_opts=-b 1024",
            "ext4:size=256m:dev=logged:faults=write=3+,range=10-20,short=2@8k,powercut=7",
            "xfs:dev=image",
            "xfs:faults=read=1",
            "tmpfs:size=64m",
            "dir:path=/tmp",
            "null",
        ] {
            let s = spec(text);
            assert_eq!(spec(&s.to_string()), s, "{text}");
        }
        assert_eq!(spec("xfs:mkfs_opts=-b  size=1024").to_string(), "xfs:mkfs_opts=-b size=1024");
        // Faults are injected by the served device: faults= without dev= means dev=logged.
        let s = spec("ext4:faults=write=3");
        let TargetSpec::Mount(m) = &s else { panic!("{s:?}") };
        assert_eq!((m.dev, m.device()), (None, Device::Logged));
        assert_eq!(m.faults.0, vec![Fault::Write { n: 3, and_later: false }]);
        let TargetSpec::Mount(m) = spec("ext4:size=1g") else { panic!() };
        assert_eq!(m.device(), Device::Image);
        let TargetSpec::Mount(m) = spec("xfs:mkfs_opts=-b size=1024 -m reflink=0") else { panic!() };
        assert_eq!(m.block_size(), Ok(1024));
        let TargetSpec::Fsimpl(f) = spec("bh:image=/tmp/disk.img:commit=0") else { panic!() };
        assert_eq!((f.image.as_deref(), f.commit), (Some(std::path::Path::new("/tmp/disk.img")), Some(0)));
        let TargetSpec::Fsimpl(f) = spec("iomap:mkfs_opts=-J size=8 -i 65536") else { panic!() };
        assert_eq!(f.mkfs_opts.as_deref(), Some("-J size=8 -i 65536"));
        assert_eq!(spec("iomap:mkfs_opts=-J size=8 -i 65536").to_string(), "iomap:mkfs_opts=-J size=8 -i 65536");
        assert!(err("bh:image=/x.img:size=1g").contains("drop size= (it is the image's)"));
        assert!(err("bh:backing=mem:mkfs_opts=-J size=4").contains("drop backing=mem"));
        assert!(err("bh:commit=x").contains("seconds from 0"));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert_eq!(err("btrfs"), "unknown target kind 'btrfs': use one of bh, iomap, null, dir, ext4, xfs, tmpfs");
        assert_eq!(
            err("bh:blocksize=4k"),
            "unknown parameter 'blocksize' for bh (valid: block_size, max_folio, large_folios, cache, writeback, \
             dirty_background_ratio, dirty_ratio, backing, size, engine, qd, poison, bug, faults, flusher, \
             dioread_nolock, ra_kb, image, mkfs_opts, commit)"
        );
        assert_eq!(err("bh:flusher=lazy"), "flusher=lazy: expected thread or inline");
        assert!(err("iomap:dioread_nolock=0").starts_with("unknown parameter 'dioread_nolock' for iomap"));
        assert_eq!(err("bh:ra_kb=-1"), "ra_kb=-1: expected the readahead window in KiB, 0 to 1048576");
        assert!(err("iomap:large_folios=1").starts_with("unknown parameter 'large_folios' for iomap"));
        assert_eq!(err("iomap:mem"), "parameter 'mem' is not key=value (e.g. iomap:block_size=...)");
        assert_eq!(err("bh:cache=1g:cache=2g"), "parameter 'cache' given twice");
        assert_eq!(
            err("bh:block_size=512"),
            "block_size=512: expected 1k, 2k or 4k (the block sizes fsimpl formats with)"
        );
        assert_eq!(err("bh:qd=0"), "qd=0: expected a queue depth from 1 to 4096");
        assert_eq!(err("bh:engine=mem"), "engine=mem needs backing=mem");
        assert_eq!(
            err("bh:faults=read=0"),
            "faults=read=0: fault 'read=0': give a bio number from 1, with + for every later one too"
        );
        assert_eq!(
            err("bh:cache=1g\nrm -rf"),
            "target 'bh:cache=1g\\nrm -rf' holds the control character U+000A: give KIND[:key=value...] as plain text"
        );
        assert_eq!(
            err("ext4:sise=1g"),
            "unknown parameter 'sise' for ext4 (valid: opts, size, backing, mkfs_opts, dev, faults)"
        );
        assert_eq!(
            err("ext4:dev=nbd"),
            "dev=nbd: expected image (a loop device on an image file) or logged (a device aopsbench serves through \
             FUSE, logging writes and flushes)"
        );
        assert_eq!(err("tmpfs:dev=logged"), "unknown parameter 'dev' for tmpfs (valid: opts, size)");
        assert_eq!(
            err("ext4:faults=write=3,enospc=5"),
            "faults=write=3,enospc=5: enospc= is an fsimpl allocator fault; fill a kernel filesystem with a smaller \
             size= instead"
        );
        assert_eq!(
            err("xfs:faults=read=x"),
            "faults=read=x: fault 'read=x': give a bio number from 1, with + for every later one too"
        );
        assert_eq!(
            err("ext4:dev=image:faults=write=3"),
            "faults= needs the device aopsbench serves: use dev=logged, not dev=image"
        );
        assert_eq!(
            err("ext4:mkfs_opts=-b x:faults=write=3"),
            "mkfs_opts=-b x: '-b x' is not a block size (e.g. -b 4096, -b size=4096)"
        );
        let last = u64::MAX / 4096 - 1;
        spec(&format!("ext4:faults=range=0-{last}"));
        assert_eq!(
            err(&format!("ext4:mkfs_opts=-b 65536:faults=range=0-{last}")),
            format!("faults=range=0-{last}: fault 'range=0-{last}': the blocks lie beyond any device")
        );
        assert_eq!(err("tmpfs:backing=/x"), "unknown parameter 'backing' for tmpfs (valid: opts, size)");
        assert_eq!(err("dir:size=1g"), "unknown parameter 'size' for dir (valid: path)");
        assert_eq!(err("ext4:size=lots").split(':').next(), Some("size=lots"));
        assert_eq!(err("xfs:size=100m"), "size=100m is too small: mkfs.xfs needs at least 300m");
        assert_eq!(err("tmpfs:size=0"), "size=0 is too small: give at least 1m");
        assert_eq!(err("ext4:opts="), "opts=: expected mount options (or leave opts= out)");
        assert_eq!(err("dir"), "dir target: missing path= (the directory to use: dir:path=/mnt/test)");
        assert_eq!(err("null:x=1"), "unknown parameter 'x' for null (valid: none)");
    }
}
