#!/bin/sh
# test_nonroot.sh — what a user who is not root meets (storectl(1), shmstored(8)), with clients
# and daemons run as other users through setpriv, so it needs root (exit 77 without).
#  - Connecting to a socket the user may not open is "permission denied" with exit 1 (not 3, the
#    status of an unreachable daemon), and the message names the socket, its mode and group (or
#    the directory that stops the user) and the ways out: the group to join, or a daemon of their
#    own with `shmstored -s` and $SHMSTORE_SOCKET.
#  - No daemon at a socket is exit 3 with "no shmstored is running at PATH" and how to start one.
#  - A daemon that may not create its lock or socket says how a non-root user runs their own.
#  - The default socket: with a system socket the user may not connect to, daemon and clients
#    both fall back to the per-user socket, so `shmstored -m 16M` and `storectl ping` just work;
#    a user who may connect (in the socket's group) gets the system daemon. This part starts a
#    root daemon on the system socket, so it runs only when no system socket exists, and removes
#    everything it made.
set -u
[ "$(id -u)" = 0 ] || { echo "skipped: needs root to run clients as other users"; exit 77; }
command -v setpriv >/dev/null 2>&1 || { echo "skipped: setpriv is missing"; exit 77; }
: "${SHMSTORED:?SHMSTORED must be set (meson sets it)}"
: "${STORECTL:?STORECTL must be set (meson sets it)}"
USER_ID=4201
GROUP_ID=4299
dir=$(mktemp -d /tmp/shmstore-nonroot-XXXXXX)
chmod 0755 "$dir"
pids=""
made_run_dir=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "$made_run_dir" ] && rm -rf /run/shmstore
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM   # a test timeout still runs cleanup: /run/shmstore must not be left
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; [ $# -gt 1 ] && printf '#   %s\n' "$2"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2" "${3:-}"; fi; }

# The other user must be able to run the binaries wherever the build tree is.
mkdir "$dir/bin"
cp "$STORECTL" "$SHMSTORED" "$dir/bin/"
cp -P "$LIBDIR"/libshmstore.so* "$dir/bin/"
chmod -R a+rX "$dir/bin"
as_user() {   # COMMAND...: as USER_ID, no supplementary groups, no socket variables
    LD_LIBRARY_PATH="$dir/bin" setpriv --reuid=$USER_ID --regid=$USER_ID --clear-groups \
        env -u SHMSTORE_SOCKET -u XDG_RUNTIME_DIR "$@"
}
as_member() {   # COMMAND...: as USER_ID, in GROUP_ID too
    LD_LIBRARY_PATH="$dir/bin" setpriv --reuid=$USER_ID --regid=$USER_ID --groups=$GROUP_ID \
        env -u SHMSTORE_SOCKET -u XDG_RUNTIME_DIR "$@"
}
. "$(dirname "$0")/ready.sh"
user_sock=/tmp/shmstore-$USER_ID.sock

# ---- a socket the user may not open ---------------------------------------------------------
sock="$dir/s.sock"
printf 'socket_mode = 0600\n' >"$dir/owner-only.conf"
"$SHMSTORED" -c "$dir/owner-only.conf" -s "$sock" -m 16M 2>"$dir/log" &
daemon=$!; pids="$pids $daemon"
wait_ready "$sock"; check $? "a root daemon with socket_mode 0600 is ready"
as_user "$dir/bin/storectl" -s "$sock" ping >"$dir/out" 2>"$dir/err"; rc=$?
err=$(cat "$dir/err")
[ $rc -eq 1 ]; check $? "permission denied at connect: exit 1, not 3 (unreachable)" "exit $rc: $err"
case "$err" in
*"permission denied connecting to shmstored at $sock (the socket: mode 0600, group root)"*) r=0 ;;
*) r=1 ;;
esac
check $r "the message names the socket, its mode and its group" "$err"
case "$err" in *"administrator"*"shmstored -s $user_sock"*"SHMSTORE_SOCKET"*) r=0 ;; *) r=1 ;; esac
check $r "a socket only its owner may open: ask for access, or run your own daemon" "$err"
[ "$(wc -l <"$dir/err")" -eq 1 ]; check $? "the message is one line"
kill "$daemon"; wait "$daemon"

printf 'socket_mode = 0660\nsocket_group = %s\n' $GROUP_ID >"$dir/group.conf"
"$SHMSTORED" -c "$dir/group.conf" -s "$sock" -m 16M 2>"$dir/log" &
daemon=$!; pids="$pids $daemon"
wait_ready "$sock"
as_user "$dir/bin/storectl" -s "$sock" ping >"$dir/out" 2>"$dir/err"; rc=$?
err=$(cat "$dir/err")
case "$err" in *"mode 0660, group $GROUP_ID"*"ask to be added to group $GROUP_ID"*) r=0 ;; *) r=1 ;; esac
[ $rc -eq 1 ] && [ $r -eq 0 ]
check $? "a group-writable socket: the message says which group to join" "exit $rc: $err"
as_member "$dir/bin/storectl" -s "$sock" ping >/dev/null 2>&1
check $? "a member of that group connects"
kill "$daemon"; wait "$daemon"

