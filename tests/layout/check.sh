#!/bin/sh
# tests/layout/check.sh SRCDIR OBJECT... - fail when an include or a call
# points upward or sideways across the library's folders, or when headers
# include each other in a cycle.
#
# Folders and their ranks are in tests/layout/layers. Includes are read from
# the sources (`#include "..."` naming a file of the tree); calls from the
# objects (a symbol one object uses and another defines, by `nm`). Tests,
# tools, benchmarks and examples sit above the library and are not checked.
set -eu
src=$1
shift
layers=$src/tests/layout/layers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -v '^#' "$layers" | awk 'NF == 2' >"$tmp/ranks"

# Every source and header of the library with its folder.
(cd "$src" && for d in $(awk '{print $1}' "$tmp/ranks"); do
    for f in "$d"/*.c "$d"/*.h; do [ -f "$f" ] && echo "$f"; done
done) | sort -u >"$tmp/files"

# Include edges: file -> included file of the tree.
while read -r f; do
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$src/$f" |
        while read -r inc; do
            here=$(dirname "$f")
            if [ -f "$src/$here/$inc" ]; then
                echo "$f $here/$inc"
            elif [ -f "$src/$inc" ]; then
                echo "$f $inc"
            elif [ -f "$src/include/$inc" ]; then
                echo "$f include/$inc"
            else
                echo "$f $inc ?"
            fi
        done
done <"$tmp/files" >"$tmp/includes"

# Call edges: object -> object that defines a symbol it uses. An object's
# path ends in <folder>/<file>.c.o under the build tree; cut it at the first
# folder named in the layers file.
for o in "$@"; do
    rel=$(echo "$o" | sed -n 's#.*\.dir/\(.*\)\.o$#\1#p')
    [ -n "$rel" ] || { echo "layout: cannot place object $o" >&2; exit 1; }
    "${NM:-nm}" "$o" | awk -v f="$rel" '$1 == "U" { print "U", $2, f; next }
        NF == 3 && $2 ~ /^[TDBRVW]$/ { print "D", $3, f }'
done >"$tmp/syms"
awk '$1 == "D" { def[$2] = $3; next }
     $1 == "U" && ($2 in def) { print $3, def[$2], $2 }' "$tmp/syms" "$tmp/syms" >"$tmp/calls"

awk -v what=include -v ranks="$tmp/ranks" -f - "$tmp/includes" >"$tmp/bad" <<'AWK'
function folder(path,   d) { d = path; sub(/\/[^\/]*$/, "", d); return d }
BEGIN { while ((getline line < ranks) > 0) { split(line, p, " "); rank[p[1]] = p[2] } }
{
    if ($3 == "?") { printf "%s: includes %s, which is not in the tree\n", $1, $2; next }
    a = folder($1); b = folder($2)
    if (!(a in rank)) { printf "%s: folder %s has no rank in tests/layout/layers\n", $1, a; next }
    if (!(b in rank)) { printf "%s: includes %s from folder %s, which has no rank\n", $1, $2, b; next }
    if (a != b && rank[b] >= rank[a])
        printf "%s (%s, rank %d) %s %s (%s, rank %d): %s\n", $1, a, rank[a], what,
               $2, b, rank[b], rank[b] == rank[a] ? "sideways" : "upward"
}
AWK
awk -v what=calls -v ranks="$tmp/ranks" -f - "$tmp/calls" >>"$tmp/bad" <<'AWK'
function folder(path,   d) { d = path; sub(/\/[^\/]*$/, "", d); return d }
BEGIN { while ((getline line < ranks) > 0) { split(line, p, " "); rank[p[1]] = p[2] } }
{
    a = folder($1); b = folder($2)
    if (!(a in rank) || !(b in rank)) { printf "%s calls %s in %s: folder without a rank\n", $1, $3, $2; next }
    if (a != b && rank[b] >= rank[a])
        printf "%s (%s, rank %d) calls %s in %s (%s, rank %d): %s\n", $1, a, rank[a], $3,
               $2, b, rank[b], rank[b] == rank[a] ? "sideways" : "upward"
}
AWK

# Header cycles: tsort fails on a loop among the include edges of headers.
awk '$3 != "?" && $1 ~ /\.h$/ { print $1, $2 }' "$tmp/includes" >"$tmp/hedges"
if ! tsort "$tmp/hedges" >/dev/null 2>"$tmp/loop"; then
    echo "headers include each other in a cycle:" >>"$tmp/bad"
    cat "$tmp/loop" >>"$tmp/bad"
fi

nf=$(wc -l <"$tmp/files")
ni=$(wc -l <"$tmp/includes")
nc=$(wc -l <"$tmp/calls")
if [ -s "$tmp/bad" ]; then
    sort -u "$tmp/bad"
    echo "layout: $(sort -u "$tmp/bad" | wc -l) edges break the layers ($nf files, $ni includes, $nc calls)"
    exit 1
fi
[ "$nc" -gt 0 ] || { echo "layout: no calls seen: were the objects given?"; exit 1; }
echo "layout: $nf files, $ni includes, $nc calls, all downward or within a folder"
