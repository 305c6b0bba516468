#!/bin/sh
# dev.sh — set up, build, run and test shmstore on a Debian machine.
#
# Packages come from apt-get (through sudo when not root). Build trees, none ever committed:
#   build/          GCC, debugoptimized: what `serve`, `check` and `bench` use
#   build-release/  GCC, release (what a packager builds)
#   build-clang/    clang, debugoptimized
#   build-asan/     GCC with AddressSanitizer + UBSan
#   build-fuzz/     clang with libFuzzer + ASan + UBSan (the fuzz targets)
# `test` is what CI runs: every build with --werror, and the closing line "N passed, N failed".
set -eu

cd "$(dirname "$0")"

usage() {
    cat <<'EOF'
usage: ./dev.sh COMMAND [ARGS]

  deps                  install what is missing (apt-get; sudo when not root), nothing else
  serve [OPTIONS]       deps, build, run shmstored in the foreground on the default socket
  build                 deps, then build build/
  install               deps, build, meson install build/ (prefix /usr/local; sudo when not
                        root), then ldconfig so programs find the new libshmstore.so
  check                 deps, build, run the plain suite once (fast: no valgrind, no sanitizers)
  test                  what CI runs: plain + valgrind, GCC release, clang, ASan+UBSan, fuzz smoke
  bench [--quick]       build and run the benchmark (tests/bench)
  help                  this text
EOF
}

# One word per package; "a|b" takes whichever of the two the distribution has (msgpack-c's
# package was renamed in Debian 13).
PACKAGES="gcc libc6-dev binutils meson ninja-build pkg-config libevent-dev liblmdb-dev
libmsgpack-dev|libmsgpack-c-dev libcmocka-dev valgrind systemd groff-base python3-dev
python3-numpy python3-mesonpy python3-venv python3-pip git clang
libclang-rt-14-dev|libclang-rt-dev"

say() { printf '==> %s\n' "$*"; }

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "dev.sh: need root or sudo to run: $*" >&2
        exit 1
    fi
}

install_missing() {
    missing=""
    updated=""
    for want in $PACKAGES; do
        found=""
        for pkg in $(echo "$want" | tr '|' ' '); do
            is_installed "$pkg" && found=$pkg && break
        done
        [ -n "$found" ] && continue
        if [ -z "$updated" ]; then
            say "updating the package lists"
            as_root apt-get update -qq
            updated=1
        fi
        # The first alternative this distribution knows.
        pick=""
        for pkg in $(echo "$want" | tr '|' ' '); do
            if apt-cache show "$pkg" >/dev/null 2>&1; then
                pick=$pkg
                break
            fi
        done
        missing="$missing ${pick:-${want%%|*}}"
    done
    [ -z "$missing" ] && return 0
    say "installing:$missing"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends $missing
}

# Debian's python3, which has numpy: the first python3 on PATH may be another one.
PYTHON=/usr/bin/python3

# build DIR [-Dkey=value...]: configure (or reconfigure with the options), then build.
build() {
    dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        say "configuring $dir"
        meson setup "$dir" -Dpython=$PYTHON "$@"
    elif [ $# -gt 0 ]; then
        meson configure "$dir" "$@" >/dev/null
    fi
    say "building $dir"
    ninja -C "$dir"
}

# A build that fails is a failed stage, not the end of the run: the other stages still report.
build_stage() {
    if ! build "$@"; then
        say "BUILD FAILED: $1"
        status=1
        logs="$logs $1/meson-logs/build-failed"
        return 1
    fi
}

# meson's own summary goes to the screen; this adds one closing line over every run, in the
# plain form "N passed, N failed" that CI reads.
count_results() {
    passed=0
    failed=0
    skipped=0
    for log in "$@"; do
        case $log in */build-failed) failed=$((failed + 1)); continue ;; esac
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

# suite NAME DIR [MESON TEST OPTIONS...]: one run of meson test, logged as DIR/meson-logs/
# testlog-NAME.json (meson appends the setup's name, as in testlog-NAME-valgrind.json); a
# failure is remembered in $status and the other runs go on.
suite() {
    name=$1
    dir=$2
    shift 2
    say "test suite: $name"
    rm -f "$dir/meson-logs/testlog-$name.json" "$dir/meson-logs/testlog-$name"-*.json
    meson test -C "$dir" --print-errorlogs --num-processes 2 --logbase "testlog-$name" "$@" ||
        status=1
    for log in "$dir/meson-logs/testlog-$name.json" "$dir/meson-logs/testlog-$name"-*.json; do
        [ -f "$log" ] && logs="$logs $log"
    done
    return 0
}

run_check() {
    status=0
    logs=""
    build build
    suite plain build
    count_results $logs
    return $status
}

run_all_tests() {
    status=0
    logs=""
    werror="-Dwerror=true"
    # Read only by the sanitized builds' programs.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

    if build_stage build $werror; then
        suite plain build
        # The daemon each integration test starts runs under valgrind too.
        suite valgrind build --setup valgrind --suite unit --suite integration
    fi
    build_stage build-release -Dbuildtype=release $werror && suite release build-release
    export CC=clang
    build_stage build-clang $werror && suite clang build-clang
    # The Python binding is left out of the sanitized run: a sanitized extension cannot load
    # into an interpreter that was not started with the sanitizer runtime.
    unset CC
    build_stage build-asan -Db_sanitize=address,undefined -Db_lundef=false $werror &&
        suite asan build-asan --no-suite python
    export CC=clang
    build_stage build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
        $werror && suite fuzz build-fuzz --suite fuzz
    unset CC

    count_results $logs
    [ "$status" -eq 0 ] || echo "dev.sh: some stage failed (see above)" >&2
    return $status
}

command=${1:-help}
[ $# -gt 0 ] && shift
case "$command" in
deps)
    install_missing
    ;;
serve)
    install_missing
    build build
    say "starting shmstored in the foreground (Ctrl-C stops it)"
    exec build/daemon/shmstored "$@"
    ;;
build)
    install_missing
    build build
    ;;
install)
    install_missing
    build build
    # Built above as the user; only the copy runs as root, so build/ keeps its owner.
    say "installing build/"
    as_root meson install -C build --no-rebuild
    # A new library in /usr/local/lib is found only once the loader's cache knows it.
    as_root ldconfig
    ;;
check)
    install_missing
    run_check
    ;;
test)
    install_missing
    run_all_tests
    ;;
bench)
    install_missing
    build build
    exec tests/bench/run.sh "$@"
    ;;
help|-h|--help)
    usage
    ;;
*)
    echo "dev.sh: unknown command '$command'" >&2
    usage >&2
    exit 2
    ;;
esac
