#!/bin/sh
# dev.sh — set up, build, run and test shmstore on a Debian machine.
#
#   ./dev.sh serve [SHMSTORED OPTIONS]   install what is missing, build, run shmstored in the
#                                        foreground on the default socket
#   ./dev.sh test                        install what is missing, build, run the whole suite:
#                                        plain, then under valgrind, then with ASan + UBSan
#   ./dev.sh bench [--quick]             build and run the benchmark (tests/bench)
#   ./dev.sh build                       install what is missing and build
#
# Packages come from apt-get (through sudo when not root). Build trees: build/ (plain) and
# build-asan/ (sanitizers); neither is ever committed.
set -eu

cd "$(dirname "$0")"

PACKAGES="gcc libc6-dev binutils meson ninja-build pkg-config libevent-dev libmsgpack-dev libcmocka-dev valgrind systemd groff-base python3-dev python3-numpy"

say() { printf '==> %s\n' "$*"; }

install_missing() {
    missing=""
    for pkg in $PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $pkg"
        fi
    done
    [ -z "$missing" ] && return 0
    say "installing:$missing"
    if [ "$(id -u)" -eq 0 ]; then
        as_root=""
    elif command -v sudo >/dev/null 2>&1; then
        as_root="sudo"
    else
        echo "dev.sh: need root or sudo to install:$missing" >&2
        exit 1
    fi
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing
}

build() {
    dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        say "configuring $dir"
        meson setup "$dir" "$@"
    fi
    say "building $dir"
    ninja -C "$dir"
}

# meson's own summary goes to the screen; this adds one closing line over every run, in the
# plain form "N passed, N failed" that CI reads.
count_results() {
    passed=0
    failed=0
    skipped=0
    for log in "$@"; do
        [ -f "$log" ] || continue
        p=$(grep -c '"result": "OK"' "$log" || true)
        f=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
        s=$(grep -c '"result": "SKIP"' "$log" || true)
        passed=$((passed + p))
        failed=$((failed + f))
        skipped=$((skipped + s))
    done
    echo "$passed passed, $failed failed, $skipped skipped"
}

run_tests() {
    status=0
    build build
    say "test suite (plain build)"
    rm -f build/meson-logs/testlog-plain.json build-asan/meson-logs/testlog-asan.json
    meson test -C build --print-errorlogs --num-processes 2 --logbase testlog-plain || status=1

    say "test suite under valgrind (unit and integration tests; the daemon runs under valgrind too)"
    # meson names this run's log after the setup: testlog-valgrind.json
    rm -f build/meson-logs/testlog-valgrind.json
    meson test -C build --setup valgrind --suite unit --suite integration --print-errorlogs \
        --num-processes 2 --logbase testlog || status=1

    build build-asan -Db_sanitize=address,undefined -Db_lundef=false
    say "test suite with AddressSanitizer + UBSan"
    # The Python binding is left out here: a sanitized extension cannot load into an
    # interpreter that was not started with the sanitizer runtime.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --no-suite python --print-errorlogs --num-processes 2 \
        --logbase testlog-asan || status=1

    count_results build/meson-logs/testlog-plain.json build/meson-logs/testlog-valgrind.json \
        build-asan/meson-logs/testlog-asan.json
    return $status
}

command=${1:-help}
[ $# -gt 0 ] && shift
case "$command" in
serve)
    install_missing
    build build
    say "starting shmstored in the foreground (Ctrl-C stops it)"
    exec build/daemon/shmstored "$@"
    ;;
test)
    install_missing
    run_tests
    ;;
bench)
    install_missing
    build build
    exec tests/bench/run.sh "$@"
    ;;
build)
    install_missing
    build build
    ;;
help|-h|--help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    ;;
*)
    echo "dev.sh: unknown command '$command' (try ./dev.sh help)" >&2
    exit 2
    ;;
esac
