//! What this machine offers kernel targets: root, the programs that make a filesystem, loop
//! devices, io_uring. Each check gives the one line a user needs when it fails.

use std::path::{Path, PathBuf};

use super::kernel_io;

/// Whether the process runs as root (mount, losetup and mkfs on a loop device need it).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `program` in `$PATH`, or in the sbin directories (often missing from a user's `$PATH`).
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `program`, or the line saying how to get it (`package` is its Debian/Ubuntu package).
pub(crate) fn require_program(program: &str, package: &str) -> Result<PathBuf, String> {
    find_program(program).ok_or_else(|| format!("{program} not found: apt-get install {package}"))
}

/// Whether loop devices can be made: `/dev/loop-control` exists.
pub(crate) fn require_loop_devices() -> Result<(), String> {
    if Path::new("/dev/loop-control").exists() {
        Ok(())
    } else {
        Err("loop devices unavailable (no /dev/loop-control): modprobe loop, or use dir:path=DIR".into())
    }
}

/// Whether io_uring works here, or why not.
pub(crate) fn io_uring_usable() -> Result<(), String> {
    kernel_io::probe_io_uring().map_err(|errno| {
        format!(
            "io_uring unavailable ({}; see sysctl kernel.io_uring_disabled): only ioengine=psync works",
            std::io::Error::from_raw_os_error(errno)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_which_package_has_it() {
        assert_eq!(
            require_program("aopsbench-no-such-mkfs", "xfsprogs").unwrap_err(),
            "aopsbench-no-such-mkfs not found: apt-get install xfsprogs"
        );
        assert!(find_program("sh").is_some());
    }
}
