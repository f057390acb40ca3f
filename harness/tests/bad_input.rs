//! What each kind of bad input gets from `aopsbench run`: one line on stderr and exit 2 (or a
//! note and exit 0), checked by running the binary — the README's table. The refusals of
//! devices (mounted, signatures, swap) are in `safety.rs`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_aopsbench")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const JOB: &str = "[global]\nrw=randwrite\nbs=4k\nsize=4m\nrandseed=7\naops_cache=64m\nfsync=16\n\n[w]\n";

/// A directory with the job file `j.fio`, and a fresh `--out` per run.
struct Dir(tempfile::TempDir, std::cell::Cell<u32>);

impl Dir {
    fn new() -> Dir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("j.fio"), JOB).unwrap();
        Dir(d, std::cell::Cell::new(0))
    }
    fn path(&self, name: &str) -> String {
        self.0.path().join(name).to_str().unwrap().to_string()
    }
    /// `aopsbench run ARGS --out <fresh> --no-plot`.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
    fn command(&self, args: &[&str]) -> Command {
        self.1.set(self.1.get() + 1);
        let out = self.path(&format!("out{}", self.1.get()));
        let mut c = Command::new(bin());
        c.arg("run").args(args).args(["--out", &out, "--no-plot"]);
        c
    }
}

/// Exit 2 and exactly `line` on stderr.
fn fails_with(o: Output, line: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o), format!("{line}\n"));
}

#[test]
fn malformed_job_files_unsupported_options_and_bad_flags() {
    let d = Dir::new();
    let bad = d.path("bad.fio");
    std::fs::write(&bad, "[job]\nsize=1m\nthis is not an option\n").unwrap();
    fails_with(
        d.run(&[&bad]),
        &format!(
            "aopsbench: {bad}:3: cannot read 'this is not an option': expected key=value, a bare key, [section] or a comment"
        ),
    );
    let unsupported = d.path("unsupported.fio");
    std::fs::write(&unsupported, "[global]\nsize=1m\n\n[job]\nmax_open_zones=32\n").unwrap();
    fails_with(
        d.run(&[&unsupported]),
        &format!(
            "aopsbench: {unsupported}:5: fio option 'max_open_zones' is not supported by aopsbench (--lenient turns this \
             into a warning)"
        ),
    );
    // Every problem of a file, one line each.
    let several = d.path("several.fio");
    std::fs::write(&several, "[job]\nsize=1m ; inline comment\nrw=wrte\niodepht=4\n").unwrap();
    fails_with(
        d.run(&[&several]),
        &format!(
            "aopsbench: {several}:3: bad value 'wrte' for option 'rw': expected read, write, trim, randread, \
             randwrite, randtrim, rw (readwrite), randrw, trimwrite or randtrimwrite, optionally with :N\naopsbench: \
             {several}:4: unknown option 'iodepht' (did you mean 'iodepth'?): neither fio nor aopsbench has it"
        ),
    );
    fails_with(
        d.run(&[&unsupported, "--set", "runtime"]),
        "aopsbench: invalid value 'runtime' for '--set <KEY=VALUE>': 'runtime' is not KEY=VALUE (e.g. runtime=3) (see \
         --help)",
    );
    fails_with(
        Command::new(bin()).args(["run", "--bogus"]).output().unwrap(),
        "aopsbench: unexpected argument '--bogus' found; tip: to pass '--bogus' as a value, use '-- --bogus' (see --help)",
    );
    fails_with(
        Command::new(bin()).arg("frobnicate").output().unwrap(),
        "aopsbench: unrecognized subcommand 'frobnicate' (see --help)",
    );
}

#[test]
fn bad_target_specs_and_missing_devices() {
    let d = Dir::new();
    let job = d.path("j.fio");
    fails_with(
        d.run(&[&job, "--target", "bh:blocksize=4k"]),
        "aopsbench: invalid value 'bh:blocksize=4k' for '--target <SPEC>': unknown parameter 'blocksize' for bh \
         (valid: block_size, max_folio, large_folios, cache, writeback, dirty_background_ratio, dirty_ratio, backing, \
         size, engine, qd, poison, bug, faults, flusher, dioread_nolock, ra_kb, image, mkfs_opts, commit) (see --help)",
    );
    fails_with(
        d.run(&[&job, "--target", "bh:backing=/dev/aopsbench-no-such-disk"]),
        "aopsbench: target bh:backing=/dev/aopsbench-no-such-disk: no such device /dev/aopsbench-no-such-disk: give an \
         existing block device, or a path outside /dev for an image file",
    );
    assert!(!Path::new("/dev/aopsbench-no-such-disk").exists(), "an image file was made in /dev");
}

