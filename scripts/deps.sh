#!/bin/sh
# scripts/deps.sh - make sure the Debian packages ensemble builds with are
# installed (`make deps`). Silent when everything is there; as root it
# installs what is missing; otherwise it prints the exact command and fails.
set -eu

# ENS_DEPS_PACKAGES replaces the list (used to test this script, and by
# `make plots` for gnuplot-nox, which only the plots need).
PACKAGES="${ENS_DEPS_PACKAGES:-build-essential cmake pkg-config libuv1-dev libtpl-dev libsqlite3-dev libcmocka-dev
clang libclang-rt-14-dev clang-format clang-tidy libedit-dev libnats-dev nats-server
libsmartcols-dev libjansson-dev help2man groff-base}"

if ! command -v dpkg >/dev/null 2>&1; then
    echo "deps: dpkg not found; cannot check packages. Need: $(echo $PACKAGES)" >&2
    exit 0
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing:$missing"
    apt-get update
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: install them with:" >&2
    echo "    sudo apt-get install -y$missing" >&2
    exit 1
fi
