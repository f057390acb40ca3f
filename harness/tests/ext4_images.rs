//! fsimpl targets on ext4 images made elsewhere and checked by the real tools: `image=` (an
//! existing image, refused while mounted), `mkfs_opts=` (formatted by mkfs.ext4), and
//! `aopsbench diff --check e2fsck,kernel`. Tests that need a tool or root print one
//! `skipped: <why>` line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MIB: u64 = 1 << 20;
const JOB: &str = "[global]\nrw=write\nbs=64k\nsize=4m\nfsync=8\nfallocate=none\n\n[j]\n";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aopsbench"))
}

fn have(program: &str, test: &str) -> bool {
    let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].iter().any(|d| Path::new(d).join(program).exists());
    if !found {
        println!("skipped: {test}: {program} not installed");
    }
    found
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(dir: &Path, target: &str) -> Output {
    let job = dir.join("j.fio");
    std::fs::write(&job, JOB).unwrap();
    let out = dir.join(format!("run-{}", target.len()));
    Command::new(bin())
        .args(["run", job.to_str().unwrap(), "--target", target, "--out", out.to_str().unwrap(), "--no-plot"])
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mkfs(img: &Path, bs: u32) {
    std::fs::File::create(img).unwrap().set_len(64 * MIB).unwrap();
    let o = Command::new("mkfs.ext4").args(["-q", "-F", "-b", &bs.to_string()]).arg(img).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

fn e2fsck_clean(img: &Path) -> (bool, String) {
    let o = Command::new("e2fsck").arg("-fn").arg(img).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn a_job_runs_on_an_image_mkfs_ext4_made_and_leaves_it_clean() {
    let test = "a_job_runs_on_an_image_mkfs_ext4_made_and_leaves_it_clean";
    if !have("mkfs.ext4", test) || !have("e2fsck", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (kind, bs) in [("bh", 1024), ("iomap", 4096)] {
        let img = dir.path().join(format!("{kind}.img"));
        mkfs(&img, bs);
        let o = run(dir.path(), &format!("{kind}:image={}", img.display()));
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        let (clean, text) = e2fsck_clean(&img);
        assert!(clean, "{kind}: {text}");
        // The job's file is in the image, as the kernel sees it.
        if is_root() && Path::new("/dev/loop-control").exists() {
            let mnt = dir.path().join("mnt");
            std::fs::create_dir_all(&mnt).unwrap();
            let m = Command::new("mount").args(["-o", "loop,ro"]).arg(&img).arg(&mnt).output().unwrap();
            assert!(m.status.success(), "{}", stderr(&m));
            let len = std::fs::metadata(mnt.join("j.0.0")).map(|m| m.len());
            Command::new("umount").arg(&mnt).status().unwrap();
            assert_eq!(len.unwrap(), 4 * MIB, "{kind}: the job's file in the kernel's view");
        }
    }
}

#[test]
fn an_image_in_use_is_refused_and_bad_image_specs_are_one_line() {
    let test = "an_image_in_use_is_refused_and_bad_image_specs_are_one_line";
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), "bh:image=/nonexistent/aopsbench.img");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("image=/nonexistent/aopsbench.img: No such file"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    let o = run(dir.path(), "bh:image=/x.img:size=1g");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("drop size= (it is the image's)"), "{}", stderr(&o));
    let o = run(dir.path(), "iomap:backing=mem:mkfs_opts=-J size=4");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("drop backing=mem"), "{}", stderr(&o));
    if !have("mkfs.ext4", test) {
        return;
    }
    if !is_root() || !Path::new("/dev/loop-control").exists() {
        println!("skipped: {test} (mounted image): needs root and loop devices");
        return;
    }
    let img = dir.path().join("mounted.img");
    mkfs(&img, 4096);
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = Command::new("mount").args(["-o", "loop"]).arg(&img).arg(&mnt).output().unwrap();
    assert!(m.status.success(), "{}", stderr(&m));
    let o = run(dir.path(), &format!("bh:image={}", img.display()));
    Command::new("umount").arg(&mnt).status().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("refusing to use") && stderr(&o).contains("backing file of"), "{}", stderr(&o));
}

#[test]
fn mkfs_opts_format_with_mkfs_ext4() {
    let test = "mkfs_opts_format_with_mkfs_ext4";
    if !have("mkfs.ext4", test) || !have("e2fsck", test) || !have("dumpe2fs", test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("m.img");
    let o =
        run(dir.path(), &format!("bh:backing={}:size=64m:block_size=2048:mkfs_opts=-J size=4 -i 8192", img.display()));
    assert!(o.status.success(), "{}", stderr(&o));
    let (clean, text) = e2fsck_clean(&img);
    assert!(clean, "{text}");
    let d = Command::new("dumpe2fs").arg("-h").arg(&img).output().unwrap();
    let d = String::from_utf8_lossy(&d.stdout);
    assert!(d.contains("Block size:               2048"), "{d}");
    assert!(d.contains("Journal size:             4096k") || d.contains("Total journal size:       4096k"), "{d}");
    assert!(d.contains("Inode count:              8192"), "{d}");
    let o = run(dir.path(), &format!("bh:backing={}:mkfs_opts=-O no_such_feature", dir.path().join("n.img").display()));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("mkfs.ext4 -O no_such_feature failed"), "{}", stderr(&o));
}

#[test]
fn diff_checks_the_images_with_e2fsck_and_the_kernel() {
    let test = "diff_checks_the_images_with_e2fsck_and_the_kernel";
    if !have("e2fsck", test) {
        return;
    }
    let checks = if is_root() && Path::new("/dev/loop-control").exists() { "e2fsck,kernel" } else { "e2fsck" };
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(bin())
        .args(["diff", "--targets", "bh,iomap", "--ops", "400", "--seed", "3", "--check", checks, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("fsimpl images checked (e2fsck"), "{out}");
    assert!(out.contains("no divergence"), "{out}");
}
