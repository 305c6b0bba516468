#!/bin/sh
# run_fuzz.sh TARGET SEEDS WORK — run a libFuzzer target over its seed corpus for $FUZZ_SECONDS
# (default 60) and fail on any crash, leak or timeout (10 s per input). New inputs go to
# WORK/corpus and crash reproducers to WORK/artifacts, so the committed seeds stay as they are.
set -eu
target=$1 seeds=$2 work=$3
mkdir -p "$work/corpus" "$work/artifacts"
exec "$target" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
