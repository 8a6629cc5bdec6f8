#!/bin/sh
# tests/install/run.sh BUILD_DIR SRC_DIR [EXTRA_CFLAGS] - the install_consumer
# test. Installs BUILD_DIR into BUILD_DIR/install-test, then builds and runs
# consumer.c (SRC_DIR) twice: with cc and `pkg-config --cflags --libs
# ensemble`, and as a CMake project using find_package(ensemble).
# EXTRA_CFLAGS carries the sanitizer flags when the library was built with them.
set -eu

build=$1
src=$2
extra=${3:-}
prefix=$build/install-test
work=$build/install-consumer

rm -rf "$prefix" "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"

libdir=$(dirname "$(find "$prefix" -name ensemble.pc | head -n 1)")/..
libdir=$(cd "$libdir" && pwd)
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== pkg-config: $(pkg-config --cflags --libs ensemble)"
# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Wextra -Werror $extra -o "$work/consumer_pc" "$src/consumer.c" \
    $(pkg-config --cflags --libs ensemble)
"$work/consumer_pc"

echo "== find_package(ensemble)"
cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >"$work/cmake-configure.log"
cmake --build "$work/cmake" >"$work/cmake-build.log"
"$work/cmake/consumer_shared"
"$work/cmake/consumer_static"
echo "install_consumer: ok"
