# tap.sh — sourced by the shell tests: TAP-style result lines and counters.
#   ok DESCRIPTION
#   not_ok DESCRIPTION [DIAGNOSTIC LINE]...
# The caller ends with: echo "$passed passed, $failed failed"

n=0
passed=0
failed=0

ok() {
    n=$((n + 1)); passed=$((passed + 1))
    printf 'ok %s - %s\n' "$n" "$1"
}

not_ok() {
    n=$((n + 1)); failed=$((failed + 1))
    printf 'not ok %s - %s\n' "$n" "$1"
    shift
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/#   /'
    done
}
