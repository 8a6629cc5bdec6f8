#!/bin/sh
# scripts/plots.sh - draw the plots BENCHMARKS.md and RELIABILITY.md show
# (`make plots`), as SVG, from the CSV files beside them in docs/plots/:
#
#   soak_kill_storm.csv -> soak_rss.svg         the kill-storm soak's RSS
#                                               (all processes, with the
#                                               admin) and kills over time
#   bench.csv           -> bench_throughput.svg throughput by payload size
#                          bench_troupe.svg     troupe throughput by workers
#                          bench_admin.svg      admin CPU per lookup and
#                                               per spawn by actors alive
#
#   sh scripts/plots.sh [--run] [DIR]      (DIR: docs/plots)
#
# --run measures first (`make plots RUN=1`): ens-bench --quick --only
# throughput, troupe and admin_scaling (bench.csv, via scripts/bench2csv.sh),
# then a kill-storm soak of ENS_PLOT_SOAK_SECONDS (120) whose series
# (tests/support/progress.c, a row every ENS_PLOT_TICK_SECONDS: 2) becomes
# soak_kill_storm.csv; when and on what
# load goes into DIR/measured.txt. Needs build/ built and gnuplot.
set -eu

run=0
soak_failed=0
if [ "${1:-}" = "--run" ]; then
    run=1
    shift
fi
dir=${1:-docs/plots}
build=${ENS_BUILD:-build}
mkdir -p "$dir"

if [ $run = 1 ]; then
    here=$(pwd)
    scratch=$here/$build/plots-run
    rm -rf "$scratch"
    mkdir -p "$scratch"
    for b in throughput troupe admin_scaling; do
        echo "== plots: ens-bench --quick --only $b"
        "$build/bench/ens-bench" --quick --only "$b" >"$scratch/$b.jsonl"
    done
    cat "$scratch"/throughput.jsonl "$scratch"/troupe.jsonl "$scratch"/admin_scaling.jsonl |
        sh scripts/bench2csv.sh >"$dir/bench.csv"
    seconds=${ENS_PLOT_SOAK_SECONDS:-120}
    echo "== plots: kill-storm soak, $seconds s"
    # A soak that fails its checks still leaves its series (written as it
    # goes): it is drawn, and the failure is said here and in measured.txt.
    if (cd "$build/tests" && XDG_STATE_HOME=$PWD/state ENS_STORM_SECONDS=$seconds \
        ENS_PROGRESS_SECONDS=${ENS_PLOT_TICK_SECONDS:-2} ENS_RUN_DIR=$scratch ./test_kill_storm) \
        >"$scratch/soak.log" 2>&1; then
        verdict="passed its checks"
    else
        soak_failed=1
        verdict="FAILED its checks: $(grep -aE '^(\[  ERROR|\[   LINE|# request )' "$scratch/soak.log" |
            head -n 4 | tr '\n' ' ')(log: $scratch/soak.log)"
    fi
    grep -aE '^(# [0-9]+ kills|# memory: peak [0-9]+ KiB in one)' "$scratch/soak.log" || true
    echo "== plots: the soak $verdict"
    [ -f "$scratch/kill_storm.csv" ] || { tail -n 40 "$scratch/soak.log"; exit 1; }
    cp "$scratch/kill_storm.csv" "$dir/soak_kill_storm.csv"
    {
        echo "measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
        echo "on $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "ens-bench --quick --only throughput, troupe, admin_scaling; kill-storm soak of $seconds s"
        echo "the soak $verdict"
        grep -aE '^(# [0-9]+ kills|# memory: peak [0-9]+ KiB in one)' "$scratch/soak.log" || true
    } >"$dir/measured.txt"
fi

for f in "$dir/bench.csv" "$dir/soak_kill_storm.csv"; do
    [ -f "$f" ] || { echo "plots: $f is missing (make plots RUN=1 measures it)" >&2; exit 1; }
