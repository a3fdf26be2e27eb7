#!/bin/sh
# Installs what is missing, builds waspd (Release) and runs it on etc/waspd.ini.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)" --target waspd
exec build/release/src/waspd -c etc/waspd.ini "$@"
