#!/bin/sh
# run_python.sh — run a Python benchmark of tests/bench with the build's package and daemon.
#
# Usage (from anywhere):
#   tests/bench/run_python.sh [--quick] [--only reach|memory]   python_bench.py (default)
#   tests/bench/run_python.sh pool_seed [options]               issue 8's seed case
#   tests/bench/run_python.sh many_arrays [options]             100,000 small arrays
#
# python_bench.py gets a fresh build/daemon/shmstored on a temporary socket (-m 3G; 1G with
# --quick), started here and stopped with SIGTERM. pool_seed.py and many_arrays.py start their
# own private store (shmstore.serve(), with $SHMSTORED pointing at the build's daemon) and run
# pinned to CPUs $SHMSTORE_BENCH_CPUS (default 0,1) with taskset, daemon and workers included.
# All run Debian's /usr/bin/python3 (it has numpy; PYTHON overrides) with build/python on
# PYTHONPATH. Exit 0 when the benchmark ran, whether or not targets were met; non-zero only on
# errors (pool_seed: also when a task's result was wrong).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SHMSTORE_BUILD_DIR:-$root/build}
python=${PYTHON:-/usr/bin/python3}

shmstored=$build/daemon/shmstored
storectl=$build/client/storectl
for f in "$shmstored" "$storectl"; do
    [ -x "$f" ] || { echo "run_python.sh: $f is missing (ninja -C build)" >&2; exit 1; }
done
export PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}"

case ${1:-} in
pool_seed | many_arrays)
    bench=$1
    shift
    SHMSTORED=$shmstored exec taskset -c "${SHMSTORE_BENCH_CPUS:-0,1}" \
        "$python" "$root/tests/bench/$bench.py" "$@"
    ;;
esac

size=3G
for a in "$@"; do
    [ "$a" = "--quick" ] && size=1G
done

me=run_python.sh
. "$root/tests/bench/daemon.sh"
start_daemon "$size"

status=0
"$python" "$root/tests/bench/python_bench.py" --socket "$sock" --daemon-pid "$daemon_pid" "$@" \
    || status=$?

stop_daemon "$status"
