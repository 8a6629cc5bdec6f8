#!/bin/sh
# tests/longrun/check.sh - a long run says how far it is (ctest soak_progress).
#
#   sh check.sh SOURCE_DIR SOAK_PROGRAM
#
# Runs the convention soak for 3 s with a progress line every second through
# scripts/longrun.sh (as `make reliability` and the fuzz runs use it) and
# checks: the soak printed its progress lines, wrote its series as CSV (a
# header, then rows of numbers) and said where; longrun.sh printed its own
# line with the time left. Nothing here asserts a timing: a 3 s run with a
# 1 s interval gives at least one tick however busy the machine is. Exit 77
# (skipped) when nats-server is not installed.
set -u
src=$1
prog=$2
dir=$(mktemp -d /tmp/ens-longrun-XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
fail() {
    echo "soak_progress: $*"
    echo "--- longrun.sh's output:"; cat "$dir/out"
    echo "--- the soak's log:"; cat "$dir/log"
    exit 1
}

ENS_SOAK_SECONDS=3 ENS_PROGRESS_SECONDS=1 ENS_RUN_DIR=$dir/runs \
    sh "$src/scripts/longrun.sh" --duration 3 convention_downs "$dir/log" "$prog" >"$dir/out" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
    cat "$dir/log"
    exit 77
fi
# 1 is the soak's verdict (a false down on a loaded machine): not what is
# checked here. Anything else means it could not run.
[ $rc -le 1 ] || fail "the soak exited with $rc"

grep -qE '^convention_downs: [0-9]+ s: false_downs [0-9]+, load_x100 [0-9]+, rss_kib [0-9]+, worst_rss_kib [0-9]+$' \
    "$dir/log" || fail "no progress line from the soak"

csv=$dir/runs/convention_downs.csv
[ -f "$csv" ] || fail "no series at $csv"
[ "$(head -n 1 "$csv")" = "time_s,false_downs,load_x100,rss_kib,worst_rss_kib" ] ||
    fail "the series' header is $(head -n 1 "$csv")"
rows=$(tail -n +2 "$csv" | grep -cE '^[0-9]+\.[0-9],[0-9]+,[0-9]+,[0-9]+,[0-9]+$')
[ "$rows" -ge 1 ] || fail "the series has no rows"
[ "$rows" -eq $(($(wc -l <"$csv") - 1)) ] || fail "a row of the series is not numbers"
grep -qF "convention_downs: series ($rows rows) in $csv" "$dir/log" ||
    fail "the soak did not say where its series is"

grep -qE '^   convention_downs: [0-9]+ s of 3, [0-9]+ s left' "$dir/out" ||
    fail "longrun.sh printed no progress line"
echo "soak_progress: $rows rows in the series; longrun.sh said: $(head -n 1 "$dir/out")"
