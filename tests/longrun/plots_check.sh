#!/bin/sh
# tests/longrun/plots_check.sh - `make plots`' pieces (ctest plots_draw):
# scripts/bench2csv.sh turns ens-bench's JSON lines into CSV rows (the
# workers field empty where a result has none, other lines left out), and
# scripts/plots.sh draws the four SVGs from the CSV files in docs/plots/
# (copied to a scratch directory, which is where they are drawn). Exit 77
# (skipped) for the drawing when gnuplot is not installed.
set -u
src=$1
dir=$(mktemp -d /tmp/ens-plots-XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
fail() {
    echo "plots_draw: $*"
    exit 1
}

cat >"$dir/in.jsonl" <<'JSON'
ens-bench: a diagnostic line, not a result
{"bench":"throughput","base":"process","n":200000,"payload":4096,"value":180035,"unit":"msgs/s","runs":3,"min":178191,"median":180035,"max":216431}
{"bench":"troupe","base":"raw","n":300,"payload":8,"value":987,"unit":"msgs/s","runs":3,"min":456,"median":987,"max":1000,"workers":4}
JSON
sh "$src/scripts/bench2csv.sh" "$dir/in.jsonl" >"$dir/out.csv" || fail "bench2csv.sh failed"
cat >"$dir/want.csv" <<'CSV'
bench,base,n,payload,workers,value,unit,min,median,max
throughput,process,200000,4096,,180035,msgs/s,178191,180035,216431
troupe,raw,300,8,4,987,msgs/s,456,987,1000
CSV
cmp -s "$dir/out.csv" "$dir/want.csv" ||
    { diff "$dir/want.csv" "$dir/out.csv"; fail "bench2csv.sh wrote other rows than expected"; }

command -v gnuplot >/dev/null 2>&1 || { echo "plots_draw: gnuplot is not installed: skipped"; exit 77; }
mkdir "$dir/plots"
cp "$src/docs/plots/bench.csv" "$src/docs/plots/soak_kill_storm.csv" "$dir/plots/" ||
    fail "docs/plots/bench.csv or soak_kill_storm.csv is missing"
(cd "$src" && sh scripts/plots.sh "$dir/plots") >"$dir/log" 2>&1 || { cat "$dir/log"; fail "plots.sh failed"; }
for svg in soak_rss bench_throughput bench_troupe bench_admin; do
    f=$dir/plots/$svg.svg
    [ -s "$f" ] || fail "$svg.svg was not drawn"
    grep -q '<svg' "$f" || fail "$svg.svg is not an SVG"
    grep -q '<path' "$f" || fail "$svg.svg has no curve"
done
echo "plots_draw: bench2csv.sh's rows as expected; 4 SVGs drawn"
