#!/bin/sh
# test_example.sh — the README's C example: a consumer started first waits for its object by
# name; a producer creates it in place and seals it; the consumer wakes and reads it.
set -u
dir=$(mktemp -d /tmp/shmstore-example-XXXXXX)
sock="$dir/s.sock"
"$SHMSTORED" -s "$sock" -m 64M 2>"$dir/log" &
daemon=$!
cleanup() { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
export SHMSTORE_SOCKET="$sock"
i=0
until "$STORECTL" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "daemon did not start"; cat "$dir/log"; exit 1; }
    sleep 0.1
done

passed=0 failed=0
check() { if [ "$1" = "$2" ]; then passed=$((passed + 1)); echo "ok - $3"; else failed=$((failed + 1)); echo "not ok - $3: got '$1', want '$2'"; fi; }

"$CONSUMER" weights 10000 >"$dir/out" 2>&1 &
consumer=$!
sleep 0.3
"$PRODUCER" weights 1000
check "$?" 0 "producer exits 0"
wait "$consumer"
check "$?" 0 "waiting consumer exits 0"
check "$(cat "$dir/out")" 'weights: 1000 values, sum 499500, meta "dtype=float64"' "consumer reads what the producer wrote"
# Regression (example_meta_stored_its_nul): the metadata is the text without its NUL, so it is
# 13 bytes and storectl stat shows it as text, not "(binary)".
check "$("$STORECTL" stat weights | grep '^meta')" "meta_size: 13 B (13 bytes)
meta:      dtype=float64" "the example's metadata is its text alone"
"$CONSUMER" missing 0 >/dev/null 2>&1
check "$?" 1 "consumer of a missing name fails at once with timeout 0"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
