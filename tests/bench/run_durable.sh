#!/bin/sh
# run_durable.sh — the durable-objects benchmark (see tests/bench/README.md, "Durable objects").
#
# Usage: tests/bench/run_durable.sh [--quick] [other shmstore-bench-durable options...]
#
# Brings build/ up to date (meson setup build first if there is none), makes a scratch directory
# on a disk file system (under $SHMSTORE_BENCH_DIR, default /var/tmp: /tmp may be tmpfs, where
# fsync costs nothing), runs build/tests/shmstore-bench-durable with the build's shmstored and
# daemons pinned to CPU $SHMSTORE_BENCH_DAEMON_CPU (default 0), and removes the directory. The
# benchmark starts, restarts and stops its daemons itself. Exit status 0 when it ran, whether or
# not targets were met (it is a report); non-zero only on errors.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SHMSTORE_BUILD_DIR:-$root/build}
parent=${SHMSTORE_BENCH_DIR:-/var/tmp}
daemon_cpu=${SHMSTORE_BENCH_DAEMON_CPU:-0}

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" >/dev/null
fi
if ! ninja -C "$build" >/dev/null; then
    echo "run_durable.sh: warning: ninja -C $build failed; benchmarking what is built" >&2
fi

shmstored=$build/daemon/shmstored
bench=$build/tests/shmstore-bench-durable
for f in "$shmstored" "$bench"; do
    [ -x "$f" ] || { echo "run_durable.sh: $f is missing" >&2; exit 1; }
done

dir=$(mktemp -d "$parent/shmstore-bench-durable.XXXXXX")
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

"$bench" --shmstored "$shmstored" --dir "$dir" --daemon-cpu "$daemon_cpu" "$@"
