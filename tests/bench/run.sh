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

sock=${TMPDIR:-/tmp}/shmstore-bench-$$.sock
log=${TMPDIR:-/tmp}/shmstore-bench-$$.log
daemon_pid=

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

taskset -c "$daemon_cpu" "$shmstored" -s "$sock" -m 2G --log-level warn 2>"$log" &
daemon_pid=$!

tries=0
until "$storectl" -s "$sock" ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    if ! kill -0 "$daemon_pid" 2>/dev/null || [ $tries -gt 300 ]; then
        echo "run.sh: shmstored did not start:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.05
done

status=0
"$bench" --socket "$sock" --daemon-pid "$daemon_pid" --daemon-cpu "$daemon_cpu" "$@" || status=$?

kill -TERM "$daemon_pid"
if ! wait "$daemon_pid"; then
    echo "run.sh: shmstored did not stop cleanly:" >&2
    cat "$log" >&2
    [ $status -ne 0 ] || status=1
fi
daemon_pid=
exit $status
