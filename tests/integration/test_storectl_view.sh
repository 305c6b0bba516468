#!/bin/sh
# test_storectl_view.sh — the storectl commands for people and big stores, against a real
# shmstored: ls (names), ls -l (its columns), --sort and -r, the new JSON keys; show on each
# kind of object (a numpy array and a pickled object written by the Python binding, a text file,
# binary bytes); top piped and under a pseudo-terminal (what it draws, q quitting, the terminal
# given back); the progress meter of put and get (on a terminal only, never when piped).
#
# The pseudo-terminal runs come from pty_run.py beside this file, under /usr/bin/python3; without
# that interpreter they are skipped. The Python binding writes the array and the pickle when it
# can be imported from BUILD_PYTHON (meson sets it; not in a sanitized build, whose extension
# cannot load into a plain interpreter): else the same metadata and bytes are put with storectl,
# made by numpy and pickle. meson sets STORECTL and SHMSTORED; SHMSTORE_DAEMON_WRAPPER (the
# valgrind setup) goes in front of the daemon when set. TAP-like output, then "N passed, M
# failed"; exit status 1 if anything failed. POSIX sh.

: "${STORECTL:?STORECTL must be set (meson sets it)}"
: "${SHMSTORED:?SHMSTORED must be set (meson sets it)}"

MIB=1048576
PY=/usr/bin/python3
[ -x "$PY" ] || PY=
PTY_RUN="$(dirname "$0")/pty_run.py"