done
command -v gnuplot >/dev/null 2>&1 || { echo "plots: gnuplot is not installed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# One series of bench.csv: "x value" lines sorted by x, for bench $1, base
# $2, x from column $3 (payload 4, workers 5) or, with $3 = name, the
# number that ends the bench's name (admin_lookup_100 -> 100).
series() {
    awk -F, -v b="$1" -v base="$2" -v x="$3" '
        NR > 1 && base == $2 {
            if (x == "name") {
                n = split($1, p, "_")
                if (substr($1, 1, length(b) + 1) == b "_") print p[n], $6
            } else if ($1 == b) print $x, $6
        }' "$dir/bench.csv" | sort -n
}

series throughput process 4 >"$tmp/tp_process"
series throughput inproc 4 >"$tmp/tp_inproc"
series throughput_raw_batch raw 4 >"$tmp/tp_raw_batch"
series throughput_codec raw 4 >"$tmp/tp_codec"
series troupe process 5 >"$tmp/troupe_process"
series troupe raw 5 >"$tmp/troupe_raw"
series admin_lookup process name >"$tmp/admin_lookup"
series admin_spawn process name >"$tmp/admin_spawn"
soak_s=$(tail -n 1 "$dir/soak_kill_storm.csv" | cut -d, -f1)

gnuplot <<GNUPLOT
set terminal svg size 760,440 dynamic font "sans,12" background "white"
set grid
set key below

set terminal svg size 760,640 dynamic font "sans,12" background "white"
set output "$dir/soak_rss.svg"
set datafile separator ","
set autoscale xfix
set multiplot layout 2,1 title "Kill-storm soak (${soak_s} s): memory and kills over time"
set title "RSS of all the system's processes (admin + actors)"
unset xlabel
set ylabel "MiB"
set yrange [0:*]
plot "$dir/soak_kill_storm.csv" skip 1 using 1:(\$6/1024.0) with lines lw 2 title "now", \
     "" skip 1 using 1:(\$7/1024.0) with lines dt 2 title "worst so far"
set title "Mean RSS per process, and kills"
set xlabel "seconds"
set ylabel "KiB per process"
set y2label "kills"
set ytics nomirror
set y2tics
set y2range [0:*]
plot "$dir/soak_kill_storm.csv" skip 1 using 1:(\$6/\$8) with lines lw 2 title "mean RSS per process", \
     "" skip 1 using 1:2 axes x1y2 with lines lc rgb "gray50" title "kills (right axis)"
unset multiplot
unset y2label
unset y2tics
set ytics mirror
set datafile separator whitespace
set size 1,1
set origin 0,0
set autoscale x
set terminal svg size 760,440 dynamic font "sans,12" background "white"

set output "$dir/bench_throughput.svg"
set title "Throughput by payload size (ens-bench --quick --only throughput)"
set xlabel "payload, bytes"
set ylabel "messages/s"
set logscale xy
set xrange [4:2000000]
set yrange [*:*]
plot "$tmp/tp_process" using 1:2 with linespoints lw 2 title "ensemble, process base", \
     "$tmp/tp_inproc" using 1:2 with linespoints lw 2 title "ensemble, inproc base", \
     "$tmp/tp_raw_batch" using 1:2 with linespoints dt 2 title "raw: AF\\\\_UNIX, 64 KiB writes", \
     "$tmp/tp_codec" using 1:2 with linespoints dt 3 title "raw: encode + decode, no I/O"
unset logscale
set xrange [*:*]

set output "$dir/bench_troupe.svg"
set title "Troupe throughput by workers, 1 ms of CPU per message (ens-bench --quick --only troupe)"
set xlabel "workers"
set ylabel "messages/s"
set xtics 1
set yrange [0:*]
plot "$tmp/troupe_process" using 1:2 with linespoints lw 2 title "troupe (process base)", \
     "$tmp/troupe_raw" using 1:2 with linespoints dt 2 title "raw: forked workers over socketpairs"
set xtics autofreq

set output "$dir/bench_admin.svg"
set title "The admin's CPU per event by actors alive (ens-bench --quick --only admin\\\\_scaling)"
set xlabel "idle actors alive"
set ylabel "µs of admin CPU per lookup"
set y2label "µs of admin CPU per spawn"
set logscale x
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
plot "$tmp/admin_lookup" using 1:(\$2/1000.0) with linespoints lw 2 title "per lookup", \
     "$tmp/admin_spawn" using 1:(\$2/1000.0) axes x1y2 with linespoints lw 2 title "per spawn (right axis)"
GNUPLOT
echo "plots: $dir/soak_rss.svg $dir/bench_throughput.svg $dir/bench_troupe.svg $dir/bench_admin.svg"
if [ $soak_failed = 1 ]; then
    echo "plots: drawn, but the soak failed its checks (see $dir/measured.txt)" >&2
    exit 1
fi
