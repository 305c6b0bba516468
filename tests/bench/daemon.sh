# daemon.sh — sourced by run.sh and run_python.sh: one shmstored for a benchmark run.
#
#   start_daemon SIZE [COMMAND PREFIX...]   start it (e.g. prefixed with `taskset -c 0`) on a
#                                           temporary socket and wait until it answers; sets
#                                           $sock and $daemon_pid. $SHMSTORE_BENCH_DAEMON_ARGS
#                                           are added to its command line.
#   stop_daemon STATUS                      SIGTERM, wait, and exit with STATUS (1 if the
#                                           daemon did not stop cleanly and STATUS was 0)
# Needs $shmstored, $storectl and $me (the script's name, for messages).

sock=${TMPDIR:-/tmp}/shmstore-$me-$$.sock
log=${TMPDIR:-/tmp}/shmstore-$me-$$.log
daemon_pid=

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_daemon() {
    size=$1
    shift
    # shellcheck disable=SC2086  # extra daemon arguments, split on purpose
    "$@" "$shmstored" -s "$sock" -m "$size" --log-level warn ${SHMSTORE_BENCH_DAEMON_ARGS:-} \
        2>"$log" &
    daemon_pid=$!
    tries=0
    until "$storectl" -s "$sock" ping >/dev/null 2>&1; do
        tries=$((tries + 1))
        if ! kill -0 "$daemon_pid" 2>/dev/null || [ $tries -gt 300 ]; then
            echo "$me: shmstored did not start:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.05
    done
}

stop_daemon() {
    status=$1
    kill -TERM "$daemon_pid"
    if ! wait "$daemon_pid"; then
        echo "$me: shmstored did not stop cleanly:" >&2
        cat "$log" >&2
        [ "$status" -ne 0 ] || status=1
    fi
    daemon_pid=
    exit "$status"
}
