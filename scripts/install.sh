#!/bin/sh
# Installs wasp system-wide: missing Debian packages, a Release build, then
# `cmake --install` (waspd, the default configuration unless one exists, the
# systemd unit), and `systemctl daemon-reload` when systemd is running.
# Usage: scripts/install.sh [PREFIX]      (default /usr/local)
# DESTDIR=/some/root scripts/install.sh stages the files instead (no reload).
set -eu
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}

scripts/install-deps.sh --build-only
cmake -S . -B build/install -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build build/install -j"$(nproc 2>/dev/null || echo 2)"

SUDO=""
if [ "$(id -u)" -ne 0 ] && [ -z "${DESTDIR:-}" ]; then
    SUDO="sudo"
fi
$SUDO env DESTDIR="${DESTDIR:-}" cmake --install build/install

if [ -z "${DESTDIR:-}" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl daemon-reload
    echo "installed; start with: systemctl enable --now waspd"
else
    echo "installed; systemd is not running here: start $prefix/sbin/waspd -c <config> by hand"
fi
