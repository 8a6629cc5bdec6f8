#!/bin/sh
# tests/typed/check.sh CC SOURCE_DIR - the typed wrappers of ensemble/typed.h
# accept the right struct and refuse every wrong one at compile time: use.c
# must compile as is under -Werror, and each -DWRONG=n case must fail with
# a complaint about an incompatible pointer type (not any other error).
set -u
cc=$1
src=$2
flags="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -I$src/include"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! $cc $flags -DWRONG=0 "$src/tests/typed/use.c" >"$out" 2>&1; then
    echo "FAIL: the right structs do not compile:"
    cat "$out"
    exit 1
fi
status=0
for n in 1 2 3 4; do
    if $cc $flags -DWRONG=$n "$src/tests/typed/use.c" >"$out" 2>&1; then
        echo "FAIL: case $n (a wrong struct) compiled"
        status=1
    elif ! grep -q "incompatible pointer type\|incompatible-pointer-types" "$out"; then
        echo "FAIL: case $n failed for another reason:"
        cat "$out"
        status=1
    else
        echo "ok: case $n refused"
    fi
done
exit $status
