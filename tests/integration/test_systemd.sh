#!/bin/sh
# test_systemd.sh — shmstored as a systemd service, on a machine where systemd is not PID 1:
# `systemd-analyze verify` on the installed units, what the units promise (Type=notify, the
# shmstore user, the runtime directory, the state directory as the data directory, hardening), sysusers syntax, socket activation through
# systemd-socket-activate (Debian's systemd package), and a bogus LISTEN_FDS refused clearly.
set -u
for tool in systemd-analyze systemd-socket-activate; do
    command -v "$tool" >/dev/null 2>&1 || { echo "skipped: $tool is missing"; exit 77; }
done
dir=$(mktemp -d /tmp/shmstore-systemd-XXXXXX)
root="$dir/root"
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
check() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $2"; else failed=$((failed + 1)); echo "not ok - $2"; fi; }

meson install -C "$BUILD_ROOT" --destdir "$root" --no-rebuild --quiet >"$dir/install.log" 2>&1
check $? "meson install into a scratch root"
service=$(find "$root" -name shmstored.service | head -n 1)
socket_unit=$(find "$root" -name shmstored.socket | head -n 1)
[ -n "$service" ] && [ -n "$socket_unit" ]
check $? "shmstored.service and shmstored.socket are installed"

# verify needs systemd's own targets, and the commands the units run, inside the root it checks.
mkdir -p "$root/usr/lib/systemd/system" "$root/bin"
for k in /bin/kill /usr/bin/kill; do [ -x "$k" ] && cp "$k" "$root/bin/kill" && break; done
cp -a /usr/lib/systemd/system/*.target /usr/lib/systemd/system/*.slice "$root/usr/lib/systemd/system/" 2>/dev/null
systemd-analyze verify --man=no --root="$root" "${service#"$root"}" "${socket_unit#"$root"}" >"$dir/verify.log" 2>&1
rc=$?
[ $rc -eq 0 ] && [ ! -s "$dir/verify.log" ]
check $? "systemd-analyze verify accepts both units without a word$( [ -s "$dir/verify.log" ] && printf ': %s' "$(head -c 300 "$dir/verify.log")")"

exec_path=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$service")
[ -x "$root$exec_path" ]
check $? "ExecStart names the installed shmstored ($exec_path)"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$service"
check $? "systemctl reload sends SIGHUP"
for line in Type=notify User=shmstore Group=shmstore RuntimeDirectory=shmstore Restart=on-failure \
            NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
            RestrictAddressFamilies=AF_UNIX MemoryDenyWriteExecute=yes LimitNOFILE=65536; do
    grep -qx "$line" "$service"; check $? "shmstored.service has $line"
done
# Durable objects: systemd makes /var/lib/shmstore and the daemon is told to use it.
for line in StateDirectory=shmstore StateDirectoryMode=0750; do
    grep -qx "$line" "$service"; check $? "shmstored.service has $line"
done
grep -q '^ExecStart=.* --data-dir ${STATE_DIRECTORY}\( \|$\)' "$service"
check $? "ExecStart passes the state directory as --data-dir"
# The unit's own command line, with systemd's substitutions made by hand: a durable object put
# through it survives a restart on the same state directory.
exec_args=$(sed -n 's/^ExecStart=[^ ]* //p' "$service" |
    sed -e "s|/run/shmstore/shmstore.sock|$dir/svc.sock|" -e "s|\${STATE_DIRECTORY}|$dir/state|")
svc_ok=1
for round in put get; do
    # shellcheck disable=SC2086 # the unit's arguments, split as systemd splits them
    "$SHMSTORED" $exec_args -m 16M -c /dev/null >"$dir/svc-$round.log" 2>&1 &
    svc=$!
    i=0; until "$STORECTL" -s "$dir/svc.sock" ping >/dev/null 2>&1 || [ $i -gt 100 ]; do
        i=$((i + 1)); sleep 0.05
    done
    if [ $round = put ]; then
        echo kept | "$STORECTL" -s "$dir/svc.sock" put durable --persist >/dev/null 2>&1 || svc_ok=0
    else
        [ "$("$STORECTL" -s "$dir/svc.sock" get durable 2>/dev/null)" = kept ] || svc_ok=0
    fi
    kill -TERM "$svc"; wait "$svc" || svc_ok=0
done
[ $svc_ok = 1 ] && [ -d "$dir/state/catalogue" ]
check $? "the unit's ExecStart keeps a durable object in the state directory across a restart$( [ $svc_ok = 1 ] || printf ': %s' "$(cat "$dir/svc-put.log" "$dir/svc-get.log" | head -c 400)")"
grep -qx "ListenStream=/run/shmstore/shmstore.sock" "$socket_unit"
check $? "shmstored.socket listens on the system socket"
sysusers=$(find "$root" -path '*sysusers.d*' -name shmstore.conf | head -n 1)
tmpfiles=$(find "$root" -path '*tmpfiles.d*' -name shmstore.conf | head -n 1)
[ -n "$sysusers" ] && [ -n "$tmpfiles" ]; check $? "sysusers.d and tmpfiles.d snippets are installed"
grep -qx 'd /var/lib/shmstore 0750 shmstore shmstore -' "$tmpfiles"
check $? "tmpfiles.d makes /var/lib/shmstore as StateDirectory= does"
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers --dry-run --root="$dir/sysroot" "$sysusers" >"$dir/sysusers.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] && grep -q "shmstore" "$dir/sysusers.log"
    check $? "systemd-sysusers reads the snippet and would create the shmstore user"
fi

# Socket activation: systemd-socket-activate listens, and execs the daemon on the first client.
sock="$dir/act.sock"
systemd-socket-activate -l "$sock" "$SHMSTORED" -m 16M >"$dir/act.log" 2>&1 &
activator=$!; pids="$pids $activator"
i=0; until [ -S "$sock" ] || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
"$STORECTL" -s "$sock" ping >/dev/null 2>&1
check $? "the first client starts the daemon through the passed socket"
echo activated | "$STORECTL" -s "$sock" put a >/dev/null 2>&1
[ "$("$STORECTL" -s "$sock" get a 2>/dev/null)" = activated ]
check $? "the socket-activated daemon stores and serves objects"
grep -q "serving the socket passed by systemd" "$dir/act.log"
check $? "the daemon says it serves the passed socket"
[ ! -e "$sock.lock" ]; check $? "no lock file for a socket systemd owns"
kill -TERM "$activator"; wait "$activator"; rc=$?
[ $rc -eq 0 ] && [ -S "$sock" ]
check $? "SIGTERM: exit 0, and systemd's socket is left to systemd"

# A LISTEN_FDS that does not name a listening socket is refused with a clear message.
: > "$dir/not-a-socket"
sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -s "$1" -m 16M 3<"$2"' "$SHMSTORED" "$dir/x.sock" \
    "$dir/not-a-socket" 2>"$dir/bad.log"
rc=$?
[ $rc -eq 1 ] && grep -q "not a listening Unix stream socket" "$dir/bad.log"
check $? "a bogus LISTEN_FDS stops the start with a clear message"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
