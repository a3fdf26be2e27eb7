#!/bin/sh
# Execution limits and host calls (issue 11 §3): builds limits_bench (Release, in
# build-bench/), the shared kernels (scripts/bench/engine.sh --build-only) and
# calls.wat, then prints the CPU time of each kernel with fuel metering, a wall-clock
# deadline and both on, relative to both off (target <= 1.05), the host call round trip
# guest -> trivial import -> guest (target <= 20 ns) and a host -> guest call. Not a test.
# Usage: scripts/bench/limits/run.sh [--rounds N] [--calls N]
set -eu
cd "$(dirname "$0")/../../.."
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j2 --target limits_bench >/dev/null
out=build-bench/kernels
kernels="fib sieve matmul sha256 memops bcinterp qsortk strhash"
scripts/bench/engine.sh --build-only --no-native --out "$out" --kernels "$kernels"
wat2wasm scripts/bench/limits/calls.wat -o build-bench/limits-calls.wasm
set -- "$@" build-bench/limits-calls.wasm
for k in $kernels; do set -- "$@" "$out/$k.wasm"; done
exec build-bench/hostcalls/limits_bench "$@"
