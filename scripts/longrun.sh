#!/bin/sh
# scripts/longrun.sh - run a long command with its output in a log file and
# say how far it is on the terminal meanwhile (`make reliability`,
# `make test-fuzz`).
#
#   sh scripts/longrun.sh [--duration SECONDS] LABEL LOG COMMAND [ARG...]
#
# Every ENS_PROGRESS_SECONDS (10 unless set) while COMMAND runs it prints
#   "   LABEL: 20 s[ of 60, 40 s left][: <the log's last progress line>]"
# where a progress line is one a long run prints through
# tests/support/progress.c ("<run>: <n> s: <figure> <value>, ...") or,
# from a fuzz target, libFuzzer's last status line ("#N ... exec/s: E"). The
# exit status is COMMAND's. Only the ticker this script starts is stopped
# at the end, by its pid.
set -u

duration=""
if [ "${1:-}" = "--duration" ]; then
    duration=$2
    shift 2
fi
if [ $# -lt 3 ]; then
    echo "usage: longrun.sh [--duration SECONDS] LABEL LOG COMMAND [ARG...]" >&2
    exit 2
fi
label=$1
log=$2
shift 2
interval=${ENS_PROGRESS_SECONDS:-10}
: >"$log"

# The ticker counts whole seconds and speaks every interval; it is a
# reporter, not a synchronisation: the command's end is `wait`ed for below.
(
    start=$(date +%s)
    next=$((start + interval))
    while :; do
        sleep 1
        now=$(date +%s)
        [ "$now" -ge "$next" ] || continue
        next=$((now + interval))
        elapsed=$((now - start))
        line="   $label: $elapsed s"
        if [ -n "$duration" ]; then
            left=$((duration - elapsed))
            [ "$left" -ge 0 ] || left=0
            line="$line of $duration, $left s left"
        fi
        last=$(grep -aE '^[A-Za-z0-9_.-]+: [0-9]+ s: ' "$log" 2>/dev/null | tail -n 1)
        # libFuzzer's own status line ("#4096 pulse cov: 312 ft: 801 ... exec/s: 2048")
        [ -n "$last" ] || last=$(grep -aE '^#[0-9]+[[:space:]]' "$log" 2>/dev/null | tail -n 1)
        [ -z "$last" ] || line="$line: $last"
        echo "$line"
    done
) &
ticker=$!

"$@" >"$log" 2>&1
rc=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null
exit $rc
