#!/usr/bin/env bash
# fio's examples/ on a `dir` target, file by file: the lines of fio-examples-on-dir.txt.
#
#   sudo bench/sidebyside/fio-examples.sh EXAMPLES_DIR [AOPSBENCH]
#
# EXAMPLES_DIR holds fio's examples/*.fio (from fio's repository; not kept here) and must not be
# under /tmp. Runs as root in a private mount namespace with a tmpfs (1 GiB) over /tmp, so the
# target is tmpfs-backed, nothing fills this machine's disk (fill_device), and job files that
# name /tmp/... (butterfly, flow, waitfor, exitwhat) find their files inside the target,
# `dir:path=/tmp`, as fio would; a new tmpfs for each file. Each file runs as
#   aopsbench run X.fio --target dir:path=/tmp --set runtime=2 [--set size=64m] --no-plot --no-report
# with --set size=64m when it has neither size= nor filesize=, or one above 64m (or a percentage), strict first,
# then with --lenient if strict refused options fio has and aopsbench does not; 90 s each.
# Prints `file|strict|lenient|refused|exit code|size|first line of why`, one line per file.
set -euo pipefail

examples=$(realpath "${1:?usage: $0 EXAMPLES_DIR [AOPSBENCH]}")
bin=$(realpath "${2:-target/release/aopsbench}")
case "$examples/" in /tmp/*) echo "$0: EXAMPLES_DIR must not be under /tmp (a tmpfs hides it)" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "$0: run as root (it mounts a tmpfs in a private namespace)" >&2; exit 2; }

if [ -z "${FIO_EXAMPLES_INSIDE:-}" ]; then
    exec env FIO_EXAMPLES_INSIDE=1 unshare --mount --propagation private "$0" "$examples" "$bin"
fi
# A fresh tmpfs for each file (filecreate leaves half a million files: more than a glob takes).
fresh_tmp() {
    umount /tmp 2>/dev/null || true
    mount -t tmpfs -o size=1g fio-examples /tmp
}
out=$(mktemp -d /var/tmp/fio-examples-runs.XXXXXX)
trap 'rm -rf "$out"' EXIT

# Bytes of a fio size (k/m/g/t at base 1024); empty when it is not a plain size.
bytes() {
    local v=${1,,}
    v=${v%ib}
    v=${v%b}
    case "$v" in
        *[!0-9kmgt]* | "") return ;;
        *k) echo $((${v%k} << 10)) ;;
        *m) echo $((${v%m} << 20)) ;;
        *g) echo $((${v%g} << 30)) ;;
        *t) echo $((${v%t} << 40)) ;;
        *) echo "$v" ;;
    esac
}

# Whether the file needs --set size=64m: no size= nor filesize=, or one above 64m or not a
# plain size.
needs_size() {
    local sizes s b
    sizes=$(sed -nE 's/^[[:space:]]*(file)?size[[:space:]]*=[[:space:]]*([^;#[:space:]]*).*/\2/p' "$1")
    [ -z "$sizes" ] && return 0
    for s in $sizes; do
        b=$(bytes "$s")
        if [ -z "$b" ] || [ "$b" -gt $((64 << 20)) ]; then return 0; fi
    done
    return 1
}

for f in "$examples"/*.fio; do
    name=$(basename "$f" .fio)
    fresh_tmp
    set_size=()
    size_col="own size"
    if needs_size "$f"; then
        set_size=(--set size=64m)
        size_col="--set size=64m"
    fi
    run() {
        timeout 180 "$bin" run "$f" --target dir:path=/tmp --set runtime=2 "${set_size[@]}" \
            --no-plot --no-report --out "$out/$name" "$@" >"$out/stdout" 2>"$out/stderr"
    }
    rc=0
    run || rc=$?
    if [ "$rc" = 0 ]; then
        echo "$name|strict|0|$size_col|"
        continue
    fi
    why=$(grep -m1 '^aopsbench:' "$out/stderr" || head -n1 "$out/stderr" || true)
    [ "$rc" = 124 ] && why="still running after 180 s"
    if grep -q "is not supported by aopsbench (--lenient" "$out/stderr"; then
        fresh_tmp
        rc=0
        run --lenient || rc=$?
        if [ "$rc" = 0 ]; then
            echo "$name|lenient|0|$size_col|$why"
            continue
        fi
        why=$(grep -m1 '^aopsbench:' "$out/stderr" || head -n1 "$out/stderr" || true)
        [ "$rc" = 124 ] && why="with --lenient, still running after 180 s"
    fi
    echo "$name|refused|$rc|$size_col|$why"
done | sed "s#$examples/#examples/#g"
