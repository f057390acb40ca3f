//! Where fsimpl puts a sequentially written file, as the kernel's mballoc does (issue "fsimpl
//! speaks ext4 on disk", point 4): both backends allocate through the same mballoc paths in
//! requests of at most `MAX_WRITEPAGES_EXTENT_LEN` blocks, so they lay the file out alike; and
//! the block the extent tree grows into goes near the inode's goal
//! (`ext4_ext_grow_indepth`), not right after the file's data, where its next allocation aims. The geometry is
//! `bench/filefrag-seq.sh`'s: 2 GiB, 4 KiB blocks, a 512 MiB file (five extents).

use fsimpl::dev::{BlockDev, MemDev};
use fsimpl::{Backend, FormatOptions, Fs, MountOptions};
use std::sync::Arc;

const MIB: u64 = 1 << 20;
/// Enough 4 KiB blocks for five extents, so that the tree grows a block.
const FILE_MIB: u64 = 512;

/// The file's extents `(lblk, len, pblk)` and its tree blocks, after writing it with `backend`.
fn layout(backend: Backend) -> (Vec<(u64, u64, u64)>, Vec<u64>) {
    let bs = 4096u32;
    let mem: Arc<dyn BlockDev> = Arc::new(MemDev::new(2048 * MIB).unwrap());
    let opts = MountOptions { cache_bytes: 32 * MIB, ..MountOptions::for_backend(backend) };
    let fs =
        Fs::format_and_mount(mem.clone(), &FormatOptions { block_size: bs, ..FormatOptions::default() }, opts).unwrap();
    let f = fs.create("seq").unwrap();
    let chunk = vec![7u8; MIB as usize];
    for i in 0..FILE_MIB {
        assert_eq!(fs.write(f, i * MIB, &chunk).unwrap(), chunk.len());
    }
    fs.fsync(f).unwrap();
    fs.unmount().unwrap();
    let (ext4, files) = fsimpl::core::ext4::Ext4::mount(mem, Default::default(), Default::default()).unwrap();
    let inode = &files[0].info;
    let extents: Vec<_> = inode.extents.iter().map(|e| (e.lblk, e.len, e.pblk)).collect();
    let nodes: Vec<u64> = inode.disk.tree.node_pblks().collect();
    ext4.unmount().unwrap();
    (extents, nodes)
}

#[test]
fn a_sequential_file_is_laid_out_alike_on_both_backends_with_its_tree_block_aside() {
    let (bh, bh_nodes) = layout(Backend::BufferHead);
    let (iomap, iomap_nodes) = layout(Backend::Iomap);
    // Where the first extent starts depends on how large the file was when writeback first
    // ran (the size normalizes the first request); from there on the layouts are the same.
    let shape =
        |v: &[(u64, u64, u64)]| v.iter().skip(1).copied().chain(v.iter().map(|e| (e.0, e.1, 0))).collect::<Vec<_>>();
    assert_eq!(shape(&iomap), shape(&bh), "iomap's writeback allocates as buffer_head's does");
    assert_eq!(bh.iter().map(|e| e.1).sum::<u64>(), FILE_MIB * MIB / 4096);
    for (extents, nodes) in [(&bh, bh_nodes), (&iomap, iomap_nodes)] {
        assert_eq!(nodes.len(), 1, "five extents need one tree block");
        // Right after an extent is where the file's next allocation aims (its goal).
        let after = extents.iter().find(|e| e.2 + e.1 == nodes[0]);
        assert!(after.is_none(), "tree block {} right after extent {after:?} of {extents:?}", nodes[0]);
    }
}
