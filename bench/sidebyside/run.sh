#!/usr/bin/env bash
# aopsbench against fio on the same directory, the same job files, alternating, three rounds.
#
#   bench/sidebyside/run.sh DIR [ROUNDS] [RUNTIME]
#
# DIR: a directory on the filesystem to measure (a disk, or a tmpfs mount). Each case is a fio
# job file in bench/sidebyside/; both tools run it unmodified (aopsbench on dir:path=DIR with
# --set runtime=RUNTIME, fio with --directory=DIR --runtime=RUNTIME), fio first, then aopsbench,
# ROUNDS times (default 3). The null case measures each tool's own cost per op: fio's null engine
# against aopsbench's null target. Prints, per case, the median IOPS, bandwidth and p50 of each
# tool and their ratio (aopsbench / fio). Before each run the other tool's dirty data is synced,
# so that neither pays for the other's writeback. CASES (a glob, default *) picks cases.
# Needs fio and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?usage: bench/sidebyside/run.sh DIR [ROUNDS] [RUNTIME]}
rounds=${2:-3}
runtime=${3:-5}
command -v fio >/dev/null || { echo "fio is not installed (apt-get install fio)"; exit 2; }
cargo build --release -q -p harness
bin=./target/release/aopsbench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

summarise() { # tool json-file -> "iops bw_bytes p50_ns" summed over jobs and directions
  python3 - "$1" "$2" <<'PY'
import json, sys
tool, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
iops = bw = 0.0
p50s = []
if tool == "fio":
    for j in d["jobs"]:
        for dd in ("read", "write"):
            x = j[dd]
            if x["total_ios"] > 0:
                iops += x["iops"]; bw += x["bw_bytes"]
                p = x["clat_ns"].get("percentile", {}).get("50.000000")
                if p: p50s.append(p)
else:
    for j in d["jobs"]:
        for t in j["targets"]:
            for op in ("read", "write"):
                x = t["ops"].get(op)
                if x and x["count"] > 0:
                    iops += x["iops"]; bw += x["bw_bytes"]
                    p50s.append((x.get("clat_ns") or x["lat_ns"])["p50"])
p50 = sorted(p50s)[len(p50s) // 2] if p50s else 0
print(f"{iops:.0f} {bw:.0f} {p50}")
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-22s %12s %12s %7s %10s %10s %7s %9s %9s %7s\n' case fio_iops aops_iops ratio fio_MiBs aops_MiBs ratio fio_p50 aops_p50 ratio
for job in bench/sidebyside/${CASES:-*}.fio; do
  name=$(basename "$job" .fio)
  : >"$work/fio.$name"; : >"$work/aops.$name"
  for r in $(seq "$rounds"); do
    rm -rf "${dir:?}"/sbs.* 2>/dev/null || true
    sync
    if [ "$name" = null ]; then
      fio --output-format=json --runtime="$runtime" "$job" >"$work/f.json"
      "$bin" run "$job" --targets null --set runtime="$runtime" --no-plot --out "$work/a$r$name" >/dev/null
    else
      fio --output-format=json --directory="$dir" --runtime="$runtime" "$job" >"$work/f.json"
      rm -rf "${dir:?}"/sbs.* 2>/dev/null || true
      sync
      "$bin" run "$job" --target "dir:path=$dir" --set runtime="$runtime" --no-plot --out "$work/a$r$name" >/dev/null
    fi
    summarise fio "$work/f.json" >>"$work/fio.$name"
    summarise aops "$work/a$r$name/summary.json" >>"$work/aops.$name"
  done
  col() { cut -d' ' -f"$2" "$1" | median; }
  fi=$(col "$work/fio.$name" 1); ai=$(col "$work/aops.$name" 1)
  fb=$(col "$work/fio.$name" 2); ab=$(col "$work/aops.$name" 2)
  fp=$(col "$work/fio.$name" 3); ap=$(col "$work/aops.$name" 3)
  awk -v n="$name" -v fi="$fi" -v ai="$ai" -v fb="$fb" -v ab="$ab" -v fp="$fp" -v ap="$ap" 'BEGIN {
    printf "%-22s %12.0f %12.0f %7.2f %10.1f %10.1f %7.2f %9.0f %9.0f %7.2f\n", n, fi, ai, (fi>0?ai/fi:0),
      fb/1048576, ab/1048576, (fb>0?ab/fb:0), fp, ap, (fp>0?ap/fp:0) }'
done
rm -rf "${dir:?}"/sbs.* 2>/dev/null || true
