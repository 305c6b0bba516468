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

me=run_python.sh
. "$root/tests/bench/daemon.sh"
start_daemon "$size"

status=0
PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" \
    "$python" "$root/tests/bench/python_bench.py" --socket "$sock" --daemon-pid "$daemon_pid" "$@" \
    || status=$?

stop_daemon "$status"
