//! Emulated fallocate modes: a target that lacks a mode (tmpfs has neither collapse_range nor
//! insert_range, nor zero_range before Linux 6.x), or whose blocks are larger than a
//! collapse/insert range's alignment, still takes part in the op with reads, writes and
//! truncates that leave the same file content. The other targets and the model run the real
//! op, so adding a kernel target never lowers what the others are tested on.
//!
//! An emulated op moves the target's own bytes (read back from it), so bad data it held moves
//! as the real op would move it. It runs only for ops the model says succeed: the errors of an
//! invalid range are the model's.

use crate::targets::{FileId, Target, TargetError};
use workloads::FallocMode;

/// Bytes moved per read and write.
const CHUNK: u64 = 1 << 20;

/// Does `mode` over `[offset, offset + len)` of `f` on `t` with reads, writes and truncates;
/// `buf` is scratch memory.
pub fn fallocate(
    t: &dyn Target,
    f: FileId,
    mode: FallocMode,
    offset: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<(), TargetError> {
    let size = t.size(f)?;
    let end = offset.saturating_add(len);
    match mode {
        // Allocation does not change content; mode 0 extends the size.
        FallocMode::Allocate if end > size => t.truncate(f, end),
        FallocMode::Allocate | FallocMode::KeepSize => Ok(()),
        FallocMode::PunchHole | FallocMode::ZeroRangeKeepSize => zero(t, f, offset, end.min(size), buf),
        FallocMode::ZeroRange => {
            if end > size {
                t.truncate(f, end)?;
            }
            zero(t, f, offset, end.min(size), buf)
        }
        // Read the tail, write it `len` lower, cut the file short (ext4_collapse_range moves
        // extents; the bytes end up the same).
        FallocMode::CollapseRange => {
            copy(t, f, end, offset, size - end, buf)?;
            t.truncate(f, size - len)
        }
        // Write the tail `len` higher (from its end, so it does not overwrite itself), then
        // zeros over the inserted range.
        FallocMode::InsertRange => {
            copy(t, f, offset, end, size - offset, buf)?;
            zero(t, f, offset, end, buf)
        }
    }
}

/// Writes zeros over `[from, to)`.
fn zero(t: &dyn Target, f: FileId, from: u64, to: u64, buf: &mut Vec<u8>) -> Result<(), TargetError> {
    let mut at = from;
    while at < to {
        let n = CHUNK.min(to - at) as usize;
        if buf.len() < n {
            buf.resize(n, 0);
        }
        buf[..n].fill(0);
        write_all(t, f, at, &buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

/// Copies `len` bytes from `src` to `dst` within the file, in the order that never overwrites
/// bytes still to be copied.
fn copy(t: &dyn Target, f: FileId, src: u64, dst: u64, len: u64, buf: &mut Vec<u8>) -> Result<(), TargetError> {
    let chunks = len.div_ceil(CHUNK);
    for k in 0..chunks {
        // Downward moves go front to back, upward ones back to front.
        let k = if dst < src { k } else { chunks - 1 - k };
        let at = k * CHUNK;
        let n = CHUNK.min(len - at) as usize;
        if buf.len() < n {
            buf.resize(n, 0);
        }
        let mut got = 0;
        while got < n {
            match t.read(f, src + at + got as u64, &mut buf[got..n])? {
                0 => return Err(TargetError::Os { op: "read", errno: libc::EIO }),
                r => got += r,
            }
        }
        write_all(t, f, dst + at, &buf[..n])?;
    }
    Ok(())
}

fn write_all(t: &dyn Target, f: FileId, offset: u64, data: &[u8]) -> Result<(), TargetError> {
    let mut done = 0;
    while done < data.len() {
        match t.write(f, offset + done as u64, &data[done..])? {
            0 => return Err(TargetError::Os { op: "write", errno: libc::EIO }),
            n => done += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::model::Model;
    use crate::targets::{FsimplDefaults, FsimplTarget, PoolCache};
    use workloads::Op;

    #[test]
    fn emulated_modes_leave_what_the_real_ones_do() {
        let spec = match "bh:backing=mem:size=64m:cache=4m".parse().unwrap() {
            vocab::TargetSpec::Fsimpl(f) => f,
            other => panic!("{other}"),
        };
        let t = FsimplTarget::create(&spec, &FsimplDefaults::default(), &PoolCache::default()).unwrap();
        let f = t.open("f", true).unwrap();
        let mut model = Model::new(1, 1024, 0);
        let mut buf = Vec::new();
        let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8 + 1).collect();
        let write = Op::Write { file: 0, offset: 0, len: data.len() as u64, tag: 1 };
        model.apply(&write, &data).unwrap().unwrap();
        t.write(f, 0, &data).unwrap();
        let modes = [
            (FallocMode::CollapseRange, 1024, (1 << 20) + 3072),
            (FallocMode::InsertRange, 2048, (2 << 20) + 1024),
            (FallocMode::PunchHole, 100, 5000),
            (FallocMode::ZeroRange, (4 << 20) - 10, 100),
            (FallocMode::ZeroRangeKeepSize, 7, 9),
            (FallocMode::Allocate, 0, 5 << 20),
            (FallocMode::KeepSize, 0, 9 << 20),
        ];
        for (mode, offset, len) in modes {
            model.apply(&Op::Fallocate { file: 0, mode, offset, len }, &[]).unwrap().unwrap();
            fallocate(&t, f, mode, offset, len, &mut buf).unwrap();
            let size = t.size(f).unwrap();
            assert_eq!(size, model.size(0), "{mode:?}");
            let mut got = vec![0; size as usize];
            assert_eq!(t.read(f, 0, &mut got).unwrap(), got.len());
            assert!(got == model.bytes(0), "{mode:?}: content differs");
        }
    }
}
