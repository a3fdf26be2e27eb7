#!/bin/sh
# Installs what is missing, builds wasp and runs every test (the CI entry point).
# Five builds: the default (guard-page memories) runs the whole suite; a second with
# explicit bounds checks runs the engine tests again, so both memory modes stay conformant;
# a third with AddressSanitizer and UndefinedBehaviorSanitizer (Debug; bounds checks, as
# the sanitizers want SIGSEGV for themselves) runs the whole suite again, so a memory
# error, a leak or undefined behaviour anywhere fails CI; a fourth runs the threaded tests
# (label `threads`) under ThreadSanitizer; a fifth builds the libFuzzer targets (clang,
# ASan+UBSan) and runs each once over its seed corpus (label `fuzz`: every past finding's
# input is there), without mutation, so the result does not depend on chance.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build/ci-bounds -DCMAKE_BUILD_TYPE=Release -DWASP_WERROR=ON -DWASP_BOUNDS_CHECKS=ON >/dev/null
cmake --build build/ci-bounds -j"$jobs"
ctest --test-dir build/ci-bounds -L engine --output-on-failure -j"$jobs"
# The spec suite's per-file table and grand total (the ctest run above fails on any failure).
cmake --build build/ci-bounds --target spec-summary

# The tests of many threads on one module or image, shared data or queues (label
# `threads`) under ThreadSanitizer.
cmake -S . -B build/ci-tsan -DCMAKE_BUILD_TYPE=Debug -DWASP_WERROR=ON -DWASP_TSAN=ON >/dev/null
cmake --build build/ci-tsan -j"$jobs" --target test_threads test_image test_pw_vm \
    test_pw_shareddata test_pw_queues
ctest --test-dir build/ci-tsan -L threads --output-on-failure -j"$jobs"

cmake -S . -B build/ci -DCMAKE_BUILD_TYPE=Release -DWASP_WERROR=ON >/dev/null
cmake --build build/ci -j"$jobs"
ctest --test-dir build/ci --output-on-failure -j"$jobs"

cmake -S . -B build/ci-sanitize -DCMAKE_BUILD_TYPE=Debug -DWASP_WERROR=ON -DWASP_SANITIZE=ON >/dev/null
cmake --build build/ci-sanitize -j"$jobs"
ctest --test-dir build/ci-sanitize --output-on-failure -j"$jobs"

# -O0: replaying seeds needs no speed, and clang takes minutes over the interpreter at -O1
# with coverage instrumentation (scripts/fuzz.sh builds campaigns with -O1).
CC=clang cmake -S . -B build/ci-fuzz -DCMAKE_BUILD_TYPE=Debug -DWASP_FUZZ=ON \
    -DCMAKE_C_FLAGS="-O0 -g" >/dev/null
cmake --build build/ci-fuzz -j"$jobs" --target fuzz_targets
ctest --test-dir build/ci-fuzz -L fuzz --output-on-failure -j"$jobs"
