#!/bin/sh
# test_install.sh — `meson install` puts shmstored, storectl, libshmstore, shmstore.h and
# shmstore.pc in place, so that `cc app.c $(pkg-config --cflags --libs shmstore)` builds a client.
# Installs into a scratch DESTDIR, never into the system.
set -u
dest=$(mktemp -d /tmp/shmstore-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
passed=0 failed=0
check() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $2"; else failed=$((failed + 1)); echo "not ok - $2"; fi; }

meson install -C "$BUILD_ROOT" --destdir "$dest" --no-rebuild --quiet >"$dest.log" 2>&1
check $? "meson install into a DESTDIR"
for f in shmstored storectl shmstore.h shmstore.pc libshmstore.so; do
    [ -n "$(find "$dest" -name "$f" | head -n 1)" ]
    check $? "installed $f"
done
exports=$(nm -D --defined-only "$(find "$dest" -name 'libshmstore.so' | head -n 1)" | awk '{print $3}' | grep -v '^shmstore_')
[ -z "$exports" ]
check $? "libshmstore exports only shmstore_* symbols${exports:+ (also: $exports)}"
pcdir=$(dirname "$(find "$dest" -name shmstore.pc | head -n 1)")
libdir=$(dirname "$(find "$dest" -name 'libshmstore.so' | head -n 1)")
flags=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --cflags --libs shmstore)
check $? "pkg-config --cflags --libs shmstore: $flags"
# A sanitized build's library needs the sanitizer runtime in the program that links it.
sanitize=""
[ -n "${SANITIZE:-}" ] && [ "$SANITIZE" != none ] && sanitize="-fsanitize=$SANITIZE"
cc -std=c11 -Wall -Werror $sanitize "$SOURCE_ROOT/client/examples/producer.c" $flags -o "$dest/producer"
check $? "a client program builds against the installed header and library"
LD_LIBRARY_PATH="$libdir" SHMSTORE_SOCKET=/nonexistent/socket "$dest/producer" x 1 2>"$dest/err"
[ $? -eq 1 ] && grep -q "no shmstored is running at /nonexistent/socket" "$dest/err"
check $? "the installed client runs and reports a missing daemon clearly"
rm -f "$dest.log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
