#!/bin/sh
# Builds and runs the HTTP/1 request-parser micro-benchmark (Release build in build/).
# Usage: scripts/bench/h1-parse/run.sh [iterations]   (prints ns/request; not a test)
set -eu
cd "$(dirname "$0")/../../.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target h1_parse_bench >/dev/null
exec build/src/http1/h1_parse_bench "$@"
