#!/bin/sh
# test_access.sh — access control and limits, with clients running as other users (setpriv, as
# root): allow lists give read-write clients, readonly lists read-only ones whose arena fd is
# O_RDONLY (the kernel refuses them a writable mapping, and writing through a pointer from get
# faults), everyone else is refused with "permission denied: uid N is not allowed" and the
# refusal is logged with uid and pid; max_clients, max_pins_per_client and
# max_unsealed_bytes_per_client give errors that name them; SIGHUP reloads the lists and limits
# without dropping clients, and keeps the old configuration when the new file is bad.
set -u
[ "$(id -u)" = 0 ] || { echo "skipped: needs root to run clients as other users"; exit 77; }
command -v setpriv >/dev/null 2>&1 || { echo "skipped: setpriv is missing"; exit 77; }
dir=$(mktemp -d /tmp/shmstore-access-XXXXXX)
chmod 0755 "$dir"
daemon=""
cleanup() {
    [ -n "$daemon" ] && { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
    rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
check() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $2"; else failed=$((failed + 1)); echo "not ok - $2"; fi; }

# The other users must be able to run the binaries wherever the build tree is.
mkdir "$dir/bin"
cp "$STORECTL" "$PROBE" "$dir/bin/"
cp -P "$LIBDIR"/libshmstore.so* "$dir/bin/"
chmod -R a+rX "$dir/bin"
as_user() {   # UID COMMAND...: run as that user and group, no supplementary groups
    u=$1; shift
    LD_LIBRARY_PATH="$dir/bin" setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}
ctl() { who=$1; shift; as_user "$who" "$dir/bin/storectl" -s "$sock" "$@"; }
sock="$dir/s.sock"
cat > "$dir/shmstored.conf" <<CONF
socket_mode = 0666
allow_users = 4101
readonly_users = 4102
max_clients = 6
max_pins_per_client = 3
max_unsealed_bytes_per_client = 1M
CONF
"$SHMSTORED" -c "$dir/shmstored.conf" -s "$sock" -m 32M 2>"$dir/log" &
daemon=$!
i=0; until "$STORECTL" -s "$sock" ping >/dev/null 2>&1; do i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.1; done
echo "shared bytes" | "$STORECTL" -s "$sock" put shared >/dev/null
check $? "root is always a full client"
mode=$(stat -c %a "$sock")
[ "$mode" = 666 ]; check $? "socket_mode applies to the socket file ($mode)"

# allowed, read-write
echo "from 4101" | ctl 4101 put rw/obj >/dev/null 2>"$dir/err"
check $? "an allowed user puts"
[ "$(ctl 4101 get rw/obj)" = "from 4101" ]; check $? "an allowed user gets"

# read-only
[ "$(ctl 4102 get shared)" = "shared bytes" ]; check $? "a read-only user gets"
echo nope | ctl 4102 put ro/obj >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "permission denied" "$dir/err"
check $? "a read-only user's put is refused: $(cat "$dir/err")"
ctl 4102 rm shared >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "permission denied" "$dir/err" && [ "$("$STORECTL" -s "$sock" get shared)" = "shared bytes" ]
check $? "a read-only user's rm is refused and the object stays"
ctl 4102 rm --pattern '*' >"$dir/out" 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "permission denied" "$dir/err" && [ ! -s "$dir/out" ] && [ "$("$STORECTL" -s "$sock" get shared)" = "shared bytes" ]
check $? "a read-only user's rm --pattern is refused (exit 1) and deletes nothing: $(cat "$dir/err")"
out=$(as_user 4102 "$dir/bin/access_probe" "$sock" shared)
echo "# read-only probe: $out"
case "$out" in *"write=fault"*) r=0 ;; *) r=1 ;; esac
check $r "a read-only client writing through a pointer from get faults"
case "$out" in *"mprotect=EACCES"*) r=0 ;; *) r=1 ;; esac
check $r "the kernel refuses a read-only client a writable view of the arena (O_RDONLY fd)"
case "$out" in *"put=SHMSTORE_EPERM"*) r=0 ;; *) r=1 ;; esac
check $r "a read-only client's put through the library gives SHMSTORE_EPERM"
# Regression (readonly_fd_reopened_readwrite): a memfd is created 0777, and reopening
# /proc/self/fd/N checks the inode's mode, so a read-only client could get a writable fd.
case "$out" in *"reopen=EACCES"*) r=0 ;; *) r=1 ;; esac
check $r "a read-only client cannot reopen its arena descriptor read-write"
[ "$("$STORECTL" -s "$sock" get shared)" = "shared bytes" ]; check $? "the object is unchanged"
out=$(as_user 4101 "$dir/bin/access_probe" "$sock" shared)
case "$out" in *"mprotect=ok"*"put=SHMSTORE_OK"*) r=0 ;; *) r=1 ;; esac
check $r "a read-write client may map writable and put: $out"

