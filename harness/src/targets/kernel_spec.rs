//! The kernel targets: made from their specs ([`kernel_target`]), and whether each kind works
//! on this machine (`aopsbench targets`). Their parameters are read by
//! [`vocab::target::MountSpec`].

use super::dir::DirTarget;
use super::host;
use super::mount::{MountConfig, MountTarget};
use super::{Result, Target, TargetError, TargetSpec};

/// The kernel target kinds, in listing order.
pub const KERNEL_KINDS: [&str; 4] = ["dir", "ext4", "xfs", "tmpfs"];

/// Makes a kernel target (`dir`, `ext4`, `xfs`, `tmpfs`) from its spec. What creation refuses
/// (no root, no mkfs, no loop devices, a missing directory) is one clear error line.
pub fn kernel_target(spec: &TargetSpec) -> Result<Box<dyn Target>> {
    match spec {
        TargetSpec::Dir { path } => Ok(Box::new(DirTarget::new(path)?)),
        TargetSpec::Mount(m) => Ok(Box::new(MountTarget::create(MountConfig::from_spec(m))?)),
        other => Err(not_kernel(other)),
    }
}

/// Checks that a kernel target can be made here, making nothing, with the messages making it
/// would give: a `dir:` path that is a directory ([`DirTarget::check`]), and what a mount needs
/// (root, the mkfs, loop devices, FUSE for `dev=logged`; see [`MountTarget::check`]).
pub fn check_kernel_target(spec: &TargetSpec) -> Result<()> {
    match spec {
        TargetSpec::Dir { path } => DirTarget::check(path),
        TargetSpec::Mount(m) => MountTarget::check(&MountConfig::from_spec(m)),
        other => Err(not_kernel(other)),
    }
}

/// The error of a spec that is not a kernel target's.
fn not_kernel(spec: &TargetSpec) -> TargetError {
    TargetError::Setup(format!("{} is not a kernel target (kernel kinds: {})", spec.kind(), KERNEL_KINDS.join(", ")))
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

    fn err(spec: &str) -> String {
        match kernel_target(&spec.parse().unwrap()) {
            Ok(t) => panic!("{spec} made {}", t.spec()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn what_creation_refuses_gets_one_clear_line() {
        assert!(err("dir:path=/nonexistent/aopsbench").starts_with("dir target: /nonexistent/aopsbench: No such file"));
        assert_eq!(
            err("dir:path=/proc/self/status"),
            "dir target: /proc/self/status is not a directory: give a directory as path="
        );
        assert_eq!(err("null"), "null is not a kernel target (kernel kinds: dir, ext4, xfs, tmpfs)");
        assert!(err("ext4:backing=/nonexistent").starts_with("ext4 target: backing=/nonexistent is not a directory"));
        // `run`'s check beforehand, making nothing, refuses them with the same lines.
        for spec in
            ["dir:path=/nonexistent/aopsbench", "dir:path=/proc/self/status", "null", "ext4:backing=/nonexistent"]
        {
            let checked = check_kernel_target(&spec.parse().unwrap()).map_err(|e| e.to_string());
            assert_eq!(checked, Err(err(spec)), "{spec}");
        }
        check_kernel_target(&"dir:path=/".parse().unwrap()).unwrap();
    }

    #[test]
    fn a_mount_config_prints_and_is_checked_as_its_spec() {
        use crate::targets::{Device, MountKind};
        let TargetSpec::Mount(m) = "ext4:size=256m:faults=write=3+,range=1-2".parse().unwrap() else { panic!() };
        let cfg = MountConfig::from_spec(&m);
        assert_eq!(cfg.device, Device::Logged, "faults= implies dev=logged");
        assert_eq!(
            TargetSpec::Mount(cfg.spec()).to_string(),
            "ext4:size=256m:backing=/var/tmp:dev=logged:faults=write=3+,range=1-2"
        );
        assert_eq!(
            TargetSpec::Mount(MountConfig::new(MountKind::Xfs).spec()).to_string(),
            "xfs:size=1g:backing=/var/tmp"
        );
        let create_err = |cfg: MountConfig| MountTarget::create(cfg).err().map(|e| e.to_string());
        assert_eq!(
            create_err(MountConfig { device: Device::Image, ..cfg.clone() }).as_deref(),
            Some("ext4 target: faults= needs the device aopsbench serves: use dev=logged, not dev=image")
        );
        assert_eq!(
            create_err(MountConfig { device: Device::Logged, ..MountConfig::new(MountKind::Tmpfs) }).as_deref(),
            Some("tmpfs target: tmpfs has no device: dev= and faults= are for ext4 and xfs")
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
