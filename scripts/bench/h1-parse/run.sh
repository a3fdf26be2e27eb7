#!/bin/sh
# Builds and runs the HTTP/1 request-parser micro-benchmark (Release build in build-bench/).
# Usage: scripts/bench/h1-parse/run.sh [iterations]   (prints ns/request; not a test)
set -eu
cd "$(dirname "$0")/../../.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1
cmake --build build-bench --target h1_parse_bench >/dev/null
exec build-bench/src/http1/h1_parse_bench "$@"
