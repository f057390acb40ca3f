//! The kernel target kinds on the command line: their parameters (`--target
//! ext4:opts=noatime,buffered_iomap:size=2g`) and whether each works on this machine
//! (`aopsbench targets`).
//!
//! Parameters are `:`-separated, so a parameter value cannot hold a `:`; several mount options
//! go comma-separated in one `opts=` (`opts=noatime,buffered_iomap`), as `mount -o` takes them,
//! and several mkfs options space-separated in one `mkfs_opts=` (quote the whole `--target`
//! argument: `'xfs:mkfs_opts=-b size=1024 -m reflink=0'`).

use std::path::PathBuf;

use super::dir::DirTarget;
use super::faults::parse_faults;
use super::host;
use super::mount::{Device, MountConfig, MountKind, MountTarget};
use super::{Result, Target, TargetError};

/// The kernel target kinds, in listing order.
pub const KERNEL_KINDS: [&str; 4] = ["dir", "ext4", "xfs", "tmpfs"];

/// The parameters each kernel kind takes.
fn valid_params(kind: &str) -> &'static [&'static str] {
    match kind {
        "dir" => &["path"],
        "ext4" | "xfs" => &["opts", "size", "backing", "mkfs_opts", "dev", "faults"],
        _ => &["opts", "size"],
    }
}

/// Makes a kernel target (`dir`, `ext4`, `xfs`, `tmpfs`) from its spec's parameters. An unknown
/// or repeated parameter, a bad value, a missing `path=` for `dir`, or what creation refuses
/// (no root, no mkfs, no loop devices, xfs under 300m) is one clear error line.
pub fn parse_kernel_target(kind: &str, params: &[(String, String)]) -> Result<Box<dyn Target>> {
    let mount_kind = match kind {
        "dir" => None,
        "ext4" => Some(MountKind::Ext4),
        "xfs" => Some(MountKind::Xfs),
        "tmpfs" => Some(MountKind::Tmpfs),
        _ => {
            return Err(TargetError::Setup(format!(
                "unknown kernel target kind '{kind}' (kernel kinds: {})",
                KERNEL_KINDS.join(", ")
            )));
        }
    };
    let valid = valid_params(kind);
    for (i, (key, _)) in params.iter().enumerate() {
        if !valid.contains(&key.as_str()) {
            return Err(TargetError::Setup(format!(
                "{kind} target: unknown parameter '{key}' (valid: {})",
                valid.join(", ")
            )));
        }
        if params[..i].iter().any(|(k, _)| k == key) {
            return Err(TargetError::Setup(format!("{kind} target: parameter '{key}' given twice")));
        }
    }
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let Some(mount_kind) = mount_kind else {
        let path = get("path").ok_or_else(|| {
            TargetError::Setup("dir target: missing path= (the directory to use: dir:path=/mnt/test)".into())
        })?;
        return Ok(Box::new(DirTarget::new(path.as_ref())?));
    };
    Ok(Box::new(MountTarget::create(mount_config(mount_kind, params)?)?))
}

/// The [`MountConfig`] of an `ext4`, `xfs` or `tmpfs` spec's parameters (already checked to be
/// known and given once).
pub fn mount_config(mount_kind: MountKind, params: &[(String, String)]) -> Result<MountConfig> {
    let kind = mount_kind.name();
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let mut cfg = MountConfig::new(mount_kind);
    if let Some(opts) = get("opts") {
        if opts.is_empty() {
            return Err(TargetError::Setup(format!(
                "{kind} target: opts= is empty: give mount options or leave it out"
            )));
        }
        cfg.opts = Some(opts.to_string());
    }
    if let Some(size) = get("size") {
        cfg.size = parse_size(size).map_err(|why| TargetError::Setup(format!("{kind} target: size={size}: {why}")))?;
    }
    if let Some(backing) = get("backing") {
        cfg.backing = PathBuf::from(backing);
    }
    if let Some(mkfs_opts) = get("mkfs_opts") {
        cfg.mkfs_opts = mkfs_opts.split_whitespace().map(str::to_string).collect();
    }
    cfg.device = match get("dev") {
        None if get("faults").is_some() => Device::Logged,
        None | Some("image") => Device::Image,
        Some("logged") => Device::Logged,
        Some(other) => {
            return Err(TargetError::Setup(format!(
                "{kind} target: dev={other}: use dev=image (a loop device on an image file) or dev=logged (a device \
                 aopsbench serves through FUSE, logging writes and flushes)"
            )));
        }
    };
    if let Some(faults) = get("faults") {
        let spec = parse_faults(faults, cfg.block_size())
            .map_err(|why| TargetError::Setup(format!("{kind} target: faults={faults}: {why}")))?;
        if spec.fs.alloc_limit.is_some() {
            return Err(TargetError::Setup(format!(
                "{kind} target: faults={faults}: enospc= is an fsimpl allocator fault; fill a kernel filesystem with \
                 a smaller size= instead"
            )));
        }
        cfg.faults = spec.plan;
    }
    Ok(cfg)
}

