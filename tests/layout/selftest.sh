#!/bin/sh
# tests/layout/selftest.sh SRCDIR OBJECT... - the layout check must catch
# what it is there to catch. On a copy of the library's folders, plant one
# bad edge at a time (an upward include, a sideways include, a header cycle,
# an upward call in an object) and expect check.sh to fail naming it; the
# untouched copy must pass.
set -eu
src=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check=$src/tests/layout/check.sh
fails=0

fresh() {
    rm -rf "$tmp/tree"
    mkdir -p "$tmp/tree/tests/layout"
    cp "$src/tests/layout/layers" "$tmp/tree/tests/layout/"
    for d in $(grep -v '^#' "$src/tests/layout/layers" | awk 'NF == 2 {print $1}'); do
        mkdir -p "$tmp/tree/$d"
        for f in "$src/$d"/*.c "$src/$d"/*.h; do [ -f "$f" ] && cp "$f" "$tmp/tree/$d/"; done
    done
    return 0
}

# expect NAME PATTERN [EXTRA_OBJECT]: check.sh fails and prints PATTERN.
expect() {
    if out=$(sh "$check" "$tmp/tree" "$@" 2>&1); then
        echo "selftest: $name: the check passed, it should have failed"
        fails=$((fails + 1))
    elif ! printf '%s\n' "$out" | grep -q -- "$pattern"; then
        echo "selftest: $name: failed without naming '$pattern':"
        printf '%s\n' "$out"
        fails=$((fails + 1))
    else
        echo "selftest: $name: caught"
    fi
}

fresh
if ! sh "$check" "$tmp/tree" "$@" >/dev/null; then
    echo "selftest: the untouched copy does not pass"
    exit 1
fi

fresh
echo '#include "core/process/stage.h"' >>"$tmp/tree/core/wire/addr.c"
name="upward include" pattern="core/wire/addr.c (core/wire, rank 1) include core/process/stage.h.*upward"
expect "$@"

fresh
echo '#include "core/process/proc.h"' >>"$tmp/tree/core/inproc/inproc.c"
name="sideways include" pattern="core/inproc/inproc.c.*core/process/proc.h.*sideways"
expect "$@"

fresh
echo '#include "core/wire/codec.h"' >>"$tmp/tree/core/wire/arena.h"
name="header cycle" pattern="cycle"
expect "$@"

fresh
mkdir -p "$tmp/obj/x.dir/core/wire"
printf 'void ens__stage_look(void);\nvoid planted(void);\nvoid planted(void) { ens__stage_look(); }\n' \
    >"$tmp/planted.c"
${CC:-cc} -c -o "$tmp/obj/x.dir/core/wire/planted.c.o" "$tmp/planted.c"
name="upward call" pattern="core/wire/planted.c (core/wire, rank 1) calls ens__stage_look.*upward"
expect "$@" "$tmp/obj/x.dir/core/wire/planted.c.o"

[ "$fails" -eq 0 ] || exit 1
echo "selftest: every planted edge was caught"
