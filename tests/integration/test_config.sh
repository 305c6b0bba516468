#!/bin/sh
# test_config.sh — the example config deploy/shmstored.conf is exactly what
# `shmstored --print-config` prints, so the file users read cannot drift from the daemon's table;
# that output, every key uncommented, is a config the daemon accepts; the durable-object keys and
# their defaults are there, and persist = all without a data directory is refused at start; and
# --help shows the table's flags.
#
# meson sets SOURCE_ROOT (the repository) and SHMSTORED (the binary). Output is "ok N - ..." /
# "not ok N - ..." lines, then "N passed, M failed"; exit status 1 on a failure. POSIX sh.
set -u

: "${SOURCE_ROOT:?SOURCE_ROOT must be set (meson sets it)}"
: "${SHMSTORED:?SHMSTORED must be set (meson sets it)}"

EXAMPLE=$SOURCE_ROOT/deploy/shmstored.conf

T=$(mktemp -d "${TMPDIR:-/tmp}/config-test.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM

. "$(dirname "$0")/tap.sh"

if "$SHMSTORED" --print-config >"$T/printed" 2>"$T/err" && [ ! -s "$T/err" ]; then
    ok "shmstored --print-config exits 0, nothing on stderr"
else
    not_ok "shmstored --print-config exits 0, nothing on stderr" "$(cat "$T/err")"
fi

if diff -u "$EXAMPLE" "$T/printed" >"$T/diff"; then
    ok "deploy/shmstored.conf is exactly the output of shmstored --print-config"
else
    not_ok "deploy/shmstored.conf is exactly the output of shmstored --print-config" \
        "regenerate it: shmstored --print-config > deploy/shmstored.conf" "$(cat "$T/diff")"
fi

# Every key shown with its default, commented out: uncommented, the file must load as it is.
sed -n 's/^#\([a-z][a-z0-9_]*\) =\(.*\)$/\1 =\2/p' "$T/printed" >"$T/uncommented.conf"
keys=$(wc -l <"$T/uncommented.conf")
if [ "$keys" -gt 0 ]; then
    ok "--print-config shows $keys keys"
else
    not_ok "--print-config shows keys" "no '#key = default' lines"
fi
# The flags keep the daemon off the user's default socket and small.
"$SHMSTORED" -c "$T/uncommented.conf" -s "$T/s.sock" -m 16M --no-reserve --log-level error \
    2>"$T/err" &
daemon=$!
i=0
while [ ! -S "$T/s.sock" ] && kill -0 "$daemon" 2>/dev/null && [ $i -lt 200 ]; do
    i=$((i + 1)); sleep 0.05
done
if [ -S "$T/s.sock" ]; then
    ok "the daemon starts with every key at its printed default"
else
    not_ok "the daemon starts with every key at its printed default" "$(cat "$T/err")"
fi
kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null

# A key's problem names FILE:LINE, the key and what it accepts.
printf 'max_clients = 0\n' >"$T/bad.conf"
"$SHMSTORED" -c "$T/bad.conf" -s "$T/b.sock" 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "bad.conf:1: max_clients: must be a whole number from 1 to" "$T/err"; then
    ok "a value out of bounds stops the start with FILE:LINE: key: problem"
else
    not_ok "a value out of bounds stops the start with FILE:LINE: key: problem" "exit $rc" \
        "$(cat "$T/err")"
fi
"$SHMSTORED" --log-level loud 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q -- "--log-level loud: must be error, warn, info or debug" "$T/err"; then
    ok "a bad flag value names the flag, the value and what it accepts"
else
    not_ok "a bad flag value names the flag, the value and what it accepts" "exit $rc" \
        "$(cat "$T/err")"
fi

# The durable-object keys are in the table, with the defaults the issue names.
for line in '#durability = async' '#flush_interval = 1s' '#persist = flagged' '#preload = no' \
        '#spill = yes' '#data_dir ='; do
    if grep -qx -- "$line" "$T/printed"; then
        ok "--print-config shows '$line'"
    else
        not_ok "--print-config shows '$line'" "$(grep -E '^#(durab|flush|persist|preload|spill|data_dir)' "$T/printed")"
    fi
done
# persist = all can only be honoured with a data directory: refused at start without one.
printf 'persist = all\n' >"$T/all.conf"
"$SHMSTORED" -c "$T/all.conf" -s "$T/p.sock" -m 16M --no-reserve 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "persist = all needs a data directory" "$T/err" && [ ! -e "$T/p.sock" ]
then
    ok "persist = all without a data directory stops the start, saying what is needed"
else
    not_ok "persist = all without a data directory stops the start, saying what is needed" \
        "exit $rc" "$(cat "$T/err")"
fi
"$SHMSTORED" -c "$T/all.conf" -d "$T/data" -s "$T/p.sock" -m 16M --no-reserve --log-level error \
    2>"$T/err" &
daemon=$!
i=0
while [ ! -S "$T/p.sock" ] && kill -0 "$daemon" 2>/dev/null && [ $i -lt 200 ]; do
    i=$((i + 1)); sleep 0.05
done
if [ -S "$T/p.sock" ]; then
    ok "persist = all with -d DIR starts"
else
    not_ok "persist = all with -d DIR starts" "$(cat "$T/err")"
fi
kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null
printf 'persist = some\n' >"$T/bad-persist.conf"
"$SHMSTORED" -c "$T/bad-persist.conf" -s "$T/q.sock" 2>"$T/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "bad-persist.conf:1: persist: must be flagged or all" "$T/err"; then
    ok "a bad persist value names FILE:LINE and the two values"
else
    not_ok "a bad persist value names FILE:LINE and the two values" "exit $rc" "$(cat "$T/err")"
fi

"$SHMSTORED" --help >"$T/help" 2>&1
for flag in -s --socket -m --memory --reserve --no-reserve --log-level -c --config \
        --print-config --version -h --help; do
    if grep -Eq -e "(^|[ ,])$flag( |,|\$)" "$T/help"; then
        ok "--help lists $flag"
    else
        not_ok "--help lists $flag" "$(cat "$T/help")"
    fi
done
"$SHMSTORED" -h >"$T/h" 2>&1 && cmp -s "$T/h" "$T/help"
if [ $? -eq 0 ]; then ok "-h is --help"; else not_ok "-h is --help"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
