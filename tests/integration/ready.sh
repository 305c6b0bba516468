# ready.sh — sourced by the shell tests that start daemons of their own:
#   wait_ready SOCKET [COMMAND...]
# returns 0 once `COMMAND -s SOCKET ping` answers (COMMAND is "$STORECTL" unless given, such as
# a storectl run as another user), 1 when it has not within 20 s.
wait_ready() {
    ready_socket=$1
    shift
    [ $# -gt 0 ] || set -- "$STORECTL"
    ready_tries=0
    until "$@" -s "$ready_socket" ping >/dev/null 2>&1; do
        ready_tries=$((ready_tries + 1))
        [ $ready_tries -gt 200 ] && return 1
        sleep 0.1
    done
}
