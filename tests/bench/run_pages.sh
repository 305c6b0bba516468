#!/bin/sh
# run_pages.sh — a worker's first put, with 4 KiB pages and with huge pages (see README.md).
#
# Usage: tests/bench/run_pages.sh [--quick]
#
# Runs `run.sh --only cold` twice: against a daemon started with --hugepages no, then with
# --hugepages yes after reserving huge pages for it (vm.nr_hugepages, as root; put back as it
# was afterwards). Each prints "put 256 MiB, new client" and "create+fill+seal, new client" as a
# ratio to memcpy into touched memory, in both placements. Without root, or when the kernel does
# not give the pages, the huge page run is skipped with a message.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
pages_needed=1100   # 2.1 GiB of 2 MiB pages: the first segment and two 256 MiB objects, twice over

echo "== 4 KiB pages (hugepages = no)"
SHMSTORE_BENCH_DAEMON_ARGS="--hugepages no" "$root/tests/bench/run.sh" --only cold "$@"

echo
echo "== huge pages (hugepages = yes)"
nr=/proc/sys/vm/nr_hugepages
if [ "$(id -u)" -ne 0 ] || [ ! -w "$nr" ]; then
    echo "run_pages.sh: skipped: reserving huge pages needs root (sysctl vm.nr_hugepages)"
    exit 0
fi
before=$(cat "$nr")
trap 'echo "$before" >"$nr"' EXIT
echo $((before + pages_needed)) >"$nr"
free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
if [ "$free" -lt "$pages_needed" ]; then
    echo "run_pages.sh: skipped: the kernel gave only $free free huge pages of $pages_needed"
    exit 0
fi
SHMSTORE_BENCH_DAEMON_ARGS="--hugepages yes" "$root/tests/bench/run.sh" --only cold "$@"
