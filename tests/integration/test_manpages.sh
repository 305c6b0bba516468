#!/bin/sh
# test_manpages.sh — the man pages deploy/shmstored.8 and client/storectl.1 render without a
# warning and keep up with the binaries.
#
# Rendering: with man-db's man (what a user sees: `man --warnings ... -l PAGE`) and with
# `groff -man -ww -z` (every groff warning), whichever of them is installed; both when both are.
# Neither installed: prints "skipped" and exits 77 (meson's code for a skipped test). On Debian
# they come from the packages man-db and groff-base.
# Keeping up: every option in `shmstored --help` is in shmstored.8's OPTIONS; every key of the
# settings table (daemon/core/config.c), as `shmstored --print-config` lists them, has an entry
# in its CONFIGURATION FILE section and no entry there names a key the daemon does not know; every
# command line in `storectl --help` appears, exactly as written there, in storectl.1's SYNOPSIS
# and COMMANDS; every option in storectl's help is in its page; and each page's .TH line carries
# the binaries' version. The checks read the page source with font escapes stripped and \- read
# as -, comments left out.
#
# meson sets SOURCE_ROOT (the repository), SHMSTORED and STORECTL (the binaries). Output is
# "ok N - ..." / "not ok N - ..." lines, then "N passed, M failed"; exit status 1 on a failure.
# POSIX sh, sed, awk, grep.
set -u

: "${SOURCE_ROOT:?SOURCE_ROOT must be set (meson sets it)}"
: "${SHMSTORED:?SHMSTORED must be set (meson sets it)}"
: "${STORECTL:?STORECTL must be set (meson sets it)}"

DAEMON_PAGE=$SOURCE_ROOT/deploy/shmstored.8
CLIENT_PAGE=$SOURCE_ROOT/client/storectl.1

have_man=no
have_groff=no
# man-db's man; another man (mandoc's) has no --warnings.
if command -v man >/dev/null 2>&1 && man --version 2>/dev/null | grep -q '^man '; then
    have_man=yes
fi
command -v groff >/dev/null 2>&1 && have_groff=yes
if [ $have_man = no ] && [ $have_groff = no ]; then
    echo "skipped: neither man (man-db) nor groff (groff-base) is installed"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/manpages-test.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM

. "$(dirname "$0")/tap.sh"

# ---- rendering --------------------------------------------------------------------------------