T=$(mktemp -d "${TMPDIR:-/tmp}/storectl-view-test.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
SOCK=$T/s.sock
DPID=

. "$(dirname "$0")/tap.sh"

run() {
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
sc() { run "$STORECTL" -s "$SOCK" "$@"; }
diag() {
    printf '%s\n' "exit $rc; stdout: $(head -c 600 "$T/out" | tr '\n' '|'); stderr: $(head -c 300 "$T/err" | tr '\n' '|')"
}
# check DESCRIPTION: ok when the last run exited 0 and the command after it succeeds.
check() {
    desc=$1; shift
    if [ "$rc" = 0 ] && "$@"; then ok "$desc"; else not_ok "$desc" "$(diag)"; fi
}
has_line() { grep -qxF "$1" "$T/out"; }
has_regex() { grep -qE "$1" "$T/out"; }

stop_daemon() {
    [ -n "$DPID" ] || return 0
    kill -TERM "$DPID" 2>/dev/null
    wait "$DPID"
    drc=$?
    DPID=
    if [ "$drc" = 0 ]; then ok "shmstored exits 0 on SIGTERM"; else not_ok "shmstored exits 0 on SIGTERM" "exit $drc" "$(tail -n 20 "$T/log")"; fi
}
cleanup() {
    status=$?
    [ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
    rm -rf "$T"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# shellcheck disable=SC2086
$SHMSTORE_DAEMON_WRAPPER "$SHMSTORED" -s "$SOCK" -m 64M 2>"$T/log" &
DPID=$!
i=0
while ! "$STORECTL" -s "$SOCK" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -ge 200 ]; then
        echo "Bail out! shmstored not ready after 20 s: $(cat "$T/log")"
        exit 1
    fi
    sleep 0.1
done
ok "shmstored is ready"

# ---- ls --------------------------------------------------------------------------------------

# Three objects put in the order a, b, c (so c is the newest) with sizes b > c > a.
head -c 100 /dev/zero >"$T/a"
head -c $((3 * MIB)) /dev/zero >"$T/b"
head -c 10240 /dev/zero >"$T/c"
for name in a b c; do
    "$STORECTL" -s "$SOCK" put "sort/$name" "$T/$name" || not_ok "put sort/$name"
    sleep 0.01
done

sc ls 'sort/*'
check "ls: the names alone, one a line, in name order" \
    [ "$(tr '\n' ' ' <"$T/out")" = "sort/a sort/b sort/c " ]

ME=$(id -un 2>/dev/null || id -u)
sc ls -l 'sort/*'
check "ls -l: header NAME SIZE PINS OWNER WHERE DURABLE AGE" \
    [ "$(head -n 1 "$T/out" | tr -s ' ')" = "NAME SIZE PINS OWNER WHERE DURABLE AGE" ]
# a row: name, size (number and unit), pins, owner (this user, or - from a daemon that does
# not say), where, durable, age
check "ls -l: each row has every column" awk -v me="$ME" 'NR > 1 {
        if (NF != 8 || $3 !~ /^(B|KiB|MiB)$/ || $4 != "0" || ($5 != me && $5 != "-") ||
            $6 != "memory" || $7 != "no" || $8 !~ /^[0-9]+[smhd]$/) bad = 1; rows++ }
    END { exit bad || rows != 3 }' "$T/out"
check "ls -l: human sizes" grep -qE '^sort/b +3\.00 MiB ' "$T/out"

sc ls 'sort/*' --sort size
check "ls --sort size: largest first" [ "$(tr '\n' ' ' <"$T/out")" = "sort/b sort/c sort/a " ]
sc ls 'sort/*' --sort size -r
check "ls --sort size -r: smallest first" [ "$(tr '\n' ' ' <"$T/out")" = "sort/a sort/c sort/b " ]
sc ls 'sort/*' --sort age
check "ls --sort age: newest first" [ "$(tr '\n' ' ' <"$T/out")" = "sort/c sort/b sort/a " ]
sc ls 'sort/*' -r
check "ls -r: names in reverse order" [ "$(tr '\n' ' ' <"$T/out")" = "sort/c sort/b sort/a " ]
sc ls -l 'sort/*' --sort size
check "ls -l --sort size: the table sorted" \
    [ "$(awk 'NR > 1 {print $1}' "$T/out" | tr '\n' ' ')" = "sort/b sort/c sort/a " ]
sc ls --sort weight
if [ "$rc" = 2 ] && grep -q "sort by name, size or age" "$T/err"; then ok "ls --sort of an unknown key: usage error"; else not_ok "ls --sort of an unknown key: usage error" "$(diag)"; fi

if [ -n "$PY" ]; then
    sc ls --json --sort name 'sort/*'
    if [ "$rc" = 0 ] && "$PY" -c 'import json,sys
entries = json.load(open(sys.argv[1]))
assert [e["name"] for e in entries] == ["sort/a", "sort/b", "sort/c"], entries
for e in entries:
    assert "owner" in e and "owner_name" in e and e["expires"] is None, e
    assert e["owner"] is not None or e["owner_name"] is None, e' "$T/out" 2>"$T/pyerr"; then
        ok "ls --json --sort: entries sorted, with owner, user and expires"
    else
        not_ok "ls --json --sort: entries sorted, with owner, user and expires" "$(cat "$T/pyerr")" "$(diag)"
    fi
fi

# ---- show ------------------------------------------------------------------------------------

printf 'first line\nsecond line\n' >"$T/text"
"$STORECTL" -s "$SOCK" put show/text "$T/text"
sc show show/text
check "show of text: its lines" grep -qxF '  second line' "$T/out"
check "show: size, pins, where, durable, age" sh -c "grep -qxF 'size:      23 B (23 bytes)' '$T/out' &&
    grep -qxF 'pins:      0' '$T/out' && grep -qxF 'where:     memory' '$T/out' &&
    grep -qxF 'durable:   no' '$T/out' && grep -qE '^age:       [0-9]+s \(created 20' '$T/out' &&
    grep -qE '^owner:     (- \(the daemon does not say\)|$ME \(uid [0-9]+\))\$' '$T/out'"

printf 'ELF\001\002\003\000\377binary' >"$T/bin"
"$STORECTL" -s "$SOCK" put show/bin "$T/bin"
sc show show/bin
check "show of binary bytes: a hex dump" \
    has_line '  00000000: 454c 4601 0203 00ff 6269 6e61 7279       ELF.....binary'

sc show show/missing
if [ "$rc" = 1 ] && grep -qxF "storectl: show/missing: not found" "$T/err"; then ok "show of a missing name: not found, exit 1"; else not_ok "show of a missing name: not found, exit 1" "$(diag)"; fi
sc stat show/bin --json
check "show released its pin" grep -qF '"pins":0' "$T/out"

if [ -n "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null; then
    # the binding when it loads here, else its format written by hand
    if [ -n "${BUILD_PYTHON:-}" ] && PYTHONPATH=$BUILD_PYTHON "$PY" -c 'import shmstore' 2>/dev/null; then
        how="put by the Python binding"
        PYTHONPATH=$BUILD_PYTHON "$PY" - "$SOCK" <<'EOF'
import dataclasses, sys
import numpy as np
import shmstore

@dataclasses.dataclass
class Point:
    x: int
    y: int

c = shmstore.connect(sys.argv[1])
c.put("show/array", np.arange(12, dtype="<i4").reshape(3, 4))
c.put("show/object", Point(1, 2))
EOF
    else
        how="its format put with storectl"
        "$PY" - "$T" <<'EOF'
import dataclasses, json, pickle, sys
import numpy as np

@dataclasses.dataclass
class Point:
    x: int
    y: int

out = sys.argv[1]
def meta(info):
    return "SHMPY1\n" + json.dumps(info, separators=(",", ":"))
a = np.arange(12, dtype="<i4").reshape(3, 4)
open(out + "/array", "wb").write(a.tobytes())
open(out + "/array.meta", "w").write(meta({"kind": "ndarray", "dtype": a.dtype.str,
                                           "shape": list(a.shape), "order": "C"}))
stream = pickle.dumps(Point(1, 2), protocol=5)
open(out + "/object", "wb").write(stream)
open(out + "/object.meta", "w").write(meta({"kind": "pickle2", "pickle": [0, len(stream)],
                                            "table": [(len(stream) + 7) // 8 * 8, 0]}))
EOF
        "$STORECTL" -s "$SOCK" put show/array "$T/array" --meta "$(cat "$T/array.meta")"
        "$STORECTL" -s "$SOCK" put show/object "$T/object" --meta "$(cat "$T/object.meta")"
    fi
    sc show show/array
    check "show of a numpy array ($how): dtype, shape, order, first values" sh -c "
        grep -qxF 'python:    numpy array' '$T/out' && grep -qxF 'dtype:     <i4 (int32)' '$T/out' &&
        grep -qxF 'shape:     (3, 4)' '$T/out' && grep -qxF 'order:     C' '$T/out' &&
        grep -qxF 'values:    [0, 1, 2, 3, 4, 5, 6, 7, ...]' '$T/out'"
    sc show show/object
    check "show of a pickled object ($how): its class" grep -qxF 'class:     __main__.Point' "$T/out"
else
    ok "# SKIP show of arrays and pickles: no /usr/bin/python3 with numpy"
fi

# ---- top -------------------------------------------------------------------------------------

head -c $((32 * MIB)) /dev/zero | "$STORECTL" -s "$SOCK" put top/half -
OBJECTS=$("$STORECTL" -s "$SOCK" ls | wc -l | tr -d ' ')

sc top --once
check "top --once, piped: one frame with the object count, no terminal codes" sh -c "
    grep -qE '^objects $OBJECTS ' '$T/out' && [ \$(grep -c '^shmstore ' '$T/out') = 1 ] &&
    ! grep -q \"\$(printf '\\033')\" '$T/out'"

if [ -n "$PY" ]; then
    run "$PY" "$PTY_RUN" "$STORECTL" -s "$SOCK" top -n 3
    tr -d '\r' <"$T/out" >"$T/top"
    check "top -n 3 on a terminal: three frames, then exit 0" [ "$(grep -c 'shmstore .* up ' "$T/top")" = 3 ]
    check "top on a terminal: the alternate screen, left at the end with the cursor back" sh -c "
        head -c 8 '$T/top' | grep -qF '[?1049h' && tail -c 16 '$T/top' | grep -qF '[?25h' &&
        tail -c 8 '$T/top' | grep -qF '[?1049l'"
    check "top: the objects the test put" grep -qE "^objects $OBJECTS " "$T/top"
    # 32 MiB of a 64 MiB arena: about half the bar is used
    check "top: the memory bar about half used" sh -c "
        grep -m 1 '^memory' '$T/top' | grep -qE '\\[#{25,40}[:.]{25,40}\\] +(49|5[0-9])\\.[0-9]%'"
    check "top: rates from the second frame on" grep -qE '^requests [0-9.]+k?/s ' "$T/top"
    run "$PY" "$PTY_RUN" --quit-on 'objects' --timeout 20 "$STORECTL" -s "$SOCK" top
    check "top: q quits and gives the terminal back" sh -c "tail -c 8 '$T/out' | grep -qF '[?1049l'"
else
    ok "# SKIP top on a terminal: no /usr/bin/python3"
fi

# ---- progress --------------------------------------------------------------------------------

"$STORECTL" -s "$SOCK" rm top/half
head -c $((20 * MIB)) /dev/urandom >"$T/large"
run "$STORECTL" -s "$SOCK" put progress/large "$T/large"
check "put of a large file, stderr piped: no progress" [ ! -s "$T/err" ]
run "$STORECTL" -s "$SOCK" get progress/large -o "$T/large.back"
check "get -o of a large object, stderr piped: no progress" sh -c "[ ! -s '$T/err' ] && cmp -s '$T/large' '$T/large.back'"
if [ -n "$PY" ]; then
    "$STORECTL" -s "$SOCK" rm progress/large
    run "$PY" "$PTY_RUN" "$STORECTL" -s "$SOCK" put progress/tty "$T/large"
    check "put of a large file on a terminal: a progress line, erased at the end" sh -c "
        grep -qaF \"\$(printf '\\rput ')\" '$T/out' && grep -qaE 'of 20\\.0 MiB +[0-9]+%' '$T/out' &&
        tail -c 4 '$T/out' | grep -qF \"\$(printf '\\r\\033[K')\""
    run "$PY" "$PTY_RUN" "$STORECTL" -s "$SOCK" get progress/tty -o "$T/tty.back"
    check "get -o on a terminal: a progress line, and the file whole" sh -c "
        grep -qaF \"\$(printf '\\rget ')\" '$T/out' && cmp -s '$T/large' '$T/tty.back'"
fi

stop_daemon
echo "1..$n"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
