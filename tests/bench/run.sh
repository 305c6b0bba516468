#!/bin/sh
# run.sh — run the shmstore benchmark against a fresh daemon (see tests/bench/README.md).
#
# Usage: tests/bench/run.sh [--quick] [other shmstore-bench options...]
#
# Brings build/ up to date if it exists (meson setup build, otherwise), starts
# build/daemon/shmstored on a temporary socket with a 2 GiB arena pinned to one CPU, waits until it
# answers a ping, runs build/tests/shmstore-bench (which measures both placements: client on the
# daemon's core and on another core), and stops the daemon. Exit status 0 when the benchmark ran,
# whether or not targets were met (it is a report); non-zero only on errors.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SHMSTORE_BUILD_DIR:-$root/build}
daemon_cpu=${SHMSTORE_BENCH_DAEMON_CPU:-0}

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" >/dev/null
fi
if ! ninja -C "$build" >/dev/null; then
    echo "run.sh: warning: ninja -C $build failed; benchmarking the binaries already built" >&2
fi

shmstored=$build/daemon/shmstored
storectl=$build/client/storectl
bench=$build/tests/shmstore-bench
for f in "$shmstored" "$storectl" "$bench"; do
    [ -x "$f" ] || { echo "run.sh: $f is missing" >&2; exit 1; }
done

me=run.sh
. "$root/tests/bench/daemon.sh"
start_daemon 2G taskset -c "$daemon_cpu"

status=0
"$bench" --socket "$sock" --daemon-pid "$daemon_pid" --daemon-cpu "$daemon_cpu" "$@" || status=$?

stop_daemon "$status"
