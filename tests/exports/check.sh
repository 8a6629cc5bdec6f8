#!/bin/sh
# tests/exports/check.sh NM SHARED_LIB STATIC_LIB INCLUDE_DIR - the `exports`
# test. The shared library is built with hidden visibility and exports what
# the public headers in INCLUDE_DIR mark ENS_API (include/ensemble/api.h).
# Three checks, each printing the names that break it:
#   1. every name in the dynamic symbol table (nm -D --defined-only) is an
#      ENS_API declaration: no internal (ens__*, fault-injection hooks,
#      control types) is reachable from a program linked against the .so;
#   2. every ENS_API declaration is exported (a mark on a name the library
#      does not define, or a definition that did not see its mark);
#   3. every global the library defines (nm of the static library, which has
#      the same objects) whose name a public header mentions, in a
#      declaration or in a macro users expand, carries ENS_API: otherwise it
#      is hidden and a user's program fails to link.
set -eu
export LC_ALL=C # one collation for sort and comm

nm=${1:-nm}
shared=$2
static=$3
include=$4

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The public headers without their comments. Preprocessor lines stay in
# code.txt (macros such as ENS_SUPERVISOR_DEF name library symbols) and are
# left out of decls.txt, where each ';' ends one declaration.
cat "$include"/*.h | awk '
    { text = text $0 "\n" }
    END {
        out = ""
        while ((i = index(text, "/*")) > 0) {
            out = out substr(text, 1, i - 1)
            rest = substr(text, i + 2)
            j = index(rest, "*/")
            if (j == 0) { text = ""; break }
            text = substr(rest, j + 2)
        }
        printf "%s", out text
    }' | sed 's|//.*||' >"$work/code.txt"

awk '
    cont || /^[ \t]*#/ { cont = /\\$/; next }
    { printf "%s ", $0 }' "$work/code.txt" | tr ';' '\n' >"$work/decls.txt"

# The declared name of each ENS_API declaration: the identifier before the
# parameter list for a function, the last identifier for an object.
awk '
    match($0, /(^|[^A-Za-z0-9_])ENS_API[^A-Za-z0-9_]/) {
        d = substr($0, RSTART + RLENGTH)
        p = index(d, "(")
        if (p > 0) {
            d = substr(d, 1, p - 1)
        } else {
            sub(/\[.*/, "", d)
            sub(/=.*/, "", d)
        }
        sub(/[ \t]+$/, "", d)
        if (match(d, /[A-Za-z_][A-Za-z0-9_]*$/))
            print substr(d, RSTART, RLENGTH)
        else
            print "unparsed ENS_API declaration:" d >"/dev/stderr"
    }' "$work/decls.txt" | sort -u >"$work/api.txt"

# Names the linker itself defines in some toolchains' shared objects.
printf '%s\n' __bss_start _edata _end _fini _init >"$work/linker.txt"
# The bounds of the library's built-in sections (core/wire/msgtype.h,
# core/runtime/runtime.h): linked with -z start-stop-visibility=hidden, they stay in
# the dynamic table as HIDDEN symbols (ld lists them; no program can bind
# to them).
printf '%s\n' __start_ens_builtin_msgtypes __stop_ens_builtin_msgtypes \
    __start_ens_builtin_actors __stop_ens_builtin_actors >>"$work/linker.txt"

# An ASan build also exports __odr_asan.<name> beside each exported object
# (its one-definition-rule guard): it stands for <name>.
"$nm" -D --defined-only "$shared" |
    awk 'NF >= 3 { sub(/@.*/, "", $3); sub(/^__odr_asan[.]/, "", $3); print $3 }' |
    sort -u >"$work/exported.txt"
"$nm" -g --defined-only "$static" | awk 'NF >= 3 { print $3 }' | sort -u >"$work/globals.txt"
tr -c 'A-Za-z0-9_' '\n' <"$work/code.txt" | grep -E '^[A-Za-z_]' | sort -u >"$work/words.txt"

api_count=$(wc -l <"$work/api.txt")
exported_count=$(wc -l <"$work/exported.txt")
echo "exports: $exported_count names exported by $(basename "$shared"), $api_count marked ENS_API"
if [ "$api_count" -eq 0 ]; then
    echo "FAIL: no ENS_API declaration found in $include"
    exit 1
fi

status=0
sort -u "$work/api.txt" "$work/linker.txt" >"$work/allowed.txt"
comm -23 "$work/exported.txt" "$work/allowed.txt" >"$work/extra.txt"
if [ -s "$work/extra.txt" ]; then
    echo "FAIL: $(wc -l <"$work/extra.txt") exported names are not ENS_API declarations of" \
        "the public headers:"
    sed 's/^/    /' "$work/extra.txt"
    status=1
fi

comm -23 "$work/api.txt" "$work/exported.txt" >"$work/missing.txt"
if [ -s "$work/missing.txt" ]; then
    echo "FAIL: $(wc -l <"$work/missing.txt") ENS_API declarations are not exported:"
    sed 's/^/    /' "$work/missing.txt"
    status=1
fi

comm -12 "$work/globals.txt" "$work/words.txt" | comm -23 - "$work/api.txt" >"$work/unmarked.txt"
if [ -s "$work/unmarked.txt" ]; then
    echo "FAIL: $(wc -l <"$work/unmarked.txt") library globals named in the public headers lack" \
        "ENS_API (hidden from users):"
    sed 's/^/    /' "$work/unmarked.txt"
    status=1
fi

[ "$status" -eq 0 ] && echo "exports: ok"
exit "$status"
