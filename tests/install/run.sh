#!/bin/sh
# tests/install/run.sh BUILD_DIR SRC_DIR [EXTRA_CFLAGS] - the install_consumer
# test. Installs BUILD_DIR into a fresh temporary prefix (removed on exit,
# failed or not), then checks that what was installed runs from a clean
# environment (no LD_LIBRARY_PATH, a prefix the loader does not search):
#   - every installed program carries a RUNPATH built on $ORIGIN, the loader
#     resolves libensemble.so.0 into the prefix through it, `ens --help`
#     exits 0 and `ens --version` gives the installed header's version;
#   - ens(1) and ensemble(7) are installed under share/man, render without a
#     groff warning, and ens(1) has every command's --help;
#   - consumer.c (SRC_DIR) built with cc, `pkg-config --cflags --libs
#     ensemble` and the -Wl,-rpath the README's install section gives runs
#     and finds the prefix's library;
#   - consumer.c built as a CMake project with find_package(ensemble), against
#     the shared and the static library, runs.
# EXTRA_CFLAGS carries the sanitizer flags when the library was built with them.
# Logs of each step stay in BUILD_DIR/install-consumer.
set -eu

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
extra=${3:-}
work=$build/install-consumer
clean_path=/usr/bin:/bin

rm -rf "$work"
mkdir -p "$work"
prefix=$(mktemp -d "${TMPDIR:-/tmp}/ens-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
trap 'exit 1' HUP INT TERM

fail() {
    echo "install_consumer: $*" >&2
    exit 1
}

# The loader's answer for NEEDED library $2 of program $1, in a clean
# environment: must be the copy in the prefix's library directory.
check_resolves_into_prefix() {
    found=$(env -i PATH=$clean_path ldd "$1" | awk -v lib="$2" '$1 == lib { print $3 }')
    [ -n "$found" ] && [ "$found" != "not" ] || fail "$1: $2 not found by the loader"
    [ "$(readlink -f "$found")" = "$(readlink -f "$libdir/$2")" ] ||
        fail "$1: $2 resolves to $found, not into $libdir"
}

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
if grep -q 'Running .*ldconfig' "$work/install.log"; then
    fail "an install into $prefix ran ldconfig"
fi

pc=$(find "$prefix" -name ensemble.pc | head -n 1)
[ -n "$pc" ] || fail "no ensemble.pc under $prefix"
libdir=$(cd "$(dirname "$pc")/.." && pwd)
soname=$(readelf -d "$libdir/libensemble.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$soname" ] || fail "$libdir/libensemble.so has no SONAME"

echo "== installed programs"
[ -x "$prefix/bin/ens" ] || fail "$prefix/bin/ens was not installed"
for prog in "$prefix"/bin/*; do
    runpath=$(readelf -d "$prog" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    case $runpath in
    *'$ORIGIN'*) ;;
    *) fail "$prog: RUNPATH is '$runpath', not relative to \$ORIGIN" ;;
    esac
    check_resolves_into_prefix "$prog" "$soname"
    echo "   $(basename "$prog"): RUNPATH $runpath"
done
env -i PATH=$clean_path "$prefix/bin/ens" --help >"$work/ens-help.log" 2>&1 ||
    fail "installed ens --help failed: $(cat "$work/ens-help.log")"
want_version=$(sed -n 's/^#define ENS_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$prefix/include/ensemble/version.h" | paste -sd. -)
[ -n "$want_version" ] || fail "no version numbers in the installed ensemble/version.h"
got=$(env -i PATH=$clean_path "$prefix/bin/ens" --version) ||
    fail "installed ens --version failed"
[ "$got" = "ens (ensemble) $want_version" ] ||
    fail "installed ens --version says '$got', the installed header $want_version"
echo "   ens --version: $got"

echo "== manual pages"
for page in man1/ens.1 man7/ensemble.7; do
    file=$(find "$prefix" -path "*/man/$page" | head -n 1)
    [ -n "$file" ] || fail "$page was not installed under $prefix/.../man"
    # -ww: every warning; groff still exits 0 on them, so its stderr must be empty.
    groff -ww -z -man "$file" >"$work/groff.log" 2>&1 || fail "$page: groff failed"
    [ ! -s "$work/groff.log" ] || fail "$page renders with warnings: $(cat "$work/groff.log")"
    echo "   $(echo "$file" | sed "s|^$prefix/||")"
done
ens1=$(find "$prefix" -path '*/man/man1/ens.1')
# ens(1) holds every command's --help: one subsection per command of `ens --help`.
for cmd in $(env -i PATH=$clean_path "$prefix/bin/ens" --help |
    sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
    [ "$cmd" = version ] && continue
    grep -q "^\.SS \"ens $cmd\"" "$ens1" || fail "ens(1) has no section for 'ens $cmd'"
    env -i PATH=$clean_path "$prefix/bin/ens" "$cmd" --help | head -n 1 >"$work/first.txt"
    grep -qF "$(cat "$work/first.txt")" "$ens1" || fail "ens(1) lacks 'ens $cmd --help'"
done
grep -q "$want_version" "$ens1" || fail "ens(1) does not give the version $want_version"

echo "== pkg-config, clean environment: $(env -i PATH=$clean_path \
    PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs ensemble)"
# The command of README.md's install section, for a prefix the loader does
# not search.
env -i PATH=$clean_path PKG_CONFIG_PATH="$libdir/pkgconfig" \
    sh -c 'cc -std=c11 -Wall -Wextra -Werror $1 -o "$2" "$3" \
               $(pkg-config --cflags --libs ensemble) \
               -Wl,-rpath,"$(pkg-config --variable=libdir ensemble)"' \
    sh "$extra" "$work/consumer_pc" "$src/consumer.c"
check_resolves_into_prefix "$work/consumer_pc" "$soname"
env -i PATH=$clean_path "$work/consumer_pc"

echo "== find_package(ensemble)"
cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >"$work/cmake-configure.log"
cmake --build "$work/cmake" >"$work/cmake-build.log"
env -i PATH=$clean_path "$work/cmake/consumer_shared"
env -i PATH=$clean_path "$work/cmake/consumer_static"
echo "install_consumer: ok"
