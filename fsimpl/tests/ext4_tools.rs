//! fsimpl's ext4 against the real tools: images made by `mkfs.ext4` and written by the
//! kernel are read by fsimpl; images fsimpl made are clean for `e2fsck -fn` and mount in the
//! kernel. Root-only and tool-missing parts skip with one line.

mod tools;

use fsimpl::core::ext4::{Ext4, Ext4Options, MkfsOptions, mke2fs};
use std::os::unix::fs::FileExt;
use tools::*;

const BLOCK_SIZES: [u32; 3] = [1024, 2048, 4096];

/// Reads a file's bytes through its extents, straight from the image.
fn read_through_extents(image: &std::path::Path, inode: &fsimpl::core::InodeInfo, bs: u32) -> Vec<u8> {
    let f = std::fs::File::open(image).unwrap();
    let mut out = vec![0u8; inode.i_disksize as usize];
    for e in inode.extents.iter() {
        if e.unwritten {
            continue;
        }
        for i in 0..e.len {
            let at = ((e.lblk + i) * bs as u64) as usize;
            if at >= out.len() {
                break;
            }
            let mut b = vec![0u8; bs as usize];
            f.read_exact_at(&mut b, (e.pblk + i) * bs as u64).unwrap();
            let n = (out.len() - at).min(bs as usize);
            out[at..at + n].copy_from_slice(&b[..n]);
        }
    }
    out
}

#[test]
fn fsimpl_mkfs_is_clean_for_e2fsck() {
    if skip("fsimpl_mkfs_is_clean_for_e2fsck", need_e2fsprogs()) {
        return;
    }
    for bs in BLOCK_SIZES {
        for size in [8u64 << 20, 64 << 20, 300 << 20] {
            let dir = tempfile::tempdir().unwrap();
            let image = dir.path().join("img");
            std::fs::File::create(&image).unwrap().set_len(size).unwrap();
            let dev = file_dev(&image);
            mke2fs(dev.as_ref(), &MkfsOptions { block_size: bs, ..MkfsOptions::default() }).unwrap();
            drop(dev);
            assert_clean(&image, &format!("fsimpl mkfs bs={bs} size={size}"));
            // And fsimpl mounts what it made, and unmounts it clean.
            let (fs, files) = Ext4::mount(file_dev(&image), Ext4Options::default(), Default::default()).unwrap();
            assert!(files.is_empty());
            fs.unmount().unwrap();
            drop(fs);
            assert_clean(&image, &format!("fsimpl mkfs bs={bs} size={size}, after a mount"));
        }
    }
}

#[test]
fn mkfs_ext4_images_mount_in_fsimpl_and_stay_clean() {
    if skip("mkfs_ext4_images_mount_in_fsimpl_and_stay_clean", need_e2fsprogs()) {
        return;
    }
    for bs in BLOCK_SIZES {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        mkfs_ext4(&image, 64 << 20, bs, &[]);
        let (fs, files) = Ext4::mount(file_dev(&image), Ext4Options::default(), Default::default()).unwrap();
        assert!(files.is_empty(), "bs={bs}: lost+found is not a regular file");
        fs.unmount().unwrap();
        drop(fs);
        assert_clean(&image, &format!("mkfs.ext4 bs={bs} after an fsimpl mount"));
    }
}

#[test]
fn files_the_kernel_wrote_read_back_through_fsimpl() {
    if skip("files_the_kernel_wrote_read_back_through_fsimpl", need_e2fsprogs().or_else(need_loop_mount)) {
        return;
    }
    for bs in BLOCK_SIZES {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        mkfs_ext4(&image, 64 << 20, bs, &[]);
        let mut want = Vec::new();
        {
            let m = LoopMount::new(&image, "");
            // Small, large, sparse, and fragmented by punched holes (an extent tree with
            // index blocks).
            for (i, len) in [(0u64, 100usize), (1, 5000), (2, 3 << 20)].into_iter() {
                let data = pattern(len, i + 10 * bs as u64);
                std::fs::write(m.dir.join(format!("f{i}")), &data).unwrap();
                want.push((format!("f{i}"), data));
            }
            let sparse = m.dir.join("sparse");
            let f = std::fs::File::create(&sparse).unwrap();
            f.write_all_at(&pattern(10_000, 7), 5 << 20).unwrap();
            let mut s = vec![0u8; (5 << 20) + 10_000];
            s[5 << 20..].copy_from_slice(&pattern(10_000, 7));
            want.push(("sparse".into(), s));
            let frag = m.dir.join("frag");
            let mut data = pattern(2 << 20, 99);
            std::fs::write(&frag, &data).unwrap();
            let f = std::fs::OpenOptions::new().write(true).open(&frag).unwrap();
            let step = 2 * bs as usize;
            for off in (0..data.len()).step_by(step) {
                // SAFETY: a plain fallocate(2) on an open file.
                let rc = unsafe {
                    libc::fallocate(
                        std::os::fd::AsRawFd::as_raw_fd(&f),
                        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                        off as i64,
                        bs as i64,
                    )
                };
                assert_eq!(rc, 0, "punch hole");
                data[off..off + bs as usize].fill(0);
            }
            f.sync_all().unwrap();
            want.push(("frag".into(), data));
        }
        let (fs, files) = Ext4::mount(file_dev(&image), Ext4Options::default(), Default::default()).unwrap();
        assert_eq!(files.len(), want.len(), "bs={bs}");
        for (name, data) in &want {
            let f = files.iter().find(|f| &f.name == name).unwrap_or_else(|| panic!("bs={bs}: {name} missing"));
            assert_eq!(f.info.i_disksize, data.len() as u64, "bs={bs} {name}");
            let got = read_through_extents(&image, &f.info, bs);
            assert!(got == *data, "bs={bs} {name}: contents differ");
            if name == "frag" {
                assert!(f.info.disk.tree.depth() >= 1, "bs={bs}: the fragmented file has an index");
            }
        }
        fs.unmount().unwrap();
        drop(fs);
        assert_clean(&image, &format!("kernel files bs={bs} after an fsimpl mount"));
    }
}