/// A size with fio's suffixes (`k`, `m`, `g`, `t`, powers of 1024; an optional `b` or `ib`
/// after them, any case): `512m`, `1G`, `300MiB`, `4096`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let unit_at = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(unit_at);
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err("not a size (use a number with an optional k, m, g or t suffix, e.g. 2g)".into()),
    };
    let n: u64 = digits.parse().map_err(|_| "not a size (e.g. 2g, 512m)".to_string())?;
    n.checked_mul(1 << shift).filter(|&v| v > 0).ok_or_else(|| "must be above zero and below 16 EiB".to_string())
}

/// `bytes` in the shortest exact fio form: `1g`, `300m`, `4097`.
pub fn format_size(bytes: u64) -> String {
    for (shift, suffix) in [(40, "t"), (30, "g"), (20, "m"), (10, "k")] {
        if bytes != 0 && bytes.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Whether each kernel kind can be made here: `(kind, available, why_not)`, one per kind in
/// [`KERNEL_KINDS`] order. `why_not` says what is missing and how to get it; for a kind that
/// works but without io_uring, it says so while `available` stays true (psync jobs run).
pub fn kernel_availability() -> Vec<(&'static str, bool, Option<String>)> {
    let uring = host::io_uring_usable().err();
    KERNEL_KINDS
        .iter()
        .map(|&kind| match missing_for(kind) {
            Some(why) => (kind, false, Some(why)),
            None => (kind, true, uring.clone()),
        })
        .collect()
}

/// What `kind` lacks here, if anything.
fn missing_for(kind: &str) -> Option<String> {
    if kind == "dir" {
        return None;
    }
    if !host::is_root() {
        return Some("needs root (to mount): run as root, or use dir:path=DIR".to_string());
    }
    let mut needs = vec![("mount", "mount")];
    match kind {
        "ext4" => needs.extend([("mkfs.ext4", "e2fsprogs"), ("losetup", "mount")]),
        "xfs" => needs.extend([("mkfs.xfs", "xfsprogs"), ("losetup", "mount")]),
        _ => {}
    }
    for (program, package) in needs {
        if let Err(why) = host::require_program(program, package) {
            return Some(why);
        }
    }
    if kind != "tmpfs" {
        return host::require_loop_devices().err();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_fio_style() {
        for (text, bytes) in [
            ("4096", 4096),
            ("4k", 4096),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("300m", 300 << 20),
            ("300MiB", 300 << 20),
            ("2gb", 2 << 30),
            ("1t", 1 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "0", "g", "1x", "-1", "1.5g", "99999999999t"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_format_in_the_shortest_exact_form() {
        assert_eq!(format_size(1 << 30), "1g");
        assert_eq!(format_size(300 << 20), "300m");
        assert_eq!(format_size(1536 << 20), "1536m");
        assert_eq!(format_size(4097), "4097");
        for bytes in [4096, 1 << 30, 3 << 20, 12345] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
    }

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn err(kind: &str, list: &[(&str, &str)]) -> String {
        match parse_kernel_target(kind, &params(list)) {
            Ok(t) => panic!("{kind} {list:?} made {}", t.spec()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_specs_get_one_clear_line() {
        assert_eq!(
            err("ext4", &[("sise", "1g")]),
            "ext4 target: unknown parameter 'sise' (valid: opts, size, backing, mkfs_opts, dev, faults)"
        );
        assert_eq!(err("tmpfs", &[("backing", "/x")]), "tmpfs target: unknown parameter 'backing' (valid: opts, size)");
        assert_eq!(err("dir", &[("size", "1g")]), "dir target: unknown parameter 'size' (valid: path)");
        assert_eq!(err("ext4", &[("size", "1g"), ("size", "2g")]), "ext4 target: parameter 'size' given twice");
        assert_eq!(
            err("ext4", &[("size", "lots")]),
            "ext4 target: size=lots: not a size (use a number with an optional k, m, g or t suffix, e.g. 2g)"
        );
        assert_eq!(err("xfs", &[("size", "100m")]), "xfs target: size=100m is too small: mkfs.xfs needs at least 300m");
        assert_eq!(err("btrfs", &[]), "unknown kernel target kind 'btrfs' (kernel kinds: dir, ext4, xfs, tmpfs)");
        assert_eq!(err("dir", &[]), "dir target: missing path= (the directory to use: dir:path=/mnt/test)");
        assert!(
            err("dir", &[("path", "/nonexistent/aopsbench")])
                .starts_with("dir target: /nonexistent/aopsbench: No such file")
        );
        assert_eq!(
            err("dir", &[("path", "/proc/self/status")]),
            "dir target: /proc/self/status is not a directory: give a directory as path="
        );
        assert!(
            err("ext4", &[("backing", "/nonexistent")])
                .starts_with("ext4 target: backing=/nonexistent is not a directory")
        );
    }

    #[test]
    fn availability_lists_every_kernel_kind_once() {
        let list = kernel_availability();
        let kinds: Vec<_> = list.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(kinds, KERNEL_KINDS);
        assert!(list[0].1, "dir is always available");
        for (kind, available, why) in &list {
            println!("{kind:6} {} {}", if *available { "yes" } else { "no " }, why.as_deref().unwrap_or(""));
            assert!(*available || why.is_some(), "{kind} unavailable without a reason");
            if *kind != "dir" && !host::is_root() {
                assert!(!available && why.as_deref().is_some_and(|w| w.starts_with("needs root")), "{kind}");
            }
        }
    }
}