# render_check PAGE: each available renderer, nothing on stderr, exit 0, some output.
render_check() {
    page=$1
    name=${page##*/}
    if [ ! -r "$page" ]; then
        not_ok "$name exists" "cannot read $page"
        return
    fi
    if [ $have_man = yes ]; then
        LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
            man --warnings -E UTF-8 -l -Tutf8 "$page" >"$T/out" 2>"$T/err"
        rc=$?
        if [ $rc -eq 0 ] && [ ! -s "$T/err" ] && [ -s "$T/out" ]; then
            ok "$name renders with man --warnings without a warning"
        else
            not_ok "$name renders with man --warnings without a warning" "exit status $rc" \
                "$(cat "$T/err")"
        fi
    fi
    if [ $have_groff = yes ]; then
        LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" >"$T/out" 2>"$T/err"
        rc=$?
        if [ $rc -eq 0 ] && [ ! -s "$T/err" ] && [ ! -s "$T/out" ]; then
            ok "$name renders with groff -ww without a warning"
        else
            not_ok "$name renders with groff -ww without a warning" "exit status $rc" \
                "$(cat "$T/err" "$T/out")"
        fi
    fi
}

render_check "$DAEMON_PAGE"
render_check "$CLIENT_PAGE"

# ---- page text --------------------------------------------------------------------------------

# plain PAGE > TEXT: the source without comments, font escapes, \& and \%, with \- read as -
# and \e as a backslash, so that "\fB\-\-socket\fR" is "--socket".
plain() {
    sed -e '/^[.'"'"'][ 	]*\\"/d' \
        -e 's/\\f[BIRP]//g' -e 's/\\f([A-Z][A-Z]//g' -e 's/\\f\[[A-Z]*\]//g' \
        -e 's/\\&//g' -e 's/\\%//g' -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g' -e 's/\\e/\\/g' "$1"
}

# section TEXT NAME: the lines of section NAME (from ".SH NAME" to the next .SH).
section() {
    awk -v want="$2" '
        /^\.SH/ { title = $0; sub(/^\.SH[ \t]*/, "", title); gsub(/"/, "", title)
                  inside = (title == want); next }
        inside' "$1"
}

# has_word FILE WORD: WORD occurs in FILE, not as part of a longer option or name.
has_word() {
    grep -Eq -e "(^|[^A-Za-z0-9_-])$2([^A-Za-z0-9_-]|\$)" "$1"
}

# has_text FILE TEXT: TEXT occurs in FILE as a fixed string.
has_text() {
    grep -Fq -e "$2" "$1"
}

# help_options HELP > OPTIONS: "-s" and "--socket" of every "  -s, --socket ..." or
# "      --help ..." line of a --help text, one per line.
help_options() {
    sed -n 's/^ \{1,\}\(-[A-Za-z], \)\{0,1\}\(--[A-Za-z0-9][A-Za-z0-9-]*\).*/\1\2/p' "$1" |
        tr ',' '\n' | sed 's/^ *//; /^$/d'
}

# sections_present PAGE_TEXT NAME SECTION...
sections_present() {
    text=$1; name=$2; shift 2
    missing=
    for s in "$@"; do
        grep -Eq "^\\.SH[ 	]+\"?$s\"?[ 	]*\$" "$text" || missing="$missing [$s]"
    done
    if [ -z "$missing" ]; then
        ok "$name has the sections $*"
    else
        not_ok "$name has the sections $*" "missing:$missing"
    fi
}

# version_check BINARY PAGE_TEXT NAME: the page's .TH names the binary's version.
version_check() {
    version=$("$1" --version 2>/dev/null | sed -n '1s/^[^ ]* \([0-9][^ ]*\).*/\1/p')
    th=$(grep '^\.TH' "$2" | head -n 1)
    if [ -z "$version" ]; then
        not_ok "$3 names the version of ${1##*/}" "no version in '${1##*/} --version'"
    elif printf '%s\n' "$th" | grep -Fq "\"shmstore $version\""; then
        ok "$3 names version $version"
    else
        not_ok "$3 names version $version" "${1##*/} --version says $version; the page has: $th"
    fi
}

# ---- shmstored.8 ------------------------------------------------------------------------------

if [ -r "$DAEMON_PAGE" ]; then
    plain "$DAEMON_PAGE" >"$T/daemon.txt"
    section "$T/daemon.txt" OPTIONS >"$T/daemon-options.txt"
    section "$T/daemon.txt" "CONFIGURATION FILE" >"$T/daemon-config.txt"
    sections_present "$T/daemon.txt" shmstored.8 NAME SYNOPSIS DESCRIPTION OPTIONS \
        "CONFIGURATION FILE" FILES ENVIRONMENT SIGNALS "EXIT STATUS" EXAMPLES "SEE ALSO"
    version_check "$SHMSTORED" "$T/daemon.txt" shmstored.8

    if "$SHMSTORED" --help >"$T/daemon-help.txt" 2>"$T/err"; then
        help_options "$T/daemon-help.txt" >"$T/daemon-help-options.txt"
        if [ -s "$T/daemon-help-options.txt" ]; then
            while read -r opt; do
                if has_word "$T/daemon-options.txt" "$opt"; then
                    ok "shmstored.8 OPTIONS documents $opt"
                else
                    not_ok "shmstored.8 OPTIONS documents $opt" \
                        "'shmstored --help' lists $opt; deploy/shmstored.8 does not"
                fi
            done <"$T/daemon-help-options.txt"
        else
            not_ok "shmstored --help lists options" "found none in:" "$(cat "$T/daemon-help.txt")"
        fi
    else
        not_ok "shmstored --help succeeds" "$(cat "$T/err")"
    fi

    # The config keys, from the binary's own table: the "#key = default" lines of its example
    # config, so the list cannot drift from what the daemon accepts.
    keys=$("$SHMSTORED" --print-config 2>/dev/null | sed -n 's/^#\([a-z][a-z0-9_]*\) =.*/\1/p')
    if [ -z "$keys" ]; then
        not_ok "config keys listed by shmstored --print-config" \
            "no '#key = default' lines in 'shmstored --print-config'"
    fi
    for key in $keys; do
        if grep -Eq "^$key = " "$T/daemon-config.txt"; then
            ok "shmstored.8 CONFIGURATION FILE documents key $key"
        else
            not_ok "shmstored.8 CONFIGURATION FILE documents key $key" \
                "shmstored --print-config has '$key'; no '.TP' entry '$key = ...' in the page"
        fi
    done
    # And the other way: an entry for a key that is gone (or misspelt) is a page out of date.
    awk '/^\.T[PQ]/ { entry = 1; next }
         entry && /^[a-z][a-z0-9_]* = / { sub(/ = .*/, ""); print }
         { entry = 0 }' "$T/daemon-config.txt" | sort -u >"$T/page-keys.txt"
    stale=
    while read -r key; do
        printf '%s\n' "$keys" | grep -qx "$key" || stale="$stale $key"
    done <"$T/page-keys.txt"
    if [ -n "$keys" ] && [ -z "$stale" ]; then
        ok "shmstored.8 CONFIGURATION FILE names no unknown key"
    elif [ -n "$keys" ]; then
        not_ok "shmstored.8 CONFIGURATION FILE names no unknown key" \
            "the page documents$stale; shmstored --print-config does not know it"
    fi
fi

# ---- storectl.1 -------------------------------------------------------------------------------

if [ -r "$CLIENT_PAGE" ]; then
    plain "$CLIENT_PAGE" >"$T/client.txt"
    section "$T/client.txt" SYNOPSIS >"$T/client-synopsis.txt"
    section "$T/client.txt" OPTIONS >"$T/client-options.txt"
    section "$T/client.txt" COMMANDS >"$T/client-commands.txt"
    sections_present "$T/client.txt" storectl.1 NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS \
        FILES ENVIRONMENT "EXIT STATUS" EXAMPLES "SEE ALSO"
    version_check "$STORECTL" "$T/client.txt" storectl.1

    if "$STORECTL" --help >"$T/client-help.txt" 2>"$T/err"; then
        # Command lines: "  put NAME [FILE|-] [--meta TEXT] [--replace]   store FILE ...", the
        # part before the two spaces that start the description.
        sed -n '/^Commands:/,/^$/p' "$T/client-help.txt" | grep '^  [^ ]' |
            sed 's/^  //; s/  .*//' >"$T/client-commands-help.txt"
        if [ -s "$T/client-commands-help.txt" ]; then
            while read -r usage; do
                missing=
                has_text "$T/client-synopsis.txt" "$usage" || missing="$missing SYNOPSIS"
                has_text "$T/client-commands.txt" "$usage" || missing="$missing COMMANDS"
                if [ -z "$missing" ]; then
                    ok "storectl.1 documents '$usage'"
                else
                    not_ok "storectl.1 documents '$usage'" \
                        "'storectl --help' has it; missing from:$missing"
                fi
            done <"$T/client-commands-help.txt"
        else
            not_ok "storectl --help lists commands" "found none in:" "$(cat "$T/client-help.txt")"
        fi

        # Global options ("Options:" lines) belong in OPTIONS; the commands' own long options
        # (--meta, --json, ...) anywhere in the page.
        help_options "$T/client-help.txt" >"$T/client-help-options.txt"
        if [ -s "$T/client-help-options.txt" ]; then
            while read -r opt; do
                if has_word "$T/client-options.txt" "$opt"; then
                    ok "storectl.1 OPTIONS documents $opt"
                else
                    not_ok "storectl.1 OPTIONS documents $opt" \
                        "'storectl --help' lists $opt; client/storectl.1 OPTIONS does not"
                fi
            done <"$T/client-help-options.txt"
        else
            not_ok "storectl --help lists options" "found none in:" "$(cat "$T/client-help.txt")"
        fi
        grep -o -e '--[A-Za-z0-9][A-Za-z0-9-]*' "$T/client-commands-help.txt" | sort -u |
            while read -r opt; do
                if has_word "$T/client-commands.txt" "$opt"; then
                    echo "ok:$opt"
                else
                    echo "missing:$opt"
                fi
            done >"$T/client-command-options.txt"
        while IFS=: read -r verdict opt; do
            if [ "$verdict" = ok ]; then
                ok "storectl.1 COMMANDS documents $opt"
            else
                not_ok "storectl.1 COMMANDS documents $opt" \
                    "'storectl --help' shows $opt; client/storectl.1 COMMANDS does not"
            fi
        done <"$T/client-command-options.txt"
    else
        not_ok "storectl --help succeeds" "$(cat "$T/err")"
    fi
fi

renderers=
[ $have_man = yes ] && renderers="man-db $(man --version 2>/dev/null | sed -n '1s/^man //p')"
[ $have_groff = yes ] && renderers="${renderers:+$renderers, }$(groff --version 2>/dev/null | sed -n '1s/^GNU //p')"
echo "# renderers: $renderers"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
