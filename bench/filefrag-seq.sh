#!/usr/bin/env bash
# The extents of a 512 MiB sequentially written file, written once by the kernel and once by
# fsimpl (bh and iomap) on images made by the same mkfs.ext4, as filefrag -v shows them.
# Needs root (loop mounts), e2fsprogs and a release build (cargo build --release -p harness).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/aopsbench
work=$(mktemp -d)
trap 'umount "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/m"
for who in kernel bh iomap; do
  truncate -s 2G "$work/$who.img"
  mkfs.ext4 -q -F -b 4096 "$work/$who.img"
done
mount -o loop "$work/kernel.img" "$work/m"
dd if=/dev/zero of="$work/m/seq.0.0" bs=1M count=512 conv=fsync status=none
echo "== kernel"; filefrag -v "$work/m/seq.0.0"
umount "$work/m"
for who in bh iomap; do
  "$bin" run bench/jobs/seq-1m-end-fsync.fio --target "$who:image=$work/$who.img" --out "$work/run-$who" --no-plot >/dev/null
  e2fsck -fn "$work/$who.img" >/dev/null
  mount -o loop,ro "$work/$who.img" "$work/m"
  echo "== fsimpl $who"; filefrag -v "$work/m/seq.0.0"
  umount "$work/m"
done