mkdir -m 0700 "$dir/private"
"$SHMSTORED" -s "$dir/private/s.sock" -m 16M 2>"$dir/log" &
daemon=$!; pids="$pids $daemon"
wait_ready "$dir/private/s.sock"
as_user "$dir/bin/storectl" -s "$dir/private/s.sock" ping >"$dir/out" 2>"$dir/err"; rc=$?
err=$(cat "$dir/err")
case "$err" in *"($dir/private: mode 0700, group root)"*) r=0 ;; *) r=1 ;; esac
[ $rc -eq 1 ] && [ $r -eq 0 ]
check $? "a directory the user may not enter: the message names the directory" "exit $rc: $err"
kill "$daemon"; wait "$daemon"

# ---- no daemon --------------------------------------------------------------------------------
as_user "$dir/bin/storectl" -s "$dir/none.sock" ping >"$dir/out" 2>"$dir/err"; rc=$?
err=$(cat "$dir/err")
case "$err" in *"no shmstored is running at $dir/none.sock"*"shmstored -s $dir/none.sock"*) r=0 ;; *) r=1 ;; esac
[ $rc -eq 3 ] && [ $r -eq 0 ]
check $? "no daemon: exit 3, says so and how to start one" "exit $rc: $err"

# ---- a daemon that may not make its files ---------------------------------------------------
as_user "$dir/bin/shmstored" -s "$dir/theirs.sock" -m 16M >"$dir/out" 2>"$dir/err"; rc=$?
err=$(cat "$dir/err")
case "$err" in *"Permission denied; a non-root user runs their own daemon"*"shmstored -s $user_sock"*"SHMSTORE_SOCKET"*) r=0 ;; *) r=1 ;; esac
[ $rc -eq 1 ] && [ $r -eq 0 ]
check $? "a lock file the user may not create: a hint, not a bare error" "exit $rc: $err"

# ---- the default socket beside a system daemon the user may not use ---------------------------
if [ -e /run/shmstore ]; then
    echo "# /run/shmstore exists: the default-socket part is skipped to leave it alone"
else
    made_run_dir=yes
    "$SHMSTORED" -c "$dir/owner-only.conf" -m 16M 2>"$dir/system.log" &
    system=$!; pids="$pids $system"
    wait_ready /run/shmstore/shmstore.sock; check $? "a root daemon serves the system socket"
    as_user "$dir/bin/storectl" ping >"$dir/out" 2>"$dir/err"; rc=$?
    err=$(cat "$dir/err")
    case "$err" in *"no shmstored is running at $user_sock"*) r=0 ;; *) r=1 ;; esac
    [ $rc -eq 3 ] && [ $r -eq 0 ]
    check $? "a user the system socket refuses defaults to the per-user socket" "exit $rc: $err"
    # Not through as_user: $! must be the daemon itself (setpriv and env exec), not a subshell.
    LD_LIBRARY_PATH="$dir/bin" setpriv --reuid=$USER_ID --regid=$USER_ID --clear-groups \
        env -u SHMSTORE_SOCKET -u XDG_RUNTIME_DIR "$dir/bin/shmstored" -m 16M 2>"$dir/user.log" &
    mine=$!; pids="$pids $mine"
    wait_ready "$user_sock" as_user "$dir/bin/storectl"
    check $? "that user's own daemon starts on the per-user socket, with no options" "$(cat "$dir/user.log")"
    [ "$(as_user "$dir/bin/storectl" ping 2>&1)" = "shmstored at $user_sock is alive" ]
    check $? "and their storectl finds it by default"
    [ "$("$STORECTL" ping 2>&1)" = "shmstored at /run/shmstore/shmstore.sock is alive" ]
    check $? "root still gets the system daemon by default"
    chgrp $GROUP_ID /run/shmstore/shmstore.sock && chmod 0660 /run/shmstore/shmstore.sock
    [ "$(as_member "$dir/bin/storectl" ping 2>&1)" = "shmstored at /run/shmstore/shmstore.sock is alive" ]
    check $? "a user who may connect to the system socket gets the system daemon"
    kill "$mine"; wait "$mine"; rc=$?
    [ $rc -eq 0 ] && [ ! -e "$user_sock" ]
    check $? "the user's daemon stops cleanly and removes its socket" "exit $rc"
    kill "$system"; wait "$system"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
