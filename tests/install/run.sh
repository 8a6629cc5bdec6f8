#!/bin/sh
# tests/install/run.sh BUILD_DIR SRC_DIR [EXTRA_CFLAGS] - the install_consumer
# test. Installs BUILD_DIR into a fresh temporary prefix (removed on exit,
# failed or not), then checks that what was installed runs from a clean
# environment (no LD_LIBRARY_PATH, a prefix the loader does not search):
#   - every installed program carries a RUNPATH built on $ORIGIN, the loader
#     resolves libensemble.so.0 into the prefix through it, and `ens --help`
#     exits 0;
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