#[test]
fn eio_enospc_and_a_power_cut() {
    let d = Dir::new();
    let job = d.path("j.fio");
    fails_with(
        // The layout and the remount after it write 13 bios (data, journal, checkpoint, superblocks):
        // the 14th is the job's first fsync.
        d.run(&[&job, "--target", "bh:backing=mem:faults=write=14"]),
        "aopsbench: job w on bh:block_size=4k:max_folio=2m:large_folios=0:cache=64m:writeback=on:backing=mem:\
         engine=mem:faults=write=14: thread 0, op 16 (fsync of file 0): fsync: Input/output error (os error 5)",
    );
    // A real ENOSPC: 128 MiB of file on a 64 MiB device (the failed preallocation is no
    // error, as in fio: the write that finds the device full is).
    let big = d.path("big.fio");
    std::fs::write(&big, "[global]\nrw=write\nbs=1m\nsize=128m\naops_cache=64m\n\n[fill]\n").unwrap();
    fails_with(
        d.run(&[&big, "--target", "bh:backing=mem:size=64m"]),
        "aopsbench: job fill on bh:block_size=4k:max_folio=2m:large_folios=0:cache=64m:writeback=on:backing=mem:\
         size=64m:engine=mem: thread 0, op 57 (write of 1048576 bytes at 59768832 in file 0): write: No space left \
         on device (os error 28)",
    );
    let o = d.run(&[&job, "--target", "iomap:backing=mem:faults=powercut=14"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "note: iomap:backing=mem:faults=powercut=14: 1 power cut(s) in the measured phase; 1140 later writes were \
         dropped until the next remount\n"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn no_root_for_a_kernel_mount() {
    if !is_root() {
        let d = Dir::new();
        let o = d.run(&[&d.path("j.fio"), "--target", "ext4"]);
        fails_with(o, "aopsbench: ext4 targets need root: run as root or use dir:path=DIR");
        return;
    }
    // As root, drop to nobody for the run.
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    std::fs::write(dir.path().join("j.fio"), JOB).unwrap();
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    let job = dir.path().join("j.fio");
    let out = dir.path().join("out");
    let o = Command::new(bin())
        .args(["run", job.to_str().unwrap(), "--target", "ext4", "--out", out.to_str().unwrap(), "--no-plot"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    fails_with(o, "aopsbench: ext4 targets need root: run as root or use dir:path=DIR");
}

/// Makes `io_uring_setup(2)` fail with ENOSYS in the child only (a seccomp filter), as on a
/// kernel without io_uring.
fn without_io_uring(c: &mut Command) {
    // SAFETY: between fork and exec the closure only calls prctl with data it owns.
    unsafe {
        c.pre_exec(|| {
            const IO_URING_SETUP: u32 = 425; // the same on every architecture
            let filter = [
                libc::sock_filter { code: 0x20, jt: 0, jf: 0, k: 0 }, // load seccomp_data.nr
                libc::sock_filter { code: 0x15, jt: 0, jf: 1, k: IO_URING_SETUP },
                libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32 },
                libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW },
            ];
            let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const _, 0, 0) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn no_io_uring() {
    let d = Dir::new();
    let job = d.path("j.fio");
    let mut c = d.command(&[&job, "--target", "bh"]);
    without_io_uring(&mut c);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "note: bh: io_uring unavailable (Function not implemented (os error 38)): using psync\n");
    let uring = d.path("uring.fio");
    std::fs::write(&uring, "[global]\nrw=randwrite\nbs=4k\nsize=4m\nioengine=io_uring\n\n[u]\n").unwrap();
    let files = d.path("files");
    std::fs::create_dir(&files).unwrap();
    let mut c = d.command(&[&uring, "--target", &format!("dir:path={files}")]);
    without_io_uring(&mut c);
    fails_with(
        c.output().unwrap(),
        &format!(
            "aopsbench: job u on dir:path={files}: set up I/O: io_uring is unavailable (Function not implemented (os \
             error 38)): use ioengine=psync, or check sysctl kernel.io_uring_disabled"
        ),
    );
}

#[test]
fn mkfs_xfs_missing() {
    if !is_root() || !Path::new("/usr/bin/unshare").exists() {
        println!("skipped: mkfs_xfs_missing: needs root and unshare (to hide mkfs.xfs in a mount namespace)");
        return;
    }
    let d = Dir::new();
    let job = d.path("j.fio");
    // Hide every mkfs.xfs the harness would find, in a mount namespace of the child only.
    let hide: Vec<String> = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join("mkfs.xfs"))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .map(|p| format!("mount --bind /dev/null {} && ", p.display()))
        .collect();
    let out = d.path("xfs-out");
    let script = format!("{}exec {} run {job} --target xfs --out {out} --no-plot", hide.concat(), bin());
    let o = Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]).output().unwrap();
    fails_with(o, "aopsbench: mkfs.xfs not found: apt-get install xfsprogs");
}