# refused
ctl 4103 ping >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "permission denied: uid 4103 is not allowed" "$dir/err"
check $? "an unlisted user is refused: $(cat "$dir/err")"
grep -q "refused client .*uid 4103" "$dir/log" && grep "refused client" "$dir/log" | grep -q "pid [0-9]"
check $? "the refusal is logged with uid and pid"

# limits
ctl 4101 put big/x /dev/null >/dev/null 2>&1
head -c 2097152 /dev/zero > "$dir/two-mib"
ctl 4101 put big/y "$dir/two-mib" >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "max_unsealed_bytes_per_client" "$dir/err"
check $? "max_unsealed_bytes_per_client gives an error naming it: $(cat "$dir/err")"
out=$(as_user 4101 "$dir/bin/access_probe" "$sock" shared pins 4 2>&1)
case "$out" in *"max_pins_per_client"*) r=0 ;; *) r=1 ;; esac
check $r "max_pins_per_client gives an error naming it: $out"

# max_clients: hold 5 clients open (plus the one that asks: 6 allowed), the next is refused
# The six are an ordinary user's: root and the daemon's own user are never turned away.
waiting=""
for n in 1 2 3 4 5 6; do
    LD_LIBRARY_PATH="$dir/bin" setpriv --reuid=4101 --regid=4101 --clear-groups \
        "$dir/bin/storectl" -s "$sock" get never --timeout 30000 >/dev/null 2>&1 &
    waiting="$waiting $!"
done
# No polling here: every poll would be a client too and could take a waiter's place.
sleep 1
ctl 4101 ping >/dev/null 2>"$dir/err"; rc=$?
alive=0; for p in $waiting; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
[ $alive -eq 6 ]; check $? "six clients hold their places ($alive still waiting)"
[ $rc -eq 1 ] && grep -q "max_clients" "$dir/err"
check $? "a client over max_clients is refused with an error naming it: $(cat "$dir/err")"
"$STORECTL" -s "$sock" ping >/dev/null 2>&1
check $? "root still gets in over max_clients"
for p in $waiting; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
i=0; until "$STORECTL" -s "$sock" ping >/dev/null 2>&1 || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
"$STORECTL" -s "$sock" ping >/dev/null 2>&1
check $? "once clients leave, new ones are served again"

# SIGHUP: make 4103 read-only and lift the pin limit, keep the others
sed -i 's/^readonly_users = .*/readonly_users = 4102, 4103/; s/^max_pins_per_client = .*/max_pins_per_client = 100/' "$dir/shmstored.conf"
kill -HUP "$daemon"
i=0; until grep -q "reload: readonly_users" "$dir/log" || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
grep -q "reload: readonly_users 4102 -> 4102, 4103" "$dir/log" && grep -q "reload: max_pins_per_client 3 -> 100" "$dir/log"
check $? "SIGHUP applies and logs what changed"
[ "$(ctl 4103 get shared)" = "shared bytes" ]; check $? "after the reload, 4103 may read"
echo "colour = blue" >> "$dir/shmstored.conf"
kill -HUP "$daemon"
i=0; until grep -q "reload failed" "$dir/log" || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
grep -q "reload failed: .*shmstored.conf:7: colour: unknown key; keeping the current configuration" "$dir/log"
check $? "a bad file on reload is logged and the old configuration stays"
[ "$(ctl 4103 get shared)" = "shared bytes" ]; check $? "and the daemon still serves under it"
# Regression (reload_without_file_opened_access): with the file gone, a reload used to fall
# back to defaults, and empty access lists let everyone in.
mv "$dir/shmstored.conf" "$dir/shmstored.conf.away"
kill -HUP "$daemon"
i=0; until [ "$(grep -c "reload failed" "$dir/log")" -ge 2 ] || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
grep -q "reload failed: .*shmstored.conf: No such file or directory" "$dir/log"
check $? "a reload with the config file gone fails and changes nothing"
ctl 4103 put after/gone < /dev/null >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "permission denied" "$dir/err"
check $? "and a read-only user still cannot write"
kill -0 "$daemon"; check $? "the daemon survived every reload"

kill -TERM "$daemon"; wait "$daemon"; rc=$?; daemon=""
check $rc "the daemon exits 0"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
