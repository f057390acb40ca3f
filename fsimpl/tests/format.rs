//! The on-disk format is shared: one image mounts with either backend.

use fsimpl::dev::{BlockDev, MemDev};
use fsimpl::{Backend, FallocMode, FormatOptions, Fs, MountOptions};
use std::sync::Arc;

fn opts(backend: Backend) -> MountOptions {
    MountOptions { backend, cache_bytes: 16 << 20, page_poison: true, ..MountOptions::default() }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

#[test]
fn one_image_mounts_with_either_backend() {
    for (first, second) in [(Backend::BufferHead, Backend::Iomap), (Backend::Iomap, Backend::BufferHead)] {
        for bs in [1024, 4096] {
            let dev: Arc<dyn BlockDev> = Arc::new(MemDev::new(64 << 20).unwrap());
            let fs = Fs::format_and_mount(
                dev.clone(),
                &FormatOptions { block_size: bs, ..FormatOptions::default() },
                opts(first),
            )
            .unwrap();
            let f = fs.create("f").unwrap();
            fs.write(f, 1000, &pattern(300_000, 1)).unwrap();
            fs.fallocate(f, FallocMode::PunchHole, 70_000, 9_000).unwrap();
            fs.fallocate(f, FallocMode::KeepSize, 400_000, 100_000).unwrap();
            let mut want = vec![0u8; 301_000];
            want[1000..].copy_from_slice(&pattern(300_000, 1));
            want[70_000..79_000].fill(0);
            fs.unmount().unwrap();

            let fs = Fs::mount(dev, opts(second)).unwrap();
            let f = fs.open("f").unwrap();
            let mut got = vec![0xee; 301_000];
            assert_eq!(fs.read(f, 0, &mut got).unwrap(), want.len(), "{first:?} then {second:?}, bs {bs}");
            assert!(got == want, "{first:?} then {second:?}, bs {bs}: data differs");
            // And it keeps working: write through the second backend, remount, read.
            fs.write(f, 5, &pattern(10_000, 2)).unwrap();
            want[5..10_005].copy_from_slice(&pattern(10_000, 2));
            fs.remount().unwrap();
            fs.read(f, 0, &mut got).unwrap();
            assert!(got == want, "{first:?} then {second:?}, bs {bs}: after a write and remount");
        }
    }
}

#[test]
fn fs_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Fs>();
}
