#!/usr/bin/env bash
# fsimpl against the kernel, same jobs, same disk, one run per job (issue 11's table):
#   bench/scripts/kernel-compare.sh [OUT_DIR]
# Needs root (loop mounts of ext4 and xfs; mkfs.xfs). fsimpl's devices and the kernel's loop
# images are files in the same temporary directory, so every target reads and writes the same
# disk. Each job runs with the targets taking turns (--repeat 3) so that drift of a shared
# machine falls on all of them; the tables come from the run directories' summary.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-runs/kernel-compare-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
cargo build --release -p harness >&2
bin=./target/release/aopsbench
jobs=bench/jobs/kernel

run() { # NAME JOB REPEAT TARGETS...
  local name=$1 job=$2 repeat=$3
  shift 3
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  echo "== $name" >&2
  "$bin" run "$jobs/$job" --repeat "$repeat" "${targets[@]}" --no-plot --out "$out/$name" >"$out/$name.log" 2>&1 \
    || { tail -5 "$out/$name.log" >&2; exit 2; }
}

# Device I/O shapes: fsimpl on a file (io_uring, O_DIRECT), the kernel on a loop device.
run readahead ra-seqread-4k.fio 3 bh bh:large_folios=1 iomap ext4 xfs
# fsimpl's dirty thresholds are shares of its cache; the kernel's of the machine's memory (GiBs
# here): cache=8g keeps a 512 MiB write under the freerun ceiling as it is on the kernel.
run f2 f2-seqwrite-1m.fio 1 bh:cache=8g bh:large_folios=1:cache=8g iomap:cache=8g ext4 xfs
# CPU paths: fsimpl in RAM (the series measured cache-mode writes on a RAM-backed setup).
run cache cache-write.fio 3 bh:backing=mem bh:backing=mem:large_folios=1 iomap:backing=mem
# Lock scaling, fsimpl and kernel.
run numjobs numjobs.fio 1 bh iomap ext4 xfs

python3 bench/scripts/kernel-compare-table.py "$out"
