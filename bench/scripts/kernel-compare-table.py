#!/usr/bin/env python3
"""Tables of kernel-compare.sh's run directories (markdown on stdout)."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])


def summary(name):
    return json.loads((out / name / "summary.json").read_text())


def label(t):
    spec = t["spec"]
    if spec.startswith("bh") and "large_folios=1" in spec:
        return "bh+LF"
    return t["target"].split(":")[0]


def op(t, kind):
    return t["ops"].get(kind, {})


def us(ns):
    return f"{ns / 1000:.0f} µs" if ns >= 10_000 else f"{ns / 1000:.1f} µs"


s = summary("readahead")
print("## Cold sequential read, 64 MiB, bs=4k\n")
print("| target | device reads | read MiB | MiB/s | async readahead | readahead windows |")
print("|---|---|---|---|---|---|")
for t in s["jobs"][0]["targets"]:
    st, r = t["stats"], op(t, "read")
    print(f"| {label(t)} | {st.get('dev_reads', 0)} | {st.get('dev_read_bytes', 0) / 2**20:.0f} | "
          f"{r['bw_bytes'] / 2**20:.0f} | {st.get('async_readahead', '-')} | {st.get('readahead_windows', '-')} |")

s = summary("f2")
print("\n## Sequential write, 512 MiB, bs=1m, end_fsync\n")
print("| target | device writes | write MiB | write p50 | write p99 | write max | fsync |")
print("|---|---|---|---|---|---|---|")
for t in s["jobs"][0]["targets"]:
    st, w, f = t["stats"], op(t, "write"), op(t, "fsync")
    print(f"| {label(t)} | {st.get('dev_writes', 0)} | {st.get('dev_write_bytes', 0) / 2**20:.0f} | "
          f"{us(w['lat_ns']['p50'])} | {us(w['lat_ns']['p99'])} | {us(w['lat_ns']['max'])} | "
          f"{us(f['lat_ns']['max']) if f else '-'} |")

s = summary("cache")
print("\n## Cache-mode writes (no writeback), 512 MiB, fsimpl in RAM: MiB/s and ratio to bh\n")
series = {"cache-write-4k": "1.05x", "cache-write-64k": "bh+LF 1.77x, iomap 2.44x", "cache-write-1m": "2.67x"}
print("| job | bh | bh+LF | iomap | bh+LF / bh | iomap / bh | kernel series |")
print("|---|---|---|---|---|---|---|")
for j in s["jobs"]:
    bw = {label(t): op(t, "write")["bw_bytes"] for t in j["targets"]}
    print(f"| {j['job']} | {bw['bh'] / 2**20:.0f} | {bw['bh+LF'] / 2**20:.0f} | {bw['iomap'] / 2**20:.0f} | "
          f"{bw['bh+LF'] / bw['bh']:.2f}x | {bw['iomap'] / bw['bh']:.2f}x | {series.get(j['job'], '')} |")

s = summary("numjobs")
print("\n## One thread against two: MiB/s (ratio to one thread)\n")
jobs = {j["job"]: j for j in s["jobs"]}
names = [label(t) for t in s["jobs"][0]["targets"]]
print("| job | " + " | ".join(names) + " |")
print("|---" * (len(names) + 1) + "|")
for kind in ("write", "read"):
    one = {label(t): op(t, kind)["bw_bytes"] for t in jobs[f"{kind}-1job"]["targets"]}
    for j in (f"{kind}-1job", f"{kind}-2jobs-2files", f"{kind}-2jobs-1file"):
        cells = []
        for t in jobs[j]["targets"]:
            bw = op(t, kind)["bw_bytes"]
            cells.append(f"{bw / 2**20:.0f} ({bw / one[label(t)]:.2f}x)")
        print(f"| {j} | " + " | ".join(cells) + " |")
