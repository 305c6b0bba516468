#!/bin/sh
# test_shmstored.sh — shmstored's command line and lifetime (shmstored(8)): help and version,
# bad options, a capacity the machine cannot give, refusing a live daemon's socket, replacing a
# stale one, the config file (and its FILE:LINE errors), SIGTERM and SIGINT removing the socket,
# also when SIGTERM arrives the moment the socket appears.
set -u
dir=$(mktemp -d /tmp/shmstore-daemon-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2"; fi; }

. "$(dirname "$0")/ready.sh"

"$SHMSTORED" --help >"$dir/out" 2>&1
check $? "--help exits 0"
for word in --socket --memory --config --log-level --no-reserve --lifeline --version; do
    grep -q -- "$word" "$dir/out"; check $? "--help mentions $word"
done
# Regression (short_help_refused): -h is --help.
"$SHMSTORED" -h >"$dir/short" 2>&1; rc=$?
[ $rc -eq 0 ] && cmp -s "$dir/out" "$dir/short"
check $? "-h prints the same help as --help, exit 0"
"$SHMSTORED" -s "$dir/never.sock" -m 16M -h >"$dir/short" 2>&1; rc=$?
[ $rc -eq 0 ] && cmp -s "$dir/out" "$dir/short" && [ ! -e "$dir/never.sock" ]
check $? "-h after other options still only prints the help"
"$SHMSTORED" --version | grep -q '^shmstored [0-9]'
check $? "--version prints the version"

"$SHMSTORED" -s "$dir/a.sock" -m 12Q 2>"$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q "12Q" "$dir/err"
check $? "a bad size is a usage error (exit 2) naming the value"
"$SHMSTORED" --no-such-option 2>/dev/null
[ $? -eq 2 ]; check $? "an unknown option exits 2"

# The maximum is taken in segments as objects need it; a first segment the machine cannot give
# fails the start.
printf 'segment_size = 512G\n' >"$dir/huge.conf"
"$SHMSTORED" -s "$dir/a.sock" -m 1T -c "$dir/huge.conf" 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "cannot reserve 512.0 GiB" "$dir/err" && [ ! -e "$dir/a.sock" ]
check $? "a first segment the machine cannot give fails at start with a clear message"

# A live daemon's socket is refused; the first daemon keeps serving.
"$SHMSTORED" -s "$dir/a.sock" -m 16M 2>"$dir/a.log" &
first=$!; pids="$pids $first"
wait_ready "$dir/a.sock"; check $? "daemon becomes ready on its socket"
echo x | "$STORECTL" -s "$dir/a.sock" put keep >/dev/null
"$SHMSTORED" -s "$dir/a.sock" -m 16M 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "already serving" "$dir/err"
check $? "a second daemon on a live socket refuses to start"
[ "$("$STORECTL" -s "$dir/a.sock" get keep)" = x ]
check $? "the first daemon still serves its objects"

# SIGTERM: clean exit, socket removed.
kill -TERM "$first"; wait "$first"; rc=$?
[ $rc -eq 0 ] && [ ! -e "$dir/a.sock" ]
check $? "SIGTERM: exit 0 and the socket file is removed"

# Regression: the daemon bound its socket before it caught SIGTERM, so a stop sent the moment
# the socket appeared killed it with the default action (status 143) and left the socket file.
# Stop it at that moment, many times over.
early_failures=""
i=0
while [ $i -lt "${SIGTERM_RACE_ROUNDS:-50}" ]; do
    i=$((i + 1))
    rm -f "$dir/e.sock"
    "$SHMSTORED" -s "$dir/e.sock" -m 16M --no-reserve 2>"$dir/e.log" &
    early=$!
    spins=0
    while [ ! -S "$dir/e.sock" ] && kill -0 "$early" 2>/dev/null && [ $spins -lt 200000 ]; do
        spins=$((spins + 1))
    done
    kill -TERM "$early"; wait "$early"; rc=$?
    if [ $rc -ne 0 ] || [ -e "$dir/e.sock" ]; then
        early_failures="$early_failures round $i: exit $rc$([ -e "$dir/e.sock" ] && echo ", socket left");"
    fi
done
[ -z "$early_failures" ]
check $? "SIGTERM as soon as the socket appears: exit 0, socket removed (${SIGTERM_RACE_ROUNDS:-50} rounds)${early_failures:+:$early_failures}"

# A stale socket (a daemon killed with SIGKILL leaves its socket file) is replaced.
"$SHMSTORED" -s "$dir/b.sock" -m 16M 2>"$dir/b0.log" &
killed=$!
wait_ready "$dir/b.sock"
kill -KILL "$killed"; wait "$killed" 2>/dev/null
[ -S "$dir/b.sock" ]; check $? "a daemon killed with SIGKILL leaves a stale socket file"
"$SHMSTORED" -s "$dir/b.sock" -m 16M 2>"$dir/b.log" &
second=$!; pids="$pids $second"
wait_ready "$dir/b.sock"; check $? "a stale socket file is replaced"
grep -q "stale socket" "$dir/b.log"; check $? "the replacement is logged"
kill -INT "$second"; wait "$second"; rc=$?
[ $rc -eq 0 ] && [ ! -e "$dir/b.sock" ]
check $? "SIGINT: exit 0 and the socket file is removed"

# A regular file where the socket should be is never deleted.
echo data > "$dir/c.sock"
"$SHMSTORED" -s "$dir/c.sock" -m 16M 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not a socket" "$dir/err" && [ "$(cat "$dir/c.sock")" = data ]
check $? "a non-socket file at the socket path is refused and left alone"

# Config file: values apply, the command line wins, errors name FILE:LINE.
cat > "$dir/good.conf" <<CONF
# a comment
socket = $dir/d.sock
memory = 32M     # trailing comment
reserve = no
log_level = debug
CONF
"$SHMSTORED" -c "$dir/good.conf" -m 48M 2>"$dir/d.log" &
third=$!; pids="$pids $third"
wait_ready "$dir/d.sock"; check $? "the config file's socket is used"
"$STORECTL" -s "$dir/d.sock" info --json | grep -q '"capacity_bytes":50331648'
check $? "the command line's -m wins over the file's memory"
grep -q "debug" "$dir/d.log"
check $? "the config file's log_level applies"
kill -TERM "$third"; wait "$third"

printf 'memory = 32M\ncolour = blue\n' > "$dir/bad.conf"
"$SHMSTORED" -c "$dir/bad.conf" 2>"$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q "bad.conf:2: colour: unknown key" "$dir/err"
check $? "an unknown key stops the start with FILE:LINE"
printf 'reserve = maybe\n' > "$dir/bad2.conf"
"$SHMSTORED" -c "$dir/bad2.conf" 2>"$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q "bad2.conf:1: reserve" "$dir/err"
check $? "a bad value stops the start with FILE:LINE"
"$SHMSTORED" -c "$dir/missing.conf" 2>"$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q "missing.conf" "$dir/err"
check $? "an unreadable config file stops the start"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
