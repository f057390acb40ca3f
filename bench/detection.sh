#!/usr/bin/env bash
# Detection rate of `aopsbench diff` at its defaults: every seeded bug (fsimpl's bug_injection
# feature), switched on with --bug in the default targets, over SEEDS seeds of OPS ops. Prints
# per bug: in how many seeds it was found, the median op number of the divergence (over the
# seeds that found it), and the lengths of the minimal traces.
#
#   bench/detection.sh [OPS] [SEEDS] [BUG...]      (defaults: 20000 ops, 5 seeds, every bug)
#
# Run directories go to $DETECTION_OUT (default: a temporary directory, kept). $AOPSBENCH names
# a binary built with bug_injection to use instead of building one (e.g. a copy, so that a
# build running meanwhile does not replace it).
set -euo pipefail
cd "$(dirname "$0")/.."
ops="${1:-20000}"
seeds="${2:-5}"
shift $(( $# > 2 ? 2 : $# ))
bin="${AOPSBENCH:-}"
if [ -z "$bin" ]; then
  cargo build --release -q -p harness --features bug_injection
  bin=./target/release/aopsbench
fi
out="${DETECTION_OUT:-$(mktemp -d)}"
bugs=("$@")
if [ ${#bugs[@]} -eq 0 ]; then
  # The names a bad --bug lists.
  bugs=($({ "$bin" diff --bug none 2>&1 || true; } | sed -n 's/.*known: \(.*\))$/\1/p' | tr -d ','))
fi
printf '%-36s %7s %14s  %s\n' bug found "median op" "minimal traces (ops)"
for bug in "${bugs[@]}"; do
  found=0 at=() minimal=()
  for seed in $(seq 1 "$seeds"); do
    dir="$out/$bug-$seed"
    code=0
    "$bin" diff --bug "$bug" --seed "$seed" --ops "$ops" --shrink-time 120 --out "$dir" >"$dir.log" 2>&1 || code=$?
    case "$code" in
      0) ;;
      1)
        found=$((found + 1))
        at+=("$(sed -n 's/^DIVERGENCE at op \([0-9]*\):.*/\1/p' "$dir.log" | head -1)")
        minimal+=("$(sed -n 's/^minimal trace: \([0-9]*\) ops.*/\1/p' "$dir.log" | head -1)")
        ;;
      *) echo "$bug seed $seed: exit $code (see $dir.log)" >&2 ;;
    esac
  done
  median=-
  if [ ${#at[@]} -gt 0 ]; then
    median=$(printf '%s\n' "${at[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
  fi
  printf '%-36s %4s/%-2s %14s  %s\n' "$bug" "$found" "$seeds" "$median" "${minimal[*]:-}"
done
echo "logs and run directories: $out"
