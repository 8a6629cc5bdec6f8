#!/bin/sh
# scripts/bench2csv.sh - ens-bench's JSON lines (stdin or the files named)
# as CSV on stdout, one row per result:
#   bench,base,n,payload,workers,value,unit,min,median,max
# (workers is empty for results that have none). Lines that are not
# ens-bench results are left out. ens-bench prints flat objects of strings
# and numbers only, which is all this reads.
exec awk '
function field(key,    re, v) {
    re = "\"" key "\":(\"[^\"]*\"|[-+0-9.eE]+)"
    if (!match($0, re))
        return ""
    v = substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    gsub(/"/, "", v)
    return v
}
BEGIN { print "bench,base,n,payload,workers,value,unit,min,median,max" }
/^\{"bench":/ {
    print field("bench") "," field("base") "," field("n") "," field("payload") "," \
          field("workers") "," field("value") "," field("unit") "," field("min") "," \
          field("median") "," field("max")
}' "$@"
