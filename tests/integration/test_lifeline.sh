#!/bin/sh
# test_lifeline.sh — shmstored --lifeline FD (shmstored(8)): a daemon started for one process
# never outlives it. The daemon gets the read end of a pipe (a FIFO opened on fd 3, or an
# anonymous pipe on its stdin) whose write end the test, or a stand-in parent, holds. Closing the
# write end, or SIGKILLing the parent that holds it, must stop the daemon as SIGTERM does: exit 0,
# socket and lock files removed, the log line "lifeline closed: shutting down". Bytes written to
# the pipe change nothing. A descriptor that is not open, a write-only one and one that is not a
# number are start-up errors with clear messages, and the option is not a config-file key. How
# long the daemon takes to notice is measured and printed; the bound asserted is generous.
set -u
: "${SHMSTORED:?SHMSTORED must be set (meson sets it)}"
: "${STORECTL:?STORECTL must be set (meson sets it)}"
dir=$(mktemp -d /tmp/shmstore-lifeline-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; [ $# -gt 1 ] && printf '#   %s\n' "$2"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2" "${3:-}"; fi; }
now_ms() { date +%s%3N; }

. "$(dirname "$0")/ready.sh"

running() {   # PID: alive and not a zombie waiting to be reaped
    kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

gone_within() {   # PID SECONDS: until the process is gone; 0 when it went in time
    i=0
    while running "$1"; do
        i=$((i + 1)); [ $i -gt $(($2 * 20)) ] && return 1
        sleep 0.05
    done
}

# The valgrind setup puts its wrapper in front of the daemon; descriptors pass through it.
daemon() { ${SHMSTORE_DAEMON_WRAPPER:-} "$SHMSTORED" "$@"; }

# ---- the starting process closes the write end ---------------------------------------------
mkfifo "$dir/life"
daemon -s "$dir/a.sock" -m 16M --lifeline 3 3<"$dir/life" 2>"$dir/a.log" &
first=$!; pids="$pids $first"
exec 4>"$dir/life"   # the write end: opening it lets the daemon's open of the read end finish
wait_ready "$dir/a.sock"; check $? "a daemon with --lifeline becomes ready"
printf 'bytes that mean nothing\n' >&4
echo x | "$STORECTL" -s "$dir/a.sock" put keep >/dev/null 2>&1
[ "$("$STORECTL" -s "$dir/a.sock" get keep 2>/dev/null)" = x ]
check $? "bytes written to the lifeline are ignored: the daemon keeps serving"
start=$(now_ms)
exec 4>&-
gone_within "$first" 20 || kill -KILL "$first"   # a daemon that ignores its lifeline fails below
wait "$first"; rc=$?
elapsed=$(($(now_ms) - start))
echo "# closing the lifeline to exit: $elapsed ms"
[ $rc -eq 0 ]; check $? "closing the write end: the daemon exits 0" "exit $rc"
[ ! -e "$dir/a.sock" ] && [ ! -e "$dir/a.sock.lock" ]
check $? "closing the write end: the socket and lock files are removed"
grep -q "lifeline closed: shutting down" "$dir/a.log"
check $? "the log says 'lifeline closed: shutting down'" "$(cat "$dir/a.log")"
[ "$elapsed" -lt 5000 ]; check $? "the daemon notices promptly ($elapsed ms, bound 5 s)"

# ---- the parent holding the write end is SIGKILLed ------------------------------------------
# The stand-in parent writes its pid, then becomes `sleep` holding the pipe's write end (its
# stdout); the daemon reads the pipe on its stdin. SIGKILL gives the parent no chance to tidy up:
# only the kernel closing its descriptors can tell the daemon.
sh -c 'echo $$ > "$1"; exec sleep 600' sh "$dir/parent.pid" | daemon -s "$dir/b.sock" -m 16M --lifeline 0 2>"$dir/b.log" &
second=$!; pids="$pids $second"
wait_ready "$dir/b.sock"; check $? "a daemon whose lifeline is its stdin becomes ready"
parent=$(cat "$dir/parent.pid")
pids="$pids $parent"
start=$(now_ms)
kill -KILL "$parent"
gone_within "$second" 20 || kill -KILL "$second"
wait "$second"; rc=$?
elapsed=$(($(now_ms) - start))
echo "# SIGKILL of the parent to exit: $elapsed ms"
[ $rc -eq 0 ] && [ ! -e "$dir/b.sock" ]
check $? "SIGKILL of the parent: the daemon exits 0 and removes its socket" "exit $rc"
grep -q "lifeline closed: shutting down" "$dir/b.log"
check $? "SIGKILL of the parent: the log says why" "$(cat "$dir/b.log")"

# ---- a lifeline already closed at start --------------------------------------------------------
: | daemon -s "$dir/c.sock" -m 16M --lifeline 0 2>"$dir/c.log" &
third=$!; pids="$pids $third"
gone_within "$third" 20 || kill -KILL "$third"
wait "$third"; rc=$?
[ $rc -eq 0 ] && [ ! -e "$dir/c.sock" ]
check $? "a lifeline at end of file from the start: the daemon stops at once, exit 0" "exit $rc"

# ---- bad descriptors --------------------------------------------------------------------------
"$SHMSTORED" -s "$dir/d.sock" -m 16M --lifeline 9 9<&- 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q -- "--lifeline 9: descriptor 9 is not open" "$dir/err" && [ ! -e "$dir/d.sock" ]
check $? "a descriptor that is not open: exit 1 with a clear message" "exit $rc: $(cat "$dir/err")"
"$SHMSTORED" -s "$dir/d.sock" -m 16M --lifeline 5 5>"$dir/w" 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "open for writing only" "$dir/err"
check $? "a write-only descriptor: exit 1, the read end is asked for" "exit $rc: $(cat "$dir/err")"
for bad in x -1 3x 99999999999; do
    "$SHMSTORED" -s "$dir/d.sock" -m 16M --lifeline "$bad" 2>"$dir/err"; rc=$?
    [ $rc -eq 2 ] && grep -q "not a file descriptor number" "$dir/err"
    check $? "--lifeline '$bad': usage error (exit 2)" "exit $rc: $(cat "$dir/err")"
done
printf 'lifeline = 3\n' >"$dir/conf"
"$SHMSTORED" -c "$dir/conf" -s "$dir/d.sock" -m 16M 2>"$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q "lifeline" "$dir/err"
check $? "lifeline is not a config file setting" "exit $rc: $(cat "$dir/err")"
"$SHMSTORED" --help | grep -q -- "--lifeline FD"
check $? "--help documents --lifeline FD"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
