#!/bin/sh
# run_python.sh — run tests/bench/python_bench.py against a fresh daemon.
#
# Usage (from anywhere): tests/bench/run_python.sh [--quick] [--only reach|memory]
#
# Starts build/daemon/shmstored on a temporary socket (-m 3G; 1G with --quick), waits until
# storectl ping answers, runs the benchmark with Debian's /usr/bin/python3 (it has numpy;
# PYTHON overrides), then stops the daemon with SIGTERM. Exit 0 when the benchmark ran, whether
# or not targets were met; non-zero only on errors.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SHMSTORE_BUILD_DIR:-$root/build}
python=${PYTHON:-/usr/bin/python3}

shmstored=$build/daemon/shmstored
storectl=$build/client/storectl
for f in "$shmstored" "$storectl"; do
    [ -x "$f" ] || { echo "run_python.sh: $f is missing (ninja -C build)" >&2; exit 1; }
done

size=3G
for a in "$@"; do
    [ "$a" = "--quick" ] && size=1G
done

sock=${TMPDIR:-/tmp}/shmstore-pybench-$$.sock
log=${TMPDIR:-/tmp}/shmstore-pybench-$$.log
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

"$shmstored" -s "$sock" -m "$size" 2>"$log" &
daemon_pid=$!

tries=0
until "$storectl" -s "$sock" ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    if ! kill -0 "$daemon_pid" 2>/dev/null || [ $tries -gt 300 ]; then
        echo "run_python.sh: shmstored did not start:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.05
done

status=0
PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" \
    "$python" "$root/tests/bench/python_bench.py" --socket "$sock" --daemon-pid "$daemon_pid" "$@" \
    || status=$?

kill -TERM "$daemon_pid"
if ! wait "$daemon_pid"; then
    echo "run_python.sh: shmstored did not stop cleanly:" >&2
    cat "$log" >&2
    [ $status -ne 0 ] || status=1
fi
daemon_pid=
exit $status
