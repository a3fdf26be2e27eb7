#!/bin/sh
# Installs what is missing, builds waspd (Release) and the example plugins, puts the
# add_header plugin where etc/waspd.ini expects it (etc/plugins/), and runs waspd on
# etc/waspd.ini.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)" --target waspd plugin_add_header
mkdir -p etc/plugins
cp build/release/plugins/examples/add_header.wasm etc/plugins/
exec build/release/src/waspd -c etc/waspd.ini "$@"
