#!/bin/sh
# test_quota.sh — owners, per-user and per-group quotas, and time to live, with clients running
# as real users (setpriv, as root). Throwaway users and a group are made with useradd/groupadd
# when missing (and removed again by this test only if it made them), because a group quota
# follows the user database (getgrouplist), not the groups a process happens to carry.
#   shmq_alice: in group shmq_research (300K)      -> 300K, the group's
#   shmq_carol: in shmq_research, own line 50K      -> 50K: her own line wins
#   shmq_bob:   in no quota group, own 2 objects    -> the default 100K, 2 objects
# Each is refused past its quota with a detail naming uid, name and figures; `storectl users`
# shows what each holds; stat --json names the owner; SIGHUP applies new quotas to later puts;
# storectl put --ttl deletes the object when it runs out.
set -u
[ "$(id -u)" = 0 ] || { echo "skipped: needs root to run clients as other users"; exit 77; }
for tool in setpriv useradd groupadd userdel groupdel getent; do
    command -v "$tool" >/dev/null 2>&1 || { echo "skipped: $tool is missing"; exit 77; }
done
dir=$(mktemp -d /tmp/shmstore-quota-XXXXXX)
chmod 0755 "$dir"
daemon="" made_users="" made_group=""
cleanup() {
    [ -n "$daemon" ] && { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
    for u in $made_users; do userdel "$u" 2>/dev/null; done
    [ -n "$made_group" ] && groupdel "$made_group" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
check() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $2"; else failed=$((failed + 1)); echo "not ok - $2"; fi; }

if ! getent group shmq_research >/dev/null; then
    groupadd shmq_research || { echo "skipped: cannot add a group"; exit 77; }
    made_group=shmq_research
fi
add_user() {   # NAME [GROUP]
    getent passwd "$1" >/dev/null && return 0
    useradd --no-create-home --shell /usr/sbin/nologin ${2:+--groups "$2"} "$1" || return 1
    made_users="$made_users $1"
}
add_user shmq_alice shmq_research && add_user shmq_carol shmq_research && add_user shmq_bob ||
    { echo "skipped: cannot add users"; exit 77; }
alice=$(id -u shmq_alice) bob=$(id -u shmq_bob) carol=$(id -u shmq_carol)

mkdir "$dir/bin"
cp "$STORECTL" "$dir/bin/"
cp -P "$LIBDIR"/libshmstore.so* "$dir/bin/"
chmod -R a+rX "$dir/bin"
ctl() {   # USER COMMAND...: storectl as that user, with its own uid and gid
    who=$1; shift
    LD_LIBRARY_PATH="$dir/bin" setpriv --reuid="$who" --regid="$(id -g "$who")" --init-groups \
        "$dir/bin/storectl" -s "$sock" "$@"
}
blob() { head -c "$1" /dev/zero; }
sock="$dir/s.sock"
cat > "$dir/shmstored.conf" <<CONF
socket_mode = 0666
quota_bytes = 100K
quota_bytes.@shmq_research = 300K
quota_bytes.shmq_carol = 50K
quota_objects.shmq_bob = 2
CONF
"$SHMSTORED" -c "$dir/shmstored.conf" -s "$sock" -m 32M 2>"$dir/log" &
daemon=$!
i=0; until "$STORECTL" -s "$sock" ping >/dev/null 2>&1; do i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.1; done

# alice: her group's 300K
blob 200000 | ctl shmq_alice put a/1 >/dev/null 2>"$dir/err"
check $? "a group member puts beyond the default, within the group's quota: $(cat "$dir/err")"
blob 200000 | ctl shmq_alice put a/2 >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "quota of uid $alice (shmq_alice): 300.0 KiB, 195.3 KiB used, asked 195.3 KiB" "$dir/err"
check $? "past the group's quota the put is refused, naming it: $(cat "$dir/err")"
ctl shmq_alice stat a/2 >/dev/null 2>&1; [ $? -eq 1 ]; check $? "and nothing was stored"
# carol: her own line wins over the group's
blob 60000 | ctl shmq_carol put c/1 >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "quota of uid $carol (shmq_carol): 50.0 KiB, 0 B used" "$dir/err"
check $? "a user's own quota wins over a group's: $(cat "$dir/err")"
# bob: the default bytes, his own object count
blob 60000 | ctl shmq_bob put b/1 >/dev/null && blob 60000 | ctl shmq_bob put b/2 >/dev/null 2>"$dir/err"
rc=$?; [ $rc -ne 0 ] && grep -q "quota of uid $bob (shmq_bob): 100.0 KiB" "$dir/err"
check $? "the default quota holds for a user without lines: $(cat "$dir/err")"
echo x | ctl shmq_bob put b/3 >/dev/null && echo x | ctl shmq_bob put b/4 >/dev/null 2>"$dir/err"
rc=$?; [ $rc -eq 1 ] && grep -q "object quota of uid $bob (shmq_bob): 2 objects, 2 held" "$dir/err"
check $? "the object quota holds: $(cat "$dir/err")"
# root is a user like the others: the default applies to it too, and it is not refused below it
echo root | "$STORECTL" -s "$sock" put r/1 >/dev/null; check $? "root puts within the default"

# owners and usage
"$STORECTL" -s "$sock" stat a/1 --json > "$dir/stat.json"
grep -q "\"owner\":$alice,\"owner_name\":\"shmq_alice\"" "$dir/stat.json"
check $? "stat --json names the owner: $(cat "$dir/stat.json")"
"$STORECTL" -s "$sock" stat a/1 | grep -q "^owner: *$alice (shmq_alice)$"; check $? "stat shows the owner"
"$STORECTL" -s "$sock" users --json > "$dir/users.json"
grep -q "{\"uid\":$alice,\"name\":\"shmq_alice\",\"objects\":1,\"bytes\":200000,\"quota_bytes\":307200,\"quota_objects\":0}" "$dir/users.json" &&
    grep -q "{\"uid\":$bob,\"name\":\"shmq_bob\",\"objects\":2,\"bytes\":60002,\"quota_bytes\":102400,\"quota_objects\":2}" "$dir/users.json" &&
    ! grep -q "\"uid\":$carol" "$dir/users.json"
check $? "users --json shows each holder's objects, bytes and quotas: $(cat "$dir/users.json")"
"$STORECTL" -s "$sock" users | grep -q "^ *$alice  shmq_alice  *1  *195.3 KiB  *300.0 KiB  *-$"
check $? "users shows a table"
"$STORECTL" -s "$sock" info --json | grep -q "\"users\":\[.*\"uid\":$bob"; check $? "info --json has the users"
"$STORECTL" -s "$sock" info --prometheus | grep -q "^shmstore_user_bytes{uid=\"$alice\"} 200000$"
check $? "info --prometheus has bytes per uid"

# SIGHUP: a larger group quota applies to the next put
sed -i 's/^quota_bytes.@shmq_research = 300K/quota_bytes.@shmq_research = 1M/' "$dir/shmstored.conf"
kill -HUP "$daemon"
i=0; until grep -q "reload: quota overrides" "$dir/log" || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
grep -q "reload: quota overrides now quota_bytes.@$(getent group shmq_research | cut -d: -f3) = 1048576" "$dir/log"
check $? "SIGHUP logs the new quota lines"
blob 200000 | ctl shmq_alice put a/2 >/dev/null 2>"$dir/err"
check $? "after the reload, the larger quota applies: $(cat "$dir/err")"
sed -i 's/^quota_bytes = 100K/quota_bytes = 200K/' "$dir/shmstored.conf"
kill -HUP "$daemon"
i=0; until grep -q "reload: quota_bytes 100K -> 200K" "$dir/log" || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
blob 60000 | ctl shmq_bob put b/2 >/dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 1 ] && grep -q "object quota" "$dir/err"
check $? "a raised default leaves bob's own object quota: $(cat "$dir/err")"
ctl shmq_bob rm b/3 >/dev/null && blob 60000 | ctl shmq_bob put b/2 >/dev/null 2>"$dir/err"
check $? "the raised default lets bob store more bytes once he deleted an object: $(cat "$dir/err")"

# deleting gives the quota back
ctl shmq_alice rm a/1 a/2 >/dev/null
"$STORECTL" -s "$sock" users --json | grep -q "\"uid\":$alice"; [ $? -eq 1 ]
check $? "a user who holds nothing is not listed"

# time to live from storectl
echo soon | "$STORECTL" -s "$sock" put t/soon --ttl 300ms >/dev/null
echo later | "$STORECTL" -s "$sock" put t/later --ttl 1d >/dev/null
"$STORECTL" -s "$sock" stat t/soon --json | grep -q '"expires":"20'; check $? "stat --json shows the expiry"
"$STORECTL" -s "$sock" stat t/later | grep -q "^expires: .*(in 2[34]h"; check $? "stat shows when it expires"
i=0; while "$STORECTL" -s "$sock" stat t/soon >/dev/null 2>&1 && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
"$STORECTL" -s "$sock" stat t/soon >/dev/null 2>&1; [ $? -eq 1 ]; check $? "put --ttl: the object is gone after its time"
"$STORECTL" -s "$sock" info --json | grep -q '"expirations":1,'; check $? "info counts the expiration"
"$STORECTL" -s "$sock" put t/bad --ttl 10 </dev/null 2>"$dir/err"; rc=$?
[ $rc -eq 2 ] && grep -q "is not a time to live" "$dir/err"; check $? "put --ttl without a unit is a usage error"

kill -0 "$daemon"; check $? "the daemon survived"
echo "# passed $passed, failed $failed"
[ "$failed" -eq 0 ]
